#!/bin/sh
# size.sh BUILD TARGET... - check that the cross-compiled core calls nothing
# outside itself but the compiler's helpers, and print the size table:
#   core .o     lib/core objects as compiled (every function)
#   core linked what the core adds to a firmware that decodes, trains,
#               encodes and predicts (mcu/src/core_only.c), helpers included;
#               its bss is core_only.c's buffers (the core has none)
#   firmware    the test firmware with its embedded tasks
# Sizes in bytes; flash = text + data, static RAM = data + bss.
set -eu
b=$1
shift
status=0

# sz TOOL FILE...: "text data bss" summed over the files
sz() {
	tool=$1
	shift
	"$tool" "$@" | awk 'NR > 1 { t += $1; d += $2; s += $3 } END { print t, d, s }'
}

printf '%-11s %23s %23s %29s\n' "" "core .o" "core linked" "test firmware"
printf '%-11s %7s %7s %7s %7s %7s %7s %9s %9s %9s\n' target text data bss text data bss \
	text data bss
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
	set -- $(sz "$tool" "$b/$t"/core/*.o) $(sz "$tool" "$b/$t/core-only.elf") \
		$(sz "$tool" "$b/$t/empty.elf") $(sz "$tool" "$b/$t/fw.elf")
	printf '%-11s %7d %7d %7d %7d %7d %7d %9d %9d %9d\n' "$t" "$1" "$2" "$3" \
		$(($4 - $7)) $(($5 - $8)) $(($6 - $9)) "${10}" "${11}" "${12}"
done
exit $status
