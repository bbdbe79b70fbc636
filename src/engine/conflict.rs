//! Conflict resolution (PROTOCOL.md §3.6): what happens when the client changes an item that
//! someone else (another device or the service) changed since this device's last sync. Owns the
//! per-datastore [`ConflictPolicy`], the newer-wins decision and the property-level merge of
//! vCard/iCalendar items. Pure functions of the two versions: no store, no session state.
//!
//! | policy | status | server store | sent to the client |
//! |---|---|---|---|
//! | `server-wins` (default) | 419 | unchanged | the server version as Replace |
//! | `client-wins` | 208 | the client version | nothing |
//! | `newer-wins` | 208 or 419, 209 when undecidable | as the winner | as the winner |
//! | `duplicate` | 209 | the client version added as a new item, mapped to the client's LUID | the server item as Add (its old mapping removed) |
//! | `merge` | 207 | the merged item | the merged item as Replace |
//!
//! **newer-wins**: the store keeps no modification time, so the items' own time stamps decide:
//! `REV` (vCard) or `LAST-MODIFIED` (iCalendar; the latest of all its components). A client
//! version without one counts as changed *now* (it arrives in this session); a server version
//! without one is older than the client's (nothing says otherwise), so the client wins. The later
//! time wins; equal times, or a time stamp that cannot be read, are undecidable and fall back to
//! `duplicate` so no data is lost. Times without a zone are taken as UTC.
//!
//! **merge**: no common ancestor is kept, so "changed" means "present": a property (name plus
//! parameters, within its component) that only one side has is kept; for one both sides have,
//! the server's values win. Time stamps (`REV`, `LAST-MODIFIED`, `DTSTAMP`, `PRODID`, `VERSION`)
//! come from the server. Items that are not vCard/iCalendar, or with repeated sibling components
//! (two `VEVENT`s, two `VALARM`s), cannot be merged and fall back to `duplicate`.
//!
//! **Delete against modify** (under every policy): the modification wins, as in libsynthesis. A
//! client Delete of an item someone else modified is not applied (419): the client's mapping is
//! dropped and the item is sent to it again as an Add. A client Replace of an item deleted on the
//! server re-adds it as a new server item mapped to the client's LUID (201); the server's Delete
//! is then not sent.
//!
//! The engine's `client_sync` applies the [`Resolution`]; this module never touches the store.

use serde::Deserialize;

/// How a datastore resolves a client change that collides with a server change.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ConflictPolicy {
    /// 419: the server version stays and is sent to the client.
    #[default]
    ServerWins,
    /// 208: the client version is stored; the server change is not sent.
    ClientWins,
    /// The later `REV`/`LAST-MODIFIED` wins (see the module docs); undecidable → duplicate.
    NewerWins,
    /// 209: both versions kept as two items.
    Duplicate,
    /// 207: property-level merge of vCard/iCalendar, server values winning; otherwise duplicate.
    Merge,
}

/// What to do with one conflicting client change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Resolution {
    ServerWins,
    ClientWins,
    Duplicate,
    /// Store this content and send it to the client.
    Merged(Vec<u8>),
}

/// Decides a conflict between the stored `server` version and the incoming `client` version.
/// `now` is the session time (Unix seconds).
pub(crate) fn resolve(
    policy: ConflictPolicy,
    content_type: &str,
    server: &[u8],
    client: &[u8],
    now: i64,
) -> Resolution {
    match policy {
        ConflictPolicy::ServerWins => Resolution::ServerWins,
        ConflictPolicy::ClientWins => Resolution::ClientWins,
        ConflictPolicy::Duplicate => Resolution::Duplicate,
        ConflictPolicy::NewerWins => newer(server, client, now),
        ConflictPolicy::Merge => merge(content_type, server, client).map_or(Resolution::Duplicate, Resolution::Merged),
    }
}

/// The status the client gets for a resolution.
pub(crate) fn status(resolution: &Resolution) -> crate::proto::StatusCode {
    use crate::proto::StatusCode;
    match resolution {
        Resolution::ServerWins => StatusCode::ConflictServerWon,
        Resolution::ClientWins => StatusCode::ConflictClientWon,
        Resolution::Duplicate => StatusCode::ConflictDuplicated,
        Resolution::Merged(_) => StatusCode::ConflictMerged,
    }
}

/// A time stamp found in an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stamp {
    Absent,
    At(i64),
    Unreadable,
}

