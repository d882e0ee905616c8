//! A program of the user's in a run (`[producer] command`): started from the workspace in its
//! own process group with the run's environment, its stdout and stderr kept (the end of them
//! in the report, all of them in a log file), and the whole group stopped when it outlives the
//! run's deadline, when the run is cut (Ctrl-C, SIGTERM, the timeout), or when this is dropped:
//! nothing is left behind.
//!
//! **The environment** (documented in the README, "Test your own producer"):
//! `AWS_ENDPOINT_URL`, `AWS_REGION` and `AWS_DEFAULT_REGION` (`us-east-1`), `AWS_ACCESS_KEY_ID`
//! and `AWS_SECRET_ACCESS_KEY` (`test`), `MINUTELY_STREAM`, `MINUTELY_BUCKET`, `MINUTELY_PREFIX`,
//! `MINUTELY_INPUT` (the run's records, one per line, in `MINUTELY_RECORD_FORMAT`: minutely,
//! json, csv or tsv) and `MINUTELY_DEADLINE` (unix seconds: the program is stopped then).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use minutely_aws::clock::{self, Instant};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};

use crate::spec::Program;

/// What a program did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgramRun {
    pub command: Vec<String>,
    /// Its exit code; `None` when a signal ended it (the deadline's, say).
    pub exit_code: Option<i32>,
    /// It was still running at the deadline and was stopped.
    pub timed_out: bool,
    pub seconds: f64,
    /// The end of its stdout and stderr, as they came (at most [`TAIL`] bytes).
    pub output: String,
    /// All of its output.
    pub log: PathBuf,
}

impl ProgramRun {
    /// It ran to its end and said it succeeded.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }
}

/// The most output kept in the report.
const TAIL: usize = 16 * 1024;
/// How long a program has to end after SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(2);

/// Kills the process group when dropped (a run cut short drops the program's future).
struct Group(Pid);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = killpg(self.0, Signal::SIGKILL);
    }
}

/// Runs `program` from `root` with `env` until it ends or `deadline` passes; its output goes to
/// `log` too. An error: it could not be started (what and why).
pub(crate) async fn run(
    program: &Program,
    root: &Path,
    env: &[(String, String)],
    log: &Path,
    deadline: Instant,
) -> anyhow::Result<ProgramRun> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let file = tokio::fs::File::create(log).await.with_context(|| format!("creating {}", log.display()))?;
    let (name, args) = program.command.split_first().context("an empty command")?;
    let started = clock::now();
    let mut child = tokio::process::Command::new(name)
        .args(args)
        .current_dir(root)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {:?} (from {})", program.command, root.display()))?;
    let group = Group(Pid::from_raw(child.id().context("the program's process id")? as i32));
    let output = Arc::new(tokio::sync::Mutex::new((file, Vec::new())));
    let readers = [
        tokio::spawn(keep(child.stdout.take().context("stdout")?, output.clone())),
        tokio::spawn(keep(child.stderr.take().context("stderr")?, output.clone())),
    ];
    let (status, timed_out) = tokio::select! {
        status = child.wait() => (Some(status?), false),
        _ = clock::sleep_until(deadline) => (None, true),
    };
    let status = match status {
        Some(s) => s,
        None => {
            let _ = killpg(group.0, Signal::SIGTERM);
            match tokio::time::timeout(GRACE, child.wait()).await {
                Ok(s) => s?,
                Err(_) => {
                    let _ = killpg(group.0, Signal::SIGKILL);
                    child.wait().await?
                }
            }
        }
    };
    // What the program left running in its group goes too; then its pipes close.
    drop(group);
    for r in readers {
        let _ = tokio::time::timeout(GRACE, r).await;
    }
    let tail = {
        let mut o = output.lock().await;
        let _ = o.0.flush().await;
        std::mem::take(&mut o.1)
    };
    Ok(ProgramRun {
        command: program.command.clone(),
        exit_code: status.code(),
        timed_out,
        seconds: started.elapsed().as_secs_f64(),
        output: String::from_utf8_lossy(&tail).into_owned(),
        log: log.to_owned(),
    })
}

/// Copies a pipe's lines into the log file and the kept tail.
async fn keep(pipe: impl AsyncRead + Unpin, output: Arc<tokio::sync::Mutex<(tokio::fs::File, Vec<u8>)>>) {
    let mut lines = BufReader::new(pipe).split(b'\n');
    while let Ok(Some(mut line)) = lines.next_segment().await {
        line.push(b'\n');
        let mut o = output.lock().await;
        let _ = o.0.write_all(&line).await;
        o.1.extend_from_slice(&line);
        if o.1.len() > 2 * TAIL {
            let cut = o.1.len() - TAIL;
            o.1.drain(..cut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Program {
        Program { command: vec!["sh".into(), "-c".into(), script.into()] }
    }

    fn log(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("minutely-program-{name}-{}.log", std::process::id()))
    }

    #[tokio::test]
    async fn output_exit_code_and_environment_are_kept() {
        let env = [("MINUTELY_STREAM".to_owned(), "s1".to_owned())];
        let p = sh("echo out $MINUTELY_STREAM; echo err >&2; exit 3");
        let log = log("exit");
        let ran = run(&p, Path::new("."), &env, &log, clock::now() + Duration::from_secs(30)).await.unwrap();
        assert_eq!((ran.exit_code, ran.timed_out, ran.succeeded()), (Some(3), false, false));
        assert!(ran.output.contains("out s1\n") && ran.output.contains("err\n"), "{:?}", ran.output);
        assert_eq!(std::fs::read_to_string(&log).unwrap().len(), ran.output.len());
        std::fs::remove_file(log).unwrap();
    }

    #[tokio::test]
    async fn the_deadline_stops_the_whole_group_and_leaves_nothing_behind() {
        // The shell and a grandchild that would outlive it both ignore SIGTERM (an ignored
        // signal stays ignored across exec); the shell says the grandchild's pid and waits.
        let p = sh("trap '' TERM; sleep 60 & echo $!; wait");
        let log = log("deadline");
        let started = clock::now();
        let ran = run(&p, Path::new("."), &[], &log, clock::now() + Duration::from_millis(300)).await.unwrap();
        assert!(ran.timed_out && ran.exit_code.is_none() && !ran.succeeded(), "{ran:?}");
        assert!(started.elapsed() >= GRACE, "SIGTERM was ignored: SIGKILL after the grace");
        assert!(started.elapsed() < Duration::from_secs(10));
        let grandchild = Pid::from_raw(ran.output.trim().parse().unwrap());
        let mut gone = false;
        for _ in 0..50 {
            // Gone, or dead and waiting for its reaper (a container's init may not reap).
            let stat = std::fs::read_to_string(format!("/proc/{grandchild}/stat")).unwrap_or_default();
            let state = stat.rsplit(") ").next().and_then(|rest| rest.chars().next());
            if nix::sys::signal::kill(grandchild, None).is_err() || state == Some('Z') {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(gone, "the grandchild {grandchild} was left running");
        std::fs::remove_file(log).unwrap();
    }

    #[tokio::test]
    async fn a_program_that_cannot_start_is_named() {
        let p = Program { command: vec!["/no/such/program".into()] };
        let e = run(&p, Path::new("."), &[], &log("missing"), clock::now() + Duration::from_secs(5)).await.unwrap_err();
        assert!(format!("{e:#}").contains("/no/such/program"), "{e:#}");
    }
}
