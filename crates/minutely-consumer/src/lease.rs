//! Shard leases: which worker of several sharing a stream reads which shard. Pure logic, no IO:
//! each round a worker reads every lease file (`leases/<stream>/<shard>.json` beside the
//! checkpoints), hands them to [`Leases::round`] with the time on its own clock, and carries
//! out the [`Action`]s it returns with conditional writes (`If-Match` the ETag it read,
//! `If-None-Match: *` for a lease not written yet), telling [`Leases::wrote`] how each went.
//!
//! The rules (the KCL's, on S3 instead of DynamoDB):
//! - A worker reads a shard only after a write of its own to that shard's lease succeeded, and
//!   stops reading it `duration - renew` after the start of its last successful write (the
//!   lease *lapses*). It renews every lease it holds every round.
//! - Another worker takes a lease that is free, or that it has seen unchanged (same ETag) for
//!   `duration` on its own clock: times are never compared across machines, only durations.
//!   Because nobody can see a version before its write started, a lease is taken over only
//!   after its holder stopped reading it (clocks that run at nearly the same rate suffice).
//! - Below its fair share (`ceil(shards / live workers)`), a worker takes free or expired leases,
//!   then asks for at most one lease per round from the most loaded worker (a steal): it writes
//!   `handover_to` into that lease. The holder, at its next round, stops reading the shard,
//!   checkpoints it, and writes the lease over to the thief, who takes it with a write of its own.
//!   A lease is handed over only after its last checkpoint.
//! - A shard is taken only when every parent it has (still listed) has a lease that says
//!   `finished`; the holder of a shard that ended writes `finished` after its last checkpoint.
//! - On a graceful stop, a worker checkpoints and releases its leases (owner none): the others
//!   take them at their next round rather than after the expiry.
//!
//! The ETag fence on checkpoints stays underneath: a worker that lost its lease writes no count.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// A lease file, as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The worker that holds it; `None`: free (released, or never taken).
    pub owner: Option<String>,
    /// Incremented by every write.
    pub counter: u64,
    /// A worker that asked for this lease (a steal); the owner hands it over after its last
    /// checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handover_to: Option<String>,
    /// The shard was read to its end and fully written: never taken again; its children may be.
    #[serde(default)]
    pub finished: bool,
    /// The lease's duration as its writer used it, in milliseconds (information).
    pub duration_ms: u64,
    /// When the writer's lease lapses, on the writer's wall clock, in ms since the epoch
    /// (information for people: other workers measure expiry on their own clocks).
    pub expires_unix_ms: i64,
}

/// One listed shard with its lease file, as read at the start of a round.
#[derive(Clone, Debug)]
pub struct Seen {
    pub shard: String,
    /// The parent and the adjacent parent still listed.
    pub parents: Vec<String>,
    /// The lease and its version (ETag); `None`: no lease file yet.
    pub file: Option<(Lease, String)>,
}

/// What a worker does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write `lease` if the file's version is still `expected` (`None`: no file). On success,
    /// [`Purpose::Take`] and [`Purpose::Renew`] mean: this worker may read the shard.
    Write { shard: String, expected: Option<String>, lease: Lease, purpose: Purpose },
    /// Stop reading the shard at once, writing nothing more: the lease is someone else's, or it
    /// lapsed.
    Drop { shard: String, why: Lost },
    /// Stop reading the shard, checkpoint it, then write the lease over to `to`
    /// ([`Leases::handover`] makes that write).
    HandOver { shard: String, to: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Take,
    Renew,
    /// Ask the owner to hand the lease over.
    Steal,
    /// Hand it to the worker that asked.
    HandOver,
    /// Give it up (a graceful stop).
    Release,
    /// The shard ended.
    Finish,
}

/// Why a worker stopped reading a shard without a handover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lost {
    /// Another worker holds the lease now.
    Taken,
    /// Not renewed in time: others may take it now.
    Lapsed,
}

/// Lease timings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// How long a lease stays valid without a renewal, as others measure it.
    pub duration_ms: u64,
    /// How often a round runs (and leases are renewed).
    pub renew_ms: u64,
}

