//! The messages datastore in Dovecot (issue 9), on the real binary with simulated devices:
//! mail already in the IMAP store reaches the devices; a message appended directly to IMAP by
//! another client reaches every device and alerts the automatic one; a flag set directly in
//! IMAP reaches the devices as a state; a folder renamed on a device is renamed in IMAP;
//! with Dovecot stopped a device's new message is refused with 503 and kept, and after Dovecot
//! is back it reaches IMAP and the other device once.

use std::fs;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use syncgate::imap::Connection;

use super::api::{call, Sim};
use super::dovecot::Dovecot;
use super::server::{Server, TempDir};

const TOKEN: &str = "operator-secret";

fn gateway(dovecot: &Dovecot) -> (TempDir, Server) {
    let dir = TempDir::new();
    let cfg = dir.path().join("syncgate.toml");
    let text = format!(
        "[api]\ntoken = \"{TOKEN}\"\n\n[notify]\nlongpoll_heartbeat_secs = 15\n\n[notify.policy]\nmin_interval_secs = 0\n\n\
         [imap]\nenabled = true\naddress = \"127.0.0.1:{}\"\nlogin = \"master\"\n\
         master_user = \"syncgate-master\"\nmaster_password = \"masterpw\"\npoll_secs = 0\ntimeout_secs = 3\n",
        dovecot.port
    );
    fs::write(&cfg, text).expect("write the config");
    let server = Server::start(&dir.path().join("data"), &["--config", cfg.to_str().expect("utf-8 path")]);
    (dir, server)
}

fn imap(dovecot: &Dovecot) -> Connection {
    let mut c = Connection::connect(&format!("127.0.0.1:{}", dovecot.port), Duration::from_secs(5)).expect("connect");
    c.login("alice", "pw").expect("login");
    c
}

/// Subjects of the messages on a device, sorted.
fn subjects(dev: &Sim) -> Vec<String> {
    let mut v: Vec<String> = dev
        .items("messages")
        .into_iter()
        .filter(|(_, _, t)| t.starts_with("<Email>"))
        .filter_map(|(_, _, t)| syncgate::cpm::objects::Email::parse(t.as_bytes()).ok()?.header("Subject"))
        .collect();
    v.sort();
    v
}

/// `GET /notify?device=pc` on a connection of its own: the answer's head.
fn long_poll(addr: &str, auth: &str) -> String {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let req = format!("GET /notify?device=pc HTTP/1.1\r\nHost: {addr}\r\n{auth}\r\nConnection: close\r\n\r\n");
    c.write_all(req.as_bytes()).expect("send");
    let mut raw = Vec::new();
    let _ = c.read_to_end(&mut raw);
    String::from_utf8_lossy(&raw).lines().next().unwrap_or("").to_string()
}

fn received(report: &Value, what: &str) -> u64 {
    report["datastores"][0]["received"][what].as_u64().unwrap_or(0)
}

