//! One file per record format, each with its decoder and its encoder side by side; `decode.rs`
//! and `encode.rs` choose among them by the schema's format.

pub(crate) mod delimited;
pub(crate) mod json;
pub(crate) mod minutely;
