//! The operator console in a real headless browser (issue 10): an operator signs in with the
//! token, finds the user's phone, switches its wire dump on, forces a slow sync, and the
//! phone's next sync is slow; the device page's screenshot is read back with OCR for its key
//! content; an alert is resent; captured messages are shown decoded with credentials hidden.
//! The console's refusals (no cookie, no CSRF field) are checked with raw HTTP.

use std::fs;
use std::process::Command;

use serde_json::{json, Value};

use super::browser::{artifact, ocr, png_size, Browser};
use super::server::{Server, TempDir};

const TOKEN: &str = "console-operator-token-1";

fn sync(s: &Server, device: &str, state: &TempDir) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_syncgate"))
        .args(["client", "--url", &format!("http://{}/sync", s.addr), "--user", "alice", "--password", "pw"])
        .args(["--device", device, "--state"])
        .arg(state.path())
        .args(["sync", "contacts", "--json"])
        .output()
        .expect("run the client");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{device}: {text}{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(text.trim()).expect("a JSON report")
}

fn add_contact(state: &TempDir, name: &str) {
    let dir = state.path().join("data/contacts");
    fs::create_dir_all(&dir).expect("data folder");
    fs::write(
        dir.join(format!("{name}.vcf")),
        format!("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{name}\r\nN:{name};;;;\r\nEND:VCARD\r\n"),
    )
    .expect("item");
}

