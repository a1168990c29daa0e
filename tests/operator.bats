#!/usr/bin/env bats
# g2t-serve's operator's view (issue 13): the page at /, /v1/devices,
# /metrics checked by promtool and scraped by Prometheus, status keys, log
# lines (completion, 5xx causes), devices enrolled by SIGHUP, and the page
# rendered by headless Chromium.  Iris: 3 tasks.

bats_require_minimum_version 1.5.0
load helpers

setup_file() {
	require_programs
	local d=$BATS_FILE_TMPDIR i
	g2t-split -o "$d/tasks" "$DATA/iris.train.csv.gz"
	mkdir "$d/keys"
	for i in 1 2 3; do
		g2t-pack --keygen -p "$d/dev$i.pub" -s "$d/dev$i.key"
	done
	cp "$d/dev1.pub" "$d/dev2.pub" "$d/keys/"
}

setup() {
	F=$BATS_FILE_TMPDIR
	mkdir -p "$BATS_TEST_TMPDIR/work" && cd "$BATS_TEST_TMPDIR/work" || return 1
	SERVER_PID= HELPER_PIDS=()
}

teardown() {
	local p
	for p in "${HELPER_PIDS[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ -z "${BATS_TEST_COMPLETED-}" ] && [ -f srv/log ]; then
		echo "server log (last lines):"
		tail -n 20 srv/log
	fi
	stop_server
}

serve() {
	start_server srv --tasks "$F/tasks" --state state --devices "$F/keys" "$@"
}

# get PATH: the body of GET PATH into ./body; fails on anything but 200.
get() {
	local code
	code=$(curl -s -o body -w '%{http_code}' --max-time 30 "$SERVER_URL$1")
	[ "$code" = 200 ] || { echo "GET $1: HTTP $code"; cat body; return 1; }
}

# key_id N: the 16-hex-digit id of device key N, as the server shows it.
key_id() {
	python3 - "$F/dev$1.pub" <<-'EOF'
	import base64, hashlib, sys
	pk = base64.b64decode(open(sys.argv[1]).read().split()[1])[-32:]
	print(hashlib.blake2b(pk, digest_size=8).hexdigest())
	EOF
}

# a refused result: device 2 sends a result of device 1's lease (409); then
# device 1 sends it
refused_result() {
	g2t-fetch -s "$F/dev1.key" --no-cache -o t.g2t "$SERVER_URL"
	g2t-train t.g2t >w.g2t
	g2t-pack -s "$F/dev2.key" -S sp2 --send "$SERVER_URL" w.g2t 2>/dev/null || true
	g2t-pack -s "$F/dev1.key" -S sp1 --send "$SERVER_URL" w.g2t
}

