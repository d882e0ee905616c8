//! Does a Docker engine answer? Only a ping of its API socket tells: the `docker` client can be
//! installed with no engine behind it, as on these CI machines.

use std::io::{Read, Write};
use std::time::Duration;

/// `true` when `GET /_ping` on `DOCKER_HOST` (or `/var/run/docker.sock`) answers `OK`.
pub fn docker_answers() -> bool {
    let host = std::env::var("DOCKER_HOST").unwrap_or_default();
    let timeout = Some(Duration::from_secs(2));
    if let Some(addr) = host.strip_prefix("tcp://") {
        std::net::TcpStream::connect(addr).is_ok_and(|s| s.set_read_timeout(timeout).is_ok() && ping(s))
    } else {
        let path = host.strip_prefix("unix://").filter(|p| !p.is_empty()).unwrap_or("/var/run/docker.sock");
        std::os::unix::net::UnixStream::connect(path).is_ok_and(|s| s.set_read_timeout(timeout).is_ok() && ping(s))
    }
}

fn ping(mut stream: impl Read + Write) -> bool {
    let mut answer = Vec::new();
    stream.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n").is_ok()
        && stream.take(4096).read_to_end(&mut answer).is_ok()
        && answer.starts_with(b"HTTP/1.")
        && answer.windows(4).any(|w| w == b" 200")
        && answer.ends_with(b"OK")
}
