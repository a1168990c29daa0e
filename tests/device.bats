#!/usr/bin/env bats
# g2t-device (issue 13): the device loop as one command against g2t-serve on
# loopback.  Letter (26 classes, 325 tasks) finished by three devices with a
# model byte-identical to the one-machine pipeline's; stops by SIGTERM at
# any moment lose nothing; idle polls are silent; one spool per key; a
# refused packet does not lower the link quality.

bats_require_minimum_version 1.5.0
load helpers

setup_file() {
	require_programs
	local d=$BATS_FILE_TMPDIR p i
	for p in g2t-serve g2t-device g2t-pack; do
		[ -x "$G2T_BIN/$p" ] || {
			echo "missing $G2T_BIN/$p: run make first" >&2
			return 1
		}
	done
	g2t-split -o "$d/letter" "$DATA/letter.train.csv.gz"
	g2t-split "$DATA/letter.train.csv.gz" | g2t-train -j2 | g2t-merge -o "$d/letter.model"
	g2t-split -o "$d/iris" "$DATA/iris.train.csv.gz"
	# letter's first five classes: ten tasks
	zcat "$DATA/letter.train.csv.gz" | awk -F, 'NR == 1 || index("ABCDE", $NF) >= 1' |
		g2t-split -o "$d/ae" -
	mkdir "$d/keys"
	for i in 1 2 3; do
		g2t-pack --keygen -p "$d/keys/dev$i.pub" -s "$d/dev$i.key"
	done
}

setup() {
	F=$BATS_FILE_TMPDIR
	mkdir -p "$BATS_TEST_TMPDIR/work" && cd "$BATS_TEST_TMPDIR/work" || return 1
	SERVER_PID= DEVICE_PIDS=()
}

teardown() {
	local p
	for p in "${DEVICE_PIDS[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ -z "${BATS_TEST_COMPLETED-}" ] && [ -f srv/log ]; then
		echo "server log (last lines):"
		tail -n 20 srv/log
	fi
	stop_server
}

# status_of NAME: the first "NAME" of /v1/status.
status_of() {
	curl -s --max-time 10 "$SERVER_URL/v1/status" |
		grep -o "\"$1\":[^,}]*" | head -n 1 | cut -d: -f2-
}

# device N [OPTIONS...]: g2t-device with key N, spool spN and cache cN.
device() {
	local n=$1
	shift
	g2t-device -s "$F/dev$n.key" -S "sp$n" --cache "c$n" "$@" "$SERVER_URL"
}

# device_bg N [OPTIONS...]: the same in the background, its stderr appended
# to errN; its process id (g2t-device's own) goes in DEVICE_PIDS.
device_bg() {
	local n=$1
	shift
	g2t-device -s "$F/dev$n.key" -S "sp$n" --cache "c$n" "$@" "$SERVER_URL" 2>>"err$n" &
	DEVICE_PIDS+=($!)
}

expect_model() {
	curl -s --max-time 30 -o model "$SERVER_URL/v1/model"
	expect_same model "$F/letter.model"
}

@test "letter: three g2t-device commands finish the 325 tasks; the model is byte-identical to split | train | merge; --stats counts them" {
	start_server srv --tasks "$F/letter" --state state --devices "$F/keys"
	local i start rc=0 seconds backups
	start=$EPOCHREALTIME
	for i in 1 2 3; do
		device_bg "$i" --stats "stats$i"
	done
	for i in 0 1 2; do
		wait "${DEVICE_PIDS[$i]}" || rc=$?
	done
	DEVICE_PIDS=()
	seconds=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
	echo "# letter, 325 tasks, three g2t-device: $seconds s" >&3
	[ "$rc" = 0 ] || { cat err*; return 1; }
	[ "$(status_of complete)" = true ]
	[ "$(status_of reissued)" = 0 ]
	backups=$(status_of backups)
	expect_model
	# each device said when it started working and when all was done; no more
	for i in 1 2 3; do
		grep -qx "g2t-device: working for $SERVER_URL" "err$i"
		[ "$(tail -n 1 "err$i")" = "g2t-device: all tasks are done" ]
		[ "$(wc -l <"err$i")" -le 4 ]
		[ ! -e "sp$i/lease.g2t" ] && [ "$(count_held "sp$i")" = 0 ]
	done
	# every task trained once, by one of the three, and each backup lease
	# once more; each device leased, sent and spent time both on the network
	# and training
	[ "$(cat stats1 stats2 stats3 | awk '$1 == "trained" { n += $2 } END { print n }')" = \
		$((325 + backups)) ]
	for i in 1 2 3; do
		awk '$1 == "leases" && $2 >= 1 { l = 1 } $1 == "packets" && $2 >= 1 { p = 1 }
		     $1 == "net_ms" && $2 > 0 { n = 1 } $1 == "refused" && $2 == 0 { r = 1 }
		     END { exit !(l && p && n && r && NR == 6) }' "stats$i"
	done
}

