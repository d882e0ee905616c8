//! `minutely produce` end to end, without a network: file and random sources into stdout, the
//! JSON lines a consumer reads from a pipe.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use minutely_event::Event;

fn produce(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_minutely"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .arg("produce")
        .args(args)
        .output()
        .expect("minutely runs");
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn a_replayed_file_becomes_one_record_per_accepted_line() {
    let (code, stdout, stderr) = produce(&["--source", "file:fixtures/messy.tsv", "--sink", "stdout"]);
    assert_eq!(code, 0, "{stderr}");
    let events: Vec<Event> = stdout.lines().map(|l| Event::decode(l.as_bytes()).unwrap()).collect();
    // The same file through `minutely aggregate`: 71 accepted, 43 rejected (see its snapshot).
    assert_eq!(events.len(), 71);
    assert!(stderr.contains("43 lines of fixtures/messy.tsv rejected, not sent"), "{stderr}");
    assert!(stderr.contains("produced 71 events"), "{stderr}");
    let ids: BTreeSet<_> = events.iter().map(|e| e.id.clone().unwrap()).collect();
    assert_eq!(ids.len(), 71, "ids come from the id column and are unique");
    assert_eq!(events[0].dims.get("country").map(String::as_str), Some("usa"));
}

#[test]
fn a_file_without_an_id_column_gets_file_and_line_ids() {
    let (code, stdout, stderr) = produce(&["--source", "file:fixtures/zoned-times.tsv", "--sink", "stdout"]);
    assert_eq!(code, 0, "{stderr}");
    let first = Event::decode(stdout.lines().next().unwrap().as_bytes()).unwrap();
    assert_eq!(first.id.as_deref(), Some("zoned-times.tsv:2"));
}

#[test]
fn random_streams_are_reproducible_and_carry_their_duplicates() {
    let args = [
        "--source",
        "random",
        "--seed",
        "9",
        "--count",
        "500",
        "--duplicate-fraction",
        "0.1",
        "--start",
        "2016-08-21T17:00:00Z",
        "--sink",
        "stdout",
    ];
    let (code, a, stderr) = produce(&args);
    assert_eq!(code, 0, "{stderr}");
    let (_, b, _) = produce(&args);
    assert_eq!(a, b, "same seed, same records");
    let lines: Vec<&str> = a.lines().collect();
    let ids: BTreeSet<String> = lines.iter().map(|l| Event::decode(l.as_bytes()).unwrap().id.unwrap()).collect();
    assert_eq!(ids.len(), 500);
    assert!(lines.len() > 520, "about 50 duplicates expected, got {}", lines.len() - 500);
}

#[test]
fn bad_sources_and_sinks_are_named() {
    // A value of the wrong form is a usage error, as for every flag clap parses: exit 2.
    let (code, _, stderr) = produce(&["--source", "kafka:x"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("use file:PATH or random"), "{stderr}");
    let (code, _, stderr) = produce(&["--source", "random", "--sink", "s3://x"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("use console, stdout or kinesis:STREAM"), "{stderr}");
}
