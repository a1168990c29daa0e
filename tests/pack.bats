#!/usr/bin/env bats
# g2t-pack and g2t-merge --trust (issue 3): keys, the spool and W_t, signed
# packets, sending with retries, verification, and the faults of "Bad input
# and faults": nothing held is lost, nothing is sent under two sequence
# numbers, every failure has a clear message and status (3 bad data or
# refused, 1 I/O, 75 held or try again later).

bats_require_minimum_version 1.5.0
load helpers

# Shared inputs: iris split as one stream and as 3 task files, their weights
# (all.w in one stream, t0.w t1.w t2.w one task each), the model of the
# unsigned pipeline, digits weights, and two device keys.
setup_file() {
	require_programs
	local d=$BATS_FILE_TMPDIR i
	if [ ! -x "$G2T_BIN/g2t-pack" ]; then
		echo "missing $G2T_BIN/g2t-pack: run make first" >&2
		return 1
	fi
	g2t-split "$DATA/iris.train.csv.gz" >"$d/s.g2t"
	g2t-train "$d/s.g2t" >"$d/all.w"
	g2t-train "$d/s.g2t" | g2t-merge >"$d/pipe.model"
	g2t-split -o "$d/tasks" "$DATA/iris.train.csv.gz"
	for i in 0 1 2; do
		g2t-train "$d/tasks/task-0000$i.g2t" >"$d/t$i.w"
	done
	g2t-split "$DATA/digits.train.csv.gz" | g2t-train -j2 >"$d/digits.w"
	g2t-merge "$d/digits.w" >"$d/digits.model"
	g2t-pack --keygen -p "$d/dev.pub" -s "$d/dev.key"
	g2t-pack --keygen -p "$d/other.pub" -s "$d/other.key"
}

setup() {
	F=$BATS_FILE_TMPDIR
	T=$BATS_TEST_TMPDIR
	mkdir -p "$T/work" && cd "$T/work" || return 1
	KEY=$F/dev.key
	RECEIVER_PID= MOUNTED=
}

teardown() {
	stop_receiver
	if [ -n "${MOUNTED-}" ]; then
		umount "$MOUNTED" 2>/dev/null || umount -l "$MOUNTED"
	fi
}

# count_files DIR GLOB: how many entries of DIR match GLOB.
count_files() {
	local n=0 f
	for f in "$1"/$2; do
		[ -e "$f" ] && n=$((n + 1))
	done
	echo "$n"
}

# expect_count N DIR GLOB
expect_count() {
	local n
	n=$(count_files "$2" "$3")
	if [ "$n" -ne "$1" ]; then
		echo "$2 holds $n files $3, expected $1:"
		ls -A "$2"
		return 1
	fi
}

# expect_spool_empty DIR: no entry, no packet, no temporary file (the lock,
# the state and the key the spool belongs to stay).
expect_spool_empty() {
	local f
	for f in "$1"/*; do
		case ${f##*/} in
		lock | state | key | '*') ;;
		*)
			echo "spool $1 still holds ${f##*/}:"
			ls -A "$1"
			return 1
			;;
		esac
	done
}

# expect_lines N TEXT [WHAT]
expect_lines() {
	local n
	n=$(printf '%s' "$2" | grep -c '' || true)
	if [ "$n" -ne "$1" ]; then
		echo "${3:-text} has $n lines, expected $1:"
		printf '%s\n' "$2"
		return 1
	fi
}

# expect_seqs FILE SEQ...: FILE's packets have exactly these sequence numbers.
expect_seqs() {
	local f=$1 got
	shift
	got=$(packet_seqs "$f" | tr '\n' ' ')
	if [ "$got" != "$* " ]; then
		echo "$f: packets with sequence numbers [$got], expected [$* ]"
		return 1
	fi
}

# pending_packet DIR: the only p-*.pkt of spool DIR.
pending_packet() {
	local p=("$1"/p-*.pkt)
	if [ "${#p[@]}" -ne 1 ] || [ ! -e "${p[0]}" ]; then
		echo "expected one packet in $1, found: $(ls -A "$1" | tr '\n' ' ')" >&2
		return 1
	fi
	echo "${p[0]}"
}

# save_run / restore_run: keep the last run's results, to check its message
# after the checks that matter more (so a poor message hides nothing else).
save_run() {
	saved_status=$status saved_output=$output saved_stderr=$stderr
	saved_lines=("${stderr_lines[@]}")
}

restore_run() {
	status=$saved_status output=$saved_output stderr=$saved_stderr
	stderr_lines=("${saved_lines[@]}")
}

# packet_record FILE: the stream header and first record of FILE (a spool
# packet file, a sent body, or g2t-pack's output).
packet_record() {
	head -c $((8 + 12 + $(u32_at "$1" 12))) "$1"
}

# --- keys -----------------------------------------------------------------

