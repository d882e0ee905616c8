//! Which column (or JSON field) holds the time, in which format, and which form the key.
//!
//! A schema is a small TOML file:
//!
//! ```toml
//! format = "tsv"                # minutely, json, csv or tsv (files: tsv; records: minutely)
//! header = true                 # the first line names the columns (default true)
//! columns = ["ts", "country"]   # names for a file without header (optional)
//! time = "ts"                   # a column name, or its 1-based position
//! time_format = "rfc3339"       # auto (default), rfc3339, epoch_seconds, epoch_millis,
//!                               # yyyymmddhhmmss, yyyymmddhhmm
//! key = ["country"]             # zero, one or several columns (default: none)
//! id = "event_id"               # optional column with a unique event id
//! missing = "reject"            # a record without a key field: "reject" (default) or "empty"
//! ```
//!
//! For JSON records, `time`, `key` and `id` are paths: a JSON pointer (`/geo/country`) or dotted
//! (`geo.country`); see [`crate::decode`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::timefmt::TimeFormat;

/// A column, by name or by 1-based position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ColumnRef {
    Position(usize),
    Name(String),
}

impl std::str::FromStr for ColumnRef {
    type Err = std::convert::Infallible;

    /// A string of digits is a 1-based position; anything else is a name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.parse::<usize>() {
            Ok(n) => ColumnRef::Position(n),
            Err(_) => ColumnRef::Name(s.to_owned()),
        })
    }
}

impl fmt::Display for ColumnRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnRef::Position(n) => write!(f, "column {n}"),
            ColumnRef::Name(n) => write!(f, "column {n:?}"),
        }
    }
}

/// How each record (or line) is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordFormat {
    /// minutely's own JSON: `{"id","time_ms","dims"}` ([`crate::record`]).
    Minutely,
    /// A JSON object; time, key and id found by path.
    Json,
    /// RFC 4180 comma-separated values.
    Csv,
    /// Tab-separated values, no quoting.
    Tsv,
}

impl RecordFormat {
    pub const NAMES: &'static str = "minutely, json, csv, tsv";

    pub fn name(self) -> &'static str {
        match self {
            RecordFormat::Minutely => "minutely",
            RecordFormat::Json => "json",
            RecordFormat::Csv => "csv",
            RecordFormat::Tsv => "tsv",
        }
    }
}

impl fmt::Display for RecordFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for RecordFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "minutely" => RecordFormat::Minutely,
            "json" | "jsonl" | "ndjson" => RecordFormat::Json,
            "csv" => RecordFormat::Csv,
            "tsv" => RecordFormat::Tsv,
            _ => return Err(format!("unknown record format {s:?}; known formats: {}", RecordFormat::NAMES)),
        })
    }
}

/// What a record without one of its key fields (absent, JSON `null`) becomes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Missing {
    /// A reject that names the field.
    #[default]
    Reject,
    /// Counted with the empty string as that key value.
    Empty,
}

/// A schema as written by a user: every field optional, defaults filled in by [`Schema::resolve`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    pub format: Option<RecordFormat>,
    pub header: Option<bool>,
    pub columns: Option<Vec<String>>,
    pub time: Option<ColumnRef>,
    pub time_format: Option<TimeFormat>,
    pub key: Option<Vec<ColumnRef>>,
    pub id: Option<ColumnRef>,
    pub missing: Option<Missing>,
}

/// Column names tried, in order, for the time when neither schema nor flag names it.
pub const DEFAULT_TIME_NAMES: &[&str] =
    &["time", "timestamp", "ts", "event_time", "eventtime", "datetime", "date", "created_at"];
/// Column names tried for the event id.
pub const DEFAULT_ID_NAMES: &[&str] = &["id", "event_id", "eventid", "uuid"];

impl Schema {
    pub fn from_toml(text: &str) -> Result<Schema, SchemaError> {
        toml::from_str(text).map_err(|e| SchemaError::Toml(e.to_string()))
    }

    /// `other`'s fields where set, else this schema's (flags over a schema file).
    pub fn overridden_by(self, other: Schema) -> Schema {
        Schema {
            format: other.format.or(self.format),
            header: other.header.or(self.header),
            columns: other.columns.or(self.columns),
            time: other.time.or(self.time),
            time_format: other.time_format.or(self.time_format),
            key: other.key.or(self.key),
            id: other.id.or(self.id),
            missing: other.missing.or(self.missing),
        }
    }

    pub fn has_header(&self) -> bool {
        self.header.unwrap_or(true)
    }

