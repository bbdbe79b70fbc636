//! `/metrics` on the real binary (issue 10): a few sessions of simulated devices (a slow sync,
//! a two-way sync, a second device's first sync, a wrong password, a large object, an alert
//! over long-poll) and the counters that must have moved by exactly that much.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::server::{free_port, Server, TempDir};

const AUTH: &str = "Authorization: Bearer operator-secret-token";

/// The series of an OpenMetrics text (`name{labels}` → value), comments skipped.
fn parse(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn scrape(port: u16) -> (String, BTreeMap<String, f64>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the metrics listener");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").expect("send");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: application/openmetrics-text"), "{head}");
    assert!(body.trim_end().ends_with("# EOF"), "a complete exposition ends with # EOF");
    (body.to_string(), parse(body))
}

/// The exposition read by an independent parser: the OpenMetrics parser of the Prometheus
/// project's Python client (Debian's python3-prometheus-client), which refuses what does not
/// follow the format. Returns its families as `name type samples` lines.
fn third_party_parse(text: &str) -> String {
    const PY: &str = "import sys\n\
        from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse\n\
        for f in parse(sys.stdin.read()):\n    print(f.name, f.type, len(f.samples))\n";
    let python = "/usr/bin/python3";
    let mut child = Command::new(python)
        .args(["-c", PY])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{python} cannot run ({e}): scripts/test installs python3-prometheus-client"));
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write");
    let out = child.wait_with_output().expect("python ends");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the Prometheus client's OpenMetrics parser refuses the exposition (missing? scripts/test installs python3-prometheus-client):\n{err}"
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn value(m: &BTreeMap<String, f64>, series: &str) -> f64 {
    m.get(series).copied().unwrap_or(0.0)
}

struct Device {
    dir: TempDir,
    id: &'static str,
    password: &'static str,
}

impl Device {
    fn new(id: &'static str) -> Device {
        Device { dir: TempDir::new(), id, password: "pw" }
    }

    fn add(&self, name: &str, text: &str) {
        let dir = self.dir.path().join("data/contacts");
        fs::create_dir_all(&dir).expect("data folder");
        fs::write(dir.join(name), text).expect("item");
    }

    fn sync(&self, s: &Server, extra: &[&str]) -> (bool, Value) {
        let out = Command::new(env!("CARGO_BIN_EXE_syncgate"))
            .args(["client", "--url", &format!("http://{}/sync", s.addr), "--user", "alice"])
            .args(["--password", self.password, "--device", self.id, "--state"])
            .arg(self.dir.path())
            .args(extra)
            .args(["sync", "contacts", "--json"])
            .stderr(Stdio::piped())
            .output()
            .expect("run the client");
        let text = String::from_utf8_lossy(&out.stdout);
        (out.status.success(), serde_json::from_str(text.trim()).unwrap_or(Value::Null))
    }
}

fn vcard(name: &str, pad: usize) -> String {
    format!("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{name}\r\nN:{name};;;;\r\nNOTE:{}\r\nEND:VCARD\r\n", "x".repeat(pad))
}

#[test]
fn counters_move_with_sessions_items_auth_failures_large_objects_and_alerts() {
    let dir = TempDir::new();
    let port = free_port();
    let cfg = dir.path().join("syncgate.toml");
    fs::write(
        &cfg,
        format!(
            "[api]\ntoken = \"operator-secret-token\"\n[notify]\nlongpoll_heartbeat_secs = 2\n\
             [notify.policy]\ncoalesce_ms = 0\nmin_interval_secs = 0\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n"
        ),
    )
    .expect("config");
    let s = Server::start(&dir.path().join("data"), &["--config", cfg.to_str().expect("utf-8")]);
    let r =
        s.request("POST", "/api/v1/users", &[AUTH], json!({"name": "alice", "password": "pw"}).to_string().as_bytes());
    assert_eq!(r.status, 201, "{}", r.text());

    let (text, before) = scrape(port);
    for family in ["auth_failures", "message_duration_seconds", "store_duration_seconds", "open_sessions"] {
        assert!(text.contains(&format!("# TYPE syncgate_{family} ")), "{family} is described:\n{text}");
    }
    assert_eq!(value(&before, "syncgate_open_sessions"), 0.0);
    assert_eq!(value(&before, r#"syncgate_auth_failures_total{status="401"}"#), 0.0);

    // The phone: a first (slow) sync with three contacts, then a two-way sync with one more.
    let phone = Device::new("phone-1");
    for i in 0..3 {
        phone.add(&format!("{i}.vcf"), &vcard(&format!("Person{i}"), 10));
    }
    let (ok, report) = phone.sync(&s, &[]);
    assert!(ok, "{report}");
    phone.add("3.vcf", &vcard("Person3", 10));
    let (ok, report) = phone.sync(&s, &[]);
    assert!(ok && report["datastores"][0]["mode"] == "two-way", "{report}");

    // The PC's first sync brings the four down; a wrong password is refused.
    let pc = Device::new("pc-1");
    let (ok, report) = pc.sync(&s, &[]);
    assert!(ok, "{report}");
    let mut thief = Device::new("phone-1");
    thief.password = "wrong";
    let (ok, _) = thief.sync(&s, &[]);
    assert!(!ok, "a wrong password must fail");

    // A contact larger than a message (the client's 64 KB default for the server) goes up in chunks.
    phone.add("big.vcf", &vcard("Big", 100_000));
    let (ok, report) = phone.sync(&s, &[]);
    assert!(ok, "{report}");

    // The PC waits on the long-poll channel; the phone's change alerts it, it syncs.
    let r = s.request(
        "PUT",
        "/api/v1/users/alice/devices/pc-1/prefs",
        &[AUTH],
        br#"{"mode":"automatic","channel":"longpoll","datastores":["contacts"]}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let mut waiter = Command::new(env!("CARGO_BIN_EXE_syncgate"))
        .args(["client", "--url", &format!("http://{}/sync", s.addr), "--user", "alice", "--password", "pw"])
        .args(["--device", "pc-1", "--max-msg-size", "8192", "--state"])
        .arg(pc.dir.path())
        .args(["wait", "contacts", "--count", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("client wait");
    let deadline = Instant::now() + Duration::from_secs(20);
    while value(&scrape(port).1, "syncgate_longpoll_connections") < 1.0 {
        assert!(Instant::now() < deadline, "the waiting PC never showed in longpoll_connections");
        std::thread::sleep(Duration::from_millis(50));
    }
    phone.add("4.vcf", &vcard("Person4", 10));
    let (ok, report) = phone.sync(&s, &[]);
    assert!(ok, "{report}");
    let waited = waiter.wait().expect("client wait ends after one notification");
    assert!(waited.success(), "client wait: {waited}");

    let (text, after) = scrape(port);
    for family in ["sessions", "items", "alerts", "large_objects"] {
        assert!(text.contains(&format!("# TYPE syncgate_{family} counter")), "{family} is described:\n{text}");
    }
    let families = third_party_parse(&text);
    for family in [
        "syncgate_sessions counter",
        "syncgate_items counter",
        "syncgate_message_duration_seconds histogram",
        "syncgate_store_duration_seconds histogram",
        "syncgate_longpoll_connections gauge",
    ] {
        assert!(
            families.lines().any(|l| l.starts_with(family)),
            "{family} as the Prometheus parser reads it:\n{families}"
        );
    }
    let delta = |series: &str| value(&after, series) - value(&before, series);
    let items = |op: &str, dir: &str| {
        delta(&format!(r#"syncgate_items_total{{datastore="contacts",operation="{op}",direction="{dir}"}}"#))
    };
    // Phone: 3 in its slow sync (sent as Replace, as slow syncs do), then 1, the big one and 1 more as Adds.
    assert_eq!(items("replace", "from_client"), 3.0, "{text}");
    assert_eq!(items("add", "from_client"), 3.0, "{text}");
    // PC: 4 in its first sync, then 2 (the big one and the last) after the alert.
    assert_eq!(items("add", "to_client"), 6.0, "{text}");
    assert_eq!(delta(r#"syncgate_large_objects_total{direction="from_client"}"#), 1.0, "{text}");
    assert_eq!(delta(r#"syncgate_large_objects_total{direction="to_client"}"#), 1.0, "the PC takes 8 KB: {text}");
    // The client tries its wrong password twice (the second time with the new nonce).
    let refused = delta(r#"syncgate_auth_failures_total{status="401"}"#);
    assert!(refused >= 1.0, "{text}");
    assert_eq!(delta(r#"syncgate_sessions_total{outcome="auth_failed",mode="none"}"#), refused, "{text}");
    assert_eq!(delta(r#"syncgate_auth_failures_total{status="407"}"#), 0.0, "a challenge is no failure: {text}");
    assert!(delta(r#"syncgate_sessions_total{outcome="challenged",mode="none"}"#) >= 1.0, "{text}");
    assert_eq!(delta(r#"syncgate_sessions_total{outcome="ok",mode="slow"}"#), 2.0, "phone and PC first syncs: {text}");
    assert_eq!(delta(r#"syncgate_sessions_total{outcome="ok",mode="two-way"}"#), 4.0, "{text}");
    assert_eq!(delta(r#"syncgate_alerts_total{channel="longpoll",event="queued"}"#), 1.0, "{text}");
    assert_eq!(delta(r#"syncgate_alerts_total{channel="longpoll",event="sent"}"#), 1.0, "{text}");
    assert!(delta("syncgate_message_duration_seconds_count") >= 12.0, "{text}");
    assert!(delta(r#"syncgate_store_duration_seconds_count{operation="commit"}"#) >= 5.0, "{text}");
    assert!(value(&after, "syncgate_open_sessions") >= 1.0, "finished sessions are held a while for resends");

    // Only /metrics lives there.
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.write_all(b"GET /sync HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").expect("send");
    let mut raw = String::new();
    c.read_to_string(&mut raw).expect("read");
    assert!(raw.starts_with("HTTP/1.1 404"), "{raw}");
}
