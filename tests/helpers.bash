# Shared helpers for the Bats suite (tests/*.bats).
#
# The programs are taken from $G2T_BIN (make asan sets it to build/asan/bin)
# or from bin/ next to tests/; they are put first in PATH so tests read like
# the documentation: `g2t-split FILE | g2t-train -j2 | g2t-merge`.

bats_require_minimum_version 1.5.0

G2T_ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
G2T_BIN=${G2T_BIN:-$G2T_ROOT/bin}
if [[ $G2T_BIN != /* ]]; then
	if [ -d "$G2T_BIN" ]; then
		G2T_BIN=$(cd "$G2T_BIN" && pwd)
	else
		G2T_BIN=$G2T_ROOT/$G2T_BIN
	fi
fi
export G2T_BIN
export PATH="$G2T_BIN:$PATH"
# shards and schemas cached by g2t-fetch, g2t-device and g2t-serial: the
# run's own, never the user's ~/.g2t-cache (another version's may be there)
export G2T_CACHE=${G2T_CACHE:-$BATS_RUN_TMPDIR/g2t-cache}
DATA=$G2T_ROOT/tests/data

# Fail early and clearly when the programs are not built.
require_programs() {
	local p
	for p in g2t-split g2t-train g2t-merge g2t-predict; do
		if [ ! -x "$G2T_BIN/$p" ]; then
			echo "missing $G2T_BIN/$p: run make first" >&2
			return 1
		fi
	done
}

# --- assertions (print context on failure) --------------------------------

# expect_status N: the last `run` exited with N.
expect_status() {
	if [ "$status" -ne "$1" ]; then
		echo "expected exit status $1, got $status"
		echo "stderr: ${stderr-}"
		echo "stdout (first 300 bytes): ${output:0:300}"
		return 1
	fi
}

# expect_stderr REGEX: stderr of the last `run --separate-stderr` matches.
expect_stderr() {
	if ! [[ ${stderr-} =~ $1 ]]; then
		echo "stderr does not match /$1/"
		echo "stderr: ${stderr-}"
		return 1
	fi
}

# expect_output REGEX: stdout of the last `run` matches.
expect_output() {
	if ! [[ $output =~ $1 ]]; then
		echo "stdout does not match /$1/"
		echo "stdout (first 500 bytes): ${output:0:500}"
		return 1
	fi
}

expect_no_stdout() {
	if [ -n "$output" ]; then
		echo "expected no output on stdout, got ${#output} bytes: ${output:0:200}"
		return 1
	fi
}

expect_no_stderr() {
	if [ -n "${stderr-}" ]; then
		echo "expected nothing on stderr, got: $stderr"
		return 1
	fi
}

# expect_error PROG STATUS PLACE_REGEX: the last run failed with STATUS, wrote
# nothing on stdout and exactly one line on stderr, "PROG: " then a place
# matching PLACE_REGEX (e.g. 'bad\.csv:4: ' or 'x\.g2t: byte [0-9]+: ').
expect_error() {
	local prog=$1 st=$2 place=$3
	expect_status "$st"
	expect_no_stdout
	if [ "${#stderr_lines[@]}" -ne 1 ]; then
		echo "expected a one-line error, got ${#stderr_lines[@]} lines:"
		echo "$stderr"
		return 1
	fi
	expect_stderr "^$prog: $place"
	# A message has some text after the place.
	expect_stderr "^$prog: $place.*[[:alpha:]]"
}

# expect_dir_contents DIR [NAME...]: DIR holds exactly these entries (sorted),
# so no temporary or partial file was left behind.
expect_dir_contents() {
	local dir=$1
	shift
	local got want
	got=$(cd "$dir" && ls -A | LC_ALL=C sort | tr '\n' ' ')
	want=$(printf '%s\n' "$@" | sed '/^$/d' | LC_ALL=C sort | tr '\n' ' ')
	if [ "$got" != "$want" ]; then
		echo "directory $dir holds [$got], expected [$want]"
		return 1
	fi
}

# expect_same FILE1 FILE2: byte-identical.
expect_same() {
	if ! cmp "$1" "$2"; then
		echo "$1 and $2 differ"
		return 1
	fi
}

# --- numbers --------------------------------------------------------------

# accuracy_of TEXT: the A of an "accuracy A (c/n)" line in TEXT.
accuracy_of() {
	printf '%s\n' "$1" | awk '$1 == "accuracy" { print $2; exit }'
}

# expect_ge X MIN [WHAT]: the number X is at least MIN.
expect_ge() {
	if ! awk -v x="$1" -v m="$2" 'BEGIN { exit !(x != "" && x + 0 >= m + 0) }'; then
		echo "${3:-value} '$1' is below $2"
		return 1
	fi
}

# expect_accuracy_ge MIN: the last run printed "accuracy A (c/n)" with A >= MIN.
expect_accuracy_ge() {
	local a
	a=$(accuracy_of "$output")
	expect_ge "$a" "$1" accuracy
}

# data_rows FILE: rows of a CSV file with a header (gzip or not).
data_rows() {
	zcat -f "$1" | awk 'NF' | sed 1d | wc -l
}

# csv_labels FILE: the last column of every data row (simple CSVs only).
csv_labels() {
	zcat -f "$1" | sed 1d | awk -F, 'NF { print $NF }'
}

# zero_words FILE: number of 4-byte aligned all-zero words, a proxy for the
# zero weights of a model (its MODEL record is dense).
zero_words() {
	od -An -v -tx4 -w4 "$1" | grep -c '^ *00000000$' || true
}

# --- building inputs ------------------------------------------------------

# csv_to_svmlight CSV: label first, then 1-based index:value for every feature.
csv_to_svmlight() {
	zcat -f "$1" | awk -F, 'NR > 1 && NF {
		s = $NF
		for (i = 1; i < NF; i++) s = s " " i ":" $i
		print s
	}'
}

# flip_byte FILE OFFSET: invert the bits of the byte at OFFSET (0-based), in place.
flip_byte() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	[ -n "$b" ] || { echo "flip_byte: $1 has no byte $2"; return 1; }
	printf "$(printf '\\%03o' $((b ^ 255)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# put_u32 FILE OFFSET VALUE: overwrite 4 bytes at OFFSET with VALUE, little-endian.
put_u32() {
	local v=$3
	printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $((v & 255)) $((v >> 8 & 255)) \
		$((v >> 16 & 255)) $((v >> 24 & 255)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# u32_at FILE OFFSET: the little-endian u32 at OFFSET.
u32_at() {
	od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '
}

# records FILE: one line "offset type length" per record of a single stream
# (stream header at 0, records from 8; a repeated stream header is skipped).
records() {
	local f=$1 size off=8 type len
	size=$(stat -c %s "$f")
	while [ "$off" -lt "$size" ]; do
		read -r type len < <(od -An -tu4 -j "$off" -N8 "$f")
		if [ "$type" = 1412581257 ]; then # magic 0x54324789
			off=$((off + 8))
			continue
		fi
		echo "$off $type $len"
		off=$((off + 12 + len))
	done
}

# first_record_end FILE: offset just after the first record (the SCHEMA in the
# outputs of g2t-split and g2t-train).
first_record_end() {
	echo $((8 + 12 + $(u32_at "$1" 12)))
}

# byte_offset: the N of "byte N" in the last run's stderr.
byte_offset() {
	[[ ${stderr-} =~ byte\ ([0-9]+) ]] && echo "${BASH_REMATCH[1]}"
}

# --- packets and the test receiver (tests/pack.bats) ----------------------

# fix_record_crc FILE OFFSET: recompute the CRC of the record at OFFSET (after
# its payload was edited on purpose); gzip's trailer is the same CRC-32.
fix_record_crc() {
	local f=$1 off=$2 len crc
	len=$(u32_at "$f" $((off + 4)))
	crc=$(tail -c +$((off + 1)) "$f" | head -c $((8 + len)) | gzip -c |
		tail -c 8 | od -An -tu4 -N4 | tr -d ' ')
	put_u32 "$f" $((off + 8 + len)) "$crc"
}

# packet_field FILE AT: for every PACKET record of FILE, the u32 at byte AT of
# its payload (36: sequence number, low half; 56: weight sets held).
packet_field() {
	local off type len
	records "$1" | while read -r off type len; do
		[ "$type" = 6 ] && u32_at "$1" $((off + 8 + $2))
	done
}

# packet_seqs FILE: the sequence numbers of FILE's packets, one a line.
packet_seqs() {
	packet_field "$1" 36
}

# The loopback HTTP receiver that stands in for the server.
G2T_RECEIVER=${G2T_RECEIVER:-$G2T_ROOT/${G2T_UNITS:-build/tests}/../tools/receiver}
TOOLS=$(dirname "$G2T_RECEIVER")

# start_receiver DIR [OPTIONS...]: runs the receiver with its log in DIR/log and
# the bodies it acknowledges saved as DIR/N.pkt; sets RECEIVER_PID and
# RECEIVER_URL once it listens.  stop_receiver (in teardown) ends it.
start_receiver() {
	local dir=$1 i
	shift
	if [ ! -x "$G2T_RECEIVER" ]; then
		echo "missing $G2T_RECEIVER: run make units"
		return 1
	fi
	mkdir -p "$dir"
	rm -f "$dir/port"
	"$G2T_RECEIVER" --port-file "$dir/port" --log "$dir/log" --dir "$dir" "$@" \
		>/dev/null 3>&- &
	RECEIVER_PID=$!
	for ((i = 0; i < 200; i++)); do
		[ -s "$dir/port" ] && break
		sleep 0.025
	done
	if [ ! -s "$dir/port" ]; then
		echo "the receiver did not start"
		return 1
	fi
	RECEIVER_URL=http://127.0.0.1:$(cat "$dir/port")
}

stop_receiver() {
	if [ -n "${RECEIVER_PID-}" ]; then
		kill "$RECEIVER_PID" 2>/dev/null
		wait "$RECEIVER_PID" 2>/dev/null
		RECEIVER_PID=
	fi
	return 0
}

# closed_url DIR: sets RECEIVER_URL to a loopback port nothing listens on (one
# a receiver just left).
closed_url() {
	start_receiver "$1" && stop_receiver
}

# --- the coordinator (tests/serve.bats) -----------------------------------

# start_server DIR [OPTIONS...]: runs g2t-serve on a free loopback port with
# its stderr appended to DIR/log; sets SERVER_PID, SERVER_PORT and SERVER_URL
# once it listens.  stop_server (in teardown) ends it.
start_server() {
	local dir=$1 i
	shift
	mkdir -p "$dir"
	rm -f "$dir/port"
	g2t-serve --listen 127.0.0.1:0 --port-file "$dir/port" "$@" \
		</dev/null >>"$dir/out" 2>>"$dir/log" 3>&- &
	SERVER_PID=$!
	for ((i = 0; i < 400; i++)); do
		[ -s "$dir/port" ] && break
		server_alive || break
		sleep 0.025
	done
	if [ ! -s "$dir/port" ]; then
		echo "g2t-serve did not start; its log:"
		cat "$dir/log"
		stop_server KILL
		return 1
	fi
	SERVER_PORT=$(cat "$dir/port")
	SERVER_URL=http://127.0.0.1:$SERVER_PORT
}

# server_alive: the server process runs (and is not a zombie).
server_alive() {
	local state
	[ -n "${SERVER_PID-}" ] || return 1
	state=$(awk '{ print $3 }' "/proc/$SERVER_PID/stat" 2>/dev/null)
	[ -n "$state" ] && [ "$state" != Z ]
}

# stop_server [SIGNAL]: sends SIGNAL (TERM) to the server and waits for it,
# with SIGKILL after 10 s; sets SERVER_STATUS (137 when it had to be killed
# after another signal) and SERVER_STOP_SECONDS.
stop_server() {
	local sig=${1:-TERM} i start
	SERVER_STATUS= SERVER_STOP_SECONDS=
	[ -n "${SERVER_PID-}" ] || return 0
	start=$EPOCHREALTIME
	kill -s "$sig" "$SERVER_PID" 2>/dev/null
	for ((i = 0; i < 400; i++)); do
		server_alive || break
		sleep 0.025
	done
	server_alive && kill -s KILL "$SERVER_PID" 2>/dev/null
	SERVER_STATUS=0
	wait "$SERVER_PID" 2>/dev/null || SERVER_STATUS=$?
	SERVER_STOP_SECONDS=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
	SERVER_PID=
	return 0
}

# task_of FILE: the task index of the TASK record of FILE (a leased task).
task_of() {
	local off type len
	records "$1" | while read -r off type len; do
		if [ "$type" = 3 ]; then u32_at "$1" $((off + 8 + 64)); fi
	done
}

# task_record_at FILE: offset of the TASK record of FILE.
task_record_at() {
	local off type len
	records "$1" | while read -r off type len; do
		if [ "$type" = 3 ]; then echo "$off"; fi
	done
}

# token_of FILE: the lease token (hex) of the TASK record of FILE; the TASK
# payload is hash (32), task id (80), token length (4), token (16).
token_of() {
	local off
	off=$(task_record_at "$1")
	[ -n "$off" ] && od -An -tx1 -v -j $((off + 8 + 116)) -N16 "$1" | tr -d ' \n'
}

# sign_request KEYFILE [TIME [NONCE [PATH [METHOD]]]]: sets SIGNED to the curl
# options that carry the X-G2T-Key, -Time, -Nonce and -Signature headers of a
# request (POST /v1/lease, now, a fresh nonce unless given), signed with
# openssl over "g2t-lease-v1\nMETHOD\nPATH\nTIME\nNONCE".
sign_request() {
	local key=$1 when=${2:-} nonce=${3:-} path=${4:-/v1/lease} method=${5:-POST}
	local dir=$BATS_TEST_TMPDIR/signer pub sig
	[ -n "$when" ] || when=$(date +%s)
	[ -n "$nonce" ] || nonce=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
	mkdir -p "$dir"
	# PKCS#8 of the Ed25519 seed: the first 32 bytes of libsodium's secret key
	{
		printf '\x30\x2e\x02\x01\x00\x30\x05\x06\x03\x2b\x65\x70\x04\x22\x04\x20'
		awk '{ print $2 }' "$key" | base64 -d | head -c 32
	} >"$dir/key.der"
	openssl pkey -inform DER -in "$dir/key.der" -out "$dir/key.pem" 2>"$dir/err" || {
		cat "$dir/err"
		return 1
	}
	pub=$(awk '{ print $2 }' "$key" | base64 -d | tail -c 32 | base64 -w0)
	printf 'g2t-lease-v1\n%s\n%s\n%s\n%s' "$method" "$path" "$when" "$nonce" >"$dir/msg"
	sig=$(openssl pkeyutl -sign -rawin -inkey "$dir/key.pem" -in "$dir/msg" | base64 -w0)
	rm -f "$dir/key.der" "$dir/key.pem"
	[ -n "$sig" ] || return 1
	SIGNED=(-H "X-G2T-Key: $pub" -H "X-G2T-Time: $when" -H "X-G2T-Nonce: $nonce"
		-H "X-G2T-Signature: $sig")
}
