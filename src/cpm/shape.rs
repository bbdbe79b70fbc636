//! Reduced forms of files and messages for limited devices (partial sync, issue 8): a field
//! filter's truncation, and list-plus-link (details plus a link to the full object).
//!
//! Outgoing ([`apply`]): a message can go with its headers only, without attachments, or with
//! its text cut to a size; what was left out is marked the way Funambol's e-mail clients read it
//! (PROTOCOL.md §10.4, verified in Funambol's EmailData.cpp): `<Ext>` `x-funambol-body` (bytes of
//! the text not sent), `x-funambol-attach-n` (attachments not sent) and one `x-funambol-attach`
//! (name, size) per attachment. A file too big for the device, or any file in link mode, goes
//! as its details (name, type, size, dates; no `body`: the details-only form of §10.3). Whatever
//! is left out, the object carries the link to the whole in `<Ext>` `X-CPM-LINK` when there is
//! one.
//!
//! Incoming ([`merge_incoming`]): a device's Replace of an item it holds reduced never
//! overwrites what the server has in full: a message keeps its stored text and takes the
//! device's states; a file without a body keeps its stored body and takes the device's name,
//! type and dates.

use serde::{Deserialize, Serialize};

use crate::cpm::link::LINK_EXT;
use crate::cpm::objects::{ext_value, Email, Ext, File, EMAIL_TYPE, FILE_TYPE};
use crate::cpm::vfields::{self, is_vobject, FieldLimit};

/// Bytes of the message text not sent.
pub const BODY_EXT: &str = "x-funambol-body";
/// Number of attachments not sent.
pub const ATTACH_N_EXT: &str = "x-funambol-attach-n";
/// One attachment not sent: name, size.
pub const ATTACH_EXT: &str = "x-funambol-attach";

/// How the items of a datastore travel to a device. The default is whole.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shape {
    /// Details plus a link instead of a file's body or a message's text.
    #[serde(default)]
    pub link: bool,
    /// At most this many bytes of content: a message's text is cut (MIME framing and headers
    /// are not counted), a larger file goes as details plus link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<u64>,
    /// Messages: headers only.
    #[serde(default)]
    pub headers_only: bool,
    /// Messages: attachments are sent (within `max_size`).
    #[serde(default = "yes")]
    pub attachments: bool,
    /// vCard/iCalendar items: only these properties travel, each cut to its size
    /// (`cpm::vfields`); empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldLimit>,
}

fn yes() -> bool {
    true
}

impl Default for Shape {
    fn default() -> Self {
        Shape { link: false, max_size: None, headers_only: false, attachments: true, fields: Vec::new() }
    }
}

impl Shape {
    /// Whether items travel whole.
    pub fn is_whole(&self) -> bool {
        *self == Shape::default()
    }

    /// The stricter of two shapes, part by part (a device's wish within the operator's limit).
    pub fn and(&self, other: &Shape) -> Shape {
        Shape {
            link: self.link || other.link,
            max_size: match (self.max_size, other.max_size) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            headers_only: self.headers_only || other.headers_only,
            attachments: self.attachments && other.attachments,
            fields: match (self.fields.is_empty(), other.fields.is_empty()) {
                (true, _) => other.fields.clone(),
                (_, true) => self.fields.clone(),
                // Both name properties: those both name, at the smaller size.
                _ => self
                    .fields
                    .iter()
                    .filter_map(|a| {
                        let b = other.fields.iter().find(|b| b.name.eq_ignore_ascii_case(&a.name))?;
                        let max_size = match (a.max_size, b.max_size) {
                            (Some(x), Some(y)) => Some(x.min(y)),
                            (x, y) => x.or(y),
                        };
                        Some(FieldLimit { name: a.name.clone(), max_size })
                    })
                    .collect(),
            },
        }
    }