    /// Maps names to positions against the header (or the `columns` list), applying defaults.
    ///
    /// `header` is the file's header row when the schema says there is one. `first_row_columns`
    /// is the column count of the first data row, used when nothing else names the columns.
    pub fn resolve(&self, header: Option<&[String]>, first_row_columns: usize) -> Result<ResolvedSchema, SchemaError> {
        let names: Vec<String> = match (header, &self.columns) {
            (Some(h), Some(declared)) if h != declared.as_slice() => {
                return Err(SchemaError::HeaderMismatch { header: h.to_vec(), declared: declared.clone() });
            }
            (Some(h), _) => h.to_vec(),
            (None, Some(declared)) => declared.clone(),
            (None, None) => (1..=first_row_columns.max(1)).map(|i| format!("column_{i}")).collect(),
        };
        let find = |r: &ColumnRef, role: &'static str| column_position(r, role, Some(&names));
        let by_default_name = |candidates: &[&str]| {
            candidates.iter().find_map(|want| names.iter().position(|c| c.trim().eq_ignore_ascii_case(want)))
        };
        let time = match &self.time {
            Some(r) => find(r, "time")?,
            None => by_default_name(DEFAULT_TIME_NAMES).unwrap_or(0),
        };
        let key = match &self.key {
            Some(cols) => cols.iter().map(|c| find(c, "key")).collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        let id = match &self.id {
            Some(r) => Some(find(r, "id")?),
            None => by_default_name(DEFAULT_ID_NAMES).filter(|&i| i != time && !key.contains(&i)),
        };
        Ok(ResolvedSchema { columns: names, time, time_format: self.time_format.unwrap_or(TimeFormat::Auto), key, id })
    }
}

/// The 0-based position of column `r` (`role`: time, id or key, for errors) among `columns`, the
/// one column resolver of files and records, read and written. `None`: the input names no
/// columns (records have no header): positions only.
pub(crate) fn column_position(
    r: &ColumnRef,
    role: &'static str,
    columns: Option<&[String]>,
) -> Result<usize, SchemaError> {
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
}

/// A schema with every column resolved to its 0-based position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedSchema {
    /// Every column's name; the row must have exactly this many fields.
    pub columns: Vec<String>,
    pub time: usize,
    pub time_format: TimeFormat,
    pub key: Vec<usize>,
    pub id: Option<usize>,
}

impl ResolvedSchema {
    pub fn key_names(&self) -> Vec<&str> {
        self.key.iter().map(|&k| self.columns[k].as_str()).collect()
    }
}

impl fmt::Display for ResolvedSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} columns, time={:?}, key=[{}]",
            self.columns.len(),
            self.columns[self.time],
            self.key_names().iter().map(|k| format!("{k:?}")).collect::<Vec<_>>().join(", ")
        )?;
        if let Some(id) = self.id {
            write!(f, ", id={:?}", self.columns[id])?;
        }
        Ok(())
    }
}

/// A schema that cannot be used with this input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    #[error("{0}")]
    Toml(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the {role} {column} is not in the input; its columns are: {}", list(available))]
    UnknownColumn { role: &'static str, column: ColumnRef, available: Vec<String> },
    #[error("the header row ({}) differs from the schema's columns ({})", list(header), list(declared))]
    HeaderMismatch { header: Vec<String>, declared: Vec<String> },
}

fn list(names: &[String]) -> String {
    names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn toml_schema_resolves_against_the_header() {
        let s = Schema::from_toml(
            r#"
            time = "ts"
            time_format = "epoch_millis"
            key = ["country", 3]
            "#,
        )
        .unwrap();
        let r = s.resolve(Some(&names(&["id", "ts", "device", "country"])), 4).unwrap();
        assert_eq!((r.time, r.key.clone(), r.id), (1, vec![3, 2], Some(0)));
        assert_eq!(r.time_format, TimeFormat::EpochMillis);
        assert_eq!(r.to_string(), r#"4 columns, time="ts", key=["country", "device"], id="id""#);
    }

    #[test]
    fn defaults_find_a_time_column_by_name() {
        let r = Schema::default().resolve(Some(&names(&["country", "Timestamp"])), 2).unwrap();
        assert_eq!((r.time, r.key.len(), r.time_format), (1, 0, TimeFormat::Auto));
        let r = Schema::default().resolve(Some(&names(&["a", "b"])), 2).unwrap();
        assert_eq!(r.time, 0);
    }

    #[test]
    fn unknown_columns_are_named_in_the_error() {
        let s = Schema { key: Some(vec![ColumnRef::Name("region".into())]), ..Schema::default() };
        let e = s.resolve(Some(&names(&["ts", "country"])), 2).unwrap_err();
        assert_eq!(e.to_string(), r#"the key column "region" is not in the input; its columns are: "ts", "country""#);
        let s = Schema { time: Some(ColumnRef::Position(5)), ..Schema::default() };
        assert!(s.resolve(Some(&names(&["ts"])), 1).is_err());
    }

    #[test]
    fn headerless_files_use_declared_names_or_positions() {
        let s = Schema { header: Some(false), key: Some(vec![ColumnRef::Position(2)]), ..Schema::default() };
        let r = s.resolve(None, 3).unwrap();
        assert_eq!((r.columns.len(), r.key.clone()), (3, vec![1]));
        let by_name = Schema { key: Some(vec![ColumnRef::Name("b".into())]), ..s.clone() };
        assert!(by_name.resolve(None, 3).is_err(), "names need a header or a columns list");
        let declared = Schema { columns: Some(names(&["a", "b", "c"])), ..by_name };
        assert_eq!(declared.resolve(None, 3).unwrap().key, vec![1]);
    }

    #[test]
    fn every_format_name_reads_from_toml() {
        for name in TimeFormat::NAMES.split(", ") {
            let s = Schema::from_toml(&format!("time_format = {name:?}")).unwrap();
            assert_eq!(s.time_format.unwrap().name(), name);
        }
        let e = Schema::from_toml("time_format = \"iso\"").unwrap().time_format;
        assert_eq!(e, Some(TimeFormat::Rfc3339));
        assert!(Schema::from_toml("time_format = \"nope\"").unwrap_err().to_string().contains("known formats"));
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(Schema::from_toml("tiem = \"ts\"").unwrap_err().to_string().contains("unknown field"));
    }
}