@test "GET /: progress, the devices table, recent refusals with their reasons, and the model's link once complete; plain HTML, nothing fetched from elsewhere" {
	command -v python3 >/dev/null || skip "python3 is needed to read the key ids"
	serve
	get /
	[[ $(cat body) =~ \<p\ id=\"progress\"\>0\ of\ 3\ tasks\ done ]]
	grep -q 'The model is not ready yet' body
	refused_result
	g2t-device -s "$F/dev1.key" -S sp1 "$SERVER_URL" 2>device.err || { cat device.err; false; }
	get /
	grep -q '<p id="progress">3 of 3 tasks done (100.0 %)' body
	grep -q '<a href="/v1/model">/v1/model</a>' body
	local id1 id2
	id1=$(key_id 1)
	id2=$(key_id 2)
	# device 1: three leases and three results
	grep -q "<tr><td>$id1</td><td>[0-9]* s ago</td><td>3</td><td>0</td><td>3</td><td>0</td>" body
	grep -q "<tr><td>$id2</td><td>[0-9]* s ago</td><td>0</td><td>0</td><td>0</td><td>1</td>" body
	grep -q "<tr><td>$id2</td><td>[0-9]* s ago</td><td>[0-9]*</td><td>lease held by another device</td></tr>" body
	# no script, no external reference: every src/href is local
	! grep -qi '<script\|src=\|https\?://' body
	get /v1/devices
	python3 - "$id1" "$id2" <<-'EOF'
	import json, sys
	d = {x["id"]: x for x in json.load(open("body"))["devices"]}
	one, two = d[sys.argv[1]], d[sys.argv[2]]
	assert one["enrolled"] and one["done"] == 3 and one["leases"] == 3, one
	assert one["results"] == 3 and one["refused"] == 0 and one["last_seen"] > 0, one
	assert two["refused"] == 1 and two["done"] == 0 and two["leased_now"] == 0, two
	EOF
}

@test "/v1/status: no key holds a space; refusal reasons are keys" {
	command -v python3 >/dev/null || skip "python3 is needed"
	serve
	refused_result
	get /v1/status
	python3 - <<-'EOF'
	import json
	d = json.load(open("body"))
	def keys(x):
	    if isinstance(x, dict):
	        for k, v in x.items():
	            yield k
	            yield from keys(v)
	bad = [k for k in keys(d) if not k.replace("_", "").isalnum()]
	assert not bad, bad
	assert d["results"]["refused"]["lease_of_another_device"] == 1, d
	EOF
}

# metric_of FILE NAME: the value of the sample line "NAME VALUE" of FILE.
metric_of() {
	awk -v n="$2" '$1 == n { print $2 }' "$1"
}

@test "/metrics: HELP and TYPE on every family, promtool check metrics passes, and every /v1/status figure has its series" {
	command -v python3 >/dev/null || skip "python3 is needed"
	serve
	refused_result
	g2t-device -s "$F/dev1.key" -S sp1 "$SERVER_URL" 2>device.err || { cat device.err; false; }
	get /metrics
	cp body metrics
	# every family named by a sample has its HELP and TYPE
	local fam
	for fam in $(sed -n 's/^\(g2t_[a-z_]*\)[{ ].*/\1/p' metrics | sed 's/_\(bucket\|sum\|count\)$//' | sort -u); do
		grep -q "^# HELP $fam " metrics || { echo "no HELP for $fam"; return 1; }
		grep -q "^# TYPE $fam " metrics || { echo "no TYPE for $fam"; return 1; }
	done
	if command -v promtool >/dev/null; then
		run promtool check metrics <metrics
		[ "$status" = 0 ] || { echo "promtool: $output"; return 1; }
	fi
	get /v1/status
	# each figure of the status, by its series
	python3 - <<-'EOF'
	import json
	s = json.load(open("body"))
	m = {}
	for line in open("metrics"):
	    if line.startswith("g2t_"):
	        k, v = line.rsplit(" ", 1)
	        m[k] = float(v)
	want = {
	    'g2t_task_set_size': s["tasks"]["total"],
	    'g2t_tasks{state="pending"}': s["tasks"]["pending"],
	    'g2t_tasks{state="leased"}': s["tasks"]["leased"],
	    'g2t_tasks{state="done"}': s["tasks"]["done"],
	    'g2t_devices': s["devices"],
	    'g2t_replicas': s["replicas"],
	    'g2t_devices_disagreeing': s["disagreeing_devices"],
	    'g2t_leases_issued_total': s["leases"]["issued"],
	    'g2t_leases_reissued_total': s["leases"]["reissued"],
	    'g2t_leases_backup_total': s["leases"]["backups"],
	    'g2t_leases_no_work_total': s["leases"]["no_work"],
	    'g2t_results_total{outcome="accepted"}': s["results"]["accepted"],
	    'g2t_results_total{outcome="recorded"}': s["results"]["recorded"],
	    'g2t_results_total{outcome="ignored_stale"}': s["results"]["ignored_stale"],
	    'g2t_packets_duplicate_total': s["results"]["duplicates"],
	    'g2t_requests_denied_total': s["requests"]["denied"],
	    'g2t_requests_rate_limited_total': s["requests"]["rate_limited"],
	    'g2t_requests_over_budget_total': s["requests"]["over_budget"],
	    'g2t_connections_dropped_slow_total': s["connections_dropped_slow"],
	    'g2t_complete': 1 if s["complete"] else 0,
	}
	for r, n in s["results"]["refused"].items():
	    want['g2t_results_total{outcome="refused",reason="%s"}' % r] = n
	for k, v in want.items():
	    assert k in m, "no series " + k
	    assert m[k] == v, "%s: %s in /metrics, %s in /v1/status" % (k, m[k], v)
	# the requests counted before /metrics answered are all in its count
	assert m["g2t_request_seconds_count"] <= s["requests"]["total"]
	assert s["complete"] and s["results"]["refused"]["lease_of_another_device"] == 1
	EOF
}

@test "log: listening, 'complete' with the model ready, every 5xx with its cause, stopping" {
	command -v sqlite3 >/dev/null || skip "sqlite3 is needed"
	serve
	# another writer holds the state past the server's 5 s busy timeout: 503
	{
		echo 'BEGIN EXCLUSIVE;'
		echo "INSERT INTO meta VALUES('test-lock', 1);"
		sleep 7
		echo 'ROLLBACK;'
	} | sqlite3 state/g2t.db &
	HELPER_PIDS+=($!)
	sleep 0.5
	run --separate-stderr g2t-fetch -s "$F/dev1.key" --retry-max 0 --no-cache -o t.g2t \
		"$SERVER_URL"
	expect_status 75
	expect_stderr 'HTTP 503'
	wait "${HELPER_PIDS[0]}"
	HELPER_PIDS=()
	g2t-device -s "$F/dev1.key" -S sp1 "$SERVER_URL" 2>device.err || { cat device.err; false; }
	sleep 1.5 # a tick of the server's clock
	stop_server
	grep -q '^g2t-serve: listening on 127\.0\.0\.1:' srv/log
	grep -q '^g2t-serve: HTTP 503: state unavailable$' srv/log
	grep -q '^g2t-serve: complete: 3 tasks done, model ready at /v1/model ([0-9]* bytes)$' srv/log
	[ "$(tail -n 1 srv/log)" = 'g2t-serve: stopping (signal 15)' ]
	[ "$(grep -c complete srv/log)" = 1 ]
}

@test "a long run's history (1,000 devices, 100,000 leases) is not read whole: /v1/devices and / answer in under 2 s, counting the running lease" {
	command -v sqlite3 >/dev/null || skip "sqlite3 is needed to write the history"
	local took
	serve
	stop_server
	# leases long run out, each of one of 1,000 devices: GET /v1/devices once
	# scanned every lease for every device, holding the state from leases
	# and results (1,000 x 100,000 rows: 7 s)
	sqlite3 state/g2t.db <<-'EOF'
	WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999)
	INSERT INTO devices(key) SELECT randomblob(32) FROM n;
	CREATE TEMP TABLE k AS SELECT row_number() OVER () - 1 AS n, key FROM devices;
	WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 99999)
	INSERT INTO leases(secret, task, slot, device, issued, deadline)
	SELECT randomblob(8), s.task, s.id, k.key, 1, 2 FROM n
	JOIN k ON k.n = n.i % 1000 JOIN slots s ON s.id = 1 + n.i % 3;
	EOF
	serve
	g2t-fetch -s "$F/dev1.key" --no-cache -o t.g2t "$SERVER_URL"
	for path in /v1/devices /; do
		took=$(curl -s -o body -w '%{time_total}' --max-time 30 "$SERVER_URL$path")
		awk -v t="$took" 'BEGIN { exit !(t < 2) }' || { echo "GET $path: $took s"; false; }
	done
	get /v1/devices
	python3 - "$(key_id 1)" <<-'EOF'
	import json, sys
	d = json.load(open("body"))["devices"]
	assert len(d) == 1002, len(d)
	assert sum(x["leased_now"] for x in d) == 1, [x for x in d if x["leased_now"]]
	assert [x["leased_now"] for x in d if x["id"] == sys.argv[1]] == [1]
	EOF
}