    /// Whether items of this type can travel reduced under this shape.
    pub fn reduces(&self, content_type: &str) -> bool {
        if is_vobject(content_type) {
            return !self.fields.is_empty();
        }
        let base = content_type.split(';').next().unwrap_or("").trim();
        let mime = base.eq_ignore_ascii_case(FILE_TYPE) || base.eq_ignore_ascii_case(EMAIL_TYPE);
        mime && (self.link || self.max_size.is_some() || self.headers_only || !self.attachments)
    }
}

/// Whether some shape can reduce objects of this type (files, messages, vCard/iCalendar).
pub fn affects(content_type: &str) -> bool {
    let base = content_type.split(';').next().unwrap_or("").trim();
    is_vobject(base) || base.eq_ignore_ascii_case(FILE_TYPE) || base.eq_ignore_ascii_case(EMAIL_TYPE)
}

/// The object a device gets under `shape`; `None` when it goes as stored. `link` is the URL of
/// the whole object, when the gateway can offer one.
pub fn apply(shape: &Shape, content_type: &str, data: &[u8], link: Option<&str>) -> Option<Vec<u8>> {
    if shape.is_whole() {
        return None;
    }
    if is_vobject(content_type) {
        return vfields::reduce(data, &shape.fields);
    }
    let base = content_type.split(';').next().unwrap_or("").trim();
    if base.eq_ignore_ascii_case(FILE_TYPE) {
        let mut f = File::parse(data).ok()?;
        let len = f.body.as_ref().map(|b| b.len() as u64)?;
        if !shape.link && shape.max_size.is_none_or(|m| len <= m) {
            return None;
        }
        f.body = None;
        f.size = Some(len);
        add_link(&mut f.ext, link);
        return Some(f.to_xml());
    }
    if base.eq_ignore_ascii_case(EMAIL_TYPE) {
        let mut e = Email::parse(data).ok()?;
        let headers_only = shape.headers_only || shape.link;
        let cut = cut_message(&e.emailitem, headers_only, shape.attachments, shape.max_size);
        if cut.body_not_sent == 0 && cut.attachments.is_empty() && !shape.link {
            return None;
        }
        e.emailitem = cut.message;
        if cut.body_not_sent > 0 {
            e.ext.push(Ext::new(BODY_EXT, &[&cut.body_not_sent.to_string()]));
        }
        if !cut.attachments.is_empty() {
            e.ext.push(Ext::new(ATTACH_N_EXT, &[&cut.attachments.len().to_string()]));
            for (name, size) in &cut.attachments {
                e.ext.push(Ext::new(ATTACH_EXT, &[name, &size.to_string()]));
            }
        }
        add_link(&mut e.ext, link);
        return Some(e.to_xml());
    }
    None
}

fn add_link(ext: &mut Vec<Ext>, link: Option<&str>) {
    if let Some(url) = link {
        ext.push(Ext::new(LINK_EXT, &[url]));
    }
}

/// What a device's Replace of an item stores, when the device holds the item reduced (it says
/// so with the marks of [`apply`], or the session sends it reduced under `shape`); `None` when
/// the data stores as it came.
pub fn merge_incoming(
    stored_type: &str,
    stored: &[u8],
    content_type: &str,
    data: &[u8],
    shape: &Shape,
) -> Option<Vec<u8>> {
    let base = |t: &str| t.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if base(stored_type) != base(content_type) {
        return None;
    }
    if is_vobject(content_type) {
        return vfields::merge(stored, data, &shape.fields);
    }
    let shaped = shape.reduces(content_type);
    let ours = |ext: &[Ext]| ext.iter().any(|e| is_mark(&e.name));
    match base(content_type).as_str() {
        FILE_TYPE => {
            let mut incoming = File::parse(data).ok()?;
            let had_marks = ours(&incoming.ext);
            incoming.ext.retain(|e| !is_mark(&e.name));
            if incoming.body.is_none() {
                let full = File::parse(stored).ok()?;
                incoming.body = full.body;
                incoming.size = None;
            } else if !had_marks {
                return None;
            }
            Some(incoming.to_xml())
        }
        EMAIL_TYPE => {
            let incoming = Email::parse(data).ok()?;
            if !shaped && !ours(&incoming.ext) {
                return None;
            }
            let mut full = Email::parse(stored).ok()?;
            for state in ["read", "forwarded", "replied", "flagged", "deleted"] {
                full.set_state(state, incoming.state(state));
            }
            full.received = incoming.received.or(full.received);
            Some(full.to_xml())
        }
        _ => None,
    }
}

