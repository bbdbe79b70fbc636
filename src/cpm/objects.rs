//! The OMA DS 1.2 data objects of the message storage, as they travel inside `<Data>`
//! (PROTOCOL.md §10.2–10.4): folders (`application/vnd.omads-folder+xml`, root `<Folder>`),
//! files (`application/vnd.omads-file+xml`, root `<File>`) and e-mail messages
//! (`application/vnd.omads-email+xml`, root `<Email>`).
//!
//! Element names as PROTOCOL.md §10 verified them against Funambol's C++ client (FolderData.cpp,
//! FileData.cpp, EmailData.cpp) and pysyncml (items/folder.py, items/file.py): `name`,
//! `created`, `modified`, `role`, `cttype`, `body` (attribute `enc`), `size`; e-mail `read`,
//! `forwarded`, `replied`, `flagged`, `deleted`, `received`, `emailitem`. Parsing is lenient
//! (unknown elements are ignored, element names are matched case-insensitively); writing is
//! canonical. A file's body is base64 (`enc="base64"`); a file without `body` but with `size` is
//! the "details only" form.

use base64::Engine as _;
use quick_xml::events::Event;
use quick_xml::Reader;

/// Content type of folder objects.
pub const FOLDER_TYPE: &str = "application/vnd.omads-folder+xml";
/// Content type of file objects.
pub const FILE_TYPE: &str = "application/vnd.omads-file+xml";
/// Content type of e-mail (message) objects.
pub const EMAIL_TYPE: &str = "application/vnd.omads-email+xml";

/// A folder.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Folder {
    pub name: String,
    pub created: Option<String>,
    pub modified: Option<String>,
    /// For message folders: inbox, sent, drafts, trash, outbox…
    pub role: Option<String>,
}

/// A content file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct File {
    pub name: String,
    pub created: Option<String>,
    pub modified: Option<String>,
    /// MIME type of the body.
    pub cttype: Option<String>,
    pub size: Option<u64>,
    /// The file's bytes; `None` in the details-only form.
    pub body: Option<Vec<u8>>,
    /// Extensions (`<Ext>`): e.g. the link to the full file in network storage.
    pub ext: Vec<Ext>,
}

/// A message with its states.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Email {
    pub read: bool,
    pub forwarded: bool,
    pub replied: bool,
    pub flagged: bool,
    pub deleted: bool,
    pub received: Option<String>,
    /// The RFC 5322 message.
    pub emailitem: Vec<u8>,
    /// Extensions (`<Ext>`): truncation marks, the link to the full message.
    pub ext: Vec<Ext>,
}

/// An `<Ext>` extension: a name (`XNam`) and its values (`XVal`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ext {
    pub name: String,
    pub values: Vec<String>,
}

impl Ext {
    pub fn new(name: &str, values: &[&str]) -> Ext {
        Ext { name: name.into(), values: values.iter().map(|v| (*v).to_string()).collect() }
    }
}

/// The first value of the extension `name` (case-insensitive), if present.
pub fn ext_value<'a>(ext: &'a [Ext], name: &str) -> Option<&'a str> {
    ext.iter().find(|e| e.name.eq_ignore_ascii_case(name)).and_then(|e| e.values.first()).map(String::as_str)
}

fn write_ext(x: &mut String, ext: &[Ext]) {
    for e in ext {
        x.push_str("<Ext>");
        elem(x, "XNam", Some(&e.name));
        for v in &e.values {
            elem(x, "XVal", Some(v));
        }
        x.push_str("</Ext>");
    }
}

/// Why an object could not be read.
#[derive(Debug, thiserror::Error)]
#[error("not a valid {kind} object: {reason}")]
pub struct ObjectError {
    pub kind: &'static str,
    pub reason: String,
}

