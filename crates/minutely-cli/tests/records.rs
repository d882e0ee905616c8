//! The clients' own records, as `minutely consume` meets them: an app writes nested JSON events
//! with boto3 (one per record, several per record one per line, gzip-compressed batches,
//! numeric key values, fields missing, duplicates, bad events), and a KPL aggregate made by
//! another library (aws-kinesis-agg, `fixtures/kpl/app-json-120.bin`) goes into the same stream.
//! The Python script counts what it sent per minute and key on its own (Python's json, gzip and
//! time modules); `minutely consume` with a schema must give exactly those counts and rejects.
//!
//! And the other way: `minutely produce --aggregate kpl` writes aggregates that aws-kinesis-agg
//! (the Python library, pinned, installed from PyPI into the cache) reads back into exactly the
//! events sent, each aggregate holding only user records bound for its shard.
//!
//! boto3 comes from LocalStack's venv, which the host backend installs (as the sim's own boto3
//! test does); the stream is on the real `minutely sim` binary with AWS's limits.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const APP: &str = r#"
import boto3, calendar, gzip, json, os, random, time
kw = dict(endpoint_url=os.environ["EP"], region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
k = boto3.client("kinesis", **kw)
k.create_stream(StreamName="app", ShardCount=2)
while k.describe_stream_summary(StreamName="app")["StreamDescriptionSummary"]["StreamStatus"] != "ACTIVE":
    time.sleep(0.1)

rng = random.Random(12)
T0 = 1471798800000
expected, rejects, seen = {}, 0, set()

def key_value(v):
    # The canonical rendering the schema promises: integral numbers without a fraction.
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)

def count(e):
    if e["event_id"] in seen:
        return
    seen.add(e["event_id"])
    ts = e["ts"]
    secs = ts // 1000 if isinstance(ts, int) else calendar.timegm(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ"))
    minute = time.strftime("%Y%m%d%H%M", time.gmtime(secs))
    key = (minute, key_value(e.get("geo", {}).get("country")), key_value(e.get("app", {}).get("version")))
    expected[key] = expected.get(key, 0) + 1

def event(i):
    e = {"event_id": "ev%d" % i, "ts": T0 + i * 40 + rng.randint(0, 900),
         "geo": {"country": rng.choice(["usa", "bra", "deu", 276])},
         "app": {"version": rng.choice([1, 2.0, "3"]), "build": "x"},
         "screen": {"name": "home", "items": [1, 2, {"a": None}]}}
    if i % 53 == 0:
        del e["geo"]["country"]          # missing = "empty": counted with ""
    if i % 71 == 0:
        e["app"]["version"] = None       # null is missing too
    return e

records = []                             # (data, partition key)
i = 0
while i < 6000:
    shape = rng.random()
    if shape < 0.6:                      # one event per record
        e = event(i); i += 1
        count(e)
        records.append((json.dumps(e).encode(), e["event_id"]))
        if rng.random() < 0.03:          # a client's retry: same id, same partition key, at once
            records.append(records[-1])
    elif shape < 0.8:                    # several events per record, one per line
        batch = [event(i + j) for j in range(10)]; i += 10
        for e in batch: count(e)
        records.append(("\n".join(json.dumps(e) for e in batch).encode(), batch[0]["event_id"]))
    else:                                # a gzip-compressed batch of lines
        batch = [event(i + j) for j in range(25)]; i += 25
        for e in batch: count(e)
        records.append((gzip.compress("".join(json.dumps(e) + "\n" for e in batch).encode()), batch[0]["event_id"]))
# Events that cannot be counted: each is a reject that names its record (and line).
bad = [b'{"event_id":"bad1","ts":', b'{"event_id":"bad2","ts":"soon","geo":{"country":"usa"}}',
       b'{"event_id":"bad3","ts":1471798800000,"geo":{"country":{"iso":"us"}}}', b'[1,2,3]']
