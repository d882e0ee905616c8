//! What the stream's retention trimmed before the consumer read it. The sim's ledger keeps
//! every record trimmed before any GetRecords returned it (`minutely_sim::Trimmed`); their
//! events that the consumer never read (a copy read elsewhere, a producer's retry, was
//! counted) are gone, and are counted here as the model counts them. The run's expected counts
//! are the model's minus these, and the report lists them by minute, key and id: what
//! retention took is reported exactly, the rest counted.

use std::collections::HashSet;

use serde::Serialize;

use crate::generate::Payload;
use crate::input::Input;
use crate::model::{Counts, Model};
use crate::trace::{Tracer, events_of};

/// Ids of lost events kept in the report.
const WITNESSES: usize = 20;

/// What retention trimmed, and what of it the consumer never read.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Trimmed {
    /// Records the retention period trimmed (the sim's ledger).
    pub records: u64,
    /// Of those, records no GetRecords had returned.
    pub records_unread: u64,
    /// Distinct events of those records the consumer never read: taken out of the model.
    pub events_lost: u64,
    /// (minute, key, events) of the lost events, as the model counts them.
    pub lost: Vec<(String, Vec<String>, u64)>,
    /// The first lost events' ids, in the input's order.
    pub ids: Vec<String>,
    /// Resumes the consumer's readers said were behind the trim.
    pub named_by_consumer: u64,
}

impl Trimmed {
    /// What the ledger of the run's stream says retention trimmed, joined with what the
    /// consumer read (`tracer`) and the input (for the lost events' minutes and keys). `None`:
    /// nothing was trimmed, or no ledger (LocalStack). Returns the report and the lost counts.
    pub(crate) fn of(
        ledger: Option<minutely_sim::Ledger>,
        tracer: &Tracer,
        input: &Input,
        key: &[String],
        named_by_consumer: u64,
    ) -> anyhow::Result<Option<(Trimmed, Counts)>> {
        let Some(ledger) = ledger.filter(|l| l.counts.records_trimmed > 0) else { return Ok(None) };
        let decoder = tracer.decoder();
        let mut gone = HashSet::new();
        for r in &ledger.trimmed_unread {
            events_of(&decoder, &r.data, &mut |id, _| {
                if !tracer.was_read(id) {
                    gone.insert(id);
                }
            });
        }
        let mut model = Model::new(key);
        let mut ids = Vec::new();
        if !gone.is_empty() {
            for item in input.items()? {
                let Payload::Event(e) = item?.0 else { continue };
                let id = e.id.as_deref().unwrap_or_default();
                if gone.remove(&minutely_event::id_hash(id)) {
                    if ids.len() < WITNESSES {
                        ids.push(id.to_owned());
                    }
                    model.add(&e);
                }
            }
        }
        let lost = model.counts();
        let trimmed = Trimmed {
            records: ledger.counts.records_trimmed,
            records_unread: ledger.counts.records_trimmed_unread,
            events_lost: lost.values().sum(),
            lost: lost.iter().map(|((minute, key), n)| (minute.clone(), key.clone(), *n)).collect(),
            ids,
            named_by_consumer,
        };
        Ok(Some((trimmed, lost)))
    }

    /// The summary's line.
    pub(crate) fn render(&self, o: &mut String) {
        o.push_str(&format!(
            "  retention: {} records trimmed, {} of them unread: {} events never read, taken out of the model ({} (minute, key)); the consumer said {} times that it resumed behind the trim\n",
            self.records,
            self.records_unread,
            self.events_lost,
            self.lost.len(),
            self.named_by_consumer
        ));
        if !self.ids.is_empty() {
            o.push_str(&format!("    lost ids, first {}: {}\n", self.ids.len(), self.ids.join(" ")));
        }
    }

    /// The report's checks, (name, expected, measured, failure): with `expected` (`[expect]
    /// trimmed = true`) that retention took events; whenever it took some, that the consumer
    /// said so.
    pub(crate) fn checks(&self, expected: bool) -> Vec<(&'static str, &'static str, String, Option<String>)> {
        let mut checks = Vec::new();
        if expected {
            let failure = (self.events_lost == 0).then(|| {
                "expected retention to trim events the consumer never read (trimmed = true), it trimmed none".to_owned()
            });
            checks.push(("events trimmed unread by retention", "at least one", self.events_lost.to_string(), failure));
        }
        if self.events_lost > 0 {
            let measured = format!("{} resumes named behind the trim", self.named_by_consumer);
            checks.push(("the consumer said it resumed behind the trim", "at least once", measured, self.unnamed()));
        }
        checks
    }

    /// The failure, if any: events lost to the trim that no reader said it had skipped.
    pub(crate) fn unnamed(&self) -> Option<String> {
        (self.events_lost > 0 && self.named_by_consumer == 0).then(|| {
            format!(
                "retention trimmed {} events the consumer never read, and no reader said it resumed behind the trim",
                self.events_lost
            )
        })
    }
}

/// `expected` without what retention took (`lost`).
pub(crate) fn minus(expected: &Counts, lost: &Counts) -> Counts {
    let mut out = expected.clone();
    for (k, n) in lost {
        if let Some(e) = out.get_mut(k) {
            *e = e.saturating_sub(*n);
            if *e == 0 {
                out.remove(k);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expected_counts_lose_what_retention_took() {
        let k = |m: &str, c: &str| (m.to_owned(), vec![c.to_owned()]);
        let expected: Counts = [(k("17:00", "usa"), 5), (k("17:00", "fra"), 2), (k("17:01", "usa"), 1)].into();
        let lost: Counts = [(k("17:00", "usa"), 2), (k("17:00", "fra"), 2)].into();
        let left = minus(&expected, &lost);
        assert_eq!(left, [(k("17:00", "usa"), 3), (k("17:01", "usa"), 1)].into());
    }

    #[test]
    fn a_loss_no_reader_named_fails() {
        let t = Trimmed { events_lost: 3, ..Trimmed::default() };
        assert!(t.unnamed().unwrap().contains("trimmed 3 events"));
        assert_eq!(Trimmed { named_by_consumer: 1, ..t }.unnamed(), None);
        assert_eq!(Trimmed::default().unnamed(), None, "nothing lost, nothing to name");
        let expected_but_none = Trimmed::default().checks(true);
        assert!(expected_but_none[0].3.as_ref().unwrap().contains("trimmed none"), "{expected_but_none:?}");
        assert!(Trimmed::default().checks(false).is_empty());
    }
}
