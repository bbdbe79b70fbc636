//! The SMS push channel end to end through a real Kannel (PROTOCOL.md §8.5): Debian's
//! `bearerbox` and `smsbox` run with a generated `kannel.conf` on free loopback ports in a
//! temporary directory, with an SMSC of type `fake`; Kannel's own `fakesmsc` (package
//! `kannel-extras`) is the phone side and prints every SMS Kannel delivers to it. A SAN goes in
//! through `KannelEnabler`; the parts fakesmsc printed must be exactly the parts
//! `notify::wap` framed, and they must reassemble and unwrap to the very SAN that was sent.
//!
//! Every process is stopped by its pid when the test ends, also when it fails (a drop guard).
//! Missing binaries fail the test with a pointer at `scripts/test`, which installs them.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use syncgate::notify::san::{self, San, SanSecret, SanSync};
use syncgate::notify::wap::{self, SmsPart};
use syncgate::proto::AlertCode;
use syncgate::server::push::kannel::{KannelConfig, KannelEnabler};
use syncgate::server::push::{Delivery, PushEnabler, PushError};

use crate::server::TempDir;

const BEARERBOX: &[&str] = &["/usr/sbin/bearerbox", "/usr/bin/bearerbox"];
const SMSBOX: &[&str] = &["/usr/sbin/smsbox", "/usr/bin/smsbox"];
const FAKESMSC: &[&str] = &["/usr/lib/kannel/test/fakesmsc", "/usr/libexec/kannel/test/fakesmsc"];
const USERNAME: &str = "syncgate";
const PASSWORD: &str = "s3cret+pw";
const ADMIN_PASSWORD: &str = "admin-pw";
const SENDER: &str = "4711";
pub(super) const MSISDN: &str = "+491701234567";
/// Longest wait for a process to come up or for SMS to arrive.
const PATIENCE: Duration = Duration::from_secs(15);

const SECRET: SanSecret<'static> = SanSecret { identity: "syncgate", password: "device-secret", nonce: b"nonce-1" };

#[test]
fn kannel_delivers_a_single_sms_push() {
    let kannel = Kannel::start();
    let san = San {
        server_id: "syncgate".into(),
        session_id: 0x0102,
        syncs: vec![SanSync { sync_type: AlertCode::from(206), content_type: 0x07, server_uri: "card".into() }],
        ..San::default()
    };
    let bytes = san.encode(Some(&SECRET)).expect("the SAN encodes");
    kannel.deliver(0x1_00 + 0x2A, &bytes).expect("Kannel takes the push");

    let parts = kannel.received(1);
    assert_eq!(parts, wap::encode(&bytes, 0x2A).unwrap(), "Kannel passed the part through unchanged");
    assert_eq!(parts[0].udh, [0x06, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0]);
    assert_sent(&parts, &bytes, &san);

    // A wrong password is Kannel's 403: permanent, nothing sent.
    let wrong = KannelEnabler::new(KannelConfig { password: "wrong".into(), ..kannel.config() }).unwrap();
    let result = kannel.runtime().block_on(wrong.deliver(&delivery(7, &bytes)));
    assert!(matches!(&result, Err(PushError::Permanent(m)) if m.contains("403")), "{result:?}");
}

#[test]
fn kannel_delivers_a_concatenated_push() {
    let kannel = Kannel::start();
    let syncs = (1..=15)
        .map(|i| SanSync {
            sync_type: AlertCode::from(206),
            content_type: 0x0309,
            server_uri: format!("./contacts-{i:02}"),
        })
        .collect();
    let san = San { server_id: "https://sync.example.org/syncgate".into(), syncs, ..San::default() };
    let bytes = san.encode(Some(&SECRET)).expect("the SAN encodes");
    let expected = wap::encode(&bytes, 0x01).unwrap();
    assert!(expected.len() >= 2, "the SAN needs concatenated SMS");
    kannel.deliver(0x201, &bytes).expect("Kannel takes the push");

    let mut parts = kannel.received(expected.len());
    assert_eq!(parts, expected, "Kannel passed every part through unchanged, in order");
    for part in &parts {
        assert!(part.udh.len() + part.data.len() <= wap::MAX_SMS_OCTETS);
    }
    parts.reverse();
    assert_sent(&parts, &bytes, &san);
}

