//! One worker's aggregation: records in, objects out, and the state a checkpoint carries.
//!
//! An [`Aggregator`] belongs to one shard (or to stdin). It opens each record's envelopes
//! (KPL aggregate, gzip: [`minutely_event::envelope`]), decodes the events in it as the schema
//! says ([`RecordDecoder`]), drops duplicates, counts them in the window core, and turns closed
//! windows, late releases and rejects into [`Object`]s at deterministic paths. It does no IO and
//! reads no clock: the same records with the same processing times give the same objects.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use minutely_aggregate::{
    EventTime, Minute, Placement, ProcessingTime, WindowConfig, WindowStats, Windows, WindowsState,
};
use minutely_event::RecordDecoder;
use minutely_event::decode::{FieldError, Fields};
use minutely_event::keys::KeyTable;
use serde::{Deserialize, Serialize};

use crate::dedup::{Dedup, id_hash};
use crate::layout;
use crate::prepare::{Framing, Prepared, Ready, prepare};
use crate::tally::Tally;

/// How a worker aggregates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// How records are read, and which of their fields form the key (in order; none: one count
    /// per minute).
    pub decoder: Arc<RecordDecoder>,
    pub windows: WindowConfig,
    /// The most event ids remembered for deduplication (see [`crate::dedup`]); 0 turns it off.
    pub max_dedup_ids: usize,
}

impl Settings {
    /// The key's field names (dimensions for minutely records, paths or columns otherwise).
    pub fn key(&self) -> &[String] {
        self.decoder.key_names()
    }
}

/// Counters of one worker over one process's life (and, added up, of every worker).
///
/// `events = counted + duplicates + rejected`: every event found is one of the three, and a
/// record whose envelope cannot be opened is one rejected event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Kinesis records (or lines on stdin) taken.
    pub records: u64,
    /// The events found in them: one per line of each payload (each user record of a KPL
    /// aggregate, each gzip payload).
    pub events: u64,
    pub counted: u64,
    pub late: u64,
    pub duplicates: u64,
    pub rejected: u64,
}

impl std::ops::AddAssign for Counters {
    fn add_assign(&mut self, o: Counters) {
        self.records += o.records;
        self.events += o.events;
        self.counted += o.counted;
        self.late += o.late;
        self.duplicates += o.duplicates;
        self.rejected += o.rejected;
    }
}

/// One count line of an output object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountLine {
    /// `YYYYMMDDHHMM`, UTC.
    pub minute: String,
    pub key: Vec<String>,
    pub count: u64,
    /// Events that came after their window had closed: add them to the on-time count.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub late: bool,
}

/// An event that could not be counted (or a record whose envelope could not be opened), kept
/// whole (base64) with where it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectLine {
    pub worker: String,
    /// The Kinesis sequence number, or the line number on stdin.
    pub position: String,
    /// Inside a KPL aggregate: the user record's index (from 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_record: Option<u32>,
    /// In a record of several lines (rows): the event's line, from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    pub error: String,
    /// The event's bytes (the line; a gzip payload's line inflated), or the whole envelope
    /// when it could not be opened.
    pub data_base64: String,
}

impl RejectLine {
    /// Where the rejected event was: `worker:position`, then the user record and the line when
    /// there are several.
    pub fn place(&self) -> String {
        let mut s = format!("{}:{}", self.worker, self.position);
        if let Some(u) = self.user_record {
            s.push_str(&format!(" user record {u}"));
        }
        if let Some(l) = self.line {
            s.push_str(&format!(" line {l}"));
        }
        s
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Content {
    Counts { lines: Vec<CountLine> },
    Rejects { lines: Vec<RejectLine> },
}

/// An object to write: a path under the output prefix and its JSON lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Object {
    pub path: String,
    #[serde(flatten)]
    pub content: Content,
}

impl Object {
    /// The object's bytes: one JSON document per line.
    pub fn body(&self) -> Vec<u8> {
        fn lines<T: Serialize>(items: &[T]) -> Vec<u8> {
            let mut out = Vec::with_capacity(items.len() * 64);
            for item in items {
                serde_json::to_writer(&mut out, item).expect("serialising to a Vec cannot fail");
                out.push(b'\n');
            }
            out
        }
        match &self.content {
            Content::Counts { lines: l } => lines(l),
            Content::Rejects { lines: l } => lines(l),
        }
    }

