#!/bin/bash
# cv.sh K FILE [G2T-SPLIT-OPTION...] -- the whole pipeline's K-fold
# cross-validation accuracy, as svm-train -v K gives LIBSVM's: the data rows
# of FILE (CSV with a header line, gzipped or not) are dealt into K folds
# after a shuffle seeded by --seed (default 1); for each fold, g2t-split
# (with the options given) | g2t-train | g2t-merge on the other folds, and
# g2t-predict --eval on it.  Prints "Cross Validation Accuracy = A% (c/n)".
# The label is the last column.  G2T_BIN names the directory of the
# programs (default: the checkout's bin/ when built, else PATH).
set -eu -o pipefail
export LC_ALL=C
[ $# -ge 2 ] || { echo "usage: cv.sh K FILE [G2T-SPLIT-OPTION...]" >&2; exit 2; }
k=$1 file=$2
shift 2
case $k in ''|*[!0-9]*) echo "cv.sh: K must be a number from 2 to 100" >&2; exit 2 ;; esac
[ "$k" -ge 2 ] && [ "$k" -le 100 ] || { echo "cv.sh: K must be from 2 to 100" >&2; exit 2; }
seed=1 prev=
for a in "$@"; do
	[ "$prev" = --seed ] && seed=$a
	case $a in --seed=*) seed=${a#--seed=} ;; esac
	prev=$a
done
built=$(cd "$(dirname "$0")/.." && pwd)/bin
[ -n "${G2T_BIN-}" ] || [ ! -x "$built/g2t-split" ] || G2T_BIN=$built
bin=${G2T_BIN:+$G2T_BIN/}
work=$(mktemp -d "${TMPDIR:-/tmp}/g2t-cv.XXXXXX")
trap 'rm -rf "$work"' EXIT

# fold i of row r: its place in a seeded shuffle, dealt round robin
gzip -dcf "$file" | awk -v k="$k" -v seed="$seed" -v dir="$work" '
	NR == 1 { head = $0; next }
	{ row[++n] = $0 }
	END {
		srand(seed)
		for (i = n; i > 1; i--) { j = int(rand() * i) + 1; t = row[i]; row[i] = row[j]; row[j] = t }
		for (f = 0; f < k; f++) print head > (dir "/fold" f)
		for (i = 1; i <= n; i++) print row[i] > (dir "/fold" ((i - 1) % k))
	}'
right=0 rows=0
for ((f = 0; f < k; f++)); do
	{ head -n 1 "$work/fold0"; for ((g = 0; g < k; g++)); do
		[ "$g" -ne "$f" ] && tail -n +2 "$work/fold$g"; done; } >"$work/train.csv"
	"${bin}g2t-split" "$@" "$work/train.csv" | "${bin}g2t-train" -j2 |
		"${bin}g2t-merge" >"$work/model"
	# a row of a class the other folds lack is a miss, as for svm-train -v
	awk -F, 'NR == FNR { if (FNR > 1) seen[$NF] = 1; next }
		FNR == 1 || ($NF in seen) { print; next } { miss++ }
		END { print miss + 0 > "/dev/stderr" }' "$work/train.csv" "$work/fold$f" \
		>"$work/test.csv" 2>"$work/miss"
	read -r c n < <("${bin}g2t-predict" --eval "$work/model" "$work/test.csv" |
		awk '$1 == "accuracy" { split($3, p, "[()/]"); print p[2], p[3]; exit }')
	right=$((right + c)) rows=$((rows + n + $(cat "$work/miss")))
done
awk -v c="$right" -v n="$rows" 'BEGIN { printf "Cross Validation Accuracy = %.4f%% (%d/%d)\n", 100 * c / n, c, n }'
