//! `minutely consume` end to end: against a host LocalStack (events from the producer, counts
//! read back from S3 and compared with a plain count of distinct events), and on stdin.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use minutely_aggregate::EventTime;
use minutely_aggregate::{ProcessingTime, WindowConfig};
use minutely_consumer::WorkerStats;
use minutely_consumer::worker::{Clock, Worker};
use minutely_consumer::{Checkpoint, CountLine, Output, S3Output, Settings};
use minutely_event::RecordDecoder;
use minutely_localstack::{Backend, LocalStack, Options};
use minutely_producer::batcher::Limits;
use minutely_producer::kinesis::{KinesisSink, RetryPolicy};
use minutely_producer::source::{RandomSource, RandomSpec};
use minutely_producer::{PartitionKey, Sourced, produce};

const BUCKET: &str = "counts";
const START: i64 = 1_471_798_800_000; // 2016-08-21T17:00:00Z

fn minutely(args: &[&str], endpoint: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_minutely"));
    c.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")).args(args).env("AWS_ENDPOINT_URL", endpoint);
    c
}

fn run(mut c: Command) -> (i32, String) {
    let out = c.output().expect("minutely runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), stderr)
}

/// `minutely consume` on `stream` into `s3://counts/<prefix>`, by country, until idle.
fn consume(endpoint: &str, stream: &str, prefix: &str, extra: &[&str]) -> Command {
    let source = format!("kinesis:{stream}");
    let sink = format!("s3://{BUCKET}/{prefix}");
    let mut args = vec!["consume", "--source", &source, "--sink", &sink, "--key", "country"];
    args.extend(["--on-stop", "close", "--discover-every", "1s", "--idle-poll", "100ms"]);
    args.extend(extra);
    if !extra.contains(&"--exit-when-idle") {
        args.extend(["--exit-when-idle", "3s"]);
    }
    minutely(&args, endpoint)
}

async fn create_stream(k: &aws_sdk_kinesis::Client, name: &str, shards: i32) {
    minutely_aws::kinesis::ensure_stream(k, name, shards, Duration::from_secs(30)).await.unwrap();
}

/// Random events over several minutes, some sent twice (same id), not paced.
fn spec(seed: u64, count: u64, first: i64) -> RandomSpec {
    RandomSpec {
        seed,
        count: Some(count),
        rate: Some(10.0), // event times 100 ms apart
        start: EventTime(first),
        jitter: Duration::from_secs(5),
        duplicate_fraction: 0.05,
        ..RandomSpec::default()
    }
}

fn unpaced(spec: RandomSpec) -> impl Iterator<Item = std::io::Result<Sourced>> {
    RandomSource::new(spec).unwrap().map(|s| s.map(|s| Sourced { due: None, ..s }))
}

/// The plain count: distinct event ids per (minute, country).
fn model(specs: &[RandomSpec]) -> BTreeMap<(String, Vec<String>), u64> {
    let mut seen = BTreeSet::new();
    let mut out = BTreeMap::new();
    for spec in specs {
        for s in unpaced(spec.clone()) {
            let e = s.unwrap().event;
            if seen.insert(e.id.clone().unwrap()) {
                let key = (e.time.minute().to_string(), vec![e.dims["country"].clone()]);
                *out.entry(key).or_default() += 1;
            }
        }
    }
    out
}

async fn put(k: &aws_sdk_kinesis::Client, stream: &str, spec: RandomSpec) {
    let mut sink = KinesisSink::new(k.clone(), stream, Limits::default(), RetryPolicy::default());
    let stop = Arc::new(AtomicBool::new(false));
    let summary = produce(unpaced(spec), &mut sink, PartitionKey::Key, &stop, |_| {}).await.unwrap();
    assert_eq!(summary.sink.failed, 0);
}

/// Every object under `prefix`, by key.
async fn objects(s3: &aws_sdk_s3::Client, prefix: &str) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut token = None;
    loop {
        let list =
            s3.list_objects_v2().bucket(BUCKET).prefix(prefix).set_continuation_token(token).send().await.unwrap();
        for o in list.contents() {
            let key = o.key().unwrap().to_owned();
            let body = s3.get_object().bucket(BUCKET).key(&key).send().await.unwrap().body.collect().await.unwrap();
            out.insert(key, body.into_bytes().to_vec());
        }
        match list.next_continuation_token() {
            Some(t) => token = Some(t.to_owned()),
            None => return out,
        }
    }
}

