//! `minutely check stream` end to end on the sim: the loss of a producer that ignores failed
//! entries (written here with the SDK, not minutely's producer) named by id and matching the
//! entries the sim failed; minutely's own producer under per-entry faults and lost answers
//! judged clean but for explained duplicates, against a generated stream and a TSV file; and
//! the errors of bad input, each with exit 2 and a line that names what and where.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use minutely_sim::faults::PutRecordsFaults;
use minutely_sim::{Config, Faults, Sim};
use serde_json::Value;

const T0: i64 = 1_471_798_800_000; // 2016-08-21T17:00:00Z

/// Runs `minutely` with `args` against `endpoint`: exit code, stdout, stderr.
fn minutely(args: &[&str], endpoint: &str) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_minutely"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("minutely runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

async fn start(faults: Faults) -> (Sim, aws_sdk_kinesis::Client) {
    let sim = Sim::start(Config { faults, ..Config::default() }).await.unwrap();
    let k = minutely_aws::clients(&minutely_aws::Target::endpoint(sim.endpoint())).await.kinesis;
    (sim, k)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("minutely-check-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const JSON_FLAGS: [&str; 8] = ["--format", "json", "--time", "ts", "--id", "id", "--key", "country"];

/// A producer that puts each event once and ignores `FailedRecordCount`, as many do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_careless_producers_loss_is_named_by_id() {
    let faults = Faults {
        seed: 5,
        put_records: PutRecordsFaults { entry_failure_rate: 0.05, ..Default::default() },
        ..Faults::default()
    };
    let (sim, k) = start(faults).await;
    minutely_aws::kinesis::ensure_stream(&k, "app", 2, std::time::Duration::from_secs(30)).await.unwrap();
    let lines: Vec<String> =
        (0..3_000).map(|i| format!(r#"{{"id":"ev-{i}","ts":{},"country":"c{}"}}"#, T0 + i * 37, i % 7)).collect();
    let mut failed = BTreeSet::new();
    for (n, chunk) in lines.chunks(250).enumerate() {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let key = format!("k{}", n * 250 + i);
                PutRecordsRequestEntry::builder().data(Blob::new(l.clone())).partition_key(key).build().unwrap()
            })
            .collect();
        let out = k.put_records().stream_name("app").set_records(Some(entries)).send().await.unwrap();
        for (i, r) in out.records().iter().enumerate() {
            if r.error_code().is_some() {
                failed.insert(format!("ev-{}", n * 250 + i));
            }
        }
    }
    assert!(failed.len() > 50, "{}", failed.len());
    let dir = temp_dir("careless");
    let expected = dir.join("events.jsonl");
    std::fs::write(&expected, lines.join("\n") + "\n").unwrap();
    let expect = format!("file:{}", expected.display());
    let endpoint = sim.endpoint();

    let mut args = vec!["check", "stream", "kinesis:app", "--expect", &expect, "--json", "--witnesses", "5000"];
    args.extend(JSON_FLAGS);
    let (code, stdout, stderr) = minutely(&args, &endpoint);
    assert_eq!(code, 1, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let lost = &v["verdict"]["classes"]["lost"];
    assert_eq!(lost["count"], failed.len());
    let ids: BTreeSet<String> =
        lost["witnesses"].as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, failed, "exactly the entries the sim failed");
    // Failed by the dice or refused by AWS's per-shard write limits (the sim has them on).
    let counts = sim.ledger("app").unwrap().counts;
    assert_eq!(counts.entries_failed_injected + counts.entries_throttled, failed.len() as u64);
    assert_eq!(v["failed"], serde_json::json!(["lost"]));
    assert_eq!(v["verdict"]["explained_known"], true);

    // The table names the class and its first witnesses; --allow lost passes.
    let mut args = vec!["check", "stream", "kinesis:app", "--expect", &expect, "--witnesses", "2"];
    args.extend(JSON_FLAGS);
    let (code, stdout, _) = minutely(&args, &endpoint);
    assert_eq!(code, 1);
    // Witnesses come in input order: the first failed entry is the first witness.
    let first = failed.iter().min_by_key(|id| id[3..].parse::<u32>().unwrap()).unwrap();
    assert!(stdout.contains("FAIL: lost") && stdout.contains(first.as_str()), "{stdout}");
    args.extend(["--allow", "lost"]);
    let (code, stdout, _) = minutely(&args, &endpoint);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("PASS"), "{stdout}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// minutely's producer resends failed entries: under per-entry faults and lost answers nothing
/// is lost, and every duplicate is one the sim's lost answers explain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minutely_produce_under_faults_has_only_explained_duplicates() {
    let faults = Faults {
        seed: 9,
        put_records: PutRecordsFaults { entry_failure_rate: 0.05, answer_lost_rate: 0.2, ..Default::default() },
        ..Faults::default()
    };
    let (sim, _k) = start(faults).await;
    let endpoint = sim.endpoint();
    let random = ["--count", "4000", "--seed", "3", "--start", "2016-08-21T17:00:00Z", "--dim", "country=5"];
    let mut args = vec!["produce", "--source", "random", "--sink", "kinesis:own", "--create-stream", "3"];
    args.extend(random);
    let (code, _, stderr) = minutely(&args, &endpoint);
    assert_eq!(code, 0, "{stderr}");
    let mut args = vec!["check", "stream", "kinesis:own", "--expect", "random", "--json"];
    args.extend(random);
    let (code, stdout, stderr) = minutely(&args, &endpoint);
    let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout} {stderr}"));
    let classes = &v["verdict"]["classes"];
    assert!(classes["explained-duplicates"]["count"].as_u64().unwrap() > 0, "{stdout}");
    for class in ["lost", "duplicated", "unexpected", "altered", "unreadable"] {
        assert_eq!(classes[class]["count"], 0, "{class}: {stdout}");
    }
    assert_eq!((code, v["failed"].clone()), (1, serde_json::json!(["explained-duplicates"])));
    args.extend(["--allow", "explained-duplicates"]);
    assert_eq!(minutely(&args, &endpoint).0, 0);
    // Compared by one dimension of the generated events: both sides take it by name.
    let mut by_country = args.clone();
    by_country.extend(["--key", "country"]);
    let (code, stdout, stderr) = minutely(&by_country, &endpoint);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // Another seed is other events: all lost, all unexpected.
    let other: Vec<&str> = args.iter().map(|a| if *a == "3" { "4" } else { a }).collect();
    let (code, stdout, _) = minutely(&other, &endpoint);
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(code, 1);
    assert_eq!(v["verdict"]["classes"]["lost"]["count"], 4000);

    // A recorded TSV file replayed by produce, checked against the same file.
    let tsv = "fixtures/composite-key.tsv";
    let file = format!("file:{tsv}");
    let (code, _, stderr) =
        minutely(&["produce", "--source", &file, "--sink", "kinesis:tsv", "--create-stream", "1"], &endpoint);
    assert_eq!(code, 0, "{stderr}");
    let args = ["check", "stream", "kinesis:tsv", "--expect", &file, "--allow", "explained-duplicates"];
    let (code, stdout, stderr) = minutely(&args, &endpoint);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("lost                           0"), "{stdout}");
}

