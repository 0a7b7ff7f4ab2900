#!/usr/bin/env bash
# Event throughput (issue 6, row 1): signed `user.message` text events and `connect` events
# against
#   (a) WebPubSubLayer in axum at the event path's route, the handler answering "Hey " + data
#       (event_load serve-layer)
#   (a2) as (a), mounted with `Router::layer` as the README does: axum routes each event through
#        its fallback first  (event_load serve-layer-router)
#   (b) the same axum stack answering the event path with a fixed body  (event_load serve-fixed)
#   (b2) as (b), after reading the request body with axum's `Bytes` extractor: what the stack
#        charges any handler just to receive an event  (event_load serve-fixed-read)
#   (b3) as (b2), after checking ce-signature with the hmac crate: the least a handler that
#        follows the protocol does, the floor under (a)  (event_load serve-fixed-verify)
#   (c) @azure/web-pubsub-express 1.1.0 on express 4, the same handler  (load/express_server.mjs)
# with the same load generator, the same connections and duration, interleaved: every round runs
# each server once, a between b3 and c, in an order that reverses from round to round
# (b3 a c a2 b b2, then b2 b a2 c a b3). This VM's speed drifts by ±15 % within seconds, so the
# ratios come from many short rounds of neighbouring runs. The load generator is wrk (Debian's,
# installed here if missing; LOADGEN=wrk), which costs less per request than the servers, so that (b) measures the stack and not the
# generator; LOADGEN=hyper uses benches/event_load.rs's hyper client instead. Either way every
# server's answers are checked first (status and "Hey hello world") with the hyper client.
# The servers share CPU 0 and the load generator runs on CPU 1 (taskset), so each server gets
# one core, as Node has. Prints a table: median requests/s, p50/p99 latency over the rounds,
# and the ratios a/b3 and a/c (the goals), a/b, a/b2, a2/b3, a2/a and the floors' own b2/b and
# b3/b (each computed within a round, then the median).
#
# Usage: benches/throughput.sh            (ROUNDS=15 DURATION=2 WARMUP=20 CONNECTIONS=32 LOADGEN=wrk
#                                          by default)
#        ROUNDS=3 DURATION=3 EVENTS=user benches/throughput.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/load/common.sh

ROUNDS=${ROUNDS:-15}
DURATION=${DURATION:-2}
WARMUP=${WARMUP:-20}
CONNECTIONS=${CONNECTIONS:-32}
EVENTS=${EVENTS:-"user connect"}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
LOADGEN=${LOADGEN:-wrk}
if [ "$LOADGEN" = wrk ] && ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian) ..." >&2
  apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y wrk >/dev/null; }
fi

echo "building (release) ..." >&2
bin=$(bench_bin event_load)
interop_packages @azure/web-pubsub-express

bench_workdir

# start NAME COMMAND...: runs a server on SERVER_CPU and keeps its process id and URL.
start() {
  start_server "$1" "$SERVER_CPU" "${@:2}"
  echo "$server_pid" >"$work/$1.pid"
  echo "$server_url" >"$work/$1.url"
}
start a "$bin" serve-layer 127.0.0.1:0
start a2 "$bin" serve-layer-router 127.0.0.1:0
start b "$bin" serve-fixed 127.0.0.1:0
start b2 "$bin" serve-fixed-read 127.0.0.1:0
start b3 "$bin" serve-fixed-verify 127.0.0.1:0
start c node benches/load/express_server.mjs 0

# Check every server's answers once (the hyper client reads and compares the bodies).
for event in $EVENTS; do
  "$bin" wrk-script "$event" >"$work/$event.lua"
  for server in a a2 b b2 b3 c; do
    check=$("$bin" load "$(cat "$work/$server.url")" "$event" 2 1)
    case $check in
      *'"errors":0,'*) ;;
      *) echo "throughput.sh: server $server answers $event events wrongly: $check" >&2; exit 1 ;;
    esac
  done
done

