#!/usr/bin/env bash
# User-space instructions per request, counted by callgrind: a figure other load on the machine
# does not move, for measuring one change of a hot path at a time (BENCHMARKS.md, issue 6).
#
#   benches/instructions.sh layer [EVENT]   the event_load servers (a) serve-layer, (a2)
#                                          serve-layer-router, (b) serve-fixed, (b2)
#                                          serve-fixed-read, (b3)
#                                          serve-fixed-verify under callgrind,
#                                          driven by event_load's hyper client (4 connections,
#                                          4 s, EVENT user or connect); instructions per request =
#                                          the server's total / the answers it wrote. valgrind
#                                          hides SHA-NI, so SHA-256 runs in software there: the
#                                          script prints that part too, and the total without it.
#   benches/instructions.sh rest            rest_load's `ours` and `reqwest` senders under
#                                          callgrind against the emulator, on a current-thread
#                                          runtime (REST_LOAD_CURRENT_THREAD=1, repeatable
#                                          counts), 4 senders for 2 s and for 4 s; instructions
#                                          per send = the difference of the totals / the
#                                          difference of the sends, so start-up and warm-up cancel.
#
# SERVERS="serve-layer ..." counts only those servers (an older event_load may lack some);
# BENCH_TREE=DIR builds event_load or rest_load in another checkout, e.g. a `git worktree` of an
# older commit, to count that commit (benches/load/common.sh). CALLGRIND_DIR=DIR keeps the
# callgrind files there (SERVER.cg, MODE.SECONDS.cg), for `callgrind_annotate --inclusive=yes`.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/load/common.sh
command -v valgrind >/dev/null || { echo "instructions.sh: needs valgrind (apt-get install valgrind)" >&2; exit 1; }

bench_workdir

# total FILE: the instructions a callgrind output file counted.
total() { sed -n 's/^summary: //p' "$1"; }

# calls FILE REGEX: how often functions whose name matches REGEX were called.
calls() {
  python3 - "$1" "$2" <<'PY'
import re, sys
path, pattern = sys.argv[1], re.compile(sys.argv[2])
names, current, count = {}, None, 0
for line in open(path):
    m = re.match(r'c?fn=\((\d+)\)(?: (.*))?', line)
    if m:
        if m.group(2):
            names[m.group(1)] = m.group(2).strip()
        if line.startswith('cfn='):
            current = names.get(m.group(1))
    elif line.startswith('calls=') and current and pattern.search(current):
        count += int(line.split('=')[1].split()[0])
print(count)
PY
}

# inclusive FILE NAME: the inclusive instructions of the function NAME (0 if never called).
inclusive() {
  callgrind_annotate --inclusive=yes "$1" 2>/dev/null |
    awk -v name="$2" 'index($0, name " [") { gsub(",", "", $1); print $1; exit }' | grep . || echo 0
}

layer() {
  local event=${1:-user} bin
  bin=$(bench_bin event_load)
  printf '| server | requests | instructions/request | of which software SHA-256 | without it |\n|---|---|---|---|---|\n'
  for server in ${SERVERS:-serve-layer serve-layer-router serve-fixed serve-fixed-read serve-fixed-verify}; do
    local out=${CALLGRIND_DIR:-$work}/$server.cg
    start_server "$server" "" valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$server" 127.0.0.1:0
    "$bin" load "$server_url" "$event" 4 4 >/dev/null
    # TERM, not INT: a background job of a script ignores SIGINT. Callgrind still writes its file.
    kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
    local n all sha
    n=$(calls "$out" 'Http1Transaction>::encode$')
    all=$(total "$out")
    sha=$(inclusive "$out" 'sha2::sha256::compress256')
    python3 -c "n,a,s=$n,$all,$sha; print(f'| $server | {n} | {a/n:,.0f} | {s/n:,.0f} | {(a-s)/n:,.0f} |')"
  done
}

rest() {
  local emu bin
  emu=$(emulator_bin)
  bin=$(bench_bin rest_load)
  start_emulator "$emu" rest-load-bench-key-not-a-secret-0123456789
  printf '| sender | instructions/send |\n|---|---|\n'
  for mode in ours reqwest; do
    local sends=() totals=()
    for seconds in 2 4; do
      local out=${CALLGRIND_DIR:-$work}/$mode.$seconds.cg
      sends+=("$(REST_LOAD_CURRENT_THREAD=1 valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$bin" "$cs" "$mode" 4 "$seconds" 2>/dev/null | sed -n 's/.*"sends_with_warm_up":\([0-9]*\).*/\1/p')")
      totals+=("$(total "$out")")
    done
    python3 -c "print(f'| $mode | {(${totals[1]}-${totals[0]})/(${sends[1]}-${sends[0]}):,.0f} |')"
  done
}

case "${1:-}" in
  layer) layer "${2:-user}" ;;
  rest) rest ;;
  *) echo "usage: benches/instructions.sh layer [user|connect] | rest" >&2; exit 2 ;;
esac
