//! `syncgate serve` and `syncgate user`, run as an operator would: the real binary on a free
//! port, spoken to with raw HTTP/1.1 over a `TcpStream`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use syncgate::store::sqlite::SqliteStore;
use syncgate::store::Store;

const BIN: &str = env!("CARGO_BIN_EXE_syncgate");

/// A well-formed first message of a session (no credentials).
const MSG1: &str = r#"<?xml version="1.0"?>
<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>SyncML/1.2</VerProto>
<SessionID>1</SessionID><MsgID>1</MsgID><Target><LocURI>http://127.0.0.1/sync</LocURI></Target>
<Source><LocURI>IMEI:4711</LocURI><LocName>alice</LocName></Source></SyncHdr>
<SyncBody><Alert><CmdID>1</CmdID><Data>200</Data><Item><Target><LocURI>contacts</LocURI></Target>
<Source><LocURI>./contacts</LocURI></Source><Meta><Anchor xmlns="syncml:metinf"><Next>1</Next></Anchor></Meta>
</Item></Alert><Final/></SyncBody></SyncML>"#;

/// A port nobody listens on now (bound and released).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A temporary directory removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let name = format!("syncgate-it-{}-{}-{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `syncgate serve`, killed on drop if still running.
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: String,
    log: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `syncgate serve --listen 127.0.0.1:0 --data-dir DIR [extra…]` and waits for the
    /// `listening on http://ADDR` line.
    pub(crate) fn start(data_dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("syncgate serve starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match log.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.split("listening on http://").nth(1) {
                        let addr = rest.split_whitespace().next().unwrap_or_default().to_string();
                        return Server { child, addr, log };
                    }
                    seen.push(line);
                }
                Err(_) => break,
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("no 'listening on http://' line from syncgate serve; stderr:\n{}", seen.join("\n"));
    }

    /// Sends raw request bytes on a fresh connection and reads the whole response.
    pub(crate) fn send(&self, request: &[u8]) -> Response {
        let mut stream = TcpStream::connect(&self.addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        // The server may answer (413) before reading everything: a failed write is not the
        // test's concern, the response is.
        let _ = stream.write_all(request);
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        Response::parse(&raw)
    }

    fn get(&self, path: &str) -> Response {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", self.addr).as_bytes())
    }

    /// The server process's pid (to signal it).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub(crate) fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// A request with any method, extra header lines (`Name: value`) and a body.
    pub(crate) fn request(&self, method: &str, path: &str, headers: &[&str], body: &[u8]) -> Response {
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", self.addr);
        for h in headers {
            request.push_str(h);
            request.push_str("\r\n");
        }
        request.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(body);
        self.send(&bytes)
    }

    fn post(&self, path: &str, content_type: Option<&str>, body: &[u8]) -> Response {
        let mut request = format!("POST {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", self.addr);
        if let Some(ct) = content_type {
            request.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        request.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(body);
        self.send(&bytes)
    }

    /// SIGTERM, then the exit status (within 20 s) and everything it logged.
    fn terminate(self) -> (Option<i32>, String) {
        self.signal_term();
        self.wait()
    }

    fn signal_term(&self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
        assert!(status.success(), "kill -TERM {pid}");
    }

    /// Stops it with SIGTERM: the exit status and everything it logged.
    pub(crate) fn stop_and_logs(self) -> (Option<i32>, String) {
        self.signal_term();
        self.wait()
    }

    /// The exit status (within 20 s) and everything it logged.
    fn wait(mut self) -> (Option<i32>, String) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let code = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status.code();
            }
            assert!(Instant::now() < deadline, "syncgate did not stop within 20 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        };
        // The process is gone: the reader thread ends at EOF and the channel closes.
        (code, self.log.iter().collect::<Vec<_>>().join("\n"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    fn parse(raw: &[u8]) -> Response {
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| {
            panic!("no complete HTTP response head in {:?}", String::from_utf8_lossy(raw));
        });
        let head = std::str::from_utf8(&raw[..split]).expect("ASCII head");
        let mut lines = head.split("\r\n");
        let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("status line");
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Response { status, headers, body: raw[split + 4..].to_vec() }
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A plain-text refusal: the status, and a one-line reason.
    fn assert_refusal(&self, status: u16, needle: &str) {
        assert_eq!(self.status, status, "{self:?} / {}", self.text());
        assert!(self.header("content-type").is_some_and(|ct| ct.starts_with("text/plain")), "{self:?}");
        let text = self.text();
        assert_eq!(text.trim_end().lines().count(), 1, "one line: {text:?}");
        assert!(text.contains(needle), "{needle:?} in {text:?}");
    }
}

fn syncgate(args: &[&str], data_dir: &Path, stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the syncgate binary runs");
    child.stdin.take().expect("stdin").write_all(stdin).expect("write stdin");
    child.wait_with_output().expect("syncgate exits")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn one_line_error(out: &Output, needle: &str) {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("syncgate: ") && err.contains(needle), "{needle:?} in {err}");
}

#[test]
fn zero_config_serves_health_and_refuses_what_is_not_syncml() {
    let dir = TempDir::new();
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    assert!(data.join("syncgate.db").is_file(), "the database is created on start");

    let health = server.get("/healthz");
    assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));
    assert_eq!(server.get("/nope").status, 404);
    let get_sync = server.get("/sync");
    assert_eq!(get_sync.status, 405);
    assert_eq!(get_sync.header("allow"), Some("POST"));

    server.post("/sync", Some("text/plain"), b"hello, server").assert_refusal(415, "SyncML");
    server.post("/sync", None, b"\x00\x00binary").assert_refusal(415, "SyncML");

    server
        .post("/sync", Some("application/vnd.syncml+xml"), b"<SyncML xmlns='SYNCML:SYNCML1.2'><SyncHdr>")
        .assert_refusal(400, "malformed SyncML message");
    server
        .post("/sync", Some("text/plain"), b"<SyncML xmlns='SYNCML:SYNCML1.2'><SyncHdr>")
        .assert_refusal(400, "malformed SyncML message");
    server
        .post("/sync", Some("application/vnd.syncml+wbxml"), b"\x02\xa4\x01\x6a\x00\x6d\x6c\x71\x03")
        .assert_refusal(400, "malformed SyncML message");
    server.post("/sync", Some("application/vnd.syncml+wbxml"), b"").assert_refusal(400, "empty");

    let stale = format!("/sync?sid={}", "0123456789abcdef".repeat(2));
    server.post(&stale, Some("application/vnd.syncml+xml"), MSG1.as_bytes()).assert_refusal(404, "session");

    let (code, log) = server.terminate();
    assert_eq!(code, Some(0), "SIGTERM stops the server cleanly: {log}");
    for why in ["not a SyncML message", "undecodable message: empty input", "unknown or expired session"] {
        assert!(log.contains("WARN") && log.contains(why), "refusals are logged with why ({why}): {log}");
    }
    assert!(log.contains("SIGTERM received"), "{log}");
}

#[test]
fn syncml_messages_get_syncml_answers_and_resends_the_cached_reply() {
    let dir = TempDir::new();
    let server = Server::start(dir.path(), &[]);
    let first = server.post("/sync", Some("application/vnd.syncml+xml; charset=UTF-8"), MSG1.as_bytes());
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.header("content-type"), Some("application/vnd.syncml+xml"));
    assert!(first.text().contains("<SyncML"), "{}", first.text());

    let resend = server.post("/sync", Some("application/vnd.syncml+xml; charset=UTF-8"), MSG1.as_bytes());
    assert_eq!(resend.status, 200);
    assert_eq!(resend.body, first.body, "a byte-identical resend gets the cached reply");

    // No Content-Type: the encoding is sniffed, the answer is in the request's encoding.
    let wbxml = Command::new(BIN)
        .args(["codec", "encode", "--to", "wbxml", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().expect("stdin").write_all(MSG1.replace("<SessionID>1", "<SessionID>2").as_bytes())?;
            c.wait_with_output()
        })
        .expect("codec encode runs");
    assert!(wbxml.status.success());
    let reply = server.post("/sync", None, &wbxml.stdout);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/vnd.syncml+wbxml"));
    assert!(matches!(reply.body.first(), Some(0x01..=0x03)), "a WBXML reply");
    assert_eq!(server.terminate().0, Some(0));
}

