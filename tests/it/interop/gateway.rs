//! The `syncgate` gateway under test as a process: started on a loopback port with its own data
//! directory (or SyncEvolution's reference server, `reference.rs`), restarted, killed or stopped
//! by its pid, and its log and peak memory read. Used through `harness`.

#![allow(dead_code)] // a toolkit: not every test uses every helper

use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::harness::{read_lossy, tail, TempDir};
use super::reference::{self, ReferenceServer};

/// How long a gateway may take to print its `listening on http://` line.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running gateway with its own data directory, stopped (by pid) and cleaned up on drop.
pub struct Gateway {
    addr: SocketAddr,
    server: Server,
    dir: TempDir,
}

enum Server {
    Syncgate { child: Child, data_dir: PathBuf, log: PathBuf, config: Option<PathBuf> },
    Reference(ReferenceServer),
}

impl Gateway {
    /// Starts `syncgate serve --listen 127.0.0.1:0 --data-dir DIR [--config FILE]` and waits
    /// (up to 20 s) for its `listening on http://ADDR` line on stderr.
    pub fn start(config_toml: Option<&str>) -> Gateway {
        let dir = TempDir::new("gateway");
        if reference::selected() {
            let server = ReferenceServer::start(dir.path());
            return Gateway { addr: server.addr(), server: Server::Reference(server), dir };
        }
        let data_dir = dir.path().join("data");
        fs::create_dir_all(&data_dir).expect("create the gateway data dir");
        let log = dir.path().join("syncgate.stderr.log");
        let config = config_toml.map(|toml| {
            let config = dir.path().join("syncgate.toml");
            fs::write(&config, toml).expect("write the gateway config");
            config
        });
        let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let (child, addr) = spawn_syncgate(listen, &data_dir, config.as_deref(), &log);
        Gateway { addr, server: Server::Syncgate { child, data_dir, log, config }, dir }
    }

    /// Kills the gateway with SIGKILL (no chance to clean up) and starts it again on the same
    /// address, data directory and configuration; its log continues in the same file. Devices
    /// keep working with the same URL. Panics for the reference server.
    pub fn restart(&mut self) {
        self.kill();
        self.start_again();
    }

    /// Asks the gateway to stop: SIGTERM to its pid. Panics for the reference server.
    pub fn send_term(&self) {
        let Server::Syncgate { child, .. } = &self.server else {
            panic!("send_term() is only implemented for syncgate");
        };
        let sent = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {} failed", child.id());
    }

