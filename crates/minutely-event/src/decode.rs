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

use std::borrow::Cow;
use std::fmt;

use minutely_aggregate::EventTime;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use smallvec::SmallVec;

use crate::record::{RecordRef, Str};
use crate::schema::{ColumnRef, Missing, RecordFormat, Schema, SchemaError};
use crate::timefmt::{TimeError, TimeFormat};

/// The fields of one event that a consumer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields<'a> {
    pub time: EventTime,
    /// The event's id, when the format has one: events with the same id are one event.
    pub id: Option<Cow<'a, str>>,
    /// The key values, in the schema's key order.
    pub key: SmallVec<[Cow<'a, str>; 4]>,
}

/// Why one event of a record cannot be counted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldError {
    #[error("not a minutely record: {0}")]
    Minutely(String),
    #[error("not JSON: {0}")]
    Json(String),
    #[error("not a JSON object")]
    NotAnObject,
    #[error("not {format}: {message}")]
    Delimited { format: RecordFormat, message: String },
    #[error("a row of {found} fields; the schema names {expected} columns")]
    Columns { found: usize, expected: usize },
    #[error("the {role} field {field} is missing")]
    Missing { role: &'static str, field: String },
    #[error("the {role} field {field} is {what}, not a value")]
    NotAValue { role: &'static str, field: String, what: &'static str },
    #[error("the time field {field} ({value:?}): {error}")]
    Time { field: String, value: String, error: TimeError },
}

/// What [`RecordDecoder::each`] calls with each event: its line, its raw bytes, its fields.
pub type OnEvent<'f> = dyn FnMut(u64, &[u8], Result<Fields<'_>, FieldError>) + 'f;

/// Turns records into events, as a schema says. Built once; cheap to share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordDecoder {
    format: RecordFormat,
    key_names: Vec<String>,
    missing: Missing,
    time_format: TimeFormat,
    /// The names of the time and id fields, as the schema gives them (for errors).
    time_name: String,
    id_name: Option<String>,
    how: How,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum How {
    Minutely,
    Json { root: Node },
    Delimited { delimiter: u8, quoting: bool, columns: Option<usize>, time: usize, id: Option<usize>, key: Vec<usize> },
}

/// A slot of the values captured from a JSON object: the time, the id, then the keys.
const TIME: usize = 0;
const ID: usize = 1;
const KEYS: usize = 2;

impl RecordDecoder {
    /// minutely's own records, counted by the dimensions `key`.
    pub fn minutely(key: &[String]) -> RecordDecoder {
        RecordDecoder {
            format: RecordFormat::Minutely,
            key_names: key.to_vec(),
            missing: Missing::Reject,
            time_format: TimeFormat::EpochMillis,
            time_name: "time_ms".into(),
            id_name: Some("id".into()),
            how: How::Minutely,
        }
    }

