#!/usr/bin/env bash
# short.sh -- the network test bed's check in make check: two devices on the
# poor profile (64 kbit/s, 600 ms, 5 % loss, outages) train digits (8-bit
# shards) under W_t = 1 and under the adaptive W_t of Algorithm 1.  Passes
# when both runs give the one-machine model byte for byte and the adaptive
# policy makes fewer HTTP requests.  Exits 77 when namespaces cannot be
# made (not root).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
bin=${G2T_BIN:-bin}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$bin/g2t-split" -q 8 -o "$work/tasks" tests/data/digits.train.csv.gz
"$bin/g2t-train" "$work"/tasks/*.g2t | "$bin/g2t-merge" -o "$work/expected.model"
for policy in every adaptive; do
	rc=0
	NET_TIMEOUT=300 "$here/run.sh" "$work/tasks" "$policy" poor:2 "$work/$policy" \
		> /dev/null || rc=$?
	[ "$rc" = 0 ] || exit "$rc"
	cmp "$work/expected.model" "$work/$policy/model"
done
requests() { awk '$1 == "poor_requests" { print $2 }' "$work/$1/summary"; }
every=$(requests every) adaptive=$(requests adaptive)
echo "requests on the poor profile: W_t = 1: $every, adaptive: $adaptive"
[ "$adaptive" -lt "$every" ]
