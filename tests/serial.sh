#!/bin/bash
# serial.sh CASE -- g2t-serial against the device firmware over a pty
# (tests/tools/serial-relay), no emulator: the WEIGHTS stream must be
# g2t-train's, byte for byte, for the same tasks.  Cases:
#   digits    digits 4 and 9, 8-bit rows, asgd; the device keeps the rows
#   small     the same on a 1 KB device that asks for rows in reading order
#   all45     all 45 digit pairs, float32 rows, pegasos, in one session
#   damage    digits 4 and 9 with a byte flipped (at several places) and a
#             byte dropped on the line: frames sent again, same result
#   stall     a device that never answers: g2t-serial fails, saying so
#   garbage   a "device" sending random bytes: the same
#   reset     a device that restarts in the middle of a task: the same
#   m0, m3, m4f  the firmware on qemu-system-arm (Cortex-M0: microbit,
#             Cortex-M3: mps2-an385, Cortex-M4F: mps2-an386), its UART on a
#             pty (make check-mcu)
#   avr       the firmware on an ATmega328P in simavr (mcu/sim/avr-serial),
#             letters A and B, in reading order through its 320 bytes for rows
#   avr-damage  the same with a byte flipped, then one dropped: frames sent
#             again, same result
#   mega      digits 4 and 9 on an ATmega2560 in simavr (4 KB for rows)
#   arduino   letters A and B with the Arduino library's example sketch for the Uno
#             (build/mcu/arduino/G2TDevice.hex, arduino-builder), in simavr
#   arduino-mega  digits 4 and 9 with the same sketch built for the Mega
set -eu
export LC_ALL=C
bin=${G2T_BIN:-bin}
b=${BUILD:-build}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/g2t-serial.XXXXXX")
pids=
trap 'for p in $pids; do kill "$p" 2>/dev/null || :; done; rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

split() { # split OUT CLASSES G2T-SPLIT-OPTION...
	local out=$1 classes=$2
	shift 2
	gzip -dc tests/data/digits.train.csv.gz |
		"$bin/g2t-split" --epochs 5 ${classes:+--classes "$classes"} "$@" > "$out"
}

letter_ab() { # letter_ab OUT: letters A and B, 8-bit rows, 5 passes of asgd
	gzip -dc tests/data/letter.train.csv.gz |
		"$bin/g2t-split" --epochs 5 --classes A,B -q 8 --algo asgd > "$1"
}

# relay "RELAY-OPTIONS" DEVICE [ARG...]: starts the device behind a pty,
# sets $pty
relay() {
	local how=$1
	shift
	rm -f "$tmp/pty"
	"$b/tools/serial-relay" $how "$tmp/pty" "$@" &
	pids="$pids $!"
	for _ in $(seq 100); do [ -s "$tmp/pty" ] && break; sleep 0.05; done
	pty=$(cat "$tmp/pty")
}

# same TASKS DEVICE-PTY: trains on the device, compares with g2t-train
same() {
	"$bin/g2t-train" -o "$tmp/want.g2t" "$1"
	"$bin/g2t-serial" --stats -t 1000 -o "$tmp/got.g2t" "$2" < "$1" 2> "$tmp/stats" || { cat "$tmp/stats"; exit 1; }
	cat "$tmp/stats"
	cmp "$tmp/want.g2t" "$tmp/got.g2t"
	echo "WEIGHTS identical to g2t-train's"
}

case $1 in
digits)
	split "$tmp/t.g2t" 4,9 -q 8 --algo asgd
	relay "" "$b/mcu/dev-host"
	same "$tmp/t.g2t" "$pty" ;;
small)
	split "$tmp/t.g2t" 4,9 -q 8 --algo asgd
	relay "" "$b/mcu/dev-host-small"
	same "$tmp/t.g2t" "$pty"
	grep -q 'frames of 256 bytes' "$tmp/stats" ;;
all45)
	split "$tmp/t.g2t" "" --algo pegasos
	relay "" "$b/mcu/dev-host"
	same "$tmp/t.g2t" "$pty"
	[ "$(grep -c '^task' "$tmp/stats")" = 45 ] ;;
