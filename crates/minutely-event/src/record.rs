//! The wire format of one event in one Kinesis record (and one line on a pipe).
//!
//! ```json
//! {"id":"clean.tsv:2","time_ms":1471798801089,"dims":{"country":"usa","device":"and"}}
//! ```
//!
//! - `id`: unique per event; a retried or replayed event keeps its id, so a consumer can drop
//!   duplicates. Replayed files use `<file name>:<line>` when the file has no id column.
//! - `time_ms`: the event time, milliseconds since the Unix epoch, UTC.
//! - `dims`: the named string dimensions; the consumer's key columns are taken from here.
//!
//! One JSON object per record, UTF-8, no trailing newline inside Kinesis; one per line on a pipe.

use std::collections::BTreeMap;

use minutely_aggregate::EventTime;
use serde::{Deserialize, Serialize};

use crate::Event;

#[derive(Serialize)]
struct WireOut<'a> {
    id: &'a str,
    time_ms: i64,
    dims: &'a BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireIn {
    id: String,
    time_ms: i64,
    #[serde(default)]
    dims: BTreeMap<String, String>,
}

/// A record that does not decode, and why.
#[derive(Debug, thiserror::Error)]
#[error("not a minutely record: {0}")]
pub struct DecodeError(String);

impl Event {
    /// Encodes this event; it must have an id (see [`Event::id`]).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let id = self.id.as_deref().expect("an event is given an id before it is encoded");
        serde_json::to_writer(out, &WireOut { id, time_ms: self.time.0, dims: &self.dims })
            .expect("writing JSON to a Vec cannot fail");
    }

    pub fn to_record(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96);
        self.encode(&mut out);
        out
    }

    /// Decodes one record.
    pub fn decode(bytes: &[u8]) -> Result<Event, DecodeError> {
        let w: WireIn = serde_json::from_slice(bytes).map_err(|e| DecodeError(e.to_string()))?;
        if w.id.is_empty() {
            return Err(DecodeError("empty id".into()));
        }
        Ok(Event { time: EventTime(w.time_ms), id: Some(w.id), dims: w.dims })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_is_documented_as_it_is() {
        let e = Event {
            time: EventTime(1_471_798_801_089),
            id: Some("clean.tsv:2".into()),
            dims: [("country", "usa"), ("device", "and")].into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
        };
        let bytes = e.to_record();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"id":"clean.tsv:2","time_ms":1471798801089,"dims":{"country":"usa","device":"and"}}"#
        );
        assert_eq!(Event::decode(&bytes).unwrap(), e);
    }

    #[test]
    fn bad_records_are_errors() {
        for bad in [
            &b"not json"[..],
            br#"{"id":"","time_ms":1}"#,
            br#"{"time_ms":1}"#,
            br#"{"id":"a","time_ms":"x"}"#,
            br#"{"id":"a","time_ms":1,"extra":1}"#,
        ] {
            assert!(Event::decode(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
