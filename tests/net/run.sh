#!/usr/bin/env bash
# run.sh TASKS POLICY FLEET OUT -- one run of the network test bed: the
# coordinator serves the task files TASKS (a directory from g2t-split) to a
# fleet of devices, each in its own namespace behind its own link, until the
# model is complete; then writes OUT/summary, OUT/devices (one line a device) and
# OUT/model.
#
# POLICY: every (W_t = 1), fixed8 (W_t = 8) or adaptive (Algorithm 1: W_t =
# 1/q from the measured link, 1 to 16), or adaptive-nobackups (the same, the
# server giving no backup leases).  Each device is one g2t-device, as
# users run it: it leases what its link fetches in a few seconds, at most
# what W_t still wants, and holds results until W_t.
# FLEET: PROFILE:COUNT,... with profiles of bed.sh (good, mid, poor).
# Environment: G2T_BIN (bin), TOOLS (build/tools), NET_TIMEOUT (seconds
# before the run is abandoned, 900), NET_LEASE (lease timeout, 60).
#
# OUT/summary has one "key value" line per figure: seconds (to the complete
# model), leases_reissued, leases_backup (backup leases of tasks still
# leased), results_stale (ignored: their task was done), results_expired
# (refused: lease expired and re-issued), packets_duplicate, and per
# profile P: P_devices, P_bytes_up, P_bytes_down, P_requests, P_failures
# (times a device found the server unreachable), P_net_ms and P_train_ms
# (milliseconds devices spent waiting on the network and training).
# Needs root; exits 77 when namespaces cannot be made.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
tasks=$1 policy=$2 fleet=$3 out=$4
bin=$(cd "${G2T_BIN:-bin}" && pwd)
export TOOLS=$(cd "${TOOLS:-build/tools}" && pwd)
timeout=${NET_TIMEOUT:-900} lease=${NET_LEASE:-60}
. "$here/bed.sh"
bed_can || { echo "run.sh: cannot make network namespaces (not root?)" >&2; exit 77; }

serve_args=()
case $policy in
every) batch="--min-batch 1 --max-batch 1" ;;
fixed8) batch="--min-batch 8 --max-batch 8" ;;
adaptive) batch="--min-batch 1 --max-batch 16" ;;
adaptive-nobackups) batch="--min-batch 1 --max-batch 16" serve_args=(--no-backups) ;;
*) echo "run.sh: unknown policy '$policy' (every, fixed8, adaptive, adaptive-nobackups)" >&2
	exit 2 ;;
esac

mkdir -p "$out"
work=$(mktemp -d)
cleanup() {
	bed_down
	rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s%3N; }   # milliseconds

# device DIR PORT: g2t-device in the device's namespace, until every task is
# done; its --stats give the time it spent on the network and training, its
# stderr the times it found the server unreachable.
device() {
	local dir=$1
	exec "$bin/g2t-device" -s "$dir/key" -S "$dir/spool" --cache "$dir/cache" $batch \
		--idle-max 2 --retry-max 30 --stats "$dir/stats" "http://127.0.0.1:$2" \
		2> "$dir/device.err"
}

