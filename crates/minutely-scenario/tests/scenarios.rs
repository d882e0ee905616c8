//! Every `scenarios/*.toml` is two tests: `sim::<name>` (the embedded emulator, in this
//! process) and `localstack::<name>` (a LocalStack the run starts, or the one at
//! `AWS_ENDPOINT_URL`). Each is checked against the counting model, its snapshot
//! (`scenarios/snapshots/<name>.snap`, the same one on both backends: differential testing with
//! LocalStack as the reference), its latency limits and, on the sim, that every injected fault
//! fired. A scenario whose faults LocalStack cannot do (per-entry failures, lost answers, AWS
//! limits...) is refused there by name: its `localstack::` test checks that refusal, marked
//! `[refused]`.
//!
//! Each run's report is also drawn as its page (`minutely-report`, from the report's JSON), and
//! the page is checked: the verdict, every check, the totals equal to the JSON's, and the four
//! charts drawn (written to `target/scenarios/pages/` to look at).
//!
//! One test at a time unless `--test-threads` says otherwise: two runs at once would measure
//! each other's latency. Run one alone: `cargo test -p minutely-scenario --test scenarios --
//! sim::smoke`.

use std::path::Path;

use libtest_mimic::{Arguments, Failed, Trial};
use minutely_localstack::Backend;
use minutely_scenario::faults::Plan;
use minutely_scenario::{ClockMode, Progress, RunOptions, Scenario, ScenarioBackend};

fn main() -> std::process::ExitCode {
    let mut args = Arguments::from_args();
    args.test_threads = args.test_threads.or(Some(1));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let scenarios = Scenario::all(&root.join("scenarios")).expect("the scenarios parse");
    assert!(scenarios.len() >= 8, "the shipped scenarios are found: {}", scenarios.len());
    let mut trials = Vec::new();
    for s in scenarios {
        let localstack = match s.backend {
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
    let localstack = minutely_localstack::Options::from_env().expect("LocalStack options from the environment");
    RunOptions {
        root: root.to_owned(),
        snapshots: root.join("scenarios/snapshots"),
        update_snapshots: false,
        backend: Some(backend),
        localstack,
        interrupt: None,
        program_env: Vec::new(),
        clock: None,
    }
}

/// For a scenario that runs the user's programs: a Python with boto3 first on `PATH` (the venv
/// LocalStack's host backend installs, which has it), as a user's machine would have.
fn with_python(mut options: RunOptions, s: &Scenario) -> RunOptions {
    if s.producer.is_some() || s.consumer.is_some() {
        let install = minutely_localstack::host::ensure_installed(&options.localstack).expect("a Python with boto3");
        let bin = install.python.parent().expect("the venv's bin").to_owned();
        let path = std::env::var_os("PATH").unwrap_or_default();
        let path = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&path))).expect("a PATH");
        options.program_env.push(("PATH".into(), path.to_string_lossy().into_owned()));
    }
    options
}

/// One run of `s` with `options`, on the runtime of its clock.
fn run_once(s: &Scenario, options: &RunOptions) -> Result<minutely_scenario::Report, Failed> {
    let runtime = options.runtime_for(s).map_err(|e| format!("{}: {e:#}", s.name))?;
    let report = runtime
        .block_on(minutely_scenario::run(s, options, &Progress::default()))
        .map_err(|e| format!("{}: {e:#}", s.name))?;
    println!("{}{}", report.render(), report.render_wall());
    Ok(report)
}

/// Runs `s` on `backend`: passes when the report does; a demonstration (`[expect] finds`)
/// passes when the stream's check found exactly those classes and nothing else failed. On
/// virtual time it runs twice, and the two reports must be the same byte for byte outside
/// their `wall` (the sim's whole state at the end included, by its digest).
///
/// The replay runs beside the first run, on a thread of its own: a virtual run measures no
/// wall time, so two at once change nothing in either (the swarm runs seeds so), and the
/// machine's second core halves the test's time.
fn run(s: &Scenario, backend: ScenarioBackend, root: &Path) -> Result<(), Failed> {
    let options = with_python(options(root, backend), s);
    let virtual_time = options.clock_of(s).map_err(|e| format!("{}: {e:#}", s.name))? == ClockMode::Virtual;
    let replay = virtual_time.then(|| {
        let (s, options) = (s.clone(), options.clone());
        std::thread::spawn(move || run_once(&s, &options).map_err(|e| format!("{e:?}")))
    });
    let report = run_once(s, &options)?;
    if let Some(replay) = replay {
        let again = replay.join().map_err(|_| format!("{}: the replay's thread panicked", s.name))??;
        let (first, second) = (report.replayed_part(), again.replayed_part());
        if first != second {
            let at = first.lines().zip(second.lines()).position(|(a, b)| a != b).unwrap_or(0);
            let show = |t: &str| t.lines().skip(at.saturating_sub(3)).take(8).collect::<Vec<_>>().join("\n");
            return Err(format!(
                "{}: a replay on virtual time differs from the first run at line {}:\nfirst:\n{}\nreplay:\n{}",
                s.name,
                at + 1,
                show(&first),
                show(&second)
            )
            .into());
        }
        if report.replay.state_sha256.is_none() {
            return Err(format!("{}: a virtual run on the sim names its state's digest", s.name).into());
        }
    }
    check_page(&report, backend, root)?;
    if !s.expect.finds.is_empty() {
        let found = report.history.as_ref().map(|h| h.failed()).unwrap_or_default();
        let ours = |f: &&String| f.starts_with("the stream's check found") || f.starts_with("the counts' check found");
        let others: Vec<&String> = report.failures.iter().filter(|f| !ours(f)).collect();
        if report.passed || found != s.expect.finds.names() || !others.is_empty() {
            return Err(format!(
                "{}: expected the checks to find {:?}, found {found:?}; other failures: {others:?}",
                s.name,
                s.expect.finds.names()
            )
            .into());
        }
        return Ok(());
    }
    if !report.passed {
        return Err(format!("{} on {backend}: {}", s.name, report.failures.join("; ")).into());
    }
    Ok(())
}

