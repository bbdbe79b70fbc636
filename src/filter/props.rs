//! The properties a record filter can test, read from an item's content (names upper-case, as
//! FilterCap advertises them):
//!
//! - e-mail (`application/vnd.omads-email+xml`): FROM, TO, CC, BCC, SUBJECT (headers of the
//!   message), DATE (its Date header, else `received`), RECEIVED, SIZE, and the states READ,
//!   FLAGGED, REPLIED, FORWARDED, DELETED (`true`/`false`); SEEN and ANSWERED are aliases;
//! - files: NAME, CTTYPE, SIZE, CREATED, MODIFIED, DATE (= MODIFIED);
//! - folders: NAME, ROLE;
//! - vCard, iCalendar, vNote and other line-based text: each `NAME[;params]:value` line by its
//!   name (N, EMAIL, CATEGORIES, SUMMARY, DTSTART…), DATE = DTSTART or LAST-MODIFIED.
//!
//! Every item also has MODIFIED falling back to DATE (Funambol filters e-mail by
//! `modified&iGE;…`). Dates are normalised to `YYYYMMDDTHHMMSSZ` where they can be.

use std::collections::BTreeMap;

use crate::cpm::objects::{Email, File, Folder, EMAIL_TYPE, FILE_TYPE, FOLDER_TYPE};

/// Property name → values.
pub type Props = BTreeMap<String, Vec<String>>;

/// The properties of an item of `content_type`.
pub fn props(content_type: &str, data: &[u8]) -> Props {
    let base = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let mut p = Props::new();
    let mut put = |k: &str, v: String| p.entry(k.to_string()).or_default().push(v);
    match base.as_str() {
        EMAIL_TYPE => {
            if let Ok(e) = Email::parse(data) {
                for h in ["FROM", "TO", "CC", "BCC", "SUBJECT"] {
                    if let Some(v) = e.header(h) {
                        put(h, v);
                    }
                }
                let date = e
                    .header("Date")
                    .and_then(|d| rfc5322_date(&d))
                    .or_else(|| e.received.as_deref().map(normalise_date));
                if let Some(d) = date {
                    put("DATE", d);
                }
                if let Some(r) = &e.received {
                    put("RECEIVED", normalise_date(r));
                }
                put("SIZE", e.emailitem.len().to_string());
                for (name, alias) in [
                    ("READ", Some("SEEN")),
                    ("FLAGGED", None),
                    ("REPLIED", Some("ANSWERED")),
                    ("FORWARDED", None),
                    ("DELETED", None),
                ] {
                    let v = e.state(&name.to_ascii_lowercase()).to_string();
                    if let Some(a) = alias {
                        put(a, v.clone());
                    }
                    put(name, v);
                }
            }
        }
        FILE_TYPE => {
            if let Ok(f) = File::parse(data) {
                put("NAME", f.name);
                if let Some(t) = f.cttype {
                    put("CTTYPE", t);
                }
                if let Some(s) = f.size.or(f.body.as_ref().map(|b| b.len() as u64)) {
                    put("SIZE", s.to_string());
                }
                if let Some(c) = f.created {
                    put("CREATED", normalise_date(&c));
                }
                if let Some(m) = f.modified {
                    put("DATE", normalise_date(&m));
                    put("MODIFIED", normalise_date(&m));
                }
            }
        }
        FOLDER_TYPE => {
            if let Ok(f) = Folder::parse(data) {
                put("NAME", f.name);
                if let Some(r) = f.role {
                    put("ROLE", r);
                }
            }
        }
        _ => lines(data, &mut put),
    }
    if !p.contains_key("MODIFIED") {
        if let Some(d) = p.get("DATE").cloned() {
            p.insert("MODIFIED".into(), d);
        }
    }
    p
}

/// vCard/iCalendar-like text: unfolded `NAME;params:value` lines.
fn lines(data: &[u8], put: &mut impl FnMut(&str, String)) {
    let text = String::from_utf8_lossy(data);
    let mut unfolded: Vec<String> = Vec::new();
    for line in text.split('\n').map(|l| l.trim_end_matches('\r')) {
        match (line.starts_with([' ', '\t']), unfolded.last_mut()) {
            (true, Some(last)) => last.push_str(&line[1..]),
            _ => unfolded.push(line.to_string()),
        }
    }
    let mut date: Option<String> = None;
    for line in unfolded {
        let Some((head, value)) = line.split_once(':') else { continue };
        let name = head.split(';').next().unwrap_or("").trim().to_ascii_uppercase();
        if name.is_empty() || name == "BEGIN" || name == "END" {
            continue;
        }
        if name == "DTSTART" || (name == "LAST-MODIFIED" && date.is_none()) {
            date = Some(normalise_date(value.trim()));
        }
        if name == "LAST-MODIFIED" {
            put("MODIFIED", normalise_date(value.trim()));
        }
        put(&name, value.trim().to_string());
    }
    if let Some(d) = date {
        put("DATE", d);
    }
}

