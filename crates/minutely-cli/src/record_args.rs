//! The record schema flags: how the events in a stream's records are read (`consume`, `check`).

use std::path::PathBuf;

use anyhow::Context;
use minutely_event::{ColumnRef, Missing, RecordDecoder, RecordFormat, Schema, TimeFormat};

/// The record schema: the `--schema` file with the flags over it.
#[derive(Debug, Clone, clap::Args)]
pub struct RecordArgs {
    /// The fields to count by (`check`: the key compared), comma separated: dimensions of minutely records, JSON paths
    /// (`/geo/country` or `geo.country`), CSV/TSV column names or 1-based positions. Default:
    /// none, one count per minute.
    #[arg(long, value_name = "FIELDS", value_delimiter = ',', num_args = 0..)]
    pub key: Option<Vec<ColumnRef>>,

    /// A TOML record schema (format, time, time_format, key, id, columns, missing; see
    /// docs/formats.md). The flags below override its fields.
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,

    /// How each record is written: minutely (default), json, csv or tsv. Any of them may come
    /// KPL-aggregated, gzip-compressed or several per record, one per line: each record is
    /// looked at on its own.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<RecordFormat>,

    /// The time field (json: a path; csv/tsv: a column name or 1-based position).
    #[arg(long, value_name = "FIELD")]
    pub time: Option<ColumnRef>,

    /// auto (default), rfc3339, epoch_seconds, epoch_millis, epoch_micros, epoch_nanos,
    /// yyyymmddhhmmss or yyyymmddhhmm.
    #[arg(long, value_name = "FORMAT")]
    pub time_format: Option<TimeFormat>,

    /// The event id field: events with the same id are counted once. Without one (or with
    /// `--id ""`), nothing is deduplicated (minutely records always have one).
    #[arg(long, value_name = "FIELD")]
    pub id: Option<ColumnRef>,

    /// A record without one of its key fields (absent or null): `reject` it (default), or count
    /// it with the `empty` string as that value.
    #[arg(long, value_name = "reject|empty", value_parser = crate::flags::missing)]
    pub missing: Option<Missing>,
}

impl RecordArgs {
    /// The names `--key` gives (a position as its number), blanks left out.
    pub fn key_names(&self) -> Option<Vec<String>> {
        let names = self.key.as_ref()?.iter().filter_map(|c| match c {
            ColumnRef::Name(n) if n.trim().is_empty() => None,
            ColumnRef::Name(n) => Some(n.clone()),
            ColumnRef::Position(p) => Some(p.to_string()),
        });
        Some(names.collect())
    }

    /// The decoder of the records. `default_key`: the key when neither the flags nor the file
    /// name one (`check`: the expected events' key names, for minutely's own records).
    pub fn decoder(&self, default_key: Option<&[String]>) -> anyhow::Result<RecordDecoder> {
        let from_file = crate::schema_args::read_schema(self.schema.as_deref())?;
        let key = self
            .key
            .as_ref()
            .map(|k| k.iter().filter(|c| !matches!(c, ColumnRef::Name(n) if n.trim().is_empty())).cloned().collect());
        let flags = Schema {
            format: self.format,
            time: self.time.clone(),
            time_format: self.time_format,
            key,
            id: self.id.clone(),
            missing: self.missing,
            ..Schema::default()
        };
        let mut schema = from_file.overridden_by(flags);
        if schema.key.is_none() && schema.format.unwrap_or(RecordFormat::Minutely) == RecordFormat::Minutely {
            schema.key = default_key.map(|k| k.iter().map(|n| ColumnRef::Name(n.clone())).collect());
        }
        // `--id ""`: no id, whatever the file says.
        if matches!(&schema.id, Some(ColumnRef::Name(n)) if n.is_empty()) {
            schema.id = None;
        }
        let source = self.schema.as_ref().map_or_else(|| "the flags".to_owned(), |p| format!("schema {}", p.display()));
        RecordDecoder::new(&schema).with_context(|| format!("records as {source} describe them"))
    }
}
