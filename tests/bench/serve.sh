#!/usr/bin/env bash
# serve.sh -- `make bench`, third part: g2t-serve under load on loopback.
#
# Makes a seeded synthetic task set (the blob generator of bench.sh, 640
# classes by default: 204,480 tasks, so a run at the target rate never runs
# out of free tasks), starts g2t-serve on 127.0.0.1 with a fresh state
# directory, and drives it with build/bench/loadgen (libcurl multi, 1,000
# devices with their own Ed25519 keys, keep-alive HTTP/1.1):
#   1. leases only, on a 95-class set (4,465 tasks): lease cost vs task count
#   2. leases only, on the big set
#   3. lease then result (a signed packet, committed durably), on the big set
#   3b. runs 2 and 3 with 4 tasks a lease request and 4 results a packet
#      (loadgen --batch 4), as devices holding W_t = 4 results work, as
#      fast as the server answers, then paced at the targets (--rate: the
#      load is offered at a fixed rate, latency counts from each request's
#      turn), which is where a latency target means something
#   4. runs 2 and 3 with the server pinned to one core and the generator,
#      its lease requests presigned, to the other: what one
#      server core does when the load comes from elsewhere
#   5. runs 2 and 3 again, shorter, with the server under perf (DWARF call
#      graphs), when perf works: perf slows the server, so these runs are
#      not the measured ones
# The server gives no backup leases (--no-backups): they come only at a
# run's tail, once every task is leased, and would turn the 95-class run's
# answers after its 4,465 tasks into backups.
# Each run gets a fresh server and state.  Prints leases/s, results/s,
# latency percentiles, the CPU of server and load generator (they share the
# cores), the server's CPU by library and by g2t function, the leases per
# second of the state alone (build/bench/storebench), the raw Ed25519
# verification rate (build/bench/packbench) and the fsync rate of the
# state's file system, beside the targets of issue 4.
#
# Environment: G2T_BIN (bin/), G2T_BENCH_SEED (1), G2T_SERVE_CLASSES (640),
# G2T_SERVE_DEVICES (1000), G2T_SERVE_SECONDS (5), G2T_SERVE_FRESH_DEVICES
# (64: devices opening a new TLS connection a request), G2T_SERVE_PERF (1; 0 to
# skip profiling), TMPDIR (where the state lives: it must be a real disk
# for "durable" to mean anything).  Exits non-zero only when a program
# fails, not when a target is missed.  Takes well under 2 minutes.
set -eu
blobs=$(cd "$(dirname "$0")" && pwd)/blobs.sh
export LC_ALL=C
cd "$(dirname "$0")/../.."

bin=${G2T_BIN:-bin}
loadgen=build/bench/loadgen
packbench=build/bench/packbench
storebench=build/bench/storebench
seed=${G2T_BENCH_SEED:-1}
classes=${G2T_SERVE_CLASSES:-640}
devices=${G2T_SERVE_DEVICES:-1000}
secs=${G2T_SERVE_SECONDS:-5}
use_perf=${G2T_SERVE_PERF:-1}
warmup=1
target_leases=20000 target_results=10000 target_p99=50

work=$(mktemp -d "${TMPDIR:-/tmp}/g2t-serve-bench.XXXXXX")
server_pid='' perf_pid=''

# stop_server: SIGTERM, and SIGKILL after 3 s: an overloaded server drains
# its backlog of abandoned requests before it exits, and the state is thrown
# away anyway.
stop_server() {
	[ -n "$server_pid" ] || return 0
	kill -TERM "$server_pid" 2>/dev/null || true
	for _ in $(seq 30); do
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=
}
cleanup() {
	[ -z "$perf_pid" ] || kill -INT "$perf_pid" 2>/dev/null || true
	stop_server
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "serve bench: $*" >&2; }
calc() { local e=$1; shift; awk "$@" "BEGIN { printf $e }" </dev/null; }

for f in "$bin/g2t-serve" "$bin/g2t-split" "$bin/g2t-train" "$loadgen" "$packbench" \
	"$storebench"; do
	[ -x "$f" ] || { say "$f missing: run make bench"; exit 1; }
done

# gen_blobs K DIM ROWS-PER-CLASS SEED: a seeded K-class CSV (blobs.sh).
gen_blobs() { "$blobs" "$@"; }

# make_tasks K OUT: one g2t-split stream (SCHEMA, shards, K(K-1)/2 tasks).
make_tasks() {
	gen_blobs "$1" 16 4 "$seed" >"$work/k$1.csv"
	"$bin/g2t-split" "$work/k$1.csv" >"$2"
}

