#!/bin/bash
# balanced.sh [SEED [SCALE]] -- class weights on the imbalanced shape of
# tests/shapes.sh (78 % one class, the smallest 6 rows at scale 1), a
# seeded fifth held out: accuracy and balanced accuracy (the mean of the
# per-class recalls) of g2t's default and of g2t-split --balanced, beside
# svm-train -t 0 -c 1 without and with -wi n / (K n_c) (the same weights).
# Rows scaled to [0,1] with the training rows' min and max for LIBSVM, as
# g2t-split does.  Prints a line per model.
set -eu
export LC_ALL=C
seed=${1:-1} scale=${2:-2}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${G2T_BIN:-$root/bin}
work=$(mktemp -d "${TMPDIR:-/tmp}/g2t-balanced.XXXXXX")
trap 'rm -rf "$work"' EXIT

"$root/tests/shapes.sh" imbalanced "$seed" "$scale" |
	awk -v a="$work/train.csv" -v b="$work/test.csv" '
		BEGIN { srand(5) }
		NR == 1 { print > a; print > b; next }
		{ print > (rand() < 0.2 ? b : a) }'
awk -F, 'NR > 1 { print $NF }' "$work/test.csv" >"$work/truth"

# score NAME PREDICTIONS: accuracy and balanced accuracy against the truth
score() {
	paste -d' ' "$work/truth" "$2" | awk -v name="$1" -v t="$3" '
	{ n[$1]++; if ($1 == $2) { ok++; hit[$1]++ } }
	END {
		for (c in n) { k++; r += hit[c] / n[c] }
		printf "%-22s accuracy %6.2f%%  balanced %6.2f%%  (%.2fs)\n", name,
			100 * ok / NR, 100 * r / k, t }'
}

# g2t-split OPTIONS...: train, merge, predict the test rows
g2t() {
	local t0=$EPOCHREALTIME
	"$bin/g2t-split" "$@" "$work/train.csv" | "$bin/g2t-train" -j2 |
		"$bin/g2t-merge" >"$work/model"
	echo "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')"
	"$bin/g2t-predict" "$work/model" "$work/test.csv" >"$work/pred"
}
t=$(g2t); score "g2t" "$work/pred" "$t"
t=$(g2t --balanced); score "g2t --balanced" "$work/pred" "$t"

# LIBSVM: labels as class names, the same scaling
awk -f "$root/tests/tools/csv2svm.awk" -v out1="$work/train.svm" -v out2="$work/test.svm" \
	-v labels="$work/labels" "$work/train.csv" "$work/train.csv" "$work/test.csv"
# svm-train OPTIONS...: train, predict, the predictions as class names
svm() {
	local t0=$EPOCHREALTIME
	svm-train -q -t 0 -c 1 "$@" "$work/train.svm" "$work/svm.model" >/dev/null
	echo "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')"
	svm-predict "$work/test.svm" "$work/svm.model" "$work/svm.out" >/dev/null
	awk 'NR == FNR { name[$2] = $1; next } { print name[$1] }' "$work/labels" \
		"$work/svm.out" >"$work/pred"
}
t=$(svm); score "svm-train" "$work/pred" "$t"
mapfile -t wopts < <(awk -F, 'NR > 1 { n[$NF]++; t++ } END { for (c in n) k++
	for (c in n) printf "%s\n%g\n", c, t / (k * n[c]) }' "$work/train.csv" |
	awk 'NR == FNR { id[$1] = $2; next } FNR % 2 { c = $1; next } { print "-w" id[c]; print $1 }' \
		"$work/labels" -)
t=$(svm "${wopts[@]}"); score "svm-train -wi n/(K n_c)" "$work/pred" "$t"
