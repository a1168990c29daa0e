#!/usr/bin/env bash
# Runs every test of g2t and ends with the line "N passed, N failed".
# G2T_BIN and G2T_UNITS point at another build (make asan); FUZZ_SECONDS
# bounds each fuzz target (0 skips them).
set -u
cd "$(dirname "$0")/.."
export G2T_BIN=${G2T_BIN:-bin}
units=${G2T_UNITS:-build/tests}
fuzz_seconds=${FUZZ_SECONDS:-15}
passed=0 failed=0

# Echoes TAP from stdin and counts its results.
count() {
	local line
	while IFS= read -r line; do
		printf '%s\n' "$line"
		case $line in
		"ok "*) passed=$((passed + 1)) ;;
		"not ok "*) failed=$((failed + 1)) ;;
		esac
	done
}

# One check: a name and a command; its output is shown only on failure.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		echo "ok - $name"
		passed=$((passed + 1))
	elif [ $? = 77 ]; then  # cannot run here: said, and counted neither way
		echo "ok - $name # SKIP $(printf '%s\n' "$out" | tail -n 1)"
	else
		printf '%s\n' "$out" | tail -n 20
		echo "not ok - $name"
		failed=$((failed + 1))
	fi
}

# A unit test binary: its TAP, plus a failure if it dies before the end.
unit() {
	local log
	log=$(mktemp)
	"$1" > "$log" 2>&1
	local rc=$?
	count < "$log"
	grep -q '^1\.\.' "$log" || { echo "not ok - $1 exited early ($rc)"; failed=$((failed + 1)); }
	rm -f "$log"
}

echo "# unit tests"
for t in "$units"/test_*; do
	[ -x "$t" ] && unit "$t"
done

echo "# freestanding core"
check "core builds with -ffreestanding -nostdlib and calls nothing outside" make -s core-check

echo "# microcontrollers"
check "make check-mcu: bit-exact on emulated Cortex-M and AVR" make -s check-mcu

echo "# a device over a serial line (g2t-serial, the device firmware built for the host)"
make -s "$(dirname "$units")/mcu/dev-host" "$(dirname "$units")/mcu/dev-host-small" \
	"$(dirname "$units")/tools/serial-relay" > /dev/null
check "digits 4/9 on the device: WEIGHTS identical to g2t-train's" tests/serial.sh digits
check "the same on a 1 KB device asking for rows in reading order" tests/serial.sh small
check "45 digit pairs, float32 rows, pegasos, one session: identical" tests/serial.sh all45
check "flipped and dropped bytes on the line: frames sent again, identical" tests/serial.sh damage
check "a silent device: g2t-serial fails after its tries, saying so" tests/serial.sh stall
check "a device sending garbage: g2t-serial fails, saying so" tests/serial.sh garbage
check "a device restarting in a task: g2t-serial fails, saying so" tests/serial.sh reset

