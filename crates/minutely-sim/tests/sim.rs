//! What only the sim does: AWS's per-shard limits, seeded faults, the admin API, the CBOR
//! protocol, bad requests; and an unmodified boto3 against it.

use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ShardIteratorType};
use minutely_aws::{Clients, Target, clients};
use minutely_sim::faults::{ErrorKind, OperationFaults};
use minutely_sim::{Clock, Config, Faults, Sim};

const T0: i64 = 1_700_000_000_000;

async fn sim(config: Config) -> (Sim, Clients) {
    let sim = Sim::start(config).await.unwrap();
    let c = clients(&Target::endpoint(sim.endpoint())).await;
    (sim, c)
}

/// Creates a stream and takes it past CREATING, as a client of AWS must: a manual clock is
/// moved, the system clock waited for.
async fn create_stream(sim: &Sim, c: &Clients, name: &str, shards: i32) {
    c.kinesis.create_stream().stream_name(name).shard_count(shards).send().await.unwrap();
    if sim.clock().is_manual() {
        sim.clock().advance(minutely_sim::Shapes::AWS.transition_ms);
    } else {
        minutely_aws::kinesis::wait_active(&c.kinesis, name, std::time::Duration::from_secs(30)).await.unwrap();
    }
}

fn batch(n: usize, tag: &str) -> Vec<PutRecordsRequestEntry> {
    (0..n)
        .map(|i| {
            PutRecordsRequestEntry::builder()
                .data(Blob::new(format!("{tag}-{i}")))
                .partition_key(format!("k{i}"))
                .build()
                .unwrap()
        })
        .collect()
}

