#!/usr/bin/env bash
# The client chaos soak of docs/reliability.md: tests/client_chaos.rs at full size, one million
# messages through a group while a seeded proxy cuts the receivers' connections every ~2 s on
# average (loopback only). CI runs the same test with fewer messages and faster cuts.
#   examples/soak/client_chaos.sh
#   CHAOS_MESSAGES=200000 CHAOS_MEAN_CUT_MS=500 CHAOS_SEED=7 examples/soak/client_chaos.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export CHAOS_MESSAGES=${CHAOS_MESSAGES:-1000000}
export CHAOS_MEAN_CUT_MS=${CHAOS_MEAN_CUT_MS:-2000}
export CHAOS_TIME_LIMIT_S=${CHAOS_TIME_LIMIT_S:-3600}
echo "machine: $(nproc) CPUs; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo test --profile bench --test client_chaos -- --nocapture
