#!/usr/bin/env bash
# Emulator fan-out (issue 6, row 4): the `webpubsub-emulator` binary in its own process, the
# WebSocket clients and the REST sender (benches/emulator_fanout.rs) in another. For each client
# count: messages delivered per second on a group broadcast, the end-to-end latency (REST send to
# client receipt) one message at a time and under load, and the emulator's resident memory per
# idle connection. A fresh emulator per client count.
#
# Usage: benches/emulator_fanout.sh   (CLIENTS="1000 10000" DURATION=5 WINDOW=32 SENDERS=1 ROUNDS=1
#        PAYLOAD=0: bytes each message is padded to, e.g. PAYLOAD=2048)
#        EMULATOR_CPU=0 CLIENT_CPU=1 benches/emulator_fanout.sh   (pin the two processes)
#        ALL=1 CLIENTS=1000 benches/emulator_fanout.sh   (every row of BENCHMARKS.md: pinned with 4
#        senders and with 1, unpinned with 1, 2 KiB messages; one table)
#        EMULATOR_BIN=/path/to/webpubsub-emulator benches/emulator_fanout.sh   (another build,
#        e.g. an older commit's, for a before/after)
#        MEMORY_ONLY=1 CLIENTS=1000 benches/emulator_fanout.sh   (memory per idle connection only:
#        connect, read the emulator's RSS, stop; ROUNDS=5 for a median)
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/load/common.sh

CLIENTS=${CLIENTS:-"1000 10000"}
# Not SECONDS: bash keeps that one as the seconds since the shell started.
DURATION=${DURATION:-5}
WINDOW=${WINDOW:-32}
SENDERS=${SENDERS:-1}
ROUNDS=${ROUNDS:-1}
PAYLOAD=${PAYLOAD:-0}
KEY=fanout-bench-key-not-a-secret-0123456789

echo "building (release) ..." >&2
emu=$(emulator_bin)
bin=$(bench_bin emulator_fanout)

bench_workdir

# One row per setting: LABEL EMULATOR_CPU CLIENT_CPU SENDERS WINDOW PAYLOAD ("-" for no pinning).
# ALL=1 runs every row BENCHMARKS.md reports; otherwise one row from the variables above.
if [ "${ALL:-}" = 1 ]; then
  settings=(
    "pinned,4-senders 0 1 4 32 0"
    "pinned,1-sender 0 1 1 8 0"
    "unpinned,1-sender - - 1 32 0"
    "pinned,1-sender,2KiB 0 1 1 8 2048"
  )
else
  settings=("custom ${EMULATOR_CPU:--} ${CLIENT_CPU:--} $SENDERS $WINDOW $PAYLOAD")
fi
unpin() { [ "$1" = - ] && echo "" || echo "$1"; }

echo "$(machine_line) (before)" >&2
for round in $(seq "$ROUNDS"); do
  for setting in "${settings[@]}"; do
    read -r label emu_cpu client_cpu senders window payload <<<"$setting"
    for clients in $CLIENTS; do
      start_emulator "$emu" "$KEY" "$(unpin "$emu_cpu")"
      result=$($(pin "$(unpin "$client_cpu")") "$bin" "$cs" "$emu_pid" "$clients" "$DURATION" "$window" "$senders" "$payload")
      echo "round $round, $label, $clients clients: $result" >&2
      echo "{\"setting\":\"$label\",${result#\{}" >>"$work/results"
      kill "$emu_pid"; wait "$emu_pid" 2>/dev/null || true; emu_pid=
      if [ -s "$work/emu.err" ]; then echo "emulator stderr:" >&2; head -5 "$work/emu.err" >&2; fi
    done
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

if [ "${MEMORY_ONLY:-}" = 1 ]; then
  python3 - "$work/results" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    rows.setdefault(r["clients"], []).append(r["kib_per_idle_connection"])
print("| clients | KiB per idle connection (emulator RSS), median | runs |")
print("|---|---|---|")
for clients, kib in rows.items():
    print(f"| {clients:,} | {statistics.median(kib):.1f} | {', '.join(f'{k:.1f}' for k in kib)} |")
PY
  exit 0
fi

python3 - "$work/results" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    rows.setdefault((r["setting"], r["clients"]), []).append(r)
print("| setting | clients | messages delivered/s | latency p50 / p99 µs, one at a time | latency p50 / p99 µs, under load | CPU µs per message: emulator / clients (ratio) | KiB per idle connection (emulator RSS) |")
print("|---|---|---|---|---|---|---|")
for (setting, clients), rs in rows.items():
    med = lambda k: statistics.median(r[k] for r in rs)
    emu, cli = med('emulator_cpu_us_per_message'), med('clients_cpu_us_per_message')
    print(f"| {setting} | {clients:,} | {med('messages_per_s'):,.0f} | {med('idle_p50_us'):.0f} / {med('idle_p99_us'):.0f} | "
          f"{med('loaded_p50_us'):.0f} / {med('loaded_p99_us'):.0f} | "
          f"{emu:.2f} / {cli:.2f} ({emu / cli:.2f}x) | {med('kib_per_idle_connection'):.1f} |")
PY