# start_server TASKS [SERVER-PREFIX...]: a fresh state and server; sets
# server_pid and url.
start_server() {
	local tasks=$1
	shift
	rm -rf "$work/state" "$work/port"
	"$@" "$bin/g2t-serve" "${tls_args[@]}" --tasks "$tasks" --state "$work/state" --listen 127.0.0.1:0 \
		--port-file "$work/port" --open --rate 1000000 --rate-per-address 1000000 --per-ip 100000 \
		--max-connections 100000 --lease-timeout 3600 --no-backups 2>>"$work/server.log" &
	server_pid=$!
	for _ in $(seq 300); do
		[ -s "$work/port" ] && break
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.05
	done
	if [ ! -s "$work/port" ]; then
		say "g2t-serve did not start:"; sed 's/^/    /' "$work/server.log" >&2
		exit 1
	fi
	url=$scheme://127.0.0.1:$(cat "$work/port")
}
scheme=http tls_args=()

# use_tls: the runs that follow are HTTPS, with a certificate for 127.0.0.1
# from a test CA made here.
use_tls() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj /CN=g2t-test-ca -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
		-keyout "$work/tls.key" -out "$work/tls.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1\n' >"$work/tls.ext"
	openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
		-CAcreateserial -days 2 -extfile "$work/tls.ext" -out "$work/tls.pem" 2>/dev/null
	scheme=https tls_args=(--tls-cert "$work/tls.pem" --tls-key "$work/tls.key")
}

# perf works here? (a VM may lack hardware counters: cpu-clock is software)
perf_ok=0 perf_note="perf not installed"
if [ "$use_perf" = 0 ]; then
	perf_note="profiling skipped (G2T_SERVE_PERF=0)"
elif command -v perf >/dev/null; then
	if perf record -e cpu-clock -o "$work/perf.test" -- true >/dev/null 2>"$work/perf.err"; then
		perf_ok=1
	else
		perf_note="perf record refused: $(head -n 1 "$work/perf.err")"
	fi
fi

# run NAME TASKS MODE SECONDS [perf] [pinned] [LOADGEN-OPTION...]: one
# loadgen run on a fresh server; its output in $work/NAME.out, the key=value
# line in $work/NAME.kv; with perf, the server's window under perf in
# $work/NAME.perf; pinned: the server on core 0, the generator (presigning)
# on core 1.
run() {
	local name=$1 tasks=$2 mode=$3 s=$4 profile=0 pinned=0 st=0
	local gen=() extra=()
	shift 4
	for o in "$@"; do
		case $o in
		perf) profile=1 ;;
		pinned) pinned=1 ;;
		*) extra+=("$o") ;;
		esac
	done
	if [ "$pinned" = 1 ]; then
		start_server "$tasks" taskset -c 0
		gen=(taskset -c 1)
		extra+=(--presign 100)
	else
		start_server "$tasks"
	fi
	if [ "$profile" = 1 ]; then
		# the window only: after the warm-up, for its length; DWARF call
		# graphs, as the libraries have no frame pointers
		(sleep "$warmup"; exec perf record -e cpu-clock -F 499 --call-graph dwarf,32768 \
			-p "$server_pid" -o "$work/$name.perf" -- sleep "$s") \
			>/dev/null 2>"$work/$name.perf.err" &
		perf_pid=$!
	fi
	[ "$scheme" = http ] || extra+=(--cacert "$work/ca.pem")
	say "$name: $mode, $devices devices, ${s}s"
	timeout 120 "${gen[@]}" "$loadgen" --url "$url" --mode "$mode" --devices "$devices" \
		--seconds "$s" --warmup "$warmup" --drain 2 --server-pid "$server_pid" \
		"${extra[@]}" >"$work/$name.out" || st=$?
	if [ -n "$perf_pid" ]; then
		wait "$perf_pid" 2>/dev/null || true
		perf_pid=
	fi
	if ! kill -0 "$server_pid" 2>/dev/null; then
		local died=0
		wait "$server_pid" 2>/dev/null || died=$?
		server_pid=''
		say "FAIL: g2t-serve died during run $name (status $died):"
		tail -n 20 "$work/server.log" | sed 's/^/    /' >&2
		exit 1
	fi
	curl -s --max-time 2 "$url/v1/status" >"$work/$name.status" ||
		echo "unavailable (the server is still busy)" >"$work/$name.status"
	stop_server
	grep '^loadgen: mode=' "$work/$name.out" | tail -n 1 | cut -d' ' -f2- |
		tr ' ' '\n' >"$work/$name.kv" || true
	if [ $st -ne 0 ] && [ ! -s "$work/$name.kv" ]; then
		say "FAIL: loadgen ($name) exited $st"; cat "$work/$name.out" >&2
		exit 1
	fi
	[ $st -eq 0 ] || say "$name: loadgen exited $st (transport errors or requests left unanswered; see below)"
}

