#!/usr/bin/env bash
# Load and soak runs of docs/reliability.md, loopback only and bounded:
#   examples/soak/run.sh                 one million layer events, then 10,000 WebSocket clients x 3 cycles
#   EVENTS=100000 CLIENTS=2000 CYCLES=2 examples/soak/run.sh
# Builds with the bench profile (optimized, shared with the benches). The emulator runs in a child
# process, so each process holds about CLIENTS sockets; the fd limit is raised as far as allowed.
set -euo pipefail
cd "$(dirname "$0")/../.."
EVENTS=${EVENTS:-1000000}
CLIENTS=${CLIENTS:-10000}
CYCLES=${CYCLES:-3}
ulimit -n "$(ulimit -Hn)" || true
need=$((CLIENTS + 1024))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
  echo "soak: the fd limit $(ulimit -n) is below the $need that $CLIENTS clients need" >&2
  exit 1
fi
cargo build --profile bench --example soak
bin=target/release/examples/soak
echo "machine: $(nproc) CPUs; load average before: $(cut -d' ' -f1-3 /proc/loadavg); fd limit $(ulimit -n)"
"$bin" layer "$EVENTS"
"$bin" emulator "$CLIENTS" "$CYCLES"