impl Timing {
    /// Checks that a lease outlives two renew periods, so one slow or failed round does not
    /// lose it.
    pub fn new(duration_ms: u64, renew_ms: u64) -> Result<Timing, String> {
        if renew_ms == 0 || duration_ms < 2 * renew_ms {
            return Err(format!(
                "a lease duration of {duration_ms} ms must be at least twice the renew period ({renew_ms} ms)"
            ));
        }
        Ok(Timing { duration_ms, renew_ms })
    }

    /// How long after the start of its last successful write a holder may read.
    pub fn lapse_ms(&self) -> u64 {
        self.duration_ms - self.renew_ms
    }
}

/// A lease this worker holds.
#[derive(Clone, Debug)]
struct Held {
    version: String,
    counter: u64,
    /// Reading is allowed until then (local ms).
    valid_until: u64,
}

/// Counts of what a worker did with leases.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LeaseCounts {
    /// Leases taken (free, expired, or handed over to this worker).
    pub taken: u64,
    /// Of those, leases that were another live worker's (asked for and handed over).
    pub stolen: u64,
    /// Leases handed over to another worker.
    pub handed_over: u64,
    /// Leases lost without a handover (taken by another, or lapsed).
    pub lost: u64,
    /// Leases released on a graceful stop.
    pub released: u64,
}

impl std::ops::AddAssign for LeaseCounts {
    fn add_assign(&mut self, o: LeaseCounts) {
        self.taken += o.taken;
        self.stolen += o.stolen;
        self.handed_over += o.handed_over;
        self.lost += o.lost;
        self.released += o.released;
    }
}

/// One worker's view of the leases, between rounds.
#[derive(Debug)]
pub struct Leases {
    me: String,
    timing: Timing,
    /// For each lease file: the version last seen, and since when (local ms).
    observed: BTreeMap<String, (Option<String>, u64)>,
    held: BTreeMap<String, Held>,
    /// Shards being handed over (stopping) and to whom.
    handing_over: BTreeMap<String, String>,
    /// Steals asked for and not yet answered, and the shard's version after the ask.
    asked: BTreeMap<String, String>,
    /// The local time of the first round: a version seen since then was seen to change.
    first_round: Option<u64>,
    /// The shards that could be read at the last round, and their owners then.
    ready: Vec<(String, Option<String>)>,
    pub counts: LeaseCounts,
}

/// A shard with a finished lease, or none in the listing: nothing left to read.
fn finished(file: &Option<(Lease, String)>) -> bool {
    file.as_ref().is_some_and(|(l, _)| l.finished)
}

impl Leases {
    pub fn new(me: &str, timing: Timing) -> Leases {
        Leases {
            me: me.to_owned(),
            timing,
            observed: BTreeMap::new(),
            held: BTreeMap::new(),
            handing_over: BTreeMap::new(),
            asked: BTreeMap::new(),
            first_round: None,
            ready: Vec::new(),
            counts: LeaseCounts::default(),
        }
    }

    /// The shards this worker may read now (held, not lapsed at `now`).
    pub fn readable(&self, now: u64) -> impl Iterator<Item = &str> {
        self.held.iter().filter(move |(_, h)| now < h.valid_until).map(|(s, _)| s.as_str())
    }

    /// Until when (local ms) this worker may read `shard`; `None`: not held.
    pub fn valid_until(&self, shard: &str) -> Option<u64> {
        self.held.get(shard).map(|h| h.valid_until)
    }

    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// The lease written with one more count, as this worker writes it at `now_unix_ms`.
    fn next(&self, from: Option<&Lease>, owner: Option<&str>, now_unix_ms: i64) -> Lease {
        Lease {
            owner: owner.map(str::to_owned),
            counter: from.map_or(0, |l| l.counter) + 1,
            handover_to: None,
            finished: false,
            duration_ms: self.timing.duration_ms,
            expires_unix_ms: now_unix_ms + self.timing.lapse_ms() as i64,
        }
    }

