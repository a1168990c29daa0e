#!/bin/sh
# Training test vectors (g2t(7), TRAINING ARITHMETIC): the tasks of tiny.csv
# trained by every algorithm and loss, one line per WEIGHTS record: the
# options given to g2t-split, the task index, then the record's payload from
# byte 112 (F, form, bias, rows_seen, epochs, loss, the weights, the token)
# in hexadecimal.  The hash and identity are left out: they follow the
# parameters block, whatever its layout.  With --check, exits 1 unless
# g2t-train still writes weights.expected; regenerate it with
#   tests/vectors/train.sh > tests/vectors/weights.expected
set -eu
cd "$(dirname "$0")/../.."
bin=${G2T_BIN:-bin}
tmp=$(mktemp "${TMPDIR:-/tmp}/g2t-train-vectors.XXXXXX")
trap 'rm -f "$tmp" "$tmp.out"' EXIT

vectors() {
	for opts in "--algo asgd" "--algo asgd --loss logistic" "--algo asgd --loss sqhinge" \
		"--algo asgd --l1 0.01 --epochs 40" "--algo pegasos" "--algo fixed" \
		"--algo dcd --loss hinge" "--algo dcd" "--algo dcd --loss logistic --cost 10"; do
		# shellcheck disable=SC2086 # the options are words
		"$bin/g2t-split" $opts tests/vectors/tiny.csv | "$bin/g2t-train" >"$tmp"
		size=$(stat -c %s "$tmp") off=8
		while [ "$off" -lt "$size" ]; do
			set -- $(od -An -tu4 -j "$off" -N8 "$tmp")
			if [ "$1" = 4 ]; then
				printf '%s\t%s\t%s\n' "$opts" "$(od -An -tu4 -j $((off + 8 + 64)) -N4 "$tmp" |
					tr -d ' ')" "$(od -An -tx1 -v -j $((off + 120)) -N $(($2 - 112)) "$tmp" |
					tr -d ' \n')"
			fi
			off=$((off + 12 + $2))
		done
	done
}

if [ "${1-}" = --check ]; then
	vectors >"$tmp.out"
	diff -u tests/vectors/weights.expected "$tmp.out"
else
	vectors
fi
