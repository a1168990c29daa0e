#!/usr/bin/env bats
# "Bad input gets a clear error and loses nothing" (issue 2): every bad input
# gives a non-zero exit (3 bad data, 2 usage, 1 I/O), one line on stderr
# naming the program and the file (with :LINE: for text, "byte N" for G2T
# streams), nothing on stdout, and with -o no output or temporary file.

bats_require_minimum_version 1.5.0
load helpers

setup_file() {
	require_programs
	local d=$BATS_FILE_TMPDIR ds
	for ds in iris digits; do
		g2t-split "$DATA/$ds.train.csv.gz" >"$d/$ds.split"
		g2t-train "$d/$ds.split" >"$d/$ds.w"
		g2t-merge "$d/$ds.w" >"$d/$ds.model"
	done
}

setup() {
	F=$BATS_FILE_TMPDIR
	T=$BATS_TEST_TMPDIR
	# Relative names in messages; outputs land here (not in $T itself, where
	# bats keeps its own files).
	mkdir -p "$T/work" && cd "$T/work" || return 1
	# A valid small CSV that the bad ones are variations of.
	printf 'a,b,label\n1,2,x\n3,4,x\n5,6,y\n7,8,y\n' >ok.csv
}

# split_fails FILE AFTER [OPTIONS...]: g2t-split rejects FILE with exit 3 and
# one line "g2t-split: FILE" then AFTER, a regex (':4: ' for line 4), both
# without and with -o DIR.
split_fails() {
	local file=$1 after=$2 place
	shift 2
	place="${file//./\\.}$after"
	run --separate-stderr g2t-split "$@" "$file"
	expect_error g2t-split 3 "$place"
	run --separate-stderr g2t-split "$@" -o out "$file"
	expect_error g2t-split 3 "$place"
	# No task file, no temporary file: out/ is absent or empty.
	if [ -e out ]; then expect_dir_contents out; fi
}

# --- CSV and svmlight input to g2t-split ----------------------------------

@test "split: the valid base CSV is accepted (so the failures below are real)" {
	run --separate-stderr g2t-split ok.csv
	expect_status 0
	expect_no_stderr
}

@test "split: empty file -> exit 3 naming the file" {
	: >empty.csv
	split_fails empty.csv ': '
	expect_stderr 'empty'
}

@test "split: header only -> exit 3 naming the file" {
	echo 'a,b,label' >hdr.csv
	split_fails hdr.csv '(:[0-9]+)?: '
}

@test "split: ragged row (too few fields) -> exit 3 naming line 4" {
	printf 'a,b,label\n1,2,x\n3,4,x\n5,y\n7,8,y\n' >ragged.csv
	split_fails ragged.csv ':4: '
	expect_stderr 'expected 3 fields, found 2'
}

@test "split: ragged row (too many fields) -> exit 3 naming line 5" {
	printf 'a,b,label\n1,2,x\n3,4,x\n5,6,y\n7,8,9,y\n' >ragged.csv
	split_fails ragged.csv ':5: '
	expect_stderr '3.*4'
}

@test "split: ragged row with CRLF line ends -> exit 3 naming line 4" {
	printf 'a,b,label\r\n1,2,x\r\n3,4,x\r\n5,y\r\n7,8,y\r\n' >crlf.csv
	split_fails crlf.csv ':4: '
}

@test "split: non-numeric feature -> exit 3 naming line 3 and the column" {
	printf 'a,b,label\n1,2,x\n3,abc,x\n5,6,y\n7,8,y\n' >nonnum.csv
	split_fails nonnum.csv ':3: '
	expect_stderr "'b'"
	expect_stderr 'abc'
}

@test "split: empty feature field -> exit 3 naming line 3" {
	printf 'a,b,label\n1,2,x\n3,,x\n5,6,y\n7,8,y\n' >emptyfield.csv
	split_fails emptyfield.csv ':3: '
}

@test "split: NaN -> exit 3 naming line 4" {
	printf 'a,b,label\n1,2,x\n3,4,x\nNaN,6,y\n7,8,y\n' >nan.csv
	split_fails nan.csv ':4: '
	printf 'a,b,label\n1,2,x\n3,4,x\n5,6,y\n7,nan,y\n' >nan2.csv
	split_fails nan2.csv ':5: '
}

@test "split: inf, -Infinity and overflowing 1e999 -> exit 3 naming the line" {
	printf 'a,b,label\n1,2,x\n3,inf,x\n5,6,y\n7,8,y\n' >inf.csv
	split_fails inf.csv ':3: '
	printf 'a,b,label\n1,2,x\n3,4,x\n-Infinity,6,y\n7,8,y\n' >inf2.csv
	split_fails inf2.csv ':4: '
	printf 'a,b,label\n1e999,2,x\n3,4,x\n5,6,y\n7,8,y\n' >inf3.csv
	split_fails inf3.csv ':2: '
}

@test "split: one class only -> exit 3" {
	printf 'a,b,label\n1,2,x\n3,4,x\n5,6,x\n' >oneclass.csv
	split_fails oneclass.csv ': '
	expect_stderr 'class'
}

@test "split: --label nope (no such column) -> exit 3" {
	split_fails ok.csv '(:1)?: ' --label nope
	expect_stderr 'nope'
}

@test "split: --label 99 (no such column number) -> exit 3" {
	split_fails ok.csv '(:1)?: ' --label 99
	expect_stderr '99'
}

@test "split: duplicate header names -> exit 3 naming line 1 and the name" {
	printf 'a,a,label\n1,2,x\n3,4,x\n5,6,y\n7,8,y\n' >dup.csv
	split_fails dup.csv ':1: '
	expect_stderr "'a'"
}

@test "split: unterminated quoted field -> exit 3 naming the line it starts on" {
	printf 'a,b,label\n1,2,x\n3,4,x\n5,"6,y\n7,8,y\n' >quote.csv
	split_fails quote.csv ':4: '
}

@test "split: text after a closing quote -> exit 3 naming the line" {
	printf 'a,b,label\n1,2,x\n3,"4"5,x\n5,6,y\n7,8,y\n' >quote2.csv
	split_fails quote2.csv ':3: '
}

@test "split and predict: a NUL byte in a field -> exit 3 naming the line (the field was cut short unseen)" {
	printf 'a,b,label\n1,2\0999,x\n3,4,x\n5,6,y\n7,8,y\n' >nul.csv
	split_fails nul.csv ':2: '
	expect_stderr 'a NUL byte'
	printf 'a,b,label\n1,2,x\n3,4,x\0z\n5,6,y\n7,8,y\n' >nul.csv
	split_fails nul.csv ':3: '
	{ gzip -dc "$DATA/iris.test.csv.gz" | head -n 3; printf '1,2,3,4\0,0\n'; } >nul.csv
	run --separate-stderr g2t-predict -o pred "$F/iris.model" nul.csv
	expect_error g2t-predict 3 'nul\.csv:4: '
	[ ! -e pred ]
	expect_stderr 'a NUL byte'
}

