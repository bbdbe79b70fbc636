//! A throwaway Dovecot (Debian's dovecot-imapd, installed by scripts/test) for the IMAP tests:
//! loopback only, a free port, plain-text logins, a passwd-file of the test's users and a master
//! user `syncgate-master` / `masterpw` (`user*syncgate-master`), maildirs in a temp dir. Started
//! as a child process, stopped by its pid (also on drop); `append_as` delivers a message as
//! another client would. Missing Dovecot fails the test.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use syncgate::imap::Connection;

use super::server::TempDir;

const DOVECOT: &str = "/usr/sbin/dovecot";
/// The master user: `user*syncgate-master` with this password logs in as `user`.
pub(crate) const MASTER_USER: &str = "syncgate-master";
pub(crate) const MASTER_PASSWORD: &str = "masterpw";

pub(crate) struct Dovecot {
    pub(crate) port: u16,
    /// The IMAPS port, when started with a certificate ([`Dovecot::start_tls`]).
    pub(crate) tls_port: Option<u16>,
    dir: TempDir,
    child: Option<Child>,
}

fn id(flag: &str) -> String {
    let out = Command::new("id").arg(flag).output().expect("run id");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Dovecot {
    pub(crate) fn start(users: &[(&str, &str)]) -> Dovecot {
        Dovecot::start_with(users, None)
    }

    /// With TLS: STARTTLS on the IMAP port and IMAPS on `tls_port`, with this certificate chain
    /// and key (PEM files).
    pub(crate) fn start_tls(users: &[(&str, &str)], cert: &Path, key: &Path) -> Dovecot {
        Dovecot::start_with(users, Some((cert, key)))
    }

    fn start_with(users: &[(&str, &str)], tls: Option<(&Path, &Path)>) -> Dovecot {
        assert!(Path::new(DOVECOT).exists(), "{DOVECOT} is missing: install dovecot-imapd (scripts/test does)");
        let dir = TempDir::new();
        let free = || TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let port = free();
        let tls_port = tls.map(|_| free());
        let p = dir.path();
        for d in ["run", "state", "mail", "home"] {
            std::fs::create_dir_all(p.join(d)).expect("mkdir");
        }
        let passwd: String = users.iter().map(|(u, pw)| format!("{u}:{{PLAIN}}{pw}\n")).collect();
        std::fs::write(p.join("users"), passwd).expect("users");
        std::fs::write(p.join("master-users"), format!("{MASTER_USER}:{{PLAIN}}{MASTER_PASSWORD}\n"))
            .expect("master users");
        // As root, Dovecot's own accounts run it and mail belongs to nobody; otherwise all is ours.
        let root = id("-u") == "0";
        let (internal, login, uid, gid) = if root {
            ("dovecot".to_string(), "dovenull".to_string(), 65534, 65534)
        } else {
            let me = id("-un");
            (me.clone(), me, id("-u").parse().expect("uid"), id("-g").parse().expect("gid"))
        };
        if root {
            for d in ["mail", "home"] {
                std::os::unix::fs::chown(p.join(d), Some(uid), Some(gid)).expect("chown");
            }
        }
        let ssl = match (tls, tls_port) {
            (Some((cert, key)), Some(tls_port)) => format!(
                "ssl = yes\nssl_cert = <{}\nssl_key = <{}\nservice imap-login {{\n  inet_listener imaps {{\n    address = 127.0.0.1\n    port = {tls_port}\n    ssl = yes\n  }}\n}}\n",
                cert.display(),
                key.display()
            ),
            _ => "ssl = no\n".to_string(),
        };
        let conf = format!(
            "protocols = imap\nlisten = 127.0.0.1\nbase_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/dovecot.log\n\
             {ssl}shutdown_clients = yes\ndisable_plaintext_auth = no\nauth_mechanisms = plain login\nauth_master_user_separator = *\n\
             default_internal_user = {internal}\ndefault_internal_group = {internal}\ndefault_login_user = {login}\n\
             first_valid_uid = 1\nmail_location = maildir:{d}/mail/%u\n\
             service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n}}\n\
             passdb {{\n  driver = passwd-file\n  args = {d}/master-users\n  master = yes\n}}\n\
             passdb {{\n  driver = passwd-file\n  args = {d}/users\n}}\n\
             userdb {{\n  driver = static\n  args = uid={uid} gid={gid} home={d}/home/%u\n}}\n",
            d = p.display()
        );
        std::fs::write(p.join("dovecot.conf"), conf).expect("config");
        let mut d = Dovecot { port, tls_port, dir, child: None };
        d.launch();
        d
    }

    fn launch(&mut self) {
        let p = self.dir.path();
        let _ = std::fs::remove_dir_all(p.join("run"));
        std::fs::create_dir_all(p.join("run")).expect("run dir");
        let child = Command::new(DOVECOT)
            .args(["-F", "-c"])
            .arg(p.join("dovecot.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dovecot");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = [0u8; 4];
                if std::io::Read::read(&mut s, &mut buf).is_ok_and(|n| n == 4 && &buf == b"* OK") {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "Dovecot did not start: {}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Dovecot's log.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// Stops it: the master by its pid, and every process it started (its IMAP processes would
    /// otherwise serve their connections on).
    pub(crate) fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let family = descendants(c.id());
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            // (Most go with the master before this; "no such process" is not news.)
            for pid in family {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).stderr(Stdio::null()).status();
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
            // Its children (login and mail processes) go with the master; give them a moment.
            let deadline = Instant::now() + Duration::from_secs(5);
            while TcpStream::connect(("127.0.0.1", self.port)).is_ok() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Starts it again on the same port with the same mail.
    pub(crate) fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Delivers `message` to `user`'s `mailbox` as another IMAP client would (logged in as the
    /// master user); its UID.
    pub(crate) fn append_as(&self, user: &str, mailbox: &str, message: &[u8]) -> u32 {
        let mut c = Connection::connect(&format!("127.0.0.1:{}", self.port), Duration::from_secs(5)).expect("connect");
        c.login(&format!("{user}*{MASTER_USER}"), MASTER_PASSWORD).expect("master login");
        let uid = c.append(mailbox, &[], message).expect("append").expect("APPENDUID");
        c.logout();
        uid
    }
}

/// The processes below `pid` (children first found by `pgrep -P`).
fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        let Ok(o) = Command::new("pgrep").args(["-P", &p.to_string()]).output() else { continue };
        for child in String::from_utf8_lossy(&o.stdout).split_whitespace().filter_map(|c| c.parse().ok()) {
            out.push(child);
            queue.push(child);
        }
    }
    out
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}
