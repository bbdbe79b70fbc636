//! The `syncgate` binary's codec, san and user subcommands, run as a user would.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn syncgate(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_syncgate"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the syncgate binary runs");
    child.stdin.take().expect("stdin").write_all(stdin).expect("write stdin");
    child.wait_with_output().expect("syncgate exits")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const PKG1: &str = r#"<?xml version="1.0"?>
<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>SyncML/1.2</VerProto>
<SessionID>1</SessionID><MsgID>1</MsgID><Target><LocURI>http://example.com/sync</LocURI></Target>
<Source><LocURI>IMEI:123</LocURI><LocName>user</LocName></Source>
<Meta><MaxMsgSize xmlns="syncml:metinf">10000</MaxMsgSize></Meta></SyncHdr>
<SyncBody><Alert><CmdID>1</CmdID><Data>200</Data><Item><Target><LocURI>contacts</LocURI></Target>
<Source><LocURI>./contacts</LocURI></Source><Meta><Anchor xmlns="syncml:metinf"><Last>1</Last><Next>2</Next></Anchor></Meta>
</Item></Alert><Final/></SyncBody></SyncML>"#;

#[test]
fn codec_encode_and_decode_through_both_encodings() {
    let wbxml = syncgate(&["codec", "encode", "--to", "wbxml", "-"], PKG1.as_bytes());
    assert!(wbxml.status.success(), "{}", String::from_utf8_lossy(&wbxml.stderr));
    assert_eq!(&wbxml.stdout[..5], &[0x02, 0xA4, 0x01, 0x6A, 0x00], "WBXML 1.2 header of SyncML 1.2");
    let pretty = syncgate(&["codec", "decode"], &wbxml.stdout);
    assert!(pretty.status.success());
    let text = String::from_utf8(pretty.stdout).unwrap();
    assert!(text.contains("<SyncML xmlns=\"SYNCML:SYNCML1.2\">"), "{text}");
    assert!(text.contains("\n  <SyncHdr>\n    <VerDTD>1.2</VerDTD>"), "indented: {text}");
    assert!(text.contains("<Anchor xmlns=\"syncml:metinf\">"), "metinf namespace declared: {text}");
    assert!(text.contains("<Next>2</Next>"), "{text}");
    // The pretty XML is itself valid input that encodes to the same WBXML.
    let again = syncgate(&["codec", "encode", "--to", "wbxml"], text.as_bytes());
    assert_eq!(again.stdout, wbxml.stdout);
}