@test "split: svmlight indices not increasing -> exit 3 naming the line" {
	printf '1 1:0.5 2:1\n1 1:0.6 2:1.1\n2 2:3 1:4\n2 1:4 2:3\n' >bad.svm
	split_fails bad.svm ':3: '
	printf '1 1:0.5 2:1\n1 1:0.6 2:1.1\n2 1:4 2:3\n2 0:4 2:3\n' >zero.svm
	split_fails zero.svm ':4: '
}

@test "split: svmlight non-numeric value -> exit 3 naming the line" {
	printf '1 1:0.5 2:1\n1 1:0.6 2:x\n2 1:3 2:4\n2 1:4 2:3\n' >bad.svm
	split_fails bad.svm ':2: '
}

@test "split: --classes with a class that has no rows -> exit 3" {
	split_fails ok.csv ': ' --classes x,nope
	expect_stderr 'nope'
}

@test "split: errors on stdin name 'stdin' and the line" {
	printf 'a,b,label\n1,2,x\n3,4,x\n5,y\n7,8,y\n' >ragged.csv
	run --separate-stderr g2t-split <ragged.csv
	expect_error g2t-split 3 'stdin:4: '
}

@test "split: gzip input errors still name the line" {
	printf 'a,b,label\n1,2,x\n3,4,x\n5,y\n7,8,y\n' | gzip >ragged.csv.gz
	split_fails ragged.csv.gz ':4: '
}

@test "split: missing input file -> exit 1 naming it; -o DIR not created" {
	run --separate-stderr g2t-split nonexistent.csv
	expect_error g2t-split 1 'nonexistent\.csv: '
	run --separate-stderr g2t-split -o out nonexistent.csv
	expect_error g2t-split 1 'nonexistent\.csv: '
	[ ! -e out ]
}

# --- G2T streams into g2t-train and g2t-merge ------------------------------

# stream_fails PROG FILE [MIN_OFFSET MAX_OFFSET]: PROG rejects FILE with exit 3,
# "PROG: FILE: byte N: ...", N within [MIN, MAX] when given; with -o, no file.
stream_fails() {
	local prog=$1 file=$2 lo=${3-} hi=${4-} n
	run --separate-stderr "$prog" "$file"
	expect_error "$prog" 3 "${file//./\\.}: byte [0-9]+: "
	if [ -n "$lo" ]; then
		n=$(byte_offset)
		if [ "$n" -lt "$lo" ] || [ "$n" -gt "$hi" ]; then
			echo "byte offset $n is not within [$lo, $hi]"
			return 1
		fi
	fi
	mkdir -p o
	run --separate-stderr "$prog" -o o/out "$file"
	expect_status 3
	expect_dir_contents o
}

# Makes the bad streams of one kind from a good one: $1 good stream.
make_bad_streams() {
	local good=$1 size
	size=$(stat -c %s "$good")
	: >empty.g2t
	head -c 200 /dev/urandom >random.g2t
	printf 'this is not a g2t stream at all\n' >text.g2t
	cp "$good" version.g2t
	put_u32 version.g2t 4 99
	head -c $((size / 2)) "$good" >truncated.g2t
	head -c 12 "$good" >truncated-header.g2t
	# Length of the first record (the SCHEMA, at 8) past the end of the input.
	cp "$good" length.g2t
	put_u32 length.g2t 12 $((size + 100))
	# Length over the tools' limit (2^31 - 1).
	cp "$good" huge.g2t
	put_u32 huge.g2t 12 2147483647
}

@test "train: empty input -> exit 3 naming the file" {
	: >empty.g2t
	stream_fails g2t-train empty.g2t 0 0
	run --separate-stderr g2t-train <empty.g2t
	expect_error g2t-train 3 'stdin: byte 0: '
}

@test "train: random bytes (bad magic) -> exit 3, byte 0" {
	make_bad_streams "$F/iris.split"
	stream_fails g2t-train random.g2t 0 0
	stream_fails g2t-train text.g2t 0 0
}

@test "train: wrong version -> exit 3 naming the file" {
	make_bad_streams "$F/iris.split"
	stream_fails g2t-train version.g2t 0 8
	expect_stderr 'version'
}

@test "train: stream truncated in the middle (head -c) -> exit 3, byte offset" {
	make_bad_streams "$F/iris.split"
	stream_fails g2t-train truncated.g2t 8 "$(stat -c %s truncated.g2t)"
	stream_fails g2t-train truncated-header.g2t 8 12
}

@test "train: flipped byte in a SHARD payload (CRC) -> exit 3, offset in that record" {
	cp "$F/iris.split" crc.g2t
	# The second record is the first SHARD; flip a byte in its values.
	read -r off type len < <(records crc.g2t | sed -n 2p)
	[ "$type" -eq 2 ]
	flip_byte crc.g2t $((off + 8 + 40))
	stream_fails g2t-train crc.g2t "$off" $((off + 12 + len))
	expect_stderr 'checksum|CRC|crc'
}

@test "train: a sparse SHARD row holding NaN or a step of 0 (hashes intact) -> exit 3 naming its byte, class and row; the exact solver and SGD alike" {
	local algo off
	printf '1 1:0.5 3:2\n1 2:1 3:1\n2 1:3 2:0.5\n2 3:4\n' >t.svm
	for algo in dcd asgd; do
		g2t-split --algo "$algo" t.svm >t.g2t
		read -r off _ < <(records t.g2t | awk '$2 == 2' | head -n 1)
		"$TOOLS/craft" shard-sparse-nan <t.g2t >nan.g2t
		run --separate-stderr g2t-train -o w.g2t nan.g2t
		expect_status 3
		[ "$stderr" = "g2t-train: nan.g2t: byte $((off + 8 + 26)): task 0: SHARD of class '1', row 0: a value is not finite (NaN or infinity)" ]
		"$TOOLS/craft" shard-sparse-step <t.g2t >step.g2t
		run --separate-stderr g2t-train -o w.g2t step.g2t
		expect_status 3
		[ "$stderr" = "g2t-train: step.g2t: byte $((off + 8 + 25)): task 0: SHARD of class '1', row 0: malformed (g2t(5): sparse rows)" ]
		[ ! -e w.g2t ]
	done
}

@test "train --algo asgd: an input file cut or overwritten while training (rows streamed from it) -> exit 3 naming the file and byte, no -o output" {
	# 1-row blocks of 20000 features: every epoch reads the shards again
	awk 'BEGIN { srand(1); for (i = 0; i < 4000; i++) { s = i % 2; k = 0
		for (j = 1 + int(rand() * 600); j <= 20000 && k < 30; j += 1 + int(rand() * 600)) {
			s = s " " j ":" (rand() + (j % 2 == i % 2 ? 0.5 : 0)); k++ }
		print s } }' >wide.svm
	g2t-split wide.svm >wide.g2t
	for how in cut overwrite; do
		cp wide.g2t t.g2t
		timeout 120 g2t-train --algo asgd --epochs 100000 -o w.g2t t.g2t 2>err &
		local pid=$!
		sleep 1
		if [ "$how" = cut ]; then
			truncate -s 300000 t.g2t
		else
			head -c 30000 /dev/zero | tr '\0' '\377' |
				dd of=t.g2t bs=1k seek=200 conv=notrunc status=none
		fi
		status=0
		wait "$pid" || status=$?
		stderr=$(cat err)
		expect_status 3
		expect_stderr "^g2t-train: t\.g2t: byte [0-9]+: task 0: SHARD of class '[01]'.*changed while training"
		expect_dir_contents . ok.csv wide.svm wide.g2t t.g2t err
	done
}