@test "SIGHUP reads --devices again: a key added is enrolled without a restart, a key removed is not any more; a bad key file changes nothing" {
	mkdir keys
	cp "$F/keys/"*.pub keys/
	start_server srv --tasks "$F/tasks" --state state --devices keys
	run --separate-stderr g2t-device -s "$F/dev3.key" -S sp3 --once "$SERVER_URL"
	expect_status 3
	expect_stderr 'HTTP 403: device not enrolled'
	[ "${#stderr_lines[@]}" = 1 ]
	cp "$F/dev3.pub" keys/
	rm keys/dev2.pub
	kill -HUP "$SERVER_PID"
	wait_log 'devices read again'
	grep -q '^g2t-serve: devices read again: 2 enrolled, 1 new, 1 gone$' srv/log
	run --separate-stderr g2t-device -s "$F/dev3.key" -S sp3 --once "$SERVER_URL"
	expect_status 0
	run --separate-stderr g2t-fetch -s "$F/dev2.key" --no-cache -o t.g2t "$SERVER_URL"
	expect_status 3
	expect_stderr '403'
	echo 'not a key' >keys/bad.pub
	kill -HUP "$SERVER_PID"
	wait_log 'devices unchanged'
	server_alive
	run --separate-stderr g2t-fetch -s "$F/dev1.key" --no-cache -o t.g2t "$SERVER_URL"
	[ "$status" != 3 ]
}

