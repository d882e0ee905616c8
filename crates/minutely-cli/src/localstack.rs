//! `minutely localstack up | down | status | logs`: a LocalStack that outlives the command, for
//! other commands and other shells to use.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use minutely_localstack::{Backend, Chosen, LOCALSTACK_VERSION, Options, ServiceState, host};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,

    /// The instance name, so several can run side by side.
    #[arg(long, global = true, default_value = "default")]
    name: String,

    /// Where the LocalStack venv, kinesis-mock and instances live.
    #[arg(long, global = true, env = "MINUTELY_CACHE_DIR", value_name = "DIR")]
    cache_dir: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Start LocalStack and leave it running; prints `export AWS_ENDPOINT_URL=...` on stdout, so
    /// `eval "$(minutely localstack up)"` points this shell at it.
    Up {
        /// auto (an endpoint if set, else Docker if it answers, else a host process), host,
        /// testcontainers or endpoint.
        #[arg(long, env = "MINUTELY_LOCALSTACK_BACKEND", default_value = "auto")]
        backend: Backend,
        /// An already running LocalStack to check and use (the endpoint backend).
        #[arg(long, env = "AWS_ENDPOINT_URL")]
        endpoint: Option<String>,
        /// The Python for the venv (default: python3.11, then python3).
        #[arg(long, env = "MINUTELY_PYTHON")]
        python: Option<PathBuf>,
        /// Give up on the start after this long.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "5m")]
        timeout: Duration,
        /// Extra LocalStack settings, for example `KINESIS_ERROR_PROBABILITY=0.3`.
        #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        env: Vec<(String, String)>,
    },
    /// Stop it (SIGTERM, then SIGKILL after a grace period; no process left behind).
    Down {
        /// Stop every instance on this machine: named ones and those of runs and tests.
        #[arg(long)]
        all: bool,
    },
    /// Say whether it runs, where, and how its services are. Exit 1 when it does not run.
    Status,
    /// Print its log.
    Logs {
        /// Only the last N lines.
        #[arg(long, value_name = "N")]
        lines: Option<usize>,
    },
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut options = Options::from_env()?;
    if let Some(dir) = args.cache_dir {
        options.cache_dir = dir;
    }
    match args.action {
        Action::Up { backend, endpoint, python, timeout, env } => {
            options.backend = backend;
            options.endpoint = endpoint;
            options.python = python.or(options.python);
            options.start_timeout = timeout;
            options.env = env;
            up(&options, &args.name)
        }
        Action::Down { all: true } => down_all(&options),
        Action::Down { all: false } => {
            let stopped = host::stop_named(&options, &args.name)?;
            let how = if stopped.terminated { "stopped" } else { "killed after the grace period" };
            eprintln!("minutely: LocalStack {:?} {how}", args.name);
            if stopped.orphans_killed > 0 {
                eprintln!("minutely: also killed {} leftover processes of it", stopped.orphans_killed);
            }
            Ok(())
        }
        Action::Status => {
            list_instances(&options);
            let record = host::read_record(&options, &args.name)?;
            if !host::alive(record.pid) {
                bail!(
                    "LocalStack {:?} is not running (pid {} is gone; log: {})",
                    args.name,
                    record.pid,
                    record.log.display()
                );
            }
            println!(
                "LocalStack {:?} running at {} (pid {}, log {})",
                args.name,
                record.endpoint,
                record.pid,
                record.log.display()
            );
            match minutely_localstack::health::fetch(&record.endpoint) {
                Ok(health) => {
                    for service in ["kinesis", "s3"] {
                        let state = health.state(service).cloned().unwrap_or(ServiceState::Other("absent".into()));
                        println!("  {service}: {state:?}");
                    }
                    Ok(())
                }
                Err(e) => bail!("LocalStack {:?} runs but does not answer: {e}", args.name),
            }
        }
        Action::Logs { lines } => {
            let log = host::log_of(&options, &args.name);
            let text = match lines {
                Some(n) => host::tail(&log, n) + "\n",
                None => std::fs::read_to_string(&log).with_context(|| format!("no log at {}", log.display()))?,
            };
            print!("{text}");
            Ok(())
        }
    }
}

