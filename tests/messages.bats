#!/usr/bin/env bats
# Messages (issue 13): usage errors name the option and what it takes; hints
# for the common mistakes (arguments swapped, a test file without header or
# ;-separated, a label column forgotten).

bats_require_minimum_version 1.5.0
load helpers

setup() {
	require_programs
	cd "$BATS_TEST_TMPDIR" || return 1
}

@test "usage errors name the option, its range or choices, and the value given" {
	local prog args want
	while IFS='|' read -r prog args want; do
		run --separate-stderr "$prog" $args
		[ "$status" = 2 ] || { echo "$prog $args: exit $status"; return 1; }
		[[ ${stderr_lines[0]} == "$prog: $want" ]] ||
			{ echo "$prog $args: '${stderr_lines[0]}', wanted '$prog: $want'"; return 1; }
		[[ ${stderr_lines[1]} == "Try '$prog --help' for more information." ]]
	done <<-'EOF'
	g2t-train|--epochs 0|--epochs takes a number from 1 to 100000, not '0'
	g2t-train|--loss hnige|--loss takes hinge, logistic or sqhinge, not 'hnige'
	g2t-train|-j 0|--jobs takes a number from 1 to 1024, not '0'
	g2t-train|-t abc|--task takes a task number, not 'abc'
	g2t-split|-d ab x|--delimiter takes one character or 'tab', not 'ab'
	g2t-split|-f xml x|--format takes csv, svmlight or auto, not 'xml'
	g2t-split|-q 7 x|--quantize takes 8 or 32, not '7'
	g2t-predict|-f xml m x|--format takes csv, svmlight or auto, not 'xml'
	g2t-predict|-|the model and the data cannot both be stdin: give FILE
	g2t-predict|- -|the model and the data cannot both be stdin: give FILE
	g2t-pack|-s k --min-batch 0|--min-batch takes a number from 1 to 1000000, not '0'
	g2t-pack|-s k -q 2|--quality takes a number in (0, 1], not '2'
	g2t-pack|-s k -P 4|--precision takes 32, 16 or 8, not '4'
	g2t-fetch|-s k -n 17 u|--tasks takes a number from 1 to 16, not '17'
	g2t-serve|--threads 0|--threads takes a number from 1 to 1000000, not '0'
	g2t-serve|--lease-timeout x|--lease-timeout takes a number from 1 to 1000000, not 'x'
	g2t-serve|--replicas 0|--replicas takes a number from 1 to 100, not '0'
	g2t-device|-s k --max-batch 0 u|--max-batch takes a number from 1 to 1000000, not '0'
	EOF
}

@test "g2t-predict DATA MODEL (swapped): the error says the model comes first" {
	g2t-split "$DATA/iris.train.csv.gz" | g2t-train | g2t-merge -o iris.model
	run --separate-stderr g2t-predict "$DATA/iris.test.csv.gz" iris.model
	expect_error g2t-predict 3 '.*iris\.test\.csv\.gz: byte 0: not a G2T stream'
	expect_stderr 'it looks like a data file: the model comes first \(g2t-predict MODEL \[FILE\]\)'
	zcat "$DATA/iris.test.csv.gz" >test.csv
	run --separate-stderr g2t-predict test.csv iris.model
	expect_stderr 'the model comes first'
	# a damaged model is not taken for data
	head -c 100 /dev/urandom | tr -d 'a-zA-Z0-9' >junk.model
	printf '\001\002' | cat - junk.model >bad.model
	run --separate-stderr g2t-predict bad.model test.csv
	expect_status 3
	! [[ $stderr =~ 'model comes first' ]]
}

@test "a test file without its header, or ;-separated: the error names the missing label column and the likely cause" {
	g2t-split "$DATA/iris.train.csv.gz" | g2t-train | g2t-merge -o iris.model
	zcat "$DATA/iris.test.csv.gz" | tail -n +2 >noheader.csv
	run --separate-stderr g2t-predict --eval iris.model noheader.csv
	expect_error g2t-predict 3 'noheader\.csv:1: '
	expect_stderr "no column named 'label' \(the first line holds numbers: the file seems to have no header row"
	zcat "$DATA/iris.test.csv.gz" | tr , ';' >semi.csv
	run --separate-stderr g2t-predict --eval iris.model semi.csv
	expect_error g2t-predict 3 'semi\.csv:1: '
	expect_stderr "for a ;-separated file, --delimiter ';'"
	run --separate-stderr g2t-predict --eval -d ';' iris.model semi.csv
	expect_status 0
	expect_accuracy_ge 0.9
	# the same mistake on the training file
	run --separate-stderr g2t-split semi.csv
	expect_error g2t-split 3 'semi\.csv:1: no feature columns'
	expect_stderr "for a ;-separated file, --delimiter ';'"
}

