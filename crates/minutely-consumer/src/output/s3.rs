//! The S3 output: objects and conditional checkpoint writes, every call retried under the one
//! retry policy ([`minutely_aws::retry`]).

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use minutely_aws::{AwsError, Cause, RetryLog, RetryPolicy};

use super::error::{IfMatch, OutputError};

#[derive(Clone, Debug)]
pub struct S3Output {
    pub client: aws_sdk_s3::Client,
    pub bucket: String,
    pub prefix: String,
    /// Keep retrying a failed write this long.
    pub retry_deadline: Duration,
    /// Named on every object written (`x-amz-meta-minutely-writer`): the worker's id.
    pub writer: Option<String>,
}

impl S3Output {
    fn metadata(&self) -> Option<std::collections::HashMap<String, String>> {
        self.writer.as_ref().map(|w| [("minutely-writer".to_owned(), w.clone())].into())
    }

    fn target(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// Fails with what to type when the bucket is missing or not ours. The first S3 call of a
    /// run: an endpoint that does not answer fails it at once.
    pub async fn check_bucket(&self) -> Result<(), OutputError> {
        let log = RetryLog::stderr(format!("HeadBucket s3://{}", self.bucket));
        let checked = minutely_aws::retry::retry(RetryPolicy::FIRST_CALLS, 0, &log, || async {
            self.client.head_bucket().bucket(&self.bucket).send().await.map_err(|e| {
                let e = AwsError::from_sdk("HeadBucket", format!("s3://{}", self.bucket), &e);
                match e.cause {
                    Cause::NotFound => e.with_message("no such bucket").with_hint("create it, or pass --create-bucket"),
                    _ => e,
                }
            })
        })
        .await;
        Ok(checked.map(|_| ())?)
    }

    pub async fn create_bucket(&self) -> Result<(), OutputError> {
        match self.client.create_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_bucket_already_owned_by_you()) => Ok(()),
            Err(e) => Err(AwsError::from_sdk("CreateBucket", format!("s3://{}", self.bucket), &e).into()),
        }
    }

    /// PutObject, retried (see [`S3Output::retrying`]).
    pub(crate) async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), OutputError> {
        self.retrying("PutObject", key, || async {
            let put = self.client.put_object().bucket(&self.bucket).key(key).content_type(content_type);
            let put = put.set_metadata(self.metadata());
            match put.body(ByteStream::from(body.clone())).send().await {
                Ok(_) => Ok(()),
                Err(e) => Err(AwsError::from_sdk("PutObject", self.target(key), &e)),
            }
        })
        .await
    }

    /// PutObject with `If-Match: <expected>` (or `If-None-Match: *` when no checkpoint was seen).
    /// A failed precondition is checked against what is there: the same bytes mean an earlier
    /// attempt of this write went through (its answer was lost); anything else means another
    /// writer wrote it.
    /// `Ok(None)`: the precondition failed.
    pub(crate) async fn put_if(
        &self,
        key: &str,
        body: Vec<u8>,
        expected: &IfMatch,
    ) -> Result<Option<IfMatch>, OutputError> {
        let sent = self
            .retrying("PutObject", key, || async {
                let mut put = self.client.put_object().bucket(&self.bucket).key(key).content_type("application/json");
                put = put.set_metadata(self.metadata());
                put = match expected {
                    Some(etag) => put.if_match(etag),
                    None => put.if_none_match("*"),
                };
                match put.body(ByteStream::from(body.clone())).send().await {
                    Ok(out) => Ok(Ok(out.e_tag().map(str::to_owned))),
                    // 412: precondition failed; 404: If-Match on an object that is gone.
                    Err(e) if matches!(e.raw_response().map(|r| r.status().as_u16()), Some(412 | 404)) => Ok(Err(())),
                    Err(e) => Err(AwsError::from_sdk("PutObject", self.target(key), &e)),
                }
            })
            .await?;
        match sent {
            Ok(etag) => Ok(Some(etag)),
            Err(()) => match self.get(key).await? {
                Some((there, etag)) if there == body => Ok(Some(etag)),
                _ => Ok(None),
            },
        }
    }

    /// GetObject: the bytes and the ETag; `None` when there is no such key.
    pub(crate) async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, IfMatch)>, OutputError> {
        self.retrying("GetObject", key, || async {
            match self.client.get_object().bucket(&self.bucket).key(key).send().await {
                Ok(out) => {
                    let etag = out.e_tag().map(str::to_owned);
                    match out.body.collect().await {
                        Ok(bytes) => Ok(Some((bytes.into_bytes().to_vec(), etag))),
                        Err(e) => {
                            let message = format!("the body broke off: {e}");
                            Err(AwsError::new("GetObject", self.target(key), Cause::Unreachable, message))
                        }
                    }
                }
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
                Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) && !is_no_such_bucket(&e) => {
                    Ok(None)
                }
                Err(e) => Err(AwsError::from_sdk("GetObject", self.target(key), &e)),
            }
        })
        .await
    }

    /// Retries `call` with full-jitter exponential backoff ([`minutely_aws::retry`]) on
    /// throttling, 5xx and network errors until the retry deadline; a missing bucket, refused
    /// credentials or a bad request fail at once.
    async fn retrying<T, F, Fut>(&self, operation: &str, key: &str, call: F) -> Result<T, OutputError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, AwsError>>,
    {
        let policy = RetryPolicy {
            base: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            deadline: Some(self.retry_deadline),
            retry_unreachable: true,
        };
        let log = RetryLog::stderr(format!("{operation} {}", self.target(key)));
        // Jitter seeded by the key: deterministic, and different for each object.
        let seed = minutely_event::id_hash(key) as u64;
        Ok(minutely_aws::retry::retry(policy, seed, &log, call).await?)
    }
}

/// A 404 from GetObject that is about the bucket, not the key.
fn is_no_such_bucket(
    e: &aws_sdk_s3::error::SdkError<
        aws_sdk_s3::operation::get_object::GetObjectError,
        aws_sdk_s3::config::http::HttpResponse,
    >,
) -> bool {
    use aws_sdk_s3::error::ProvideErrorMetadata;
    e.as_service_error().and_then(|s| s.code()) == Some("NoSuchBucket")
}
