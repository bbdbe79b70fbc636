//! Field filters over vCard and iCalendar items (PROTOCOL.md §9.1: the Field part of a Filter
//! names the properties that travel, each with an optional `MaxSize`): only the named
//! properties go to the device (with the structure lines BEGIN, END and VERSION), each value cut
//! to its size; and a device's Replace of such a reduced item keeps what it never received.
//!
//! Lines are unfolded before they are read; values are cut at a character boundary. vCard and
//! iCalendar have no mark for a cut value: the device learns the limits from its own Filter.

use serde::{Deserialize, Serialize};

/// One property a field filter lets through.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldLimit {
    /// The property name (`FN`, `NOTE`, `SUMMARY`…), matched case-insensitively.
    pub name: String,
    /// At most this many bytes of its value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<u64>,
}

/// Whether a content type is a vCard or iCalendar type.
pub fn is_vobject(content_type: &str) -> bool {
    let t = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    matches!(t.as_str(), "text/vcard" | "text/x-vcard" | "text/calendar" | "text/x-vcalendar")
}

const STRUCTURE: &[&str] = &["BEGIN", "END", "VERSION"];

/// The unfolded lines of an item, keeping its line end.
fn lines(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for raw in text.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if (line.starts_with(' ') || line.starts_with('\t')) && !out.is_empty() {
            if let Some(last) = out.last_mut() {
                last.push_str(&line[1..]);
            }
            continue;
        }
        if !line.is_empty() {
            out.push(line.to_string());
        }
    }
    out
}

/// The property name of a line (without group prefix and parameters), upper-cased.
fn name_of(line: &str) -> String {
    let head = line.split(':').next().unwrap_or("");
    let name = head.split(';').next().unwrap_or("");
    name.rsplit('.').next().unwrap_or("").trim().to_ascii_uppercase()
}

fn limit_of<'a>(limits: &'a [FieldLimit], name: &str) -> Option<&'a FieldLimit> {
    limits.iter().find(|l| l.name.trim().eq_ignore_ascii_case(name))
}

/// A line with its value cut to `max` bytes.
fn cut(line: &str, max: Option<u64>) -> String {
    let Some(max) = max else { return line.to_string() };
    let Some(colon) = line.find(':') else { return line.to_string() };
    let value = &line[colon + 1..];
    let mut end = usize::try_from(max).unwrap_or(usize::MAX).min(value.len());
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{}", &line[..=colon], &value[..end])
}

/// The item with only the named properties, cut to their sizes; `None` when nothing changes.
pub fn reduce(data: &[u8], limits: &[FieldLimit]) -> Option<Vec<u8>> {
    if limits.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(data);
    let all = lines(&text);
    let kept: Vec<String> = all
        .iter()
        .filter_map(|l| {
            let name = name_of(l);
            if STRUCTURE.contains(&name.as_str()) {
                return Some(l.clone());
            }
            limit_of(limits, &name).map(|lim| cut(l, lim.max_size))
        })
        .collect();
    if kept == all {
        return None;
    }
    let mut out = kept.join("\r\n");
    out.push_str("\r\n");
    Some(out.into_bytes())
}

