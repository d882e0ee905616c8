//! The README's five-minute tour, run as written: every code block marked ```` ```sh tour ````, in
//! order, in one bash, with the built `minutely` first on the PATH and no AWS settings but the
//! ones the tour exports. Only the sim's port is changed (to a free one, so that the test can
//! run beside anything on 4567). It runs in a scratch directory that sees the repository's
//! `scenarios/`, so that the tour's files (`sim.env`, `target/scenarios/`) land there.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The tour's blocks, in order.
fn tour_blocks(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut rest = readme;
    while let Some(at) = rest.find("```sh tour\n") {
        let body = &rest[at + "```sh tour\n".len()..];
        let end = body.find("```").expect("a tour block is closed");
        blocks.push(body[..end].to_owned());
        rest = &body[end..];
    }
    blocks
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn the_readme_tour_runs_as_written() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let blocks = tour_blocks(&readme);
    assert!(blocks.len() >= 5, "the README's tour blocks: {blocks:?}");
    assert!(blocks[0].contains("--port 4567"), "the tour starts the sim on 4567: {}", blocks[0]);
    let port = free_port().to_string();
    let script = format!(
        "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{}",
        blocks.join("\n").replace("4567", &port)
    );
    let dir = std::env::temp_dir().join(format!("minutely-tour-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(workspace().join("scenarios"), dir.join("scenarios")).unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_minutely")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut bash = Command::new("bash");
    bash.arg("-c").arg(&script).current_dir(&dir).env("PATH", path).env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("AWS_")) {
        bash.env_remove(k);
    }
    let out = bash.output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the tour failed:\n{script}\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    for said in [
        "PASS: every (window, key) as expected",
        "PASS: no anomaly beyond those allowed",
        "shardId-000000000001",
        "scenario smoke: PASSED (sim",
    ] {
        assert!(stdout.contains(said), "the tour's output lacks {said:?}:\n{stdout}\n{stderr}");
    }
    assert!(stderr.contains("counted 20000") && !stderr.contains("windows still open"), "{stderr}");
    assert!(dir.join("target/scenarios/smoke.html").is_file(), "the page the tour names");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every link of the README and `docs/` points inside the repository, at a file that exists
/// (and, with a `#fragment`, at a heading of that file).
#[test]
fn every_link_of_the_readme_and_docs_is_inside_the_repository() {
    let root = workspace();
    let mut pages = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        pages.push(entry.unwrap().path());
    }
    let mut checked = 0;
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("](") {
            let link = &rest[at + 2..at + 2 + rest[at + 2..].find(')').unwrap()];
            rest = &rest[at + 2..];
            assert!(!link.contains("://"), "{}: a link outside the repository: {link}", page.display());
            let (file, fragment) = link.split_once('#').unwrap_or((link, ""));
            let target = page.parent().unwrap().join(file);
            assert!(target.exists(), "{}: {link} points at nothing", page.display());
            if !fragment.is_empty() {
                let headings = std::fs::read_to_string(&target).unwrap();
                let anchors: Vec<String> = headings.lines().filter(|l| l.starts_with('#')).map(anchor).collect();
                assert!(anchors.iter().any(|a| a == fragment), "{}: no heading {fragment} in {file}", page.display());
            }
            checked += 1;
        }
    }
    assert!(checked >= 15, "the README's table alone has 14 links: {checked}");
}

/// A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces as dashes.
fn anchor(heading: &str) -> String {
    heading
        .trim_start_matches('#')
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}
