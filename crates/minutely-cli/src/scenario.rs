//! `minutely scenario <name>`: one scenario of `scenarios/` on the sim or LocalStack, checked.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use minutely_scenario::{Progress, RunOptions, Scenario, ScenarioBackend};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The scenario: a name in the scenarios directory, or a path to a `.toml` file.
    #[arg(required_unless_present = "list")]
    name: Option<String>,

    /// List the scenarios, one line each.
    #[arg(long)]
    list: bool,

    /// Accept the aggregates as the new snapshot.
    #[arg(long)]
    update_snapshots: bool,

    /// Where to write the JSON report. Default: target/scenarios/NAME.json.
    #[arg(long)]
    report: Option<PathBuf>,

    /// Also draw the report as a page (one self-contained HTML file, charts inline): beside the
    /// JSON report (target/scenarios/NAME.html), or at `--html=FILE`. `minutely report
    /// FILE.json` draws one later.
    #[arg(long, value_name = "FILE", num_args = 0..=1, require_equals = true)]
    html: Option<Option<PathBuf>>,

    /// The backend, over the scenario's: sim (the embedded emulator, in this process), or
    /// LocalStack: auto, host, testcontainers or endpoint.
    #[arg(long)]
    backend: Option<ScenarioBackend>,

    /// Run it with this many generated events (or recorded lines) instead of the file's, to
    /// measure at scale: a generated stream keeps its events per minute (its span grows), no
    /// snapshot then (the model still checks every count), and the timeout grows with the input.
    #[arg(long, value_name = "N")]
    events: Option<u64>,

    /// The timeout over the scenario's (after --events scaled it), e.g. `30m`.
    #[arg(long, value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,

    /// The scenarios directory.
    #[arg(long, default_value = "scenarios")]
    dir: PathBuf,

    /// The clock, over the scenario's: virtual (the sim only, without the user's programs: the
    /// run jumps over its waits and replays exactly from its seed) or real. Default: virtual
    /// wherever it can be.
    #[arg(long)]
    clock: Option<minutely_scenario::ClockMode>,

    /// The seed, over the scenario's `[input] seed`: its generated events, the sim's fault
    /// decisions, every jitter. A report names the command that replays it.
    #[arg(long, conflicts_with = "seeds")]
    seed: Option<u64>,

    /// Many seeds, FIRST..LAST (inclusive): one run per seed on virtual time, in parallel,
    /// stopping at the first failure with the command that replays it, and what the runs
    /// covered. The summary goes to target/scenarios/NAME.swarm.json (or --report).
    #[arg(long, value_parser = parse_seeds, conflicts_with_all = ["html", "update_snapshots"])]
    seeds: Option<std::ops::RangeInclusive<u64>>,

    /// With --seeds: runs at once (default: one per core).
    #[arg(long, requires = "seeds")]
    jobs: Option<usize>,
}

