//! Built-in TLS on the real binary (issue 10): HTTPS with a certificate of a test CA (checked
//! by `openssl s_client`, an independent TLS client), the plain listener still there, plain
//! HTTP on the TLS port refused without harm, https RespURIs, the certificate replaced on
//! SIGHUP and kept when the new files are broken, and `check-config` on the files.
//! The real SyncEvolution client over HTTPS: `interop/https.rs`.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use super::certs::{first_cert, s_client, Ca, Key};
use super::server::{free_port, Server, TempDir};

/// A first SyncML message without credentials: the answer (407) carries the RespURI.
const MSG1: &str = r#"<?xml version="1.0"?>
<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>SyncML/1.2</VerProto>
<SessionID>1</SessionID><MsgID>1</MsgID><Target><LocURI>https://localhost/sync</LocURI></Target>
<Source><LocURI>IMEI:4711</LocURI><LocName>alice</LocName></Source></SyncHdr>
<SyncBody><Alert><CmdID>1</CmdID><Data>200</Data><Item><Target><LocURI>contacts</LocURI></Target>
<Source><LocURI>./contacts</LocURI></Source><Meta><Anchor xmlns="syncml:metinf"><Next>1</Next></Anchor></Meta>
</Item></Alert><Final/></SyncBody></SyncML>"#;

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").into_bytes()
}

fn pem_body(path: &std::path::Path) -> String {
    first_cert(&fs::read_to_string(path).expect("pem")).expect("a certificate in the file")
}

#[test]
fn https_is_served_reloaded_on_sighup_and_kept_when_the_new_files_are_broken() {
    let dir = TempDir::new();
    let ca = Ca::new(dir.path(), "test-ca");
    let (cert, key) = ca.issue("server", Key::RsaPkcs8);
    let port = free_port();
    let cfg = dir.path().join("syncgate.toml");
    fs::write(
        &cfg,
        format!(
            "[api]\ntoken = \"tls-operator-token-0001\"\n[tls]\nlisten = \"127.0.0.1:{port}\"\ncert = {:?}\nkey = {:?}\n",
            cert.display(),
            key.display()
        ),
    )
    .expect("config");
    let check = Command::new(env!("CARGO_BIN_EXE_syncgate"))
        .args(["check-config", "--config"])
        .arg(&cfg)
        .output()
        .expect("check-config");
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    assert!(String::from_utf8_lossy(&check.stdout).contains(&format!("tls: https on 127.0.0.1:{port}")));

    let s = Server::start(&dir.path().join("data"), &["--config", cfg.to_str().expect("utf-8")]);
    let addr = format!("127.0.0.1:{port}");
    let (verified, served, out) = s_client(&addr, &ca.pem, &get("/healthz"));
    assert!(verified, "the test CA's certificate verifies for localhost:\n{out}");
    assert_eq!(served.as_deref(), Some(pem_body(&cert).as_str()));
    assert!(out.contains("HTTP/1.1 200") && out.contains("\nok"), "{out}");
    // Another CA's client does not trust it.
    let other = Ca::new(dir.path(), "other-ca");
    let (verified, _, _) = s_client(&addr, &other.pem, &get("/healthz"));
    assert!(!verified, "a certificate of another CA must not verify");

    // The plain listener serves as before; plain HTTP on the TLS port is dropped, no harm done.
    assert_eq!(s.request("GET", "/healthz", &[], b"").status, 200);
    let mut plain = TcpStream::connect(&addr).expect("connect");
    plain.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    plain.write_all(&get("/healthz")).expect("send");
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400") && answer.contains("use https://"), "{answer}");
    // Garbage that is neither: dropped at the handshake.
    let mut junk = TcpStream::connect(&addr).expect("connect");
    junk.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    junk.write_all(b"\x00\x01junk\r\n").expect("send");
    let mut dropped = Vec::new();
    let _ = junk.read_to_end(&mut dropped);
    assert!(!String::from_utf8_lossy(&dropped).contains("HTTP/1.1"), "no HTTP answer to junk");

    // A session started over HTTPS is told to continue over HTTPS.
    let body = MSG1.as_bytes();
    let mut request =
        format!("POST /sync HTTP/1.1\r\nHost: localhost:{port}\r\nContent-Type: application/vnd.syncml+xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())
            .into_bytes();
    request.extend_from_slice(body);
    let (_, _, out) = s_client(&addr, &ca.pem, &request);
    assert!(out.contains(&format!("<RespURI>https://localhost:{port}/sync?sid=")), "{out}");
    // The console's cookie is marked Secure over TLS (and not on the plain listener).
    let form = b"token=tls-operator-token-0001";
    let mut login = format!(
        "POST /console/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        form.len()
    )
    .into_bytes();
    login.extend_from_slice(form);
    let (_, _, out) = s_client(&addr, &ca.pem, &login);
    let cookie = out.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).unwrap_or_default();
    assert!(cookie.contains("HttpOnly") && cookie.contains("; Secure"), "{out}");
    let plain_login = s.request("POST", "/console/login", &["Content-Type: application/x-www-form-urlencoded"], form);
    assert!(plain_login.header("set-cookie").is_some_and(|c| !c.contains("Secure")), "plain HTTP: no Secure flag");

    // New files + SIGHUP: new connections get the new certificate (an EC key in SEC1 form).
    let (cert2, key2) = ca.issue("server2", Key::EcSec1);
    fs::copy(&cert2, &cert).expect("replace the certificate");
    fs::copy(&key2, &key).expect("replace the key");
    let hup =
        |pid: u32| assert!(Command::new("kill").args(["-HUP", &pid.to_string()]).status().is_ok_and(|s| s.success()));
    hup(s.pid());
    let wanted = pem_body(&cert2);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (verified, served, out) = s_client(&addr, &ca.pem, &get("/healthz"));
        if served.as_deref() == Some(wanted.as_str()) {
            assert!(verified && out.contains("HTTP/1.1 200"), "{out}");
            break;
        }
        assert!(Instant::now() < deadline, "the new certificate was not served after SIGHUP");
        std::thread::sleep(Duration::from_millis(100));
    }

    // A key that is not the certificate's: SIGHUP keeps the certificate in service.
    let (_, key3) = ca.issue("server3", Key::EcSec1);
    fs::copy(&key3, &key).expect("a foreign key");
    let bad = Command::new(env!("CARGO_BIN_EXE_syncgate"))
        .args(["check-config", "--config"])
        .arg(&cfg)
        .output()
        .expect("check-config");
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("does not belong to the certificate"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    hup(s.pid());
    std::thread::sleep(Duration::from_millis(500));
    let (verified, served, out) = s_client(&addr, &ca.pem, &get("/healthz"));
    assert!(verified && served.as_deref() == Some(wanted.as_str()), "the old certificate stays: {out}");
    let (code, logs) = s.stop_and_logs();
    assert_eq!(code, Some(0));
    assert!(logs.contains("TLS certificate reloaded"), "{logs}");
    assert!(
        logs.contains("TLS certificate NOT reloaded, the old one stays") && logs.contains("does not belong"),
        "{logs}"
    );
    assert!(logs.contains("plain HTTP on the TLS port: answered 400"), "{logs}");
    assert!(logs.contains("TLS handshake failed"), "the junk is logged: {logs}");
}