    /// One round at local time `now` (ms), with every listed shard and its lease file as just
    /// read. `now_unix_ms` only goes into the files, for people to read.
    pub fn round(&mut self, now: u64, seen: &[Seen], now_unix_ms: i64) -> Vec<Action> {
        let mut actions = Vec::new();
        self.first_round.get_or_insert(now);
        let listed: BTreeSet<&str> = seen.iter().map(|s| s.shard.as_str()).collect();
        self.observe(now, seen, &listed);
        let renewing = self.keep_held(now, seen, &listed, now_unix_ms, &mut actions);
        let ready = self.ready_shards(seen, &listed);
        // Live workers and their loads (a lease counts for its owner while it is not expired).
        let mut load: BTreeMap<&str, usize> = BTreeMap::new();
        for s in &ready {
            if let Some((l, _)) = &s.file
                && let Some(owner) = l.owner.as_deref()
                && owner != self.me
                && !self.expired(&s.shard, now)
            {
                *load.entry(owner).or_default() += 1;
            }
        }
        let target = ready.len().div_ceil(load.len() + 1);
        let taking = self.take(now, &ready, renewing, target, now_unix_ms, &mut actions);
        self.ask(now, seen, &ready, &load, renewing + taking, target, &mut actions);
        actions
    }

    /// Notes how long each file has been unchanged (a lease expires when one version was seen
    /// for a duration), and forgets the shards no longer listed.
    fn observe(&mut self, now: u64, seen: &[Seen], listed: &BTreeSet<&str>) {
        for s in seen {
            let version = s.file.as_ref().map(|(_, v)| v.clone());
            match self.observed.get(&s.shard) {
                Some((v, _)) if *v == version => {}
                _ => {
                    self.observed.insert(s.shard.clone(), (version, now));
                }
            }
        }
        self.observed.retain(|shard, _| listed.contains(shard.as_str()));
    }

    /// Whether `shard`'s file has been seen unchanged for a lease duration.
    fn expired(&self, shard: &str, now: u64) -> bool {
        self.observed.get(shard).is_some_and(|(_, since)| now.saturating_sub(*since) >= self.timing.duration_ms)
    }

    /// The leases held: lost, lapsed, asked for, or renewed. Returns how many are renewed.
    fn keep_held(
        &mut self,
        now: u64,
        seen: &[Seen],
        listed: &BTreeSet<&str>,
        now_unix_ms: i64,
        actions: &mut Vec<Action>,
    ) -> usize {
        let mut renewing = 0usize;
        for s in seen {
            let Some(held) = self.held.get(&s.shard).cloned() else { continue };
            if self.handing_over.contains_key(&s.shard) {
                continue; // stopping; the handover write follows the stop
            }
            let lease = s.file.as_ref().filter(|(l, _)| l.owner.as_deref() == Some(&self.me) && !l.finished);
            let Some((lease, version)) = lease.filter(|_| now < held.valid_until) else {
                let why = if lease.is_none() { Lost::Taken } else { Lost::Lapsed };
                self.held.remove(&s.shard);
                self.counts.lost += 1;
                actions.push(Action::Drop { shard: s.shard.clone(), why });
                continue;
            };
            if let Some(to) = &lease.handover_to {
                self.handing_over.insert(s.shard.clone(), to.clone());
                actions.push(Action::HandOver { shard: s.shard.clone(), to: to.clone() });
                continue;
            }
            renewing += 1;
            let next = self.next(Some(lease), Some(&self.me), now_unix_ms);
            let expected = Some(version.clone());
            actions.push(Action::Write { shard: s.shard.clone(), expected, lease: next, purpose: Purpose::Renew });
        }
        // A held shard no longer listed has aged out: nothing to read.
        let gone: Vec<String> = self.held.keys().filter(|s| !listed.contains(s.as_str())).cloned().collect();
        for shard in gone {
            self.held.remove(&shard);
            actions.push(Action::Drop { shard, why: Lost::Taken });
        }
        renewing
    }

