#!/usr/bin/env bash
# Bench for g2t-pack (make bench): bytes on the wire per trained classifier,
# requests per classifier at several network qualities, and packets built
# and verified per second.
set -eu
cd "$(dirname "$0")/../.."
bin=${G2T_BIN:-bin}
shared=${G2T_SHARED_DATA:-../shared/data}
work=$(mktemp -d)
receiver_pid=
trap '[ -z "$receiver_pid" ] || kill "$receiver_pid" 2>/dev/null; rm -rf "$work"' EXIT
L1=${G2T_BENCH_L1:-6.5e-4}

"$bin/g2t-pack" --keygen -p "$work/dev.pub" -s "$work/dev.key"
mkdir "$work/keys" && cp "$work/dev.pub" "$work/keys/"

# accuracy NAME MODEL_STREAM: the test accuracy of a model
accuracy() {
	"$bin/g2t-predict" --eval "$2" "$(test_file "$1")" | awk '/^accuracy/ { printf "%.2f%%", 100 * $2 }'
}
train_file() { [ "$1" = fashion ] && echo "$shared/fashion_mnist.train.csv.gz" || echo "tests/data/$1.train.csv.gz"; }
test_file() { [ "$1" = fashion ] && echo "$shared/fashion_mnist.test.csv.gz" || echo "tests/data/$1.test.csv.gz"; }

# One packet holding every classifier of a weights stream.
packet() { # WEIGHTS PRECISION OUT [OPTION]
	rm -rf "$work/spool"
	# shellcheck disable=SC2086
	"$bin/g2t-pack" -s "$work/dev.key" --spool "$work/spool" --flush -P "$2" $4 < "$1" > "$3"
}

echo
echo "bytes on the wire per trained classifier (one packet of all classifiers; schema included but in the last column)"
printf '%-8s %-11s %7s | %-22s | %-22s | %-22s | %-22s | %-22s\n' data training pairs \
	"dense float32" "packet float32" "packet float16" "packet 8-bit" "8-bit, --no-schema"
for name in letter fashion; do
	[ -f "$(train_file $name)" ] || { echo "$name: data not found, skipped"; continue; }
	"$bin/g2t-split" "$(train_file $name)" > "$work/$name.g2t"
	for reg in L2 L1; do
		opt=; [ $reg = L1 ] && opt="--algo asgd --l1 $L1" # L1: SGD's truncated gradient
		# shellcheck disable=SC2086
		"$bin/g2t-train" -j2 $opt "$work/$name.g2t" > "$work/w"
		"$bin/g2t-merge" "$work/w" > "$work/dense.model"
		features=$(zcat -f "$(train_file $name)" | head -n 1 | awk -F, '{ print NF - 1 }')
		classes=$(zcat -f "$(train_file $name)" | tail -n +2 | awk -F, '{ print $NF }' | sort -u | wc -l)
		pairs=$((classes * (classes - 1) / 2))
		dense=$(( (features + 1) * 4 ))
		row=$(printf '%6d B  %-10s' "$dense" "$(accuracy $name "$work/dense.model")")
		for v in 32 16 8 8/--no-schema; do
			p=${v%%/*} extra=
			[ "$v" = "$p" ] || extra=${v#*/}
			packet "$work/w" "$p" "$work/p" "$extra"
			bytes=$(stat -c %s "$work/p")
			# a packet without its schema takes it from the split output
			"$bin/g2t-merge" --trust "$work/keys" "$work/$name.g2t" "$work/p" > "$work/m"
			row="$row | $(printf '%6d B %5.1fx %-8s' $((bytes / pairs)) \
				"$(awk -v d=$dense -v b=$((bytes / pairs)) 'BEGIN { print d / b }')" \
				"$(accuracy $name "$work/m")")"
		done
		printf '%-8s %-11s %7d | %s\n' "$name" "$reg${opt:+ $L1}" "$pairs" "$row"
	done
done

echo
echo "requests per trained classifier (digits, 45 classifiers, one g2t-pack --send per classifier)"
"$bin/g2t-split" -o "$work/tasks" tests/data/digits.train.csv.gz > /dev/null
for t in "$work"/tasks/*.g2t; do "$bin/g2t-train" "$t" > "${t%.g2t}.w"; done
for q in 1.0 0.5 0.2 0.1; do
	rm -rf "$work/spool" "$work/log" "$work/port"
	build/tools/receiver --port-file "$work/port" --log "$work/log" > /dev/null &
	receiver_pid=$!
	while [ ! -s "$work/port" ]; do sleep 0.05; done
	url=http://127.0.0.1:$(cat "$work/port")
	for w in "$work"/tasks/*.w; do
		"$bin/g2t-pack" -s "$work/dev.key" --spool "$work/spool" --quality $q --send "$url" < "$w" 2> /dev/null || [ $? -eq 75 ]
	done
	"$bin/g2t-pack" -s "$work/dev.key" --spool "$work/spool" --flush --send "$url" < /dev/null 2> /dev/null || true
	kill "$receiver_pid"; wait "$receiver_pid" 2>/dev/null || true; receiver_pid=
	requests=$(wc -l < "$work/log")
	bytes=$(awk '{ s += $4 } END { print s }' "$work/log")
	printf 'q = %-4s W_t = %-3s %3d requests for 45 classifiers = %.2f per classifier, %d bytes each\n' \
		$q "$(awk -v q=$q 'BEGIN { printf "%d", 1 / q + 0.5 }')" "$requests" \
		"$(awk -v r="$requests" 'BEGIN { print r / 45 }')" $((bytes / 45))
done

echo
echo "packing and verification on one core (in-process, libg2t)"
build/bench/packbench "$work/w" 2
