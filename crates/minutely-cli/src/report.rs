//! `minutely report A.json [B.json]`: a scenario run's JSON report drawn as one self-contained
//! HTML page (`minutely-report`), or two runs compared on one page.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A run's JSON report (`target/scenarios/NAME.json`), and optionally a second one to
    /// compare with it: latency and throughput overlaid (A solid, B dashed).
    #[arg(required = true, num_args = 1..=2, value_name = "REPORT.json")]
    reports: Vec<PathBuf>,

    /// Where to write the page. Default: beside the first report, `NAME.html` (or
    /// `A-vs-B.html` for two).
    #[arg(long, short)]
    out: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut runs = Vec::new();
    for path in &args.reports {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        runs.push((path.clone(), bytes));
    }
    let out = args.out.unwrap_or_else(|| default_page(&args.reports));
    write_page(&runs, &out)
}

/// `A.html` beside `A.json`, or `A-vs-B.html` beside `A.json`.
fn default_page(reports: &[PathBuf]) -> PathBuf {
    let stem = |p: &Path| p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "report".into());
    let name = match reports {
        [a, b] => format!("{}-vs-{}.html", stem(a), stem(b)),
        _ => format!("{}.html", stem(&reports[0])),
    };
    reports[0].with_file_name(name)
}

/// Draws the page of the runs (their JSON, with the file each came from for messages) into
/// `out`, and says where.
pub fn write_page(runs: &[(PathBuf, Vec<u8>)], out: &Path) -> anyhow::Result<()> {
    let mut parsed = Vec::new();
    for (path, bytes) in runs {
        let run = minutely_report::Run::from_json(bytes)
            .with_context(|| format!("{} is not a scenario report", path.display()))?;
        if run.scenario.is_empty() {
            bail!("{} is not a scenario report: it names no scenario", path.display());
        }
        parsed.push(run);
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, minutely_report::page(&parsed)).with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("minutely: page in {}", out.display());
    Ok(())
}