# count_held SPOOL: weight-set entries and packets still in SPOOL.
count_held() {
	local n=0 f
	for f in "$1"/w-*.g2t "$1"/p-*.pkt; do
		[ -e "$f" ] && n=$((n + 1))
	done
	echo "$n"
}

@test "SIGTERM at any moment loses nothing: exit 0, 'stopped'; the next start sends what was held and the run completes with no lease re-issued" {
	start_server srv --tasks "$F/letter" --state state --devices "$F/keys" --lease-timeout 3600
	local round pid st last lines i
	touch err1
	for round in 1 2 3 4 5 6 7 8 9 10; do
		lines=$(wc -l <err1)
		device_bg 1 --min-batch 8
		pid=${DEVICE_PIDS[0]}
		# once it works (its signal handler is in place), at a random moment
		for ((i = 0; i < 200; i++)); do
			[ "$(wc -l <err1)" -gt "$lines" ] && break
			sleep 0.025
		done
		sleep "0.0$((RANDOM % 9))"
		kill -TERM "$pid" 2>/dev/null || true # it may have finished
		st=0
		wait "$pid" || st=$?
		DEVICE_PIDS=()
		[ "$st" = 0 ] || { echo "round $round: exit $st"; cat err1; return 1; }
		last=$(tail -n 1 err1)
		[[ $last =~ ^g2t-device:\ (stopped|all\ tasks\ are\ done) ]] || {
			echo "round $round: last line '$last'"
			return 1
		}
	done
	# a lost lease would hold the run for an hour: --once would stop at "no work"
	run --separate-stderr device 1
	expect_status 0
	[ "$(status_of complete)" = true ] || { cat err1; echo "$stderr"; return 1; }
	[ "$(status_of reissued)" = 0 ]
	[ "$(count_held sp1)" = 0 ]
	expect_model
}

@test "a URL with a path, through a proxy that serves the coordinator under it and takes it off: signatures hold, the run completes" {
	start_server srv --tasks "$F/ae" --state state --devices "$F/keys"
	python3 "$BATS_TEST_DIRNAME/tools/prefixproxy.py" /g2t "$SERVER_URL" proxy.port &
	DEVICE_PIDS+=($!)
	for _ in $(seq 200); do [ -s proxy.port ] && break; sleep 0.05; done
	[ -s proxy.port ]
	run --separate-stderr timeout 60 g2t-device --once -s "$F/dev1.key" -S sp1 --cache c1 --min-batch 4 \
		"http://127.0.0.1:$(cat proxy.port)/g2t/"
	expect_status 0
	[ "$(status_of complete)" = true ]
	[ "$(status_of accepted)" = 10 ]
}

@test "a refusal is told once, and again when its reason changes (403, then a 404 path)" {
	start_server srv --tasks "$F/iris" --state state --devices "$F/keys"
	g2t-pack --keygen -p stranger.pub -s stranger.key
	run --separate-stderr g2t-device --once -s stranger.key -S sp "$SERVER_URL"
	expect_status 3
	expect_stderr 'HTTP 403: device not enrolled'
	run --separate-stderr g2t-device --once -s stranger.key -S sp "$SERVER_URL"
	expect_status 3
	expect_no_stderr
	run --separate-stderr g2t-device --once -s stranger.key -S sp "$SERVER_URL/elsewhere"
	expect_status 3
	expect_stderr 'elsewhere: lease: HTTP 404'
}

