#!/bin/bash
# textbench.sh -- `make bench`: sparse data, issue 11.  A text set built by
# textset.sh (Debian package descriptions by section: 35 classes, 48k rows,
# 2^18 hashed word and word-pair features), trained by g2t (split, train
# -j$G2T_BENCH_JOBS, merge) and by liblinear-train -s 1 and svm-train -t 0
# on the same files: accuracy, wall time, peak RSS of every stage, stream
# and model bytes.  Then fashion-mnist (when ../shared/data has it) split
# sparse beside dense: stream bytes and time.  Peers absent are reported
# so; G2T_TEXT_SVM=0 skips svm-train (minutes).  LIBLINEAR also runs with
# -B 1 on the rows scaled as g2t-split scales them (max |x| a feature),
# the problem g2t's exact solver solves for each pair: what remains between
# them is one-vs-one voting (g2t, svm-train) against one-vs-rest, which
# g2t-split --ovr makes: its row "g2t --ovr" is split --ovr | train | merge,
# the wall time of the three, the largest peak RSS of them and the model's
# bytes.  g2t --probability (Platt sigmoids, pairwise coupling) is timed
# whole.  Exits non-zero only when a g2t program fails.
set -eu
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${G2T_BIN:-$root/bin}
shared=${G2T_SHARED_DATA:-$root/../shared/data}
jobs=${G2T_BENCH_JOBS:-2}
work=$(mktemp -d "${TMPDIR:-/tmp}/g2t-text.XXXXXX")
trap 'rm -rf "$work"' EXIT
failed=0

# timed OUT CMD...: run CMD, stdout to OUT; sets secs and mb (peak RSS).
timed() {
	local out=$1 t0 st=0
	shift
	t0=$EPOCHREALTIME
	/usr/bin/time -f '%M' -o "$work/time" "$@" >"$out" 2>"$work/err" || st=$?
	secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
	mb=$(awk '{ k = $1 } END { printf "%.1f", k / 1024 }' "$work/time")
	return $st
}

g2t() {
	local out=$1
	shift
	timed "$out" "$@" && return 0
	echo "textbench: FAIL: $*" >&2
	sed 's/^/    /' "$work/err" >&2
	failed=1
	return 1
}

row() { printf '%-28s %9s %8s %9s %12s\n' "$@"; }
bytes() { stat -c %s "$1"; }

"$here/textset.sh" "$work" >&2
train=$work/text.train.svm test=$work/text.test.svm
nnz=$(awk '{ n += NF - 1 } END { print n }' "$train")
echo
echo "text set: $(wc -l <"$train") train rows, $(wc -l <"$test") test rows," \
     "$(wc -l <"$work/text.labels") classes, $nnz non-zeros," \
     "$(cut -d' ' -f2- "$train" | tr ' ' '\n' | cut -d: -f1 | sort -u | wc -l) features used"
row "stage" "accuracy" "wall" "peak RSS" "bytes"
if g2t "$work/s.g2t" "$bin/g2t-split" "$train"; then
	row "g2t-split" - "${secs}s" "${mb}MB" "$(bytes "$work/s.g2t")"
	total=$secs
	shards=$(python3 - "$work/s.g2t" <<'PY'
import struct, sys
b = open(sys.argv[1], 'rb').read(); i = 8; n = 0
while i < len(b):
    t, l = struct.unpack('<II', b[i:i + 8]); n += l if t == 2 else 0; i += 12 + l
print(n)
PY
)
	g2t "$work/s.w" "$bin/g2t-train" -j"$jobs" "$work/s.g2t" &&
		row "g2t-train -j$jobs" - "${secs}s" "${mb}MB" "$(bytes "$work/s.w")" &&
		total=$(awk -v a="$total" -v b="$secs" 'BEGIN { printf "%.2f", a + b }')
	g2t "$work/s.model" "$bin/g2t-merge" "$work/s.w" &&
		total=$(awk -v a="$total" -v b="$secs" 'BEGIN { printf "%.2f", a + b }') &&
		row "g2t-merge (model)" - "${secs}s" "${mb}MB" "$(bytes "$work/s.model")"
	g2t "$work/p" "$bin/g2t-predict" -e "$work/s.model" "$test" &&
		row "g2t-predict" "$(awk 'NR == 1 { printf "%.2f%%", 100 * $2 }' "$work/p")" \
		    "${secs}s" "${mb}MB" -
	row "g2t split+train+merge" - "${total}s" - -
	# per-pair Platt sigmoids (5 held-out folds) coupled as LIBSVM's -b 1
	if g2t "$work/pp.model" bash -c '"$1/g2t-split" --probability "$2" |
			"$1/g2t-train" -j"$3" | "$1/g2t-merge"' _ "$bin" "$train" "$jobs"; then
		s=$secs
		g2t "$work/pp" "$bin/g2t-predict" -e --probability "$work/pp.model" "$test" &&
			row "g2t --probability, all" "$(awk 'NR == 1 { printf "%.2f%%", 100 * $2 }' \
			    "$work/pp")" "${s}s" - "$(bytes "$work/pp.model")"
	fi
	# one-vs-rest: K tasks, each class against all the others' rows
	ot=0 om=0
	for stage in "o.g2t g2t-split --ovr $train" "o.w g2t-train -j$jobs $work/o.g2t" \
	             "o.model g2t-merge $work/o.w"; do
		read -r out prog args <<<"$stage"
		# shellcheck disable=SC2086
		g2t "$work/$out" "$bin/$prog" $args || { ot=; break; }
		ot=$(awk -v a="$ot" -v b="$secs" 'BEGIN { printf "%.2f", a + b }')
		om=$(awk -v a="$om" -v b="$mb" 'BEGIN { print (b > a ? b : a) }')
	done
	[ -n "$ot" ] && g2t "$work/op" "$bin/g2t-predict" -e "$work/o.model" "$test" &&
		row "g2t --ovr" "$(awk 'NR == 1 { printf "%.2f%%", 100 * $2 }' "$work/op")" \
		    "${ot}s" "${om}MB" "$(bytes "$work/o.model")"
