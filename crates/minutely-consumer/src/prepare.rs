//! Blocks of lines decoded away from the thread that counts them.
//!
//! Decoding (finding the time, the id and the key of each line) is most of a line's cost, and
//! it depends on nothing but the line: [`prepare`] turns a block into each event's time, id
//! hash and key (an index into the block's own [`KeyTable`]), and its rejects, on any thread.
//! The worker then counts prepared blocks in their order ([`crate::Aggregator::prepared`]),
//! which is what the windows, the dedup and the key ids need: the counts, the objects and
//! their paths are the same as when one thread did both.

use minutely_aggregate::EventTime;
use minutely_event::RecordDecoder;
use minutely_event::keys::KeyTable;

use crate::dedup::id_hash;

/// A block of lines, decoded.
#[derive(Debug)]
pub struct Prepared {
    /// The number of the block's first line.
    pub first_line: u64,
    /// The events, in the order of their lines.
    pub events: Vec<Ready>,
    /// The distinct keys of the block's events, numbered in the order they first appear.
    pub keys: KeyTable,
    /// The lines that are not events, in order.
    pub rejects: Vec<Rejected>,
}

/// An event ready to be counted (32 bytes: a block's events are written by one thread and
/// read by another).
#[derive(Clone, Copy, Debug)]
pub struct Ready {
    /// The id's 128-bit hash ([`id_hash`]), when `has_id`.
    id: u128,
    pub time: EventTime,
    /// The key's number in [`Prepared::keys`].
    pub key: u32,
    has_id: bool,
}

impl Ready {
    /// The id's 128-bit hash ([`id_hash`]), when the event has an id.
    pub fn id(&self) -> Option<u128> {
        self.has_id.then_some(self.id)
    }
}

/// A line that could not be read as an event.
#[derive(Clone, Debug)]
pub struct Rejected {
    /// Its line in the block, from 1.
    pub line: u64,
    pub error: String,
    pub raw: Vec<u8>,
}

/// Decodes the block `bytes`, whose first line is numbered `first_line`.
pub fn prepare(decoder: &RecordDecoder, bytes: &[u8], first_line: u64) -> Prepared {
    let mut keys = KeyTable::new(decoder.key_names());
    let mut events = Vec::with_capacity(bytes.len() / 64);
    let mut rejects = Vec::new();
    decoder.each(bytes, &mut |line, raw, fields| match fields {
        Ok(f) => {
            let key = keys.intern(&f.key);
            let (id, has_id) = f.id.as_deref().map_or((0, false), |id| (id_hash(id), true));
            events.push(Ready { id, time: f.time, key, has_id });
        }
        Err(e) => rejects.push(Rejected { line, error: e.to_string(), raw: raw.to_vec() }),
    });
    Prepared { first_line, events, keys, rejects }
}