@test "keygen: secret key 0600, public key readable, one line each in the documented form" {
	run --separate-stderr g2t-pack --keygen -p dev.pub -s dev.key
	expect_status 0
	expect_no_stdout
	expect_no_stderr
	[ "$(stat -c %a dev.key)" = 600 ]
	[ "$(wc -l <dev.key)" -eq 1 ]
	[ "$(wc -l <dev.pub)" -eq 1 ]
	grep -Eq '^g2t-secret-key [A-Za-z0-9+/]{86}==$' dev.key
	grep -Eq '^g2t-public-key [A-Za-z0-9+/]{43}=$' dev.pub
	# the public key is the secret key's
	g2t-pack -s dev.key --spool sp -o out.pkt "$F/t0.w"
	g2t-merge --trust dev.pub --allow-unsigned -o m out.pkt "$F/t1.w" "$F/t2.w"
	expect_same m "$F/pipe.model"
	# two pairs are different
	g2t-pack --keygen -p b.pub -s b.key
	! cmp -s dev.key b.key
	! cmp -s dev.pub b.pub
}

@test "keygen: an existing secret key is never overwritten, no public key is made" {
	echo precious >dev.key
	chmod 600 dev.key
	run --separate-stderr g2t-pack --keygen -p dev.pub -s dev.key
	expect_error g2t-pack 1 'dev\.key: '
	[ "$(cat dev.key)" = precious ]
	[ ! -e dev.pub ]
}

@test "keygen: an existing public key is never overwritten, no secret key is left" {
	echo precious >dev.pub
	run --separate-stderr g2t-pack --keygen -p dev.pub -s dev.key
	expect_error g2t-pack 1 'dev\.pub: '
	[ "$(cat dev.pub)" = precious ]
	[ ! -e dev.key ]
}

@test "keygen: a symlink where the secret key goes is not followed" {
	ln -s target.key dev.key
	run --separate-stderr g2t-pack --keygen -p dev.pub -s dev.key
	expect_error g2t-pack 1 'dev\.key: '
	[ ! -e target.key ]
	[ ! -e dev.pub ]
}

@test "keygen: needs both -p and -s (usage, exit 2)" {
	run --separate-stderr g2t-pack --keygen -s only.key
	expect_status 2
	[ ! -e only.key ]
}

@test "key: a secret key others may read is refused (exit 3, says chmod 600), spool untouched" {
	g2t-pack --keygen -p dev.pub -s dev.key
	local mode
	for mode in 640 604 644 660; do
		chmod "$mode" dev.key
		run --separate-stderr g2t-pack -s dev.key --spool sp "$F/t0.w"
		expect_error g2t-pack 3 'dev\.key: '
		expect_stderr 'chmod 600'
		[ ! -e sp ]
	done
	chmod 600 dev.key
	run --separate-stderr g2t-pack -s dev.key --spool sp "$F/t0.w"
	expect_status 0
}

@test "key: a public key given as the secret key is refused (exit 3)" {
	cp "$F/dev.pub" pub
	chmod 600 pub
	run --separate-stderr g2t-pack -s pub --spool sp "$F/t0.w"
	expect_error g2t-pack 3 'pub: '
	expect_stderr 'secret'
}

# --- the spool and W_t ----------------------------------------------------

@test "held: below W_t -> exit 75, the held line on stderr, nothing on stdout, entry stored" {
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --quality 0.4 -o out.pkt "$F/t0.w"
	expect_status 75
	expect_no_stdout
	[ "$stderr" = "g2t-pack: held: 1 of 3 weight sets (q = 0.40)" ]
	[ ! -e out.pkt ] # no output file while held
	expect_count 1 sp 'w-*.g2t'
	expect_count 0 sp 'p-*'
	# the entry is a G2T stream with the SCHEMA and the WEIGHTS record
	local e=(sp/w-*.g2t)
	records "${e[0]}" | awk '{ print $2 }' | sort | uniq -c >types
	[ "$(wc -l <types)" -eq 2 ]
	# stdin works the same way
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --quality 0.4 <"$F/t1.w"
	expect_status 75
	expect_no_stdout
	[ "$stderr" = "g2t-pack: held: 2 of 3 weight sets (q = 0.40)" ]
	expect_count 2 sp 'w-*.g2t'
}

@test "accumulate: q 0.4 -> W_t 3: held, held, then one packet of all 3 on stdout; spool emptied" {
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --quality 0.4 "$F/t0.w"
	expect_status 75
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --quality 0.4 "$F/t1.w"
	expect_status 75
	g2t-pack -s "$KEY" --spool sp --quality 0.4 "$F/t2.w" >out.pkt 2>err
	[ ! -s err ] || { cat err; false; }
	# one stream: header then exactly one PACKET record holding 3 weight sets
	[ "$(od -An -tx1 -N4 out.pkt | tr -d ' ')" = 89473254 ]
	[ "$(records out.pkt | awk '{ print $2 }' | tr '\n' ' ')" = "6 " ]
	[ "$(packet_field out.pkt 56)" = 3 ]
	expect_seqs out.pkt 1
	expect_spool_empty sp
	grep -qx 'next-seq 2' sp/state
	# the packet merges to the model of the unsigned pipeline, byte for byte
	run --separate-stderr g2t-merge --trust "$F/dev.pub" -o m out.pkt
	expect_status 0
	expect_no_stderr
	expect_same m "$F/pipe.model"
}

