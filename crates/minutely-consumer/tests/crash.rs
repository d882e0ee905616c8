//! The commit protocol against crashes at every point: a worker fed generated records (out of
//! order, duplicated, malformed) is killed after a chosen number of writes, restarted from its
//! checkpoint, and the objects it leaves must sum to the plain count of distinct events.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use minutely_aggregate::{EventTime, ProcessingTime, WindowConfig};
use minutely_consumer::WorkerStats;
use minutely_consumer::output::MemoryStore;
use minutely_consumer::worker::{Clock, Worker};
use minutely_consumer::{CountLine, Output, Settings};
use minutely_event::RecordDecoder;
use proptest::prelude::*;

const BASE: i64 = 1_471_798_800_000; // 2016-08-21T17:00:00Z

#[derive(Clone, Debug)]
enum Rec {
    Event { id: u32, second: i64, key: u8 },
    Malformed,
}

fn records() -> impl Strategy<Value = Vec<Rec>> {
    // Mostly advancing time with some disorder; repeats of recent ids (retries); some garbage.
    proptest::collection::vec((0i64..40, 0u8..3, 0u8..20), 0..400).prop_map(|raw| {
        let mut out = Vec::new();
        let mut t = 0i64;
        for (i, (step, key, kind)) in raw.into_iter().enumerate() {
            t += step;
            let id = i as u32;
            match kind {
                0 => out.push(Rec::Malformed),
                1 | 2 if i > 0 => {
                    // A retry of an event a few records back: same id, time and key.
                    if let Some(Rec::Event { id, second, key }) =
                        out.iter().rev().take(5).find(|r| matches!(r, Rec::Event { .. })).cloned()
                    {
                        out.push(Rec::Event { id, second, key });
                    }
                }
                3 => out.push(Rec::Event { id, second: (t - 50).max(0), key }),
                _ => out.push(Rec::Event { id, second: t, key }),
            }
        }
        out
    })
}

fn encode(r: &Rec) -> Vec<u8> {
    match r {
        Rec::Event { id, second, key } => {
            format!(r#"{{"id":"e{id}","time_ms":{},"dims":{{"country":"c{key}","device":"d"}}}}"#, BASE + second * 1000)
                .into_bytes()
        }
        Rec::Malformed => b"{\"id\":\"x\",\"time_ms\":\"soon\"}".to_vec(),
    }
}

fn settings(idle_timeout_ms: Option<u64>) -> Settings {
    Settings {
        decoder: Arc::new(RecordDecoder::minutely(&["country".to_owned()])),
        // Lateness well above the disorder and the retry distance: every retry finds its window open.
        windows: WindowConfig { allowed_lateness_ms: 120_000, idle_timeout_ms },
        max_dedup_ids: 100_000,
    }
}

/// Processing time: record `i` arrives at `arrivals[i]` ms, except after a restart, when the
/// records read again arrive all at once, later (as a restarted reader catching up does).
#[derive(Clone, Debug, Default)]
struct Timing {
    idle_timeout_ms: Option<u64>,
    arrivals: Vec<u64>,
}

/// Feeds `recs` in batches of `batch` to a worker; crashes after `crash_after` writes (if any)
/// and restarts from the checkpoint. Returns the store.
async fn run(recs: &[Rec], batch: usize, crash_after: Option<u64>, timing: &Timing) -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::default());
    *store.fail_after.lock().unwrap() = crash_after;
    let output = Output::Memory(store.clone());
    let clock = Clock::start();
    let mut crashed = false;
    'restart: loop {
        let open = Worker::open(
            "shard-0",
            settings(timing.idle_timeout_ms),
            output.clone(),
            Some("checkpoints/s/shard-0.json".into()),
            Duration::ZERO,
            clock,
            WorkerStats::new(),
        )
        .await;
        let Ok((mut worker, finished)) = open else {
            assert!(!crashed, "only one crash is injected");
            crashed = true;
            *store.fail_after.lock().unwrap() = None;
            continue 'restart;
        };
        if finished {
            return store;
        }
        let from = worker.position().map_or(0, |p| p.parse::<usize>().unwrap() + 1);
        for (chunk_start, chunk) in recs[from..].chunks(batch).enumerate().map(|(i, c)| (from + i * batch, c)) {
            let mut now = ProcessingTime(0);
            for (i, r) in chunk.iter().enumerate() {
                let pos = chunk_start + i;
                let arrival = timing.arrivals.get(pos).copied().unwrap_or(0);
                now = ProcessingTime(if crashed {
                    timing.arrivals.last().copied().unwrap_or(0) + 60_000
                } else {
                    arrival
                });
                worker.record(&encode(r), now, || format!("{pos:06}"));
            }
            worker.tick(now);
            worker.processed_through(&format!("{:06}", chunk_start + chunk.len() - 1), None);
            if worker.commit(false, false).await.is_err() {
                assert!(!crashed);
                crashed = true;
                *store.fail_after.lock().unwrap() = None;
                continue 'restart;
            }
        }
        worker.close_all();
        if worker.commit(true, true).await.is_err() {
            crashed = true;
            *store.fail_after.lock().unwrap() = None;
            continue 'restart;
        }
        return store;
    }
}

