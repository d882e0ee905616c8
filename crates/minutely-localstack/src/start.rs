//! Starting LocalStack on the chosen backend, and the guard that stops it.

use crate::backend::{Backend, Chosen, choose};
use crate::docker::docker_answers;
use crate::error::Error;
use crate::host;
use crate::options::Options;
#[cfg(feature = "testcontainers")]
use crate::{LOCALSTACK_VERSION, health};

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