@test "accumulate: W_t = round(1/q) within --min-batch/--max-batch" {
	run --separate-stderr g2t-pack -s "$KEY" --spool a --quality 0.1 "$F/t0.w"
	expect_status 75
	expect_stderr 'held: 1 of 10 weight sets \(q = 0\.10\)'
	run --separate-stderr g2t-pack -s "$KEY" --spool b --quality 0.01 --max-batch 5 "$F/t0.w"
	expect_status 75
	expect_stderr 'held: 1 of 5 '
	run --separate-stderr g2t-pack -s "$KEY" --spool c --quality 1 --min-batch 2 "$F/t0.w"
	expect_status 75
	expect_stderr 'held: 1 of 2 '
	# all three sets in one input reach W_t 3 at once
	run --separate-stderr g2t-pack -s "$KEY" --spool d --quality 0.4 -o out.pkt "$F/all.w"
	expect_status 0
	expect_no_stderr
	[ "$(packet_field out.pkt 56)" = 3 ]
	# q 1.0 before any send: W_t = 1, every input is packed at once
	run --separate-stderr g2t-pack -s "$KEY" --spool e -o out.pkt "$F/t0.w"
	expect_status 0
	[ "$(packet_field out.pkt 56)" = 1 ]
}

@test "sequence numbers start at 1 and go up by one per packet; state keeps next-seq" {
	local t # not i: bats' run changes i
	for t in 0 1 2; do
		run --separate-stderr g2t-pack -s "$KEY" --spool sp -o "p$t.pkt" "$F/t$t.w"
		expect_status 0
		expect_seqs "p$t.pkt" $((t + 1))
	done
	grep -qx 'next-seq 4' sp/state
	expect_spool_empty sp
	# the same weights again are a new packet, with a new number
	g2t-pack -s "$KEY" --spool sp "$F/t0.w" >p3.pkt
	expect_seqs p3.pkt 4
}

@test "--flush packs what is held now, below W_t" {
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --quality 0.2 "$F/t0.w"
	expect_status 75
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --quality 0.2 --flush -o out.pkt "$F/t1.w"
	expect_status 0
	expect_no_stdout
	expect_no_stderr
	[ "$(packet_field out.pkt 56)" = 2 ]
	expect_spool_empty sp
	# --flush without input
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --quality 0.2 "$F/t2.w"
	expect_status 75
	g2t-pack -s "$KEY" --spool sp --quality 0.2 --flush </dev/null >out2.pkt
	[ "$(packet_field out2.pkt 56)" = 1 ]
	expect_seqs out2.pkt 2
}

@test "identical input twice is held once" {
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --quality 0.2 "$F/t0.w"
	expect_status 75
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --quality 0.2 <"$F/t0.w"
	expect_status 75
	expect_stderr 'held: 1 of 5 '
	expect_count 1 sp 'w-*.g2t'
	g2t-pack -s "$KEY" --spool sp --flush </dev/null >out.pkt
	[ "$(packet_field out.pkt 56)" = 1 ]
}

@test "concatenated weight streams are one input (cat t0.w t1.w | g2t-pack)" {
	run --separate-stderr bash -c 'cat "$1" "$2" | g2t-pack -s "$3" --spool sp --quality 0.2' _ \
		"$F/t0.w" "$F/t1.w" "$KEY"
	expect_status 75
	expect_stderr 'held: 2 of 5 '
}

@test "a second g2t-pack on a locked spool is refused (exit 3), the spool unchanged" {
	mkdir sp
	exec 9>sp/lock
	flock -n 9
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --quality 0.5 "$F/t0.w"
	exec 9>&-
	expect_error g2t-pack 3 'sp: '
	expect_stderr 'in use by another g2t-pack or g2t-device'
	expect_dir_contents sp lock
	# once the lock is free the same input is taken
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --quality 0.5 "$F/t0.w"
	expect_status 75
	expect_count 1 sp 'w-*.g2t'
}

@test "the lock is refused while another process holds it" {
	mkdir sp
	# one process (a sleep) holding the lock; killing it frees the lock
	(exec 9>sp/lock && flock 9 && exec sleep 5) 3>&- &
	local pid=$! i
	# wait until the lock is taken
	for ((i = 0; i < 100; i++)); do
		flock -n sp/lock true || break
		sleep 0.02
	done
	run --separate-stderr g2t-pack -s "$KEY" --spool sp "$F/t0.w"
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || true
	expect_error g2t-pack 3 'sp: '
	expect_stderr 'in use by another g2t-pack'
	expect_count 0 sp 'w-*'
}

# --- bad input ------------------------------------------------------------

# pack_rejects FILE PLACE: g2t-pack refuses FILE given on stdin with exit 3 and
# one line naming stdin then PLACE; nothing reaches the spool.
pack_rejects() {
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --quality 0.5 <"$1"
	expect_status 3
	expect_no_stdout
	expect_count 0 sp 'w-*'
	expect_count 0 sp '*.g2t.*'
	expect_count 0 sp 'p-*'
	expect_error g2t-pack 3 "stdin: $2"
}

@test "bad input: truncated weights on stdin -> exit 3 naming stdin and the byte, nothing held" {
	head -c 300 "$F/all.w" >trunc.w
	pack_rejects trunc.w 'byte [0-9]+: '
}

@test "bad input: a corrupted WEIGHTS record on stdin -> exit 3 naming stdin and the byte" {
	cp "$F/t0.w" bad.w
	flip_byte bad.w $(($(stat -c %s bad.w) - 30))
	pack_rejects bad.w 'byte [0-9]+: '
}

