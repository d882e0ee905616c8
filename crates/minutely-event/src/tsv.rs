//! Reading recorded TSV files: blocks of whole lines, the header, line decoding and rejects.
//!
//! Bad input is data: a line that cannot be decoded becomes a [`Rejected`] with its line number,
//! reason and raw bytes, and reading goes on.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read};

use minutely_aggregate::EventTime;

use crate::event::Event;
use crate::schema::{ResolvedSchema, Schema, SchemaError};
use crate::timefmt::{TimeError, TimeFormat, TimeParser};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Default size of a block handed to a worker: big enough to amortise the hand-off, small enough
/// to keep two cores busy on a file of a few megabytes.
pub const DEFAULT_BLOCK_SIZE: usize = 1 << 20;

/// Reads an input in blocks that end at a line boundary (the last block may lack its newline).
/// Strips a UTF-8 byte order mark at the very start.
#[derive(Debug)]
pub struct BlockReader<R> {
    inner: R,
    block_size: usize,
    carry: Vec<u8>,
    eof: bool,
    started: bool,
}

impl BlockReader<&[u8]> {
    /// How many bytes of an input in memory are not in a block yet.
    pub fn unread(&self) -> usize {
        self.carry.len() + self.inner.len()
    }
}

impl<R: Read> BlockReader<R> {
    pub fn new(inner: R, block_size: usize) -> Self {
        BlockReader { inner, block_size: block_size.max(1), carry: Vec::new(), eof: false, started: false }
    }

    /// Fills `buf` (cleared first) with the next block. Returns `false` at the end of the input.
    pub fn next_block(&mut self, buf: &mut Vec<u8>) -> io::Result<bool> {
        buf.clear();
        buf.append(&mut self.carry);
        loop {
            if !self.eof {
                let want = self.block_size.saturating_sub(buf.len()).max(self.block_size / 4).max(1) as u64;
                buf.reserve(want as usize);
                let n = (&mut self.inner).take(want).read_to_end(buf)?;
                self.eof = n == 0;
            }
            if !self.started && (buf.len() >= BOM.len() || self.eof) {
                self.started = true;
                if buf.starts_with(BOM) {
                    buf.drain(..BOM.len());
                }
            }
            if self.eof {
                return Ok(!buf.is_empty());
            }
            if buf.len() >= self.block_size
                && let Some(last_nl) = memchr::memrchr(b'\n', buf)
            {
                self.carry.extend_from_slice(&buf[last_nl + 1..]);
                buf.truncate(last_nl + 1);
                return Ok(true);
            }
            // A line longer than a block: keep reading until it ends.
        }
    }
}

/// The lines of a block, without their `\n` or `\r\n`.
pub fn lines(block: &[u8]) -> Lines<'_> {
    Lines { rest: block }
}

#[derive(Debug)]
pub struct Lines<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let (line, rest) = match memchr::memchr(b'\n', self.rest) {
            Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
            None => (self.rest, &[][..]),
        };
        self.rest = rest;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }
}

/// Why a line was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectReason {
    ColumnCount {
        expected: usize,
        found: usize,
    },
    Time {
        column: String,
        value: String,
        error: TimeError,
    },
    InvalidUtf8 {
        byte: usize,
    },
    /// A record of another format (JSON, CSV) that could not be counted, and why.
    Field(String),
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::ColumnCount { expected, found } => write!(f, "expected {expected} columns, found {found}"),
            RejectReason::Time { column, value, error } => {
                write!(f, "unparsable time {value:?} in column {column:?}: {error}")
            }
            RejectReason::InvalidUtf8 { byte } => write!(f, "invalid UTF-8 at byte {}", byte + 1),
            RejectReason::Field(why) => f.write_str(why),
        }
    }
}

