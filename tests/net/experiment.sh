#!/usr/bin/env bash
# experiment.sh [OUT] -- make experiment: the paper's claims on the network
# test bed (tests/net/run.sh).  Writes OUT (results/) with report.md, the
# PNG plots and every run's summary.
#
#  1. Policies: letter (325 tasks) and the 95-class synthetic set (4,465
#     tasks) trained by a fleet of good, mid and poor devices under W_t = 1,
#     W_t = 8 and the adaptive W_t, and the adaptive W_t with a server that
#     gives no backup leases, each cell NET_REPS times (3): time to
#     the model, bytes, requests, failures, leases re-issued, stale results,
#     communication over computation per profile; the model must be the same
#     bytes in every run.
#  2. Class count: C = 3, 5, 10, 15, 20, 25 classes of letter and of the
#     synthetic set, on one machine (split, train -j2, merge) and through a
#     smaller fleet: time and test accuracy.
#
# NET_REPORT_ONLY=1 makes the report and plots again from OUT's runs.
# Environment: NET_FLEET (good:10,mid:10,poor:10), NET_SMALL_FLEET
# (good:4,mid:3,poor:3), NET_REPS (3), NET_SYNTHETIC_REPS (NET_REPS; the
# whole experiment took 19 min 54 s on a 2-core machine shared with other
# work, load average about 10), NET_SETS
# (letter synthetic),
# G2T_BIN, TOOLS.  Needs root for the namespaces.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
out=$(mkdir -p "${1:-results}" && cd "${1:-results}" && pwd)
bin=${G2T_BIN:-bin}
fleet=${NET_FLEET:-good:10,mid:10,poor:10}
small=${NET_SMALL_FLEET:-good:4,mid:3,poor:3}
reps=${NET_REPS:-3}
sets=${NET_SETS:-letter synthetic}
policies="every fixed8 adaptive adaptive-nobackups"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say() { echo "experiment: $*" >&2; }
now() { date +%s%3N; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (!NR) print "n/a"; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
field() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }

# data NAME C: train and test CSV of C classes (0: all) in $work/NAME-C.
data() {
	local name=$1 c=$2 d=$work/$1-$2
	[ -d "$d" ] && return
	mkdir -p "$d"
	case $name in
	letter)
		for part in train test; do
			zcat "tests/data/letter.$part.csv.gz" | awk -F, -v c="$c" \
				'NR == 1 || c == 0 || index("ABCDEFGHIJKLMNOPQRSTUVWXYZ", $NF) <= c' \
				> "$d/$part.csv"
		done ;;
	synthetic)
		local k=$c
		[ "$k" != 0 ] || k=95
		tests/bench/blobs.sh "$k" 40 240 1 > "$d/train.csv"
		tests/bench/blobs.sh "$k" 40 60 2 > "$d/test.csv" ;;
	esac
	"$bin/g2t-split" -o "$d/tasks" "$d/train.csv"
}

# one_machine NAME C: split, train -j2 and merge; "seconds accuracy".
one_machine() {
	local d=$work/$1-$2 t0 ms acc
	t0=$(now)
	"$bin/g2t-split" "$d/train.csv" | "$bin/g2t-train" -j2 | "$bin/g2t-merge" -o "$d/model"
	ms=$(($(now) - t0))
	acc=$("$bin/g2t-predict" -e "$d/model" "$d/test.csv" | awk '$1 == "accuracy" { print $2 }')
	echo "$((ms / 1000)).$(printf %03d $((ms % 1000))) $acc"
}

# ------------------------------------------------------------- 1. policies
mkdir -p "$out/runs"
[ "${NET_REPORT_ONLY:-0}" = 0 ] || sets_run= classes_run=
for set in ${sets_run-$sets}; do
	data "$set" 0
	one_machine "$set" 0 > "$out/one-$set"
	ls "$work/$set-0/tasks" | wc -l > "$out/tasks-$set"
	n=$reps
	[ "$set" != synthetic ] || n=${NET_SYNTHETIC_REPS:-$reps}
	for policy in $policies; do
		for r in $(seq "$n"); do
			say "$set, $policy, run $r of $n ($fleet)"
			"$here/run.sh" "$work/$set-0/tasks" "$policy" "$fleet" "$out/runs/$set-$policy-$r" \
				> /dev/null
			cmp -s "$work/$set-0/model" "$out/runs/$set-$policy-$r/model" ||
				{ say "FAIL: $set $policy run $r: the model differs from one machine's"; exit 1; }
			rm -f "$out/runs/$set-$policy-$r/model"
		done
	done
done

