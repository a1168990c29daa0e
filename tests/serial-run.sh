#!/bin/bash
# serial-run.sh [K] -- microcontrollers in a real run (issue 14, make
# check-mcu): g2t-serve --replicas 2 with the digits' tasks (8-bit rows,
# asgd; the pairs of the first K classes, all 10 by default) and three devices, each with its
# own key:
#   m3    a Cortex-M3 (qemu-system-arm mps2-an385, its UART on a pty),
#   avr   an ATmega2560 (simavr, mcu/sim/avr-serial, on a pty),
#   host  g2t-device,
# the microcontrollers through g2t-fetch | g2t-serial | g2t-pack.  Checks:
# every task done, each by two different devices (the state's leases), every
# device did some, 0 disagreeing devices in /v1/status, the served model
# byte-identical to g2t-train | g2t-merge and scoring the same on the
# digits' test set.  Prints the time to the model, the tasks and the bytes
# over each serial line, and the AVR's emulated time.
#
# SET=synthetic: the paper's 95-class synthetic set (tests/bench/blobs.sh,
# 40 features, 240 rows a class; 4,465 tasks), the pairs of its first K;
# REPLICAS=1 and HOST=0 (no host device) for tests/bench/serial-slice.sh,
# which reports tasks per emulated-device-hour.
set -eu
export LC_ALL=C
k=${1:-}
set_=${SET:-digits}
replicas=${REPLICAS:-2}
devices="m3 avr"
[ "${HOST:-1}" = 0 ] || devices="$devices host"
bin=${G2T_BIN:-bin}
b=${BUILD:-build}
export PATH=$PWD/$bin:$PATH
tmp=$(mktemp -d "${TMPDIR:-/tmp}/g2t-serial-run.XXXXXX")
pids=
trap 'for p in $pids; do kill "$p" 2>/dev/null || :; done; wait 2>/dev/null; rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
fail() { echo "serial-run: FAIL: $*" >&2; exit 1; }

# the tasks, and the one-machine pipeline's model and score
if [ "$set_" = synthetic ]; then
	tests/bench/blobs.sh 95 40 240 1 > "$tmp/train.csv"
	tests/bench/blobs.sh 95 40 60 2 > "$tmp/test.csv"
else
	gzip -dc tests/data/digits.train.csv.gz > "$tmp/train.csv"
	gzip -dc tests/data/digits.test.csv.gz > "$tmp/test.csv"
fi
classes=
if [ -n "$k" ]; then
	if [ "$set_" = synthetic ]; then
		classes=$(seq -f 'c%03g' 1 "$k" | paste -sd,)
	else
		classes=$(seq 0 $((k - 1)) | paste -sd,)
	fi
fi
g2t-split -q 8 --algo asgd --epochs 5 ${classes:+--classes "$classes"} -o "$tmp/tasks" \
	"$tmp/train.csv" 2>/dev/null
if [ -n "$classes" ]; then # the test rows of those classes
	awk -F, -v c="$classes" 'BEGIN { n = split(c, a, ","); for (i = 1; i <= n; i++) k[a[i]] = 1 }
		NR == 1 || ($NF in k)' "$tmp/test.csv" > "$tmp/test.k" && mv "$tmp/test.k" "$tmp/test.csv"
