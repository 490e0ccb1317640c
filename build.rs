//! Build script: stamps the git commit into the binary (shown by `/health`), so an operator can tell exactly
//! which build is running. Builds outside a git checkout (e.g. from a source tarball) say "unknown".

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map(|commit| commit.trim().to_owned())
        .filter(|commit| !commit.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=ZOS_GIT_COMMIT={commit}");
    // Re-stamp when HEAD moves (a commit, a checkout); not on every build.
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
}
