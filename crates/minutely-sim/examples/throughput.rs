//! The sim's figures, through the unmodified Rust SDK, in one process:
//! start time, PutRecords records/s (limits off) and the per-call time as one shard fills to
//! 1,000,000 records, GetRecords records/s, and resident memory against the stored bytes.
//!
//! `cargo run --release -p minutely-sim --example throughput [RECORDS] [WRITERS]`
//! (defaults 1000000 and 4). Prints medians; run it a few times, these machines are noisy.

use std::time::{Duration, Instant};

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ShardIteratorType};
use minutely_aws::{Target, clients};
use minutely_sim::{Config, Sim};

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let total: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let writers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    let mut starts: Vec<Duration> = (0..21)
        .map(|_| {
            let t = Instant::now();
            let rt = tokio::runtime::Handle::current();
            let sim = tokio::task::block_in_place(|| rt.block_on(Sim::start(Config::default()))).unwrap();
            let d = t.elapsed();
            drop(sim);
            d
        })
        .collect();
    println!("start: median {:?} over 21 starts", median(&mut starts));

    let rss_before = rss_mib();
    let sim = Sim::start(Config { limits: false, ..Config::default() }).await.unwrap();
    let c = clients(&Target::endpoint(sim.endpoint())).await;
    minutely_aws::kinesis::ensure_stream(&c.kinesis, "bench", 1, std::time::Duration::from_secs(30)).await.unwrap();
    // ~150-byte JSON events, as minutely's producer writes them.
    let payload = |i: usize| {
        format!(
            r#"{{"id":"{i:016x}","time_ms":1471798800000,"dims":{{"country":"usa","device":"android"}},"pad":"{}"}}"#,
            "x".repeat(48)
        )
    };
    let calls = total / 500;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let k = c.kinesis.clone();
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            for call in (w..calls).step_by(writers) {
                let entries: Vec<_> = (0..500)
                    .map(|j| {
                        let i = call * 500 + j;
                        PutRecordsRequestEntry::builder()
                            .data(Blob::new(payload(i)))
                            .partition_key(format!("k{}", i % 1000))
                            .build()
                            .unwrap()
                    })
                    .collect();
                let t = Instant::now();
                let out = k.put_records().stream_name("bench").set_records(Some(entries)).send().await.unwrap();
                assert_eq!(out.failed_record_count(), Some(0));
                times.push((call, t.elapsed()));
            }
            times
        }));
    }
    let mut times = Vec::new();
    for t in tasks {
        times.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    times.sort_by_key(|(call, _)| *call);
    let tenth = times.len() / 10;
    let mut first: Vec<Duration> = times[..tenth].iter().map(|t| t.1).collect();
    let mut last: Vec<Duration> = times[times.len() - tenth..].iter().map(|t| t.1).collect();
    let (mf, ml) = (median(&mut first), median(&mut last));
    println!(
        "PutRecords: {total} records into 1 shard in {elapsed:.2?} with {writers} writers: {:.0} records/s; per 500-record call: median {mf:.2?} in the first tenth, {ml:.2?} in the last ({:.2}x)",
        total as f64 / elapsed.as_secs_f64(),
        ml.as_secs_f64() / mf.as_secs_f64()
    );

    let shard = c.kinesis.list_shards().stream_name("bench").send().await.unwrap().shards()[0].shard_id().to_owned();
    let it = c
        .kinesis
        .get_shard_iterator()
        .stream_name("bench")
        .shard_id(shard)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap();
    let mut iterator = it.shard_iterator().map(str::to_owned);
    let started = Instant::now();
    let mut read = 0;
    while let Some(i) = iterator {
        let r = c.kinesis.get_records().shard_iterator(i).limit(10_000).send().await.unwrap();
        read += r.records().len();
        if r.records().is_empty() {
            break;
        }
        iterator = r.next_shard_iterator().map(str::to_owned);
    }
    let elapsed = started.elapsed();
    assert_eq!(read, total);
    println!("GetRecords: {read} records in {elapsed:.2?}: {:.0} records/s", read as f64 / elapsed.as_secs_f64());
    let stats = sim.stats();
    let stored_mib = stats.record_bytes_stored as f64 / (1024.0 * 1024.0);
    let grown = rss_mib() - rss_before;
    println!(
        "memory: {stored_mib:.0} MiB of records stored (data and partition keys); the process grew by {grown:.0} MiB (client included): {:.2}x + 0",
        grown / stored_mib
    );
}
