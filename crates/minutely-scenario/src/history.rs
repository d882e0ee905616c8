//! The checks of a run with the user's programs. After the user's producer: every record the
//! stream holds, read once (`minutely_consumer::kinesis::scan`), judged against the run's
//! events (`minutely_check`), its duplicates explained by the sim's ledger where there is one.
//! After the user's consumer: its output (every object under the run's prefix, read as
//! `[consumer] output` says) against the counting model of the run's events.

use std::sync::Arc;

use minutely_check::counts::{Counts, compare};
use minutely_check::{Anomaly, Checker, CountAnomaly, CountsVerdict, Drawing, Expected, Found, Model, Verdict};
use minutely_consumer::kinesis::scan::scan;
use minutely_event::RecordDecoder;
use serde::Serialize;

use crate::generate::Payload;
use crate::input::Input;
use crate::program::ProgramRun;
use crate::spec::{Scenario, UsersConsumer};

/// Witnesses and differing pairs kept per class.
const WITNESSES: usize = 20;

/// The user's programs and what the checks found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct History {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub producer: Option<ProgramRun>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer: Option<ProgramRun>,
    /// After the user's producer: the stream's check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamCheck>,
    /// After the user's consumer: its output's check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts: Option<CountsCheck>,
}

impl History {
    /// The classes found beyond `[expect] allow`, by name, the stream's first.
    pub fn failed(&self) -> Vec<&'static str> {
        let stream = self.stream.iter().flat_map(|s| s.failed.iter().map(|a| a.name()));
        stream.chain(self.counts.iter().flat_map(|c| c.failed.iter().map(|a| a.name()))).collect()
    }
}

/// What the stream holds of the events.
#[derive(Debug, Clone, Serialize)]
pub struct StreamCheck {
    /// The records read back from the stream.
    pub records_read: u64,
    pub verdict: Verdict,
    /// The classes beyond `[expect] allow`, in order.
    pub failed: Vec<Anomaly>,
    /// What the sim's ledger says of the stream's entries (`None` on LocalStack).
    pub ledger: Option<minutely_sim::StreamCounts>,
}

/// What the user's consumer wrote against the model.
#[derive(Debug, Clone, Serialize)]
pub struct CountsCheck {
    pub objects: u64,
    pub rows: u64,
    pub verdict: CountsVerdict,
    pub failed: Vec<CountAnomaly>,
}

/// The run's events as the checks expect them: id, time and the pipeline's key.
fn expected(s: &Scenario, input: &Input) -> anyhow::Result<Vec<Expected>> {
    let names: Vec<&str> = s.pipeline.key.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    for item in input.items()? {
        if let (Payload::Event(e), _, _) = item? {
            let id = e.id.clone().unwrap_or_default();
            out.push(Expected { id, time_ms: e.time.0, key: e.key(&names) });
        }
    }
    Ok(out)
}

/// Reads `stream` back and judges it against the run's events.
pub(crate) async fn check_stream(
    s: &Scenario,
    input: &Input,
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
    ledger: Option<minutely_sim::Ledger>,
) -> anyhow::Result<StreamCheck> {
    let mut checker = Checker::new(WITNESSES);
    if s.expect.ordered {
        checker.ordered();
    }
    let expected = expected(s, input)?;
    checker.reserve(expected.len());
    if let Some(l) = &ledger {
        checker.explain(l.ambiguous.iter().map(|p| (p.shard.clone(), p.sequence.clone())));
    }
    let decoder: Arc<RecordDecoder> = Arc::new(s.decoder()?);
    // Taken as `check stream` takes them: the expected events as the stored ones need them.
    let mut drawing = Drawing::new(checker, expected.into_iter().map(Ok::<_, std::convert::Infallible>));
    let report = scan(kinesis, stream, decoder, s.expect.ordered, |page| {
        drawing.stored_all(page.events);
        for (place, reason) in page.unreadable {
            drawing.unreadable(place, reason);
        }
    })
    .await?;
    let Ok((checker, _)) = drawing.finish();
    let verdict = checker.verdict();
    let failed = verdict.failed(&s.expect.allow.stream);
    Ok(StreamCheck { records_read: report.records, verdict, failed, ledger: ledger.map(|l| l.counts) })
}

