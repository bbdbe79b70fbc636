//! PIM items as the interop tests write and compare them: builders for the vCards, iCalendar
//! events and notes the devices start with, and a semantic comparison that survives the
//! client's (and the server's) re-encoding.
//!
//! The Synthesis engine inside SyncEvolution rewrites every item it stores or sends: vCards gain
//! `PRODID`, `REV` and a dozen empty properties, lose any `UID`, get refolded; notes switch to
//! CRLF and grow trailing blank lines. So items are reduced to a canonical key holding only what
//! a user would notice (for vCards N, FN, TEL, EMAIL) and compared as multisets of those keys.
//! Pure functions only: no processes, no files.

#![allow(dead_code)] // a toolkit: not every test uses every helper

use std::fmt;

/// A datastore of the gateway, with the matching SyncEvolution source on the client side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Store {
    Contacts,
    Calendar,
    Tasks,
    Notes,
}

impl Store {
    /// The server-side datastore name (the client's `<source>/uri`).
    pub fn uri(self) -> &'static str {
        match self {
            Store::Contacts => "contacts",
            Store::Calendar => "calendar",
            Store::Tasks => "tasks",
            Store::Notes => "notes",
        }
    }

    /// The SyncEvolution source name (prefix of the per-store keys in `status.ini`).
    pub fn source(self) -> &'static str {
        match self {
            Store::Contacts => "addressbook",
            Store::Calendar => "calendar",
            Store::Tasks => "todo",
            Store::Notes => "memo",
        }
    }

    /// The item format the client's file backend stores and exchanges.
    pub fn format(self) -> &'static str {
        match self {
            Store::Contacts => "text/vcard",
            Store::Calendar | Store::Tasks => "text/calendar",
            Store::Notes => "text/plain",
        }
    }
}

impl fmt::Display for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.uri())
    }
}

/// A vCard 3.0 with N (derived from the full name: last word = family name), FN and one TEL.
pub fn vcard(full_name: &str, tel: &str) -> String {
    vcard_with_email(full_name, tel, None)
}

/// [`vcard`] plus an optional EMAIL.
pub fn vcard_with_email(full_name: &str, tel: &str, email: Option<&str>) -> String {
    let (given, family) = match full_name.rsplit_once(' ') {
        Some((given, family)) => (given, family),
        None => ("", full_name),
    };
    let mut card = format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:{};{};;;\r\nFN:{}\r\nTEL;TYPE=CELL:{}\r\n",
        escape(family),
        escape(given),
        escape(full_name),
        tel
    );
    if let Some(email) = email {
        card.push_str(&format!("EMAIL;TYPE=INTERNET:{email}\r\n"));
    }
    card.push_str("END:VCARD\r\n");
    card
}

/// An iCalendar 2.0 VEVENT of one hour starting at `start` (`YYYYMMDDTHHMMSSZ`).
pub fn vevent(uid: &str, summary: &str, start: &str) -> String {
    let end = one_hour_later(start);
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//syncgate//interop tests//EN\r\nBEGIN:VEVENT\r\n\
         UID:{uid}\r\nDTSTAMP:20260101T080000Z\r\nSUMMARY:{}\r\nDTSTART:{start}\r\nDTEND:{end}\r\n\
         END:VEVENT\r\nEND:VCALENDAR\r\n",
        escape(summary)
    )
}

/// A plain-text note: first line is the title.
pub fn note(title: &str, body: &str) -> String {
    format!("{title}\n{body}\n")
}

/// The canonical form of one item of `store`: equal keys mean the same item for a user.
pub fn canonical(store: Store, text: &str) -> String {
    match store {
        Store::Contacts => VCardKey::parse(text).to_string(),
        Store::Calendar | Store::Tasks => calendar_key(text),
        Store::Notes => note_key(text),
    }
}

/// Whether two vCards are the same contact (N, FN, TEL, EMAIL), whatever the encoding details.
pub fn same_vcard(a: &str, b: &str) -> bool {
    VCardKey::parse(a) == VCardKey::parse(b)
}

