//! The one place minutely talks to AWS: building the Kinesis and S3 clients ([`clients`](mod@clients)), one
//! error type for every call ([`AwsError`]), the one retry policy ([`retry`]) and the Kinesis
//! stream administration both sides need ([`kinesis`]: the one ListShards pager), and clients
//! that call an emulator in this process ([`in_process`]); and the one clock ([`clock`]) and the
//! one source of randomness ([`rng`]) every crate above it reads.

pub mod clients;
pub mod clock;
pub mod error;
pub mod in_process;
pub mod kinesis;
pub mod retry;
pub mod rng;
pub mod s3;

pub use clients::{Clients, Target, clients, in_process_clients, is_emulator_endpoint};
pub use error::{AwsError, Cause, set_verbose};
pub use retry::{Backoff, RetryLog, RetryPolicy};
