//! The host backend: LocalStack as a process of this machine, from a venv in the cache.
//!
//! Layout under `<cache>/localstack/`:
//! - `install.lock`: a file lock held while installing, so parallel starts share one install;
//! - `4.9.2-py3.11/venv/`: the Python venv, from the committed lock file;
//! - `4.9.2-py3.11/static-libs/kinesis-local/0.4.13/`: kinesis-mock from npm, from the
//!   committed package-lock, linked into every instance as LocalStack's static libs so it is
//!   never installed at run time;
//! - `instances/<id>/`: one running LocalStack: `root/` (its `FILESYSTEM_ROOT`),
//!   `localstack.log`, and `instance.json` for named instances (`minutely localstack up`).
//!
//! Every process of an instance carries `MINUTELY_LOCALSTACK_INSTANCE=<id>` in its environment;
//! stopping finds and kills any such process left after LocalStack itself exits.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::health::{self, NotReady};
use crate::options::Options;
use crate::watchdog::Watchdog;
use crate::{LOCALSTACK_VERSION, io};

const REQUIREMENTS: &str = include_str!("../lock/requirements-4.9.2-py3.11.txt");
const KINESIS_PACKAGE_JSON: &str = include_str!("../lock/kinesis-local/package.json");
const KINESIS_PACKAGE_LOCK: &str = include_str!("../lock/kinesis-local/package-lock.json");
/// The kinesis-mock version LocalStack 4.9.2 asks for.
pub const KINESIS_LOCAL_VERSION: &str = "0.4.13";
const INSTANCE_VAR: &str = "MINUTELY_LOCALSTACK_INSTANCE";
/// How long the watchdog of a dead owner lets LocalStack exit on SIGTERM before SIGKILL.
const WATCHDOG_GRACE: Duration = Duration::from_secs(5);

/// Where an install lives.
#[derive(Clone, Debug)]
pub struct Install {
    pub home: PathBuf,
    pub python: PathBuf,
    pub static_libs: PathBuf,
    /// `true` when this call installed it (a cold start).
    pub installed_now: bool,
}

/// Makes sure the venv and kinesis-mock are installed, under a file lock.
pub fn ensure_installed(options: &Options) -> Result<Install, Error> {
    let base = options.cache_dir.join("localstack");
    fs::create_dir_all(&base).map_err(io(format!("creating {}", base.display())))?;
    let lock_path = base.join("install.lock");
    let lock = File::create(&lock_path).map_err(io(format!("creating {}", lock_path.display())))?;
    lock.lock().map_err(io(format!("locking {}", lock_path.display())))?;

    let (python, version) = find_python(options)?;
    let home = base.join(format!("{LOCALSTACK_VERSION}-py{version}"));
    let install = Install {
        python: home.join("venv/bin/python"),
        static_libs: home.join("static-libs"),
        home: home.clone(),
        installed_now: false,
    };
    let marker = home.join("installed");
    let expected = format!("{REQUIREMENTS}\n{KINESIS_PACKAGE_LOCK}");
    if fs::read_to_string(&marker).is_ok_and(|m| m == expected) {
        return Ok(install);
    }

    // The one slow step a user meets once: say what is happening and for how long.
    eprintln!(
        "minutely: installing LocalStack {LOCALSTACK_VERSION} into {}, about 2 minutes the first time (logs there)",
        home.display()
    );
    if home.exists() {
        fs::remove_dir_all(&home).map_err(io(format!("removing the partial install {}", home.display())))?;
    }
    fs::create_dir_all(&home).map_err(io(format!("creating {}", home.display())))?;
    run_logged(
        Command::new(&python).arg("-m").arg("venv").arg(home.join("venv")),
        &home.join("venv.log"),
        "creating the Python venv (Debian/Ubuntu: apt install python3-venv)",
    )?;
    let requirements = home.join("requirements.txt");
    fs::write(&requirements, REQUIREMENTS).map_err(io("writing requirements.txt"))?;
    run_logged(
        Command::new(home.join("venv/bin/pip"))
            .args(["install", "--disable-pip-version-check", "--no-input", "-c"])
            .arg(&requirements)
            .arg(format!("localstack-core[runtime]=={LOCALSTACK_VERSION}")),
        &home.join("pip.log"),
        "pip install localstack-core",
    )?;

    for tool in ["node", "npm"] {
        if find_in_path(tool).is_none() {
            return Err(Error::NoNode { tool });
        }
    }
    let kinesis = install.static_libs.join("kinesis-local").join(KINESIS_LOCAL_VERSION);
    fs::create_dir_all(&kinesis).map_err(io(format!("creating {}", kinesis.display())))?;
    fs::write(kinesis.join("package.json"), KINESIS_PACKAGE_JSON).map_err(io("writing package.json"))?;
    fs::write(kinesis.join("package-lock.json"), KINESIS_PACKAGE_LOCK).map_err(io("writing package-lock.json"))?;
    run_logged(
        Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--prefix"]).arg(&kinesis),
        &home.join("npm.log"),
        "npm ci kinesis-local",
    )?;
    fs::write(&marker, expected).map_err(io("writing the install marker"))?;
    Ok(Install { installed_now: true, ..install })
}

