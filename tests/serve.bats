#!/usr/bin/env bats
# g2t-serve and g2t-fetch (issue 4) on loopback: whole runs with one and two
# devices, leases that expire and are re-issued, stale and replayed results,
# refused tokens and keys, bad requests answered with their status while the
# server keeps serving, idle connections, graceful stop, and kill -9 with the
# state kept.  Iris: 3 classes, 3 tasks.

bats_require_minimum_version 1.5.0
load helpers

# Shared inputs: the iris tasks, the model of the local pipeline (training is
# deterministic, so the server's model must be byte-identical), two enrolled
# device keys (keys/) and one stranger.
setup_file() {
	require_programs
	local d=$BATS_FILE_TMPDIR p
	for p in g2t-serve g2t-fetch g2t-pack; do
		if [ ! -x "$G2T_BIN/$p" ]; then
			echo "missing $G2T_BIN/$p: run make first" >&2
			return 1
		fi
	done
	command -v curl >/dev/null || {
		echo "curl is needed" >&2
		return 1
	}
	g2t-split -o "$d/tasks" "$DATA/iris.train.csv.gz"
	g2t-train "$d"/tasks/*.g2t | g2t-merge >"$d/expected.model"
	mkdir "$d/keys"
	g2t-pack --keygen -p "$d/keys/dev.pub" -s "$d/dev.key"
	g2t-pack --keygen -p "$d/keys/dev2.pub" -s "$d/dev2.key"
	g2t-pack --keygen -p "$d/stranger.pub" -s "$d/stranger.key"
}

setup() {
	F=$BATS_FILE_TMPDIR
	T=$BATS_TEST_TMPDIR
	mkdir -p "$T/work" && cd "$T/work" || return 1
	KEY=$F/dev.key KEY2=$F/dev2.key
	SERVER_PID= IDLE_FDS=() DEVICE_PIDS=()
}

teardown() {
	local fd p
	for fd in "${IDLE_FDS[@]}"; do
		exec {fd}>&-
	done
	for p in "${DEVICE_PIDS[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ -z "${BATS_TEST_COMPLETED-}" ] && [ -f "$T/work/srv/log" ]; then
		echo "server log (last lines):"
		tail -n 20 "$T/work/srv/log"
	fi
	stop_server
}

# serve [OPTIONS...]: the iris tasks, state in ./state, the enrolled keys.
serve() {
	start_server srv --tasks "$F/tasks" --state state --devices "$F/keys" "$@"
}

# --- HTTP -----------------------------------------------------------------

# call METHOD PATH [CURL OPTIONS...]: one request; sets CODE, BODY (text, NULs
# dropped, first 4000 bytes) and leaves the body in ./body, headers in ./hdrs.
call() {
	local method=$1 path=$2
	shift 2
	rm -f body hdrs
	CODE=$(curl -s -X "$method" -D hdrs -o body -w '%{http_code}' --max-time 60 \
		"$@" "$SERVER_URL$path") || CODE="(curl exit $?) $CODE"
	BODY=$(tr -d '\0' <body 2>/dev/null | head -c 4000)
}

# post_packet FILE [KEY]: POST FILE to /v1/results as a device does, the
# request signed with KEY ($KEY).
post_packet() {
	sign_request "${2:-$KEY}" '' '' /v1/results || return 1
	call POST /v1/results -H 'Content-Type: application/x-g2t' "${SIGNED[@]}" \
		--data-binary "@$1"
}

expect_code() {
	if [ "$CODE" != "$1" ]; then
		echo "expected HTTP $1, got $CODE"
		echo "body: $BODY"
		return 1
	fi
}

expect_body() {
	if ! [[ $BODY =~ $1 ]]; then
		echo "body does not match /$1/: $BODY"
		return 1
	fi
}

# header_of NAME: the value of a header of the last call.
header_of() {
	grep -i "^$1:" hdrs | head -n 1 | cut -d: -f2- | sed 's/^ *//' | tr -d '\r'
}

# stat_of NAME: from /v1/status, the value of the first "NAME" (tasks come
# first, so "total" is the number of tasks).
stat_of() {
	curl -s --max-time 10 "$SERVER_URL/v1/status" |
		grep -o "\"$1\":[^,}]*" | head -n 1 | cut -d: -f2-
}

