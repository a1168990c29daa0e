#!/bin/bash
# ovr.sh TRAIN TEST -- g2t's one-vs-rest pipeline (split --ovr | train |
# merge, predict --eval) against liblinear-train -s 1 -B 1 (LIBLINEAR's
# one-vs-rest, the same squared hinge loss and C = 1) on the same rows
# scaled to [0,1] with the train file's min and max: g2t must be within
# 1 point of LIBLINEAR or better.  TRAIN and TEST are CSV (header, label
# last), gzipped or not.  Also: the model has K classifiers (P = K), and
# the same rows given as svmlight (kept sparse) predict the same classes.
# Prints one line "NAME g2t --ovr A% liblinear -s 1 B% ok|MISSED"; exits 1
# when missed.
set -eu
export LC_ALL=C
train=$1 test=$2
here=$(cd "$(dirname "$0")" && pwd)
bin=${G2T_BIN:-bin}
work=$(mktemp -d "${TMPDIR:-/tmp}/g2t-ovr.XXXXXX")
trap 'rm -rf "$work"' EXIT

gzip -dcf "$train" >"$work/train.csv"
gzip -dcf "$test" >"$work/test.csv"
"$bin/g2t-split" --ovr "$work/train.csv" | "$bin/g2t-train" -j2 | "$bin/g2t-merge" >"$work/model"
g2t=$("$bin/g2t-predict" --eval "$work/model" "$work/test.csv" |
	awk '$1 == "accuracy" { split($3, p, "[()/]"); print p[2], p[3]; exit }')

# the model's K and P (g2t(5), MODEL: 32 bytes of schema id, then u32 K, F, P)
kp=$(python3 - "$work/model" <<'PY'
import struct, sys
b = open(sys.argv[1], 'rb').read()
off = 8
while off < len(b):
    t, n = struct.unpack_from('<II', b, off)
    if t == 5:
        k, f, p = struct.unpack_from('<III', b, off + 8 + 32)
        print(k, p)
    off += 12 + n
PY
)
read -r K P <<<"$kp"
if [ -z "$K" ] || [ "$K" != "$P" ]; then
	echo "$(basename "$train"): the one-vs-rest model has P = $P classifiers, not K = $K"
	exit 1
fi

# the same rows for LIBLINEAR, scaled as g2t-split scales them; the raw
# rows as svmlight for g2t (labels by name, features 1..F by column)
awk -f "$here/tools/csv2svm.awk" -v out1="$work/train.svm" -v out2="$work/test.svm" \
	-v raw1="$work/train.raw" -v raw2="$work/test.raw" \
	"$work/train.csv" "$work/train.csv" "$work/test.csv"
liblinear-train -q -s 1 -B 1 "$work/train.svm" "$work/ll.model" >/dev/null
ll=$(liblinear-predict "$work/test.svm" "$work/ll.model" "$work/ll.out" |
	awk '$1 == "Accuracy" { split($4, p, "[()/]"); print p[2], p[3]; exit }')

read -r ok line < <(awk -v name="$(basename "$train")" -v g="$g2t" -v l="$ll" 'BEGIN {
	split(g, a, " "); split(l, b, " ")
	ga = a[2] ? 100 * a[1] / a[2] : 0; la = b[2] ? 100 * b[1] / b[2] : 0
	ok = a[2] > 0 && a[2] == b[2] && ga >= la - 1
	printf "%d %s g2t --ovr %.2f%% liblinear -s 1 %.2f%% %s\n", ok, name, ga, la,
		ok ? "ok" : "MISSED" }')
echo "$line"
[ "$ok" = 1 ] || exit 1

# svmlight (sparse) and CSV (dense) forms of the same rows: the same classes
"$bin/g2t-split" --ovr -f svmlight "$work/train.raw" | "$bin/g2t-train" -j2 |
	"$bin/g2t-merge" >"$work/sparse.model"
"$bin/g2t-predict" "$work/model" "$work/test.csv" >"$work/dense.out"
"$bin/g2t-predict" "$work/sparse.model" -f svmlight "$work/test.raw" >"$work/sparse.out"
if ! cmp -s "$work/dense.out" "$work/sparse.out"; then
	echo "$(basename "$train"): svmlight and CSV forms predict differently"
	exit 1
fi