fn find_python(options: &Options) -> Result<(PathBuf, String), Error> {
    let candidates: Vec<PathBuf> = match &options.python {
        Some(p) => vec![p.clone()],
        None => vec!["python3.11".into(), "python3".into()],
    };
    for candidate in &candidates {
        let probe = Command::new(candidate)
            .args(["-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"])
            .stderr(Stdio::null())
            .output();
        if let Ok(out) = probe {
            let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            let minor = version.strip_prefix("3.").and_then(|m| m.parse::<u32>().ok());
            if out.status.success() && minor.is_some_and(|m| m >= 10) {
                return Ok((candidate.clone(), version));
            }
        }
    }
    let tried = candidates.iter().map(|c| c.display().to_string()).collect::<Vec<_>>().join(", ");
    Err(Error::NoPython { tried })
}

fn find_in_path(tool: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(tool)).find(|p| p.is_file())
}

fn run_logged(command: &mut Command, log: &Path, step: &'static str) -> Result<(), Error> {
    let file = File::create(log).map_err(io(format!("creating {}", log.display())))?;
    let err = file.try_clone().map_err(io("cloning a log handle"))?;
    let status = command.stdin(Stdio::null()).stdout(file).stderr(err).status();
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(Error::InstallFailed { step, log: log.to_owned(), tail: format!("{s}\n{}", tail(log, 30)) }),
        Err(e) => Err(Error::InstallFailed { step, log: log.to_owned(), tail: e.to_string() }),
    }
}

/// The last `n` lines of a log file.
pub fn tail(path: &Path, n: usize) -> String {
    let Ok(file) = File::open(path) else { return format!("(no log at {})", path.display()) };
    let lines: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// What a named instance leaves for `status`, `down` and `logs`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub pid: i32,
    pub port: u16,
    pub endpoint: String,
    pub dir: PathBuf,
    pub log: PathBuf,
    pub started_unix_ms: u128,
}

/// A LocalStack host process. Dropping it stops it.
#[derive(Debug)]
pub struct Instance {
    record: Record,
    named: bool,
    child: Option<Child>,
    grace: Duration,
    /// Whether the directory (and its log) stays after stopping.
    keep_dir: bool,
    stopped: bool,
    pub install: Install,
    /// Stops the instance if this process dies without stopping it (unnamed instances only:
    /// a named one outlives its starter by design). Dropped after the instance is stopped.
    watchdog: Option<Watchdog>,
}

/// What stopping took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stopped {
    /// LocalStack exited on SIGTERM within the grace period.
    pub terminated: bool,
    /// It had to be killed.
    pub killed: bool,
    /// Processes of the instance still alive after LocalStack was gone, killed.
    pub orphans_killed: usize,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn instances_dir(options: &Options) -> PathBuf {
    options.cache_dir.join("localstack/instances")
}

