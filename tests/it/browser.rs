//! A real browser for the console tests: Debian's `chromium`, headless, driven through
//! `chromedriver` over the W3C WebDriver protocol (JSON over HTTP, spoken here with a raw
//! `TcpStream`), and `tesseract` to read back what a screenshot shows. All three come from
//! Debian packages that `scripts/test` installs; a missing one is a test failure that says so.
//!
//! The driver listens on a free loopback port, Chromium gets a fresh profile in a temporary
//! directory and the flags that keep it off the network; both are stopped by pid on drop.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use super::server::TempDir;

const CHROMIUM: &str = "/usr/bin/chromium";
const DRIVER: &str = "/usr/bin/chromedriver";

/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn require(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: install the Debian package {package} (scripts/test installs every test dependency)"
    );
}

/// One headless Chromium behind its chromedriver.
pub(crate) struct Browser {
    driver: Child,
    port: u16,
    session: String,
    _profile: TempDir,
}

impl Browser {
    /// Starts chromedriver and a browser session with a `width` x `height` window.
    pub(crate) fn start(width: u32, height: u32) -> Browser {
        require(CHROMIUM, "chromium");
        require(DRIVER, "chromium-driver");
        let port = super::server::free_port();
        let driver = Command::new(DRIVER)
            .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".into()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = TempDir::new();
        let mut b = Browser { driver, port, session: String::new(), _profile: profile };
        let deadline = Instant::now() + Duration::from_secs(20);
        while b.call("GET", "/status", None).map(|v| v["value"]["ready"] == true).ok() != Some(true) {
            assert!(Instant::now() < deadline, "chromedriver did not become ready on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--hide-scrollbars".into(),
            "--force-device-scale-factor=1".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", b._profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args}
        }}});
        let v = b.call("POST", "/session", Some(caps)).unwrap_or_else(|e| panic!("no browser session: {e}"));
        b.session = v["value"]["sessionId"].as_str().expect("a session id").to_string();
        b
    }

    /// One WebDriver command; `Err` carries the driver's error.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(60))).map_err(|e| e.to_string())?;
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        );
        s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
        // chromedriver keeps the connection open: read the head, then Content-Length bytes.
        let mut raw = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        let (head, body) = loop {
            let n = s.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed before a response".into());
            }
            raw.extend_from_slice(&buf[..n]);
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&raw[..end]).into_owned();
                let len = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                    .and_then(|v| v.parse::<usize>().ok())
                    .ok_or("a response without Content-Length")?;
                let mut body = raw[end + 4..].to_vec();
                while body.len() < len {
                    let n = s.read(&mut buf).map_err(|e| e.to_string())?;
                    if n == 0 {
                        return Err("connection closed in the body".into());
                    }
                    body.extend_from_slice(&buf[..n]);
                }
                break (head, body);
            }
        };
        let v: Value = serde_json::from_slice(&body).map_err(|e| format!("{e}: {head}"))?;
        if !head.starts_with("HTTP/1.1 200") {
            return Err(format!("{}: {}", head.lines().next().unwrap_or(""), v["value"]["message"]));
        }
        Ok(v)
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        match self.call(method, &path, body) {
            Ok(v) => v["value"].clone(),
            Err(e) => panic!("WebDriver {method} {path}: {e}"),
        }
    }

    pub(crate) fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    pub(crate) fn url(&self) -> String {
        self.cmd("GET", "/url", None).as_str().unwrap_or_default().to_string()
    }

    /// The element matching a CSS selector (panics with the page's text when there is none).
    pub(crate) fn find(&self, css: &str) -> String {
        let path = format!("/session/{}/element", self.session);
        match self.call("POST", &path, Some(json!({"using": "css selector", "value": css}))) {
            Ok(v) => v["value"][ELEMENT].as_str().unwrap_or_else(|| panic!("not an element: {v}")).to_string(),
            Err(e) => panic!("no element {css} on {}: {e}\npage text:\n{}", self.url(), self.text("body")),
        }
    }

    /// The first link whose text is exactly `text`.
    pub(crate) fn link(&self, text: &str) -> String {
        let path = format!("/session/{}/element", self.session);
        match self.call("POST", &path, Some(json!({"using": "link text", "value": text}))) {
            Ok(v) => v["value"][ELEMENT].as_str().unwrap_or_else(|| panic!("not an element: {v}")).to_string(),
            Err(e) => panic!("no link '{text}' on {}: {e}\npage text:\n{}", self.url(), self.text("body")),
        }
    }

    pub(crate) fn click(&self, element: &str) {
        self.cmd("POST", &format!("/element/{element}/click"), Some(json!({})));
    }

    pub(crate) fn type_into(&self, element: &str, text: &str) {
        self.cmd("POST", &format!("/element/{element}/value"), Some(json!({ "text": text })));
    }

    /// The rendered text of the element matching `css`.
    pub(crate) fn text(&self, css: &str) -> String {
        let path = format!("/session/{}/element", self.session);
        let Ok(v) = self.call("POST", &path, Some(json!({"using": "css selector", "value": css}))) else {
            return String::new();
        };
        let id = v["value"][ELEMENT].as_str().unwrap_or_default().to_string();
        // A page still loading after a click can make the element stale between the two
        // commands: that reads as no text (wait_text asks again).
        let path = format!("/session/{}/element/{id}/text", self.session);
        self.call("GET", &path, None).map(|v| v["value"].as_str().unwrap_or_default().to_string()).unwrap_or_default()
    }

    /// The text of `css` once it satisfies `ok` (a page after a click may still be loading),
    /// or whatever it is after 10 s.
    pub(crate) fn wait_text(&self, css: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.text(css);
            if ok(&text) || Instant::now() > deadline {
                return text;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A PNG of the viewport, written to `path`.
    pub(crate) fn screenshot(&self, path: &Path) -> Vec<u8> {
        let b64 = self.cmd("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD.decode(b64.as_str().expect("base64")).expect("a PNG");
        std::fs::write(path, &png).expect("write the screenshot");
        png
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Width and height from a PNG's IHDR chunk.
pub(crate) fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.len() > 24 && png.starts_with(b"\x89PNG\r\n\x1a\n") && &png[12..16] == b"IHDR", "not a PNG");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&png[16..20]), be(&png[20..24]))
}

/// What `tesseract` reads in an image, lower-cased with runs of white space made one space.
pub(crate) fn ocr(image: &Path) -> String {
    require("/usr/bin/tesseract", "tesseract-ocr");
    let out = Command::new("tesseract")
        .arg(image)
        .args(["stdout", "--psm", "3"])
        .env("OMP_THREAD_LIMIT", "1")
        .stderr(Stdio::null())
        .output()
        .expect("tesseract runs");
    assert!(out.status.success(), "tesseract failed on {}", image.display());
    String::from_utf8_lossy(&out.stdout).split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// Where a failing test leaves its screenshots: the target directory.
pub(crate) fn artifact(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir.join(name)
}