/// The sum over every object under `<prefix>/minutes/`, on-time and late.
async fn sums(s3: &aws_sdk_s3::Client, prefix: &str) -> BTreeMap<(String, Vec<String>), u64> {
    let mut out = BTreeMap::new();
    for (key, body) in objects(s3, &format!("{prefix}/minutes/")).await {
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let c: CountLine = serde_json::from_slice(line).unwrap_or_else(|e| panic!("{key}: {e}"));
            assert!(key.contains(&format!("/minute={}/", c.minute)), "{key} holds minute {}", c.minute);
            *out.entry((c.minute, c.key)).or_default() += c.count;
        }
    }
    out
}

async fn checkpoint(s3: &aws_sdk_s3::Client, prefix: &str, stream: &str, shard: &str) -> Checkpoint {
    let key = format!("{prefix}/checkpoints/{stream}/{shard}.json");
    let body = s3.get_object().bucket(BUCKET).key(&key).send().await.unwrap_or_else(|e| panic!("{key}: {e}"));
    serde_json::from_slice(&body.body.collect().await.unwrap().into_bytes()).unwrap()
}

/// SIGTERM (what systemd, Kubernetes and CI runners send) takes the graceful path of Ctrl-C:
/// closed windows written, open ones kept in the checkpoint, exit 143; a restart resumes
/// exactly. On the sim, with AWS's limits on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_gracefully_and_a_restart_resumes_exactly() {
    let sim = minutely_sim::Sim::start(minutely_sim::Config::default()).await.unwrap();
    let endpoint = sim.endpoint();
    let clients = minutely_aws::clients(&minutely_aws::Target::endpoint(&endpoint)).await;
    let (k, s3) = (&clients.kinesis, &clients.s3);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    create_stream(k, "term", 2).await;
    let events = spec(16, 2000, START);
    put(k, "term", events.clone()).await;
    let mut args = vec!["consume", "--source", "kinesis:term", "--sink", "s3://counts/term", "--key", "country"];
    args.extend(["--idle-poll", "100ms", "--on-stop", "keep"]);
    let consumer = minutely(&args, &endpoint).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(Command::new("kill").args(["-TERM", &consumer.id().to_string()]).status().unwrap().success());
    let out = tokio::task::spawn_blocking(move || consumer.wait_with_output().unwrap()).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(
        stderr.contains("SIGTERM: stopping") && stderr.contains("keeping open windows for the next run"),
        "{stderr}"
    );
    let shards = k.list_shards().stream_name("term").send().await.unwrap();
    let mut kept = 0;
    for shard in shards.shards() {
        let cp = checkpoint(s3, "term", "term", shard.shard_id()).await;
        assert!(cp.position.is_some() && cp.pending.is_empty(), "{cp:?}");
        kept += cp.state.open.len();
    }
    assert!(kept > 0, "the open windows are in the checkpoints, not in S3");
    let e = endpoint.clone();
    let (code, stderr) = tokio::task::spawn_blocking(move || run(consume(&e, "term", "term", &[]))).await.unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("consumed 0 records"), "resumed after the last record: {stderr}");
    assert_eq!(sums(s3, "term").await, model(&[events]), "after SIGTERM and a restart; {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_against_localstack() {
    let options = Options { backend: Backend::Host, ..Options::from_env().unwrap() };
    let ls = LocalStack::start(&options).unwrap_or_else(|e| panic!("{e}"));
    let endpoint = ls.endpoint().to_owned();
    let clients = minutely_aws::clients(&minutely_aws::Target::endpoint(&endpoint)).await;
    let (k, s3) = (&clients.kinesis, &clients.s3);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();

    // 1. Produce, consume, compare: exact, with duplicates dropped and late events written.
    create_stream(k, "exact", 2).await;
    let main = spec(1, 3000, START);
    // Late: the same minutes again, after the stream has moved on (distinct ids).
    let late = RandomSpec { duplicate_fraction: 0.0, ..spec(2, 200, START) };
    put(k, "exact", main.clone()).await;
    put(k, "exact", late.clone()).await;
    let (code, stderr) = run(consume(&endpoint, "exact", "exact", &[]));
    assert_eq!(code, 0, "{stderr}");
    let expected = model(&[main.clone(), late.clone()]);
    assert_eq!(sums(s3, "exact").await, expected, "exact: S3 sums against the model; {stderr}");
    let listed = objects(s3, "exact/minutes/").await;
    assert!(listed.keys().any(|k| k.contains(".late-")), "late events are written to late objects: {listed:?}");
    assert!(stderr.contains("duplicates dropped") && !stderr.contains("duplicates dropped 0,"), "{stderr}");
    // A second run resumes from the checkpoints: nothing new to read, nothing changes.
    let (code, stderr) = run(consume(&endpoint, "exact", "exact", &[]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("consumed 0 records"), "resumed from the checkpoints: {stderr}");
    assert_eq!(sums(s3, "exact").await, expected);

    // 2. Killed between S3 writes and their checkpoint, restarted: still exact.
    let (code, stderr) = run(consume(&endpoint, "exact", "crash", &["--fault-exit-after-objects", "3"]));
    assert_eq!(code, 86, "the injected crash fired: {stderr}");
    assert!(stderr.contains("exiting after 3 object writes"), "{stderr}");
    let (code, stderr) = run(consume(&endpoint, "exact", "crash", &[]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(sums(s3, "crash").await, expected, "after a crash and a restart; {stderr}");

    // 3. A shard split while the consumer runs: exact, and the children are read after the parent.
    create_stream(k, "split", 1).await;
    let before = spec(3, 1500, START);
    let after = spec(4, 1500, START + 150_000);
    put(k, "split", before.clone()).await;
    let consumer = consume(&endpoint, "split", "split", &["--exit-when-idle", "8s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let shards = k.list_shards().stream_name("split").send().await.unwrap();
    let parent = shards.shards()[0].clone();
    let range = parent.hash_key_range().unwrap();
    let (lo, hi): (u128, u128) = (range.starting_hash_key().parse().unwrap(), range.ending_hash_key().parse().unwrap());
    k.split_shard()
        .stream_name("split")
        .shard_to_split(parent.shard_id())
        .new_starting_hash_key((lo + (hi - lo) / 2).to_string())
        .send()
        .await
        .unwrap();
    minutely_aws::kinesis::wait_active(k, "split", Duration::from_secs(30)).await.unwrap();
    put(k, "split", after.clone()).await;
    let out = consumer.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(sums(s3, "split").await, model(&[before, after]), "across a split; {stderr}");
    let shards = k.list_shards().stream_name("split").send().await.unwrap();
    assert_eq!(shards.shards().len(), 3, "a parent and two children");
    let parent_cp = checkpoint(s3, "split", "split", parent.shard_id()).await;
    assert!(parent_cp.finished, "the parent was read to its end");
    for child in shards.shards().iter().filter(|s| s.parent_shard_id() == Some(parent.shard_id())) {
        let cp = checkpoint(s3, "split", "split", child.shard_id()).await;
        assert!(cp.position.is_some(), "child {} was read", child.shard_id());
    }
    assert!(stderr.contains("finished (reshard)"), "{stderr}");

    // 4. Malformed records among good ones: each rejected to S3 with shard and sequence number.
    create_stream(k, "messy", 1).await;
    let good = spec(5, 500, START);
    put(k, "messy", good.clone()).await;
    let garbage: [&[u8]; 3] =
        [b"not json", br#"{"id":"x","time_ms":"soon"}"#, br#"{"id":"y","time_ms":1,"dims":{"device":"d1"}}"#];
    let mut sequences = BTreeSet::new();
    for g in garbage {
        let blob = aws_sdk_kinesis::primitives::Blob::new(g);
        let out = k.put_record().stream_name("messy").partition_key("p").data(blob).send().await.unwrap();
        sequences.insert(out.sequence_number().to_owned());
    }
    let (code, stderr) = run(consume(&endpoint, "messy", "messy", &[]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("rejected 3;"), "{stderr}");
    assert_eq!(sums(s3, "messy").await, model(&[good]), "everything else is exact");
    let mut rejected = BTreeSet::new();
    for (key, body) in objects(s3, "messy/rejects/").await {
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let r: serde_json::Value = serde_json::from_slice(line).unwrap();
            assert!(key.contains(r["worker"].as_str().unwrap()), "{key}: {r}");
            rejected.insert(r["position"].as_str().unwrap().to_owned());
            assert!(!r["error"].as_str().unwrap().is_empty());
        }
    }
    assert_eq!(rejected, sequences, "every malformed record, by sequence number");

    // 5. Ctrl-C: closed windows written, open ones kept in the checkpoint, resumed: exact.
    create_stream(k, "stop", 2).await;
    let events = spec(6, 2000, START);
    put(k, "stop", events.clone()).await;
    let source = "kinesis:stop";
    let mut args = vec!["consume", "--source", source, "--sink", "s3://counts/stop", "--key", "country"];
    args.extend(["--idle-poll", "100ms", "--on-stop", "keep"]);
    let consumer = minutely(&args, &endpoint).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let interrupted = Command::new("kill").args(["-INT", &consumer.id().to_string()]).status().unwrap();
    assert!(interrupted.success());
    let out = consumer.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "stopped by SIGINT, after the graceful path: {stderr}");
    assert!(stderr.contains("keeping open windows for the next run"), "{stderr}");
    let shards = k.list_shards().stream_name("stop").send().await.unwrap();
    let mut kept = 0;
    for shard in shards.shards() {
        let cp = checkpoint(s3, "stop", "stop", shard.shard_id()).await;
        assert!(cp.position.is_some() && cp.pending.is_empty(), "{cp:?}");
        kept += cp.state.open.len();
    }
    assert!(kept > 0, "the open windows are in the checkpoints, not in S3");
    let (code, stderr) = run(consume(&endpoint, "stop", "stop", &[]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("consumed 0 records"), "resumed after the last record: {stderr}");
    assert_eq!(sums(s3, "stop").await, model(&[events]), "after Ctrl-C and a restart; {stderr}");

    // 6. Two consumers on one shard's checkpoint: the second to write is stopped (S3
    //    conditional writes), the first goes on.
    let output = Output::S3(S3Output {
        client: s3.clone(),
        bucket: BUCKET.into(),
        prefix: "fence".into(),
        retry_deadline: Duration::from_secs(10),
        writer: None,
    });
    let settings = Settings {
        decoder: Arc::new(RecordDecoder::minutely(&["country".to_owned()])),
        windows: WindowConfig::default(),
        max_dedup_ids: 100,
    };
    let clock = Clock::start();
    let path = Some("checkpoints/s/shard-x.json".to_owned());
    let open = || {
        Worker::open(
            "shard-x",
            settings.clone(),
            output.clone(),
            path.clone(),
            Duration::ZERO,
            clock,
            WorkerStats::new(),
        )
    };
    let take = |w: &mut Worker, id: u32| {
        let record =
            format!(r#"{{"id":"{id}","time_ms":{},"dims":{{"country":"x"}}}}"#, START + i64::from(id) * 60_000);
        w.record(record.as_bytes(), ProcessingTime(0), || id.to_string());
        w.processed_through(&id.to_string(), None);
    };
    let (mut a, _) = open().await.unwrap();
    let (mut b, _) = open().await.unwrap();
    take(&mut a, 1);
    a.commit(false, true).await.unwrap();
    take(&mut b, 3); // another state than A's (the same bytes would be taken as this write's own retry)
    let err = b.commit(false, true).await.unwrap_err().to_string();
    assert!(err.contains("another consumer wrote the checkpoint"), "{err}");
    take(&mut a, 2);
    a.commit(false, true).await.expect("the first consumer goes on");
    assert_eq!(checkpoint(s3, "fence", "s", "shard-x").await.position.as_deref(), Some("2"));

    ls.stop().unwrap();
}

/// `minutely consume --source stdin --sink stdout ARGS` with `input` on its stdin, no AWS.
fn consume_stdin(args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = minutely(&[&["consume", "--source", "stdin", "--sink", "stdout"], args].concat(), "")
        .env_remove("AWS_ENDPOINT_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn stdin_counts_match_aggregate_and_rejects_name_their_line() {
    let produced = minutely(&["produce", "--source", "file:fixtures/clean.tsv", "--sink", "stdout"], "")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .unwrap();
    let mut input = produced.stdout.clone();
    input.extend_from_slice(b"not json\n\n{\"id\":\"z\",\"time_ms\":0}\r\n");
    let out = consume_stdin(&["--key", "country"], &input);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let aggregate = minutely(&["aggregate", "fixtures/clean.tsv", "--key-cols", "country"], "").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&aggregate.stdout));
    let lines = String::from_utf8_lossy(&produced.stdout).lines().count();
    assert!(stderr.contains(&format!("stdin:{}: not a minutely record", lines + 1)), "{stderr}");
    assert!(stderr.contains(&format!("stdin:{}: the key field dims.country is missing", lines + 3)), "{stderr}");
    assert!(stderr.contains("rejected 2;"), "{stderr}");
}

/// A regular file on stdin is counted where it lies (mapped), from where its reading stands
/// (here past 5 lines another program took): the counts and the rejects' line numbers of the
/// same bytes through a pipe, and the file is left read to its end.
#[test]
fn a_file_on_stdin_is_counted_from_where_its_reading_stands() {
    use std::io::{Seek, SeekFrom};
    let produced = minutely(&["produce", "--source", "file:fixtures/clean.tsv", "--sink", "stdout"], "")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .unwrap();
    let mut input = produced.stdout;
    input.extend_from_slice(b"not json\n");
    let taken: usize = input.split_inclusive(|b| *b == b'\n').take(5).map(<[u8]>::len).sum();
    let path = std::env::temp_dir().join(format!("minutely-stdin-file-{}.jsonl", std::process::id()));
    std::fs::write(&path, &input).unwrap();
    let mut file = std::fs::File::open(&path).unwrap();
    file.seek(SeekFrom::Start(taken as u64)).unwrap();
    let out = minutely(&["consume", "--source", "stdin", "--sink", "stdout", "--key", "country"], "")
        .env_remove("AWS_ENDPOINT_URL")
        .stdin(Stdio::from(file.try_clone().unwrap()))
        .output()
        .unwrap();
    let piped = consume_stdin(&["--key", "country"], &input[taken..]);
    let (stderr, piped_stderr) = (String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&piped.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&piped.stdout));
    let lines = input[taken..].split(|b| *b == b'\n').filter(|l| !l.is_empty()).count();
    for stderr in [&stderr, &piped_stderr] {
        assert!(stderr.contains(&format!("stdin:{lines}: not a minutely record")), "{stderr}");
        assert!(stderr.contains(&format!("consumed {lines} records")), "{stderr}");
    }
    assert_eq!(file.stream_position().unwrap(), input.len() as u64, "stdin is left at its end");
    std::fs::remove_file(&path).unwrap();
}

/// `consume --source stdin` with a schema file and flags over it: CSV rows and JSON lines in the
/// app's own shape, counted by their fields; a schema that cannot work is refused before reading.
#[test]
fn stdin_records_in_any_format_with_a_schema() {
    let dir = std::env::temp_dir().join(format!("minutely-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let schema = dir.join("app.toml");
    std::fs::write(&schema, "format = \"json\"\ntime = \"/ts\"\nkey = [\"/geo/country\"]\nid = \"id\"\n").unwrap();
    let consume = |args: &[&str], input: &str| {
        let out = consume_stdin(args, input.as_bytes());
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let json = concat!(
        r#"{"id":"1","ts":1471798801000,"geo":{"country":"usa"}}"#,
        "\n",
        r#"{"id":"1","ts":1471798801000,"geo":{"country":"usa"}}"#,
        "\n",
        r#"{"id":"2","ts":"2016-08-21T17:00:59Z","geo":{"country":276}}"#,
        "\n",
        r#"{"id":"3","ts":1471798861000,"geo":{}}"#,
        "\n"
    );
    let (code, stdout, stderr) = consume(&["--schema", schema.to_str().unwrap()], json);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        stdout,
        concat!(
            r#"{"minute":"201608211700","key":["276"],"count":1}"#,
            "\n",
            r#"{"minute":"201608211700","key":["usa"],"count":1}"#,
            "\n"
        )
    );
    assert!(stderr.contains("stdin:4: the key field /geo/country is missing"), "{stderr}");
    assert!(stderr.contains("duplicates dropped 1, rejected 1;"), "{stderr}");
    // The flags over the file: no id (nothing deduplicated, and it says so), missing = empty.
    let (code, stdout, stderr) =
        consume(&["--schema", schema.to_str().unwrap(), "--id", "", "--missing", "empty"], json);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("names no id field: events are not deduplicated"), "{stderr}");
    assert!(stdout.contains(r#"{"minute":"201608211700","key":["usa"],"count":2}"#), "{stdout}");
    assert!(stdout.contains(r#"{"minute":"201608211701","key":[""],"count":1}"#), "{stdout}");

    let csv = "2016-08-21T17:00:01Z,\"Bonn, DE\",and\n2016-08-21T17:00:02Z,\"Bonn, DE\",ios\n";
    let (code, stdout, stderr) = consume(&["--format", "csv", "--time", "1", "--key", "2"], csv);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "{\"minute\":\"201608211700\",\"key\":[\"Bonn, DE\"],\"count\":2}\n");

    let (code, _, stderr) = consume(&["--format", "json", "--key", "/geo/country"], json);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("json records need the time field's path"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}