fn is_mark(name: &str) -> bool {
    [LINK_EXT, BODY_EXT, ATTACH_N_EXT, ATTACH_EXT].iter().any(|m| m.eq_ignore_ascii_case(name))
}

/// Whether an object is in a reduced form (it carries the marks of [`apply`]).
pub fn is_reduced(content_type: &str, data: &[u8]) -> bool {
    let base = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match base.as_str() {
        FILE_TYPE => File::parse(data).is_ok_and(|f| f.body.is_none() || ext_value(&f.ext, LINK_EXT).is_some()),
        EMAIL_TYPE => Email::parse(data).is_ok_and(|e| e.ext.iter().any(|x| is_mark(&x.name))),
        _ => false,
    }
}

/// The item a reduced copy's link names (its datastore and GUID), if it carries one.
pub fn linked(content_type: &str, data: &[u8]) -> Option<crate::cpm::link::LinkTarget> {
    let base = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let ext = match base.as_str() {
        FILE_TYPE => File::parse(data).ok()?.ext,
        EMAIL_TYPE => Email::parse(data).ok()?.ext,
        _ => return None,
    };
    let url = ext_value(&ext, LINK_EXT)?;
    let path = url.find("/link/").map(|i| &url[i..])?;
    crate::cpm::link::parse_path(path.split('?').next().unwrap_or(path))
}

/// A message cut to a device's limits.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Cut {
    pub message: Vec<u8>,
    /// Bytes of text left out.
    pub body_not_sent: u64,
    /// Attachments left out: name and size (bytes as stored, i.e. encoded).
    pub attachments: Vec<(String, u64)>,
}

/// Cuts an RFC 5322 message: headers only, without attachments, and/or its content to
/// `max_size` bytes (at a line end where there is one, so base64 stays decodable). A MIME
/// multipart message keeps its structure: text parts are shortened, attachments that do not fit
/// (or are not wanted) are left out whole.
pub fn cut_message(msg: &[u8], headers_only: bool, attachments: bool, max_size: Option<u64>) -> Cut {
    let (head, body) = split_head(msg);
    if headers_only {
        let mut message = head.to_vec();
        message.extend_from_slice(b"\r\n");
        let attachments = match boundary(head) {
            Some(b) => {
                parts(body, &b).into_iter().filter(|p| p.attachment).map(|p| (p.name, p.body.len() as u64)).collect()
            }
            None => Vec::new(),
        };
        let attached: u64 = attachments.iter().map(|(_, s)| s).sum();
        return Cut { message, body_not_sent: (body.len() as u64).saturating_sub(attached), attachments };
    }
    let mut budget = max_size.unwrap_or(u64::MAX);
    let Some(b) = boundary(head) else {
        let (kept, left) = take(body, &mut budget);
        let mut message = msg[..msg.len() - body.len()].to_vec();
        message.extend_from_slice(kept);
        return Cut { message, body_not_sent: left, attachments: Vec::new() };
    };
    let mut cut = Cut { message: msg[..msg.len() - body.len()].to_vec(), ..Default::default() };
    for p in parts(body, &b) {
        if p.attachment {
            if !attachments || p.body.len() as u64 > budget {
                cut.attachments.push((p.name, p.body.len() as u64));
                continue;
            }
            budget -= p.body.len() as u64;
            push_part(&mut cut.message, &b, p.head, p.body);
        } else {
            let (kept, left) = take(p.body, &mut budget);
            cut.body_not_sent += left;
            push_part(&mut cut.message, &b, p.head, kept);
        }
    }
    cut.message.extend_from_slice(format!("--{b}--\r\n").as_bytes());
    cut
}

