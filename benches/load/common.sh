# Shared by the benches/*.sh scripts (sourced, not run): building the targets, starting the
# emulator binary, and the machine line every script prints.

# bench_bin NAME: builds the bench target NAME (bench profile) and prints its executable.
bench_bin() {
  cargo bench --bench "$1" --no-run --message-format=json 2>/dev/null |
    jq -r --arg name "$1" 'select(.target.name == $name and .executable != null) | .executable' | tail -n 1
}

# emulator_bin: $EMULATOR_BIN if set (another build, for a before/after), else builds the
# `webpubsub-emulator` binary (bench profile) and prints its path.
emulator_bin() {
  if [ -n "${EMULATOR_BIN:-}" ]; then
    echo "$EMULATOR_BIN"
    return
  fi
  cargo build --profile bench -p webpubsub-emulator --bin webpubsub-emulator --message-format=json 2>/dev/null |
    jq -r 'select(.target.name == "webpubsub-emulator" and .executable != null) | .executable' | tail -n 1
}

# emulator_workdir: sets $work to a new temporary folder and, on exit, stops the emulator that
# start_emulator last started there (emu_pid) and removes the folder.
emulator_workdir() {
  work=$(mktemp -d)
  emu_pid=
  trap 'if [ -n "$emu_pid" ]; then kill "$emu_pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
}

# start_emulator EMULATOR KEY [CPU]: starts the emulator on a free port (pinned to CPU if given)
# with its output in $work; sets emu_pid and cs (its connection string).
start_emulator() {
  local pin=()
  if [ -n "${3:-}" ]; then pin=(taskset -c "$3"); fi
  : >"$work/emu.out"
  RUST_LOG=warn "${pin[@]}" "$1" --port 0 --key "$2" >"$work/emu.out" 2>"$work/emu.err" &
  emu_pid=$!
  for _ in $(seq 100); do grep -q '^Endpoint=' "$work/emu.out" && break; sleep 0.1; done
  cs=$(grep -m1 '^Endpoint=' "$work/emu.out") || {
    echo "the emulator did not start:" >&2
    cat "$work/emu.err" >&2
    exit 1
  }
}

# machine_line: the CPUs, their model and the load average now.
machine_line() {
  echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
}