/// Starts LocalStack. `name`: a named instance outlives this process (`minutely localstack up`)
/// and is found again by name; `None` gives a unique one that is stopped when dropped.
pub fn start(options: &Options, name: Option<&str>) -> Result<Instance, Error> {
    let install = ensure_installed(options)?;
    for id in reap_orphans(WATCHDOG_GRACE) {
        eprintln!("minutely: stopped LocalStack instance {id}, left running by a process that is gone");
    }
    let id = match name {
        Some(n) => n.to_owned(),
        None => format!("p{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)),
    };
    let dir = prepare_dir(options, &install, &id, name)?;
    let log = dir.join("localstack.log");

    let mut attempt = 0;
    loop {
        attempt += 1;
        let port = free_port()?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let child = spawn(options, &install, &id, &dir, &log, port)?;
        let pid = child.id() as i32;
        let record = Record {
            id: id.clone(),
            pid: child.id() as i32,
            port,
            endpoint: endpoint.clone(),
            dir: dir.clone(),
            log: log.clone(),
            started_unix_ms: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis()),
        };
        let mut instance = Instance {
            record,
            named: name.is_some(),
            child: Some(child),
            grace: options.stop_grace,
            keep_dir: true,
            stopped: false,
            install: install.clone(),
            watchdog: None,
        };
        if name.is_none() {
            // On failure the instance is dropped here, which stops it.
            instance.watchdog = Some(
                Watchdog::spawn(&format!("{INSTANCE_VAR}={id}"), pid, options.stop_grace.min(WATCHDOG_GRACE))
                    .map_err(io("starting the instance's watchdog (sh)"))?,
            );
        }
        let ready = health::wait_ready(&endpoint, options.start_timeout, || instance.check_alive());
        match ready {
            Ok(()) => {
                instance.keep_dir = instance.named;
                if instance.named {
                    let json = serde_json::to_string_pretty(&instance.record).expect("a record serialises");
                    fs::write(dir.join("instance.json"), json).map_err(io("writing instance.json"))?;
                }
                return Ok(instance);
            }
            Err(NotReady::Gone(_)) if attempt < 3 && tail(&log, 50).contains("Address already in use") => {
                drop(instance); // the port was taken between our probe and its bind: another port
            }
            Err(not_ready) => {
                let error = match not_ready {
                    NotReady::Gone(e) => e,
                    NotReady::Service(service) => {
                        Error::ServiceFailed { service, log: log.clone(), tail: tail(&log, 40) }
                    }
                    NotReady::Timeout(last) => Error::Timeout { after: options.start_timeout, last, log: log.clone() },
                };
                drop(instance); // stops what is left; the directory and its log stay for the error
                return Err(error);
            }
        }
    }
}

/// The instance's directory, fresh, with kinesis-mock linked in; refused when the named
/// instance already runs.
fn prepare_dir(options: &Options, install: &Install, id: &str, name: Option<&str>) -> Result<PathBuf, Error> {
    let dir = instances_dir(options).join(id);
    if let Some(name) = name
        && let Ok(record) = read_record(options, name)
        && alive(record.pid)
    {
        return Err(Error::Config(format!(
            "LocalStack {name:?} is already running at {} (pid {}); `minutely localstack down` stops it",
            record.endpoint, record.pid
        )));
    }
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(io(format!("removing {}", dir.display())))?;
    }
    let lib = dir.join("root/usr/lib");
    fs::create_dir_all(&lib).map_err(io(format!("creating {}", lib.display())))?;
    std::os::unix::fs::symlink(&install.static_libs, lib.join("localstack"))
        .map_err(io("linking kinesis-mock into the instance"))?;
    Ok(dir)
}

fn spawn(options: &Options, install: &Install, id: &str, dir: &Path, log: &Path, port: u16) -> Result<Child, Error> {
    let file = File::options().create(true).append(true).open(log).map_err(io(format!("opening {}", log.display())))?;
    let err = file.try_clone().map_err(io("cloning a log handle"))?;
    let mut command = Command::new(&install.python);
    command
        .args(["-m", "localstack.runtime.main"])
        .current_dir(dir)
        .env("GATEWAY_LISTEN", format!("127.0.0.1:{port}"))
        .env("SERVICES", "kinesis,s3")
        .env("EAGER_SERVICE_LOADING", "1")
        .env("OVERRIDE_IN_DOCKER", "0")
        .env("FILESYSTEM_ROOT", dir.join("root"))
        .env("DNS_ADDRESS", "0")
        .env("DISABLE_EVENTS", "1")
        .env("SKIP_SSL_CERT_DOWNLOAD", "1")
        .env("KINESIS_PERSISTENCE", "0")
        .env("KINESIS_LATENCY", "0")
        .env(INSTANCE_VAR, id)
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err);
    for (k, v) in &options.env {
        command.env(k, v);
    }
    // Its own process group: a Ctrl-C meant for us does not reach it, and it can be killed whole.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    command.spawn().map_err(io(format!("starting {}", install.python.display())))
}

fn free_port() -> Result<u16, Error> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(io("finding a free port"))?;
    Ok(listener.local_addr().map_err(io("finding a free port"))?.port())
}

impl Instance {
    pub fn endpoint(&self) -> String {
        self.record.endpoint.clone()
    }

    pub fn record(&self) -> &Record {
        &self.record
    }

    pub fn log(&self) -> &Path {
        &self.record.log
    }

    /// Leaves the process running when this guard goes away (`minutely localstack up`: a named
    /// instance, which has no watchdog).
    pub fn detach(mut self) -> Record {
        self.stopped = true;
        self.record.clone()
    }

    fn check_alive(&mut self) -> Result<(), Error> {
        if let Some(child) = &mut self.child
            && let Ok(Some(status)) = child.try_wait()
        {
            return Err(Error::Exited {
                status: status.to_string(),
                log: self.record.log.clone(),
                tail: tail(&self.record.log, 40),
            });
        }
        Ok(())
    }

