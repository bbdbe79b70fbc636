//! Processes for the interop tests: the LD_PRELOAD shim the Debian SyncEvolution client needs,
//! and simulated devices (one SyncEvolution client with its own `$HOME` each) with helpers for
//! their item files. The gateway under test: `gateway.rs` (re-exported here); what a run
//! reports: `report.rs`.
//!
//! Everything listens and connects on 127.0.0.1 only. Every process is started here and
//! stopped by its pid; every temporary directory is removed on drop unless
//! `SYNCGATE_KEEP_TMP=1`. A missing `syncevolution` or C compiler is a test failure with a
//! pointer at `scripts/test`, never a silent skip. Field notes on the client:
//! `tests/interop/NOTES.md`.
//!
//! Environment knobs: `SYNCGATE_KEEP_TMP=1` keeps gateway and device directories (logs!),
//! `SYNCGATE_SE_LOGLEVEL=N` sets the client's log level (default 3; 5 dumps every message),
//! `SYNCGATE_INTEROP_SERVER=reference` runs the same tests against SyncEvolution's own server
//! instead of syncgate (see `reference.rs`; a check of the tests themselves).

#![allow(dead_code)] // a toolkit: not every test uses every helper

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use super::gateway::Gateway;
use super::items::{self, Store};
use super::reference;
use super::report::{parse_status_ini, ClientRun, SyncResult};

/// Hard limit for one client run; the client's own retry settings end it well before.
pub(super) const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);
/// Client `RetryInterval`/`RetryDuration` (seconds): a server that does not answer fails the
/// sync after this long instead of the default 5 minutes.
const RETRY_INTERVAL: u32 = 20;
const RETRY_DURATION: u32 = 45;

/// Builds `tests/interop/syncevo-shim.c` once per test-binary run and returns the `.so`.
/// It goes to Cargo's per-target temp dir (`CARGO_TARGET_TMPDIR`), written under a unique name
/// and renamed into place, so concurrent test binaries never see a half-written library.
pub fn shim() -> &'static Path {
    static SHIM: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match SHIM.get_or_init(build_shim) {
        Ok(path) => path,
        Err(reason) => panic!("{reason}"),
    }
}

/// The client's authentication scheme (`clientAuthType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    Md5,
    Basic,
}

/// How a device is configured.
#[derive(Clone, Debug)]
pub struct DeviceOpts {
    /// SyncHdr `Source/LocURI`; default `syncgate-it-<name>`.
    pub device_id: Option<String>,
    /// `application/vnd.syncml+wbxml` (the client's default) or plain XML.
    pub wbxml: bool,
    pub auth: Auth,
    /// The client's `maxMsgSize` (values below 10240 act as 10240); default 150000.
    pub max_msg_size: Option<u32>,
    /// Which datastores the device syncs; default contacts, calendar, notes.
    pub stores: Vec<Store>,
}

impl Default for DeviceOpts {
    fn default() -> DeviceOpts {
        DeviceOpts {
            device_id: None,
            wbxml: true,
            auth: Auth::Md5,
            max_msg_size: None,
            stores: vec![Store::Contacts, Store::Calendar, Store::Notes],
        }
    }
}

impl DeviceOpts {
    pub fn device_id(mut self, id: &str) -> DeviceOpts {
        self.device_id = Some(id.to_string());
        self
    }
    pub fn wbxml(mut self, on: bool) -> DeviceOpts {
        self.wbxml = on;
        self
    }
    pub fn auth(mut self, auth: Auth) -> DeviceOpts {
        self.auth = auth;
        self
    }
    pub fn max_msg_size(mut self, bytes: u32) -> DeviceOpts {
        self.max_msg_size = Some(bytes);
        self
    }
    pub fn stores(mut self, stores: &[Store]) -> DeviceOpts {
        self.stores = stores.to_vec();
        self
    }
}

/// The `--sync` modes of the SyncEvolution client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncMode {
    TwoWay,
    Slow,
    /// Alert 203.
    RefreshFromLocal,
    /// Wipes local data and slow-syncs (201); with `enableRefreshSync=1` Alert 205.
    RefreshFromRemote,
    /// Alert 202.
    OneWayFromLocal,
    /// Sent as 200, the client holds back its own changes.
    OneWayFromRemote,
}

