//! Reading a whole stream once, for a history checker (`minutely check stream`): every shard
//! from its trim horizon to its end (a closed shard) or its tip (an open one: an empty page
//! with nothing behind it; AWS may answer an empty page while records remain further on, so an
//! empty page alone is not the end), parents before children, shards with no unread parent at
//! once. Each record's envelopes are opened and its events decoded in the shard's task; the
//! caller takes the events of each page, in shard order, on its own task.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::types::ShardIteratorType;
use minutely_aws::{AwsError, Backoff, RetryLog, RetryPolicy};
use minutely_check::{Place, Stored};
use minutely_event::RecordDecoder;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::shards::list_shards;
use crate::run::ConsumeError;

/// What one GetRecords answer held: its events, and the parts of records that are not events
/// (a broken envelope, a bad field, an event without an id) with why.
#[derive(Debug, Default)]
pub struct Page {
    pub records: u64,
    pub events: Vec<Stored>,
    pub unreadable: Vec<(Place, String)>,
}

/// What a scan read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanReport {
    pub shards: usize,
    pub records: u64,
    pub get_records_calls: u64,
    /// Records answered again, at or before what their shard's read had taken: skipped, not
    /// judged twice (a backend that repeats them: see `sequence.rs`).
    pub repeated: u64,
}

/// A shard's reads: throttling, 5xx and dropped connections retried, for up to two minutes
/// without progress.
const READS: RetryPolicy = RetryPolicy {
    base: Duration::from_millis(100),
    max_backoff: Duration::from_secs(5),
    deadline: Some(Duration::from_secs(120)),
    retry_unreachable: true,
};

/// The most GetRecords calls' pages in flight between the shard tasks and the caller.
const PAGES_IN_FLIGHT: usize = 16;

enum Message {
    Page(Page),
    Done { shard: String, calls: u64, repeated: u64 },
}

/// Reads every record of `stream` once and hands each page to `on_page`; each event carries
/// its record's partition key when `partition_keys` says so (a check of order).
pub async fn scan(
    client: &Client,
    stream: &str,
    decoder: Arc<RecordDecoder>,
    partition_keys: bool,
    mut on_page: impl FnMut(Page),
) -> Result<ScanReport, ConsumeError> {
    let shards = list_shards(client, stream, RetryPolicy::FIRST_CALLS).await?;
    let listed: BTreeSet<&str> = shards.iter().map(|s| s.id.as_str()).collect();
    // A parent no longer listed (trimmed) has nothing left to read.
    let mut waiting: BTreeMap<&str, Vec<&str>> = shards
        .iter()
        .map(|s| (s.id.as_str(), s.parents.iter().map(String::as_str).filter(|p| listed.contains(p)).collect()))
        .collect();
    let (tx, mut rx) = mpsc::channel(PAGES_IN_FLIGHT);
    let mut tasks = JoinSet::new();
    let mut report = ScanReport { shards: shards.len(), ..ScanReport::default() };
    let mut done = 0;
    let read = Read { client, stream, decoder: &decoder, partition_keys, tx: &tx };
    start_ready(&mut waiting, &mut tasks, &read);
    while done < shards.len() {
        tokio::select! {
            biased;
            Some(message) = rx.recv() => match message {
                Message::Page(page) => {
                    report.records += page.records;
                    on_page(page);
                }
                Message::Done { shard, calls, repeated } => {
                    done += 1;
                    report.get_records_calls += calls;
                    report.repeated += repeated;
                    for parents in waiting.values_mut() {
                        parents.retain(|p| *p != shard);
                    }
                    start_ready(&mut waiting, &mut tasks, &read);
                }
            },
            Some(joined) = tasks.join_next() => {
                joined.map_err(|e| ConsumeError::Task(e.to_string()))??;
            }
        }
    }
    Ok(report)
}

/// What every shard's reader is given.
struct Read<'a> {
    client: &'a Client,
    stream: &'a str,
    decoder: &'a Arc<RecordDecoder>,
    partition_keys: bool,
    tx: &'a mpsc::Sender<Message>,
}

/// Starts a reader for every shard none of whose parents is still unread.
fn start_ready(waiting: &mut BTreeMap<&str, Vec<&str>>, tasks: &mut JoinSet<Result<(), ConsumeError>>, r: &Read<'_>) {
    let ready: Vec<String> = waiting.iter().filter(|(_, p)| p.is_empty()).map(|(s, _)| s.to_string()).collect();
    for shard in ready {
        waiting.remove(shard.as_str());
        let (client, stream, decoder, tx) = (r.client.clone(), r.stream.to_owned(), r.decoder.clone(), r.tx.clone());
        let keys = r.partition_keys;
        tasks.spawn(async move { read_shard(&client, &stream, shard, &decoder, keys, &tx).await });
    }
}

