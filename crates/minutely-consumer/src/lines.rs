//! Reading lines (minutely's JSON from `minutely produce --sink stdout`, or any records the
//! schema describes) as one worker: a thread reads large blocks of whole lines, a pool of
//! threads (one per core) decodes them ([`crate::prepare`]), and the worker counts the decoded
//! blocks in the order they were read.

use minutely_aws::clock;
use std::io::Read;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use minutely_event::RecordDecoder;
use tokio::sync::{mpsc, oneshot, watch};

use crate::aggregator::Settings;
use crate::output::Output;
use crate::prepare::{Framing, Prepared, Ready, prepare_into};
use crate::run::{ConsumeError, Stop};
use crate::stats::WorkerStats;
use crate::worker::{Clock, Worker};

const BLOCK: usize = 1 << 20;

/// The most decoding threads (beyond a few, the one counting thread is the bound).
const MAX_DECODERS: usize = 4;

/// Where the lines come from.
pub enum Input {
    /// A stream, read in blocks (a pipe, a terminal, a socket).
    Stream(Box<dyn Read + Send>),
    /// All of the input at once (a regular file the caller mapped): blocks are ranges of it,
    /// not copies.
    Whole(Arc<dyn AsRef<[u8]> + Send + Sync>),
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Input::Stream(_) => f.write_str("Input::Stream"),
            Input::Whole(whole) => write!(f, "Input::Whole({} bytes)", (**whole).as_ref().len()),
        }
    }
}

/// A block of whole lines, and the number of the first.
struct Block {
    first_line: u64,
    bytes: Bytes,
}

/// A block's bytes: read into a buffer of its own, or a range of the whole input.
enum Bytes {
    Read(Vec<u8>),
    Range(Arc<dyn AsRef<[u8]> + Send + Sync>, std::ops::Range<usize>),
}

impl Bytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Read(v) => v,
            Bytes::Range(whole, range) => &(**whole).as_ref()[range.clone()],
        }
    }
}

/// A block on its way to be decoded, and where its decoded form goes.
type Job = (Block, oneshot::Sender<Prepared>);

/// Each block's decoded form, in the order the blocks were read.
type InOrder = mpsc::Receiver<std::io::Result<oneshot::Receiver<Prepared>>>;

/// Events buffers of counted blocks, for the decoders' next blocks (at most [`SPARE_EVENTS`]).
type Spares = Arc<Mutex<Vec<Vec<Ready>>>>;

/// How many counted blocks' events buffers are kept for the next ones.
const SPARE_EVENTS: usize = 2 * MAX_DECODERS + 2;

/// How lines are read.
#[derive(Clone, Copy, Debug)]
pub struct LinesOptions {
    /// How often the idle timeout is checked while the input is quiet.
    pub idle_poll: Duration,
    /// What a line is: an event, or a Kinesis record's data in base64.
    pub framing: Framing,
}

/// Counts every line of `input` as worker `name`, writing closed windows to `output`, until the
/// input ends (then every window is closed and written) or `stop` says so.
pub async fn consume(
    input: Input,
    name: &str,
    settings: Settings,
    output: Output,
    options: LinesOptions,
    mut stop: watch::Receiver<Option<Stop>>,
    stats: Arc<WorkerStats>,
) -> Result<(), ConsumeError> {
    let spare_events = Spares::default();
    let decoder = Arc::clone(&settings.decoder);
    let mut rx = start_reading(input, decoder, options.framing, &spare_events).map_err(ConsumeError::Input)?;
    let clock = Clock::start();
    // No checkpoints: a pipe cannot be read again from a position.
    let (mut worker, _) = Worker::open(name, settings, output, None, Duration::MAX, clock, stats).await?;
    loop {
        let block = tokio::select! {
            b = rx.recv() => b,
            _ = clock::sleep(options.idle_poll) => {
                worker.tick(clock.now());
                worker.commit(false, false).await?;
                continue;
            }
            _ = stop.changed() => {
                worker.stop(true).await?;
                return Ok(());
            }
        };
        let Some(block) = block else {
            worker.close_all();
            worker.commit(true, true).await?;
            return Ok(());
        };
        let block = block.map_err(ConsumeError::Input)?.await;
        let block = block.map_err(|_| ConsumeError::Task("a decoding thread stopped".into()))?;
        let now = clock.now();
        worker.stats.arrived(now);
        let events = worker.record_prepared(block, now);
        if let Ok(mut spares) = spare_events.lock()
            && spares.len() < SPARE_EVENTS
        {
            spares.push(events);
        }
        worker.publish();
        worker.commit(false, false).await?;
    }
}

