//! An instance dies with its owner, however the owner dies (SIGKILL, an abort, the OOM killer).
//!
//! The watchdog is a `sh` process in its own process group, deaf to SIGINT, SIGTERM and SIGHUP,
//! that reads a pipe whose only writer is the owner (the write end is close-on-exec, so no other
//! child inherits it). The kernel closes the pipe when the owner exits; the watchdog then sends
//! SIGTERM to the instance's process group, waits the grace period, sends SIGKILL to the group,
//! and kills every process that still carries the instance's marker (kinesis-mock included).
//! On a normal stop the owner has already done all of that; the watchdog finds nothing and exits.

use std::io;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SCRIPT: &str = r#"
trap '' INT TERM HUP
cat >/dev/null
kill -TERM -"$2" 2>/dev/null
i=0
while [ "$i" -lt "$3" ] && kill -0 -"$2" 2>/dev/null; do sleep 0.1; i=$((i+1)); done
kill -KILL -"$2" 2>/dev/null
for e in /proc/[0-9]*/environ; do
  if tr '\0' '\n' <"$e" 2>/dev/null | grep -qx "$1"; then
    p=${e#/proc/}
    kill -KILL "${p%/environ}" 2>/dev/null
  fi
done
"#;

/// A running watchdog; dropping it (with its owner's end of the pipe) lets it finish.
#[derive(Debug)]
pub struct Watchdog {
    child: Child,
}

impl Watchdog {
    /// Watches the process group `pgid` and every process whose environment holds `marker`
    /// (`NAME=VALUE`).
    pub fn spawn(marker: &str, pgid: i32, grace: Duration) -> io::Result<Watchdog> {
        let tenths = (grace.as_millis() / 100).max(1).to_string();
        let mut command = Command::new("sh");
        command
            .args(["-c", SCRIPT, "minutely-watchdog", marker, &pgid.to_string(), &tenths])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        Ok(Watchdog { child: command.spawn()? })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn carrying(marker: &str) -> Vec<i32> {
        crate::host::processes_with(marker)
    }

    /// When its pipe closes, the watchdog stops the group and every process with the marker,
    /// also one that left the group (as kinesis-mock could).
    #[test]
    fn the_watchdog_stops_the_group_and_the_marked_strays() {
        let marker = format!("MINUTELY_WATCHDOG_TEST={}", std::process::id());
        let (name, value) = marker.split_once('=').unwrap();
        let mut group = Command::new("sh");
        group.args(["-c", "sleep 300 & sleep 300; true"]).env(name, value);
        std::os::unix::process::CommandExt::process_group(&mut group, 0);
        let mut leader = group.spawn().unwrap();
        let mut stray = Command::new("sleep");
        stray.arg("300").env(name, value);
        std::os::unix::process::CommandExt::process_group(&mut stray, 0);
        let mut stray = stray.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(carrying(&marker).len(), 4, "sh, its two sleeps and the stray");
        let dog = Watchdog::spawn(&marker, leader.id() as i32, Duration::from_secs(2)).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(carrying(&marker).len(), 4, "nothing happens while the owner holds the pipe");
        drop(dog); // the pipe closes, as it would if this process had been killed
        let _ = leader.wait();
        let _ = stray.wait();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !carrying(&marker).is_empty() {
            assert!(std::time::Instant::now() < deadline, "left: {:?}", carrying(&marker));
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
