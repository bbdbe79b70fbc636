//! Opt-in: run the interop tests against SyncEvolution's own server (`syncevo-http-server`)
//! instead of syncgate, with `SYNCGATE_INTEROP_SERVER=reference`. This checks the tests
//! themselves: an assertion that fails against the reference implementation is a wrong
//! assertion, not a syncgate bug.
//!
//! The reference server picks its configuration by the client's device id, so every device
//! created for such a gateway gets a server-side peer config (all in one context, that is one
//! set of databases per gateway, like one syncgate user). Users are only remembered: a device
//! whose user or password differs from the registered ones is configured with the first
//! registered user's credentials, so it is rejected with 401 as syncgate would reject it.
//! Setup as in `tests/interop/NOTES.md` §4: private dbus-daemon, `syncevo-dbus-server`, the
//! HTTP front end forced onto 127.0.0.1. The reference server handles one session at a time
//! and needs about 5 s per session, so these runs are slow. Must not be used by default.

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::harness::{read_lossy, require_tool, tail};

/// Whether `SYNCGATE_INTEROP_SERVER=reference`.
pub fn selected() -> bool {
    std::env::var("SYNCGATE_INTEROP_SERVER").is_ok_and(|v| v == "reference")
}

/// Gives the device a server-side peer config if `gateway_url` belongs to a reference server
/// (no-op otherwise).
pub fn register_device(gateway_url: &str, device_id: &str, user: &str, password: &str) {
    let shared =
        REGISTRY.lock().expect("registry lock").iter().find(|(url, _)| url == gateway_url).map(|(_, s)| s.clone());
    if let Some(shared) = shared {
        shared.configure_peer(device_id, user, password);
    }
}

/// A running reference server; stopped by [`ReferenceServer::stop`].
pub struct ReferenceServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    dbus_pid: u32,
    dbus_server: Option<Child>,
    front_end: Option<Child>,
}

struct Shared {
    home: PathBuf,
    users: Mutex<Vec<(String, String)>>,
}

static REGISTRY: Mutex<Vec<(String, Arc<Shared>)>> = Mutex::new(Vec::new());

const PYTHON: &str = "/usr/bin/python3";
const DBUS_SERVER: &str = "/usr/libexec/syncevo-dbus-server";
const HTTP_SERVER: &str = "/usr/bin/syncevo-http-server";

/// Wraps the packaged front end (broken `#!@PYTHON@` line, listens on all interfaces) so that
/// it runs with Debian's python and binds 127.0.0.1 only (as in scripts/capture-syncevolution).
const FRONT_END_PY: &str = include_str!("../../../scripts/lib/frontend.py");

impl ReferenceServer {
    pub fn start(dir: &Path) -> ReferenceServer {
        for (tool, package) in [("dbus-daemon", "dbus"), ("dbus-send", "dbus"), ("syncevolution", "syncevolution")] {
            require_tool(tool, package);
        }
        for file in [PYTHON, DBUS_SERVER, HTTP_SERVER] {
            assert!(
                Path::new(file).exists(),
                "{file} is missing: run scripts/test (syncevolution-http, python3-twisted)"
            );
        }
        let home = dir.join("server");
        fs::create_dir_all(&home).expect("create the reference server HOME");
        let bus = dir.join("bus");
        let out = server_env(Command::new("dbus-daemon"), &home)
            .args(["--session", "--fork", "--print-pid"])
            .arg(format!("--address=unix:path={}", bus.display()))
            .output()
            .expect("run dbus-daemon");
        let dbus_pid: u32 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("dbus-daemon printed no pid: {}", String::from_utf8_lossy(&out.stderr)));
        let bus_address = format!("unix:path={}", bus.display());
        let mut server = ReferenceServer {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            shared: Arc::new(Shared { home: home.clone(), users: Mutex::new(Vec::new()) }),
            dbus_pid,
            dbus_server: None,
            front_end: None,
        };
        server.dbus_server = Some(
            server_env(Command::new(DBUS_SERVER), &home)
                .env("DBUS_SESSION_BUS_ADDRESS", &bus_address)
                .args(["-d", "unlimited", "-o", "-s"])
                .stdout(log_file(dir, "syncevo-dbus-server.log"))
                .stderr(log_file(dir, "syncevo-dbus-server.log"))
                .spawn()
                .expect("start syncevo-dbus-server"),
        );
        wait_until("org.syncevolution on the private bus", || {
            server_env(Command::new("dbus-send"), &home)
                .env("DBUS_SESSION_BUS_ADDRESS", &bus_address)
                .args(["--session", "--print-reply", "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus"])
                .args(["org.freedesktop.DBus.NameHasOwner", "string:org.syncevolution"])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("boolean true"))
        });
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        server.addr = SocketAddr::from(([127, 0, 0, 1], port));
        let front_end_py = dir.join("frontend.py");
        fs::write(&front_end_py, FRONT_END_PY).expect("write frontend.py");
        server.front_end = Some(
            server_env(Command::new(PYTHON), &home)
                .env("DBUS_SESSION_BUS_ADDRESS", &bus_address)
                .arg(&front_end_py)
                .arg(HTTP_SERVER)
                .arg(format!("http://127.0.0.1:{port}/sync"))
                .stdout(log_file(dir, "syncevo-http-server.log"))
                .stderr(log_file(dir, "syncevo-http-server.log"))
                .spawn()
                .expect("start syncevo-http-server"),
        );
        let addr = server.addr;
        wait_until("syncevo-http-server to listen", || TcpStream::connect(addr).is_ok());
        REGISTRY.lock().expect("registry lock").push((format!("http://{addr}/sync"), server.shared.clone()));
        server
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn add_user(&self, name: &str, password: &str) {
        self.shared.users.lock().expect("users lock").push((name.to_string(), password.to_string()));
    }

    pub fn log(&self) -> String {
        let dir = self.shared.home.parent().unwrap_or(&self.shared.home);
        format!(
            "{}\n---- syncevo-http-server:\n{}",
            tail(&read_lossy(&dir.join("syncevo-dbus-server.log")), 60),
            tail(&read_lossy(&dir.join("syncevo-http-server.log")), 20)
        )
    }

    /// Stops front end, D-Bus server (and its helper children) and the bus, by pid.
    pub fn stop(&mut self) {
        REGISTRY.lock().expect("registry lock").retain(|(_, s)| !Arc::ptr_eq(s, &self.shared));
        let helpers: Vec<u32> = self.dbus_server.as_ref().map(|c| children_of(c.id())).unwrap_or_default();
        for child in [self.front_end.take(), self.dbus_server.take()].into_iter().flatten() {
            stop_child(child);
        }
        for pid in helpers.into_iter().chain([std::mem::take(&mut self.dbus_pid)]) {
            stop_pid(pid);
        }
    }
}