/// Starts the reading thread and the decoding threads; the blocks come out decoded, in order.
fn start_reading(
    input: Input,
    decoder: Arc<RecordDecoder>,
    framing: Framing,
    spare_events: &Spares,
) -> std::io::Result<InOrder> {
    let decoders = std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_DECODERS);
    let (jobs, queue) = sync_channel::<Job>(decoders);
    let queue = Arc::new(Mutex::new(queue));
    let (spare, spares) = sync_channel(2 * decoders + 2);
    for i in 0..decoders {
        let (queue, decoder, spare) = (Arc::clone(&queue), Arc::clone(&decoder), spare.clone());
        let events = Arc::clone(spare_events);
        let name = format!("minutely-decode-{i}");
        std::thread::Builder::new().name(name).spawn(move || decode(&queue, &decoder, framing, &spare, &events))?;
    }
    let (tx, rx) = mpsc::channel(2 * decoders + 2);
    std::thread::Builder::new().name("minutely-stdin".into()).spawn(move || {
        let send = |block: std::io::Result<Block>| {
            let block = match block {
                Ok(block) => block,
                Err(e) => return tx.blocking_send(Err(e)).is_ok(),
            };
            let (done, decoded) = oneshot::channel();
            jobs.send((block, done)).is_ok() && tx.blocking_send(Ok(decoded)).is_ok()
        };
        match input {
            Input::Stream(input) => read_blocks(input, &spares, send),
            Input::Whole(whole) => cut_blocks(&whole, send),
        }
    })?;
    Ok(rx)
}

/// A decoding thread: takes blocks until the reader is gone, writing their events into the
/// buffers of blocks already counted (`events`). A block's buffer goes back to the reader
/// (`spare`) once decoded.
fn decode(
    queue: &Mutex<Receiver<Job>>,
    decoder: &RecordDecoder,
    framing: Framing,
    spare: &SyncSender<Vec<u8>>,
    events: &Spares,
) {
    loop {
        let job = queue.lock().map_err(drop).and_then(|q| q.recv().map_err(drop));
        let Ok((block, done)) = job else { return };
        let buffer = events.lock().ok().and_then(|mut e| e.pop()).unwrap_or_default();
        let _ = done.send(prepare_into(buffer, decoder, framing, block.bytes.as_slice(), block.first_line));
        if let Bytes::Read(buffer) = block.bytes {
            let _ = spare.try_send(buffer);
        }
    }
}

/// Hands `whole` to `send` in blocks of whole lines (each about [`BLOCK`] long, without the
/// newline after its last line, as [`read_blocks`] cuts them), until the end or until `send`
/// says to stop (`false`).
fn cut_blocks(whole: &Arc<dyn AsRef<[u8]> + Send + Sync>, mut send: impl FnMut(std::io::Result<Block>) -> bool) {
    let bytes = (**whole).as_ref();
    let (mut start, mut line) = (0, 1u64);
    while start < bytes.len() {
        let from = (start + BLOCK).min(bytes.len());
        let end = match memchr::memchr(b'\n', &bytes[from..]) {
            Some(i) => from + i,
            None => bytes.len() - usize::from(bytes.ends_with(b"\n")),
        };
        let lines = memchr::memchr_iter(b'\n', &bytes[start..end]).count() as u64 + 1;
        if !send(Ok(Block { first_line: line, bytes: Bytes::Range(Arc::clone(whole), start..end) })) {
            return;
        }
        (start, line) = (end + 1, line + lines);
    }
}