    /// Waits (up to 30 s) until the gateway has exited; its exit status.
    pub fn wait_stopped(&mut self) -> std::process::ExitStatus {
        let Server::Syncgate { child, .. } = &mut self.server else {
            panic!("wait_stopped() is only implemented for syncgate");
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "the gateway did not stop within 30 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the (stopped) gateway again on the same address, data directory and
    /// configuration; its log continues in the same file.
    pub fn start_again(&mut self) {
        let Server::Syncgate { child, data_dir, log, config } = &mut self.server else {
            panic!("restart() is only implemented for syncgate");
        };
        // The port was just freed; a rebind can race with the kernel for a moment.
        let started = Instant::now();
        loop {
            let (new_child, addr) = match try_spawn_syncgate(self.addr, data_dir, config.as_deref(), log) {
                Ok(started) => started,
                Err(text) if started.elapsed() < START_TIMEOUT && text.contains("cannot listen") => {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                Err(text) => panic!("restarting syncgate on {} failed:\n{text}", self.addr),
            };
            assert_eq!(addr, self.addr, "the restarted gateway listens elsewhere");
            *child = new_child;
            return;
        }
    }

    /// Kills the gateway with SIGKILL (by pid) and waits for it; a no-op when it is not running.
    pub fn kill(&mut self) {
        if let Server::Syncgate { child, .. } = &mut self.server {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The sync endpoint, `http://127.0.0.1:PORT/sync`.
    pub fn url(&self) -> String {
        format!("http://{}/sync", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `syncgate user add NAME --password PW --data-dir DIR`; panics with its output on failure.
    pub fn add_user(&self, name: &str, password: &str) {
        let data_dir = match &self.server {
            Server::Syncgate { data_dir, .. } => data_dir,
            Server::Reference(server) => return server.add_user(name, password),
        };
        let out = Command::new(env!("CARGO_BIN_EXE_syncgate"))
            .args(["user", "add", name, "--password", password, "--data-dir"])
            .arg(data_dir)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .expect("run syncgate user add");
        assert!(
            out.status.success(),
            "syncgate user add {name} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The gateway's data directory (`syncgate.db` inside); `None` for the reference server.
    pub fn data_dir(&self) -> Option<&Path> {
        match &self.server {
            Server::Syncgate { data_dir, .. } => Some(data_dir),
            Server::Reference(_) => None,
        }
    }

    /// The gateway process's peak resident set size so far (`VmHWM` of `/proc/PID/status`), in
    /// KiB; `None` for the reference server or when it is not running.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let Server::Syncgate { child, .. } = &self.server else { return None };
        let status = fs::read_to_string(format!("/proc/{}/status", child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Resets the peak RSS the kernel tracks for the gateway to its current RSS (`echo 5 >
    /// /proc/PID/clear_refs`), so [`Gateway::peak_rss_kib`] measures from now on.
    pub fn reset_peak_rss(&self) {
        if let Server::Syncgate { child, .. } = &self.server {
            fs::write(format!("/proc/{}/clear_refs", child.id()), "5").expect("reset the gateway's VmHWM");
        }
    }

    /// What the gateway wrote to stderr so far.
    pub fn log(&self) -> String {
        match &self.server {
            Server::Syncgate { log, .. } => read_lossy(log),
            Server::Reference(server) => server.log(),
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- gateway {} log (last 80 lines):\n{}", self.addr, tail(&self.log(), 80));
        }
        match &mut self.server {
            Server::Syncgate { child, .. } => {
                let _ = child.kill(); // by pid (SIGKILL)
                let _ = child.wait();
            }
            Server::Reference(server) => server.stop(),
        }
    }
}

/// Starts `syncgate serve` on `listen`; panics with its stderr unless it announces its address.
fn spawn_syncgate(listen: SocketAddr, data_dir: &Path, config: Option<&Path>, log: &Path) -> (Child, SocketAddr) {
    try_spawn_syncgate(listen, data_dir, config, log).unwrap_or_else(|text| panic!("{text}"))
}

/// Starts `syncgate serve --listen LISTEN --data-dir DIR [--config FILE]` with stderr appended
/// to `log` and waits (up to 20 s) for the `listening on http://ADDR` line it writes this time.
/// On failure returns what it printed.
fn try_spawn_syncgate(
    listen: SocketAddr,
    data_dir: &Path,
    config: Option<&Path>,
    log: &Path,
) -> Result<(Child, SocketAddr), String> {
    let offset = fs::metadata(log).map(|m| m.len() as usize).unwrap_or(0);
    let log_file = fs::OpenOptions::new().create(true).append(true).open(log).expect("open the gateway log file");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_syncgate"));
    cmd.args(["serve", "--listen"]).arg(listen.to_string()).arg("--data-dir").arg(data_dir);
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    let mut child = cmd
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", env!("CARGO_BIN_EXE_syncgate")));
    let started = Instant::now();
    let addr = loop {
        let text = read_lossy(log);
        let text = text.get(offset..).unwrap_or("");
        if let Some(addr) = listening_addr(text) {
            break addr;
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("syncgate serve exited ({status}) before listening; its stderr:\n{text}"));
        }
        if started.elapsed() > START_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "syncgate serve printed no `listening on http://ADDR` within {START_TIMEOUT:?}; its stderr:\n{text}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(addr.ip().is_loopback(), "syncgate listens on {addr}, not on loopback");
    Ok((child, addr))
}

/// The address of the first `listening on http://ADDR` in `log` (ANSI colours removed).
pub(super) fn listening_addr(log: &str) -> Option<SocketAddr> {
    let plain = strip_ansi(log);
    let (_, rest) = plain.split_once("listening on http://")?;
    let addr: String =
        rest.chars().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']')).collect();
    addr.parse().ok().or_else(|| {
        // `localhost:PORT` and friends: only the port matters, we always listen on 127.0.0.1.
        let port = addr.rsplit_once(':')?.1.parse().ok()?;
        Some(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
    })
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