# stat SET POLICY KEY: "median min max" over the runs
stat() {
	local f vals
	vals=$(for f in "$out"/runs/"$1-$2"-[0-9]*/summary; do field "$f" "$3"; done)
	echo "$(echo "$vals" | median) $(echo "$vals" | sort -g | head -n 1) $(echo "$vals" | sort -g | tail -n 1)"
}
# cell SET POLICY KEY [SCALE]: "median (min-max)"
cell() {
	stat "$1" "$2" "$3" | awk -v s="${4:-1}" '{ printf "%.4g (%.4g-%.4g)", $1 / s, $2 / s, $3 / s }'
}
# per SET POLICY PROFILE KEY DIVKEY: median over runs of KEY / DIVKEY
per() {
	local f
	for f in "$out"/runs/"$1-$2"-[0-9]*/summary; do
		awk -v a="$3_$4" -v b="$5" '$1 == a { x = $2 } $1 == b { y = $2 }
			END { if (y > 0) print x / y }' "$f"
	done | median
}
# trained SET POLICY PROFILE: median over runs of the tasks a PROFILE device
# trained (the runs' devices files), on average
trained() {
	local f
	for f in "$out"/runs/"$1-$2"-[0-9]*/devices; do
		awk -v p="$3" '$2 == p { n++; for (i = 3; i <= NF; i++) if ($i ~ /^trained=/) t += substr($i, 9) }
			END { if (n) print t / n }' "$f"
	done | median
}

# ---------------------------------------------------------- 2. class count
classes="3 5 10 15 20 25"
[ -n "${classes_run-x}" ] && : > "$out/classes.dat"
for set in ${classes_run-$sets}; do
	for c in $classes; do
		data "$set" "$c"
		read -r secs acc < <(one_machine "$set" "$c")
		say "$set, $c classes, fleet ($small)"
		"$here/run.sh" "$work/$set-$c/tasks" adaptive "$small" "$out/runs/classes-$set-$c" > /dev/null
		cmp -s "$work/$set-$c/model" "$out/runs/classes-$set-$c/model" ||
			{ say "FAIL: $set, $c classes: the fleet's model differs from one machine's"; exit 1; }
		rm -f "$out/runs/classes-$set-$c/model"
		echo "$set $c $secs $(field "$out/runs/classes-$set-$c/summary" seconds) $acc" >> "$out/classes.dat"
	done
done

# ---------------------------------------------------------------- 3. plots
: > "$out/policies.dat"
for set in $sets; do
	for policy in $policies; do
		echo "$set-$policy $(stat "$set" "$policy" seconds)" >> "$out/policies.dat"
	done
done
if command -v gnuplot > /dev/null; then
	gnuplot <<-EOF
	set terminal pngcairo size 900,500
	set style data histogram
	set style histogram errorbars gap 2 lw 1
	set style fill solid 0.6 border -1
	set yrange [0:*]
	set ylabel "seconds to the complete model"
	set output "$out/time-to-model.png"
	set title "Time to the model by policy (median, bars: range)"
	set xtics rotate by -30
	plot "$out/policies.dat" using 2:3:4:xtic(1) title "$fleet"
	EOF
	for set in $sets; do
		for p in good mid poor; do
			for policy in $policies; do
				echo "$p-$policy $(per "$set" "$policy" "$p" bytes_up "${p}_devices")" \
					"$(per "$set" "$policy" "$p" requests "${p}_devices")"
			done
		done > "$out/per-device-$set.dat"
		gnuplot <<-EOF
		set terminal pngcairo size 900,500
		set style data histogram
		set style fill solid 0.6 border -1
		set yrange [0:*]
		set xtics rotate by -30
		set output "$out/bytes-$set.png"
		set title "$set: bytes sent a device (median)"
		plot "$out/per-device-$set.dat" using 2:xtic(1) title "bytes up"
		set output "$out/requests-$set.png"
		set title "$set: HTTP requests a device (median)"
		plot "$out/per-device-$set.dat" using 3:xtic(1) title "requests"
		EOF
	done
	gnuplot <<-EOF
	set terminal pngcairo size 900,500
	set output "$out/classes.png"
	set title "Time and accuracy against the number of classes"
	set xlabel "classes"
	set ylabel "seconds"
	set y2label "test accuracy"
	set logscale y
	set y2tics
	set key left top
	plot for [s in "$sets"] "< grep '^".s." ' $out/classes.dat" using 2:3 with linespoints title s." one machine", \
	     for [s in "$sets"] "< grep '^".s." ' $out/classes.dat" using 2:4 with linespoints title s." fleet", \
	     for [s in "$sets"] "< grep '^".s." ' $out/classes.dat" using 2:5 axes x1y2 with linespoints dt 2 title s." accuracy"
	EOF
