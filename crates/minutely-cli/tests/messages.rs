//! What a user sees when a command is typed wrong or run in the wrong place: one line that says
//! what went wrong and what to type next. The messages are part of the interface: snapshots.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Runs `minutely` in `dir` with no AWS settings; the transcript names `dir` as `<dir>`.
/// Instance metadata is off (`AWS_EC2_METADATA_DISABLED`) so that the credential chain ends the
/// same way on a laptop, in CI and on a cloud VM whose IMDS answers.
fn transcript_in(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_minutely"))
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_EC2_METADATA_DISABLED", "true")
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
        text.contains(
            "minutely: error: no scenario smok in scenarios (known: ambiguous-puts, app-json-events, chaos, consumer-restart,"
        ) && text.contains(" smoke, ")
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
    for command in ["aggregate", "produce", "consume", "scenario", "report", "localstack", "sim"] {
        assert!(first.contains(&format!("({command}")) || first.contains(&format!(", {command})")), "{first}");
    }
    assert!(!text.contains("later"), "{text}");
}

/// A port nothing listens on, and the transcript with it written `<port>`.
fn refused() -> (String, impl Fn(String) -> String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{port}");
    (endpoint.clone(), move |t: String| t.replace(&endpoint, "http://127.0.0.1:<port>"))
}

#[test]
fn no_credentials_fail_at_once_with_what_to_type() {
    let started = std::time::Instant::now();
    let produce =
        transcript_in(&workspace(), &["produce", "--source", "random", "--count", "10", "--sink", "kinesis:events"]);
    let took = started.elapsed();
    insta::assert_snapshot!(produce);
    assert!(took < std::time::Duration::from_secs(5), "produce without credentials took {took:?}");
    insta::assert_snapshot!(transcript_in(
        &workspace(),
        &["consume", "--source", "kinesis:events", "--sink", "console"]
    ));
}

#[test]
fn no_region_says_to_pass_one() {
    insta::assert_snapshot!(transcript_in(&workspace(), &["consume", "--source", "stdin", "--sink", "s3://mybucket"]));
}

#[test]
fn an_endpoint_that_refuses_connections_fails_at_once_and_says_so() {
    let (endpoint, named) = refused();
    let started = std::time::Instant::now();
    for args in [
        &["produce", "--source", "random", "--count", "10", "--sink", "kinesis:events", "--endpoint", &endpoint][..],
        &["consume", "--source", "kinesis:events", "--sink", "console", "--endpoint", &endpoint],
        &["consume", "--source", "stdin", "--sink", "s3://mybucket", "--endpoint", &endpoint],
    ] {
        insta::assert_snapshot!(named(transcript_in(&workspace(), args)));
    }
    // The SDK tries three times itself; nothing of ours retries a first call that cannot connect.
    assert!(started.elapsed() < std::time::Duration::from_secs(15), "{:?}", started.elapsed());
}

#[test]
fn verbose_shows_the_sdk_error_and_only_then() {
    let quiet = transcript_in(&workspace(), &["consume", "--source", "stdin", "--sink", "s3://mybucket"]);
    let verbose =
        transcript_in(&workspace(), &["consume", "--source", "stdin", "--sink", "s3://mybucket", "--verbose"]);
    assert!(!quiet.contains("DispatchFailure") && !quiet.contains("the SDK's error"), "{quiet}");
    assert!(verbose.contains("\n  the SDK's error: ") && verbose.contains("ResolveEndpointError"), "{verbose}");
}

/// A missing stream and a missing bucket, on the sim: the flag that creates them.
#[test]
fn a_missing_stream_or_bucket_names_the_flag_that_creates_it() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime.block_on(minutely_sim::Sim::start(minutely_sim::Config::default())).unwrap();
    let endpoint = sim.endpoint();
    let named = |t: String| t.replace(&endpoint, "<sim>");
    for args in [
        &["produce", "--source", "random", "--count", "10", "--sink", "kinesis:nope", "--endpoint", &endpoint][..],
        &["consume", "--source", "kinesis:nope", "--sink", "console", "--endpoint", &endpoint],
        &["consume", "--source", "stdin", "--sink", "s3://nope", "--endpoint", &endpoint],
    ] {
        insta::assert_snapshot!(named(transcript_in(&workspace(), args)));
    }
    runtime.block_on(sim.stop());
}