/// A line that was not accepted, with everything needed to find and fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// 1-based line number in the input, the header counted.
    pub line: u64,
    pub reason: RejectReason,
    /// The line as it was, without its line ending.
    pub raw: Vec<u8>,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// An input that cannot be processed at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    #[error("reading the input failed: {0}")]
    Io(#[from] io::Error),
    #[error(transparent)]
    Schema(#[from] SchemaError),
}

/// Splits and checks lines against a resolved schema.
#[derive(Clone, Debug)]
pub struct Decoder {
    pub schema: ResolvedSchema,
    /// The format every row is parsed with; `Auto` only when no row of the first block had a
    /// recognisable time, in which case each value is detected on its own.
    pub format: TimeFormat,
}

/// The fields of one line. Inline up to 16 columns: no allocation per line.
pub type Cells<'a> = smallvec::SmallVec<[&'a [u8]; 16]>;

/// The outcome of decoding one line.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// Empty or only whitespace: skipped, not an error.
    Blank,
    /// A row; its fields are in the [`Cells`] passed to [`Decoder::decode`].
    Row(EventTime),
}

impl Decoder {
    /// A time parser for this decoder's format; each thread keeps its own.
    pub fn time_parser(&self) -> TimeParser {
        TimeParser::new(self.format)
    }

    /// Splits `line` into `fields` and checks them (see [`Decoder::check`]).
    #[inline]
    pub fn decode<'a>(
        &self,
        parser: &mut TimeParser,
        line: &'a [u8],
        fields: &mut Cells<'a>,
    ) -> Result<Line, RejectReason> {
        fields.clear();
        let mut start = 0;
        for tab in memchr::memchr_iter(b'\t', line) {
            fields.push(&line[start..tab]);
            start = tab + 1;
        }
        fields.push(&line[start..]);
        self.check(parser, line, fields)
    }

    /// Checks the fields of a line against the schema and parses its time. `line` must be valid
    /// UTF-8 (checked by the caller a block at a time, much faster than line by line).
    #[inline]
    pub fn check(&self, parser: &mut TimeParser, line: &[u8], fields: &[&[u8]]) -> Result<Line, RejectReason> {
        if fields.len() == 1 && line.iter().all(u8::is_ascii_whitespace) {
            return Ok(Line::Blank);
        }
        let expected = self.schema.columns.len();
        if fields.len() != expected {
            return Err(RejectReason::ColumnCount { expected, found: fields.len() });
        }
        let value = fields[self.schema.time];
        match parser.parse(value) {
            Ok(t) => Ok(Line::Row(t)),
            Err(error) => Err(RejectReason::Time {
                column: self.schema.columns[self.schema.time].clone(),
                value: truncated(value),
                error,
            }),
        }
    }

    /// Builds the event of a decoded row: every column but the time and the id is a dimension.
    /// An empty id cell is no id, as in a record (`crate::decode`): events without an id are
    /// never taken for each other.
    pub fn event(&self, time: EventTime, fields: &[&[u8]]) -> Event {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let mut dims = BTreeMap::new();
        for (i, f) in fields.iter().enumerate() {
            if i != self.schema.time && Some(i) != self.schema.id {
                dims.insert(self.schema.columns[i].clone(), text(f));
            }
        }
        let id = self.schema.id.map(|i| fields[i]).filter(|f| !f.is_empty()).map(text);
        Event { time, id, dims }
    }
}

fn truncated(value: &[u8]) -> String {
    const MAX: usize = 64;
    let s = String::from_utf8_lossy(&value[..value.len().min(MAX)]).into_owned();
    if value.len() > MAX { s + "…" } else { s }
}

/// Checks UTF-8 one line at a time, but only when the block as a whole is not valid.
#[derive(Debug)]
pub struct Utf8Check(bool);

impl Utf8Check {
    #[inline]
    pub fn of_block(block: &[u8]) -> Utf8Check {
        Utf8Check(std::str::from_utf8(block).is_ok())
    }

    #[inline]
    pub fn line(&self, line: &[u8]) -> Result<(), RejectReason> {
        if self.0 {
            return Ok(());
        }
        std::str::from_utf8(line).map(|_| ()).map_err(|e| RejectReason::InvalidUtf8 { byte: e.valid_up_to() })
    }
}

/// An input opened against a schema: header read, schema resolved, time format settled.
#[derive(Debug)]
pub struct Opened<R> {
    pub blocks: BlockReader<R>,
    pub decoder: Decoder,
    /// The first block, header removed (empty when the input is empty).
    pub first_block: Vec<u8>,
    /// The line number of the first line of `first_block`.
    pub first_line: u64,
    /// Where the time format came from: `Some(line)` when detected from that line.
    pub detected_on_line: Option<u64>,
}