@test "train -j4: a bad sparse SHARD several tasks share -> every run names the file and byte, whichever task loaded it (a race once left 'task 0: bad input data')" {
	printf '1 1:0.5 3:2\n1 2:1 3:1\n2 1:3 2:0.5\n2 3:4\n3 1:3 2:0.5\n3 3:4\n4 1:3 2:0.5\n4 3:4\n' >t.svm
	g2t-split t.svm >t.g2t
	"$TOOLS/craft" shard-sparse-nan <t.g2t >nan.g2t
	for i in $(seq 200); do
		g2t-train -j4 nan.g2t 2>>err >/dev/null && return 1
		[ $? = 3 ]
	done
	[ "$(wc -l <err)" = 200 ]
	! grep -Ev "^g2t-train: nan\.g2t: byte [0-9]+: task [0-9]+: SHARD of class '1', row 0: " err
}

@test "train: flipped byte in the last TASK record -> exit 3, no -o output" {
	cp "$F/iris.split" late.g2t
	read -r off type len < <(records late.g2t | tail -n 1)
	[ "$type" -eq 3 ]
	flip_byte late.g2t $((off + 8 + 50))
	stream_fails g2t-train late.g2t "$off" $((off + 12 + len))
}

@test "train: record length past the end of the input -> exit 3" {
	make_bad_streams "$F/iris.split"
	stream_fails g2t-train length.g2t 8 "$(stat -c %s length.g2t)"
	stream_fails g2t-train huge.g2t 8 16
}

@test "train and merge: every corrupt stream -> exit 3, nothing on stdout, no -o file" {
	make_bad_streams "$F/iris.split"
	cp "$F/iris.split" crc.g2t
	read -r off _ < <(records crc.g2t | tail -n 1)
	flip_byte crc.g2t $((off + 60))
	mkdir o
	for f in *.g2t; do
		run --separate-stderr g2t-train "$f"
		expect_status 3
		expect_no_stdout
		run --separate-stderr g2t-train -j2 -o o/w "$f"
		expect_status 3
		expect_dir_contents o
	done
	make_bad_streams "$F/iris.w"
	cp "$F/iris.w" crc.g2t
	read -r off _ < <(records crc.g2t | tail -n 1)
	flip_byte crc.g2t $((off + 60))
	for f in *.g2t; do
		run --separate-stderr g2t-merge "$f"
		expect_status 3
		expect_no_stdout
		run --separate-stderr g2t-merge -o o/m "$f"
		expect_status 3
		expect_dir_contents o
	done
}

@test "train: a model file -> exit 3 'no TASK records' naming the file" {
	run --separate-stderr g2t-train "$F/iris.model"
	expect_status 3
	expect_no_stdout
	[ "${#stderr_lines[@]}" -eq 1 ]
	expect_stderr 'no TASK'
	expect_stderr "^g2t-train: .*iris\.model"
}

@test "train: a weights stream -> exit 3 'no TASK records' naming the file" {
	run --separate-stderr g2t-train "$F/iris.w"
	expect_status 3
	expect_no_stdout
	expect_stderr 'no TASK'
	expect_stderr "^g2t-train: .*iris\.w"
}

@test "train: --task N not in the input -> exit 3" {
	run --separate-stderr g2t-train --task 99 -o o "$F/iris.split"
	expect_status 3
	expect_no_stdout
	expect_stderr '99'
	[ ! -e o ]
}

@test "train: missing input file -> exit 1 naming it" {
	run --separate-stderr g2t-train nonexistent.g2t
	expect_error g2t-train 1 'nonexistent\.g2t: '
}

@test "train: a bad file after a good one -> exit 3, no -o output" {
	make_bad_streams "$F/iris.split"
	run --separate-stderr g2t-train -o out "$F/iris.split" truncated.g2t
	expect_status 3
	expect_stderr 'truncated\.g2t'
	[ ! -e out ]
	expect_dir_contents . ok.csv empty.g2t random.g2t text.g2t version.g2t \
		truncated.g2t truncated-header.g2t length.g2t huge.g2t
}

@test "merge: empty input, bad magic, wrong version -> exit 3 naming the file" {
	make_bad_streams "$F/iris.w"
	stream_fails g2t-merge empty.g2t 0 0
	stream_fails g2t-merge random.g2t 0 0
	stream_fails g2t-merge version.g2t 0 8
	expect_stderr 'version'
}

@test "merge: truncated weights -> exit 3 with a byte offset" {
	make_bad_streams "$F/iris.w"
	stream_fails g2t-merge truncated.g2t 8 "$(stat -c %s truncated.g2t)"
	stream_fails g2t-merge length.g2t 8 "$(stat -c %s length.g2t)"
	stream_fails g2t-merge huge.g2t 8 16
}

@test "merge: flipped byte in a WEIGHTS payload (CRC) -> exit 3, offset in that record" {
	cp "$F/iris.w" crc.g2t
	read -r off type len < <(records crc.g2t | sed -n 3p)
	[ "$type" -eq 4 ]
	flip_byte crc.g2t $((off + 8 + 120))
	stream_fails g2t-merge crc.g2t "$off" $((off + 12 + len))
	expect_stderr 'checksum|CRC|crc'
}

@test "merge: a task stream -> exit 3 'no WEIGHTS' naming the file" {
	run --separate-stderr g2t-merge -o out "$F/iris.split"
	expect_status 3
	expect_no_stdout
	[ "${#stderr_lines[@]}" -eq 1 ]
	expect_stderr 'no WEIGHTS'
	expect_stderr "^g2t-merge: .*iris\.split"
	[ ! -e out ]
}

@test "merge: a model file -> exit 3 naming the file" {
	run --separate-stderr g2t-merge -o out "$F/iris.model"
	expect_status 3
	expect_no_stdout
	expect_stderr "^g2t-merge: .*iris\.model"
	[ ! -e out ]
}

@test "merge: letter weights with the digits schema -> exit 3 mentioning the schema" {
	g2t-split -c A,B,C "$DATA/letter.train.csv.gz" | g2t-train >letter.w
	# Stream header and SCHEMA of digits, then the WEIGHTS of letter.
	{
		head -c "$(first_record_end "$F/digits.split")" "$F/digits.split"
		tail -c +$(($(first_record_end letter.w) + 1)) letter.w
	} >mixed.w
	run --separate-stderr g2t-merge -o out mixed.w
	expect_error g2t-merge 3 'mixed\.w: (byte [0-9]+: )?'
	expect_stderr '[Ss][Cc][Hh][Ee][Mm][Aa]'
	[ ! -e out ]
}

@test "merge: weights with another schema of the same shape (iris test scaling) -> exit 3" {
	g2t-split "$DATA/iris.test.csv.gz" | g2t-train >other.w
	{
		head -c "$(first_record_end other.w)" other.w
		tail -c +$(($(first_record_end "$F/iris.w") + 1)) "$F/iris.w"
	} >mixed.w
	run --separate-stderr g2t-merge -o out mixed.w
	expect_error g2t-merge 3 'mixed\.w: (byte [0-9]+: )?'
	expect_stderr '[Ss][Cc][Hh][Ee][Mm][Aa]'
	[ ! -e out ]
}

