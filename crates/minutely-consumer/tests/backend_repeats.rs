//! The consumer against a backend that answers a record again: LocalStack 4.9's Kinesis
//! (kinesis-mock 0.4.13) gives a shard's first record, put within the second the shard was
//! created, the shard's starting sequence number, and reads an iterator after that record from
//! the shard's start, so the record comes in every answer after it. Each event stays counted
//! once and no bad line is rejected twice; the readers' stats say how many were skipped.
//! Found by CI: `scenario gzip-lines` on LocalStack rejected 6 lines twice in memory (103
//! against 97 reject lines in S3) and dropped 1,013 "duplicates", the first record's events.
//!
//! The stream is LocalStack's, run as a host process; the records are put with the SDK.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::primitives::Blob;
use minutely_aggregate::WindowConfig;
use minutely_consumer::kinesis::{KinesisOptions, consume};
use minutely_consumer::output::MemoryStore;
use minutely_consumer::{CountLine, Output, Settings, ShardStats, Stop};
use minutely_event::{RecordDecoder, Schema};
use minutely_localstack::{Backend, LocalStack, Options};

const T0: i64 = 1_471_798_800_000;
const EVENTS: usize = 10;

/// Event `i`: a second apart; event 0's line is bad (no time), so that a record taken twice
/// would show as a second reject too.
fn data(i: usize) -> Vec<u8> {
    let line = if i == 0 {
        r#"{"id":"e0","country":"c0"}"#.to_owned()
    } else {
        format!(r#"{{"id":"e{i}","ts":{},"country":"c{}"}}"#, T0 + 1_000 * i as i64, i % 3)
    };
    line.into_bytes()
}

async fn put(k: &Client, stream: &str, i: usize) -> String {
    let out = k.put_record().stream_name(stream).data(Blob::new(data(i))).partition_key("p").send().await.unwrap();
    out.sequence_number().to_owned()
}

/// A stream whose first record LocalStack numbers with the shard's starting sequence number
/// (the records put within the second the shard was created). Fails when five streams in a
/// row do not: the backend no longer shows the defect this test is about.
async fn stream_that_repeats(k: &Client) -> String {
    for attempt in 0..5 {
        let stream = format!("repeats-{attempt}");
        minutely_aws::kinesis::ensure_stream(k, &stream, 1, Duration::from_secs(30)).await.unwrap();
        let first = put(k, &stream, 0).await;
        let shards = k.list_shards().stream_name(&stream).send().await.unwrap();
        let range = shards.shards()[0].sequence_number_range().unwrap();
        if range.starting_sequence_number() == first {
            return stream;
        }
    }
    panic!("LocalStack no longer numbers a shard's first record with the shard's starting sequence number");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_answered_again_is_counted_once() {
    let options = Options { backend: Backend::Host, ..Options::from_env().unwrap() };
    let ls = LocalStack::start(&options).unwrap_or_else(|e| panic!("{e}"));
    let k = minutely_aws::clients(&minutely_aws::Target::endpoint(ls.endpoint())).await.kinesis;
    let stream = stream_that_repeats(&k).await;

    let schema = Schema::from_toml("format = \"json\"\ntime = \"ts\"\nkey = [\"country\"]\nid = \"id\"").unwrap();
    let settings = Settings {
        decoder: Arc::new(RecordDecoder::new(&schema).unwrap()),
        windows: WindowConfig { allowed_lateness_ms: 0, idle_timeout_ms: Some(1_000) },
        max_dedup_ids: 1_000,
    };
    let options = KinesisOptions {
        exit_when_idle: Some((Duration::from_secs(3), Stop { close_open: true })),
        ..KinesisOptions::new(&stream)
    };
    let store = Arc::new(MemoryStore::default());
    let (_never, stop) = tokio::sync::watch::channel(None);
    let stats = ShardStats::new();
    let consumer =
        tokio::spawn(consume(k.clone(), options, settings, Output::Memory(store.clone()), stop, stats.clone()));
    // The first answers hold the first record alone, so the iterators after it start at the
    // shard's starting sequence number: every answer from then on begins with it again.
    let deadline = Instant::now() + Duration::from_secs(30);
    while stats.totals().counters.records == 0 || stats.totals().repeated == 0 {
        assert!(Instant::now() < deadline, "the consumer read nothing, or nothing again: {:?}", stats.totals());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for i in 1..EVENTS {
        put(&k, &stream, i).await;
    }
    consumer.await.unwrap().unwrap();

    let totals = stats.totals();
    assert_eq!(totals.counters.records, EVENTS as u64, "each record taken once: {totals:?}");
    assert_eq!((totals.counters.duplicates, totals.counters.rejected), (0, 1), "{totals:?}");
    assert!(totals.repeated >= 2, "the first record came again before and with the others: {totals:?}");
    let mut counted = BTreeMap::new();
    for (path, body) in store.under("minutes/") {
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let c: CountLine = serde_json::from_slice(line).unwrap_or_else(|e| panic!("{path}: {e}"));
            *counted.entry(c.key[0].clone()).or_insert(0) += c.count;
        }
    }
    let model: BTreeMap<String, u64> = [("c0", 3), ("c1", 3), ("c2", 3)].map(|(k, n)| (k.to_owned(), n)).into();
    assert_eq!(counted, model, "each good event once, in its key");
    let rejects: usize =
        store.under("rejects/").iter().map(|(_, b)| b.split(|c| *c == b'\n').filter(|l| !l.is_empty()).count()).sum();
    assert_eq!(rejects, 1, "the bad line written once");
    ls.stop().unwrap();
}
