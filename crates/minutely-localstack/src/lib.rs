//! LocalStack (Kinesis and S3) on any machine.
//!
//! Three backends:
//! - [`Backend::Host`]: LocalStack 4.9.2 as a host process from a Python venv this crate
//!   installs (pinned by the lock files in `lock/`) into a cache directory. No Docker needed.
//! - [`Backend::Testcontainers`]: the `localstack/localstack:4.9.2` image, where a Docker engine
//!   answers.
//! - [`Backend::Endpoint`]: an already running LocalStack (or AWS) at a given URL.
//!
//! [`Backend::Auto`] picks the endpoint when one is given, else testcontainers when Docker
//! answers, else the host process. [`LocalStack::start`] returns a guard that stops what it
//! started when dropped, with no process left behind.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

mod docker;
pub mod health;
pub mod host;
pub mod watchdog;

pub use docker::docker_answers;
pub use health::{Health, ServiceState};

/// The LocalStack version every backend runs.
pub const LOCALSTACK_VERSION: &str = "4.9.2";
/// The image for Docker users (compose, testcontainers).
pub const LOCALSTACK_IMAGE: &str = "localstack/localstack";

/// Which LocalStack to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    #[default]
    Auto,
    Host,
    Testcontainers,
    Endpoint,
}

impl std::str::FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Backend::Auto),
            "host" => Ok(Backend::Host),
            "testcontainers" | "docker" => Ok(Backend::Testcontainers),
            "endpoint" => Ok(Backend::Endpoint),
            _ => Err(format!("unknown backend {s:?}: use auto, host, testcontainers or endpoint")),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Auto => "auto",
            Backend::Host => "host",
            Backend::Testcontainers => "testcontainers",
            Backend::Endpoint => "endpoint",
        })
    }
}

/// A backend resolved to something that can run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chosen {
    Host,
    Testcontainers,
    Endpoint(String),
}

/// Resolves `backend`: `auto` takes the endpoint when one is given, else testcontainers when
/// Docker answers (asked only then) and the feature is built, else the host process.
pub fn choose(backend: Backend, endpoint: Option<&str>, docker: impl FnOnce() -> bool) -> Result<Chosen, Error> {
    let endpoint = endpoint.filter(|e| !e.is_empty());
    match backend {
        Backend::Host => Ok(Chosen::Host),
        Backend::Testcontainers => Ok(Chosen::Testcontainers),
        Backend::Endpoint => endpoint.map(|e| Chosen::Endpoint(e.to_owned())).ok_or(Error::NoEndpoint),
        Backend::Auto => Ok(match endpoint {
            Some(e) => Chosen::Endpoint(e.to_owned()),
            None if cfg!(feature = "testcontainers") && docker() => Chosen::Testcontainers,
            None => Chosen::Host,
        }),
    }
}

/// How to start LocalStack.
#[derive(Clone, Debug)]
pub struct Options {
    pub backend: Backend,
    /// An already running LocalStack or AWS endpoint (`AWS_ENDPOINT_URL`).
    pub endpoint: Option<String>,
    /// Where the venv, kinesis-mock and instance directories live.
    pub cache_dir: PathBuf,
    /// The Python interpreter for the venv; default: `python3.11`, then `python3` on `PATH`.
    pub python: Option<PathBuf>,
    /// Give up on a start after this long (the log path is in the error).
    pub start_timeout: Duration,
    /// After SIGTERM, wait this long before SIGKILL.
    pub stop_grace: Duration,
    /// Extra LocalStack settings, such as `KINESIS_ERROR_PROBABILITY=0.3`.
    pub env: Vec<(String, String)>,
}

