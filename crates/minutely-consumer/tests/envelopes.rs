//! Records in the clients' own shapes, counted by one worker: KPL aggregates made by another
//! library (aws-kinesis-agg, `fixtures/kpl/`), gzip-compressed newline-delimited JSON, CSV, and
//! the rejects each can hold, named by sequence number, user record and line.
//!
//! The expected counts are computed from `vectors.json` (the user records the other library was
//! given) with plain string handling, not with minutely's decoders.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use minutely_aggregate::{ProcessingTime, WindowConfig};
use minutely_consumer::aggregator::{Content, Counters, RejectLine};
use minutely_consumer::{Aggregator, Settings};
use minutely_event::{RecordDecoder, Schema};
use serde_json::Value;

type Counts = BTreeMap<(String, Vec<String>), u64>;

fn fixture(name: &str) -> Vec<u8> {
    let dir: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/kpl");
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn vector_events(name: &str) -> Vec<Value> {
    let all: Value = serde_json::from_slice(&fixture("vectors.json")).unwrap();
    all[name]["events"].as_array().unwrap().clone()
}

fn aggregator(schema: &str) -> Aggregator {
    let decoder = RecordDecoder::new(&Schema::from_toml(schema).unwrap()).unwrap();
    let settings = Settings {
        decoder: Arc::new(decoder),
        windows: WindowConfig { allowed_lateness_ms: 600_000, idle_timeout_ms: None },
        max_dedup_ids: 10_000,
    };
    Aggregator::new("shardId-000000000000", settings)
}

/// Every count and reject after the input ends.
fn finish(mut agg: Aggregator) -> (Counts, Vec<RejectLine>, Counters) {
    agg.close_all();
    let (mut counts, mut rejects) = (Counts::new(), Vec::new());
    for o in agg.take_objects() {
        match o.content {
            Content::Counts { lines } => {
                for l in lines {
                    *counts.entry((l.minute, l.key)).or_default() += l.count;
                }
            }
            Content::Rejects { lines } => rejects.extend(lines),
        }
    }
    (counts, rejects, agg.counters())
}

/// `2016-08-21T17:01:13Z` → `201608211701`, by hand.
fn minute_of_rfc3339(ts: &str) -> String {
    ts[..16].chars().filter(char::is_ascii_digit).collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(data).unwrap();
    z.finish().unwrap()
}

const APP_SCHEMA: &str = r#"
    format = "json"
    time = "/ts"
    key = ["/geo/country", "os"]
    id = "event_id"
"#;

#[test]
fn another_librarys_kpl_aggregate_of_app_json_is_counted_exactly() {
    let mut want = Counts::new();
    for e in vector_events("app-json-120.bin") {
        let key = vec![e["geo"]["country"].as_str().unwrap().to_owned(), e["os"].as_str().unwrap().to_owned()];
        *want.entry((minute_of_rfc3339(e["ts"].as_str().unwrap()), key)).or_default() += 1;
    }
    let mut agg = aggregator(APP_SCHEMA);
    agg.record(&fixture("app-json-120.bin"), ProcessingTime(0), || "49590000000000000000000000001".into());
    let (counts, rejects, c) = finish(agg);
    assert_eq!(rejects, []);
    assert_eq!(counts, want);
    assert_eq!((c.records, c.events, c.counted, c.duplicates), (1, 120, 120, 0));
}

#[test]
fn another_librarys_kpl_aggregate_of_minutely_records_is_counted_exactly() {
    let mut want = Counts::new();
    for e in vector_events("minutely-format-25.bin") {
        let minute = minutely_aggregate::EventTime(e["time_ms"].as_i64().unwrap()).minute().to_string();
        *want.entry((minute, vec![e["dims"]["country"].as_str().unwrap().to_owned()])).or_default() += 1;
    }
    let mut agg = aggregator(r#"key = ["country"]"#);
    let data = fixture("minutely-format-25.bin");
    // The same aggregate twice (a producer's retry): its events are counted once.
    agg.record(&data, ProcessingTime(0), || "1".into());
    agg.record(&data, ProcessingTime(0), || "2".into());
    let (counts, rejects, c) = finish(agg);
    assert_eq!(rejects, []);
    assert_eq!(counts, want);
    assert_eq!((c.records, c.events, c.counted, c.duplicates), (2, 50, 25, 25));
}

#[test]
fn an_aggregate_whose_md5_is_wrong_is_one_reject_kept_whole() {
    let data = fixture("bad-md5.bin");
    let mut agg = aggregator(r#"key = ["country"]"#);
    agg.record(&data, ProcessingTime(0), || "49590000000000000000000000007".into());
    let (counts, rejects, c) = finish(agg);
    assert!(counts.is_empty(), "nothing of it is counted: {counts:?}");
    assert_eq!((c.records, c.events, c.rejected), (1, 1, 1));
    assert_eq!(rejects.len(), 1);
    let r = &rejects[0];
    assert_eq!((r.position.as_str(), r.user_record, r.line), ("49590000000000000000000000007", None, None));
    assert!(r.error.contains("MD5 does not match"), "{}", r.error);
    assert_eq!(B64.decode(&r.data_base64).unwrap(), data);
}

#[test]
fn gzip_records_of_json_lines_are_counted_and_a_bad_line_is_named() {
    let lines = [
        r#"{"event_id":"g1","ts":"2016-08-21T17:00:01Z","geo":{"country":"usa"},"os":"ios"}"#,
        r#"{"event_id":"g2","ts":"2016-08-21T17:00:02Z","geo":{"country":"usa"},"os":"ios"}"#,
        r#"{"event_id":"g3","ts":"2016-08-21T17:01:02Z","geo":{},"os":"ios"}"#,
        r#"{"event_id":"g4","ts":"2016-08-21T17:01:03Z","geo":{"country":"fra"},"os":"android"}"#,
    ];
    let payload = lines.join("\n") + "\n";
    let mut agg = aggregator(APP_SCHEMA);
    agg.record(&gzip(payload.as_bytes()), ProcessingTime(0), || "77".into());
    // A plain record with one event, in the same stream.
    agg.record(lines[3].replace("g4", "g5").as_bytes(), ProcessingTime(0), || "78".into());
    let (counts, rejects, c) = finish(agg);
    let key = |a: &str, b: &str| vec![a.to_owned(), b.to_owned()];
    let want: Counts =
        [(("201608211700".to_owned(), key("usa", "ios")), 2), (("201608211701".to_owned(), key("fra", "android")), 2)]
            .into();
    assert_eq!(counts, want);
    assert_eq!((c.records, c.events, c.counted, c.rejected), (2, 5, 4, 1));
    let r = &rejects[0];
    assert_eq!((r.position.as_str(), r.user_record, r.line), ("77", None, Some(3)));
    assert_eq!(r.error, "the key field /geo/country is missing");
    assert_eq!(B64.decode(&r.data_base64).unwrap(), lines[2].as_bytes(), "the reject keeps the inflated line");
}

#[test]
fn a_kpl_aggregate_of_gzip_user_records_names_the_user_record() {
    use md5::{Digest, Md5};
    use minutely_event::kpl::{AggregatedRecord, MAGIC, UserRecord};
    use prost::Message;
    let user = |data: Vec<u8>| UserRecord {
        partition_key_index: 0,
        explicit_hash_key_index: None,
        data: data.into(),
        tags: vec![],
    };
    let aggregate = AggregatedRecord {
        partition_key_table: vec!["k".into()],
        explicit_hash_key_table: vec![],
        records: vec![
            user(b"1471798800000,usa\n1471798801000,fra".to_vec()),
            user(gzip(b"1471798802000,usa\nsoon,usa\n")),
            user(b"1471798803000,\"deu\"".to_vec()),
        ],
    };
    let body = aggregate.encode_to_vec();
    let data = [&MAGIC[..], &body, Md5::digest(&body).as_slice()].concat();
    let mut agg = aggregator("format = \"csv\"\ncolumns = [\"ts\", \"country\"]\ntime = \"ts\"\nkey = [\"country\"]");
    agg.record(&data, ProcessingTime(0), || "9".into());
    let (counts, rejects, c) = finish(agg);
    let want: Counts = [
        (("201608211700".to_owned(), vec!["deu".to_owned()]), 1),
        (("201608211700".to_owned(), vec!["fra".to_owned()]), 1),
        (("201608211700".to_owned(), vec!["usa".to_owned()]), 2),
    ]
    .into();
    assert_eq!(counts, want);
    assert_eq!((c.records, c.events, c.counted, c.rejected), (1, 5, 4, 1));
    let r = &rejects[0];
    assert_eq!((r.position.as_str(), r.user_record, r.line), ("9", Some(1), Some(2)));
    assert!(r.error.starts_with("the time field \"ts\" (\"soon\")"), "{}", r.error);
}

#[test]
fn a_record_with_no_event_in_it_is_a_reject() {
    let mut agg = aggregator(APP_SCHEMA);
    agg.record(b"", ProcessingTime(0), || "1".into());
    agg.record(b"\n\r\n", ProcessingTime(0), || "2".into());
    agg.record(&gzip(b""), ProcessingTime(0), || "3".into());
    let (counts, rejects, c) = finish(agg);
    assert!(counts.is_empty());
    assert_eq!((c.records, c.events, c.rejected), (3, 3, 3));
    let positions: Vec<&str> = rejects.iter().map(|r| r.position.as_str()).collect();
    assert_eq!(positions, ["1", "2", "3"]);
    assert!(rejects.iter().all(|r| r.error.starts_with("a record with no event in it")), "{rejects:?}");
}