fn parse_seeds(text: &str) -> Result<std::ops::RangeInclusive<u64>, String> {
    minutely_scenario::swarm::parse_seeds(text)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.list {
        return list(&args.dir);
    }
    let (scenario, path) = load(&args)?;
    let root = std::env::current_dir()?;
    let (interrupt, interrupted) = tokio::sync::watch::channel(None::<String>);
    let options = RunOptions {
        snapshots: path.parent().unwrap_or(Path::new(".")).join("snapshots"),
        root,
        update_snapshots: args.update_snapshots,
        backend: args.backend,
        localstack: minutely_localstack::Options::from_env()?,
        interrupt: Some(interrupted),
        program_env: Vec::new(),
        clock: args.clock,
    };
    if let Some(seeds) = args.seeds.clone() {
        return swarm(&args, &scenario, seeds, &options);
    }
    let runtime = options.runtime_for(&scenario)?;
    // SIGINT or SIGTERM: the run stops (producer, consumer, LocalStack) and reports what it
    // did so far; a second signal exits at once (LocalStack's watchdog stops it then).
    runtime.block_on(async {
        crate::signals::watch(move |signal| {
            eprintln!("\nminutely: {signal}: stopping the scenario: producer, consumer, backend (again to abort)");
            let _ = interrupt.send(Some(signal.to_string()));
        })
    })?;
    let progress = Arc::new(Progress::default());
    let bar = progress_line(progress.clone());
    eprintln!("minutely: scenario {}: {}", scenario.name, scenario.description);
    let started_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let report = runtime.block_on(minutely_scenario::run(&scenario, &options, &progress));
    bar.finish_and_clear();
    // Do not wait for what a cut run left behind (a LocalStack start still installing): this
    // process ends now, and that instance's watchdog stops it.
    runtime.shutdown_background();
    let mut report = report.with_context(|| format!("scenario {}", scenario.name))?;
    report.wall.provenance = Some(provenance(started_at, scenario.input.seed));
    report.replay.build = Some(format!("minutely {} ({})", env!("CARGO_PKG_VERSION"), env!("MINUTELY_GIT_COMMIT")));
    let scaled = [
        ("--events", args.events.map(|n| n.to_string())),
        ("--timeout", args.timeout.map(|t| humantime::format_duration(t).to_string())),
    ];
    for (flag, value) in scaled {
        if let Some(value) = value {
            report.replay.command.push_str(&format!(" {flag} {value}"));
        }
    }
    if args.dir != Path::new("scenarios") {
        report.replay.command.push_str(&format!(" --dir {}", args.dir.display()));
    }
    print!("{}{}", report.summary, report.render_wall());
    eprintln!("minutely: replay: {}", report.replay.command);
    let report_path = args.report.unwrap_or_else(|| PathBuf::from(format!("target/scenarios/{}.json", scenario.name)));
    if let Some(dir) = report_path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let json = serde_json::to_vec_pretty(&report)?;
    std::fs::write(&report_path, &json).with_context(|| format!("cannot write {}", report_path.display()))?;
    eprintln!("minutely: report in {}", report_path.display());
    if let Some(html) = args.html {
        let html = html.unwrap_or_else(|| report_path.with_extension("html"));
        // Drawn from the JSON just written: the page says what the file says.
        crate::report::write_page(&[(report_path.clone(), json)], &html)?;
    }
    match report.signal.as_deref() {
        Some("SIGINT") => std::process::exit(crate::signals::Signal::Interrupt.exit_code()),
        Some(_) => std::process::exit(crate::signals::Signal::Terminate.exit_code()),
        None => {}
    }
    if !report.passed {
        bail!("scenario {} failed: {}", scenario.name, report.failures.join("; "));
    }
    Ok(())
}

/// `--list`: one line per scenario.
fn list(dir: &Path) -> anyhow::Result<()> {
    folder_exists(dir)?;
    for s in Scenario::all(dir)? {
        println!("{}", s.summary_line());
    }
    Ok(())
}

/// What the command line gave beyond the scenario, seed and clock, for a replay command.
fn replay_extras(args: &Args) -> String {
    let mut extras = String::new();
    if let Some(n) = args.events {
        extras.push_str(&format!(" --events {n}"));
    }
    if let Some(t) = args.timeout {
        extras.push_str(&format!(" --timeout {}", humantime::format_duration(t)));
    }
    if args.dir != Path::new("scenarios") {
        extras.push_str(&format!(" --dir {}", args.dir.display()));
    }
    extras
}

/// `--seeds`: the swarm, a line per run, its summary, its JSON.
fn swarm(
    args: &Args,
    scenario: &Scenario,
    seeds: std::ops::RangeInclusive<u64>,
    options: &RunOptions,
) -> anyhow::Result<()> {
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let extras = replay_extras(args);
    eprintln!(
        "minutely: swarm of scenario {}: seeds {}..{} on {jobs} threads, virtual time",
        scenario.name,
        seeds.start(),
        seeds.end()
    );
    let on_run = |r: &minutely_scenario::swarm::SeedRun| {
        let verdict = if r.passed { "passed".to_owned() } else { format!("FAILED: {}", r.failures.join("; ")) };
        println!("seed {}: {verdict} ({:.1} s virtual, {:.1} s wall)", r.seed, r.virtual_seconds, r.wall_seconds);
    };
    let mut report = minutely_scenario::swarm::swarm(scenario, seeds, jobs, options, &on_run)?;
    for run in report.each.iter_mut().chain(report.first_failure.as_mut()) {
        run.replay.push_str(&extras);
    }
    print!("{}", report.render());
    let path =
        args.report.clone().unwrap_or_else(|| PathBuf::from(format!("target/scenarios/{}.swarm.json", scenario.name)));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("minutely: swarm report in {}", path.display());
    match &report.first_failure {
        Some(f) => bail!("scenario {} failed with seed {}: replay it with {}", scenario.name, f.seed, f.replay),
        None => Ok(()),
    }
}