impl Options {
    /// Defaults from the environment: `AWS_ENDPOINT_URL`, `MINUTELY_LOCALSTACK_BACKEND`,
    /// `MINUTELY_CACHE_DIR` (else `$XDG_CACHE_HOME/minutely`, else `~/.cache/minutely`),
    /// `MINUTELY_PYTHON`. For binaries and tests; libraries take `Options` as given.
    pub fn from_env() -> Result<Options, Error> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let backend = match var("MINUTELY_LOCALSTACK_BACKEND") {
            Some(b) => b.parse().map_err(Error::Config)?,
            None => Backend::Auto,
        };
        Ok(Options {
            backend,
            endpoint: var("AWS_ENDPOINT_URL"),
            cache_dir: default_cache_dir(),
            python: var("MINUTELY_PYTHON").map(PathBuf::from),
            start_timeout: Duration::from_secs(300),
            stop_grace: Duration::from_secs(15),
            env: Vec::new(),
        })
    }

    pub fn with_env(mut self, key: &str, value: &str) -> Options {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }
}

/// `$MINUTELY_CACHE_DIR`, else `$XDG_CACHE_HOME/minutely`, else `~/.cache/minutely`.
pub fn default_cache_dir() -> PathBuf {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("MINUTELY_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("minutely")))
        .or_else(|| var("HOME").map(|h| h.join(".cache/minutely")))
        .unwrap_or_else(|| std::env::temp_dir().join("minutely-cache"))
}

/// A running LocalStack. Dropping it stops what it started.
#[derive(Debug)]
pub struct LocalStack {
    endpoint: String,
    running: Running,
}

#[derive(Debug)]
enum Running {
    Host(Box<host::Instance>),
    #[cfg(feature = "testcontainers")]
    Container(Box<testcontainers_modules::testcontainers::Container<testcontainers_modules::localstack::LocalStack>>),
    Endpoint,
}

impl LocalStack {
    /// Starts (or, for an endpoint, checks) LocalStack and waits until Kinesis and S3 answer.
    pub fn start(options: &Options) -> Result<LocalStack, Error> {
        match choose(options.backend, options.endpoint.as_deref(), docker_answers)? {
            Chosen::Endpoint(endpoint) => Ok(LocalStack { endpoint, running: Running::Endpoint }),
            Chosen::Host => {
                let instance = host::start(options, None)?;
                Ok(LocalStack { endpoint: instance.endpoint(), running: Running::Host(Box::new(instance)) })
            }
            Chosen::Testcontainers => start_container(options),
        }
    }

    /// `http://127.0.0.1:<port>`
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The backend that runs it.
    pub fn backend(&self) -> Backend {
        match self.running {
            Running::Host(_) => Backend::Host,
            #[cfg(feature = "testcontainers")]
            Running::Container(_) => Backend::Testcontainers,
            Running::Endpoint => Backend::Endpoint,
        }
    }

    /// The host instance, when the host backend runs it (its log, its directory).
    pub fn host_instance(&self) -> Option<&host::Instance> {
        match &self.running {
            Running::Host(i) => Some(i),
            _ => None,
        }
    }

    /// Stops it and reports what had to be killed; dropping does the same, silently.
    pub fn stop(self) -> Result<host::Stopped, Error> {
        match self.running {
            Running::Host(instance) => instance.stop(),
            #[cfg(feature = "testcontainers")]
            Running::Container(c) => {
                c.stop().map_err(|e| Error::Testcontainers(e.to_string()))?;
                Ok(host::Stopped::default())
            }
            Running::Endpoint => Ok(host::Stopped::default()),
        }
    }
}

#[cfg(feature = "testcontainers")]
fn start_container(options: &Options) -> Result<LocalStack, Error> {
    use testcontainers_modules::testcontainers::{ImageExt, runners::SyncRunner};
    let mut request = testcontainers_modules::localstack::LocalStack::default()
        .with_tag(LOCALSTACK_VERSION)
        .with_env_var("SERVICES", "kinesis,s3")
        .with_env_var("EAGER_SERVICE_LOADING", "1")
        .with_env_var("KINESIS_LATENCY", "0");
    for (k, v) in &options.env {
        request = request.with_env_var(k, v);
    }
    let tc = |e: testcontainers_modules::testcontainers::TestcontainersError| Error::Testcontainers(e.to_string());
    let container = request.start().map_err(tc)?;
    let endpoint =
        format!("http://{}:{}", container.get_host().map_err(tc)?, container.get_host_port_ipv4(4566).map_err(tc)?);
    health::wait_ready(&endpoint, options.start_timeout, || Ok(())).map_err(|e| {
        let why = match e {
            health::NotReady::Service(s) => format!("{s} is in state `error`"),
            health::NotReady::Timeout(last) => format!("not ready within {:?}: {last}", options.start_timeout),
            health::NotReady::Gone(e) => e.to_string(),
        };
        Error::Testcontainers(format!("the container started but {why} (see `docker logs`)"))
    })?;
    Ok(LocalStack { endpoint, running: Running::Container(Box::new(container)) })
}

#[cfg(not(feature = "testcontainers"))]
fn start_container(_: &Options) -> Result<LocalStack, Error> {
    Err(Error::Config("this build has no testcontainers backend (feature `testcontainers` is off)".into()))
}

/// What went wrong, with what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{0}")]
    Config(String),
    #[error("the endpoint backend needs an endpoint: set AWS_ENDPOINT_URL or pass --endpoint")]
    NoEndpoint,
    #[error(
        "no usable Python found (tried {tried}): LocalStack {LOCALSTACK_VERSION} needs Python 3.11 with venv \
         (Debian/Ubuntu: apt install python3.11 python3.11-venv), or set MINUTELY_PYTHON"
    )]
    NoPython { tried: String },
    #[error(
        "{tool} not found: LocalStack's Kinesis (kinesis-mock) runs on Node.js; install Node.js 18 or later \
         with npm (Debian/Ubuntu: apt install nodejs npm)"
    )]
    NoNode { tool: &'static str },
    #[error("{step} failed (full log: {log}); its last lines:\n{tail}")]
    InstallFailed { step: &'static str, log: PathBuf, tail: String },
    #[error("LocalStack started but {service} is in state `error` (log: {log}); its last lines:\n{tail}")]
    ServiceFailed { service: String, log: PathBuf, tail: String },
    #[error("LocalStack exited during start ({status}; log: {log}); its last lines:\n{tail}")]
    Exited { status: String, log: PathBuf, tail: String },
    #[error("LocalStack did not become ready within {after:?}: {last} (log: {log})")]
    Timeout { after: Duration, last: String, log: PathBuf },
    #[error("no LocalStack instance named {name:?} is running (looked in {dir})")]
    NotRunning { name: String, dir: PathBuf },
    #[error("testcontainers: {0}")]
    Testcontainers(String),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_prefers_an_endpoint_then_docker_then_the_host() {
        let never = || panic!("docker must not be asked when an endpoint is set");
        assert_eq!(choose(Backend::Auto, Some("http://x:1"), never).unwrap(), Chosen::Endpoint("http://x:1".into()));
        let with_docker = if cfg!(feature = "testcontainers") { Chosen::Testcontainers } else { Chosen::Host };
        assert_eq!(choose(Backend::Auto, None, || true).unwrap(), with_docker);
        assert_eq!(choose(Backend::Auto, Some(""), || false).unwrap(), Chosen::Host);
    }

    #[test]
    fn explicit_backends_are_taken_as_asked() {
        let never = || panic!("docker must not be asked for an explicit backend");
        assert_eq!(choose(Backend::Host, Some("http://x:1"), never).unwrap(), Chosen::Host);
        assert_eq!(choose(Backend::Testcontainers, None, never).unwrap(), Chosen::Testcontainers);
        assert!(matches!(choose(Backend::Endpoint, None, never), Err(Error::NoEndpoint)));
        assert_eq!("docker".parse::<Backend>().unwrap(), Backend::Testcontainers);
        assert!("podman".parse::<Backend>().is_err());
    }
}
