//! Building the Kinesis and S3 clients of a [`Target`].
//!
//! Against real AWS nothing is overridden: region, credentials and endpoints come from the
//! standard chain (environment, profile, IMDS...), which also honours `AWS_ENDPOINT_URL`. Against
//! an emulator (LocalStack), the endpoint is set, credentials are static test ones (never your
//! real keys), the region defaults to `us-east-1`, and S3 uses path-style
//! addressing (LocalStack has no per-bucket DNS names).

use aws_config::{BehaviorVersion, Region};
use aws_sdk_kinesis::config::Credentials;

/// Where the clients go.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    /// An endpoint that overrides the standard resolution (`http://127.0.0.1:4566`).
    pub endpoint: Option<String>,
    /// A region that overrides the standard chain.
    pub region: Option<String>,
}

impl Target {
    /// An emulator at `endpoint`.
    pub fn endpoint(endpoint: impl Into<String>) -> Target {
        Target { endpoint: Some(endpoint.into()), region: None }
    }

    /// Whether the endpoint is an emulator on this machine or in a compose network: loopback,
    /// `localhost`, or a host named `localstack`.
    pub fn is_emulator(&self) -> bool {
        self.endpoint.as_deref().is_some_and(is_emulator_endpoint)
    }
}

/// `true` for `http://127.0.0.1:4566`, `http://localhost:4566`, `http://[::1]:4566`,
/// `http://localstack:4566`.
pub fn is_emulator_endpoint(endpoint: &str) -> bool {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    host == "localhost" || host == "localstack" || host == "::1" || host.starts_with("127.")
}

/// The Kinesis and S3 clients of one target.
#[derive(Clone, Debug)]
pub struct Clients {
    pub kinesis: aws_sdk_kinesis::Client,
    pub s3: aws_sdk_s3::Client,
    pub config: aws_config::SdkConfig,
}

/// Builds both clients.
pub async fn clients(target: &Target) -> Clients {
    clients_with(target, None).await
}

/// Builds both clients on an emulator that answers in this process
/// ([`crate::in_process::http_client`]): no socket is opened.
///
/// ```no_run
/// # async fn f() {
/// let sim = std::sync::Arc::new(minutely_sim::Sim::start(minutely_sim::Config::default()).await.unwrap());
/// let clients = minutely_aws::in_process_clients(sim.handler()).await;
/// # }
/// ```
pub async fn in_process_clients<F, Fut>(handler: F) -> Clients
where
    F: Fn(http::Request<bytes::Bytes>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Option<http::Response<bytes::Bytes>>> + Send + 'static,
{
    let handler: crate::in_process::Handler = std::sync::Arc::new(move |request| Box::pin(handler(request)));
    // A nominal loopback endpoint: it makes the clients an emulator's (test credentials,
    // path-style S3) and is never connected to.
    let target = Target::endpoint("http://127.0.0.1:4566");
    clients_with(&target, Some(crate::in_process::http_client(handler))).await
}

async fn clients_with(
    target: &Target,
    http: Option<aws_smithy_runtime_api::client::http::SharedHttpClient>,
) -> Clients {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(http) = http {
        // In process, minutely's seeded policy is the only retry layer: the SDK's own retries
        // (standard mode: 3 attempts, jitter from an unseeded RNG) would make a run under a
        // paused clock differ from the next.
        loader = loader.http_client(http).retry_config(aws_config::retry::RetryConfig::disabled());
    }
    if let Some(endpoint) = &target.endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    let emulator = target.is_emulator();
    if let Some(region) = &target.region {
        loader = loader.region(Region::new(region.clone()));
    } else if emulator {
        loader = loader.region(aws_config::meta::region::RegionProviderChain::default_provider().or_else("us-east-1"));
    }
    if emulator {
        loader = loader.credentials_provider(Credentials::new("test", "test", None, None, "minutely-localstack"));
    }
    let config = loader.load().await;
    let s3_config = aws_sdk_s3::config::Builder::from(&config).force_path_style(emulator).build();
    Clients { kinesis: aws_sdk_kinesis::Client::new(&config), s3: aws_sdk_s3::Client::from_conf(s3_config), config }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulator_endpoints_are_recognised() {
        for e in [
            "http://127.0.0.1:4566",
            "http://localhost:4566/",
            "http://[::1]:4566",
            "http://localstack:4566",
            "127.0.0.1:1",
        ] {
            assert!(is_emulator_endpoint(e), "{e}");
        }
        for e in [
            "https://kinesis.eu-west-1.amazonaws.com",
            "https://vpce-1.s3.us-east-1.vpce.amazonaws.com",
            "http://10.0.0.1:4566",
        ] {
            assert!(!is_emulator_endpoint(e), "{e}");
        }
    }
}
