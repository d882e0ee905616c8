//! `minutely sim`: the embedded Kinesis + S3 emulator in the foreground.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use minutely_sim::{Bounds, Config, Credentials, Faults, Shapes, Sim};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, env = "MINUTELY_SIM_PORT", default_value_t = 4567)]
    port: u16,
    /// Serve without AWS's per-shard limits (1,000 records/s and 1 MiB/s in, 5 calls/s and
    /// 2 MiB/s out per shard).
    #[arg(long)]
    no_limits: bool,
    /// How long a new stream stays CREATING, a resharded one UPDATING and a deleted one
    /// DELETING, as on AWS (`500ms`, `2s`; `0s` makes every change immediate).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "500ms")]
    transitions: std::time::Duration,
    /// The fraction of GetRecords calls with records to give that answer an empty page instead,
    /// as AWS sometimes does (0 turns it off; the `empty_pages` fault raises it).
    #[arg(long, default_value_t = Shapes::AWS.empty_pages)]
    empty_pages: f64,
    /// Faults from the start, in a scenario's `[faults]` words: a TOML or JSON file, or inline
    /// JSON (`{"put_entry_failures": {"rate": 0.1}}`). `POST /_sim/faults` changes them while
    /// running (docs/faults.md).
    #[arg(long, env = "MINUTELY_SIM_FAULTS")]
    faults: Option<String>,
    /// The faults' seed (overrides the file's).
    #[arg(long)]
    seed: Option<u64>,
    /// Start from the state in FILE if it exists (streams, records, consumers, buckets, objects:
    /// `curl $AWS_ENDPOINT_URL/_sim/state > FILE` writes one), and write the state into FILE when
    /// stopped: a test suite's prepared streams, kept between runs.
    #[arg(long, value_name = "FILE")]
    state: Option<std::path::PathBuf>,
    /// Check every Kinesis and S3 request's SigV4 signature (header or presigned URL) against
    /// the printed credentials (`test` / `test`): a client that signs wrongly, with other keys
    /// or with its clock far off is refused as AWS would refuse it. Off: any request is served.
    #[arg(long)]
    verify_signatures: bool,
    /// Connections open at once; one more is answered 503 and closed.
    #[arg(long, default_value_t = Bounds::default().max_connections)]
    max_connections: usize,
    /// A connection is closed when a request's headers have not all arrived this long after it
    /// went idle (`60s`, `5m`): idle keep-alives and clients that trickle bytes.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    idle_timeout: std::time::Duration,
    /// Keep every record the retention period trims before anyone read it, data and all, in
    /// its stream's ledger (`GET /_sim/streams/NAME/ledger`, `trimmed_unread`): what a consumer
    /// down past the retention lost, exactly. Off, they are only counted (memory grows with
    /// what is trimmed unread).
    #[arg(long)]
    keep_trimmed: bool,
}

/// Reads `--faults`: inline JSON, or a `.toml` / `.json` file.
fn load_faults(spec: &str) -> anyhow::Result<Faults> {
    let trimmed = spec.trim_start();
    if trimmed.starts_with('{') {
        return serde_json::from_str(trimmed).context("--faults: the inline JSON is not a fault set (see docs/sim.md)");
    }
    let path = Path::new(spec);
    let text = std::fs::read_to_string(path).with_context(|| format!("--faults: cannot read {}", path.display()))?;
    if path.extension().is_some_and(|e| e == "toml") {
        toml::from_str(&text).with_context(|| format!("--faults: {} is not a fault set", path.display()))
    } else {
        serde_json::from_str(&text).with_context(|| format!("--faults: {} is not a JSON fault set", path.display()))
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut faults = match &args.faults {
        Some(spec) => load_faults(spec)?,
        None => Faults::default(),
    };
    faults.seed = args.seed.unwrap_or(faults.seed);
    faults.validate().map_err(|e| anyhow::anyhow!("--faults: {e}"))?;
    if args.max_connections == 0 || args.idle_timeout.is_zero() {
        bail!("--max-connections and --idle-timeout must be above 0");
    }
    let shapes = Shapes {
        transition_ms: i64::try_from(args.transitions.as_millis()).unwrap_or(i64::MAX),
        empty_pages: args.empty_pages,
    };
    if let Err(e) = shapes.validate() {
        bail!("--transitions / --empty-pages: {e}");
    }
    let state = match &args.state {
        Some(path) if path.exists() => {
            let text = std::fs::read(path).with_context(|| format!("--state: cannot read {}", path.display()))?;
            let s: minutely_sim::Snapshot = serde_json::from_slice(&text).with_context(|| {
                format!("--state: {} is not a sim state (GET /_sim/state writes one)", path.display())
            })?;
            Some(s)
        }
        _ => None,
    };
    if let (Some(s), Some(path)) = (&state, &args.state) {
        eprintln!(
            "minutely sim: starting from {}: {} streams, {} buckets",
            path.display(),
            s.streams.len(),
            s.buckets.len()
        );
    }
    let described = if faults == Faults::default() { "none".to_owned() } else { serde_json::to_string(&faults)? };
    let rt = tokio::runtime::Runtime::new()?;
    let signal = rt.block_on(async {
        let bounds = Bounds { max_connections: args.max_connections, idle_timeout: args.idle_timeout, ..Bounds::default() };
        let signatures = args.verify_signatures.then(Credentials::default);
        let sim = Sim::start(Config { port: args.port, limits: !args.no_limits, shapes, faults, bounds, signatures, state, ..Config::default() })
            .await
            .with_context(|| format!("starting the sim on 127.0.0.1:{} (another process on the port? --port 0 picks a free one)", args.port))?;
        if args.keep_trimmed {
            sim.keep_trimmed();
        }
        let mut out = std::io::stdout().lock();
        writeln!(out, "export AWS_ENDPOINT_URL={}", sim.endpoint())?;
        writeln!(out, "export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1")?;
        out.flush()?;
        drop(out);
        eprintln!(
            "minutely sim: Kinesis and S3 on {} (limits {}; transitions {:?}, empty pages {}; signatures {}; faults: {described}); admin API under /_sim/ (stats, faults, reset); Ctrl-C stops it",
            sim.endpoint(),
            if args.no_limits { "off" } else { "on" },
            args.transitions,
            args.empty_pages,
            if args.verify_signatures { "checked" } else { "not checked" }
        );
        let signal = crate::signals::wait().await?;
        let stats = sim.stats();
        if let Some(path) = &args.state {
            let written = serde_json::to_vec(&sim.snapshot()).map_err(anyhow::Error::from).and_then(|bytes| {
                std::fs::write(path, bytes).with_context(|| format!("--state: cannot write {}", path.display()))
            });
            match written {
                Ok(()) => eprintln!("minutely sim: the state is in {}", path.display()),
                Err(e) => eprintln!("minutely sim: {e:#}"),
            }
        }
        sim.stop().await;
        eprintln!(
            "minutely sim: stopped by {signal}; {} records and {} objects were stored, {} entries throttled, {} entries failed by faults",
            stats.records_stored, stats.objects_stored, stats.limits.entries_throttled, stats.entries_failed_injected
        );
        anyhow::Ok(signal)
    })?;
    std::process::exit(signal.exit_code());
}
