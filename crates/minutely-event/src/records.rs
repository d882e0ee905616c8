//! Counting a file of records per (minute, key) with the record schema `minutely consume` uses:
//! JSON lines (and minutely's own records) read in blocks of whole lines, CSV read as a stream
//! by the `csv` crate (a quoted field may hold line breaks anywhere). TSV files have their own,
//! faster reader ([`crate::batch`]).
//!
//! A CSV file's first row names the columns unless the schema says `header = false`; the time
//! column is then found by name as for TSV when the schema does not name it. Bad records are
//! data: each is a [`Rejected`] with its line (the row's first line), its reason and its bytes
//! (for CSV, the row's fields joined by commas as parsed).

use std::collections::HashMap;
use std::io::Read;

use minutely_aggregate::Minute;

use crate::batch::{KeyCount, LineStats};
use crate::decode::RecordDecoder;
use crate::decode::{FieldError, Fields};
use crate::keys::KeyTable;
use crate::schema::{ColumnRef, RecordFormat, Schema, SchemaError};
use crate::tsv::{RejectReason, Rejected};

const BLOCK: usize = 1 << 20;

/// What a file of records held.
#[derive(Debug)]
pub struct RecordsReport {
    /// The key's field names, in order.
    pub key_names: Vec<String>,
    /// The columns, when a CSV header named them.
    pub columns: Option<Vec<String>>,
    /// Sorted by minute, then key.
    pub counts: Vec<KeyCount>,
    /// Sorted by line.
    pub rejects: Vec<Rejected>,
    pub stats: LineStats,
}

/// Why a file of records could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error("the header row: {0}")]
    Header(String),
}

/// Counts every record of `input` (JSON lines, minutely records or CSV, as `schema.format` says).
pub fn count<R: Read>(input: R, schema: &Schema) -> Result<RecordsReport, RecordsError> {
    match schema.format.unwrap_or(RecordFormat::Minutely) {
        RecordFormat::Csv | RecordFormat::Tsv => count_delimited(input, schema),
        RecordFormat::Json | RecordFormat::Minutely => count_lines(input, schema),
    }
}

/// The counts being made: minutes and interned keys.
struct Counter {
    keys: KeyTable,
    counts: HashMap<(Minute, u32), u64, foldhash::fast::FixedState>,
    rejects: Vec<Rejected>,
    stats: LineStats,
}

impl Counter {
    fn new(decoder: &RecordDecoder) -> Counter {
        Counter {
            keys: KeyTable::new(decoder.key_names()),
            counts: HashMap::default(),
            rejects: Vec::new(),
            stats: LineStats::default(),
        }
    }

    /// Counts an event, or keeps its reject with its line and bytes (`raw`, asked only then).
    fn take(&mut self, line: u64, raw: impl FnOnce() -> Vec<u8>, fields: Result<Fields<'_>, FieldError>) {
        match fields {
            Ok(f) => {
                self.stats.accepted += 1;
                let key = self.keys.intern(&f.key);
                *self.counts.entry((f.time.minute(), key)).or_default() += 1;
            }
            Err(e) => {
                self.stats.rejected += 1;
                self.rejects.push(Rejected { line, reason: RejectReason::Field(e.to_string()), raw: raw() });
            }
        }
    }

    fn report(self, decoder: &RecordDecoder, columns: Option<Vec<String>>) -> RecordsReport {
        let mut counts: Vec<KeyCount> = self
            .counts
            .into_iter()
            .map(|((minute, key), count)| KeyCount { minute, key: self.keys.values(key).to_vec(), count })
            .collect();
        counts.sort_unstable_by(|a, b| (a.minute, &a.key).cmp(&(b.minute, &b.key)));
        let mut rejects = self.rejects;
        rejects.sort_by_key(|r| r.line);
        RecordsReport { key_names: decoder.key_names().to_vec(), columns, counts, rejects, stats: self.stats }
    }
}

