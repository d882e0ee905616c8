//! Counting a whole TSV input per (minute, key) on several cores.
//!
//! The calling thread reads blocks of whole lines; workers decode them and count into their own
//! tables (short keys packed into an integer, long ones interned; counts in a hash map of
//! `(minute, key code)`); the tables are merged at the end. Counting is commutative, so the result does not depend on which
//! worker took which block; line numbers of rejects are fixed up from each block's line count.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Mutex, mpsc};

use minutely_aggregate::Minute;

use crate::schema::{ResolvedSchema, Schema};
use crate::timefmt::{TimeFormat, TimeParser};
use crate::tsv::{self, Decoder, InputError, Line, RejectReason, Rejected, Utf8Check};

type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

#[derive(Clone, Copy, Debug)]
pub struct BatchOptions {
    /// Worker threads decoding blocks (at least 1).
    pub threads: usize,
    pub block_size: usize,
}

impl Default for BatchOptions {
    fn default() -> Self {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        BatchOptions { threads, block_size: tsv::DEFAULT_BLOCK_SIZE }
    }
}

/// The count of one (minute, key).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyCount {
    pub minute: Minute,
    pub key: Vec<String>,
    pub count: u64,
}

/// What happened to each line of the input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LineStats {
    /// Every line, the header and blank lines included.
    pub lines: u64,
    pub header: u64,
    pub blank: u64,
    pub accepted: u64,
    pub rejected: u64,
}

#[derive(Debug)]
pub struct BatchReport {
    pub schema: ResolvedSchema,
    pub time_format: TimeFormat,
    /// The line the time format was detected on, when it was detected.
    pub detected_on_line: Option<u64>,
    /// Sorted by minute, then key.
    pub counts: Vec<KeyCount>,
    /// Sorted by line.
    pub rejects: Vec<Rejected>,
    pub stats: LineStats,
}

/// Counts every accepted line of `input` per (minute, key).
pub fn count<R: Read>(input: R, schema: &Schema, options: BatchOptions) -> Result<BatchReport, InputError> {
    let tsv::Opened { mut blocks, decoder, first_block, first_line, detected_on_line } =
        tsv::open(input, schema, options.block_size)?;
    let workers = count_blocks(&decoder, &[], options.threads, |send, spare| {
        let mut block = first_block;
        loop {
            // The first block may be empty once its header is off; later ones never are.
            if !block.is_empty() {
                if !send(Piece::Read(block)) {
                    return Ok(()); // a worker died; the join raises its panic
                }
                block = spare.try_recv().unwrap_or_default();
            }
            if !blocks.next_block(&mut block)? {
                return Ok(());
            }
        }
    })?;
    Ok(merge(&decoder, detected_on_line, first_line, workers))
}

/// [`count`] of an input already in memory (a memory-mapped file): the workers read their
/// blocks where they are, without a copy into buffers. The same counts, rejects and line
/// numbers.
pub fn count_in_place(data: &[u8], schema: &Schema, options: BatchOptions) -> Result<BatchReport, InputError> {
    let opened = tsv::open(data, schema, options.block_size)?;
    let start = data.len() - opened.blocks.unread();
    let tsv::Opened { decoder, first_block, first_line, detected_on_line, .. } = opened;
    let workers = count_blocks(&decoder, data, options.threads, |send, _| {
        if !first_block.is_empty() && !send(Piece::Read(first_block)) {
            return Ok(());
        }
        let mut at = start;
        while at < data.len() {
            // A block ends after a newline (a line longer than a block makes it longer).
            let want = (at + options.block_size.max(1)).min(data.len());
            let end = memchr::memchr(b'\n', &data[want..]).map_or(data.len(), |i| want + i + 1);
            if !send(Piece::InPlace(at..end)) {
                return Ok(());
            }
            at = end;
        }
        Ok(())
    })?;
    Ok(merge(&decoder, detected_on_line, first_line, workers))
}

/// A block to count: read into a buffer, or a range of the input in memory.
enum Piece {
    Read(Vec<u8>),
    InPlace(std::ops::Range<usize>),
}

