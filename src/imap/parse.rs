//! IMAP responses (RFC 3501 §7, RFC 7162 for MODSEQ and VANISHED), parsed from what the
//! connection read: the text of one response with its literals (`{n}` followed by n bytes) cut
//! out as [`Part::Literal`]. Pure; never panics on bad input.

use crate::imap::ImapError;

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

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for bad in ["* (", "* )", "* \"open", "* \"a\\", ")(", "((((("] {
            assert!(tokens(&[text(bad)]).is_err(), "{bad}");
        }
        let mut rng = 0x1234_5678u64;
        for _ in 0..2000 {
            let len = (rng % 40) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    b"()[]\"\\ {}aZ09*\r\n"[(rng >> 33) as usize % 16]
                })
                .collect();
            let _ = tokens(&[Part::Text(bytes)]);
        }
    }
}
