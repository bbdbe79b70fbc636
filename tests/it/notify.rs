//! Server-initiated sync on the real binary (issue 7): a device with automatic preferences
//! waits on the long-poll channel (`syncgate client … wait`), another device adds a message
//! through sync, and the first gets a notification it verifies and syncs on; the author is
//! not alerted. Fifty deposits through the service API in about a second give each automatic
//! device one alert.

use std::fs;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

use super::server::{Server, TempDir};

const AUTH: &str = "Authorization: Bearer operator-secret";

fn start() -> (TempDir, Server) {
    start_with("")
}

/// The gateway with the API on, short long-poll heartbeats, and `extra` configuration.
fn start_with(extra: &str) -> (TempDir, Server) {
    let dir = TempDir::new();
    let cfg = dir.path().join("syncgate.toml");
    let text = format!("[api]\ntoken = \"operator-secret\"\n\n[notify]\nlongpoll_heartbeat_secs = 2\n{extra}");
    fs::write(&cfg, text).expect("config");
    let server = Server::start(&dir.path().join("data"), &["--config", cfg.to_str().expect("utf-8 path")]);
    (dir, server)
}

fn call(s: &Server, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let r = s.request(method, path, &[AUTH, "Content-Type: application/json"], body.as_bytes());
    (r.status, serde_json::from_slice(&r.body).unwrap_or(Value::Null))
}

/// A simulated device of alice.
struct Device {
    dir: TempDir,
    id: &'static str,
}

impl Device {
    fn new(id: &'static str) -> Device {
        Device { dir: TempDir::new(), id }
    }

