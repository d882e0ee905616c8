//! A program of the user's in a run (`[producer] command`): started from the workspace in its
//! own process group with the run's environment, its stdout and stderr kept (the end of them
//! in the report, all of them in a log file), and the whole group stopped when it outlives the
//! run's deadline, when the run is cut (Ctrl-C, SIGTERM, the timeout), or when this is dropped:
//! nothing is left behind.
//!
//! **The environment** (documented in docs/check.md):
//! `AWS_ENDPOINT_URL`, `AWS_REGION` and `AWS_DEFAULT_REGION` (`us-east-1`), `AWS_ACCESS_KEY_ID`
//! and `AWS_SECRET_ACCESS_KEY` (`test`), `MINUTELY_STREAM`, `MINUTELY_BUCKET`, `MINUTELY_PREFIX`,
//! `MINUTELY_KEY` (the pipeline's key fields, comma separated), `MINUTELY_RECORD_FORMAT`
//! (minutely, json, csv or tsv), `MINUTELY_DEADLINE` (unix seconds: the program is stopped
//! then) and, for a producer, `MINUTELY_INPUT` (the run's records, one per line).

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

use minutely_event::RecordFormat;

use crate::spec::Program;

/// What a program did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgramRun {
    pub command: Vec<String>,
    /// Its exit code; `None` when a signal ended it (the deadline's, say).
    pub exit_code: Option<i32>,
    /// It was still running at the deadline and was stopped.
    pub timed_out: bool,
    /// It was asked to stop (SIGTERM), as a consumer is once the input is in: not a failure.
    pub asked_to_stop: bool,
    pub seconds: f64,
    /// The end of its stdout and stderr, as they came (at most [`TAIL`] bytes).
    pub output: String,
    /// All of its output.
    pub log: PathBuf,
}

impl ProgramRun {
    /// It ran to its end (or stopped when asked) and said it succeeded.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }
}

/// The most output kept in the report.
const TAIL: usize = 16 * 1024;
/// How long a program has to end after SIGTERM at the deadline before SIGKILL.
const GRACE: Duration = Duration::from_secs(2);
/// How long a program asked to stop has to write what it holds and end before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Kills the process group when dropped (a run cut short drops the program's future).
struct Group(Pid);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = killpg(self.0, Signal::SIGKILL);
    }
}

/// Where a user's program works and what its environment tells it.
#[derive(Debug, Clone)]
pub(crate) struct Setting<'a> {
    pub endpoint: String,
    pub stream: &'a str,
    pub bucket: &'a str,
    pub prefix: &'a str,
    /// The pipeline's key fields and record format.
    pub key: &'a [String],
    pub format: RecordFormat,
    /// The workspace: the command runs from it.
    pub root: &'a Path,
    /// The run's folder (`target/scenarios/<name>/`): input file, logs.
    pub dir: PathBuf,
    /// Added to (and over) the environment.
    pub extra_env: &'a [(String, String)],
    pub deadline: Instant,
}

impl<'a> Setting<'a> {
    /// The setting of a run of `s` on `backend` into `stream`, `bucket` and `prefix`, from the
    /// workspace `root`, with `extra_env`; makes the run's folder when programs will use it.
    pub fn of(
        s: &'a crate::spec::Scenario,
        backend: &crate::backend::Running,
        (stream, bucket, prefix): (&'a str, &'a str, &'a str),
        (root, extra_env): (&'a Path, &'a [(String, String)]),
        deadline: Instant,
    ) -> anyhow::Result<Setting<'a>> {
        let dir = root.join("target/scenarios").join(&s.name);
        if s.producer.is_some() || s.consumer.is_some() {
            std::fs::create_dir_all(&dir).map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
        }
        Ok(Setting {
            endpoint: backend.endpoint(),
            stream,
            bucket,
            prefix,
            key: &s.pipeline.key,
            format: s.record_schema().format.unwrap_or(RecordFormat::Minutely),
            root,
            dir,
            extra_env,
            deadline,
        })
    }
}

