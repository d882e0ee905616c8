//! What went wrong starting or stopping LocalStack, with what to do about it.

use std::path::PathBuf;
use std::time::Duration;

use crate::LOCALSTACK_VERSION;

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