impl Folder {
    pub fn to_xml(&self) -> Vec<u8> {
        let mut x = String::from("<Folder>");
        elem(&mut x, "name", Some(&self.name));
        elem(&mut x, "created", self.created.as_deref());
        elem(&mut x, "modified", self.modified.as_deref());
        elem(&mut x, "role", self.role.as_deref());
        x.push_str("</Folder>");
        x.into_bytes()
    }

    pub fn parse(bytes: &[u8]) -> Result<Folder, ObjectError> {
        let f = fields(bytes, "Folder")?;
        Ok(Folder {
            name: f.text("name").unwrap_or_default(),
            created: f.text("created"),
            modified: f.text("modified"),
            role: f.text("role"),
        })
    }
}

impl File {
    pub fn to_xml(&self) -> Vec<u8> {
        let mut x = String::from("<File>");
        elem(&mut x, "name", Some(&self.name));
        elem(&mut x, "created", self.created.as_deref());
        elem(&mut x, "modified", self.modified.as_deref());
        elem(&mut x, "cttype", self.cttype.as_deref());
        if let Some(body) = &self.body {
            x.push_str("<body enc=\"base64\">");
            x.push_str(&base64::engine::general_purpose::STANDARD.encode(body));
            x.push_str("</body>");
        }
        let size = self.size.or(self.body.as_ref().map(|b| b.len() as u64));
        elem(&mut x, "size", size.map(|s| s.to_string()).as_deref());
        write_ext(&mut x, &self.ext);
        x.push_str("</File>");
        x.into_bytes()
    }

    pub fn parse(bytes: &[u8]) -> Result<File, ObjectError> {
        let f = fields(bytes, "File")?;
        let body = match f.text("body") {
            None => None,
            Some(text) => {
                let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
                let decoded = base64::engine::general_purpose::STANDARD.decode(clean.as_bytes());
                Some(decoded.map_err(|e| ObjectError { kind: "file", reason: format!("body: {e}") })?)
            }
        };
        Ok(File {
            name: f.text("name").unwrap_or_default(),
            created: f.text("created"),
            modified: f.text("modified"),
            cttype: f.text("cttype"),
            size: f.text("size").and_then(|s| s.trim().parse().ok()),
            body,
            ext: f.ext,
        })
    }
}

impl Email {
    pub fn to_xml(&self) -> Vec<u8> {
        let mut x = String::from("<Email>");
        for (name, on) in [
            ("read", self.read),
            ("forwarded", self.forwarded),
            ("replied", self.replied),
            ("flagged", self.flagged),
            ("deleted", self.deleted),
        ] {
            elem(&mut x, name, Some(if on { "true" } else { "false" }));
        }
        elem(&mut x, "received", self.received.as_deref());
        x.push_str("<emailitem>");
        x.push_str(&escape(&String::from_utf8_lossy(&self.emailitem)));
        x.push_str("</emailitem>");
        write_ext(&mut x, &self.ext);
        x.push_str("</Email>");
        x.into_bytes()
    }

    pub fn parse(bytes: &[u8]) -> Result<Email, ObjectError> {
        let f = fields(bytes, "Email")?;
        let flag = |n: &str| f.text(n).is_some_and(|v| is_true(&v));
        Ok(Email {
            read: flag("read"),
            forwarded: flag("forwarded"),
            replied: flag("replied"),
            flagged: flag("flagged"),
            deleted: flag("deleted"),
            received: f.text("received"),
            emailitem: f.text("emailitem").unwrap_or_default().into_bytes(),
            ext: f.ext,
        })
    }

    /// The value of a state by its element name (`read`, `flagged`…; false for others).
    pub fn state(&self, name: &str) -> bool {
        match name {
            "read" => self.read,
            "forwarded" => self.forwarded,
            "replied" => self.replied,
            "flagged" => self.flagged,
            "deleted" => self.deleted,
            _ => false,
        }
    }