fn newer(server: &[u8], client: &[u8], now: i64) -> Resolution {
    let client_time = match stamp(client) {
        Stamp::At(t) => t,
        Stamp::Absent => now,
        Stamp::Unreadable => return Resolution::Duplicate,
    };
    let server_time = match stamp(server) {
        Stamp::At(t) => t,
        Stamp::Absent => return Resolution::ClientWins,
        Stamp::Unreadable => return Resolution::Duplicate,
    };
    match client_time.cmp(&server_time) {
        std::cmp::Ordering::Greater => Resolution::ClientWins,
        std::cmp::Ordering::Less => Resolution::ServerWins,
        std::cmp::Ordering::Equal => Resolution::Duplicate,
    }
}

/// The latest `REV`/`LAST-MODIFIED` of an item.
fn stamp(data: &[u8]) -> Stamp {
    let text = String::from_utf8_lossy(data);
    let mut found = Stamp::Absent;
    for line in unfold(&text) {
        let Some(prop) = Property::parse(&line) else { continue };
        if prop.name != "REV" && prop.name != "LAST-MODIFIED" {
            continue;
        }
        match parse_time(prop.value) {
            Some(t) => {
                if !matches!(found, Stamp::At(u) if u >= t) && found != Stamp::Unreadable {
                    found = Stamp::At(t);
                }
            }
            None => found = Stamp::Unreadable,
        }
    }
    found
}

