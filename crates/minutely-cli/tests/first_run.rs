//! The defects a newcomer's first run hit (issue 28), each run the way the user ran it: the real
//! binary against a sim on loopback, with the README's commands.

use std::process::{Command, Output, Stdio};

use minutely_sim::{Config, Sim};

fn minutely(endpoint: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_minutely"));
    c.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    c
}

fn run(endpoint: &str, args: &[&str]) -> (bool, String, String) {
    let Output { status, stdout, stderr } = minutely(endpoint).args(args).output().unwrap();
    (status.success(), String::from_utf8(stdout).unwrap(), String::from_utf8(stderr).unwrap())
}

fn sim(config: Config) -> (tokio::runtime::Runtime, Sim) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime.block_on(Sim::start(config)).unwrap();
    (runtime, sim)
}

/// Two `produce --source random` runs without `--seed` draw different events (once, the fixed
/// default seed made the second run's ids the first's, and the consumer dropped them all as
/// duplicates); each prints the seed, and `--seed` with `--start` draws the same events again.
#[test]
fn random_runs_never_collide_and_the_printed_seed_replays() {
    let (_rt, sim) = sim(Config::default());
    let e = sim.endpoint();
    let ids = |args: &[&str]| -> (Vec<String>, String) {
        let (ok, out, err) =
            run(&e, &[&["produce", "--source", "random", "--count", "50", "--sink", "stdout"], args].concat());
        assert!(ok, "{err}");
        let ids =
            out.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].to_string()).collect();
        (ids, err)
    };
    let ((first, said), (second, _)) = (ids(&[]), ids(&[]));
    assert!(first.iter().all(|id| !second.contains(id)), "two runs share ids: {first:?} {second:?}");
    // `... (`--seed S --start T` draws them again)`: the flags, as printed, replay the run.
    let flags = said.split('`').nth(1).unwrap_or_else(|| panic!("no seed said: {said}"));
    let flags: Vec<&str> = flags.split_whitespace().collect();
    assert_eq!((flags[0], flags[2]), ("--seed", "--start"), "{said}");
    assert_eq!(ids(&flags).0, first, "the printed seed replays the run");
}

/// The README's first S3 consume: `--exit-when-idle 3s` ends before the 30 s idle timeout closes
/// anything, and the default keeps open windows in the checkpoints. The summary says so and
/// how to write them; `--on-stop close` does.
#[test]
fn a_consume_that_writes_nothing_says_what_it_kept_open_and_how_to_close_it() {
    let (_rt, sim) = sim(Config { limits: false, ..Config::default() });
    let e = sim.endpoint();
    let (ok, _, err) =
        run(&e, &["produce", "--source", "random", "--count", "2000", "--sink", "kinesis:events", "--shards", "2"]);
    assert!(ok, "--shards is --create-stream: {err}");
    let consume = |prefix: &str, extra: &[&str]| {
        let sink = format!("s3://counts/{prefix}");
        let args = [
            &["consume", "--source", "kinesis:events", "--sink", &sink, "--create-bucket", "--exit-when-idle", "1s"],
            extra,
        ]
        .concat();
        let (ok, _, err) = run(&e, &args);
        assert!(ok, "{err}");
        err
    };
    let kept = consume("run1", &[]);
    assert!(kept.contains("counted 2000") && kept.contains("0 objects"), "{kept}");
    assert!(
        kept.contains("windows still open (--exit-when-idle 1s came before --idle-timeout 30s could close them)")
            && kept.contains("`--on-stop close` writes them"),
        "{kept}"
    );
    let closed = consume("run2", &["--on-stop", "close"]);
    assert!(!closed.contains("still open") && !closed.contains(" 0 objects"), "{closed}");
}