    pub fn stop(mut self) -> Result<Stopped, Error> {
        Ok(self.stop_now())
    }

    fn stop_now(&mut self) -> Stopped {
        if self.stopped {
            return Stopped::default();
        }
        self.stopped = true;
        let stopped = stop_process(self.record.pid, self.child.as_mut(), &self.record.id, self.grace);
        // Stopped: the watchdog finds nothing left and exits.
        drop(self.watchdog.take());
        if self.named {
            forget_named(&self.record.dir);
        } else if !self.keep_dir {
            let _ = fs::remove_dir_all(&self.record.dir);
        }
        stopped
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.stop_now();
    }
}

fn stop_process(pid: i32, mut child: Option<&mut Child>, id: &str, grace: Duration) -> Stopped {
    let gone = |child: &mut Option<&mut Child>| match child {
        Some(c) => c.try_wait().map_or(true, |s| s.is_some()),
        None => !alive(pid),
    };
    let mut stopped = Stopped::default();
    let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    stopped.terminated = wait_until(grace, || gone(&mut child));
    if !stopped.terminated {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        stopped.killed = true;
        wait_until(Duration::from_secs(5), || gone(&mut child));
    }
    for orphan in processes_of(id) {
        let _ = kill(Pid::from_raw(orphan), Signal::SIGKILL);
        stopped.orphans_killed += 1;
    }
    wait_until(Duration::from_secs(5), || processes_of(id).is_empty());
    stopped
}

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether `pid` is a live (not zombie) process.
pub fn alive(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')))
}

/// Every live process but this one, with its environment (`NAME=VALUE` entries, NUL-separated).
fn environments() -> impl Iterator<Item = (i32, Vec<u8>)> {
    let me = std::process::id() as i32;
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(move |&pid| pid != me && alive(pid))
        .filter_map(|pid| Some((pid, fs::read(format!("/proc/{pid}/environ")).ok()?)))
}

/// Live processes (but this one) whose environment holds the entry `NAME=VALUE`.
pub fn processes_with(entry: &str) -> Vec<i32> {
    environments()
        .filter(|(_, env)| env.split(|&b| b == 0).any(|kv| kv == entry.as_bytes()))
        .map(|(pid, _)| pid)
        .collect()
}

/// Live processes of instance `id` (found by the marker in their environment).
pub fn processes_of(id: &str) -> Vec<i32> {
    processes_with(&format!("{INSTANCE_VAR}={id}"))
}

/// The record of a named instance.
pub fn read_record(options: &Options, name: &str) -> Result<Record, Error> {
    let dir = instances_dir(options).join(name);
    let text = fs::read_to_string(dir.join("instance.json"))
        .map_err(|_| Error::NotRunning { name: name.to_owned(), dir: dir.clone() })?;
    serde_json::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", dir.join("instance.json").display())))
}

/// The log of a named instance (it stays after `down`).
pub fn log_of(options: &Options, name: &str) -> PathBuf {
    instances_dir(options).join(name).join("localstack.log")
}

/// Stops a named instance started by another process.
pub fn stop_named(options: &Options, name: &str) -> Result<Stopped, Error> {
    let record = read_record(options, name)?;
    let stopped = stop_process(record.pid, None, &record.id, options.stop_grace);
    forget_named(&record.dir);
    Ok(stopped)
}

/// Who started an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// `minutely localstack up --name`: outlives its starter by design, until `down`.
    Named,
    /// A run or a test (unnamed instances are `p<owner pid>-<n>`): it must die with its owner.
    Process { pid: i32, alive: bool },
}

/// An instance with live processes on this machine, found by their marker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub id: String,
    pub pids: Vec<i32>,
    pub owner: Owner,
}

impl Found {
    /// An unnamed instance whose owner is gone: left by a crash (before the watchdog existed,
    /// or with the watchdog killed too).
    pub fn is_orphan(&self) -> bool {
        matches!(self.owner, Owner::Process { alive: false, .. })
    }
}

fn owner_of(id: &str) -> Owner {
    let pid = id
        .strip_prefix('p')
        .and_then(|rest| rest.split_once('-'))
        .and_then(|(pid, n)| n.parse::<u64>().ok().and(pid.parse::<i32>().ok()));
    match pid {
        Some(pid) => Owner::Process { pid, alive: alive(pid) },
        None => Owner::Named,
    }
}

