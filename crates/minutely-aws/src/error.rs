//! One error type for every AWS call minutely makes: the operation, what it was about, the cause
//! in one line (the service's error code and message, or the transport's: connection refused,
//! DNS, timeout, no credentials, no region), whether retrying can fix it, and what to type next.
//!
//! The SDK's full error chain is kept for `--verbose` ([`set_verbose`]); without it no SDK
//! Debug output reaches a user.

use std::error::Error as StdError;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_runtime_api::client::endpoint::error::ResolveEndpointError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

static VERBOSE: AtomicBool = AtomicBool::new(false);

/// Whether an [`AwsError`] shows the SDK's whole error chain after its one line (`--verbose`).
pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

/// What went wrong, as far as what to do next goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// No credentials could be loaded (environment, profile, IMDS...).
    NoCredentials,
    /// No region is configured, so no endpoint can be resolved.
    NoRegion,
    /// The endpoint cannot be resolved for another reason (a malformed `--endpoint`).
    BadEndpoint,
    /// Nothing answered: connection refused, DNS, TLS, a dropped connection.
    Unreachable,
    /// The call or the connection timed out.
    Timeout,
    /// Throttled: over a shard's or an account's limit.
    Throttled,
    /// The service failed (5xx, an internal error).
    ServerError,
    /// The credentials were refused, or do not allow the call.
    Denied,
    /// The stream, shard, bucket or key does not exist.
    NotFound,
    /// The request is wrong (validation, a bad argument, a stream in the wrong state).
    Invalid,
    /// Anything else: an unreadable response, an unknown transport failure.
    Other,
}

impl Cause {
    /// Whether another attempt can succeed: throttling, 5xx, timeouts, dropped connections and
    /// unreadable responses. A missing resource, refused credentials, no credentials, no region
    /// and a bad request fail the same way every time.
    pub fn retryable(self) -> bool {
        matches!(self, Cause::Unreachable | Cause::Timeout | Cause::Throttled | Cause::ServerError | Cause::Other)
    }
}

/// An AWS call that failed, in one line. Its [`Details`] are boxed: an error is one pointer in
/// the `Result`s it travels through.
#[derive(Clone, Debug)]
pub struct AwsError(Box<Details>);

/// What an [`AwsError`] says (read through it: `e.cause`).
#[derive(Clone, Debug)]
pub struct Details {
    /// The API operation (`PutRecords`, `GetObject`).
    pub operation: &'static str,
    /// What the call was about (`stream events`, `s3://bucket/key`).
    pub target: String,
    pub cause: Cause,
    /// The service's error code, when the service answered (`ResourceNotFoundException`).
    pub code: Option<String>,
    /// The cause in one line.
    pub message: String,
    /// What to type next, when the cause is a common one.
    pub hint: Option<String>,
    /// The SDK's whole error chain (shown with `--verbose`).
    pub detail: String,
}

impl AwsError {
    /// An error found by minutely rather than the SDK (a malformed answer, a wait that timed out).
    pub fn new(
        operation: &'static str,
        target: impl Into<String>,
        cause: Cause,
        message: impl Into<String>,
    ) -> AwsError {
        let hint = default_hint(cause, operation);
        let (target, message, detail) = (target.into(), message.into(), String::new());
        AwsError(Box::new(Details { operation, target, cause, code: None, message, hint, detail }))
    }

    /// Classifies an SDK error of `operation` on `target`.
    pub fn from_sdk<E>(operation: &'static str, target: impl Into<String>, e: &SdkError<E, HttpResponse>) -> AwsError
    where
        E: ProvideErrorMetadata + StdError + 'static,
    {
        let detail = DisplayErrorContext(e).to_string();
        let (cause, code, message) = match e {
            SdkError::ServiceError(se) => {
                let status = se.raw().status().as_u16();
                let code = se.err().code().map(str::to_owned);
                let message = match (se.err().code(), se.err().message()) {
                    (Some(c), Some(m)) => format!("{c}: {m}"),
                    (Some(c), None) => c.to_owned(),
                    (None, Some(m)) => format!("HTTP {status}: {m}"),
                    (None, None) => format!("HTTP {status}"),
                };
                (classify(code.as_deref(), Some(status)), code, message)
            }
            SdkError::TimeoutError(_) => (Cause::Timeout, None, "timed out".to_owned()),
            SdkError::ResponseError(_) => (Cause::Other, None, format!("unreadable response: {}", innermost(e))),
            SdkError::ConstructionFailure(_) => (Cause::Invalid, None, innermost(e)),
            SdkError::DispatchFailure(d) => {
                if let Some(c) = find::<CredentialsError>(e) {
                    let why = match c {
                        CredentialsError::CredentialsNotLoaded(_) => "no AWS credentials found".to_owned(),
                        _ => format!("AWS credentials could not be loaded: {}", innermost(e)),
                    };
                    (Cause::NoCredentials, None, why)
                } else if let Some(text) = find::<aws_smithy_http::endpoint::ResolveEndpointError>(e)
                    .map(ToString::to_string)
                    .or_else(|| find::<ResolveEndpointError>(e).map(ToString::to_string))
                {
                    let cause =
                        if text.to_ascii_lowercase().contains("region") { Cause::NoRegion } else { Cause::BadEndpoint };
                    (cause, None, text)
                } else if d.is_timeout() {
                    (Cause::Timeout, None, format!("timed out: {}", innermost(e)))
                } else if d.is_io() {
                    (Cause::Unreachable, None, format!("cannot connect: {}", innermost(e)))
                } else {
                    (Cause::Other, None, innermost(e))
                }
            }
            _ => (Cause::Other, None, innermost(e)),
        };
        let hint = default_hint(cause, operation);
        AwsError(Box::new(Details { operation, target: target.into(), cause, code, message, hint, detail }))
    }

    /// Whether another attempt can succeed ([`Cause::retryable`]).
    pub fn retryable(&self) -> bool {
        self.cause.retryable()
    }

    /// Replaces the hint (a caller knows the flag that fixes it: `--create-stream`).
    pub fn with_hint(mut self, hint: impl Into<String>) -> AwsError {
        self.0.hint = Some(hint.into());
        self
    }

    /// Replaces the one-line cause (a caller knows better: a HEAD's bare 404 is "no such bucket").
    pub fn with_message(mut self, message: impl Into<String>) -> AwsError {
        self.0.message = message.into();
        self
    }
}

impl std::ops::Deref for AwsError {
    type Target = Details;

