#!/bin/sh
# sizes.sh BUILD - the Arduino example's flash and SRAM beside the Uno's
# 32 KB and 2 KB, from its ELF and from the stack peak that avr-serial
# measured in tests/serial.sh arduino (BUILD/serial-arduino.log).  Fails
# when a target is missed: flash <= 28 KB, static SRAM <= 1.5 KB, static
# plus the stack's peak <= 2 KB.
set -eu
b=$1
elf=$b/arduino/uno/G2TDevice.ino.elf
set -- $(avr-size "$elf" | awk 'NR == 2 { print $1 + $2, $2 + $3 }')
flash=$1 static=$2
stack=$(sed -n 's/.*stack peak \([0-9]*\) bytes.*/\1/p' "$b/serial-arduino.log" | tail -n 1)
echo "Arduino library, example G2TDevice for the Uno (arduino-builder, arduino:avr:uno):"
printf '  flash %5d of 32768 (target <= 28672)\n' "$flash"
printf '  SRAM  %5d static (target <= 1536) + %s stack peak = %d of 2048\n' \
	"$static" "${stack:-?}" $((static + ${stack:-9999}))
[ "$flash" -le 28672 ] && [ "$static" -le 1536 ] && [ $((static + ${stack:-9999})) -le 2048 ] || {
	echo "check-mcu: FAIL: the Arduino example misses its size targets" >&2
	exit 1
}