/// Counts the blocks `feed` sends (numbered in the order sent) on `threads` threads; `data`:
/// the input that [`Piece::InPlace`] ranges are of. `feed` gets the buffers of counted blocks
/// back to read into.
fn count_blocks<'d>(
    decoder: &'d Decoder,
    data: &[u8],
    threads: usize,
    feed: impl FnOnce(&mut dyn FnMut(Piece) -> bool, &mpsc::Receiver<Vec<u8>>) -> Result<(), InputError>,
) -> Result<Vec<BlockCounter<'d>>, InputError> {
    let threads = threads.max(1);
    let (work_tx, work_rx) = mpsc::sync_channel::<(usize, Piece)>(threads);
    let work_rx = Mutex::new(work_rx);
    let (spare_tx, spare_rx) = mpsc::channel::<Vec<u8>>();
    let (workers, read_result) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (work_rx, spare_tx) = (&work_rx, spare_tx.clone());
                s.spawn(move || {
                    let mut w = BlockCounter::new(decoder);
                    loop {
                        let next = work_rx.lock().expect("a worker panicked").recv();
                        match next {
                            Err(_) => break,
                            Ok((seq, Piece::Read(block))) => {
                                w.block(seq, &block);
                                let _ = spare_tx.send(block);
                            }
                            Ok((seq, Piece::InPlace(range))) => w.block(seq, &data[range]),
                        }
                    }
                    w
                })
            })
            .collect();
        let mut seq = 0;
        let read_result = feed(
            &mut |piece| {
                seq += 1;
                work_tx.send((seq - 1, piece)).is_ok()
            },
            &spare_rx,
        );
        drop(work_tx);
        let workers: Vec<BlockCounter> = handles.into_iter().map(|h| h.join().expect("a worker panicked")).collect();
        (workers, read_result)
    });
    read_result.map(|()| workers)
}

/// One thread's share of a batch count: its blocks' counts and rejects, merged at the end.
struct BlockCounter<'d> {
    decoder: &'d Decoder,
    parser: TimeParser,
    /// Longer keys, interned: their index in `long_keys` is their [`KeyCode`].
    long_key_ids: FastMap<Box<[u8]>, u32>,
    long_keys: Vec<Box<[u8]>>,
    counts: FastMap<(i64, KeyCode), u64>,
    /// (block sequence number, lines in the block)
    block_lines: Vec<(usize, u64)>,
    /// (block sequence number, line index in the block, reason, raw line)
    rejects: Vec<(usize, u64, RejectReason, Vec<u8>)>,
    blank: u64,
    accepted: u64,
}

impl<'d> BlockCounter<'d> {
    fn new(decoder: &'d Decoder) -> Self {
        BlockCounter {
            decoder,
            parser: decoder.time_parser(),
            long_key_ids: FastMap::default(),
            long_keys: Vec::new(),
            counts: FastMap::default(),
            block_lines: Vec::new(),
            rejects: Vec::new(),
            blank: 0,
            accepted: 0,
        }
    }

    /// Decodes and counts a block. Tabs and newlines are found in one pass over the block
    /// (`memchr2`), which is much cheaper than a search per line and per field on ~40-byte lines;
    /// the lines and fields are exactly those of [`tsv::lines`] and [`Decoder::decode`].
    fn block(&mut self, seq: usize, block: &[u8]) {
        let utf8 = Utf8Check::of_block(block);
        let mut fields: Vec<&[u8]> = Vec::with_capacity(self.decoder.schema.columns.len() + 1);
        let mut joined = Vec::new();
        let mut n = 0u64;
        let (mut line_start, mut field_start) = (0, 0);
        for pos in memchr::memchr2_iter(b'\t', b'\n', block) {
            if block[pos] == b'\t' {
                fields.push(&block[field_start..pos]);
                field_start = pos + 1;
                continue;
            }
            let end = if pos > field_start && block[pos - 1] == b'\r' { pos - 1 } else { pos };
            fields.push(&block[field_start..end]);
            self.line(seq, n, &utf8, &block[line_start..end], &fields, &mut joined);
            fields.clear();
            n += 1;
            (line_start, field_start) = (pos + 1, pos + 1);
        }
        if line_start < block.len() {
            let end = if block.ends_with(b"\r") && block.len() > field_start { block.len() - 1 } else { block.len() };
            fields.push(&block[field_start..end]);
            self.line(seq, n, &utf8, &block[line_start..end], &fields, &mut joined);
            n += 1;
        }
        self.block_lines.push((seq, n));
    }