@test "bad input: WEIGHTS without their SCHEMA, a task file, a CSV, nothing -> exit 3" {
	# drop the SCHEMA record: stream header, then the records after the first
	local end
	end=$(first_record_end "$F/t0.w")
	{ head -c 8 "$F/t0.w"; tail -c +$((end + 1)) "$F/t0.w"; } >noschema.w
	pack_rejects noschema.w '(byte [0-9]+: )?'
	expect_stderr 'SCHEMA'
	pack_rejects "$F/tasks/task-00000.g2t" '(byte [0-9]+: )?'
	expect_stderr 'WEIGHTS'
	zcat "$DATA/iris.train.csv.gz" >iris.csv
	pack_rejects iris.csv 'byte 0: '
	: >empty
	pack_rejects empty ''
	expect_stderr 'empty'
}

@test "bad input is rejected without disturbing what the spool already holds" {
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --quality 0.2 "$F/t0.w"
	expect_status 75
	ls -A sp >before
	head -c 300 "$F/t1.w" >trunc.w
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --quality 0.2 --flush trunc.w
	expect_status 3
	ls -A sp >after
	expect_same before after
}

# --- precision ------------------------------------------------------------

@test "precision: float32 is lossless, 16 and 8 bits are smaller, 8-bit digits accuracy >= 0.95" {
	local p size32 size16 size8
	for p in 32 16 8; do
		run --separate-stderr g2t-pack -s "$KEY" --spool "sp$p" --precision "$p" --flush \
			-o "d$p.pkt" "$F/digits.w"
		expect_status 0
		expect_no_stderr
		run --separate-stderr g2t-merge --trust "$F/dev.pub" -o "d$p.model" "d$p.pkt"
		expect_status 0
		run --separate-stderr g2t-predict --eval "d$p.model" "$DATA/digits.test.csv.gz"
		expect_status 0
		expect_accuracy_ge 0.95
	done
	expect_same d32.model "$F/digits.model"
	size32=$(stat -c %s d32.pkt) size16=$(stat -c %s d16.pkt) size8=$(stat -c %s d8.pkt)
	[ "$size16" -lt "$size32" ] || { echo "16-bit $size16 >= 32-bit $size32"; false; }
	[ "$size8" -lt "$size16" ] || { echo "8-bit $size8 >= 16-bit $size16"; false; }
	# and a float32 packet is smaller than the raw weights
	[ "$size32" -lt "$(stat -c %s "$F/digits.w")" ]
}

@test "precision: -P 16 refuses a weight float16 would make infinite (exit 2), keeps it held; -P 32 sends it" {
	# Pegasos with a large C: lambda tiny, its first steps make weights past 65520
	g2t-split --algo pegasos --cost 100000 "$DATA/iris.train.csv.gz" | g2t-train >big.w
	run --separate-stderr g2t-pack -s "$KEY" --spool sp -P 16 --flush -o p16.pkt big.w
	expect_status 2
	expect_stderr "is beyond float16 and would be sent infinite"
	[ ! -s p16.pkt ]
	[ "$(ls sp/w-*.g2t | wc -l)" -eq 1 ]
	run --separate-stderr g2t-pack -s "$KEY" --spool sp -P 32 --flush -o p32.pkt
	expect_status 0
	g2t-merge big.w >unsigned.model
	run --separate-stderr g2t-merge --trust "$F/dev.pub" -o p32.model p32.pkt
	expect_status 0
	expect_same p32.model unsigned.model
}

@test "precision: any other value is a usage error" {
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --precision 12 "$F/t0.w"
	expect_status 2
	[ ! -e sp ]
}

# --- g2t-merge --trust ----------------------------------------------------

# three packets of the same device, one task each: p1.pkt p2.pkt p3.pkt
make_task_packets() {
	local i
	for i in 0 1 2; do
		g2t-pack -s "$KEY" --spool psp -o "p$((i + 1)).pkt" "$F/t$i.w" || return 1
	done
}

# merge_refuses FILE REASON [MERGE ARGS...]: g2t-merge with these arguments
# exits 5, lists FILE as refused for REASON and writes the pipeline's model.
merge_refuses() {
	local file=$1 why=$2 nl=$'\n'
	shift 2
	rm -f m
	run --separate-stderr g2t-merge -o m "$@"
	expect_status 5
	expect_no_stdout
	expect_stderr "(^|$nl)g2t-merge: ${file//./\\.}: byte [0-9]+: refused: [^$nl]*$why"
	expect_same m "$F/pipe.model"
}

@test "merge --trust: packets of one device merge to the unsigned pipeline's model" {
	make_task_packets
	expect_seqs p1.pkt 1
	expect_seqs p3.pkt 3
	run --separate-stderr g2t-merge --trust "$F/dev.pub" p1.pkt p2.pkt p3.pkt
	expect_status 0
	expect_no_stderr
	printf '%s' "$output" >m0
	g2t-merge --trust "$F/dev.pub" -o m p3.pkt p1.pkt p2.pkt
	expect_same m "$F/pipe.model"
	# a directory of keys: its *.pub files
	mkdir keys
	cp "$F/dev.pub" "$F/other.pub" keys/
	cp "$F/dev.key" keys/not-a-pub.key
	g2t-merge --trust keys -o m2 p1.pkt p2.pkt p3.pkt
	expect_same m2 "$F/pipe.model"
	# several packets in one stream, and on stdin
	cat p1.pkt p2.pkt p3.pkt | g2t-merge --trust "$F/dev.pub" >m3
	expect_same m3 "$F/pipe.model"
}

