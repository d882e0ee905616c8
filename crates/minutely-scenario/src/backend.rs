//! The Kinesis + S3 a run talks to: the embedded sim (started in this process, with the plan's
//! faults and limits) or a LocalStack (started, or already running at an endpoint).

use std::time::Duration;

use minutely_localstack::LocalStack;

use crate::faults::Plan;
use crate::spec::ScenarioBackend;

/// A backend that runs; dropping it stops it.
#[derive(Debug)]
pub enum Running {
    Sim(minutely_sim::Sim),
    LocalStack(LocalStack),
}

impl Running {
    /// Starts `backend` with the plan's faults. LocalStack is started on a blocking thread; a
    /// start cut short goes on there and stops LocalStack when it ends (or, if this process
    /// exits first, LocalStack's watchdog does).
    pub async fn start(
        backend: ScenarioBackend,
        plan: &Plan,
        localstack: &minutely_localstack::Options,
    ) -> anyhow::Result<Running> {
        match backend {
            ScenarioBackend::Sim => {
                let config = minutely_sim::Config {
                    limits: plan.sim_limits,
                    faults: plan.sim.clone(),
                    ..minutely_sim::Config::default()
                };
                Ok(Running::Sim(minutely_sim::Sim::start(config).await?))
            }
            ScenarioBackend::LocalStack(b) => {
                let mut options = localstack.clone();
                options.backend = b;
                if !plan.localstack_env.is_empty() {
                    options.endpoint = None; // auto must start one, with the settings
                    for (k, v) in &plan.localstack_env {
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

    /// `sim`, `host`, `testcontainers` or `endpoint`.
    pub fn name(&self) -> String {
        match self {
            Running::Sim(_) => "sim".into(),
            Running::LocalStack(ls) => ls.backend().to_string(),
        }
    }

    /// What the sim counted (faults fired, entries throttled...); `None` on LocalStack.
    pub fn sim_stats(&self) -> Option<minutely_sim::Stats> {
        match self {
            Running::Sim(sim) => Some(sim.stats()),
            Running::LocalStack(_) => None,
        }
    }

    /// Ends the faults: the run's checks read S3 back through the same backend, and are not
    /// what is under test.
    pub fn calm(&self) {
        if let Running::Sim(sim) = self {
            sim.set_faults(minutely_sim::Faults::default()).expect("no faults are valid faults");
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
