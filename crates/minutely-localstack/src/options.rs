//! How to start LocalStack: the options, from the environment or given.

use std::path::PathBuf;
use std::time::Duration;

use crate::backend::Backend;
use crate::error::Error;

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