/// Starts the named instance; a SIGINT or SIGTERM while it starts (an install can take minutes)
/// stops what was started and exits 130 or 143, instead of leaving a half-started instance.
fn start_or_stop_on_signal(options: &Options, name: &str) -> anyhow::Result<host::Record> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let mut signals = crate::signals::Signals::new()?;
        let (opts, n) = (options.clone(), name.to_owned());
        let starting = tokio::task::spawn_blocking(move || host::start(&opts, Some(&n)).map(host::Instance::detach));
        tokio::select! {
            started = starting => Ok(started??),
            signal = signals.recv() => {
                eprintln!("minutely: {signal}: stopping the LocalStack being started");
                let stopped = host::stop_marked(name, options.stop_grace);
                if stopped.killed {
                    eprintln!("minutely: it had to be killed");
                }
                std::process::exit(signal.exit_code());
            }
        }
    })
}

/// Every instance on this machine, with its owner and whether the owner lives.
fn list_instances(options: &Options) {
    let found = host::instances();
    if found.is_empty() {
        println!("no LocalStack instance runs on this machine");
        return;
    }
    println!("LocalStack instances on this machine:");
    for f in found {
        let owner = match f.owner {
            host::Owner::Named => match host::read_record(options, &f.id) {
                Ok(r) => format!("named, at {}", r.endpoint),
                Err(_) => "named (no record in this cache directory)".to_owned(),
            },
            host::Owner::Process { pid, alive: true } => format!("owner pid {pid}, alive"),
            host::Owner::Process { pid, alive: false } => {
                format!("owner pid {pid}, gone: an orphan (the next start, or `down --all`, stops it)")
            }
        };
        println!("  {}: {} processes; {owner}", f.id, f.pids.len());
    }
}

/// `down --all`: every named instance by its record, every other one by its marker.
fn down_all(options: &Options) -> anyhow::Result<()> {
    let found = host::instances();
    if found.is_empty() {
        eprintln!("minutely: no LocalStack instance runs on this machine");
    }
    for f in found {
        let stopped = match f.owner {
            host::Owner::Named => {
                host::stop_named(options, &f.id).unwrap_or_else(|_| host::stop_marked(&f.id, options.stop_grace))
            }
            host::Owner::Process { .. } => host::stop_marked(&f.id, options.stop_grace),
        };
        let how = if stopped.killed { "killed after the grace period" } else { "stopped" };
        eprintln!("minutely: LocalStack {:?} ({} processes) {how}", f.id, f.pids.len());
    }
    Ok(())
}

fn up(options: &Options, name: &str) -> anyhow::Result<()> {
    let chosen =
        minutely_localstack::choose(options.backend, options.endpoint.as_deref(), minutely_localstack::docker_answers)?;
    let endpoint = match chosen {
        Chosen::Endpoint(endpoint) => {
            let health = minutely_localstack::health::fetch(&endpoint)
                .map_err(|e| anyhow::anyhow!("the endpoint {endpoint} is not a LocalStack that answers: {e}"))?;
            eprintln!("minutely: using the LocalStack at {endpoint} (version {})", health.version.unwrap_or_default());
            endpoint
        }
        Chosen::Testcontainers => bail!(
            "a testcontainers LocalStack is removed when the command that started it exits; for one that stays up \
             with Docker, run `docker compose up -d` in the minutely repository (compose.yaml), or pass --backend host"
        ),
        Chosen::Host => {
            eprintln!(
                "minutely: starting LocalStack {LOCALSTACK_VERSION} as a host process (the first start installs it: about 2 minutes)"
            );
            let record = start_or_stop_on_signal(options, name)?;
            eprintln!(
                "minutely: LocalStack {name:?} ready at {} (pid {}, log {}); `minutely localstack down` stops it",
                record.endpoint,
                record.pid,
                record.log.display()
            );
            record.endpoint
        }
    };
    println!("export AWS_ENDPOINT_URL={endpoint}");
    Ok(())
}