@test "merge: without --trust every packet is refused; raw weights still merge (exit 5)" {
	make_task_packets
	run --separate-stderr g2t-merge -o m p1.pkt "$F/all.w" p2.pkt
	expect_status 5
	expect_stderr "^g2t-merge: p1\.pkt: byte 8: refused: .*--trust"
	expect_stderr "g2t-merge: p2\.pkt: byte 8: refused: .*--trust"
	expect_same m "$F/pipe.model"
	# packets alone: nothing to merge
	run --separate-stderr g2t-merge -o m4 p1.pkt p2.pkt p3.pkt
	expect_status 3
	expect_no_stdout
	expect_stderr 'refused'
	expect_stderr 'no WEIGHTS records left: every input that held some was refused'
	[ ! -e m4 ]
}

@test "merge --trust: an unknown key is refused, the rest merge (exit 5)" {
	make_task_packets
	g2t-pack -s "$F/other.key" --spool osp -o other.pkt "$F/all.w"
	merge_refuses other.pkt 'key [0-9a-f]{16} is not trusted' \
		--trust "$F/dev.pub" p1.pkt other.pkt p2.pkt p3.pkt
	# trusted, the other device's packet alone makes the model
	g2t-merge --trust "$F/other.pub" -o m5 other.pkt
	expect_same m5 "$F/pipe.model"
}

@test "merge --trust: a bad signature is refused, the rest merge (exit 5); pairs missing -> exit 4" {
	make_task_packets
	cp p2.pkt bad.pkt
	local len
	len=$(u32_at bad.pkt 12)
	flip_byte bad.pkt $((16 + len - 10)) # inside the signature
	fix_record_crc bad.pkt 8
	merge_refuses bad.pkt 'signature' --trust "$F/dev.pub" bad.pkt p1.pkt p2.pkt p3.pkt
	# without the good copy the pair is missing: nothing written
	run --separate-stderr g2t-merge --trust "$F/dev.pub" p1.pkt bad.pkt p3.pkt
	expect_status 4
	expect_no_stdout
	expect_stderr 'bad\.pkt: byte 8: refused: .*signature'
	expect_stderr 'missing'
	run --separate-stderr g2t-merge --trust "$F/dev.pub" --allow-partial -o part p1.pkt bad.pkt p3.pkt
	expect_status 5
	[ -s part ]
}

@test "merge --trust: a corrupt body (CRC fixed up) is refused, the rest merge (exit 5)" {
	make_task_packets
	cp p2.pkt body.pkt
	local len
	len=$(u32_at body.pkt 12)
	flip_byte body.pkt $((16 + 68 + (len - 68 - 64) / 2)) # middle of the deflated body
	fix_record_crc body.pkt 8
	merge_refuses body.pkt '(signature|corrupt|inflate)' --trust "$F/dev.pub" body.pkt p1.pkt p2.pkt p3.pkt
	# a changed header field (the sequence number) is caught by the signature too
	cp p2.pkt seq.pkt
	put_u32 seq.pkt 52 7
	fix_record_crc seq.pkt 8
	merge_refuses seq.pkt 'signature' --trust "$F/dev.pub" seq.pkt p1.pkt p2.pkt p3.pkt
}

@test "merge --trust: a truncated packet body (record length and CRC fixed up) is refused (exit 5)" {
	make_task_packets
	local len
	len=$(u32_at p2.pkt 12)
	{ head -c 16 p2.pkt; tail -c +17 p2.pkt | head -c $((len - 100)); printf '\0\0\0\0'; } >short.pkt
	put_u32 short.pkt 12 $((len - 100))
	fix_record_crc short.pkt 8
	merge_refuses short.pkt '' --trust "$F/dev.pub" short.pkt p1.pkt p2.pkt p3.pkt
}

@test "merge --trust: a damaged record (bad CRC, truncated file) is a hard error (exit 3)" {
	make_task_packets
	cp p2.pkt crc.pkt
	flip_byte crc.pkt 200
	run --separate-stderr g2t-merge --trust "$F/dev.pub" p1.pkt crc.pkt p3.pkt
	expect_error g2t-merge 3 'crc\.pkt: byte [0-9]+: '
	head -c -5 p2.pkt >cut.pkt
	run --separate-stderr g2t-merge --trust "$F/dev.pub" p1.pkt cut.pkt p3.pkt
	expect_error g2t-merge 3 'cut\.pkt: byte [0-9]+: '
}

@test "merge --trust: a replayed packet (same key and sequence) is refused (exit 5)" {
	make_task_packets
	cp p1.pkt again.pkt
	merge_refuses again.pkt 'sequence 1 .*seen before' --trust "$F/dev.pub" p1.pkt p2.pkt p3.pkt again.pkt
	# the same file twice
	run --separate-stderr g2t-merge --trust "$F/dev.pub" -o m p1.pkt p2.pkt p3.pkt p2.pkt
	expect_status 5
	expect_stderr 'p2\.pkt: byte 8: refused: .*replay'
	expect_same m "$F/pipe.model"
}