/// What a device's Replace of an item it holds reduced stores: the stored properties it never
/// received, its own lines for the named ones (a value it holds cut, unchanged, keeps the
/// stored whole value). `None` when there is nothing to merge.
pub fn merge(stored: &[u8], incoming: &[u8], limits: &[FieldLimit]) -> Option<Vec<u8>> {
    if limits.is_empty() {
        return None;
    }
    let stored = lines(&String::from_utf8_lossy(stored));
    let incoming = lines(&String::from_utf8_lossy(incoming));
    let mut out: Vec<String> = Vec::new();
    let mut used = vec![false; incoming.len()];
    for s in &stored {
        let name = name_of(s);
        let Some(lim) = limit_of(limits, &name).filter(|_| !STRUCTURE.contains(&name.as_str())) else {
            // Not sent to the device: kept as stored (structure lines included).
            out.push(s.clone());
            continue;
        };
        // The device's line for this property: the first unused one of that name.
        if let Some(i) = (0..incoming.len()).find(|&i| !used[i] && name_of(&incoming[i]) == name) {
            used[i] = true;
            let unchanged = incoming[i] == cut(s, lim.max_size);
            out.push(if unchanged { s.clone() } else { incoming[i].clone() });
        }
        // A named property the device no longer has was deleted there.
    }
    // Named properties the device added go before the last END.
    let added: Vec<String> = incoming
        .iter()
        .enumerate()
        .filter(|(i, l)| !used[*i] && !STRUCTURE.contains(&name_of(l).as_str()))
        .filter(|(_, l)| limit_of(limits, &name_of(l)).is_some())
        .map(|(_, l)| l.clone())
        .collect();
    let end = out.iter().rposition(|l| name_of(l) == "END").unwrap_or(out.len());
    out.splice(end..end, added);
    let mut text = out.join("\r\n");
    text.push_str("\r\n");
    Some(text.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARD: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;John;;;\r\nFN:John Doe\r\nNOTE:a long\r\n  note\r\nTEL;TYPE=CELL:+49 1\r\nEND:VCARD\r\n";

    fn limits() -> Vec<FieldLimit> {
        vec![FieldLimit { name: "fn".into(), max_size: Some(4) }, FieldLimit { name: "NOTE".into(), max_size: None }]
    }

    #[test]
    fn only_named_properties_travel_cut_to_size() {
        let out = String::from_utf8(reduce(CARD.as_bytes(), &limits()).unwrap()).unwrap();
        assert_eq!(out, "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:John\r\nNOTE:a long note\r\nEND:VCARD\r\n");
        assert_eq!(reduce(CARD.as_bytes(), &[]), None);
        let all = ["N", "FN", "NOTE", "TEL"].map(|n| FieldLimit { name: n.into(), max_size: None });
        assert_eq!(reduce(b"BEGIN:VCARD\r\nFN:x\r\nEND:VCARD\r\n", &all), None, "nothing to leave out");
        assert_eq!(cut("NOTE:ééé", Some(3)), "NOTE:é");
    }

    #[test]
    fn a_reduced_copy_coming_back_keeps_what_the_device_never_had() {
        let reduced = String::from_utf8(reduce(CARD.as_bytes(), &limits()).unwrap()).unwrap();
        // The device edits the note; its FN is still the cut one.
        let edited = reduced.replace("NOTE:a long note", "NOTE:new note");
        let merged = String::from_utf8(merge(CARD.as_bytes(), edited.as_bytes(), &limits()).unwrap()).unwrap();
        assert_eq!(
            merged,
            "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;John;;;\r\nFN:John Doe\r\nNOTE:new note\r\nTEL;TYPE=CELL:+49 1\r\nEND:VCARD\r\n"
        );
        // A new FN replaces it; a deleted NOTE goes; an added NOTE arrives before END.
        let changed = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Jane\r\nEND:VCARD\r\n";
        let merged = String::from_utf8(merge(CARD.as_bytes(), changed.as_bytes(), &limits()).unwrap()).unwrap();
        assert!(merged.contains("FN:Jane\r\n") && !merged.contains("NOTE") && merged.contains("TEL;"), "{merged}");
        let no_note = "BEGIN:VCARD\r\nFN:John Doe\r\nEND:VCARD\r\n";
        let added = "BEGIN:VCARD\r\nFN:John\r\nNOTE:hi\r\nEND:VCARD\r\n";
        let merged = String::from_utf8(merge(no_note.as_bytes(), added.as_bytes(), &limits()).unwrap()).unwrap();
        assert_eq!(merged, "BEGIN:VCARD\r\nFN:John Doe\r\nNOTE:hi\r\nEND:VCARD\r\n");
    }
}