impl SyncMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncMode::TwoWay => "two-way",
            SyncMode::Slow => "slow",
            SyncMode::RefreshFromLocal => "refresh-from-local",
            SyncMode::RefreshFromRemote => "refresh-from-remote",
            SyncMode::OneWayFromLocal => "one-way-from-local",
            SyncMode::OneWayFromRemote => "one-way-from-remote",
        }
    }
}

impl fmt::Display for SyncMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One simulated device: a SyncEvolution client with its own `$HOME`, configured once as peer
/// `target`, with file-backend data folders whose file names are the item LUIDs.
pub struct Device {
    name: String,
    id: String,
    stores: Vec<Store>,
    home: TempDir,
    runs: AtomicU32,
}

impl Device {
    /// Creates `$HOME` and the data folders and runs the client's `--configure`.
    pub fn new(name: &str, gateway_url: &str, user: &str, password: &str, opts: DeviceOpts) -> Device {
        require_tool("syncevolution", "syncevolution");
        let home = TempDir::new(&format!("dev-{name}"));
        let id = opts.device_id.clone().unwrap_or_else(|| format!("syncgate-it-{name}"));
        let device = Device { name: name.to_string(), id, stores: opts.stores.clone(), home, runs: AtomicU32::new(0) };
        for store in &device.stores {
            fs::create_dir_all(device.data_dir(*store)).expect("create a device data folder");
        }
        reference::register_device(gateway_url, &device.id, user, password);

        let mut props: Vec<(&str, String)> = vec![
            ("keyring", "no".into()),
            ("deviceId", device.id.clone()),
            ("syncURL", gateway_url.into()),
            ("username", user.into()),
            ("password", password.into()),
            ("clientAuthType", if opts.auth == Auth::Md5 { "md5" } else { "basic" }.into()),
            ("enableWBXML", if opts.wbxml { "1" } else { "0" }.into()),
            ("RetryInterval", RETRY_INTERVAL.to_string()),
            ("RetryDuration", RETRY_DURATION.to_string()),
            ("printChanges", "0".into()),
            ("dumpData", "0".into()),
            ("loglevel", client_loglevel().to_string()),
            ("logdir", device.home.path().join("logs").display().to_string()),
        ];
        if let Some(size) = opts.max_msg_size {
            props.push(("maxMsgSize", size.to_string()));
        }
        let mut cmd = device.client();
        cmd.args(["--daemon=no", "--configure", "--template", "SyncEvolution"]);
        for (key, value) in &props {
            cmd.arg("--sync-property").arg(format!("{key}={value}"));
        }
        for store in &device.stores {
            let source = store.source();
            cmd.arg(format!("{source}/backend=file"))
                .arg(format!("{source}/database=file://{}", device.data_dir(*store).display()))
                .arg(format!("{source}/databaseFormat={}", store.format()))
                .arg(format!("{source}/uri={}", store.uri()));
        }
        cmd.arg("target").args(device.stores.iter().map(|s| s.source()));
        let run = device.run_client(cmd, "configure");
        assert!(
            run.exit_code == Some(0),
            "configuring device {name} failed (exit {:?}):\n{}",
            run.exit_code,
            tail(&run.output(), 40)
        );
        device
    }

    /// `syncevolution --daemon=no --run --sync MODE target` with the shim preloaded.
    pub fn sync(&self, mode: SyncMode) -> SyncResult {
        self.sync_with(mode, &[])
    }

