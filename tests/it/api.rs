//! The service API (`/api/v1`, issue 6) on the real binary: the operator token, JSON errors for
//! bad requests (unknown user, bad JSON, a folder moved into its own child, a non-empty folder
//! deleted), and the message-storage use case with three simulated devices (`syncgate client`).

use std::fs;
use std::process::Command;

use serde_json::{json, Value};

use super::server::{Server, TempDir};

const TOKEN: &str = "operator-secret";
const AUTH: &str = "Authorization: Bearer operator-secret";

pub(crate) fn start() -> (TempDir, Server) {
    let dir = TempDir::new();
    let cfg = dir.path().join("syncgate.toml");
    fs::write(&cfg, format!("[api]\ntoken = \"{TOKEN}\"\n")).expect("write the config");
    let server = Server::start(&dir.path().join("data"), &["--config", cfg.to_str().expect("utf-8 path")]);
    (dir, server)
}

/// A JSON call with the operator token: the status and the JSON answer.
pub(crate) fn call(s: &Server, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let r = s.request(method, path, &[AUTH, "Content-Type: application/json"], body.as_bytes());
    let value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r.status, value)
}

fn error_of(v: &Value) -> &str {
    v["error"].as_str().unwrap_or("<no error field>")
}

#[test]
fn the_api_needs_the_token_and_answers_bad_requests_with_json_errors() {
    let (_dir, s) = start();
    let r = s.request("GET", "/api/v1/users", &[], b"");
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.text().contains("operator token"));
    let r = s.request("GET", "/api/v1/users", &["Authorization: Bearer wrong"], b"");
    assert_eq!(r.status, 401);

    let (st, v) = call(&s, "POST", "/api/v1/users", Some(json!({ "name": "alice" })));
    assert_eq!(st, 400, "{v}");
    assert!(error_of(&v).contains("bad JSON"), "{v}");
    let bad = s.request("POST", "/api/v1/users", &[AUTH], b"{not json");
    assert_eq!(bad.status, 400);
    assert_eq!(call(&s, "POST", "/api/v1/users", Some(json!({ "name": "alice", "password": "pw" }))).0, 201);
    assert_eq!(call(&s, "POST", "/api/v1/users", Some(json!({ "name": "alice", "password": "pw" }))).0, 400);
    let (st, v) = call(&s, "GET", "/api/v1/users", None);
    assert_eq!((st, v["users"][0]["name"].as_str()), (200, Some("alice")));

    let (st, v) = call(&s, "GET", "/api/v1/users/nobody/content", None);
    assert_eq!(st, 404, "{v}");
    assert!(error_of(&v).contains("user nobody"), "{v}");
    assert_eq!(call(&s, "GET", "/api/v1/nothing", None).0, 404);

    let (_, a) = call(&s, "POST", "/api/v1/users/alice/content/folders", Some(json!({ "name": "A" })));
    let a = a["guid"].as_str().expect("a GUID").to_string();
    let (_, b) = call(&s, "POST", "/api/v1/users/alice/content/folders", Some(json!({ "name": "B", "parent": a })));
    let b = b["guid"].as_str().expect("a GUID").to_string();
    let (st, v) = call(&s, "PATCH", &format!("/api/v1/users/alice/content/items/{a}"), Some(json!({ "parent": b })));
    assert_eq!(st, 409, "a folder into its own child: {v}");
    let (st, v) = call(&s, "DELETE", &format!("/api/v1/users/alice/content/items/{a}"), None);
    assert_eq!(st, 409, "a non-empty folder: {v}");
    assert!(error_of(&v).contains("not empty"));
    let (st, _) = call(&s, "PATCH", &format!("/api/v1/users/alice/content/items/{b}"), Some(json!({ "parent": null })));
    assert_eq!(st, 200, "to the top");
    assert_eq!(call(&s, "DELETE", &format!("/api/v1/users/alice/content/items/{a}"), None).0, 200);
    assert_eq!(call(&s, "DELETE", "/api/v1/users/alice/content/items/zzz", None).0, 404);
    // Asked for recursively, a folder goes with its contents.
    let (_, c) = call(&s, "POST", "/api/v1/users/alice/content/folders", Some(json!({ "name": "C", "parent": b })));
    let c = c["guid"].as_str().expect("a GUID").to_string();
    let (st, v) = call(&s, "DELETE", &format!("/api/v1/users/alice/content/items/{b}?recursive=true"), None);
    assert_eq!((st, v["items"].as_u64()), (200, Some(2)), "{v}");
    assert_eq!(call(&s, "DELETE", &format!("/api/v1/users/alice/content/items/{c}"), None).0, 404);
    let (st, v) = call(&s, "PUT", "/api/v1/users/alice/messages/items/zzz/states", Some(json!({ "seen": "yes" })));
    assert_eq!(st, 400, "{v}");
}