    fn deref(&self) -> &Details {
        &self.0
    }
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.operation, self.target, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        if VERBOSE.load(Ordering::Relaxed) {
            write!(f, "\n  the SDK's error: {}", self.detail)?;
        }
        Ok(())
    }
}

impl StdError for AwsError {}

/// The cause of a service's answer, by its error code first and its HTTP status then.
pub fn classify(code: Option<&str>, status: Option<u16>) -> Cause {
    match code.unwrap_or_default() {
        "ProvisionedThroughputExceededException"
        | "LimitExceededException"
        | "ThrottlingException"
        | "Throttling"
        | "KMSThrottlingException"
        | "RequestLimitExceeded"
        | "TooManyRequestsException"
        | "SlowDown" => return Cause::Throttled,
        // S3 answers a slow upload with 400 RequestTimeout: worth another try.
        "RequestTimeout" | "RequestTimeoutException" => return Cause::Timeout,
        "InternalFailure" | "InternalError" | "InternalServerError" | "ServiceUnavailable" => {
            return Cause::ServerError;
        }
        "ResourceNotFoundException" | "NoSuchBucket" | "NoSuchKey" | "NotFound" => return Cause::NotFound,
        "AccessDenied"
        | "AccessDeniedException"
        | "UnrecognizedClientException"
        | "InvalidAccessKeyId"
        | "SignatureDoesNotMatch"
        | "InvalidSignatureException"
        | "IncompleteSignature"
        | "MissingAuthenticationToken"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "InvalidClientTokenId"
        | "KMSAccessDeniedException"
        | "KMSDisabledException"
        | "KMSNotFoundException"
        | "KMSInvalidStateException"
        | "KMSOptInRequired" => return Cause::Denied,
        _ => {}
    }
    match status {
        Some(403 | 401) => Cause::Denied,
        Some(404) => Cause::NotFound,
        Some(408) => Cause::Timeout,
        Some(429) => Cause::Throttled,
        Some(500..=599) => Cause::ServerError,
        Some(400..=499) => Cause::Invalid,
        _ => Cause::Other,
    }
}

fn default_hint(cause: Cause, operation: &str) -> Option<String> {
    Some(match cause {
        Cause::NoCredentials => "for an emulator: `eval \"$(minutely localstack up)\"` or `minutely sim`, or pass \
                                 --endpoint; for AWS: set AWS_PROFILE or AWS_ACCESS_KEY_ID"
            .to_owned(),
        Cause::NoRegion => "pass --region or set AWS_REGION".to_owned(),
        Cause::BadEndpoint => "check --endpoint / AWS_ENDPOINT_URL (http://127.0.0.1:4566 for LocalStack)".to_owned(),
        Cause::Unreachable => "is the endpoint up? `minutely localstack status`, or start `minutely sim`; \
                               --endpoint / AWS_ENDPOINT_URL says where"
            .to_owned(),
        Cause::Denied => {
            format!("the credentials in use (AWS_PROFILE, AWS_ACCESS_KEY_ID) were refused or may not call {operation}")
        }
        _ => return None,
    })
}

/// The first error of type `T` in `e`'s source chain.
fn find<'a, T: StdError + 'static>(e: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut next: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(t) = err.downcast_ref::<T>() {
            return Some(t);
        }
        next = err.source();
    }
    None
}

/// The last error of the source chain, in one line: the one that says what happened
/// (`Connection refused (os error 111)`), not the layers that wrapped it.
fn innermost(e: &(dyn StdError + 'static)) -> String {
    let mut last = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string().lines().next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_codes_decide_before_statuses() {
        assert_eq!(classify(Some("ProvisionedThroughputExceededException"), Some(400)), Cause::Throttled);
        assert_eq!(classify(Some("RequestTimeout"), Some(400)), Cause::Timeout);
        assert_eq!(classify(Some("SlowDown"), Some(503)), Cause::Throttled);
        assert_eq!(classify(Some("ResourceNotFoundException"), Some(400)), Cause::NotFound);
        assert_eq!(classify(Some("UnrecognizedClientException"), Some(400)), Cause::Denied);
        assert_eq!(classify(Some("ValidationException"), Some(400)), Cause::Invalid);
        assert_eq!(classify(None, Some(404)), Cause::NotFound);
        assert_eq!(classify(None, Some(403)), Cause::Denied);
        assert_eq!(classify(None, Some(502)), Cause::ServerError);
        assert_eq!(classify(None, None), Cause::Other);
        for retried in [Cause::Throttled, Cause::Timeout, Cause::ServerError, Cause::Unreachable] {
            assert!(retried.retryable(), "{retried:?}");
        }
        for fatal in [Cause::NoCredentials, Cause::NoRegion, Cause::Denied, Cause::NotFound, Cause::Invalid] {
            assert!(!fatal.retryable(), "{fatal:?}");
        }
    }
}
