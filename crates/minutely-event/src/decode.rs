//! Events out of records in any of the formats a schema names: minutely's own JSON, any JSON
//! object (time, key and id found by path), CSV and TSV.
//!
//! A record (a Kinesis record's data, a KPL user record, a line on stdin) may hold several
//! events, one per line (one per row for CSV, whose quoted fields may hold newlines). Each is
//! handed to the caller as [`Fields`] (borrowed from the record where it can be) or as a
//! [`FieldError`] that says what is wrong with it, with its line in the record.
//!
//! **JSON paths.** `time`, `key` and `id` are JSON pointers (`/geo/country`, `~1` for `/` and
//! `~0` for `~`, a number for an array element) or dotted paths (`geo.country`; a name with a dot
//! in it needs a pointer). The object is walked once: the fields on a path are captured, every
//! other value is skipped without being built.
//!
//! **Canonical key values.** A string is itself; a number is written the shortest way that reads
//! back to it, an integral number without a fraction (`3`, `3.0` and `3e0` are all `3`;
//! `1.50` is `1.5`); a boolean is `true` or `false`. A key field that is absent or `null` is a
//! reject that names it, unless the schema says `missing = "empty"`; an object or an array is
//! always a reject.
//!
//! **Time.** A string is parsed in the schema's time format (`auto`: each value detected on its
//! own); a number is read as the same digits would be (so `1471798812345` is epoch
//! milliseconds for `auto`, and `1471798812.345` seconds).

use crate::envelope;
pub use crate::fields::{FieldError, Fields, OnEvent, lines};
use crate::fields::{Roles, field_name};
use crate::formats::{delimited, json, minutely};
use crate::schema::{Missing, RecordFormat, Schema, SchemaError};
use crate::timefmt::TimeFormat;

/// Where an event sits in a Kinesis record: its KPL user record, and its line (CSV: row) in the
/// payload when the payload holds more than one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Within {
    pub user_record: Option<u32>,
    pub line: Option<u64>,
}

/// Turns records into events, as a schema says. Built once; cheap to share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordDecoder {
    format: RecordFormat,
    roles: Roles,
    how: FormatDecoder,
}

/// The format's own decoder (`formats/`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum FormatDecoder {
    Minutely,
    Json(json::Decoder),
    Delimited(delimited::Decoder),
}

impl RecordDecoder {
    /// minutely's own records, counted by the dimensions `key`.
    pub fn minutely(key: &[String]) -> RecordDecoder {
        let roles = Roles {
            key_names: key.to_vec(),
            missing: Missing::Reject,
            time_format: TimeFormat::EpochMillis,
            time_name: "time_ms".into(),
            id_name: Some("id".into()),
        };
        RecordDecoder { format: RecordFormat::Minutely, roles, how: FormatDecoder::Minutely }
    }

    /// The decoder a record schema describes (format default: minutely). For JSON the time
    /// field is required; for CSV and TSV a record has no header, so columns are named by the
    /// schema's `columns` or by 1-based position.
    pub fn new(schema: &Schema) -> Result<RecordDecoder, SchemaError> {
        let format = schema.format.unwrap_or(RecordFormat::Minutely);
        let key = schema.key.clone().unwrap_or_default();
        let mut roles = Roles {
            key_names: key.iter().map(field_name).collect(),
            missing: schema.missing.unwrap_or_default(),
            time_format: schema.time_format.unwrap_or(TimeFormat::Auto),
            time_name: schema.time.as_ref().map(field_name).unwrap_or_default(),
            id_name: schema.id.as_ref().map(field_name),
        };
        let how = match format {
            RecordFormat::Minutely => {
                minutely::check(schema)?;
                let mut d = RecordDecoder::minutely(&roles.key_names);
                d.roles.missing = roles.missing;
                return Ok(d);
            }
            RecordFormat::Json => FormatDecoder::Json(json::Decoder::new(schema, &key)?),
            RecordFormat::Csv | RecordFormat::Tsv => {
                let (decoder, (time_name, id_name)) = delimited::Decoder::new(schema, format, &key)?;
                (roles.time_name, roles.id_name) = (time_name, id_name);
                FormatDecoder::Delimited(decoder)
            }
        };
        Ok(RecordDecoder { format, roles, how })
    }