#[test]
fn the_message_storage_use_case_runs_against_dovecot() {
    let mut dovecot = Dovecot::start(&[("alice", "pw")]);
    {
        let mut c = imap(&dovecot);
        c.create("Work").expect("create Work");
        c.append("INBOX", &[], b"From: bob@example.com\r\nSubject: Hello\r\n\r\nHi Alice.\r\n").expect("append");
        c.append("Work", &["\\Flagged"], b"From: boss@example.com\r\nSubject: Report\r\n\r\nBy Friday.\r\n")
            .expect("append");
        c.logout();
    }
    let (_dir, s) = gateway(&dovecot);
    assert_eq!(call(&s, "POST", "/api/v1/users", Some(json!({ "name": "alice", "password": "pw" }))).0, 201);
    let prefs = json!({ "mode": "automatic", "channel": "longpoll", "datastores": ["messages"] });
    assert_eq!(call(&s, "PUT", "/api/v1/users/alice/devices/pc/prefs", Some(prefs)).0, 200);

    // Both devices get the store as it is: two folders, two messages.
    let (phone, pc) = (Sim::new("phone"), Sim::new("pc"));
    for dev in [&phone, &pc] {
        let r = dev.sync(&s, "messages");
        assert_eq!(received(&r, "added"), 4, "{r}");
        assert_eq!(subjects(dev), ["Hello", "Report"]);
    }
    let (_, _, report) = phone.find("messages", "Subject: Report");
    assert!(report.contains("<flagged>true</flagged>"), "{report}");

    // Another IMAP client appends a message: the automatic PC is alerted (no polling here: the
    // gateway's IDLE on INBOX sees it; its watcher starts within 3 s of the first device), both
    // devices get it.
    use base64::Engine as _;
    let basic = format!("Authorization: Basic {}", base64::engine::general_purpose::STANDARD.encode("alice:pw"));
    // The PC takes what is pending (its first sync's changes alerted it), then waits.
    let taken = s.request("GET", "/notify?device=pc", &[&basic], b"");
    assert!(taken.status == 200 || taken.status == 204, "{}", taken.status);
    std::thread::sleep(Duration::from_secs(4));
    {
        let (addr, auth) = (s.addr.clone(), basic.clone());
        let waiting = std::thread::spawn(move || {
            let t = Instant::now();
            (long_poll(&addr, &auth), t)
        });
        std::thread::sleep(Duration::from_millis(500));
        let mut other = imap(&dovecot);
        other
            .append("INBOX", &[], b"From: carol@example.com\r\nSubject: Direct\r\n\r\nStraight into IMAP.\r\n")
            .expect("append");
        other.logout();
        let (answer, t) = waiting.join().expect("long-poll");
        assert!(answer.starts_with("HTTP/1.1 200"), "the PC's long-poll got no notification: {answer}");
        assert!(t.elapsed() < Duration::from_secs(8), "alerted after {:?}", t.elapsed());
    }
    for dev in [&phone, &pc] {
        let r = dev.sync(&s, "messages");
        assert_eq!(received(&r, "added"), 1, "{r}");
        assert_eq!(subjects(dev), ["Direct", "Hello", "Report"]);
    }

    // A flag set directly in IMAP reaches the devices as the message's state.
    let mut other = imap(&dovecot);
    other.select("INBOX").expect("select");
    let (metas, _) = other.fetch_meta(None).expect("fetch");
    for m in &metas {
        other.store_flags(m.uid, syncgate::imap::FlagMode::Add, &["\\Seen"]).expect("store");
    }
    for dev in [&phone, &pc] {
        let r = dev.sync(&s, "messages");
        assert_eq!(received(&r, "replaced"), 2, "{r}");
        let (_, _, direct) = dev.find("messages", "Subject: Direct");
        assert!(direct.contains("<read>true</read>"), "{direct}");
    }

    // The phone renames its folder Work to Job: renamed in IMAP, with the message inside.
    let (work, _, _) = phone.find("messages", "<name>Work</name>");
    fs::write(phone.data("messages").join(&work), "<Folder><name>Job</name></Folder>").expect("rename locally");
    let r = phone.sync(&s, "messages");
    assert_eq!(r["datastores"][0]["sent"]["replaced"], 1, "{r}");
    let names: Vec<String> = other.list().expect("list").into_iter().map(|b| b.name).collect();
    assert!(names.contains(&"Job".to_string()) && !names.contains(&"Work".to_string()), "{names:?}");
    assert_eq!(other.select("Job").expect("select Job").exists, 1);
    let r = pc.sync(&s, "messages");
    assert!(pc.find("messages", "<name>Job</name>").2.contains("Job"), "{r}");

    // Another client renames Job to Projects: the devices get one folder change, not the
    // messages again.
    other.rename("Job", "Projects").expect("rename in IMAP");
    for dev in [&phone, &pc] {
        let r = dev.sync(&s, "messages");
        let got = &r["datastores"][0]["received"];
        assert_eq!(
            (got["replaced"].as_u64(), got["added"].as_u64(), got["deleted"].as_u64()),
            (Some(1), Some(0), Some(0)),
            "{r}"
        );
        let (projects, _, _) = dev.find("messages", "<name>Projects</name>");
        let (_, parent, _) = dev.find("messages", "Subject: Report");
        assert_eq!(parent.as_deref(), Some(projects.as_str()));
    }
    other.logout();

    // Dovecot stops; the phone writes a message: refused (503), kept, sent again later.
    dovecot.stop();
    let (inbox, _, _) = phone.find("messages", "<name>INBOX</name>");
    fs::write(
        phone.data("messages").join("offline-1"),
        "<Email><read>false</read><emailitem>Subject: Offline&#13;\n&#13;\nWritten while IMAP was down.&#13;\n</emailitem></Email>",
    )
    .expect("write message");
    let mut meta = phone.meta("messages");
    meta["items"]["offline-1"] = json!({ "content_type": "application/vnd.omads-email+xml", "parent": inbox });
    phone.set_meta("messages", &meta);
    let (_, r) = phone.try_sync(&s, "messages");
    assert_eq!(r["datastores"][0]["sent"]["failed"], 1, "{r}");
    assert!(phone.items("messages").iter().any(|(l, _, _)| l == "offline-1"), "the phone keeps it");

    dovecot.restart();
    let r = phone.sync(&s, "messages");
    assert_eq!(r["datastores"][0]["sent"]["added"], 1, "{r}");
    let r = pc.sync(&s, "messages");
    assert_eq!(received(&r, "added"), 1, "{r}");
    assert_eq!(subjects(&pc), ["Direct", "Hello", "Offline", "Report"]);
    let r = phone.sync(&s, "messages");
    assert_eq!(received(&r, "added") + r["datastores"][0]["sent"]["added"].as_u64().unwrap_or(0), 0, "{r}");
    let mut c = imap(&dovecot);
    assert_eq!(c.select("INBOX").expect("select").exists, 3, "Hello, Direct and Offline, once each");
}