fn sums(store: &MemoryStore) -> BTreeMap<(String, Vec<String>), u64> {
    let mut out = BTreeMap::new();
    for (path, body) in store.under("minutes/") {
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let c: CountLine = serde_json::from_slice(line).unwrap_or_else(|e| panic!("{path}: {e}"));
            *out.entry((c.minute, c.key)).or_default() += c.count;
        }
    }
    out
}

fn model(recs: &[Rec]) -> BTreeMap<(String, Vec<String>), u64> {
    let mut seen = BTreeSet::new();
    let mut out = BTreeMap::new();
    for r in recs {
        if let Rec::Event { id, second, key } = r
            && seen.insert(*id)
        {
            let minute = EventTime(BASE + second * 1000).minute().to_string();
            *out.entry((minute, vec![format!("c{key}")])).or_default() += 1;
        }
    }
    out
}

fn rejects(store: &MemoryStore) -> usize {
    store.under("rejects/").iter().map(|(_, b)| b.split(|c| *c == b'\n').filter(|l| !l.is_empty()).count()).sum()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn a_crash_at_any_write_changes_no_count(recs in records(), batch in 1usize..40, crash_after in 0u64..40) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let straight = rt.block_on(run(&recs, batch, None, &Timing::default()));
        let crashed = rt.block_on(run(&recs, batch, Some(crash_after), &Timing::default()));
        let expected = model(&recs);
        prop_assert_eq!(&sums(&straight), &expected);
        prop_assert_eq!(&sums(&crashed), &expected);
        let malformed = recs.iter().filter(|r| matches!(r, Rec::Malformed)).count();
        prop_assert_eq!(rejects(&straight), malformed);
        prop_assert_eq!(rejects(&crashed), malformed);
        // On-time objects do not depend on the crash: the same paths, the same bytes.
        let on_time = |s: &MemoryStore| -> Vec<(String, Vec<u8>)> {
            s.under("minutes/").into_iter().filter(|(p, _)| !p.contains(".late-")).collect()
        };
        prop_assert_eq!(on_time(&straight), on_time(&crashed));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// With an idle timeout, windows close on processing time, so a restarted reader (which
    /// reads fast) closes them elsewhere than the first run did: the counts must still be exact,
    /// retries of late events included (closed minutes keep their ids for a while).
    #[test]
    fn a_crash_with_idle_closes_changes_no_count(
        recs in records(),
        pauses in proptest::collection::vec(0u64..3_000, 400),
        batch in 1usize..40,
        crash_after in 0u64..40,
    ) {
        let arrivals = pauses.iter().scan(0u64, |t, p| { *t += p; Some(*t) }).collect();
        let timing = Timing { idle_timeout_ms: Some(1_000), arrivals };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let crashed = rt.block_on(run(&recs, batch, Some(crash_after), &timing));
        prop_assert_eq!(sums(&crashed), model(&recs));
        prop_assert_eq!(rejects(&crashed), recs.iter().filter(|r| matches!(r, Rec::Malformed)).count());
    }
}

/// Two workers on one shard's checkpoint: the first to write goes on, the other is stopped at
/// its next checkpoint, before it writes any object.
#[tokio::test]
async fn a_second_consumer_on_the_same_checkpoint_is_fenced() {
    let store = Arc::new(MemoryStore::default());
    let output = Output::Memory(store.clone());
    let clock = Clock::start();
    let path = Some("checkpoints/s/shard-0.json".to_owned());
    let open = || {
        Worker::open("shard-0", settings(None), output.clone(), path.clone(), Duration::ZERO, clock, WorkerStats::new())
    };
    let (mut a, _) = open().await.unwrap();
    let (mut b, _) = open().await.unwrap();
    let feed = |w: &mut Worker, from: usize, to: usize| {
        for i in from..to {
            let rec = Rec::Event { id: i as u32, second: i as i64 * 30, key: 0 };
            w.record(&encode(&rec), ProcessingTime(0), || i.to_string());
        }
        w.processed_through(&format!("{:06}", to - 1), None);
    };
    feed(&mut a, 0, 5);
    a.commit(false, true).await.unwrap();
    feed(&mut b, 0, 5);
    let err = b.commit(false, true).await.unwrap_err().to_string();
    assert!(err.contains("another consumer wrote the checkpoint"), "{err}");
    // B wrote nothing: the objects under minutes/ are A's alone, and A goes on.
    let objects = store.under("minutes/").len();
    feed(&mut a, 5, 10);
    a.commit(false, true).await.unwrap();
    assert!(store.under("minutes/").len() > objects);
    // A consumer that starts after A's checkpoints takes over from them.
    let (mut c, _) = open().await.unwrap();
    assert_eq!(c.position(), Some("000009"));
    feed(&mut c, 10, 11);
    c.commit(false, true).await.unwrap();
    feed(&mut a, 10, 12);
    assert!(a.commit(false, true).await.is_err(), "A is fenced once C has written");
}