    pub fn format(&self) -> RecordFormat {
        self.format
    }

    /// The key's field names, as the schema gives them (they name the key in checkpoints).
    pub fn key_names(&self) -> &[String] {
        &self.roles.key_names
    }

    /// Whether events carry an id (without one, nothing can be deduplicated).
    pub fn has_id(&self) -> bool {
        self.roles.id_name.is_some()
    }

    /// Every event in `record`: `each(line, raw, result)` with the event's 1-based line (row) in
    /// the record and its raw bytes. Empty lines are skipped; a `\r` before a newline is dropped.
    pub fn each<F: FnMut(u64, &[u8], Result<Fields<'_>, FieldError>)>(&self, record: &[u8], each: &mut F) {
        let roles = &self.roles;
        match &self.how {
            FormatDecoder::Minutely => lines(record, |n, line| each(n, line, minutely::event(roles, line))),
            FormatDecoder::Json(json) => lines(record, |n, line| each(n, line, json.event(roles, line))),
            FormatDecoder::Delimited(delimited) => delimited.each(roles, record, each),
        }
    }

    /// Every event of one Kinesis record's data: its envelopes opened ([`crate::envelope`]),
    /// each payload decoded. An envelope that cannot be opened, and a payload with no event in
    /// it, are each one error ([`FieldError::Envelope`], [`FieldError::NoEvent`]) with the
    /// envelope's or the payload's bytes as received.
    pub fn each_in_record<F: FnMut(Within, &[u8], Result<Fields<'_>, FieldError>)>(&self, data: &[u8], each: &mut F) {
        envelope::unpack(data, &mut |piece| {
            let user_record = piece.user_record;
            let payload = match piece.payload {
                Ok(payload) => payload,
                Err(e) => return each(Within { user_record, line: None }, piece.raw, Err(e.into())),
            };
            // Lines are named only when the payload has more than one.
            let several = memchr::memchr(b'\n', payload.trim_ascii_end()).is_some();
            let mut found = false;
            self.each(&payload, &mut |line, raw, fields| {
                found = true;
                each(Within { user_record, line: several.then_some(line) }, raw, fields);
            });
            if !found {
                each(Within { user_record, line: None }, piece.raw, Err(FieldError::NoEvent));
            }
        });
    }