fn count_lines<R: Read>(mut input: R, schema: &Schema) -> Result<RecordsReport, RecordsError> {
    let decoder = RecordDecoder::new(schema)?;
    let mut c = Counter::new(&decoder);
    let mut buf: Vec<u8> = Vec::with_capacity(2 * BLOCK);
    let mut first_line = 1u64;
    let mut ended = false;
    while !ended {
        let filled = buf.len();
        buf.resize(filled + BLOCK, 0);
        let n = loop {
            match input.read(&mut buf[filled..]) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => break r?,
            }
        };
        buf.truncate(filled + n);
        ended = n == 0;
        // Whole lines only, unless the input ended (a last line without a line break).
        let cut = if ended { buf.len() } else { memchr::memrchr(b'\n', &buf).map_or(0, |i| i + 1) };
        if cut == 0 {
            continue;
        }
        decoder.each(&buf[..cut], &mut |line, raw, fields| c.take(first_line + line - 1, || raw.to_vec(), fields));
        let lines = memchr::memchr_iter(b'\n', &buf[..cut]).count() as u64;
        c.stats.lines += lines + u64::from(ended && !buf[..cut].ends_with(b"\n"));
        first_line += lines;
        buf.drain(..cut);
    }
    c.stats.blank = c.stats.lines - c.stats.accepted - c.stats.rejected;
    Ok(c.report(&decoder, None))
}

fn count_delimited<R: Read>(input: R, schema: &Schema) -> Result<RecordsReport, RecordsError> {
    let delimiter = if schema.format == Some(RecordFormat::Tsv) { b'\t' } else { b',' };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .quoting(delimiter == b',')
        .from_reader(Lines::new(input));
    let mut schema = schema.clone();
    let mut header_rows = 0;
    if schema.has_header() {
        let mut row = csv::StringRecord::new();
        if reader.read_record(&mut row).map_err(|e| RecordsError::Header(e.to_string()))? {
            let names: Vec<String> = row.iter().map(|f| f.trim_start_matches('\u{feff}').to_owned()).collect();
            // The header's names, checked and defaulted as for TSV (time and id found by name).
            let resolved = schema.resolve(Some(&names), names.len())?;
            schema.time = Some(ColumnRef::Name(names[resolved.time].clone()));
            schema.id = resolved.id.map(|i| ColumnRef::Name(names[i].clone()));
            schema.columns = Some(names);
            header_rows = 1;
        }
    }
    let columns = schema.columns.clone();
    let decoder = RecordDecoder::new(&schema)?;
    let mut c = Counter::new(&decoder);
    c.stats.header = header_rows;
    // Lines spanned by the header and by every row: the rest are blank lines (csv skips them).
    let mut spanned = header_rows;
    let mut row = csv::ByteRecord::new();
    loop {
        let before = reader.position().byte();
        let read = reader.read_byte_record(&mut row);
        let start = row.position().map_or(before, csv::Position::byte);
        let line = reader.get_mut().line_of(start);
        match read {
            Ok(false) => break,
            Ok(true) => {
                spanned += 1 + row.iter().map(|f| memchr::memchr_iter(b'\n', f).count() as u64).sum::<u64>();
                let raw = || row.iter().collect::<Vec<_>>().join(&delimiter);
                c.take(line, raw, decoder.row(&row));
            }
            Err(e) => {
                spanned += 1;
                let reason = RejectReason::Field(format!("not {}: {e}", decoder.format()));
                c.stats.rejected += 1;
                c.rejects.push(Rejected { line, reason, raw: Vec::new() });
            }
        }
    }
    c.stats.lines = reader.get_ref().lines();
    c.stats.blank = c.stats.lines.saturating_sub(spanned);
    Ok(c.report(&decoder, columns))
}

/// A reader that remembers where its line breaks are, so that a CSV row's byte offset gives its
/// line (the `csv` crate's own line count skips blank lines). Offsets are asked for in order,
/// so only the line breaks not yet passed are kept.
struct Lines<R> {
    inner: R,
    read: u64,
    /// The offsets of the line breaks not yet passed, and whether a `\r` comes before each.
    breaks: std::collections::VecDeque<(u64, bool)>,
    passed: u64,
    last: Option<u8>,
}

impl<R: Read> Lines<R> {
    fn new(inner: R) -> Lines<R> {
        Lines { inner, read: 0, breaks: Default::default(), passed: 0, last: None }
    }

    /// The 1-based line of a row said to start at `offset` (offsets asked for in order). The
    /// `csv` crate starts a row right after the previous one, so the blank lines (`\n`, `\r\n`)
    /// in between are stepped over: no row starts with a line break.
    fn line_of(&mut self, mut offset: u64) -> u64 {
        loop {
            while self.breaks.front().is_some_and(|&(b, _)| b < offset) {
                self.breaks.pop_front();
                self.passed += 1;
            }
            match self.breaks.front() {
                Some(&(b, crlf)) if b == offset || (crlf && b == offset + 1) => offset = b + 1,
                _ => return self.passed + 1,
            }
        }
    }

