//! Every `scenarios/*.toml` is two tests: `sim::<name>` (the embedded emulator, in this
//! process) and `localstack::<name>` (a LocalStack the run starts, or the one at
//! `AWS_ENDPOINT_URL`). Each is checked against the counting model, its snapshot
//! (`scenarios/snapshots/<name>.snap`, the same one on both backends: differential testing with
//! LocalStack as the reference), its latency limits and, on the sim, that every injected fault
//! fired. A scenario whose faults LocalStack cannot do (per-entry failures, lost answers, AWS
//! limits...) is refused there by name: its `localstack::` test checks that refusal, marked
//! `[refused]`.
//!
//! One test at a time unless `--test-threads` says otherwise: two runs at once would measure
//! each other's latency. Run one alone: `cargo test -p minutely-scenario --test scenarios --
//! sim::smoke`.

use std::path::Path;

use libtest_mimic::{Arguments, Failed, Trial};
use minutely_localstack::Backend;
use minutely_scenario::faults::Plan;
use minutely_scenario::{Progress, RunOptions, Scenario, ScenarioBackend};

fn main() -> std::process::ExitCode {
    let mut args = Arguments::from_args();
    args.test_threads = args.test_threads.or(Some(1));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let scenarios = Scenario::all(&root.join("scenarios")).expect("the scenarios parse");
    assert!(scenarios.len() >= 8, "the shipped scenarios are found: {}", scenarios.len());
    let mut trials = Vec::new();
    for s in scenarios {
        let localstack = match s.backend().expect("checked on load") {
            ScenarioBackend::LocalStack(b) => b,
            ScenarioBackend::Sim => Backend::Auto,
        };
        let on_localstack = ScenarioBackend::LocalStack(localstack);
        let refused = Plan::new(&s.faults, on_localstack, s.input.seed).err();
        let (sim, ls, root2) = (s.clone(), s.clone(), root.clone());
        trials.push(Trial::test(format!("sim::{}", s.name), move || run(&sim, ScenarioBackend::Sim, &root2)));
        let root = root.clone();
        trials.push(match refused {
            None => Trial::test(format!("localstack::{}", s.name), move || run(&ls, on_localstack, &root)),
            Some(_) => {
                Trial::test(format!("localstack::{}", s.name), move || refused_by_name(&ls, on_localstack, &root))
                    .with_kind("refused")
            }
        });
    }
    libtest_mimic::run(&args, trials).exit_code()
}

fn options(root: &Path, backend: ScenarioBackend) -> RunOptions {
    RunOptions {
        root: root.to_owned(),
        snapshots: root.join("scenarios/snapshots"),
        update_snapshots: false,
        backend: Some(backend),
        localstack: minutely_localstack::Options::from_env().expect("LocalStack options from the environment"),
        interrupt: None,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a tokio runtime")
}

/// Runs `s` on `backend`: passes when the report does.
fn run(s: &Scenario, backend: ScenarioBackend, root: &Path) -> Result<(), Failed> {
    let report = runtime()
        .block_on(minutely_scenario::run(s, &options(root, backend), &Progress::default()))
        .map_err(|e| format!("{}: {e:#}", s.name))?;
    println!("{}", report.render());
    if !report.passed {
        return Err(format!("{} on {backend}: {}", s.name, report.failures.join("; ")).into());
    }
    Ok(())
}

/// A scenario LocalStack cannot run: the run must refuse before starting anything, naming the
/// fault and the backend.
fn refused_by_name(s: &Scenario, backend: ScenarioBackend, root: &Path) -> Result<(), Failed> {
    let result = runtime().block_on(minutely_scenario::run(s, &options(root, backend), &Progress::default()));
    let Err(e) = result else { return Err(format!("{} ran on {backend}, expected a refusal", s.name).into()) };
    let message = e.to_string();
    println!("{}: {message}", s.name);
    let named = s.faults.iter().any(|f| message.contains(&format!("[faults] {} is refused by the", f.name())));
    if named && message.contains(&backend.to_string()) {
        Ok(())
    } else {
        Err(format!("unclear refusal: {message}").into())
    }
}
