//! The IMAP client (`syncgate::imap::Connection`) against Dovecot: logins (own and master,
//! wrong password), capabilities, mailboxes with non-ASCII names, APPEND/FETCH byte-exact,
//! CONDSTORE changes, MOVE with its new UID, QRESYNC's VANISHED, IDLE, and a stopped server.

use std::time::{Duration, Instant};

use syncgate::imap::{Connection, FlagMode, ImapError};

use super::dovecot::Dovecot;

fn connect(d: &Dovecot, user: &str, password: &str) -> Result<Connection, ImapError> {
    let mut c = Connection::connect(&format!("127.0.0.1:{}", d.port), Duration::from_secs(3))?;
    c.login(user, password)?;
    Ok(c)
}

#[test]
fn the_client_against_dovecot() {
    let mut d = Dovecot::start(&[("alice", "pw"), ("bob", "pw2")]);
    let mut c = connect(&d, "alice", "pw").expect("login");
    for cap in ["CONDSTORE", "QRESYNC", "MOVE", "UIDPLUS", "LITERAL+"] {
        assert!(c.has(cap), "{cap}");
    }
    let sep = c.list().expect("list").iter().find_map(|b| b.delimiter).unwrap_or('/');
    let nested = format!("Einkäufe{sep}2026 & more");
    c.create("Einkäufe").expect("create");
    c.create(&nested).expect("create nested");
    let names: Vec<String> = c.list().expect("list").into_iter().map(|b| b.name).collect();
    assert!(names.contains(&"Einkäufe".to_string()) && names.contains(&nested), "{names:?}");

    // Byte-exact messages, a large one too; flags; CONDSTORE; MOVE; VANISHED.
    let small =
        b"From: x@example.com\r\nSubject: Gr\xc3\xbc\xc3\x9fe\r\n\r\n.a line starting with a dot\r\n)(\"{5}\r\n"
            .to_vec();
    let large: Vec<u8> =
        b"Subject: big\r\n\r\n".iter().copied().chain((0..100_000).map(|i| b"abcdefgh\r\n"[i % 10])).collect();
    let u1 = c.append("INBOX", &["\\Seen"], &small).expect("append").expect("APPENDUID");
    let u2 = c.append("INBOX", &[], &large).expect("append").expect("APPENDUID");
    let sel = c.select("INBOX").expect("select");
    assert_eq!(sel.exists, 2);
    let modseq = sel.highestmodseq.expect("HIGHESTMODSEQ");
    assert_eq!(c.fetch_body(u1).expect("fetch"), Some(small.clone()));
    assert_eq!(c.fetch_body(u2).expect("fetch"), Some(large.clone()));
    assert_eq!(c.fetch_body(999).expect("fetch"), None);
    let (metas, vanished) = c.fetch_meta(None).expect("meta");
    assert_eq!(metas.iter().map(|m| m.uid).collect::<Vec<_>>(), [u1, u2]);
    assert!(vanished.is_empty());
    let first = &metas[0];
    assert_eq!(first.flags, ["\\Seen"]);
    assert_eq!(first.size, Some(small.len() as u64));
    assert!(first.modseq.is_some_and(|m| m <= modseq), "{first:?}");
    let st = c.status("Einkäufe").expect("status");
    assert_eq!((st.messages, st.highestmodseq.is_some()), (0, true), "{st:?}");
    c.store_flags(u2, FlagMode::Add, &["\\Flagged"]).expect("store");
    let (changed, _) = c.fetch_meta(Some(modseq)).expect("changed since");
    assert_eq!(changed.iter().map(|m| m.uid).collect::<Vec<_>>(), [u2]);
    let modseq = c.select("INBOX").expect("select").highestmodseq.expect("modseq");
    let moved = c.uid_move(u1, "Einkäufe").expect("move").expect("COPYUID");
    let (_, vanished) = c.fetch_meta(Some(modseq)).expect("vanished");
    assert_eq!(vanished, [u1]);
    c.select("Einkäufe").expect("select");
    assert_eq!(c.fetch_body(moved).expect("fetch"), Some(small));
    c.delete_message(moved).expect("delete");
    assert_eq!(c.select("Einkäufe").expect("select").exists, 0);
    c.rename(&nested, "Archive").expect("rename");
    c.delete_mailbox("Archive").expect("delete mailbox");
    assert!(!c.list().expect("list").iter().any(|b| b.name == "Archive"));

    // The master user reaches Alice's mailbox; Bob does not see it.
    let mut m = connect(&d, "alice*syncgate-master", "masterpw").expect("master login");
    assert_eq!(m.select("INBOX").expect("select").exists, 1);
    let mut b = connect(&d, "bob", "pw2").expect("bob");
    assert_eq!(b.select("INBOX").expect("select").exists, 0);
    b.logout();
    m.logout();
    // (Last: Dovecot delays the next logins from an address after a failed one.)
    assert!(matches!(connect(&d, "alice", "wrong"), Err(ImapError::No(_))));

    // A stopped server: an error that says so, within the timeout.
    d.stop();
    let t = Instant::now();
    let e = loop {
        // (The connection's own process may outlive the master a moment.)
        match c.noop() {
            Err(e) => break e,
            Ok(()) => assert!(t.elapsed() < Duration::from_secs(5), "still answering after the stop"),
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(e.is_unavailable(), "{e:?}");
    assert!(connect(&d, "alice", "pw").is_err_and(|e| e.is_unavailable()));
}

#[test]
fn idle_hears_another_clients_delivery() {
    let d = Dovecot::start(&[("carol", "pw")]);
    let mut c = connect(&d, "carol", "pw").expect("login");
    assert!(c.has("IDLE"));
    c.select("INBOX").expect("select");

    // Nothing happens: false once `max` has passed, not before, not much after.
    let t = Instant::now();
    assert!(!c.idle(Duration::from_millis(300)).expect("idle"));
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(2), "{waited:?}");

    // Another client delivers a moment later: true, well before `max`.
    let t = Instant::now();
    let (changed, uid) = std::thread::scope(|s| {
        let other = s.spawn(|| {
            std::thread::sleep(Duration::from_millis(200));
            d.append_as("carol", "INBOX", b"Subject: hello\r\n\r\nhi\r\n")
        });
        let changed = c.idle(Duration::from_secs(8)).expect("idle");
        (changed, other.join().expect("append thread"))
    });
    assert!(changed);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // The connection is usable again after DONE and sees the message.
    c.noop().expect("noop");
    let (metas, _) = c.fetch_meta(None).expect("meta");
    assert_eq!(metas.iter().map(|m| m.uid).collect::<Vec<_>>(), [uid]);
    c.logout();
}

#[test]
fn a_server_that_never_answers_times_out() {
    // Accepts the connection (the kernel does) and says nothing.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = silent.local_addr().expect("addr").to_string();
    let t = Instant::now();
    let e = Connection::connect(&addr, Duration::from_millis(500)).expect_err("no greeting");
    assert!(e.is_unavailable(), "{e:?}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    drop(silent);
}

/// TLS to the IMAP server: IMAPS and STARTTLS against Dovecot with a certificate of a test CA;
/// byte-exact APPEND/FETCH over TLS (literals across records) and IDLE seeing a delivery; a
/// client that trusts another CA, or expects another name, is refused; STARTTLS where the
/// server offers none is refused rather than sent in clear.
#[test]
fn imaps_and_starttls_against_dovecot_verify_the_certificate() {
    use syncgate::imap::{Security, TlsClient};

    use super::certs::{Ca, Key};

    let dir = super::server::TempDir::new();
    let ca = Ca::new(dir.path(), "imap-ca");
    let (cert, key) = ca.issue("dovecot", Key::EcSec1);
    let d = Dovecot::start_tls(&[("alice", "pw")], &cert, &key);
    let trusted = TlsClient::new(&ca.pem, "localhost").expect("the test CA");
    let t = Duration::from_secs(5);
    let imaps = format!("127.0.0.1:{}", d.tls_port.expect("an IMAPS port"));
    let plain = format!("127.0.0.1:{}", d.port);

    let mut c = Connection::connect_with(&imaps, t, &Security::Imaps(trusted.clone())).expect("IMAPS");
    assert!(c.is_tls());
    c.login("alice", "pw").expect("login over IMAPS");
    let body: Vec<u8> =
        b"Subject: tls\r\n\r\n".iter().copied().chain((0..60_000).map(|i| (i % 251) as u8 | 0x20)).collect();
    let uid = c.append("INBOX", &[], &body).expect("append").expect("APPENDUID");
    c.select("INBOX").expect("select");
    let fetched = c.fetch_bodies(&[uid]).expect("fetch");
    assert_eq!(fetched.first().map(|(_, b)| b.as_slice()), Some(body.as_slice()), "byte-exact over TLS");

    let mut s = Connection::connect_with(&plain, t, &Security::StartTls(trusted.clone())).expect("STARTTLS");
    assert!(s.is_tls());
    s.login("alice", "pw").expect("login after STARTTLS");
    s.select("INBOX").expect("select");
    let waiter = std::thread::spawn(move || s.idle(Duration::from_secs(20)));
    std::thread::sleep(Duration::from_millis(300));
    c.append("INBOX", &[], b"Subject: wake\r\n\r\nup\r\n").expect("append");
    let woke = waiter.join().expect("idle thread");
    assert!(matches!(woke, Ok(true)), "IDLE over TLS sees the delivery: {woke:?}");

    let other = Ca::new(dir.path(), "other-ca");
    let untrusted = TlsClient::new(&other.pem, "localhost").expect("another CA");
    let e = Connection::connect_with(&imaps, t, &Security::Imaps(untrusted.clone())).expect_err("untrusted");
    assert!(e.to_string().contains("certificate"), "{e}");
    let wrong_name = TlsClient::new(&ca.pem, "imap.example.com").expect("CA");
    let e = Connection::connect_with(&imaps, t, &Security::Imaps(wrong_name)).expect_err("another name");
    assert!(e.to_string().contains("certificate"), "{e}");

    // A server without STARTTLS: refused, nothing sent in clear.
    let clear = Dovecot::start(&[("alice", "pw")]);
    let e = Connection::connect_with(&format!("127.0.0.1:{}", clear.port), t, &Security::StartTls(trusted))
        .expect_err("no STARTTLS offered");
    assert!(e.to_string().contains("does not offer STARTTLS"), "{e}");
}
