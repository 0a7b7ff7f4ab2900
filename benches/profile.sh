#!/usr/bin/env bash
# Where the layer's time per request goes, against the stack's limit (BENCHMARKS.md, issue 6):
# the event_load servers (a) serve-layer, (b) serve-fixed, (b2) serve-fixed-read and (b3)
# serve-fixed-verify, each alone
# on CPU 0 under wrk (CPU 1, 32 connections) while `perf record -F 9999` samples it. Each
# symbol's share of the samples times the server's CPU time per request gives its nanoseconds
# per request; the script prints the symbols where (a) spends the most more than (b3), (b2) and
# (b).
#
# Usage: benches/profile.sh [EVENT]     (EVENT user or connect; DURATION=6 seconds per server)
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/load/common.sh
EVENT=${1:-user}
DURATION=${DURATION:-6}
for tool in perf wrk; do
  command -v "$tool" >/dev/null || { echo "profile.sh: needs $tool (Debian: linux-perf, wrk)" >&2; exit 1; }
done

bin=$(bench_bin event_load)
bench_workdir
"$bin" wrk-script "$EVENT" >"$work/event.lua"

for server in a b b2 b3; do
  case $server in
    a) mode=serve-layer ;;
    b) mode=serve-fixed ;;
    b2) mode=serve-fixed-read ;;
    b3) mode=serve-fixed-verify ;;
  esac
  start_server "$server" 0 "$bin" "$mode" 127.0.0.1:0
  pid=$server_pid
  before=$(cpu_ticks "$pid")
  taskset -c 1 wrk -t1 -c32 -d"${DURATION}s" -s "$work/event.lua" "$server_url" | grep '^{' >"$work/$server.wrk" &
  wrk_pid=$!
  sleep 0.5
  perf record -q -F 9999 -p "$pid" -o "$work/$server.perf" -- sleep $((DURATION - 1)) 2>/dev/null
  wait "$wrk_pid"
  ticks=$(( $(cpu_ticks "$pid") - before ))
  echo "$ticks" >"$work/$server.ticks"
  perf report -i "$work/$server.perf" --no-children --sort dso,sym --stdio 2>/dev/null |
    grep -E '^ +[0-9]' >"$work/$server.syms"
  kill "$pid"
done

python3 - "$work" <<'PY'
import json, re, sys
work = sys.argv[1]
def load(server):
    run = json.load(open(f"{work}/{server}.wrk"))
    ns_per_request = int(open(f"{work}/{server}.ticks").read()) * 1e7 / run["requests"]
    symbols = {}
    for line in open(f"{work}/{server}.syms"):
        m = re.match(r"\s+([0-9.]+)%\s+(\S+)\s+\[.\]\s+(.*)", line)
        if m:
            symbols[m.group(3).strip()] = float(m.group(1)) / 100 * ns_per_request
    return ns_per_request, symbols
a_total, a = load("a")
for base in ("b3", "b2", "b"):
    total, other = load(base)
    print(f"\n(a) {a_total:,.0f} ns CPU per request, ({base}) {total:,.0f}: (a) spends {a_total - total:,.0f} more")
    print(f"| symbol | (a) ns | ({base}) ns | difference |\n|---|---|---|---|")
    rows = sorted(((a.get(k, 0) - other.get(k, 0), k) for k in set(a) | set(other)), reverse=True)
    for diff, name in rows[:25]:
        print(f"| `{name[:90]}` | {a.get(name, 0):.0f} | {other.get(name, 0):.0f} | {diff:+.0f} |")
PY