@test "merge: weights of two data sets (iris + digits) -> exit 3 mentioning the schema" {
	run --separate-stderr g2t-merge -o out "$F/iris.w" "$F/digits.w"
	expect_error g2t-merge 3 '.*digits\.w: (byte [0-9]+: )?'
	expect_stderr '[Ss][Cc][Hh][Ee][Mm][Aa]'
	[ ! -e out ]
}

@test "merge: conflicting duplicates (same task, other --seed) -> exit 3 'two different weights'" {
	g2t-train --seed 5 "$F/iris.split" >seed5.w
	cat "$F/iris.w" seed5.w >conflict.w
	run --separate-stderr g2t-merge -o out conflict.w
	expect_error g2t-merge 3 'conflict\.w: (byte [0-9]+: )?'
	expect_stderr 'two different weights'
	[ ! -e out ]
	run --separate-stderr g2t-merge -o out "$F/iris.w" seed5.w
	expect_error g2t-merge 3 'seed5\.w: (byte [0-9]+: )?'
	expect_stderr 'two different weights'
	[ ! -e out ]
}

@test "merge: identical duplicates are fine (cat w w | merge)" {
	cat "$F/iris.w" "$F/iris.w" >twice.w
	run --separate-stderr g2t-merge -o out twice.w
	expect_status 0
	expect_no_stderr
	expect_same out "$F/iris.model"
}

@test "merge: missing pairs -> exit 4, no -o output" {
	g2t-train --task 0 "$F/iris.split" >t0.w
	mkdir o
	run --separate-stderr g2t-merge -o o/m t0.w
	expect_status 4
	expect_no_stdout
	expect_dir_contents o
}

@test "merge: missing input file -> exit 1 naming it" {
	run --separate-stderr g2t-merge nonexistent.w
	expect_error g2t-merge 1 'nonexistent\.w: '
}

@test "merge: a failure keeps an existing -o file as it was" {
	echo precious >out
	run --separate-stderr g2t-merge -o out "$F/iris.split"
	expect_status 3
	[ "$(cat out)" = precious ]
	expect_dir_contents . ok.csv out
}

# --- g2t-predict ----------------------------------------------------------

@test "predict: CSV missing a feature column -> exit 3 naming the column" {
	zcat "$DATA/iris.test.csv.gz" | cut -d, -f1,2,3,5 >missing.csv
	run --separate-stderr g2t-predict "$F/iris.model" missing.csv
	expect_error g2t-predict 3 'missing\.csv(:1)?: '
	expect_stderr 'petal_width_cm'
}

@test "predict --eval: CSV without the label column -> exit 3" {
	zcat "$DATA/iris.test.csv.gz" | cut -d, -f1-4 >nolabel.csv
	run --separate-stderr g2t-predict --eval "$F/iris.model" nolabel.csv
	expect_error g2t-predict 3 'nolabel\.csv(:1)?: '
	expect_stderr 'label'
}

@test "predict: non-numeric feature -> exit 3 naming the line; -o leaves nothing" {
	{
		zcat "$DATA/iris.test.csv.gz" | head -n 3
		echo '1,2,x,4,0'
	} >bad.csv
	run --separate-stderr g2t-predict -o out "$F/iris.model" bad.csv
	expect_status 3
	expect_stderr '^g2t-predict: bad\.csv:4: '
	[ "${#stderr_lines[@]}" -eq 1 ]
	expect_dir_contents . ok.csv bad.csv
}

@test "predict: a model that is not a model (task stream, weights) -> exit 3 naming it" {
	run --separate-stderr g2t-predict "$F/iris.split" "$DATA/iris.test.csv.gz"
	expect_status 3
	expect_no_stdout
	expect_stderr '^g2t-predict: .*iris\.split'
	run --separate-stderr g2t-predict "$F/iris.w" "$DATA/iris.test.csv.gz"
	expect_status 3
	expect_stderr '^g2t-predict: .*iris\.w'
}

@test "predict: corrupt model files -> exit 3 with a byte offset" {
	make_bad_streams "$F/iris.model"
	for f in empty random version truncated length; do
		run --separate-stderr g2t-predict $f.g2t "$DATA/iris.test.csv.gz"
		expect_error g2t-predict 3 "$f\\.g2t: byte [0-9]+: "
	done
	cp "$F/iris.model" crc.g2t
	read -r off type len < <(records crc.g2t | tail -n 1)
	[ "$type" -eq 5 ]
	flip_byte crc.g2t $((off + 8 + 60))
	run --separate-stderr g2t-predict crc.g2t "$DATA/iris.test.csv.gz"
	expect_error g2t-predict 3 'crc\.g2t: byte [0-9]+: '
}

@test "predict: a model of another data set -> exit 3 (feature columns missing)" {
	run --separate-stderr g2t-predict "$F/digits.model" "$DATA/iris.test.csv.gz"
	expect_error g2t-predict 3 '.*iris\.test\.csv\.gz(:1)?: '
}

@test "predict: missing model or data file -> exit 1 naming it" {
	run --separate-stderr g2t-predict nonexistent.model "$DATA/iris.test.csv.gz"
	expect_error g2t-predict 1 'nonexistent\.model: '
	run --separate-stderr g2t-predict "$F/iris.model" nonexistent.csv
	expect_error g2t-predict 1 'nonexistent\.csv: '
}

# --- usage errors ---------------------------------------------------------

# usage_fails PROG ARGS...: exit 2, nothing on stdout, stderr names PROG.
usage_fails() {
	run --separate-stderr "$@"
	expect_status 2
	expect_no_stdout
	expect_stderr "^$1: "
}

@test "usage: --quantize 7 -> exit 2" {
	usage_fails g2t-split --quantize 7 "$DATA/iris.train.csv.gz"
	usage_fails g2t-split -q 16 "$DATA/iris.train.csv.gz"
}

@test "usage: split --label with svmlight input -> exit 2 saying why (it was ignored)" {
	printf '1 1:0.5 2:1\n1 1:0.7\n2 2:0.3\n2 1:0.1 2:0.9\n' >t.svm
	usage_fails g2t-split -l 2 t.svm
	[ "$stderr" = "g2t-split: --label is for CSV: t.svm is svmlight, whose label is each line's first token" ]
	run --separate-stderr g2t-split -l 2 -o out t.svm
	expect_status 2
	[ ! -e out ]
}

@test "usage: -j 0, -j abc -> exit 2" {
	usage_fails g2t-train -j 0 "$F/iris.split"
	usage_fails g2t-train -j abc "$F/iris.split"
	usage_fails g2t-train --jobs=-1 "$F/iris.split"
}

@test "usage: --l1 -1; --lambda, now C's (--cost) -> exit 2 (train and split)" {
	usage_fails g2t-train --l1 -1 "$F/iris.split"
	expect_stderr "--l1 takes a number with 0 <= X < 1e6, not '-1'"
	usage_fails g2t-split --l1 -1 "$DATA/iris.train.csv.gz"
	usage_fails g2t-train --lambda 1e-4 "$F/iris.split"
	usage_fails g2t-split --lambda 1e-4 "$DATA/iris.train.csv.gz"
}