@test "a label column that holds many different numbers, not whole (--label forgotten): g2t-split warns" {
	# iris with its first feature last: the label would be sepal length
	zcat "$DATA/iris.train.csv.gz" | awk -F, 'BEGIN { OFS = "," } { t = $NF; $NF = $1; $1 = t; print }' >swapped.csv
	run --separate-stderr g2t-split -o tasks swapped.csv
	expect_stderr "^g2t-split: warning: swapped\.csv: the label column holds [0-9]+ different numbers, not all whole: is it a feature\? name the label column with --label"
	run --separate-stderr g2t-split -o tasks2 --label label swapped.csv
	expect_status 0
	expect_no_stderr
	# whole-number classes (digits: 0 to 9; svmlight labels) are not warned about
	run --separate-stderr g2t-split -o tasks3 "$DATA/digits.train.csv.gz"
	expect_status 0
	expect_no_stderr
}

@test "svmlight whose labels hold blanks, taken for CSV: the error suggests --format svmlight, which names the bad token" {
	printf 'class one 1:2 2:3\nclass two 1:4 2:1\n' >words.svm
	run --separate-stderr g2t-split words.svm
	expect_error g2t-split 3 'words\.svm:1: no feature columns'
	expect_stderr 'looks like svmlight.*--format svmlight'
	run --separate-stderr g2t-split -f svmlight words.svm
	expect_error g2t-split 3 'words\.svm:1: '
	expect_stderr "'one' is not index:value"
}

@test "split: a feature whose values are a few binary32 steps apart (timestamps) is read again from a CSV file, less an offset in binary64; from stdin it is warned about; years are neither" {
	awk 'BEGIN { srand(3); print "t,u,label"
		for (i = 0; i < 300; i++) { c = i % 3
			printf "%d,%.3f,k%d\n", 1700000000 + 40 * c + int(rand() * 30), rand(), c } }' >ts.csv
	# the offset subtracted by hand: the classes 40 apart come back
	awk -F, 'BEGIN { OFS = "," } NR > 1 { $1 -= 1700000000 } { print }' ts.csv >ts0.csv
	g2t-split ts0.csv | g2t-train | g2t-merge >ts0.model
	run --separate-stderr g2t-predict --eval ts0.model ts0.csv
	expect_accuracy_ge 0.95
	# named, the file is read again: no warning, SCHEMA flags bit 5, the same
	# accuracy (predict reads the rows as split does)
	run --separate-stderr g2t-split -o ts ts.csv
	expect_status 0
	expect_no_stderr
	[ "$(u32_at ts/task-00000.g2t 24)" = 32 ]
	g2t-split ts.csv | g2t-train | g2t-merge >ts.model
	run --separate-stderr g2t-predict --eval ts.model ts.csv
	expect_accuracy_ge 0.95
	# from stdin it cannot be: warned, and the classes are lost
	run --separate-stderr bash -c 'g2t-split <ts.csv >ts.split'
	expect_status 0
	[ "$stderr" = "g2t-split: warning: stdin: feature 't': its values, from 1700000000 to 1700000128, were rounded to binary32 steps of 128 (1 from lowest to highest): subtract about 1.7e+09 from them before splitting, or give them in a file by name, read then less an offset in binary64" ]
	g2t-train ts.split | g2t-merge >tsin.model
	run --separate-stderr g2t-predict --eval tsin.model ts.csv
	[[ $output =~ accuracy\ 0\.[0-8] ]]
	awk -F, 'BEGIN { OFS = "," } NR > 1 { $1 = 1990 + $1 % 30 } { print }' ts0.csv >years.csv
	run --separate-stderr g2t-split years.csv
	expect_status 0
	expect_no_stderr
	g2t-split years.csv >years.g2t
	[ "$(u32_at years.g2t 24)" = 0 ]
}

