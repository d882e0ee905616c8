//! The event: what every source gives and every counter counts.

use std::collections::BTreeMap;

use minutely_aggregate::EventTime;

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
