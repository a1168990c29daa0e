#!/usr/bin/env bash
# make demo: the letter data trained first on this machine, then by eight
# devices over HTTP on loopback (Globe2Train): two are killed mid-task, two
# sit behind a slow link and batch their results, and the coordinator
# re-issues what the dead ones held.
set -eu
cd "$(dirname "$0")/.."
work=$(mktemp -d)
server=
cleanup() {
	pkill -9 -f "$work/dev" 2> /dev/null || true
	[ -z "$server" ] || { kill "$server"; wait "$server"; } 2> /dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
train=tests/data/letter.train.csv.gz test=tests/data/letter.test.csv.gz

echo "== one machine: split | train | merge"
start=$(date +%s.%N)
bin/g2t-split "$train" | bin/g2t-train -j"$(nproc)" | bin/g2t-merge > "$work/local.model"
printf 'letter, 325 one-vs-one tasks in %.2f s: ' "$(awk "BEGIN { print $(date +%s.%N) - $start }")"
bin/g2t-predict --eval "$work/local.model" "$test" | head -n 1

echo
echo "== eight devices, one coordinator (g2t-serve) on loopback"
bin/g2t-split -o "$work/tasks" "$train"
mkdir "$work/keys"
for i in 1 2 3 4 5 6 7 8; do
	bin/g2t-pack --keygen -p "$work/keys/dev$i.pub" -s "$work/dev$i.key"
done
bin/g2t-serve --tasks "$work/tasks" --state "$work/state" --devices "$work/keys" \
	--listen 127.0.0.1:0 --port-file "$work/port" --lease-timeout 4 2> "$work/serve.log" &
server=$!
while [ ! -s "$work/port" ]; do sleep 0.05; done
url=http://127.0.0.1:$(cat "$work/port")

# One device: fetch a task, train it, pack and send the weights, until done.
device() { # NAME [g2t-fetch options] [-- g2t-pack options]
	local name=$1 fetch=() pack=() rc
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do fetch+=("$1"); shift; done
	[ $# -eq 0 ] || { shift; pack=("$@"); }
	while :; do
		rc=0
		bin/g2t-fetch -s "$work/$name.key" --cache "$work/$name.cache" "${fetch[@]}" \
			"$url" > "$work/$name.task" 2> /dev/null || rc=$?
		if [ $rc -eq 75 ]; then
			# nothing to lease: send what is held, then stop once all is done
			bin/g2t-pack -s "$work/$name.key" --spool "$work/$name.spool" --flush \
				--send "$url" < /dev/null 2> /dev/null || true
			curl -s "$url/v1/status" | grep -q '"complete":true' && return
			sleep 0.5
			continue
		fi
		[ $rc -eq 0 ] || return
		bin/g2t-train "$work/$name.task" |
			bin/g2t-pack -s "$work/$name.key" --spool "$work/$name.spool" \
				"${pack[@]}" --send "$url" 2> /dev/null || true
	done
}

pids=()
start=$(date +%s.%N)
for i in 1 2 3 4 5 6; do device "dev$i" & pids+=($!); done
for i in 7 8; do device "dev$i" --limit-rate 40000 -- --quality 0.2 & pids+=($!); done
sleep 0.4
for i in 1 2; do # killed mid-task: their tasks must go to others
	{ kill -9 "${pids[i - 1]}"; wait "${pids[i - 1]}"; } 2> /dev/null || true
	pkill -9 -f "$work/dev$i\\." || true
done
echo "devices 1 and 2 killed mid-task; 7 and 8 on a 40 kB/s link, batching 5 results a packet"
while :; do
	status=$(curl -s "$url/v1/status")
	done_=$(echo "$status" | sed -n 's/.*"done":\([0-9]*\).*/\1/p')
	# a counter rewritten in place on a terminal; a log gets only the total
	[ -t 1 ] && printf '\r%s of 325 tasks done' "$done_"
	case $status in *'"complete":true'*) break ;; esac
	sleep 0.5
done
[ -t 1 ] || printf '%s of 325 tasks done' "$done_"
printf ' in %.1f s\n' "$(awk "BEGIN { print $(date +%s.%N) - $start }")"
wait "${pids[@]:2}" 2> /dev/null || true
curl -s "$url/v1/model" -o "$work/devices.model"
echo "$status" | sed -n 's/.*"reissued":\([0-9]*\),"backups":\([0-9]*\).*/leases held by dead or slow devices: \2 backed up by idle devices, \1 re-issued once expired/p'
printf 'model trained by the devices: '
bin/g2t-predict --eval "$work/devices.model" "$test" | head -n 1
if cmp -s "$work/devices.model" "$work/local.model"; then
	echo "it is byte-identical to the one-machine model (training is deterministic)"
fi