fi

# ratio SET POLICY PROFILE KEY: median over runs of KEY summed over the
# PROFILE devices over the tasks they trained (the runs' devices files)
ratio() {
	local f
	for f in "$out"/runs/"$1-$2"-[0-9]*/devices; do
		awk -v p="$3" -v k="$4" '$2 == p { for (i = 3; i <= NF; i++) {
				split($i, kv, "="); if (kv[1] == k) x += kv[2]; if (kv[1] == "trained") t += kv[2] } }
			END { if (t) print x / t }' "$f"
	done | median
}

# findings SET: the comparisons of the report, in words, from the medians.
findings() {
	local e f a
	e=$(stat "$1" every seconds | cut -d' ' -f1)
	f=$(stat "$1" fixed8 seconds | cut -d' ' -f1)
	a=$(stat "$1" adaptive seconds | cut -d' ' -f1)
	awk -v set="$1" -v e="$e" -v f="$f" -v a="$a" \
		-v nb="$(stat "$1" adaptive-nobackups seconds)" \
		-v tp="$(trained "$1" adaptive poor)" -v tpe="$(trained "$1" every poor)" \
		-v re="$(per "$1" every poor requests poor_devices)" \
		-v ra="$(per "$1" adaptive poor requests poor_devices)" \
		-v be="$(per "$1" every poor bytes_up poor_devices)" \
		-v ba="$(per "$1" adaptive poor bytes_up poor_devices)" \
		-v gf="$(ratio "$1" fixed8 good requests)" -v ga="$(ratio "$1" adaptive good requests)" \
		-v lp="$(ratio "$1" adaptive poor leases)" -v pp="$(ratio "$1" adaptive poor packets)" \
		-v lm="$(ratio "$1" adaptive mid leases)" -v pm="$(ratio "$1" adaptive mid packets)" \
		-v bk="$(stat "$1" adaptive leases_backup | cut -d' ' -f1)" \
		-v bkf="$(stat "$1" fixed8 leases_backup | cut -d' ' -f1)" \
		-v bke="$(stat "$1" every leases_backup | cut -d' ' -f1)" \
		-v stale="$(for p in $policies; do stat "$1" "$p" results_stale | cut -d' ' -f3; done | sort -g | tail -n 1)" \
		-v expired="$(for p in $policies; do stat "$1" "$p" results_expired | cut -d' ' -f3; done | sort -g | tail -n 1)" 'BEGIN {
		printf "- %s: the adaptive W_t reached the model in %.1f s, W_t = 1 in %.1f s and W_t = 8 in %.1f s", set, a, e, f
		printf ": adaptive took %.0f %% of the time of W_t = 1 and %.0f %% of that of W_t = 8", 100 * a / e, 100 * a / f
		if (a <= e && a <= f) printf ", the fastest of the three.\n"
		else if (a <= e) printf "; W_t = 8 was the fastest.\n"
		else if (f <= e) printf "; W_t = 8 was the fastest, and W_t = 1 faster than adaptive.\n"
		else printf "; W_t = 1 was the fastest.\n"
		if (a > f && ga > gf)
			printf "- Where adaptive is slower than W_t = 8: on a good link q is near 1, so W_t = 1/q is 1, and a good device, which does most of the work, made %.2f HTTP requests a task (a lease and a packet for each) against %.2f under W_t = 8. A task trains in milliseconds, so round trips and the server'"'"'s signature checks, not bytes, set the pace: Algorithm 1 sizes W_t to the link, not to the cost of a request.\n", ga, gf
		if (lp + 0 > 0 && lm + 0 > 0)
			printf "- Leases follow the link, not W_t: under the adaptive W_t a poor-link device leased %.1f tasks a lease and sent %.1f weight sets a packet, a mid-link device %.1f and %.1f. Before g2t-device sized leases to the link, a poor device leased as many tasks as W_t wanted, up to 16 at once over 64 kbit/s, and the model waited for those downloads.\n", 1 / lp, (pp > 0 ? 1 / pp : 0), 1 / lm, (pm > 0 ? 1 / pm : 0)
		if (tp + 0 == 0 || tpe + 0 == 0)
			printf "- Poor-link devices trained (nearly) nothing before the model was complete (%.1f tasks a device under the adaptive W_t, %.1f under W_t = 1): their first leases, over 64 kbit/s with 600 ms RTT, 5 %% loss and outages, had not come back, and the good and mid links did the work; their requests say little here.\n", tp, tpe
		d = re > 0 ? 100 * (1 - ra / re) : 0
		if (tp + 0 > 0 && tpe + 0 > 0) printf "- A device on the poor link made %.0f requests under the adaptive W_t against %.0f under W_t = 1 (%.0f %% %s) and sent %.1f KB against %.1f KB.\n", ra, re, d < 0 ? -d : d, d < 0 ? "more" : "fewer", ba / 1024, be / 1024
		printf "- The tail: once no task is left to hand out, idle devices get backup leases on the oldest tasks still leased (median %d a run under W_t = 1, %d under W_t = 8, %d under the adaptive W_t); the first result is taken and the holder'"'"'s late copy ignored.", bke, bkf, bk
		split(nb, n, " ")
		if (n[1] + 0 > 0) {
			printf " With a server that gives no backups the adaptive W_t took %.1f s (%.1f-%.1f) against %.1f s", n[1], n[2], n[3], a
			if (n[1] > a) printf ": backups took %.0f %% off the time to the model, which otherwise waits for the slowest links'"'"' last leases.\n", 100 * (1 - a / n[1])
			else printf ": here backups did not shorten the run.\n"
		} else printf "\n"
		printf "- Staleness: in any run at most %d results were ignored as stale (their task was done: mostly those late copies; counted until the model is complete) and %d refused as expired, and every run gave the one-machine model byte for byte.\n", stale, expired
	}'
}