/// Up to `budget` bytes of `text` (ending at a line end when one is in reach); the budget goes
/// down by what is kept. Returns what is kept and how many bytes are left out.
fn take<'a>(text: &'a [u8], budget: &mut u64) -> (&'a [u8], u64) {
    if text.len() as u64 <= *budget {
        *budget -= text.len() as u64;
        return (text, 0);
    }
    let limit = usize::try_from(*budget).unwrap_or(usize::MAX).min(text.len());
    let mut end = match text[..limit].iter().rposition(|&c| c == b'\n') {
        Some(nl) => nl + 1,
        None => limit,
    };
    // Never inside a UTF-8 sequence.
    while end > 0 && end < text.len() && (text[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    *budget -= end as u64;
    (&text[..end], (text.len() - end) as u64)
}

fn push_part(out: &mut Vec<u8>, boundary: &str, head: &[u8], body: &[u8]) {
    out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    out.extend_from_slice(head);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    if !body.ends_with(b"\n") {
        out.extend_from_slice(b"\r\n");
    }
}

/// Headers (with their final line end) and body of a message or MIME part.
fn split_head(msg: &[u8]) -> (&[u8], &[u8]) {
    let mut i = 0;
    while i < msg.len() {
        let line_end = msg[i..].iter().position(|&c| c == b'\n').map_or(msg.len(), |p| i + p + 1);
        let line = &msg[i..line_end];
        if line == b"\r\n" || line == b"\n" {
            return (&msg[..i], &msg[line_end..]);
        }
        i = line_end;
    }
    (msg, &[])
}

/// A header's value (unfolded) in a header block.
fn header(head: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(head);
    let mut value: Option<String> = None;
    for line in text.split('\n').map(|l| l.trim_end_matches('\r')) {
        if let Some(v) = value.as_mut() {
            if line.starts_with([' ', '\t']) {
                v.push(' ');
                v.push_str(line.trim());
                continue;
            }
            return value;
        }
        if let Some((n, v)) = line.split_once(':') {
            if n.trim().eq_ignore_ascii_case(name) {
                value = Some(v.trim().to_string());
            }
        }
    }
    value
}

/// A parameter of a structured header value (`boundary`, `filename`, `name`).
fn param(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (n, v) = p.split_once('=')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim().trim_matches('"').to_string())
    })
}

fn boundary(head: &[u8]) -> Option<String> {
    let ct = header(head, "Content-Type")?;
    if !ct.trim_start().to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    param(&ct, "boundary").filter(|b| !b.is_empty())
}

struct Part<'a> {
    head: &'a [u8],
    body: &'a [u8],
    attachment: bool,
    name: String,
}

