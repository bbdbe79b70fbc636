//! IMAP responses (RFC 3501 §7; RFC 7162 for MODSEQ and VANISHED; RFC 4315 and RFC 8474 for
//! response codes), parsed from what the connection read: the text of one response with its
//! literals (`{n}` followed by n bytes) cut out as [`Part::Literal`]. First tokens (atoms,
//! strings, lists, NIL), then what the client needs from them: LIST, STATUS, FETCH, VANISHED,
//! CAPABILITY/ENABLED, counts and response codes ([`Code`]). Pure: no sockets, no clock; never
//! panics on bad input.

use crate::imap::{utf7, ImapError, MailboxInfo, MailboxStatus, MessageMeta};

/// One response as read: text and literals in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    Text(Vec<u8>),
    Literal(Vec<u8>),
}

/// A token of a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    Atom(String),
    /// A quoted string or a literal.
    Str(Vec<u8>),
    List(Vec<Tok>),
    Nil,
}

impl Tok {
    pub fn atom(&self) -> Option<&str> {
        match self {
            Tok::Atom(a) => Some(a),
            _ => None,
        }
    }

    /// An atom's or string's text.
    pub fn text(&self) -> Option<String> {
        match self {
            Tok::Atom(a) => Some(a.clone()),
            Tok::Str(s) => Some(String::from_utf8_lossy(s).into_owned()),
            _ => None,
        }
    }

    pub fn number(&self) -> Option<u64> {
        self.atom()?.parse().ok()
    }
}

fn protocol(msg: impl Into<String>) -> ImapError {
    ImapError::Protocol(msg.into())
}

/// The tokens of a response. Response codes in brackets (`[UIDVALIDITY 3]`) are one atom each
/// bracket part, see [`status_code`].
pub fn tokens(parts: &[Part]) -> Result<Vec<Tok>, ImapError> {
    let mut stack: Vec<Vec<Tok>> = vec![Vec::new()];
    for part in parts {
        match part {
            Part::Literal(bytes) => {
                stack.last_mut().ok_or_else(|| protocol("unbalanced"))?.push(Tok::Str(bytes.clone()))
            }
            Part::Text(text) => {
                let mut i = 0;
                while i < text.len() {
                    let c = text[i];
                    match c {
                        b' ' | b'\r' | b'\n' => i += 1,
                        b'(' => {
                            stack.push(Vec::new());
                            i += 1;
                        }
                        b')' => {
                            let list = stack.pop().ok_or_else(|| protocol("unbalanced )"))?;
                            stack.last_mut().ok_or_else(|| protocol("unbalanced )"))?.push(Tok::List(list));
                            i += 1;
                        }
                        b'"' => {
                            let mut s = Vec::new();
                            i += 1;
                            loop {
                                match text.get(i) {
                                    None => return Err(protocol("unterminated quoted string")),
                                    Some(b'"') => {
                                        i += 1;
                                        break;
                                    }
                                    Some(b'\\') => {
                                        s.push(*text.get(i + 1).ok_or_else(|| protocol("bad escape"))?);
                                        i += 2;
                                    }
                                    Some(&b) => {
                                        s.push(b);
                                        i += 1;
                                    }
                                }
                            }
                            stack.last_mut().ok_or_else(|| protocol("unbalanced"))?.push(Tok::Str(s));
                        }
                        _ => {
                            // An atom; brackets belong to it (BODY[], [UIDVALIDITY).
                            let start = i;
                            let mut depth = 0i32;
                            while i < text.len() {
                                let b = text[i];
                                if b == b'[' {
                                    depth += 1;
                                } else if b == b']' {
                                    depth -= 1;
                                } else if matches!(b, b'\r' | b'\n') || (depth <= 0 && matches!(b, b' ' | b'(' | b')'))
                                {
                                    break;
                                }
                                i += 1;
                            }
                            let atom = String::from_utf8_lossy(&text[start..i]).into_owned();
                            let tok = if atom.eq_ignore_ascii_case("NIL") { Tok::Nil } else { Tok::Atom(atom) };
                            stack.last_mut().ok_or_else(|| protocol("unbalanced"))?.push(tok);
                        }
                    }
                }
            }
        }
    }
    if stack.len() != 1 {
        return Err(protocol("unbalanced ("));
    }
    Ok(stack.pop().unwrap_or_default())
}