    /// The decoder a record schema describes (format default: minutely). For JSON the time
    /// field is required; for CSV and TSV a record has no header, so columns are named by the
    /// schema's `columns` or by 1-based position.
    pub fn new(schema: &Schema) -> Result<RecordDecoder, SchemaError> {
        let format = schema.format.unwrap_or(RecordFormat::Minutely);
        let missing = schema.missing.unwrap_or_default();
        let time_format = schema.time_format.unwrap_or(TimeFormat::Auto);
        let key_refs = schema.key.clone().unwrap_or_default();
        let key_names: Vec<String> = key_refs.iter().map(field_name).collect();
        match format {
            RecordFormat::Minutely => {
                let own = [
                    ("time", schema.time.is_some()),
                    ("time_format", schema.time_format.is_some()),
                    ("id", schema.id.is_some()),
                    ("columns", schema.columns.is_some()),
                ];
                if let Some((field, _)) = own.iter().find(|(_, set)| *set) {
                    return Err(SchemaError::Invalid(format!(
                        "the minutely format has its own time and id fields; `{field}` applies to json, csv and tsv (set format)"
                    )));
                }
                let mut d = RecordDecoder::minutely(&key_names);
                d.missing = missing;
                Ok(d)
            }
            RecordFormat::Json => {
                let time = schema.time.as_ref().ok_or_else(|| {
                    SchemaError::Invalid("json records need the time field's path (time = \"/ts\", or --time)".into())
                })?;
                if schema.columns.is_some() {
                    return Err(SchemaError::Invalid(
                        "`columns` names CSV and TSV columns; json records use paths".into(),
                    ));
                }
                let mut root = Node::default();
                root.insert(&path(time)?, TIME, field_name(time))?;
                if let Some(id) = &schema.id {
                    root.insert(&path(id)?, ID, field_name(id))?;
                }
                for (i, k) in key_refs.iter().enumerate() {
                    root.insert(&path(k)?, KEYS + i, field_name(k))?;
                }
                Ok(RecordDecoder {
                    format,
                    key_names,
                    missing,
                    time_format,
                    time_name: field_name(time),
                    id_name: schema.id.as_ref().map(field_name),
                    how: How::Json { root },
                })
            }
            RecordFormat::Csv | RecordFormat::Tsv => {
                let columns = schema.columns.as_deref();
                let find = |r: &ColumnRef, role: &'static str| -> Result<usize, SchemaError> {
                    let unknown = || SchemaError::UnknownColumn {
                        role,
                        column: r.clone(),
                        available: columns.map(<[String]>::to_vec).unwrap_or_default(),
                    };
                    match (r, columns) {
                        (ColumnRef::Position(p), Some(c)) if (1..=c.len()).contains(p) => Ok(p - 1),
                        (ColumnRef::Position(p), None) if *p >= 1 => Ok(p - 1),
                        (ColumnRef::Name(n), Some(c)) => c.iter().position(|x| x == n).ok_or_else(unknown),
                        (ColumnRef::Name(_), None) => Err(SchemaError::Invalid(format!(
                            "{role} {r}: records have no header; name the columns (columns = [...]) or use positions"
                        ))),
                        _ => Err(unknown()),
                    }
                };
                let time_ref = schema.time.clone().unwrap_or(ColumnRef::Position(1));
                let time = find(&time_ref, "time")?;
                let id = schema.id.as_ref().map(|r| find(r, "id")).transpose()?;
                let key = key_refs.iter().map(|r| find(r, "key")).collect::<Result<Vec<_>, _>>()?;
                let name = |i: usize, r: &ColumnRef| columns.map_or_else(|| r.to_string(), |c| format!("{:?}", c[i]));
                Ok(RecordDecoder {
                    format,
                    key_names,
                    missing,
                    time_format,
                    time_name: name(time, &time_ref),
                    id_name: schema.id.as_ref().zip(id).map(|(r, i)| name(i, r)),
                    how: How::Delimited {
                        delimiter: if format == RecordFormat::Csv { b',' } else { b'\t' },
                        quoting: format == RecordFormat::Csv,
                        columns: columns.map(<[String]>::len),
                        time,
                        id,
                        key,
                    },
                })
            }
        }
    }

    pub fn format(&self) -> RecordFormat {
        self.format
    }

    /// The key's field names, as the schema gives them (they name the key in checkpoints).
    pub fn key_names(&self) -> &[String] {
        &self.key_names
    }

    /// Whether events carry an id (without one, nothing can be deduplicated).
    pub fn has_id(&self) -> bool {
        self.id_name.is_some()
    }

    /// Every event in `record`: `each(line, raw, result)` with the event's 1-based line (row) in
    /// the record and its raw bytes. Empty lines are skipped; a `\r` before a newline is dropped.
    pub fn each(&self, record: &[u8], each: &mut OnEvent<'_>) {
        match &self.how {
            How::Minutely => lines(record, |n, line| each(n, line, self.minutely_event(line))),
            How::Json { root } => lines(record, |n, line| each(n, line, self.json_event(root, line))),
            How::Delimited { delimiter, quoting, columns, time, id, key } => {
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .delimiter(*delimiter)
                    .quoting(*quoting)
                    .from_reader(record);
                let mut row = csv::ByteRecord::new();
                // Lines counted from the bytes (the csv crate's own count skips blank lines).
                let (mut counted_to, mut line) = (0usize, 1u64);
                loop {
                    let start = (reader.position().byte() as usize).min(record.len());
                    let read = reader.read_byte_record(&mut row);
                    let end = (reader.position().byte() as usize).min(record.len());
                    // A row starts after the line breaks before it (blank lines, a `\r\n`'s `\n`).
                    let from = start + record[start..end].iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
                    line += memchr::memchr_iter(b'\n', &record[counted_to..from]).count() as u64;
                    counted_to = from;
                    let raw = trim_newline(&record[from..end]);
                    match read {
                        Ok(false) => return,
                        Ok(true) if row.len() == 1 && row[0].is_empty() => {}
                        Ok(true) => each(line, raw, self.row_event(&row, *columns, *time, *id, key)),
                        Err(e) => {
                            each(line, raw, Err(FieldError::Delimited { format: self.format, message: e.to_string() }));
                            if end <= start {
                                return;
                            }
                        }
                    }
                }
            }
        }
    }

    /// The event of one CSV or TSV row already split into fields (a file read as a stream).
    pub fn row<'r>(&self, row: &'r csv::ByteRecord) -> Result<Fields<'r>, FieldError> {
        match &self.how {
            How::Delimited { columns, time, id, key, .. } => self.row_event(row, *columns, *time, *id, key),
            _ => {
                Err(FieldError::Delimited { format: self.format, message: "a row given to a decoder of lines".into() })
            }
        }
    }

    fn minutely_event<'a>(&self, line: &'a [u8]) -> Result<Fields<'a>, FieldError> {
        let r = RecordRef::decode(line)
            .map_err(|e| FieldError::Minutely(e.to_string().replace("not a minutely record: ", "")))?;
        let mut key = SmallVec::new();
        for name in &self.key_names {
            let i = r.dims.0.iter().position(|(k, _)| k == name);
            match i {
                Some(i) => key.push(r.dims.0[i].1.clone()),
                None if self.missing == Missing::Empty => key.push(Cow::Borrowed("")),
                None => return Err(FieldError::Missing { role: "key", field: format!("dims.{name}") }),
            }
        }
        Ok(Fields { time: r.time(), id: Some(r.id), key })
    }

    fn json_event<'a>(&self, root: &Node, line: &'a [u8]) -> Result<Fields<'a>, FieldError> {
        if line.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return match serde_json::from_slice::<IgnoredAny>(line) {
                Err(e) => Err(FieldError::Json(e.to_string())),
                Ok(_) => Err(FieldError::NotAnObject),
            };
        }
        let mut found: SmallVec<[Option<Scalar<'a>>; 6]> = SmallVec::from_elem(None, KEYS + self.key_names.len());
        let mut de = serde_json::Deserializer::from_slice(line);
        Walk { node: root, found: &mut found }.deserialize(&mut de).map_err(|e| FieldError::Json(e.to_string()))?;
        de.end().map_err(|e| FieldError::Json(e.to_string()))?;
        let time = match found[TIME].take() {
            None | Some(Scalar::Null) => {
                return Err(FieldError::Missing { role: "time", field: self.time_name.clone() });
            }
            Some(v) => self.time(v)?,
        };
        let id = match found[ID].take() {
            None | Some(Scalar::Null) => None,
            Some(v) => Some(v.canonical().map_err(|what| FieldError::NotAValue {
                role: "id",
                field: self.id_name.clone().unwrap_or_default(),
                what,
            })?),
        };
        let mut key = SmallVec::with_capacity(self.key_names.len());
        for (i, name) in self.key_names.iter().enumerate() {
            match found[KEYS + i].take() {
                None | Some(Scalar::Null) if self.missing == Missing::Empty => key.push(Cow::Borrowed("")),
                None | Some(Scalar::Null) => return Err(FieldError::Missing { role: "key", field: name.clone() }),
                Some(v) => key.push(v.canonical().map_err(|what| FieldError::NotAValue {
                    role: "key",
                    field: name.clone(),
                    what,
                })?),
            }
        }
        Ok(Fields { time, id, key })
    }

    /// A time value: a string as it is, a number as its digits would be (without allocating).
    fn time(&self, v: Scalar<'_>) -> Result<EventTime, FieldError> {
        match v {
            Scalar::Str(s) => self.parse_time(s.as_bytes()),
            Scalar::U64(n) => self.parse_time(itoa::Buffer::new().format(n).as_bytes()),
            Scalar::I64(n) => self.parse_time(itoa::Buffer::new().format(n).as_bytes()),
            other => {
                let text = other.canonical().map_err(|what| FieldError::NotAValue {
                    role: "time",
                    field: self.time_name.clone(),
                    what,
                })?;
                self.parse_time(text.as_bytes())
            }
        }
    }

    fn parse_time(&self, value: &[u8]) -> Result<EventTime, FieldError> {
        self.time_format.parse(value).map_err(|error| FieldError::Time {
            field: self.time_name.clone(),
            value: String::from_utf8_lossy(value).into_owned(),
            error,
        })
    }

    fn row_event<'r>(
        &self,
        row: &'r csv::ByteRecord,
        columns: Option<usize>,
        time: usize,
        id: Option<usize>,
        key: &[usize],
    ) -> Result<Fields<'r>, FieldError> {
        let needed = key.iter().chain(id.as_ref()).fold(time, |m, &i| m.max(i)) + 1;
        let expected = columns.unwrap_or(needed);
        if row.len() < expected || (columns.is_some() && row.len() != expected) {
            return Err(FieldError::Columns { found: row.len(), expected });
        }
        let text = |i: usize| {
            std::str::from_utf8(&row[i]).map_err(|_| FieldError::Delimited {
                format: self.format,
                message: format!("field {} is not UTF-8", i + 1),
            })
        };
        let time = self.parse_time(&row[time])?;
        let id = match id {
            Some(i) if !row[i].is_empty() => Some(Cow::Borrowed(text(i)?)),
            _ => None,
        };
        let key = key.iter().map(|&i| text(i).map(Cow::Borrowed)).collect::<Result<_, _>>()?;
        Ok(Fields { time, id, key })
    }
}

