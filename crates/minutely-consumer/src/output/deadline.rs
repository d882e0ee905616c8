//! A lease's deadline as the last check before a write goes out. A reader's output is wrapped
//! in it innermost, beneath any injected fault: a worker paused anywhere (a long GC, a stopped
//! container) and woken after its lease lapsed sends nothing more, not even the write it was in
//! the middle of. The deadline moves with each renewal (`Readers::extend`) and drops to zero
//! when the lease is lost (`Readers::revoke`).
//!
//! This is a check, not a fence: S3 cannot refuse a stale writer's PutObject. What fences is
//! the checkpoint's conditional write (`If-Match`), and the objects' paths and bytes being a
//! function of the checkpoint, so that the next holder writes the same ones again. The check
//! keeps a woken worker from sending anything after another could have taken the shard; a
//! write sent just in time and held in the network past that moment is the case it cannot
//! cover (the scenario engine's fence property over the sim's write journal would name it).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::OutputError;
use crate::worker::Clock;

/// Until when (ms on the run's [`Clock`]) a reader may write.
#[derive(Clone, Debug)]
pub struct Deadline {
    pub valid_until: Arc<AtomicU64>,
    pub clock: Clock,
}

impl Deadline {
    /// `Err(Lapsed)` naming `place` once the deadline has passed.
    pub(crate) fn check(&self, place: impl FnOnce() -> String) -> Result<(), OutputError> {
        if self.clock.now().0 >= self.valid_until.load(Ordering::Relaxed) {
            return Err(OutputError::Lapsed { key: place() });
        }
        Ok(())
    }
}