@test "merge --trust: raw weights are refused unless --allow-unsigned" {
	make_task_packets
	cp "$F/all.w" "$F/t2.w" .
	merge_refuses all.w 'unsigned' --trust "$F/dev.pub" p1.pkt p2.pkt p3.pkt all.w
	run --separate-stderr g2t-merge --trust "$F/dev.pub" p1.pkt p2.pkt t2.w
	expect_status 4
	expect_no_stdout
	expect_stderr 't2\.w: byte [0-9]+: refused: unsigned'
	run --separate-stderr g2t-merge --trust "$F/dev.pub" --allow-unsigned -o m p1.pkt p2.pkt t2.w
	expect_status 0
	expect_no_stderr
	expect_same m "$F/pipe.model"
}

@test "merge --trust: a missing or bad key file is an error" {
	run --separate-stderr g2t-merge --trust nokeys.pub "$F/all.w"
	[ "$status" -ne 0 ]
	expect_no_stdout
	expect_stderr 'nokeys\.pub'
	echo junk >junk.pub
	run --separate-stderr g2t-merge --trust junk.pub "$F/all.w"
	expect_error g2t-merge 3 'junk\.pub: '
}

# --- sending --------------------------------------------------------------

@test "send: acknowledged -> packet removed, the receiver holds it, it merges; link figures saved" {
	start_receiver rx --mode ack
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --send "$RECEIVER_URL" "$F/all.w"
	expect_status 0
	expect_no_stdout
	expect_no_stderr
	expect_spool_empty sp
	expect_lines 1 "$(cat rx/log)" 'receiver log'
	grep -Eq '^POST /v1/results 200 [0-9]+$' rx/log
	[ -s rx/1.pkt ]
	expect_seqs rx/1.pkt 1
	g2t-merge --trust "$F/dev.pub" -o m rx/1.pkt
	expect_same m "$F/pipe.model"
	grep -qx 'next-seq 2' sp/state
	grep -qx 'sends 1' sp/state
	grep -Eq '^throughput [0-9.]*[1-9]' sp/state
	grep -qx 'failure 0.0000' sp/state
	# the URL may end in a slash
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --quality 1 --send "$RECEIVER_URL/" "$F/t0.w"
	expect_status 0
	[ -s rx/2.pkt ]
	expect_seqs rx/2.pkt 2
}

@test "send: 503 twice then ack -> delivered after retries (3 requests)" {
	start_receiver rx --mode fail --fail-count 2
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --retry-max 10 --send "$RECEIVER_URL" "$F/all.w"
	expect_status 0
	expect_no_stderr
	expect_spool_empty sp
	[ "$(awk '{ print $3 }' rx/log | tr '\n' ' ')" = "503 503 200 " ]
	expect_count 1 rx '*.pkt'
	g2t-merge --trust "$F/dev.pub" -o m rx/1.pkt
	expect_same m "$F/pipe.model"
}

@test "send: refused (403) -> exit 3, packet set aside; put back, it goes with the same sequence" {
	start_receiver rx --mode refuse
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --send "$RECEIVER_URL" "$F/all.w"
	expect_status 3
	expect_no_stdout
	save_run
	local p
	p=$(echo sp/p-*.refused) # set aside so that it blocks no later packet
	[ -f "$p" ]
	expect_count 0 sp 'p-*.pkt'
	packet_record "$p" >kept
	expect_seqs kept 1
	expect_count 0 sp 'w-*'
	expect_count 0 rx '*.pkt'
	stop_receiver

	mv "$p" "${p%.refused}.pkt" # the operator puts it back in line
	start_receiver rx2 --mode ack
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --send "$RECEIVER_URL" </dev/null
	expect_status 0
	expect_no_stderr
	expect_spool_empty sp
	expect_seqs rx2/1.pkt 1
	expect_same rx2/1.pkt kept # the very packet: same sequence, same signature
	grep -qx 'next-seq 2' sp/state
	expect_count 1 rx2 '*.pkt'
	# the refusal: one line naming the server and the status
	restore_run
	expect_error g2t-pack 3 "${RECEIVER_URL%:*}:[0-9]+: "
	expect_stderr '403'
}

@test "send: 2xx without the packet's digest is no ack -> packet set aside (exit 3)" {
	start_receiver rx --mode wrong-digest
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --send "$RECEIVER_URL" "$F/all.w"
	expect_error g2t-pack 3 "${RECEIVER_URL//./\\.}: "
	expect_stderr 'digest'
	expect_count 1 sp 'p-*.refused'
	expect_count 0 sp 'w-*'
}

@test "send: busy (429 Retry-After 2) with --retry-max 1 -> exit 75, packet kept, message names 429" {
	start_receiver rx --mode busy
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --retry-max 1 --send "$RECEIVER_URL" "$F/all.w"
	expect_status 75
	expect_no_stdout
	pending_packet sp >/dev/null
	grep -q ' 429 ' rx/log
	expect_error g2t-pack 75 "${RECEIVER_URL//./\\.}: "
	expect_stderr '429'
}

@test "send: unreachable server with --retry-max 1 -> exit 75, packet kept; measured q then raises W_t" {
	closed_url rx
	SECONDS=0
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --retry-max 1 --send "$RECEIVER_URL" "$F/all.w"
	expect_status 75
	[ "$SECONDS" -le 5 ]
	pending_packet sp >/dev/null
	expect_count 0 sp 'w-*'
	grep -qx 'failure 1.0000' sp/state
	expect_error g2t-pack 75 "${RECEIVER_URL//./\\.}: "
	expect_stderr '[Cc]onnect'
}

