#!/usr/bin/env bash
# REST client throughput (issue 6, row 3): group sends per second against the `webpubsub-emulator`
# binary (its own process, on CPU 0) from
#   ours     webpubsub_rest::WebPubSubServiceClient (benches/rest_load.rs)
#   reqwest  a bare reqwest::Client posting the same requests with a pre-signed token: the limit
#   js       the official @azure/web-pubsub 1.2.0 SDK on Node (benches/load/rest_sdk.mjs)
# at the same concurrency and duration, interleaved rounds, senders on CPU 1. Prints a table:
# median sends/s and p50/p99 latency over the rounds, and the ratios ours/reqwest and ours/js
# (each within a round, then the median).
#
# Usage: benches/rest_load.sh      (ROUNDS=5 DURATION=5 CONCURRENCY=16 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/load/common.sh

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
CONCURRENCY=${CONCURRENCY:-16}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
KEY=rest-load-bench-key-not-a-secret-0123456789

echo "building (release) ..." >&2
emu=$(emulator_bin)
bin=$(bench_bin rest_load)
interop_packages @azure/web-pubsub

bench_workdir

start_emulator "$emu" "$KEY" "$SERVER_CPU"

echo "$(machine_line) (before)" >&2
for round in $(seq "$ROUNDS"); do
  for mode in ours reqwest js; do
    if [ "$mode" = js ]; then
      result=$(taskset -c "$LOAD_CPU" node benches/load/rest_sdk.mjs "$cs" "$CONCURRENCY" "$DURATION")
    else
      result=$(taskset -c "$LOAD_CPU" "$bin" "$cs" "$mode" "$CONCURRENCY" "$DURATION")
    fi
    echo "round $round $mode: $result" >&2
    echo "$round $result" >>"$work/results"
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$work/results" "$CONCURRENCY" "$DURATION" "$ROUNDS" <<'PY'
import json, statistics, sys
path, concurrency, duration, rounds = sys.argv[1:]
by_round = {}
for line in open(path):
    rnd, js = line.split(" ", 1)
    r = json.loads(js)
    by_round.setdefault(int(rnd), {})[r["mode"]] = r
names = {"ours": "webpubsub-rest", "reqwest": "bare reqwest, pre-signed token", "js": "@azure/web-pubsub 1.2.0 (Node)"}
print(f"concurrency {concurrency}, {duration} s per run, {rounds} interleaved rounds; medians over the rounds")
print()
print("| client | sends/s | p50 µs | p99 µs | client CPU µs/send |")
print("|---|---|---|---|---|")
for m in ("ours", "reqwest", "js"):
    rs = [r[m] for r in by_round.values()]
    med = lambda k: statistics.median(x[k] for x in rs)
    print(f"| {names[m]} | {med('sends_per_s'):,.0f} | {med('p50_us'):.0f} | {med('p99_us'):.0f} | {med('client_cpu_us_per_send'):.1f} |")
ratio = lambda a, b: [r[a]["sends_per_s"] / r[b]["sends_per_s"] for r in by_round.values()]
fmt = lambda xs: " ".join(f"{x:.2f}" for x in xs)
print()
print("| ratio | median | per round |")
print("|---|---|---|")
print(f"| ours / reqwest (target ≥ 0.9) | {statistics.median(ratio('ours', 'reqwest')):.2f} | {fmt(ratio('ours', 'reqwest'))} |")
print(f"| ours / js (target ≥ 3) | {statistics.median(ratio('ours', 'js')):.2f} | {fmt(ratio('ours', 'js'))} |")
cpu = lambda m: statistics.median(r[m]["client_cpu_us_per_send"] for r in by_round.values())
print(f"| client CPU per send, reqwest / ours | {cpu('reqwest') / cpu('ours'):.2f} | |")
print(f"| client CPU per send, js / ours | {cpu('js') / cpu('ours'):.2f} | |")
PY
