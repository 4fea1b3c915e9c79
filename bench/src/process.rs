//! Server processes under measurement: started pinned to one core, found by the address they print,
//! watched through `/proc`, and stopped with SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long a server may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a server may take to shut down after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running server process.
pub struct Server {
    pub name: String,
    pub addr: SocketAddr,
    pub pid: u32,
    pub log: PathBuf,
    child: Child,
}

/// Starts `program args…` under `taskset -c <core>` and waits until it prints `http://<addr>` on
/// stdout. Its stderr goes to `log`.
pub async fn spawn_pinned(
    name: &str,
    core: usize,
    program: &Path,
    args: &[String],
    log: &Path,
) -> anyhow::Result<Server> {
    let log_file = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    // taskset execs the program, so the child's pid is the server's own.
    let mut child = Command::new("taskset")
        .arg("-c")
        .arg(core.to_string())
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file))
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting taskset -c {core} {}", program.display()))?;
    let pid = child.id().context("the child has a pid")?;
    let stdout = child.stdout.take().context("the child's stdout is piped")?;
    let mut lines = BufReader::new(stdout).lines();
    let found = tokio::time::timeout(START_TIMEOUT, async {
        while let Some(line) = lines.next_line().await? {
            if let Some(addr) = address_in(&line) {
                return Ok(addr);
            }
        }
        anyhow::bail!("it exited before listening")
    })
    .await;
    let addr = match found {
        Ok(Ok(addr)) => addr,
        Ok(Err(e)) => return Err(e.context(format!("{name} did not start; see {}", log.display()))),
        Err(_) => anyhow::bail!("{name} printed no address within {START_TIMEOUT:?}; see {}", log.display()),
    };
    // Whatever else it prints is drained, so a chatty server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Server { name: name.to_string(), addr, pid, log: log.to_path_buf(), child })
}

/// The socket address in a line such as `Plaza is running at http://127.0.0.1:41234/ (…)`.
fn address_in(line: &str) -> Option<SocketAddr> {
    let rest = line.split("http://").nth(1)?;
    let end = rest.find(|c: char| c == '/' || c.is_whitespace()).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

impl Server {
    /// Resident memory, from `VmRSS` in `/proc/<pid>/status`.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        status_field(self.pid, "VmRSS:")?.trim_end_matches("kB").trim().parse().context("VmRSS is a number of kB")
    }

    /// The cores the process may run on, from `Cpus_allowed_list`.
    pub fn cpus(&self) -> anyhow::Result<String> {
        status_field(self.pid, "Cpus_allowed_list:")
    }

    /// Sends SIGTERM and waits for a graceful exit; kills the process if it takes too long.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill").arg("-TERM").arg(self.pid.to_string()).status().await;
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(status) => {
                let status = status?;
                anyhow::ensure!(status.success(), "{} exited with {status}; see {}", self.name, self.log.display());
                Ok(())
            }
            Err(_) => {
                let _ = self.child.kill().await;
                anyhow::bail!("{} did not stop within {STOP_TIMEOUT:?} and was killed", self.name)
            }
        }
    }
}

fn status_field(pid: u32, key: &str) -> anyhow::Result<String> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.trim().to_string())
        .with_context(|| format!("no {key} in {path}"))
}

/// Clock ticks a second in `/proc/<pid>/stat` (USER_HZ, 100 on every Linux architecture).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time a process has used, user and system, in clock ticks.
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // The command name may contain spaces and parentheses; the fields after its last `)` do not.
    let rest = stat.rsplit_once(')').context("stat has a command name")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, the 12th and 13th after the name.
    let field = |i: usize| -> anyhow::Result<u64> {
        fields.get(i).context("stat is too short")?.parse().with_context(|| format!("field {i} of {path}"))
    };
    Ok(field(11)? + field(12)?)
}

/// How busy a server and this process (the load generator) were, in cores, and the share of the
/// machine's CPU time its host took meanwhile (`steal` in `/proc/stat`): on a virtual machine a
/// busy host slows both the probe and Plaza, and not always in the same run, so a report says it.
#[derive(Debug, Clone, Copy)]
pub struct CpuUse {
    pub server: f64,
    pub generator: f64,
    pub stolen: f64,
}