/// The response code of a status response's text (`[APPENDUID 38505 3955] APPEND completed`):
/// its words, upper-case name first.
pub fn status_code(text: &str) -> Option<Vec<String>> {
    let t = text.trim_start();
    let inner = t.strip_prefix('[')?;
    let end = inner.find(']')?;
    let words: Vec<String> = inner[..end].replace(['(', ')'], " ").split_whitespace().map(str::to_string).collect();
    (!words.is_empty()).then_some(words)
}

/// The text after the first `n` space-separated words of a response's first text part.
pub fn text_after(parts: &[Part], n: usize) -> String {
    let Some(Part::Text(t)) = parts.first() else { return String::new() };
    let s = String::from_utf8_lossy(t);
    let s = s.trim_end_matches(['\r', '\n']);
    let mut rest = s;
    for _ in 0..n {
        rest = rest.trim_start();
        rest = rest.find(' ').map_or("", |i| &rest[i..]);
    }
    rest.trim_start().to_string()
}

/// The UIDs of a uid-set (`1:3,7`); ranges are capped at `limit` members in all.
pub fn uid_set(text: &str, limit: usize) -> Result<Vec<u32>, ImapError> {
    let mut out = Vec::new();
    for piece in text.split(',').filter(|p| !p.is_empty()) {
        let (a, b) = piece.split_once(':').unwrap_or((piece, piece));
        let a: u32 = a.trim().parse().map_err(|_| protocol(format!("bad uid-set {text:?}")))?;
        let b: u32 = b.trim().parse().map_err(|_| protocol(format!("bad uid-set {text:?}")))?;
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        if out.len() + (hi - lo) as usize >= limit {
            return Err(protocol("uid-set too large"));
        }
        out.extend(lo..=hi);
    }
    Ok(out)
}

/// The value after `name` in a FETCH attribute list (`UID 4 FLAGS (\Seen) ...`).
pub fn fetch_item<'a>(items: &'a [Tok], name: &str) -> Option<&'a Tok> {
    items.chunks(2).find(|kv| kv[0].atom().is_some_and(|a| a.eq_ignore_ascii_case(name))).and_then(|kv| kv.get(1))
}

/// A response code (RFC 3501 §7.1, UIDPLUS RFC 4315, CONDSTORE RFC 7162, OBJECTID RFC 8474)
/// at the start of a status response's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Code {
    UidValidity(u32),
    UidNext(u32),
    HighestModSeq(u64),
    /// The mailbox keeps no mod-sequences (CONDSTORE does not apply to it).
    NoModSeq,
    AppendUid {
        uidvalidity: u32,
        uid: u32,
    },
    /// The UIDs given to copied (or moved) messages, `dest[i]` for `source[i]`.
    CopyUid {
        uidvalidity: u32,
        source: Vec<u32>,
        dest: Vec<u32>,
    },
    MailboxId(String),
    /// The capabilities (upper-case).
    Capability(Vec<String>),
    /// Any other code, or a known one whose arguments did not parse: its name, upper-case.
    Other(String),
}

/// The most UIDs a response code's uid-set may name.
const MAX_CODE_UIDS: usize = 1_000_000;

