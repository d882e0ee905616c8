//! The SDK's real errors, classified: each case made the way a user meets it (no region, no
//! credentials, nothing listening, a missing stream or bucket on the sim), not built by hand.

use aws_config::BehaviorVersion;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, future};
use aws_sdk_kinesis::config::{Credentials, Region};
use minutely_aws::{AwsError, Cause, Target};

fn kinesis(endpoint: Option<&str>, region: Option<&str>) -> aws_sdk_kinesis::Client {
    let mut b = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(Credentials::new("test", "test", None, None, "test"));
    if let Some(e) = endpoint {
        b = b.endpoint_url(e);
    }
    if let Some(r) = region {
        b = b.region(Region::new(r.to_owned()));
    }
    aws_sdk_kinesis::Client::from_conf(b.build())
}

async fn list(client: &aws_sdk_kinesis::Client) -> AwsError {
    let e = client.list_shards().stream_name("events").send().await.unwrap_err();
    AwsError::from_sdk("ListShards", "stream events", &e)
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn no_region_says_to_pass_one() {
    let e = list(&kinesis(None, None)).await;
    assert_eq!(e.cause, Cause::NoRegion, "{e}");
    assert!(!e.retryable());
    assert!(e.to_string().contains("pass --region or set AWS_REGION"), "{e}");
    assert!(!e.to_string().contains("DispatchFailure"), "{e}");
}

#[derive(Debug)]
struct NoCredentials;

impl ProvideCredentials for NoCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::ready(Err(CredentialsError::not_loaded("no provider in the chain had any")))
    }
}

#[tokio::test]
async fn no_credentials_say_how_to_get_an_emulator_or_set_a_profile() {
    let config = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(NoCredentials)
        .build();
    let e = list(&aws_sdk_kinesis::Client::from_conf(config)).await;
    assert_eq!(e.cause, Cause::NoCredentials, "{e}");
    assert!(!e.retryable());
    let line = e.to_string();
    assert!(line.starts_with("ListShards stream events: no AWS credentials found ("), "{line}");
    assert!(line.contains("minutely localstack up") && line.contains("AWS_PROFILE"), "{line}");
    assert_eq!(line.lines().count(), 1);
}

#[tokio::test]
async fn a_refused_connection_is_unreachable_and_worth_retrying() {
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let e = list(&kinesis(Some(&endpoint), Some("us-east-1"))).await;
    assert_eq!(e.cause, Cause::Unreachable, "{e}");
    assert!(e.retryable());
    assert!(e.message.starts_with("cannot connect: ") && e.message.contains("refused"), "{}", e.message);
    assert!(e.to_string().contains("minutely localstack status"), "{e}");
}

#[tokio::test]
async fn a_missing_stream_or_bucket_is_not_found_with_what_to_type() {
    let sim = minutely_sim::Sim::start(minutely_sim::Config::default()).await.unwrap();
    let clients = minutely_aws::clients(&Target::endpoint(sim.endpoint())).await;
    let e = minutely_aws::kinesis::list_shards(&clients.kinesis, "nope", minutely_aws::RetryPolicy::FIRST_CALLS)
        .await
        .unwrap_err();
    assert_eq!((e.cause, e.code.as_deref()), (Cause::NotFound, Some("ResourceNotFoundException")), "{e}");
    assert!(e.to_string().contains("--create-stream SHARDS --sink kinesis:nope"), "{e}");
    let e = minutely_aws::kinesis::status(&clients.kinesis, "nope").await.unwrap_err();
    assert_eq!(e.cause, Cause::NotFound, "{e}");

    let e = clients.s3.get_object().bucket("nope").key("k").send().await.unwrap_err();
    let e = AwsError::from_sdk("GetObject", "s3://nope/k", &e);
    assert_eq!((e.cause, e.code.as_deref()), (Cause::NotFound, Some("NoSuchBucket")), "{e}");
    let e = clients.s3.head_bucket().bucket("nope").send().await.unwrap_err();
    assert_eq!(AwsError::from_sdk("HeadBucket", "s3://nope", &e).cause, Cause::NotFound);
    sim.stop().await;
}