/// What identifies a contact for the tests: N components (trailing empty ones dropped), FN,
/// the TEL values and the EMAIL values (lower-cased), each sorted. Parameters, PRODID, REV,
/// UID, empty properties and line folding are ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct VCardKey {
    pub n: String,
    pub full_name: String,
    pub tel: Vec<String>,
    pub email: Vec<String>,
}

impl VCardKey {
    pub fn parse(text: &str) -> VCardKey {
        let mut key = VCardKey::default();
        for prop in properties(text) {
            let value = prop.value.trim();
            match prop.name.as_str() {
                "N" => {
                    let mut parts: Vec<String> = split_unescaped(value, ';').iter().map(|p| unescape(p)).collect();
                    while parts.last().is_some_and(|p| p.trim().is_empty()) {
                        parts.pop();
                    }
                    key.n = parts.iter().map(|p| p.trim()).collect::<Vec<_>>().join(";");
                }
                "FN" => key.full_name = unescape(value).trim().to_string(),
                "TEL" if !value.is_empty() => key.tel.push(value.trim_start_matches("tel:").to_string()),
                "EMAIL" if !value.is_empty() => key.email.push(value.to_lowercase()),
                _ => {}
            }
        }
        key.tel.sort();
        key.email.sort();
        key
    }
}

impl fmt::Display for VCardKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vcard N={:?} FN={:?} TEL={:?} EMAIL={:?}", self.n, self.full_name, self.tel, self.email)
    }
}

/// Compares two lists of items of `store` as multisets of canonical keys; `Err` describes the
/// difference (what is missing from `actual`, what `actual` has in excess).
pub fn compare(store: Store, expected: &[String], actual: &[String]) -> Result<(), String> {
    let mut want: Vec<String> = expected.iter().map(|t| canonical(store, t)).collect();
    let mut have: Vec<String> = actual.iter().map(|t| canonical(store, t)).collect();
    want.sort();
    have.sort();
    if want == have {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut rest = have.clone();
    for key in &want {
        match rest.iter().position(|k| k == key) {
            Some(at) => {
                rest.remove(at);
            }
            None => missing.push(key.clone()),
        }
    }
    let mut report = format!("{store}: expected {} item(s), found {}", want.len(), have.len());
    for key in &missing {
        report.push_str(&format!("\n  missing:    {key}"));
    }
    for key in &rest {
        report.push_str(&format!("\n  unexpected: {key}"));
    }
    Err(report)
}

/// One content line of a vCard or iCalendar object after unfolding.
struct Property {
    /// Upper-case name without group prefix (`item1.TEL` → `TEL`).
    name: String,
    value: String,
}

fn properties(text: &str) -> Vec<Property> {
    unfold(text)
        .into_iter()
        .filter_map(|line| {
            let colon = value_colon(&line)?;
            let head = &line[..colon];
            let name = head.split(';').next().unwrap_or(head);
            let name = name.rsplit('.').next().unwrap_or(name).trim().to_ascii_uppercase();
            Some(Property { name, value: line[colon + 1..].to_string() })
        })
        .collect()
}

/// Joins folded lines (a line break followed by a space or tab continues the previous line).
fn unfold(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for raw in text.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        match (raw.strip_prefix(' ').or_else(|| raw.strip_prefix('\t')), lines.last_mut()) {
            (Some(rest), Some(last)) => last.push_str(rest),
            _ if raw.is_empty() => {}
            _ => lines.push(raw.to_string()),
        }
    }
    lines
}

/// The colon that separates name and parameters from the value (colons in quoted parameter
/// values do not count).
fn value_colon(line: &str) -> Option<usize> {
    let mut quoted = false;
    for (at, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ':' if !quoted => return Some(at),
            _ => {}
        }
    }
    None
}