/// ISO 8601 in its basic or extended form as `YYYYMMDDTHHMMSSZ` (a date alone gets `T000000Z`);
/// anything else unchanged.
pub fn normalise_date(text: &str) -> String {
    let t = text.trim();
    let compact: String = t.chars().filter(|c| *c != '-' && *c != ':').collect();
    let compact = compact.split(['.', ',']).next().unwrap_or("").to_string();
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    match compact.len() {
        8 if digits(&compact) => format!("{compact}T000000Z"),
        15 if digits(&compact[..8]) && &compact[8..9] == "T" && digits(&compact[9..]) => format!("{compact}Z"),
        16 if compact.ends_with('Z') && &compact[8..9] == "T" => compact,
        _ => t.to_string(),
    }
}

/// An RFC 5322 `Date:` (e.g. `Sun, 22 Nov 2026 10:00:00 +0100`) in UTC, basic ISO form.
fn rfc5322_date(text: &str) -> Option<String> {
    let t = text.split_once(',').map_or(text, |(_, rest)| rest).trim();
    let z = jiff::fmt::rfc2822::parse(&format!("Mon, {t}")).ok().or_else(|| jiff::fmt::rfc2822::parse(text).ok())?;
    Some(z.timestamp().strftime("%Y%m%dT%H%M%SZ").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_file_folder_and_vcard_properties() {
        let mail = Email {
            read: true,
            received: Some("2026-11-20T08:00:00Z".into()),
            emailitem: b"From: Bob <bob@example.com>\r\nTo: alice@example.com\r\nSubject: Lunch\r\nDate: Sun, 22 Nov 2026 10:00:00 +0100\r\n\r\nhi"
                .to_vec(),
            ..Default::default()
        };
        let p = props(EMAIL_TYPE, &mail.to_xml());
        assert_eq!(p["FROM"], ["Bob <bob@example.com>"]);
        assert_eq!(p["SUBJECT"], ["Lunch"]);
        assert_eq!(p["DATE"], ["20261122T090000Z"]);
        assert_eq!(p["MODIFIED"], ["20261122T090000Z"]);
        assert_eq!(p["RECEIVED"], ["20261120T080000Z"]);
        assert_eq!((p["READ"][0].as_str(), p["SEEN"][0].as_str(), p["FLAGGED"][0].as_str()), ("true", "true", "false"));
        let file = File {
            name: "a.mp3".into(),
            cttype: Some("audio/mpeg".into()),
            body: Some(vec![0; 5]),
            modified: Some("20261101T101010Z".into()),
            ..Default::default()
        };
        let p = props(FILE_TYPE, &file.to_xml());
        assert_eq!(
            (p["NAME"][0].as_str(), p["SIZE"][0].as_str(), p["DATE"][0].as_str()),
            ("a.mp3", "5", "20261101T101010Z")
        );
        let p = props(
            FOLDER_TYPE,
            &Folder { name: "Inbox".into(), role: Some("inbox".into()), ..Default::default() }.to_xml(),
        );
        assert_eq!(p["ROLE"], ["inbox"]);
        let vcard = b"BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;John\r\nEMAIL;TYPE=WORK:john@\r\n example.com\r\nCATEGORIES:Family\r\nEND:VCARD\r\n";
        let p = props("text/vcard", vcard);
        assert_eq!(p["EMAIL"], ["john@example.com"]);
        assert_eq!(p["CATEGORIES"], ["Family"]);
        assert!(!p.contains_key("BEGIN"));
        let event = b"BEGIN:VEVENT\r\nDTSTART:20261124T090000Z\r\nSUMMARY:x\r\nEND:VEVENT\r\n";
        assert_eq!(props("text/calendar", event)["DATE"], ["20261124T090000Z"]);
        assert_eq!(normalise_date("2026-11-22"), "20261122T000000Z");
        assert_eq!(normalise_date("2026-11-22T10:00:00.5Z"), "20261122T100000Z");
        assert_eq!(normalise_date("soon"), "soon");
    }
}
