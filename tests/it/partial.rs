//! Partial sync on the real binary (issue 8): the message-storage use case's phone keeps the
//! content tree as details plus links and only the unread messages of the last 30 days; the PC
//! keeps everything. Links are served by the gateway (Range; another user's, expired, altered
//! and deleted items refused); a moved file's link is refreshed; a message leaving the filter
//! leaves the phone and comes back, never twice.

use std::time::Duration;

use serde_json::{json, Value};

use super::api::{call, start, Sim};
use super::server::Server;

/// `(name, parent LUID, link, has a body)` of every file on a device.
fn files(dev: &Sim) -> Vec<(String, Option<String>, Option<String>, bool)> {
    let mut out: Vec<_> = dev
        .items("content")
        .into_iter()
        .filter(|(_, _, t)| t.starts_with("<File>"))
        .map(|(_, parent, t)| {
            let f = syncgate::cpm::objects::File::parse(t.as_bytes()).expect("file object");
            let link = syncgate::cpm::objects::ext_value(&f.ext, "X-CPM-LINK").map(str::to_string);
            (f.name, parent, link, f.body.is_some())
        })
        .collect();
    out.sort();
    out
}

fn subjects(dev: &Sim) -> Vec<String> {
    let mut out: Vec<String> = dev
        .items("messages")
        .into_iter()
        .filter(|(_, _, t)| t.starts_with("<Email>"))
        .map(|(_, _, t)| {
            let e = syncgate::cpm::objects::Email::parse(t.as_bytes()).expect("email object");
            e.header("Subject").unwrap_or_default()
        })
        .collect();
    out.sort();
    out
}

/// The path and query of a link URL (the test talks to the server directly).
fn path_of(url: &str) -> String {
    url[url.find("/link/").expect("a /link/ URL")..].to_string()
}

fn get(s: &Server, path: &str, headers: &[&str]) -> super::server::Response {
    s.request("GET", path, headers, b"")
}