@test "send failures are measured: after a failed send q drops and W_t rises to --max-batch" {
	closed_url rx
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --retry-max 0 --send "$RECEIVER_URL" "$F/t0.w"
	expect_status 75
	# write the waiting packet out instead
	g2t-pack -s "$KEY" --spool sp --flush -o out.pkt </dev/null
	expect_seqs out.pkt 1
	expect_spool_empty sp
	run --separate-stderr g2t-pack -s "$KEY" --spool sp "$F/t1.w"
	expect_status 75
	expect_stderr 'held: 1 of 64 weight sets \(q = 0\.01\)'
	# --quality overrides the measurement
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --quality 1 -o out2.pkt "$F/t2.w"
	expect_status 0
	[ "$(packet_field out2.pkt 56)" = 2 ]
}

@test "send: kill -9 during a send -> packet kept, delivered later with the same sequence, none twice" {
	start_receiver slow --mode slow --delay-ms 5000
	g2t-pack -s "$KEY" --spool sp --send "$RECEIVER_URL" "$F/t0.w" 3>&- &
	local pid=$!
	sleep 1
	kill -9 "$pid"
	wait "$pid" || true
	stop_receiver # it acks nothing once stopping
	expect_count 0 slow '*.pkt'
	local p
	p=$(pending_packet sp)
	packet_record "$p" >kept
	expect_seqs kept 1

	start_receiver rx --mode ack
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --quality 1 --send "$RECEIVER_URL" "$F/t1.w"
	expect_status 0
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --quality 1 --send "$RECEIVER_URL" "$F/t2.w"
	expect_status 0
	expect_spool_empty sp
	expect_same rx/1.pkt kept
	cat rx/1.pkt rx/2.pkt rx/3.pkt >all.pkt
	[ "$(packet_seqs all.pkt | tr '\n' ' ')" = "1 2 3 " ]
	# 3 weight sets trained, 3 delivered, each once
	[ "$(packet_field all.pkt 56 | awk '{ s += $1 } END { print s }')" = 3 ]
	expect_count 3 rx '*.pkt'
	run --separate-stderr g2t-merge --trust "$F/dev.pub" -o m rx/1.pkt rx/2.pkt rx/3.pkt
	expect_status 0
	expect_no_stderr
	expect_same m "$F/pipe.model"
}

@test "output: an unwritable -o -> exit 1, packet kept and written by the next run" {
	run --separate-stderr g2t-pack -s "$KEY" --spool sp -o /dev/null/x.pkt "$F/t0.w"
	expect_status 1
	expect_no_stdout
	expect_stderr '/dev/null/x\.pkt'
	pending_packet sp >/dev/null
	g2t-pack -s "$KEY" --spool sp --flush -o out.pkt </dev/null
	expect_seqs out.pkt 1
	expect_spool_empty sp
}

# --- crashes, unwritable and full spools ----------------------------------

@test "crash: temporary files left in the spool are removed on the next run" {
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --quality 0.2 "$F/t0.w"
	expect_status 75
	local e=(sp/w-*.g2t)
	head -c 100 "${e[0]}" >"${e[0]%.g2t}1.g2t.Ab12Cd" # a torn entry of another input
	head -c 50 "$F/t1.w" >sp/p-00000000000000000001.pkt.Xy34Zw
	echo 'g2t-spool 1' >sp/state.Qw56Er
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --quality 0.2 "$F/t1.w"
	expect_status 75
	expect_stderr 'held: 2 of 5 '
	expect_count 0 sp '*.g2t.*'
	expect_count 0 sp '*.pkt.*'
	expect_count 0 sp 'state.*'
	expect_count 2 sp 'w-*.g2t'
	g2t-pack -s "$KEY" --spool sp --flush -o out.pkt </dev/null
	expect_seqs out.pkt 1
	[ "$(packet_field out.pkt 56)" = 2 ]
}

@test "crash: a packet left with the entries it holds -> the entries go, never packed twice" {
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --quality 0.5 "$F/t0.w"
	expect_status 75
	mkdir saved
	cp -p sp/w-*.g2t saved/
	# pack t0 + t1 into packet 1, kept because the server is away
	closed_url rx
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --quality 0.5 --retry-max 0 \
		--send "$RECEIVER_URL" "$F/t1.w"
	expect_status 75
	pending_packet sp >/dev/null
	expect_count 0 sp 'w-*'
	# as if the crash came before the entry was unlinked
	cp -p saved/w-*.g2t sp/
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --quality 0.5 --flush -o out.pkt </dev/null
	expect_status 0
	expect_spool_empty sp
	expect_seqs out.pkt 1
	[ "$(packet_field out.pkt 56)" = 2 ]
	grep -qx 'next-seq 2' sp/state
}

@test "crash: a state file older than the packets -> sequence numbers are not reused" {
	closed_url rx
	run --separate-stderr g2t-pack -s "$KEY" --spool sp --retry-max 0 --send "$RECEIVER_URL" "$F/t0.w"
	expect_status 75
	pending_packet sp >/dev/null
	rm sp/state
	g2t-pack -s "$KEY" --spool sp -o out.pkt "$F/t1.w"
	expect_seqs out.pkt 1 2
}

