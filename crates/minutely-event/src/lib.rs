//! The minutely event model and the TSV side of it: time formats, schemas, a line decoder that
//! turns bad lines into counted rejects, and a parallel batch counter.
//!
//! No network and no filesystem: inputs are any [`std::io::Read`], schemas are TOML text.

use std::collections::BTreeMap;

use minutely_aggregate::EventTime;

pub mod batch;
pub mod id;
pub mod record;
pub mod schema;
pub mod timefmt;
pub mod tsv;

pub use id::id_hash;
pub use schema::{ColumnRef, ResolvedSchema, Schema, SchemaError};
pub use timefmt::{TimeError, TimeFormat, TimeParser};
pub use tsv::{InputError, Item, RejectReason, Rejected, Row, TsvReader};

/// Something that happened: when (by its own clock), what (named string dimensions), and
/// optionally which (a unique id, used to drop duplicates downstream).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub time: EventTime,
    pub id: Option<String>,
    pub dims: BTreeMap<String, String>,
}

impl Event {
    /// The values of the named dimensions, in the order given; a missing dimension is empty.
    pub fn key(&self, names: &[&str]) -> Vec<String> {
        names.iter().map(|n| self.dims.get(*n).cloned().unwrap_or_default()).collect()
    }
}
