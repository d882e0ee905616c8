//! The Kinesis + S3 a run talks to: the embedded sim (started in this process, with the plan's
//! faults and limits) or a LocalStack (started, or already running at an endpoint).

use std::time::Duration;

use minutely_localstack::{Backend, LocalStack};
use serde::Serialize;

/// Where a scenario runs: the embedded sim (in this process), or a LocalStack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScenarioBackend {
    Sim,
    LocalStack(Backend),
}

impl std::str::FromStr for ScenarioBackend {
    type Err = String;

    fn from_str(s: &str) -> Result<ScenarioBackend, String> {
        match s {
            "sim" => Ok(ScenarioBackend::Sim),
            other => other
                .parse()
                .map(ScenarioBackend::LocalStack)
                .map_err(|_| format!("{other:?}: use sim, auto, host, testcontainers or endpoint")),
        }
    }
}

impl std::fmt::Display for ScenarioBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScenarioBackend::Sim => f.write_str("sim"),
            ScenarioBackend::LocalStack(b) => b.fmt(f),
        }
    }
}

/// A backend that runs; dropping it stops it.
#[derive(Debug)]
pub enum Running {
    Sim(minutely_sim::Sim),
    LocalStack(LocalStack),
}

impl Running {
    /// Starts `backend`: the sim with `sim` (its faults and limits), LocalStack with the
    /// settings `localstack_env`. LocalStack is started on a blocking thread; a start cut short
    /// goes on there and stops LocalStack when it ends (or, if this process exits first,
    /// LocalStack's watchdog does).
    pub async fn start(
        backend: ScenarioBackend,
        sim: minutely_sim::Config,
        localstack_env: &[(String, String)],
        localstack: &minutely_localstack::Options,
    ) -> anyhow::Result<Running> {
        match backend {
            ScenarioBackend::Sim => Ok(Running::Sim(minutely_sim::Sim::start(sim).await?)),
            ScenarioBackend::LocalStack(b) => {
                let mut options = localstack.clone();
                options.backend = b;
                if !localstack_env.is_empty() {
                    options.endpoint = None; // auto must start one, with the settings
                    for (k, v) in localstack_env {
                        options = options.with_env(k, v);
                    }
                }
                // A scenario's instance holds nothing worth a slow clean shutdown (LocalStack
                // takes about five seconds on SIGTERM): SIGKILL after two, so that an
                // interrupted run ends within five.
                options.stop_grace = options.stop_grace.min(Duration::from_secs(2));
                let ls = tokio::task::spawn_blocking(move || LocalStack::start(&options)).await??;
                Ok(Running::LocalStack(ls))
            }
        }
    }

    pub fn endpoint(&self) -> String {
        match self {
            Running::Sim(sim) => sim.endpoint(),
            Running::LocalStack(ls) => ls.endpoint().to_owned(),
        }
    }

    /// The clients of a run: `in_process` (virtual time), the sim answers in this process (no
    /// socket, no wait outside tokio's clock); otherwise over its endpoint.
    pub async fn clients(&self, in_process: bool) -> minutely_aws::Clients {
        match self {
            Running::Sim(sim) if in_process => minutely_aws::in_process_clients(sim.handler()).await,
            _ => minutely_aws::clients(&minutely_aws::Target::endpoint(self.endpoint())).await,
        }
    }

    /// SHA-256 of the sim's whole state (`replay::Replay::state_sha256`); `None` on LocalStack.
    pub fn state_sha256(&self) -> Option<String> {
        match self {
            Running::Sim(sim) => Some(sha256_of_json(&sim.snapshot())),
            Running::LocalStack(_) => None,
        }
    }

    /// `sim`, `host`, `testcontainers` or `endpoint`.
    pub fn name(&self) -> String {
        match self {
            Running::Sim(_) => "sim".into(),
            Running::LocalStack(ls) => ls.backend().to_string(),
        }
    }

    /// What the sim counted (faults fired, entries throttled...); `None` on LocalStack.
    /// Has the sim keep every S3 PutObject (nothing on LocalStack).
    pub fn journal_s3_writes(&self) {
        if let Running::Sim(sim) = self {
            sim.journal_s3_writes();
        }
    }

    /// Keeps the records retention trims unread in the sim's ledgers (nothing on LocalStack).
    pub fn keep_trimmed(&self) {
        if let Running::Sim(sim) = self {
            sim.keep_trimmed();
        }
    }

    /// The sim's S3 PutObjects since [`Running::journal_s3_writes`]; `None` on LocalStack.
    pub fn s3_writes(&self) -> Option<Vec<minutely_sim::s3::S3Write>> {
        match self {
            Running::Sim(sim) => Some(sim.s3_writes()),
            Running::LocalStack(_) => None,
        }
    }

    pub fn sim_stats(&self) -> Option<minutely_sim::Stats> {
        match self {
            Running::Sim(sim) => Some(sim.stats()),
            Running::LocalStack(_) => None,
        }
    }

    /// The sim's ledger of `stream` (where it stored entries under lost answers); `None` on
    /// LocalStack.
    pub fn ledger(&self, stream: &str) -> Option<minutely_sim::Ledger> {
        match self {
            Running::Sim(sim) => sim.ledger(stream),
            Running::LocalStack(_) => None,
        }
    }

    /// Ends the faults: the run's checks read S3 back through the same backend, and are not
    /// what is under test.
    pub fn calm(&self) {
        self.set_faults(minutely_sim::Faults::default());
    }

    /// The sim's faults from now on (a fault window opening or closing); nothing on LocalStack.
    pub fn set_faults(&self, faults: minutely_sim::Faults) {
        if let Running::Sim(sim) = self {
            sim.set_faults(faults).expect("the plan's faults were validated");
        }
    }

    /// Stops it (LocalStack on a blocking thread: its stop waits for the process).
    pub async fn stop(self) {
        match self {
            Running::Sim(sim) => sim.stop().await,
            Running::LocalStack(ls) => {
                let _ = tokio::task::spawn_blocking(move || drop(ls)).await;
            }
        }
    }
}

/// SHA-256 of `value`'s JSON, written into the hash as it is made (a million records' state is
/// never held as text).
fn sha256_of_json<T: Serialize>(value: &T) -> String {
    use sha2::Digest;
    struct Hashing(sha2::Sha256);
    impl std::io::Write for Hashing {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.update(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut h = Hashing(sha2::Sha256::new());
    serde_json::to_writer(&mut h, value).expect("a state serializes");
    h.0.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_digest_is_sha256_of_the_json() {
        // sha256 of `{"a":1}`, as `printf '{"a":1}' | sha256sum` gives it.
        let mut m = std::collections::BTreeMap::new();
        m.insert("a", 1);
        assert_eq!(sha256_of_json(&m), "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862");
    }
}