@test "split: timestamps in a dense svmlight file are read again as in a CSV file: a wide schema, the CSV file's model, the same accuracy" {
	awk 'BEGIN { srand(3); print "t,u,label"
		for (i = 0; i < 300; i++) { c = i % 3
			printf "%d,%.3f,k%d\n", 1700000000 + 40 * c + int(rand() * 30), rand(), c } }' >ts.csv
	awk -F, 'NR > 1 { printf "%s 1:%s%s\n", $3, $1, $2 == 0 ? "" : " 2:" $2 }' ts.csv >ts.svm
	run --separate-stderr g2t-split -o ts ts.svm
	expect_status 0
	expect_no_stderr
	[ "$(u32_at ts/task-00000.g2t 24)" = $((32 + 4)) ] # wide, indexed
	g2t-split ts.svm | g2t-train | g2t-merge >svm.model
	run --separate-stderr g2t-predict --eval svm.model ts.svm
	expect_accuracy_ge 0.95
	g2t-split ts.csv | g2t-train | g2t-merge >csv.model
	g2t-predict svm.model ts.svm >svm.labels
	g2t-predict csv.model ts.csv >csv.labels
	expect_same svm.labels csv.labels
}

@test "split: a sparse svmlight set with a feature never 0 (a year beside one-hot columns) warns that its scale squeezes it, and what to subtract" {
	awk 'BEGIN { srand(11); for (i = 0; i < 300; i++) { c = i % 3; k = int(rand() * 6)
		printf "k%d %d:1 7:%d\n", c, k + 1, 2000 + 8 * c + int(rand() * 12) } }' >yr.svm
	run --separate-stderr g2t-split -o yr yr.svm
	expect_status 0
	[ "$stderr" = "g2t-split: warning: yr.svm: feature 'f7' is never 0, from 2000 to 2027: a sparse set scales it by 1/2027, into [0.987, 1], where it weighs little: subtract about 2000 from it before splitting" ]
	awk '{ split($3, y, ":"); $3 = "7:" (y[2] - 1999); print }' yr.svm >yr1.svm
	run --separate-stderr g2t-split -o yr1 yr1.svm
	expect_status 0
	expect_no_stderr
}

@test "split -o DIR over an earlier split with more tasks: a warning names the task files left from it" {
	g2t-split -o tasks "$DATA/digits.train.csv.gz"
	run --separate-stderr g2t-split -o tasks "$DATA/iris.train.csv.gz"
	expect_status 0
	[ "$stderr" = "g2t-split: warning: tasks: 42 task files from another split, task 3 on, are there too: remove them before training the directory" ]
	rm tasks/task-0000[4-9].g2t tasks/task-000[1-4]?.g2t
	run --separate-stderr g2t-split -o tasks "$DATA/iris.train.csv.gz"
	[ "$stderr" = "g2t-split: warning: tasks: 1 task file from another split, task 3 on, is there too: remove it before training the directory" ]
	rm tasks/task-00003.g2t
	run --separate-stderr g2t-split -o tasks "$DATA/iris.train.csv.gz"
	expect_status 0
	expect_no_stderr
}

@test "train and merge given a data file or a gzipped stream: the error says what it looks like" {
	run --separate-stderr g2t-train "$DATA/iris.train.csv.gz"
	expect_error g2t-train 3 '.*iris\.train\.csv\.gz: byte 0: not a G2T stream \(bad magic\): it is gzip data'
	zcat "$DATA/iris.train.csv.gz" >train.csv
	run --separate-stderr g2t-train train.csv
	[ "$stderr" = "g2t-train: train.csv: byte 0: not a G2T stream (bad magic): it starts as text does (g2t-split reads CSV and svmlight)" ]
	g2t-split train.csv | g2t-train | gzip >w.g2t.gz
	run --separate-stderr g2t-merge w.g2t.gz
	expect_error g2t-merge 3 'w\.g2t\.gz: byte 0: not a G2T stream \(bad magic\): it is gzip data \(streams are read uncompressed'
	# neither: no guess
	printf '\001\002junk-junk-junk' >junk.g2t
	run --separate-stderr g2t-train junk.g2t
	[ "$stderr" = "g2t-train: junk.g2t: byte 0: not a G2T stream (bad magic)" ]
}