#[test]
fn an_operator_forces_a_slow_sync_and_the_next_sync_is_slow() {
    let dir = TempDir::new();
    let cfg = dir.path().join("syncgate.toml");
    fs::write(&cfg, format!("[api]\ntoken = \"{TOKEN}\"\n[notify]\nlongpoll_heartbeat_secs = 2\n")).expect("config");
    let s = Server::start(&dir.path().join("data"), &["--config", cfg.to_str().expect("utf-8")]);
    let auth = format!("Authorization: Bearer {TOKEN}");
    let r =
        s.request("POST", "/api/v1/users", &[&auth], json!({"name": "alice", "password": "pw"}).to_string().as_bytes());
    assert_eq!(r.status, 201, "{}", r.text());

    // The phone has synced twice: it holds anchors and items.
    let phone = TempDir::new();
    add_contact(&phone, "Ann");
    add_contact(&phone, "Bob");
    sync(&s, "phone-7", &phone);
    let report = sync(&s, "phone-7", &phone);
    assert_eq!(report["datastores"][0]["mode"], "two-way", "{report}");
    let r = s.request(
        "PUT",
        "/api/v1/users/alice/devices/phone-7/prefs",
        &[&auth],
        br#"{"mode":"automatic","channel":"longpoll","datastores":["contacts"]}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // The PC adds a contact: the phone (not polling) gets an alert that waits.
    let pc = TempDir::new();
    add_contact(&pc, "Cid");
    sync(&s, "pc-1", &pc);

    // Without signing in: the sign-in page; a form without the CSRF field is refused.
    let r = s.request("GET", "/console/", &[], b"");
    assert_eq!((r.status, r.header("location")), (303, Some("/console/login")));
    let r = s.request(
        "POST",
        "/console/login",
        &["Content-Type: application/x-www-form-urlencoded"],
        format!("token={TOKEN}").as_bytes(),
    );
    let cookie =
        r.header("set-cookie").expect("signing in sets a cookie").split(';').next().expect("cookie").to_string();
    assert!(r.header("set-cookie").is_some_and(|c| c.contains("HttpOnly") && c.contains("SameSite=Strict")));
    let r = s.request("POST", "/console/users/alice/devices/phone-7/slow-sync", &[&format!("Cookie: {cookie}")], b"");
    assert_eq!(r.status, 403, "no CSRF field: {}", r.text());
    let r = s.request("GET", "/console/users/nobody", &[&format!("Cookie: {cookie}")], b"");
    assert_eq!(r.status, 404);

    let b = Browser::start(1280, 1500);
    let base = format!("http://{}", s.addr);
    b.goto(&format!("{base}/console/"));
    assert!(b.url().ends_with("/console/login"), "sent to sign in: {}", b.url());
    let field = b.find("#token");
    b.type_into(&field, "not-the-token");
    b.click(&b.find("#sign-in"));
    let error = b.wait_text("#error", |t| !t.is_empty());
    assert!(error.contains("not the operator token"), "{}", b.text("body"));
    let field = b.find("#token");
    b.type_into(&field, TOKEN);
    b.click(&b.find("#sign-in"));
    assert!(b.wait_text("#users", |t| t.contains("alice")).contains("alice"), "{}", b.text("body"));
    assert!(b.text("#waiting").contains("phone-7"), "the phone's alert waits for its poll: {}", b.text("body"));
    assert!(b.url().ends_with("/console/"), "{}", b.url());

    // Find the phone.
    b.click(&b.link("alice"));
    let devices = b.wait_text("#devices", |t| t.contains("phone-7"));
    assert!(devices.contains("automatic, longpoll"), "{}", b.text("body"));
    b.click(&b.link("phone-7"));
    assert_eq!(b.wait_text("#device-id", |t| t == "phone-7"), "phone-7");
    assert!(b.text("#next-sync").contains("normal"), "{}", b.text("body"));
    assert!(b.text("#datastores").contains("contacts two-way"), "{}", b.text("#datastores"));
    assert!(b.text("#alerts").contains("change"), "the PC's change queued an alert: {}", b.text("body"));
    assert!(b.text("table.sessions").contains("two-way"), "{}", b.text("body"));

    // Resend the alert, switch the wire dump on, force a slow sync.
    b.click(&b.find("#alerts button"));
    assert!(b.wait_text("#note", |t| t.contains("will go out now")).contains("will go out now"), "{}", b.text("body"));
    b.click(&b.find("#dump-switch"));
    assert_eq!(b.wait_text("#dump-state", |t| t == "on"), "on");
    b.click(&b.find("#force-slow-sync"));
    assert_eq!(b.wait_text("#note", |t| t == "Slow sync forced"), "Slow sync forced");
    assert!(b.text("#next-sync").contains("slow"), "{}", b.text("body"));
    assert!(b.text("#datastores").contains("contacts slow"), "{}", b.text("#datastores"));

    // The screenshot shows it: read back with OCR.
    let shot = artifact("console-device.png");
    let png = b.screenshot(&shot);
    let (w, h) = png_size(&png);
    assert!(w == 1280 && h > 1200, "the screenshot is the viewport: {w}x{h}");
    let seen = ocr(&shot);
    for key in ["device phone-7", "slow sync forced", "next sync: slow", "every item is compared", "wire dump: on"] {
        assert!(seen.contains(key), "the screenshot ({}) does not show '{key}'; OCR read:\n{seen}", shot.display());
    }

    // The phone's next sync is slow, and the console says so.
    let report = sync(&s, "phone-7", &phone);
    assert_eq!(report["datastores"][0]["mode"], "slow", "{report}");
    assert_eq!(report["datastores"][0]["alert_status"], 508, "the server asked for it: {report}");
    b.goto(&format!("{base}/console/users/alice/devices/phone-7"));
    assert!(b.text("#next-sync").contains("normal"), "{}", b.text("body"));
    let sessions = b.text("table.sessions");
    let newest = sessions.lines().nth(1).unwrap_or_default();
    assert!(newest.contains("slow") && newest.contains("ok"), "newest session: {newest}\n{sessions}");

    // The captured messages, decoded; credentials hidden.
    let dumped = b.text("#dumped");
    assert!(dumped.contains("device → server") && dumped.contains("server → device"), "{dumped}");
    b.click(&b.find("#dumped a"));
    let message = b.wait_text("#message", |t| t.contains("</SyncML>"));
    assert!(message.contains("<SyncML") && message.contains("</SyncML>"), "{message}");
    let mut with_cred = 0;
    for seq in 1..=dumped.lines().count() {
        b.goto(&format!("{base}/console/users/alice/devices/phone-7/dump/{seq}"));
        let m = b.text("#message");
        if m.contains("<Cred>") {
            with_cred += 1;
            assert!(m.contains("<Data>(hidden)</Data>"), "credentials shown: {m}");
        }
    }
    assert!(with_cred >= 1, "the phone's first message carries credentials");
}