for b in bad:
    records.append((b, "bad"))
    rejects += 1
records.append((b'{"event_id":"bad4","ts":1471798800001}\nnot json\n', "bad"))
count({"event_id": "bad4", "ts": 1471798800001})
rejects += 1

# Another library's KPL aggregate, sent as it was made.
vectors = json.load(open(os.environ["KPL"] + "/vectors.json"))["app-json-120.bin"]
for e in vectors["events"]:
    count(e)
kpl = open(os.environ["KPL"] + "/app-json-120.bin", "rb").read()

for n in range(0, len(records), 500):
    chunk = records[n:n + 500]
    entries = [{"Data": d, "PartitionKey": pk} for d, pk in chunk]
    while entries:
        out = k.put_records(StreamName="app", Records=entries)
        entries = [e for e, r in zip(entries, out["Records"]) if "ErrorCode" in r]
        if entries:
            time.sleep(0.2)
k.put_record(StreamName="app", Data=kpl, PartitionKey=vectors["partition_key"], ExplicitHashKey=vectors["explicit_hash_key"])
dups = len(records) - len(set(records))
print(json.dumps({"counts": [[m, c, v, n] for (m, c, v), n in sorted(expected.items())], "rejects": rejects, "duplicates": dups}))
"#;

fn minutely() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_minutely"));
    c.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."));
    c
}