    fn command(&self, s: &Server) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_syncgate"));
        c.args(["client", "--url", &format!("http://{}/sync", s.addr), "--user", "alice", "--password", "pw"])
            .args(["--device", self.id, "--state"])
            .arg(self.dir.path());
        c
    }

    fn sync(&self, s: &Server) -> Value {
        let out = self.command(s).args(["sync", "messages", "--json"]).output().expect("run the client");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{} sync: {text}{}", self.id, String::from_utf8_lossy(&out.stderr));
        serde_json::from_str(text.trim()).expect("JSON report")
    }

    /// `client wait messages --count N` in the background; its JSON lines arrive on the channel.
    fn wait(&self, s: &Server, count: u32) -> (Child, mpsc::Receiver<Value>) {
        let mut child = self
            .command(s)
            .args(["wait", "messages", "--count", &count.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start client wait");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        (child, rx)
    }

    fn prefs(&self, s: &Server, prefs: Value) {
        let (st, v) = call(s, "PUT", &format!("/api/v1/users/alice/devices/{}/prefs", self.id), Some(prefs));
        assert_eq!(st, 200, "{v}");
    }

    fn alerts(&self, s: &Server) -> Vec<Value> {
        let (st, v) = call(s, "GET", &format!("/api/v1/users/alice/devices/{}/alerts", self.id), None);
        assert_eq!(st, 200, "{v}");
        v["alerts"].as_array().cloned().unwrap_or_default()
    }

    fn messages(&self) -> Vec<String> {
        match fs::read_dir(self.dir.path().join("data/messages")) {
            Ok(dir) => dir
                .filter_map(Result::ok)
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .map(|e| fs::read_to_string(e.path()).expect("item"))
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// Gives the client a moment to open its long-poll (an alert due before that waits for the
/// poll anyway) and checks it is still running.
fn until_polling(mut child: Child) -> Child {
    std::thread::sleep(Duration::from_millis(300));
    if let Ok(Some(status)) = child.try_wait() {
        panic!("client wait ended early: {status}");
    }
    child
}

const AUTOMATIC: &str = r#"{"mode":"automatic","channel":"longpoll","datastores":["messages"]}"#;

#[test]
fn a_device_adding_a_message_alerts_the_other_which_verifies_and_syncs() {
    let (_dir, s) = start();
    assert_eq!(call(&s, "POST", "/api/v1/users", Some(json!({ "name": "alice", "password": "pw" }))).0, 201);
    let (a, b) = (Device::new("phone-a"), Device::new("pc-b"));
    for d in [&a, &b] {
        d.sync(&s);
        d.prefs(&s, serde_json::from_str(AUTOMATIC).unwrap());
    }
    let (child, lines) = a.wait(&s, 1);
    let mut child = until_polling(child);

    // B adds a message through sync.
    let data = b.dir.path().join("data/messages");
    fs::create_dir_all(&data).expect("data folder");
    let mail = "<Email><read>false</read><emailitem>From: b@example.com&#13;\nSubject: from B&#13;\n&#13;\nhi</emailitem></Email>";
    fs::write(data.join("m1"), mail).expect("write the message");
    let r = b.sync(&s);
    assert_eq!(r["datastores"][0]["sent"]["added"], 1, "{r}");

    let line = lines.recv_timeout(Duration::from_secs(20)).expect("A got a notification");
    assert_eq!(line["verified"], true, "{line}");
    assert_eq!(line["datastores"], json!(["messages"]), "{line}");
    assert_eq!(line["sync"]["datastores"][0]["received"]["added"], 1, "{line}");
    assert!(child.wait().expect("wait ends").success());
    assert!(a.messages().iter().any(|m| m.contains("Subject: from B")), "A has the message");

    let sent = a.alerts(&s);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["state"], "sent", "{sent:?}");
    let latency = sent[0]["sent"].as_i64().unwrap_or(0) - sent[0]["created"].as_i64().unwrap_or(0);
    eprintln!("commit to long-poll delivery: {latency} ms (BENCHMARKS.md has the measured distribution)");
    assert!(b.alerts(&s).is_empty(), "B is not alerted for its own change");
}

#[test]
fn fifty_deposits_in_a_second_give_each_automatic_device_one_alert() {
    let (_dir, s) = start();
    assert_eq!(call(&s, "POST", "/api/v1/users", Some(json!({ "name": "alice", "password": "pw" }))).0, 201);
    let (a, b, c) = (Device::new("phone-a"), Device::new("tablet-b"), Device::new("pc-c"));
    a.prefs(&s, serde_json::from_str(AUTOMATIC).unwrap());
    b.prefs(&s, serde_json::from_str(AUTOMATIC).unwrap());
    c.prefs(&s, json!({ "mode": "manual" }));
    let (child, lines) = a.wait(&s, 1);
    let mut child = until_polling(child);
    let started = std::time::Instant::now();
    for i in 0..50 {
        let mail = format!("From: service@example.com\r\nSubject: deposit {i}\r\n\r\nbody {i}\r\n");
        let (st, v) = call(&s, "POST", "/api/v1/users/alice/messages/deposit", Some(json!({ "rfc822": mail })));
        assert_eq!(st, 201, "{v}");
        std::thread::sleep(Duration::from_millis(15));
    }
    eprintln!("50 deposits took {:?}", started.elapsed());
    let line = lines.recv_timeout(Duration::from_secs(20)).expect("A got a notification");
    assert_eq!(line["verified"], true, "{line}");
    assert!(child.wait().expect("wait ends").success());
    // Let any further alert that was (wrongly) due go out before counting.
    std::thread::sleep(Duration::from_millis(500));
    for d in [&a, &b] {
        let alerts = d.alerts(&s);
        let sent = alerts.iter().filter(|x| x["state"] == "sent").count();
        let pending = alerts.iter().filter(|x| x["state"] == "pending").count();
        assert!(alerts.len() <= 2 && pending <= 1, "{}: {alerts:?}", d.id);
        if d.id == "phone-a" {
            assert_eq!(sent, 1, "{alerts:?}");
        } else {
            // Not polling: its one alert waits for its next poll.
            assert_eq!((sent, alerts.len()), (0, 1), "{alerts:?}");
        }
    }
    assert!(c.alerts(&s).is_empty(), "manual devices are not alerted");
}

#[test]
fn the_same_flow_through_kannel_reaches_the_phone_as_a_wap_push() {
    use base64::Engine as _;
    use syncgate::notify::san::{self, San, SanSecret};
    use syncgate::notify::wap;

    let kannel = super::kannel::Kannel::start();
    let k = kannel.config();
    let sms = format!(
        "\n[notify.sms]\nsendsms_url = \"{}\"\nusername = \"{}\"\npassword = \"{}\"\nfrom = \"{}\"\n",
        k.sendsms_url, k.username, k.password, k.from
    );
    let (_dir, s) = start_with(&sms);
    assert_eq!(call(&s, "POST", "/api/v1/users", Some(json!({ "name": "alice", "password": "pw" }))).0, 201);
    let (phone, pc) = (Device::new("phone-sms"), Device::new("pc-b"));
    phone.sync(&s);
    pc.sync(&s);
    let prefs = json!({ "mode": "automatic", "channel": "sms", "address": super::kannel::MSISDN });
    phone.prefs(&s, prefs);

    let data = pc.dir.path().join("data/messages");
    fs::create_dir_all(&data).expect("data folder");
    fs::write(
        data.join("m1"),
        "<Email><read>false</read><emailitem>Subject: by SMS&#13;\n&#13;\nhi</emailitem></Email>",
    )
    .expect("write the message");
    assert_eq!(pc.sync(&s)["datastores"][0]["sent"]["added"], 1);

    // What Kannel's fake SMSC handed to the "phone": UDH + WSP push + SAN.
    let parts = kannel.received(1);
    assert_eq!(parts[0].udh[..7], [0x06, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0], "port 2948 from 9200");
    let bytes = wap::decode(&parts).expect("a WAP push of a DS notification");
    let (notification, _) = San::decode(&bytes).expect("a SAN");
    assert_eq!(notification.syncs[0].server_uri, "messages");
    let state: Value =
        serde_json::from_slice(&fs::read(phone.dir.path().join("state.json")).expect("state")).expect("JSON");
    let nonce = base64::engine::general_purpose::STANDARD.decode(state["nonce"].as_str().unwrap_or_default()).unwrap();
    assert!(san::verify(&bytes, &SanSecret { identity: "alice", password: "pw", nonce: &nonce }), "digest");
    // The simulated phone syncs as the notification asks.
    let r = phone.sync(&s);
    assert_eq!(r["datastores"][0]["received"]["added"], 1, "{r}");
    assert!(phone.messages().iter().any(|m| m.contains("Subject: by SMS")));
    assert_eq!(phone.alerts(&s)[0]["state"], "sent");
}
