//! Criterion benchmark of the producer without a network: a TSV buffer replayed as fast as
//! possible into the in-process channel, drained by a consumer task.
//!
//! `cargo bench -p minutely-benches --bench producer`. Kinesis throughput against a plain SDK
//! loop is measured by `cargo run --release -p minutely-producer --example compare_sdk` (it needs
//! LocalStack, which is no place for a statistics harness).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use minutely_event::Schema;
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

criterion_group!(benches, tsv_to_channel);
criterion_main!(benches);
