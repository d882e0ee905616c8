//! CSV and TSV records: a row per event (CSV's quoted fields may hold line breaks), columns
//! named by the schema's `columns` or by 1-based position (records have no header). Rows are
//! split by the `csv` crate both ways; a TSV value cannot hold a tab or a line break.

use std::borrow::Cow;

use smallvec::SmallVec;

use crate::event::Event;
use crate::fields::{FieldError, Fields, OnEvent, Roles, trim_newline};
use crate::schema::{ColumnRef, RecordFormat, Schema, SchemaError, column_position};

/// Reads CSV or TSV records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decoder {
    format: RecordFormat,
    delimiter: u8,
    quoting: bool,
    /// The declared columns' count: every row must have it.
    columns: Option<usize>,
    time: usize,
    id: Option<usize>,
    key: Vec<usize>,
}

/// The time's and the id's names as the schema gives them (for errors).
pub(crate) type Names = (String, Option<String>);

impl Decoder {
    /// The columns of the time (default: the first), the id and the key.
    pub fn new(schema: &Schema, format: RecordFormat, key: &[ColumnRef]) -> Result<(Decoder, Names), SchemaError> {
        let columns = schema.columns.as_deref();
        let time_ref = schema.time.clone().unwrap_or(ColumnRef::Position(1));
        let time = column_position(&time_ref, "time", columns)?;
        let id = schema.id.as_ref().map(|r| column_position(r, "id", columns)).transpose()?;
        let key = key.iter().map(|r| column_position(r, "key", columns)).collect::<Result<Vec<_>, _>>()?;
        let name = |i: usize, r: &ColumnRef| columns.map_or_else(|| r.to_string(), |c| format!("{:?}", c[i]));
        let names = (name(time, &time_ref), schema.id.as_ref().zip(id).map(|(r, i)| name(i, r)));
        let decoder = Decoder {
            format,
            delimiter: delimiter(format),
            quoting: format == RecordFormat::Csv,
            columns: columns.map(<[String]>::len),
            time,
            id,
            key,
        };
        Ok((decoder, names))
    }

    /// Every row of `record`, as [`crate::RecordDecoder::each`] says.
    pub fn each(&self, roles: &Roles, record: &[u8], each: &mut OnEvent<'_>) {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(self.delimiter)
            .quoting(self.quoting)
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
                Ok(true) => each(line, raw, self.row(roles, &row)),
                Err(e) => {
                    each(line, raw, Err(FieldError::Delimited { format: self.format, message: e.to_string() }));
                    if end <= start {
                        return;
                    }
                }
            }
        }
    }

    /// The event of one row already split into fields.
    pub fn row<'r>(&self, roles: &Roles, row: &'r csv::ByteRecord) -> Result<Fields<'r>, FieldError> {
        // Text, every field of it, as a file's line must be (`crate::tsv`): a row is not
        // counted from its good fields while others are bytes of no known encoding.
        let mut text: SmallVec<[&'r str; 16]> = SmallVec::with_capacity(row.len());
        for (i, f) in row.iter().enumerate() {
            let Ok(s) = std::str::from_utf8(f) else {
                let message = format!("field {} is not UTF-8", i + 1);
                return Err(FieldError::Delimited { format: self.format, message });
            };
            text.push(s);
        }
        let (time, id, key) = (self.time, self.id, &self.key);
        let needed = key.iter().chain(id.as_ref()).fold(time, |m, &i| m.max(i)) + 1;
        let expected = self.columns.unwrap_or(needed);
        if row.len() < expected || (self.columns.is_some() && row.len() != expected) {
            return Err(FieldError::Columns { found: row.len(), expected });
        }
        let time = roles.parse_time(&row[time])?;
        let id = id.map(|i| text[i]).filter(|s| !s.is_empty()).map(Cow::Borrowed);
        let key = key.iter().map(|&i| Cow::Borrowed(text[i])).collect();
        Ok(Fields { time, id, key })
    }
}

/// Writes CSV or TSV records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Encoder {
    delimiter: u8,
    columns: Vec<Column>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Column {
    Time,
    Id,
    Dim(String),
}

impl Encoder {
    /// Rows in the order of the schema's `columns` (required), with the time column (required).
    pub fn new(schema: &Schema, format: RecordFormat) -> Result<Encoder, SchemaError> {
        let names = schema.columns.as_ref().ok_or_else(|| {
            SchemaError::Invalid(format!("{format} records are written in the order of `columns`; name them"))
        })?;
        let position =
            |r: &Option<ColumnRef>, role| r.as_ref().map(|r| column_position(r, role, Some(names))).transpose();
        let time = position(&schema.time, "time")?.ok_or_else(|| {
            SchemaError::Invalid(format!("{format} records need the time column (time = \"ts\", or --time)"))
        })?;
        let id = position(&schema.id, "id")?;
        let columns = (0..names.len())
            .map(|i| match i {
                _ if i == time => Column::Time,
                _ if Some(i) == id => Column::Id,
                _ => Column::Dim(names[i].clone()),
            })
            .collect();
        Ok(Encoder { delimiter: delimiter(format), columns })
    }

    /// Appends `event` as one row (no line break), its time written as `time`. `Err`: a TSV
    /// value with a tab or a line break.
    pub fn encode(&self, event: &Event, time: &str, out: &mut Vec<u8>) -> Result<(), String> {
        let fields: Vec<&str> = self
            .columns
            .iter()
            .map(|c| match c {
                Column::Time => time,
                Column::Id => event.id.as_deref().unwrap_or_default(),
                Column::Dim(d) => event.dims.get(d).map_or("", String::as_str),
            })
            .collect();
        if self.delimiter == b'\t' {
            if let Some(bad) = fields.iter().find(|f| f.contains(['\t', '\n', '\r'])) {
                return Err(format!("the value {bad:?} holds a tab or a line break, which TSV cannot"));
            }
            out.extend_from_slice(fields.join("\t").as_bytes());
            return Ok(());
        }
        let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(&mut *out);
        w.write_record(&fields).map_err(|e| e.to_string())?;
        w.flush().map_err(|e| e.to_string())?;
        drop(w);
        out.pop(); // the terminator: a record has no line break of its own
        Ok(())
    }
}

fn delimiter(format: RecordFormat) -> u8 {
    if format == RecordFormat::Csv { b',' } else { b'\t' }
}