#[test]
fn sigterm_answers_the_request_in_flight_and_refuses_new_sessions() {
    let dir = TempDir::new();
    let server = Server::start(dir.path(), &[]);
    let mut stream = TcpStream::connect(&server.addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "POST /sync HTTP/1.1\r\nHost: {}\r\nContent-Type: application/vnd.syncml+xml\r\nContent-Length: {}\r\n\r\n",
        server.addr,
        MSG1.len()
    );
    let (first, rest) = MSG1.as_bytes().split_at(100);
    stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(first)).expect("first half sent");
    std::thread::sleep(Duration::from_millis(300));
    server.signal_term();
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(rest).expect("second half sent after SIGTERM");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    // The request gets a whole answer. It would start a session, which the stopping gateway
    // refuses with 503 and a retry hint (sessions in progress are suspended instead).
    let response = Response::parse(&raw);
    response.assert_refusal(503, "shutting down");
    assert_eq!(response.header("retry-after"), Some("30"));
    let (code, log) = server.wait();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("a new session while the gateway is shutting down"), "{log}");
}

/// A message of an authenticated client (basic auth as alice/secret).
fn authed_message(session_id: u32, msg_id: u32, body: &str) -> Vec<u8> {
    format!(
        r#"<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>SyncML/1.2</VerProto>
<SessionID>{session_id}</SessionID><MsgID>{msg_id}</MsgID><Target><LocURI>http://127.0.0.1/sync</LocURI></Target>
<Source><LocURI>IMEI:4711</LocURI><LocName>alice</LocName></Source><Cred><Meta>
<Format xmlns="syncml:metinf">b64</Format><Type xmlns="syncml:metinf">syncml:auth-basic</Type></Meta>
<Data>YWxpY2U6c2VjcmV0</Data></Cred></SyncHdr><SyncBody>{body}<Final/></SyncBody></SyncML>"#
    )
    .into_bytes()
}

