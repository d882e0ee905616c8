//! `just bench-vs [small|full]`: minutely against DuckDB, side by side, on the same files and
//! the same question (events per minute and key, duplicates by id dropped where the workload
//! has ids), in alternation, printing the medians and the ratio DuckDB / minutely (above 1:
//! minutely is faster). With `--fail-below R` it exits 1 when a ratio is below R: CI runs it at
//! the small size with `--fail-below 1.0`. Ratios, never absolute times: these machines are
//! noisy, and a ratio of paired runs is what survives the noise.
//!
//! - The files are generated deterministically into `target/bench-vs/` (minutely's random
//!   source with a fixed seed and start; `minutely_fixtures::write_big` for the TSV), once per
//!   size.
//! - minutely is timed as a whole process (`target/release/minutely`, built by the recipe), its
//!   input on stdin or as a file argument, its output to /dev/null.
//! - DuckDB (the Python package, pinned, installed into `~/.cache/minutely/bench/` the way the
//!   LocalStack backend installs its own) is timed inside its process, around the query alone,
//!   with 2 threads: its interpreter's start and import are not counted, which favours DuckDB.
//!   Without Python, or when the install fails, the benchmark says so and exits 0: SKIPPED.
//!
//! KPL de-aggregation: minutely's records packed into KPL aggregates, one Kinesis record's data
//! in base64 per line (`consume --stdin base64`); DuckDB, which has no KPL reader, reads the same
//! events as JSON lines.

use std::path::{Path, PathBuf};

use base64::Engine;
use std::process::{Command, Stdio};
use std::time::Instant;

const DUCKDB: &str = "2.0.1";
const START: &str = "2016-08-21T17:00:00Z";

/// One workload: how minutely and DuckDB are asked the same question of the same file.
struct Workload {
    name: &'static str,
    file: PathBuf,
    /// minutely's arguments; `stdin`: the file is its standard input.
    minutely: Vec<String>,
    stdin: bool,
    /// DuckDB's query, `{file}` standing for `duckdb_file`'s path.
    query: &'static str,
    /// The file DuckDB reads: `file`, or the same events as JSON lines where DuckDB cannot
    /// read minutely's input (KPL aggregates).
    duckdb_file: PathBuf,
}

/// The DuckDB side: a script that times one query inside the process.
const RUN_QUERY: &str = r#"import sys, time, duckdb
con = duckdb.connect()
con.execute("SET threads = 2")
t = time.perf_counter()
rows = con.execute(sys.argv[1]).fetchall()
print(time.perf_counter() - t, len(rows))
"#;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let full = args.iter().any(|a| a == "full");
    let fail_below: Option<f64> =
        args.iter().position(|a| a == "--fail-below").and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let minutely = std::env::var_os("MINUTELY_BIN").map_or_else(|| root.join("target/release/minutely"), PathBuf::from);
    if !minutely.exists() {
        eprintln!("bench-vs: {} is missing: `cargo build --release -p minutely-cli` first", minutely.display());
        std::process::exit(2);
    }
    let Some(python) = duckdb_python() else { return };
    let (records, lines, runs) = if full { (2_000_000, 5_000_000, 5) } else { (200_000, 500_000, 3) };
    let dir = root.join("target/bench-vs");
    std::fs::create_dir_all(&dir).expect("target/bench-vs");
    let script = dir.join("run_query.py");
    std::fs::write(&script, RUN_QUERY).expect("the query script");
    let workloads = generate(&minutely, &dir, records, lines);
    let machine = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("bench-vs: minutely against DuckDB {DUCKDB} (2 threads), medians of {runs} paired runs, {machine} cores");
    println!("{:<28} {:>12} {:>12} {:>8}", "workload", "minutely s", "duckdb s", "ratio");
    let mut below = Vec::new();
    for w in &workloads {
        // One untimed run of each first: the file in the page cache for both.
        time_minutely(&minutely, w);
        time_duckdb(&python, &script, w);
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            ours.push(time_minutely(&minutely, w));
            theirs.push(time_duckdb(&python, &script, w));
        }
        let (m, d) = (median(&mut ours), median(&mut theirs));
        let ratio = d / m;
        println!("{:<28} {m:>12.3} {d:>12.3} {ratio:>7.2}x", w.name);
        if fail_below.is_some_and(|r| ratio < r) {
            below.push(format!("{} at {ratio:.2}x", w.name));
        }
    }
    if let Some(r) = fail_below
        && !below.is_empty()
    {
        eprintln!("bench-vs: below {r:.2}x DuckDB: {}", below.join(", "));
        std::process::exit(1);
    }
}

