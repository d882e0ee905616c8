//! The schema flags shared by every command that reads a file of events (TSV, CSV, JSON lines).

use std::path::{Path, PathBuf};

use anyhow::Context;
use minutely_event::{ColumnRef, RecordFormat, ResolvedSchema, Schema, TimeFormat};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct SchemaArgs {
    /// A TOML schema. Default: `<input stem>.schema.toml` beside the input when it exists.
    #[arg(long, env = "MINUTELY_SCHEMA")]
    schema: Option<PathBuf>,

    /// How the file is written: tsv (default), csv (RFC 4180), json (one object per line;
    /// time, key and id given as JSON paths) or minutely (`produce --sink stdout`'s records).
    #[arg(long, value_name = "FORMAT")]
    input_format: Option<RecordFormat>,

    /// The file has no header row.
    #[arg(long)]
    no_header: bool,

    /// The time column: a name, or a 1-based position.
    #[arg(long, value_name = "COLUMN")]
    time_col: Option<ColumnRef>,

    /// auto, rfc3339, epoch_seconds, epoch_millis, yyyymmddhhmmss or yyyymmddhhmm.
    #[arg(long, value_name = "FORMAT")]
    time_format: Option<TimeFormat>,

    /// The key columns, comma separated (names or 1-based positions). Default: none, one count
    /// per minute.
    #[arg(long, value_name = "COLUMNS", value_delimiter = ',', num_args = 0..)]
    key_cols: Option<Vec<ColumnRef>>,

    /// The event id column. Default: a column named id, event_id or uuid, if any.
    #[arg(long, value_name = "COLUMN")]
    id_col: Option<ColumnRef>,
}

impl SchemaArgs {
    /// The schema file (given, or beside `input`), with the flags over it.
    pub fn load(&self, input: &Path) -> anyhow::Result<Schema> {
        let sidecar = (input.as_os_str() != "-").then(|| input.with_extension("schema.toml"));
        let path = self.schema.clone().or_else(|| sidecar.filter(|p| p.is_file()));
        let from_file = read_schema(path.as_deref())?;
        if let Some(p) = &path {
            eprintln!("minutely: schema {}", p.display());
        }
        let flags = Schema {
            format: self.input_format,
            missing: None,
            header: self.no_header.then_some(false),
            columns: None,
            time: self.time_col.clone(),
            time_format: self.time_format,
            key: self.key_cols.clone(),
            id: self.id_col.clone(),
        };
        Ok(from_file.overridden_by(flags))
    }
}

/// The schema in the TOML file at `path`; none: the default schema (every field unset).
pub fn read_schema(path: Option<&Path>) -> anyhow::Result<Schema> {
    let Some(p) = path else { return Ok(Schema::default()) };
    let text = std::fs::read_to_string(p).with_context(|| format!("cannot read schema {}", p.display()))?;
    Schema::from_toml(&text).with_context(|| format!("in schema {}", p.display()))
}

/// One stderr line on what the schema resolved to, so a wrong guess is visible at once.
pub fn describe_schema(schema: &ResolvedSchema, format: TimeFormat, detected: Option<u64>, source: &str) {
    let how = match (format, detected) {
        (_, Some(line)) => format!("{format}, detected on line {line}"),
        (TimeFormat::Auto, None) => {
            "auto: no row of the first block had a recognisable time, each value is detected on its own".into()
        }
        _ => format.to_string(),
    };
    eprintln!("minutely: {source}: {schema}; time format {how}");
}
