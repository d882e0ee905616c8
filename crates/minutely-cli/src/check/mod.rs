//! `minutely check`: verdicts on what a pipeline did. `check stream` judges a stream's records
//! against the events meant to be put (`stream.rs`); `expect.rs` builds those events.
//! Exit 0: nothing beyond `--allow`; 1: anomalies; 2: could not check (the error's one line).

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
}

/// Runs the check; `Err`: it could not be made (exit 2).
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = crate::aws_args::runtime()?;
    match args.what {
        What::Stream(args) => runtime.block_on(stream::check_stream(*args)),
    }
}