damage)
	split "$tmp/t.g2t" 4,9 -q 8 --algo asgd
	# bytes 3 and 60 are in HI and HELLO, the others in the task's frames,
	# which must then have been sent again
	for how in "--flip 3" "--flip 60" "--flip 2000" "--flip 19000" "--drop 700" \
			"--drop 19500"; do
		echo "line damage: $how"
		relay "$how" "$b/mcu/dev-host"
		same "$tmp/t.g2t" "$pty"
		case $how in *[0-9][0-9][0-9]) ! grep -q 'sent again 0$' "$tmp/stats" ;; esac
	done ;;
stall)
	split "$tmp/t.g2t" 4,9 -q 8 --algo asgd
	relay "" sleep 30
	if "$bin/g2t-serial" -t 100 --tries 3 "$pty" < "$tmp/t.g2t" > "$tmp/out" 2> "$tmp/err"; then
		echo "g2t-serial succeeded with a silent device"; exit 1
	fi
	cat "$tmp/err"
	grep -q 'no answer to HI in 100 ms, sent 3 times' "$tmp/err"
	[ ! -s "$tmp/out" ] ;;
garbage)
	split "$tmp/t.g2t" 4,9 -q 8 --algo asgd
	relay "" cat /dev/urandom
	if "$bin/g2t-serial" -t 1000 "$pty" < "$tmp/t.g2t" > "$tmp/out" 2> "$tmp/err"; then
		echo "g2t-serial succeeded with random bytes"; exit 1
	fi
	cat "$tmp/err"
	grep -q 'damaged frames in a row' "$tmp/err"
	[ ! -s "$tmp/out" ] ;;
reset)
	split "$tmp/t.g2t" 4,9 -q 8 --algo asgd
	relay "" sh -c "dd bs=1 count=3000 status=none | '$b/mcu/dev-host'; exec '$b/mcu/dev-host'"
	if "$bin/g2t-serial" -t 1000 "$pty" < "$tmp/t.g2t" > "$tmp/out" 2> "$tmp/err"; then
		echo "g2t-serial succeeded with a device that restarted"; exit 1
	fi
	cat "$tmp/err"
	grep -q 'the device has restarted' "$tmp/err"
	[ ! -s "$tmp/out" ] ;;
m0 | m3 | m4f)
	split "$tmp/t.g2t" 4,9 -q 8 --algo asgd
	case $1 in
	m0) set -- microbit cortex-m0 ;;
	m3) set -- mps2-an385 cortex-m3 ;;
	*) set -- mps2-an386 cortex-m4f ;;
	esac
	qemu-system-arm -M "$1" -nographic -monitor none -serial pty \
		-kernel "$b/mcu/$2/dev.elf" > "$tmp/qemu" 2>&1 &
	pids="$pids $!"
	for _ in $(seq 100); do grep -q /dev/pts "$tmp/qemu" && break; sleep 0.05; done
	same "$tmp/t.g2t" "$(grep -o '/dev/pts/[0-9]*' "$tmp/qemu")" ;;
avr)
	letter_ab "$tmp/t.g2t"
	relay "" "$b/mcu/avr-serial" atmega328p "$b/mcu/atmega328p/dev.elf"
	same "$tmp/t.g2t" "$pty" ;;
avr-damage)
	# the same with a byte flipped and a byte dropped in the rows, which
	# the receive interrupt decodes while the firmware trains
	letter_ab "$tmp/t.g2t"
	for how in "--flip 19000" "--drop 50000"; do
		echo "line damage: $how"
		relay "$how" "$b/mcu/avr-serial" atmega328p "$b/mcu/atmega328p/dev.elf"
		same "$tmp/t.g2t" "$pty"
		! grep -q 'sent again 0$' "$tmp/stats"
	done ;;
mega)
	split "$tmp/t.g2t" 4,9 -q 8 --algo asgd
	relay "" "$b/mcu/avr-serial" atmega2560 "$b/mcu/atmega2560/dev.elf"
	same "$tmp/t.g2t" "$pty" ;;
arduino)
	letter_ab "$tmp/t.g2t"
	relay "" "$b/mcu/avr-serial" atmega328p "$b/mcu/arduino/G2TDevice.hex"
	same "$tmp/t.g2t" "$pty" ;;
arduino-mega)
	split "$tmp/t.g2t" 4,9 -q 8 --algo asgd
	relay "" "$b/mcu/avr-serial" atmega2560 "$b/mcu/arduino/G2TDevice-mega.hex"
	same "$tmp/t.g2t" "$pty" ;;
*)
	echo "serial.sh: unknown case $1" >&2; exit 2 ;;
esac