#[test]
fn without_a_token_in_the_configuration_the_api_is_off() {
    let dir = TempDir::new();
    let s = Server::start(&dir.path().join("data"), &[]);
    let r = s.request("GET", "/api/v1/users", &[AUTH], b"");
    assert_eq!(r.status, 403, "{}", r.text());
}

/// A simulated device syncing `content` and `messages` through the binary.
pub(crate) struct Sim {
    dir: TempDir,
    id: String,
}

impl Sim {
    pub(crate) fn new(id: &str) -> Sim {
        Sim { dir: TempDir::new(), id: id.to_string() }
    }

    pub(crate) fn sync(&self, s: &Server, store: &str) -> Value {
        let (ok, report) = self.try_sync(s, store);
        assert!(ok, "{} sync {store}: {report}", self.id);
        report
    }

    /// A sync left running (with `extra` client options, e.g. `--max-msg-size`); its messages
    /// are dumped as they go ([`Sim::messages_dumped`]).
    pub(crate) fn spawn_sync(&self, s: &Server, store: &str, extra: &[&str]) -> std::process::Child {
        let sessions = fs::read_dir(self.dir.path()).map(|d| d.count()).unwrap_or(0);
        Command::new(env!("CARGO_BIN_EXE_syncgate"))
            .args(["client", "--url", &format!("http://{}/sync", s.addr), "--user", "alice", "--password", "pw"])
            .args(["--device", &self.id, "--state"])
            .arg(self.dir.path())
            .arg("--dump")
            .arg(self.dir.path().join(format!("dump-{sessions}")))
            .args(extra)
            .args(["sync", store, "--json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start syncgate client")
    }

    /// Messages dumped so far in all of this device's sessions.
    pub(crate) fn messages_dumped(&self) -> usize {
        let Ok(entries) = fs::read_dir(self.dir.path()) else { return 0 };
        entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("dump-"))
            .map(|e| fs::read_dir(e.path()).map(|d| d.count()).unwrap_or(0))
            .sum()
    }

    /// A sync that may fail: whether the client exited 0, and its report (or its output).
    pub(crate) fn try_sync(&self, s: &Server, store: &str) -> (bool, Value) {
        let sessions = fs::read_dir(self.dir.path()).map(|d| d.count()).unwrap_or(0);
        let out = Command::new(env!("CARGO_BIN_EXE_syncgate"))
            .args(["client", "--url", &format!("http://{}/sync", s.addr), "--user", "alice", "--password", "pw"])
            .args(["--device", &self.id, "--state"])
            .arg(self.dir.path())
            .arg("--dump")
            .arg(self.dir.path().join(format!("dump-{sessions}")))
            .args(["sync", store, "--json"])
            .output()
            .expect("run syncgate client");
        let text = String::from_utf8_lossy(&out.stdout);
        let report = serde_json::from_str(text.trim())
            .unwrap_or_else(|_| Value::String(format!("{text}{}", String::from_utf8_lossy(&out.stderr))));
        (out.status.success(), report)
    }

    /// How often `needle` crossed the wire in this device's sessions (their dumped messages).
    pub(crate) fn on_the_wire(&self, needle: &str) -> usize {
        let mut n = 0;
        for dir in fs::read_dir(self.dir.path()).expect("state folder") {
            let dir = dir.expect("entry").path();
            if !dir.file_name().is_some_and(|f| f.to_string_lossy().starts_with("dump-")) {
                continue;
            }
            for msg in fs::read_dir(&dir).expect("dump folder") {
                n += fs::read_to_string(msg.expect("entry").path()).expect("dumped message").matches(needle).count();
            }
        }
        n
    }

