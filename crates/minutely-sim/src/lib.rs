//! `minutely sim`: an embedded Kinesis + S3 emulator.
//!
//! Correct where it matters to a stream pipeline (sequence numbers, routing, resharding with
//! closed parents that keep their records, iterators, retention), fast at any shard fill
//! (every read and write is an index into the shard), AWS's per-shard limits on by default, and
//! seeded faults that no other emulator has: per-entry PutRecords failures, applied calls whose
//! answer is lost, whole-call errors, latency, iterator expiry, S3 503s.
//!
//! ```no_run
//! # async fn f() -> std::io::Result<()> {
//! let sim = minutely_sim::Sim::start(minutely_sim::Config::default()).await?;
//! println!("export AWS_ENDPOINT_URL={}", sim.endpoint());
//! # Ok(()) }
//! ```
//!
//! Everything listens on loopback only. Dropping the [`Sim`] stops it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;

pub mod clock;
pub mod faults;
pub mod kinesis;
pub mod limits;
pub mod s3;
mod server;

pub use clock::Clock;
pub use faults::Faults;

/// The answer of [`Sim::call`], boxed (see [`Sim::handler`]).
pub type Answer = std::pin::Pin<Box<dyn std::future::Future<Output = Option<http::Response<bytes::Bytes>>> + Send>>;

/// How a sim starts.
#[derive(Clone, Debug)]
pub struct Config {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// AWS's per-shard limits (1,000 records/s and 1 MiB/s in; 5 calls/s and 2 MiB/s out).
    pub limits: bool,
    /// Faults from the start; `/_sim/faults` changes them while running.
    pub faults: Faults,
    pub clock: Clock,
}

impl Default for Config {
    fn default() -> Config {
        Config { port: 0, limits: true, faults: Faults::default(), clock: Clock::system() }
    }
}

/// What the sim has seen and done, for `/_sim/stats` and [`Sim::stats`].
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Calls per operation (`PutRecords`, `s3:PutObject`...).
    pub calls: BTreeMap<String, u64>,
    /// Whole-call errors injected, per operation.
    pub errors_injected: BTreeMap<String, u64>,
    /// PutRecords entries failed by the fault dice.
    pub entries_failed_injected: u64,
    /// PutRecords entries refused by the per-shard write limits.
    pub entries_throttled: u64,
    /// GetRecords calls refused by the per-shard read limits.
    pub reads_throttled: u64,
    /// Entries refused by the write limits, per `stream/shardId`.
    pub entries_throttled_by_shard: BTreeMap<String, u64>,
    /// GetRecords calls refused by the read limits, per `stream/shardId`.
    pub reads_throttled_by_shard: BTreeMap<String, u64>,
    /// Calls applied whose answer was lost.
    pub answers_lost: u64,
    pub iterators_expired: u64,
    pub records_read: u64,
    pub records_stored: u64,
    pub record_bytes_stored: u64,
    pub objects_stored: u64,
    pub object_bytes_stored: u64,
}

#[derive(Debug, Default)]
pub(crate) struct StatsCell(Mutex<Stats>);

impl StatsCell {
    pub(crate) fn bump(&self, f: impl FnOnce(&mut Stats)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Counts a call and returns its number among this operation's calls (from 0).
    pub(crate) fn call(&self, op: &str) -> u64 {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = s.calls.entry(op.to_owned()).or_default();
        *n += 1;
        *n - 1
    }

    /// Counts the entries the fault dice failed (those the limits refused are counted where
    /// the limits are applied, in the state).
    pub(crate) fn injected(&self, fates: &[kinesis::state::Fate]) {
        let injected = fates.iter().filter(|f| matches!(f, kinesis::state::Fate::Fail(_))).count() as u64;
        self.bump(|s| s.entries_failed_injected += injected);
    }
}

/// State shared by every connection.
#[derive(Debug)]
pub(crate) struct Shared {
    pub kinesis: Mutex<kinesis::state::Kinesis>,
    pub s3: Arc<s3::Store>,
    pub faults: RwLock<Faults>,
    pub initial_faults: Faults,
    pub limits: bool,
    pub clock: Clock,
    pub stats: StatsCell,
}

impl Shared {
    pub(crate) fn new(config: &Config) -> Shared {
        Shared {
            kinesis: Mutex::new(kinesis::state::Kinesis::new(config.limits)),
            s3: Arc::new(s3::Store::new(config.clock.clone())),
            faults: RwLock::new(config.faults.clone()),
            initial_faults: config.faults.clone(),
            limits: config.limits,
            clock: config.clock.clone(),
            stats: StatsCell::default(),
        }
    }

    fn stats(&self) -> Stats {
        let mut s = self.stats.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let k = self.kinesis.lock().unwrap_or_else(|e| e.into_inner());
        (s.records_stored, s.record_bytes_stored) = k.stored();
        s.entries_throttled = k.limit_stats.write_entries_throttled;
        s.reads_throttled = k.limit_stats.read_calls_throttled;
        s.entries_throttled_by_shard = k.limit_stats.write_entries_throttled_by_shard.clone();
        s.reads_throttled_by_shard = k.limit_stats.read_calls_throttled_by_shard.clone();
        drop(k);
        (s.objects_stored, s.object_bytes_stored) = self.s3.stored();
        s
    }

    fn reset(&self) {
        *self.kinesis.lock().unwrap_or_else(|e| e.into_inner()) = kinesis::state::Kinesis::new(self.limits);
        self.s3.clear();
        *self.faults.write().unwrap_or_else(|e| e.into_inner()) = self.initial_faults.clone();
        *self.stats.0.lock().unwrap_or_else(|e| e.into_inner()) = Stats::default();
    }
}

/// A running sim. Dropping it stops the server (connections in flight end with it).
#[derive(Debug)]
pub struct Sim {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Sim {
    /// Binds 127.0.0.1 and serves on the current tokio runtime.
    pub async fn start(config: Config) -> std::io::Result<Sim> {
        if let Err(e) = config.faults.validate() {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("faults: {e}")));
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(&config));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(server::serve(listener, shared.clone(), stopped));
        Ok(Sim { addr, shared, stop: Some(stop), task: Some(task) })
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Replaces the faults (as `POST /_sim/faults` does).
    pub fn set_faults(&self, faults: Faults) -> Result<(), String> {
        faults.validate()?;
        *self.shared.faults.write().unwrap_or_else(|e| e.into_inner()) = faults;
        Ok(())
    }

    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// Answers one request without a socket, as the port would: the in-process transport
    /// (`minutely_aws::in_process`) that lets a test run the SDK, the sim and the code under test
    /// on one runtime, under tokio's paused clock. `None`: an injected fault lost the answer
    /// (the port would close the connection).
    pub async fn call(&self, request: http::Request<bytes::Bytes>) -> Option<http::Response<bytes::Bytes>> {
        let request = request.map(http_body_util::Full::new);
        let response = server::handle(self.shared.clone(), request).await.ok()?;
        let (parts, body) = response.into_parts();
        let body = http_body_util::BodyExt::collect(body).await.map(|b| b.to_bytes()).unwrap_or_else(|e| match e {});
        Some(http::Response::from_parts(parts, body))
    }

    /// [`Sim::call`] as a function that owns the sim: `minutely_aws::in_process_clients(sim.handler())`.
    pub fn handler(self: &Arc<Self>) -> impl Fn(http::Request<bytes::Bytes>) -> Answer + Send + Sync + 'static {
        let sim = self.clone();
        move |request| {
            let sim = sim.clone();
            Box::pin(async move { sim.call(request).await })
        }
    }

    /// Stops serving and waits until the listener is closed.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