    pub fn counts(&self) -> &[CountLine] {
        match &self.content {
            Content::Counts { lines } => lines,
            Content::Rejects { .. } => &[],
        }
    }
}

/// The checkpoint of one worker: the last position whose effects are durable, with the window
/// state that carries them (open windows, held late counts, deduplication ids), and the objects
/// that were about to be written when it was taken.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub version: u32,
    pub worker: String,
    /// The last record processed (a sequence number); `None`: none yet.
    pub position: Option<String>,
    /// When that record arrived in the stream (ms since the epoch; Kinesis's
    /// `ApproximateArrivalTimestamp`): a reader resuming after it knows whether retention
    /// trimmed what came next. `None`: unknown (stdin, or a checkpoint from before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrived_ms: Option<i64>,
    /// The shard ended and everything of it is written: never read it again.
    pub finished: bool,
    pub key: Vec<String>,
    pub state: SavedState,
    /// Objects whose content is part of this checkpoint; a restart writes them (again).
    pub pending: Vec<Object>,
}

pub const CHECKPOINT_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedState {
    pub open: Vec<SavedMinute>,
    pub late: Vec<SavedMinute>,
    pub max_event_time_ms: Option<i64>,
    /// Minutes before this one (minutes since the epoch) are closed.
    pub closed_before: Option<i64>,
    pub late_releases: u64,
    pub dedup: Vec<SavedIds>,
    pub dedup_untracked: u64,
    pub windows: WindowStats,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedMinute {
    /// Minutes since the epoch.
    pub minute: i64,
    pub counts: Vec<(Vec<String>, u64)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedIds {
    pub minute: i64,
    /// The 128-bit id hashes, big-endian, concatenated, base64.
    pub hashes: String,
}

/// Why a checkpoint cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("checkpoint version {0}, this minutely reads version {CHECKPOINT_VERSION}")]
    Version(u32),
    #[error(
        "the checkpoint was written with key {saved:?}, this run counts by {now:?}: use another output prefix, or the same key"
    )]
    Key { saved: Vec<String>, now: Vec<String> },
    #[error("corrupt checkpoint: {0}")]
    Corrupt(String),
}

/// Where a rejected event was (see [`RejectLine`]).
struct Place {
    position: String,
    user_record: Option<u32>,
    line: Option<u64>,
}

#[derive(Debug)]
pub struct Aggregator {
    worker: String,
    settings: Settings,
    windows: Windows<u32>,
    keys: KeyTable,
    dedup: Dedup,
    late_releases: u64,
    rejects: Vec<RejectLine>,
    position: Option<String>,
    /// When the record at `position` arrived in the stream (see [`Checkpoint::arrived_ms`]).
    arrived_ms: Option<i64>,
    counters: Counters,
}

impl Aggregator {
    pub fn new(worker: &str, settings: Settings) -> Aggregator {
        Aggregator {
            worker: worker.to_owned(),
            keys: KeyTable::new(settings.key()),
            windows: Windows::new(settings.windows),
            dedup: Dedup::new(settings.max_dedup_ids),
            settings,
            late_releases: 0,
            rejects: Vec::new(),
            position: None,
            arrived_ms: None,
            counters: Counters::default(),
        }
    }

    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// Takes one Kinesis record: opens its envelopes and counts every event in it. `position`
    /// names it in a reject (called only for a reject).
    pub fn record(&mut self, data: &[u8], now: ProcessingTime, position: impl Fn() -> String) {
        self.counters.records += 1;
        self.windows.tick(now);
        let decoder = Arc::clone(&self.settings.decoder);
        decoder.each_in_record(data, &mut |within, raw, fields| {
            let at = || Place { position: position(), user_record: within.user_record, line: within.line };
            self.event(fields, raw, now, at);
        });
    }

