//! Events written as records in a schema's format: the other side of [`crate::decode`], so that
//! one schema file describes what `minutely produce` writes and `minutely consume` reads.
//!
//! - **minutely**: [`crate::record`].
//! - **json**: an object with the time at the schema's `time` path (required), the id at `id`
//!   (optional: without it events carry no id and cannot be deduplicated), and each dimension at
//!   the `key` path whose last segment is its name (`/geo/country` for `country`), else at the
//!   top level under its name; a value that is an integer written canonically (`7`, not `007`)
//!   is a JSON number. The time is written as `time_format` says: a number for the epoch
//!   formats (`auto` is epoch milliseconds), a string for the others.
//! - **csv / tsv**: one row per record in the order of the schema's `columns` (required): the
//!   `time` column, the `id` column, and a dimension per other name (empty when the event lacks
//!   it). CSV quotes as RFC 4180 says; TSV cannot hold a tab or a line break in a value, and such
//!   an event is refused with why.

use std::fmt::Write as _;

use minutely_aggregate::EventTime;
use serde_json::Value;

use crate::event::Event;
use crate::formats::{delimited, json, minutely};
use crate::schema::{RecordFormat, Schema, SchemaError};
use crate::timefmt::TimeFormat;

/// Writes events as records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordEncoder {
    time_format: TimeFormat,
    how: FormatEncoder,
}

/// The format's own encoder (`formats/`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum FormatEncoder {
    Minutely,
    Json(json::Encoder),
    Delimited(delimited::Encoder),
}

impl RecordEncoder {
    pub fn minutely() -> RecordEncoder {
        RecordEncoder { time_format: TimeFormat::EpochMillis, how: FormatEncoder::Minutely }
    }

    /// The encoder for a record schema (format default: minutely).
    pub fn new(schema: &Schema) -> Result<RecordEncoder, SchemaError> {
        let time_format = match schema.time_format.unwrap_or(TimeFormat::Auto) {
            TimeFormat::Auto => TimeFormat::EpochMillis,
            f => f,
        };
        let how = match schema.format.unwrap_or(RecordFormat::Minutely) {
            RecordFormat::Minutely => return Ok(RecordEncoder::minutely()),
            RecordFormat::Json => FormatEncoder::Json(json::Encoder::new(schema)?),
            format @ (RecordFormat::Csv | RecordFormat::Tsv) => {
                FormatEncoder::Delimited(delimited::Encoder::new(schema, format)?)
            }
        };
        Ok(RecordEncoder { time_format, how })
    }

    /// Appends `event` as one record to `out` (no line break). `Err`: why it cannot be written
    /// in this format (a TSV value with a tab or a line break; an event without an id where the
    /// format needs one).
    pub fn encode(&self, event: &Event, out: &mut Vec<u8>) -> Result<(), String> {
        match &self.how {
            FormatEncoder::Minutely => minutely::encode(event, out),
            FormatEncoder::Json(json) => {
                json.encode(event, self.time_value(event.time), out);
                Ok(())
            }
            FormatEncoder::Delimited(delimited) => delimited.encode(event, &self.time_text(event.time), out),
        }
    }

    fn time_value(&self, t: EventTime) -> Value {
        match self.time_format {
            TimeFormat::EpochMillis | TimeFormat::Auto => Value::from(t.0),
            TimeFormat::EpochMicros => Value::from(t.0 * 1_000),
            TimeFormat::EpochNanos => Value::from(t.0.saturating_mul(1_000_000)),
            // Seconds with the milliseconds as a fraction: the text is the number, exactly.
            TimeFormat::EpochSeconds => {
                serde_json::from_str(&self.time_text(t)).expect("epoch seconds are a JSON number")
            }
            TimeFormat::Rfc3339 | TimeFormat::Compact14 | TimeFormat::Compact12 => Value::String(self.time_text(t)),
        }
    }