impl Setting<'_> {
    /// The documented environment; `input`: the records file, for a producer.
    pub fn env(&self, input: Option<&Path>) -> Vec<(String, String)> {
        let deadline_unix =
            clock::unix_ms() / 1000 + self.deadline.saturating_duration_since(clock::now()).as_secs() as i64;
        let mut env: Vec<(String, String)> = [
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("MINUTELY_STREAM", self.stream.into()),
            ("MINUTELY_BUCKET", self.bucket.into()),
            ("MINUTELY_PREFIX", self.prefix.into()),
            ("MINUTELY_KEY", self.key.join(",")),
            ("MINUTELY_RECORD_FORMAT", self.format.to_string()),
            ("MINUTELY_DEADLINE", deadline_unix.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        if let Some(input) = input {
            env.push(("MINUTELY_INPUT".into(), input.display().to_string()));
        }
        env.extend(self.extra_env.iter().cloned());
        env
    }
}

/// Runs `program` as `setting` says (`input`: a producer's records file) until it ends or the
/// deadline passes; when `stop` fires first, SIGTERM asks it to end (SIGKILL after
/// [`STOP_GRACE`]). Its output goes to `log` too. An error: it could not be started (what and
/// why).
pub(crate) async fn run(
    program: &Program,
    setting: &Setting<'_>,
    input: Option<&Path>,
    log: &Path,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<ProgramRun> {
    let (root, deadline) = (setting.root, setting.deadline);
    let env = setting.env(input);
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
    let (status, timed_out, asked_to_stop) = tokio::select! {
        status = child.wait() => (Some(status?), false, false),
        _ = clock::sleep_until(deadline) => (None, true, false),
        _ = stop => (None, false, true),
    };
    let status = match status {
        Some(s) => s,
        None => {
            let _ = killpg(group.0, Signal::SIGTERM);
            let grace =
                if asked_to_stop { STOP_GRACE.min(deadline.saturating_duration_since(clock::now())) } else { GRACE };
            match tokio::time::timeout(grace.max(GRACE), child.wait()).await {
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
        asked_to_stop,
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

    fn setting(deadline: Instant) -> Setting<'static> {
        Setting {
            endpoint: "http://127.0.0.1:1".into(),
            stream: "s1",
            bucket: "b",
            prefix: "p",
            key: &[],
            format: RecordFormat::Minutely,
            root: Path::new("."),
            dir: std::env::temp_dir(),
            extra_env: &[],
            deadline,
        }
    }

    fn log(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("minutely-program-{name}-{}.log", std::process::id()))
    }

    #[tokio::test]
    async fn output_exit_code_and_environment_are_kept() {
        let p = sh("echo out $MINUTELY_STREAM; echo err >&2; exit 3");
        let log = log("exit");
        let setting = setting(clock::now() + Duration::from_secs(30));
        let ran = run(&p, &setting, None, &log, std::future::pending()).await.unwrap();
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
        let setting = setting(clock::now() + Duration::from_millis(300));
        let ran = run(&p, &setting, None, &log, std::future::pending()).await.unwrap();
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
    async fn a_program_asked_to_stop_writes_what_it_holds_and_ends() {
        // A consumer's way: on SIGTERM, write out and exit 0.
        let p = sh("trap 'echo written; exit 0' TERM; while true; do sleep 0.05; done");
        let log = log("stop");
        let stop = tokio::time::sleep(Duration::from_millis(200));
        let ran = run(&p, &setting(clock::now() + Duration::from_secs(30)), None, &log, stop).await.unwrap();
        assert!(ran.asked_to_stop && !ran.timed_out && ran.succeeded(), "{ran:?}");
        assert!(ran.output.contains("written"), "{ran:?}");
        std::fs::remove_file(log).unwrap();
    }

    #[tokio::test]
    async fn a_program_that_cannot_start_is_named() {
        let p = Program { command: vec!["/no/such/program".into()] };
        let setting = setting(clock::now() + Duration::from_secs(5));
        let e = run(&p, &setting, None, &log("missing"), std::future::pending()).await.unwrap_err();
        assert!(format!("{e:#}").contains("/no/such/program"), "{e:#}");
    }
}