/// How many leading lines the time format detection looks at.
const DETECTION_LINES: usize = 1000;

/// Opens an input: reads the first block, takes the header off it, resolves `schema` and, for
/// `time_format = auto`, detects the format from the first data row that has a recognisable time.
pub fn open<R: Read>(input: R, schema: &Schema, block_size: usize) -> Result<Opened<R>, InputError> {
    let mut blocks = BlockReader::new(input, block_size);
    let mut first_block = Vec::new();
    blocks.next_block(&mut first_block)?;
    let mut first_line = 1;
    let header = if schema.has_header() && !first_block.is_empty() {
        let end = memchr::memchr(b'\n', &first_block).map_or(first_block.len(), |i| i + 1);
        let row = lines(&first_block[..end]).next().unwrap_or_default();
        let names = String::from_utf8_lossy(row).split('\t').map(|n| n.trim().to_owned()).collect::<Vec<_>>();
        first_block.drain(..end);
        first_line = 2;
        Some(names)
    } else {
        None
    };
    let first_row_columns = lines(&first_block)
        .find(|l| !l.iter().all(u8::is_ascii_whitespace))
        .map_or(1, |l| memchr::memchr_iter(b'\t', l).count() + 1);
    let resolved = schema.resolve(header.as_deref(), first_row_columns)?;
    let mut decoder = Decoder { format: resolved.time_format, schema: resolved };
    let mut detected_on_line = None;
    if decoder.format == TimeFormat::Auto {
        let mut fields = Cells::new();
        let mut parser = decoder.time_parser();
        for (i, line) in lines(&first_block).enumerate().take(DETECTION_LINES) {
            if decoder.decode(&mut parser, line, &mut fields).is_ok_and(|l| l != Line::Blank)
                && let Some(f) = TimeFormat::detect(fields[decoder.schema.time])
            {
                decoder.format = f;
                detected_on_line = Some(first_line + i as u64);
                break;
            }
        }
    }
    Ok(Opened { blocks, decoder, first_block, first_line, detected_on_line })
}

/// Reads events one by one, in input order: for replay and for order-sensitive aggregation.
#[derive(Debug)]
pub struct TsvReader<R> {
    opened: Opened<R>,
    block: Vec<u8>,
    pos: usize,
    next_line: u64,
    utf8: Utf8Check,
    parser: TimeParser,
    done: bool,
    /// Blank lines skipped so far.
    pub blank_lines: u64,
}

impl<R: Read> TsvReader<R> {
    pub fn open(input: R, schema: &Schema) -> Result<TsvReader<R>, InputError> {
        let mut opened = open(input, schema, DEFAULT_BLOCK_SIZE)?;
        let block = std::mem::take(&mut opened.first_block);
        Ok(TsvReader {
            utf8: Utf8Check::of_block(&block),
            parser: opened.decoder.time_parser(),
            next_line: opened.first_line,
            opened,
            block,
            pos: 0,
            done: false,
            blank_lines: 0,
        })
    }

    pub fn decoder(&self) -> &Decoder {
        &self.opened.decoder
    }

    pub fn detected_on_line(&self) -> Option<u64> {
        self.opened.detected_on_line
    }
}

/// What reading one more line gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Row(Row),
    Rejected(Rejected),
}

/// One accepted row: its line number and its event (its key: [`Event::key`] with
/// [`ResolvedSchema::key_names`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub line: u64,
    pub event: Event,
}