fn date_days_ago(days: i64) -> String {
    let ts = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(days * 24);
    ts.strftime("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

#[test]
fn a_limited_phone_keeps_details_links_and_recent_unread_messages() {
    use base64::Engine as _;
    let (_dir, s) = start();
    for (name, pw) in [("alice", "pw"), ("bob", "pw2")] {
        assert_eq!(call(&s, "POST", "/api/v1/users", Some(json!({ "name": name, "password": pw }))).0, 201);
    }
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let folder = |user: &str, store: &str, name: &str, parent: Option<&str>| -> String {
        let (st, v) = call(
            &s,
            "POST",
            &format!("/api/v1/users/{user}/{store}/folders"),
            Some(json!({ "name": name, "parent": parent })),
        );
        assert_eq!(st, 201, "{v}");
        v["guid"].as_str().expect("GUID").to_string()
    };
    let upload = |user: &str, name: &str, parent: &str, body: &[u8]| -> String {
        let file = json!({ "name": name, "parent": parent, "content_type": "application/octet-stream", "body_base64": b64(body) });
        let (st, v) = call(&s, "POST", &format!("/api/v1/users/{user}/content/files"), Some(file));
        assert_eq!(st, 201, "{v}");
        v["guid"].as_str().expect("GUID").to_string()
    };
    let content = folder("alice", "content", "Content", None);
    let music = folder("alice", "content", "Music", Some(&content));
    let photo: Vec<u8> = (0..30_000u32).map(|i| (i % 251) as u8).collect();
    let song = b"ID3 a song ".repeat(500);
    let photo_guid = upload("alice", "photo.jpg", &content, &photo);
    let song_guid = upload("alice", "song.mp3", &music, &song);
    upload("alice", "clip.mp4", &content, &b"clip".repeat(2_000));
    let bobs = folder("bob", "content", "Bob's", None);
    let bob_file = upload("bob", "secret.txt", &bobs, b"bob's secret");

    let inbox = folder("alice", "messages", "Inbox", None);
    let deposit = |subject: &str, days: i64, seen: bool| -> String {
        let mail = format!(
            "From: carol@example.com\r\nDate: {}\r\nSubject: {subject}\r\n\r\nText of {subject}.\r\n",
            date_days_ago(days)
        );
        let body = json!({ "rfc822": mail, "folder": inbox, "states": { "seen": seen } });
        let (st, v) = call(&s, "POST", "/api/v1/users/alice/messages/deposit", Some(body));
        assert_eq!(st, 201, "{v}");
        v["guid"].as_str().expect("GUID").to_string()
    };
    let fresh = deposit("fresh unread", 2, false);
    deposit("fresh read", 3, true);
    deposit("old unread", 40, false);
    deposit("newest unread", 1, false);

    // The phone: links for content, "unread messages of the last 30 days" for messages.
    let prefs = json!({ "mode": "manual", "filters": {
        "content": { "shape": { "link": true } },
        "messages": { "record": "READ&EQ;false&AND;SINCE&EQ;-30d" }
    }});
    let (st, v) = call(&s, "PUT", "/api/v1/users/alice/devices/phone/prefs", Some(prefs));
    assert_eq!(st, 200, "{v}");
    let phone = Sim::new("phone");
    let pc = Sim::new("pc");
    for dev in [&phone, &pc] {
        dev.sync(&s, "content");
        dev.sync(&s, "messages");
    }

    // The full tree on both; on the phone every file is details plus a link, on the PC whole.
    for dev in [&phone, &pc] {
        let (content_luid, _, _) = dev.find("content", "<name>Content</name>");
        let (music_luid, music_parent, _) = dev.find("content", "<name>Music</name>");
        assert_eq!(music_parent.as_deref(), Some(content_luid.as_str()));
        let names: Vec<(String, Option<String>)> = files(dev).into_iter().map(|(n, p, _, _)| (n, p)).collect();
        assert_eq!(
            names,
            [
                ("clip.mp4".to_string(), Some(content_luid.clone())),
                ("photo.jpg".to_string(), Some(content_luid.clone())),
                ("song.mp3".to_string(), Some(music_luid.clone())),
            ]
        );
    }
    assert!(files(&pc).iter().all(|(_, _, link, body)| *body && link.is_none()), "{:?}", files(&pc));
    let on_phone = files(&phone);
    assert!(on_phone.iter().all(|(_, _, link, body)| !*body && link.is_some()), "{on_phone:?}");
    let (_, _, photo_on_phone) = phone.find("content", "<name>photo.jpg</name>");
    assert!(photo_on_phone.contains("<size>30000</size>"), "{photo_on_phone}");
    assert_eq!(phone.on_the_wire(&b64(&photo)[..40]), 0, "the photo's bytes never went to the phone");

    // Opening a link downloads the whole file; a Range gets a part.
    let link_of = |dev: &Sim, name: &str| files(dev).into_iter().find(|f| f.0 == name).and_then(|f| f.2).expect("link");
    let photo_link = path_of(&link_of(&phone, "photo.jpg"));
    let r = get(&s, &photo_link, &[]);
    assert_eq!((r.status, r.body.len()), (200, photo.len()), "{}", r.text());
    assert!(r.body == photo);
    let r = get(&s, &photo_link, &["Range: bytes=100-199"]);
    assert_eq!(r.status, 206, "{}", r.text());
    assert_eq!((r.body.as_slice(), r.header("content-range")), (&photo[100..200], Some("bytes 100-199/30000")));
    assert_eq!(get(&s, &photo_link, &["Range: bytes=40000-"]).status, 416);

    // Refused: another user's file through Alice's link, an altered, an expired link, no access.
    for foreign in [
        photo_link.replace(&photo_guid, &bob_file),
        photo_link.replace(&photo_guid, &bob_file).replace("/link/alice/", "/link/bob/"),
    ] {
        let r = get(&s, &foreign, &[]);
        assert_eq!(r.status, 403, "{foreign}: {}", r.text());
    }
    let bobs_path = format!("/link/bob/content/{bob_file}");
    let alice_basic = format!("Authorization: Basic {}", b64(b"alice:pw"));
    assert_eq!(get(&s, &bobs_path, &[&alice_basic]).status, 403, "Alice's credentials on Bob's file");
    assert_eq!(get(&s, &bobs_path, &[&format!("Authorization: Basic {}", b64(b"bob:pw2"))]).status, 200);
    assert_eq!(get(&s, &bobs_path, &[]).status, 401);
    let sig_at = photo_link.find("sig=").expect("sig") + 4;
    let mut altered = photo_link.clone().into_bytes();
    altered[sig_at] = if altered[sig_at] == b'0' { b'1' } else { b'0' };
    let r = get(&s, &String::from_utf8(altered).unwrap(), &[]);
    assert_eq!(r.status, 403, "{}", r.text());
    let key = syncgate::cpm::link::LinkKey::for_user("", &syncgate::auth::md5_secret("alice", "pw"));
    let target =
        syncgate::cpm::link::LinkTarget { user: "alice".into(), datastore: "content".into(), guid: photo_guid.clone() };
    let expired = syncgate::cpm::link::url("http://x", &key, &target, 1_000_000);
    let r = get(&s, &path_of(&expired), &[]);
    assert_eq!(r.status, 403);
    assert!(r.text().contains("expired"), "{}", r.text());
    let fresh_signed = syncgate::cpm::link::url("http://x", &key, &target, i64::MAX / 2);
    assert_eq!(get(&s, &path_of(&fresh_signed), &[]).status, 200, "the test signs as the gateway does");

    // The song moves to Content: after its next sync the phone has it there, with a new link.
    let song_link = link_of(&phone, "song.mp3");
    std::thread::sleep(Duration::from_millis(1100));
    let (st, v) = call(
        &s,
        "PATCH",
        &format!("/api/v1/users/alice/content/items/{song_guid}"),
        Some(json!({ "parent": content })),
    );
    assert_eq!(st, 200, "{v}");
    phone.sync(&s, "content");
    let (content_luid, _, _) = phone.find("content", "<name>Content</name>");
    let moved = files(&phone).into_iter().find(|f| f.0 == "song.mp3").expect("song");
    assert_eq!(moved.1.as_deref(), Some(content_luid.as_str()));
    let new_link = moved.2.expect("link");
    assert_ne!(new_link, song_link, "the link was refreshed");
    let r = get(&s, &path_of(&new_link), &[]);
    assert!(r.status == 200 && r.body == song, "{}", r.status);

    // A deleted file's link stops working.
    let (st, _) = call(&s, "DELETE", &format!("/api/v1/users/alice/content/items/{photo_guid}"), None);
    assert_eq!(st, 200);
    assert_eq!(get(&s, &photo_link, &[]).status, 404);

    // Messages: the phone has the unread ones of the last 30 days, the PC all of them whole.
    assert_eq!(subjects(&phone), ["fresh unread", "newest unread"]);
    assert_eq!(subjects(&pc), ["fresh read", "fresh unread", "newest unread", "old unread"]);
    let (_, _, full) = pc.find("messages", "Subject: old unread");
    assert!(full.contains("Text of old unread."));
    // Read elsewhere: it leaves the phone; unread again: it comes back once.
    let set_seen = |seen: bool| {
        let path = format!("/api/v1/users/alice/messages/items/{fresh}/states");
        let (st, v): (u16, Value) = call(&s, "PUT", &path, Some(json!({ "seen": seen })));
        assert_eq!(st, 200, "{v}");
    };
    set_seen(true);
    let r = phone.sync(&s, "messages");
    assert_eq!(r["datastores"][0]["received"]["deleted"], 1, "{r}");
    assert_eq!(subjects(&phone), ["newest unread"]);
    set_seen(false);
    phone.sync(&s, "messages");
    assert_eq!(subjects(&phone), ["fresh unread", "newest unread"]);
    phone.sync(&s, "messages");
    pc.sync(&s, "messages");
    assert_eq!(subjects(&phone), ["fresh unread", "newest unread"], "no duplicates");
    assert_eq!(subjects(&pc).len(), 4);
}
