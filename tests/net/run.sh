#!/usr/bin/env bash
# run.sh TASKS POLICY FLEET OUT -- one run of the network test bed: the
# coordinator serves the task files TASKS (a directory from g2t-split) to a
# fleet of devices, each in its own namespace behind its own link, until the
# model is complete; then writes OUT/summary and OUT/model.
#
# POLICY: every (W_t = 1), fixed8 (W_t = 8) or adaptive (Algorithm 1: W_t =
# 1/q from the measured link, leasing as many tasks as W_t still wants).
# FLEET: PROFILE:COUNT,... with profiles of bed.sh (good, mid, poor).
# Environment: G2T_BIN (bin), TOOLS (build/tools), NET_TIMEOUT (seconds
# before the run is abandoned, 900), NET_LEASE (lease timeout, 60).
#
# OUT/summary has one "key value" line per figure: seconds (to the complete
# model), leases_reissued, results_stale, results_duplicate, and per
# profile P: P_devices, P_bytes_up, P_bytes_down, P_requests, P_failures
# (device commands that failed and were retried by the loop), P_net_ms and
# P_train_ms (milliseconds devices spent in fetch/pack and in train).
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

case $policy in
every) batch="--min-batch 1 --max-batch 1" ;;
fixed8) batch="--min-batch 8 --max-batch 8" ;;
adaptive) batch= ;;
*) echo "run.sh: unknown policy '$policy' (every, fixed8, adaptive)" >&2; exit 2 ;;
esac

mkdir -p "$out"
work=$(mktemp -d)
cleanup() {
	touch "$work/finished"
	bed_down
	rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s%3N; }   # milliseconds

# device DIR PORT: the device loop of the README, in the device's namespace,
# timing its network and its training.
device() {
	local dir=$1 url=http://127.0.0.1:$2 n=1 rc t0 t1 held
	local net=0 train=0 fails=0
	case $policy in fixed8) n=8 ;; esac
	while [ ! -e "$work/finished" ]; do
		t0=$(now)
		rc=0
		"$bin/g2t-fetch" -s "$dir/key" -n "$n" --cache "$dir/cache" --retry-max 30 "$url" \
			> "$dir/task.g2t" 2> "$dir/fetch.err" || rc=$?
		t1=$(now)
		net=$((net + t1 - t0))
		if [ "$rc" = 75 ]; then  # no work now: send what is held, wait
			t0=$(now)
			"$bin/g2t-pack" -s "$dir/key" --spool "$dir/spool" --flush --send "$url" \
				< /dev/null 2> /dev/null || [ $? = 75 ] || fails=$((fails + 1))
			net=$((net + $(now) - t0))
			sleep 1
			continue
		elif [ "$rc" != 0 ]; then
			fails=$((fails + 1))
			sleep 1
			continue
		fi
		t0=$(now)
		"$bin/g2t-train" "$dir/task.g2t" > "$dir/w.g2t"
		t1=$(now)
		train=$((train + t1 - t0))
		rc=0
		"$bin/g2t-pack" -s "$dir/key" --spool "$dir/spool" $batch --send "$url" \
			< "$dir/w.g2t" 2> "$dir/pack.err" || rc=$?
		[ "$rc" = 0 ] || [ "$rc" = 75 ] || fails=$((fails + 1))  # 75: held
		net=$((net + $(now) - t1))
		if [ "$policy" = adaptive ]; then
			# "held: H of T weight sets": lease what W_t still wants
			held=$(sed -n 's/.*held: \([0-9]*\) of \([0-9]*\) .*/\2 - \1/p' "$dir/pack.err")
			n=$(( ${held:-1} ))
			[ "$n" -ge 1 ] || n=1
			[ "$n" -le 16 ] || n=16
		fi
	done
	echo "$net $train $fails" > "$dir/times"
}

bed_up
"$bin/g2t-split" --help > /dev/null
mkdir "$work/keys"
i=0
for spec in ${fleet//,/ }; do
	for _ in $(seq "${spec#*:}"); do
		i=$((i + 1))
		mkdir -p "$work/d$i"
		echo "${spec%:*}" > "$work/d$i/profile"
		"$bin/g2t-pack" --keygen -p "$work/keys/d$i.pub" -s "$work/d$i/key"
		bed_device "$i" "${spec%:*}"
	done
done
devices=$i

ip netns exec "${BED}c" "$bin/g2t-serve" --tasks "$tasks" --state "$work/state" \
	--devices "$work/keys" --listen "$BED_HUB:0" --port-file "$work/port" \
	--lease-timeout "$lease" 2> "$work/serve.log" &
server=$!
while [ ! -s "$work/port" ]; do sleep 0.05; done
port=$(cat "$work/port")
status() { ip netns exec "${BED}c" curl -s "http://$BED_HUB:$port/v1/$1"; }

start=$(now)
pids=()
for i in $(seq "$devices"); do
	p=$(cat "$work/d$i/profile")
	local_port=$(bed_proxy "$i" "$p" "$port" "$work/d$i")
	ip netns exec "${BED}d$i" bash -c "$(declare -f device now); bin=$bin work=$work \
		policy=$policy batch='$batch' device $work/d$i $local_port" &
	pids+=($!)
done
until status status | grep -q '"complete": *true'; do
	if [ $(($(now) - start)) -gt $((timeout * 1000)) ]; then
		echo "run.sh: no complete model after $timeout s" >&2
		status status >&2
		exit 1
	fi
	sleep 0.2
done
ms=$(($(now) - start))
touch "$work/finished"
wait "${pids[@]}" || true
for i in $(seq "$devices"); do kill "$(cat "$work/d$i/proxy.pid")"; done
for i in $(seq "$devices"); do
	while [ ! -s "$work/d$i/proxy.stats" ]; do sleep 0.05; done
done
status model > "$out/model"
status metrics > "$out/metrics"
kill "$server"
wait "$server" || true

metric() { awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' "$out/metrics"; }
{
	echo "policy $policy"
	echo "seconds $((ms / 1000)).$(printf %03d $((ms % 1000)))"
	echo "leases_reissued $(metric g2t_leases_reissued_total)"
	echo "results_stale $(metric 'g2t_results_total{outcome="stale"}')"
	echo "results_duplicate $(metric 'g2t_results_total{outcome="duplicate"}')"
	for p in good mid poor; do
		n=0 up=0 down=0 req=0 fails=0 net=0 train=0
		for i in $(seq "$devices"); do
			[ "$(cat "$work/d$i/profile")" = "$p" ] || continue
			n=$((n + 1))
			s=$work/d$i/proxy.stats
			up=$((up + $(awk '$1 == "bytes_up" { print $2 }' "$s")))
			down=$((down + $(awk '$1 == "bytes_down" { print $2 }' "$s")))
			req=$((req + $(awk '$1 == "requests" { print $2 }' "$s")))
			read -r dn dt df < "$work/d$i/times"
			fails=$((fails + df))
			net=$((net + dn))
			train=$((train + dt))
		done
		[ "$n" -gt 0 ] || continue
		echo "${p}_devices $n"
		echo "${p}_bytes_up $up"
		echo "${p}_bytes_down $down"
		echo "${p}_requests $req"
		echo "${p}_failures $fails"
		echo "${p}_net_ms $net"
		echo "${p}_train_ms $train"
	done
	echo "model_sha256 $(sha256sum < "$out/model" | cut -d' ' -f1)"
} > "$out/summary"
cat "$out/summary"
