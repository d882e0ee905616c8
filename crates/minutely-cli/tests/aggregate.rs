//! `minutely aggregate` end to end, as a user runs it: every fixture under `fixtures/` is a test
//! case (found by glob) with an insta snapshot of its output, its stderr and its exit code, once
//! counted in batch and once replayed through the event-time windows.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Runs `minutely` from the workspace root and renders what a terminal would show.
fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_minutely"))
        .current_dir(workspace())
        .env_remove("MINUTELY_SCHEMA")
        .args(args)
        .output()
        .expect("minutely runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    )
}

fn transcript(args: &[&str]) -> String {
    let (code, stdout, stderr) = run(args);
    format!("$ minutely {}\n[exit {code}]\n[stdout]\n{stdout}[stderr]\n{stderr}", args.join(" "))
}

#[test]
fn every_fixture_has_a_snapshot() {
    insta::glob!("../../../fixtures", "*.tsv", |path| {
        let rel = path.strip_prefix(workspace()).unwrap().to_str().unwrap().to_owned();
        let batch = transcript(&["aggregate", &rel]);
        let windows = transcript(&["aggregate", &rel, "--windows", "--allowed-lateness", "30s"]);
        insta::assert_snapshot!(format!("{batch}\n{windows}"));
    });
}

#[test]
fn batch_and_windowed_totals_agree_on_every_fixture() {
    for entry in std::fs::read_dir(workspace().join("fixtures")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "tsv") {
            continue;
        }
        let rel = path.strip_prefix(workspace()).unwrap().to_str().unwrap().to_owned();
        let totals = |args: &[&str]| {
            let (code, stdout, _) = run(args);
            assert_eq!(code, 0, "{args:?}");
            let mut m = std::collections::BTreeMap::<(String, String), u64>::new();
            for line in stdout.lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                *m.entry((v["minute"].to_string(), v["key"].to_string())).or_default() += v["count"].as_u64().unwrap();
            }
            m
        };
        let batch = totals(&["aggregate", &rel]);
        for lateness in ["0s", "45s", "10m"] {
            let windowed = totals(&["aggregate", &rel, "--windows", "--allowed-lateness", lateness]);
            assert_eq!(batch, windowed, "{rel} with lateness {lateness}: on-time plus late must equal the batch count");
        }
    }
}

#[test]
fn rejects_file_holds_every_rejected_line_verbatim() {
    let out = std::env::temp_dir().join(format!("minutely-rejects-{}.tsv", std::process::id()));
    let (code, _, stderr) =
        run(&["aggregate", "fixtures/messy.tsv", "--rejects", out.to_str().unwrap(), "--max-reported", "2"]);
    assert_eq!(code, 0, "{stderr}");
    let written = std::fs::read(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    let source = std::fs::read(workspace().join("fixtures/messy.tsv")).unwrap();
    let source_lines: Vec<&[u8]> = source.split(|&b| b == b'\n').collect();
    let records: Vec<&[u8]> = written.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    let summary = stderr.lines().last().unwrap();
    assert!(summary.contains(&format!("{} rejected", records.len())), "{summary}");
    assert!(stderr.contains(&format!("{} more rejected lines not shown", records.len() - 2)), "{stderr}");
    for record in records {
        let mut parts = record.splitn(3, |&b| b == b'\t');
        let line: usize = std::str::from_utf8(parts.next().unwrap()).unwrap().parse().unwrap();
        let _reason = parts.next().unwrap();
        let raw = parts.next().unwrap();
        let original = source_lines[line - 1];
        assert_eq!(raw, original.strip_suffix(b"\r").unwrap_or(original), "line {line}");
    }
}

#[test]
fn unusable_input_fails_with_a_clear_message() {
    insta::assert_snapshot!(transcript(&["aggregate", "fixtures/does-not-exist.tsv"]), @r"
    $ minutely aggregate fixtures/does-not-exist.tsv
    [exit 1]
    [stdout]
    [stderr]
    minutely: error: cannot open fixtures/does-not-exist.tsv: No such file or directory (os error 2)
    ");
    insta::assert_snapshot!(transcript(&["aggregate", "fixtures/no-key.tsv", "--key-cols", "region"]), @r#"
    $ minutely aggregate fixtures/no-key.tsv --key-cols region
    [exit 1]
    [stdout]
    [stderr]
    minutely: error: cannot aggregate fixtures/no-key.tsv: the key column "region" is not in the input; its columns are: "time", "country", "device", "id"
    "#);
    // Every line rejected is a schema mistake, not a file to count: exit 1 with a hint.
    insta::assert_snapshot!(transcript(&["aggregate", "fixtures/clean.tsv", "--time-col", "country", "--max-reported", "2"]), @r#"
    $ minutely aggregate fixtures/clean.tsv --time-col country --max-reported 2
    [exit 1]
    [stdout]
    [stderr]
    minutely: schema fixtures/clean.schema.toml
    minutely: fixtures/clean.tsv: 4 columns, time="country", key=["country"], id="id"; time format auto: no row of the first block had a recognisable time, each value is detected on its own
    fixtures/clean.tsv:2: unparsable time "usa" in column "country": not a time in any known format (expected auto)
    fixtures/clean.tsv:3: unparsable time "gbr" in column "country": not a time in any known format (expected auto)
    minutely: 238 more rejected lines not shown (--max-reported; --rejects FILE writes them all)
    minutely: fixtures/clean.tsv: 241 lines: 0 accepted, 240 rejected, 0 blank, 1 header; 0 counts
    minutely: error: no line of fixtures/clean.tsv was accepted: check the schema (--time-col, --time-format, --no-header)
    "#);
}

#[test]
fn flags_override_the_schema_and_stdin_works() {
    let input = "ts;x\n".replace(';', "\t") + "201608211700\ta\n201608211701\tb\n201608211701\tb\n";
    let mut child = Command::new(env!("CARGO_BIN_EXE_minutely"))
        .args(["aggregate", "-", "--key-cols", "2", "--time-format", "yyyymmddhhmm", "--format", "table"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    insta::assert_snapshot!(String::from_utf8(out.stdout).unwrap(), @r"
    minute        x  count
    201608211700  a      1
    201608211701  b      2
    ");
}
