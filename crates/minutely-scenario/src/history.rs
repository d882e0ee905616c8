//! The stream's check in a run with the user's producer: every record the stream holds, read
//! once (`minutely_consumer::kinesis::scan`), judged against the run's events
//! (`minutely_check`), its duplicates explained by the sim's ledger where there is one.

use std::sync::Arc;

use minutely_check::{Anomaly, Checker, Expected, Verdict};
use minutely_consumer::kinesis::scan::scan;
use minutely_event::RecordDecoder;
use serde::Serialize;

use crate::generate::Payload;
use crate::input::Input;
use crate::program::ProgramRun;
use crate::spec::Scenario;

/// Witnesses kept per class.
const WITNESSES: usize = 20;

/// The user's producer and what the stream holds of its events.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub producer: ProgramRun,
    /// The records read back from the stream.
    pub records_read: u64,
    pub verdict: Verdict,
    /// The classes beyond `[expect] allow`, in order.
    pub failed: Vec<Anomaly>,
    /// What the sim's ledger says of the stream's entries (`None` on LocalStack).
    pub ledger: Option<minutely_sim::StreamCounts>,
}

/// Reads `stream` back and judges it against the run's events.
pub(crate) async fn check(
    s: &Scenario,
    input: &Input,
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
    ledger: Option<minutely_sim::Ledger>,
    producer: ProgramRun,
) -> anyhow::Result<History> {
    let mut checker = Checker::new(WITNESSES);
    let names: Vec<&str> = s.pipeline.key.iter().map(String::as_str).collect();
    for item in input.items()? {
        let (payload, _, _) = item?;
        if let Payload::Event(e) = payload {
            let id = e.id.clone().unwrap_or_default();
            checker.expect(Expected { id, time_ms: e.time.0, key: e.key(&names) });
        }
    }
    if let Some(l) = &ledger {
        checker.explain(l.ambiguous.iter().map(|p| (p.shard.clone(), p.sequence.clone())));
    }
    let decoder: Arc<RecordDecoder> = Arc::new(s.decoder()?);
    let report = scan(kinesis, stream, decoder, |page| {
        for e in page.events {
            checker.stored(e);
        }
        for (place, reason) in page.unreadable {
            checker.unreadable(place, reason);
        }
    })
    .await?;
    let verdict = checker.verdict();
    let failed = verdict.failed(&s.expect.allow);
    Ok(History { producer, records_read: report.records, verdict, failed, ledger: ledger.map(|l| l.counts) })
}
