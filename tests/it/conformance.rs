//! The conformance suite against the real `syncgate serve`: `syncgate conformance` (the binary)
//! with `conformance/expected/syncgate.toml` must exit 0, run at least 60 cases with no
//! unexpected failure, and leave the gateway running (the hostile cases must not kill it).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::server::{Server, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_syncgate");

#[test]
fn the_suite_passes_against_syncgate_and_the_gateway_survives() {
    let dir = TempDir::new();
    let data = dir.path().join("data");
    let added = Command::new(BIN)
        .args(["user", "add", "conf", "--password", "conf-secret", "--data-dir"])
        .arg(&data)
        .output()
        .expect("syncgate user add runs");
    assert!(added.status.success(), "{added:?}");
    let mut gateway = Server::start(&data, &[]);

    let expected = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/expected/syncgate.toml");
    let started = Instant::now();
    let out = Command::new(BIN)
        .args(["conformance", "--url", &format!("http://{}/sync", gateway.addr)])
        .args(["--user", "conf", "--password", "conf-secret", "--device-prefix", "it", "--timeout", "20"])
        .arg("--expected")
        .arg(&expected)
        .output()
        .expect("syncgate conformance runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");

    let summary = stdout.lines().last().unwrap_or_default();
    let numbers: Vec<usize> = summary.split(", ").filter_map(|part| part.split(' ').next()?.parse().ok()).collect();
    assert!(
        summary.ends_with("not applicable") && numbers.len() == 4,
        "summary line of the form 'N passed, N failed, N expected failures, N not applicable': {summary:?}"
    );
    let (passed, failed, xfail, na) = (numbers[0], numbers[1], numbers[2], numbers[3]);
    assert_eq!(failed, 0, "{stdout}");
    assert!(passed + xfail + na >= 60, "at least 60 cases: {summary}");
    let case_lines = stdout.lines().filter(|l| ["PASS ", "FAIL ", "XFAIL", "N/A "].iter().any(|t| l.starts_with(t)));
    assert_eq!(case_lines.count(), passed + failed + xfail + na, "one line per case:\n{stdout}");
    assert!(!stdout.lines().any(|l| l.starts_with("FAIL ")), "{stdout}");
    assert!(started.elapsed() < Duration::from_secs(60), "the suite took {:?}", started.elapsed());

    assert!(gateway.is_running(), "the gateway died during the suite");
    let health = std::net::TcpStream::connect(&gateway.addr);
    assert!(health.is_ok(), "the gateway still accepts connections");
}

#[test]
fn a_listed_case_that_fails_is_an_expected_failure_and_an_unlisted_one_fails_the_run() {
    // No server at all: every case fails; listing one of them turns exactly that one into XFAIL.
    let dir = TempDir::new();
    let file = dir.path().join("expected.toml");
    std::fs::write(&file, "[[expected]]\nid = \"hdr-01\"\nreason = \"no server in this test\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["conformance", "--url", "http://127.0.0.1:1/sync", "--user", "u", "--password", "p"])
        .args(["--only", "hdr-0", "--timeout", "2"])
        .arg("--expected")
        .arg(&file)
        .output()
        .expect("syncgate conformance runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with("XFAIL hdr-01  ") && l.ends_with("(expected: no server in this test)")),
        "{stdout}"
    );
    assert!(stdout.lines().any(|l| l.starts_with("FAIL  hdr-02  ")), "{stdout}");
    assert_eq!(stdout.lines().last(), Some("0 passed, 7 failed, 1 expected failures, 0 not applicable"), "{stdout}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[expected]]\nid = \"no-such-case\"\nreason = \"x\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["conformance", "--url", "http://127.0.0.1:1/sync", "--user", "u", "--password", "p", "--expected"])
        .arg(&bad)
        .output()
        .expect("syncgate conformance runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("names no case"), "{out:?}");
}