/// The files of one size, written once: minutely's records (the consumer's stdin), app-style
/// JSON, and the TSV of `aggregate`.
fn generate(minutely: &Path, dir: &Path, records: u64, lines: u64) -> Vec<Workload> {
    let own = dir.join(format!("minutely-{records}.jsonl"));
    let app = dir.join(format!("app-{records}.jsonl"));
    let app_schema = dir.join("app.toml");
    let tsv = dir.join(format!("big-{lines}.tsv"));
    std::fs::write(&app_schema, "format = \"json\"\ntime = \"/ts\"\nkey = [\"/geo/country\"]\nid = \"/event_id\"\n")
        .expect("the app schema");
    let random = |out: &Path, extra: &[&str]| {
        if out.exists() {
            return;
        }
        let count = records.to_string();
        let mut args = vec!["produce", "--source", "random", "--seed", "7", "--start", START, "--count", &count];
        args.extend(["--dim", "country=50:zipf:1.1", "--sink", "stdout"]);
        args.extend(extra);
        let file = std::fs::File::create(out).expect("a file in target/bench-vs");
        let status = Command::new(minutely).args(&args).stdout(file).stderr(Stdio::null()).status();
        assert!(status.is_ok_and(|s| s.success()), "minutely produce {args:?} failed");
    };
    random(&own, &["--dim", "device=3"]);
    random(&app, &["--record-schema", app_schema.to_str().expect("a UTF-8 path")]);
    let kpl = dir.join(format!("kpl-{records}.b64"));
    if !kpl.exists() {
        write_kpl(&own, &kpl);
    }
    if !tsv.exists() {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tsv).expect("the TSV"));
        minutely_fixtures::write_big(lines, 1, &mut out).expect("the TSV written");
    }
    let s = |v: &[&str]| v.iter().map(|a| (*a).to_owned()).collect::<Vec<String>>();
    vec![
        Workload {
            name: "consume stdin (minutely)",
            file: own.clone(),
            duckdb_file: own.clone(),
            minutely: s(&["consume", "--source", "stdin", "--key", "country", "--sink", "stdout"]),
            stdin: true,
            query: "SELECT dims.country, time_ms // 60000 AS minute, count(DISTINCT id) FROM read_json('{file}', format = 'newline_delimited') GROUP BY ALL",
        },
        Workload {
            name: "consume stdin (KPL base64)",
            file: kpl,
            minutely: s(&["consume", "--source", "stdin", "--stdin", "base64", "--key", "country", "--sink", "stdout"]),
            stdin: true,
            query: "SELECT dims.country, time_ms // 60000 AS minute, count(DISTINCT id) FROM read_json('{file}', format = 'newline_delimited') GROUP BY ALL",
            duckdb_file: own.clone(),
        },
        Workload {
            name: "consume stdin (app JSON)",
            file: app.clone(),
            duckdb_file: app,
            minutely: vec![
                "consume".into(),
                "--source".into(),
                "stdin".into(),
                "--schema".into(),
                app_schema.display().to_string(),
                "--sink".into(),
                "stdout".into(),
            ],
            stdin: true,
            query: "SELECT geo.country, ts // 60000 AS minute, count(DISTINCT event_id) FROM read_json('{file}', format = 'newline_delimited') GROUP BY ALL",
        },
        Workload {
            name: "aggregate TSV",
            file: tsv.clone(),
            duckdb_file: tsv.clone(),
            minutely: vec!["aggregate".into(), tsv.display().to_string(), "--key-cols".into(), "country".into()],
            stdin: false,
            query: "SELECT country, substr(time, 1, 16) AS minute, count(*) FROM read_csv('{file}', delim = '\t', header = true, all_varchar = true) GROUP BY ALL",
        },
    ]
}