# kv NAME KEY: a value of a run's key=value line.
kv() { awk -F= -v k="$2" '$1 == k { print $2 }' "$work/$1.kv"; }

# profile NAME: the server's CPU by library, its top functions, and the
# time spent under the main g2t functions (inclusive).
profile() {
	local data=$work/$1.perf
	if [ "$perf_ok" != 1 ]; then echo "  CPU profile: $perf_note"; return; fi
	if [ ! -s "$data" ]; then
		echo "  CPU profile: perf record failed: $(head -n 1 "$work/$1.perf.err" 2>/dev/null)"
		return
	fi
	echo "  server CPU by library (self time):"
	timeout 60 perf report -i "$data" --no-children --sort dso --stdio -q -g none 2>/dev/null |
		awk '$1 ~ /%$/ {
			p = $1 + 0; d = $2
			if (d ~ /microhttpd/) c = "HTTP (libmicrohttpd)"
			else if (d ~ /gnutls|nettle|hogweed|gmp|tasn|p11-kit|idn/) c = "TLS (GnuTLS, nettle, gmp)"
			else if (d ~ /sqlite/) c = "SQLite"
			else if (d ~ /sodium/) c = "crypto (libsodium)"
			else if (d ~ /libz/) c = "zlib (packet inflate, CRC)"
			else if (d ~ /kernel/) c = "kernel (TCP loopback, epoll, WAL writes, fsync, futex)"
			else if (d ~ /^libc/) c = "libc (malloc, memcpy, stdio)"
			else if (d ~ /g2t-serve/) c = "g2t (serve.c, store.c, libg2t)"
			else c = "other (" d ")"
			s[c] += p
		} END {
			for (c in s) printf "    %5.1f%%  %s\n", s[c], c | "sort -rn"
		}'
	echo "  top functions (self time):"
	timeout 60 perf report -i "$data" --no-children --sort dso,sym --stdio -q -g none 2>/dev/null |
		awk '$1 ~ /%$/ && n < 12 { n++; sub(/^ +/, ""); print "    " $0 }'
	echo "  time under g2t functions and a few others (inclusive, overlapping):"
	timeout 60 perf report -i "$data" --children --sort sym --stdio -q -g none 2>/dev/null |
		awk '$1 ~ /%$/ {
			f = $NF; sub(/ \(inlined\)$/, "", f)
			if ($NF == "(inlined)") f = $(NF - 1)
			if (f ~ /^(lease|results|authenticate|enrolled|within_rate|nonce_seen|g2t_keyring_has|crypto_sign_verify_detached|g2t_store_lease|pick|lease_seconds|note_device|g2t_store_results|judge|g2t_store_packet_seen|g2t_packet_open|open_batch|find_packet|verdicts|stream_reply|g2t_write_record|sqlite3_step|sqlite3_exec|do_fsync|MHD_queue_response|pthread_mutex_lock|__lll_lock_wait)$/ && !seen[f]++)
				printf "    %6s  %s\n", $1, f
		}' | head -n 24
}

say "task sets ($classes and 95 classes, seed $seed)"
make_tasks "$classes" "$work/big.g2t"
make_tasks 95 "$work/k95.g2t"
big_tasks=$((classes * (classes - 1) / 2))

run k95 "$work/k95.g2t" lease 3
run lease "$work/big.g2t" lease "$secs"
run both "$work/big.g2t" lease+result "$secs"
run lease-4 "$work/big.g2t" lease "$secs" --batch 4
run both-4 "$work/big.g2t" lease+result "$secs" --batch 4
# offered 2 % above the targets: a paced run measures a little under its rate
run lease-paced "$work/big.g2t" lease "$secs" --batch 4 --rate $((target_leases * 102 / 400))
run both-paced "$work/big.g2t" lease+result "$secs" --batch 4 --rate $((target_results * 102 / 400))
pinned=0
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
	pinned=1
	run lease-1core "$work/big.g2t" lease "$secs" pinned
	run both-1core "$work/big.g2t" lease+result "$secs" pinned
fi
if [ "$perf_ok" = 1 ]; then
	run lease-perf "$work/big.g2t" lease 3 perf
	run both-perf "$work/big.g2t" lease+result 3 perf