impl Drop for ReferenceServer {
    fn drop(&mut self) {
        self.stop(); // idempotent; covers a panic half-way through `start`
    }
}

impl Shared {
    fn configure_peer(&self, device_id: &str, user: &str, password: &str) {
        let (user, password) = {
            let users = self.users.lock().expect("users lock");
            match users.iter().find(|(u, p)| u == user && p == password) {
                Some(known) => known.clone(),
                None => users.first().cloned().unwrap_or_else(|| ("nobody".into(), "nobody".into())),
            }
        };
        let data = self.home.join("data");
        let peer: String =
            device_id.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
        let mut cmd = server_env(Command::new("syncevolution"), &self.home);
        cmd.args(["--daemon=no", "--configure", "--template", "SyncEvolution_Client"]);
        for prop in [
            "keyring=no".to_string(),
            format!("username={user}"),
            format!("password={password}"),
            format!("remoteDeviceId={device_id}"),
            "RetryDuration=20".to_string(),
        ] {
            cmd.arg("--sync-property").arg(prop);
        }
        cmd.args(["--source-property", "backend=file"]);
        for (source, uri, format) in [
            ("addressbook", "contacts", "text/vcard"),
            ("calendar", "calendar", "text/calendar"),
            ("todo", "tasks", "text/calendar"),
            ("memo", "notes", "text/plain"),
        ] {
            fs::create_dir_all(data.join(uri)).expect("create a reference server data folder");
            cmd.arg(format!("{source}/database=file://{}", data.join(uri).display()))
                .arg(format!("{source}/databaseFormat={format}"))
                .arg(format!("{source}/uri={uri}"));
        }
        cmd.arg(format!("{peer}@ref")).args(["addressbook", "calendar", "todo", "memo"]);
        let out = cmd.stdin(Stdio::null()).output().expect("run syncevolution --configure (server side)");
        assert!(
            out.status.success(),
            "configuring the reference server peer for {device_id} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn server_env(mut cmd: Command, home: &Path) -> Command {
    cmd.env("HOME", home).env("LC_ALL", "C.UTF-8").stdin(Stdio::null());
    for var in
        ["XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "LD_PRELOAD"]
    {
        cmd.env_remove(var);
    }
    cmd
}

fn log_file(dir: &Path, name: &str) -> fs::File {
    fs::OpenOptions::new().create(true).append(true).open(dir.join(name)).expect("open a reference server log")
}

fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < Duration::from_secs(20), "timeout waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn children_of(pid: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    if let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.filter_map(|t| t.ok()) {
            let text = read_lossy(&task.path().join("children"));
            pids.extend(text.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
        }
    }
    pids
}

fn stop_child(mut child: Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn stop_pid(pid: u32) {
    if pid == 0 {
        return;
    }
    let alive = || Path::new(&format!("/proc/{pid}")).exists();
    if !alive() {
        return;
    }
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let started = Instant::now();
    while alive() && started.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(50));
    }
    if alive() {
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    }
}