@test "usage: --cost 0, -1, abc, 1e6, 1e-50 (0 in binary32) -> exit 2 naming --cost and its range (train and split)" {
	for c in 0 -1 abc 1e6 1e-50; do
		usage_fails g2t-train -c "$c" "$F/iris.split"
		expect_stderr "--cost takes a number C with 0 < C < 1e6, not '$c'"
		usage_fails g2t-train --cost "$c" "$F/iris.split"
		usage_fails g2t-split --cost "$c" "$DATA/iris.train.csv.gz"
		expect_stderr "--cost takes a number C with 0 < C < 1e6, not '$c'"
	done
	usage_fails g2t-train --cv 2 --grid 1,1e-50 "$F/iris.split"
	expect_stderr "--grid takes"
}

@test "usage: --l1 with the exact solver -> exit 2 naming it (split and train)" {
	usage_fails g2t-split --l1 1e-3 "$DATA/iris.train.csv.gz"
	expect_stderr "--algo dcd takes no --l1"
	run --separate-stderr g2t-train --l1 1e-3 "$F/iris.split"
	expect_error g2t-train 2 '.*iris.split: byte [0-9]+: task 0: --algo dcd trains without --l1'
}

@test "usage: -w with a bad weight, a class twice or not in the data; -w/--balanced/--probability with --algo fixed -> exit 2 naming the option" {
	for w in 1=0 1=-1 1=abc 1=nan 1=inf 1=1e6 1=1e-60 1 =2; do
		usage_fails g2t-split -w "$w" "$DATA/iris.train.csv.gz"
		expect_stderr "-w takes CLASS=W, each class once, with 0 < W < 1e6, not '$w'"
		usage_fails g2t-train --weight "$w" "$F/iris.split"
		expect_stderr "-w takes CLASS=W"
	done
	usage_fails g2t-split -w 1=2 -w 1=3 "$DATA/iris.train.csv.gz"
	expect_stderr "not '1=3'"
	run --separate-stderr g2t-split -w 1=2 -w 7=2 "$DATA/iris.train.csv.gz"
	expect_error g2t-split 2 "-w names class '7'"
	run --separate-stderr g2t-train -w 7=2 "$F/iris.split"
	expect_status 2
	expect_stderr "-w names class '7'"
	usage_fails g2t-split --algo fixed --balanced "$DATA/iris.train.csv.gz"
	expect_stderr "--algo fixed takes no class weights"
	usage_fails g2t-train --algo fixed -w 1=2 "$F/iris.split"
	expect_stderr "--algo fixed takes no class weights"
	usage_fails g2t-split --algo fixed --probability "$DATA/iris.train.csv.gz"
	expect_stderr "and no --probability"
}

@test "usage: --epochs 0 -> exit 2 (train and split)" {
	usage_fails g2t-train --epochs 0 "$F/iris.split"
	usage_fails g2t-split --epochs 0 "$DATA/iris.train.csv.gz"
}

@test "usage: --loss foo, --algo foo -> exit 2 (train and split)" {
	usage_fails g2t-train --loss foo "$F/iris.split"
	usage_fails g2t-train --algo foo "$F/iris.split"
	usage_fails g2t-split --loss foo "$DATA/iris.train.csv.gz"
	usage_fails g2t-split --algo foo "$DATA/iris.train.csv.gz"
}

@test "usage: --algo fixed with -q 32, another loss or --l1 -> exit 2 naming the cause" {
	usage_fails g2t-split --algo fixed -q 32 "$DATA/iris.train.csv.gz"
	expect_stderr "8-bit"
	usage_fails g2t-split --algo fixed --loss logistic "$DATA/iris.train.csv.gz"
	expect_stderr "hinge"
	usage_fails g2t-split --algo fixed --l1 0.01 "$DATA/iris.train.csv.gz"
	expect_stderr "l1"
	g2t-split -q 8 "$DATA/iris.train.csv.gz" >q8
	run --separate-stderr g2t-train --algo fixed --loss sqhinge q8
	expect_error g2t-train 2 'q8: byte [0-9]+: task 0: .*hinge'
}

@test "train: a fixed-point task on float32 shards -> exit 3 naming the file and task" {
	run --separate-stderr g2t-train --algo fixed -o out.w "$F/iris.split"
	expect_error g2t-train 3 '.*/iris\.split: byte [0-9]+: task 0: fixed-point .*8-bit'
	[ ! -e out.w ]
}

@test "usage: --seed out of u32 range -> exit 2" {
	usage_fails g2t-train --seed 4294967296 "$F/iris.split"
	usage_fails g2t-train --seed -1 "$F/iris.split"
}

@test "usage: bad --delimiter, --format, --task, --classes -> exit 2" {
	usage_fails g2t-split -d ab "$DATA/iris.train.csv.gz"
	usage_fails g2t-split -f xml "$DATA/iris.train.csv.gz"
	usage_fails g2t-predict -f xml "$F/iris.model" "$DATA/iris.test.csv.gz"
	usage_fails g2t-train --task -1 "$F/iris.split"
	usage_fails g2t-split --classes x ok.csv
}

@test "usage: wrong number of arguments -> exit 2" {
	usage_fails g2t-predict
	usage_fails g2t-predict "$F/iris.model" a.csv b.csv
	usage_fails g2t-split ok.csv ok.csv
}

@test "usage: a usage error writes no -o output" {
	run --separate-stderr g2t-train --epochs 0 -o out "$F/iris.split"
	expect_status 2
	run --separate-stderr g2t-merge --bogus -o out "$F/iris.w"
	expect_status 2
	expect_dir_contents . ok.csv
}

@test "output: an -o path in a missing directory -> exit 1 naming it" {
	run --separate-stderr g2t-train -o nodir/w "$F/iris.split"
	expect_error g2t-train 1 'nodir/w: '
	expect_stderr '[Nn]o such file'
}

@test "output: split -o naming a file that is not a directory -> exit 1 naming it, the file kept" {
	echo keep >afile
	run --separate-stderr g2t-split -o afile "$DATA/iris.train.csv.gz"
	expect_error g2t-split 1 'afile: '
	expect_stderr 'afile: Not a directory$'
	[ "$(cat afile)" = keep ]
}

@test "output: a full disk (/dev/full) -> exit 1 naming stdout or the -o file and why, for small and large outputs" {
	[ -w /dev/full ] || skip "no /dev/full"
	local cmd
	g2t-split "$DATA/digits.train.csv.gz" >digits.split
	for cmd in "g2t-split $DATA/iris.train.csv.gz" "g2t-train $F/iris.split" \
	           "g2t-train digits.split" "g2t-merge $F/iris.w" "g2t-merge $F/digits.w" \
	           "g2t-predict $F/iris.model $DATA/iris.test.csv.gz"; do
		run --separate-stderr bash -c "$cmd >/dev/full"
		[ "$status" = 1 ] || { echo "$cmd: exit $status"; return 1; }
		[[ $stderr =~ ^g2t-[a-z]+:\ stdout:\ No\ space\ left ]] ||
			{ echo "$cmd: '$stderr'"; return 1; }
	done
	run --separate-stderr g2t-merge -o /dev/full "$F/digits.w"
	expect_error g2t-merge 1 '/dev/full: No space left'
	run --separate-stderr g2t-train -o /dev/full digits.split
	expect_error g2t-train 1 '/dev/full: No space left'
}