/// A schema field's name as a user wrote it.
fn field_name(r: &ColumnRef) -> String {
    match r {
        ColumnRef::Name(n) => n.clone(),
        ColumnRef::Position(p) => p.to_string(),
    }
}

/// The segments of a JSON path: a pointer (`/a/b`, RFC 6901 escapes) or dotted (`a.b`).
pub(crate) fn path(r: &ColumnRef) -> Result<Vec<String>, SchemaError> {
    let text = field_name(r);
    let bad = |why: &str| SchemaError::Invalid(format!("the JSON path {text:?} {why}"));
    let segments: Vec<String> = if let Some(pointer) = text.strip_prefix('/') {
        pointer.split('/').map(|s| s.replace("~1", "/").replace("~0", "~")).collect()
    } else {
        text.split('.').map(str::to_owned).collect()
    };
    if text.is_empty() || segments.iter().any(String::is_empty) {
        return Err(bad("has an empty segment; use /a/b or a.b"));
    }
    Ok(segments)
}

/// The paths of a JSON schema as a tree: each node a field name, the leaves the slots to fill.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Node {
    /// The slots this node's value fills (the same field may be, say, the id and a key).
    slots: SmallVec<[usize; 2]>,
    /// The path so far, for errors.
    name: String,
    children: Vec<(String, Option<usize>, Node)>,
}

