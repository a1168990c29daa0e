#!/usr/bin/env bash
# Reliability: twenty devices train the digits tasks while the coordinator is
# killed with SIGKILL at random moments and restarted on the same state, ten
# times.  Passes when the run completes, the model is byte-identical to the
# one-machine model (so every acknowledged result is in it, and no task holds
# anything else), and the state holds each task's result once.  With
# REPLICAS, every task needs that many agreeing devices, and none may be
# counted as disagreeing.
# usage: kill9.sh [KILLS] [DEVICES] [REPLICAS]
set -eu
cd "$(dirname "$0")/../.."
kills=${1:-10} devices=${2:-20} replicas=${3:-1}
bin=${G2T_BIN:-bin}
work=$(mktemp -d)
server=
cleanup() {
	# the device loops first, or they would start new processes
	touch "$work/finished"
	[ ${#pids[@]} -eq 0 ] || kill -9 "${pids[@]}" 2> /dev/null || true
	wait "${pids[@]}" 2> /dev/null || true
	pkill -9 -f "$work/" 2> /dev/null || true
	[ -z "$server" ] || kill -9 "$server" 2> /dev/null || true
	rm -rf "$work"
}
pids=()
trap cleanup EXIT

"$bin/g2t-split" -o "$work/tasks" tests/data/digits.train.csv.gz
"$bin/g2t-train" "$work"/tasks/*.g2t | "$bin/g2t-merge" > "$work/expected.model"
mkdir "$work/keys"
for i in $(seq "$devices"); do
	"$bin/g2t-pack" --keygen -p "$work/keys/d$i.pub" -s "$work/d$i.key"
done

start_server() { # PORT
	"$bin/g2t-serve" --tasks "$work/tasks" --state "$work/state" --devices "$work/keys" \
		--listen "127.0.0.1:$1" --port-file "$work/port" --lease-timeout 2 \
		--replicas "$replicas" \
		2>> "$work/serve.log" &
	server=$!
	while [ ! -s "$work/port" ]; do sleep 0.02; done
}

# A device: fetch, train, pack and send until all is done; counts the
# packets the coordinator acknowledged (g2t-pack exit 0).
device() { # N
	local k=$work/d$1 rc
	while [ ! -e "$work/finished" ]; do
		rc=0
		"$bin/g2t-fetch" -s "$k.key" --cache "$k.cache" --retry-max 3 "$url" \
			> "$k.task" 2> /dev/null || rc=$?
		if [ $rc -ne 0 ]; then
			"$bin/g2t-pack" -s "$k.key" --spool "$k.spool" --flush --retry-max 3 \
				--send "$url" < /dev/null > /dev/null 2>&1 && echo >> "$k.acked" || true
			sleep 0.2
			continue
		fi
		if "$bin/g2t-train" "$k.task" 2> /dev/null |
			"$bin/g2t-pack" -s "$k.key" --spool "$k.spool" --retry-max 3 \
				--send "$url" 2> /dev/null; then
			echo >> "$k.acked"
		fi
	done
}

rm -f "$work/port"
start_server 0
port=$(cat "$work/port")
url=http://127.0.0.1:$port
pids=()
for i in $(seq "$devices"); do device "$i" & pids+=($!); done

for k in $(seq "$kills"); do
	sleep "$(awk -v s="$RANDOM" 'BEGIN { srand(s); print 0.2 + rand() * 0.8 }')"
	kill -9 "$server"
	wait "$server" 2> /dev/null || true
	rm -f "$work/port"
	start_server "$port"
done

deadline=$((SECONDS + 120))
until curl -s "$url/v1/status" | grep -q '"complete":true'; do
	[ $SECONDS -lt $deadline ] || { echo "kill9: not complete after 120 s: $(curl -s "$url/v1/status")"; tail -n 5 "$work/serve.log"; exit 1; }
	sleep 0.3
done
touch "$work/finished"
{ pkill -f "$work/d"; wait "${pids[@]}"; } 2> /dev/null || true
curl -s "$url/v1/model" -o "$work/devices.model"
status=$(curl -s "$url/v1/status")
acked=$(cat "$work"/d*.acked 2> /dev/null | wc -l)
echo "kill9: $kills kills of the coordinator with $devices devices, $replicas replica(s):" \
	"$acked packets acknowledged"
echo "kill9: $(echo "$status" | sed -n 's/.*"leases":{\([^}]*\)}.*/leases: \1/p')"
{ kill "$server"; wait "$server"; } 2> /dev/null || true
server=
cmp "$work/devices.model" "$work/expected.model"
echo "$status" | grep -q '"disagreeing_devices":0,' ||
	{ echo "kill9: devices counted as disagreeing: $status"; exit 1; }
echo "kill9: the model is complete and byte-identical to the one-machine model"