    /// Sets a state by its element name (others are ignored).
    pub fn set_state(&mut self, name: &str, on: bool) {
        match name {
            "read" => self.read = on,
            "forwarded" => self.forwarded = on,
            "replied" => self.replied = on,
            "flagged" => self.flagged = on,
            "deleted" => self.deleted = on,
            _ => {}
        }
    }

    /// What an `<Email>` names, and only that: the states present (by canonical name) and the
    /// message if present (a field-level Replace carries some states and no message).
    pub fn given_states(bytes: &[u8]) -> Result<GivenStates, ObjectError> {
        let f = fields(bytes, "Email")?;
        let states = ["read", "forwarded", "replied", "flagged", "deleted"]
            .into_iter()
            .filter_map(|n| f.text(n).map(|v| (n, is_true(&v))))
            .collect();
        Ok(GivenStates { states, emailitem: f.text("emailitem").map(String::into_bytes) })
    }

    /// A header of the message (first occurrence, unfolded), e.g. `Subject`.
    pub fn header(&self, name: &str) -> Option<String> {
        let text = String::from_utf8_lossy(&self.emailitem);
        let mut value: Option<String> = None;
        for line in text.split('\n').map(|l| l.trim_end_matches('\r')) {
            if line.is_empty() {
                break;
            }
            if let Some(v) = value.as_mut() {
                if line.starts_with([' ', '\t']) {
                    v.push(' ');
                    v.push_str(line.trim());
                    continue;
                }
                break;
            }
            if let Some((n, v)) = line.split_once(':') {
                if n.trim().eq_ignore_ascii_case(name) {
                    value = Some(v.trim().to_string());
                }
            }
        }
        value
    }
}

/// The parts an `<Email>` names ([`Email::given_states`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GivenStates {
    pub states: Vec<(&'static str, bool)>,
    pub emailitem: Option<Vec<u8>>,
}

fn is_true(v: &str) -> bool {
    v.trim().eq_ignore_ascii_case("true") || v.trim() == "1"
}

/// The text of the root's direct children, and its `<Ext>` elements.
struct Fields {
    children: Vec<(String, String)>,
    ext: Vec<Ext>,
}

impl Fields {
    fn text(&self, name: &str) -> Option<String> {
        self.children.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    }
}

fn fields(bytes: &[u8], root: &'static str) -> Result<Fields, ObjectError> {
    let err = |reason: String| ObjectError { kind: root, reason };
    let mut reader = Reader::from_reader(bytes);
    let mut depth = 0usize;
    let mut current: Option<String> = None;
    let mut text = String::new();
    let mut out = Vec::new();
    let mut ext: Vec<Ext> = Vec::new();
    // Inside an <Ext>: the name of the current child (XNam / XVal).
    let mut in_ext = false;
    let mut saw_root = false;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                depth += 1;
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if depth == 1 {
                    if !name.eq_ignore_ascii_case(root) {
                        return Err(err(format!("root element <{name}>, expected <{root}>")));
                    }
                    saw_root = true;
                } else if depth == 2 {
                    in_ext = name.eq_ignore_ascii_case("Ext");
                    if in_ext {
                        ext.push(Ext::default());
                    }
                    current = Some(name);
                    text.clear();
                } else if depth == 3 && in_ext {
                    text.clear();
                }
            }
            Ok(Event::Empty(e)) if depth == 1 => {
                out.push((String::from_utf8_lossy(e.local_name().as_ref()).into_owned(), String::new()));
            }
            Ok(Event::End(e)) => {
                if depth == 3 && in_ext {
                    let value = std::mem::take(&mut text);
                    if let Some(last) = ext.last_mut() {
                        let child = e.local_name();
                        if child.as_ref().eq_ignore_ascii_case(b"XNam") {
                            last.name = value.trim().to_string();
                        } else if child.as_ref().eq_ignore_ascii_case(b"XVal") {
                            last.values.push(value);
                        }
                    }
                } else if depth == 2 {
                    if let Some(name) = current.take() {
                        if in_ext {
                            in_ext = false;
                            text.clear();
                        } else {
                            out.push((name, std::mem::take(&mut text)));
                        }
                    }
                }
                depth = depth.saturating_sub(1);
            }
            Ok(Event::Text(t)) if depth >= 2 => {
                let raw = String::from_utf8_lossy(t.as_ref()).into_owned();
                text.push_str(&unescape(&raw));
            }
            Ok(Event::GeneralRef(r)) if depth >= 2 => {
                let name = String::from_utf8_lossy(r.as_ref());
                match reference(&name) {
                    Some(c) => text.push(c),
                    None => {
                        text.push('&');
                        text.push_str(&name);
                        text.push(';');
                    }
                }
            }
            Ok(Event::CData(c)) if depth >= 2 => text.push_str(&String::from_utf8_lossy(c.as_ref())),
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(err(e.to_string())),
        }
    }
    if !saw_root {
        return Err(err(format!("no <{root}> element")));
    }
    Ok(Fields { children: out, ext })
}