#[test]
fn dovecot_stopping_in_the_middle_of_a_session_loses_nothing() {
    let mut dovecot = Dovecot::start(&[("alice", "pw")]);
    {
        let mut c = imap(&dovecot);
        for i in 0..300 {
            let text =
                format!("From: list@example.com\r\nSubject: post {i:03}\r\n\r\n{}\r\n", "Some text. ".repeat(60));
            c.append("INBOX", &[], text.as_bytes()).expect("append");
        }
        c.logout();
    }
    let (_dir, s) = gateway(&dovecot);
    assert_eq!(call(&s, "POST", "/api/v1/users", Some(json!({ "name": "alice", "password": "pw" }))).0, 201);
    let phone = Sim::new("phone");
    // Small messages: the server's package takes many round trips; Dovecot stops after a few.
    let child = phone.spawn_sync(&s, "messages", &["--max-msg-size", "4000", "--xml"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while phone.messages_dumped() < 8 {
        assert!(Instant::now() < deadline, "the session did not get going");
        std::thread::sleep(Duration::from_millis(20));
    }
    dovecot.stop();
    let out = child.wait_with_output().expect("client");
    let held = phone.items("messages").len();
    assert!(held < 301, "the session ended early ({held} items held): {}", String::from_utf8_lossy(&out.stdout));

    dovecot.restart();
    let r = phone.sync(&s, "messages");
    assert_eq!(r["outcome"], "ok", "{r}");
    let mut subjects = subjects(&phone);
    let n = subjects.len();
    subjects.dedup();
    assert_eq!((n, subjects.len()), (300, 300), "every message once");
    let mut c = imap(&dovecot);
    assert_eq!(c.select("INBOX").expect("select").exists, 300, "nothing lost in IMAP");
}

/// Dovecot as "another client" for the IMAP store checks (logs in as any user through the
/// master user).
struct DovecotServer(std::sync::Mutex<Dovecot>, u16);

impl DovecotServer {
    fn conn(&self, user: &str) -> Connection {
        let mut c = Connection::connect(&format!("127.0.0.1:{}", self.1), Duration::from_secs(5)).expect("connect");
        c.login(&format!("{user}*syncgate-master"), "masterpw").expect("master login");
        c
    }
}

impl syncgate::store::imap::checks::MailServer for DovecotServer {
    fn delimiter(&self) -> char {
        let mut c = self.conn("probe");
        let d = c.list().expect("list").iter().find_map(|b| b.delimiter).unwrap_or('/');
        c.logout();
        d
    }

    fn create(&self, user: &str, mailbox: &str) {
        self.conn(user).create(mailbox).expect("create");
    }

    fn rename(&self, user: &str, from: &str, to: &str) {
        self.conn(user).rename(from, to).expect("rename");
    }

    fn delete(&self, user: &str, mailbox: &str) {
        self.conn(user).delete_mailbox(mailbox).expect("delete");
    }

    fn append(&self, user: &str, mailbox: &str, flags: &[&str], body: &[u8]) -> u32 {
        self.conn(user).append(mailbox, flags, body).expect("append").expect("APPENDUID")
    }

    fn add_flags(&self, user: &str, mailbox: &str, uid: u32, flags: &[&str]) {
        let mut c = self.conn(user);
        c.select(mailbox).expect("select");
        c.store_flags(uid, syncgate::imap::FlagMode::Add, flags).expect("store");
    }

    fn expunge(&self, user: &str, mailbox: &str, uid: u32) {
        let mut c = self.conn(user);
        c.select(mailbox).expect("select");
        c.delete_message(uid).expect("expunge");
    }

    fn messages(&self, user: &str, mailbox: &str) -> Vec<(Vec<String>, Vec<u8>)> {
        let mut c = self.conn(user);
        if c.select(mailbox).is_err() {
            return Vec::new();
        }
        let (metas, _) = c.fetch_meta(None).expect("fetch");
        metas.into_iter().map(|m| (m.flags, c.fetch_body(m.uid).expect("body").unwrap_or_default())).collect()
    }

    fn mailboxes(&self, user: &str) -> Vec<String> {
        self.conn(user).list().expect("list").into_iter().map(|b| b.name).collect()
    }

    fn set_down(&self, down: bool) {
        let mut d = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if down {
            d.stop();
        } else {
            d.restart();
        }
    }
}

/// Every IMAP store check against `dovecot` with `config` (address and TLS filled in by the caller).
fn run_checks(dovecot: Dovecot, config: syncgate::store::imap::config::ImapConfig) {
    use std::sync::Arc;
    use syncgate::store::imap::pool::ImapMailer;
    use syncgate::store::imap::ImapStore;
    let port = dovecot.port;
    let server = DovecotServer(std::sync::Mutex::new(dovecot), port);
    let config = syncgate::store::imap::config::ImapConfig {
        enabled: true,
        master_user: "syncgate-master".into(),
        master_password: "masterpw".into(),
        timeout_secs: 3,
        ..config
    };
    for (i, (name, check)) in syncgate::store::imap::checks::all().into_iter().enumerate() {
        let local = Arc::new(syncgate::store::memory::MemoryStore::new());
        let store = ImapStore::new(local, Arc::new(ImapMailer::new(config.clone())), "messages");
        check(&store, &server, &format!("check{i}"));
        eprintln!("imap check {name} against Dovecot ({:?}): ok", config.tls);
    }
}

#[test]
fn the_imap_store_checks_against_dovecot() {
    use syncgate::store::imap::config::ImapConfig;
    let dovecot = Dovecot::start(&[("alice", "pw")]);
    let address = format!("127.0.0.1:{}", dovecot.port);
    run_checks(dovecot, ImapConfig { address, ..ImapConfig::default() });
}

/// The same checks with the gateway's connections secured by STARTTLS and IMAPS ([imap] tls,
/// ca_file, server_name), Dovecot stopped and restarted in the middle as before.
#[test]
fn the_imap_store_checks_against_dovecot_over_tls() {
    use syncgate::store::imap::config::{ImapConfig, ImapTls};
    let dir = super::server::TempDir::new();
    let ca = super::certs::Ca::new(dir.path(), "imap-store-ca");
    let (cert, key) = ca.issue("dovecot", super::certs::Key::RsaPkcs8);
    for tls in [ImapTls::Starttls, ImapTls::Imaps] {
        let dovecot = Dovecot::start_tls(&[("alice", "pw")], &cert, &key);
        let port = if tls == ImapTls::Imaps { dovecot.tls_port.expect("IMAPS port") } else { dovecot.port };
        let config = ImapConfig {
            address: format!("127.0.0.1:{port}"),
            tls,
            ca_file: Some(ca.pem.clone()),
            server_name: Some("localhost".into()),
            ..ImapConfig::default()
        };
        run_checks(dovecot, config);
    }
}
