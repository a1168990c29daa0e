# bed.sh -- a network test bed of namespaces, sourced by tests/net/*.sh.
#
# The coordinator lives in namespace ${BED}c behind a bridge at 10.231.0.1;
# device i lives in namespace ${BED}d$i at 10.231.1.i, joined to the bridge
# by a veth pair.  tc tbf on each end of the pair gives the device its
# upload and download rates; tests/tools/netproxy, run in the device's
# namespace, gives it delay, jitter, loss and outages (this kernel has no
# netem).  Everything made here is removed by bed_down.
#
# Profiles: NAME RATE_KBIT RTT_MS JITTER_MS LOSS OUTAGE
#   good 10 Mbit/s, 20 ms; mid 1 Mbit/s, 150 ms, 1 % loss; poor 64 kbit/s,
#   600 ms, 5 % loss, a 10 s outage every minute.
BED=${BED:-g2t$$}
BED_HUB=10.231.0.1

declare -A BED_RATE=([good]=10000 [mid]=1000 [poor]=64)
declare -A BED_RTT=([good]=20 [mid]=150 [poor]=600)
declare -A BED_JITTER=([good]=2 [mid]=30 [poor]=100)
declare -A BED_LOSS=([good]=0 [mid]=0.01 [poor]=0.05)
declare -A BED_OUTAGE=([good]=0/60 [mid]=0/60 [poor]=10/60)

# bed_can: true when this machine lets us make namespaces (root, ip, tc).
bed_can() {
	[ "$(id -u)" = 0 ] && command -v ip > /dev/null && command -v tc > /dev/null &&
		ip netns add "${BED}probe" 2> /dev/null && ip netns del "${BED}probe"
}

# bed_up: the coordinator's namespace and its bridge.
bed_up() {
	ip netns add "${BED}c"
	ip -n "${BED}c" link set lo up
	ip -n "${BED}c" link add br0 type bridge
	ip -n "${BED}c" addr add "$BED_HUB/16" dev br0
	ip -n "${BED}c" link set br0 up
}

# bed_device I PROFILE: device I's namespace, its link shaped to PROFILE.
bed_device() {
	local i=$1 p=$2 ns=${BED}d$1 rate=${BED_RATE[$2]}kbit
	local burst=$(( ${BED_RATE[$2]} * 1000 / 8 / 50 ))   # 20 ms at the rate
	[ "$burst" -ge 3000 ] || burst=3000
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip link add "v$BED$i" type veth peer name eth0 netns "$ns"
	ip link set "v$BED$i" netns "${BED}c"
	ip -n "${BED}c" link set "v$BED$i" master br0 up
	ip -n "$ns" addr add "10.231.1.$i/16" dev eth0
	ip -n "$ns" link set eth0 up
	# upload leaves the device's end, download the hub's
	tc -n "$ns" qdisc add dev eth0 root tbf rate "$rate" burst "$burst" latency 2s
	tc -n "${BED}c" qdisc add dev "v$BED$i" root tbf rate "$rate" burst "$burst" latency 2s
}

# bed_proxy I PROFILE PORT STATS: the device's delay/loss/outage relay to
# the coordinator's PORT; prints the local port the device uses.
bed_proxy() {
	local i=$1 p=$2 dir=$4
	ip netns exec "${BED}d$i" "${TOOLS:-build/tools}/netproxy" --to "$BED_HUB:$3" \
		--rtt "${BED_RTT[$p]}" --jitter "${BED_JITTER[$p]}" --loss "${BED_LOSS[$p]}" \
		--outage "${BED_OUTAGE[$p]}" --seed "$i" --port-file "$dir/proxy.port" \
		--stats "$dir/proxy.stats" > /dev/null &
	echo $! > "$dir/proxy.pid"
	while [ ! -s "$dir/proxy.port" ]; do
		kill -0 "$(cat "$dir/proxy.pid")" 2> /dev/null ||
			{ echo "bed.sh: the relay of device $i did not start" >&2; return 1; }
		sleep 0.05
	done
	cat "$dir/proxy.port"
}

# bed_down: every process in the bed's namespaces, then the namespaces.
bed_down() {
	local ns jobs=()
	for ns in $(ip netns list | awk -v p="$BED" 'index($1, p) == 1 { print $1 }'); do
		{
			ip netns pids "$ns" 2> /dev/null | xargs -r kill -9 2> /dev/null || true
			ip netns del "$ns" 2> /dev/null || true
		} &
		jobs+=($!)
	done
	wait "${jobs[@]}" 2> /dev/null || true
}
