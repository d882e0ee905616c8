//! What a decoder finds in one event, or why it cannot: the same for every record format
//! (`formats/`), and the roles a schema gives fields (time, id, key) with how their values
//! are read.

use std::borrow::Cow;

use minutely_aggregate::EventTime;
use smallvec::SmallVec;

use crate::schema::{ColumnRef, Missing, RecordFormat};
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
    /// A Kinesis record's envelope (KPL aggregate, gzip) could not be opened.
    #[error(transparent)]
    Envelope(#[from] crate::envelope::EnvelopeError),
    #[error("a record with no event in it (empty, or blank lines only)")]
    NoEvent,
}

/// What [`RecordDecoder::each`] calls with each event: its line, its raw bytes, its fields.
pub type OnEvent<'f> = dyn FnMut(u64, &[u8], Result<Fields<'_>, FieldError>) + 'f;

/// The roles a schema gives fields: the key's names, what a missing key value is, the time's
/// format, and the time's and id's names as the schema gives them (for errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Roles {
    pub key_names: Vec<String>,
    pub missing: Missing,
    pub time_format: TimeFormat,
    pub time_name: String,
    pub id_name: Option<String>,
}

impl Roles {
    /// A time value as text, in the schema's time format.
    pub fn parse_time(&self, value: &[u8]) -> Result<EventTime, FieldError> {
        self.time_format.parse(value).map_err(|error| FieldError::Time {
            field: self.time_name.clone(),
            value: String::from_utf8_lossy(value).into_owned(),
            error,
        })
    }

    /// The value of key field `field` when the event lacks it: empty, or a reject that names it.
    pub fn absent_key(&self, field: impl Into<String>) -> Result<Cow<'static, str>, FieldError> {
        match self.missing {
            Missing::Empty => Ok(Cow::Borrowed("")),
            Missing::Reject => Err(FieldError::Missing { role: "key", field: field.into() }),
        }
    }
}

/// A schema field's name as a user wrote it.
pub(crate) fn field_name(r: &ColumnRef) -> String {
    match r {
        ColumnRef::Name(n) => n.clone(),
        ColumnRef::Position(p) => p.to_string(),
    }
}

/// Calls `f(line number, line)` for every non-empty line of `bytes` (1-based, `\r\n` too).
pub fn lines<'a>(bytes: &'a [u8], mut f: impl FnMut(u64, &'a [u8])) {
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

pub(crate) fn trim_newline(mut b: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r'] = b {
        b = rest;
    }
    b
}