    /// Takes a block of whole lines from a pipe, the first numbered `first_line`; each line (CSV:
    /// each row) is one event, named by its line number in a reject.
    pub fn lines(&mut self, block: &[u8], first_line: u64, now: ProcessingTime) {
        let decoder = Arc::clone(&self.settings.decoder);
        self.prepared(prepare(&decoder, Framing::Lines, block, first_line), now);
    }

    fn event(
        &mut self,
        fields: Result<Fields<'_>, FieldError>,
        raw: &[u8],
        now: ProcessingTime,
        at: impl FnOnce() -> Place,
    ) {
        self.counters.events += 1;
        match fields {
            Ok(f) => {
                let key = self.keys.intern(&f.key);
                self.count(f.time, f.id.as_deref().map(id_hash), key, now);
            }
            Err(e) => self.reject(at(), e.to_string(), raw),
        }
    }

    /// Takes a block of lines decoded on another thread ([`crate::prepare`]): the same counts,
    /// objects and rejects as [`Aggregator::lines`] of its bytes. Gives back the block's events
    /// buffer, emptied, for another block ([`crate::prepare::prepare_into`]).
    pub fn prepared(&mut self, block: Prepared, now: ProcessingTime) -> Vec<Ready> {
        self.windows.tick(now);
        self.counters.records += block.records;
        self.counters.events += (block.events.len() + block.rejects.len()) as u64;
        let keys: Vec<u32> = (0..block.keys.len() as u32).map(|k| self.keys.intern(block.keys.values(k))).collect();
        // Events that close no window are tallied and recorded per minute and key.
        let mut tally = Tally::new(keys.len());
        let mut quiet = self.windows.quiet_below();
        for e in &block.events {
            if self.is_duplicate(e.time, e.id()) {
                continue;
            }
            if quiet.is_some_and(|q| e.time < q) && tally.add(e.time, e.key) {
                continue;
            }
            self.record_tally(&mut tally, &keys, now);
            self.place(e.time, keys[e.key as usize], now);
            quiet = self.windows.quiet_below();
        }
        self.record_tally(&mut tally, &keys, now);
        // A reject touches no window: taken after the events, rejects keep their own order.
        for r in block.rejects {
            let position = (block.first_line + r.line - 1).to_string();
            let place = Place { position, user_record: r.within.user_record, line: r.within.line };
            self.reject(place, r.error, &r.raw);
        }
        let mut events = block.events;
        events.clear();
        events
    }

    /// Counts one event: `id` is its id's hash.
    fn count(&mut self, time: EventTime, id: Option<u128>, key: u32, now: ProcessingTime) {
        if !self.is_duplicate(time, id) {
            self.place(time, key, now);
        }
    }

    /// Whether the event at `time` with the id whose hash is `id` is a duplicate (counted as
    /// one if so; remembered if not).
    fn is_duplicate(&mut self, time: EventTime, id: Option<u128>) -> bool {
        let duplicate = id.is_some_and(|id| self.dedup.is_duplicate_hash(time.minute(), id));
        self.counters.duplicates += u64::from(duplicate);
        duplicate
    }

    /// Records the tallied events (which closed no window) in the windows, each block key as
    /// `keys` numbers it.
    fn record_tally(&mut self, tally: &mut Tally, keys: &[u32], now: ProcessingTime) {
        for (minute, latest, key, n) in tally.drain() {
            self.counters.counted += n;
            if self.windows.record_quiet(minute, keys[key as usize], n, latest, now) == Placement::Late {
                self.counters.late += n;
            }
        }
    }