# run SERVER EVENT [SECONDS]: one run (DURATION seconds unless given), one JSON line.
run() {
  local seconds=${3:-$DURATION}
  if [ "$LOADGEN" = wrk ]; then
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"${seconds}s" -s "$work/$2.lua" "$(cat "$work/$1.url")" | grep '^{'
  else
    taskset -c "$LOAD_CPU" "$bin" load "$(cat "$work/$1.url")" "$2" "$CONNECTIONS" "$seconds"
  fi
}

echo "$(machine_line) (before)" >&2
for event in $EVENTS; do
  # Node compiles the express handler's hot path over the first tens of seconds of load (its
  # rate rises by about 15 %); every server gets the same unmeasured warm-up first.
  for server in a a2 b b2 b3 c; do
    run "$server" "$event" "$WARMUP" >/dev/null
  done
  for round in $(seq "$ROUNDS"); do
    order="b3 a c a2 b b2"
    [ $((round % 2)) = 0 ] && order="b2 b a2 c a b3"
    for server in $order; do
      pid=$(cat "$work/$server.pid")
      before=$(cpu_ticks "$pid")
      result=$(run "$server" "$event")
      ticks=$(( $(cpu_ticks "$pid") - before ))
      echo "$event round $round $server: $result (server CPU $ticks ticks)" >&2
      echo "$event $round $server $ticks $result" >>"$work/results"
    done
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$work/results" "$CONNECTIONS" "$DURATION" "$ROUNDS" "$LOADGEN" <<'EOF'
import json, statistics, sys
path, connections, duration, rounds, loadgen = sys.argv[1:]
runs = {}
for line in open(path):
    event, rnd, server, ticks, js = line.split(" ", 4)
    run = json.loads(js)
    # Server CPU per request: what the server pays whatever else shares its core.
    run["cpu_us"] = int(ticks) * 10_000 / max(run["requests"], 1)
    runs.setdefault(event, {}).setdefault(int(rnd), {})[server] = run
names = {"a": "(a) WebPubSubLayer + axum", "a2": "(a2) as (a), with Router::layer", "b": "(b) axum, fixed answer", "b2": "(b2) axum, fixed answer after reading the body", "b3": "(b3) as (b2), after checking ce-signature", "c": "(c) web-pubsub-express 1.1.0"}
print(f"load generator {loadgen}, {connections} connections, {duration} s per run, {rounds} interleaved rounds; medians over the rounds")
print()
print("| event | server | requests/s | p50 µs | p99 µs | server CPU µs/request | errors |")
print("|---|---|---|---|---|---|---|")
for event, by_round in runs.items():
    for s in ("a", "a2", "b", "b2", "b3", "c"):
        rs = [r[s] for r in by_round.values()]
        med = lambda k: statistics.median(x[k] for x in rs)
        print(f"| {event} | {names[s]} | {med('rps'):,.0f} | {med('p50_us'):.0f} | {med('p99_us'):.0f} | {med('cpu_us'):.1f} | {sum(x['errors'] for x in rs)} |")
print()
print("| event | a/b3 (target ≥ 0.90) | a/c (target ≥ 8) | a/b | a/b2 | a2/b3 | a2/a | b2/b | b3/b | a/b3 per round | a/c per round | CPU per request b3/a, a2/a, c/a |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for event, by_round in runs.items():
    ratios = lambda x, y: [r[x]["rps"] / r[y]["rps"] for r in by_round.values()]
    med = lambda x, y: f"{statistics.median(ratios(x, y)):.2f}"
    fmt = lambda xs: " ".join(f"{x:.2f}" for x in xs)
    cpu = lambda s: statistics.median(r[s]["cpu_us"] for r in by_round.values())
    per_cpu = ", ".join(f"{cpu(s) / cpu('a'):.2f}" for s in ("b3", "a2", "c"))
    print(f"| {event} | {med('a', 'b3')} | {med('a', 'c')} | {med('a', 'b')} | {med('a', 'b2')} | {med('a2', 'b3')} | {med('a2', 'a')} | {med('b2', 'b')} | {med('b3', 'b')} | {fmt(ratios('a', 'b3'))} | {fmt(ratios('a', 'c'))} | {per_cpu} |")
EOF