@test "idle polls are silent: --once with no work exits 0 and, once the state is known, prints nothing" {
	start_server srv --tasks "$F/iris" --state state --devices "$F/keys" --no-backups
	# every task leased away by another key: no work for device 2
	run --separate-stderr g2t-fetch -s "$F/dev1.key" -n 3 --no-cache -o /dev/null "$SERVER_URL"
	expect_status 0
	run --separate-stderr device 2 --once
	expect_status 0
	expect_no_stdout
	[ "$stderr" = "g2t-device: no work now" ]
	run --separate-stderr device 2 --once
	expect_status 0
	expect_no_stdout
	expect_no_stderr
	run --separate-stderr device 2 --once
	expect_status 0
	expect_no_stderr
	# the long-running device is as quiet: one line, then nothing while it polls
	device_bg 2 --idle-max 1
	sleep 3
	kill -TERM "${DEVICE_PIDS[0]}"
	wait "${DEVICE_PIDS[0]}"
	DEVICE_PIDS=()
	[ "$(cat err2)" = "g2t-device: stopped; 0 weight sets held in sp2" ]
}

@test "one spool per key: a second key on a spool is refused, by g2t-device and by g2t-pack, and the spool is left as it was" {
	start_server srv --tasks "$F/iris" --state state --devices "$F/keys"
	run --separate-stderr device 1 --once
	expect_status 0
	[ "$(status_of complete)" = true ]
	local before
	before=$(ls -A sp1 | sort | tr '\n' ' ')
	run --separate-stderr g2t-device -s "$F/dev2.key" -S sp1 --once "$SERVER_URL"
	expect_error g2t-device 3 'sp1: the spool of key [0-9a-f]{16}, not of key [0-9a-f]{16}: one spool per key'
	g2t-train "$F/iris/task-00000.g2t" >w.g2t
	run --separate-stderr g2t-pack -s "$F/dev2.key" -S sp1 -o out.pkt w.g2t
	expect_error g2t-pack 3 'sp1: the spool of key'
	[ ! -e out.pkt ]
	[ "$(ls -A sp1 | sort | tr '\n' ' ')" = "$before" ]
	# the spool's own key still works
	run --separate-stderr g2t-pack -s "$F/dev1.key" -S sp1 -q 1 -o out.pkt w.g2t
	expect_status 0
}

@test "a refused packet (409) is not a link failure: the spool's failure rate stays 0 and W_t stays 1" {
	start_server srv --tasks "$F/iris" --state state --devices "$F/keys"
	g2t-fetch -s "$F/dev1.key" --no-cache -o t.g2t "$SERVER_URL"
	g2t-train t.g2t >w.g2t
	# device 2 sends device 1's result: the lease is another device's
	run --separate-stderr g2t-pack -s "$F/dev2.key" -S sp --send "$SERVER_URL" w.g2t
	expect_status 3
	expect_stderr 'HTTP 409'
	[ -e sp/p-00000000000000000001.refused ]
	grep -qx 'failure 0.0000' sp/state
	grep -qx 'sends 1' sp/state
	# measured q is still near 1: one weight set is packed and sent at once
	g2t-fetch -s "$F/dev2.key" --no-cache -o t2.g2t "$SERVER_URL"
	g2t-train t2.g2t >w2.g2t
	run --separate-stderr g2t-pack -s "$F/dev2.key" -S sp --send "$SERVER_URL" w2.g2t
	expect_status 0
	expect_no_stderr
	grep -qx 'failure 0.0000' sp/state
}

@test "a lease file that cannot be trained (damaged) is set aside as lease.bad, said once, and the device goes on" {
	start_server srv --tasks "$F/iris" --state state --devices "$F/keys"
	mkdir sp1
	echo 'not a stream' >sp1/lease.g2t
	run --separate-stderr device 1 --once
	expect_status 0
	[[ ${stderr_lines[0]} =~ ^g2t-device:\ sp1/lease\.g2t:\ cannot\ train\ it\ \(.*\)\;\ set\ aside\ as\ lease\.bad$ ]]
	[ -e sp1/lease.bad ] && [ ! -e sp1/lease.g2t ]
	[ "$(status_of complete)" = true ]
}

@test "the lease size follows the link, not W_t: with W_t = 8 the first lease is one task (the link is not measured yet), yet results are held until 8 are in the spool: ten tasks in two packets" {
	start_server srv --tasks "$F/ae" --state state --devices "$F/keys"
	run --separate-stderr device 1 --min-batch 8 --max-batch 8 --once --stats stats
	expect_status 0
	[ "$(status_of complete)" = true ]
	grep -qx 'trained 10' stats
	grep -qx 'packets 2' stats
	# leasing what W_t wants would be 8, then 2: two leases
	awk '$1 == "leases" { exit !($2 >= 3) }' stats || { cat stats; return 1; }
}

