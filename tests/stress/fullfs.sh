#!/usr/bin/env bash
# Fault injection: the coordinator's state on a 16 MB tmpfs that a filler
# keeps filling and freeing while ten devices train digits, and the
# coordinator killed with SIGKILL at random moments and restarted, KILLS
# times.  After each kill, every task whose result a device saw acknowledged
# must be done in the state on disk; at the end the model must be
# byte-identical to the one-machine model.  Needs root (mount).
# usage: fullfs.sh [KILLS] [DEVICES]
set -eu
cd "$(dirname "$0")/../.."
kills=${1:-6} devices=${2:-10}
bin=${G2T_BIN:-bin}
work=$(mktemp -d)
server= filler=
cleanup() {
	# the device loops first, or they would start new processes
	touch "$work/finished"
	[ ${#pids[@]} -eq 0 ] || kill -9 "${pids[@]}" 2> /dev/null || true
	wait "${pids[@]}" 2> /dev/null || true
	pkill -9 -f "$work/" 2> /dev/null || true
	[ -z "$filler" ] || kill -9 "$filler" 2> /dev/null || true
	[ -z "$server" ] || kill -9 "$server" 2> /dev/null || true
	wait 2> /dev/null || true
	umount "$work/fs" 2> /dev/null || true
	rm -rf "$work"
}
pids=()
trap cleanup EXIT

mkdir "$work/fs"
mount -t tmpfs -o size=16m tmpfs "$work/fs" ||
	{ echo "fullfs: cannot mount a tmpfs (root is needed)"; exit 1; }
"$bin/g2t-split" -o "$work/tasks" tests/data/digits.train.csv.gz
"$bin/g2t-train" "$work"/tasks/*.g2t | "$bin/g2t-merge" > "$work/expected.model"
mkdir "$work/keys"
for i in $(seq "$devices"); do
	"$bin/g2t-pack" --keygen -p "$work/keys/d$i.pub" -s "$work/d$i.key"
done

# Starts the server on the state, freeing the disk if it cannot start.
start_server() { # PORT
	local tries
	for tries in 1 2 3 4 5; do
		rm -f "$work/port"
		"$bin/g2t-serve" --tasks "$work/tasks" --state "$work/fs/state" \
			--devices "$work/keys" --listen "127.0.0.1:$1" --port-file "$work/port" \
			--lease-timeout 2 \
			2>> "$work/serve.log" &
		server=$!
		while [ ! -s "$work/port" ] && kill -0 "$server" 2> /dev/null; do sleep 0.02; done
		[ -s "$work/port" ] && return 0
		wait "$server" 2> /dev/null || true
		rm -f "$work/fs/fill"*
	done
	echo "fullfs: the server does not start"; cat "$work/serve.log"; exit 1
}

# Fills the disk to the last block, holds it full, frees 256 KB, and so on.
fill() {
	local i=0
	while :; do
		i=$((i + 1))
		dd if=/dev/zero of="$work/fs/fill$i" bs=64k 2> /dev/null || true
		sleep 0.4
		rm -f "$work/fs/fill$i"
		dd if=/dev/zero of="$work/fs/fill$i" bs=64k count=$((RANDOM % 40)) 2> /dev/null || true
		sleep 0.3
	done
}

# A device: its tasks pending acknowledgement, and those acknowledged
# (g2t-pack exit 0: every packet it held was acknowledged).
device() { # N
	local k=$work/d$1 rc
	: > "$k.pending"
	while [ ! -e "$work/finished" ]; do
		rc=0
		"$bin/g2t-fetch" -s "$k.key" --cache "$k.cache" --retry-max 2 "$url" \
			> "$k.task" 2> /dev/null || rc=$?
		if [ $rc -eq 0 ]; then
			od -An -tu4 -j $(($(task_at "$k.task") + 72)) -N4 "$k.task" | tr -d ' ' \
				>> "$k.pending"
			rc=0
			"$bin/g2t-train" "$k.task" 2> /dev/null |
				"$bin/g2t-pack" -s "$k.key" -q 1 --spool "$k.spool" --retry-max 2 \
					--send "$url" 2> /dev/null || rc=$?
		else
			rc=0
			"$bin/g2t-pack" -s "$k.key" -q 1 --spool "$k.spool" --flush --retry-max 2 \
				--send "$url" < /dev/null > /dev/null 2>&1 || rc=$?
			sleep 0.2
		fi
		if [ $rc -eq 0 ]; then
			cat "$k.pending" >> "$k.acked"
			: > "$k.pending"
		elif [ $rc -eq 3 ]; then # refused and set aside: not acknowledged
			: > "$k.pending"
		fi
	done
}

# The byte offset of the first TASK record of a stream.
task_at() {
	local off=8 type len size
	size=$(stat -c %s "$1")
	while [ "$off" -lt "$size" ]; do
		type=$(od -An -tu4 -j "$off" -N4 "$1" | tr -d ' ')
		len=$(od -An -tu4 -j $((off + 4)) -N4 "$1" | tr -d ' ')
		[ "$type" = 3 ] && { echo "$off"; return; }
		off=$((off + 12 + len))
	done
	echo 0
}

start_server 0
port=$(cat "$work/port")
url=http://127.0.0.1:$port
fill & filler=$!
pids=()
for i in $(seq "$devices"); do device "$i" & pids+=($!); done

checked=0
for k in $(seq "$kills"); do
	sleep "$(awk -v s="$RANDOM" 'BEGIN { srand(s); print 0.3 + rand() * 1.2 }')"
	kill -9 "$server"
	wait "$server" 2> /dev/null || true
	# the server is dead: what devices saw acknowledged must be on disk
	sort -u "$work"/d*.acked 2> /dev/null > "$work/acked" || true
	# read a copy: SQLite would write its WAL index on the full disk
	rm -rf "$work/copy" && mkdir "$work/copy"
	cp "$work/fs/state/g2t.db" "$work/copy/"
	[ ! -e "$work/fs/state/g2t.db-wal" ] || cp "$work/fs/state/g2t.db-wal" "$work/copy/"
	sqlite3 "$work/copy/g2t.db" 'SELECT id FROM tasks WHERE state=2' > "$work/done.txt"
	sort -u "$work/done.txt" > "$work/done"
	missing=$(comm -23 "$work/acked" "$work/done")
	[ -z "$missing" ] || { echo "fullfs: acknowledged but not in the state: $missing"; exit 1; }
	checked=$(wc -l < "$work/acked")
	start_server "$port"
done

kill -9 "$filler"; wait "$filler" 2> /dev/null || true
filler=
rm -f "$work/fs/fill"*
deadline=$((SECONDS + 120))
until curl -s "$url/v1/status" | grep -q '"complete":true'; do
	[ $SECONDS -lt $deadline ] || { echo "fullfs: not complete after 120 s"; exit 1; }
	sleep 0.3
done
touch "$work/finished"
{ pkill -f "$work/d"; wait "${pids[@]}"; } 2> /dev/null || true
curl -s "$url/v1/model" -o "$work/devices.model"
full=$(grep -c 'answering 503' "$work/serve.log" || true)
echo "fullfs: $kills kills with the state's disk filling up; $checked acknowledged tasks" \
	"found on disk after the last kill; the disk was full for the state $full times"
cmp "$work/devices.model" "$work/expected.model"
[ "$full" -gt 0 ] || { echo "fullfs: the disk never filled under the state"; exit 1; }
echo "fullfs: the model is complete and byte-identical to the one-machine model"
