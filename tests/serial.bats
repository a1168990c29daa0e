#!/usr/bin/env bats
# A microcontroller as a device (issue 14): g2t-fetch | g2t-serial | g2t-pack
# against g2t-serve on loopback, the device firmware built for the host
# (build/mcu/dev-host) behind a pty (build/tools/serial-relay).  Digits 4, 7
# and 9 (3 tasks), asgd, rows as bytes.

bats_require_minimum_version 1.5.0
load helpers

setup_file() {
	require_programs
	local d=$BATS_FILE_TMPDIR b=$G2T_ROOT/build
	make -s -C "$G2T_ROOT" build/mcu/dev-host build/tools/serial-relay >/dev/null
	gzip -dc "$DATA/digits.train.csv.gz" |
		g2t-split -q 8 --algo asgd --epochs 5 --classes 4,7,9 -o "$d/tasks"
	g2t-train "$d"/tasks/*.g2t | g2t-merge >"$d/expected.model"
	mkdir "$d/keys"
	g2t-pack --keygen -p "$d/keys/dev.pub" -s "$d/dev.key"
}

setup() {
	F=$BATS_FILE_TMPDIR
	T=$BATS_TEST_TMPDIR
	mkdir -p "$T/work" && cd "$T/work" || return 1
	SERVER_PID= RELAY_PID=
}

teardown() {
	[ -n "$RELAY_PID" ] && kill "$RELAY_PID" 2>/dev/null
	stop_server
}

@test "a device on a serial line completes a run: the served model is byte-identical to g2t-train | g2t-merge" {
	start_server srv --tasks "$F/tasks" --state state --devices "$F/keys"
	"$G2T_ROOT/build/tools/serial-relay" pty "$G2T_ROOT/build/mcu/dev-host" &
	RELAY_PID=$!
	for _ in $(seq 100); do [ -s pty ] && break; sleep 0.05; done
	local i st
	for i in 1 2 3; do
		{
			g2t-fetch -s "$F/dev.key" "$SERVER_URL" 2>>err | g2t-serial "$(cat pty)" 2>>err |
				g2t-pack -s "$F/dev.key" -q 1 --spool sp --send "$SERVER_URL" 2>>err
			st="${PIPESTATUS[*]}"
		} || true
		if [ "$st" != "0 0 0" ]; then
			echo "round $i: exit statuses of fetch | serial | pack: $st"
			cat err
			return 1
		fi
	done
	curl -s --max-time 10 -o model "$SERVER_URL/v1/model"
	cmp model "$F/expected.model"
}