@test "g2t-device: usage errors name the option and its range" {
	local args want
	while IFS='|' read -r args want; do
		run --separate-stderr g2t-device $args
		expect_status 2
		expect_no_stdout
		expect_stderr "^g2t-device: $want"
	done <<-'EOF'
	-s k --idle-max 0 http://x|--idle-max takes seconds, 1 to 86400, not '0'
	-s k --retry-max x http://x|--retry-max takes seconds, 0 to 86400, not 'x'
	-s k -j 0 http://x|--jobs takes a number from 1 to 1024, not '0'
	-s k -P 12 http://x|--precision takes 32, 16 or 8, not '12'
	-s k --min-batch 9 --max-batch 8 http://x|--min-batch is over --max-batch
	http://x|a secret key is needed
	-s k|one server URL is needed
	EOF
}

@test "cron's runs overlap: --once on a spool another run holds exits 0 and says nothing; without --once it is refused (3)" {
	command -v flock >/dev/null || skip "no flock(1)"
	mkdir -p sp1
	flock sp1/lock sleep 30 &
	local holder=$! i
	for ((i = 0; i < 200; i++)); do
		flock -n sp1/lock true || break
		sleep 0.025
	done
	run --separate-stderr g2t-device -s "$F/dev1.key" -S sp1 --cache c1 --once http://127.0.0.1:9
	kill "$holder"
	wait "$holder" || true
	expect_status 0
	expect_no_stderr
	flock sp1/lock sleep 30 &
	holder=$!
	for ((i = 0; i < 200; i++)); do
		flock -n sp1/lock true || break
		sleep 0.025
	done
	run --separate-stderr g2t-device -s "$F/dev1.key" -S sp1 --cache c1 --idle-max 1 http://127.0.0.1:9
	kill "$holder"
	wait "$holder" || true
	expect_error g2t-device 3 'sp1: in use by another'
}

@test "a bad server URL is a usage error told at every run, not a state that a later --once keeps quiet" {
	local i
	for i in 1 2 3; do
		run --separate-stderr g2t-device -s "$F/dev1.key" -S sp --cache c --once \
			'http://127.0.0.1:9/?x=1'
		expect_error g2t-device 2 'http://127\.0\.0\.1:9/\?x=1: the server URL may not have a query'
	done
	[ ! -e sp/device ]
}

@test "g2t-fetch on a full disk (/dev/full) names stdout or the -o file and why, exit 1" {
	[ -w /dev/full ] || skip "no /dev/full"
	# letter's tasks are larger than a stdio buffer: written before the end
	start_server srv --tasks "$F/letter" --state state --devices "$F/keys"
	run --separate-stderr bash -c "g2t-fetch -s '$F/dev1.key' --no-cache '$SERVER_URL' >/dev/full"
	expect_error g2t-fetch 1 'stdout: No space left'
	run --separate-stderr g2t-fetch -s "$F/dev1.key" --no-cache -o /dev/full "$SERVER_URL"
	expect_error g2t-fetch 1 '/dev/full: No space left'
}

@test "a server's error body is kept to its start: g2t-fetch given a 400 of 100 MB stays small and names the reason's start" {
	command -v python3 >/dev/null || skip "python3 is needed for the server"
	# a one-answer server on a loopback port it picks, which it prints
	python3 - >port <<-'PY' &
	import socket, sys
	s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
	print(s.getsockname()[1], flush=True)
	c, _ = s.accept()
	c.recv(65536)
	c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 100000000\r\n\r\nno such lease here ")
	try:
	    for _ in range(1000):
	        c.sendall(b"x" * 100000)
	except OSError:
	    pass
	c.close()
	PY
	local server=$! i
	for i in $(seq 100); do [ -s port ] && break; sleep 0.05; done
	run --separate-stderr /usr/bin/time -f '%M' g2t-fetch -s "$F/dev1.key" --no-cache \
		"http://127.0.0.1:$(cat port)"
	wait "$server"
	[ "$status" = 3 ]
	[[ $stderr == *"HTTP 400: no such lease here xxx"* ]]
	# peak RSS in KB, the last line /usr/bin/time wrote: not the 100 MB body
	[ "$(printf '%s\n' "$stderr" | tail -n 1)" -lt 40000 ]
}