/// The parts unwrap to `bytes`, which decode to `san` and carry the digest of `SECRET`.
fn assert_sent(parts: &[SmsPart], bytes: &[u8], san: &San) {
    let received = wap::decode(parts).expect("the parts are one WAP push of a DS notification");
    assert_eq!(received, bytes);
    let (decoded, _) = San::decode(&received).expect("the SAN decodes");
    assert_eq!(&decoded, san);
    assert!(san::verify(&received, &SECRET), "the digest survived");
}

fn delivery(alert_id: i64, san: &[u8]) -> Delivery {
    Delivery {
        alert_id,
        user: "alice".into(),
        device: "IMEI:350000000000001".into(),
        address: Some(MSISDN.into()),
        san: san.to_vec(),
    }
}

/// bearerbox, smsbox and fakesmsc on loopback, stopped by pid on drop.
pub(super) struct Kannel {
    dir: TempDir,
    sendsms_port: u16,
    processes: Vec<(&'static str, Child)>,
    runtime: tokio::runtime::Runtime,
}

impl Kannel {
    pub(super) fn start() -> Kannel {
        let bearerbox = find(BEARERBOX, "bearerbox", "kannel");
        let smsbox = find(SMSBOX, "smsbox", "kannel");
        let fakesmsc = find(FAKESMSC, "fakesmsc", "kannel-extras");
        let dir = TempDir::new();
        let [admin, box_port, fake, sendsms] = free_ports();
        let config = dir.path().join("kannel.conf");
        fs::write(&config, kannel_conf(dir.path(), admin, box_port, fake, sendsms)).expect("write kannel.conf");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        let mut kannel = Kannel { dir, sendsms_port: sendsms, processes: Vec::new(), runtime };

        kannel.spawn("bearerbox", Command::new(bearerbox).args(["-v", "1"]).arg(&config));
        kannel.wait_until("bearerbox listens for the SMSC and the boxes", || {
            listening(fake) && listening(box_port) && listening(admin)
        });
        // The phone side: no messages of its own (-m 0), debug output (-v 0) prints each SMS
        // it receives as "Got message N: <from to udh UDH data DATA>".
        let port = fake.to_string();
        kannel.spawn(
            "fakesmsc",
            Command::new(fakesmsc).args(["-H", "127.0.0.1", "-r", &port, "-m", "0", "-v", "0", "0 0 text unused"]),
        );
        kannel.spawn("smsbox", Command::new(smsbox).args(["-v", "1"]).arg(&config));
        kannel.wait_until("smsbox and fakesmsc are connected to bearerbox", || {
            let status = http_get(admin, &format!("/status.txt?password={ADMIN_PASSWORD}")).unwrap_or_default();
            status.contains("smsbox:") && status.contains("(online") && listening(sendsms)
        });
        kannel
    }

    pub(super) fn config(&self) -> KannelConfig {
        KannelConfig {
            sendsms_url: format!("http://127.0.0.1:{}/cgi-bin/sendsms", self.sendsms_port),
            username: USERNAME.into(),
            password: PASSWORD.into(),
            from: SENDER.into(),
            timeout_secs: 10,
        }
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }

    fn deliver(&self, alert_id: i64, san: &[u8]) -> Result<(), PushError> {
        let enabler = KannelEnabler::new(self.config()).expect("a valid Kannel config");
        self.runtime.block_on(enabler.deliver(&delivery(alert_id, san)))
    }

    /// The first `count` SMS fakesmsc received, checked to be from `SENDER` to `MSISDN`.
    pub(super) fn received(&self, count: usize) -> Vec<SmsPart> {
        let mut lines = Vec::new();
        self.wait_until(&format!("fakesmsc receives {count} SMS"), || {
            let log = fs::read(self.dir.path().join("fakesmsc.out")).unwrap_or_default();
            lines = String::from_utf8_lossy(&log).lines().filter_map(received_line).map(str::to_string).collect();
            lines.len() >= count
        });
        lines.truncate(count);
        lines
            .iter()
            .map(|line| {
                let fields: Vec<&str> = line.split(' ').collect();
                match fields[..] {
                    [from, to, "udh", udh, "data", data] => {
                        assert_eq!((from, to), (SENDER, MSISDN), "sender and receiver of {line}");
                        SmsPart { udh: url_decode(udh), data: url_decode(data) }
                    }
                    _ => panic!("fakesmsc printed an SMS without UDH and 8-bit data: {line}\n{}", self.logs()),
                }
            })
            .collect()
    }

