#!/usr/bin/env bash
# The conformance test of g2t(5), READER CHECKS: every vector of
# tests/vectors/MANIFEST made by build/tools/craft from streams the tools
# write now, read by its program; the exit status, the words of the message
# and the byte offset it names must be the manifest's.  Prints TAP.
#
#   tests/conformance.sh [VECTOR...]
set -u
cd "$(dirname "$0")/.."
bin=${G2T_BIN:-bin}
bin=$(cd "$bin" && pwd)
tools=$(cd "${G2T_UNITS:-build/tests}/../tools" && pwd)
vectors=$PWD/tests/vectors
work=$(mktemp -d "${TMPDIR:-/tmp}/g2t-conformance.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1

"$bin/g2t-split" "$vectors/tiny.csv" >tasks.g2t &&
	"$bin/g2t-train" -o weights.g2t tasks.g2t &&
	"$bin/g2t-merge" -o model.g2t weights.g2t &&
	"$bin/g2t-pack" --keygen -p dev.pub -s dev.key ||
	{ echo "Bail out! the base streams cannot be made"; exit 1; }

# at FILE WHERE: the byte offset WHERE names in FILE (see MANIFEST).
at() {
	local f=$1 where=$2 size off=8 type len
	case $where in
	end) stat -c %s "$f"; return ;;
	[0-9]*) echo "$where"; return ;;
	esac
	size=$(stat -c %s "$f")
	while [ "$off" -lt "$size" ]; do
		read -r type len < <(od -An -tu4 -j "$off" -N8 "$f")
		if [ "$type" = "${where#*@}" ]; then
			[ "${where%@*}" = crc ] && off=$((off + 8 + len))
			echo "$off"
			return
		fi
		off=$((off + 12 + len))
	done
	echo none
}

# run_program PROGRAM FILE: the program on FILE, stderr to err (g2t-serve
# names the file as given: ./FILE).
run_program() {
	rm -rf out spool
	case $1 in
	train) "$bin/g2t-train" -o out "$2" ;;
	merge) "$bin/g2t-merge" -o out "$2" ;;
	pack) "$bin/g2t-pack" -s dev.key --spool spool --flush -o out "$2" ;;
	predict) "$bin/g2t-predict" -o out "$2" "$vectors/tiny.csv" ;;
	trust) "$bin/g2t-merge" --trust dev.pub --allow-unsigned -o out weights.g2t "$2" ;;
	serve) # bad task files only: a good one would serve until killed
		timeout 20 "$bin/g2t-serve" --tasks "$2" --state spool --devices dev.pub \
			--listen 127.0.0.1:0 ;;
	esac 2>err
}

n=0 failed=0
while read -r vector base program status where message; do
	case $vector in '#'* | '') continue ;; esac
	if [ $# -gt 0 ] && ! [[ " $* " == *" $vector "* ]]; then continue; fi
	n=$((n + 1))
	file=$vector.$base.g2t
	why=
	[ "$program" = serve ] && file=./$file
	if ! "$tools/craft" "$vector" dev.key <"$base.g2t" >"$file"; then
		why="craft failed"
	else
		run_program "$program" "$file"
		got=$?
		err=$(head -c 600 err)
		prefix="g2t-${program/trust/merge}: $file: "
		[ "$where" = - ] || prefix="${prefix}byte $(at "$file" "$where"): "
		if [ "$got" != "$status" ]; then
			why="exit $got, not $status"
		elif [ "$message" != - ] && [[ $err != *"$prefix"*"$message"* ]]; then
			why="the message is not '$prefix... $message'"
		elif [ "$status" = 0 ] && [ ! -s out ]; then
			why="no output"
		elif [ "$status" = 3 ] && [ -e out ]; then
			why="output written"
		fi
	fi
	if [ -z "$why" ]; then
		echo "ok $n - $vector ($base) by $program: exit $status"
	else
		failed=$((failed + 1))
		echo "not ok $n - $vector ($base) by $program: $why"
		printf '#   %s\n' "${err:-}"
	fi
done <"$vectors/MANIFEST"
echo "1..$n"
[ "$failed" -eq 0 ]
