//! What a user sees when a command is typed wrong or run in the wrong place: one line that says
//! what went wrong and what to type next. The messages are part of the interface: snapshots.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Runs `minutely` in `dir` with no AWS settings; the transcript names `dir` as `<dir>`.
fn transcript_in(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_minutely"))
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .args(args)
        .output()
        .expect("minutely runs");
    let text = format!(
        "$ minutely {}\n[exit {}]\n[stdout]\n{}[stderr]\n{}",
        args.join(" "),
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap()
    );
    text.replace(&dir.display().to_string(), "<dir>")
}

#[test]
fn a_scenario_outside_the_repository_says_where_it_looked_and_what_to_pass() {
    let elsewhere = std::env::temp_dir().join(format!("minutely-messages-{}", std::process::id()));
    std::fs::create_dir_all(&elsewhere).unwrap();
    insta::assert_snapshot!(transcript_in(&elsewhere, &["scenario", "smoke"]), @r"
    $ minutely scenario smoke
    [exit 1]
    [stdout]
    [stderr]
    minutely: error: no scenarios folder scenarios in <dir>: run from the minutely repository, or pass --dir DIR (or a path to a .toml file)
    ");
    insta::assert_snapshot!(transcript_in(&elsewhere, &["scenario", "--list"]), @r"
    $ minutely scenario --list
    [exit 1]
    [stdout]
    [stderr]
    minutely: error: no scenarios folder scenarios in <dir>: run from the minutely repository, or pass --dir DIR (or a path to a .toml file)
    ");
    insta::assert_snapshot!(transcript_in(&elsewhere, &["scenario", "mine.toml"]), @r"
    $ minutely scenario mine.toml
    [exit 1]
    [stdout]
    [stderr]
    minutely: error: no scenario file mine.toml
    ");
    std::fs::remove_dir_all(&elsewhere).unwrap();
}

#[test]
fn an_unknown_scenario_lists_the_known_ones() {
    let text = transcript_in(&workspace(), &["scenario", "smok"]);
    assert!(
        text.contains("minutely: error: no scenario smok in scenarios (known: ambiguous-puts, consumer-restart,")
            && text.contains(" smoke, ")
            && text.contains("; `minutely scenario --list` shows them\n"),
        "{text}"
    );
}

#[test]
fn a_sink_without_a_bucket_shows_the_forms() {
    insta::assert_snapshot!(transcript_in(&workspace(), &["consume", "--source", "stdin", "--sink", "s3://"]), @r"
    $ minutely consume --source stdin --sink s3://
    [exit 1]
    [stdout]
    [stderr]
    minutely: error: --sink s3://: no bucket; use s3://BUCKET/PREFIX, console or stdout
    ");
}

#[test]
fn the_help_names_every_command() {
    let text = transcript_in(&workspace(), &["--help"]);
    let first = text.lines().nth(3).unwrap();
    for command in ["aggregate", "produce", "consume", "scenario", "localstack", "sim"] {
        assert!(first.contains(&format!("({command}")) || first.contains(&format!(", {command})")), "{first}");
    }
    assert!(!text.contains("later"), "{text}");
}