fn split_unescaped(value: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let last = parts.last_mut().expect("parts starts non-empty");
                last.push('\\');
                if let Some(next) = chars.next() {
                    last.push(next);
                }
            }
            c if c == sep => parts.push(String::new()),
            c => parts.last_mut().expect("parts starts non-empty").push(c),
        }
    }
    parts
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace(';', "\\;").replace(',', "\\,").replace('\n', "\\n")
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') | Some('N') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// Per VEVENT/VTODO: SUMMARY, DTSTART, DTEND, DUE, LOCATION, RRULE, STATUS (values only).
fn calendar_key(text: &str) -> String {
    const KEPT: [&str; 7] = ["SUMMARY", "DTSTART", "DTEND", "DUE", "LOCATION", "RRULE", "STATUS"];
    let mut components = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for prop in properties(text) {
        let value = prop.value.trim();
        match (prop.name.as_str(), &mut current) {
            ("BEGIN", None) if value == "VEVENT" || value == "VTODO" => current = Some(vec![value.to_string()]),
            ("END", Some(fields)) if value == fields[0] => {
                fields[1..].sort();
                components.push(fields.join(" "));
                current = None;
            }
            (name, Some(fields)) if KEPT.contains(&name) && !value.is_empty() => {
                fields.push(format!("{name}={:?}", unescape(value)));
            }
            _ => {}
        }
    }
    components.sort();
    format!("ical [{}]", components.join("; "))
}

/// Line endings unified, trailing blanks on every line and trailing empty lines dropped.
fn note_key(text: &str) -> String {
    let lines: Vec<&str> = text.split('\n').map(|l| l.trim_end()).collect();
    format!("note {:?}", lines.join("\n").trim_end())
}

fn one_hour_later(start: &str) -> String {
    // `YYYYMMDDTHHMMSSZ`; tests use hours below 23, so no date carry is needed.
    let hour: u32 = start.get(9..11).and_then(|h| h.parse().ok()).unwrap_or(0);
    match (start.get(..9), start.get(11..)) {
        (Some(date), Some(rest)) => format!("{date}{:02}{rest}", (hour + 1).min(23)),
        _ => start.to_string(),
    }
}

/// A vCard named `full_name` with a PHOTO of `raw_len` pseudo-random bytes (varied by `seed`)
/// as base64 folded at 76 columns; returns the vCard and the unfolded base64.
pub fn vcard_with_photo(full_name: &str, raw_len: usize, seed: u32) -> (String, String) {
    let raw: Vec<u8> = (0..raw_len as u32)
        .map(|i| (i.wrapping_mul(31).wrapping_add(seed.wrapping_mul(7919)) ^ (i >> 3)) as u8)
        .collect();
    let b64 = b64(&raw);
    let (first, last) = full_name.split_once(' ').unwrap_or((full_name, ""));
    let mut card = format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:{last};{first};;;\r\nFN:{full_name}\r\nTEL:+1 555 0199\r\nPHOTO;ENCODING=b;TYPE=JPEG:"
    );
    card.reserve(b64.len() + b64.len() / 74 * 3 + 32);
    for (i, chunk) in b64.as_bytes().chunks(74).enumerate() {
        if i > 0 {
            card.push_str("\r\n ");
        }
        card.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
    }
    card.push_str("\r\nEND:VCARD\r\n");
    (card, b64)
}

