#!/usr/bin/env bash
# Client receive throughput (issue 16): messages per second one client receives from a group,
# and its CPU time per message, for
#   rust  webpubsub-client (benches/client_load.rs receive)
#   js    the official @azure/web-pubsub-client 1.1.0 on Node (benches/load/client_receive.mjs)
# in interleaved rounds against the same `webpubsub-emulator` binary (its own process, with the
# sender, on CPU 0; the receiver on CPU 1). Both receive on PROTOCOL: `json`
# (json.webpubsub.azure.v1, the default) or `reliable` (json.reliable.webpubsub.azure.v1; the JS
# client acknowledges once a second, so past ~1,000 messages/s it passes the 1,000
# unacknowledged messages a connection may hold, the emulator closes it with 1008 as the service
# does, and its row stalls). Prints a table of medians over the rounds and the ratios rust/js
# (within a round, then the median).
#
# Usage: benches/client_load.sh      (ROUNDS=3 COUNT=100000 WINDOW=800 PROTOCOL=json by default)
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/load/common.sh

ROUNDS=${ROUNDS:-3}
COUNT=${COUNT:-100000}
WINDOW=${WINDOW:-800}
PROTOCOL=${PROTOCOL:-json}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
KEY=client-load-bench-key-not-a-secret-0123

echo "building (release) ..." >&2
emu=$(emulator_bin)
bin=$(bench_bin client_load)
interop_packages @azure/web-pubsub-client

bench_workdir
start_emulator "$emu" "$KEY" "$SERVER_CPU"

echo "$(machine_line) (before)" >&2
for round in $(seq "$ROUNDS"); do
  for mode in rust js; do
    url=$("$bin" url "$cs" "receiver-$round-$mode")
    : >"$work/receiver.out"
    if [ "$mode" = js ]; then
      taskset -c "$CLIENT_CPU" node benches/load/client_receive.mjs "$url" "$COUNT" "$PROTOCOL" >"$work/receiver.out" &
    else
      taskset -c "$CLIENT_CPU" "$bin" receive "$url" "$COUNT" "$PROTOCOL" >"$work/receiver.out" &
    fi
    receiver=$!
    pids+=("$receiver")
    wait_line "$receiver" "$work/receiver.out" '^ready' >/dev/null || { echo "the $mode receiver did not start" >&2; exit 1; }
    taskset -c "$SERVER_CPU" "$bin" push "$cs" "$COUNT" "$WINDOW"
    wait "$receiver"
    result=$(grep -m1 '^{' "$work/receiver.out")
    echo "round $round $mode: $result" >&2
    echo "$round $result" >>"$work/results"
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$work/results" "$COUNT" "$ROUNDS" "$PROTOCOL" <<'PY'
import json, statistics, sys
path, count, rounds, protocol = sys.argv[1:]
by_round = {}
for line in open(path):
    rnd, js = line.split(" ", 1)
    r = json.loads(js)
    by_round.setdefault(int(rnd), {})[r["mode"]] = r
names = {"rust": "webpubsub-client", "js": "@azure/web-pubsub-client 1.1.0 (Node)"}
subprotocol = {"json": "json.webpubsub.azure.v1", "reliable": "json.reliable.webpubsub.azure.v1"}[protocol]
print(f"{count} messages per run on {subprotocol}, {rounds} interleaved rounds; medians over the rounds")
print()
print("| receiver | messages/s | CPU µs/message |")
print("|---|---|---|")
for m in ("rust", "js"):
    rs = [r[m] for r in by_round.values()]
    print(f"| {names[m]} | {statistics.median(x['messages_per_s'] for x in rs):,.0f} | {statistics.median(x['cpu_us_per_message'] for x in rs):.1f} |")
rate = [r["rust"]["messages_per_s"] / r["js"]["messages_per_s"] for r in by_round.values()]
cpu = [r["js"]["cpu_us_per_message"] / r["rust"]["cpu_us_per_message"] for r in by_round.values()]
fmt = lambda xs: " ".join(f"{x:.2f}" for x in xs)
print()
print("| ratio | median | per round |")
print("|---|---|---|")
print(f"| messages/s, rust / js | {statistics.median(rate):.2f} | {fmt(rate)} |")
print(f"| CPU per message, js / rust | {statistics.median(cpu):.2f} | {fmt(cpu)} |")
PY