    /// [`Device::sync`] with temporary `--sync-property KEY=VALUE` overrides.
    pub fn sync_with(&self, mode: SyncMode, props: &[(&str, &str)]) -> SyncResult {
        let logs = self.home.path().join("logs");
        let before = session_dirs(&logs);
        let mut cmd = self.client();
        cmd.env("LD_PRELOAD", shim()).args(["--daemon=no", "--run"]);
        for (key, value) in props {
            cmd.arg("--sync-property").arg(format!("{key}={value}"));
        }
        cmd.args(["--sync", mode.as_str(), "target"]);
        let run = self.run_client(cmd, mode.as_str());
        let log_dir = session_dirs(&logs)
            .difference(&before)
            .filter_map(|dir| Some((fs::metadata(dir).and_then(|m| m.modified()).ok()?, dir.clone())))
            .max()
            .map(|(_, dir)| dir);
        let status_ini = log_dir.as_ref().map(|dir| read_lossy(&dir.join("status.ini"))).unwrap_or_default();
        let (status, stores) = parse_status_ini(&status_ini);
        SyncResult { device: self.name.clone(), mode, run, status, stores, log_dir }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The device id the client sends (SyncHdr `Source/LocURI`).
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// The file-backend folder of `store` (one file per item, file name = LUID).
    pub fn data_dir(&self, store: Store) -> PathBuf {
        self.home.path().join("data").join(store.uri())
    }

    /// Writes a new contact (see [`items::vcard`]) as item `luid`.
    pub fn add_contact(&self, luid: &str, full_name: &str, tel: &str) {
        self.add_item(Store::Contacts, luid, &items::vcard(full_name, tel));
    }

    /// Rewrites existing contact `luid`.
    pub fn modify_contact(&self, luid: &str, full_name: &str, tel: &str) {
        self.modify_item(Store::Contacts, luid, &items::vcard(full_name, tel));
    }

    /// Writes a new item; panics if `luid` exists already.
    pub fn add_item(&self, store: Store, luid: &str, text: &str) {
        let path = self.item_path(store, luid);
        assert!(!path.exists(), "{}: {store} item {luid} exists already", self.name);
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Replaces an existing item (the client notices by mtime, to the nanosecond).
    pub fn modify_item(&self, store: Store, luid: &str, text: &str) {
        let path = self.item_path(store, luid);
        assert!(path.exists(), "{}: no {store} item {luid} to modify; it has {:?}", self.name, self.luids(store));
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    pub fn delete(&self, store: Store, luid: &str) {
        let path = self.item_path(store, luid);
        fs::remove_file(&path).unwrap_or_else(|e| panic!("{}: delete {store} item {luid}: {e}", self.name));
    }

    /// The LUIDs (file names) in the data folder of `store`, sorted.
    pub fn luids(&self, store: Store) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.data_dir(store))
            .map(|dir| {
                dir.filter_map(|e| e.ok())
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Number of items of `store` on the device.
    pub fn count(&self, store: Store) -> usize {
        self.luids(store).len()
    }

    /// All items of `store`, by LUID.
    pub fn items(&self, store: Store) -> BTreeMap<String, String> {
        self.luids(store).into_iter().map(|luid| (luid.clone(), self.item(store, &luid))).collect()
    }

    /// The text of one item.
    pub fn item(&self, store: Store, luid: &str) -> String {
        let path = self.item_path(store, luid);
        fs::read(&path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|e| panic!("{}: read {store} item {luid}: {e}", self.name))
    }

    /// The LUID of the one item whose canonical form equals that of `text`.
    pub fn find(&self, store: Store, text: &str) -> Option<String> {
        let want = items::canonical(store, text);
        let mut found = self.items(store).into_iter().filter(|(_, t)| items::canonical(store, t) == want);
        let first = found.next().map(|(luid, _)| luid);
        assert!(found.next().is_none(), "{}: {store} holds {want} more than once", self.name);
        first
    }

    /// Panics unless the device holds exactly `expected` in `store` (compared semantically,
    /// as a multiset: duplicates count).
    pub fn assert_items(&self, store: Store, expected: &[String]) {
        let actual: Vec<String> = self.items(store).into_values().collect();
        if let Err(diff) = items::compare(store, expected, &actual) {
            panic!("device {} ({}): {diff}", self.name, self.home.path().display());
        }
    }

    fn item_path(&self, store: Store, luid: &str) -> PathBuf {
        assert!(!luid.is_empty() && !luid.contains('/'), "bad LUID {luid:?}");
        self.data_dir(store).join(luid)
    }

    /// A client command with this device's environment: its own HOME, nothing from the
    /// caller's XDG dirs, session bus or preloads; C locale messages.
    fn client(&self) -> Command {
        let mut cmd = Command::new("syncevolution");
        cmd.env("HOME", self.home.path()).env("LC_ALL", "C.UTF-8").stdin(Stdio::null()).current_dir(self.home.path());
        for var in
            ["XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "LANGUAGE"]
        {
            cmd.env_remove(var);
        }
        cmd.env_remove("LD_PRELOAD");
        cmd
    }

    fn run_client(&self, cmd: Command, what: &str) -> ClientRun {
        let n = self.runs.fetch_add(1, Ordering::Relaxed) + 1;
        let base = self.home.path().join(format!("run-{n:02}-{what}"));
        run_with_timeout(cmd, &base, CLIENT_TIMEOUT)
    }
}

/// A directory under the system temp dir, removed on drop unless `SYNCGATE_KEEP_TMP=1`.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let label: String =
            label.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("syncgate-it-{label}-{}-{n}-{nanos:08x}", std::process::id()));
        fs::create_dir(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if keep_tmp() {
            eprintln!("kept {}", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Whether `SYNCGATE_KEEP_TMP=1`.
pub fn keep_tmp() -> bool {
    std::env::var("SYNCGATE_KEEP_TMP").is_ok_and(|v| v == "1")
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Panics with a pointer at `scripts/test` unless `tool` is an executable on PATH.
pub fn require_tool(tool: &str, package: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path).map(|dir| dir.join(tool)).find(|p| {
            fs::metadata(p)
                .is_ok_and(|m| m.is_file() && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0)
        })
    });
    found.unwrap_or_else(|| {
        panic!(
            "the interop tests need `{tool}` (Debian package {package}), which is not on PATH; \
             run the suite with scripts/test, which installs what they need"
        )
    })
}

fn build_shim() -> Result<PathBuf, String> {
    let cc_name = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    require_tool(&cc_name, "gcc + libc6-dev");
    require_tool("syncevolution", "syncevolution");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/syncevo-shim.c");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop");
    fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let partial = dir.join(format!("syncevo-shim.{}.so.tmp", std::process::id()));
    let out = Command::new(&cc_name)
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&partial)
        .arg(&source)
        .arg("-ldl")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `{cc_name}` to build the SyncEvolution shim: {e}; run scripts/test"))?;
    if !out.status.success() {
        return Err(format!(
            "building the SyncEvolution shim failed: `{cc_name} -shared -fPIC -O2 -o {} {} -ldl` ({}):\n{}\
             (scripts/test installs the compiler and libc6-dev)",
            partial.display(),
            source.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let shim = dir.join("syncevo-shim.so");
    fs::rename(&partial, &shim).map_err(|e| format!("rename the shim into {}: {e}", shim.display()))?;
    Ok(shim)
}

fn client_loglevel() -> u32 {
    std::env::var("SYNCGATE_SE_LOGLEVEL").ok().and_then(|v| v.parse().ok()).unwrap_or(3)
}

/// Runs `cmd` with stdout/stderr in `<base>.out`/`<base>.err`, killing it (by pid) after
/// `timeout`.
fn run_with_timeout(mut cmd: Command, base: &Path, timeout: Duration) -> ClientRun {
    let out_path = base.with_extension("out");
    let err_path = base.with_extension("err");
    let stdout = fs::File::create(&out_path).expect("create the client's stdout file");
    let stderr = fs::File::create(&err_path).expect("create the client's stderr file");
    let started = Instant::now();
    let mut child = cmd.stdout(stdout).stderr(stderr).spawn().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > timeout => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().expect("wait for the killed client");
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(25)),
            Err(e) => panic!("waiting for {cmd:?}: {e}"),
        }
    };
    ClientRun {
        exit_code: status.code(),
        signal: status.signal(),
        timed_out,
        elapsed: started.elapsed(),
        stdout: read_lossy(&out_path),
        stderr: read_lossy(&err_path),
    }
}

fn session_dirs(logs: &Path) -> BTreeSet<PathBuf> {
    fs::read_dir(logs)
        .map(|dir| dir.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect())
        .unwrap_or_default()
}

pub(super) fn read_lossy(path: &Path) -> String {
    fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::interop::gateway::listening_addr;

    #[test]
    fn finds_the_listening_line_in_plain_and_coloured_logs() {
        let plain =
            "2026-11-22T04:00:00Z  INFO syncgate::server: listening on http://127.0.0.1:43121 (sync path /sync)\n";
        assert_eq!(listening_addr(plain), Some("127.0.0.1:43121".parse().unwrap()));
        let coloured =
            "\u{1b}[2m2026\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m listening on http://\u{1b}[1m127.0.0.1:80\u{1b}[0m";
        assert_eq!(listening_addr(coloured), Some("127.0.0.1:80".parse().unwrap()));
        assert_eq!(listening_addr("listening on http://127.0.0.1:9/sync"), Some("127.0.0.1:9".parse().unwrap()));
        assert_eq!(listening_addr("starting\n"), None);
    }

    /// The client against a loopback listener that answers HTTP 500: checks the shim (without
    /// it the client dies with SIGSEGV on the reply), the configuration (device id, encoding,
    /// auth type, maxMsgSize end up on the wire) and the reporting of a failed sync. Needs no
    /// gateway.
    #[test]
    fn client_reaches_a_loopback_server_and_reports_its_failure() {
        for (wbxml, auth) in [(true, Auth::Md5), (false, Auth::Basic)] {
            let fake = Fake500::start();
            let opts = DeviceOpts::default().wbxml(wbxml).auth(auth).max_msg_size(12345).device_id("harness-dev-1");
            let device = Device::new("harness", &fake.url(), "alice", "secret", opts);
            device.add_contact("1", "John Doe", "+1 555 0100");
            let result = device.sync(SyncMode::Slow);
            let requests = fake.stop();

            assert_eq!(result.run.signal, None, "{}", result.failure_report("the client crashed"));
            assert_eq!(result.run.exit_code, Some(1), "{}", result.failure_report("expected exit 1"));
            assert!(result.status.is_some_and(|s| s >= 20000), "{}", result.failure_report("expected a local error"));
            assert!(result.log_dir.is_some());
            assert!(result.run.elapsed < Duration::from_secs(30), "HTTP 500 must be fatal at once");
            let first = requests.first().unwrap_or_else(|| panic!("no request arrived; {}", result.failure_report("")));
            let head = String::from_utf8_lossy(&first.head).to_ascii_lowercase();
            assert!(head.starts_with("post /sync http/1.1"), "{head}");
            let ct = if wbxml { "application/vnd.syncml+wbxml" } else { "application/vnd.syncml+xml" };
            assert!(head.contains(&format!("content-type: {ct}")), "{head}");
            let body = &first.body;
            for needle in ["harness-dev-1", "alice", "12345", if auth == Auth::Md5 { "auth-md5" } else { "auth-basic" }]
            {
                assert!(
                    contains(body, needle.as_bytes()),
                    "{needle} not in the first message:\n{}",
                    String::from_utf8_lossy(body)
                );
            }
        }
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    struct Request {
        head: Vec<u8>,
        body: Vec<u8>,
    }

    /// A one-thread HTTP server on 127.0.0.1 that records requests and answers each with 500.
    struct Fake500 {
        addr: SocketAddr,
        stop: Arc<AtomicBool>,
        requests: Arc<Mutex<Vec<Request>>>,
        thread: std::thread::JoinHandle<()>,
    }

    impl Fake500 {
        fn start() -> Fake500 {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
            let addr = listener.local_addr().expect("local addr");
            let stop = Arc::new(AtomicBool::new(false));
            let requests = Arc::new(Mutex::new(Vec::new()));
            let (stop2, requests2) = (stop.clone(), requests.clone());
            let thread = std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop2.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        if let Some(request) = answer_500(stream) {
                            requests2.lock().expect("requests lock").push(request);
                        }
                    }
                }
            });
            Fake500 { addr, stop, requests, thread }
        }

        fn url(&self) -> String {
            format!("http://{}/sync", self.addr)
        }

        fn stop(self) -> Vec<Request> {
            self.stop.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect(self.addr); // wakes the accept loop
            let _ = self.thread.join();
            std::mem::take(&mut *self.requests.lock().expect("requests lock"))
        }
    }

    fn answer_500(mut stream: TcpStream) -> Option<Request> {
        stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        let mut data = Vec::new();
        let mut buf = [0u8; 8192];
        let head_end = loop {
            let n = stream.read(&mut buf).ok()?;
            if n == 0 {
                return None;
            }
            data.extend_from_slice(&buf[..n]);
            if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
        };
        let head = data[..head_end].to_vec();
        let length = String::from_utf8_lossy(&head)
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        while data.len() < head_end + length {
            let n = stream.read(&mut buf).ok()?;
            if n == 0 {
                break;
            }
            data.extend_from_slice(&buf[..n]);
        }
        let body = data[head_end..].to_vec();
        let reply = "server error for the harness test\n";
        let _ = write!(
            stream,
            "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
            reply.len()
        );
        Some(Request { head, body })
    }
}
