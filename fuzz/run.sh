#!/usr/bin/env bash
# Runs every fuzz target for a bounded time on its committed seeds (fuzz/seeds/<target>), after
# installing cargo-fuzz if it is missing. Usage: fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#
# The toolchain is stable; libFuzzer's instrumentation needs nightly-only flags (-Zsanitizer,
# sancov passes), which RUSTC_BOOTSTRAP=1 unlocks on a stable rustc. The new inputs a run finds
# go to fuzz/corpus/<target> (ignored by git); crashes go to fuzz/artifacts/<target> and fail the
# script. FUZZ_SANITIZER=none skips AddressSanitizer (faster, finds panics only).
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-10}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  targets=(cloudevents_request connection_state connection_string odata_filter client_frame emulator_jwt tunnel_frame grpc_event)
fi
sanitizer="${FUZZ_SANITIZER:-address}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
cargo fuzz build -O --sanitizer "$sanitizer"

failed=()
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "seeds/$target"
  log="$(mktemp)"
  echo "== fuzz $target for ${seconds}s"
  status=0
  # -rss_limit_mb: libFuzzer's 2 GB default is more than a shared CI runner should give a target.
  cargo fuzz run -O --sanitizer "$sanitizer" "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10 -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  grep -E '^#[0-9]+[[:space:]]+(DONE|INITED)|^stat::(number_of_executed_units|peak_rss_mb)' "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -n 40 "$log"
    failed+=("$target")
  fi
  rm -f "$log"
done

if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzz targets failed: ${failed[*]} (crashing inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${seconds}s each without a crash"