/// Bad input: exit 2 and one line that says what and where, never a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_what_and_where() {
    let (sim, k) = start(Faults::default()).await;
    minutely_aws::kinesis::ensure_stream(&k, "s", 1, std::time::Duration::from_secs(30)).await.unwrap();
    let endpoint = sim.endpoint();
    let dir = temp_dir("bad");
    let empty = dir.join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let bad = dir.join("bad.jsonl");
    std::fs::write(&bad, "{\"id\":\"a\",\"ts\":1471798800000,\"country\":\"x\"}\n{\"id\":\"b\",\"ts\":\n").unwrap();
    let noid = dir.join("noid.jsonl");
    std::fs::write(&noid, "{\"ts\":1471798800000,\"country\":\"x\"}\n").unwrap();
    let check = |expect: &Path, extra: &[&str]| {
        let expect = format!("file:{}", expect.display());
        let mut args = vec!["check", "stream", "kinesis:s", "--expect", &expect];
        let flags = if extra.is_empty() { &JSON_FLAGS[..] } else { &JSON_FLAGS[..4] };
        args.extend(flags);
        args.extend(extra);
        minutely(&args, &endpoint)
    };
    let cases: [(&Path, &[&str], String); 5] = [
        (&empty, &[], format!("{} holds no events to expect", empty.display())),
        (&bad, &[], format!("{}:2: not JSON", bad.display())),
        (&noid, &[], format!("{}:1: the event has no id", noid.display())),
        (&bad, &["--id", "", "--key", "country"], "the record schema names no id field".to_owned()),
        (&dir.join("missing.jsonl"), &[], format!("cannot read {}", dir.join("missing.jsonl").display())),
    ];
    for (path, extra, wanted) in cases {
        let (code, _, stderr) = check(path, extra);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains(&wanted), "wanted {wanted:?} in {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let (code, _, stderr) = minutely(&["check", "stream", "kinesis:nope", "--expect", "random"], &endpoint);
    assert_eq!(code, 2);
    assert!(stderr.contains("--seed is needed"), "{stderr}");
    let (code, _, stderr) =
        minutely(&["check", "stream", "kinesis:nope", "--expect", "random", "--seed", "1"], &endpoint);
    assert_eq!(code, 2);
    assert!(stderr.contains("--start is needed"), "{stderr}");
    let args =
        ["check", "stream", "kinesis:nope", "--expect", "random", "--seed", "1", "--start", "2016-08-21T17:00:00Z"];
    let (code, _, stderr) = minutely(&args, &endpoint);
    assert_eq!(code, 2);
    assert!(stderr.contains("Stream nope") && stderr.contains("not found"), "{stderr}");
    let (code, _, stderr) =
        minutely(&["check", "stream", "kinesis:s", "--expect", "random", "--allow", "doubled"], &endpoint);
    assert_eq!(code, 2, "clap refuses it");
    assert!(stderr.contains("\"doubled\" is not an anomaly class"), "{stderr}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// `check counts` on minutely's own layout in S3 (what `consume` wrote), and on a job's own JSON
/// document with a short window, a missing one and a double count, each named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_counts_names_the_windows_that_differ() {
    let (sim, _k) = start(Faults::default()).await;
    let endpoint = sim.endpoint();
    let random = [
        "--count",
        "3000",
        "--seed",
        "7",
        "--start",
        "2016-08-21T17:00:00Z",
        "--dim",
        "country=5",
        "--dim",
        "device=2",
    ];
    let mut produce = vec!["produce", "--source", "random", "--sink", "kinesis:cc", "--create-stream", "2"];
    produce.extend(random);
    assert_eq!(minutely(&produce, &endpoint).0, 0);
    let consume = [
        "consume",
        "--source",
        "kinesis:cc",
        "--sink",
        "s3://counts/run1",
        "--create-bucket",
        "--key",
        "country",
        "--on-stop",
        "close",
        "--exit-when-idle",
        "2s",
        "--idle-poll",
        "100ms",
    ];
    let (code, _, stderr) = minutely(&consume, &endpoint);
    assert_eq!(code, 0, "{stderr}");
    let mut check = vec!["check", "counts", "s3://counts/run1", "--expect", "random", "--key", "country", "--json"];
    check.extend(random);
    let (code, stdout, stderr) = minutely(&check, &endpoint);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (v["verdict"]["events_expected"].clone(), v["verdict"]["events_found"].clone()),
        (3000.into(), 3000.into())
    );

    // A job's own output: one JSON document, the minute as RFC 3339, its own field names.
    let dir = temp_dir("counts");
    let expected = dir.join("events.jsonl");
    let lines: Vec<String> =
        (0..300).map(|i| format!(r#"{{"id":"e{i}","ts":{},"country":"c{}"}}"#, T0 + i * 1_000, i % 2)).collect();
    std::fs::write(&expected, lines.join("\n")).unwrap();
    // Per minute: 60 events, 30 of each country; minutes 17:00 to 17:04.
    let rows = [
        ("2016-08-21T17:00:00Z", "c0", 30),
        ("2016-08-21T17:00:00Z", "c1", 30),
        ("2016-08-21T17:01:00Z", "c0", 29), // short by one
        ("2016-08-21T17:01:00Z", "c1", 30),
        ("2016-08-21T17:02:00Z", "c0", 60), // counted twice
        ("2016-08-21T17:02:00Z", "c1", 30),
        ("2016-08-21T17:03:00Z", "c0", 30), // 17:03 c1 missing
        ("2016-08-21T17:04:00Z", "c0", 30),
        ("2016-08-21T17:04:00Z", "c1", 30),
    ];
    let rows: Vec<String> =
        rows.iter().map(|(m, c, n)| format!(r#"{{"window_start":"{m}","country":"{c}","events":{n}}}"#)).collect();
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("counts.json"), format!("{{\"counts\":[{}]}}", rows.join(","))).unwrap();
    let schema = dir.join("output.toml");
    std::fs::write(&schema, "format = \"json\"\nwindow = \"window_start\"\ncount = \"events\"\n").unwrap();
    let expect = format!("file:{}", expected.display());
    let (out_s, schema_s) = (out.display().to_string(), schema.display().to_string());
    let mut args = vec!["check", "counts", &out_s, "--expect", &expect, "--output-schema", &schema_s];
    args.extend(JSON_FLAGS);
    let (code, stdout, stderr) = minutely(&args, &endpoint);
    assert_eq!(code, 1, "{stdout}{stderr}");
    for wanted in [
        "short    window 201608211701 key [\"c0\"]: expected 30, found 29",
        "over     window 201608211702 key [\"c0\"]: expected 30, found 60",
        "missing  window 201608211703 key [\"c1\"]: expected 30, found 0",
        "FAIL: missing, short, over",
    ] {
        assert!(stdout.contains(wanted), "{wanted:?} in {stdout}");
    }
    // Bad input: an object that is not JSON, a schema with no count field, nothing there.
    std::fs::write(out.join("junk.json"), "{\"counts\": [").unwrap();
    let (code, _, stderr) = minutely(&args, &endpoint);
    assert_eq!(code, 2);
    assert!(stderr.contains(&format!("{}: not JSON", out.join("junk.json").display())), "{stderr}");
    std::fs::write(&schema, "format = \"json\"\nwindow = \"window_start\"\ncount = \"\"\n").unwrap();
    let (code, _, stderr) = minutely(&args, &endpoint);
    assert_eq!(code, 2);
    assert!(stderr.contains("the output schema names no count field"), "{stderr}");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let empty_s = empty.display().to_string();
    let mut args = vec!["check", "counts", &empty_s, "--expect", &expect];
    args.extend(JSON_FLAGS);
    let (code, _, stderr) = minutely(&args, &endpoint);
    assert_eq!(code, 2);
    assert!(stderr.contains("no object with counts in it"), "{stderr}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// By hand, as a user would: the boto3 producer of `examples/pipelines/naive_producer.py` run
/// against a sim on a port (5% per-entry faults, AWS's limits), then `minutely check stream`:
/// the loss it names is exactly what the sim's ledger says it refused, as in the scenario
/// `own-producer-naive`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_by_hand_on_a_stream_written_by_boto3() {
    let faults = Faults {
        seed: 8,
        put_records: PutRecordsFaults { entry_failure_rate: 0.05, ..Default::default() },
        ..Faults::default()
    };
    let (sim, k) = start(faults).await;
    minutely_aws::kinesis::ensure_stream(&k, "py", 2, std::time::Duration::from_secs(30)).await.unwrap();
    let endpoint = sim.endpoint();
    let dir = temp_dir("boto3");
    let input = dir.join("input.jsonl");
    let random = ["--count", "4000", "--seed", "5", "--start", "2016-08-21T17:00:00Z"];
    let mut args = vec!["produce", "--source", "random", "--sink", "stdout"];
    args.extend(random);
    let (code, stdout, stderr) = minutely(&args, &endpoint);
    assert_eq!(code, 0, "{stderr}");
    std::fs::write(&input, stdout).unwrap();
    // A Python with boto3: the venv LocalStack's host backend installs.
    let options = minutely_localstack::Options::from_env().unwrap();
    let python = tokio::task::spawn_blocking(move || minutely_localstack::host::ensure_installed(&options))
        .await
        .unwrap()
        .unwrap()
        .python;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(python)
        .arg(root.join("examples/pipelines/naive_producer.py"))
        .env("MINUTELY_INPUT", &input)
        .env("MINUTELY_STREAM", "py")
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expect = format!("file:{}", input.display());
    let (code, stdout, stderr) = minutely(&["check", "stream", "kinesis:py", "--expect", &expect, "--json"], &endpoint);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let counts = sim.ledger("py").unwrap().counts;
    assert!(counts.entries_failed_injected > 0);
    assert_eq!(v["verdict"]["classes"]["lost"]["count"], counts.entries_failed_injected + counts.entries_throttled);
    assert_eq!(v["verdict"]["stored"], counts.entries_stored);
    assert_eq!(v["failed"], serde_json::json!(["lost"]));
    std::fs::remove_dir_all(dir).unwrap();
}