impl CpuUse {
    /// `[CPU server 98%, generator 40%, stolen 2%]`: which side was the limit, and whether the host
    /// took the machine's time.
    pub fn note(&self) -> String {
        self.noted("")
    }

    /// Like [`CpuUse::note`], with the server's CPU time per operation at `per_second` operations:
    /// a cost that, unlike the rate, does not depend on whether the disk or the host was the limit.
    pub fn note_per_op(&self, per_second: f64) -> String {
        self.noted(&format!(" = {:.1} µs each", self.server * 1e6 / per_second.max(1e-9)))
    }

    fn noted(&self, per_op: &str) -> String {
        format!(
            "[CPU server {:.0}%{per_op}, generator {:.0}%, stolen {:.0}%]",
            self.server * 100.0,
            self.generator * 100.0,
            self.stolen * 100.0
        )
    }
}

/// The machine's CPU time, all of it and what its host took (`steal`), in clock ticks.
fn machine_ticks() -> anyhow::Result<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let line = stat.lines().next().filter(|l| l.starts_with("cpu ")).context("/proc/stat has no cpu line")?;
    let fields = line.split_whitespace().skip(1).map(str::parse::<u64>).collect::<Result<Vec<_>, _>>()?;
    // user nice system idle iowait irq softirq steal (guest time is counted in user already).
    let total = fields.iter().take(8).sum();
    Ok((total, fields.get(7).copied().unwrap_or(0)))
}

/// Runs `work` and measures how busy the server and this process were meanwhile.
pub async fn metered<T>(server_pid: u32, work: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<(T, CpuUse)> {
    let meter = CpuMeter::start(server_pid)?;
    let out = work.await?;
    Ok((out, meter.read()?))
}

/// Measures [`CpuUse`] from its start to a reading.
pub struct CpuMeter {
    server_pid: u32,
    started: std::time::Instant,
    server_ticks: u64,
    own_ticks: u64,
    machine_ticks: (u64, u64),
}

impl CpuMeter {
    pub fn start(server_pid: u32) -> anyhow::Result<CpuMeter> {
        Ok(CpuMeter {
            server_pid,
            started: std::time::Instant::now(),
            server_ticks: cpu_ticks(server_pid)?,
            own_ticks: cpu_ticks(std::process::id())?,
            machine_ticks: machine_ticks()?,
        })
    }

    pub fn read(&self) -> anyhow::Result<CpuUse> {
        let seconds = self.started.elapsed().as_secs_f64().max(1e-3) * TICKS_PER_SECOND;
        let server = cpu_ticks(self.server_pid)?.saturating_sub(self.server_ticks) as f64 / seconds;
        let generator = cpu_ticks(std::process::id())?.saturating_sub(self.own_ticks) as f64 / seconds;
        let (total, steal) = machine_ticks()?;
        let stolen = steal.saturating_sub(self.machine_ticks.1) as f64
            / total.saturating_sub(self.machine_ticks.0).max(1) as f64;
        Ok(CpuUse { server, generator, stolen })
    }
}

/// The cores this process may run on.
pub fn own_cpus() -> anyhow::Result<String> {
    status_field(std::process::id(), "Cpus_allowed_list:")
}

/// The soft limit on open files of this process (children inherit it).
pub fn open_files_limit() -> anyhow::Result<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").context("reading /proc/self/limits")?;
    let line = text.lines().find(|l| l.starts_with("Max open files")).context("no open-files limit")?;
    let soft = line.trim_start_matches("Max open files").split_whitespace().next().context("limit value")?;
    Ok(if soft == "unlimited" { u64::MAX } else { soft.parse().context("limit is a number")? })
}

/// The 1-, 5- and 15-minute load averages, which tell how noisy the machine was.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_cpu_time() {
        let meter = CpuMeter::start(std::process::id()).unwrap();
        let used = meter.read().unwrap();
        assert!(used.server >= 0.0 && used.generator >= 0.0);
    }

    #[test]
    fn finds_the_printed_address() {
        let plaza = "Plaza is running at http://127.0.0.1:41234/ (store: SQLite at x; Ctrl-C to stop)";
        assert_eq!(address_in(plaza), Some("127.0.0.1:41234".parse().unwrap()));
        assert_eq!(address_in("probe listening on http://127.0.0.1:9"), Some("127.0.0.1:9".parse().unwrap()));
        assert_eq!(address_in("nothing here"), None);
    }
}