#[test]
fn codec_rejects_bad_input_with_one_line_and_exit_1() {
    for bad in
        [&b"<SyncML xmlns='SYNCML:SYNCML1.2'><SyncHdr>"[..], b"\x02\xa4\x01\x6a\x00\x6d\x6c\x71\x03", b"hello", b""]
    {
        let out = syncgate(&["codec", "decode", "-"], bad);
        assert_eq!(out.status.code(), Some(1), "input {bad:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.starts_with("syncgate: "), "{err}");
    }
    let missing = syncgate(&["codec", "decode", "/nonexistent/file.xml"], b"");
    assert_eq!(missing.status.code(), Some(1));
}

/// PROTOCOL.md §8.1: the worked SAN example, byte for byte, through the command line.
#[test]
fn san_encode_reproduces_the_protocol_vector() {
    let out = syncgate(
        &[
            "san",
            "encode",
            "--server-id",
            "myserver",
            "--password",
            "secret",
            "--nonce",
            "nonce123",
            "--session-id",
            "4660",
            "--ui-mode",
            "background",
            "--sync",
            "206:text/x-vcard:card",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        hex(&out.stdout),
        "07f17c8288969cd50077c27ede5fc37f0318000000123408".to_owned()
            + &hex(b"myserver")
            + "10"
            + "60000007"
            + "04"
            + &hex(b"card")
    );
}

#[test]
fn san_decode_reports_fields_and_checks_the_digest() {
    let dir = std::env::temp_dir().join(format!("syncgate-cli-san-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("san.bin");
    let file_s = file.to_str().unwrap();
    let enc = syncgate(
        &[
            "san",
            "encode",
            "--server-id",
            "myserver",
            "--password",
            "secret",
            "--nonce",
            "n1",
            "--sync",
            "206:0x07:card",
            "-o",
            file_s,
        ],
        b"",
    );
    assert!(enc.status.success());
    let ok = syncgate(&["san", "decode", file_s, "--password", "secret", "--nonce", "n1"], b"");
    let json: serde_json::Value = serde_json::from_slice(&ok.stdout).expect("JSON");
    assert_eq!(json["format"], "1.2");
    assert_eq!(json["digest_valid"], true);
    assert_eq!(json["notification"]["server_id"], "myserver");
    assert_eq!(json["notification"]["syncs"][0]["sync_type"], 206);
    assert_eq!(json["notification"]["syncs"][0]["server_uri"], "card");
    let bad = syncgate(&["san", "decode", file_s, "--password", "wrong", "--nonce", "n1"], b"");
    let json: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(json["digest_valid"], false);

    // The 1.1 form is a SyncML message; decode recognises it.
    let legacy = syncgate(
        &[
            "san",
            "encode",
            "--format",
            "1.1",
            "--server-id",
            "srv",
            "--sync",
            "210:text/x-vcard:contacts",
            "-o",
            file_s,
        ],
        b"",
    );
    assert!(legacy.status.success());
    let json: serde_json::Value = serde_json::from_slice(&syncgate(&["san", "decode", file_s], b"").stdout).unwrap();
    assert_eq!(json["format"], "1.1");
    assert_eq!(json["encoding"], "wbxml");
    assert_eq!(json["notification"]["syncs"][0]["sync_type"], 210);
    assert_eq!(json["notification"]["syncs"][0]["content_type"], "text/x-vcard");

    std::fs::write(&file, b"\x00\x01short").unwrap();
    let trunc = syncgate(&["san", "decode", file_s], b"");
    assert_eq!(trunc.status.code(), Some(1));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn user_prefs_set_show_refuse_and_clear() {
    let dir = super::server::TempDir::new();
    let data = dir.path().to_str().expect("utf-8 path").to_string();
    let run = |args: &[&str]| {
        let mut all = vec!["user", "--data-dir", data.as_str()];
        all.extend_from_slice(args);
        syncgate(&all, b"")
    };
    assert!(run(&["add", "alice", "--password", "pw"]).status.success());
    let set =
        run(&["prefs", "alice", "pc", r#"{"mode":"scheduled","schedule":{"daily":"24:00"},"channel":"longpoll"}"#]);
    assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));
    assert!(String::from_utf8_lossy(&set.stdout).contains("next run at"));
    let shown = run(&["prefs", "alice", "pc"]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains(r#""daily":"24:00""#));
    let bad = run(&["prefs", "alice", "pc", r#"{"mode":"scheduled","channel":"longpoll"}"#]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("needs a schedule"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    assert!(run(&["prefs", "alice", "pc", "--clear"]).status.success());
    assert!(!run(&["prefs", "alice", "pc"]).status.success(), "no preferences any more");
    assert!(!run(&["prefs", "nobody", "pc"]).status.success());
}

#[test]
fn check_config_accepts_the_example_warns_and_refuses_bad_files() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/config/example.toml");
    let dir = super::server::TempDir::new();
    let data = dir.path().join("data");
    let out = syncgate(&["check-config", "--config", example, "--data-dir", data.to_str().expect("utf-8")], b"");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.starts_with("ok: listen=0.0.0.0:8080"), "{text}");
    assert!(text.contains("will be created"), "{text}");
    assert!(text.contains("warning: [api] token is a placeholder"), "{text}");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "listen = \"127.0.0.1:8080\"\n[api]\ntokn = \"x\"\n").expect("write");
    let out = syncgate(&["check-config", "--config", bad.to_str().expect("utf-8")], b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("line 3") && err.contains("tokn"), "{err}");
}

#[test]
fn json_logs_are_one_object_per_line_with_the_request_context() {
    let dir = super::server::TempDir::new();
    let data = dir.path().join("data");
    let data_arg = data.to_str().expect("utf-8");
    assert!(syncgate(&["user", "add", "alice", "--password", "pw", "--data-dir", data_arg], b"").status.success());
    let s = super::server::Server::start(&data, &["--log-format", "json"]);
    let r = s.request("POST", "/sync", &["Content-Type: application/vnd.syncml+xml"], b"<SyncML><not-closed>");
    assert_eq!(r.status, 400);
    // A device with a wrong password: the session's summary says what was refused.
    let state = dir.path().join("phone");
    let url = format!("http://{}/sync", s.addr);
    let out = syncgate(
        &["client", "--url", &url, "--user", "nobody", "--password", "x", "--device", "phone-9", "--state"]
            .into_iter()
            .chain([state.to_str().expect("utf-8"), "sync", "contacts"])
            .collect::<Vec<_>>(),
        b"",
    );
    assert!(!out.status.success());
    // A device that syncs: its session's lines carry the datastore once it is known.
    let phone = dir.path().join("phone-8");
    std::fs::create_dir_all(phone.join("data/contacts")).expect("data");
    std::fs::write(phone.join("data/contacts/1.vcf"), "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nN:A;;;;\r\nEND:VCARD\r\n")
        .expect("item");
    let out = syncgate(
        &["client", "--url", &url, "--user", "alice", "--password", "pw", "--device", "phone-8", "--state"]
            .into_iter()
            .chain([phone.to_str().expect("utf-8"), "sync", "contacts"])
            .collect::<Vec<_>>(),
        b"",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (code, logs) = s.stop_and_logs();
    assert_eq!(code, Some(0));
    let lines: Vec<serde_json::Value> =
        logs.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    assert!(lines.len() >= 3, "{logs}");
    assert!(lines.iter().all(|v| v["timestamp"].is_string() && v["level"].is_string()), "{logs}");
    assert!(lines.iter().any(|v| v["level"] == "WARN"), "the refused request is logged: {logs}");
    let summary = lines
        .iter()
        .find(|v| {
            v["message"] == "session ended with refusals" && v["device"] == "phone-9" && v["outcome"] != "challenged"
        })
        .unwrap_or_else(|| panic!("no summary line for phone-9: {logs}"));
    // Who, which session, the outcome, and each refused status with its meaning, in one line.
    let refused = summary["refused"].as_str().unwrap_or_default();
    assert!(refused.contains("SyncHdr 401 (invalid credentials)"), "{summary}");
    assert_eq!(summary["outcome"], "auth_failed", "{summary}");
    assert_eq!(summary["user"], "nobody", "{summary}");
    assert!(summary["span"]["sid"].as_str().is_some_and(|s| s.len() == 8), "the session id: {summary}");
    let ok = lines
        .iter()
        .find(|v| v["message"] == "session ended: ok" && v["device"] == "phone-8")
        .unwrap_or_else(|| panic!("no summary line for phone-8: {logs}"));
    assert_eq!((ok["mode"].as_str(), ok["outcome"].as_str()), (Some("slow"), Some("ok")), "{ok}");
    assert_eq!(ok["span"]["datastores"], "contacts", "{ok}");
    assert_eq!(ok["span"]["user"], "alice", "{ok}");
    assert!(ok["span"]["sid"].is_string(), "{ok}");
}

#[test]
fn the_systemd_unit_runs_the_checked_configuration_hardened() {
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/systemd/syncgate.service"))
        .expect("the unit");
    let keys: Vec<(&str, &str)> =
        unit.lines().filter(|l| !l.starts_with('#') && l.contains('=')).filter_map(|l| l.split_once('=')).collect();
    let value = |k: &str| keys.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
    assert_eq!(value("ExecReload"), Some("/bin/kill -HUP $MAINPID"), "reload = SIGHUP = new TLS certificate");
    for (k, v) in [
        ("DynamicUser", "yes"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("CapabilityBoundingSet", ""),
        ("StateDirectory", "syncgate"),
    ] {
        assert_eq!(value(k), Some(v), "{k}");
    }
    // The commands it runs are ones the binary has, with the data where StateDirectory puts it.
    for k in ["ExecStartPre", "ExecStart"] {
        let cmd = value(k).expect(k);
        assert!(
            cmd.contains("--data-dir /var/lib/syncgate") && cmd.contains("--config /etc/syncgate/syncgate.toml"),
            "{cmd}"
        );
        let sub = cmd.split_whitespace().nth(1).expect("subcommand");
        let help = syncgate(&[sub, "--help"], b"");
        assert!(help.status.success(), "{sub}: {}", String::from_utf8_lossy(&help.stderr));
    }
}
