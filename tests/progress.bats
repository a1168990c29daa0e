#!/usr/bin/env bats
# Progress on a terminal (issue 13): g2t-split's rows, bytes, percent and
# time left; g2t-train -j2's counter never goes back; nothing on stderr when
# it is not a terminal.  script(1) gives the programs a terminal.

bats_require_minimum_version 1.5.0
load helpers

setup() {
	require_programs
	command -v script >/dev/null || skip "script(1) is needed for a terminal"
	cd "$BATS_TEST_TMPDIR" || return 1
}

# on_tty COMMAND: runs COMMAND with a terminal for stdin, stdout and stderr;
# its output, carriage returns made newlines, in ./tty.
on_tty() {
	script -qec "$1" /dev/null </dev/null | tr '\r' '\n' >tty
}

@test "g2t-split on a terminal: rows, MB of MB, percent and time left as it reads, a last line with the rows; nothing when stderr is not a terminal" {
	# letter 4 times over: big enough for several progress lines
	{
		zcat "$DATA/letter.train.csv.gz" | head -n 1
		for i in 1 2 3 4; do zcat "$DATA/letter.train.csv.gz" | tail -n +2; done
	} >big.csv
	on_tty "g2t-split -o tasks big.csv"
	grep -Eq '^g2t-split: big\.csv: [0-9]+ rows, [0-9.]+ of [0-9.]+ MB \([0-9]+ %\), about [0-9]+ s left' tty
	grep -Eq "^g2t-split: big\.csv: $((4 * $(data_rows "$DATA/letter.train.csv.gz"))) rows, [0-9.]+ MB in [0-9.]+ s" tty
	grep -q '^g2t-split: 26 classes: writing 325 tasks$' tty
	# percent never goes back
	sed -n 's/.*(\([0-9]*\) %).*/\1/p' tty | awk 'NR > 1 && $1 < p { exit 1 } { p = $1 }'
	run --separate-stderr g2t-split -o tasks2 big.csv
	expect_status 0
	expect_no_stderr
}

@test "g2t-train -j2 on a terminal: the task counter only goes up, to the number of tasks; nothing when stderr is not a terminal" {
	g2t-split -o tasks "$DATA/letter.train.csv.gz"
	on_tty "g2t-train -j2 -o w.g2t tasks/*.g2t"
	sed -n 's|^g2t-train: \([0-9]*\)/325 tasks.*|\1|p' tty >counts
	[ "$(wc -l <counts)" -ge 325 ]
	awk 'NR > 1 && $1 != p + 1 { print "after " p ": " $1; exit 1 } { p = $1 }' counts
	[ "$(tail -n 1 counts)" = 325 ]
	run --separate-stderr g2t-train -j2 -o w2.g2t tasks/*.g2t
	expect_status 0
	expect_no_stderr
}