fi

# HTTPS: keep-alive (4 a request, as above), then a new TLS connection a
# request, with the session resumed and with a full handshake
if command -v openssl >/dev/null; then
	use_tls
	# every device's first request is a full handshake, a few ms of server
	# CPU each: the window starts once the 1,000 are done
	warmup=$((2 + devices / 200))
	run tls-lease-4 "$work/big.g2t" lease "$secs" --batch 4
	run tls-both-4 "$work/big.g2t" lease+result "$secs" --batch 4
	# new connections: the rate matters, not how many wait at once
	warmup=1 devices_kept=$devices devices=${G2T_SERVE_FRESH_DEVICES:-64}
	run tls-fresh "$work/big.g2t" lease "$secs" --fresh yes
	run tls-fresh-full "$work/big.g2t" lease "$secs" --fresh full
	if [ "$perf_ok" = 1 ]; then
		run tls-fresh-full-perf "$work/big.g2t" lease 3 perf --fresh full
		devices=$devices_kept warmup=$((2 + devices / 200))
		run tls-both-4-perf "$work/big.g2t" lease+result 3 perf --batch 4
	fi
	devices=$devices_kept warmup=1
	scheme=http tls_args=()
fi

say "the state alone (storebench)"
"$storebench" "$work" 450 50000 >"$work/storebench.out"
store() { awk -v b="$1" '$NF == b { print $3 }' "$work/storebench.out"; }

# the raw Ed25519 ceiling: packbench on a small trained weights stream
say "Ed25519 ceiling (packbench)"
gen_blobs 3 16 40 "$seed" >"$work/k3.csv"
"$bin/g2t-split" "$work/k3.csv" | "$bin/g2t-train" >"$work/k3.w"
"$packbench" "$work/k3.w" 1 >"$work/packbench.out"
verify=$(awk '$1 == "ed25519" { print $2 }' "$work/packbench.out")

# fsyncs per second on the state's file system (4 KiB writes + fdatasync)
fs=$(df -T "$work" | awk 'NR == 2 { print $2 }')
fsyncs=$(dd if=/dev/zero of="$work/fsync.test" bs=4k count=300 oflag=dsync 2>&1 |
	awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "s,") { printf "%.0f", 300 / $(i - 1); exit } }')
rm -f "$work/fsync.test"

# ---------------------------------------------------------------- report

verdict() { # VALUE OP LIMIT
	calc '"%s", (o == ">=" ? v + 0 >= l + 0 : v + 0 < l + 0) ? "ok" : "MISSED"' \
		-v v="$1" -v o="$2" -v l="$3"
}
row() { printf '%-34s | %-28s | %-16s | %s\n' "$@"; }
rule() { printf '%s\n' "------------------------------------------------------------------------------------------------"; }

echo
echo "g2t-serve under load, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
echo "loopback, $devices devices (one key, one keep-alive HTTP/1.1 connection each), ${secs}s windows after ${warmup}s warm-up,"
echo "fresh server and state ($fs under ${TMPDIR:-/tmp}) per run; $big_tasks tasks ($classes classes) unless said; lease timeout 3600 s"
echo "the load generator signs every lease and builds every packet itself, on the same cores"
rule
row "" measured target ""
rule
# rate NAME KEY P99-KEY: "rate (p50 / p99 ms)" of a run
rate() { echo "$(kv "$1" "$2") (p50 $(kv "$1" "${3%99_ms}50_ms"), p99 $(kv "$1" "$3") ms)"; }
echo "as fast as the server answers (closed loop: each device asks again once answered):"
row "leases/s, 1 task a request" "$(rate lease leases_per_s lease_p99_ms)" "" ""
row "results/s, 1 a packet" "$(rate both accepted_per_s result_p99_ms)" "" "+ $(kv both leases_per_s) leases/s"
row "leases/s, 4 tasks a request" "$(rate lease-4 leases_per_s lease_p99_ms)" "" ""
row "results/s, 4 a packet" "$(rate both-4 accepted_per_s result_p99_ms)" "" "+ $(kv both-4 leases_per_s) leases/s"
rule
echo "paced at the targets, +2 % (open loop), 4 tasks a lease request, 4 results a packet:"
l=$(kv lease-paced leases_per_s) lp99=$(kv lease-paced lease_p99_ms)
row "leases/s" "$l" ">= $target_leases" "$(verdict "$l" ">=" $target_leases)"
row "  lease request p50 / p99" "$(kv lease-paced lease_p50_ms) / $lp99 ms" "p99 < $target_p99 ms" "$(verdict "$lp99" "<" $target_p99)"
r=$(kv both-paced accepted_per_s) rp99=$(kv both-paced result_p99_ms)
row "results/s (accepted, durable)" "$r" ">= $target_results" "$(verdict "$r" ">=" $target_results)"
row "  packet p50 / p99" "$(kv both-paced result_p50_ms) / $rp99 ms" "p99 < $target_p99 ms" "$(verdict "$rp99" "<" $target_p99)"
row "  leases/s alongside" "$(rate both-paced leases_per_s lease_p99_ms)" "" ""
rule
row "leases/s with 4465 tasks (95 cl.)" "$(kv k95 leases_per_s) + $(kv k95 no_work_per_s) no-task (204)" "" "(p99 $(kv k95 lease_p99_ms) ms; 3 s)"
if [ "$pinned" = 1 ]; then
	row "one server core, load from the other" "$(kv lease-1core leases_per_s) leases/s" "" "(p99 $(kv lease-1core lease_p99_ms) ms; presigned)"
	row "" "$(kv both-1core accepted_per_s) results/s + $(kv both-1core leases_per_s) leases/s" "" "(p99 $(kv both-1core result_p99_ms) ms)"