fi
# liblinear(TRAIN, TEST, NAME, OPTIONS...): one row
liblinear() {
	local tr=$1 te=$2 name=$3 s m
	shift 3
	timed /dev/null liblinear-train "$@" -q "$tr" "$work/ll.model"
	s=$secs m=$mb
	liblinear-predict "$te" "$work/ll.model" "$work/ll.pred" >"$work/llp"
	row "$name" "$(sed -n 's/Accuracy = \([0-9.]*\)%.*/\1%/p' "$work/llp")" \
	    "${s}s" "${m}MB" "$(bytes "$work/ll.model")"
}
if command -v liblinear-train >/dev/null; then
	liblinear "$train" "$test" "liblinear-train -s 1" -s 1
	# g2t solves LIBLINEAR's -s 1 -B 1 problem on rows scaled by max |x|
	# per feature (of the training rows); the same, given that input
	awk 'FNR == NR { for (i = 2; i <= NF; i++) { split($i, f, ":"); v = f[2] < 0 ? -f[2] : f[2]
			if (v > most[f[1]]) most[f[1]] = v }; next }
	     { s = $1; for (i = 2; i <= NF; i++) { split($i, f, ":")
			if (most[f[1]] > 0) s = s " " f[1] ":" sprintf("%.9g", f[2] / most[f[1]]) }
	       print s > (FILENAME == ARGV[2] ? ARGV[2] ".scaled" : ARGV[3] ".scaled") }' \
	    "$train" "$train" "$test"
	liblinear "$train.scaled" "$test.scaled" "  -B 1, max|x|-scaled input" -s 1 -B 1
else
	row "liblinear-train -s 1" "not installed" - - -
fi
if [ "${G2T_TEXT_SVM:-1}" = 0 ]; then
	row "svm-train -t 0" skipped - - -
elif command -v svm-train >/dev/null; then
	timed /dev/null svm-train -t 0 -q "$train" "$work/svm.model"
	s=$secs m=$mb
	svm-predict "$test" "$work/svm.model" "$work/svm.pred" >"$work/svmp"
	row "svm-train -t 0" "$(sed -n 's/Accuracy = \([0-9.]*\)%.*/\1%/p' "$work/svmp")" \
	    "${s}s" "${m}MB" "$(bytes "$work/svm.model")"
else
	row "svm-train -t 0" "not installed" - - -
fi
[ -n "${shards:-}" ] &&
	echo "shards: $shards bytes, $(awk -v a="$shards" -v n="$nnz" 'BEGIN { printf "%.2f", a / (8 * n) }')x non-zeros x 8;" \
	     "whole stream $(awk -v a="$(bytes "$work/s.g2t")" -v n="$nnz" 'BEGIN { printf "%.2f", a / (8 * n) }')x"

fm=$shared/fashion_mnist.train.csv.gz
if [ -r "$fm" ]; then
	echo
	echo "fashion-mnist split: as svmlight and as CSV (more than half 0: a sparse set"
	echo "too); dense shards would take $(zcat "$fm" | awk -F, 'NR > 1 { n++ } END {
		printf "%d", n * (NF - 1) * 4 }') bytes:"
	zcat "$fm" | awk -F, 'NR > 1 { s = $NF
		for (i = 1; i < NF; i++) if ($i != 0) s = s " " i ":" $i
		print s }' >"$work/fm.svm"
	g2t "$work/fm.g2t" "$bin/g2t-split" "$work/fm.svm" &&
		row "g2t-split svmlight" - "${secs}s" "${mb}MB" "$(bytes "$work/fm.g2t")"
	g2t "$work/fmd.g2t" "$bin/g2t-split" "$fm" &&
		row "g2t-split CSV" - "${secs}s" "${mb}MB" "$(bytes "$work/fmd.g2t")"
fi
exit $failed
