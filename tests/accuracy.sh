#!/bin/bash
# accuracy.sh [-q] TRAIN TEST [G2T-SPLIT-OPTION...] -- g2t's default
# pipeline (split | train | merge, predict --eval) against LIBSVM's
# svm-train -t 0 -c 1 on the same rows scaled to [0,1] with the train file's
# min and max: g2t must be within 0.5 points, or one test row, of LIBSVM or
# better.  TRAIN and TEST are CSV (header, label last), gzipped or not; TEST
# "-" holds out a seeded fifth of TRAIN's rows instead.  Prints one line
# "NAME g2t A% (S s) svm-train B% (T s) ok|MISSED"; exits 1 when missed.
# -q: print the line only when missed.
set -eu
export LC_ALL=C
quiet=0
[ "$1" = -q ] && { quiet=1; shift; }
train=$1 test=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
bin=${G2T_BIN:-bin}
work=$(mktemp -d "${TMPDIR:-/tmp}/g2t-accuracy.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ "$test" = - ]; then
	gzip -dcf "$train" | awk -v a="$work/train.csv" -v b="$work/test.csv" '
		BEGIN { srand(5) }
		NR == 1 { print > a; print > b; next }
		{ print > (rand() < 0.2 ? b : a) }'
else
	gzip -dcf "$train" >"$work/train.csv"
	gzip -dcf "$test" >"$work/test.csv"
fi

t0=$EPOCHREALTIME
"$bin/g2t-split" "$@" "$work/train.csv" | "$bin/g2t-train" -j2 | "$bin/g2t-merge" >"$work/model"
t1=$EPOCHREALTIME
g2t=$("$bin/g2t-predict" --eval "$work/model" "$work/test.csv" |
	awk '$1 == "accuracy" { split($3, p, "[()/]"); print p[2], p[3]; exit }')

# the same rows for LIBSVM, as bench.sh makes them
awk -f "$here/tools/csv2svm.awk" -v out1="$work/train.svm" -v out2="$work/test.svm" \
	"$work/train.csv" "$work/train.csv" "$work/test.csv"
t2=$EPOCHREALTIME
svm-train -q -t 0 -c 1 "$work/train.svm" "$work/svm.model" >/dev/null
t3=$EPOCHREALTIME
svm=$(svm-predict "$work/test.svm" "$work/svm.model" "$work/svm.out" |
	awk '$1 == "Accuracy" { split($4, p, "[()/]"); print p[2], p[3]; exit }')

read -r ok line < <(awk -v name="$(basename "$train")" -v g="$g2t" -v s="$svm" \
	-v tg="$t0 $t1" -v ts="$t2 $t3" 'BEGIN {
	split(g, a, " "); split(s, b, " "); split(tg, x, " "); split(ts, y, " ")
	ga = a[2] ? 100 * a[1] / a[2] : 0; sa = b[2] ? 100 * b[1] / b[2] : 0
	ok = a[2] > 0 && a[2] == b[2] && (ga >= sa - 0.5 || a[1] >= b[1] - 1)
	printf "%d %s g2t %.2f%% (%.2fs) svm-train %.2f%% (%.2fs) %s\n", ok, name, ga,
		x[2] - x[1], sa, y[2] - y[1], ok ? "ok" : "MISSED" }')
[ "$quiet" = 1 ] && [ "$ok" = 1 ] || echo "$line"
[ "$ok" = 1 ]