/// ISO 8601 basic or extended date or date-time (`20261122T101500Z`, `2026-11-22T10:15:00+01:00`,
/// `20261122`) to Unix seconds; no zone means UTC.
fn parse_time(value: &str) -> Option<i64> {
    let value = value.trim();
    let (date, rest) = value.split_once(['T', 't']).unwrap_or((value, ""));
    let date: String = date.chars().filter(|c| *c != '-').collect();
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (y, m, d) = (date[..4].parse::<i64>().ok()?, date[4..6].parse::<i64>().ok()?, date[6..].parse::<i64>().ok()?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let (time, offset) = match rest.find(['Z', 'z', '+', '-']) {
        Some(at) => (&rest[..at], zone_offset(&rest[at..])?),
        None => (rest, 0),
    };
    let time: String = time.chars().filter(|c| *c != ':').take_while(|c| *c != '.' && *c != ',').collect();
    let seconds = match time.len() {
        0 => 0,
        4 | 6 if time.bytes().all(|b| b.is_ascii_digit()) => {
            let h = time[..2].parse::<i64>().ok()?;
            let min = time[2..4].parse::<i64>().ok()?;
            let s = if time.len() == 6 { time[4..].parse::<i64>().ok()? } else { 0 };
            if h > 24 || min > 59 || s > 60 {
                return None;
            }
            h * 3600 + min * 60 + s
        }
        _ => return None,
    };
    Some(days_from_civil(y, m, d) * 86_400 + seconds - offset)
}

/// `Z`, `+hh`, `+hhmm`, `+hh:mm` (and `-`) as seconds east of UTC.
fn zone_offset(zone: &str) -> Option<i64> {
    let sign = match zone.as_bytes().first()? {
        b'Z' | b'z' => return (zone.len() == 1).then_some(0),
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: String = zone[1..].chars().filter(|c| *c != ':').collect();
    if !matches!(digits.len(), 2 | 4) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h = digits[..2].parse::<i64>().ok()?;
    let m = if digits.len() == 4 { digits[2..].parse::<i64>().ok()? } else { 0 };
    Some(sign * (h * 3600 + m * 60))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Properties whose server value is kept in a merge even when only the client has them.
const FROM_SERVER_ONLY: &[&str] = &["VERSION", "PRODID", "REV", "LAST-MODIFIED", "DTSTAMP"];

/// Property-level merge of two vCard/iCalendar versions (server values win). `None` when the
/// items cannot be merged (see the module docs).
fn merge(content_type: &str, server: &[u8], client: &[u8]) -> Option<Vec<u8>> {
    let ct = content_type.to_ascii_lowercase();
    let (server, client) = (std::str::from_utf8(server).ok()?, std::str::from_utf8(client).ok()?);
    if !(ct.contains("vcard") || ct.contains("calendar")) || !server.trim_start().starts_with("BEGIN:") {
        return None;
    }
    let server_lines = structure(server)?;
    let client_lines = structure(client)?;
    if server_lines.first().map(|l| &l.path) != client_lines.first().map(|l| &l.path) {
        return None;
    }
    let server_keys: std::collections::HashSet<&str> = server_lines.iter().filter_map(|l| l.key.as_deref()).collect();
    let extra: Vec<&Line> = client_lines
        .iter()
        .filter(|l| l.key.as_deref().is_some_and(|k| !server_keys.contains(k)))
        .filter(|l| l.name.as_deref().is_some_and(|n| !FROM_SERVER_ONLY.contains(&n)))
        .collect();
    // Components only the client has are not merged in: that would need their BEGIN/END too.
    let server_paths: std::collections::HashSet<&str> = server_lines.iter().map(|l| l.path.as_str()).collect();
    if extra.iter().any(|l| !server_paths.contains(l.path.as_str())) {
        return None;
    }
    let eol = if server.contains("\r\n") { "\r\n" } else { "\n" };
    let mut out = String::new();
    for line in &server_lines {
        if line.end {
            for e in extra.iter().filter(|e| e.path == line.path) {
                out.push_str(&e.text);
                out.push_str(eol);
            }
        }
        out.push_str(&line.text);
        out.push_str(eol);
    }
    Some(out.into_bytes())
}

/// One unfolded content line with its place in the component tree.
struct Line {
    text: String,
    /// Component path, e.g. `VCALENDAR/VEVENT`; for BEGIN/END the component itself.
    path: String,
    /// Upper-case property name (None for BEGIN/END).
    name: Option<String>,
    /// Path, name and normalised parameters: what identifies "the same property".
    key: Option<String>,
    /// An END line.
    end: bool,
}

/// The lines of an item with their component paths; `None` for unbalanced BEGIN/END or
/// repeated sibling components.
fn structure(text: &str) -> Option<Vec<Line>> {
    let mut stack: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut lines = Vec::new();
    // Quoted-printable soft line breaks make continuation lines that look like anything.
    if text.to_ascii_uppercase().contains("QUOTED-PRINTABLE") {
        return None;
    }
    for raw in unfold(text) {
        let prop = Property::parse(&raw)?;
        match prop.name.as_str() {
            "BEGIN" => {
                stack.push(prop.value.trim().to_ascii_uppercase());
                let path = stack.join("/");
                if !seen.insert(path.clone()) {
                    return None;
                }
                lines.push(Line { text: raw, path, name: None, key: None, end: false });
            }
            "END" => {
                let path = stack.join("/");
                if stack.pop()? != prop.value.trim().to_ascii_uppercase() {
                    return None;
                }
                lines.push(Line { text: raw, path, name: None, key: None, end: true });
            }
            _ => {
                let path = stack.join("/");
                if path.is_empty() {
                    return None;
                }
                let key = format!("{path}|{}|{}", prop.name, prop.params.join(";"));
                let name = prop.name;
                lines.push(Line { text: raw, path, name: Some(name), key: Some(key), end: false });
            }
        }
    }
    stack.is_empty().then_some(lines)
}

/// A content line split into name (group dropped, upper case), sorted normalised parameters and
/// value.
struct Property<'a> {
    name: String,
    params: Vec<String>,
    value: &'a str,
}

impl<'a> Property<'a> {
    fn parse(line: &'a str) -> Option<Property<'a>> {
        let (head, value) = line.split_once(':')?;
        let mut parts = head.split(';');
        let name = parts.next()?.trim().to_ascii_uppercase();
        let name = name.rsplit('.').next().unwrap_or("").to_string();
        if name.is_empty() {
            return None;
        }
        let mut params: Vec<String> = parts
            .flat_map(|p| {
                let p = p.trim().to_ascii_uppercase();
                let p = p.strip_prefix("TYPE=").map(str::to_string).unwrap_or(p);
                p.split(',').map(str::to_string).collect::<Vec<_>>()
            })
            .filter(|p| {
                !p.is_empty() && p != "CHARSET=UTF-8" && p != "ENCODING=8BIT" && p != "PREF" && !p.starts_with("X-")
            })
            .collect();
        params.sort();
        params.dedup();
        Some(Property { name, params, value })
    }
}

/// Content lines with folding undone (RFC 6350 §3.2 / RFC 5545 §3.1), empty lines dropped.
fn unfold(text: &str) -> Vec<String> {
    let unfolded = text.replace("\r\n ", "").replace("\r\n\t", "").replace("\n ", "").replace("\n\t", "");
    unfolded.lines().map(|l| l.trim_end_matches('\r').to_string()).filter(|l| !l.trim().is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;John;;;\r\nFN:John Doe\r\nTEL;TYPE=HOME:+49 1\r\nREV:20260101T000000Z\r\nEND:VCARD\r\n";

    #[test]
    fn times_parse_in_every_common_form() {
        assert_eq!(parse_time("19700101T000000Z"), Some(0));
        assert_eq!(parse_time("1970-01-02T00:00:00Z"), Some(86_400));
        assert_eq!(parse_time("19700101T010000+01:00"), Some(0));
        assert_eq!(parse_time("19700101T0100-0100"), Some(7200));
        assert_eq!(parse_time("20000301"), Some(951_868_800));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("20261340T000000Z"), None);
    }

    #[test]
    fn newer_wins_by_rev_and_arrival() {
        let later = SERVER.replace("REV:20260101T000000Z", "REV:20260102T000000Z");
        let no_rev = SERVER.replace("REV:20260101T000000Z\r\n", "");
        let now = 1_800_000_000;
        assert_eq!(newer(SERVER.as_bytes(), later.as_bytes(), now), Resolution::ClientWins);
        assert_eq!(newer(later.as_bytes(), SERVER.as_bytes(), now), Resolution::ServerWins);
        assert_eq!(newer(SERVER.as_bytes(), SERVER.as_bytes(), now), Resolution::Duplicate);
        // No REV on the client: it changed now, after the server's REV.
        assert_eq!(newer(SERVER.as_bytes(), no_rev.as_bytes(), now), Resolution::ClientWins);
        // ... unless the server's REV is later than now.
        assert_eq!(newer(SERVER.as_bytes(), no_rev.as_bytes(), 0), Resolution::ServerWins);
        // No REV on the server: nothing says it is newer.
        assert_eq!(newer(no_rev.as_bytes(), SERVER.as_bytes(), now), Resolution::ClientWins);
        let bad = SERVER.replace("REV:20260101T000000Z", "REV:soon");
        assert_eq!(newer(bad.as_bytes(), SERVER.as_bytes(), now), Resolution::Duplicate);
    }

    #[test]
    fn merge_keeps_one_sided_properties_and_server_values() {
        let client = "BEGIN:VCARD\nVERSION:3.0\nN:Doe;Johnny;;;\nFN:John Doe\nTEL;TYPE=CELL:+49 2\nEMAIL:j@example.com\nREV:20270101T000000Z\nEND:VCARD\n";
        let merged = String::from_utf8(merge("text/vcard", SERVER.as_bytes(), client.as_bytes()).unwrap()).unwrap();
        assert_eq!(
            merged,
            "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;John;;;\r\nFN:John Doe\r\nTEL;TYPE=HOME:+49 1\r\nREV:20260101T000000Z\r\nTEL;TYPE=CELL:+49 2\r\nEMAIL:j@example.com\r\nEND:VCARD\r\n"
        );
    }

    #[test]
    fn merge_of_icalendar_components() {
        let server = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:1\r\nSUMMARY:Lunch\r\nDTSTART:20260101T120000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let client = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:1\r\nSUMMARY:Dinner\r\nLOCATION:Home\r\nDTSTART:20260101T120000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let merged = String::from_utf8(merge("text/calendar", server.as_bytes(), client.as_bytes()).unwrap()).unwrap();
        assert!(merged.contains("SUMMARY:Lunch\r\n") && !merged.contains("Dinner"));
        assert!(merged.contains("LOCATION:Home\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"), "{merged}");
    }

    #[test]
    fn unmergeable_items_fall_back_to_duplicate() {
        assert_eq!(resolve(ConflictPolicy::Merge, "text/plain", b"a", b"b", 0), Resolution::Duplicate);
        let two = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:a\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nSUMMARY:b\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        assert_eq!(
            resolve(ConflictPolicy::Merge, "text/calendar", two.as_bytes(), two.as_bytes(), 0),
            Resolution::Duplicate
        );
        let unbalanced = "BEGIN:VCARD\r\nFN:x\r\n";
        assert_eq!(merge("text/vcard", SERVER.as_bytes(), unbalanced.as_bytes()), None);
        let qp = "BEGIN:VCARD\r\nNOTE;ENCODING=QUOTED-PRINTABLE:a=\r\nb\r\nEND:VCARD\r\n";
        assert_eq!(merge("text/x-vcard", SERVER.as_bytes(), qp.as_bytes()), None);
    }
}
