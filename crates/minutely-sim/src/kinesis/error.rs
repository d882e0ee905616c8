//! Kinesis's error answers: a type (`__type`), a message and an HTTP status.

/// An error answer. Client errors are 400; `InternalFailure` is 500 and `ServiceUnavailable` 503.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct KinesisError {
    pub code: &'static str,
    pub message: String,
}

impl KinesisError {
    pub fn new(code: &'static str, message: impl Into<String>) -> KinesisError {
        KinesisError { code, message: message.into() }
    }
    pub fn validation(message: impl Into<String>) -> KinesisError {
        KinesisError::new("ValidationException", message)
    }
    pub fn invalid(message: impl Into<String>) -> KinesisError {
        KinesisError::new("InvalidArgumentException", message)
    }
    pub fn not_found(message: impl Into<String>) -> KinesisError {
        KinesisError::new("ResourceNotFoundException", message)
    }
    pub fn in_use(message: impl Into<String>) -> KinesisError {
        KinesisError::new("ResourceInUseException", message)
    }
    pub fn limit(message: impl Into<String>) -> KinesisError {
        KinesisError::new("LimitExceededException", message)
    }
    pub fn serialization(message: impl Into<String>) -> KinesisError {
        KinesisError::new("SerializationException", message)
    }

    pub fn status(&self) -> u16 {
        match self.code {
            "InternalFailure" => 500,
            "ServiceUnavailable" => 503,
            _ => 400,
        }
    }
}