    /// Places one event that is not a duplicate in its window.
    fn place(&mut self, time: EventTime, key: u32, now: ProcessingTime) {
        let closed_before = self.windows.closed_before();
        let placement = self.windows.record(time, key, now);
        if self.windows.closed_before() != closed_before {
            self.forget_closed();
        }
        self.counters.counted += 1;
        if placement == Placement::Late {
            self.counters.late += 1;
        }
    }

    /// Records that everything up to `position` (a sequence number) has been taken; the record
    /// there arrived in the stream at `arrived_ms` (`None`: not said).
    pub fn processed_through(&mut self, position: &str, arrived_ms: Option<i64>) {
        self.position = Some(position.to_owned());
        self.arrived_ms = arrived_ms;
    }

    pub fn position(&self) -> Option<&str> {
        self.position.as_deref()
    }

    /// When the record at [`Aggregator::position`] arrived in the stream, if known.
    pub fn arrived_ms(&self) -> Option<i64> {
        self.arrived_ms
    }

    /// Applies the idle timeout at `now`.
    pub fn tick(&mut self, now: ProcessingTime) {
        let closed_before = self.windows.closed_before();
        self.windows.tick(now);
        if self.windows.closed_before() != closed_before {
            self.forget_closed();
        }
    }

    /// Closes every window and releases the late counts (end of a shard or of the input).
    pub fn close_all(&mut self) {
        self.windows.close_all();
        self.forget_closed();
    }

    /// The objects that are due: closed windows (one per minute), late releases (one per
    /// minute and release), and the rejects so far (one object).
    pub fn take_objects(&mut self) -> Vec<Object> {
        let mut objects: Vec<Object> = Vec::new();
        let mut group: Option<(Minute, bool)> = None;
        for c in self.windows.drain_ready() {
            if group != Some((c.minute, c.late)) {
                group = Some((c.minute, c.late));
                let path = if c.late {
                    self.late_releases += 1;
                    layout::late(c.minute, &self.worker, self.late_releases)
                } else {
                    layout::on_time(c.minute, &self.worker)
                };
                objects.push(Object { path, content: Content::Counts { lines: Vec::new() } });
            }
            let Some(Object { content: Content::Counts { lines }, .. }) = objects.last_mut() else {
                unreachable!("a counts object was pushed for this group")
            };
            lines.push(CountLine {
                minute: c.minute.to_string(),
                key: self.keys.values(c.key).to_vec(),
                count: c.count,
                late: c.late,
            });
        }
        for o in &mut objects {
            if let Content::Counts { lines } = &mut o.content {
                lines.sort_unstable_by(|a, b| a.key.cmp(&b.key));
            }
        }
        if !self.rejects.is_empty() {
            let lines = std::mem::take(&mut self.rejects);
            objects.push(Object {
                path: layout::rejects(&self.worker, &lines[0].position),
                content: Content::Rejects { lines },
            });
        }
        objects
    }

    /// The checkpoint of the current state, carrying `pending` (taken with
    /// [`take_objects`](Self::take_objects) just before).
    pub fn checkpoint(&self, pending: Vec<Object>, finished: bool) -> Checkpoint {
        let state = self.windows.snapshot();
        let save = |v: &[(Minute, Vec<(u32, u64)>)]| -> Vec<SavedMinute> {
            v.iter()
                .map(|(m, counts)| SavedMinute {
                    minute: m.0,
                    counts: counts.iter().map(|(k, c)| (self.keys.values(*k).to_vec(), *c)).collect(),
                })
                .collect()
        };
        Checkpoint {
            version: CHECKPOINT_VERSION,
            worker: self.worker.clone(),
            position: self.position.clone(),
            arrived_ms: self.arrived_ms,
            finished,
            key: self.settings.key().to_vec(),
            state: SavedState {
                open: save(&state.open),
                late: save(&state.late),
                max_event_time_ms: state.max_event_time.map(|t| t.0),
                closed_before: state.closed_before.map(|m| m.0),
                late_releases: self.late_releases,
                dedup: self
                    .dedup
                    .snapshot()
                    .into_iter()
                    .map(|(m, hashes)| {
                        let bytes: Vec<u8> = hashes.iter().flat_map(|h| h.to_be_bytes()).collect();
                        SavedIds { minute: m.0, hashes: B64.encode(bytes) }
                    })
                    .collect(),
                dedup_untracked: self.dedup.untracked,
                windows: state.stats,
            },
            pending,
        }
    }

