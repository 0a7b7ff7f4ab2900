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
