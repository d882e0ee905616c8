//! `minutely check`: verdicts on what a pipeline did. `check stream` judges a stream's records
//! against the events meant to be put (`stream.rs`), `check counts` a counting job's output
//! against the counting model (`counts.rs`); `expect.rs` builds the expected events.
//! Exit 0: nothing beyond `--allow`; 1: anomalies; 2: could not check (the error's one line).

mod counts;
mod expect;
mod stream;

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    /// Judge a stream's records against the events meant to be put: lost, duplicated,
    /// unexpected, altered and unreadable events, by id, with where they are.
    Stream(Box<stream::StreamArgs>),
    /// Judge a counting job's output (S3 or local files, minutely's layout or JSON/CSV as an
    /// output schema says) against the counting model of the events it was given: (window,
    /// key) pairs missing, extra, short or over.
    Counts(Box<counts::CountsArgs>),
}

/// Runs the check; `Err`: it could not be made (exit 2).
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = crate::aws_args::runtime()?;
    let reader = crate::names::Role::Reader;
    runtime.block_on(async {
        let (result, target) = match args.what {
            What::Stream(args) => {
                let target = args.aws.target();
                (stream::check_stream(*args).await, target)
            }
            What::Counts(args) => {
                let target = args.aws.target();
                (counts::check_counts(*args).await, target)
            }
        };
        match result {
            Err(e) => Err(crate::names::explain_missing(e, &target, reader).await),
            ok => ok,
        }
    })
}

/// The last line of a check's table: PASS, or FAIL with the classes found, and what `--allow`
/// let through.
fn verdict_line(failed: &[&str], allowed: &[&str], pass: &str) -> String {
    let allowed = if allowed.is_empty() { String::new() } else { format!(" (allowed: {})", allowed.join(", ")) };
    match failed {
        [] => format!("PASS: {pass}{allowed}"),
        _ => format!("FAIL: {}{allowed}", failed.join(", ")),
    }
}
