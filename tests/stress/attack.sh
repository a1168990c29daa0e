#!/usr/bin/env bash
# The coordinator under attack: SLOW connections that send their headers one
# byte a second (slowloris) and BODIES clients that POST 60 MiB unsigned
# bodies, from 40 loopback addresses, while two honest devices train letter.
# Passes when the run completes with the model byte-identical to the
# one-machine one, the server dropped slow connections and refused every
# hostile body, and its peak RSS stayed under LIMIT_MB.  Prints the time the
# devices took, and the same without the attack when asked (BASELINE=1).
# usage: attack.sh [SLOW] [BODIES] [LIMIT_MB]
set -eu
cd "$(dirname "$0")/../.."
slow=${1:-2000} bodies=${2:-20} limit_mb=${3:-256}
bin=${G2T_BIN:-bin} tools=${G2T_UNITS:-build/tests}/../tools
work=$(mktemp -d)
server= hostile=
cleanup() {
	pkill -9 -f "$work/" 2> /dev/null || true
	[ -z "$hostile" ] || kill -9 "$hostile" 2> /dev/null || true
	[ -z "$server" ] || kill -9 "$server" 2> /dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

"$bin/g2t-split" -o "$work/tasks" tests/data/letter.train.csv.gz
"$bin/g2t-train" "$work"/tasks/*.g2t | "$bin/g2t-merge" > "$work/expected.model"
mkdir "$work/keys"
for i in 1 2; do
	"$bin/g2t-pack" --keygen -p "$work/keys/d$i.pub" -s "$work/d$i.key"
done

start_server() {
	rm -rf "$work/state" "$work/port"
	"$bin/g2t-serve" --tasks "$work/tasks" --state "$work/state" --devices "$work/keys" \
		--listen 127.0.0.1:0 --port-file "$work/port" --max-connections 4096 \
		2>> "$work/serve.log" &
	server=$!
	while [ ! -s "$work/port" ]; do sleep 0.02; done
	url=http://127.0.0.1:$(cat "$work/port")
}

# An honest device, as the README runs one: 8 tasks a lease, 8 results a packet.
device() { # N
	local k=$work/d$1 rc
	while :; do
		rc=0
		"$bin/g2t-fetch" -s "$k.key" -n 8 --cache "$k.cache" --retry-max 30 "$url" \
			> "$k.task" 2> /dev/null || rc=$?
		if [ $rc -eq 75 ]; then
			"$bin/g2t-pack" -s "$k.key" --spool "$k.spool" --flush --retry-max 30 \
				--send "$url" < /dev/null > /dev/null 2>&1 || true
			curl -s --max-time 10 "$url/v1/status" | grep -q '"complete":true' && return 0
			sleep 0.2
			continue
		fi
		[ $rc -eq 0 ] || return 1
		"$bin/g2t-train" "$k.task" | "$bin/g2t-pack" -s "$k.key" --spool "$k.spool" \
			--min-batch 8 --retry-max 30 --send "$url" 2> /dev/null || [ $? -eq 75 ]
	done
}

# Both devices until the model is complete; prints the seconds they took.
run_devices() {
	local t0 pids=()
	rm -rf "$work"/d*.cache "$work"/d*.spool
	t0=$(date +%s.%N)
	for i in 1 2; do device "$i" & pids+=($!); done
	for p in "${pids[@]}"; do wait "$p" || { echo "attack: a device failed"; exit 1; }; done
	awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
}

# The server's peak RSS in MB so far.
peak_mb() {
	awk '/^VmHWM/ { printf "%d", $2 / 1024 }' "/proc/$server/status"
}

if [ "${BASELINE:-0}" = 1 ]; then
	start_server
	echo "attack: without attack, letter done by 2 devices in $(run_devices) s," \
		"server peak RSS $(peak_mb) MB"
	kill "$server"; wait "$server" || true
fi

start_server
ulimit -n 8192 2> /dev/null || true
"$tools/hostile" "$(cat "$work/port")" 600 "$slow" "$bodies" 40 > "$work/hostile.out" &
hostile=$!
sleep 12 # past the header deadline: slow connections have been dropped once
seconds=$(run_devices)
kill -0 "$hostile" || { echo "attack: the hostile clients died"; cat "$work/hostile.out"; exit 1; }
status=$(curl -s --max-time 10 "$url/v1/status")
curl -s --max-time 10 "$url/v1/model" -o "$work/devices.model"
peak=$(peak_mb)
kill "$hostile" 2> /dev/null; wait "$hostile" 2> /dev/null || true
hostile=
echo "attack: $slow slow connections and $bodies 60 MiB unsigned bodies: letter done by" \
	"2 devices in $seconds s, server peak RSS $peak MB (limit $limit_mb)"
echo "attack: $(echo "$status" | grep -o '"requests":{[^}]*}'), $(echo "$status" |
	grep -o '"connections_dropped_slow":[0-9]*')"
kill "$server"; wait "$server" || true
server=
cmp "$work/devices.model" "$work/expected.model"
[ "$peak" -le "$limit_mb" ] || { echo "attack: peak RSS $peak MB over $limit_mb MB"; exit 1; }
echo "$status" | grep -q '"connections_dropped_slow":[1-9]' ||
	{ echo "attack: no slow connection was dropped"; exit 1; }
echo "$status" | grep -q '"accepted":325,' || { echo "attack: $status"; exit 1; }
echo "attack: the model is complete and byte-identical; memory stayed bounded"