/// When, with what build, on which machine and by which command this run was made.
fn provenance(started_at: String, seed: u64) -> minutely_scenario::Provenance {
    let memory_kib: u64 = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().trim_end_matches(" kB").to_owned()))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
    minutely_scenario::Provenance {
        started_at,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        commit: env!("MINUTELY_GIT_COMMIT").to_owned(),
        host,
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        memory_gib: (memory_kib as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        // The program by its name: `cargo run` gives a path inside target/.
        command: std::env::args()
            .enumerate()
            .map(|(i, a)| if i == 0 { "minutely".to_owned() } else { a })
            .collect::<Vec<_>>()
            .join(" "),
        seed,
    }
}

/// The named scenario (a name in the folder, or a `.toml` path), scaled and timed as the flags
/// say; and its file.
fn load(args: &Args) -> anyhow::Result<(Scenario, PathBuf)> {
    let name = args.name.as_deref().expect("clap requires a name without --list");
    let path = if name.ends_with(".toml") { PathBuf::from(name) } else { args.dir.join(format!("{name}.toml")) };
    if name.ends_with(".toml") && !path.is_file() {
        bail!("no scenario file {}", path.display());
    }
    if !path.is_file() {
        folder_exists(&args.dir)?;
        let known: Vec<String> =
            Scenario::all(&args.dir).map(|a| a.into_iter().map(|s| s.name).collect()).unwrap_or_default();
        bail!(
            "no scenario {name} in {} (known: {}); `minutely scenario --list` shows them",
            args.dir.display(),
            known.join(", ")
        );
    }
    let mut scenario = Scenario::load(&path)?;
    if let Some(seed) = args.seed {
        scenario = scenario.with_seed(seed)?;
    }
    if let Some(n) = args.events {
        scenario = scenario.scaled(n)?;
    }
    if let Some(t) = args.timeout {
        scenario.expect.timeout = t;
    }
    Ok((scenario, path))
}

/// The scenarios folder is there, or an error that says where it was looked for and how to
/// point elsewhere.
fn folder_exists(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let here = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default();
    bail!(
        "no scenarios folder {} in {here}: run from the minutely repository, or pass --dir DIR (or a path to a .toml file)",
        dir.display()
    )
}

/// A line on stderr with the phase and the counts (on a terminal), or a plain line every ten
/// seconds (elsewhere, such as CI logs). It runs on its own thread on the machine's clock: on
/// virtual time the run's clock says nothing of how long a person waits, and no task of the
/// run's is added.
fn progress_line(progress: Arc<Progress>) -> ProgressBar {
    let tty = std::io::stderr().is_terminal();
    let bar = if tty { ProgressBar::new_spinner() } else { ProgressBar::hidden() };
    bar.set_style(ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("a valid template"));
    if tty {
        bar.enable_steady_tick(Duration::from_millis(200));
    }
    let shown = bar.clone();
    std::thread::spawn(move || {
        let mut ticks = 0u64;
        // Records per second over the last five seconds (ten samples), for the rate and the ETA.
        let mut window = std::collections::VecDeque::from([(Instant::now(), 0u64)]);
        while !shown.is_finished() {
            std::thread::sleep(Duration::from_millis(500));
            ticks += 1;
            let (read, objects) = progress.consumed();
            let (produced, total) = (progress.produced.load(Ordering::Relaxed), progress.total.load(Ordering::Relaxed));
            window.push_back((Instant::now(), produced));
            if window.len() > 10 {
                window.pop_front();
            }
            let line = format!(
                "{}: produced {produced}/{total}{}, consumer read {read} records, wrote {objects} objects",
                progress.phase.lock().expect("progress lock"),
                rate_and_eta(&window, total),
            );
            if tty {
                shown.set_message(line);
            } else if ticks.is_multiple_of(20) {
                eprintln!("minutely: {line}");
            }
        }
    });
    bar
}

/// ` (12,345 records/s, 40 s left)` from (time, records produced) samples; empty before the
/// first records or after the last.
fn rate_and_eta(window: &std::collections::VecDeque<(Instant, u64)>, total: u64) -> String {
    let (Some((t0, n0)), Some((t1, n1))) = (window.front(), window.back()) else { return String::new() };
    let seconds = t1.duration_since(*t0).as_secs_f64();
    if *n1 <= *n0 || seconds <= 0.0 || *n1 >= total {
        return String::new();
    }
    let rate = (n1 - n0) as f64 / seconds;
    let left = Duration::from_secs(((total - n1) as f64 / rate).ceil() as u64);
    format!(" ({rate:.0} records/s, {} left)", humantime::format_duration(left))
}
