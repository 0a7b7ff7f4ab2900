# shellcheck shell=bash
# Shared by the benches/*.sh scripts (sourced, not run): building the targets, the work folder
# and its cleanup, starting the servers and the emulator binary, CPU time of a process, and the
# machine line every script prints.

# bench_bin NAME: builds the bench target NAME (bench profile) and prints its executable, or
# fails saying so. BENCH_TREE=DIR builds it in another checkout instead (e.g. a `git worktree`
# of an older commit, for a before/after).
bench_bin() {
  local exe
  exe=$(cargo bench --manifest-path "${BENCH_TREE:-.}/Cargo.toml" --bench "$1" --no-run --message-format=json 2>/dev/null |
    jq -r --arg name "$1" 'select(.target.name == $name and .executable != null) | .executable' | tail -n 1)
  [ -x "$exe" ] || { echo "the bench target $1 did not build (cargo bench --bench $1 --no-run says why)" >&2; return 1; }
  echo "$exe"
}

# emulator_bin: $EMULATOR_BIN if set (another build, for a before/after), else builds the
# `webpubsub-emulator` binary (bench profile) and prints its path; fails if there is none.
emulator_bin() {
  local exe=${EMULATOR_BIN:-}
  if [ -z "$exe" ]; then
    exe=$(cargo build --profile bench -p webpubsub-emulator --bin webpubsub-emulator --message-format=json 2>/dev/null |
      jq -r 'select(.target.name == "webpubsub-emulator" and .executable != null) | .executable' | tail -n 1)
  fi
  [ -x "$exe" ] || { echo "no webpubsub-emulator executable (${exe:-the build failed})" >&2; return 1; }
  echo "$exe"
}

# pin CPU: the command prefix that pins a command to CPU (`taskset -c CPU`), nothing if CPU is
# empty. Used unquoted, `$(pin "$cpu") COMMAND &`, so that $! is COMMAND's own process (a
# function run in the background would be a shell of its own, with COMMAND its child).
pin() { if [ -n "${1:-}" ]; then echo "taskset -c $1"; fi; }

# bench_workdir: sets $work to a new temporary folder and $pids to an empty list; on exit, stops
# the processes in $pids and the emulator start_emulator last started ($emu_pid), and removes
# the folder.
bench_workdir() {
  work=$(mktemp -d)
  pids=()
  emu_pid=
  # shellcheck disable=SC2154 # pid is the trap's own loop variable
  trap 'for pid in $emu_pid "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"' EXIT
}

# wait_line PID FILE PATTERN: waits until FILE has a line matching PATTERN (grep -E) and prints
# it; fails once process PID has exited or after 30 s (valgrind is slow to start).
wait_line() {
  for _ in $(seq 300); do
    grep -m1 -E "$3" "$2" 2>/dev/null && return
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  return 1
}

# start_server NAME CPU COMMAND...: runs COMMAND (pinned to CPU unless it is empty) with its
# output in $work/NAME.out and .err, adds it to $pids, and waits for its `listening ADDR` line
# (the event_load servers and load/express_server.mjs print one); sets server_pid and
# server_url (the event path of hub `chat` at ADDR). Exits if the server does not start.
start_server() {
  local name=$1 cpu=$2 line
  shift 2
  : >"$work/$name.out" # before the start: wait_line must not read an earlier run's line
  # shellcheck disable=SC2046 # the prefix is meant to split into words
  $(pin "$cpu") "$@" >"$work/$name.out" 2>"$work/$name.err" &
  server_pid=$!
  pids+=("$server_pid")
  line=$(wait_line "$server_pid" "$work/$name.out" '^listening ') || {
    echo "server $name did not start:" >&2
    cat "$work/$name.err" >&2
    exit 1
  }
  # shellcheck disable=SC2034 # server_url is the callers' result
  server_url="http://${line#listening }/api/webpubsub/hubs/chat/"
}

# start_emulator EMULATOR KEY [CPU]: starts the emulator on a free port (pinned to CPU if given)
# with its output in $work; sets emu_pid and cs (its connection string).
start_emulator() {
  : >"$work/emu.out" # before the start: wait_line must not read the last emulator's line
  # shellcheck disable=SC2046 # the prefix is meant to split into words
  RUST_LOG=warn $(pin "${3:-}") "$1" --port 0 --key "$2" >"$work/emu.out" 2>"$work/emu.err" &
  emu_pid=$!
  # shellcheck disable=SC2034 # cs is the callers' result
  cs=$(wait_line "$emu_pid" "$work/emu.out" '^Endpoint=') || {
    echo "the emulator did not start:" >&2
    cat "$work/emu.err" >&2
    exit 1
  }
}

# interop_packages PACKAGE...: installs tests/interop's pinned npm packages unless the named
# ones are there.
interop_packages() {
  for package in "$@"; do
    [ -d "tests/interop/node_modules/$package" ] || {
      (cd tests/interop && npm ci --no-audit --no-fund --silent)
      return
    }
  done
}

# cpu_ticks PID: the process's user + system CPU time so far, in clock ticks (1/100 s).
cpu_ticks() {
  awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# machine_line: the CPUs, their model and the load average now.
machine_line() {
  echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
}
