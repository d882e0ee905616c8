//! Fault injection: a consumer that crashes after a chosen number of object writes, before or
//! after the checkpoint that follows them, or freezes there (the tests' and scenarios' planned
//! kills).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

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
        }
    }

    /// A crash that freezes the output after `objects` object writes (see `freeze`).
    pub fn freezing(objects: u64) -> CrashAfter {
        CrashAfter { freeze: true, ..CrashAfter::at(objects, CrashPoint::BeforeCheckpoint, false) }
    }

    /// Whether a freezing crash has happened.
    pub fn frozen(&self) -> bool {
        self.frozen.load(Ordering::SeqCst)
    }

    /// Waits forever once frozen; returns at once otherwise.
    pub(crate) async fn gate(&self) {
        if self.frozen() {
            std::future::pending::<()>().await;
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