    pub(crate) fn data(&self, store: &str) -> std::path::PathBuf {
        self.dir.path().join("data").join(store)
    }

    pub(crate) fn meta(&self, store: &str) -> Value {
        fs::read(self.data(store).join(".meta.json"))
            .map(|b| serde_json::from_slice(&b).expect("meta JSON"))
            .unwrap_or_else(|_| json!({ "items": {} }))
    }

    pub(crate) fn set_meta(&self, store: &str, meta: &Value) {
        fs::write(self.data(store).join(".meta.json"), meta.to_string()).expect("write meta");
    }

    /// (LUID, parent LUID, text) of every item.
    pub(crate) fn items(&self, store: &str) -> Vec<(String, Option<String>, String)> {
        let meta = self.meta(store);
        let mut out = Vec::new();
        for e in fs::read_dir(self.data(store)).expect("data folder") {
            let e = e.expect("entry");
            let luid = e.file_name().to_string_lossy().into_owned();
            if luid.starts_with('.') {
                continue;
            }
            let parent = meta["items"][&luid]["parent"].as_str().map(str::to_string);
            out.push((luid, parent, fs::read_to_string(e.path()).expect("read item")));
        }
        out
    }

    pub(crate) fn find(&self, store: &str, needle: &str) -> (String, Option<String>, String) {
        self.items(store)
            .into_iter()
            .find(|(_, _, t)| t.contains(needle))
            .unwrap_or_else(|| panic!("{needle} on {}", self.id))
    }
}

fn file_names_in(sim: &Sim, folder_luid: &str) -> Vec<String> {
    let mut names: Vec<String> = sim
        .items("content")
        .into_iter()
        .filter(|(_, p, t)| p.as_deref() == Some(folder_luid) && t.starts_with("<File>"))
        .filter_map(|(_, _, t)| {
            let start = t.find("<name>")? + 6;
            Some(t[start..start + t[start..].find("</name>")?].to_string())
        })
        .collect();
    names.sort();
    names
}

