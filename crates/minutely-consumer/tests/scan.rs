//! A whole stream read once and judged by the history checker, against a producer written here
//! with the SDK (not minutely's), on a sim with faults: entries it failed and the producer never
//! resent are lost, by id; copies stored under lost answers are explained duplicates, copies
//! resent on purpose are not; a garbage record, an unknown event and a changed key are each
//! named; a reshard's parents are read before its children.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use minutely_aws::{Target, clients};
use minutely_check::{Anomaly, Checker, Expected};
use minutely_consumer::kinesis::scan::scan;
use minutely_event::{RecordDecoder, Schema};
use minutely_sim::faults::PutRecordsFaults;
use minutely_sim::{Config, Faults, Sim};

const T0: i64 = 1_471_798_800_000;

fn event(i: usize, country: &str) -> (String, Vec<u8>) {
    let id = format!("e{i}");
    let json = format!(r#"{{"id":"{id}","ts":{},"country":"{country}"}}"#, T0 + i as i64);
    (id, json.into_bytes())
}

fn country(i: usize) -> String {
    format!("c{}", i % 5)
}

/// Puts events `range` in calls of 100 (retrying a call that errors, as a careless producer
/// does, but never a failed entry); returns the ids whose entries the last answer failed.
async fn put(k: &Client, range: std::ops::Range<usize>) -> Vec<String> {
    let mut failed = Vec::new();
    let ids: Vec<usize> = range.collect();
    for chunk in ids.chunks(100) {
        let entries: Vec<PutRecordsRequestEntry> = chunk
            .iter()
            .map(|&i| {
                let (id, data) = event(i, &country(i));
                PutRecordsRequestEntry::builder().data(Blob::new(data)).partition_key(id).build().unwrap()
            })
            .collect();
        let out = loop {
            match k.put_records().stream_name("s").set_records(Some(entries.clone())).send().await {
                Ok(out) => break out,
                Err(_) => continue, // every attempt's answer lost: the whole call again
            }
        };
        for (r, &i) in out.records().iter().zip(chunk) {
            if r.error_code().is_some() {
                failed.push(format!("e{i}"));
            }
        }
    }
    failed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checker_names_what_a_careless_producer_lost_and_doubled() {
    let faults = Faults {
        seed: 11,
        put_records: PutRecordsFaults { entry_failure_rate: 0.1, ..Default::default() },
        ..Faults::default()
    };
    let sim = Sim::start(Config { faults, ..Config::default() }).await.unwrap();
    let k = clients(&Target::endpoint(sim.endpoint())).await.kinesis;
    minutely_aws::kinesis::ensure_stream(&k, "s", 2, std::time::Duration::from_secs(30)).await.unwrap();

    // 1. Entries failed by the dice, never resent: lost.
    let lost = put(&k, 0..1_000).await;
    assert!(lost.len() > 50, "about a tenth fail: {}", lost.len());
    // 2. A reshard: shard 0 splits, later events go to its children.
    let shards = k.list_shards().stream_name("s").send().await.unwrap();
    let first = &shards.shards()[0];
    let start: u128 = first.hash_key_range().unwrap().starting_hash_key().parse().unwrap();
    let end: u128 = first.hash_key_range().unwrap().ending_hash_key().parse().unwrap();
    let middle = (start + (end - start) / 2).to_string();
    k.split_shard()
        .stream_name("s")
        .shard_to_split(first.shard_id())
        .new_starting_hash_key(middle)
        .send()
        .await
        .unwrap();
    // 3. Answers lost after the puts were applied: the SDK (and this producer) resend, and
    //    every extra copy was stored under a lost answer.
    let ambiguous = PutRecordsFaults { answer_lost_rate: 0.3, ..Default::default() };
    sim.set_faults(Faults { seed: 11, put_records: ambiguous, ..Faults::default() }).unwrap();
    assert!(put(&k, 1_000..2_000).await.is_empty());
    sim.set_faults(Faults::default()).unwrap();
    // 4. Copies resent on purpose (unexplained), a garbage record, an event nobody expected,
    //    and an expected id with another key.
    assert!(put(&k, 1_990..2_000).await.is_empty());
    let raw = |data: Vec<u8>| k.put_record().stream_name("s").partition_key("p").data(Blob::new(data)).send();
    raw(b"not json at all".to_vec()).await.unwrap();
    raw(event(5_000, "c0").1).await.unwrap();
    raw(event(2_000, "mars").1).await.unwrap();

    let ledger = sim.ledger("s").unwrap();
    assert!(ledger.counts.entries_ambiguous > 0, "some answers were lost");
    let mut checker = Checker::new(1_000);
    for i in 0..=2_000 {
        checker.expect(Expected { id: format!("e{i}"), time_ms: T0 + i as i64, key: vec![country(i)] });
    }
    checker.explain(ledger.ambiguous.iter().map(|p| (p.shard.clone(), p.sequence.clone())));
    let schema = Schema::from_toml("format = \"json\"\ntime = \"ts\"\nkey = [\"country\"]\nid = \"id\"").unwrap();
    let decoder = Arc::new(RecordDecoder::new(&schema).unwrap());
    let order = Arc::new(Mutex::new(Vec::new()));
    let report = scan(&k, "s", decoder, false, |page| {
        if let Some(e) = page.events.first() {
            order.lock().unwrap().push(e.place.shard.clone());
        }
        for e in page.events {
            checker.stored(e);
        }
        for (place, reason) in page.unreadable {
            checker.unreadable(place, reason);
        }
    })
    .await
    .unwrap();
    assert_eq!(report.shards, 4, "two shards, one split in two");
    assert_eq!(report.records, sim.stats().records_stored);

    let v = checker.verdict();
    let ids = |a: Anomaly| v.classes[&a].witnesses.iter().map(|w| w.id.clone()).collect::<BTreeSet<_>>();
    assert_eq!(ids(Anomaly::Lost), lost.iter().cloned().collect(), "exactly the failed entries never resent");
    assert_eq!(v.classes[&Anomaly::Lost].count, lost.len() as u64);
    let resent: BTreeSet<String> = (1_990..2_000).map(|i| format!("e{i}")).collect();
    assert_eq!(ids(Anomaly::Duplicated), resent, "only the copies sent on purpose are unexplained");
    let explained = &v.classes[&Anomaly::ExplainedDuplicates];
    assert!(explained.count > 0);
    // Every copy stored under a lost answer was resent, so each is an extra copy; the ten resent
    // on purpose add one each (their class is unexplained: one extra copy has no lost answer).
    let copies = explained.copies + v.classes[&Anomaly::Duplicated].copies;
    assert_eq!(copies, ledger.counts.entries_ambiguous + 10);
    assert_eq!(ids(Anomaly::Unexpected), BTreeSet::from(["e5000".to_owned()]));
    assert_eq!(ids(Anomaly::Altered), BTreeSet::from(["e2000".to_owned()]));
    let altered = &v.classes[&Anomaly::Altered].witnesses[0];
    assert_eq!(altered.found.as_ref().unwrap().1, ["mars"]);
    let unreadable = &v.classes[&Anomaly::Unreadable].witnesses;
    assert_eq!(unreadable.len(), 1);
    assert!(unreadable[0].reason.as_deref().unwrap().starts_with("not JSON"), "{unreadable:?}");
    assert_eq!(v.stored, report.records);

    // Parents before children: no page of the split shard's children before its last page.
    let order = order.lock().unwrap();
    let parent = order.iter().rposition(|s| s == "shardId-000000000000").unwrap();
    let child = order.iter().position(|s| s == "shardId-000000000002" || s == "shardId-000000000003").unwrap();
    assert!(parent < child, "{order:?}");
}

/// With order promised, the scan keeps each record's partition key: an event its producer put
/// again after a later event of its key (a failed entry re-sent at the end, as a careless
/// retry does) is reordered; the same stream read without the promise is not judged for order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resent_entry_behind_a_later_one_of_its_key_is_reordered() {
    let sim = Sim::start(Config::default()).await.unwrap();
    let k = clients(&Target::endpoint(sim.endpoint())).await.kinesis;
    minutely_aws::kinesis::ensure_stream(&k, "o", 2, std::time::Duration::from_secs(30)).await.unwrap();
    // Two keys, events 0..20 alternating; event 6 (key a) "failed" and is put after the rest.
    let order: Vec<usize> = (0..20).filter(|i| *i != 6).chain([6]).collect();
    for i in order {
        let pk = if i % 2 == 0 { "a" } else { "b" };
        let (_, data) = event(i, "c0");
        k.put_record().stream_name("o").partition_key(pk).data(Blob::new(data)).send().await.unwrap();
    }
    let schema = Schema::from_toml("format = \"json\"\ntime = \"ts\"\nkey = [\"country\"]\nid = \"id\"").unwrap();
    let decoder = Arc::new(RecordDecoder::new(&schema).unwrap());
    for ordered in [true, false] {
        let mut checker = Checker::new(10);
        if ordered {
            checker.ordered();
        }
        for i in 0..20 {
            checker.expect(Expected { id: format!("e{i}"), time_ms: T0 + i as i64, key: vec!["c0".into()] });
        }
        scan(&k, "o", decoder.clone(), ordered, |page| page.events.into_iter().for_each(|e| checker.stored(e)))
            .await
            .unwrap();
        let v = checker.verdict();
        let reordered: Vec<&str> = v.classes[&Anomaly::Reordered].witnesses.iter().map(|w| w.id.as_str()).collect();
        if ordered {
            assert_eq!(reordered, ["e6"]);
            assert_eq!(v.ok, 19);
        } else {
            assert!(reordered.is_empty());
            assert_eq!(v.ok, 20);
        }
    }
}