/// The response code of a status response's text (`[APPENDUID 38505 3955] APPEND completed`).
pub fn code(text: &str) -> Option<Code> {
    let words = status_code(text)?;
    let name = words[0].to_ascii_uppercase();
    let arg = |i: usize| words.get(i).map(String::as_str);
    let num = |i: usize| arg(i).and_then(|w| w.parse::<u64>().ok());
    let num32 = |i: usize| num(i).and_then(|n| u32::try_from(n).ok());
    let set = |i: usize| arg(i).and_then(|w| uid_set(w, MAX_CODE_UIDS).ok());
    let known = match name.as_str() {
        "UIDVALIDITY" => num32(1).map(Code::UidValidity),
        "UIDNEXT" => num32(1).map(Code::UidNext),
        "HIGHESTMODSEQ" => num(1).map(Code::HighestModSeq),
        "NOMODSEQ" => Some(Code::NoModSeq),
        "APPENDUID" => (|| Some(Code::AppendUid { uidvalidity: num32(1)?, uid: *set(2)?.first()? }))(),
        "COPYUID" => (|| {
            let (source, dest) = (set(2)?, set(3)?);
            (source.len() == dest.len()).then_some(Code::CopyUid { uidvalidity: num32(1)?, source, dest })
        })(),
        "MAILBOXID" => arg(1).map(|id| Code::MailboxId(id.to_string())),
        "CAPABILITY" => Some(Code::Capability(words[1..].iter().map(|w| w.to_ascii_uppercase()).collect())),
        _ => None,
    };
    Some(known.unwrap_or(Code::Other(name)))
}

/// Whether token `i` is the atom `name` (case-insensitive).
pub fn is_atom(toks: &[Tok], i: usize, name: &str) -> bool {
    toks.get(i).and_then(Tok::atom).is_some_and(|a| a.eq_ignore_ascii_case(name))
}

/// The names of an untagged `CAPABILITY` or `ENABLED` response (`* ENABLED CONDSTORE QRESYNC`),
/// upper-case; `None` for other responses.
pub fn names_of(toks: &[Tok], response: &str) -> Option<Vec<String>> {
    // (Token 1 exists, so `2..` is in range.)
    is_atom(toks, 1, response).then(|| toks[2..].iter().filter_map(Tok::atom).map(str::to_ascii_uppercase).collect())
}

/// The number of a `* n EXISTS` (or `EXPUNGE`, `RECENT`) response named `name`.
pub fn counted(toks: &[Tok], name: &str) -> Option<u32> {
    is_atom(toks, 2, name).then(|| toks.get(1)?.number().and_then(|n| u32::try_from(n).ok())).flatten()
}

/// Whether an untagged response tells of a change to the selected mailbox (new or expunged
/// messages, changed flags).
pub fn is_change(toks: &[Tok]) -> bool {
    ["EXISTS", "EXPUNGE", "FETCH"].iter().any(|w| is_atom(toks, 2, w)) || is_atom(toks, 1, "VANISHED")
}

/// A `* LIST (attributes) delimiter name` response, the name decoded from modified UTF-7 (kept
/// as sent when it is not valid modified UTF-7); `None` for other responses.
pub fn mailbox_info(toks: &[Tok]) -> Result<Option<MailboxInfo>, ImapError> {
    if !is_atom(toks, 1, "LIST") {
        return Ok(None);
    }
    let attributes = match toks.get(2) {
        Some(Tok::List(l)) => l.iter().filter_map(Tok::text).collect(),
        _ => return Err(protocol("LIST without attributes")),
    };
    let delimiter = toks.get(3).and_then(Tok::text).and_then(|d| d.chars().next());
    let raw = toks.get(4).and_then(Tok::text).ok_or_else(|| protocol("LIST without a name"))?;
    let name = utf7::decode(&raw).unwrap_or(raw);
    Ok(Some(MailboxInfo { name, delimiter, attributes }))
}

/// Adds what a `* STATUS name (UIDVALIDITY 3 UIDNEXT 9 ...)` response says to `into`; false
/// for other responses. Values out of range are left out.
pub fn mailbox_status(toks: &[Tok], into: &mut MailboxStatus) -> bool {
    if !is_atom(toks, 1, "STATUS") {
        return false;
    }
    let Some(Tok::List(items)) = toks.get(3) else { return false };
    for pair in items.chunks(2) {
        let (Some(key), Some(value)) = (pair[0].atom(), pair.get(1)) else { continue };
        let n32 = || value.number().and_then(|n| u32::try_from(n).ok());
        match key.to_ascii_uppercase().as_str() {
            "UIDVALIDITY" => into.uidvalidity = n32().unwrap_or(into.uidvalidity),
            "UIDNEXT" => into.uidnext = n32().unwrap_or(into.uidnext),
            "MESSAGES" => into.messages = n32().unwrap_or(into.messages),
            "HIGHESTMODSEQ" => into.highestmodseq = value.number().or(into.highestmodseq),
            "MAILBOXID" => {
                if let Tok::List(id) = value {
                    into.mailboxid = id.first().and_then(Tok::text).or(into.mailboxid.take());
                }
            }
            _ => {}
        }
    }
    true
}