fn b64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len() / 3 * 4 + 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The PHOTO value of a vCard after unfolding (whitespace of folding removed).
pub fn photo(text: &str) -> Option<String> {
    let mut unfolded: Vec<String> = Vec::new();
    for raw in text.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        match (raw.strip_prefix(' ').or_else(|| raw.strip_prefix('\t')), unfolded.last_mut()) {
            (Some(rest), Some(last)) => last.push_str(rest),
            _ => unfolded.push(raw.to_string()),
        }
    }
    let line = unfolded.into_iter().find(|l| l.to_ascii_uppercase().starts_with("PHOTO"))?;
    let value = &line[line.find(':')? + 1..];
    Some(value.chars().filter(|c| !c.is_whitespace()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vCard as the Synthesis engine writes it after a sync (taken from a real client).
    const ENGINE_VCARD: &str =
        "BEGIN:VCARD\nVERSION:3.0\nPRODID:-//Synthesis AG//NONSGML SyncML Engine V3.4.0.47//EN\n\
        REV:20100328T103410Z\nN:Doe;John;;;\nFN:John Doe\nX-EVOLUTION-FILE-AS:\nNICKNAME:\nTITLE:\nORG:;;;\n\
        TEL;TYPE=CELL:+1 555 0100\nEMAIL;TYPE=INTERNET:John.Doe@example.com\nURL:\nADR:;;;;;;\nNOTE:\nPHOTO:\n\
        GEO:;\nEND:VCARD\n";

    #[test]
    fn vcards_compare_by_content_not_by_encoding() {
        let ours = vcard_with_email("John Doe", "+1 555 0100", Some("john.doe@example.com"));
        assert!(same_vcard(&ours, ENGINE_VCARD));
        let folded = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:abc\r\nN:Doe;Jo\r\n hn\r\nFN:John D\r\n\toe\r\n\
            item1.TEL:+1 555 0100\r\nEMAIL:JOHN.DOE@example.com\r\nEND:VCARD\r\n";
        assert!(same_vcard(folded, ENGINE_VCARD), "{} vs {}", VCardKey::parse(folded), VCardKey::parse(ENGINE_VCARD));
        assert!(!same_vcard(&vcard("John Doe", "+1 555 0101"), &vcard("John Doe", "+1 555 0100")));
        assert!(!same_vcard(&vcard("Jane Doe", "+1 555 0100"), &vcard("John Doe", "+1 555 0100")));
    }

    #[test]
    fn escaped_separators_stay_inside_components() {
        let key = VCardKey::parse("BEGIN:VCARD\nN:O\\;Brien;Pat;;;\nFN:Pat O\\;Brien\nEND:VCARD\n");
        assert_eq!(key.n, "O;Brien;Pat");
        assert_eq!(key.full_name, "Pat O;Brien");
    }

    #[test]
    fn notes_ignore_line_endings_and_trailing_blank_lines() {
        let engine = "Shopping\r\nmilk, bread\r\n\r\n\r\n\r\n";
        assert_eq!(canonical(Store::Notes, engine), canonical(Store::Notes, &note("Shopping", "milk, bread")));
        assert_ne!(canonical(Store::Notes, engine), canonical(Store::Notes, &note("Shopping", "milk")));
    }

    #[test]
    fn events_compare_by_summary_and_times() {
        let ours = vevent("ev-1@example.com", "Team meeting", "20260105T090000Z");
        assert!(ours.contains("DTEND:20260105T100000Z"));
        let engine = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//Synthesis AG//EN\nBEGIN:VEVENT\nLAST-MODIFIED:20261122T042637Z\n\
            DTSTAMP:20261122T042643Z\nUID:other\nSUMMARY:Team meeting\nDTSTART:20260105T090000Z\nDTEND:20260105T100000Z\n\
            END:VEVENT\nEND:VCALENDAR\n";
        assert_eq!(canonical(Store::Calendar, &ours), canonical(Store::Calendar, engine));
        let moved = vevent("ev-1@example.com", "Team meeting", "20260105T130000Z");
        assert_ne!(canonical(Store::Calendar, &ours), canonical(Store::Calendar, &moved));
    }

    #[test]
    fn compare_reports_missing_and_unexpected_items() {
        let a = vcard("Ann Able", "1");
        let b = vcard("Bob Baker", "2");
        assert!(compare(Store::Contacts, &[a.clone(), b.clone()], &[b.clone(), a.clone()]).is_ok());
        let err = compare(Store::Contacts, &[a.clone(), b.clone()], &[a.clone(), a.clone()]).unwrap_err();
        assert!(err.contains("missing:    vcard N=\"Baker;Bob\""), "{err}");
        assert!(err.contains("unexpected: vcard N=\"Able;Ann\""), "{err}");
    }
}
