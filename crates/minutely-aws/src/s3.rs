//! Reading S3 back: every key under a prefix (the one ListObjectsV2 pager) and every object's
//! body, several calls in flight, each call retried under the one policy ([`crate::retry`]).

use aws_sdk_s3::Client;
use tokio::task::JoinSet;

use crate::error::{AwsError, Cause};
use crate::retry::{RetryLog, RetryPolicy, retry};

fn place(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

/// Every key under `prefix` in `bucket`, all pages, in S3's order (by key).
pub async fn keys_under(
    client: &Client,
    bucket: &str,
    prefix: &str,
    policy: RetryPolicy,
) -> Result<Vec<String>, AwsError> {
    Ok(objects_under(client, bucket, prefix, policy).await?.into_iter().map(|(key, _)| key).collect())
}

/// Every key under `prefix` in `bucket` with when it was last written (ms since the epoch; 0
/// when S3 does not say), all pages, in S3's order (by key).
pub async fn objects_under(
    client: &Client,
    bucket: &str,
    prefix: &str,
    policy: RetryPolicy,
) -> Result<Vec<(String, i64)>, AwsError> {
    let log = RetryLog::stderr(format!("ListObjectsV2 {}", place(bucket, prefix)));
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let list = retry(policy, 0, &log, || {
            let call = client.list_objects_v2().bucket(bucket).prefix(prefix).set_continuation_token(token.clone());
            async move { call.send().await.map_err(|e| AwsError::from_sdk("ListObjectsV2", place(bucket, prefix), &e)) }
        })
        .await?;
        out.extend(list.contents().iter().map(|o| {
            let written = o.last_modified().and_then(|t| t.to_millis().ok()).unwrap_or(0);
            (o.key().unwrap_or_default().to_owned(), written)
        }));
        match list.next_continuation_token() {
            Some(t) => token = Some(t.to_owned()),
            None => return Ok(out),
        }
    }
}

/// The body of `key`: the call and the reading of the body retried together.
pub async fn get_object(client: &Client, bucket: &str, key: &str, policy: RetryPolicy) -> Result<Vec<u8>, AwsError> {
    let log = RetryLog::stderr(format!("GetObject {}", place(bucket, key)));
    let seed = crate::rng::seed_of(key);
    retry(policy, seed, &log, || async {
        let got = client.get_object().bucket(bucket).key(key).send().await;
        let got = got.map_err(|e| AwsError::from_sdk("GetObject", place(bucket, key), &e))?;
        let body = got.body.collect().await.map_err(|e| {
            AwsError::new("GetObject", place(bucket, key), Cause::Other, format!("reading the body: {e}"))
        })?;
        Ok(body.to_vec())
    })
    .await
}

/// GetObject of every key, `in_flight` calls at a time, and `f` on each (key, body) as it comes
/// (in no set order). Stops at the first error, of a call or of `f`.
pub async fn each_object<E: From<AwsError>>(
    client: &Client,
    bucket: &str,
    keys: Vec<String>,
    in_flight: usize,
    policy: RetryPolicy,
    mut f: impl FnMut(&str, &[u8]) -> Result<(), E>,
) -> Result<(), E> {
    let mut keys = keys.into_iter();
    let mut calls = JoinSet::new();
    loop {
        while calls.len() < in_flight.max(1)
            && let Some(key) = keys.next()
        {
            let (client, bucket) = (client.clone(), bucket.to_owned());
            calls.spawn(async move { get_object(&client, &bucket, &key, policy).await.map(|body| (key, body)) });
        }
        let Some(done) = calls.join_next().await else { return Ok(()) };
        let joined =
            done.map_err(|e| AwsError::new("GetObject", format!("s3://{bucket}"), Cause::Other, e.to_string()));
        let (key, body) = joined??;
        f(&key, &body)?;
    }
}