/// The real `minutely sim`, with AWS's limits, and its endpoint.
fn sim() -> (Child, String) {
    let mut sim = minutely().args(["sim", "--port", "0"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(sim.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    let endpoint =
        line.trim().strip_prefix("export AWS_ENDPOINT_URL=").unwrap_or_else(|| panic!("{line:?}")).to_owned();
    (sim, endpoint)
}

/// LocalStack's venv Python (it has boto3), installing LocalStack once if it is not there.
fn python() -> PathBuf {
    let options = minutely_localstack::Options::from_env().unwrap();
    minutely_localstack::host::ensure_installed(&options).unwrap_or_else(|e| panic!("{e}")).python
}

#[test]
fn json_events_written_by_boto3_and_a_kpl_aggregate_are_counted_exactly() {
    let python = python();
    let (mut sim, endpoint) = sim();
    let kpl = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/kpl");

    let app = Command::new(&python).arg("-c").arg(APP).env("EP", &endpoint).env("KPL", &kpl).output().unwrap();
    assert!(app.status.success(), "the boto3 app failed:\n{}", String::from_utf8_lossy(&app.stderr));
    let sent: serde_json::Value = serde_json::from_slice(&app.stdout).unwrap();

    let out = minutely()
        .args(["consume", "--source", "kinesis:app", "--sink", "stdout", "--exit-when-idle", "2s"])
        .args(["--format", "json", "--time", "/ts", "--key", "/geo/country,app.version", "--id", "/event_id"])
        .args(["--missing", "empty"])
        .env("AWS_ENDPOINT_URL", &endpoint)
        .output()
        .unwrap();
    let _ = sim.kill();
    let _ = sim.wait();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");

    let mut got: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let l: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = l["key"].as_array().unwrap();
        let k = (
            l["minute"].as_str().unwrap().to_owned(),
            key[0].as_str().unwrap().to_owned(),
            key[1].as_str().unwrap().to_owned(),
        );
        *got.entry(k).or_default() += l["count"].as_u64().unwrap();
    }
    let want: BTreeMap<(String, String, String), u64> = sent["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                (c[0].as_str().unwrap().into(), c[1].as_str().unwrap().into(), c[2].as_str().unwrap().into()),
                c[3].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, want, "{stderr}");
    assert!(want.keys().any(|k| k.1 == "276"), "a numeric key value is counted as its digits");
    assert!(want.keys().any(|k| k.2 == "2"), "2.0 is counted as 2");
    assert!(want.keys().any(|k| k.2.is_empty()), "a missing or null field is the empty value");

    // Every reject is on stderr with the record (and line) it came from.
    let rejects = sent["rejects"].as_u64().unwrap();
    assert!(stderr.contains(&format!("rejected {rejects};")), "{stderr}");
    assert!(stderr.contains("line 2: not JSON"), "{stderr}");
    assert!(stderr.contains(r#"the time field /ts ("soon")"#), "{stderr}");
    assert!(stderr.contains("the key field /geo/country is an object, not a value"), "{stderr}");
    assert!(stderr.contains("holding "), "records held several events: {stderr}");
    let dups = sent["duplicates"].as_u64().unwrap();
    assert!(dups > 0 && stderr.contains(&format!("duplicates dropped {dups},")), "{dups} duplicates sent: {stderr}");
}

/// The library that reads the producer's aggregates: aws-kinesis-agg from PyPI, pinned (with the
/// protobuf runtime it was checked with), installed once into the cache beside LocalStack.
fn kinesis_agg(python: &Path) -> PathBuf {
    const PINNED: [&str; 2] = ["aws-kinesis-agg==1.2.3", "protobuf==7.36.2"];
    let options = minutely_localstack::Options::from_env().unwrap();
    let dir = options.cache_dir.join("python").join("aws-kinesis-agg-1.2.3");
    if !dir.join("aws_kinesis_agg").is_dir() {
        // Into a fresh directory, then renamed: two test processes never see half an install.
        let tmp = dir.with_extension(format!("tmp-{}", std::process::id()));
        let out = Command::new(python)
            .args(["-m", "pip", "install", "--quiet", "--no-input", "--target"])
            .arg(&tmp)
            .args(PINNED)
            .output()
            .unwrap();
        assert!(out.status.success(), "pip install {PINNED:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        if std::fs::rename(&tmp, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&tmp); // another process won the race
        }
    }
    dir
}

const READ_BACK: &str = r#"
import base64, boto3, hashlib, json, os, sys
from aws_kinesis_agg.deaggregator import iter_deaggregate_records
kw = dict(endpoint_url=os.environ["EP"], region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
k = boto3.client("kinesis", **kw)
records, users = 0, []
for shard in k.list_shards(StreamName="agg")["Shards"]:
    lo, hi = (int(shard["HashKeyRange"][b]) for b in ("StartingHashKey", "EndingHashKey"))
    it = k.get_shard_iterator(StreamName="agg", ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    while it:
        out = k.get_records(ShardIterator=it, Limit=1000)
        for r in out["Records"]:
            records += 1
            for u in iter_deaggregate_records(r, data_format="Boto3"):
                assert u["kinesis"].get("aggregated"), "a record aws-kinesis-agg did not read as an aggregate"
                h = int(hashlib.md5(u["kinesis"]["partitionKey"].encode()).hexdigest(), 16)
                assert lo <= h <= hi, "a user record packed into another shard's aggregate"
                users.append(base64.b64decode(u["kinesis"]["data"]).decode())
        it = out.get("NextShardIterator") if out["MillisBehindLatest"] > 0 or out["Records"] else None
print(json.dumps({"records": records, "users": users}))
"#;

#[test]
fn the_producers_kpl_aggregates_are_read_by_aws_kinesis_agg() {
    let python = python();
    let agg = kinesis_agg(&python);
    let (mut sim, endpoint) = sim();
    let file = "fixtures/clean.tsv";
    let expected =
        minutely().args(["produce", "--source", &format!("file:{file}"), "--sink", "stdout"]).output().unwrap();
    let mut want: Vec<String> = String::from_utf8_lossy(&expected.stdout).lines().map(str::to_owned).collect();
    let produced = minutely()
        .args(["produce", "--source", &format!("file:{file}"), "--sink", "kinesis:agg", "--create-stream", "2"])
        .args(["--aggregate", "kpl", "--aggregate-max-bytes", "2000", "--partition-key", "id"])
        .env("AWS_ENDPOINT_URL", &endpoint)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&produced.stderr);
    assert!(produced.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("sent {} in ", want.len())), "{stderr}");

    let read =
        Command::new(&python).arg("-c").arg(READ_BACK).env("EP", &endpoint).env("PYTHONPATH", &agg).output().unwrap();
    assert!(read.status.success(), "aws-kinesis-agg:\n{}", String::from_utf8_lossy(&read.stderr));
    let back: serde_json::Value = serde_json::from_slice(&read.stdout).unwrap();
    let mut got: Vec<String> =
        back["users"].as_array().unwrap().iter().map(|u| u.as_str().unwrap().to_owned()).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "aws-kinesis-agg reads back exactly the events sent");
    let records = back["records"].as_u64().unwrap();
    assert!(records * 5 < want.len() as u64, "{} events in {records} Kinesis records", want.len());
    assert!(stderr.contains(&format!("in {records} packed records")), "{stderr}");

    // And minutely's own consumer counts them as `aggregate` counts the file.
    let consumed = minutely()
        .args(["consume", "--source", "kinesis:agg", "--sink", "stdout", "--exit-when-idle", "1s", "--key", "country"])
        .env("AWS_ENDPOINT_URL", &endpoint)
        .output()
        .unwrap();
    let _ = sim.kill();
    let _ = sim.wait();
    assert!(consumed.status.success(), "{}", String::from_utf8_lossy(&consumed.stderr));
    let aggregate = minutely().args(["aggregate", file, "--key-cols", "country"]).output().unwrap();
    // Summed per minute and key: each shard writes its own lines.
    let sums = |b: &[u8]| {
        let mut m: BTreeMap<(String, String), u64> = BTreeMap::new();
        for line in String::from_utf8_lossy(b).lines() {
            let l: serde_json::Value = serde_json::from_str(line).unwrap();
            *m.entry((l["minute"].to_string(), l["key"].to_string())).or_default() += l["count"].as_u64().unwrap();
        }
        m
    };
    assert_eq!(sums(&consumed.stdout), sums(&aggregate.stdout));
    assert!(!sums(&aggregate.stdout).is_empty());
}

/// One schema file for both ends: `produce --record-schema F` writes nested JSON, CSV or TSV,
/// `consume --schema F` reads it, and the counts are what `aggregate` counts in the file.
#[test]
fn one_schema_file_for_producer_and_consumer_in_every_format() {
    let file = "fixtures/clean.tsv";
    let dir = std::env::temp_dir().join(format!("minutely-records-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let want = minutely().args(["aggregate", file, "--key-cols", "country"]).output().unwrap();
    let schemas = [
        (
            "nested-json",
            "format = \"json\"\ntime = \"/event/ts\"\ntime_format = \"rfc3339\"\nid = \"/event/id\"\nkey = [\"/geo/country\"]\n",
        ),
        (
            "csv",
            "format = \"csv\"\ncolumns = [\"ms\", \"id\", \"country\", \"device\"]\ntime = \"ms\"\nid = \"id\"\nkey = [\"country\"]\n",
        ),
        (
            "tsv",
            "format = \"tsv\"\ncolumns = [\"s\", \"country\"]\ntime = \"s\"\ntime_format = \"epoch_seconds\"\nkey = [\"country\"]\n",
        ),
    ];
    for (name, text) in schemas {
        let schema = dir.join(format!("{name}.toml"));
        std::fs::write(&schema, text).unwrap();
        let schema = schema.to_str().unwrap();
        let produced = minutely()
            .args(["produce", "--source", &format!("file:{file}"), "--sink", "stdout", "--record-schema", schema])
            .output()
            .unwrap();
        assert!(produced.status.success(), "{name}: {}", String::from_utf8_lossy(&produced.stderr));
        let first = String::from_utf8_lossy(&produced.stdout).lines().next().unwrap_or_default().to_owned();
        let mut consume = minutely()
            .args(["consume", "--source", "stdin", "--sink", "stdout", "--schema", schema])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut consume.stdin.take().unwrap(), &produced.stdout).unwrap();
        let out = consume.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && stderr.contains("rejected 0;"), "{name}: {stderr}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&want.stdout), "{name}: {first}");
        // And `aggregate` counts the same records from a file with the same schema.
        let path = dir.join(format!("{name}.records"));
        std::fs::write(&path, &produced.stdout).unwrap();
        let counted =
            minutely().args(["aggregate", path.to_str().unwrap(), "--schema", schema, "--no-header"]).output().unwrap();
        let stderr = String::from_utf8_lossy(&counted.stderr);
        assert!(counted.status.success() && stderr.contains(" 0 rejected"), "{name}: {stderr}");
        assert_eq!(String::from_utf8_lossy(&counted.stdout), String::from_utf8_lossy(&want.stdout), "aggregate {name}");
        match name {
            "nested-json" => {
                assert!(
                    first.contains(r#""event":{"id":"e00000","ts":"2016-08-21T17:00:00.804Z"}"#)
                        && first.contains(r#""geo":{"country":"usa"}"#),
                    "{first}"
                )
            }
            "csv" => assert_eq!(first.split(',').count(), 4, "{first}"),
            _ => assert!(first.contains('.') && first.split('\t').count() == 2, "{first}"),
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Kinesis records' data in base64 on stdin (`aws kinesis get-records | jq -r '.Records[].Data'`):
/// a KPL aggregate made by aws-kinesis-agg is opened into its user records and counted exactly
/// as `fixtures/kpl/vectors.json` lists them; an aggregate whose MD5 does not match and a line
/// that is not base64 are each one reject that names its line; nothing else is lost.
#[test]
fn kinesis_records_in_base64_on_stdin_are_opened_and_counted() {
    use base64::Engine;
    use minutely_aggregate::EventTime;
    use std::io::Write;

    let kpl = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/kpl");
    let b64 = |name: &str| base64::engine::general_purpose::STANDARD.encode(std::fs::read(kpl.join(name)).unwrap());
    let input = format!(
        "{}\r\n{}\nnot base64!\n\n{}\n",
        b64("minutely-format-25.bin"),
        b64("bad-md5.bin"),
        b64("minutely-format-25.bin")
    );
    let vectors: serde_json::Value = serde_json::from_slice(&std::fs::read(kpl.join("vectors.json")).unwrap()).unwrap();
    let mut want: BTreeMap<(String, String), u64> = BTreeMap::new();
    for e in vectors["minutely-format-25.bin"]["events"].as_array().unwrap() {
        let minute = EventTime(e["time_ms"].as_i64().unwrap()).minute().to_string();
        *want.entry((minute, e["dims"]["country"].as_str().unwrap().to_owned())).or_default() += 1;
    }
    assert_eq!(want.values().sum::<u64>(), 25);

    let mut child = minutely()
        .args(["consume", "--source", "stdin", "--stdin", "base64", "--key", "country", "--sink", "stdout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let mut got: BTreeMap<(String, String), u64> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let l: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = (l["minute"].as_str().unwrap().to_owned(), l["key"][0].as_str().unwrap().to_owned());
        *got.entry(key).or_default() += l["count"].as_u64().unwrap();
    }
    // The aggregate's second copy on line 5: every id again, every event a duplicate.
    assert_eq!(got, want, "{stderr}");
    assert!(stderr.contains("stdin:2: a KPL aggregate whose MD5 does not match"), "{stderr}");
    assert!(stderr.contains("stdin:3: not a record's data in base64"), "{stderr}");
    assert!(stderr.contains("consumed 4 records holding 52 events"), "{stderr}");
    assert!(stderr.contains("counted 25 (late 0), duplicates dropped 25, rejected 2;"), "{stderr}");
}
