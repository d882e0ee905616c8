//! The random source's flags, shared by `produce --source random` and `check stream --expect
//! random` (the same flags give the same events).

use std::time::Duration;

use minutely_aggregate::EventTime;
use minutely_producer::source::{DimSpec, RandomSpec};

#[derive(Debug, Clone, clap::Args)]
pub struct RandomArgs {
    /// Random source: the seed (same seed and --start, same events). Default: a fresh one,
    /// printed, so that two runs never send the same ids.
    #[arg(long)]
    pub seed: Option<u64>,
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
    /// The generator's spec. `fresh`: the first event time and the seed when `--start` and
    /// `--seed` are not given (`None`: both are required, to draw a producer's events again).
    /// `unbounded`: no default count (a run that stops on a duration).
    pub fn spec(&self, fresh: Option<(EventTime, u64)>, unbounded: bool) -> anyhow::Result<RandomSpec> {
        let seed = match (self.seed, fresh) {
            (Some(seed), _) => seed,
            (None, Some((_, seed))) => seed,
            (None, None) => anyhow::bail!(
                "--seed is needed: the generated events must be the ones the producer drew (give the seed it printed)"
            ),
        };
        let start = match (&self.start, fresh.map(|(now, _)| now)) {
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
            seed,
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