/// A misspelled stream or bucket: "did you mean" from the account's names, and advice that fits
/// the command: a consumer is not told to create the stream it reads, `--status` (read only) is
/// not told to create a bucket; `--status` where no consumer ever wrote fails and lists the
/// bucket's prefixes instead of printing a table of `none`.
#[test]
fn a_misspelled_name_gets_did_you_mean_and_advice_that_fits_the_command() {
    let (_rt, sim) = sim(Config { limits: false, ..Config::default() });
    let e = sim.endpoint();
    let produce =
        ["produce", "--source", "random", "--count", "100", "--sink", "kinesis:events", "--create-stream", "1"];
    assert!(run(&e, &produce).0);
    let s3 = ["--sink", "s3://counts/run1", "--create-bucket", "--exit-when-idle", "1s", "--on-stop", "close"];
    assert!(run(&e, &[&["consume", "--source", "kinesis:events"], &s3[..]].concat()).0);
    let error = |args: &[&str]| {
        let (ok, _, err) = run(&e, args);
        assert!(!ok, "{args:?} should fail: {err}");
        err
    };
    let consumer = error(&["consume", "--source", "kinesis:evnets", "--sink", "console", "--exit-when-idle", "1s"]);
    assert!(consumer.contains("(did you mean kinesis:events?)") && !consumer.contains("create"), "{consumer}");
    let producer = error(&["produce", "--source", "random", "--sink", "kinesis:event"]);
    assert!(producer.contains("did you mean kinesis:events? Or `--create-stream SHARDS`"), "{producer}");
    let bucket =
        error(&["consume", "--source", "kinesis:events", "--sink", "s3://count/run1", "--exit-when-idle", "1s"]);
    assert!(bucket.contains("no such bucket (did you mean s3://counts? Or --create-bucket creates it)"), "{bucket}");
    let status = error(&["consume", "--status", "--source", "kinesis:events", "--sink", "s3://count/run1"]);
    assert!(status.contains("(did you mean s3://counts?)") && !status.contains("--create-bucket"), "{status}");
    let nothing = error(&["consume", "--status", "--source", "kinesis:events", "--sink", "s3://counts/rnu1"]);
    assert!(
        nothing.contains("no consumer of stream events has written under s3://counts/rnu1")
            && nothing.contains("the prefixes in s3://counts: s3://counts/run1/"),
        "{nothing}"
    );
    let (ok, table, err) =
        run(&e, &["consume", "--status", "--source", "kinesis:events", "--sink", "s3://counts/run1"]);
    assert!(ok && table.starts_with("SHARD") && table.contains("shardId-000000000000"), "{table}{err}");
}

/// A producer held back by the per-shard limit says that its retries were AWS's throttling.
#[test]
fn the_producer_names_throttling_by_the_shard_limit() {
    let (_rt, sim) = sim(Config::default());
    let produce =
        ["produce", "--source", "random", "--count", "3000", "--sink", "kinesis:slow", "--create-stream", "1"];
    let (ok, _, err) = run(&sim.endpoint(), &produce);
    assert!(ok, "{err}");
    assert!(err.contains("retried were throttled by AWS's per-shard write limit (1,000 records/s"), "{err}");
}

/// A second Ctrl-C during the flush exits at once with an account of what was not sent: here
/// every put is refused, so the first Ctrl-C's flush cannot end.
#[test]
fn a_second_ctrl_c_says_what_was_not_sent() {
    let (_rt, sim) = sim(Config { limits: false, ..Config::default() });
    let e = sim.endpoint();
    assert!(
        run(&e, &["produce", "--source", "random", "--count", "1", "--sink", "kinesis:refused", "--shards", "1"]).0
    );
    let put_records = minutely_sim::faults::PutRecordsFaults { entry_failure_rate: 1.0, ..Default::default() };
    sim.set_faults(minutely_sim::Faults { put_records, ..Default::default() }).unwrap();
    let child = minutely(&e)
        .args(["produce", "--source", "random", "--count", "300", "--sink", "kinesis:refused"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    std::thread::sleep(std::time::Duration::from_secs(2));
    for _ in 0..2 {
        assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        err.contains("SIGINT again: stopping at once: of 300 events read, 0 were acknowledged by Kinesis; the other 300 were not sent"),
        "{err}"
    );
}

/// `--html` as the README writes it: no value, in any place (with `--list` too); `--html=FILE`
/// names the page.
#[test]
fn html_takes_no_value_or_an_equals_sign() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(env!("CARGO_BIN_EXE_minutely"))
        .current_dir(&root)
        .args(["scenario", "--html", "--list"])
        .output()
        .unwrap();
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("smoke"), "{out:?}");
    let dir = std::env::temp_dir().join(format!("minutely-first-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (json, page) = (dir.join("run.json"), dir.join("page.html"));
    let status = Command::new(env!("CARGO_BIN_EXE_minutely"))
        .current_dir(&root)
        .args(["scenario", "smoke", "--backend", "sim", "--report"])
        .arg(&json)
        .arg(format!("--html={}", page.display()))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(std::fs::read_to_string(&page).unwrap().starts_with("<!doctype html>"));
    std::fs::remove_dir_all(&dir).unwrap();
}
