//! LocalStack's health endpoint, and waiting until Kinesis and S3 really answer.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::error::Error;

/// What `/_localstack/health` says of one service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceState {
    Running,
    Available,
    Disabled,
    Error,
    Other(String),
}

impl From<&str> for ServiceState {
    fn from(s: &str) -> Self {
        match s {
            "running" => ServiceState::Running,
            "available" => ServiceState::Available,
            "disabled" => ServiceState::Disabled,
            "error" => ServiceState::Error,
            other => ServiceState::Other(other.to_owned()),
        }
    }
}

/// The parsed health document.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Health {
    pub services: BTreeMap<String, ServiceState>,
    pub version: Option<String>,
}

impl Health {
    pub fn parse(json: &str) -> Result<Health, String> {
        let v: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("health is not JSON: {e}"))?;
        let services = v
            .get("services")
            .and_then(|s| s.as_object())
            .ok_or("health has no `services` object")?
            .iter()
            .map(|(k, s)| (k.clone(), ServiceState::from(s.as_str().unwrap_or_default())))
            .collect();
        Ok(Health { services, version: v.get("version").and_then(|s| s.as_str()).map(str::to_owned) })
    }

    pub fn state(&self, service: &str) -> Option<&ServiceState> {
        self.services.get(service)
    }
}

pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder().timeout_global(Some(timeout)).http_status_as_error(false).build().into()
}

/// Fetches the health document.
pub fn fetch(endpoint: &str) -> Result<Health, String> {
    let mut response = agent(Duration::from_secs(2))
        .get(format!("{endpoint}/_localstack/health"))
        .call()
        .map_err(|e| format!("health check: {e}"))?;
    let body = response.body_mut().read_to_string().map_err(|e| format!("health check: {e}"))?;
    Health::parse(&body)
}

/// Asks Kinesis for its streams: LocalStack starts kinesis-mock on the first Kinesis call, so
/// `running` in the health document does not yet mean Kinesis answers.
fn kinesis_answers(endpoint: &str, timeout: Duration) -> Result<(), String> {
    let response = agent(timeout)
        .post(format!("{endpoint}/"))
        .header("X-Amz-Target", "Kinesis_20131202.ListStreams")
        .header("Content-Type", "application/x-amz-json-1.1")
        .send("{}")
        .map_err(|e| format!("Kinesis ListStreams: {e}"))?;
    match response.status().as_u16() {
        200 => Ok(()),
        status => Err(format!("Kinesis ListStreams answered HTTP {status}")),
    }
}

pub(crate) enum NotReady {
    /// This service reported `error`.
    Service(String),
    /// Not ready in time; the last thing seen.
    Timeout(String),
    /// `alive` said the process is gone.
    Gone(Error),
}

/// Waits until Kinesis and S3 are `running` and Kinesis answers a call.
pub(crate) fn wait_ready(
    endpoint: &str,
    timeout: Duration,
    mut alive: impl FnMut() -> Result<(), Error>,
) -> Result<(), NotReady> {
    let deadline = Instant::now() + timeout;
    let mut last = String::from("no answer yet");
    while Instant::now() < deadline {
        alive().map_err(NotReady::Gone)?;
        match fetch(endpoint) {
            Ok(health) => {
                for service in ["kinesis", "s3"] {
                    if health.state(service) == Some(&ServiceState::Error) {
                        return Err(NotReady::Service(service.to_owned()));
                    }
                }
                let running = |s: &str| health.state(s) == Some(&ServiceState::Running);
                if running("kinesis") && running("s3") {
                    let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
                    match kinesis_answers(endpoint, left) {
                        Ok(()) => return Ok(()),
                        Err(e) => last = e,
                    }
                } else {
                    last = format!("kinesis {:?}, s3 {:?}", health.state("kinesis"), health.state("s3"));
                }
            }
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(NotReady::Timeout(last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_health_document() {
        let h = Health::parse(
            r#"{"services": {"kinesis": "running", "s3": "error", "sqs": "disabled"}, "version": "4.9.2"}"#,
        )
        .unwrap();
        assert_eq!(h.state("kinesis"), Some(&ServiceState::Running));
        assert_eq!(h.state("s3"), Some(&ServiceState::Error));
        assert_eq!(h.state("sqs"), Some(&ServiceState::Disabled));
        assert_eq!(h.version.as_deref(), Some("4.9.2"));
        assert!(Health::parse("{}").is_err());
        assert!(Health::parse("<html>").is_err());
    }
}