    /// The event of one CSV or TSV row already split into fields (a file read as a stream).
    pub fn row<'r>(&self, row: &'r csv::ByteRecord) -> Result<Fields<'r>, FieldError> {
        match &self.how {
            FormatDecoder::Delimited(delimited) => delimited.row(&self.roles, row),
            _ => {
                Err(FieldError::Delimited { format: self.format, message: "a row given to a decoder of lines".into() })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn schema(toml: &str) -> RecordDecoder {
        RecordDecoder::new(&Schema::from_toml(toml).unwrap()).unwrap()
    }

    /// An event as seen: `Ok((line, time, id, key))` or `Err((line, error))`.
    type Seen = Result<(u64, i64, Option<String>, Vec<String>), (u64, String)>;

    /// Every event of `record`.
    fn events(d: &RecordDecoder, record: &str) -> Vec<Seen> {
        let mut out = Vec::new();
        d.each(record.as_bytes(), &mut |line, _, r| {
            out.push(match r {
                Ok(f) => {
                    Ok((line, f.time.0, f.id.map(Cow::into_owned), f.key.into_iter().map(Cow::into_owned).collect()))
                }
                Err(e) => Err((line, e.to_string())),
            })
        });
        out
    }

    fn ok(line: u64, time: i64, id: Option<&str>, key: &[&str]) -> Seen {
        Ok((line, time, id.map(str::to_owned), key.iter().map(|k| k.to_string()).collect()))
    }

    #[test]
    fn json_fields_by_pointer_and_dotted_path() {
        let d = schema(
            r#"
            format = "json"
            time = "/ts"
            key = ["/geo/country", "device.os", "/tags/1"]
            id = "/event_id"
            "#,
        );
        let r = r#"{"event_id":"e1","skip":{"deep":[1,{"x":null}]},"ts":1471798812345,"geo":{"country":"usa","city":"nyc"},"device":{"os":"and"},"tags":["a","b"]}"#;
        assert_eq!(events(&d, r), [ok(1, 1_471_798_812_345, Some("e1"), &["usa", "and", "b"])]);
        assert_eq!(d.key_names(), ["/geo/country", "device.os", "/tags/1"]);
        assert!(d.has_id());
    }

    #[test]
    fn key_values_are_canonical() {
        let d = schema("format = \"json\"\ntime = \"t\"\nkey = [\"a\", \"b\", \"c\", \"d\"]");
        let r = r#"{"t":"2016-08-21T17:00:12Z","a":3.0,"b":-12,"c":true,"d":1.50}"#;
        assert_eq!(events(&d, r), [ok(1, 1_471_798_812_000, None, &["3", "-12", "true", "1.5"])]);
        let r = r#"{"t":"2016-08-21T17:00:12Z","a":3,"b":"-12","c":"true","d":15e-1}"#;
        assert_eq!(events(&d, r), [ok(1, 1_471_798_812_000, None, &["3", "-12", "true", "1.5"])]);
        let r = r#"{"t":"2016-08-21T17:00:12Z","a":"caf\u00e9","b":18446744073709551615,"c":false,"d":1e300}"#;
        assert_eq!(
            events(&d, r),
            [ok(1, 1_471_798_812_000, None, &["café", "18446744073709551615", "false", "1e300"])]
        );
    }

    #[test]
    fn times_as_numbers_and_strings_in_every_epoch_unit() {
        let t = 1_471_798_812_345;
        let d = schema("format = \"json\"\ntime = \"t\"");
        for v in [
            "1471798812345",
            "1471798812.345",
            "1471798812345678",
            "1471798812345678901",
            "\"1471798812345\"",
            "\"2016-08-21T17:00:12.345Z\"",
        ] {
            assert_eq!(events(&d, &format!("{{\"t\":{v}}}")), [ok(1, t, None, &[])], "{v}");
        }
        let d = schema("format = \"json\"\ntime = \"t\"\ntime_format = \"epoch_micros\"");
        assert_eq!(events(&d, r#"{"t":1471798812345678}"#), [ok(1, t, None, &[])]);
        let e = events(&d, r#"{"t":"soon"}"#);
        assert_eq!(
            e,
            [Err((
                1,
                r#"the time field t ("soon"): not an integer number of microseconds (expected epoch_micros)"#.into()
            ))]
        );
    }

    #[test]
    fn missing_null_and_composite_fields() {
        let d = schema("format = \"json\"\ntime = \"/t\"\nkey = [\"/geo/country\"]");
        let missing = || Err((1, "the key field /geo/country is missing".to_owned()));
        assert_eq!(events(&d, r#"{"t":1471798812345,"geo":{}}"#), [missing()]);
        assert_eq!(events(&d, r#"{"t":1471798812345,"geo":{"country":null}}"#), [missing()]);
        assert_eq!(events(&d, r#"{"t":1471798812345,"geo":"usa"}"#), [missing()]);
        assert_eq!(
            events(&d, r#"{"t":1471798812345,"geo":{"country":{"iso":"us"}}}"#),
            [Err((1, "the key field /geo/country is an object, not a value".into()))]
        );
        assert_eq!(events(&d, r#"{"geo":{"country":"usa"}}"#), [Err((1, "the time field /t is missing".into()))]);
        let empty = schema("format = \"json\"\ntime = \"/t\"\nkey = [\"/geo/country\"]\nmissing = \"empty\"");
        assert_eq!(
            events(&empty, r#"{"t":1471798812345,"geo":{"country":null}}"#),
            [ok(1, 1_471_798_812_345, None, &[""])]
        );
    }

    #[test]
    fn bad_json_and_several_events_per_record() {
        let d = schema("format = \"json\"\ntime = \"t\"");
        let e = events(&d, "{\"t\":1471798812345}\r\n\n[1,2]\n{\"t\":1471798812346} x\n{\"t\":1471798812347");
        assert_eq!(e[0], ok(1, 1_471_798_812_345, None, &[]));
        assert_eq!(e[1], Err((3, "not a JSON object".into())));
        assert!(matches!(&e[2], Err((4, m)) if m.starts_with("not JSON: trailing characters")), "{e:?}");
        assert!(matches!(&e[3], Err((5, m)) if m.starts_with("not JSON: EOF")), "{e:?}");
        assert_eq!(e.len(), 4);
    }

    #[test]
    fn minutely_records_with_missing_dimensions() {
        let d = RecordDecoder::minutely(&["country".into()]);
        let r = "{\"id\":\"a\",\"time_ms\":5,\"dims\":{\"country\":\"usa\"}}\n{\"id\":\"b\",\"time_ms\":6,\"dims\":{}}";
        assert_eq!(
            events(&d, r),
            [ok(1, 5, Some("a"), &["usa"]), Err((2, "the key field dims.country is missing".into()))]
        );
        let e = events(&d, "{\"id\":\"a\"}");
        assert!(matches!(&e[0], Err((1, m)) if m.starts_with("not a minutely record: missing field")), "{e:?}");
    }

    #[test]
    fn csv_rows_by_name_and_position_with_quoted_newlines() {
        let d = schema(
            "format = \"csv\"\ncolumns = [\"ts\", \"country\", \"note\", \"id\"]\ntime = \"ts\"\nkey = [\"country\"]\nid = \"id\"",
        );
        let r = "1471798812345,usa,\"two\nlines, one field\",x1\n1471798812346,\"u\"\"k\",,\n1471798812347,fr\n";
        assert_eq!(
            events(&d, r),
            [
                ok(1, 1_471_798_812_345, Some("x1"), &["usa"]),
                ok(3, 1_471_798_812_346, None, &["u\"k"]),
                Err((4, "a row of 2 fields; the schema names 4 columns".into())),
            ]
        );
        let by_position = schema("format = \"tsv\"\ntime = 2\nkey = [1]");
        assert_eq!(
            events(&by_position, "usa\t1471798812345\n\"q\t1471798812345\n"),
            [ok(1, 1_471_798_812_345, None, &["usa"]), ok(2, 1_471_798_812_345, None, &["\"q"]),]
        );
    }

    #[test]
    fn csv_line_numbers_count_blank_lines_and_quoted_breaks() {
        let d = schema("format = \"csv\"\ntime = 1");
        let e = events(&d, "1471798812345\r\n\r\n\"1471798812346\"\n\n\nsoon\n\"a\nb\"\nlater\n");
        let lines: Vec<u64> = e
            .iter()
            .map(|r| match r {
                Ok((l, ..)) | Err((l, _)) => *l,
            })
            .collect();
        assert_eq!(lines, [1, 3, 6, 7, 9]);
    }

    #[test]
    fn the_raw_bytes_of_each_event_are_its_line() {
        let d = schema("format = \"csv\"\ntime = 1");
        let mut raws = Vec::new();
        d.each(b"1471798812345\r\nnope\n\"a\nb\"", &mut |_, raw, _| {
            raws.push(String::from_utf8_lossy(raw).into_owned())
        });
        assert_eq!(raws, ["1471798812345", "nope", "\"a\nb\""]);
    }

    #[test]
    fn schemas_that_cannot_work_are_refused() {
        let refused = |toml: &str| RecordDecoder::new(&Schema::from_toml(toml).unwrap()).unwrap_err().to_string();
        assert!(refused("format = \"json\"").contains("need the time field"));
        assert!(refused("format = \"json\"\ntime = \"a..b\"").contains("empty segment"));
        assert!(refused("format = \"json\"\ntime = \"/a\"\nkey = [\"/a/b\"]").contains("inside the field"));
        assert!(refused("format = \"json\"\ntime = \"/a/b\"\nkey = [\"/a\"]").contains("inside the field"));
        assert!(refused("time = \"ts\"").contains("minutely format has its own"));
        assert!(refused("format = \"csv\"\ntime = \"ts\"").contains("records have no header"));
        assert!(refused("format = \"csv\"\ncolumns = [\"a\"]\ntime = \"b\"").contains("not in the input"));
        let same = schema("format = \"json\"\ntime = \"t\"\nid = \"k\"\nkey = [\"k\"]");
        assert_eq!(events(&same, r#"{"t":1471798812345,"k":7}"#), [ok(1, 1_471_798_812_345, Some("7"), &["7"])]);
    }
}
