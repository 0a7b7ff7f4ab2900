//! Headless Chromium for the browser tests (`tests/browser/*.mjs`, driven by playwright-core).

use std::path::Path;
use std::process::Command;

/// Debian's Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Makes sure Debian's Chromium is installed, installing it when running as root.
pub fn ensure_chromium() {
    if Path::new(CHROMIUM).exists() {
        return;
    }
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    assert_eq!(
        uid, "0",
        "{CHROMIUM} is missing and this test is not running as root to install it: \
         run `sudo apt-get install -y chromium` (Debian's package) and run the test again"
    );
    for args in [
        &["update", "-qq"][..],
        &["install", "-y", "-qq", "chromium"][..],
    ] {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .unwrap_or_else(|e| panic!("cannot run apt-get to install chromium: {e}"));
        assert!(
            status.success(),
            "apt-get {} failed: {status}",
            args.join(" ")
        );
    }
    assert!(
        Path::new(CHROMIUM).exists(),
        "apt-get installed chromium but {CHROMIUM} is still missing"
    );
}
