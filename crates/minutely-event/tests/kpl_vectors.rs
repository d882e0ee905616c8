//! KPL aggregated records made by another library (aws-kinesis-agg 1.2.3, Python; see
//! `fixtures/kpl/README.md`) decode to exactly their user records, in order, with their keys;
//! the one whose MD5 was broken is refused whole.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use minutely_event::Event;
use minutely_event::kpl::{self, KplError};
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/kpl")
}

fn vector(name: &str) -> (Bytes, Value) {
    let data = std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let all: Value = serde_json::from_slice(&std::fs::read(dir().join("vectors.json")).unwrap()).unwrap();
    (data.into(), all[name].clone())
}

/// Decodes `name` and checks its user records against the vector; returns the aggregate.
fn decodes_to_its_user_records(name: &str) -> kpl::AggregatedRecord {
    let (data, want) = vector(name);
    let aggregate = kpl::decode(&data).unwrap().unwrap_or_else(|| panic!("{name} is an aggregate"));
    let events = want["events"].as_array().unwrap();
    assert_eq!(aggregate.records.len() as u64, want["user_records"].as_u64().unwrap(), "{name}");
    assert_eq!(aggregate.records.len(), events.len(), "{name}");
    for (i, (user, event)) in aggregate.records.iter().zip(events).enumerate() {
        let got: Value = serde_json::from_slice(&user.data).unwrap_or_else(|e| panic!("{name} record {i}: {e}"));
        assert_eq!(&got, event, "{name} user record {i}");
        assert!(aggregate.partition_key(i).is_some(), "{name} user record {i} has a partition key");
    }
    // The Kinesis record went with its first user record's keys.
    assert_eq!(aggregate.partition_key(0), want["partition_key"].as_str(), "{name}");
    assert_eq!(aggregate.explicit_hash_key(0), want["explicit_hash_key"].as_str(), "{name}");
    aggregate
}

#[test]
fn minutely_format_user_records_decode_as_events() {
    let aggregate = decodes_to_its_user_records("minutely-format-25.bin");
    let events: Vec<Event> = aggregate.records.iter().map(|r| Event::decode(&r.data).unwrap()).collect();
    assert_eq!(events[0].id.as_deref(), Some("e0"));
    assert_eq!(events[0].time.0, 1_471_798_800_000);
    assert_eq!(events[0].dims["country"], "usa");
}

#[test]
fn app_json_user_records_decode_with_their_explicit_hash_keys() {
    let aggregate = decodes_to_its_user_records("app-json-120.bin");
    let with_ehk = (0..aggregate.records.len()).filter(|&i| aggregate.explicit_hash_key(i).is_some()).count();
    assert!(with_ehk > 0, "some user records carry an explicit hash key");
}

#[test]
fn a_broken_md5_is_refused_whole() {
    let (data, _) = vector("bad-md5.bin");
    assert!(kpl::is_aggregated(&data));
    assert_eq!(kpl::decode(&data), Err(KplError::Digest));
}