impl Node {
    fn insert(&mut self, segments: &[String], slot: usize, name: String) -> Result<(), SchemaError> {
        let mut node = self;
        for seg in segments {
            if !node.slots.is_empty() {
                return Err(SchemaError::Invalid(format!(
                    "the JSON path {name:?} is inside the field {:?}",
                    node.name
                )));
            }
            let i = match node.children.iter().position(|(n, _, _)| n == seg) {
                Some(i) => i,
                None => {
                    let child = Node { name: name.clone(), ..Node::default() };
                    node.children.push((seg.clone(), seg.parse().ok(), child));
                    node.children.len() - 1
                }
            };
            node = &mut node.children[i].2;
        }
        if !node.children.is_empty() {
            return Err(SchemaError::Invalid(format!(
                "the JSON path {:?} is inside the field {name:?}",
                node.children[0].2.name
            )));
        }
        node.name = name;
        node.slots.push(slot);
        Ok(())
    }
}

/// A value captured from a JSON object.
#[derive(Debug, Clone)]
enum Scalar<'a> {
    Str(Cow<'a, str>),
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
    Null,
    /// An object or an array where a value was wanted.
    Composite(&'static str),
}

impl<'a> Scalar<'a> {
    /// The value as a key: see the module documentation. `Err`: what it is instead.
    fn canonical(self) -> Result<Cow<'a, str>, &'static str> {
        Ok(match self {
            Scalar::Str(s) => s,
            Scalar::U64(n) => Cow::Owned(itoa::Buffer::new().format(n).to_owned()),
            Scalar::I64(n) => Cow::Owned(itoa::Buffer::new().format(n).to_owned()),
            Scalar::F64(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                Cow::Owned(itoa::Buffer::new().format(f as i64).to_owned())
            }
            Scalar::F64(f) => Cow::Owned(ryu::Buffer::new().format_finite(f).to_owned()),
            Scalar::Bool(b) => Cow::Borrowed(if b { "true" } else { "false" }),
            Scalar::Null => return Err("null"),
            Scalar::Composite(what) => return Err(what),
        })
    }
}

/// Walks a JSON value along a [`Node`], filling the slots of the fields it finds.
struct Walk<'n, 'f, 'a> {
    node: &'n Node,
    found: &'f mut [Option<Scalar<'a>>],
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for Walk<'_, '_, 'a> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if let Some((&last, rest)) = self.node.slots.split_last() {
            let value = d.deserialize_any(ScalarVisitor)?;
            for &slot in rest {
                self.found[slot] = Some(value.clone());
            }
            self.found[last] = Some(value);
            Ok(())
        } else {
            d.deserialize_any(self)
        }
    }
}