impl<R: Read> Iterator for TsvReader<R> {
    type Item = io::Result<Item>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.pos >= self.block.len() {
                if self.done {
                    return None;
                }
                match self.opened.blocks.next_block(&mut self.block) {
                    Ok(true) => {
                        self.pos = 0;
                        self.utf8 = Utf8Check::of_block(&self.block);
                    }
                    Ok(false) => {
                        self.done = true;
                        return None;
                    }
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
            }
            let line = lines(&self.block[self.pos..]).next().unwrap_or_default();
            let consumed =
                memchr::memchr(b'\n', &self.block[self.pos..]).map_or(self.block.len() - self.pos, |i| i + 1);
            let start = self.pos;
            self.pos += consumed;
            let number = self.next_line;
            self.next_line += 1;
            let mut fields = Cells::new();
            let decoded =
                self.utf8.line(line).and_then(|()| self.opened.decoder.decode(&mut self.parser, line, &mut fields));
            match decoded {
                Ok(Line::Blank) => self.blank_lines += 1,
                Ok(Line::Row(time)) => {
                    let event = self.opened.decoder.event(time, &fields);
                    return Some(Ok(Item::Row(Row { line: number, event })));
                }
                Err(reason) => {
                    let raw = self.block[start..start + line.len()].to_vec();
                    return Some(Ok(Item::Rejected(Rejected { line: number, reason, raw })));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_end_at_line_boundaries_and_lose_nothing() {
        let text: Vec<u8> = (0..1000).flat_map(|i| format!("line {i}\tx\r\n").into_bytes()).collect();
        let mut input = BOM.to_vec();
        input.extend_from_slice(&text);
        input.extend_from_slice(b"tail without newline");
        for size in [1, 7, 64, 1 << 20] {
            let mut r = BlockReader::new(&input[..], size);
            let mut all = Vec::new();
            let mut buf = Vec::new();
            while r.next_block(&mut buf).unwrap() {
                assert!(buf.ends_with(b"\n") || buf.ends_with(b"tail without newline"), "size {size}");
                all.extend_from_slice(&buf);
            }
            assert_eq!(&all[..text.len()], &text[..], "size {size}");
            assert_eq!(lines(&all).count(), 1001);
            assert_eq!(lines(&all).next(), Some(&b"line 0\tx"[..]));
        }
    }

    #[test]
    fn reader_reports_rejects_with_line_numbers_and_goes_on() {
        let input = "ts\tcountry\n\
                     2016-08-21T17:00:01Z\tusa\n\
                     \n\
                     2016-08-21T17:00:02Z\n\
                     2016-13-21T17:00:03Z\tde\n\
                     2016-08-21T17:01:00Z\tde\n";
        let schema = Schema { key: Some(vec!["country".parse().unwrap()]), ..Schema::default() };
        let mut r = TsvReader::open(input.as_bytes(), &schema).unwrap();
        assert_eq!(r.decoder().format, TimeFormat::Rfc3339);
        assert_eq!(r.detected_on_line(), Some(2));
        let items: Vec<_> = r.by_ref().map(Result::unwrap).collect();
        let ok: Vec<_> = items
            .iter()
            .filter_map(|i| match i {
                Item::Row(r) => Some((r.line, r.event.key(&["country"]))),
                _ => None,
            })
            .collect();
        assert_eq!(ok, vec![(2, vec!["usa".to_string()]), (6, vec!["de".to_string()])]);
        let bad: Vec<_> = items
            .iter()
            .filter_map(|i| match i {
                Item::Rejected(e) => Some(e.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(
            bad,
            vec![
                "line 4: expected 2 columns, found 1".to_string(),
                "line 5: unparsable time \"2016-13-21T17:00:03Z\" in column \"ts\": date or time field out of range (expected rfc3339)".to_string(),
            ]
        );
        assert_eq!(r.blank_lines, 1);
    }

    #[test]
    fn invalid_utf8_is_rejected_by_line() {
        let input = b"ts\tk\n201608211700\tok\n201608211700\t\xff\n";
        let schema = Schema { key: Some(vec!["k".parse().unwrap()]), ..Schema::default() };
        let items: Vec<_> = TsvReader::open(&input[..], &schema).unwrap().map(Result::unwrap).collect();
        assert!(matches!(items[0], Item::Row(_)));
        let Item::Rejected(e) = &items[1] else { panic!("{:?}", items[1]) };
        assert_eq!((e.line, e.reason.clone()), (3, RejectReason::InvalidUtf8 { byte: 13 }));
        assert_eq!(e.raw, b"201608211700\t\xff");
    }
}