async fn shard_iterator(c: &Clients, stream: &str, shard: &str) -> String {
    c.kinesis
        .get_shard_iterator()
        .stream_name(stream)
        .shard_id(shard)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_shard_takes_a_thousand_records_a_second_and_says_which_failed() {
    let (sim, c) = sim(Config { clock: Clock::manual(T0), ..Config::default() }).await;
    create_stream(&sim, &c, "s", 1).await;
    let mut ok = 0;
    for round in 0..3 {
        let out = c
            .kinesis
            .put_records()
            .stream_name("s")
            .set_records(Some(batch(500, &format!("r{round}"))))
            .send()
            .await
            .unwrap();
        let failed: Vec<_> = out.records().iter().filter(|r| r.error_code().is_some()).collect();
        assert_eq!(out.failed_record_count(), Some(failed.len() as i32), "FailedRecordCount is exact");
        assert!(
            failed
                .iter()
                .all(|r| r.error_code() == Some("ProvisionedThroughputExceededException")
                    && r.sequence_number().is_none())
        );
        ok += 500 - failed.len();
    }
    assert_eq!(ok, 1000, "one second of one shard: 1,000 records");
    assert_eq!(sim.stats().limits.entries_throttled, 500);
    let by_shard = sim.stats().limits.entries_throttled_by_shard;
    assert_eq!(by_shard.into_iter().collect::<Vec<_>>(), [("s/shardId-000000000000".to_owned(), 500)]);
    sim.clock().advance(1000);
    let out = c.kinesis.put_records().stream_name("s").set_records(Some(batch(500, "later"))).send().await.unwrap();
    assert_eq!(out.failed_record_count(), Some(0), "a second later the shard takes records again");

    // Reads: 5 calls a second per shard.
    let shard = c.kinesis.list_shards().stream_name("s").send().await.unwrap().shards()[0].shard_id().to_owned();
    let mut it = shard_iterator(&c, "s", &shard).await;
    for _ in 0..5 {
        let r = c.kinesis.get_records().shard_iterator(&it).limit(10).send().await.unwrap();
        it = r.next_shard_iterator().unwrap().to_owned();
    }
    let e = c.kinesis.get_records().shard_iterator(&it).send().await.unwrap_err();
    assert_eq!(e.code(), Some("ProvisionedThroughputExceededException"), "{e:?}");
    // The SDK retried the throttled call itself: every refusal is counted, on this shard.
    let stats = sim.stats();
    assert!(stats.limits.reads_throttled >= 1);
    assert_eq!(stats.limits.reads_throttled_by_shard.get(&format!("s/{shard}")), Some(&stats.limits.reads_throttled));
    sim.clock().advance(1000);
    c.kinesis.get_records().shard_iterator(&it).send().await.unwrap();
}

#[tokio::test]
async fn limits_can_be_switched_off() {
    let (sim, c) = sim(Config { limits: false, clock: Clock::manual(T0), ..Config::default() }).await;
    create_stream(&sim, &c, "s", 1).await;
    for _ in 0..4 {
        let out = c.kinesis.put_records().stream_name("s").set_records(Some(batch(500, "x"))).send().await.unwrap();
        assert_eq!(out.failed_record_count(), Some(0));
    }
    assert_eq!(sim.stats().records_stored, 2000);
}

/// The failed entries of a run with a seed: the same calls meet the same faults.
async fn failed_entries(seed: u64) -> Vec<usize> {
    let faults = Faults {
        seed,
        put_records: minutely_sim::faults::PutRecordsFaults { entry_failure_rate: 0.2, ..Default::default() },
        ..Faults::default()
    };
    let (sim, c) = sim(Config { limits: false, faults, ..Config::default() }).await;
    create_stream(&sim, &c, "s", 2).await;
    let mut failed = Vec::new();
    for round in 0..2 {
        let out = c.kinesis.put_records().stream_name("s").set_records(Some(batch(500, "f"))).send().await.unwrap();
        for (i, r) in out.records().iter().enumerate() {
            if r.error_code().is_some() {
                assert_eq!(r.error_code(), Some("ProvisionedThroughputExceededException"));
                failed.push(round * 500 + i);
            }
        }
        assert_eq!(
            out.failed_record_count(),
            Some(out.records().iter().filter(|r| r.error_code().is_some()).count() as i32)
        );
    }
    let stats = sim.stats();
    assert_eq!(stats.entries_failed_injected as usize, failed.len());
    assert_eq!(stats.records_stored as usize, 1000 - failed.len(), "the other entries are stored");
    failed
}

#[tokio::test]
async fn per_entry_failures_are_seeded() {
    let a = failed_entries(7).await;
    assert!((100..300).contains(&a.len()), "about a fifth of 1,000 entries fail: {}", a.len());
    assert_eq!(a, failed_entries(7).await, "the same seed fails the same entries");
    assert_ne!(a, failed_entries(8).await);
}

#[tokio::test]
async fn a_lost_answer_stores_the_records_and_the_retry_duplicates_them() {
    let faults = Faults {
        put_records: minutely_sim::faults::PutRecordsFaults { answer_lost_rate: 1.0, ..Default::default() },
        ..Faults::default()
    };
    let (sim, c) = sim(Config { faults, ..Config::default() }).await;
    create_stream(&sim, &c, "s", 1).await;
    let e =
        c.kinesis.put_record().stream_name("s").data(Blob::new("once")).partition_key("k").send().await.unwrap_err();
    assert_eq!(e.code(), Some("InternalFailure"), "{e:?}");
    let stats = sim.stats();
    assert!(stats.answers_lost >= 1);
    assert_eq!(
        stats.records_stored, stats.answers_lost,
        "every attempt (the SDK retries 500s) was stored: duplicates are born"
    );
    assert_eq!(stats.calls["PutRecord"], stats.answers_lost);
}

#[tokio::test]
async fn whole_call_errors_latency_and_iterator_expiry() {
    let mut faults = Faults::default();
    faults.operations.insert(
        "GetRecords".into(),
        OperationFaults { error_rate: 1.0, error: ErrorKind::Throttle, ..Default::default() },
    );
    faults.operations.insert(
        "s3:PutObject".into(),
        OperationFaults { error_rate: 1.0, error: ErrorKind::Throttle, latency_ms: 30, ..Default::default() },
    );
    let (sim, c) = sim(Config { faults, ..Config::default() }).await;
    create_stream(&sim, &c, "s", 1).await;
    let shard = c.kinesis.list_shards().stream_name("s").send().await.unwrap().shards()[0].shard_id().to_owned();
    let it = shard_iterator(&c, "s", &shard).await;
    let e = c.kinesis.get_records().shard_iterator(&it).send().await.unwrap_err();
    assert_eq!(e.code(), Some("ProvisionedThroughputExceededException"), "{e:?}");
    c.s3.create_bucket().bucket("bkt").send().await.unwrap();
    let started = std::time::Instant::now();
    let e =
        c.s3.put_object()
            .bucket("bkt")
            .key("k")
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap_err();
    assert_eq!(e.code(), Some("SlowDown"), "{e:?}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(30), "latency is added");
    assert!(sim.stats().errors_injected["s3:PutObject"] >= 1);

    // Changed while running: GetRecords now expires every iterator instead.
    let mut faults = Faults::default();
    faults.get_records.expire_iterator_rate = 1.0;
    sim.set_faults(faults).unwrap();
    let e = c.kinesis.get_records().shard_iterator(&it).send().await.unwrap_err();
    assert_eq!(e.code(), Some("ExpiredIteratorException"), "{e:?}");
}

/// `empty_pages`: AWS's empty page while records remain. A reader that goes on while
/// `MillisBehindLatest` is above 0 gets every record; one that stops at the first empty page
/// loses the rest.
#[tokio::test]
async fn empty_pages_come_while_records_remain_and_say_so() {
    let mut faults = Faults::default();
    faults.get_records.empty_page_rate = 0.5;
    let (sim, c) = sim(Config { faults, limits: false, ..Config::default() }).await;
    create_stream(&sim, &c, "s", 1).await;
    c.kinesis.put_records().stream_name("s").set_records(Some(batch(100, "e"))).send().await.unwrap();
    let shard = c.kinesis.list_shards().stream_name("s").send().await.unwrap().shards()[0].shard_id().to_owned();
    let mut it = shard_iterator(&c, "s", &shard).await;
    let (mut read, mut empty_behind, mut first_empty_at) = (0, 0, None);
    loop {
        let r = c.kinesis.get_records().shard_iterator(&it).limit(10).send().await.unwrap();
        let behind = r.millis_behind_latest().unwrap();
        if r.records().is_empty() {
            if behind == 0 {
                break; // the tip
            }
            assert!(read < 100, "an empty page with records behind it only while records remain");
            empty_behind += 1;
            first_empty_at.get_or_insert(read);
        }
        read += r.records().len();
        it = r.next_shard_iterator().unwrap().to_owned();
    }
    assert_eq!(read, 100, "a reader that goes on while behind gets every record");
    assert!(empty_behind > 0);
    assert!(first_empty_at.unwrap() < 100, "one that stopped at the first empty page would have lost records");
    let stats = sim.stats();
    assert_eq!(stats.empty_pages, empty_behind as u64);
    // AWS's own 2% are not the fault's: at 0.5 against 0.02, nearly all are the fault's.
    assert!(
        stats.empty_pages_injected <= stats.empty_pages && stats.empty_pages_injected * 10 >= stats.empty_pages * 8
    );
}

/// By default (no fault), about 2% of the pages with records to give are empty, seeded, and
/// none is the fault's.
#[tokio::test]
async fn by_default_a_few_pages_are_empty_as_on_aws() {
    let (sim, c) = sim(Config { limits: false, ..Config::default() }).await;
    create_stream(&sim, &c, "s", 1).await;
    for round in 0..4 {
        c.kinesis
            .put_records()
            .stream_name("s")
            .set_records(Some(batch(500, &format!("d{round}"))))
            .send()
            .await
            .unwrap();
    }
    let shard = c.kinesis.list_shards().stream_name("s").send().await.unwrap().shards()[0].shard_id().to_owned();
    let mut it = shard_iterator(&c, "s", &shard).await;
    let (mut read, mut calls) = (0, 0);
    loop {
        let r = c.kinesis.get_records().shard_iterator(&it).limit(2).send().await.unwrap();
        calls += 1;
        if r.records().is_empty() && r.millis_behind_latest() == Some(0) {
            break;
        }
        read += r.records().len();
        it = r.next_shard_iterator().unwrap().to_owned();
    }
    let stats = sim.stats();
    assert_eq!(read, 2000);
    assert_eq!(stats.empty_pages_injected, 0);
    // 1,000 pages of records: 2% is 20, and the seeded dice give between 5 and 40.
    assert!((5..=40).contains(&stats.empty_pages), "{} empty pages in {calls} calls", stats.empty_pages);
    assert_eq!(calls, 1000 + stats.empty_pages + 1, "each empty page is one more call, then the tip");
}

#[tokio::test]
async fn iterators_expire_after_five_minutes_and_records_after_the_retention() {
    let (sim, c) = sim(Config { clock: Clock::manual(T0), ..Config::default() }).await;
    create_stream(&sim, &c, "s", 1).await;
    c.kinesis.put_records().stream_name("s").set_records(Some(batch(10, "old"))).send().await.unwrap();
    let shard = c.kinesis.list_shards().stream_name("s").send().await.unwrap().shards()[0].shard_id().to_owned();
    let it = shard_iterator(&c, "s", &shard).await;
    sim.clock().advance(5 * 60 * 1000 + 1);
    let e = c.kinesis.get_records().shard_iterator(&it).send().await.unwrap_err();
    assert_eq!(e.code(), Some("ExpiredIteratorException"), "{e:?}");
    sim.clock().advance(24 * 3_600_000);
    let it = shard_iterator(&c, "s", &shard).await;
    let r = c.kinesis.get_records().shard_iterator(&it).send().await.unwrap();
    assert!(r.records().is_empty(), "records older than the 24 h retention are trimmed");
}

#[tokio::test]
async fn size_and_read_limits_are_aws_ones() {
    let (sim, c) = sim(Config { clock: Clock::manual(T0), ..Config::default() }).await;
    create_stream(&sim, &c, "s", 1).await;
    // A record above 1 MiB with its key, a stream's default maximum: ValidationException.
    let big = vec![b'x'; 1024 * 1024];
    let e = c
        .kinesis
        .put_record()
        .stream_name("s")
        .data(Blob::new(big.clone()))
        .partition_key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"), "{e:?}");
    // Eleven records of 1 MiB minus their key fit one by one but not in one 10 MiB request.
    let entry = || {
        PutRecordsRequestEntry::builder()
            .data(Blob::new(vec![b'x'; 1024 * 1024 - 1]))
            .partition_key("k")
            .build()
            .unwrap()
    };
    let e = c
        .kinesis
        .put_records()
        .stream_name("s")
        .set_records(Some((0..11).map(|_| entry()).collect()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidArgumentException"), "{e:?}");
    // Reads: 2 MiB/s per shard. Three records of 1 MiB, read at once, put the shard half a
    // second in debt.
    for _ in 0..3 {
        sim.clock().advance(1000);
        c.kinesis.put_records().stream_name("s").set_records(Some(vec![entry()])).send().await.unwrap();
    }
    sim.clock().advance(1000);
    let shard = c.kinesis.list_shards().stream_name("s").send().await.unwrap().shards()[0].shard_id().to_owned();
    let it = shard_iterator(&c, "s", &shard).await;
    let r = c.kinesis.get_records().shard_iterator(&it).send().await.unwrap();
    assert_eq!(r.records().len(), 3);
    sim.clock().advance(400);
    let e = c.kinesis.get_records().shard_iterator(r.next_shard_iterator().unwrap()).send().await.unwrap_err();
    assert_eq!(e.code(), Some("ProvisionedThroughputExceededException"), "{e:?}");
    sim.clock().advance(200);
    c.kinesis.get_records().shard_iterator(r.next_shard_iterator().unwrap()).send().await.unwrap();
}

#[tokio::test]
async fn a_dropped_answer_is_a_transport_error_and_the_records_are_stored() {
    let faults = Faults {
        put_records: minutely_sim::faults::PutRecordsFaults {
            answer_lost_rate: 1.0,
            answer_lost_as: minutely_sim::faults::LostAnswer::Drop,
            ..Default::default()
        },
        ..Faults::default()
    };
    let (sim, c) = sim(Config { faults, ..Config::default() }).await;
    create_stream(&sim, &c, "s", 1).await;
    let e = c.kinesis.put_records().stream_name("s").set_records(Some(batch(10, "d"))).send().await.unwrap_err();
    assert!(e.raw_response().is_none(), "no answer came back: {e:?}");
    let stats = sim.stats();
    assert!(stats.answers_lost >= 1);
    assert_eq!(stats.records_stored, 10 * stats.answers_lost);

    // The stream's ledger knows every stored entry is in doubt, and where it is.
    let ledger = sim.ledger("s").expect("the stream exists");
    assert_eq!(ledger.counts.answers_lost, stats.answers_lost);
    assert_eq!(ledger.counts.entries_stored, stats.records_stored);
    assert_eq!(ledger.ambiguous.len() as u64, stats.records_stored);
    let shard = c.kinesis.list_shards().stream_name("s").send().await.unwrap().shards()[0].shard_id().to_owned();
    let it = shard_iterator(&c, "s", &shard).await;
    let stored = c.kinesis.get_records().shard_iterator(&it).send().await.unwrap();
    let sequences: Vec<&str> = stored.records().iter().map(|r| r.sequence_number()).collect();
    let ambiguous: Vec<&str> = ledger.ambiguous.iter().map(|p| p.sequence.as_str()).collect();
    assert_eq!(sequences, ambiguous);
    assert!(ledger.ambiguous.iter().all(|p| p.shard == shard));
    assert_eq!(stats.streams["s"], ledger.counts, "/_sim/stats has the same counts");
    // The same over HTTP; a stream that does not exist is a 404 that names it.
    let endpoint = sim.endpoint();
    let (status, body) = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let get = |path: &str| {
            let mut r = agent.get(format!("{endpoint}{path}")).call().unwrap();
            (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
        };
        let missing = get("/_sim/streams/nope/ledger");
        assert_eq!(missing.0, 404);
        assert!(missing.1.contains("nope"), "{}", missing.1);
        get("/_sim/streams/s/ledger")
    })
    .await
    .unwrap();
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<minutely_sim::Ledger>(&body).unwrap(), ledger);
}

#[tokio::test]
async fn the_ledger_counts_each_streams_refused_entries() {
    let faults = Faults {
        seed: 3,
        put_records: minutely_sim::faults::PutRecordsFaults { entry_failure_rate: 0.2, ..Default::default() },
        ..Faults::default()
    };
    let (sim, c) = sim(Config { faults, ..Config::default() }).await;
    for name in ["a", "b"] {
        create_stream(&sim, &c, name, 1).await;
    }
    let out = c.kinesis.put_records().stream_name("a").set_records(Some(batch(100, "x"))).send().await.unwrap();
    let failed = out.failed_record_count().unwrap() as u64;
    assert!(failed > 0);
    let a = sim.ledger("a").unwrap().counts;
    assert_eq!((a.entries_stored, a.entries_failed_injected, a.entries_throttled), (100 - failed, failed, 0));
    assert_eq!(sim.ledger("b").unwrap().counts, minutely_sim::StreamCounts::default(), "per stream");
    assert!(sim.ledger("a").unwrap().ambiguous.is_empty(), "every answer arrived");
}

/// One raw call: status and body.
fn raw(endpoint: &str, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut req = agent.post(format!("{endpoint}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = req.send(&body[..]).unwrap();
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_vec().unwrap())
}

fn json_call(endpoint: &str, op: &str, body: &str) -> (u16, serde_json::Value) {
    let target = format!("Kinesis_20131202.{op}");
    let (status, body) = raw(
        endpoint,
        "/",
        &[("x-amz-target", &target), ("content-type", "application/x-amz-json-1.1")],
        body.as_bytes().to_vec(),
    );
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_aws_shaped_errors() {
    let (sim, _c) = sim(Config::default()).await;
    let e = sim.endpoint();
    tokio::task::spawn_blocking(move || {
        let (status, body) = json_call(&e, "PutRecords", "not json");
        assert_eq!((status, body["__type"].as_str()), (400, Some("SerializationException")), "{body}");
        let (status, body) = json_call(&e, "CreateStream", r#"{"ShardCount": 1}"#);
        assert_eq!((status, body["__type"].as_str()), (400, Some("ValidationException")), "{body}");
        let (status, body) = json_call(&e, "CreateStream", r#"{"StreamName": "bad name!", "ShardCount": 1}"#);
        assert_eq!((status, body["__type"].as_str()), (400, Some("ValidationException")), "{body}");
        let (status, body) =
            json_call(&e, "PutRecords", r#"{"StreamName": "s", "Records": [{"Data": "!!!", "PartitionKey": "k"}]}"#);
        assert_eq!((status, body["__type"].as_str()), (400, Some("SerializationException")), "{body}");
        let (status, body) = json_call(&e, "GetRecords", r#"{"ShardIterator": "garbage"}"#);
        assert_eq!((status, body["__type"].as_str()), (400, Some("InvalidArgumentException")), "{body}");
        let (status, body) = json_call(&e, "EnableEnhancedMonitoring", "{}");
        assert_eq!((status, body["__type"].as_str()), (400, Some("UnknownOperationException")), "{body}");
        let (status, body) = raw(
            &e,
            "/_sim/faults",
            &[("content-type", "application/json")],
            b"{\"put_entry_failures\":{\"rate\":2}}".to_vec(),
        );
        assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
        let (status, _) = raw(&e, "/bucket", &[("x-amz-target", "DynamoDB_20120810.GetItem")], Vec::new());
        assert_eq!(status, 400);
    })
    .await
    .unwrap();
}

/// CBOR, as the Java SDK v2 (and so the KCL) sends it: blobs as byte strings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cbor_protocol_carries_blobs_as_bytes() {
    use ciborium::Value;
    // A manual clock at the wall clock's time: the test takes the stream past CREATING.
    let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let (sim, _c) = sim(Config { clock: Clock::manual(wall), ..Config::default() }).await;
    let e = sim.endpoint();
    let clock = sim.clock().clone();
    tokio::task::spawn_blocking(move || {
        let call = |op: &str, v: Value| -> (u16, Value) {
            let mut body = Vec::new();
            ciborium::into_writer(&v, &mut body).unwrap();
            let target = format!("Kinesis_20131202.{op}");
            let (status, out) =
                raw(&e, "/", &[("x-amz-target", &target), ("content-type", "application/x-amz-cbor-1.1")], body);
            (status, ciborium::from_reader(&out[..]).unwrap())
        };
        let text = |s: &str| Value::Text(s.to_owned());
        let map = |pairs: Vec<(&str, Value)>| Value::Map(pairs.into_iter().map(|(k, v)| (text(k), v)).collect());
        let get = |v: &Value, k: &str| {
            v.as_map().unwrap().iter().find(|(kk, _)| kk.as_text() == Some(k)).map(|(_, v)| v.clone())
        };
        assert_eq!(
            call("CreateStream", map(vec![("StreamName", text("c")), ("ShardCount", Value::Integer(1.into()))])).0,
            200
        );
        clock.advance(minutely_sim::Shapes::AWS.transition_ms); // past CREATING
        let (status, out) = call(
            "PutRecord",
            map(vec![
                ("StreamName", text("c")),
                ("Data", Value::Bytes(vec![0, 159, 255])),
                ("PartitionKey", text("k")),
            ]),
        );
        assert_eq!(status, 200, "{out:?}");
        assert!(get(&out, "SequenceNumber").unwrap().is_text());
        let shards = call("ListShards", map(vec![("StreamName", text("c"))])).1;
        let shard = get(&get(&shards, "Shards").unwrap().as_array().unwrap()[0], "ShardId").unwrap();
        let it = call(
            "GetShardIterator",
            map(vec![
                ("StreamName", text("c")),
                ("ShardId", shard.clone()),
                ("ShardIteratorType", text("TRIM_HORIZON")),
            ]),
        )
        .1;
        let records = call("GetRecords", map(vec![("ShardIterator", get(&it, "ShardIterator").unwrap())])).1;
        let list = get(&records, "Records").unwrap();
        let record = &list.as_array().unwrap()[0];
        assert_eq!(
            get(record, "Data"),
            Some(Value::Bytes(vec![0, 159, 255])),
            "binary data comes back as a byte string"
        );
        // Timestamps: tag 1 around epoch milliseconds, as the Java SDKs write and read them.
        let Some(Value::Tag(1, at)) = get(record, "ApproximateArrivalTimestamp") else {
            panic!("timestamps carry tag 1: {record:?}")
        };
        let ms = i128::from(at.as_integer().expect("an integer"));
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i128;
        assert!((now - ms).abs() < 60_000, "milliseconds: {ms} against {now}");
        // And read back the same way: AT_TIMESTAMP at the record's own arrival finds it.
        let at_ts = Value::Tag(1, Box::new(Value::Integer((ms as i64).into())));
        let it = call(
            "GetShardIterator",
            map(vec![
                ("StreamName", text("c")),
                ("ShardId", shard),
                ("ShardIteratorType", text("AT_TIMESTAMP")),
                ("Timestamp", at_ts),
            ]),
        )
        .1;
        let again = call(
            "GetRecords",
            map(vec![("ShardIterator", get(&it, "ShardIterator").unwrap_or_else(|| panic!("{it:?}")))]),
        )
        .1;
        assert_eq!(get(&again, "Records").unwrap().as_array().unwrap().len(), 1, "{again:?}");
        let (status, err) = call("DescribeStream", map(vec![("StreamName", text("nope"))]));
        assert_eq!(status, 400);
        assert_eq!(
            get(&err, "__type").and_then(|v| v.as_text().map(str::to_owned)).as_deref(),
            Some("ResourceNotFoundException")
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_reports_and_resets() {
    let (sim, c) = sim(Config::default()).await;
    create_stream(&sim, &c, "s", 1).await;
    c.kinesis.put_record().stream_name("s").data(Blob::new("x")).partition_key("k").send().await.unwrap();
    let e = sim.endpoint();
    let stats = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let stats: serde_json::Value = serde_json::from_slice(
            &agent.get(format!("{e}/_sim/stats")).call().unwrap().body_mut().read_to_vec().unwrap(),
        )
        .unwrap();
        let (status, _) = raw(&e, "/_sim/reset", &[("x-minutely-sim", "1")], Vec::new());
        assert_eq!(status, 200);
        stats
    })
    .await
    .unwrap();
    assert_eq!(stats["records_stored"], 1);
    assert_eq!(stats["calls"]["PutRecord"], 1);
    let e = c.kinesis.describe_stream_summary().stream_name("s").send().await.unwrap_err();
    assert_eq!(e.code(), Some("ResourceNotFoundException"), "reset removes every stream");
}

/// A test suite's fixtures: a stream truncated (its records gone, its shards kept) and reset
/// (as created, ACTIVE at once), through the admin API, with the SDK seeing the result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_is_truncated_and_reset_between_cases() {
    let (sim, c) = sim(Config {
        limits: false,
        shapes: minutely_sim::Shapes { empty_pages: 0.0, ..Default::default() },
        ..Config::default()
    })
    .await;
    create_stream(&sim, &c, "s", 1).await;
    c.kinesis.put_records().stream_name("s").set_records(Some(batch(20, "t"))).send().await.unwrap();
    let split = c.kinesis.split_shard().stream_name("s").shard_to_split("shardId-000000000000");
    split.new_starting_hash_key("1000").send().await.unwrap();
    let e = sim.endpoint();
    let (truncated, reset, unknown) = tokio::task::spawn_blocking(move || {
        let post = |path: &str| {
            let (status, body) = raw(&e, path, &[("content-type", "application/json")], Vec::new());
            (status, serde_json::from_slice::<serde_json::Value>(&body).unwrap())
        };
        (post("/_sim/streams/s/truncate"), post("/_sim/streams/s/reset"), post("/_sim/streams/none/reset"))
    })
    .await
    .unwrap();
    assert_eq!(truncated, (200, serde_json::json!({"stream": "s", "records_dropped": 20})));
    assert_eq!(reset, (200, serde_json::json!({"stream": "s", "shards": 2})), "the split's two children");
    assert_eq!(unknown.0, 404, "{unknown:?}");
    let shards = c.kinesis.list_shards().stream_name("s").send().await.unwrap();
    assert_eq!(shards.shards().len(), 2, "no closed parent after a reset");
    let d = c.kinesis.describe_stream_summary().stream_name("s").send().await.unwrap();
    assert_eq!(d.stream_description_summary().unwrap().stream_status().as_str(), "ACTIVE", "at once");
    let it = shard_iterator(&c, "s", "shardId-000000000000").await;
    assert!(c.kinesis.get_records().shard_iterator(it).send().await.unwrap().records().is_empty());
}

/// A prepared state (a resharded stream with records and a consumer, a bucket with a plain and a
/// multipart object) taken with `GET /_sim/state` starts another sim: the SDKs read the same
/// records, sequence numbers, shards and objects (ETags too); a state that is wrong is refused
/// with what is wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sim_starts_from_a_snapshot() {
    // Every page full, so that each read below gives what the shard holds.
    let shapes = minutely_sim::Shapes { empty_pages: 0.0, ..Default::default() };
    let (sim, c) = sim(Config { limits: false, shapes, ..Config::default() }).await;
    create_stream(&sim, &c, "s", 1).await;
    c.kinesis.put_records().stream_name("s").set_records(Some(batch(30, "a"))).send().await.unwrap();
    let split = c.kinesis.split_shard().stream_name("s").shard_to_split("shardId-000000000000");
    split.new_starting_hash_key((1u128 << 127).to_string()).send().await.unwrap();
    minutely_aws::kinesis::wait_active(&c.kinesis, "s", std::time::Duration::from_secs(30)).await.unwrap();
    c.kinesis.put_records().stream_name("s").set_records(Some(batch(30, "b"))).send().await.unwrap();
    let arn = c.kinesis.describe_stream_summary().stream_name("s").send().await.unwrap();
    let arn = arn.stream_description_summary().unwrap().stream_arn().to_owned();
    c.kinesis.register_stream_consumer().stream_arn(&arn).consumer_name("app").send().await.unwrap();
    c.s3.create_bucket().bucket("fixture").send().await.unwrap();
    c.s3.put_object().bucket("fixture").key("k/one").body(b"hello".to_vec().into()).send().await.unwrap();
    let id = c.s3.create_multipart_upload().bucket("fixture").key("multi").send().await.unwrap().upload_id.unwrap();
    let part = c.s3.upload_part().bucket("fixture").key("multi").upload_id(&id).part_number(1);
    let etag = part.body(b"part".to_vec().into()).send().await.unwrap().e_tag.unwrap();
    let parts = aws_sdk_s3::types::CompletedMultipartUpload::builder()
        .parts(aws_sdk_s3::types::CompletedPart::builder().part_number(1).e_tag(etag).build())
        .build();
    let done = c.s3.complete_multipart_upload().bucket("fixture").key("multi").upload_id(&id);
    done.multipart_upload(parts).send().await.unwrap();

    let e = sim.endpoint();
    let taken: minutely_sim::Snapshot = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
        serde_json::from_slice(&agent.get(format!("{e}/_sim/state")).call().unwrap().body_mut().read_to_vec().unwrap())
            .unwrap()
    })
    .await
    .unwrap();
    let now = sim.snapshot();
    assert_eq!((&taken.streams, &taken.buckets), (&now.streams, &now.buckets), "the admin API's is the state");
    let (again, c2) =
        self::sim(Config { limits: false, shapes, state: Some(taken.clone()), ..Config::default() }).await;
    assert_eq!(again.snapshot().streams, taken.streams, "the same streams, records and consumers");
    let mut total = 0;
    for shard in ["shardId-000000000000", "shardId-000000000001", "shardId-000000000002"] {
        let read = |c: &'_ Clients| {
            let c = c.clone();
            async move {
                let it = shard_iterator(&c, "s", shard).await;
                let r = c.kinesis.get_records().shard_iterator(it).send().await.unwrap();
                r.records()
                    .iter()
                    .map(|r| (r.sequence_number().to_owned(), r.data().clone().into_inner()))
                    .collect::<Vec<_>>()
            }
        };
        let records = read(&c).await;
        total += records.len();
        assert_eq!(read(&c2).await, records, "{shard}: the same records and sequence numbers");
    }
    assert_eq!(total, 60);
    let listed = c2.kinesis.list_stream_consumers().stream_arn(&arn).send().await.unwrap();
    assert_eq!(listed.consumers().len(), 1);
    for key in ["k/one", "multi"] {
        let (a, b) = (
            c.s3.head_object().bucket("fixture").key(key).send().await.unwrap(),
            c2.s3.head_object().bucket("fixture").key(key).send().await.unwrap(),
        );
        assert_eq!((a.e_tag(), a.content_length()), (b.e_tag(), b.content_length()), "{key}");
    }

    let mut broken = taken.clone();
    broken.streams[0].shards[2].hash_start = "12".into();
    let refused = Sim::start(Config { state: Some(broken), ..Config::default() }).await.unwrap_err();
    assert!(
        refused.to_string().contains("stream \"s\"") && refused.to_string().contains("gap or overlap"),
        "{refused}"
    );
}

/// boto3 (from LocalStack's venv, which the host backend installs) against the sim: Kinesis,
/// and an S3 listing of 1,200 Hive-style keys with boto3's `encoding-type=url` paginator,
/// which LocalStack 4.9.2 cuts at 1,000.
#[test]
fn boto3_against_the_sim() {
    let options = minutely_localstack::Options::from_env().unwrap();
    let install = minutely_localstack::host::ensure_installed(&options).unwrap_or_else(|e| panic!("{e}"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt.block_on(Sim::start(Config { limits: false, ..Config::default() })).unwrap();
    let script = r#"
import boto3, os, sys
kw = dict(endpoint_url=os.environ["EP"], region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
k = boto3.client("kinesis", **kw)
k.create_stream(StreamName="py", ShardCount=2)
k.get_waiter("stream_exists").wait(StreamName="py", WaiterConfig={"Delay": 1})
out = k.put_records(StreamName="py", Records=[{"Data": b"e%d" % i, "PartitionKey": "p%d" % i} for i in range(50)])
assert out["FailedRecordCount"] == 0, out
seen = 0
for s in k.list_shards(StreamName="py")["Shards"]:
    it = k.get_shard_iterator(StreamName="py", ShardId=s["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    while True:  # to the tip: a page may be empty while records remain, as on AWS
        page = k.get_records(ShardIterator=it)
        seen += len(page["Records"])
        it = page["NextShardIterator"]
        if page["MillisBehindLatest"] == 0:
            break
assert seen == 50, seen
s3 = boto3.client("s3", **kw)
s3.create_bucket(Bucket="py-bucket")
for i in range(1200):
    s3.put_object(Bucket="py-bucket", Key="minutes/dt=2016-08-21/minute=%04d/a b+c.jsonl" % i, Body=b"{}")
keys = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket="py-bucket", Prefix="minutes/dt=2016-08-21/") for o in p.get("Contents", [])]
assert len(keys) == 1200 and keys[5] == "minutes/dt=2016-08-21/minute=0005/a b+c.jsonl", (len(keys), keys[:3])
assert s3.get_object(Bucket="py-bucket", Key=keys[5])["Body"].read() == b"{}"
print("boto3 ok")
"#;
    let out =
        std::process::Command::new(&install.python).arg("-c").arg(script).env("EP", sim.endpoint()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("boto3 ok"),
        "boto3 failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(sim);
}
