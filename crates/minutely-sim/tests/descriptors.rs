//! The sim out of file descriptors: its accept loop spun at 95% of a core and new clients timed
//! out. Now a failed accept pauses (5 ms, doubling to 1 s), is counted, and the sim serves again
//! once descriptors are free. Its own test binary: it lowers this process's descriptor limit
//! (`prlimit`, util-linux), which would starve tests running beside it.

use std::time::{Duration, Instant};

use minutely_sim::{Config, Sim};

/// This process's CPU time (user and system), from /proc/self/stat opened beforehand (out of
/// descriptors, it could not be opened).
fn cpu_time(stat: &mut std::fs::File) -> Duration {
    use std::io::{Read, Seek};
    stat.rewind().unwrap();
    let mut text = String::new();
    stat.read_to_string(&mut text).unwrap();
    let stat = text;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

fn set_descriptor_limit(soft: &str) -> bool {
    std::process::Command::new("prlimit")
        .args(["--pid", &std::process::id().to_string(), &format!("--nofile={soft}:")])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn out_of_descriptors_the_sim_backs_off_and_recovers() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sim = rt.block_on(Sim::start(Config { limits: false, ..Config::default() })).unwrap();
    let mut stat = std::fs::File::open("/proc/self/stat").unwrap();
    let open_before = std::fs::read_dir("/proc/self/fd").unwrap().count();
    let original = std::fs::read_to_string("/proc/self/limits").unwrap();
    let soft = original
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .unwrap()
        .to_owned();
    // Another process (started before the limit is lowered: a child inherits it) holds 60
    // connections: the sim accepts until it has no descriptor left, the rest wait in the backlog.
    let port = sim.addr().port();
    let mut holder = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import socket,sys,time\nsys.stdin.readline()\ns=[socket.create_connection(('127.0.0.1',{port})) for _ in range(60)]\nprint('held',flush=True)\nsys.stdin.read()"
        ))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if !set_descriptor_limit(&(open_before + 16).to_string()) {
        eprintln!("SKIPPED: prlimit (util-linux) could not lower this process's descriptor limit");
        let _ = holder.kill();
        let _ = holder.wait();
        return;
    }
    std::io::Write::write_all(holder.stdin.as_mut().unwrap(), b"go\n").unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(holder.stdout.take().unwrap()), &mut line).unwrap();
    assert_eq!(line.trim(), "held");
    std::thread::sleep(Duration::from_millis(500));
    let (cpu, wall) = (cpu_time(&mut stat), Instant::now());
    std::thread::sleep(Duration::from_secs(3));
    let busy = (cpu_time(&mut stat) - cpu).as_secs_f64() / wall.elapsed().as_secs_f64();
    let errors = sim.stats().connections.accept_errors;
    drop(holder.stdin.take());
    let _ = holder.wait();
    assert!(set_descriptor_limit(&soft), "the limit could not be restored to {soft}");
    eprintln!("out of descriptors for 3 s: {errors} failed accepts, the process busy {:.0}% of a core", busy * 100.0);
    assert!(errors > 0, "the sim never ran out of descriptors: the test did not reach its case");
    assert!(errors < 1_000, "{errors} failed accepts in 3 s: not backing off");
    assert!(busy < 0.3, "the process was busy {:.0}% of a core while out of descriptors", busy * 100.0);
    // Descriptors free again: the sim serves.
    let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(10))).build().into();
    let mut answer = agent.get(format!("{}/_sim/health", sim.endpoint())).call().unwrap();
    assert!(answer.body_mut().read_to_string().unwrap().contains("running"));
}