# wait_log TEXT: until the server's log holds TEXT (5 s at most).
wait_log() {
	local i
	for ((i = 0; i < 100; i++)); do
		grep -q "$1" srv/log && return 0
		sleep 0.05
	done
	echo "the log never said '$1'"
	return 1
}

# free_port: a loopback TCP port nothing listens on now.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

@test "headless Chromium renders the page of a live run: the DOM holds progress, devices and the model's link; the screenshot shows the full progress bar" {
	command -v chromium >/dev/null || skip "chromium is not installed (scripts/deps.sh check)"
	command -v python3 >/dev/null || skip "python3 is needed"
	serve
	g2t-device -s "$F/dev1.key" -S sp1 "$SERVER_URL" 2>device.err || { cat device.err; false; }
	local chrome=(chromium --headless --no-sandbox --disable-gpu --hide-scrollbars
		--no-first-run --host-resolver-rules='MAP * ~NOTFOUND , EXCLUDE 127.0.0.1')
	HOME=$PWD "${chrome[@]}" --dump-dom "$SERVER_URL/" >dom.html 2>chromium.log
	grep -q '<p id="progress">3 of 3 tasks done (100.0 %)' dom.html
	grep -q '<a href="/v1/model">/v1/model</a>' dom.html
	[ "$(grep -c '^<tr><td>[0-9a-f]\{16\}</td>' dom.html)" = 2 ]
	HOME=$PWD "${chrome[@]}" --window-size=1000,700 --screenshot="$PWD/shot.png" \
		"$SERVER_URL/" 2>>chromium.log
	# the PNG: 1000 x 700, and the bar (#2a7) drawn across the page
	python3 - shot.png <<-'EOF'
	import struct, sys, zlib
	data = open(sys.argv[1], "rb").read()
	assert data[:8] == b"\x89PNG\r\n\x1a\n"
	pos, idat = 8, b""
	while pos < len(data):
	    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
	    body = data[pos + 8:pos + 8 + n]
	    if kind == b"IHDR":
	        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
	    elif kind == b"IDAT":
	        idat += body
	    pos += 12 + n
	assert (w, h, depth) == (1000, 700, 8) and ctype in (2, 6), (w, h, depth, ctype)
	bpp = 3 if ctype == 2 else 4
	raw, stride, prev, green = zlib.decompress(idat), w * bpp, bytearray(w * bpp), 0
	for y in range(h):
	    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
	    for i in range(stride):
	        a = line[i - bpp] if i >= bpp else 0
	        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
	        if f == 1: line[i] = (line[i] + a) & 255
	        elif f == 2: line[i] = (line[i] + b) & 255
	        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
	        elif f == 4:
	            p = a + b - c
	            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
	            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
	    green += sum(1 for x in range(0, stride, bpp) if tuple(line[x:x + 3]) == (0x22, 0xaa, 0x77))
	    prev = line
	assert green > 5000, "green pixels of the bar: %d" % green
	EOF
}

@test "Prometheus scrapes a live server: its API returns the g2t series" {
	command -v prometheus >/dev/null || skip "prometheus is not installed (scripts/deps.sh check)"
	command -v python3 >/dev/null || skip "python3 is needed"
	serve
	g2t-device -s "$F/dev1.key" -S sp1 "$SERVER_URL" 2>device.err || { cat device.err; false; }
	local port i answer
	port=$(free_port)
	mkdir prom
	cat >prom/prometheus.yml <<-EOF
	global:
	  scrape_interval: 1s
	scrape_configs:
	  - job_name: g2t
	    static_configs:
	      - targets: ['127.0.0.1:$SERVER_PORT']
	EOF
	prometheus --config.file=prom/prometheus.yml --storage.tsdb.path=prom/data \
		--web.listen-address="127.0.0.1:$port" >prom/log 2>&1 &
	HELPER_PIDS+=($!)
	for ((i = 0; i < 150; i++)); do
		answer=$(curl -s "http://127.0.0.1:$port/api/v1/query?query=g2t_tasks" || true)
		[[ $answer == *'"value"'* ]] && break
		sleep 0.2
	done
	python3 - "$answer" <<-'EOF'
	import json, sys
	r = json.loads(sys.argv[1])
	got = {x["metric"]["state"]: x["value"][1] for x in r["data"]["result"]}
	assert got == {"pending": "0", "leased": "0", "done": "3"}, got
	EOF
}
