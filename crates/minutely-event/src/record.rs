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

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use minutely_aggregate::EventTime;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::event::Event;

#[derive(Serialize)]
struct WireOut<'a> {
    id: &'a str,
    time_ms: i64,
    dims: &'a BTreeMap<String, String>,
}

/// A decoded record that borrows from the bytes it came from (strings with JSON escapes are
/// the only copies): what a consumer needs per record, without an allocation per field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordRef<'a> {
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    pub time_ms: i64,
    #[serde(borrow, default)]
    pub dims: Dims<'a>,
}

/// The dimensions of a [`RecordRef`], in record order.
#[derive(Debug, Default)]
pub struct Dims<'a>(pub SmallVec<[(Cow<'a, str>, Cow<'a, str>); 4]>);

impl<'a> Dims<'a> {
    /// The value of dimension `name`, if the record has it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| &**v)
    }
}

impl<'a> RecordRef<'a> {
    /// Decodes one record (see the module documentation for the format).
    pub fn decode(bytes: &'a [u8]) -> Result<RecordRef<'a>, DecodeError> {
        let r: RecordRef<'a> = serde_json::from_slice(bytes).map_err(|e| DecodeError(e.to_string()))?;
        if r.id.is_empty() {
            return Err(DecodeError("empty id".into()));
        }
        Ok(r)
    }

    pub fn time(&self) -> EventTime {
        EventTime(self.time_ms)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Dims<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Dims<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of string dimensions")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Dims<'a>, M::Error> {
                let mut out = SmallVec::new();
                while let Some((k, v)) = map.next_entry::<Str<'a>, Str<'a>>()? {
                    if out.iter().any(|(seen, _): &(Cow<str>, Cow<str>)| *seen == k.0) {
                        return Err(de::Error::custom(format_args!("duplicate dimension {:?}", k.0)));
                    }
                    out.push((k.0, v.0));
                }
                Ok(Dims(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// A string that borrows when the JSON text has no escapes.
pub(crate) struct Str<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Str<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
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
        let r = RecordRef::decode(bytes)?;
        let time = r.time();
        let dims = r.dims.0.into_iter().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        Ok(Event { time, id: Some(r.id.into_owned()), dims })
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
    fn borrows_plain_strings_and_unescapes_the_others() {
        let bytes = br#"{"id":"a\"b","time_ms":-5,"dims":{"country":"usa","city":"M\u00fcnchen"}}"#;
        let r = RecordRef::decode(bytes).unwrap();
        assert_eq!(r.id, "a\"b");
        assert!(matches!(r.id, Cow::Owned(_)));
        assert_eq!(r.time(), EventTime(-5));
        assert!(matches!(r.dims.0[0].1, Cow::Borrowed("usa")));
        assert_eq!(r.dims.get("city"), Some("München"));
        assert_eq!(r.dims.get("device"), None);
    }

    #[test]
    fn bad_records_are_errors() {
        for bad in [
            &b"not json"[..],
            br#"{"id":"","time_ms":1}"#,
            br#"{"time_ms":1}"#,
            br#"{"id":"a","time_ms":"x"}"#,
            br#"{"id":"a","time_ms":1,"extra":1}"#,
            br#"{"id":"a","time_ms":1,"dims":{"c":"x","c":"y"}}"#,
            br#"{"id":"a","time_ms":1,"dims":{"c":1}}"#,
            br#"{"id":"a","time_ms":1.5}"#,
        ] {
            assert!(Event::decode(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