/// The run's page, drawn from its JSON as `minutely scenario --html` draws it, says what the
/// report says, with its four charts drawn.
fn check_page(report: &minutely_scenario::Report, backend: ScenarioBackend, root: &Path) -> Result<(), Failed> {
    let json = serde_json::to_vec(report).map_err(|e| e.to_string())?;
    let run =
        minutely_report::Run::from_json(&json).map_err(|e| format!("the report's JSON does not read back: {e}"))?;
    let page = minutely_report::page(&[run]);
    let dir = root.join("target/scenarios/pages");
    let _ = std::fs::create_dir_all(&dir);
    let _ =
        std::fs::write(dir.join(format!("{}-{}.html", backend.to_string().replace(' ', "-"), report.scenario)), &page);
    let verdict = if report.passed { "PASSED" } else { "FAILED" };
    let mut wanted: Vec<String> = vec![format!("<span class=\"verdict {verdict}\">{verdict}</span>")];
    for (name, value) in
        [("counted in S3", report.counted), ("events (model)", report.events), ("records in", report.records_in)]
    {
        wanted.push(format!("data-total=\"{name}\">{value}</td>"));
    }
    for c in &report.checks {
        let class = if c.passed { "passed" } else { "failed" };
        wanted.push(format!("<tr class=\"{class}\"><td>{}</td>", c.name.replace('<', "&lt;").replace('>', "&gt;")));
    }
    if report.latency.total.count > 0 {
        wanted.push(format!("p99 {} ms", report.latency.total.p99_ms));
    }
    // The checks of the user's programs, each class found with its first witness or pair.
    if let Some(h) = &report.history {
        if let Some(c) = &h.stream {
            wanted.push("id=\"checks-stream\"".into());
            for (a, k) in c.verdict.classes.iter().filter(|(_, k)| k.count > 0) {
                wanted.push(format!("<td>{}</td><td class=\"num\">{}</td>", a.name(), k.count));
                wanted.extend(k.witnesses.first().map(|w| w.id.clone()));
            }
        }
        if let Some(c) = &h.counts {
            wanted.push("id=\"checks-counts\"".into());
            for (a, k) in c.verdict.classes.iter().filter(|(_, k)| k.windows > 0) {
                wanted.push(format!("<td>{}</td><td class=\"num\">{}</td>", a.name(), k.windows));
            }
        }
    }
    let mut missing: Vec<String> = wanted.into_iter().filter(|w| !page.contains(w.as_str())).collect();
    for id in ["latency", "throughput", "counts", "lag"] {
        let at = page.find(&format!("id=\"chart-{id}\"")).ok_or(format!("no chart {id}"))?;
        if id == "lag" && page[at..].starts_with("id=\"chart-lag\" class=\"folded\">") {
            continue; // a flat zero lag is said in a line, not drawn
        }
        let figure = &page[at..at + page[at..].find("</figure>").unwrap_or(0)];
        if !figure.contains("<svg") || figure.contains("could not be drawn") {
            missing.push(format!("the {id} chart drawn"));
        }
    }
    if missing.is_empty() { Ok(()) } else { Err(format!("the page of {} lacks: {missing:?}", report.scenario).into()) }
}

/// A scenario LocalStack cannot run: the run must refuse before starting anything, naming the
/// fault and the backend.
fn refused_by_name(s: &Scenario, backend: ScenarioBackend, root: &Path) -> Result<(), Failed> {
    let options = options(root, backend);
    let runtime = options.runtime_for(s).expect("a runtime");
    let result = runtime.block_on(minutely_scenario::run(s, &options, &Progress::default()));
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