@test "unwritable spool: a path under a file -> exit 1 with a message, nothing else" {
	run --separate-stderr g2t-pack -s "$KEY" --spool /dev/null/x "$F/t0.w"
	expect_error g2t-pack 1 '/dev/null/x: '
	expect_stderr 'Not a directory'
	touch afile
	run --separate-stderr g2t-pack -s "$KEY" --spool afile "$F/t0.w"
	expect_error g2t-pack 1 'afile'
	expect_stderr 'Not a directory'
}

@test "unwritable spool: a read-only spool directory -> exit 1 with a message" {
	mkdir ro
	if [ "$(id -u)" = 0 ]; then
		# root writes through chmod: use a read-only mount
		mount -t tmpfs -o ro,size=64k tmpfs ro 2>/dev/null || skip "cannot mount a read-only tmpfs"
		MOUNTED=$T/work/ro
	else
		chmod 500 ro
	fi
	run --separate-stderr g2t-pack -s "$KEY" --spool ro "$F/t0.w"
	expect_error g2t-pack 1 'ro'
	expect_stderr '(Read-only file system|Permission denied)'
	run --separate-stderr g2t-pack -s "$KEY" --spool ro/sp "$F/t0.w"
	expect_error g2t-pack 1 'ro/sp'
	[ "$(id -u)" = 0 ] || chmod 700 ro
}

@test "full disk: the entry cannot be stored -> exit 1 saying so, no partial file; accepted once there is room" {
	[ "$(id -u)" = 0 ] || skip "needs root to mount a small tmpfs"
	mkdir small
	mount -t tmpfs -o size=64k tmpfs small 2>/dev/null || skip "cannot mount a tmpfs"
	MOUNTED=$T/work/small
	mkdir small/sp
	dd if=/dev/zero of=small/fill bs=1k count=100 status=none 2>/dev/null || true
	run --separate-stderr g2t-pack -s "$KEY" --spool small/sp --quality 0.2 "$F/all.w"
	expect_status 1
	expect_no_stdout
	save_run
	expect_dir_contents small/sp lock
	rm small/fill
	run --separate-stderr g2t-pack -s "$KEY" --spool small/sp --quality 0.2 "$F/all.w"
	expect_status 75
	expect_stderr 'held: 3 of 5 '
	expect_count 1 small/sp 'w-*.g2t'
	# the failure said why, once, naming the spool
	restore_run
	expect_error g2t-pack 1 'small/sp'
	expect_stderr 'No space left on device'
}

@test "full disk while packing: exit 1, the held sets stay, packed once there is room" {
	[ "$(id -u)" = 0 ] || skip "needs root to mount a small tmpfs"
	mkdir small
	mount -t tmpfs -o size=64k tmpfs small 2>/dev/null || skip "cannot mount a tmpfs"
	MOUNTED=$T/work/small
	run --separate-stderr g2t-pack -s "$KEY" --spool small/sp --quality 0.2 "$F/all.w"
	expect_status 75
	ls -A small/sp >before
	dd if=/dev/zero of=small/fill bs=1k count=100 status=none 2>/dev/null || true
	run --separate-stderr g2t-pack -s "$KEY" --spool small/sp --flush -o out.pkt </dev/null
	expect_status 1
	expect_no_stdout
	save_run
	[ ! -e out.pkt ]
	expect_count 0 small/sp 'p-*'
	expect_count 1 small/sp 'w-*.g2t'
	expect_count 0 small/sp '*.*.*'
	rm small/fill
	run --separate-stderr g2t-pack -s "$KEY" --spool small/sp --flush -o out.pkt </dev/null
	expect_status 0
	expect_spool_empty small/sp
	[ "$(packet_field out.pkt 56)" = 3 ]
	g2t-merge --trust "$F/dev.pub" -o m out.pkt
	expect_same m "$F/pipe.model"
	restore_run
	expect_error g2t-pack 1 'small/sp'
	expect_stderr 'No space left on device'
}

@test "key: a public key given as -s -> exit 3 'this is a public key', not a mode complaint" {
	cp "$F/dev.pub" dev.pub
	chmod 644 dev.pub
	run --separate-stderr g2t-pack -s dev.pub --spool spool -o out.pkt "$F/all.w"
	expect_error g2t-pack 3 'dev\.pub: '
	expect_stderr 'dev\.pub: this is a public key, not a secret key$'
	[ ! -e out.pkt ]
}

@test "key: a secret key whose public half does not match its seed -> exit 3, no packet" {
	local octal
	# flip a bit of the stored public half (bytes 32..63 of the 64)
	octal=$(awk '{ print $2 }' "$F/dev.key" | base64 -d |
		od -An -v -tu1 | tr -s ' ' '\n' | sed '/^$/d' |
		awk 'NR == 41 { $1 = $1 % 2 ? $1 - 1 : $1 + 1 } { printf "\\%03o", $1 }')
	printf 'g2t-secret-key %s\n' "$(printf "$octal" | base64 -w0)" >bad.key
	chmod 600 bad.key
	run --separate-stderr g2t-pack -s bad.key --spool spool -o out.pkt "$F/all.w"
	expect_error g2t-pack 3 'bad\.key: '
	expect_stderr 'secret key is inconsistent: its public half does not match its seed'
	[ ! -e out.pkt ]
	# the untouched key still packs
	run --separate-stderr g2t-pack -s "$F/dev.key" --spool spool2 --flush -o out.pkt "$F/all.w"
	expect_status 0
	[ -s out.pkt ]
}
