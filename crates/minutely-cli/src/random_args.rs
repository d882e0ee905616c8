//! The random source's flags, shared by `produce --source random` and `check stream --expect
//! random` (the same flags give the same events).

use std::time::Duration;

use minutely_aggregate::EventTime;
use minutely_producer::source::{DimSpec, RandomSpec};

#[derive(Debug, Clone, clap::Args)]
pub struct RandomArgs {
    /// Random source: the seed (same seed, same events).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Random source: events per second (paces the run and spaces event times). Default: as
    /// fast as possible, event times 1 ms apart.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Random source: how many events. Default: 1000, or no limit with --duration.
    #[arg(long)]
    pub count: Option<u64>,
    /// Random source: a dimension, `NAME=CARDINALITY[:uniform|:zipf[:EXPONENT]]` (repeat it);
    /// `#NAME=...` for numeric values (`1` to CARDINALITY, JSON numbers in JSON records).
    /// Default: `country=12:zipf` and `device=3`.
    #[arg(long = "dim", value_name = "SPEC")]
    pub dims: Vec<DimSpec>,
    /// Random source: move event times back by up to this much (out of order).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    pub jitter: Duration,
    /// Random source: this fraction of events is late by --late-by.
    #[arg(long, default_value_t = 0.0)]
    pub late_fraction: f64,
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5m")]
    pub late_by: Duration,
    /// Random source: this fraction of on-time events is sent twice with the same id.
    #[arg(long, default_value_t = 0.0)]
    pub duplicate_fraction: f64,
    /// Random source: the event time of the first event (RFC 3339). Default: now.
    #[arg(long, value_name = "TIME")]
    pub start: Option<String>,
}

impl RandomArgs {
    /// The generator's spec. `now`: the first event time when `--start` is not given (`None`:
    /// `--start` is required). `unbounded`: no default count (a run that stops on a duration).
    pub fn spec(&self, now: Option<EventTime>, unbounded: bool) -> anyhow::Result<RandomSpec> {
        let start = match (&self.start, now) {
            (Some(t), _) => minutely_event::TimeFormat::Rfc3339
                .parse(t.as_bytes())
                .map_err(|e| anyhow::anyhow!("--start {t}: {e}"))?,
            (None, Some(now)) => now,
            (None, None) => anyhow::bail!(
                "--start is needed: the generated events' times must be the ones the producer used (give the --start it was given)"
            ),
        };
        let defaults = RandomSpec::default();
        Ok(RandomSpec {
            seed: self.seed,
            rate: self.rate,
            count: self.count.or(if unbounded { None } else { defaults.count }),
            start,
            dims: if self.dims.is_empty() { defaults.dims } else { self.dims.clone() },
            jitter: self.jitter,
            late_fraction: self.late_fraction,
            late_by: self.late_by,
            duplicate_fraction: self.duplicate_fraction,
        })
    }
}