/// Reads one shard to its end or tip, sending each page's events.
async fn read_shard(
    client: &Client,
    stream: &str,
    shard: String,
    decoder: &RecordDecoder,
    partition_keys: bool,
    tx: &mpsc::Sender<Message>,
) -> Result<(), ConsumeError> {
    let what = format!("stream {stream} {shard}");
    let log = RetryLog::stderr(format!("reading {what}"));
    let mut backoff = Backoff::new(READS, minutely_event::id_hash(&shard) as u64);
    let mut after: Option<String> = None;
    let mut iterator: Option<String> = None;
    let (mut calls, mut repeated) = (0, 0);
    loop {
        let it = match iterator.take() {
            Some(it) => it,
            None => match shard_iterator(client, stream, &shard, after.as_deref()).await {
                Ok(Some(it)) => it,
                Ok(None) => break,
                Err(e) => {
                    retry_or_fail(e, &mut backoff, &log).await?;
                    continue;
                }
            },
        };
        calls += 1;
        let out = match client.get_records().shard_iterator(&it).limit(10_000).send().await {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_expired_iterator_exception()) => continue,
            Err(e) => {
                retry_or_fail(AwsError::from_sdk("GetRecords", &what, &e), &mut backoff, &log).await?;
                iterator = Some(it);
                continue;
            }
        };
        backoff.reset();
        let page = out.records();
        let records = super::sequence::after(page, after.as_deref());
        repeated += (page.len() - records.len()) as u64;
        if let Some(last) = records.last() {
            after = Some(last.sequence_number().to_owned());
            let page = decode_page(&shard, records, decoder, partition_keys);
            if tx.send(Message::Page(page)).await.is_err() {
                return Ok(()); // the scan was given up
            }
        }
        match out.next_shard_iterator() {
            None => break,
            Some(_) if records.is_empty() && out.millis_behind_latest().unwrap_or(0) == 0 => break,
            Some(next) => iterator = Some(next.to_owned()),
        }
    }
    let _ = tx.send(Message::Done { shard, calls, repeated }).await;
    Ok(())
}

/// Waits before a retry, or fails with `e` when it is not retried or the deadline passed.
async fn retry_or_fail(e: AwsError, backoff: &mut Backoff, log: &RetryLog) -> Result<(), ConsumeError> {
    if !READS.retries(&e) {
        return Err(e.into());
    }
    let Some(wait) = backoff.next_wait() else { return Err(e.into()) };
    log.retried(1, &e);
    minutely_aws::clock::sleep(wait).await;
    Ok(())
}

/// An iterator at the trim horizon, or after `after`. `None`: the shard has nothing there.
async fn shard_iterator(
    client: &Client,
    stream: &str,
    shard: &str,
    after: Option<&str>,
) -> Result<Option<String>, AwsError> {
    let call = client.get_shard_iterator().stream_name(stream).shard_id(shard);
    let call = match after {
        Some(seq) => call.shard_iterator_type(ShardIteratorType::AfterSequenceNumber).starting_sequence_number(seq),
        None => call.shard_iterator_type(ShardIteratorType::TrimHorizon),
    };
    match call.send().await {
        Ok(out) => Ok(out.shard_iterator().map(str::to_owned)),
        Err(e) => Err(AwsError::from_sdk("GetShardIterator", format!("stream {stream} {shard}"), &e)),
    }
}

/// The events of one page's records, each with its place.
fn decode_page(
    shard: &str,
    records: &[aws_sdk_kinesis::types::Record],
    decoder: &RecordDecoder,
    partition_keys: bool,
) -> Page {
    let mut page = Page { records: records.len() as u64, ..Page::default() };
    for r in records {
        let arrival_ms = r.approximate_arrival_timestamp().and_then(|t| t.to_millis().ok()).unwrap_or(0);
        let mut index = 0;
        decoder.each_in_record(r.data().as_ref(), &mut |within, _, fields| {
            let place = Place { shard: shard.to_owned(), sequence: r.sequence_number().to_owned(), index, arrival_ms };
            index += 1;
            match fields {
                Ok(f) => match f.id {
                    Some(id) => page.events.push(Stored {
                        id: id.into_owned(),
                        time_ms: f.time.0,
                        key: f.key.into_iter().map(|k| k.into_owned()).collect(),
                        place,
                        partition_key: r.partition_key().filter(|_| partition_keys).map(str::to_owned),
                    }),
                    None => page.unreadable.push((place, "the event has no id".to_owned())),
                },
                Err(e) => {
                    let at = match (within.user_record, within.line) {
                        (Some(u), Some(l)) => format!(" (user record {u}, line {l})"),
                        (Some(u), None) => format!(" (user record {u})"),
                        (None, Some(l)) => format!(" (line {l})"),
                        (None, None) => String::new(),
                    };
                    page.unreadable.push((place, format!("{e}{at}")));
                }
            }
        });
    }
    page
}