    /// The shards that may be read at all: not finished, every listed parent finished.
    fn ready_shards<'s>(&mut self, seen: &'s [Seen], listed: &BTreeSet<&str>) -> Vec<&'s Seen> {
        let finished_shards: BTreeSet<&str> =
            seen.iter().filter(|s| finished(&s.file)).map(|s| s.shard.as_str()).collect();
        let ready: Vec<&Seen> = seen
            .iter()
            .filter(|s| !finished(&s.file))
            .filter(|s| s.parents.iter().all(|p| finished_shards.contains(p.as_str()) || !listed.contains(p.as_str())))
            .collect();
        self.ready =
            ready.iter().map(|s| (s.shard.clone(), s.file.as_ref().and_then(|(l, _)| l.owner.clone()))).collect();
        ready
    }

    /// Takes free, expired, or our own unheld leases, up to the target. Returns how many.
    fn take(
        &self,
        now: u64,
        ready: &[&Seen],
        mine: usize,
        target: usize,
        now_unix_ms: i64,
        actions: &mut Vec<Action>,
    ) -> usize {
        let mut available: Vec<&Seen> = ready
            .iter()
            .copied()
            .filter(|s| !self.held.contains_key(&s.shard) && !self.handing_over.contains_key(&s.shard))
            .filter(|s| match &s.file {
                None => true,
                Some((l, _)) => match l.owner.as_deref() {
                    None => true,
                    // Handed over to us, or ours from before a restart with the same id.
                    Some(o) if o == self.me => true,
                    Some(_) => self.expired(&s.shard, now),
                },
            })
            .collect();
        // Workers racing for free leases try them in different orders.
        available.sort_by_key(|s| (minutely_event::id_hash(&format!("{}/{}", self.me, s.shard)), s.shard.clone()));
        // Leases already ours (a handover to us, a restart with the same id) come first.
        available.sort_by_key(|s| s.file.as_ref().and_then(|(l, _)| l.owner.as_deref()) != Some(self.me.as_str()));
        let mut taking = 0usize;
        for s in available {
            let ours = s.file.as_ref().and_then(|(l, _)| l.owner.as_deref()) == Some(self.me.as_str());
            if mine + taking >= target && !ours {
                break;
            }
            taking += 1;
            let from = s.file.as_ref().map(|(l, _)| l);
            actions.push(Action::Write {
                shard: s.shard.clone(),
                expected: s.file.as_ref().map(|(_, v)| v.clone()),
                lease: self.next(from, Some(&self.me), now_unix_ms),
                purpose: Purpose::Take,
            });
        }
        taking
    }

    /// Below the fair share: asks the most loaded worker for one lease (one ask at a time). An
    /// ask stays until it is answered (the lease is ours) or overtaken (someone else wrote it).
    #[allow(clippy::too_many_arguments)]
    fn ask(
        &mut self,
        now: u64,
        seen: &[Seen],
        ready: &[&Seen],
        load: &BTreeMap<&str, usize>,
        have: usize,
        target: usize,
        actions: &mut Vec<Action>,
    ) {
        self.asked.retain(|shard, version| {
            seen.iter().any(|s| {
                s.shard == *shard
                    && s.file.as_ref().is_some_and(|(l, v)| v == version || l.owner.as_deref() == Some(&self.me))
            })
        });
        // An ask answered by this round's take does not wait for the next round: the next ask
        // goes out with the take.
        let pending = self.asked.keys().any(|shard| {
            seen.iter()
                .any(|s| s.shard == *shard && s.file.as_ref().and_then(|(l, _)| l.owner.as_deref()) != Some(&self.me))
        });
        if have < target
            && !pending
            && let Some((&victim, &most)) = load.iter().max_by_key(|(w, n)| (**n, std::cmp::Reverse(**w)))
            && (most > target || (most == target && have + 1 < target))
        {
            let candidate = ready
                .iter()
                .filter_map(|s| s.file.as_ref().map(|(l, v)| (s, l, v)))
                .filter(|(s, l, _)| {
                    l.owner.as_deref() == Some(victim) && l.handover_to.is_none() && !self.expired(&s.shard, now)
                })
                .min_by_key(|(s, _, _)| minutely_event::id_hash(&format!("{}/{}", self.me, s.shard)));
            if let Some((s, l, v)) = candidate {
                let mut ask = l.clone();
                ask.counter += 1;
                ask.handover_to = Some(self.me.clone());
                actions.push(Action::Write {
                    shard: s.shard.clone(),
                    expected: Some(v.clone()),
                    lease: ask,
                    purpose: Purpose::Steal,
                });
            }
        }
    }

    /// The write that ends a handover (after the shard's reader stopped and checkpointed), a
    /// release, or the end of a shard: `None` when the lease is no longer held. The holder stops
    /// holding it now, whatever the write's outcome.
    pub fn final_write(&mut self, shard: &str, purpose: Purpose, now_unix_ms: i64) -> Option<Action> {
        let held = self.held.remove(shard)?;
        let to = self.handing_over.remove(shard);
        let previous = Lease { counter: held.counter, ..Lease::default() };
        let lease = match purpose {
            Purpose::HandOver => {
                self.counts.handed_over += 1;
                self.next(Some(&previous), to.as_deref(), now_unix_ms)
            }
            Purpose::Release => {
                self.counts.released += 1;
                self.next(Some(&previous), None, now_unix_ms)
            }
            Purpose::Finish => Lease { finished: true, ..self.next(Some(&previous), None, now_unix_ms) },
            Purpose::Take | Purpose::Renew | Purpose::Steal => return None,
        };
        // The version is the one last written; a handover asked for changed it, so read it again.
        let expected = self.observed.get(shard).and_then(|(v, _)| v.clone()).or(Some(held.version));
        Some(Action::Write { shard: shard.to_owned(), expected, lease, purpose })
    }

    /// The outcome of a [`Action::Write`] started at local time `sent_at`: `Ok(version)`, or
    /// `Err(())` when the file was not the expected one (another worker wrote it first).
    /// Returns whether this worker may now read the shard (a take or renewal that succeeded).
    pub fn wrote(
        &mut self,
        shard: &str,
        lease: &Lease,
        purpose: Purpose,
        sent_at: u64,
        outcome: Result<String, ()>,
    ) -> bool {
        let Ok(version) = outcome else {
            if purpose == Purpose::Steal {
                self.asked.remove(shard);
            }
            return false;
        };
        // Our own write: the file is unchanged since then, as far as expiry goes.
        self.observed.insert(shard.to_owned(), (Some(version.clone()), sent_at));
        match purpose {
            Purpose::Take | Purpose::Renew => {
                if purpose == Purpose::Take {
                    self.counts.taken += 1;
                    if self.asked.remove(shard).is_some() {
                        self.counts.stolen += 1;
                    }
                }
                let valid_until = sent_at + self.timing.lapse_ms();
                self.held.insert(shard.to_owned(), Held { version, counter: lease.counter, valid_until });
                true
            }
            Purpose::Steal => {
                self.asked.insert(shard.to_owned(), version);
                false
            }
            Purpose::HandOver | Purpose::Release | Purpose::Finish => false,
        }
    }

    /// The shard's reader stopped for another reason (the run is stopping, or it was fenced):
    /// forget the lease without writing (it lapses, or is released by [`Leases::final_write`]).
    pub fn forget(&mut self, shard: &str) {
        self.held.remove(shard);
        self.handing_over.remove(shard);
    }

    /// Whether every shard that could be read at the last round is read by someone alive: held
    /// here, or held by a worker whose lease was seen renewed within the duration. A lease not
    /// seen to change since this worker started may be a dead worker's, still to expire.
    pub fn accounted(&self, now: u64) -> bool {
        let first = self.first_round.unwrap_or(now);
        self.ready.iter().all(|(shard, owner)| {
            self.held.contains_key(shard)
                || (owner.as_deref().is_some_and(|o| o != self.me)
                    && self.observed.get(shard).is_some_and(|(_, since)| {
                        *since > first && now.saturating_sub(*since) < self.timing.duration_ms
                    }))
        })
    }

    /// How many shards could be read at the last round.
    pub fn readable_shards(&self) -> usize {
        self.ready.len()
    }

    /// The shard's reader found another worker's checkpoint: count the lease as lost.
    pub fn lost(&mut self, shard: &str) {
        self.forget(shard);
        self.counts.lost += 1;
    }

    /// Whether the shard is being handed over (its reader stops, then the lease goes).
    pub fn is_handing_over(&self, shard: &str) -> bool {
        self.handing_over.contains_key(shard)
    }

    /// Shards held or being handed over, for the stop.
    pub fn holding(&self) -> Vec<String> {
        self.held.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TIMING: Timing = Timing { duration_ms: 10_000, renew_ms: 3_000 };

    /// The lease files of a stream: lease and version by shard.
    #[derive(Debug, Default)]
    struct Store {
        files: BTreeMap<String, (Lease, String)>,
        versions: u64,
    }

    impl Store {
        /// A conditional write, as S3's If-Match / If-None-Match.
        fn put_if(&mut self, shard: &str, expected: &Option<String>, lease: Lease) -> Result<String, ()> {
            if self.files.get(shard).map(|(_, v)| v) != expected.as_ref() {
                return Err(());
            }
            self.versions += 1;
            let version = format!("v{}", self.versions);
            self.files.insert(shard.to_owned(), (lease, version.clone()));
            Ok(version)
        }
    }

    /// The stream: `p0` and `p1` end and split into `c0`/`c1` and `c2`/`c3`; `s0`..`s5` stay.
    fn shards() -> Vec<(String, Vec<String>)> {
        let mut v: Vec<(String, Vec<String>)> = (0..6).map(|i| (format!("s{i}"), vec![])).collect();
        v.push(("p0".into(), vec![]));
        v.push(("p1".into(), vec![]));
        for (c, p) in [("c0", "p0"), ("c1", "p0"), ("c2", "p1"), ("c3", "p1")] {
            v.push((c.into(), vec![p.into()]));
        }
        v
    }

    #[derive(Debug)]
    struct Worker {
        leases: Leases,
        /// Its clock runs at `rate_ppm` parts per million of the true rate, from `offset`.
        rate_ppm: u64,
        offset: u64,
        alive: bool,
        /// Does no round before this (true) time: a paused process.
        paused_until: u64,
    }

    impl Worker {
        fn local(&self, t: u64) -> u64 {
            self.offset + t * self.rate_ppm / 1_000_000
        }
    }

    #[derive(Clone, Debug)]
    enum Step {
        Advance(u64),
        Round(usize),
        /// A round whose writes all fail (a network fault: not applied).
        FailedRound(usize),
        Crash(usize),
        Join,
        Pause(usize, u64),
        /// The worker's reader reaches the end of a held `p` shard.
        Finish(usize),
        /// A graceful stop: the worker releases everything it holds.
        Stop(usize),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            6 => (200u64..4_000).prop_map(Step::Advance),
            10 => (0usize..8).prop_map(Step::Round),
            1 => (0usize..8).prop_map(Step::FailedRound),
            1 => (0usize..8).prop_map(Step::Crash),
            1 => Just(Step::Join),
            1 => ((0usize..8), (1_000u64..30_000)).prop_map(|(w, d)| Step::Pause(w, d)),
            1 => (0usize..8).prop_map(Step::Finish),
            1 => (0usize..8).prop_map(Step::Stop),
        ]
    }

    struct Model {
        t: u64,
        store: Store,
        workers: Vec<Worker>,
        shards: Vec<(String, Vec<String>)>,
    }

    impl Model {
        fn new(workers: usize) -> Model {
            let mut m = Model { t: 0, store: Store::default(), workers: Vec::new(), shards: shards() };
            for _ in 0..workers {
                m.join();
            }
            m
        }

        fn join(&mut self) {
            let n = self.workers.len() as u64;
            // Clocks within 0.1 % of each other's rate, at unrelated offsets.
            let rate_ppm = 999_000 + (n * 700) % 2_001;
            let offset = n * 7_777_777;
            let leases = Leases::new(&format!("w{n}"), TIMING);
            self.workers.push(Worker { leases, rate_ppm, offset, alive: true, paused_until: 0 });
        }

        fn seen(&self) -> Vec<Seen> {
            self.shards
                .iter()
                .map(|(s, p)| Seen { shard: s.clone(), parents: p.clone(), file: self.store.files.get(s).cloned() })
                .collect()
        }

        /// Carries out a write the way the consumer does.
        fn write(&mut self, w: usize, action: Action, fail: bool) {
            let Action::Write { shard, expected, lease, purpose } = action else { return };
            let now = self.workers[w].local(self.t);
            let outcome = if fail { Err(()) } else { self.store.put_if(&shard, &expected, lease.clone()) };
            self.workers[w].leases.wrote(&shard, &lease, purpose, now, outcome);
        }

        fn round(&mut self, w: usize, fail: bool) {
            if !self.workers[w].alive || self.t < self.workers[w].paused_until {
                return;
            }
            let now = self.workers[w].local(self.t);
            let seen = self.seen();
            let actions = self.workers[w].leases.round(now, &seen, 0);
            for action in actions {
                match action {
                    Action::Write { .. } => self.write(w, action, fail),
                    Action::Drop { .. } => {}
                    Action::HandOver { shard, .. } => {
                        // The reader stops and checkpoints, then the lease goes over.
                        if let Some(write) = self.workers[w].leases.final_write(&shard, Purpose::HandOver, 0) {
                            self.write(w, write, fail);
                        }
                    }
                }
            }
        }

        fn finish(&mut self, w: usize) {
            if !self.workers[w].alive || self.t < self.workers[w].paused_until {
                return;
            }
            let now = self.workers[w].local(self.t);
            let shard = self.workers[w].leases.readable(now).find(|s| s.starts_with('p')).map(str::to_owned);
            if let Some(shard) = shard
                && let Some(write) = self.workers[w].leases.final_write(&shard, Purpose::Finish, 0)
            {
                self.write(w, write, false);
            }
        }

        fn stop(&mut self, w: usize) {
            if !self.workers[w].alive || self.t < self.workers[w].paused_until {
                return;
            }
            for shard in self.workers[w].leases.holding() {
                if let Some(write) = self.workers[w].leases.final_write(&shard, Purpose::Release, 0) {
                    self.write(w, write, false);
                }
            }
            self.workers[w].alive = false;
        }

        fn apply(&mut self, step: &Step) {
            let n = self.workers.len();
            match *step {
                Step::Advance(ms) => self.t += ms,
                Step::Round(w) => self.round(w % n, false),
                Step::FailedRound(w) => self.round(w % n, true),
                Step::Crash(w) => self.workers[w % n].alive = false,
                Step::Join => self.join(),
                Step::Pause(w, ms) => self.workers[w % n].paused_until = self.t + ms,
                Step::Finish(w) => self.finish(w % n),
                Step::Stop(w) => self.stop(w % n),
            }
        }

        /// Who reads each shard now: a live worker holding an unlapsed lease. (A paused worker
        /// counts too: it reads as soon as it wakes, if its own clock allows.)
        fn readers(&self) -> BTreeMap<String, Vec<usize>> {
            let mut readers: BTreeMap<String, Vec<usize>> = BTreeMap::new();
            for (i, w) in self.workers.iter().enumerate().filter(|(_, w)| w.alive) {
                for s in w.leases.readable(w.local(self.t)) {
                    readers.entry(s.to_owned()).or_default().push(i);
                }
            }
            readers
        }

        fn check_safety(&self) -> Result<(), TestCaseError> {
            for (shard, who) in self.readers() {
                prop_assert!(who.len() <= 1, "{shard} read by workers {who:?} at t={}", self.t);
                let parents = &self.shards.iter().find(|(s, _)| *s == shard).expect("a listed shard").1;
                for p in parents {
                    let done = self.store.files.get(p).is_some_and(|(l, _)| l.finished);
                    prop_assert!(done, "{shard} read before its parent {p} finished");
                }
                let file = self.store.files.get(&shard);
                prop_assert!(!file.is_some_and(|(l, _)| l.finished), "{shard} read after it finished");
            }
            Ok(())
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Whatever workers do (rounds at any times, failed writes, crashes, pauses, joins,
        /// graceful stops), no shard is ever read by two workers at once, nor a child before its
        /// parents; and once the faults stop, the live workers share every readable shard, each
        /// within one of the others' share.
        #[test]
        fn leases_never_overlap_and_settle_evenly(
            workers in 1usize..5,
            steps in proptest::collection::vec(step(), 0..200),
        ) {
            let mut m = Model::new(workers);
            for s in &steps {
                m.apply(s);
                m.check_safety()?;
            }
            // Calm: every live worker wakes and runs a round every renew period.
            if !m.workers.iter().any(|w| w.alive) {
                m.join();
            }
            for w in &mut m.workers {
                w.paused_until = 0;
            }
            for _ in 0..60 {
                m.t += TIMING.renew_ms;
                for w in 0..m.workers.len() {
                    m.round(w, false);
                    m.check_safety()?;
                }
            }
            let readers = m.readers();
            let finished: BTreeSet<&String> =
                m.store.files.iter().filter(|(_, (l, _))| l.finished).map(|(s, _)| s).collect();
            for (shard, parents) in &m.shards {
                let ready = !finished.contains(shard) && parents.iter().all(|p| finished.contains(p));
                prop_assert_eq!(readers.contains_key(shard), ready, "{} (ready: {})", shard, ready);
            }
            let alive: Vec<usize> = (0..m.workers.len()).filter(|w| m.workers[*w].alive).collect();
            let loads: Vec<usize> =
                alive.iter().map(|w| readers.values().filter(|r| r.contains(w)).count()).collect();
            let (min, max) = (loads.iter().min().copied().unwrap_or(0), loads.iter().max().copied().unwrap_or(0));
            prop_assert!(max - min <= 1, "uneven loads {:?} of workers {:?}", loads, alive);
        }
    }

    #[test]
    fn timing_needs_two_renewals_per_lease() {
        assert!(Timing::new(10_000, 3_000).is_ok());
        assert!(Timing::new(5_000, 3_000).unwrap_err().contains("at least twice"));
        assert!(Timing::new(5_000, 0).is_err());
    }

    /// The walk-through of the README: one worker takes all, a second one joins and steals
    /// one lease per round, handed over after a stop; the first stops gracefully and the second
    /// takes its leases at once.
    #[test]
    fn a_second_worker_gets_half_by_handovers_and_all_on_release() {
        let mut m = Model::new(1);
        m.shards.retain(|(s, _)| s.starts_with('s'));
        m.round(0, false);
        assert_eq!(m.workers[0].leases.held(), 6);
        m.join();
        let mut rounds = 0;
        while m.workers[1].leases.held() < 3 {
            m.t += TIMING.renew_ms;
            m.round(1, false);
            m.round(0, false);
            m.check_safety().unwrap();
            rounds += 1;
            assert!(rounds < 10, "no balance after {rounds} rounds");
        }
        m.t += TIMING.renew_ms;
        m.round(1, false);
        m.round(0, false);
        assert_eq!((m.workers[0].leases.held(), m.workers[1].leases.held()), (3, 3));
        assert_eq!(m.workers[1].leases.counts.stolen, 3);
        assert_eq!(m.workers[0].leases.counts.handed_over, 3);
        m.stop(0);
        m.t += 1;
        m.round(1, false);
        assert_eq!(m.workers[1].leases.held(), 6, "released leases are taken at the next round");
        assert_eq!(m.workers[0].leases.counts.released, 3);
    }

    #[test]
    fn an_expired_lease_is_taken_only_after_the_duration_on_the_takers_clock() {
        let mut m = Model::new(2);
        m.shards.truncate(1);
        m.round(0, false);
        m.workers[0].alive = false; // killed
        m.round(1, false); // first sight of the lease
        for _ in 0..3 {
            m.t += TIMING.renew_ms;
            m.round(1, false);
            assert_eq!(m.workers[1].leases.held(), 0, "taken at t={}", m.t);
        }
        m.t += TIMING.renew_ms;
        m.round(1, false);
        assert_eq!(m.workers[1].leases.held(), 1);
    }
}
