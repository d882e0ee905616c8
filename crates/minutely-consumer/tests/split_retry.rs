//! A put retried across a split is counted once. A producer whose PutRecords answer was lost
//! sends the same events again; when a split came in between, the first copies are in the
//! parent shard and the retried ones in its children. The consumer drops duplicates per shard,
//! so a child must start from what its parents remembered (the ids in their finished
//! checkpoints). Found by the swarm: `minutely scenario chaos --seeds 1..200` failed at seed 26.
//!
//! The producer here is written with the SDK, not minutely's, and the sim answers in process on
//! tokio's paused clock.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use minutely_aggregate::WindowConfig;
use minutely_consumer::kinesis::{KinesisOptions, consume};
use minutely_consumer::output::MemoryStore;
use minutely_consumer::{CountLine, Output, Settings, ShardStats, Stop};
use minutely_event::{RecordDecoder, Schema};
use minutely_sim::{Clock, Config, Sim};

const T0: i64 = 1_471_798_800_000;
const EVENTS: usize = 300;

fn entry(i: usize) -> PutRecordsRequestEntry {
    let json = format!(r#"{{"id":"e{i}","ts":{},"country":"c{}"}}"#, T0 + 1_000 * i as i64, i % 3);
    PutRecordsRequestEntry::builder().data(Blob::new(json)).partition_key(format!("e{i}")).build().unwrap()
}

async fn put(k: &Client, range: std::ops::Range<usize>) {
    let entries: Vec<_> = range.map(entry).collect();
    for chunk in entries.chunks(100) {
        let out = k.put_records().stream_name("s").set_records(Some(chunk.to_vec())).send().await.unwrap();
        assert_eq!(out.failed_record_count(), Some(0));
    }
}

/// Counts per (minute, country) as the consumer wrote them, and the duplicates it dropped.
async fn consume_all(k: Client, max_dedup_ids: usize) -> (BTreeMap<(String, Vec<String>), u64>, u64) {
    let schema = Schema::from_toml("format = \"json\"\ntime = \"ts\"\nkey = [\"country\"]\nid = \"id\"").unwrap();
    let settings = Settings {
        decoder: Arc::new(RecordDecoder::new(&schema).unwrap()),
        windows: WindowConfig { allowed_lateness_ms: 0, idle_timeout_ms: Some(2_000) },
        max_dedup_ids,
    };
    let options = KinesisOptions {
        exit_when_idle: Some((Duration::from_secs(5), Stop { close_open: true })),
        ..KinesisOptions::new("s")
    };
    let store = Arc::new(MemoryStore::default());
    let (_never, stop) = tokio::sync::watch::channel(None);
    let stats = ShardStats::new();
    consume(k, options, settings, Output::Memory(store.clone()), stop, stats.clone()).await.unwrap();
    let mut counts = BTreeMap::new();
    for (path, body) in store.under("minutes/") {
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let c: CountLine = serde_json::from_slice(line).unwrap_or_else(|e| panic!("{path}: {e}"));
            *counts.entry((c.minute, c.key)).or_default() += c.count;
        }
    }
    (counts, stats.totals().counters.duplicates)
}

fn model() -> BTreeMap<(String, Vec<String>), u64> {
    let mut counts = BTreeMap::new();
    for i in 0..EVENTS {
        // One event a second from 2016-08-21T17:00:00Z: five minutes.
        let minute = format!("2016082117{:02}", i / 60);
        *counts.entry((minute, vec![format!("c{}", i % 3)])).or_default() += 1;
    }
    counts
}

#[tokio::test(start_paused = true)]
async fn events_put_again_after_a_split_are_counted_once() {
    let sim =
        Arc::new(Sim::start(Config { clock: Clock::tokio(1_767_225_600_000), ..Config::default() }).await.unwrap());
    let k = minutely_aws::in_process_clients(sim.handler()).await.kinesis;
    minutely_aws::kinesis::ensure_stream(&k, "s", 1, Duration::from_secs(30)).await.unwrap();
    put(&k, 0..EVENTS).await;
    let shards = k.list_shards().stream_name("s").send().await.unwrap();
    let parent = shards.shards()[0].shard_id().to_owned();
    let middle = (u128::MAX / 2).to_string();
    k.split_shard().stream_name("s").shard_to_split(&parent).new_starting_hash_key(middle).send().await.unwrap();
    minutely_aws::kinesis::ensure_stream(&k, "s", 1, Duration::from_secs(30)).await.unwrap();
    // Every put again, as a producer does whose answers were lost: now into the children.
    put(&k, 0..EVENTS).await;
    let listed = k.list_shards().stream_name("s").send().await.unwrap();
    assert_eq!(listed.shards().len(), 3, "the parent and its two children");

    let (counts, duplicates) = consume_all(k.clone(), 1_000_000).await;
    assert_eq!(counts, model(), "each event once, in its minute and key");
    assert_eq!(duplicates, EVENTS as u64, "every copy in a child was dropped");
}
