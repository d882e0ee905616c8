//! A run's producer: every input item put at its due time through a `KinesisSink` with a
//! timeline, the plan's reshards at their event counts (the shard rate limiter and the packer
//! re-read the shards after each).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use std::io::Write;

use anyhow::{Context, bail};
use minutely_aws::clock::{self, Instant};
use minutely_producer::aggregation::DEFAULT_MAX_BYTES;
use minutely_producer::batcher::Limits;
use minutely_producer::kinesis::{KinesisSink, RetryPolicy, Timeline};

use crate::program::{ProgramRun, Setting};
use minutely_producer::{Pacer, Sink, Sourced};
use rand::Rng;

use crate::faults::Plan;
use crate::generate::Payload;
use crate::happenings::Happenings;
use crate::input::Input;
use crate::spec::Scenario;

/// What the producer did.
pub(crate) struct Produced {
    pub seconds: f64,
    pub retried: u64,
    pub reshards: Vec<String>,
    pub timeline: Timeline,
    /// When entries were retried, and how many.
    pub retried_at: Vec<(Instant, u64)>,
}

/// Where the producer puts, and what it tells the run.
pub(crate) struct Target<'a> {
    pub kinesis: &'a aws_sdk_kinesis::Client,
    pub stream: &'a str,
    /// Input items handled so far (the progress line).
    pub produced: &'a AtomicU64,
    pub happenings: &'a Happenings,
    /// The backend, to switch the sim's faults at the edges of the plan's window.
    pub running: &'a crate::backend::Running,
}

/// Puts every item at its due time, resharding where the plan says.
pub(crate) async fn produce(
    s: &Scenario,
    plan: &Plan,
    input: &Input,
    records: u64,
    to: Target<'_>,
) -> anyhow::Result<Produced> {
    let p = &s.pipeline;
    let mut pacer = Pacer::new();
    let limits = Limits { max_records: p.batch_records.clamp(1, 500), ..Limits::default() };
    let sink = KinesisSink::new(to.kinesis.clone(), to.stream, limits, RetryPolicy::default())
        .with_seed(s.input.seed)
        .with_timeline(records as usize)
        .with_encoder(Arc::new(s.encoder()?));
    let mut sink = for_the_shards(s, sink).await?;
    let mut reshards = plan.reshards.iter().peekable();
    let mut done = Vec::new();
    // The malformed records' partition keys, and the sink's keys and jitter, from the seed.
    let mut rng = minutely_aws::rng::seeded(s.input.seed);
    let mut events_sent = 0u64;
    let mut retries = RetriesNoted::default();
    let mut window_open = false;
    for (n, planned) in input.items()?.enumerate() {
        let (item, due, key) = planned?;
        pacer.wait(due, &mut sink).await?;
        if let Some(w) = plan.window {
            if events_sent == w.after_events && switched(&mut window_open, true) {
                to.running.set_faults(plan.sim.clone());
                to.happenings.happened("faults on");
            }
            if w.until_events == Some(events_sent) && switched(&mut window_open, false) {
                to.running.set_faults(plan.calm());
                to.happenings.happened("faults off");
            }
        }
        while let Some((after, change)) = reshards.next_if(|(after, _)| events_sent >= *after) {
            sink.flush().await?;
            let what = minutely_aws::kinesis::reshard(to.kinesis, to.stream, *change, Duration::from_secs(60)).await?;
            to.happenings.happened(&what);
            done.push(format!("{what} after {after} events"));
            sink = for_the_shards(s, sink).await?;
        }
        match item {
            Payload::Event(e) => {
                sink.send(Sourced { event: e, due: None, key }, p.partition_key).await?;
                events_sent += 1;
                to.happenings.set_events_put(events_sent);
            }
            Payload::Malformed(bytes) => {
                let pk = format!("{:032x}", rng.random::<u128>());
                sink.send_raw(bytes, pk).await?;
            }
        }
        to.produced.store(n as u64 + 1, Ordering::Relaxed);
        retries.note(&sink);
    }
    sink.flush().await?;
    retries.note(&sink);
    let sent = sink.stats();
    if sent.failed > 0 || sent.rejected > 0 {
        bail!("the producer could not put {} records ({} refused)", sent.failed, sent.rejected);
    }
    Ok(Produced {
        seconds: pacer.elapsed().as_secs_f64(),
        retried: sent.retried,
        reshards: done,
        timeline: sink.timeline.take().unwrap_or_default(),
        retried_at: retries.at,
    })
}

/// Moves the window to `open`; whether that changed it (malformed records between events see
/// the same count twice).
fn switched(window: &mut bool, open: bool) -> bool {
    std::mem::replace(window, open) != open
}

/// The user's producer (`[producer] command`): the run's records written to a file, one per
/// line in the pipeline's record format (`<the run's folder>/input.<format>`), then the program
/// run with the environment of [`crate::program`] until it ends or the deadline.
pub(crate) async fn run_users(
    s: &Scenario,
    program: &crate::spec::Program,
    input: &Input,
    setting: &Setting<'_>,
) -> anyhow::Result<(Produced, ProgramRun)> {
    let file = setting.dir.join(format!("input.{}", setting.format));
    write_records(s, input, &file)?;
    let log = setting.dir.join("producer.log");
    let ran = crate::program::run(program, setting, Some(&file), &log, std::future::pending()).await?;
    let produced = Produced {
        seconds: ran.seconds,
        retried: 0,
        reshards: Vec::new(),
        timeline: Timeline::default(),
        retried_at: Vec::new(),
    };
    Ok((produced, ran))
}

/// The run's records, one per line: events in the pipeline's record format, malformed records
/// as they are.
fn write_records(s: &Scenario, input: &Input, path: &std::path::Path) -> anyhow::Result<()> {
    let encoder = s.encoder()?;
    let mut out =
        std::io::BufWriter::new(std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?);
    let mut record = Vec::new();
    for item in input.items()? {
        record.clear();
        match item?.0 {
            Payload::Event(e) => {
                encoder.encode(&e, &mut record).map_err(|e| anyhow::anyhow!("encoding an event: {e}"))?
            }
            Payload::Malformed(bytes) => record.extend_from_slice(&bytes),
        }
        if record.last() != Some(&b'\n') {
            record.push(b'\n');
        }
        out.write_all(&record)?;
    }
    out.flush().with_context(|| format!("writing {}", path.display()))
}

/// The sink set up for the stream's open shards (at the start and after each reshard: their
/// hash key ranges): the shard rate limiter and the packer, where the scenario has them.
async fn for_the_shards(s: &Scenario, mut sink: KinesisSink) -> anyhow::Result<KinesisSink> {
    if s.pipeline.rate_limit {
        sink = sink.with_shard_rate_limit().await?;
    }
    if let Some(packing) = s.pipeline.aggregation {
        sink = sink.with_aggregation(packing, DEFAULT_MAX_BYTES).await?;
    }
    Ok(sink)
}

/// The entries the sink retried, noted with when.
#[derive(Default)]
struct RetriesNoted {
    at: Vec<(Instant, u64)>,
    so_far: u64,
}

impl RetriesNoted {
    /// Notes the entries retried since the last note.
    fn note(&mut self, sink: &KinesisSink) {
        let retried = sink.stats().retried;
        if retried > self.so_far {
            self.at.push((clock::now(), retried - self.so_far));
            self.so_far = retried;
        }
    }
}
