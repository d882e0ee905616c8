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

/// A block of whole lines, and the number of the first.
struct Block {
    first_line: u64,
    bytes: Vec<u8>,
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
    std::thread::Builder::new()
        .name("minutely-stdin".into())
        .spawn(move || read_blocks(input, tx))
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
        worker.record_lines(&block.bytes, block.first_line, now);
        worker.publish();
        worker.commit(false, false).await?;
    }
}

fn read_blocks<R: Read>(mut input: R, tx: mpsc::Sender<std::io::Result<Block>>) {
    let mut carry: Vec<u8> = Vec::new();
    let mut line = 1u64;
    loop {
        let mut buf = std::mem::take(&mut carry);
        let filled = buf.len();
        buf.resize(filled.max(BLOCK / 2) + BLOCK, 0);
        let n = match input.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                buf.truncate(filled);
                carry = buf;
                continue;
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        };
        buf.truncate(filled + n);
        if n == 0 {
            // The end: a last line without a newline is still a line.
            if !buf.is_empty() {
                let _ = tx.blocking_send(Ok(Block { first_line: line, bytes: buf }));
            }
            return;
        }
        let Some(cut) = memchr::memrchr(b'\n', &buf) else {
            carry = buf;
            continue;
        };
        carry = buf[cut + 1..].to_vec();
        buf.truncate(cut);
        let lines = memchr::memchr_iter(b'\n', &buf).count() as u64 + 1;
        if tx.blocking_send(Ok(Block { first_line: line, bytes: buf })).is_err() {
            return;
        }
        line += lines;
    }
}