# expect_stat NAME VALUE...: /v1/status has these values (pairs).
expect_stat() {
	local v
	while [ $# -ge 2 ]; do
		v=$(stat_of "$1")
		if [ "$v" != "$2" ]; then
			echo "/v1/status: \"$1\" is '$v', expected $2"
			curl -s --max-time 10 "$SERVER_URL/v1/status"
			return 1
		fi
		shift 2
	done
}

# expect_serving: the server still answers /v1/status with its JSON.
expect_serving() {
	local code b
	code=$(curl -s -o status.json -w '%{http_code}' --max-time 10 "$SERVER_URL/v1/status") || true
	b=$(cat status.json 2>/dev/null)
	if [ "$code" != 200 ] || ! [[ $b =~ ^\{\"tasks\":\{\"total\":3, ]]; then
		echo "the server no longer serves /v1/status (HTTP $code): $b"
		return 1
	fi
}

# expect_model: /v1/model is the model of the local pipeline.
expect_model() {
	call GET /v1/model
	expect_code 200
	cp body model
	expect_same model "$F/expected.model"
}

# --- devices --------------------------------------------------------------

# lease KEY FILE: g2t-fetch one task into FILE (cache ./cache-KEYNAME).
lease() {
	g2t-fetch -s "$1" --cache "cache-${1##*/}" -o "$2" "$SERVER_URL"
}

# deliver TASKFILE KEY SPOOL [PACK OPTIONS...]: train and send the result.
deliver() {
	local t=$1 key=$2 sp=$3
	shift 3
	g2t-train "$t" | g2t-pack -s "$key" -q 1 --spool "$sp" "$@" --send "$SERVER_URL"
}

# work KEY DIR [ROUNDS]: a device's loop, fetch | train | pack, until the
# status says complete; 0 then, 1 on any failure (details in DIR/err).
work() {
	local key=$1 dir=$2 n=${3:-30} i rc
	mkdir -p "$dir"
	for ((i = 0; i < n; i++)); do
		rc=0
		g2t-fetch -s "$key" --cache "$dir/cache" -o "$dir/t.g2t" "$SERVER_URL" \
			2>>"$dir/err" || rc=$?
		if [ "$rc" -eq 0 ]; then
			task_of "$dir/t.g2t" >>"$dir/tasks"
			deliver "$dir/t.g2t" "$key" "$dir/sp" 2>>"$dir/err" || {
				echo "g2t-pack failed:" >>"$dir/err"
				return 1
			}
		elif [ "$rc" -eq 75 ]; then
			curl -s --max-time 10 "$SERVER_URL/v1/status" |
				grep -q '"complete":true' && return 0
			sleep 0.1
		else
			echo "g2t-fetch exit $rc" >>"$dir/err"
			return 1
		fi
	done
	echo "not complete after $n rounds" >>"$dir/err"
	return 1
}

# packet_for TASKFILE KEY SPOOL FILE [TRAIN OPTIONS...]: train and pack into FILE.
packet_for() {
	local t=$1 key=$2 sp=$3 out=$4
	shift 4
	g2t-train "$@" "$t" | g2t-pack -s "$key" -q 1 --spool "$sp" -o "$out"
	[ -s "$out" ]
}

# tampered TASKFILE OUT: train TASKFILE and change the bias of the result (a
# device whose answer differs from every other one's).
tampered() {
	local off type len
	g2t-train "$1" >"$2"
	read -r off type len < <(records "$2" | awk '$2 == 4')
	flip_byte "$2" $((off + 8 + 120))
	fix_record_crc "$2" "$off"
}

# need_signer: skip when openssl cannot sign with Ed25519.
need_signer() {
	sign_request "$KEY" >/dev/null 2>&1 || skip "openssl cannot make Ed25519 signatures"
}

# count_files DIR GLOB
count_files() {
	local n=0 f
	for f in "$1"/$2; do
		[ -e "$f" ] && n=$((n + 1))
	done
	echo "$n"
}

# =========================================================================

@test "one device: whole run; /v1/model is byte-identical to g2t-train | g2t-merge and predicts; status and metrics count it" {
	serve
	call GET /v1/model
	expect_code 404
	expect_body 'incomplete'
	expect_stat complete false total 3 pending 3 leased 0 done 0
	local i st
	for i in 1 2 3; do
		{
			g2t-fetch -s "$KEY" --cache cache "$SERVER_URL" 2>>err | tee "t$i.g2t" |
				g2t-train 2>>err | g2t-pack -s "$KEY" -q 1 --spool sp --send "$SERVER_URL" 2>>err
			st="${PIPESTATUS[*]}"
		} || true
		if [ "$st" != "0 0 0 0" ]; then
			echo "round $i: exit statuses of fetch | tee | train | pack: $st"
			cat err
			return 1
		fi
		expect_stat done "$i"
		[ "$i" = 3 ] || expect_stat complete false
	done
	# three different tasks; the three class shards and the schema cached
	[ "$(for i in 1 2 3; do task_of "t$i.g2t"; done | sort -n | tr '\n' ' ')" = "0 1 2 " ]
	[ "$(count_files cache '*.g2t')" = 4 ]
	expect_model
	run --separate-stderr g2t-predict --eval model "$DATA/iris.test.csv.gz"
	expect_status 0
	expect_accuracy_ge 0.9
	expect_stat complete true total 3 pending 0 leased 0 done 3 devices 1
	expect_stat issued 3 reissued 0 accepted 3 ignored_stale 0 duplicates 0 denied 0
	if command -v python3 >/dev/null; then
		call GET /v1/status
		python3 -c 'import json, sys; d = json.load(open("body")); sys.exit(d["tasks"]["done"] != 3)'
	fi
	call GET /metrics
	expect_code 200
	grep -qx 'g2t_results_total{outcome="accepted"} 3' body
	grep -qx 'g2t_tasks{state="done"} 3' body
	grep -qx 'g2t_tasks{state="pending"} 0' body
	grep -qx 'g2t_leases_issued_total 3' body
	grep -qx 'g2t_leases_reissued_total 0' body
	grep -qx 'g2t_results_total{outcome="ignored_stale"} 0' body
	# the histogram: +Inf bucket equals the count
	local inf count
	inf=$(awk -F' ' '/^g2t_request_seconds_bucket\{le="\+Inf"\}/ { print $2 }' body)
	count=$(awk '/^g2t_request_seconds_count/ { print $2 }' body)
	[ -n "$count" ] && [ "$inf" = "$count" ] && [ "$count" -gt 6 ]
}

@test "sparse shards pass unchanged: digits 0-2 as svmlight, leased (the SCHEMA's task form), trained and merged by the server == the local model" {
	zcat "$DATA/digits.train.csv.gz" | awk -F, 'NR > 1 && $NF < 3 { s = $NF
		for (i = 1; i < NF; i++) if ($i != 0) s = s " " i ":" $i
		print s }' >d.svm
	g2t-split -o sparse d.svm
	g2t-train sparse/*.g2t | g2t-merge >local.model
	start_server srv --tasks sparse --state state --devices "$F/keys"
	work "$KEY" dev || { cat dev/err; return 1; }
	call GET /v1/model
	expect_code 200
	expect_same body local.model
	# what the device got held a sparse shard (encoding 2), as split wrote it
	local off
	read -r off _ < <(records dev/t.g2t | awk '$2 == 2' | head -n 1)
	[ "$(od -An -tu4 -j $((off + 8 + 12)) -N4 dev/t.g2t | tr -d ' ')" = 2 ]
	# its SCHEMA is the task form (flags 1 + 2 + 4 + 8): the lease answer,
	# header, SCHEMA and TASK records, takes fewer bytes than the shards
	[ "$(od -An -tu4 -j $((8 + 8 + 8)) -N4 dev/t.g2t | tr -d ' ')" = 15 ]
	records dev/t.g2t | awk '$2 == 2 { shards += 12 + $3 } $2 != 2 { lease += 12 + $3 }
		END { print lease + 8, shards; exit !(lease + 8 <= shards) }'
	# which carries no scaling: a model is made with g2t-split's SCHEMA only
	run g2t-merge <(g2t-train dev/t.g2t)
	[ "$status" -ne 0 ]
	[[ "$output" == *"task form of a lease answer"* ]]
}

# cached_schema DIR: the file of DIR that holds a SCHEMA record.
cached_schema() {
	local f
	for f in "$1"/*.g2t; do
		[ "$(records "$f" | awk 'NR == 1 { print $2 }')" = 1 ] && echo "$f"
	done
}

@test "a device with the schema cached (X-G2T-Have) gets lease answers without it; g2t-fetch still writes the whole task; a damaged cached schema is removed and sent again" {
	need_signer
	serve
	lease "$KEY" t1.g2t
	local sf sid
	sf=$(cached_schema cache-dev.key)
	[ -n "$sf" ]
	sid=$(basename "$sf" .g2t)
	# the server leaves the schema out for a device that names it
	sign_request "$KEY"
	call POST /v1/lease "${SIGNED[@]}" -H "X-G2T-Have: $sid"
	expect_code 200
	[ "$(records body | awk '{ print $2 }' | tr '\n' ' ')" = "3 " ]
	sign_request "$KEY"
	call POST /v1/lease "${SIGNED[@]}"
	expect_code 200
	[ "$(records body | awk '{ print $2 }' | tr '\n' ' ')" = "1 3 " ]
	# iris's three tasks are leased now: start again on a fresh state; with
	# its cache g2t-fetch writes the same SCHEMA the server sent first
	stop_server
	rm -rf state
	serve
	lease "$KEY" t2.g2t
	[ "$(records t2.g2t | awk '{ print $2 }' | tr '\n' ' ')" = "1 2 2 3 " ]
	cmp <(head -c "$(first_record_end t1.g2t)" t1.g2t) <(head -c "$(first_record_end t2.g2t)" t2.g2t)
	deliver t2.g2t "$KEY" sp
	# a cached schema that no longer hashes to its name: removed, exit 75
	local off
	off=$(records "$sf" | awk 'NR == 1 { print $1 }')
	flip_byte "$sf" $((off + 8 + 4))
	fix_record_crc "$sf" "$off"
	run --separate-stderr g2t-fetch -s "$KEY" --cache cache-dev.key -o t3.g2t "$SERVER_URL"
	expect_status 75
	expect_stderr 'unusable and was removed'
	[ ! -e "$sf" ] && [ ! -e t3.g2t ]
	# asked again, the server sends it, and it is cached again
	lease "$KEY" t4.g2t
	[ "$(records t4.g2t | awk 'NR == 1 { print $2 }')" = 1 ]
	[ -e "$sf" ]
}

@test "the scheduler prefers the lowest task that uses a class whose shard the device names in X-G2T-Have" {
	need_signer
	g2t-split -o digits "$DATA/digits.train.csv.gz"
	start_server srv --tasks digits --state state --devices "$F/keys"
	sign_request "$KEY"
	call POST /v1/lease "${SIGNED[@]}"
	expect_code 200
	[ "$(header_of X-G2T-Task)" = 0 ] # classes 0 and 1
	local one
	one=$(header_of X-G2T-Shards | cut -d, -f2)
	# without the preference the next task would be 1 (classes 0 and 2)
	sign_request "$KEY2"
	call POST /v1/lease "${SIGNED[@]}" -H "X-G2T-Have: $(printf '%064d' 7),$one"
	expect_code 200
	[ "$(header_of X-G2T-Task)" = 9 ] # classes 1 and 2
	sign_request "$KEY2"
	call POST /v1/lease "${SIGNED[@]}"
	expect_code 200
	[ "$(header_of X-G2T-Task)" = 1 ]
}

@test "g2t-fetch -n 4: one signed request leases four tasks; one stream holds each class's shard once and the four TASKs; all four results are taken" {
	g2t-split -o digits "$DATA/digits.train.csv.gz"
	start_server srv --tasks digits --state state --devices "$F/keys"
	g2t-fetch -s "$KEY" --cache cache -n 4 -o t.g2t "$SERVER_URL"
	# tasks 0-3: classes 0v1, 0v2, 0v3, 0v4: five shards
	[ "$(records t.g2t | awk '{ print $2 }' | tr '\n' ' ')" = "1 2 2 2 2 2 3 3 3 3 " ]
	expect_stat issued 4 leased 4
	deliver t.g2t "$KEY" sp
	expect_stat done 4 accepted 4
	# a second device, without a cache, gets the next four
	g2t-fetch -s "$KEY2" --no-cache -n 4 -o u.g2t "$SERVER_URL"
	[ "$(records u.g2t | awk '$2 == 3' | wc -l)" = 4 ]
	run --separate-stderr g2t-fetch -s "$KEY" -n 17 "$SERVER_URL"
	expect_status 2
	# on the wire: the tasks and their shards in the headers
	need_signer
	sign_request "$KEY"
	call POST /v1/lease "${SIGNED[@]}" -H "X-G2T-Count: 2"
	expect_code 200
	[ "$(header_of X-G2T-Task)" = 8,9 ]
	[ "$(header_of X-G2T-Shards | tr ',' '\n' | wc -l)" = 4 ]
	[ "$(records body | awk '{ print $2 }' | tr '\n' ' ')" = "1 3 3 " ]
	local bad
	for bad in 0 17 x; do
		sign_request "$KEY"
		call POST /v1/lease "${SIGNED[@]}" -H "X-G2T-Count: $bad"
		expect_code 400
		expect_body 'X-G2T-Count'
	done
	expect_stat issued 10
}

@test "g2t-fetch -n 5 with three tasks left: the three are leased; then 75, no work" {
	serve
	g2t-fetch -s "$KEY" -n 5 -o t.g2t "$SERVER_URL"
	[ "$(records t.g2t | awk '$2 == 3' | wc -l)" = 3 ]
	run --separate-stderr g2t-fetch -s "$KEY" -n 5 -o u.g2t "$SERVER_URL"
	expect_status 75
	deliver t.g2t "$KEY" sp
	expect_stat complete true done 3
	expect_model
}

@test "two devices with two keys work in parallel and complete the run" {
	serve
	mkdir a b
	lease "$KEY" a/t.g2t
	lease "$KEY2" b/t.g2t
	# two open leases: two different tasks
	[ "$(task_of a/t.g2t)" != "$(task_of b/t.g2t)" ]
	deliver a/t.g2t "$KEY" a/sp >a/log 2>&1 3>&- &
	DEVICE_PIDS+=($!)
	deliver b/t.g2t "$KEY2" b/sp >b/log 2>&1 3>&- &
	DEVICE_PIDS+=($!)
	wait "${DEVICE_PIDS[0]}" || { cat a/log; return 1; }
	wait "${DEVICE_PIDS[1]}" || { cat b/log; return 1; }
	expect_stat done 2 devices 2 accepted 2
	DEVICE_PIDS=()
	work "$KEY" a >/dev/null 2>&1 3>&- &
	DEVICE_PIDS+=($!)
	work "$KEY2" b >/dev/null 2>&1 3>&- &
	DEVICE_PIDS+=($!)
	wait "${DEVICE_PIDS[0]}" || { cat a/err; return 1; }
	wait "${DEVICE_PIDS[1]}" || { cat b/err; return 1; }
	DEVICE_PIDS=()
	expect_stat complete true done 3 devices 2 accepted 3 reissued 0 duplicates 0
	expect_model
}

@test "--replicas 2: a task needs two agreeing devices; a disagreeing result opens a third replica, is never applied, and its device is recorded" {
	g2t-pack --keygen -p k3.pub -s k3.key
	mkdir x y z
	serve --replicas 2 --devices k3.pub
	expect_stat replicas 2
	lease "$KEY" a.g2t
	lease "$KEY2" b.g2t
	# both replicas of task 0 go to two distinct devices
	[ "$(task_of a.g2t)" = 0 ] && [ "$(task_of b.g2t)" = 0 ]
	deliver a.g2t "$KEY" x/sp
	expect_stat done 0 recorded 1 accepted 0
	tampered b.g2t wb.g2t
	g2t-pack -s "$KEY2" -q 1 --spool y/sp -o b.pkt wb.g2t
	post_packet b.pkt "$KEY2"
	expect_code 200
	expect_body '"status":"recorded"'
	expect_stat done 0 recorded 2 disagreeing_devices 0
	# a third replica of task 0, before any other task; the first device
	# that did task 0 gets task 1 instead
	lease "$KEY" a1.g2t
	[ "$(task_of a1.g2t)" = 1 ]
	lease k3.key c.g2t
	[ "$(task_of c.g2t)" = 0 ]
	deliver c.g2t k3.key z/sp
	expect_stat done 1 accepted 1 disagreeing_devices 1
	deliver a1.g2t "$KEY" x/sp
	work "$KEY" x >/dev/null 2>&1 3>&- &
	DEVICE_PIDS+=($!)
	work "$KEY2" y >/dev/null 2>&1 3>&- &
	DEVICE_PIDS+=($!)
	work k3.key z >/dev/null 2>&1 3>&- &
	DEVICE_PIDS+=($!)
	wait "${DEVICE_PIDS[0]}" || { cat x/err; return 1; }
	wait "${DEVICE_PIDS[1]}" || { cat y/err; return 1; }
	wait "${DEVICE_PIDS[2]}" || { cat z/err; return 1; }
	DEVICE_PIDS=()
	# 3 tasks x 2 agreeing results; the tampered bias is in no classifier
	expect_stat complete true done 3 accepted 3 disagreeing_devices 1
	expect_model
	# each task went to two distinct devices at least
	[ "$(stat_of issued)" -ge 7 ]
}

@test "--replicas: a state made with another number of replicas is refused at start" {
	serve --replicas 2
	stop_server
	run --separate-stderr g2t-serve --tasks "$F/tasks" --state state --devices "$F/keys" \
		--listen 127.0.0.1:0 --replicas 3
	expect_status 2
	expect_stderr 'replicas 2, not 3'
	run --separate-stderr g2t-serve --tasks "$F/tasks" --state s2 --open --replicas 0
	expect_status 2
}

@test "--open enrols an unknown key on first use" {
	start_server srv --tasks "$F/tasks" --state state --open
	expect_stat devices 0
	lease "$F/stranger.key" t.g2t
	expect_stat devices 1 leased 1
	deliver t.g2t "$F/stranger.key" sp
	expect_stat done 1 accepted 1 denied 0
}

@test "--open: 700 new keys, each asking twice, are 700 devices, each found again (past the first 256, kept unsorted until sorted in)" {
	/usr/bin/python3 -c 'import cryptography' 2>/dev/null || skip "python3-cryptography is needed"
	start_server srv --tasks "$F/tasks" --state state --open --rate-per-address 1000000
	/usr/bin/python3 - "$SERVER_URL" <<-'EOF'
	import base64, hashlib, json, os, sys, time, urllib.error, urllib.request
	from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
	from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
	url = sys.argv[1]
	keys = [Ed25519PrivateKey.generate() for _ in range(700)]
	pubs = [k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw) for k in keys]
	for _ in range(2):
	    for k, pub in zip(keys, pubs):
	        when, nonce = str(int(time.time())), os.urandom(16).hex()
	        sig = k.sign(("g2t-lease-v1\nPOST\n/v1/lease\n%s\n%s" % (when, nonce)).encode())
	        req = urllib.request.Request(url + "/v1/lease", data=b"", method="POST", headers={
	            "X-G2T-Key": base64.b64encode(pub).decode(), "X-G2T-Time": when,
	            "X-G2T-Nonce": nonce, "X-G2T-Signature": base64.b64encode(sig).decode()})
	        try:
	            status = urllib.request.urlopen(req, timeout=10).status
	        except urllib.error.HTTPError as e:
	            status = e.code
	        assert status in (200, 204), status
	devices = json.load(urllib.request.urlopen(url + "/v1/devices"))["devices"]
	ids = [d["id"] for d in devices]
	assert sorted(ids) == sorted(hashlib.blake2b(p, digest_size=8).hexdigest() for p in pubs), len(ids)
	assert all(d["enrolled"] and d["last_seen"] > 0 for d in devices)
	EOF
	expect_stat devices 700
}

@test "without --open an unknown key is refused: g2t-fetch exits 3 (403), nothing leased, denied counted" {
	serve
	run --separate-stderr g2t-fetch -s "$F/stranger.key" --cache cache -o t.g2t "$SERVER_URL"
	expect_status 3
	expect_stderr '403'
	[ ! -e t.g2t ]
	expect_stat denied 1 leased 0 issued 0 devices 0
	# its packet (with no lease) is refused at /v1/results too
	packet_for "$F/tasks/task-00000.g2t" "$F/stranger.key" sp p.pkt
	post_packet p.pkt "$F/stranger.key"
	expect_code 403
	expect_body 'not enrolled'
	expect_stat denied 2 accepted 0 done 0
	# an enrolled device is served as usual
	lease "$KEY" t.g2t
	expect_stat leased 1
}

@test "no work: with every task leased g2t-fetch exits 75 with nothing on stdout; after completion 75 'all tasks are done'" {
	serve
	local i
	for i in 1 2 3; do
		lease "$KEY" "t$i.g2t"
	done
	run --separate-stderr g2t-fetch -s "$KEY" --cache cache "$SERVER_URL"
	expect_status 75
	expect_no_stdout
	expect_stderr 'no work now'
	run --separate-stderr g2t-fetch -s "$KEY" --cache cache -o none.g2t "$SERVER_URL"
	expect_status 75
	[ ! -e none.g2t ]
	expect_stat leased 3 pending 0 no_work 2 complete false
	for i in 1 2 3; do
		deliver "t$i.g2t" "$KEY" sp
	done
	expect_stat complete true done 3
	# nobody asked for /v1/model yet: the answer must still say "all done"
	run --separate-stderr g2t-fetch -s "$KEY" --cache cache "$SERVER_URL"
	expect_status 75
	expect_no_stdout
	expect_stderr 'all tasks are done'
}

@test "lease expiry: a silent device's task is re-issued; its late result is refused (409), later ignored; nothing applied twice" {
	serve --lease-timeout 4 --no-backups
	local start held i elapsed
	lease "$KEY" a0.g2t # device A holds this one and goes silent
	start=$EPOCHREALTIME # the lease began before this
	lease "$KEY" a1.g2t
	lease "$KEY" a2.g2t
	held=$(task_of a0.g2t)
	deliver a1.g2t "$KEY" spa
	deliver a2.g2t "$KEY" spa
	expect_stat done 2 leased 1
	# before the deadline B gets nothing
	run --separate-stderr g2t-fetch -s "$KEY2" --cache cacheb "$SERVER_URL"
	expect_status 75
	elapsed=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')
	sleep "$(awk -v e="$elapsed" 'BEGIN { s = 5.1 - e; print (s > 0 ? s : 0) }')"
	lease "$KEY2" b0.g2t
	[ "$(task_of b0.g2t)" = "$held" ]
	[ "$(token_of b0.g2t)" != "$(token_of a0.g2t)" ]
	expect_stat reissued 1 issued 4 leased 1
	# A wakes up while B works: refused, set aside
	run --separate-stderr deliver a0.g2t "$KEY" spa
	expect_status 3
	expect_stderr '409'
	[ "$(count_files spa 'p-*.refused')" = 1 ]
	expect_stat lease_expired 1 done 2
	# B's result is taken
	deliver b0.g2t "$KEY2" spb
	expect_stat done 3 accepted 3 complete true
	# A tries again (a new packet): acknowledged, ignored
	packet_for a0.g2t "$KEY" spa late.pkt
	post_packet late.pkt
	expect_code 200
	expect_body '"status":"ignored"'
	expect_stat accepted 3 ignored_stale 1 done 3
	expect_model
}

@test "backup lease: with nothing else left, another device gets the oldest task still leased, never its holder, one backup a task; its result completes the model, the holder's later one is ignored and changes nothing" {
	g2t-pack --keygen -p k3.pub -s k3.key
	serve --devices k3.pub
	lease "$KEY" a0.g2t # device A holds this one and goes silent
	lease "$KEY" a1.g2t
	lease "$KEY" a2.g2t
	deliver a1.g2t "$KEY" spa
	expect_stat done 1 leased 2 backups 0
	# the holder gets no backup of its own task
	run --separate-stderr g2t-fetch -s "$KEY" --no-cache -o none.g2t "$SERVER_URL"
	expect_status 75
	# B does: the oldest lease still running, A's first
	lease "$KEY2" b0.g2t
	[ "$(task_of b0.g2t)" = "$(task_of a0.g2t)" ]
	[ "$(token_of b0.g2t)" != "$(token_of a0.g2t)" ]
	expect_stat backups 1 issued 3 reissued 0
	# one backup a task: the next goes to A's other task, then no work
	lease k3.key c2.g2t
	[ "$(task_of c2.g2t)" = "$(task_of a2.g2t)" ]
	run --separate-stderr g2t-fetch -s k3.key --no-cache -o none.g2t "$SERVER_URL"
	expect_status 75
	expect_stat backups 2 leased 2
	deliver a2.g2t "$KEY" spa
	deliver b0.g2t "$KEY2" spb
	expect_stat done 3 accepted 3 complete true
	expect_model
	cp model first.model
	# the holder and the other backup come back late: acknowledged, ignored
	deliver a0.g2t "$KEY" spa
	deliver c2.g2t k3.key spc
	expect_stat accepted 3 ignored_stale 2 done 3 reissued 0
	expect_model
	expect_same model first.model
}

@test "--replicas 2 with backups: a backup goes to a device with no lease of the task and stands in for one replica: its result is that replica's vote, the holder's then ignored; two devices still agree" {
	g2t-pack --keygen -p k3.pub -s k3.key
	serve --replicas 2 --devices k3.pub
	local i
	for i in 0 1 2; do
		lease "$KEY" "a$i.g2t"
		lease "$KEY2" "b$i.g2t"
	done
	expect_stat pending 0 backups 0
	# A and B hold a lease of every task: neither gets a backup
	run --separate-stderr g2t-fetch -s "$KEY" --no-cache -o none.g2t "$SERVER_URL"
	expect_status 75
	run --separate-stderr g2t-fetch -s "$KEY2" --no-cache -o none.g2t "$SERVER_URL"
	expect_status 75
	# a third device gets one backup of each task, oldest lease first
	for i in 0 1 2; do
		lease k3.key "c$i.g2t"
		[ "$(task_of "c$i.g2t")" = "$(task_of "a$i.g2t")" ]
	done
	run --separate-stderr g2t-fetch -s k3.key --no-cache -o none.g2t "$SERVER_URL"
	expect_status 75
	expect_stat backups 3 issued 6
	# the backups' results are the votes of A's replicas: A's are then late
	for i in 0 1 2; do
		deliver "c$i.g2t" k3.key spc
	done
	expect_stat recorded 3 done 0
	for i in 0 1 2; do
		deliver "a$i.g2t" "$KEY" spa
	done
	expect_stat recorded 3 ignored_stale 3 done 0
	# B's replicas agree with the backups': two devices each task
	for i in 0 1 2; do
		deliver "b$i.g2t" "$KEY2" spb
	done
	expect_stat accepted 3 done 3 complete true disagreeing_devices 0
	expect_model
}

@test "a result for a task already done is acknowledged (200, ignored) and changes nothing; one for another identity is refused" {
	serve
	local i
	for i in 1 2 3; do
		lease "$KEY" "t$i.g2t"
		deliver "t$i.g2t" "$KEY" sp
	done
	expect_model
	cp model before.model
	# the same lease again with another result: if it were applied the
	# model would change
	tampered t1.g2t w1.g2t
	g2t-pack -s "$KEY" -q 1 --spool sp -o late.pkt w1.g2t
	post_packet late.pkt
	expect_code 200
	expect_body '"status":"ignored"'
	expect_body "\"task\":$(task_of t1.g2t)"
	# g2t-pack takes it as acknowledged and empties its spool
	tampered t2.g2t w2.g2t
	run --separate-stderr g2t-pack -s "$KEY" -q 1 --spool sp --send "$SERVER_URL" w2.g2t
	expect_status 0
	[ "$(count_files sp 'p-*')" = 0 ]
	expect_stat accepted 3 ignored_stale 2 done 3
	# trained with another seed it is the result of another task: refused
	packet_for t3.g2t "$KEY" sp other.pkt --seed 7
	post_packet other.pkt
	expect_code 409
	expect_body '"reason":"does not fit its task"'
	expect_model
	expect_same model before.model
}

@test "replay: the same packet twice -> 200 duplicate; another packet under a used sequence number -> 409" {
	serve
	lease "$KEY" t1.g2t
	packet_for t1.g2t "$KEY" sp p1.pkt
	post_packet p1.pkt
	expect_code 200
	expect_body '"status":"accepted"'
	local digest
	digest=$(grep -o '"digest":"[0-9a-f]*"' body)
	[ -n "$digest" ]
	post_packet p1.pkt
	expect_code 200
	expect_body '"status":"duplicate"'
	expect_body "$digest"
	expect_stat accepted 1 duplicates 1 done 1
	# a different packet under sequence number 1
	lease "$KEY" t2.g2t
	sed -i 's/^next-seq .*/next-seq 1/' sp/state
	packet_for t2.g2t "$KEY" sp p2.pkt
	[ "$(packet_seqs p2.pkt)" = 1 ]
	post_packet p2.pkt
	expect_code 409
	expect_body 'sequence number'
	expect_stat accepted 1 done 1
	expect_serving
	# the device goes on with a fresh sequence number
	deliver t2.g2t "$KEY" sp
	expect_stat accepted 2 done 2
}

@test "unknown lease token -> 409 with a reason; g2t-pack exits 3 and sets the packet aside; a lease of another device too" {
	serve
	lease "$KEY" t1.g2t
	cp t1.g2t bad.g2t
	local at
	at=$(task_record_at bad.g2t)
	flip_byte bad.g2t $((at + 8 + 116))
	fix_record_crc bad.g2t "$at"
	[ "$(token_of bad.g2t)" != "$(token_of t1.g2t)" ]
	run --separate-stderr deliver bad.g2t "$KEY" sp
	expect_status 3
	expect_stderr '409'
	[ "$(count_files sp 'p-*.refused')" = 1 ]
	expect_stat unknown_lease_token 1 done 0
	# the reason is in the answer
	packet_for bad.g2t "$KEY" sp bad.pkt
	post_packet bad.pkt
	expect_code 409
	expect_body 'unknown lease token'
	# device 2 sends a result for device 1's lease
	packet_for t1.g2t "$KEY2" sp2 other.pkt
	post_packet other.pkt "$KEY2"
	expect_code 409
	expect_body 'lease held by another device'
	expect_stat lease_of_another_device 1 done 0 accepted 0
	# the holder's own result is taken
	deliver t1.g2t "$KEY" sp
	expect_stat done 1 accepted 1
}

@test "a refused packet sent again is refused again, not acknowledged as a duplicate" {
	serve
	lease "$KEY" t.g2t
	local at
	at=$(task_record_at t.g2t)
	flip_byte t.g2t $((at + 8 + 116))
	fix_record_crc t.g2t "$at"
	packet_for t.g2t "$KEY" sp p.pkt
	post_packet p.pkt
	expect_code 409
	expect_body 'unknown lease token'
	# the device did not get the answer and sends the very packet again: a
	# 2xx naming its digest would make g2t-pack drop it as acknowledged
	post_packet p.pkt
	expect_code 409
	expect_stat done 0 accepted 0
}

@test "an address in use, a state another server holds: told before any state is made (exit 1, 3); an unwritable --port-file says why" {
	serve
	run --separate-stderr timeout 20 g2t-serve --tasks "$F/tasks" --state fresh \
		--listen "127.0.0.1:$SERVER_PORT" --devices "$F/keys"
	expect_status 1
	expect_stderr "cannot listen on port $SERVER_PORT: Address already in use"
	[ ! -e fresh ]
	run --separate-stderr timeout 20 g2t-serve --tasks "$F/tasks" --state state \
		--listen 127.0.0.1:0 --devices "$F/keys"
	expect_status 3
	expect_stderr 'another g2t-serve uses this state'
	stop_server
	run --separate-stderr timeout 2 g2t-serve --tasks "$F/tasks" --state state \
		--listen 127.0.0.1:0 --devices "$F/keys" --port-file nodir/port
	expect_status 124
	expect_stderr 'nodir/port: cannot write the port: .*No such file or directory'
	# a key directory with no key in it: said at start
	mkdir nokeys
	start_server srv2 --tasks "$F/tasks" --state s2 --devices nokeys
	grep -q 'warning: no device key given (--devices): every device is refused until keys are added' srv2/log
}

@test "the log's first progress line, before any result, gives no rate" {
	serve
	lease "$KEY" t.g2t
	for _ in $(seq 80); do grep -q 'progress:' srv/log && break; sleep 0.05; done
	grep -qx 'g2t-serve: progress: 0 of 3 tasks done, 1 leased' srv/log
}

@test "a state directory made for other tasks is refused at start" {
	serve
	stop_server
	g2t-split -o wine "$DATA/wine.train.csv.gz"
	run --separate-stderr timeout 20 g2t-serve --tasks wine --state state \
		--listen 127.0.0.1:0 --devices "$F/keys"
	expect_status 3
	expect_stderr 'state/g2t\.db: the state belongs to other tasks'
	# and the state still serves its own tasks
	serve
	expect_stat total 3 pending 3
}

@test "POST /v1/lease: missing or malformed headers, bad signatures, stale times, reused nonces -> 401; oversize header 4xx; wrong methods -> 405; still serving" {
	need_signer
	serve
	local now denied=0
	now=$(date +%s)
	call POST /v1/lease
	expect_code 401
	expect_body 'signature'
	expect_serving
	sign_request "$KEY"
	call POST /v1/lease "${SIGNED[@]/#X-G2T-Key: */X-G2T-Key: not base64!}"
	expect_code 401
	expect_serving
	# signed for another path, another method, or by another key
	sign_request "$KEY" "$now" '' /v1/results
	call POST /v1/lease "${SIGNED[@]}"
	expect_code 401
	expect_body 'bad signature'
	expect_serving
	sign_request "$KEY" "$now" '' /v1/lease GET
	call POST /v1/lease "${SIGNED[@]}"
	expect_code 401
	expect_serving
	sign_request "$KEY2"
	local sig2=${SIGNED[7]}
	sign_request "$KEY"
	SIGNED[7]=$sig2
	call POST /v1/lease "${SIGNED[@]}"
	expect_code 401
	expect_body 'bad signature'
	expect_serving
	# stale and future times, well signed
	sign_request "$KEY" $((now - 3600))
	call POST /v1/lease "${SIGNED[@]}"
	expect_code 401
	expect_body 'stale'
	expect_serving
	sign_request "$KEY" $((now + 3600))
	call POST /v1/lease "${SIGNED[@]}"
	expect_code 401
	expect_serving
	expect_stat denied 7 issued 0
	# a good request, then the very same headers again
	sign_request "$KEY"
	call POST /v1/lease "${SIGNED[@]}"
	expect_code 200
	[ "$(header_of X-G2T-Task)" = "$(task_of body)" ]
	call POST /v1/lease "${SIGNED[@]}"
	expect_code 401
	expect_body 'nonce'
	expect_stat denied 8 issued 1
	# a header too big for the server
	call POST /v1/lease -H "X-G2T-Key: $(head -c 100000 /dev/zero | tr '\0' A)"
	[[ $CODE == 4[0-9][0-9] ]] || { echo "oversize header: HTTP $CODE"; return 1; }
	expect_serving
	# methods
	call GET /v1/lease
	expect_code 405
	call GET /v1/results
	expect_code 405
	call PUT /v1/status
	expect_code 405
	call DELETE /v1/model
	expect_code 405
	expect_serving
	lease "$KEY" t.g2t
	expect_stat issued 2
}

@test "rate limit: --rate 1 -> the third quick lease request gets 429 with Retry-After, counted" {
	need_signer
	serve --rate 1
	local h1 h2 h3
	sign_request "$KEY" && h1=("${SIGNED[@]}")
	sign_request "$KEY" && h2=("${SIGNED[@]}")
	sign_request "$KEY" && h3=("${SIGNED[@]}")
	call POST /v1/lease "${h1[@]}"
	expect_code 200
	call POST /v1/lease "${h2[@]}"
	expect_code 200
	call POST /v1/lease "${h3[@]}"
	expect_code 429
	[ -n "$(header_of Retry-After)" ]
	expect_stat rate_limited 1 issued 2
	expect_serving
}

@test "POST /v1/results: random, empty, truncated and forged bodies -> 400, 70 MB -> 413; still serving; a good packet is then taken" {
	serve
	lease "$KEY" t.g2t
	packet_for t.g2t "$KEY" sp good.pkt
	head -c 1024 /dev/urandom >random.bin
	post_packet random.bin
	expect_code 400
	expect_serving
	: >empty.bin
	post_packet empty.bin
	expect_code 400
	expect_serving
	head -c $(($(stat -c %s good.pkt) / 2)) good.pkt >half.pkt
	post_packet half.pkt
	expect_code 400
	expect_serving
	# a byte of the signed packet changed, its record CRC made right again
	cp good.pkt forged.pkt
	local len
	len=$(u32_at forged.pkt 12)
	flip_byte forged.pkt $((8 + 8 + len / 2))
	fix_record_crc forged.pkt 8
	post_packet forged.pkt
	expect_code 400
	expect_body 'verify'
	expect_serving
	head -c $((70 << 20)) /dev/zero |
		curl -s -o body -w '%{http_code}' --max-time 60 -H 'Content-Type: application/x-g2t' \
			--data-binary @- "$SERVER_URL/v1/results" >code || true
	CODE=$(cat code) BODY=$(cat body)
	expect_code 413
	expect_serving
	expect_stat accepted 0 done 0
	post_packet good.pkt
	expect_code 200
	expect_body '"status":"accepted"'
	expect_stat accepted 1 done 1
}

@test "unknown paths -> 404; shards need a lease token (403), carry an ETag and answer If-None-Match with 304" {
	need_signer
	serve
	call GET /v1/nothing
	expect_code 404
	call GET /index.html
	expect_code 404
	sign_request "$KEY"
	call POST /v1/lease "${SIGNED[@]}"
	expect_code 200
	cp body lease.g2t
	local shards h1 h2 token
	shards=$(header_of X-G2T-Shards)
	h1=${shards%,*} h2=${shards#*,}
	token=$(token_of lease.g2t)
	[ ${#h1} = 64 ] && [ ${#h2} = 64 ] && [ ${#token} = 32 ]
	call GET "/v1/shards/$h1"
	expect_code 403
	call GET "/v1/shards/$h1?token=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
	expect_code 403
	call GET "/v1/shards/$(printf '0%.0s' {1..64})?token=$token"
	expect_code 404
	call GET "/v1/shards/xyz?token=$token"
	expect_code 404
	expect_serving
	call GET "/v1/shards/$h1?token=$token"
	expect_code 200
	[ "$(header_of ETag)" = "\"$h1\"" ]
	# a stream with one SHARD record whose BLAKE2b-256 is the name
	local off type len
	read -r off type len < <(records body)
	[ "$type" = 2 ]
	[ "$(tail -c +$((off + 9)) body | head -c "$len" | b2sum -l 256 | cut -d' ' -f1)" = "$h1" ]
	call GET "/v1/shards/$h1?token=$token" -H "If-None-Match: \"$h1\""
	expect_code 304
	[ ! -s body ]
	call GET "/v1/shards/$h2?token=$token"
	expect_code 200
	[ "$(header_of ETag)" = "\"$h2\"" ]
	expect_serving
}

@test "a device that keeps losing its leases is held back: its 204 says to wait its backoff" {
	serve --lease-timeout 2
	lease "$KEY" a0.g2t
	lease "$KEY" a1.g2t
	lease "$KEY" a2.g2t # A holds all three and goes silent
	sleep 3.2
	lease "$KEY2" b0.g2t
	lease "$KEY2" b1.g2t
	lease "$KEY2" b2.g2t # each re-issue counts one lost lease against A
	expect_stat reissued 3
	# the tasks are taken: anyone gets 204, but A is told to wait its backoff
	# (2 s for the third loss at --lease-timeout 2), B the usual 10 s
	run --separate-stderr g2t-fetch -s "$KEY2" --cache cacheb --retry-max 0 "$SERVER_URL"
	expect_status 75
	expect_stderr 'retry in 10 s'
	run --separate-stderr g2t-fetch -s "$KEY" --cache cachea --retry-max 0 "$SERVER_URL"
	expect_status 75
	expect_stderr 'retry in [12] s'
	deliver b0.g2t "$KEY2" spb
	deliver b1.g2t "$KEY2" spb
	deliver b2.g2t "$KEY2" spb
	expect_stat done 3 complete true
}

@test "a packet holding several results (W_t = 2): each carries its own lease token, all accepted" {
	serve
	lease "$KEY" t0.g2t
	lease "$KEY" t1.g2t
	run --separate-stderr deliver t0.g2t "$KEY" sp --quality 0.5
	expect_status 75 # held: one of two
	deliver t1.g2t "$KEY" sp --quality 0.5
	expect_stat done 2 accepted 2 unknown_lease_token 0 token_of_another_task 0
}

@test "GET /v1/tasks/N with the lease token: the whole task stream, as g2t-fetch would write it" {
	need_signer
	serve
	sign_request "$KEY"
	call POST /v1/lease "${SIGNED[@]}"
	expect_code 200
	cp body lease.g2t
	local task token
	task=$(task_of lease.g2t)
	token=$(token_of lease.g2t)
	call GET "/v1/tasks/$task"
	expect_code 403
	call GET "/v1/tasks/$task?token=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
	expect_code 403
	call GET "/v1/tasks/99999?token=$token"
	expect_code 404
	call GET "/v1/tasks/$task?token=$token"
	expect_code 200
	# SCHEMA, two SHARDs, TASK: trains alone, into weights for that task
	[ "$(records body | awk '{ printf "%s ", $2 }')" = "1 2 2 3 " ]
	g2t-train body > w.g2t
	[ "$(task_of body)" = "$task" ]
	[ "$(token_of body)" = "$token" ]
	expect_serving
}

@test "GET /v1/shards and /v1/tasks send the shards held, not a copy each: 120 clients that do not read two 8 MB shards grow the RSS by under 60 MB" {
	need_signer
	command -v python3 >/dev/null || skip "python3 is needed for the clients"
	awk 'BEGIN { srand(1); for (j = 0; j < 100; j++) printf "f%d,", j; print "label"
		for (i = 0; i < 40000; i++) { for (j = 0; j < 100; j++) printf "%.3f,", rand(); print i % 2 } }' >big.csv
	g2t-split -o big big.csv
	start_server srv --tasks big --state state --devices "$F/keys" --per-ip 256
	sign_request "$KEY"
	call POST /v1/lease "${SIGNED[@]}"
	expect_code 200
	local shards token
	shards=$(header_of X-G2T-Shards)
	token=$(token_of body)
	# each answer was a copy of its shards, held while its client did not
	# read: 120 clients took 400 MB more; a device with a lease (or whoever
	# read its token from a proxy's log) could so take the server's memory
	python3 - "$SERVER_PORT" "$SERVER_PID" "${shards%,*}" "$token" <<-'EOF'
	import socket, sys, time, urllib.request
	port, pid, shard, token = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
	def rss():
	    for line in open("/proc/%s/status" % pid):
	        if line.startswith("VmRSS:"):
	            return int(line.split()[1]) // 1024
	before, held = rss(), []
	for i in range(120):
	    path = "/v1/shards/%s?token=%s" % (shard, token) if i % 2 else "/v1/tasks/0?token=" + token
	    c = socket.socket()
	    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
	    c.connect(("127.0.0.1", int(port)))
	    c.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
	    held.append(c)
	time.sleep(3)
	grown = rss() - before
	assert grown < 60, "RSS grew by %d MB" % grown
	status = urllib.request.urlopen("http://127.0.0.1:%s/v1/status" % port, timeout=5)
	assert status.status == 200
	# the answers held are whole: the first client reads its task to the end
	held[0].settimeout(20)
	got = bytearray()
	while b"\r\n\r\n" not in got:
	    got += held[0].recv(1 << 16)
	head, body = bytes(got).split(b"\r\n\r\n", 1)
	n = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
	body = bytearray(body)
	while len(body) < n:
	    part = held[0].recv(1 << 16)
	    assert part, "the answer ends after %d of %d bytes" % (len(body), n)
	    body += part
	assert n > 16000000 and len(body) == n, (n, len(body))
	open("task.g2t", "wb").write(body)
	EOF
	[ "$(records task.g2t | awk '{ printf "%s ", $2 }')" = "1 2 2 3 " ]
	[ "$(token_of task.g2t)" = "$token" ]
	g2t-train --epochs 1 --algo asgd task.g2t >/dev/null
}

@test "idle half-sent requests (slowloris) do not keep others from being served, nor the server from stopping" {
	serve --threads 1
	local i fd
	for ((i = 0; i < 20; i++)); do
		exec {fd}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
		IDLE_FDS+=("$fd")
		printf 'GET /v1/sta' >&"$fd"
	done
	for ((i = 0; i < 5; i++)); do
		exec {fd}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
		IDLE_FDS+=("$fd")
		printf 'POST /v1/results HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nG2T' >&"$fd"
	done
	expect_serving
	work "$KEY" dev 10 || { cat dev/err; return 1; }
	expect_model
	stop_server TERM
	[ "$SERVER_STATUS" = 0 ]
	if ! awk -v s="$SERVER_STOP_SECONDS" 'BEGIN { exit !(s < 5) }'; then
		echo "stopping took $SERVER_STOP_SECONDS s with idle connections open"
		return 1
	fi
}

@test "graceful stop: SIGTERM -> exit 0 and 'stopping'; restarted on the same state it keeps done tasks and open leases" {
	serve
	mkdir dev # the device's spool, kept across the restart
	lease "$KEY" t1.g2t
	deliver t1.g2t "$KEY" dev/sp
	lease "$KEY" t2.g2t
	expect_stat done 1 leased 1
	stop_server TERM
	[ "$SERVER_STATUS" = 0 ]
	grep -q 'stopping' srv/log
	serve
	expect_stat done 1 leased 1 pending 1
	# the lease given before the stop still holds
	deliver t2.g2t "$KEY" dev/sp
	expect_stat done 2
	work "$KEY" dev 10 || { cat dev/err; return 1; }
	expect_stat done 3 complete true reissued 0
	expect_model
	stop_server INT
	[ "$SERVER_STATUS" = 0 ]
	[ "$(grep -c 'stopping' srv/log)" = 2 ]
}

@test "graceful stop finishes an in-flight request: a slow upload under way at SIGTERM is answered and kept" {
	serve
	lease "$KEY" t.g2t
	packet_for t.g2t "$KEY" sp p.pkt
	# about 2.5 s to upload at 200 bytes/s
	sign_request "$KEY" '' '' /v1/results
	curl -s -o body -w '%{http_code}' --max-time 20 --limit-rate 200 "${SIGNED[@]}" \
		-H 'Content-Type: application/x-g2t' --data-binary @p.pkt \
		"$SERVER_URL/v1/results" >code 2>&1 3>&- &
	DEVICE_PIDS+=($!)
	sleep 0.7
	stop_server TERM
	wait "${DEVICE_PIDS[0]}" || true
	DEVICE_PIDS=()
	[ "$SERVER_STATUS" = 0 ]
	CODE=$(cat code) BODY=$(cat body 2>/dev/null || true)
	expect_code 200
	serve
	expect_stat done 1
}

@test "kill -9 at every step: an acknowledged result is never lost, a lease survives, the spool re-sends; nothing applied twice" {
	serve
	# 1: kill after the acknowledgement
	lease "$KEY" t1.g2t
	deliver t1.g2t "$KEY" sp
	stop_server KILL
	serve
	expect_stat done 1
	# 2: kill between the lease and the result, then after the result
	lease "$KEY" t2.g2t
	stop_server KILL
	serve
	expect_stat leased 1 done 1
	deliver t2.g2t "$KEY" sp
	stop_server KILL
	serve
	expect_stat done 2
	# 3: the server is down when the result is sent: held, then re-sent
	lease "$KEY" t3.g2t
	stop_server KILL
	run --separate-stderr deliver t3.g2t "$KEY" sp --retry-max 1
	expect_status 75
	[ "$(count_files sp 'p-*.pkt')" = 1 ]
	serve
	expect_stat done 2
	g2t-pack -s "$KEY" --spool sp --send "$SERVER_URL" </dev/null
	[ "$(count_files sp 'p-*')" = 0 ]
	stop_server KILL
	serve
	expect_stat done 3 complete true issued 3 reissued 0
	expect_model
}

# --- under attack (issue 9) ---------------------------------------------------

# raw_request TEXT: sends TEXT on a new connection and prints the status
# code the server answers within 3 s, without sending anything more.
raw_request() {
	local fd line=
	exec {fd}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
	printf '%b' "$1" >&"$fd"
	IFS= read -r -t 3 line <&"$fd" || true
	exec {fd}>&-
	line=${line#HTTP/1.1 }
	printf '%s\n' "${line%% *}"
}

@test "one device holds at most 4 results requests at once: its 5th is answered 429 on its headers; others' results are still taken; its next, once they end, too" {
	need_signer
	serve
	lease "$KEY" t1.g2t
	packet_for t1.g2t "$KEY" sp p1.pkt
	lease "$KEY2" t2.g2t
	packet_for t2.g2t "$KEY2" sp2 p2.pkt
	# four uploads that send their signed headers and then nothing: each held
	# its share of the budget of bytes every device's results need, until
	# its deadline; a device with enough of them once took it all
	local i k fd size
	size=$(stat -c %s p1.pkt)
	for ((i = 0; i < 4; i++)); do
		sign_request "$KEY" '' '' /v1/results
		exec {fd}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
		IDLE_FDS+=("$fd")
		{
			printf 'POST /v1/results HTTP/1.1\r\nHost: x\r\nContent-Length: %s\r\n' "$size"
			for ((k = 1; k < ${#SIGNED[@]}; k += 2)); do
				printf '%s\r\n' "${SIGNED[k]}"
			done
			printf '\r\n'
		} >&"$fd"
	done
	sleep 0.5
	post_packet p1.pkt
	expect_code 429
	expect_body 'too many results requests of this device at once'
	grep -qi '^Retry-After: 1' hdrs
	post_packet p2.pkt "$KEY2"
	expect_code 200
	expect_body '"status":"accepted"'
	for fd in "${IDLE_FDS[@]}"; do
		exec {fd}>&-
	done
	IDLE_FDS=()
	sleep 0.5
	post_packet p1.pkt
	expect_code 200
	expect_body '"status":"accepted"'
	expect_stat rate_limited 1 done 2
}

@test "results are judged on their headers before any body is read: unsigned 401, unenrolled 403, over the task set's bound 413, no length 411" {
	need_signer
	serve
	local head='POST /v1/results HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-g2t\r\n'
	# no byte of the announced body is sent: the answer comes on the headers
	[ "$(raw_request "${head}Content-Length: 2000\r\n\r\n")" = 401 ]
	[ "$(raw_request "${head}Content-Length: 62914560\r\n\r\n")" = 413 ]
	[ "$(raw_request "${head}Transfer-Encoding: chunked\r\n\r\n")" = 411 ]
	sign_request "$F/stranger.key" '' '' /v1/results
	local h=${SIGNED[1]} s=${SIGNED[7]} n=${SIGNED[5]} t=${SIGNED[3]}
	[ "$(raw_request "${head}${h}\r\n${t}\r\n${n}\r\n${s}\r\nContent-Length: 2000\r\n\r\n")" = 403 ]
	# a GET or a lease with a body is refused, not read
	[ "$(raw_request 'GET /v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n')" = 413 ]
	expect_stat denied 2 accepted 0
	expect_serving
}

@test "a signed packet from an enrolled device is still bounded: another key than the request's 403; more weight sets than the task set can need 413" {
	need_signer
	serve
	lease "$KEY" t.g2t
	packet_for t.g2t "$KEY" sp p.pkt
	post_packet p.pkt "$KEY2" # the body signed by KEY, the request by KEY2
	expect_code 403
	expect_body 'another key'
	# iris: 3 tasks, so at most 6 weight sets; these are 9
	local s
	for s in 1 2 3; do
		g2t-train --seed "$s" "$F"/tasks/*.g2t
	done | g2t-pack -s "$KEY" -q 1 --spool sp9 --flush -o nine.pkt
	post_packet nine.pkt
	expect_code 413
	expect_body 'more than this task set can need'
	post_packet p.pkt
	expect_code 200
	expect_stat accepted 1
}

@test "a result whose bias or a weight is NaN or infinite, or whose weights no solver gives, is refused at submission (409), never accepted, and the model is built" {
	need_signer
	serve
	lease "$KEY" t.g2t
	local off type len
	g2t-train t.g2t >w.g2t
	read -r off type len < <(records w.g2t | awk '$2 == 4')
	cp w.g2t nan.g2t
	put_u32 nan.g2t $((off + 8 + 120)) 2143289344 # the bias: a quiet NaN
	fix_record_crc nan.g2t "$off"
	"$TOOLS/rawpacket" "$KEY" nan.g2t >nan.pkt # g2t-pack would refuse it
	post_packet nan.pkt
	expect_code 409
	expect_body 'does not fit its task'
	cp w.g2t inf.g2t
	put_u32 inf.g2t $((off + 8 + 140)) 2139095040 # the first weight: +inf
	fix_record_crc inf.g2t "$off"
	"$TOOLS/rawpacket" "$KEY" inf.g2t >inf.pkt
	post_packet inf.pkt
	expect_code 409
	cp w.g2t big.g2t
	put_u32 big.g2t $((off + 8 + 140)) 2139095039 # the first weight: FLT_MAX, finite
	fix_record_crc big.g2t "$off"
	"$TOOLS/rawpacket" "$KEY" big.g2t >big.pkt
	post_packet big.pkt
	expect_code 409
	expect_stat accepted 0 done 0 does_not_fit_task 3
	g2t-pack -s "$KEY" -q 1 --spool sp3 --send "$SERVER_URL" w.g2t
	expect_stat accepted 1 done 1
	work "$KEY2" dev 10 || { cat dev/err; return 1; }
	expect_model
}

@test "a state that cannot be read to its end (a corrupt page): the model build says why once, and GET /v1/model answers 500 without building again" {
	command -v sqlite3 >/dev/null || skip "sqlite3 is needed to find the state's pages"
	# results of 1,500 features: each in an overflow page of its own
	awk 'BEGIN { srand(1); for (j = 1; j <= 1500; j++) printf "f%d,", j; print "label"
		for (i = 0; i < 60; i++) { for (j = 1; j <= 1500; j++) printf "%.3f,", rand()
			print "c" i % 3 } }' >wide.csv
	g2t-split -o wide wide.csv
	start_server srv --tasks wide --state state --devices "$F/keys"
	work "$KEY" dev 10 || { cat dev/err; return 1; }
	stop_server TERM
	# a leaf cell's first overflow page number made one past the end
	sqlite3 state/g2t.db "SELECT pageno, pagetype FROM dbstat WHERE name='tasks'" >pages
	python3 - <<-'EOF'
	import struct
	pages = [l.strip().split("|") for l in open("pages")]
	over = [int(p) for p, t in pages if t == "overflow"]
	leaves = [int(p) for p, t in pages if t == "leaf"]
	with open("state/g2t.db", "r+b") as f:
	    for leaf in leaves:
	        f.seek((leaf - 1) * 4096)
	        page = f.read(4096)
	        at = page.find(struct.pack(">I", over[0]))
	        if at >= 0:
	            f.seek((leaf - 1) * 4096 + at)
	            f.write(struct.pack(">I", 60000))
	            break
	    else:
	        raise SystemExit("no cell points to page %d" % over[0])
	EOF
	start_server srv --tasks wide --state state --devices "$F/keys"
	for _ in $(seq 80); do grep -q 'cannot be built' srv/log && break; sleep 0.05; done
	grep -q 'complete, but the model cannot be built: state/g2t.db: database disk image is malformed' srv/log
	local i
	for i in 1 2 3; do
		call GET /v1/model
		expect_code 500
	done
	[ "$(grep -c 'cannot be built\|cannot build the model:' srv/log)" = 1 ]
}

@test "a state holding a result no model can take (an older version's): the model waits, the log names task and device, the task is leased again" {
	command -v sqlite3 >/dev/null || skip "sqlite3 is needed to edit the state"
	serve
	work "$KEY" dev 10 || { cat dev/err; return 1; }
	expect_model
	stop_server TERM
	# the stored result of task 1 gets a NaN bias, as an older server took it
	sqlite3 state/g2t.db "SELECT writefile('r.bin', result) FROM tasks WHERE id=1" >/dev/null
	put_u32 r.bin 120 2143289344
	sqlite3 state/g2t.db "UPDATE tasks SET result=readfile('r.bin') WHERE id=1"
	serve
	call GET /v1/model
	expect_code 404
	expect_body 'incomplete: 2 of 3'
	grep -q 'task 1: the stored result is refused: weights for task 1 are not finite (the bias)' srv/log
	local id
	id=$(awk '{ print $2 }' "$F/keys/dev.pub" | base64 -d | b2sum -l 64 | cut -c1-16)
	grep -q "task 1: its result from device $id is taken back" srv/log
	expect_stat done 2 complete false
	work "$KEY2" dev2 10 || { cat dev2/err; return 1; }
	[ "$(cat dev2/tasks)" = 1 ]
	expect_model
}

@test "a state that is not a database: g2t-serve exits 1 naming the file" {
	mkdir state
	head -c 8192 /dev/urandom >state/g2t.db
	run --separate-stderr g2t-serve --tasks "$F/tasks" --state state --devices "$F/keys" \
		--listen 127.0.0.1:0
	expect_status 1
	expect_stderr 'state/g2t.db: file is not a database'
}

@test "a 1 KB packet whose weight sets each claim 2^24 features: 32 sets are over the task set's bound (413), 4 are refused (400) before anything grows with that claim" {
	need_signer
	serve
	lease "$KEY" t.g2t
	"$TOOLS/bigpacket" "$KEY" t.g2t "$(token_of t.g2t)" 32 >big32.pkt
	[ "$(stat -c %s big32.pkt)" -lt 4096 ]
	post_packet big32.pkt
	expect_code 413
	"$TOOLS/bigpacket" "$KEY" t.g2t "$(token_of t.g2t)" 4 >big4.pkt
	post_packet big4.pkt
	expect_code 400
	expect_body 'malformed packet body'
	# 4 x 12 x 2^24 bytes would be 768 MiB; the server stays small
	local peak
	peak=$(awk '/^VmHWM/ { print int($2 / 1024) }' "/proc/$SERVER_PID/status")
	[ "$peak" -lt 100 ] || { echo "peak RSS $peak MB"; return 1; }
	expect_stat accepted 0
	expect_serving
}

@test "--rate-per-address: an address past its budget gets 429 before its signature is checked, whatever key it names" {
	need_signer
	serve --rate-per-address 1
	sign_request "$KEY" && local h1=("${SIGNED[@]}")
	local bad=(-H "X-G2T-Key: ${SIGNED[1]#X-G2T-Key: }" -H 'X-G2T-Time: 0'
		-H "X-G2T-Nonce: $(printf '0%.0s' {1..32})" -H "X-G2T-Signature: ${SIGNED[7]#X-G2T-Signature: }")
	call POST /v1/lease "${bad[@]}"
	expect_code 401
	call POST /v1/lease "${bad[@]}"
	expect_code 401
	call POST /v1/lease "${h1[@]}" # a good request, but the address's 2 are spent
	expect_code 429
	expect_body 'rate limit of this address'
	[ -n "$(header_of Retry-After)" ]
	expect_stat rate_limited 1 issued 0
	expect_serving
}

@test "--rate-per-address: addresses whose slots collide share one budget; a fresh address is not handed a full one" {
	command -v python3 >/dev/null || skip "python3 is needed for the clients"
	serve --rate-per-address 1
	# 127.0.0.2 keeps its budget spent while fresh addresses ask once each
	# (unsigned: the address's rate is checked first); one that lands on its
	# slot must find it spent.  Each fresh address once reset its slot to a
	# full budget, so two addresses taking turns were never limited.
	python3 - "$SERVER_PORT" <<-'EOF'
	import socket, sys
	port = int(sys.argv[1])
	def ask(ip):
	    c = socket.socket()
	    c.bind((ip, 0))
	    c.connect(("127.0.0.1", port))
	    c.sendall(b"POST /v1/lease HTTP/1.1\r\nHost: x\r\n\r\n")
	    return c
	def answer(c):
	    c.settimeout(10)
	    r = c.recv(4096)
	    c.close()
	    return r
	found = None
	for batch in range(200): # 200 x 254 addresses: 12 a slot of 4096
	    while b" 429 " not in answer(ask("127.0.0.2")):
	        pass
	    asked = [ask("127.1.%d.%d" % (batch, j)) for j in range(1, 255)]
	    for r in map(answer, asked):
	        assert b" 401 " in r or b" 429 " in r, r[:60]
	        if b" 429 " in r:
	            assert b"rate limit of this address" in r, r
	            found = True
	    if found:
	        break
	assert found, "no fresh address was refused: every one got a full budget"
	EOF
	expect_serving
}