    /// Every line read: the line breaks, and a last line without one.
    fn lines(&self) -> u64 {
        self.passed + self.breaks.len() as u64 + u64::from(self.last.is_some_and(|b| b != b'\n'))
    }
}

impl<R: Read> Read for Lines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let last = self.last;
        self.breaks.extend(memchr::memchr_iter(b'\n', &buf[..n]).map(|i| {
            let crlf = if i == 0 { last == Some(b'\r') } else { buf[i - 1] == b'\r' };
            (self.read + i as u64, crlf)
        }));
        self.read += n as u64;
        if n > 0 {
            self.last = Some(buf[n - 1]);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(toml: &str) -> Schema {
        Schema::from_toml(toml).unwrap()
    }

    fn counts(r: &RecordsReport) -> Vec<String> {
        r.counts.iter().map(|c| format!("{} {} {}", c.minute, c.key.join("|"), c.count)).collect()
    }

    #[test]
    fn json_lines_across_blocks_with_rejects_at_their_lines() {
        let mut text = String::new();
        for i in 0..100_000u64 {
            let country = ["usa", "deu", "fra"][(i % 3) as usize];
            text.push_str(&format!(
                "{{\"ts\":{},\"geo\":{{\"country\":\"{country}\"}}}}\n",
                1_471_798_800_000 + i * 10
            ));
        }
        text.push_str("\n{\"ts\":\"soon\"}\n{\"ts\":1471798800000,\"geo\":{\"country\":\"usa\"}}");
        let r = count(text.as_bytes(), &schema("format = \"json\"\ntime = \"/ts\"\nkey = [\"/geo/country\"]")).unwrap();
        assert_eq!(r.stats, LineStats { lines: 100_003, header: 0, blank: 1, accepted: 100_001, rejected: 1 });
        assert_eq!(r.rejects.len(), 1);
        assert_eq!(r.rejects[0].line, 100_002);
        assert_eq!(r.rejects[0].raw, br#"{"ts":"soon"}"#);
        let total: u64 = r.counts.iter().map(|c| c.count).sum();
        assert_eq!(total, 100_001);
        assert_eq!(counts(&r)[0], "201608211700 deu 2000");
        assert_eq!(r.key_names, ["/geo/country"]);
    }

    #[test]
    fn csv_files_with_a_header_and_quoted_line_breaks() {
        let text = "\u{feff}id,timestamp,note,country\n1,2016-08-21T17:00:01Z,\"a\nb\",usa\n2,2016-08-21T17:00:02Z,,\"u,s\"\n\n3,soon,,usa\n4,2016-08-21T17:01:00Z,,usa\n";
        let r = count(text.as_bytes(), &schema("format = \"csv\"\nkey = [\"country\"]")).unwrap();
        assert_eq!(counts(&r), ["201608211700 u,s 1", "201608211700 usa 1", "201608211701 usa 1"]);
        assert_eq!(r.rejects.len(), 1);
        assert_eq!((r.rejects[0].line, r.rejects[0].raw.as_slice()), (6, &b"3,soon,,usa"[..]));
        assert!(
            r.rejects[0].reason.to_string().contains("the time field \"timestamp\" (\"soon\")"),
            "{}",
            r.rejects[0].reason
        );
        assert_eq!((r.stats.header, r.stats.accepted, r.stats.rejected, r.stats.blank), (1, 3, 1, 1));
        assert_eq!(r.columns.as_deref().unwrap()[0], "id", "the byte order mark is not part of the name");
    }

    #[test]
    fn line_numbers_hold_with_crlf_blank_lines_and_one_character_rows() {
        let text = "ts,k\r\n2016-08-21T17:00:01Z,a\r\n\r\nbad,b\r\n1,c\nx\n";
        let r = count(text.as_bytes(), &schema("format = \"csv\"\ntime = \"ts\"\nkey = [\"k\"]")).unwrap();
        let lines: Vec<u64> = r.rejects.iter().map(|r| r.line).collect();
        assert_eq!(lines, [4, 5, 6], "{:?}", r.rejects);
        assert_eq!((r.stats.lines, r.stats.blank, r.stats.accepted), (6, 1, 1));
    }

    #[test]
    fn a_header_that_differs_from_the_declared_columns_is_refused() {
        let e =
            count(&b"a,b\n1,2\n"[..], &schema("format = \"csv\"\ncolumns = [\"a\", \"c\"]\ntime = \"a\"")).unwrap_err();
        assert!(e.to_string().contains("differs from the schema's columns"), "{e}");
    }
}
