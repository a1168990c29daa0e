#!/bin/bash
# epochs.sh TRAIN TEST [G2T-SPLIT-OPTION...] -- averaged SGD must not get
# worse with more epochs: g2t-split --algo asgd --epochs 5, 20 and 100, and
# the test accuracy of each may be at most 0.3 points below that of any
# fewer epochs.  Prints one line with the three accuracies; exits 1 when
# more epochs lost more than that.
set -eu
export LC_ALL=C
train=$1 test=$2
shift 2
bin=${G2T_BIN:-bin}
accs=
for e in 5 20 100; do
	a=$("$bin/g2t-split" --algo asgd --epochs "$e" "$@" "$train" | "$bin/g2t-train" -j2 |
		"$bin/g2t-merge" | "$bin/g2t-predict" --eval - "$test" |
		awk '$1 == "accuracy" { split($3, p, "[()/]"); printf "%.2f", 100 * p[2] / p[3]; exit }')
	accs="$accs $a"
done
awk -v name="$(basename "$train")" -v accs="$accs" 'BEGIN {
	n = split(accs, a, " ")
	ok = n == 3
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i] - 0.3) ok = 0
	printf "%s asgd, 5/20/100 epochs: %s%% %s%% %s%% %s\n", name, a[1], a[2], a[3],
		ok ? "ok" : "MISSED (more epochs lost more than 0.3 points)"
	exit !ok
}'