    #[inline]
    fn line(&mut self, seq: usize, n: u64, utf8: &Utf8Check, line: &[u8], fields: &[&[u8]], joined: &mut Vec<u8>) {
        let checked = utf8.line(line).and_then(|()| self.decoder.check(&mut self.parser, line, fields));
        match checked {
            Ok(Line::Blank) => self.blank += 1,
            Ok(Line::Row(time)) => {
                let key: &[u8] = match self.decoder.schema.key.as_slice() {
                    [] => &[],
                    [k] => fields[*k],
                    many => {
                        joined.clear();
                        for (i, &k) in many.iter().enumerate() {
                            if i > 0 {
                                joined.push(b'\t');
                            }
                            joined.extend_from_slice(fields[k]);
                        }
                        joined
                    }
                };
                let code = self.key_code(key);
                *self.counts.entry((time.minute().0, code)).or_default() += 1;
                self.accepted += 1;
            }
            Err(reason) => self.rejects.push((seq, n, reason, line.to_vec())),
        }
    }

    /// A key of up to 7 bytes is its own code, packed into an integer: one hash lookup per line
    /// and no memcmp. Longer keys are interned first.
    #[inline]
    fn key_code(&mut self, key: &[u8]) -> KeyCode {
        if key.len() <= 7 {
            // Bytes in the low seven bytes, the length in the top one. Built in a register: a
            // memcpy into a stack array read back as a u64 stalls on store forwarding.
            return KeyCode(
                key.iter().rev().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)) | (key.len() as u64) << 56,
            );
        }
        let next = self.long_keys.len() as u32;
        let id = *self.long_key_ids.entry(key.into()).or_insert(next);
        if id == next {
            self.long_keys.push(key.into());
        }
        KeyCode(LONG_KEY | u64::from(id))
    }

    fn key_bytes(&self, code: KeyCode) -> Vec<u8> {
        if code.0 & LONG_KEY == LONG_KEY {
            return self.long_keys[(code.0 & u64::from(u32::MAX)) as usize].to_vec();
        }
        let len = (code.0 >> 56) as usize;
        code.0.to_le_bytes()[..len].to_vec()
    }
}

/// A key within one worker: short keys packed (top byte = length, at most 7), long keys by
/// intern index (top byte 0xFF).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct KeyCode(u64);

const LONG_KEY: u64 = 0xFF << 56;

fn merge(
    decoder: &Decoder,
    detected_on_line: Option<u64>,
    first_line: u64,
    workers: Vec<BlockCounter<'_>>,
) -> BatchReport {
    let mut block_lines: Vec<(usize, u64)> = workers.iter().flat_map(|w| w.block_lines.iter().copied()).collect();
    block_lines.sort_unstable();
    let mut block_start = Vec::with_capacity(block_lines.len());
    let mut next = first_line;
    for &(seq, n) in &block_lines {
        debug_assert_eq!(seq, block_start.len());
        block_start.push(next);
        next += n;
    }
    let mut stats = LineStats { lines: next - 1, header: first_line - 1, ..LineStats::default() };

    let mut totals: FastMap<(i64, Vec<u8>), u64> = FastMap::default();
    let mut rejects = Vec::new();
    for w in &workers {
        stats.blank += w.blank;
        stats.accepted += w.accepted;
        for (&(minute, code), &count) in &w.counts {
            *totals.entry((minute, w.key_bytes(code))).or_default() += count;
        }
        for (seq, i, reason, raw) in &w.rejects {
            rejects.push(Rejected { line: block_start[*seq] + i, reason: reason.clone(), raw: raw.clone() });
        }
    }
    stats.rejected = rejects.len() as u64;
    rejects.sort_unstable_by_key(|r| r.line);
    let key_len = decoder.schema.key.len();
    let mut counts: Vec<KeyCount> = totals
        .into_iter()
        .map(|((minute, key), count)| KeyCount { minute: Minute(minute), key: split_key(&key, key_len), count })
        .collect();
    counts.sort_unstable();
    BatchReport {
        time_format: decoder.format,
        schema: decoder.schema.clone(),
        detected_on_line,
        counts,
        rejects,
        stats,
    }
}

