//! Fault injection: a consumer that crashes after a chosen number of object writes, before or
//! after the checkpoint that follows them, or freezes there (the tests' and scenarios' planned
//! kills), or stalls there for a while and goes on (a paused process).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use minutely_aws::clock::{self, Instant};

use super::error::{CrashPoint, OutputError};

/// A crash after a number of object writes, before or after the checkpoint that follows them:
/// how the tests and scenarios kill a consumer at a chosen moment. Fires once.
#[derive(Debug)]
pub struct CrashAfter {
    pub objects: u64,
    pub at: CrashPoint,
    /// Exit the process (`true`), or fail the write so that the run ends with
    /// [`OutputError::InjectedCrash`] (in-process runs, which then start a new consumer).
    pub exit: bool,
    written: AtomicU64,
    /// The objects are written; the crash waits for the next checkpoint.
    armed: AtomicBool,
    /// Freeze instead of failing: after the crash, every call through the output waits
    /// forever before it sends anything. The calls in flight finish; whoever injected the fault
    /// then drops the worker's task, as SIGKILL would, with no request half sent (LocalStack
    /// keeps a half-sent PutObject as an object it cannot read back; S3 never would).
    freeze: bool,
    frozen: AtomicBool,
    /// A freeze that ends: it lasts this long, then every call goes on.
    stall: Option<Duration>,
    stalled_until: Mutex<Option<Instant>>,
}

impl CrashAfter {
    pub fn new(objects: u64, exit: bool) -> CrashAfter {
        CrashAfter::at(objects, CrashPoint::BeforeCheckpoint, exit)
    }

    pub fn at(objects: u64, at: CrashPoint, exit: bool) -> CrashAfter {
        CrashAfter {
            objects,
            at,
            exit,
            written: AtomicU64::new(0),
            armed: Default::default(),
            freeze: false,
            frozen: Default::default(),
            stall: None,
            stalled_until: Mutex::new(None),
        }
    }

    /// A stall after `objects` object writes: every call through the output then waits until
    /// `duration` has passed, and goes on (a consumer paused by a long GC, a laptop's sleep, a
    /// stopped container: its shard iterators expire meanwhile).
    pub fn stalling(objects: u64, duration: Duration) -> CrashAfter {
        CrashAfter { stall: Some(duration), ..CrashAfter::freezing(objects) }
    }

    /// A crash that freezes the output after `objects` object writes (see `freeze`).
    pub fn freezing(objects: u64) -> CrashAfter {
        CrashAfter { freeze: true, ..CrashAfter::at(objects, CrashPoint::BeforeCheckpoint, false) }
    }

    /// Whether a freezing crash has happened.
    pub fn frozen(&self) -> bool {
        self.frozen.load(Ordering::SeqCst)
    }

    /// When a stall that has begun ends (`None`: no stall yet, or not a stall).
    pub fn stalled_until(&self) -> Option<Instant> {
        *self.stalled_until.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits forever once frozen, or until a stall's end; returns at once otherwise.
    pub(crate) async fn gate(&self) {
        if !self.frozen() {
            return;
        }
        match self.stalled_until() {
            Some(until) => clock::sleep_until(until).await,
            None => std::future::pending::<()>().await,
        }
    }

    pub(crate) fn object_written(&self) -> Result<(), OutputError> {
        if self.written.fetch_add(1, Ordering::SeqCst) + 1 != self.objects {
            return Ok(());
        }
        match self.at {
            CrashPoint::BeforeCheckpoint => self.crash(),
            CrashPoint::AfterCheckpoint => {
                self.armed.store(true, Ordering::SeqCst);
                Ok(())
            }
        }
    }

    pub(crate) fn checkpoint_written(&self) -> Result<(), OutputError> {
        if self.armed.swap(false, Ordering::SeqCst) { self.crash() } else { Ok(()) }
    }

    fn crash(&self) -> Result<(), OutputError> {
        if self.freeze {
            if let Some(d) = self.stall {
                *self.stalled_until.lock().unwrap_or_else(|e| e.into_inner()) = Some(clock::now() + d);
            }
            self.frozen.store(true, Ordering::SeqCst);
            return Ok(());
        }
        if self.exit {
            eprintln!("minutely: fault injection: exiting after {} object writes, {}", self.objects, self.at);
            std::process::exit(86);
        }
        Err(OutputError::InjectedCrash { objects: self.objects, at: self.at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stall holds every call from its start for its duration, on tokio's clock, then lets
    /// them through; nothing is held before it fires.
    #[tokio::test(start_paused = true)]
    async fn a_stall_holds_calls_for_its_duration_then_lets_them_go() {
        let stall = CrashAfter::stalling(2, Duration::from_secs(360));
        let t0 = clock::now();
        stall.gate().await;
        stall.object_written().unwrap();
        stall.gate().await;
        assert_eq!(clock::now(), t0, "no wait before the stall");
        stall.object_written().unwrap();
        assert!(stall.frozen());
        assert_eq!(stall.stalled_until(), Some(t0 + Duration::from_secs(360)));
        stall.gate().await;
        assert_eq!(clock::now() - t0, Duration::from_secs(360), "held for the stall");
        stall.gate().await;
        assert_eq!(clock::now() - t0, Duration::from_secs(360), "then let through at once");
    }
}
