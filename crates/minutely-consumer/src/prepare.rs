//! Blocks of lines decoded away from the thread that counts them.
//!
//! Decoding (finding the time, the id and the key of each line) is most of a line's cost, and
//! it depends on nothing but the line: [`prepare`] turns a block into each event's time, id
//! hash and key (an index into the block's own [`KeyTable`]), and its rejects, on any thread.
//! The worker then counts prepared blocks in their order ([`crate::Aggregator::prepared`]),
//! which is what the windows, the dedup and the key ids need: the counts, the objects and
//! their paths are the same as when one thread did both.
//!
//! A line is an event ([`Framing::Lines`]), or a Kinesis record's data in base64
//! ([`Framing::Base64`], as `aws kinesis get-records` prints it), whose envelopes (KPL
//! aggregates, gzip) are opened as a stream's records are.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use minutely_aggregate::EventTime;
use minutely_event::RecordDecoder;
use minutely_event::decode::{FieldError, Fields, Within, lines};
use minutely_event::keys::KeyTable;

use crate::dedup::id_hash;

/// What a line of the input is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Framing {
    /// One event (CSV: one row).
    #[default]
    Lines,
    /// One Kinesis record's data, in base64 (padded, the standard alphabet).
    Base64,
}

/// A block of lines, decoded.
#[derive(Debug)]
pub struct Prepared {
    /// The number of the block's first line.
    pub first_line: u64,
    /// The records in the block (lines, blank ones not counted).
    pub records: u64,
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

/// An event that could not be read (or a record whose envelope could not be opened).
#[derive(Clone, Debug)]
pub struct Rejected {
    /// Its line in the block, from 1.
    pub line: u64,
    /// Where it was in that line's record ([`Framing::Base64`]).
    pub within: Within,
    pub error: String,
    pub raw: Vec<u8>,
}

/// Decodes the block `bytes`, whose first line is numbered `first_line`.
pub fn prepare(decoder: &RecordDecoder, framing: Framing, bytes: &[u8], first_line: u64) -> Prepared {
    prepare_into(Vec::new(), decoder, framing, bytes, first_line)
}

/// [`prepare`], the events written into `events` (emptied first): a buffer an earlier block
/// gave back ([`crate::Aggregator::prepared`]), whose memory need not be faulted in again.
pub fn prepare_into(
    mut events: Vec<Ready>,
    decoder: &RecordDecoder,
    framing: Framing,
    bytes: &[u8],
    first_line: u64,
) -> Prepared {
    events.clear();
    events.reserve(bytes.len() / 64);
    let mut block =
        Prepared { first_line, records: 0, events, keys: KeyTable::new(decoder.key_names()), rejects: Vec::new() };
    match framing {
        Framing::Lines => decoder.each(bytes, &mut |line, raw, fields| {
            block.records += 1;
            block.take(line, Within::default(), raw, fields);
        }),
        Framing::Base64 => {
            let mut data = Vec::new();
            lines(bytes, |line, text| {
                let text = text.trim_ascii();
                if text.is_empty() {
                    return;
                }
                block.records += 1;
                data.clear();
                // SIMD first; what it refuses, the base64 crate decides (and says why). Both
                // take the padded standard alphabet with no stray bits, and nothing else.
                if base64_simd::STANDARD.decode_append(text, &mut data).is_err() {
                    data.clear();
                    if let Err(e) = B64.decode_vec(text, &mut data) {
                        let error = format!("not a record's data in base64: {e}");
                        block.rejects.push(Rejected { line, within: Within::default(), error, raw: text.to_vec() });
                        return;
                    }
                }
                decoder.each_in_record(&data, &mut |within, raw, fields| block.take(line, within, raw, fields));
            });
        }
    }
    block
}

impl Prepared {
    fn take(&mut self, line: u64, within: Within, raw: &[u8], fields: Result<Fields<'_>, FieldError>) {
        // Read where they lie: moving the fields out is a copy of some 150 bytes per event.
        match &fields {
            Ok(f) => {
                let key = self.keys.intern(&f.key);
                let (id, has_id) = f.id.as_deref().map_or((0, false), |id| (id_hash(id), true));
                self.events.push(Ready { id, time: f.time, key, has_id });
            }
            Err(e) => self.rejects.push(Rejected { line, within, error: e.to_string(), raw: raw.to_vec() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// The SIMD decoder takes exactly what the base64 crate takes, and gives the same bytes:
        /// on data's encodings, and on those one character, padding or stray bit away.
        #[test]
        fn simd_base64_takes_what_the_base64_crate_takes(
            data in proptest::collection::vec(any::<u8>(), 0..80),
            edit in proptest::option::of((any::<prop::sample::Index>(), prop::sample::select(b"A/+=-_ \n\x80".to_vec()))),
            cut in 0usize..3,
        ) {
            let mut text = B64.encode(&data).into_bytes();
            if let Some((at, c)) = edit.filter(|_| !text.is_empty()) {
                let i = at.index(text.len());
                text[i] = c;
            }
            text.truncate(text.len().saturating_sub(cut));
            let mut simd = Vec::new();
            let simd = base64_simd::STANDARD.decode_append(&text, &mut simd).map(|()| simd);
            prop_assert_eq!(simd.ok(), B64.decode(&text).ok());
        }
    }
}