/// Reads `input` in blocks of whole lines, handing each to `send` (an error ends it), until
/// the input ends or `send` says to stop (`false`). A block's buffer comes from `spare` when
/// one came back from decoding: its pages are already the process's, so they need not be
/// faulted in and cleared again.
fn read_blocks<R: Read>(mut input: R, spare: &Receiver<Vec<u8>>, mut send: impl FnMut(std::io::Result<Block>) -> bool) {
    // The block being filled is `buf[..filled]`; the rest of `buf` is room to read into.
    let (mut buf, mut filled) = (Vec::new(), 0);
    let mut line = 1u64;
    loop {
        let room = filled.max(BLOCK / 2) + BLOCK;
        if buf.len() < room {
            buf.resize(room, 0);
        }
        let n = match input.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                send(Err(e));
                return;
            }
        };
        if n == 0 {
            // The end: a last line without a newline is still a line.
            if filled > 0 {
                buf.truncate(filled);
                send(Ok(Block { first_line: line, bytes: Bytes::Read(buf) }));
            }
            return;
        }
        filled += n;
        let Some(cut) = memchr::memrchr(b'\n', &buf[..filled]) else { continue };
        // The next block starts with the line the cut left unfinished.
        let mut next = spare.try_recv().unwrap_or_default();
        let rest = filled - (cut + 1);
        if next.len() < rest {
            next.resize(rest, 0);
        }
        next[..rest].copy_from_slice(&buf[cut + 1..filled]);
        buf.truncate(cut);
        let lines = memchr::memchr_iter(b'\n', &buf).count() as u64 + 1;
        if !send(Ok(Block { first_line: line, bytes: Bytes::Read(std::mem::replace(&mut buf, next)) })) {
            return;
        }
        (filled, line) = (rest, line + lines);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Write;

    use minutely_aggregate::{ProcessingTime, WindowConfig};

    use super::*;
    use crate::aggregator::{Aggregator, Content, Object};
    use crate::output::MemoryStore;

    /// The counts (late apart) and the rejects' places and errors of some objects.
    type Seen = (BTreeMap<(String, Vec<String>, bool), u64>, Vec<(String, String)>);

    fn seen(objects: impl IntoIterator<Item = Object>) -> Seen {
        let (mut counts, mut rejects) = (BTreeMap::new(), Vec::new());
        for o in objects {
            match o.content {
                Content::Counts { lines } => {
                    for c in lines {
                        *counts.entry((c.minute, c.key, c.late)).or_default() += c.count;
                    }
                }
                Content::Rejects { lines } => rejects.extend(lines.into_iter().map(|r| (r.place(), r.error))),
            }
        }
        (counts, rejects)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn blocks_decoded_in_parallel_count_as_one_thread_does() {
        // About 7 MiB: several blocks, each decoded on its own; late events, duplicates and
        // bad lines in every block.
        let mut input = Vec::new();
        for i in 0..100_000i64 {
            match i % 9_973 {
                0 => input.extend_from_slice(b"not json\n"),
                1 => input.extend_from_slice(b"\n"),
                _ => {
                    let late = if i % 1_000 == 7 { 400_000 } else { 0 };
                    let id = if i % 500 == 3 { i - 1 } else { i };
                    let (time, country) = (1_471_798_800_000 + i * 30 - late, i % 37);
                    writeln!(input, r#"{{"id":"e{id}","time_ms":{time},"dims":{{"country":"c{country}"}}}}"#).unwrap();
                }
            }
        }
        let settings = Settings {
            decoder: Arc::new(RecordDecoder::minutely(&["country".into()])),
            windows: WindowConfig { allowed_lateness_ms: 5_000, idle_timeout_ms: None },
            max_dedup_ids: 1_000_000,
        };
        let mut one = Aggregator::new("stdin", settings.clone());
        one.lines(&input, 1, ProcessingTime(0));
        one.close_all();
        let alone = seen(one.take_objects());
        assert_eq!(alone.1.len(), 11, "{:?}", alone.1);
        assert!(alone.0.keys().any(|(_, _, late)| *late), "late counts");
        assert!(one.counters().duplicates > 150, "{:?}", one.counters());
        // Read from a stream, and cut from the whole input (a mapped file).
        let inputs = [Input::Stream(Box::new(std::io::Cursor::new(input.clone()))), Input::Whole(Arc::new(input))];
        for input in inputs {
            let store = Arc::new(MemoryStore::default());
            let (_keep, stop) = watch::channel(None);
            let output = Output::Memory(store.clone());
            let options = LinesOptions { idle_poll: Duration::MAX, framing: Framing::Lines };
            consume(input, "stdin", settings.clone(), output, options, stop, WorkerStats::new()).await.unwrap();
            let written = store.under("").into_iter().filter(|(p, _)| !p.contains("checkpoint")).map(|(path, body)| {
                let lines = body.split(|b| *b == b'\n').filter(|l| !l.is_empty());
                let content = if path.contains("rejects") {
                    Content::Rejects { lines: lines.map(|l| serde_json::from_slice(l).unwrap()).collect() }
                } else {
                    Content::Counts { lines: lines.map(|l| serde_json::from_slice(l).unwrap()).collect() }
                };
                Object { path, content }
            });
            assert_eq!(seen(written), alone);
        }
    }

    /// The blocks of an input, as (first line, bytes), read from a stream or cut from the whole.
    fn blocks(input: &[u8], whole: bool) -> Vec<(u64, Vec<u8>)> {
        let mut got = Vec::new();
        let send = |b: std::io::Result<Block>| {
            let b = b.unwrap();
            got.push((b.first_line, b.bytes.as_slice().to_vec()));
            true
        };
        if whole {
            cut_blocks(&(Arc::new(input.to_vec()) as Arc<dyn AsRef<[u8]> + Send + Sync>), send);
        } else {
            let (_none, spare) = sync_channel(1);
            read_blocks(std::io::Cursor::new(input), &spare, send);
        }
        got
    }

    #[test]
    fn blocks_cut_from_the_whole_input_hold_the_lines_of_blocks_read() {
        let long = vec![b'x'; BLOCK + 17];
        let many: Vec<u8> = (0..200_000).flat_map(|i| format!("line {i}\n").into_bytes()).collect();
        for input in [&b""[..], b"\n", b"a", b"a\n", b"a\n\nb", b"a\n\nb\n\n", &long, &many, &many[..many.len() - 1]] {
            let (read, cut) = (blocks(input, false), blocks(input, true));
            // The same lines, each numbered the same (blocks may be cut elsewhere).
            let lines = |blocks: &[(u64, Vec<u8>)]| -> Vec<(u64, Vec<u8>)> {
                blocks
                    .iter()
                    .flat_map(|(first, b)| {
                        b.split(|c| *c == b'\n').enumerate().map(move |(i, l)| (first + i as u64, l.to_vec()))
                    })
                    .filter(|(_, l)| !l.is_empty())
                    .collect()
            };
            assert_eq!(lines(&cut), lines(&read), "{} bytes", input.len());
        }
        assert!(blocks(&many, true).len() > 1);
    }
}
