//! SIGINT and SIGTERM, for commands that stop gracefully on either.

use std::fmt;
use std::sync::{Arc, OnceLock};

/// The signal that asked a command to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    /// 130 for SIGINT, 143 for SIGTERM: what a shell reports for a process killed by them.
    pub fn exit_code(self) -> i32 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        })
    }
}

/// SIGINT and SIGTERM, registered once: from then on neither kills the process by default.
pub struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals { int: signal(SignalKind::interrupt())?, term: signal(SignalKind::terminate())? })
    }

    /// The next SIGINT or SIGTERM.
    pub async fn recv(&mut self) -> Signal {
        tokio::select! {
            _ = self.int.recv() => Signal::Interrupt,
            _ = self.term.recv() => Signal::Terminate,
        }
    }
}

/// Waits for SIGINT (Ctrl-C) or SIGTERM.
pub async fn wait() -> std::io::Result<Signal> {
    Ok(Signals::new()?.recv().await)
}

/// Watches for a stop, on the current runtime: the first SIGINT or SIGTERM runs `graceful`
/// (the command's own stopping path) and is kept in the returned cell, so the command can exit
/// with its code once it has stopped; a second one exits at once with its own code.
pub fn watch(graceful: impl FnOnce(Signal) + Send + 'static) -> std::io::Result<Arc<OnceLock<Signal>>> {
    watch_with(graceful, String::new)
}

/// [`watch`], and on the second signal `account` says what is left undone (`: 500 events not
/// sent`), before the exit.
pub fn watch_with(
    graceful: impl FnOnce(Signal) + Send + 'static,
    account: impl FnOnce() -> String + Send + 'static,
) -> std::io::Result<Arc<OnceLock<Signal>>> {
    let mut signals = Signals::new()?;
    let got = Arc::new(OnceLock::new());
    let cell = got.clone();
    tokio::spawn(async move {
        let first = signals.recv().await;
        let _ = cell.set(first);
        graceful(first);
        let second = signals.recv().await;
        eprintln!("\nminutely: {second} again: stopping at once{}", account());
        std::process::exit(second.exit_code());
    });
    Ok(got)
}
