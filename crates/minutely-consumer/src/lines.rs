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
use crate::prepare::{Framing, Prepared, prepare};
use crate::run::{ConsumeError, Stop};
use crate::stats::WorkerStats;
use crate::worker::{Clock, Worker};

const BLOCK: usize = 1 << 20;

/// The most decoding threads (beyond a few, the one counting thread is the bound).
const MAX_DECODERS: usize = 4;

/// A block of whole lines, and the number of the first.
struct Block {
    first_line: u64,
    bytes: Vec<u8>,
}

/// A block on its way to be decoded, and where its decoded form goes.
type Job = (Block, oneshot::Sender<Prepared>);

/// Each block's decoded form, in the order the blocks were read.
type InOrder = mpsc::Receiver<std::io::Result<oneshot::Receiver<Prepared>>>;

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
pub async fn consume<R: Read + Send + 'static>(
    input: R,
    name: &str,
    settings: Settings,
    output: Output,
    options: LinesOptions,
    mut stop: watch::Receiver<Option<Stop>>,
    stats: Arc<WorkerStats>,
) -> Result<(), ConsumeError> {
    let mut rx = start_reading(input, Arc::clone(&settings.decoder), options.framing).map_err(ConsumeError::Input)?;
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
        worker.record_prepared(block, now);
        worker.publish();
        worker.commit(false, false).await?;
    }
}

/// Starts the reading thread and the decoding threads; the blocks come out decoded, in order.
fn start_reading<R: Read + Send + 'static>(
    input: R,
    decoder: Arc<RecordDecoder>,
    framing: Framing,
) -> std::io::Result<InOrder> {
    let decoders = std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_DECODERS);
    let (jobs, queue) = sync_channel::<Job>(decoders);
    let queue = Arc::new(Mutex::new(queue));
    let (spare, spares) = sync_channel(2 * decoders + 2);
    for i in 0..decoders {
        let (queue, decoder, spare) = (Arc::clone(&queue), Arc::clone(&decoder), spare.clone());
        let name = format!("minutely-decode-{i}");
        std::thread::Builder::new().name(name).spawn(move || decode(&queue, &decoder, framing, &spare))?;
    }
    let (tx, rx) = mpsc::channel(2 * decoders + 2);
    std::thread::Builder::new().name("minutely-stdin".into()).spawn(move || {
        read_blocks(input, &spares, |block| {
            let block = match block {
                Ok(block) => block,
                Err(e) => return tx.blocking_send(Err(e)).is_ok(),
            };
            let (done, decoded) = oneshot::channel();
            jobs.send((block, done)).is_ok() && tx.blocking_send(Ok(decoded)).is_ok()
        })
    })?;
    Ok(rx)
}

/// A decoding thread: takes blocks until the reader is gone.
/// Its block's buffer goes back to the reader (`spare`) once decoded.
fn decode(queue: &Mutex<Receiver<Job>>, decoder: &RecordDecoder, framing: Framing, spare: &SyncSender<Vec<u8>>) {
    loop {
        let job = queue.lock().map_err(drop).and_then(|q| q.recv().map_err(drop));
        let Ok((block, done)) = job else { return };
        let _ = done.send(prepare(decoder, framing, &block.bytes, block.first_line));
        let _ = spare.try_send(block.bytes);
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
                send(Ok(Block { first_line: line, bytes: buf }));
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
        if !send(Ok(Block { first_line: line, bytes: std::mem::replace(&mut buf, next) })) {
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
        let store = Arc::new(MemoryStore::default());
        let (_keep, stop) = watch::channel(None);
        let stats = WorkerStats::new();
        let output = Output::Memory(store.clone());
        let options = LinesOptions { idle_poll: Duration::MAX, framing: Framing::Lines };
        let run = consume(std::io::Cursor::new(input.clone()), "stdin", settings.clone(), output, options, stop, stats);
        run.await.unwrap();
        let written = store.under("").into_iter().filter(|(p, _)| !p.contains("checkpoint")).map(|(path, body)| {
            let lines = body.split(|b| *b == b'\n').filter(|l| !l.is_empty());
            let content = if path.contains("rejects") {
                Content::Rejects { lines: lines.map(|l| serde_json::from_slice(l).unwrap()).collect() }
            } else {
                Content::Counts { lines: lines.map(|l| serde_json::from_slice(l).unwrap()).collect() }
            };
            Object { path, content }
        });
        let mut one = Aggregator::new("stdin", settings);
        one.lines(&input, 1, ProcessingTime(0));
        one.close_all();
        let (parallel, alone) = (seen(written), seen(one.take_objects()));
        assert_eq!(parallel, alone);
        assert_eq!(parallel.1.len(), 11, "{:?}", parallel.1);
        assert!(parallel.0.keys().any(|(_, _, late)| *late), "late counts");
        assert!(one.counters().duplicates > 150, "{:?}", one.counters());
    }
}