/// Reads the user's consumer's output under `prefix` and compares it with the model. Returns the
/// check and the output's counts (for the run's per-minute diff and snapshot).
pub(crate) async fn check_counts(
    s: &Scenario,
    consumer: &UsersConsumer,
    input: &Input,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> anyhow::Result<(CountsCheck, Counts)> {
    let schema = consumer.output.clone();
    let mut model = Model::new(schema.window_ms().map_err(|e| anyhow::anyhow!("[consumer] output: {e}"))?);
    for e in expected(s, input)? {
        model.add(&e);
    }
    let mut found = Found::new(schema.clone()).map_err(|e| anyhow::anyhow!("[consumer] output: {e}"))?;
    let policy = minutely_aws::RetryPolicy::default();
    let listed = minutely_aws::s3::objects_under(s3, bucket, &format!("{prefix}/"), policy).await?;
    let written: std::collections::HashMap<String, i64> = listed.iter().cloned().collect();
    let keys = listed.into_iter().map(|(k, _)| k).filter(|k| schema.holds_counts(&k[prefix.len() + 1..])).collect();
    minutely_aws::s3::each_object(s3, bucket, keys, 16, policy, |key, body| {
        let name = format!("s3://{bucket}/{key}");
        found.object(&name, written.get(key).copied().unwrap_or(0), body).map_err(anyhow::Error::from)
    })
    .await?;
    let (objects, rows) = (found.objects, found.rows);
    let counts = found.counts();
    let verdict = compare(&model.counts(), &counts, WITNESSES);
    let failed = verdict.failed(&s.expect.allow.counts);
    Ok((CountsCheck { objects, rows, verdict, failed }, counts))
}

/// One check of a run with the user's programs, for the report.
pub(crate) struct HistoryCheck {
    pub name: &'static str,
    pub expected: String,
    pub measured: String,
    pub failure: Option<String>,
}

impl History {
    /// Each program ran to its end (a consumer may be asked to stop), and the checks found
    /// nothing beyond `allow`; a demonstration (`finds`) must find exactly its classes.
    pub(crate) fn checks(&self, e: &crate::spec::Expect) -> Vec<HistoryCheck> {
        let mut out = Vec::new();
        for (name, role, p) in [
            ("producer command succeeded", "producer", &self.producer),
            ("consumer command succeeded", "consumer", &self.consumer),
        ] {
            let Some(p) = p else { continue };
            let failure = (!p.succeeded()).then(|| {
                let how = match (p.timed_out, p.exit_code) {
                    (true, _) => "was stopped at the run's deadline".to_owned(),
                    (false, Some(code)) => format!("exited with {code}"),
                    (false, None) => "was killed by a signal".to_owned(),
                };
                let last = p.output.lines().last().unwrap_or("");
                format!("the {role} command {how} (its output: {}; last line: {last})", p.log.display())
            });
            let measured = format!("exit {:?} after {:.1} s", p.exit_code, p.seconds);
            out.push(HistoryCheck { name, expected: "exit 0 before the deadline".into(), measured, failure });
        }
        let expected = if e.finds.is_empty() {
            format!("nothing beyond {:?}", e.allow.names())
        } else {
            format!("finds exactly {:?} (a demonstration: the run fails with them)", e.finds.names())
        };
        if let Some(c) = &self.stream {
            let found = c.verdict.classes.iter().filter(|(_, k)| k.count > 0).map(|(a, k)| {
                let ids: Vec<&str> =
                    k.witnesses.iter().take(3).map(|w| w.id.as_str()).filter(|i| !i.is_empty()).collect();
                format!("{} {} ({})", a.name(), k.count, ids.join(", "))
            });
            let measured = joined(found);
            let failure = (!c.failed.is_empty()).then(|| {
                let names: Vec<&str> = c.failed.iter().map(|a| a.name()).collect();
                format!("the stream's check found {}: {measured}", names.join(", "))
            });
            out.push(HistoryCheck {
                name: "stream check: every event stored as given",
                expected: expected.clone(),
                measured,
                failure,
            });
        }
        if let Some(c) = &self.counts {
            let found = c.verdict.classes.iter().filter(|(_, k)| k.windows > 0).map(|(a, k)| {
                let first = k.first.first().map(|d| format!(", first {:?} at {}", d.key, minute_of(d.window_start_ms)));
                format!("{} {} pairs, {} events{}", a.name(), k.windows, k.events, first.unwrap_or_default())
            });
            let measured = joined(found);
            let failure = (!c.failed.is_empty()).then(|| {
                let names: Vec<&str> = c.failed.iter().map(|a| a.name()).collect();
                format!("the counts' check found {}: {measured}", names.join(", "))
            });
            out.push(HistoryCheck { name: "counts check: the output equals the model", expected, measured, failure });
        }
        out
    }

    /// The programs and each class found, with its first ids or (window, key) pairs.
    pub(crate) fn render(&self, o: &mut String) {
        for (role, p) in [("producer", &self.producer), ("consumer", &self.consumer)] {
            let Some(p) = p else { continue };
            let exit = p.exit_code.map_or("by signal".to_owned(), |c| c.to_string());
            let asked = if p.asked_to_stop { ", asked to stop" } else { "" };
            o.push_str(&format!(
                "  {role} command: {} | exit {exit}{asked} in {:.1} s | output in {}\n",
                p.command.join(" "),
                p.seconds,
                p.log.display()
            ));
        }
        if let Some(c) = &self.stream {
            let v = &c.verdict;
            o.push_str(&format!(
                "  stream check: {} records read, {} events stored of {} expected, {} as given\n",
                c.records_read, v.stored, v.expected, v.ok
            ));
            for (a, k) in v.classes.iter().filter(|(_, k)| k.count > 0) {
                let ids: Vec<&str> = k.witnesses.iter().take(5).map(|w| w.id.as_str()).collect();
                let more = if k.count > ids.len() as u64 { ", ..." } else { "" };
                let allowed = if c.failed.contains(a) { "" } else { " (allowed)" };
                let share = k.fraction * 100.0;
                o.push_str(&format!("    {} {} ({share:.2}%){allowed}: {}{more}\n", a.name(), k.count, ids.join(", ")));
            }
            if let Some(l) = &c.ledger {
                o.push_str(&format!(
                    "    sim ledger: {} entries stored, {} failed by the dice, {} throttled, {} stored under lost answers\n",
                    l.entries_stored, l.entries_failed_injected, l.entries_throttled, l.entries_ambiguous
                ));
            }
        }
        if let Some(c) = &self.counts {
            let v = &c.verdict;
            o.push_str(&format!(
                "  counts check: {} objects, {} rows; {} events in {} (minute, key) pairs expected, {} in {} found; {} pairs as expected\n",
                c.objects, c.rows, v.events_expected, v.pairs_expected, v.events_found, v.pairs_found, v.ok
            ));
            for (a, k) in v.classes.iter().filter(|(_, k)| k.windows > 0) {
                let allowed = if c.failed.contains(a) { "" } else { " (allowed)" };
                let first: Vec<String> = k
                    .first
                    .iter()
                    .take(3)
                    .map(|d| format!("{} {:?} {} for {}", minute_of(d.window_start_ms), d.key, d.found, d.expected))
                    .collect();
                let more = if k.windows > first.len() as u64 { ", ..." } else { "" };
                o.push_str(&format!(
                    "    {} {} pairs, {} events{allowed}: {}{more}\n",
                    a.name(),
                    k.windows,
                    k.events,
                    first.join(", ")
                ));
            }
        }
    }
}

/// `none`, or the items joined by `; `.
fn joined(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    if items.is_empty() { "none".to_owned() } else { items.join("; ") }
}

/// A window's start as a minute label.
fn minute_of(ms: i64) -> String {
    minutely_aggregate::EventTime(ms).minute().label().to_string()
}