    /// An aggregator that continues from `checkpoint` at processing time `now`. The pending
    /// objects of the checkpoint are not in it: the caller writes them.
    pub fn restore(
        settings: Settings,
        checkpoint: &Checkpoint,
        now: ProcessingTime,
    ) -> Result<Aggregator, RestoreError> {
        if checkpoint.version != CHECKPOINT_VERSION {
            return Err(RestoreError::Version(checkpoint.version));
        }
        if checkpoint.key[..] != *settings.key() {
            return Err(RestoreError::Key { saved: checkpoint.key.clone(), now: settings.key().to_vec() });
        }
        let mut agg = Aggregator::new(&checkpoint.worker, settings.clone());
        let s = &checkpoint.state;
        let mut load = |v: &[SavedMinute]| -> Vec<(Minute, Vec<(u32, u64)>)> {
            v.iter()
                .map(|m| (Minute(m.minute), m.counts.iter().map(|(k, c)| (agg.keys.intern(k), *c)).collect()))
                .collect()
        };
        let open = load(&s.open);
        let late = load(&s.late);
        let state = WindowsState {
            open,
            late,
            max_event_time: s.max_event_time_ms.map(EventTime),
            closed_before: s.closed_before.map(Minute),
            stats: s.windows,
        };
        let ids = saved_ids(s)?;
        agg.windows = Windows::restore(settings.windows, state, now);
        agg.dedup = Dedup::restore(settings.max_dedup_ids, s.dedup_untracked, s.closed_before.map(Minute), ids);
        agg.late_releases = s.late_releases;
        agg.position = checkpoint.position.clone();
        agg.arrived_ms = checkpoint.arrived_ms;
        Ok(agg)
    }

    /// Remembers the event ids that a parent shard's finished checkpoint remembers, so that an
    /// event counted in the parent and written again into this child (a producer's retry of a
    /// put whose answer was lost, landing after a split) is dropped here too. Returns how many
    /// ids were added (within the bound on ids).
    pub fn inherit_ids(&mut self, parent: &Checkpoint) -> Result<usize, RestoreError> {
        if parent.version != CHECKPOINT_VERSION {
            return Err(RestoreError::Version(parent.version));
        }
        Ok(self.dedup.inherit(saved_ids(&parent.state)?))
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    pub fn open_windows(&self) -> usize {
        self.windows.open_windows()
    }

    fn forget_closed(&mut self) {
        if let Some(bound) = self.windows.closed_before() {
            self.dedup.closed_before(bound);
        }
    }

    fn reject(&mut self, at: Place, error: String, data: &[u8]) {
        self.counters.rejected += 1;
        self.rejects.push(RejectLine {
            worker: self.worker.clone(),
            position: at.position,
            user_record: at.user_record,
            line: at.line,
            error,
            data_base64: B64.encode(data),
        });
    }
}

/// The dedup ids of a checkpoint, per minute.
fn saved_ids(s: &SavedState) -> Result<Vec<(Minute, Vec<u128>)>, RestoreError> {
    let mut ids = Vec::with_capacity(s.dedup.len());
    for saved in &s.dedup {
        let bytes = B64.decode(&saved.hashes).map_err(|e| RestoreError::Corrupt(format!("dedup ids: {e}")))?;
        if bytes.len() % 16 != 0 {
            return Err(RestoreError::Corrupt("dedup ids are not 16-byte hashes".into()));
        }
        let hashes = bytes.chunks_exact(16).map(|c| u128::from_be_bytes(c.try_into().expect("16 bytes"))).collect();
        ids.push((Minute(saved.minute), hashes));
    }
    Ok(ids)
}
