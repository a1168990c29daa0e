#!/bin/sh
# The worked example of g2t(5), EXAMPLES: the stream g2t-split writes for
# example.csv, as the page prints it (hexdump -C, a backslash as \e), then
# its schema id and task hash, and the bias, loss and first weight of the
# task trained with --algo asgd (the page's weight set).  With --check, exits 1 unless the page holds
# exactly these: run it without, and paste, when the records change.
#
#   tests/vectors/example.sh [--check]
set -eu
cd "$(dirname "$0")/../.."
bin=${G2T_BIN:-bin}
tmp=$(mktemp "${TMPDIR:-/tmp}/g2t-example.XXXXXX")
trap 'rm -f "$tmp" "$tmp.page" "$tmp.w" "$tmp.m"' EXIT
"$bin/g2t-split" tests/vectors/example.csv >"$tmp"
# the TASK is the last record: its hash at 8, its identity's schema id at 40
task=$(($(stat -c %s "$tmp") - 128))
hex() { od -An -tx1 -v -j "$1" -N 32 "$tmp" | tr -d ' \n'; }
schema_id=$(hex $((task + 40)))
task_hash=$(hex $((task + 8)))
dump() { hexdump -C "$tmp" | sed -e '$d' -e 's/\\/\\e/g'; }
# bias, loss and w[0] of the dense WEIGHTS record, F = 2, no token
"$bin/g2t-split" --algo asgd tests/vectors/example.csv | "$bin/g2t-train" >"$tmp.w"
at=$(($(stat -c %s "$tmp.w") - 4 - 4 - 8 - 28))
word() { od -An -tx1 -j $((at + $1)) -N 4 "$tmp.w" | sed 's/^ //'; }
bias=$(word 8) loss=$(word 24) w0=$(word 28)
if [ "${1-}" != --check ]; then
	dump
	echo "schema id $schema_id"
	echo "task hash $task_hash"
	echo "weight set: bias $bias, loss $loss, w[0] $w0"
	exit 0
fi
sed -n '/^The complete stream for a CSV file/,/^\.Ed/p' man/g2t.5 |
	sed -n '/^00000000/,/^\.Ed/p' | sed '$d' >"$tmp.page"
dump | diff -u "$tmp.page" - || { echo "g2t(5): the hexdump is not g2t-split's"; exit 1; }
grep -q "^.Li $schema_id" man/g2t.5 || { echo "g2t(5): schema id is not $schema_id"; exit 1; }
grep -q "^.Li $task_hash" man/g2t.5 || { echo "g2t(5): task hash is not $task_hash"; exit 1; }
for v in "$bias Ta bias" "$loss Ta loss" "$w0 Ta w\\[0\\]"; do
	grep -q "^.It $v" man/g2t.5 || { echo "g2t(5): the weight set is not '$v'"; exit 1; }
done
# the WEIGHTS and MODEL tables: the payload size each states, and the bytes
# each row shows at its payload offset
"$bin/g2t-merge" "$tmp.w" >"$tmp.m"
table() { # FILE TYPE 'first words of the sentence before the table'
	n=$(sed -n "s/^$3.* of \([0-9]*\) bytes.*/\1/p" man/g2t.5)
	[ -n "$n" ] || { echo "g2t(5): no size stated after '$3'"; exit 1; }
	pl=$(($(stat -c %s "$1") - 4 - n))
	[ "$(od -An -tu4 -j $((pl - 8)) -N 8 "$1" | tr -s ' ' ' ')" = " $2 $n" ] ||
		{ echo "g2t(5): '$3': the record is not of $n bytes"; exit 1; }
	sed -n "/^$3/,/^\.El/p" man/g2t.5 |
		sed -n 's/^\.It \([0-9][0-9]*\) Ta \([0-9a-f ]*[0-9a-f]\) Ta .*/\1 \2/p' |
		while read -r off bytes; do
			nb=$(echo "$bytes" | wc -w)
			got=$(od -An -tx1 -j $((pl + off)) -N "$nb" "$1" | sed 's/^ //')
			[ "$got" = "$bytes" ] || { echo "g2t(5): '$3': byte $off holds $got, not $bytes"; exit 1; }
		done
}
table "$tmp.w" 4 "The WEIGHTS record of that task"
table "$tmp.m" 5 "makes of it a MODEL"