const ALERT_SLOW: &str = r#"<Alert><CmdID>1</CmdID><Data>201</Data><Item><Target><LocURI>contacts</LocURI></Target>
<Source><LocURI>./contacts</LocURI></Source><Meta><Anchor xmlns="syncml:metinf"><Next>1</Next></Anchor></Meta></Item></Alert>"#;

const STATUS_AND_SYNC: &str = r#"<Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd>
<TargetRef>IMEI:4711</TargetRef><SourceRef>http://127.0.0.1/sync</SourceRef><Data>200</Data></Status>
<Sync><CmdID>2</CmdID><Target><LocURI>contacts</LocURI></Target><Source><LocURI>./contacts</LocURI></Source></Sync>"#;

/// The RespURI of a SyncML reply in XML.
fn resp_uri(response: &Response) -> String {
    let text = response.text();
    let start = text.find("<RespURI>").map(|i| i + "<RespURI>".len());
    let uri = start.and_then(|s| text[s..].find("</RespURI>").map(|e| text[s..s + e].to_string()));
    uri.unwrap_or_else(|| panic!("no RespURI in {text}"))
}

/// The `sid` in a RespURI: 32 hex digits.
fn sid_of(uri: &str) -> String {
    let sid = uri.split("?sid=").nth(1).unwrap_or_else(|| panic!("no ?sid= in {uri}")).to_string();
    assert!(sid.len() == 32 && sid.bytes().all(|b| b.is_ascii_hexdigit()), "{uri}");
    sid
}

/// PROTOCOL.md §1.4 / §11.4 point 3, through the engine: RespURI carries the session token
/// under `public_url`; clients that ignore RespURI are found by (SessionID, device); a resend
/// to the RespURI is answered from the cache; once the token was used, the header alone no
/// longer reaches the session.
#[test]
fn sessions_are_found_by_token_or_by_header() {
    let dir = TempDir::new();
    let data = dir.path().join("data");
    assert!(syncgate(&["user", "add", "alice", "--password", "secret"], &data, b"").status.success());
    let config = dir.path().join("syncgate.toml");
    std::fs::write(&config, "public_url = \"https://sync.example.com/prefix/\"\n").unwrap();
    let server = Server::start(&data, &["--config", config.to_str().unwrap()]);
    let xml = Some("application/vnd.syncml+xml");

    let first = server.post("/sync", xml, &authed_message(1, 1, ALERT_SLOW));
    assert_eq!(first.status, 200, "{}", first.text());
    let uri = resp_uri(&first);
    assert!(uri.starts_with("https://sync.example.com/prefix/sync?sid="), "{uri}");
    let sid = sid_of(&uri);

    let by_header = server.post("/sync", xml, &authed_message(1, 2, STATUS_AND_SYNC));
    assert_eq!(by_header.status, 200, "{}", by_header.text());
    assert_eq!(sid_of(&resp_uri(&by_header)), sid, "same SessionID and device, no sid: same session");

    let by_token = server.post(&format!("/sync?sid={sid}"), xml, &authed_message(1, 2, STATUS_AND_SYNC));
    assert_eq!(by_token.body, by_header.body, "a resend to the RespURI gets the cached reply");

    let other = server.post("/sync", xml, &authed_message(2, 1, ALERT_SLOW));
    assert_ne!(sid_of(&resp_uri(&other)), sid, "another SessionID is another session");

    let after_token = server.post("/sync", xml, &authed_message(1, 3, STATUS_AND_SYNC));
    assert_eq!(after_token.status, 200, "{}", after_token.text());
    assert_ne!(sid_of(&resp_uri(&after_token)), sid, "the token was used: the header alone is not enough");
    assert_eq!(server.terminate().0, Some(0));
}

