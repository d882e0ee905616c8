//! The Kinesis sink against a real (host) LocalStack, with faults injected on PutRecords.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::types::ShardIteratorType;
use minutely_aggregate::EventTime;
use minutely_event::Event;
use minutely_localstack::{Backend, LocalStack, Options};
use minutely_producer::batcher::{Limits, Refused};
use minutely_producer::kinesis::{KinesisSink, RetryPolicy};
use minutely_producer::source::{RandomSource, RandomSpec};
use minutely_producer::{PartitionKey, Sourced, produce};

fn localstack(error_probability: &str) -> LocalStack {
    let options = Options { backend: Backend::Host, ..Options::from_env().unwrap() }
        .with_env("KINESIS_ERROR_PROBABILITY", error_probability);
    LocalStack::start(&options).unwrap_or_else(|e| panic!("{e}"))
}

/// Every record of every shard, from the start, decoded: event id to how many times it came.
async fn read_back(k: &Client, stream: &str) -> BTreeMap<String, u32> {
    let mut ids = BTreeMap::new();
    let shards = k.list_shards().stream_name(stream).send().await.unwrap();
    for shard in shards.shards() {
        let it = k
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap();
        let mut iterator = it.shard_iterator().map(str::to_owned);
        while let Some(i) = iterator {
            let out = k.get_records().shard_iterator(i).limit(10_000).send().await.unwrap();
            for r in out.records() {
                let event = Event::decode(r.data().as_ref()).expect("a producer record decodes");
                *ids.entry(event.id.unwrap()).or_default() += 1;
            }
            if out.records().is_empty() && out.millis_behind_latest() == Some(0) {
                break;
            }
            iterator = out.next_shard_iterator().map(str::to_owned);
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_arrives_exactly_once_when_a_third_of_the_calls_fail() {
    let ls = localstack("0.3");
    let clients = minutely_aws::clients(&minutely_aws::Target::endpoint(ls.endpoint())).await;
    minutely_aws::kinesis::ensure_stream(&clients.kinesis, "faulty", 4, Duration::from_secs(30)).await.unwrap();

    let spec = RandomSpec { seed: 7, count: Some(3000), ..RandomSpec::default() };
    let retry = RetryPolicy {
        base: Duration::from_millis(5),
        max_backoff: Duration::from_millis(200),
        ..RetryPolicy::default()
    };
    // Batches of 100: 30 calls or more, so the chance that none fails is 0.7^30, about 2e-5.
    let limits = Limits { max_records: 100, ..Limits::default() };
    let mut sink =
        KinesisSink::new(clients.kinesis.clone(), "faulty", limits, retry).with_shard_rate_limit().await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let summary = produce(RandomSource::new(spec).unwrap(), &mut sink, PartitionKey::Id, &stop, |_| {}).await.unwrap();
    eprintln!("{summary:?}");
    assert_eq!(summary.sink.sent, 3000);
    assert_eq!((summary.sink.failed, summary.sink.rejected), (0, 0));
    assert!(summary.sink.retried > 0, "with KINESIS_ERROR_PROBABILITY=0.3 some calls must have failed");

    let ids = read_back(&clients.kinesis, "faulty").await;
    assert_eq!(ids.len(), 3000, "every event id arrived");
    let twice: Vec<_> = ids.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "arrived more than once: {twice:?}");
    assert!(ids.keys().all(|id| id.starts_with("g7-")));
    ls.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_record_is_rejected_alone() {
    let ls = localstack("0");
    let clients = minutely_aws::clients(&minutely_aws::Target::endpoint(ls.endpoint())).await;
    minutely_aws::kinesis::ensure_stream(&clients.kinesis, "sizes", 1, Duration::from_secs(30)).await.unwrap();
    let event = |i: u32, size: usize| Sourced {
        event: Event {
            time: EventTime(1_471_798_800_000 + i64::from(i)),
            id: Some(format!("e{i}")),
            dims: [("blob".to_string(), "x".repeat(size))].into_iter().collect(),
        },
        due: None,
        key: Vec::new().into(),
    };
    // e1 is just over 1 MiB once encoded; e2 is 900 KiB and fits; 5 MiB calls hold a few of those.
    let events = vec![event(0, 10), event(1, 1 << 20), event(2, 900 << 10), event(3, 10), event(4, 900 << 10)];
    let mut sink = KinesisSink::new(clients.kinesis.clone(), "sizes", Limits::default(), RetryPolicy::default());
    let stop = Arc::new(AtomicBool::new(false));
    let summary = produce(events.into_iter().map(Ok), &mut sink, PartitionKey::Id, &stop, |_| {}).await.unwrap();
    assert_eq!((summary.sink.sent, summary.sink.rejected, summary.sink.failed), (4, 1, 0));
    assert!(matches!(sink.refused.as_slice(), [Refused::TooLarge { seq: 1, .. }]), "{:?}", sink.refused);
    let ids = read_back(&clients.kinesis, "sizes").await;
    assert_eq!(ids.keys().cloned().collect::<Vec<_>>(), vec!["e0", "e2", "e3", "e4"]);
    ls.stop().unwrap();
}
