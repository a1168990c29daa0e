#!/bin/bash
# percost.sh DIR DATASET... -- per-task C (g2t-train --cv 5 --grid G)
# against one global C chosen from the same grid by the pipeline's 5-fold
# accuracy (scripts/cv.sh), and against C = 1: test accuracy of each, on
# DIR/NAME.train.csv.gz and DIR/NAME.test.csv.gz.  G: GRID (default
# 0.01,0.1,1,10,100).
set -eu
export LC_ALL=C
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${G2T_BIN:-$root/bin}
grid=${GRID:-0.01,0.1,1,10,100}
dir=$1
shift
acc() { "$bin/g2t-predict" --eval "$1" "$2" | awk '$1 == "accuracy" { printf "%.2f%%", 100 * $2 }'; }
for ds in "$@"; do
	train=$dir/$ds.train.csv.gz test=$dir/$ds.test.csv.gz
	work=$(mktemp -d "${TMPDIR:-/tmp}/g2t-percost.XXXXXX")
	"$bin/g2t-split" "$train" >"$work/split"
	best=1 bestcv=-1
	for c in ${grid//,/ }; do
		cv=$(G2T_BIN=$bin "$root/scripts/cv.sh" 5 "$train" --cost "$c" | awk '{ print $5 + 0 }')
		if awk -v a="$cv" -v b="$bestcv" 'BEGIN { exit !(a > b) }'; then best=$c bestcv=$cv; fi
	done
	"$bin/g2t-train" -j2 "$work/split" | "$bin/g2t-merge" >"$work/m1"
	"$bin/g2t-train" -j2 --cost "$best" "$work/split" | "$bin/g2t-merge" >"$work/mg"
	t0=$EPOCHREALTIME
	"$bin/g2t-train" -j2 --cv 5 --grid "$grid" "$work/split" | "$bin/g2t-merge" >"$work/mt"
	t1=$EPOCHREALTIME
	printf '%-14s C=1 %s  global C=%s (cv %.2f%%) %s  per-task C %s (%.1fs)\n' "$ds" \
		"$(acc "$work/m1" "$test")" "$best" "$bestcv" "$(acc "$work/mg" "$test")" \
		"$(acc "$work/mt" "$test")" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
	rm -rf "$work"
done
