//! `--verify-signatures`: SigV4 as the SDKs this project did not write sign it (the Rust SDK's
//! aws-sigv4, boto3's botocore, presigned URLs), passed; wrong keys, wrong secrets, unsigned
//! requests and expired URLs refused with AWS's codes.

use aws_sdk_kinesis::config::{BehaviorVersion, Credentials as SdkCredentials, Region};
use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::primitives::Blob;
use minutely_aws::{Target, clients};
use minutely_sim::{Clock, Config, Credentials, Sim};

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn verifying() -> Config {
    // A manual clock at the wall clock's time: the SDKs sign with the wall clock, and a test can
    // move the sim past a presigned URL's expiry.
    Config {
        limits: false,
        clock: Clock::manual(now_ms()),
        signatures: Some(Credentials::default()),
        ..Config::default()
    }
}

fn kinesis_with(endpoint: &str, key: &str, secret: &str) -> aws_sdk_kinesis::Client {
    let config = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .endpoint_url(endpoint)
        .credentials_provider(SdkCredentials::new(key, secret, None, None, "test"))
        .build();
    aws_sdk_kinesis::Client::from_conf(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_sdk_signs_and_wrong_credentials_are_refused() {
    let sim = Sim::start(verifying()).await.unwrap();
    let c = clients(&Target::endpoint(sim.endpoint())).await;
    c.kinesis.create_stream().stream_name("s").shard_count(1).send().await.unwrap();
    sim.clock().advance(minutely_sim::Shapes::AWS.transition_ms); // past CREATING
    let put = c.kinesis.put_record().stream_name("s").data(Blob::new("hi")).partition_key("k").send().await;
    assert!(put.is_ok(), "{put:?}");
    c.s3.create_bucket().bucket("signed").send().await.unwrap();
    // PutObject with the SDK's default checksum: an aws-chunked body under a streaming signature.
    let body = aws_sdk_s3::primitives::ByteStream::from(vec![b'x'; 100_000]);
    c.s3.put_object().bucket("signed").key("a b/ç+d").body(body).send().await.unwrap();
    let got = c.s3.get_object().bucket("signed").key("a b/ç+d").range("bytes=0-9").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().len(), 10);
    let listed = c.s3.list_objects_v2().bucket("signed").prefix("a b/").delimiter("/").send().await.unwrap();
    assert_eq!(listed.key_count(), Some(1));

    let e = kinesis_with(&sim.endpoint(), "test", "not-the-secret").list_streams().send().await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidSignatureException"), "{e:?}");
    assert!(e.message().unwrap_or_default().contains("canonical request"), "{e:?}");
    let e = kinesis_with(&sim.endpoint(), "AKIAOTHER", "test").list_streams().send().await.unwrap_err();
    assert_eq!(e.code(), Some("UnrecognizedClientException"), "{e:?}");
    // An unsigned call, as a raw client would send it.
    let (status, body) = tokio::task::spawn_blocking({
        let endpoint = sim.endpoint();
        move || {
            let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
            let mut r = agent
                .post(format!("{endpoint}/"))
                .header("x-amz-target", "Kinesis_20131202.ListStreams")
                .header("content-type", "application/x-amz-json-1.1")
                .send("{}")
                .unwrap();
            (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
        }
    })
    .await
    .unwrap();
    assert_eq!(status, 400);
    assert!(body.contains("MissingAuthenticationTokenException"), "{body}");
}

/// boto3 (botocore's own signer): Kinesis and S3 signed, a presigned GET that works and then
/// expires on the sim's clock, a wrong secret and an unsigned client refused.
#[test]
fn boto3_signs_and_presigned_urls_expire() {
    let options = minutely_localstack::Options::from_env().unwrap();
    let install = minutely_localstack::host::ensure_installed(&options).unwrap_or_else(|e| panic!("{e}"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt.block_on(Sim::start(verifying())).unwrap();
    let script = r#"
import boto3, botocore, os, sys, urllib.request, urllib.error, json
from botocore.config import Config
ep = os.environ["EP"]
kw = dict(endpoint_url=ep, region_name="us-west-2", aws_access_key_id="test", aws_secret_access_key="test")
k = boto3.client("kinesis", **kw)
k.create_stream(StreamName="py", ShardCount=1)
def advance(ms):
    req = urllib.request.Request(ep + "/_sim/clock", data=json.dumps({"advance_ms": ms}).encode(), headers={"content-type": "application/json"})
    urllib.request.urlopen(req).read()
advance(1000)  # past CREATING, on the sim's manual clock
assert k.describe_stream_summary(StreamName="py")["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE"
assert k.put_records(StreamName="py", Records=[{"Data": b"e", "PartitionKey": "p"}])["FailedRecordCount"] == 0
s3 = boto3.client("s3", **kw)
s3.create_bucket(Bucket="py-bucket")
s3.put_object(Bucket="py-bucket", Key="a/b c.json", Body=b"{}")
s3.delete_objects(Bucket="py-bucket", Delete={"Objects": [{"Key": "nothing"}]})
v4 = boto3.client("s3", config=Config(signature_version="s3v4"), **kw)
url = v4.generate_presigned_url("get_object", Params={"Bucket": "py-bucket", "Key": "a/b c.json"}, ExpiresIn=60)
assert urllib.request.urlopen(url).read() == b"{}"
v2 = s3.generate_presigned_url("get_object", Params={"Bucket": "py-bucket", "Key": "a/b c.json"}, ExpiresIn=60)
try:
    urllib.request.urlopen(v2)
    print("sigv2 url: passed")
except urllib.error.HTTPError as e:
    print("sigv2 url:", e.code, e.read().decode())
def code(f):
    try:
        f()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return "passed"
bad = dict(kw, aws_secret_access_key="wrong")
print("wrong secret, kinesis:", code(lambda: boto3.client("kinesis", **bad).list_streams()))
print("wrong secret, s3:", code(lambda: boto3.client("s3", **bad).list_objects_v2(Bucket="py-bucket")))
unsigned = boto3.client("s3", endpoint_url=ep, region_name="us-east-1", config=Config(signature_version=botocore.UNSIGNED))
print("unsigned, s3:", code(lambda: unsigned.get_object(Bucket="py-bucket", Key="a/b c.json")))
advance(61000)
try:
    urllib.request.urlopen(url)
    print("expired url: passed")
except urllib.error.HTTPError as e:
    print("expired url:", e.code, e.read().decode())
print("boto3 ok")
"#;
    let out =
        std::process::Command::new(&install.python).arg("-c").arg(script).env("EP", sim.endpoint()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("boto3 ok"),
        "boto3 failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("wrong secret, kinesis: InvalidSignatureException"), "{stdout}");
    assert!(stdout.contains("wrong secret, s3: SignatureDoesNotMatch"), "{stdout}");
    assert!(stdout.contains("unsigned, s3: AccessDenied"), "{stdout}");
    assert!(stdout.contains("expired url: 403") && stdout.contains("Request has expired"), "{stdout}");
    assert!(stdout.contains("sigv2 url: 400") && stdout.contains("Signature Version 2"), "{stdout}");
    drop(sim);
}
