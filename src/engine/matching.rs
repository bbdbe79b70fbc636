//! Content identity for slow-sync matching (PROTOCOL.md §3.4): real clients send no UID and
//! re-encode items, so an incoming item matches a stored one when their normalised content is
//! equal.
//!
//! vCard/iCalendar: lines unfolded, volatile properties dropped (PRODID, REV, UID, DTSTAMP,
//! LAST-MODIFIED, X-…), names and parameters upper-cased and sorted, `TYPE=` prefixes and
//! trailing empty components dropped, then the lines sorted. Anything else: line ends
//! normalised and surrounding white space trimmed.

/// The normalised form of an item's content, equal for items a person would call the same.
pub(crate) fn content_key(content_type: &str, data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    let ct = content_type.to_ascii_lowercase();
    if ct.contains("vcard") || ct.contains("calendar") || text.trim_start().starts_with("BEGIN:") {
        vobject_key(&text)
    } else {
        text.replace("\r\n", "\n").trim().to_string()
    }
}

/// The MD5 digest of [`content_key`]: what slow-sync matching keeps per stored item.
pub(crate) fn content_digest(content_type: &str, data: &[u8]) -> [u8; 16] {
    use md5::{Digest, Md5};
    Md5::digest(content_key(content_type, data).as_bytes()).into()
}

const VOLATILE: &[&str] = &["PRODID", "REV", "UID", "DTSTAMP", "LAST-MODIFIED", "CREATED", "SEQUENCE", "VERSION"];

fn vobject_key(text: &str) -> String {
    let unfolded = text.replace("\r\n ", "").replace("\r\n\t", "").replace("\n ", "").replace("\n\t", "");
    let mut lines: Vec<String> =
        unfolded.lines().map(str::trim_end).filter(|l| !l.is_empty()).filter_map(normalise_line).collect();
    lines.sort();
    lines.join("\n")
}

fn normalise_line(line: &str) -> Option<String> {
    let (head, value) = line.split_once(':').unwrap_or((line, ""));
    let mut parts = head.split(';');
    let name = parts.next().unwrap_or("").trim().to_ascii_uppercase();
    // A group prefix (`item1.EMAIL`) is presentation, not content.
    let name = name.rsplit('.').next().unwrap_or("").to_string();
    if VOLATILE.contains(&name.as_str()) || name.starts_with("X-") {
        return None;
    }
    let mut params: Vec<String> = parts
        .flat_map(|p| {
            let p = p.trim().to_ascii_uppercase();
            let p = p.strip_prefix("TYPE=").map(str::to_string).unwrap_or(p);
            p.split(',').map(str::to_string).collect::<Vec<_>>()
        })
        .filter(|p| {
            !p.is_empty() && p != "CHARSET=UTF-8" && p != "ENCODING=8BIT" && p != "PREF" && p != "X-EVOLUTION-UI-SLOT"
        })
        .collect();
    params.sort();
    params.dedup();
    let value = value.trim().trim_end_matches(';').replace("\\,", ",");
    Some(format!("{name};{}:{value}", params.join(";")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn re_encoded_vcards_match() {
        let a = b"BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;John;;;\r\nFN:John Doe\r\nTEL;TYPE=CELL:+49 1\r\nEND:VCARD\r\n";
        let b = b"BEGIN:VCARD\nVERSION:3.0\nPRODID:-//x//y\nREV:20261122T000000Z\nFN:John Doe\nN:Doe;John\ntel;type=cell:+49 1\nEND:VCARD\n";
        assert_eq!(content_key("text/vcard", a), content_key("text/x-vcard", b));
        let c = b"BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;Jane;;;\r\nFN:Jane Doe\r\nEND:VCARD\r\n";
        assert_ne!(content_key("text/vcard", a), content_key("text/vcard", c));
    }

    #[test]
    fn folded_lines_and_plain_text() {
        let a = b"BEGIN:VCARD\r\nNOTE:long\r\n  text\r\nEND:VCARD\r\n";
        let b = b"BEGIN:VCARD\r\nNOTE:long text\r\nEND:VCARD\r\n";
        assert_eq!(content_key("text/vcard", a), content_key("text/vcard", b));
        assert_eq!(content_key("text/plain", b"memo\r\nline\r\n"), content_key("text/plain", b"memo\nline"));
    }
}
