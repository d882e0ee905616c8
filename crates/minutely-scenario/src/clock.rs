//! Which clock a run is on, and the runtime that gives it.
//!
//! On **virtual time** everything of a run (the sim, answered in process without a socket,
//! the producer, every consumer worker, the leases, the engine) shares tokio's paused clock on
//! one current-thread runtime. The clock stands still while any task can run and jumps to the
//! next timer when every task waits: a run takes the CPU time its work takes, and no wall time
//! for its waits (polls, backoff, pacing, idle timeouts, lease renewals). Tasks run in the
//! order they were woken, every `select!` on the way is `biased`, every draw is from the
//! scenario's seed and every wall-clock reading is the virtual one
//! (`minutely_aws::clock::virtual_wall`), so a run replays exactly from its seed.
//!
//! **Real time** is for what runs outside this process: LocalStack, and the user's programs.

use std::fmt;

use crate::backend::ScenarioBackend;

/// The wall-clock moment a virtual run starts at: 2026-01-01T00:00:00Z. Fixed, so that stream
/// names, run ids, the sim's arrival times and lease stamps are the same on every replay.
pub const VIRTUAL_EPOCH_MS: i64 = 1_767_225_600_000;

/// Virtual or real time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClockMode {
    Virtual,
    Real,
}

impl std::str::FromStr for ClockMode {
    type Err = String;

    fn from_str(s: &str) -> Result<ClockMode, String> {
        match s {
            "virtual" => Ok(ClockMode::Virtual),
            "real" => Ok(ClockMode::Real),
            other => Err(format!("{other:?}: use virtual or real")),
        }
    }
}

impl fmt::Display for ClockMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClockMode::Virtual => "virtual",
            ClockMode::Real => "real",
        })
    }
}

impl ClockMode {
    /// The clock of scenario `name` on `backend` (`programs`: it runs the user's): `asked` (the
    /// command line's), else the file's `clock`, else virtual wherever it can be (the sim, no
    /// program of the user's). A virtual clock is refused by name where it cannot be; a file's
    /// `clock = "virtual"` on LocalStack runs on real time, as LocalStack does.
    pub fn of(
        (name, file, programs): (&str, Option<ClockMode>, bool),
        backend: ScenarioBackend,
        asked: Option<ClockMode>,
    ) -> Result<ClockMode, String> {
        let cannot = match (backend, programs) {
            (ScenarioBackend::LocalStack(_), _) => Some("LocalStack runs on its own real clock"),
            (ScenarioBackend::Sim, true) => Some("the user's programs run in real time, in their own processes"),
            (ScenarioBackend::Sim, false) => None,
        };
        match (asked, cannot) {
            (Some(ClockMode::Virtual), Some(why)) => {
                Err(format!("scenario {name}: --clock virtual is refused on {backend}: {why}"))
            }
            (Some(mode), _) => Ok(mode),
            (None, Some(_)) => Ok(ClockMode::Real),
            (None, None) => Ok(file.unwrap_or(ClockMode::Virtual)),
        }
    }

    /// The runtime a run on this clock needs: virtual, one thread with tokio's clock paused
    /// from the start; real, two workers (one per core of the machines minutely is measured
    /// on).
    pub fn runtime(self) -> std::io::Result<tokio::runtime::Runtime> {
        match self {
            ClockMode::Virtual => tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build(),
            ClockMode::Real => tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_virtual_runtime_jumps_over_waits() {
        let rt = ClockMode::Virtual.runtime().unwrap();
        let wall = std::time::Instant::now();
        let waited = rt.block_on(async {
            let t0 = tokio::time::Instant::now();
            tokio::time::sleep(std::time::Duration::from_secs(6 * 3600)).await;
            t0.elapsed()
        });
        assert_eq!(waited, std::time::Duration::from_secs(6 * 3600));
        assert!(wall.elapsed() < std::time::Duration::from_secs(5), "six hours took {:?}", wall.elapsed());
    }
}
