#!/bin/bash
# probability.sh TRAIN TEST [BOUND] -- g2t's probabilities against LIBSVM's:
# g2t-split --probability | g2t-train | g2t-merge, g2t-predict
# --probability, beside svm-train -t 0 -c 1 -b 1 and svm-predict -b 1 on the
# same rows (scaled to [0,1] with the train file's min and max).  Every row's
# probabilities must sum to 1 (within 1e-4: they are printed to 6 digits),
# and g2t's log-loss must be at most LIBSVM's plus BOUND (default 0.05).
# TRAIN and TEST are CSV (header, label last), gzipped or not.  Prints one
# line "NAME g2t A% L (S s) svm B% M (T s) ok|MISSED"; exits 1 when missed.
set -eu
export LC_ALL=C
train=$1 test=$2 bound=${3:-0.05}
here=$(cd "$(dirname "$0")" && pwd)
bin=${G2T_BIN:-bin}
work=$(mktemp -d "${TMPDIR:-/tmp}/g2t-probability.XXXXXX")
trap 'rm -rf "$work"' EXIT
gzip -dcf "$train" >"$work/train.csv"
gzip -dcf "$test" >"$work/test.csv"

t0=$EPOCHREALTIME
"$bin/g2t-split" --probability "$work/train.csv" | "$bin/g2t-train" -j2 |
	"$bin/g2t-merge" >"$work/model"
t1=$EPOCHREALTIME
"$bin/g2t-predict" --probability "$work/model" "$work/test.csv" >"$work/g2t.out"
awk -F, 'NR > 1 { print $NF }' "$work/test.csv" >"$work/truth"
# accuracy, log-loss and the worst |sum - 1| of a "class p..." file whose
# first line names the columns
score() {
	awk -v skip="$2" 'NR == FNR { truth[FNR] = $1; next }
	FNR == 1 { for (i = 1 + skip; i <= NF; i++) col[$i] = i; next }
	{
		r++; s = 0
		for (i = 1 + skip; i <= NF; i++) s += $i
		if ((s - 1) ^ 2 > worst ^ 2) worst = s - 1
		ok += $1 == truth[r]
		p = $(col[truth[r]]); loss -= log(p > 1e-15 ? p : 1e-15)
	}
	END { printf "%.2f %.4f %.2g\n", 100 * ok / r, loss / r, worst < 0 ? -worst : worst }' \
		"$work/truth" "$1"
}
read -r g_acc g_loss g_sum < <(score "$work/g2t.out" 1)

# LIBSVM: labels as class names
awk -f "$here/tools/csv2svm.awk" -v out1="$work/train.svm" -v out2="$work/test.svm" \
	-v labels="$work/labels" "$work/train.csv" "$work/train.csv" "$work/test.csv"
t2=$EPOCHREALTIME
svm-train -q -t 0 -c 1 -b 1 "$work/train.svm" "$work/svm.model" >/dev/null
t3=$EPOCHREALTIME
svm-predict -b 1 "$work/test.svm" "$work/svm.model" "$work/svm.raw" >/dev/null
# back to class names: "labels 3 1 2" then "pred p p p"
awk 'NR == FNR { name[$2] = $1; next }
	FNR == 1 { $1 = "class"; for (i = 2; i <= NF; i++) $i = name[$i]; print; next }
	{ $1 = name[$1]; print }' "$work/labels" "$work/svm.raw" >"$work/svm.out"
read -r s_acc s_loss s_sum < <(score "$work/svm.out" 1)

read -r ok line < <(awk -v name="$(basename "$train")" -v ga="$g_acc" -v gl="$g_loss" \
	-v gs="$g_sum" -v sa="$s_acc" -v sl="$s_loss" -v b="$bound" -v tg="$t0 $t1" \
	-v ts="$t2 $t3" 'BEGIN {
	split(tg, x, " "); split(ts, y, " ")
	ok = gs <= 1e-4 && gl <= sl + b
	printf "%d %s g2t %.2f%% log-loss %.4f (%.2fs) svm-train -b 1 %.2f%% log-loss %.4f (%.2fs) %s\n",
		ok, name, ga, gl, x[2] - x[1], sa, sl, y[2] - y[1], ok ? "ok" : "MISSED" }')
echo "$line"
[ "$ok" = 1 ]
