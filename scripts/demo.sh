#!/usr/bin/env bash
# make demo: split, train and merge the bundled data sets on this machine,
# then evaluate each model on its held-out test file.
set -eu
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
jobs=$(nproc)

for name in letter digits; do
	train=tests/data/$name.train.csv.gz test=tests/data/$name.test.csv.gz
	start=$(date +%s.%N)
	bin/g2t-split "$train" | bin/g2t-train -j"$jobs" | bin/g2t-merge > "$work/$name.model"
	end=$(date +%s.%N)
	tasks=$(bin/g2t-split -o "$work/$name.tasks" "$train" && ls "$work/$name.tasks" | wc -l)
	printf '%-7s %4s one-vs-one tasks, split+train+merge %.2fs, ' \
		"$name" "$tasks" "$(awk "BEGIN { print $end - $start }")"
	bin/g2t-predict --eval "$work/$name.model" "$test" | head -n 1
done
echo
echo "first predictions for letter.test (label, then predicted):"
paste -d' ' <(zcat tests/data/letter.test.csv.gz | tail -n +2 | head -n 5 | awk -F, '{print $NF}') \
	<(zcat tests/data/letter.test.csv.gz | head -n 6 | bin/g2t-predict "$work/letter.model")