/// The parts of a multipart body (preamble and epilogue dropped).
fn parts<'a>(body: &'a [u8], boundary: &str) -> Vec<Part<'a>> {
    let delim = format!("--{boundary}");
    let mut out = Vec::new();
    let mut starts = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let line_end = body[i..].iter().position(|&c| c == b'\n').map_or(body.len(), |p| i + p + 1);
        let line = String::from_utf8_lossy(&body[i..line_end]);
        let line = line.trim_end();
        if line == delim || line == format!("{delim}--") {
            starts.push((i, line_end, line.ends_with("--") && line.len() == delim.len() + 2));
        }
        i = line_end;
    }
    for w in starts.windows(2) {
        let ((_, content_start, closing), (next_start, _, _)) = (w[0], w[1]);
        if closing {
            break;
        }
        let mut raw = &body[content_start..next_start];
        // The line end before a delimiter belongs to the delimiter.
        raw = raw.strip_suffix(b"\r\n").or_else(|| raw.strip_suffix(b"\n")).unwrap_or(raw);
        let (head, part_body) = split_head(raw);
        let disposition = header(head, "Content-Disposition").unwrap_or_default();
        let ct = header(head, "Content-Type").unwrap_or_else(|| "text/plain".into());
        let lower_ct = ct.to_ascii_lowercase();
        let attachment = disposition.to_ascii_lowercase().starts_with("attachment")
            || !(lower_ct.starts_with("text/") || lower_ct.starts_with("multipart/"));
        let name =
            param(&disposition, "filename").or_else(|| param(&ct, "name")).unwrap_or_else(|| "attachment".into());
        out.push(Part { head, body: part_body, attachment, name });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: &[u8] = b"From: a@example.com\r\nSubject: Hi\r\n\r\nline one\r\nline two\r\nline three\r\n";

    fn multipart() -> Vec<u8> {
        let att = "QUJD".repeat(100);
        format!(
            "From: a@example.com\r\nSubject: Pics\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n\
             preamble\r\n--XX\r\nContent-Type: text/plain\r\n\r\nHello there,\r\nsee the picture.\r\n\
             --XX\r\nContent-Type: image/jpeg; name=\"cat.jpg\"\r\nContent-Disposition: attachment; filename=\"cat.jpg\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{att}\r\n--XX--\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn plain_messages_are_cut_at_a_line_end_and_headers_only_keeps_the_headers() {
        let c = cut_message(PLAIN, false, true, Some(15));
        assert_eq!(c.message, b"From: a@example.com\r\nSubject: Hi\r\n\r\nline one\r\n");
        assert_eq!(c.body_not_sent, 22);
        let c = cut_message(PLAIN, true, true, None);
        assert_eq!(c.message, b"From: a@example.com\r\nSubject: Hi\r\n\r\n");
        assert_eq!(c.body_not_sent, 32);
        let whole = cut_message(PLAIN, false, true, Some(1000));
        assert_eq!((whole.message.as_slice(), whole.body_not_sent), (PLAIN, 0));
        // No line end in reach: cut inside the line, never inside a UTF-8 character.
        let c = cut_message("S: x\r\n\r\nééé".as_bytes(), false, true, Some(3));
        assert_eq!(c.message, "S: x\r\n\r\né".as_bytes());
        assert_eq!(c.body_not_sent, 4);
    }

    #[test]
    fn attachments_are_left_out_whole_and_named() {
        let msg = multipart();
        let c = cut_message(&msg, false, false, None);
        let text = String::from_utf8(c.message.clone()).unwrap();
        assert!(text.contains("see the picture.") && !text.contains("QUJD") && text.ends_with("--XX--\r\n"), "{text}");
        assert_eq!(c.attachments, [("cat.jpg".to_string(), 400)]);
        assert_eq!(c.body_not_sent, 0);
        // Within a size the text fits and the attachment does not.
        let c = cut_message(&msg, false, true, Some(100));
        assert_eq!(c.attachments.len(), 1);
        // Room for both: the message goes whole in content.
        let c = cut_message(&msg, false, true, Some(10_000));
        assert!(c.attachments.is_empty() && String::from_utf8_lossy(&c.message).contains("QUJD"));
        let c = cut_message(&msg, true, true, None);
        assert_eq!(c.attachments, [("cat.jpg".to_string(), 400)]);
        assert!(c.body_not_sent > 0);
    }

    #[test]
    fn shaped_objects_carry_the_marks_and_the_link() {
        let mail = Email { read: true, emailitem: PLAIN.to_vec(), ..Default::default() }.to_xml();
        let shape = Shape { max_size: Some(15), ..Default::default() };
        let out = Email::parse(&apply(&shape, EMAIL_TYPE, &mail, Some("http://gw/link/x")).unwrap()).unwrap();
        assert!(out.read);
        assert_eq!(ext_value(&out.ext, BODY_EXT), Some("22"));
        assert_eq!(ext_value(&out.ext, LINK_EXT), Some("http://gw/link/x"));
        assert!(is_reduced(EMAIL_TYPE, &out.to_xml()));
        assert_eq!(apply(&Shape { max_size: Some(1000), ..Default::default() }, EMAIL_TYPE, &mail, None), None);
        assert_eq!(apply(&Shape::default(), EMAIL_TYPE, &mail, None), None);

        let file = File { name: "song.mp3".into(), body: Some(vec![7; 5000]), ..Default::default() }.to_xml();
        let link = Shape { link: true, ..Default::default() };
        let out = File::parse(&apply(&link, FILE_TYPE, &file, Some("http://gw/l")).unwrap()).unwrap();
        assert_eq!((out.body, out.size, ext_value(&out.ext, LINK_EXT)), (None, Some(5000), Some("http://gw/l")));
        let small = Shape { max_size: Some(10_000), ..Default::default() };
        assert_eq!(apply(&small, FILE_TYPE, &file, None), None, "a file within the limit goes whole");
        assert!(apply(&Shape { max_size: Some(100), ..Default::default() }, FILE_TYPE, &file, None).is_some());
        let folder = b"<Folder><name>x</name></Folder>";
        assert_eq!(apply(&link, crate::cpm::objects::FOLDER_TYPE, folder, None), None);
    }

    #[test]
    fn a_reduced_copy_coming_back_never_overwrites_the_full_object() {
        let stored = Email { emailitem: PLAIN.to_vec(), ..Default::default() }.to_xml();
        let shape = Shape { headers_only: true, ..Default::default() };
        let reduced = apply(&shape, EMAIL_TYPE, &stored, None).unwrap();
        let mut seen = Email::parse(&reduced).unwrap();
        seen.read = true;
        let merged =
            Email::parse(&merge_incoming(EMAIL_TYPE, &stored, EMAIL_TYPE, &seen.to_xml(), &Shape::default()).unwrap())
                .unwrap();
        assert_eq!((merged.read, merged.emailitem.as_slice(), merged.ext.len()), (true, PLAIN, 0));
        // Without marks, only a session that sends the type reduced merges.
        let mut plain = Email::parse(&stored).unwrap();
        plain.flagged = true;
        plain.emailitem = b"Subject: Hi\r\n\r\n".to_vec();
        assert_eq!(merge_incoming(EMAIL_TYPE, &stored, EMAIL_TYPE, &plain.to_xml(), &Shape::default()), None);
        let merged =
            Email::parse(&merge_incoming(EMAIL_TYPE, &stored, EMAIL_TYPE, &plain.to_xml(), &shape).unwrap()).unwrap();
        assert_eq!((merged.flagged, merged.emailitem.as_slice()), (true, PLAIN));

        let file = File { name: "a.txt".into(), body: Some(b"full".to_vec()), ..Default::default() }.to_xml();
        let link_shape = Shape { link: true, ..Default::default() };
        let renamed =
            File { name: "b.txt".into(), size: Some(4), ext: vec![Ext::new(LINK_EXT, &["u"])], ..Default::default() };
        let merged =
            File::parse(&merge_incoming(FILE_TYPE, &file, FILE_TYPE, &renamed.to_xml(), &link_shape).unwrap()).unwrap();
        assert_eq!((merged.name.as_str(), merged.body.as_deref(), merged.ext.len()), ("b.txt", Some(&b"full"[..]), 0));
        let edited = File { name: "a.txt".into(), body: Some(b"new".to_vec()), ..Default::default() }.to_xml();
        assert_eq!(merge_incoming(FILE_TYPE, &file, FILE_TYPE, &edited, &link_shape), None, "a new body is a new body");
    }
}