    fn spawn(&mut self, name: &'static str, command: &mut Command) {
        let out = fs::File::create(self.dir.path().join(format!("{name}.out"))).expect("create a log file");
        let err = out.try_clone().expect("clone a log file handle");
        let child = command
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}; run scripts/test"));
        self.processes.push((name, child));
    }

    /// Polls `ready` until it holds; fails with the logs after `PATIENCE` or when a process died.
    fn wait_until(&self, what: &str, mut ready: impl FnMut() -> bool) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if ready() {
                return;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting until {what}\n{}", self.logs());
            }
            for (name, child) in &self.processes {
                let pid = child.id();
                // try_wait needs &mut; /proc tells whether the pid is still a live process.
                let state = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                if state.is_empty() || state.split(") ").nth(1).is_some_and(|rest| rest.starts_with('Z')) {
                    panic!("{name} (pid {pid}) exited while waiting until {what}\n{}", self.logs());
                }
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The tail of every process's output, for failure messages.
    fn logs(&self) -> String {
        let mut out = String::new();
        for (name, _) in &self.processes {
            let text = fs::read(self.dir.path().join(format!("{name}.out"))).unwrap_or_default();
            let text = String::from_utf8_lossy(&text);
            let lines: Vec<&str> = text.lines().collect();
            out.push_str(&format!("--- {name} (last lines)\n{}\n", lines[lines.len().saturating_sub(25)..].join("\n")));
        }
        out
    }
}

impl Drop for Kannel {
    fn drop(&mut self) {
        // Boxes before bearerbox; SIGKILL by pid (`Child::kill`), then reap.
        for (_, child) in self.processes.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The first of `candidates` that exists, or a failure that says how to get it.
fn find(candidates: &[&str], tool: &str, package: &str) -> PathBuf {
    candidates.iter().map(PathBuf::from).find(|path| path.is_file()).unwrap_or_else(|| {
        panic!(
            "the Kannel test needs `{tool}` (Debian package {package}; looked in {candidates:?}); \
             run the suite with scripts/test, which installs kannel and kannel-extras"
        )
    })
}

/// Four distinct free loopback ports (held together while chosen).
fn free_ports() -> [u16; 4] {
    let listeners: Vec<TcpListener> =
        (0..4).map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0")).collect();
    let ports: Vec<u16> = listeners.iter().map(|l| l.local_addr().expect("a local address").port()).collect();
    [ports[0], ports[1], ports[2], ports[3]]
}

fn kannel_conf(dir: &Path, admin: u16, box_port: u16, fake: u16, sendsms: u16) -> String {
    let dir = dir.display();
    format!(
        r#"# Generated by tests/it/kannel.rs: everything on 127.0.0.1.
group = core
admin-port = {admin}
admin-interface = 127.0.0.1
admin-password = "{ADMIN_PASSWORD}"
admin-allow-ip = "127.0.0.1"
smsbox-port = {box_port}
smsbox-interface = 127.0.0.1
box-deny-ip = "*.*.*.*"
box-allow-ip = "127.0.0.1"
log-file = "{dir}/bearerbox.log"
log-level = 0

group = smsc
smsc = fake
smsc-id = fake
host = 127.0.0.1
port = {fake}
our-host = 127.0.0.1
connect-allow-ip = "127.0.0.1"

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {box_port}
sendsms-port = {sendsms}
sendsms-interface = 127.0.0.1
log-file = "{dir}/smsbox.log"
log-level = 0

# Parts arrive framed and at most 140 octets: one SMS per request, never split or concatenated.
group = sendsms-user
username = "{USERNAME}"
password = "{PASSWORD}"
user-allow-ip = "127.0.0.1"
max-messages = 1
concatenation = false
"#
    )
}

/// The `from to …` part of a fakesmsc "Got message N: <…>" line.
fn received_line(line: &str) -> Option<&str> {
    let rest = &line[line.find("Got message ")?..];
    let start = rest.find(": <")? + 3;
    rest[start..].strip_suffix('>')
}

/// Kannel's `octstr_url_decode`: `%XX` octets and `+` for space.
fn url_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
                out.push(hex.unwrap_or_else(|| panic!("bad %-escape at {i} in {text}")));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn listening(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
}

/// A plain HTTP/1.0 GET on loopback; the body, or `None` if the exchange failed.
fn http_get(port: u16, target: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(format!("GET {target} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    raw.split_once("\r\n\r\n").map(|(_, body)| body.to_string())
}