fn elem(x: &mut String, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        x.push('<');
        x.push_str(name);
        x.push('>');
        x.push_str(&escape(v));
        x.push_str("</");
        x.push_str(name);
        x.push('>');
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after.find(';').map(|end| (end, reference(&after[..end]))) {
            Some((end, Some(c))) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            _ => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The character an entity or character reference (without `&` and `;`) stands for.
fn reference(name: &str) -> Option<char> {
    match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_round_trip_and_lenient_parse() {
        let f = Folder { name: "favourite <song> & more".into(), role: Some("inbox".into()), ..Default::default() };
        assert_eq!(Folder::parse(&f.to_xml()).unwrap(), f);
        let funambol = b"<Folder><NAME>Music</NAME><created>20261122T100000Z</created><attributes><h>false</h></attributes></Folder>";
        let parsed = Folder::parse(funambol).unwrap();
        assert_eq!((parsed.name.as_str(), parsed.created.as_deref()), ("Music", Some("20261122T100000Z")));
        assert!(Folder::parse(b"<File><name>x</name></File>").is_err());
        assert!(Folder::parse(b"<Folder><name>x").is_err() || Folder::parse(b"<Folder><name>x").is_ok());
    }

    #[test]
    fn file_round_trip_with_and_without_body() {
        let body: Vec<u8> = (0..=255u8).collect();
        let f = File {
            name: "song.mp3".into(),
            cttype: Some("audio/mpeg".into()),
            body: Some(body.clone()),
            ..Default::default()
        };
        let parsed = File::parse(&f.to_xml()).unwrap();
        assert_eq!((parsed.body.as_deref(), parsed.size), (Some(body.as_slice()), Some(256)));
        let details = File { name: "big.mp4".into(), size: Some(5_000_000), ..Default::default() };
        let parsed = File::parse(&details.to_xml()).unwrap();
        assert_eq!((parsed.body, parsed.size), (None, Some(5_000_000)));
        assert!(File::parse(b"<File><body enc=\"base64\">***</body></File>").is_err());
    }

    #[test]
    fn email_states_and_headers() {
        let msg =
            b"From: a@example.com\r\nSubject: Hello\r\n  world\r\nTo: b@example.com\r\n\r\nBody <b>&\r\n".to_vec();
        let e = Email { read: true, flagged: true, emailitem: msg.clone(), ..Default::default() };
        let parsed = Email::parse(&e.to_xml()).unwrap();
        assert_eq!(parsed, e);
        assert_eq!(parsed.header("subject").as_deref(), Some("Hello world"));
        assert_eq!(parsed.header("X-None"), None);
        // Funambol's form: the message in CDATA.
        let cdata = b"<Email><read>false</read><emailitem><![CDATA[Subject: Hi\r\n\r\nx]]></emailitem></Email>";
        assert_eq!(Email::parse(cdata).unwrap().header("Subject").as_deref(), Some("Hi"));
    }
}
