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

mod backend;
mod docker;
mod error;
pub mod health;
pub mod host;
mod options;
mod start;
pub mod watchdog;

pub use backend::{Backend, Chosen, choose};
pub use docker::docker_answers;
pub use error::Error;
pub(crate) use error::io;
pub use health::{Health, ServiceState};
pub use options::{Options, default_cache_dir};
pub use start::LocalStack;

/// The LocalStack version every backend runs.
pub const LOCALSTACK_VERSION: &str = "4.9.2";
/// The image for Docker users (compose, testcontainers).
pub const LOCALSTACK_IMAGE: &str = "localstack/localstack";
