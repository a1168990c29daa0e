#!/bin/sh
# size.sh BUILD TARGET... - check that the cross-compiled core calls nothing
# outside itself but the compiler's helpers, and print the size table:
#   core .o     lib/core objects as compiled (every function), text
#   training    the flash the core adds to the least firmware of a training
#               device, which decodes a stream, trains and encodes the
#               weights (mcu/src/core_only.c -DTRAIN), helpers included
#   +predict    what one-vs-one prediction adds to that (-DPREDICT)
#   firmware    the test firmware with its embedded tasks: flash, static RAM
# Each target's core is built with its profile (mcu/cfg/TARGET.h).  Sizes
# in bytes; flash = text + data, static RAM = data + bss.
set -eu
b=$1
shift
status=0

# flash TOOL FILE, ram TOOL FILE
flash() { "$1" "$2" | awk 'NR == 2 { print $1 + $2 }'; }
ram() { "$1" "$2" | awk 'NR == 2 { print $2 + $3 }'; }

printf '%-11s %8s %9s %9s %10s %9s\n' "" "core .o" "core linked:" "" "test firmware" ""
printf '%-11s %8s %9s %9s %10s %9s\n' target text training +predict flash RAM
for t in "$@"; do
	case $t in
	cortex-*) tool=arm-none-eabi-size nm=arm-none-eabi-nm ;;
	*) tool=avr-size nm=avr-nm ;;
	esac
	# the core may call the compiler's helpers (__aeabi_*, __mulsf3, ...)
	# and itself, nothing else: no memcpy, no memset, no libc
	outside=$("$nm" -u "$b/$t"/core/*.o | awk 'NF == 2 { print $2 }' |
		grep -v -e '^__' -e '^g2t_' | sort -u | tr '\n' ' ')
	if [ -n "$outside" ]; then
		echo "$t: the core calls outside itself: $outside" >&2
		status=1
	fi
	core=$("$tool" "$b/$t"/core/*.o | awk 'NR > 1 { t += $1 } END { print t }')
	empty=$(flash "$tool" "$b/$t/empty.elf")
	train=$(flash "$tool" "$b/$t/core-train.elf")
	predict=$(flash "$tool" "$b/$t/core-predict.elf")
	printf '%-11s %8d %9d %9d %10d %9d\n' "$t" "$core" $((train - empty)) \
		$((predict - train)) "$(flash "$tool" "$b/$t/fw.elf")" "$(ram "$tool" "$b/$t/fw.elf")"
done
exit $status
