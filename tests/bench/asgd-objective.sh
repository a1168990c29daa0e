#!/bin/bash
# asgd-objective.sh TRAIN TEST TASK... -- where averaged SGD goes as epochs
# grow: for each task (pair index), the primal objective of its weights at
# 5, 20 and 100 epochs (tests/objective.py, bias not regularised as
# SGD's lambda = 1/(C n) stands for) against the exact hinge solver's
# primal and dual at the same C (g2t-train --algo dcd --loss hinge --stats:
# the optimum lies between the two), and the pair's test accuracy on the
# test rows of its two classes.  One line a task; exits non-zero only when
# a program fails.  Environment: G2T_BIN (bin).
set -eu
export LC_ALL=C
train=$1 test=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
bin=${G2T_BIN:-bin}
work=$(mktemp -d "${TMPDIR:-/tmp}/g2t-asgdobj.XXXXXX")
trap 'rm -rf "$work"' EXIT

"$bin/g2t-split" --algo asgd "$train" > "$work/tasks"
gzip -cdf "$test" | awk -F, '{ print (NR > 1 ? $NF : "label") }' > "$work/labels"

# pair_accuracy WEIGHTS: the test accuracy, in %, of the pair of WEIGHTS's
# one task on the test rows of its two classes
pair_accuracy() {
	cat "$work/tasks" "$1" | "$bin/g2t-merge" --allow-partial 2> /dev/null |
		"$bin/g2t-predict" --values - "$test" | paste "$work/labels" - |
		awk -F'\t' 'NR == 1 { for (i = 3; i <= NF; i++) name[i] = $i; next }
			{ for (i = 3; i <= NF; i++) if ($i != "-") {
				split(name[i], c, "/")
				if ($1 != c[1] && $1 != c[2]) continue
				n++; r += ($i > 0) == ($1 == c[1])
			} }
			END { printf "%.2f", 100 * r / n }'
}

for t in "$@"; do
	for e in 5 20 100; do
		"$bin/g2t-train" -t "$t" --algo asgd --epochs "$e" "$work/tasks" > "$work/w.$e"
	done
	"$bin/g2t-train" -t "$t" --algo dcd --loss hinge --stats "$work/tasks" > "$work/w.dcd" \
		2> "$work/stats"
	obj=$(python3 "$here/../objective.py" "$work/tasks" "$work/w.5" "$work/w.20" "$work/w.100" |
		awk '{ printf "%s%.6g", (NR > 1 ? " / " : ""), $8 }')
	exact=$(awk 'NR == 2 { printf "primal %.6g, dual %.6g", $6, $7; pair = $2 "/" $3 }
		END { printf " (pair %s)", pair }' "$work/stats")
	accs=$(for e in 5 20 100; do pair_accuracy "$work/w.$e"; echo; done | paste -sd/ | sed 's|/| / |g')
	printf '%s task %s asgd, 5/20/100 epochs: primal %s; test %s %%; exact hinge: %s, test %s %%\n' \
		"$(basename "$train")" "$t" "$obj" "$accs" "$exact" "$(pair_accuracy "$work/w.dcd")"
done