fi
row "the state alone, 1 thread" "$(store 100) leases/s" "" "(100 a transaction; $(store 1) for 1)"
row "Ed25519 verify, 1 core (ceiling)" "${verify:-?}/s" "~19500/s" "packbench"
row "fdatasync/s on the state's fs" "${fsyncs:-?}/s" "" "(dd oflag=dsync, 4 KiB)"
rule
if [ -s "$work/tls-lease-4.kv" ]; then
	echo "HTTPS (GnuTLS through libmicrohttpd, ECDSA P-256 certificate from a test CA):"
	l=$(kv tls-lease-4 leases_per_s) r=$(kv tls-both-4 accepted_per_s)
	row "leases/s, keep-alive, 4 a request" "$(rate tls-lease-4 leases_per_s lease_p99_ms)" ">= $target_leases" "$(verdict "$l" ">=" $target_leases)"
	row "results/s, keep-alive, 4 a packet" "$(rate tls-both-4 accepted_per_s result_p99_ms)" ">= $target_results" "$(verdict "$r" ">=" $target_results)"
	c=$(kv tls-fresh lease_requests_per_s) f=$(kv tls-fresh-full lease_requests_per_s)
	row "new TLS connections/s, resumed" "$(rate tls-fresh lease_requests_per_s lease_p99_ms)" ">= 2000" "$(verdict "$c" ">=" 2000)"
	row "new TLS connections/s, full" "$(rate tls-fresh-full lease_requests_per_s lease_p99_ms)" ">= 2000" "$(verdict "$f" ">=" 2000)"
	rule
fi
runs="lease both lease-4 both-4 lease-paced both-paced"
[ "$pinned" = 0 ] || runs="$runs lease-1core both-1core"
for n in $runs; do
	echo
	echo "run '$n' ($(kv $n mode)):"
	sed -n '2,$p' "$work/$n.out" | grep -v '^loadgen: mode=' | sed 's/^/  /'
	echo "  server /v1/status after the run: $(cat "$work/$n.status")"
	if [ "$perf_ok" = 1 ] && [ -s "$work/$n-perf.kv" ]; then
		there="$(kv "$n-perf" leases_per_s) leases/s"
		[ "$n" = lease ] || there="$there, $(kv "$n-perf" accepted_per_s) results/s"
		echo "  profile: a separate 3 s run with the server under perf ($there there):"
	fi
	if [ "$n" = lease ] || [ "$n" = both ]; then
		profile "$n-perf"
	fi
done
for n in tls-lease-4 tls-both-4 tls-fresh tls-fresh-full; do
	[ -s "$work/$n.out" ] || continue
	echo
	echo "run '$n' ($(kv $n mode), $(kv $n connections)):"
	sed -n '2,$p' "$work/$n.out" | grep -v '^loadgen: mode=' | sed 's/^/  /'
	case $n in
	tls-both-4) echo "  profile: a separate 3 s run under perf:"; profile tls-both-4-perf ;;
	tls-fresh-full) echo "  profile: a separate 3 s run under perf:"; profile tls-fresh-full-perf ;;
	esac
done
echo
echo "run 'k95' (lease, 4465 tasks):"
sed -n '2,$p' "$work/k95.out" | grep -v '^loadgen: mode=' | sed 's/^/  /'
echo
echo "packbench (one core, in-process):"
sed 's/^/  /' "$work/packbench.out"