/// Every instance with a live process on this machine, by id.
pub fn instances() -> Vec<Found> {
    let prefix = format!("{INSTANCE_VAR}=");
    let mut by_id: std::collections::BTreeMap<String, Vec<i32>> = std::collections::BTreeMap::new();
    for (pid, env) in environments() {
        if let Some(id) = env.split(|&b| b == 0).find_map(|kv| kv.strip_prefix(prefix.as_bytes())) {
            by_id.entry(String::from_utf8_lossy(id).into_owned()).or_default().push(pid);
        }
    }
    by_id.into_iter().map(|(id, pids)| Found { owner: owner_of(&id), id, pids }).collect()
}

/// Stops every process of instance `id`: SIGTERM, `grace`, SIGKILL.
pub fn stop_marked(id: &str, grace: Duration) -> Stopped {
    let mut stopped = Stopped::default();
    for pid in processes_of(id) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    stopped.terminated = wait_until(grace, || processes_of(id).is_empty());
    if !stopped.terminated {
        for pid in processes_of(id) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            stopped.orphans_killed += 1;
        }
        stopped.killed = true;
        wait_until(Duration::from_secs(5), || processes_of(id).is_empty());
    }
    stopped
}

/// Stops the instances whose owner is gone; returns their ids. Every start does this first.
pub fn reap_orphans(grace: Duration) -> Vec<String> {
    let orphans: Vec<String> = instances().into_iter().filter(Found::is_orphan).map(|f| f.id).collect();
    for id in &orphans {
        stop_marked(id, grace);
    }
    orphans
}

/// After a named instance stopped: its record and files go, its log stays for `logs`.
fn forget_named(dir: &Path) {
    let _ = fs::remove_file(dir.join("instance.json"));
    let _ = fs::remove_dir_all(dir.join("root"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_made_up_one_is_not() {
        assert!(alive(std::process::id() as i32));
        assert!(!alive(i32::MAX));
        assert!(processes_of("no-such-instance").is_empty());
    }

    #[test]
    fn owners_are_read_from_instance_ids() {
        let me = std::process::id() as i32;
        assert_eq!(owner_of(&format!("p{me}-3")), Owner::Process { pid: me, alive: true });
        assert_eq!(owner_of(&format!("p{}-0", i32::MAX)), Owner::Process { pid: i32::MAX, alive: false });
        assert_eq!(owner_of("default"), Owner::Named);
        assert_eq!(owner_of("prod-1"), Owner::Named);
    }

    /// An instance whose owner is gone is found and reaped; one whose owner lives is left.
    #[test]
    fn orphans_are_found_and_reaped() {
        let spawn =
            |id: &str| Command::new("sleep").arg("300").env(INSTANCE_VAR, id).stdout(Stdio::null()).spawn().unwrap();
        let orphan_id = format!("p{}-{}", i32::MAX, std::process::id());
        let owned_id = format!("p{}-9{}", std::process::id(), std::process::id());
        let mut orphan = spawn(&orphan_id);
        let mut owned = spawn(&owned_id);
        // Until a child has exec'd, its environment is still this process's: wait for both.
        let until = std::time::Instant::now() + Duration::from_secs(10);
        let mut found = instances();
        while !(found.iter().any(|f| f.id == orphan_id) && found.iter().any(|f| f.id == owned_id))
            && std::time::Instant::now() < until
        {
            std::thread::sleep(Duration::from_millis(20));
            found = instances();
        }
        assert!(found.iter().any(|f| f.id == orphan_id && f.is_orphan()), "{found:?}");
        assert!(found.iter().any(|f| f.id == owned_id && !f.is_orphan()), "{found:?}");
        let reaped = reap_orphans(Duration::from_secs(2));
        assert!(reaped.contains(&orphan_id) && !reaped.contains(&owned_id), "{reaped:?}");
        let _ = orphan.wait();
        assert!(processes_of(&orphan_id).is_empty());
        assert_eq!(processes_of(&owned_id).len(), 1);
        let _ = owned.kill();
        let _ = owned.wait();
    }

    #[test]
    fn a_missing_python_is_named_with_what_to_install() {
        let options = Options { python: Some("/nonexistent/python3".into()), ..Options::from_env().unwrap() };
        let e = find_python(&options).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/python3") && e.contains("apt install"), "{e}");
    }

    #[test]
    fn the_lock_file_pins_what_the_notes_verified() {
        for pin in ["localstack-core==4.9.2", "cbor2==5.7.0", "pyOpenSSL==25.3.0", "cryptography==46.0.1"] {
            assert!(REQUIREMENTS.lines().any(|l| l == pin), "{pin} missing from the lock file");
        }
        assert!(KINESIS_PACKAGE_LOCK.contains(&format!("\"version\": \"{KINESIS_LOCAL_VERSION}\"")));
    }
}
