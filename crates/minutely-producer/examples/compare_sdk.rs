//! The Kinesis sink against a plain AWS SDK PutRecords loop, same records, same batches (500),
//! each into a fresh stream of the same size (kinesis-mock slows down as a shard fills).
//!
//! ```text
//! cargo run --release -p minutely-producer --example compare_sdk -- [RECORDS] [SHARDS] [ROUNDS]
//! ```
//! Starts a host LocalStack unless `AWS_ENDPOINT_URL` names one. Prints records/s per round and
//! the median ratio (sink / plain loop).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, StreamStatus};
use minutely_localstack::{LocalStack, Options};
use minutely_producer::batcher::Limits;
use minutely_producer::kinesis::{KinesisSink, RetryPolicy};
use minutely_producer::source::{RandomSource, RandomSpec};
use minutely_producer::{PartitionKey, Sourced, produce};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let arg = |i: usize, default: u64| std::env::args().nth(i).map_or(default, |a| a.parse().expect("a number"));
    let (records, shards, rounds) = (arg(1, 5000), arg(2, 4) as i32, arg(3, 3));
    let ls = tokio::task::spawn_blocking(|| LocalStack::start(&Options::from_env().unwrap()).unwrap()).await.unwrap();
    let client = minutely_aws::clients(&minutely_aws::Target::endpoint(ls.endpoint())).await.kinesis;
    let spec = RandomSpec { seed: 3, count: Some(records), ..RandomSpec::default() };
    let events: Vec<Sourced> = RandomSource::new(spec).unwrap().map(Result::unwrap).collect();

    let mut ratios = Vec::new();
    for round in 0..rounds {
        let mut sdk = 0.0;
        let mut sink = 0.0;
        // Alternate which goes first, so that drift in the emulator does not favour one.
        for which in if round % 2 == 0 { [0, 1] } else { [1, 0] } {
            let stream = format!("{}-{round}", if which == 0 { "sdk" } else { "sink" });
            create_stream(&client, &stream, shards).await;
            let started = Instant::now();
            if which == 0 {
                plain_loop(&client, &stream, &events).await;
                sdk = records as f64 / started.elapsed().as_secs_f64();
            } else {
                let mut s = KinesisSink::new(client.clone(), &stream, Limits::default(), RetryPolicy::default());
                let stop = Arc::new(AtomicBool::new(false));
                let summary =
                    produce(events.clone().into_iter().map(Ok), &mut s, PartitionKey::Id, &stop, |_| {}).await.unwrap();
                assert_eq!(summary.sink.sent, records);
                sink = records as f64 / started.elapsed().as_secs_f64();
            }
        }
        println!(
            "round {round}: plain SDK loop {sdk:.0} records/s, minutely sink {sink:.0} records/s, ratio {:.3}",
            sink / sdk
        );
        ratios.push(sink / sdk);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "median ratio (sink / plain loop) over {rounds} rounds of {records} records on {shards} shards: {:.3}",
        ratios[ratios.len() / 2]
    );
    tokio::task::spawn_blocking(move || ls.stop().unwrap()).await.unwrap();
}

/// What a user would write without minutely: 500 records per call, the same encoding and keys,
/// no retries (LocalStack injects no faults here).
async fn plain_loop(client: &Client, stream: &str, events: &[Sourced]) {
    for chunk in events.chunks(500) {
        let entries = chunk
            .iter()
            .map(|s| {
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(s.event.to_record()))
                    .partition_key(s.event.id.clone().unwrap())
                    .build()
                    .unwrap()
            })
            .collect();
        let out = client.put_records().stream_name(stream).set_records(Some(entries)).send().await.unwrap();
        assert!(out.records().iter().all(|r| r.error_code().is_none()));
    }
}

async fn create_stream(client: &Client, name: &str, shards: i32) {
    client.create_stream().stream_name(name).shard_count(shards).send().await.unwrap();
    loop {
        let d = client.describe_stream_summary().stream_name(name).send().await.unwrap();
        if d.stream_description_summary().unwrap().stream_status() == &StreamStatus::Active {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