fi
n=$(ls "$tmp/tasks"/*.g2t | wc -l)
t0=$EPOCHREALTIME
g2t-train "$tmp"/tasks/*.g2t | g2t-merge > "$tmp/want.model"
host_s=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
want=$(g2t-predict -e "$tmp/want.model" "$tmp/test.csv" | head -n 1)

mkdir "$tmp/keys"
for d in $devices; do
	mkdir "$tmp/$d"
	g2t-pack --keygen -p "$tmp/keys/$d.pub" -s "$tmp/$d/key"
done

# no backup leases: the host device would take over the microcontrollers'
# tasks at the tail, and each device must have done some of its own
g2t-serve --listen 127.0.0.1:0 --port-file "$tmp/port" --tasks "$tmp/tasks" \
	--state "$tmp/state" --devices "$tmp/keys" --replicas "$replicas" --no-backups \
	< /dev/null > "$tmp/serve.out" 2> "$tmp/serve.log" &
srv=$!
pids="$pids $srv"
for _ in $(seq 200); do [ -s "$tmp/port" ] && break; sleep 0.05; done
[ -s "$tmp/port" ] || { cat "$tmp/serve.log"; fail "g2t-serve did not start"; }
url=http://127.0.0.1:$(cat "$tmp/port")
start=$EPOCHREALTIME

# the devices' serial lines
qemu-system-arm -M mps2-an385 -nographic -monitor none -serial pty \
	-kernel "$b/mcu/cortex-m3/dev.elf" > "$tmp/m3/qemu" 2>&1 &
pids="$pids $!"
"$b/tools/serial-relay" "$tmp/avr/pty" "$b/mcu/avr-serial" atmega2560 \
	"$b/mcu/atmega2560/dev.elf" 2> "$tmp/avr/sim" &
relay=$!
pids="$pids $relay"
for _ in $(seq 200); do
	grep -q /dev/pts "$tmp/m3/qemu" && [ -s "$tmp/avr/pty" ] && break
	sleep 0.05
done
grep -o '/dev/pts/[0-9]*' "$tmp/m3/qemu" > "$tmp/m3/pty"

complete() { curl -s --max-time 10 "$url/v1/status" | grep -q '"complete":true'; }

# mcu DIR: lease a task, train it on the device, send its weights; until
# every task is done
mcu() {
	local d=$1 rc
	while :; do
		rc=0 t=
		g2t-fetch -s "$d/key" --cache "$d/cache" -o "$d/t.g2t" "$url" 2>> "$d/err" || rc=$?
		if [ "$rc" = 75 ]; then
			complete && return 0
			sleep 0.2
			continue
		fi
		[ "$rc" = 0 ] || { echo "g2t-fetch exit $rc" >> "$d/err"; return 1; }
		t=$EPOCHREALTIME
		g2t-serial --stats -t 2000 -o "$d/w.g2t" "$(cat "$d/pty")" < "$d/t.g2t" \
			2>> "$d/stats" || return 1
		awk -v a="$t" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }' >> "$d/seconds"
		g2t-pack -s "$d/key" -q 1 --spool "$d/sp" --send "$url" < "$d/w.g2t" \
			> /dev/null 2>> "$d/err" || return 1
	done
}

mcu "$tmp/m3" &
m3=$!
mcu "$tmp/avr" &
avr=$!
host=
if [ -d "$tmp/host" ]; then
	g2t-device -s "$tmp/host/key" -S "$tmp/host/sp" --idle-max 1 "$url" 2> "$tmp/host/err" &
	host=$!
fi
pids="$pids $m3 $avr $host"
ok=1
for p in $m3 $avr $host; do wait "$p" || ok=0; done
seconds=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
if [ $ok = 0 ]; then
	for d in $devices; do echo "== $d"; tail -n 5 "$tmp/$d/err" "$tmp/$d/stats" 2>/dev/null; done
	fail "a device failed"
fi
curl -s --max-time 10 "$url/v1/status" > "$tmp/status"
curl -s --max-time 10 -o "$tmp/got.model" "$url/v1/model"
kill "$srv"
wait "$srv" 2>/dev/null || true
kill "$relay"
wait "$relay" 2>/dev/null || true

echo "g2t-serve --replicas $replicas, $n $set_ tasks (8-bit rows, asgd, 5 epochs), devices" \
	"$devices: model in $seconds s"
echo "/v1/status: $(cat "$tmp/status")"
grep -q "\"total\":$n,[^}]*\"done\":$n" "$tmp/status" || fail "not every task is done"
grep -q '"disagreeing_devices":0,' "$tmp/status" || fail "disagreeing devices"
# each task's results: by two different devices, the same bytes; every
# device did some
[ "$replicas" = 2 ] && twice=$(sqlite3 "$tmp/state/g2t.db" 'SELECT count(*) FROM (SELECT task FROM votes
	GROUP BY task HAVING count(DISTINCT device) = 2 AND count(DISTINCT digest) = 1)')
[ "$replicas" = 1 ] || [ "$twice" = "$n" ] || fail "$twice of $n tasks done by two devices with the same WEIGHTS"
[ "$replicas" = 1 ] || echo "every task done by two different devices, with the same WEIGHTS;"
echo "tasks by device: $(sqlite3 "$tmp/state/g2t.db" 'SELECT done FROM devices ORDER BY done' | tr '\n' ' ')"
[ "$(sqlite3 "$tmp/state/g2t.db" 'SELECT count(*) FROM devices WHERE done > 0')" = \
	"$(echo $devices | wc -w)" ] ||
	fail "a device did no task"
cmp "$tmp/want.model" "$tmp/got.model" || fail "the served model differs from g2t-train | g2t-merge"
got=$(g2t-predict -e "$tmp/got.model" "$tmp/test.csv" | head -n 1)
[ "$got" = "$want" ] || fail "the served model scores $got, g2t-train's $want"
echo "served model byte-identical to g2t-train | g2t-merge; $set_ test rows: $got"
for d in m3 avr; do
	awk -v d="$d" '/^task/ { t++; for (i = 1; i <= NF; i++) {
			if ($i == "out") o += $(i + 1); if ($i == "in") n += $(i + 1)
			if ($i == "sent") r += $(i + 1) } }
		END { printf "%-4s %3d tasks, serial line: %d bytes to the device (%.2fx the row bytes sent), %d back\n",
			d, t, o, o / r, n }' \
		"$tmp/$d/stats"
	awk -v d="$d" '{ s += $1 } END { printf "%-4s %.1f s in g2t-serial (wall clock), %.0f tasks an hour\n",
		d, s, NR * 3600 / s }' "$tmp/$d/seconds"
done
awk -v n="$n" -v s="$host_s" 'BEGIN { printf "host g2t-train (one thread) | g2t-merge, the same %d tasks: %.2f s, %.0f tasks an hour\n",
	n, s, n * 3600 / s }'
avr_tasks=$(grep -c '^task' "$tmp/avr/stats")
sed -n 's/^avr-serial: \([0-9]*\) cycles, \([0-9]*\) of them waiting.*/\1 \2/p' "$tmp/avr/sim" |
	awk -v n="$avr_tasks" '{ printf "avr  emulated at 16 MHz: %.1f s, %.1f s of it not waiting for a byte; %.0f tasks an emulated hour\n",
		$1 / 16e6, ($1 - $2) / 16e6, n * 3600 / ($1 / 16e6) }'