#[test]
fn content_tree_and_message_states_reach_every_device() {
    let (_dir, s) = start();
    assert_eq!(call(&s, "POST", "/api/v1/users", Some(json!({ "name": "alice", "password": "pw" }))).0, 201);
    let (_, content) = call(&s, "POST", "/api/v1/users/alice/content/folders", Some(json!({ "name": "Content" })));
    let content = content["guid"].as_str().expect("GUID").to_string();
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    for (name, ct) in [
        ("beach.jpg", "image/jpeg"),
        ("cat.png", "image/png"),
        ("holiday.mp4", "video/mp4"),
        ("song1.mp3", "audio/mpeg"),
        ("song2.mp3", "audio/mpeg"),
        ("song3.ogg", "audio/ogg"),
    ] {
        let body = format!("bytes of {name}").repeat(50);
        let file = json!({ "name": name, "parent": content, "content_type": ct, "body_base64": b64(body.as_bytes()) });
        assert_eq!(call(&s, "POST", "/api/v1/users/alice/content/files", Some(file)).0, 201);
    }

    // The phone has the tree before the PDA changes it.
    let phone = Sim::new("phone");
    assert_eq!(phone.sync(&s, "content")["datastores"][0]["received"]["added"], 7);

    // The PDA lists the content folder, makes "favourite song" in it and moves the music there.
    let pda = Sim::new("pda");
    let r = pda.sync(&s, "content");
    assert_eq!(r["datastores"][0]["received"]["added"], 7, "{r}");
    let (content_on_pda, _, _) = pda.find("content", "<name>Content</name>");
    fs::write(pda.data("content").join("fav"), "<Folder><name>favourite song</name></Folder>").expect("write folder");
    let mut meta = pda.meta("content");
    meta["items"]["fav"] = json!({ "content_type": "application/vnd.omads-folder+xml", "parent": content_on_pda });
    for (luid, _, text) in pda.items("content") {
        if text.contains("audio/") {
            meta["items"][&luid]["parent"] = json!("fav");
        }
    }
    pda.set_meta("content", &meta);
    let r = pda.sync(&s, "content");
    assert_eq!(
        (r["datastores"][0]["sent"]["added"].as_u64(), r["datastores"][0]["sent"]["moved"].as_u64()),
        (Some(1), Some(3)),
        "{r}"
    );
    assert_eq!(r["datastores"][0]["sent"]["failed"], 0, "{r}");

    // The phone gets the new folder and three Moves, no file again; the PC (first sync) the
    // whole tree with the bodies. Both: the music inside the new folder and nowhere else.
    let r = phone.sync(&s, "content");
    let received = &r["datastores"][0]["received"];
    assert_eq!((received["added"].as_u64(), received["moved"].as_u64()), (Some(1), Some(3)), "{r}");
    assert_eq!(received["replaced"], 0, "{r}");
    let song_b64 = b64("bytes of song1.mp3".repeat(50).as_bytes());
    assert_eq!(phone.on_the_wire(&song_b64), 1, "the phone got the song's body once");
    let pc = Sim::new("pc");
    assert_eq!(pc.sync(&s, "content")["datastores"][0]["received"]["added"], 8);
    for (id, dev) in [("phone", &phone), ("pc", &pc)] {
        let (fav, fav_parent, _) = dev.find("content", "<name>favourite song</name>");
        let (content_luid, _, _) = dev.find("content", "<name>Content</name>");
        assert_eq!(fav_parent.as_deref(), Some(content_luid.as_str()), "{id}: the folder sits in Content");
        assert_eq!(file_names_in(dev, &fav), ["song1.mp3", "song2.mp3", "song3.ogg"], "{id}");
        assert_eq!(file_names_in(dev, &content_luid), ["beach.jpg", "cat.png", "holiday.mp4"], "{id}");
        let (_, _, song) = dev.find("content", "<name>song1.mp3</name>");
        assert!(song.contains(&song_b64), "{id}: full body");
    }

    // A message deposited by the service, marked seen on the phone, arrives seen on the PC.
    let (_, inbox) = call(&s, "POST", "/api/v1/users/alice/messages/folders", Some(json!({ "name": "Inbox" })));
    let inbox = inbox["guid"].as_str().expect("GUID").to_string();
    let mail = "From: bob@example.com\r\nSubject: Lunch?\r\n\r\nAt noon.\r\n";
    let (st, m) =
        call(&s, "POST", "/api/v1/users/alice/messages/deposit", Some(json!({ "rfc822": mail, "folder": inbox })));
    assert_eq!(st, 201, "{m}");
    let guid = m["guid"].as_str().expect("GUID").to_string();
    // Both get it unseen; the phone marks it seen (a field-level Replace up), the PC gets the
    // seen state as a field-level Replace down: the body crosses the wire once per device.
    for dev in [&phone, &pc] {
        dev.sync(&s, "messages");
        let (_, parent, text) = dev.find("messages", "Subject: Lunch?");
        assert!(parent.is_some() && text.contains("<read>false</read>"), "{text}");
    }
    let (luid, _, text) = phone.find("messages", "Subject: Lunch?");
    fs::write(phone.data("messages").join(&luid), text.replace("<read>false</read>", "<read>true</read>"))
        .expect("mark seen");
    let r = phone.sync(&s, "messages");
    assert_eq!(r["datastores"][0]["sent"]["replaced"], 1, "{r}");
    let (_, v) = call(&s, "GET", &format!("/api/v1/users/alice/messages/items/{guid}"), None);
    assert_eq!(v["states"]["seen"], true, "{v}");
    assert_eq!(v["rfc822"].as_str().map(|t| t.contains("At noon.")), Some(true), "the body is kept: {v}");
    let r = pc.sync(&s, "messages");
    assert_eq!(r["datastores"][0]["received"]["replaced"], 1, "{r}");
    let (_, _, on_pc) = pc.find("messages", "Subject: Lunch?");
    assert!(on_pc.contains("<read>true</read>") && on_pc.contains("At noon."), "{on_pc}");
    assert_eq!(phone.on_the_wire("At noon."), 1, "the phone: the body once");
    assert_eq!(pc.on_the_wire("At noon."), 1, "the PC: the body once");
}
