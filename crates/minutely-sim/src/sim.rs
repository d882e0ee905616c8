//! A running sim: how it starts ([`Config`]), the state its connections share, and the handle
//! ([`Sim`]) that stops it when dropped.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::clock::Clock;
use crate::connections::{self, Bounds};
use crate::faults::Faults;
use crate::server;
use crate::shared::Shared;
use crate::sigv4::Credentials;
use crate::stats::{Ledger, Stats};

/// The answer of [`Sim::call`], boxed (see [`Sim::handler`]).
pub type Answer = std::pin::Pin<Box<dyn std::future::Future<Output = Option<http::Response<bytes::Bytes>>> + Send>>;

/// How a sim starts.
#[derive(Clone, Debug)]
pub struct Config {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// AWS's per-shard limits (1,000 records/s and 1 MiB/s in; 5 calls/s and 2 MiB/s out).
    pub limits: bool,
    /// AWS's shapes of time and state: CREATING/UPDATING/DELETING delays, empty pages.
    pub shapes: crate::Shapes,
    /// Faults from the start; `/_sim/faults` changes them while running.
    pub faults: Faults,
    pub clock: Clock,
    /// Connections at once and how long an idle one is kept.
    pub bounds: Bounds,
    /// Check every Kinesis and S3 request's SigV4 signature against these credentials (off:
    /// any request is served, signed or not).
    pub signatures: Option<Credentials>,
    /// Start from this state (`minutely sim --state FILE`, `GET /_sim/state`) instead of empty.
    pub state: Option<crate::Snapshot>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            port: 0,
            limits: true,
            shapes: crate::Shapes::default(),
            faults: Faults::default(),
            clock: Clock::system(),
            bounds: Bounds::default(),
            signatures: None,
            state: None,
        }
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
        if let Err(e) = config.shapes.validate() {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("shapes: {e}")));
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
        let addr = listener.local_addr()?;
        let mut shared = Shared::new(config.limits, &config.faults, &config.clock).with_shapes(config.shapes);
        shared.signatures = config.signatures.clone();
        shared.bodies = crate::budget::Budget::new(config.bounds.bodies_in_flight);
        if let Some(state) = &config.state {
            shared
                .restore(state)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("state: {e}")))?;
        }
        let shared = Arc::new(shared);
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(connections::serve(listener, shared.clone(), config.bounds, stopped));
        Ok(Sim { addr, shared, stop: Some(stop), task: Some(task) })
    }

    /// The whole state now (`GET /_sim/state`), for `Config::state`.
    pub fn snapshot(&self) -> crate::Snapshot {
        self.shared.snapshot()
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

    /// What stream `name` was given and where its entries under lost answers were stored (as
    /// `GET /_sim/streams/NAME/ledger` answers). `None`: no such stream.
    pub fn ledger(&self, name: &str) -> Option<Ledger> {
        self.shared.ledger(name)
    }

    /// Keeps, from now on, every record retention trims before anyone read it, in its stream's
    /// ledger ([`Sim::ledger`]'s `trimmed_unread`).
    pub fn keep_trimmed(&self) {
        self.shared.keep_trimmed();
    }

    /// Keeps every S3 PutObject from now on: [`Sim::s3_writes`].
    pub fn journal_s3_writes(&self) {
        self.shared.s3.journal();
    }

    /// Every S3 PutObject since [`Sim::journal_s3_writes`], applied or refused, in order.
    pub fn s3_writes(&self) -> Vec<crate::s3::S3Write> {
        self.shared.s3.writes()
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
        call(self.shared.clone(), request).await
    }

    /// [`Sim::call`] as a function that holds the sim's state (not the sim: the port stops when
    /// the sim is dropped, the in-process answers go on while a handler lives):
    /// `minutely_aws::in_process_clients(sim.handler())`.
    pub fn handler(&self) -> impl Fn(http::Request<bytes::Bytes>) -> Answer + Send + Sync + 'static {
        let shared = self.shared.clone();
        move |request| Box::pin(call(shared.clone(), request))
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

/// One request answered on `shared` ([`Sim::call`]).
async fn call(shared: Arc<Shared>, request: http::Request<bytes::Bytes>) -> Option<http::Response<bytes::Bytes>> {
    let request = request.map(http_body_util::Full::new);
    let response = server::handle(shared, request).await.ok()?;
    let (parts, body) = response.into_parts();
    // A pushed body (SubscribeToShard's events) is taken whole: until the subscription ends
    // or, cut by a fault, as far as it came.
    let body = match http_body_util::BodyExt::collect(body).await {
        Ok(b) => b.to_bytes(),
        Err(_) => return None,
    };
    Some(http::Response::from_parts(parts, body))
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
