//! What makes a run again, and what may differ when it is: a report's `replay` (the clock, the
//! seed, the build, the command, a digest of the sim's whole state at the end) and its `wall`
//! (every figure read off the machine's clock, and where and when it ran). On virtual time two
//! runs of one scenario, seed and build give the same report byte for byte outside `wall`.

use serde::Serialize;

use crate::clock::ClockMode;

/// How to make this run again.
#[derive(Clone, Debug, Serialize)]
pub struct Replay {
    pub clock: ClockMode,
    /// The scenario's seed: its generator, the sim's fault decisions, every jitter.
    pub seed: u64,
    /// minutely's version and commit, set by the command that ran it (`None` in a test).
    pub build: Option<String>,
    /// The command that runs it again (on real time: runs it again, with other timings).
    pub command: String,
    /// On the sim: SHA-256 of its whole state at the end, as `GET /_sim/state` answers it: every stream's records with their sequence numbers and arrival times, every S3
    /// object's bytes. Two replays agree on it exactly on virtual time.
    pub state_sha256: Option<String>,
}

impl Replay {
    /// The command for `name` on `backend` with `seed` on `clock` (the CLI adds what it was
    /// given beyond those: `--events`, `--timeout`).
    pub fn new(name: &str, backend: &str, seed: u64, clock: ClockMode) -> Replay {
        let command = format!("minutely scenario {name} --backend {backend} --clock {clock} --seed {seed}");
        Replay { clock, seed, build: None, command, state_sha256: None }
    }
}

/// When, with what build, where and how a run was made: two saved reports can be told apart.
#[derive(Clone, Debug, Serialize)]
pub struct Provenance {
    /// When the run started, RFC 3339 UTC.
    pub started_at: String,
    /// minutely's version and the git commit it was built from (`-dirty`: with uncommitted
    /// changes; `unknown`: built outside a git checkout).
    pub version: String,
    pub commit: String,
    /// The machine: its name, cores and memory.
    pub host: String,
    pub cores: usize,
    pub memory_gib: f64,
    /// The command line, as typed.
    pub command: String,
    /// The scenario's seed (its generator, and the sim's faults).
    pub seed: u64,
}

/// How long the engine's own steps took on the machine's clock, and the memory of the process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Engine {
    /// The first pass over the input: generating or reading it, and the model's counts.
    pub input_and_model_seconds: f64,
    /// Listing, reading and summing the objects in S3.
    pub read_back_seconds: f64,
    /// Joining the producer's timeline with what the consumer read and wrote.
    pub latency_join_seconds: f64,
    /// The process's peak resident memory so far (Linux's `VmHWM`; `None` elsewhere): the
    /// run's own peak when it is the only one in its process, as with `minutely scenario`.
    pub peak_rss_bytes: Option<u64>,
}

impl Engine {
    pub(crate) fn peak_rss() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kb: u64 = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb * 1024)
    }
}

/// What only this run's machine and moment say: wall-clock figures, and where and when.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Wall {
    /// The run from start to end, in seconds of the machine's clock.
    pub run_seconds: f64,
    /// Seconds of the run's own clock per second of the machine's: the time compression of a
    /// virtual run (about 1 on real time).
    pub stream_seconds_per_wall_second: f64,
    pub engine: Engine,
    /// When, with what build, where and how (set by the command that ran it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
}

impl Wall {
    /// `wall: 2.1 s for 95.0 s of virtual time (45x) | engine: ...` as one line.
    pub fn render(&self, clock: ClockMode, stream_seconds: f64) -> String {
        let e = &self.engine;
        let rss = e.peak_rss_bytes.map_or(String::new(), |b| format!(" | peak RSS {:.2} GB", b as f64 / 1e9));
        let time = match clock {
            ClockMode::Virtual => format!(
                "{:.1} s for {stream_seconds:.1} s of virtual time ({:.0}x)",
                self.run_seconds, self.stream_seconds_per_wall_second
            ),
            ClockMode::Real => format!("{:.1} s", self.run_seconds),
        };
        format!(
            "  wall: {time} | engine: input and model {:.1} s, S3 read back {:.1} s, latency join {:.1} s{rss}\n",
            e.input_and_model_seconds, e.read_back_seconds, e.latency_join_seconds
        )
    }
}
