#!/bin/bash
# deps.sh TARGET... -- install the Debian 12 packages that the named make
# targets need, and only those that are missing.
#
# Targets: build check demo bench experiment fuzz mcu.
# Silent when everything is present; otherwise prints one line naming what
# it installs, runs `apt-get update` once, then installs without
# recommends.  Needs no stdin (CI); uses sudo only when not root.  apt's own
# output is kept in a log that is shown only if apt fails.
set -eu

prog=deps.sh

usage() {
	echo "usage: $prog TARGET...   (targets: build check demo bench experiment fuzz mcu)" >&2
	exit 2
}

# required_for TARGET: print the packages TARGET cannot do without.
required_for() {
	case $1 in
	build)
		echo build-essential pkg-config zlib1g-dev libsodium-dev \
			libcurl4-openssl-dev libmicrohttpd-dev libsqlite3-dev ;;
	demo)
		required_for build
		echo curl ;;
	check)
		required_for demo
		# clang + compiler-rt: libFuzzer and the sanitizers; time: /usr/bin/time;
		# openssl signs the hand-made requests of tests/serve.bats; sqlite3 reads
		# and edits the state in tests/serve.bats and tests/stress/fullfs.sh;
		# liblinear-tools and libsvm-tools check the exact solver's objectives
		# and accuracy; tests/operator.bats renders the operator's page with
		# chromium, checks /metrics with prometheus's promtool and scrapes it
		# with prometheus, and reads JSON and PNG with python3 (as does
		# tests/vectors/reference.py and, with numpy and cryptography,
		# tests/vectors/thirdparty.py: g2t(5) and g2t(7) implemented from the
		# pages); tests/readme.sh runs README's scale-out block with GNU
		# parallel and a single-node Slurm (slurm-wlm's daemons and client,
		# munge); iproute2: the namespaces, veth pairs and tbf of tests/net/
		echo bats bats-assert bats-support mandoc clang libclang-rt-14-dev time openssl \
			sqlite3 liblinear-tools libsvm-tools chromium prometheus python3 \
			python3-numpy python3-cryptography \
			parallel slurmctld slurmd slurm-client munge iproute2 ;;
	bench)
		required_for demo
		echo liblinear-tools libsvm-tools time openssl ;;
	experiment)
		required_for demo
		echo iproute2 gnuplot-nox ;;
	fuzz)
		required_for build
		echo clang libclang-rt-14-dev ;;
	mcu)
		echo gcc-arm-none-eabi qemu-system-arm \
			gcc-avr avr-libc binutils-avr simavr libsimavr-dev \
			arduino-builder arduino-core-avr sqlite3 curl ;;
	*)
		echo "$prog: unknown target '$1'" >&2
		usage ;;
	esac
}

# optional_for TARGET: print packages installed only if the archive has them.
optional_for() {
	case $1 in
	bench) echo hyperfine ;;
	esac
}

# installed PKG: true when dpkg says PKG is installed.
installed() {
	[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

# available PKG: true when apt has an installation candidate for PKG.
available() {
	local cand
	cand=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2 }')
	[ -n "$cand" ] && [ "$cand" != "(none)" ]
}

# missing: of the package names on stdin (one a line), print those not
# installed, without repeats.
missing() {
	local p
	awk '!seen[$0]++' | while read -r p; do
		installed "$p" || echo "$p"
	done
}

# as_root CMD...: run CMD as root (sudo when needed; no prompt without a tty).
as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif [ -t 0 ]; then
		sudo "$@"
	else
		sudo -n "$@"
	fi
}

# need_root PKG...: fail early, naming PKG, when we could not become root.
need_root() {
	if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
		echo "$prog: not root and no sudo; as root: apt-get install $*" >&2
		exit 1
	fi
}

# apt_run ARGS...: run apt-get quietly, showing its log only if it fails.
apt_run() {
	local log
	log=$(mktemp)
	if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get "$@" >"$log" 2>&1; then
		tail -n 30 "$log" >&2
		rm -f "$log"
		echo "$prog: apt-get $1 failed" >&2
		exit 1
	fi
	rm -f "$log"
}

[ $# -gt 0 ] || usage

for t in "$@"; do
	required_for "$t" >/dev/null || exit 2	# fail here, not in a <(...)
done

# words: one package per line from the lists on stdin.
words() { tr -s ' \t' '\n' | sed '/^$/d'; }

mapfile -t want < <(for t in "$@"; do required_for "$t"; done | words | missing)
mapfile -t maybe < <(for t in "$@"; do optional_for "$t"; done | words | missing)

# Optional packages alone never trigger an `apt-get update` (that would make
# every run on a machine without them slow and noisy): they ride along when
# required ones are installed, or when apt already knows them.
if [ ${#want[@]} -eq 0 ]; then
	extra=()
	for p in "${maybe[@]+"${maybe[@]}"}"; do
		available "$p" && extra+=("$p")
	done
	[ ${#extra[@]} -eq 0 ] && exit 0
	need_root "${extra[@]}"
	echo "$prog: installing ${extra[*]}" >&2
	apt_run install -y --no-install-recommends "${extra[@]}"
	exit 0
fi

need_root "${want[@]}"
apt_run update
skipped=()
for p in "${maybe[@]+"${maybe[@]}"}"; do
	if available "$p"; then want+=("$p"); else skipped+=("$p"); fi
done
note=
[ ${#skipped[@]} -eq 0 ] || note=" (not available, skipped: ${skipped[*]})"
echo "$prog: installing ${want[*]}$note" >&2
apt_run install -y --no-install-recommends "${want[@]}"