bed_up
"$bin/g2t-split" --help > /dev/null
mkdir "$work/keys"
i=0 made=()
for spec in ${fleet//,/ }; do
	for _ in $(seq "${spec#*:}"); do
		i=$((i + 1))
		mkdir -p "$work/d$i"
		echo "${spec%:*}" > "$work/d$i/profile"
		{
			"$bin/g2t-pack" --keygen -p "$work/keys/d$i.pub" -s "$work/d$i/key"
			bed_device "$i" "${spec%:*}"
		} &
		made+=($!)
	done
done
devices=$i
wait "${made[@]}" || true  # every device's key and namespace, made at once
[ "$(ls "$work/keys" | wc -l)" = "$devices" ] &&
	[ "$(ip netns list | grep -c "^${BED}d")" = "$devices" ] ||
	{ echo "run.sh: could not make the fleet's keys and namespaces" >&2; exit 1; }

ip netns exec "${BED}c" "$bin/g2t-serve" --tasks "$tasks" --state "$work/state" \
	--devices "$work/keys" --listen "$BED_HUB:0" --port-file "$work/port" \
	--lease-timeout "$lease" "${serve_args[@]}" 2> "$work/serve.log" &
server=$!
while [ ! -s "$work/port" ]; do sleep 0.05; done
port=$(cat "$work/port")
status() { ip netns exec "${BED}c" curl -s --max-time 30 "http://$BED_HUB:$port/${1#/}"; }

relays=()
for i in $(seq "$devices"); do
	bed_proxy "$i" "$(cat "$work/d$i/profile")" "$port" "$work/d$i" > /dev/null &
	relays+=($!)
done
wait "${relays[@]}" || true
for i in $(seq "$devices"); do
	[ -s "$work/d$i/proxy.port" ] || { echo "run.sh: no relay for device $i" >&2; exit 1; }
done
start=$(now)
pids=()
for i in $(seq "$devices"); do
	ip netns exec "${BED}d$i" bash -c "$(declare -f device); bin=$bin batch='$batch' \
		device $work/d$i $(cat "$work/d$i/proxy.port")" &
	pids+=($!)
done
until status v1/status | grep -q '"complete": *true'; do
	if [ $(($(now) - start)) -gt $((timeout * 1000)) ]; then
		echo "run.sh: no complete model after $timeout s; the server's log and" \
			"the devices' stderr are in $out/failed" >&2
		status v1/status >&2 || echo "run.sh: the server does not answer" >&2
		mkdir -p "$out/failed"
		cp "$work/serve.log" "$out/failed/"
		for i in $(seq "$devices"); do
			cp "$work/d$i/device.err" "$out/failed/d$i.err"
		done
		exit 1
	fi
	sleep 0.2
done
ms=$(($(now) - start))
# Devices not done yet stop now; their relays too, so that no device waits
# out a transfer under way before it writes its --stats.
kill -TERM "${pids[@]}" 2> /dev/null || true
for i in $(seq "$devices"); do kill "$(cat "$work/d$i/proxy.pid")"; done
wait "${pids[@]}" || true
for i in $(seq "$devices"); do
	while [ ! -s "$work/d$i/proxy.stats" ]; do sleep 0.05; done
done
status v1/model > "$out/model"
status metrics > "$out/metrics"
grep -q '^g2t_leases_issued_total ' "$out/metrics" ||
	{ echo "run.sh: the server gave no metrics" >&2; exit 1; }
kill "$server"
wait "$server" || true

metric() { awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' "$out/metrics"; }
{
	echo "policy $policy"
	echo "seconds $((ms / 1000)).$(printf %03d $((ms % 1000)))"
	echo "leases_reissued $(metric g2t_leases_reissued_total)"
	echo "leases_backup $(metric g2t_leases_backup_total)"
	echo "results_stale $(metric 'g2t_results_total{outcome="ignored_stale"}')"
	echo "results_expired $(metric 'g2t_results_total{outcome="refused",reason="lease_expired"}')"
	echo "packets_duplicate $(metric g2t_packets_duplicate_total)"
	# per profile: the relays' counts, the devices' --stats, their stderr
	shopt -s nullglob
	awk 'function dev(f) { sub(/\/[^\/]*$/, "", f); return f }
	     FNR == 1 { d = dev(FILENAME) }
	     FILENAME ~ /\/profile$/ { p[d] = $1; n[$1]++; next }
	     FILENAME ~ /proxy.stats$/ { v[d, $1] += $2; next }
	     FILENAME ~ /\/stats$/ { v[d, $1] += $2; next }
	     /unreachable/ { v[d, "failures"]++ }
	     END {
		split("good mid poor", order)
		split("bytes_up bytes_down requests failures net_ms train_ms", keys)
		for (i = 1; i <= 3; i++) {
			q = order[i]
			if (!n[q]) continue
			print q "_devices " n[q]
			for (k = 1; k <= 6; k++) {
				t = 0
				for (d in p) if (p[d] == q) t += v[d, keys[k]]
				print q "_" keys[k] " " t
			}
		}
	     }' "$work"/d*/profile "$work"/d*/proxy.stats "$work"/d*/stats "$work"/d*/device.err
	echo "model_sha256 $(sha256sum < "$out/model" | cut -d' ' -f1)"
} > "$out/summary"
for i in $(seq "$devices"); do   # one line a device, for a closer look
	echo "d$i $(cat "$work/d$i/profile") $(cat "$work/d$i/proxy.stats" "$work/d$i/stats" \
		2> /dev/null | awk '{ printf "%s=%s ", $1, $2 }')"
done > "$out/devices"
cat "$out/summary"