# --- inputs under attack (issue 9) ----------------------------------------

@test "split: a cut gzip file (head -c 241 of iris) -> exit 3 'truncated', nothing on stdout" {
	head -c 241 "$DATA/iris.train.csv.gz" >cut.csv.gz
	split_fails cut.csv.gz ': '
	expect_stderr 'gzip data is truncated'
	run --separate-stderr g2t-split <cut.csv.gz
	expect_error g2t-split 3 'stdin: '
}

@test "split: a cut letter file and a gzip file without its trailer -> exit 3" {
	head -c 100000 "$DATA/letter.train.csv.gz" >letter.csv.gz
	split_fails letter.csv.gz ': '
	expect_stderr 'truncated'
	head -c -8 "$DATA/iris.train.csv.gz" >notrailer.csv.gz
	split_fails notrailer.csv.gz ': '
	expect_stderr 'truncated'
	head -c -1 "$DATA/iris.train.csv.gz" >short.csv.gz
	split_fails short.csv.gz ': '
}

@test "split: a gzip CRC or length trailer that does not match -> exit 3 'corrupt'" {
	local n
	cp "$DATA/iris.train.csv.gz" crc.csv.gz
	n=$(stat -c %s crc.csv.gz)
	flip_byte crc.csv.gz $((n - 6))
	split_fails crc.csv.gz ': '
	expect_stderr 'gzip data is corrupt: incorrect data check'
	cp "$DATA/iris.train.csv.gz" len.csv.gz
	flip_byte len.csv.gz $((n - 2))
	split_fails len.csv.gz ': '
	expect_stderr 'corrupt'
}

@test "split: concatenated gzip members are read whole, as gzip allows" {
	{ zcat "$DATA/iris.train.csv.gz" | head -n 60 | gzip
	  zcat "$DATA/iris.train.csv.gz" | sed 1,60d | gzip; } >members.csv.gz
	g2t-split members.csv.gz >a.g2t
	g2t-split "$DATA/iris.train.csv.gz" >b.g2t
	expect_same a.g2t b.g2t
}

@test "predict: a cut gzip data file -> exit 3 'truncated', no output" {
	head -c 200 "$DATA/iris.test.csv.gz" >cut.csv.gz
	mkdir o
	run --separate-stderr g2t-predict -o o/pred "$F/iris.model" cut.csv.gz
	expect_error g2t-predict 3 'cut\.csv\.gz: '
	expect_stderr 'truncated'
	expect_dir_contents o
	run --separate-stderr g2t-predict -e "$F/iris.model" cut.csv.gz
	expect_error g2t-predict 3 'cut\.csv\.gz: '
}

@test "merge: a first WEIGHTS record shorter than two hashes -> exit 3 'too short' (no over-read)" {
	# make asan runs this under AddressSanitizer: the schema id was read
	# from past the end of the record before its length was checked
	local at
	at=$(first_record_end "$F/iris.w") # after the SCHEMA, so one is known
	head -c "$at" "$F/iris.w" >short.g2t
	put_u32 short.g2t "$at" 4
	put_u32 short.g2t $((at + 4)) 40
	head -c 44 /dev/zero >>short.g2t
	fix_record_crc short.g2t "$at"
	run --separate-stderr g2t-merge short.g2t
	expect_error g2t-merge 3 "short\\.g2t: byte $at: "
	expect_stderr 'WEIGHTS record of 40 bytes is too short'
}

@test "split: too many classes for a model -> exit 3 on the line of the class that crosses, fast" {
	# one feature: a model holds at most 3862 classes (64 MiB record)
	awk 'BEGIN { print "a,label"; for (i = 0; i < 70000; i++) print i ",c" i "\n" i + 1 ",c" i }' >many.csv
	SECONDS=0
	split_fails many.csv ':7726: '
	expect_stderr '3863 classes of 1 feature exceed the limit: .* over 67108864 \(at most 3862 classes\)'
	[ "$SECONDS" -lt 10 ]
	# with letter's 16 features, 10,000 labels stop at class 1396
	awk 'BEGIN { printf "f1"; for (j = 2; j <= 16; j++) printf ",f" j; print ",label"
		for (i = 0; i < 10000; i++) for (r = 0; r < 2; r++) {
			for (j = 1; j <= 16; j++) printf "%d,", (i + j + r) % 16; print "k" i } }' >tenk.csv
	split_fails tenk.csv ':2792: '
	expect_stderr '1396 classes of 16 features .*at most 1395 classes'
}

@test "split: svmlight feature index over the limit -> exit 3 naming index and limit, small RSS" {
	local rss
	awk 'BEGIN { for (i = 0; i < 200; i++) print i % 2 " 1:1 3500000:2" }' >big.svm
	split_fails big.svm ':1: '
	expect_stderr 'feature index 3500000 exceeds the limit 2097152'
	awk 'BEGIN { for (i = 0; i < 200; i++) print i % 2 " 1:1 16777216:2" }' >huge.svm
	rss=$( { /usr/bin/time -f '%M' g2t-split huge.svm >/dev/null 2>/dev/null; } 2>&1 | tail -n 1)
	expect_ge $((100000 - rss)) 0 "100 MB minus RSS (KB)"
	split_fails huge.svm ':1: '
	expect_stderr 'feature index 16777216 exceeds the limit 2097152'
}