impl<'de: 'a, 'a> Visitor<'de> for Walk<'_, '_, 'a> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        while let Some(Str(k)) = map.next_key::<Str<'de>>()? {
            match self.node.children.iter().find(|(n, _, _)| *n == k) {
                Some((_, _, child)) => map.next_value_seed(Walk { node: child, found: &mut *self.found })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        let mut i = 0usize;
        loop {
            let more = match self.node.children.iter().find(|(_, index, _)| *index == Some(i)) {
                Some((_, _, child)) => seq.next_element_seed(Walk { node: child, found: &mut *self.found })?.is_some(),
                None => seq.next_element::<IgnoredAny>()?.is_some(),
            };
            if !more {
                return Ok(());
            }
            i += 1;
        }
    }

    // A value where the path goes on: the fields below it are missing.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::U64(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::I64(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::F64(v))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Null)
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Scalar<'de>, M::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Composite("an object"))
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Scalar<'de>, S::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Composite("an array"))
    }
}

/// Calls `f(line number, line)` for every non-empty line of `bytes` (1-based, `\r\n` too).
fn lines<'a>(bytes: &'a [u8], mut f: impl FnMut(u64, &'a [u8])) {
    let mut start = 0;
    let ends = memchr::memchr_iter(b'\n', bytes).chain(std::iter::once(bytes.len()));
    for (n, end) in (1..).zip(ends) {
        let line = trim_newline(&bytes[start..end]);
        start = end + 1;
        if !line.is_empty() {
            f(n, line);
        }
    }
}

fn trim_newline(mut b: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r'] = b {
        b = rest;
    }
    b
}

#[cfg(test)]
mod tests {
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
