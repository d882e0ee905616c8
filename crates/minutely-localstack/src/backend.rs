//! Which LocalStack to use: the backends, and how `auto` resolves.

use std::fmt;

use crate::error::Error;

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