/// minutely's records (one per line of `own`) as Kinesis records' data in base64, one per
/// line, each a KPL aggregate of up to 50 KiB (the KPL's default `AggregationMaxSize`), its
/// user records' partition keys drawn from 64.
fn write_kpl(own: &Path, out: &Path) {
    use std::io::{BufRead, Write};
    const MAX: usize = 50 * 1024;
    let input = std::io::BufReader::new(std::fs::File::open(own).expect("minutely's records"));
    let mut w = std::io::BufWriter::new(std::fs::File::create(out).expect("a file in target/bench-vs"));
    let mut flush = |packer: &mut minutely_event::kpl::Packer| {
        let data = base64::engine::general_purpose::STANDARD.encode(packer.finish());
        writeln!(w, "{data}").expect("the KPL file written");
    };
    let mut packer = minutely_event::kpl::Packer::new();
    for (i, line) in input.lines().enumerate() {
        let line = line.expect("a line");
        let key = format!("k{}", i % 64);
        if !packer.is_empty() && packer.size_with(&key, None, line.len()) > MAX {
            flush(&mut packer);
        }
        packer.push(&key, None, bytes::Bytes::from(line.into_bytes()));
    }
    if !packer.is_empty() {
        flush(&mut packer);
    }
}

/// Seconds of one whole minutely process.
fn time_minutely(minutely: &Path, w: &Workload) -> f64 {
    let stdin = if w.stdin { Stdio::from(std::fs::File::open(&w.file).expect("the input")) } else { Stdio::null() };
    let started = Instant::now();
    let out =
        Command::new(minutely).args(&w.minutely).stdin(stdin).stdout(Stdio::null()).stderr(Stdio::piped()).output();
    let took = started.elapsed().as_secs_f64();
    let out = out.expect("minutely runs");
    assert!(out.status.success(), "minutely {:?}: {}", w.minutely, String::from_utf8_lossy(&out.stderr));
    took
}

/// Seconds of DuckDB's query, as its process measured it.
fn time_duckdb(python: &Path, script: &Path, w: &Workload) -> f64 {
    let query = w.query.replace("{file}", &w.duckdb_file.display().to_string());
    let out = Command::new(python).arg(script).arg(&query).output().expect("python runs");
    assert!(out.status.success(), "DuckDB {query}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().next().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("DuckDB said {text:?}"))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A Python with DuckDB, installed once into `~/.cache/minutely/bench/duckdb-VERSION`; `None`,
/// said on stderr, where that cannot be had.
fn duckdb_python() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let venv = home.join(format!(".cache/minutely/bench/duckdb-{DUCKDB}"));
    let python = venv.join("bin/python");
    let ready = |p: &Path| Command::new(p).args(["-c", "import duckdb"]).output().is_ok_and(|o| o.status.success());
    if ready(&python) {
        return Some(python);
    }
    let skip = |why: String| {
        println!("bench-vs: SKIPPED: {why}");
        None
    };
    let made = Command::new("python3").args(["-m", "venv"]).arg(&venv).output();
    match made {
        Err(e) => return skip(format!("no python3 to install DuckDB into ({e})")),
        Ok(o) if !o.status.success() => {
            return skip(format!("python3 -m venv {}: {}", venv.display(), String::from_utf8_lossy(&o.stderr).trim()));
        }
        Ok(_) => {}
    }
    let pip = Command::new(venv.join("bin/pip")).args(["install", "-q", &format!("duckdb=={DUCKDB}")]).output();
    match pip {
        Ok(o) if o.status.success() && ready(&python) => Some(python),
        Ok(o) => skip(format!("pip install duckdb=={DUCKDB}: {}", String::from_utf8_lossy(&o.stderr).trim())),
        Err(e) => skip(format!("pip install duckdb=={DUCKDB}: {e}")),
    }
}
