//! Runs the official JavaScript packages under `tests/interop/` from Rust tests.
//!
//! The packages are pinned by `tests/interop/package-lock.json`; the first test that needs them
//! runs `npm ci` once if `node_modules` is missing, so `cargo test` works on a fresh machine.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::Mutex,
    time::Duration,
};

/// The folder with `package.json` and the interop scripts.
pub fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// The package folders whose pinned packages this test binary has checked.
static INSTALLED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Installs the pinned packages of `tests/interop/` if they are not installed yet. Panics with a
/// clear message when `node`/`npm` are missing or the install fails.
pub fn ensure_packages() {
    ensure_packages_in(&interop_dir());
}

/// Installs the packages pinned by `dir/package-lock.json` (`npm ci`) if `dir/node_modules` is
/// missing. Panics with a clear message when `node`/`npm` are missing or the install fails.
pub fn ensure_packages_in(dir: &Path) {
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if installed.iter().any(|d| d == dir) {
        return;
    }
    let marker = dir.join("node_modules/.package-lock.json");
    if !marker.exists() {
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(dir)
            .status()
            .unwrap_or_else(|e| panic!("cannot run npm (install Node.js 20+ and npm): {e}"));
        assert!(
            status.success(),
            "npm ci in {} failed: {status}",
            dir.display()
        );
    }
    installed.push(dir.to_owned());
}

/// The result of a node script: its exit status and what it printed.
#[derive(Debug)]
pub struct NodeOutput {
    /// Whether the script exited with status 0.
    pub success: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `node <script> <args>` in `tests/interop/` with `envs`, killing it after `timeout`.
pub async fn run_node(
    script: &str,
    args: &[&str],
    envs: &[(&str, &str)],
    timeout: Duration,
) -> NodeOutput {
    run_node_in(&interop_dir(), script, args, envs, timeout).await
}

/// Runs `node <script> <args>` in the package folder `dir` (installing its pinned packages
/// first) with `envs`, killing it after `timeout`.
pub async fn run_node_in(
    dir: &Path,
    script: &str,
    args: &[&str],
    envs: &[(&str, &str)],
    timeout: Duration,
) -> NodeOutput {
    ensure_packages_in(dir);
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(script)
        .args(args)
        .current_dir(dir)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node (install Node.js 20+): {e}"));
    let output = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("node {script} did not finish within {timeout:?}"))
        .unwrap_or_else(|e| panic!("node {script} failed to run: {e}"));
    NodeOutput {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A node script that answers one JSON line on stdout for each JSON line it reads on stdin: a
/// test drives the official packages step by step. The process is killed when this is dropped.
pub struct NodeSession {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    script: String,
}

impl NodeSession {
    /// Starts `node <script>` in `tests/interop/` with `envs`.
    pub fn start(script: &str, envs: &[(&str, &str)]) -> Self {
        use tokio::io::AsyncBufReadExt as _;
        ensure_packages();
        let mut child = tokio::process::Command::new("node")
            .arg(script)
            .current_dir(interop_dir())
            .envs(envs.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run node (install Node.js 20+): {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = tokio::io::BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        Self {
            child,
            stdin,
            stdout,
            script: script.to_owned(),
        }
    }

    /// Sends `command` as one line and returns the script's one-line answer, within `timeout`.
    pub async fn call(
        &mut self,
        command: &serde_json::Value,
        timeout: Duration,
    ) -> serde_json::Value {
        use tokio::io::AsyncWriteExt as _;
        let line = format!("{command}\n");
        self.stdin
            .write_all(line.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("node {}: cannot write {command}: {e}", self.script));
        let answer = tokio::time::timeout(timeout, self.stdout.next_line())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "node {}: no answer to {command} in {timeout:?}",
                    self.script
                )
            })
            .unwrap_or_else(|e| panic!("node {}: cannot read: {e}", self.script))
            .unwrap_or_else(|| panic!("node {} exited before answering {command}", self.script));
        serde_json::from_str(&answer)
            .unwrap_or_else(|e| panic!("node {}: not JSON: {answer}: {e}", self.script))
    }
}

impl Drop for NodeSession {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