    /// The time as text in this encoder's format (what [`TimeFormat::parse`] reads back).
    fn time_text(&self, t: EventTime) -> String {
        let minute = t.minute();
        let l = minute.label();
        let in_minute = t.0 - minute.start().0;
        let (sec, ms) = (in_minute / 1000, in_minute % 1000);
        let mut s = String::with_capacity(24);
        let _ = match self.time_format {
            TimeFormat::EpochMillis | TimeFormat::Auto => write!(s, "{}", t.0),
            TimeFormat::EpochMicros => write!(s, "{}", t.0 * 1_000),
            TimeFormat::EpochNanos => write!(s, "{}", t.0.saturating_mul(1_000_000)),
            TimeFormat::EpochSeconds => {
                let (secs, ms) = (t.0.div_euclid(1000), t.0.rem_euclid(1000));
                if secs < 0 && ms > 0 {
                    write!(s, "-{}.{:03}", -(secs + 1), 1000 - ms)
                } else {
                    write!(s, "{secs}.{ms:03}")
                }
            }
            TimeFormat::Rfc3339 => {
                write!(s, "{:04}-{:02}-{:02}T{:02}:{:02}:{sec:02}.{ms:03}Z", l.year, l.month, l.day, l.hour, l.minute)
            }
            TimeFormat::Compact14 => write!(s, "{l}{sec:02}"),
            TimeFormat::Compact12 => write!(s, "{l}"),
        };
        s
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::RecordDecoder;

    fn event() -> Event {
        Event {
            time: EventTime(1_471_798_812_345),
            id: Some("e1".into()),
            dims: [("country", "usa"), ("os", "ios"), ("city", "a,\"b\""), ("version", "7"), ("zip", "02134")]
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    fn encode(toml: &str, e: &Event) -> Result<String, String> {
        let encoder = RecordEncoder::new(&Schema::from_toml(toml).unwrap()).unwrap();
        let mut out = Vec::new();
        encoder.encode(e, &mut out).map(|()| String::from_utf8(out).unwrap())
    }

    /// What the decoder of the same schema reads back: (time, id, key).
    fn read_back(toml: &str, record: &str) -> (i64, Option<String>, Vec<String>) {
        let d = RecordDecoder::new(&Schema::from_toml(toml).unwrap()).unwrap();
        let mut got = None;
        d.each(record.as_bytes(), &mut |_, _, f| {
            let f = f.unwrap();
            got = Some((f.time.0, f.id.map(Cow::into_owned), f.key.into_iter().map(Cow::into_owned).collect()));
        });
        got.unwrap()
    }

    #[test]
    fn json_nests_the_key_dimensions_where_the_schema_says() {
        let schema = "format = \"json\"\ntime = \"/ts\"\nid = \"/meta/id\"\nkey = [\"/geo/country\", \"os\"]";
        let record = encode(schema, &event()).unwrap();
        assert_eq!(
            record,
            r#"{"city":"a,\"b\"","geo":{"country":"usa"},"meta":{"id":"e1"},"os":"ios","ts":1471798812345,"version":7,"zip":"02134"}"#
        );
        assert_eq!(
            read_back(schema, &record),
            (1_471_798_812_345, Some("e1".into()), vec!["usa".into(), "ios".into()])
        );
    }

    #[test]
    fn every_time_format_reads_back() {
        for f in TimeFormat::NAMES.split(", ") {
            let schema = format!("format = \"json\"\ntime = \"t\"\ntime_format = \"{f}\"");
            let record = encode(&schema, &event()).unwrap();
            let want = match f {
                "yyyymmddhhmmss" => 1_471_798_812_000,
                "yyyymmddhhmm" => 1_471_798_800_000,
                _ => 1_471_798_812_345,
            };
            assert_eq!(read_back(&schema, &record).0, want, "{f}: {record}");
        }
        let before_1970 = Event { time: EventTime(-1_500), ..event() };
        let schema = "format = \"json\"\ntime = \"t\"\ntime_format = \"epoch_seconds\"";
        let record = encode(schema, &before_1970).unwrap();
        assert!(record.contains(r#""t":-1.5"#), "{record}");
        assert_eq!(read_back(schema, &record).0, -1_500);
    }

    #[test]
    fn csv_and_tsv_rows_in_the_columns_order() {
        let schema = "format = \"csv\"\ncolumns = [\"ts\", \"country\", \"city\", \"missing\", \"id\"]\ntime = \"ts\"\nid = \"id\"\nkey = [\"city\"]\ntime_format = \"rfc3339\"";
        let record = encode(schema, &event()).unwrap();
        assert_eq!(record, r#"2016-08-21T17:00:12.345Z,usa,"a,""b""",,e1"#);
        assert_eq!(read_back(schema, &record), (1_471_798_812_345, Some("e1".into()), vec!["a,\"b\"".into()]));
        let tsv = "format = \"tsv\"\ncolumns = [\"ts\", \"os\"]\ntime = 1\nkey = [\"os\"]";
        assert_eq!(encode(tsv, &event()).unwrap(), "1471798812345\tios");
        let tabbed = Event { dims: [("os".to_owned(), "i\tos".to_owned())].into(), ..event() };
        assert!(encode(tsv, &tabbed).unwrap_err().contains("tab or a line break"));
    }

    #[test]
    fn schemas_a_writer_cannot_follow_are_refused() {
        let refused = |toml: &str| RecordEncoder::new(&Schema::from_toml(toml).unwrap()).unwrap_err().to_string();
        assert!(refused("format = \"csv\"\ntime = \"ts\"").contains("name them"));
        // The one column resolver's words, as for files and records read.
        let unknown = refused("format = \"csv\"\ncolumns = [\"a\"]\ntime = \"ts\"");
        assert!(unknown.contains("the time column \"ts\" is not in the input; its columns are: \"a\""), "{unknown}");
        assert!(refused("format = \"json\"").contains("time field's path"));
    }
}
