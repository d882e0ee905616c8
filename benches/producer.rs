//! Criterion benchmark of the producer without a network: a TSV buffer replayed as fast as
//! possible into the in-process channel, drained by a consumer task.
//!
//! `cargo bench -p minutely-benches --bench producer`. Kinesis throughput against a plain SDK
//! loop is measured by `cargo run --release -p minutely-producer --example compare_sdk` (it needs
//! LocalStack, which is no place for a statistics harness).
//!
//! `producer/kpl_into_sim_one_shard`: generated events (minutely's record format, about 90
//! bytes each) KPL-aggregated into a one-shard stream of the in-process sim with AWS's limits
//! (1,000 records/s, 1 MiB/s per shard), the producer holding itself to them; a fresh stream per
//! iteration. The shard's 1 MiB/s bounds it: about 11,000 such events/s however they are packed
//! (without aggregation, 1,000/s). `producer/gzip_csv_lines_into_sim_one_shard`: the same events
//! as CSV rows (about 25 bytes), packed as gzip lines: compression lifts the byte bound.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use minutely_event::{RecordEncoder, Schema};
use minutely_producer::sink::ChannelSink;
use minutely_producer::source::FileSource;
use minutely_producer::{Pace, PartitionKey, produce};

/// The allocator the `minutely` binary uses: the producer allocates on one thread and the
/// consumer frees on another, which glibc's malloc handles poorly.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn tsv_to_channel(c: &mut Criterion) {
    let lines = 200_000u64;
    let mut buffer = Vec::new();
    minutely_fixtures::write_big(lines, 42, &mut buffer).unwrap();
    let schema = Schema { key: Some(vec!["country".parse().unwrap()]), ..Schema::default() };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut g = c.benchmark_group("producer");
    g.throughput(Throughput::Elements(lines));
    g.sample_size(20);
    g.bench_function("tsv_to_channel", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let source = FileSource::new(&buffer[..], &schema, "big.tsv", Pace::Asap).unwrap();
                let (mut sink, mut rx) = ChannelSink::new(1024, 8);
                let drain = tokio::spawn(async move {
                    let mut n = 0usize;
                    while let Some(chunk) = rx.recv().await {
                        n += chunk.len();
                    }
                    n
                });
                let stop = Arc::new(AtomicBool::new(false));
                let summary = produce(source, &mut sink, PartitionKey::Key, &stop, |_| {}).await.unwrap();
                drop(sink);
                assert_eq!(drain.await.unwrap() as u64, lines);
                black_box(summary.produced)
            })
        })
    });
    g.finish();
}

fn packed_into_sim_one_shard(c: &mut Criterion) {
    use minutely_producer::aggregation::{DEFAULT_MAX_BYTES, Packing};
    use minutely_producer::batcher::Limits;
    use minutely_producer::kinesis::{KinesisSink, RetryPolicy};
    use minutely_producer::source::{RandomSource, RandomSpec};

    let events = 20_000u64;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sim = runtime.block_on(minutely_sim::Sim::start(minutely_sim::Config::default())).unwrap();
    let clients = runtime.block_on(minutely_aws::clients(&minutely_aws::Target::endpoint(sim.endpoint())));
    // minutely's records KPL-aggregated; CSV rows as gzip lines (what a log shipper sends).
    let csv = Schema::from_toml(
        "format = \"csv\"\ncolumns = [\"ms\", \"country\", \"device\", \"id\"]\ntime = \"ms\"\nid = \"id\"",
    )
    .unwrap();
    let cases = [
        ("kpl_into_sim_one_shard", Packing::Kpl, RecordEncoder::minutely()),
        ("gzip_csv_lines_into_sim_one_shard", Packing::GzipLines, RecordEncoder::new(&csv).unwrap()),
    ];
    let mut round = 0u32;
    let mut g = c.benchmark_group("producer");
    g.throughput(Throughput::Elements(events));
    g.sample_size(10);
    for (name, packing, encoder) in cases {
        let encoder = Arc::new(encoder);
        g.bench_function(name, |b| {
            b.iter(|| {
                round += 1;
                runtime.block_on(async {
                    let stream = format!("packed-{round}");
                    minutely_aws::kinesis::ensure_stream(
                        &clients.kinesis,
                        &stream,
                        1,
                        std::time::Duration::from_secs(10),
                    )
                    .await
                    .unwrap();
                    let retry =
                        RetryPolicy { deadline: Some(std::time::Duration::from_secs(60)), ..RetryPolicy::default() };
                    let mut sink = KinesisSink::new(clients.kinesis.clone(), &stream, Limits::default(), retry)
                        .with_seed(7)
                        .with_encoder(encoder.clone())
                        .with_shard_rate_limit()
                        .await
                        .unwrap()
                        .with_aggregation(packing, DEFAULT_MAX_BYTES)
                        .await
                        .unwrap();
                    let spec = RandomSpec { seed: 7, count: Some(events), ..RandomSpec::default() };
                    let source = RandomSource::new(spec).unwrap();
                    let stop = Arc::new(AtomicBool::new(false));
                    let summary = produce(source, &mut sink, PartitionKey::Key, &stop, |_| {}).await.unwrap();
                    assert_eq!((summary.sink.sent, summary.sink.failed), (events, 0));
                    black_box(summary.sink.records)
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, tsv_to_channel, packed_into_sim_one_shard);
criterion_main!(benches);
