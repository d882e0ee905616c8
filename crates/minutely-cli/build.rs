//! The git commit the binary is built from, for the reports it writes (`MINUTELY_GIT_COMMIT`):
//! the short hash, `-dirty` with uncommitted changes to tracked files, `unknown` outside a git
//! checkout (a crate tarball) or without git.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn main() {
    let commit = match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(hash) if !hash.is_empty() => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
            if dirty { format!("{hash}-dirty") } else { hash }
        }
        _ => "unknown".to_owned(),
    };
    println!("cargo:rustc-env=MINUTELY_GIT_COMMIT={commit}");
    // A new commit or a change to what is staged moves HEAD or the index; an edit to the code
    // (dirty or clean again) changes a file under crates/ (Cargo scans a directory whole).
    println!("cargo:rerun-if-changed=..");
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        println!("cargo:rerun-if-changed={dir}/index");
        if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{head}");
        }
    }
}