echo "# manual pages"
for page in man/*.[1578]; do
	check "mandoc -Tlint $page" mandoc -Tlint -W warning "$page"
done
check "g2t(5): the worked example is the bytes g2t-split and g2t-train write" \
	tests/vectors/example.sh --check
check "g2t(7): g2t-train writes the training vectors of tests/vectors/weights.expected" \
	tests/vectors/train.sh --check
check "g2t(7): an implementation from the pages alone makes g2t-train's bytes" \
	tests/vectors/reference.py --check
check "g2t(5): a third party's reader and writer from the pages: the tools' models, packets, predictions" \
	tests/vectors/thirdparty.py --check

echo "# the exact solver against LIBLINEAR: primal objectives within 0.1 %"
blobs=$(mktemp "${TMPDIR:-/tmp}/g2t-blobs.XXXXXX")
tests/bench/blobs.sh 6 8 80 3 > "$blobs"
for loss in hinge sqhinge logistic; do
	check "digits, $loss: every task's objective and gap" tests/objective.sh tests/data/digits.train.csv.gz $loss
done
check "letter, hinge: every task's objective and gap" tests/objective.sh tests/data/letter.train.csv.gz hinge
check "6 generated blobs, hinge: every task's objective and gap" tests/objective.sh "$blobs" hinge
check "6 generated blobs, logistic, C = 10: every task's objective and gap" \
	tests/objective.sh "$blobs" logistic 10
check "digits, hinge, class weights (-w): every task's objective and gap" \
	tests/objective.sh tests/data/digits.train.csv.gz hinge 1 0=4 7=0.25
tests/shapes.sh imbalanced 1 > "$blobs"
for loss in sqhinge logistic; do
	check "generated imbalanced, $loss, class weights (-w): every task's objective and gap" \
		tests/objective.sh "$blobs" $loss 1 k01=0.2 k06=8 k07=30
done
check "digits, one-vs-rest, sqhinge: every task's objective and gap" \
	tests/objective.sh --ovr tests/data/digits.train.csv.gz sqhinge
check "generated imbalanced, one-vs-rest, hinge, class weights (-w): every task's objective and gap" \
	tests/objective.sh --ovr "$blobs" hinge 1 k01=0.2 k06=8
rm -f "$blobs"

echo "# one-vs-rest against LIBLINEAR (liblinear-train -s 1 -B 1): within 1 point"
for ds in digits letter; do
	check "$ds: g2t-split --ovr against liblinear-train -s 1" \
		tests/ovr.sh "tests/data/$ds.train.csv.gz" "tests/data/$ds.test.csv.gz"
done

echo "# accuracy against LIBSVM (svm-train -t 0 -c 1): within 0.5 points or one test row"
shared=${G2T_SHARED_DATA:-../shared/data}
for ds in iris wine digits letter breast_cancer; do
	dir=tests/data
	[ -r "$dir/$ds.train.csv.gz" ] || dir=$shared
	[ -r "$dir/$ds.train.csv.gz" ] || { echo "# $ds: not found, skipped"; continue; }
	check "$ds: g2t's default against svm-train" \
		tests/accuracy.sh "$dir/$ds.train.csv.gz" "$dir/$ds.test.csv.gz"
done
shape=$(mktemp "${TMPDIR:-/tmp}/g2t-shape.XXXXXX")
for s in imbalanced many scales duplicates constant separable year timestamps; do
	tests/shapes.sh "$s" 1 > "$shape"
	check "generated, $s: g2t's default against svm-train (a fifth held out)" \
		tests/accuracy.sh "$shape" -
done
rm -f "$shape"

echo "# probabilities against LIBSVM (svm-train -t 0 -c 1 -b 1): rows sum to 1, log-loss within 0.05"
for ds in iris wine digits; do
	check "$ds: g2t-predict --probability against svm-predict -b 1" \
		tests/probability.sh "tests/data/$ds.train.csv.gz" "tests/data/$ds.test.csv.gz"
done

echo "# averaged SGD at 5, 20, 100 epochs: never 0.3 points lost, the objective never up, within 1 point of the exact solver"
for ds in iris wine digits letter breast_cancer; do
	dir=tests/data
	[ -r "$dir/$ds.train.csv.gz" ] || dir=$shared
	[ -r "$dir/$ds.train.csv.gz" ] || { echo "# $ds: not found, skipped"; continue; }
	check "$ds: asgd at 5, 20 and 100 epochs" \
		tests/epochs.sh "$dir/$ds.train.csv.gz" "$dir/$ds.test.csv.gz"
done
# the issue's divergence was on an imbalanced set; the shapes where the C = 1
# optimum scores below early epochs (many, constant) are in make bench
shape=$(mktemp -d "${TMPDIR:-/tmp}/g2t-shape.XXXXXX")
for s in imbalanced scales duplicates separable; do
	tests/shapes.sh "$s" 1 > "$shape/train.csv"
	tests/shapes.sh "$s" 2 > "$shape/test.csv"
	check "generated, $s: asgd at 5, 20 and 100 epochs" \
		tests/epochs.sh "$shape/train.csv" "$shape/test.csv"
done
rm -rf "$shape"

echo "# conformance: every reader on the crafted streams of tests/vectors"
count < <(tests/conformance.sh 2>&1)

echo "# program behaviour (bats)"
count < <(bats --tap tests/*.bats 2>&1)

echo "# the installed libraries"
check "make install; examples/predict.c built with pkg-config against libg2t-predict.so and libg2t.so" \
	tests/library.sh

echo "# README.md: every command block as printed (tests/readme.sh)"
count < <(tests/readme.sh 2>&1)

echo "# reliability"
check "kill -9 of the coordinator, 10 times, under 20 devices: nothing acknowledged is lost" \
	tests/stress/kill9.sh 10 20
check "the same with --replicas 2: every task agreed by two devices, none disagreeing" \
	tests/stress/kill9.sh 10 20 2
check "the state's disk filling up and kill -9, 8 times: every acknowledged result on disk" \
	tests/stress/fullfs.sh 8 10
check "2,000 slow connections and 20 unsigned 60 MiB bodies: devices finish, RSS under 256 MB" \
	tests/stress/attack.sh 2000 20 "${ATTACK_RSS_MB:-256}"

echo "# poor links (network namespaces, tc tbf and tests/tools/netproxy)"
check "digits on two poor links: W_t = 1 and adaptive give the same model, adaptive fewer requests" \
	tests/net/short.sh

if [ "$fuzz_seconds" -gt 0 ] && command -v clang > /dev/null; then
	echo "# fuzzing, ${fuzz_seconds}s a target"
	check "fuzz targets run clean" make -s fuzz FUZZ_SECONDS="$fuzz_seconds"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