#[test]
fn bodies_over_max_body_bytes_get_413() {
    let dir = TempDir::new();
    let config = dir.path().join("syncgate.toml");
    std::fs::write(&config, "max_body_bytes = 1000\n").unwrap();
    let server = Server::start(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);

    // Declared too large: refused before the body is read.
    let head = format!(
        "POST /sync HTTP/1.1\r\nHost: {}\r\nContent-Type: application/vnd.syncml+xml\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n<SyncML>",
        server.addr
    );
    server.send(head.as_bytes()).assert_refusal(413, "1000 bytes");

    // Chunked, no length given: cut off while reading.
    let mut chunked = format!(
        "POST /sync HTTP/1.1\r\nHost: {}\r\nContent-Type: application/vnd.syncml+xml\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        server.addr
    )
    .into_bytes();
    for _ in 0..3 {
        chunked.extend_from_slice(format!("{:x}\r\n{}\r\n", 600, "x".repeat(600)).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    server.send(&chunked).assert_refusal(413, "1000 bytes");

    // Within the limit it is decoded as usual.
    assert_eq!(server.post("/sync", Some("application/vnd.syncml+xml"), MSG1.as_bytes()).status, 200);
    assert_eq!(server.terminate().0, Some(0));
}

#[test]
fn bad_config_files_are_one_line_errors() {
    let dir = TempDir::new();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\n[limits]\nmax_deepness = 3\n").unwrap();
    let out = syncgate(&["serve", "--config", config.to_str().unwrap()], &dir.path().join("data"), b"");
    one_line_error(&out, "max_deepness");
}

#[test]
fn user_add_list_passwd_del_round_trip() {
    let dir = TempDir::new();
    let data = dir.path().join("data");

    let added = syncgate(&["user", "add", "alice", "--password", "secret"], &data, b"");
    assert!(added.status.success(), "{added:?}");
    one_line_error(&syncgate(&["user", "add", "alice", "--password", "other"], &data, b""), "already exists");
    let stdin_add = syncgate(&["user", "add", "bob", "--password-stdin"], &data, b"hunter2\n");
    assert!(stdin_add.status.success(), "{stdin_add:?}");
    one_line_error(&syncgate(&["user", "add", "a:b", "--password", "x"], &data, b""), "invalid user name");
    one_line_error(&syncgate(&["user", "add", "carol", "--password-stdin"], &data, b""), "password is empty");
    assert_eq!(syncgate(&["user", "add", "carol"], &data, b"").status.code(), Some(2), "a password is required");

    let listed = syncgate(&["user", "list"], &data, b"");
    assert!(listed.status.success());
    let mut names: Vec<String> = stdout(&listed).lines().map(str::to_string).collect();
    names.sort();
    assert_eq!(names, ["alice", "bob"]);

    let changed = syncgate(&["user", "passwd", "alice", "--password-stdin"], &data, b"new-secret\r\n");
    assert!(changed.status.success(), "{changed:?}");
    one_line_error(&syncgate(&["user", "passwd", "nobody", "--password", "x"], &data, b""), "unknown user nobody");
    {
        let store = SqliteStore::open(&data.join("syncgate.db")).expect("the database opens");
        let alice = store.user_by_name("alice").unwrap().expect("alice exists");
        assert_eq!(alice.secret, syncgate::auth::md5_secret("alice", "new-secret"), "only the MD5 secret is stored");
        let bob = store.user_by_name("bob").unwrap().expect("bob exists");
        assert_eq!(bob.secret, syncgate::auth::md5_secret("bob", "hunter2"));
    }

    let deleted = syncgate(&["user", "del", "alice"], &data, b"");
    assert!(deleted.status.success(), "{deleted:?}");
    one_line_error(&syncgate(&["user", "del", "alice"], &data, b""), "unknown user alice");
    assert_eq!(stdout(&syncgate(&["user", "list"], &data, b"")), "bob\n");
}
