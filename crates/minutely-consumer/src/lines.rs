//! Reading lines (minutely's JSON from `minutely produce --sink stdout`, or any records the
//! schema describes) as one worker: a thread reads large blocks, the worker decodes and counts
//! them line by line.

use minutely_aws::clock;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::aggregator::Settings;
use crate::output::Output;
use crate::run::{ConsumeError, Stop};
use crate::stats::WorkerStats;
use crate::worker::{Clock, Worker};

const BLOCK: usize = 1 << 20;

/// A block of whole lines, `bytes[..len]`, and the number of the first. The rest of `bytes`
/// is room a reader fills next time: a block goes back to the reader once counted.
struct Block {
    first_line: u64,
    bytes: Vec<u8>,
    len: usize,
}

/// Counts every line of `input` as worker `name`, writing closed windows to `output`, until the
/// input ends (then every window is closed and written) or `stop` says so. `idle_poll`: how
/// often the idle timeout is checked while the input is quiet.
pub async fn consume<R: Read + Send + 'static>(
    input: R,
    name: &str,
    settings: Settings,
    output: Output,
    idle_poll: Duration,
    mut stop: watch::Receiver<Option<Stop>>,
    stats: Arc<WorkerStats>,
) -> Result<(), ConsumeError> {
    let (tx, mut rx) = mpsc::channel::<std::io::Result<Block>>(4);
    // Blocks counted go back to the reader: it reads into memory already faulted in, not into
    // fresh pages the kernel must clear (a fifth of the time of a large input).
    let (spare, spares) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::Builder::new()
        .name("minutely-stdin".into())
        .spawn(move || read_blocks(input, tx, spares))
        .map_err(ConsumeError::Input)?;
    let clock = Clock::start();
    // No checkpoints: a pipe cannot be read again from a position.
    let (mut worker, _) = Worker::open(name, settings, output, None, Duration::MAX, clock, stats).await?;
    loop {
        let block = tokio::select! {
            b = rx.recv() => b,
            _ = clock::sleep(idle_poll) => {
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
        let block = block.map_err(ConsumeError::Input)?;
        let now = clock.now();
        worker.stats.arrived(now);
        worker.record_lines(&block.bytes[..block.len], block.first_line, now);
        let _ = spare.send(block.bytes);
        worker.publish();
        worker.commit(false, false).await?;
    }
}

fn read_blocks<R: Read>(
    mut input: R,
    tx: mpsc::Sender<std::io::Result<Block>>,
    spares: std::sync::mpsc::Receiver<Vec<u8>>,
) {
    let mut carry: Vec<u8> = Vec::new();
    let mut line = 1u64;
    loop {
        // A block the worker is done with (its bytes initialized: nothing to zero, no fresh
        // pages; a pipe gives 64 KiB a read), or a new one, begun with the carried partial line.
        let mut buf = spares.try_recv().unwrap_or_default();
        let filled = carry.len();
        let size = filled.max(BLOCK / 2) + BLOCK;
        if buf.len() < size {
            buf.resize(size, 0);
        }
        buf[..filled].copy_from_slice(&carry);
        carry.clear();
        let n = match input.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                carry.extend_from_slice(&buf[..filled]);
                continue;
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        };
        let len = filled + n;
        if n == 0 {
            // The end: a last line without a newline is still a line.
            if len > 0 {
                let _ = tx.blocking_send(Ok(Block { first_line: line, bytes: buf, len }));
            }
            return;
        }
        let Some(cut) = memchr::memrchr(b'\n', &buf[..len]) else {
            carry.extend_from_slice(&buf[..len]);
            continue;
        };
        carry.extend_from_slice(&buf[cut + 1..len]);
        let lines = memchr::memchr_iter(b'\n', &buf[..cut]).count() as u64 + 1;
        if tx.blocking_send(Ok(Block { first_line: line, bytes: buf, len: cut })).is_err() {
            return;
        }
        line += lines;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that gives at most `step` bytes a read, as a pipe gives what it has.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// Whatever the reads' sizes, and with blocks going back to the reader, the blocks hold
    /// every line once, whole, in order, numbered from the first line of each.
    #[test]
    fn blocks_hold_every_line_whole_and_numbered_with_their_buffers_reused() {
        let text: String = (1..=3000).map(|i| format!("line {i} {}\n", "x".repeat(i % 97))).collect();
        let text = format!("{text}last line without a newline");
        for step in [1, 7, 4096, 1 << 21] {
            let (tx, mut rx) = mpsc::channel(4);
            let (spare, spares) = std::sync::mpsc::channel();
            let data = text.clone().into_bytes();
            let reader = std::thread::spawn(move || read_blocks(Trickle { data: &data, step }, tx, spares));
            let mut lines = Vec::new();
            while let Some(block) = rx.blocking_recv() {
                let block = block.unwrap();
                let bytes = &block.bytes[..block.len];
                assert_eq!(block.first_line, lines.len() as u64 + 1, "step {step}");
                lines.extend(bytes.split(|b| *b == b'\n').map(|l| String::from_utf8(l.to_vec()).unwrap()));
                let _ = spare.send(block.bytes);
            }
            reader.join().unwrap();
            assert_eq!(lines.join("\n"), text, "step {step}");
        }
    }
}