/// A `* n FETCH (...)` response's metadata (it must have a UID) and its attribute list; `None`
/// for other responses. `\Recent` is left out of the flags: it belongs to a session.
pub fn message_meta(toks: &[Tok]) -> Option<(MessageMeta, &[Tok])> {
    if !is_atom(toks, 2, "FETCH") {
        return None;
    }
    let Some(Tok::List(items)) = toks.get(3) else { return None };
    let uid = u32::try_from(fetch_item(items, "UID")?.number()?).ok()?;
    let flags = match fetch_item(items, "FLAGS") {
        Some(Tok::List(f)) => f.iter().filter_map(Tok::text).filter(|f| !f.eq_ignore_ascii_case("\\Recent")).collect(),
        _ => Vec::new(),
    };
    let modseq = match fetch_item(items, "MODSEQ") {
        Some(Tok::List(m)) => m.first().and_then(Tok::number),
        _ => None,
    };
    let size = fetch_item(items, "RFC822.SIZE").and_then(Tok::number);
    Some((MessageMeta { uid, flags, modseq, size }, items))
}

/// The UIDs of a `* VANISHED [(EARLIER)] uid-set` response (QRESYNC), at most `limit`; `None`
/// for other responses.
pub fn vanished(toks: &[Tok], limit: usize) -> Result<Option<Vec<u32>>, ImapError> {
    if !is_atom(toks, 1, "VANISHED") {
        return Ok(None);
    }
    let set = toks.last().and_then(Tok::atom).ok_or_else(|| protocol("VANISHED without UIDs"))?;
    uid_set(set, limit).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Part {
        Part::Text(s.as_bytes().to_vec())
    }

    #[test]
    fn fetch_responses_with_lists_literals_and_brackets() {
        let parts = [
            text("* 12 FETCH (UID 7 FLAGS (\\Seen $Forwarded) MODSEQ (9) RFC822.SIZE 44 BODY[] "),
            Part::Literal(b"Subject: x\r\n\r\n)(\"".to_vec()),
            text(")\r\n"),
        ];
        let toks = tokens(&parts).unwrap();
        assert_eq!(toks[0], Tok::Atom("*".into()));
        assert_eq!(toks[2], Tok::Atom("FETCH".into()));
        let Tok::List(items) = &toks[3] else { panic!("{toks:?}") };
        assert_eq!(fetch_item(items, "uid").and_then(Tok::number), Some(7));
        assert_eq!(
            fetch_item(items, "FLAGS"),
            Some(&Tok::List(vec![Tok::Atom("\\Seen".into()), Tok::Atom("$Forwarded".into())]))
        );
        assert_eq!(fetch_item(items, "MODSEQ"), Some(&Tok::List(vec![Tok::Atom("9".into())])));
        assert_eq!(fetch_item(items, "BODY[]"), Some(&Tok::Str(b"Subject: x\r\n\r\n)(\"".to_vec())));
    }

    #[test]
    fn list_status_and_codes() {
        let toks = tokens(&[text("* LIST (\\HasNoChildren \\Sent) \".\" \"Sent \\\"Items\\\"\"\r\n")]).unwrap();
        assert_eq!(toks[4], Tok::Str(b"Sent \"Items\"".to_vec()));
        let toks = tokens(&[text("* LIST (\\Noselect) NIL INBOX\r\n")]).unwrap();
        assert_eq!(toks[3], Tok::Nil);
        assert_eq!(
            status_code("[APPENDUID 38505 3955] APPEND completed"),
            Some(vec!["APPENDUID".into(), "38505".into(), "3955".into()])
        );
        assert_eq!(status_code("[CAPABILITY IMAP4rev1 IDLE] Logged in").map(|w| w.len()), Some(3));
        assert_eq!(status_code("Logged in"), None);
        assert_eq!(text_after(&[text("a1 OK [READ-WRITE] Select completed\r\n")], 2), "[READ-WRITE] Select completed");
        assert_eq!(uid_set("1:3,7,9:8", 100).unwrap(), [1, 2, 3, 7, 8, 9]);
        assert!(uid_set("1:4294967295", 1000).is_err());
        assert!(uid_set("x", 10).is_err());
    }

    fn toks(s: &str) -> Vec<Tok> {
        tokens(&[text(s)]).unwrap()
    }

    #[test]
    fn response_codes_are_typed() {
        assert_eq!(code("[UIDVALIDITY 3857529045] UIDs valid"), Some(Code::UidValidity(3857529045)));
        assert_eq!(code("[UIDNEXT 4392] Predicted next UID"), Some(Code::UidNext(4392)));
        assert_eq!(code("[HIGHESTMODSEQ 715194045007]"), Some(Code::HighestModSeq(715194045007)));
        assert_eq!(code("[NOMODSEQ] Sorry, this mailbox format doesn't support modsequences"), Some(Code::NoModSeq));
        assert_eq!(
            code("[APPENDUID 38505 3955] APPEND completed"),
            Some(Code::AppendUid { uidvalidity: 38505, uid: 3955 })
        );
        assert_eq!(
            code("[COPYUID 38505 304,319:320 3956:3958] Done"),
            Some(Code::CopyUid { uidvalidity: 38505, source: vec![304, 319, 320], dest: vec![3956, 3957, 3958] })
        );
        assert_eq!(
            code("[MAILBOXID (F2212ea87-6097-4256-9d51-71338625)] Ok"),
            Some(Code::MailboxId("F2212ea87-6097-4256-9d51-71338625".into()))
        );
        assert_eq!(
            code("[CAPABILITY IMAP4rev1 Idle condstore] Logged in"),
            Some(Code::Capability(vec!["IMAP4REV1".into(), "IDLE".into(), "CONDSTORE".into()]))
        );
        assert_eq!(code("[READ-WRITE] Select completed"), Some(Code::Other("READ-WRITE".into())));
        // Known codes with arguments that do not parse are not errors, only not understood.
        assert_eq!(code("[UIDVALIDITY 99999999999]"), Some(Code::Other("UIDVALIDITY".into())));
        assert_eq!(code("[APPENDUID 1]"), Some(Code::Other("APPENDUID".into())));
        assert_eq!(code("[COPYUID 1 2:3 4]"), Some(Code::Other("COPYUID".into())));
        assert_eq!(code("[]"), None);
        assert_eq!(code("no code"), None);
    }

    #[test]
    fn untagged_responses_are_interpreted() {
        assert_eq!(
            names_of(&toks("* CAPABILITY IMAP4rev1 IDLE Move\r\n"), "CAPABILITY"),
            Some(vec!["IMAP4REV1".into(), "IDLE".into(), "MOVE".into()])
        );
        assert_eq!(names_of(&toks("* ENABLED CONDSTORE QRESYNC\r\n"), "ENABLED").map(|n| n.len()), Some(2));
        assert_eq!(names_of(&toks("* ENABLED\r\n"), "ENABLED"), Some(vec![]));
        assert_eq!(names_of(&toks("* 3 EXISTS\r\n"), "ENABLED"), None);
        assert_eq!(counted(&toks("* 23 EXISTS\r\n"), "EXISTS"), Some(23));
        assert_eq!(counted(&toks("* 23 EXPUNGE\r\n"), "EXISTS"), None);
        assert!(is_change(&toks("* 4 EXPUNGE\r\n")));
        assert!(is_change(&toks("* 1 FETCH (FLAGS (\\Seen) MODSEQ (5))\r\n")));
        assert!(is_change(&toks("* VANISHED 5\r\n")));
        assert!(!is_change(&toks("* OK Still here\r\n")));

        let info = mailbox_info(&toks("* LIST (\\HasChildren \\Noselect) \"/\" \"Eink&AOQ-ufe/2026\"\r\n")).unwrap();
        assert_eq!(
            info,
            Some(MailboxInfo {
                name: "Einkäufe/2026".into(),
                delimiter: Some('/'),
                attributes: vec!["\\HasChildren".into(), "\\Noselect".into()]
            })
        );
        let literal = [text("* LIST () NIL "), Part::Literal(b"A&-B".to_vec()), text("\r\n")];
        let info = mailbox_info(&tokens(&literal).unwrap()).unwrap().unwrap();
        assert_eq!((info.name.as_str(), info.delimiter), ("A&B", None));
        assert!(mailbox_info(&toks("* LIST (\\Noselect) \"/\"\r\n")).is_err());
        assert_eq!(mailbox_info(&toks("* STATUS x (MESSAGES 1)\r\n")).unwrap(), None);

        let mut st = MailboxStatus { uidvalidity: 0, uidnext: 0, messages: 0, highestmodseq: None, mailboxid: None };
        let line = "* STATUS \"Eink&AOQ-ufe\" (MESSAGES 2 UIDNEXT 7 UIDVALIDITY 1700000000 HIGHESTMODSEQ 12 MAILBOXID (M1a2b))\r\n";
        assert!(mailbox_status(&toks(line), &mut st));
        assert_eq!(
            st,
            MailboxStatus {
                uidvalidity: 1_700_000_000,
                uidnext: 7,
                messages: 2,
                highestmodseq: Some(12),
                mailboxid: Some("M1a2b".into())
            }
        );
        assert!(!mailbox_status(&toks("* 2 EXISTS\r\n"), &mut st));

        let fetch = toks("* 2 FETCH (UID 9 FLAGS (\\Seen \\Recent $Junk) RFC822.SIZE 1200 MODSEQ (44))\r\n");
        let (meta, _) = message_meta(&fetch).unwrap();
        assert_eq!(
            meta,
            MessageMeta { uid: 9, flags: vec!["\\Seen".into(), "$Junk".into()], modseq: Some(44), size: Some(1200) }
        );
        assert_eq!(message_meta(&toks("* 2 FETCH (FLAGS ())\r\n")), None, "no UID");

        assert_eq!(vanished(&toks("* VANISHED (EARLIER) 41,43:45\r\n"), 100).unwrap(), Some(vec![41, 43, 44, 45]));
        assert_eq!(vanished(&toks("* VANISHED 7\r\n"), 100).unwrap(), Some(vec![7]));
        assert!(vanished(&toks("* VANISHED (EARLIER) 1:200\r\n"), 100).is_err());
        assert_eq!(vanished(&toks("* 3 EXPUNGE\r\n"), 100).unwrap(), None);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for bad in ["* (", "* )", "* \"open", "* \"a\\", ")(", "((((("] {
            assert!(tokens(&[text(bad)]).is_err(), "{bad}");
        }
        // Random tails after the starts of the responses the interpreters look at.
        let starts = ["", "* 1 FETCH (UID ", "* STATUS x (", "* VANISHED ", "* LIST (", "[COPYUID 1 ", "[APPENDUID "];
        let mut rng = 0x1234_5678u64;
        for round in 0..4000 {
            let len = (rng % 40) as usize;
            let mut bytes = starts[round % starts.len()].as_bytes().to_vec();
            bytes.extend((0..len).map(|_| {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                b"()[]\"\\ {}aZ09*\r\n:,"[(rng >> 33) as usize % 18]
            }));
            if let Ok(t) = tokens(&[Part::Text(bytes.clone())]) {
                let mut st =
                    MailboxStatus { uidvalidity: 0, uidnext: 0, messages: 0, highestmodseq: None, mailboxid: None };
                let _ =
                    (mailbox_info(&t), mailbox_status(&t, &mut st), message_meta(&t), vanished(&t, 100), is_change(&t));
                let _ = (names_of(&t, "CAPABILITY"), counted(&t, "EXISTS"));
            }
            let _ = code(&String::from_utf8_lossy(&bytes));
        }
    }
}
