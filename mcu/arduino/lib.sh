#!/bin/sh
# lib.sh OUT FILE... - the Arduino library G2T in OUT: mcu/arduino/G2T and,
# in OUT/src/g2t, copies of the given files of lib/core and mcu/src (the
# core, the protocol, the device), each .c file with G2TConfig.h first.
# The copies are made at every build, never kept: they cannot drift.
set -eu
out=$1
shift
rm -rf "$out"
mkdir -p "${out%/*}"
cp -R mcu/arduino/G2T "$out"
mkdir "$out/src/g2t"
for f in "$@"; do
	case $f in
	*.c) { printf '/* %s of g2t, copied by make arduino */\n#include "../G2TConfig.h"\n#line 1 "%s"\n' \
		"$f" "$f"; cat "$f"; } > "$out/src/g2t/${f##*/}" ;;
	*) cp "$f" "$out/src/g2t/" ;;
	esac
done
