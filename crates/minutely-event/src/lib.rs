//! The minutely event model and the TSV side of it: time formats, schemas, a line decoder that
//! turns bad lines into counted rejects, and a parallel batch counter; and the envelopes other
//! producers put records in (KPL aggregates, [`kpl`]).
//!
//! No network and no filesystem: inputs are any [`std::io::Read`], schemas are TOML text.

pub mod batch;
pub mod decode;
pub mod encode;
pub mod envelope;
pub mod event;
mod fields;
mod formats;
pub mod id;
pub mod keys;
pub mod kpl;
pub mod record;
pub mod records;
pub mod schema;
pub mod timefmt;
pub mod tsv;

pub use decode::{FieldError, Fields, RecordDecoder};
pub use encode::RecordEncoder;
pub use event::Event;
pub use id::id_hash;
pub use schema::{ColumnRef, Missing, RecordFormat, ResolvedSchema, Schema, SchemaError};
pub use timefmt::{TimeError, TimeFormat, TimeParser};
pub use tsv::{InputError, Item, RejectReason, Rejected, Row, TsvReader};
