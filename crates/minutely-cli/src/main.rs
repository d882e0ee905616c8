//! `minutely`: count events per minute and key, from TSV files, Kinesis or stdin, into S3 or the console.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The producer allocates events on one thread and the channel's reader frees them on another;
/// glibc's malloc handles that poorly (the `producer/tsv_to_channel` benchmark doubles with
/// mimalloc).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod aggregate;
mod aws_args;
mod check;
mod consume;
mod flags;
mod localstack;
mod mapped;
mod names;
mod produce;
mod random_args;
mod record_args;
mod report;
mod scenario;
mod schema_args;
mod signals;
mod sim;
mod status;

/// Event pipelines on Kinesis and S3: per-minute counts by event time.
#[derive(Debug, Parser)]
#[command(name = "minutely", version, about)]
struct Cli {
    /// Show the AWS SDK's whole error chain after an error's one line.
    #[arg(short, long, global = true)]
    verbose: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Count the events of a TSV file (or stdin) per minute and key, printing one JSON line each.
    Aggregate(aggregate::Args),
    /// Send events from a TSV file or a random generator to the console, stdout or Kinesis.
    Produce(Box<produce::Args>),
    /// Count events from Kinesis or stdin per minute and key, writing closed minutes to S3,
    /// the console or stdout, with checkpoints in S3.
    Consume(Box<consume::Args>),
    /// Judge what a pipeline stored against what it was given: `check stream kinesis:STREAM
    /// --expect SOURCE` names lost, duplicated, unexpected, altered and unreadable events by id.
    /// Exit 0: clean; 1: anomalies beyond --allow; 2: could not check.
    Check(check::Args),
    /// Run a scenario of `scenarios/` on the embedded sim or LocalStack and check it (`--list` shows them).
    Scenario(scenario::Args),
    /// Draw a scenario run's JSON report as one HTML page, or compare two runs on one page.
    Report(report::Args),
    /// Run LocalStack (Kinesis and S3) for other commands: up, down, status, logs.
    Localstack(localstack::Args),
    /// Run the embedded Kinesis + S3 emulator in the foreground: AWS's per-shard limits,
    /// seeded faults, fast at any fill; prints the `export AWS_ENDPOINT_URL=...` lines.
    Sim(sim::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    minutely_aws::set_verbose(cli.verbose);
    let result = match cli.command {
        Command::Check(args) => {
            return check::run(args).unwrap_or_else(|e| {
                eprintln!("minutely: error: {e:#}");
                ExitCode::from(2)
            });
        }
        Command::Aggregate(args) => aggregate::run(args),
        Command::Localstack(args) => localstack::run(args),
        Command::Produce(args) => produce::run(*args),
        Command::Consume(args) => consume::run(*args),
        Command::Scenario(args) => scenario::run(args),
        Command::Report(args) => report::run(args),
        Command::Sim(args) => sim::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("minutely: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