fn split_key(joined: &[u8], columns: usize) -> Vec<String> {
    let text = String::from_utf8_lossy(joined);
    match columns {
        0 => Vec::new(),
        1 => vec![text.into_owned()],
        _ => text.split('\t').map(str::to_owned).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsv::{Item, TsvReader};
    use std::collections::BTreeMap;

    const INPUT: &str = "\u{feff}time\tcountry\tdevice\r\n\
        2016-08-21T17:00:01.5Z\tusa\tios\r\n\
        2016-08-21T17:00:59.999Z\tusa\tandroid\r\n\
        \r\n\
        2016-08-21T16:59:59Z\tde\tios\r\n\
        not a time\tde\tios\r\n\
        2016-08-21T17:00:30Z\tusa\tios\r\n\
        2016-08-21T17:00:31Z\tusa\r\n";

    fn schema(key: &[&str]) -> Schema {
        Schema { key: Some(key.iter().map(|k| k.parse().unwrap()).collect()), ..Schema::default() }
    }

    #[test]
    fn counts_per_minute_and_composite_key() {
        let r = count(INPUT.as_bytes(), &schema(&["country", "device"]), BatchOptions::default()).unwrap();
        let got: Vec<_> = r.counts.iter().map(|c| (c.minute.to_string(), c.key.join("/"), c.count)).collect();
        assert_eq!(
            got,
            vec![
                ("201608211659".into(), "de/ios".into(), 1),
                ("201608211700".into(), "usa/android".into(), 1),
                ("201608211700".into(), "usa/ios".into(), 2),
            ]
        );
        assert_eq!(r.stats, LineStats { lines: 8, header: 1, blank: 1, accepted: 4, rejected: 2 });
        assert_eq!(r.rejects.iter().map(|r| r.line).collect::<Vec<_>>(), vec![6, 8]);
        assert_eq!(r.time_format, TimeFormat::Rfc3339);
    }

    #[test]
    fn empty_and_header_only_inputs_count_nothing() {
        for input in ["", "time\tcountry\n", "\u{feff}"] {
            let r = count(input.as_bytes(), &schema(&[]), BatchOptions::default()).unwrap();
            assert!(r.counts.is_empty() && r.rejects.is_empty(), "{input:?}");
            let r = count_in_place(input.as_bytes(), &schema(&[]), BatchOptions::default()).unwrap();
            assert!(r.counts.is_empty() && r.rejects.is_empty(), "{input:?}");
        }
    }

    /// The parallel counter and the sequential reader agree, whatever the block size and thread
    /// count: same counts, same rejects at the same line numbers.
    #[test]
    fn parallel_count_matches_sequential_reading() {
        let mut input = String::from("ts\tk\tv\n");
        for i in 0..5000u64 {
            match i % 97 {
                0 => input.push_str("garbage\n"),
                1 => input.push('\n'),
                2 => input.push_str("\r\n"),
                3 => input.push_str(&format!("{}\tk1\tcrlf\r\n", 1_471_798_800_000 + i)),
                4 => input.push_str("\t\r\n"),
                _ => input.push_str(&format!(
                    "{}\tk{}{}\tx\n",
                    1_471_798_800_000 + i * 7_919 % 600_000,
                    i % 13,
                    "long".repeat((i % 3) as usize)
                )),
            }
        }
        input.push_str("1471798800000\tlast\tno newline\r");
        let s = schema(&["k"]);
        let mut want: BTreeMap<(Minute, Vec<String>), u64> = BTreeMap::new();
        let mut want_rejects = Vec::new();
        for item in TsvReader::open(input.as_bytes(), &s).unwrap() {
            match item.unwrap() {
                Item::Row(r) => *want.entry((r.event.time.minute(), r.event.key(&["k"]))).or_default() += 1,
                Item::Rejected(r) => want_rejects.push(r),
            }
        }
        for (threads, block_size) in [(1, 1 << 20), (2, 100), (3, 1), (2, 4096)] {
            let options = BatchOptions { threads, block_size };
            let read = count(input.as_bytes(), &s, options).unwrap();
            let in_place = count_in_place(input.as_bytes(), &s, options).unwrap();
            assert_eq!(read.stats, in_place.stats, "threads {threads}, block size {block_size}");
            for r in [read, in_place] {
                let got: BTreeMap<_, _> = r.counts.into_iter().map(|c| ((c.minute, c.key), c.count)).collect();
                assert_eq!(got, want, "threads {threads}, block size {block_size}");
                assert_eq!(r.rejects, want_rejects, "threads {threads}, block size {block_size}");
                assert_eq!(r.stats.accepted + r.stats.rejected + r.stats.blank + r.stats.header, r.stats.lines);
            }
        }
    }
}