# --------------------------------------------------------------- 4. report
{
	echo "# Globe2Train's claims on a simulated network"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average at the end $(cut -d' ' -f1-3 /proc/loadavg)."
	echo "Fleet: $fleet; each cell run $reps times (the synthetic set ${NET_SYNTHETIC_REPS:-$reps}), median (range). Links (tests/net/bed.sh): good 10 Mbit/s, 20 ms RTT; mid 1 Mbit/s, 150 ms,"
	echo "1 % loss; poor 64 kbit/s, 600 ms, 5 % loss, a 10 s outage every minute. Rates by tc tbf on"
	echo "veth pairs between network namespaces, delay, loss and outages by tests/tools/netproxy."
	echo "Every run's model was compared with the one-machine model: all identical."
	for set in $sets; do
		echo
		echo "## $set ($(cat "$out/tasks-$set") tasks; one machine: $(cut -d' ' -f1 "$out/one-$set") s, accuracy $(cut -d' ' -f2 "$out/one-$set"))"
		echo
		echo "| policy | seconds to model | leases re-issued | backup leases | results ignored (stale) | refused (expired) | times unreachable (good mid poor) |"
		echo "|---|---|---|---|---|---|---|"
		for policy in $policies; do
			echo "| $policy | $(cell "$set" "$policy" seconds) | $(cell "$set" "$policy" leases_reissued) | $(cell "$set" "$policy" leases_backup) | $(cell "$set" "$policy" results_stale) | $(cell "$set" "$policy" results_expired) | $(for p in good mid poor; do printf '%s ' "$(stat "$set" "$policy" "${p}_failures" | cut -d' ' -f1)"; done) |"
		done
		echo
		echo "Per device, by link profile (medians over runs of the per-device mean):"
		echo
		echo "| policy | profile | tasks trained | KB up | KB down | requests | network s / training s |"
		echo "|---|---|---|---|---|---|---|"
		for policy in $policies; do
			for p in good mid poor; do
				echo "| $policy | $p | $(trained "$set" "$policy" "$p" | awk '{ printf "%.1f", $1 }') |" \
					"$(per "$set" "$policy" "$p" bytes_up "${p}_devices" | awk '{ printf "%.1f", $1 / 1024 }') |" \
					"$(per "$set" "$policy" "$p" bytes_down "${p}_devices" | awk '{ printf "%.1f", $1 / 1024 }') |" \
					"$(per "$set" "$policy" "$p" requests "${p}_devices" | awk '{ printf "%.1f", $1 }') |" \
					"$(per "$set" "$policy" "$p" net_ms "${p}_train_ms" | awk '$1 == "n/a" { print; next } { printf "%.1f", $1 }') |"
			done
		done
	done
	echo
	echo "## Classes"
	echo
	echo "| set | classes | one machine s | fleet s ($small) | accuracy |"
	echo "|---|---|---|---|---|"
	awk '{ printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' "$out/classes.dat"
	echo
	echo "Plots: time-to-model.png, bytes-SET.png, requests-SET.png, classes.png."
	echo
	echo "## What the numbers say"
	for set in $sets; do
		echo
		findings "$set"
	done
} > "$out/report.md"
say "report: $out/report.md"