@test "split: a wide sparse class stays sparse: no dense row, a small stream" {
	# dense, 128 rows of 2^21 features would pass the 1 GiB SHARD limit
	awk 'BEGIN { for (i = 0; i < 300; i++) print (i % 2 ? "x 2097152:1" : "y 1:2 7:1") }' >wide.svm
	run --separate-stderr g2t-split -o wide wide.svm
	expect_status 0
	# the SCHEMA holds a name, offset and scale a feature; the shards are small
	expect_ge $((10000 - $(records wide/*.g2t | awk '$2 == 2 { n += $3 } END { print n }'))) 0 \
		"10000 minus the shards' bytes"
}

@test "split: malformed svmlight says what is wrong, writes nothing to -o" {
	local line
	for line in '1 0:1|index 0: svmlight indices start at 1' \
	            '1 3:1 2:1|index 2 after a larger one' '1 2:1 2:1|index 2 repeated' \
	            '1 2147483649:1|index 2147483649 exceeds the limit' \
	            '1 2:nan|is not a finite binary32 number' '1 2:1e39|is not a finite binary32 number'; do
		printf '0 1:1\n1 2:1\n0 1:2\n%s\n' "${line%%|*}" >bad.svm
		split_fails bad.svm ':4: '
		expect_stderr "${line#*|}"
	done
}

@test "train: a SCHEMA over the class limit -> exit 3 saying what is wrong" {
	cp "$F/iris.split" classes.g2t
	put_u32 classes.g2t 20 70000
	fix_record_crc classes.g2t 8
	run --separate-stderr g2t-train classes.g2t
	expect_error g2t-train 3 'classes\.g2t: byte 8: '
	expect_stderr 'bad SCHEMA record: 70000 classes exceed the limit 65535'
	cp "$F/iris.split" features.g2t
	put_u32 features.g2t 16 0
	fix_record_crc features.g2t 8
	run --separate-stderr g2t-train features.g2t
	expect_stderr 'bad SCHEMA record: no features'
}

# nan_weights IN OUT: OUT is IN with the bias of its first WEIGHTS record NaN;
# prints that record's offset.
nan_weights() {
	local off type len
	cp "$1" "$2"
	read -r off type len < <(records "$2" | awk '$2 == 4' | head -n 1)
	put_u32 "$2" $((off + 8 + 120)) 2143289344 # 0x7fc00000, the bias
	fix_record_crc "$2" "$off"
	echo "$off"
}

@test "merge and pack: weights holding NaN -> exit 3 naming the record; nothing spooled" {
	local off
	off=$(nan_weights "$F/iris.w" nan.g2t)
	run --separate-stderr g2t-merge nan.g2t
	expect_error g2t-merge 3 "nan\\.g2t: byte $off: "
	expect_stderr 'not finite'
	g2t-pack --keygen -p dev.pub -s dev.key
	run --separate-stderr g2t-pack -s dev.key --spool spool nan.g2t
	expect_error g2t-pack 3 "nan\\.g2t: byte $off: "
	expect_stderr 'weights for task 0 are not finite'
	# nothing was kept: a flush has nothing to pack
	run --separate-stderr g2t-pack -s dev.key --spool spool --flush -o out.pkt </dev/null
	expect_status 75
	[ ! -e out.pkt ]
}

@test "merge: weights longer than any solution of their task (a finite FLT_MAX) -> exit 3 naming the record" {
	local off type len
	read -r off type len < <(records "$F/iris.w" | awk '$2 == 4' | head -1)
	cp "$F/iris.w" big.g2t
	put_u32 big.g2t $((off + 8 + 140)) 2139095039
	fix_record_crc big.g2t "$off"
	run --separate-stderr g2t-merge big.g2t
	expect_error g2t-merge 3 "big\\.g2t: byte $off: "
	expect_stderr 'weights for task 0 are longer than any its solver gives'
	# SGD's free bias: bounded by the steps it took, each of a rate at most 1
	g2t-split --algo asgd "$DATA/iris.train.csv.gz" | g2t-train >sgd.w
	read -r off type len < <(records sgd.w | awk '$2 == 4' | head -1)
	put_u32 sgd.w $((off + 8 + 120)) 2139095039
	fix_record_crc sgd.w "$off"
	run --separate-stderr g2t-merge sgd.w
	expect_error g2t-merge 3 "sgd\\.w: byte $off: "
	expect_stderr 'weights for task 0: the bias is larger than any its solver gives'
}

@test "predict: a model holding NaN -> exit 3 at the byte of the value" {
	local off type len at
	cp "$F/iris.model" nan.model
	read -r off type len < <(records nan.model | awk '$2 == 5')
	at=$((off + 8 + 44 + 3 + 4 * 2)) # third weight of the first pair
	put_u32 nan.model "$at" 2143289344
	fix_record_crc nan.model "$off"
	run --separate-stderr g2t-predict nan.model "$DATA/iris.test.csv.gz"
	expect_error g2t-predict 3 "nan\\.model: byte $at: "
	expect_stderr 'MODEL value of task 0 is not finite'
}

@test "predict: a sparse MODEL entry out of order, past F, or with a zero weight -> exit 3, bad MODEL record" {
	local off len at p n F=64 what
	g2t-split --algo asgd --l1 0.003 "$DATA/digits.train.csv.gz" | g2t-train | g2t-merge >l1.model
	read -r off _ len < <(records l1.model | awk '$2 == 5')
	# the first sparse entry (present byte 2) holding two weights at least
	at=$((off + 8 + 44 + 45))
	for ((p = 0; p < 45; p++)); do
		if [ "$(od -An -tu1 -j $((off + 8 + 44 + p)) -N1 l1.model | tr -d ' ')" != 2 ]; then
			at=$((at + 4 * (F + 1)))
			continue
		fi
		n=$(u32_at l1.model $((at + 4)))
		[ "$n" -ge 2 ] && break
		at=$((at + 8 + 8 * n))
	done
	[ "$p" -lt 45 ]
	for what in order past zero; do
		cp l1.model bad.model
		case $what in
		order) put_u32 bad.model $((at + 16)) "$(u32_at l1.model $((at + 8)))" ;;
		past) put_u32 bad.model $((at + 8)) $F ;;
		zero) put_u32 bad.model $((at + 12)) 0 ;;
		esac
		fix_record_crc bad.model "$off"
		run --separate-stderr g2t-predict bad.model "$DATA/digits.test.csv.gz"
		expect_error g2t-predict 3 "bad\\.model: byte $off: "
		expect_stderr 'bad MODEL record'
	done
}

@test "split: a feature whose range overflows binary32 -> exit 3, no NaN in the shards" {
	printf 'a,b,label\n-3e38,1,x\n3e38,2,x\n1,3,y\n2,4,y\n' >wide.csv
	split_fails wide.csv ': '
	expect_stderr "feature 'a': its values, from -3e\\+38 to 3e\\+38, span more than binary32"
}

@test "split: a feature whose range is subnormal (1/range overflows) -> exit 3 naming it, not a SCHEMA train refuses" {
	printf 'a,b,label\n1e-40,1,x\n0,2,x\n2e-45,3,y\n0,4,y\n' >tiny.csv
	split_fails tiny.csv ': '
	expect_stderr "feature 'a': its values, from 0 to 9.99995e-41, span too little to scale by"
}

@test "predict: extra columns not in the schema are ignored whatever they hold" {
	zcat "$DATA/iris.test.csv.gz" | awk -F, 'NR == 1 { print "note," $0 ",id"; next }
		{ print "\"hello, world\"," $0 "," (NR % 3 ? "" : "n/a") }' >extra.csv
	run --separate-stderr g2t-predict "$F/iris.model" "$DATA/iris.test.csv.gz"
	expect_status 0
	local want=$output
	run --separate-stderr g2t-predict "$F/iris.model" extra.csv
	expect_status 0
	expect_no_stderr
	[ "$output" = "$want" ]
	run --separate-stderr g2t-predict -e "$F/iris.model" extra.csv
	expect_status 0
	expect_output '^accuracy '
}

@test "predict: an empty label is an error only with -e; split refuses it" {
	zcat "$DATA/iris.test.csv.gz" | awk -F, 'BEGIN { OFS = "," } NR == 3 { $NF = "" } 1' >empty.csv
	run --separate-stderr g2t-predict "$F/iris.model" empty.csv
	expect_status 0
	expect_no_stderr
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 30 ]
	run --separate-stderr g2t-predict -e "$F/iris.model" empty.csv
	expect_error g2t-predict 3 'empty\.csv:3: '
	expect_stderr 'empty label'
	split_fails empty.csv ':3: '
	expect_stderr 'empty label'
}

@test "split: a label holding a tab or another control byte is refused, naming line and byte" {
	printf 'a,b,label\n1,2,x\n3,4,"p\tq"\n' >tab.csv
	split_fails tab.csv ':3: '
	expect_stderr 'control byte \(0x09\) at its byte 2'
	printf 'a,b,label\n1,2,x\n3,4,"p\033"\n' >esc.csv
	split_fails esc.csv ':3: '
	expect_stderr 'control byte \(0x1b\) at its byte 2'
	printf 'a,b,label\r\n1,2,x\r\n3,4,y\r\n' >crlf.csv
	g2t-split crlf.csv >crlf.g2t
}

@test "split and predict: a UTF-8 byte order mark is not part of the first column's name" {
	{ printf '\357\273\277'; zcat "$DATA/iris.train.csv.gz"; } >bom.csv
	g2t-split bom.csv >bom.g2t
	g2t-split "$DATA/iris.train.csv.gz" >plain.g2t
	expect_same bom.g2t plain.g2t
	{ printf '\357\273\277'; zcat "$DATA/iris.test.csv.gz"; } >bomtest.csv
	run --separate-stderr g2t-predict -e "$F/iris.model" bomtest.csv
	expect_status 0
	expect_output '^accuracy '
	# the first column named: found under its name, without the mark
	g2t-split -l sepal_length_cm bom.csv >bomlabel.g2t 2>/dev/null
	g2t-split -l sepal_length_cm "$DATA/iris.train.csv.gz" >plainlabel.g2t 2>/dev/null
	expect_same bomlabel.g2t plainlabel.g2t
}

@test "binary output to a terminal is refused (exit 2) unless redirected, as gzip does; -o and pipes still work" {
	command -v script >/dev/null || skip "script(1) makes the terminal"
	local p
	for p in "g2t-split $DATA/iris.train.csv.gz" "g2t-train /dev/null" "g2t-merge /dev/null" \
		"g2t-fetch -s /dev/null http://127.0.0.1:1"; do
		run script -qec "$G2T_BIN/${p%% *} ${p#* }; echo \"exit \$?\"" /dev/null
		[[ $output == *"${p%% *}: not writing a binary stream to a terminal"* ]] ||
			{ echo "$p: $output"; return 1; }
		[[ $output == *"exit 2"* ]] || { echo "$p: $output"; return 1; }
	done
	run script -qec "$G2T_BIN/g2t-split -o tasks $DATA/iris.train.csv.gz; echo \"exit \$?\"" /dev/null
	[[ $output == *"exit 0"* ]]
	[ "$(ls tasks | wc -l)" = 3 ]
}

@test "getopt's messages name the program by its short name" {
	run "$G2T_BIN/g2t-split" --bogus # a path as argv[0]
	[ "$status" = 2 ]
	[[ ${lines[0]} == "g2t-split: unrecognized option '--bogus'" ]]
}

# --- one-vs-rest (split --ovr) -----------------------------------------------

@test "usage: split --ovr --probability -> exit 2 (pairwise coupling is for pairs)" {
	usage_fails g2t-split --ovr --probability "$DATA/iris.train.csv.gz"
	expect_stderr 'one-vs-one pairs'
}

@test "train --probability on one-vs-rest tasks -> exit 2 naming the task, nothing written" {
	g2t-split --ovr "$DATA/iris.train.csv.gz" >ovr.g2t
	run --separate-stderr g2t-train --probability -o w ovr.g2t
	expect_error g2t-train 2 'ovr\.g2t: byte [0-9]+: task 0: '
	expect_stderr 'one-vs-rest tasks fit no probability sigmoid'
	[ ! -e w ]
}

@test "predict --dag and --probability on a one-vs-rest model -> exit 2 saying why" {
	g2t-split --ovr "$DATA/iris.train.csv.gz" | g2t-train | g2t-merge >ovr.model
	run --separate-stderr g2t-predict --dag ovr.model "$DATA/iris.test.csv.gz"
	expect_status 2
	expect_no_stdout
	expect_stderr '^g2t-predict: .*--dag: the model is one-vs-rest \(g2t-split --ovr\)'
	run --separate-stderr g2t-predict --probability ovr.model "$DATA/iris.test.csv.gz"
	expect_status 2
	expect_stderr 'no pairwise sigmoids'
}

@test "serve: a one-vs-rest task set is refused at start -> exit 3, train it with g2t-train" {
	g2t-split --ovr -o tasks "$DATA/iris.train.csv.gz"
	run --separate-stderr g2t-serve --listen 127.0.0.1:0 --tasks tasks --state state --open
	expect_error g2t-serve 3 'tasks/task-00000\.g2t: byte 8: '
	expect_stderr "one-vs-rest tasks need every class's rows; train them with g2t-train"
}

@test "train: a SCHEMA with flags bit 4 (one-vs-rest) and two classes -> exit 3" {
	g2t-split -c 0,1 "$DATA/digits.train.csv.gz" >two.g2t
	put_u32 two.g2t 24 17
	fix_record_crc two.g2t 8
	run --separate-stderr g2t-train two.g2t
	expect_error g2t-train 3 'two\.g2t: byte 8: '
	expect_stderr 'flags bit 4 \(one-vs-rest\) is set, but two classes make one pair'
}

@test "output: SIGTERM or SIGHUP of g2t-train, g2t-predict or g2t-fetch writing -o leaves no temporary file beside it" {
	local sig prog pid i
	g2t-pack --keygen -p dev.pub -s dev.key
	mkfifo in
	for sig in TERM HUP; do
		for prog in train predict fetch; do
			rm -rf d && mkdir d
			case $prog in
			train) g2t-train -o d/out <in & ;;
			predict) g2t-predict -o d/out "$F/iris.model" - <in & ;;
			fetch) g2t-fetch -s dev.key --no-cache --retry-max 60 -o d/out \
				http://127.0.0.1:1 2>/dev/null <in & ;;
			esac
			pid=$!
			exec 5>in
			if [ $prog = train ]; then
				cat "$F/iris.split" >&5
			elif [ $prog = predict ]; then
				zcat "$DATA/iris.test.csv.gz" >&5
			fi
			# the output's temporary file is there: the program is writing
			for ((i = 0; i < 200; i++)); do
				[ -n "$(ls -A d)" ] && break
				sleep 0.025
			done
			[ -n "$(ls -A d)" ] || { echo "$prog: no temporary file"; return 1; }
			kill -s "$sig" "$pid"
			wait "$pid" || true
			exec 5>&-
			[ -z "$(ls -A d)" ] || { echo "$prog, SIG$sig: left $(ls -A d)"; return 1; }
		done
	done
}

@test "a directory named with a final / (keys/, tasks/, as the README writes them) gives file names without a doubled /" {
	mkdir keys tasks
	echo garbage >keys/bad.pub
	run --separate-stderr g2t-merge --trust keys/ "$F/iris.w"
	expect_error g2t-merge 3 'keys/bad\.pub: '
	g2t-split -o tasks "$DATA/iris.train.csv.gz"
	head -c 100 tasks/task-00001.g2t >cut && mv cut tasks/task-00001.g2t
	run --separate-stderr g2t-serve -t tasks/ -S state -d keys/ -l 127.0.0.1:0
	expect_error g2t-serve 3 'tasks/task-00001\.g2t: byte [0-9]+: '
}
