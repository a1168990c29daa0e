#!/usr/bin/env bash
# readme.sh -- runs every command block of README.md as printed, each in a
# scratch directory holding bin/ (the programs of $G2T_BIN) and tests/data
# (the shipped data), with HOME there too; for sbatch, a single-node Slurm
# is started and stopped here (as root, with Debian's slurm-wlm and munge).  Two changes only: the port
# 8080 becomes a free loopback port, and the block of `make demo` and
# `make check` is not run (make check runs this script).  A block whose
# commands need a program that is missing (sbatch without a Slurm) has those
# lines left out, said on stderr.  Every block must exit 0 under
# `bash -e -o pipefail`, and every letter.model a block writes must be the
# model of the plain pipeline, byte for byte.  Exit 0 when all pass.
set -u
cd "$(dirname "$0")/.."
root=$PWD
bin=${G2T_BIN:-bin}
[[ $bin == /* ]] || bin=$root/$bin
work=$(mktemp -d "${TMPDIR:-/tmp}/g2t-readme.XXXXXX")
chmod 711 "$work" # munged wants its socket reachable by all
failed=0

# The blocks between ``` fences, each into $work/block-N.sh.
awk -v dir="$work" '
	/^```/ { if (inside) { inside = 0; close(f) } else { inside = 1; f = dir "/block-" ++n ".sh" }; next }
	inside { print > f }
' README.md

"$bin/g2t-split" tests/data/letter.train.csv.gz | "$bin/g2t-train" -j2 |
	"$bin/g2t-merge" -o "$work/expected.model" || exit 1

# A single-node Slurm under $work/slurm (see ../shared/SLURM.md), when we
# are root, its programs are installed and its ports free; 0 when it runs.
slurm_dir=$work/slurm
slurm_start() {
	local d=$slurm_dir host mem i
	[ "$(id -u)" = 0 ] || { echo "not root"; return 1; }
	for i in munged mungekey slurmctld slurmd sbatch sinfo scontrol; do
		command -v "$i" >/dev/null || { echo "no $i (Debian's slurm-wlm and munge)"; return 1; }
	done
	if (exec 3<>/dev/tcp/127.0.0.1/6817) 2>/dev/null ||
		(exec 3<>/dev/tcp/127.0.0.1/6818) 2>/dev/null; then
		echo "ports 6817/6818 are taken"
		return 1
	fi
	host=$(hostname -s)
	mem=$(($(free -m | awk '/^Mem:/ { print $2 }') - 1024))
	mkdir -p "$d/munge" "$d/state" "$d/spool" "$d/log" "$d/run"
	chmod 711 "$d/munge"
	mungekey -c -k "$d/munge/munge.key" || return 1
	munged -S "$d/munge/munge.socket" --key-file="$d/munge/munge.key" \
		--pid-file="$d/munge/munged.pid" --log-file="$d/munge/munged.log" \
		--seed-file="$d/munge/munged.seed" || return 1
	cat >"$d/slurm.conf" <<-EOF
	ClusterName=g2t
	SlurmctldHost=$host(127.0.0.1)
	SlurmUser=root
	SlurmdUser=root
	AuthType=auth/munge
	CredType=cred/munge
	AuthInfo=socket=$d/munge/munge.socket
	MpiDefault=none
	MailProg=/bin/true
	ProctrackType=proctrack/linuxproc
	TaskPlugin=task/none
	SwitchType=switch/none
	SelectType=select/cons_tres
	SelectTypeParameters=CR_Core
	SchedulerType=sched/backfill
	SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
	JobAcctGatherType=jobacct_gather/none
	AccountingStorageType=accounting_storage/none
	JobCompType=jobcomp/none
	ReturnToService=2
	SlurmctldPort=6817
	SlurmdPort=6818
	StateSaveLocation=$d/state
	SlurmdSpoolDir=$d/spool
	SlurmctldPidFile=$d/run/slurmctld.pid
	SlurmdPidFile=$d/run/slurmd.pid
	SlurmctldLogFile=$d/log/slurmctld.log
	SlurmdLogFile=$d/log/slurmd.log
	MaxArraySize=10001
	NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
	PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:16
	EOF
	export SLURM_CONF=$d/slurm.conf
	slurmctld && slurmd || return 1
	for ((i = 0; i < 100; i++)); do
		[ "$(sinfo -h -o %T 2>/dev/null)" = idle ] && return 0
		sleep 0.1
	done
	echo "the node never became idle"
	return 1
}

slurm_stop() {
	local f i pids=()
	[ -d "$slurm_dir/run" ] || return 0
	for f in "$slurm_dir"/run/*.pid; do
		[ -s "$f" ] && pids+=("$(cat "$f")")
	done
	if [ -n "${SLURM_CONF-}" ]; then
		scancel --full --quiet -u root 2>/dev/null
		scontrol shutdown 2>/dev/null
	fi
	for f in "${pids[@]}"; do
		for ((i = 0; i < 100; i++)); do
			kill -0 "$f" 2>/dev/null || break
			sleep 0.1
		done
		kill "$f" 2>/dev/null
	done
	munged -S "$slurm_dir/munge/munge.socket" --stop 2>/dev/null
	unset SLURM_CONF
}
trap 'slurm_stop; rm -rf "$work"' EXIT

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

for block in "$work"/block-*.sh; do
	name=${block##*/}
	if grep -q '^make demo' "$block"; then
		echo "# $name: make demo and make check, not run here (make check runs this)"
		continue
	fi
	dir=$work/${name%.sh}
	mkdir -p "$dir/tests"
	ln -s "$bin" "$dir/bin"
	ln -s "$root/tests/data" "$dir/tests/data"
	sed "s/127\.0\.0\.1:8080/127.0.0.1:$(free_port)/g" "$block" >"$dir/run.sh"
	if grep -q '^sbatch' "$dir/run.sh" && [ -z "${SLURM_CONF-}" ] &&
		! slurm_start >"$work/slurm.out" 2>&1; then
		echo "# $name: no single-node Slurm ($(tail -n 1 "$work/slurm.out")):" \
			"its sbatch line is left out"
		sed -i '/^sbatch/d' "$dir/run.sh"
	fi
	start=$EPOCHREALTIME
	if (cd "$dir" && HOME=$dir timeout 600 bash -e -o pipefail run.sh) >"$dir/out" 2>"$dir/err"; then
		if [ -e "$dir/letter.model" ] && ! cmp -s "$dir/letter.model" "$work/expected.model"; then
			echo "not ok - $name: letter.model differs from the pipeline's"
			failed=1
		else
			echo "ok - $name ($(awk -v a="$start" -v b="$EPOCHREALTIME" \
				'BEGIN { printf "%.1f", b - a }') s)"
		fi
	else
		echo "not ok - $name failed; its commands, then stderr:"
		sed 's/^/#   /' "$dir/run.sh"
		tail -n 20 "$dir/err" | sed 's/^/# ! /'
		failed=1
	fi
done
exit "$failed"
