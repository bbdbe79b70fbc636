//! One blocking IMAP connection: commands with tags, literals (LITERAL+ when offered), the
//! responses they get, and the calls the IMAP store makes. Every read and write gives up after
//! the connection's timeout ([`ImapError::Io`]); lines and literals have size limits.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::imap::parse::{self, fetch_item, status_code, Part, Tok};
use crate::imap::{utf7, FlagMode, ImapError, MailboxInfo, MailboxStatus, MessageMeta, Selected};

/// The longest line of a response (literals aside).
const MAX_LINE: usize = 1 << 20;
/// The largest literal accepted (a message).
const MAX_LITERAL: usize = 64 << 20;
/// The most UIDs one VANISHED may name.
const MAX_UIDS: usize = 10_000_000;

/// A piece of a command.
enum Arg<'a> {
    Raw(&'a str),
    Str(&'a str),
    Literal(&'a [u8]),
}

/// What a command got: its untagged responses and the tagged OK's text.
struct Answer {
    untagged: Vec<Vec<Part>>,
    text: String,
}

/// A logged-in (or about to be) connection.
#[derive(Debug)]
pub struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    tag: u32,
    caps: Vec<String>,
    qresync: bool,
    /// The selected mailbox and what SELECT said of it.
    selected: Option<(String, Selected)>,
}

fn io(e: std::io::Error) -> ImapError {
    ImapError::Io(e.to_string())
}

impl Connection {
    /// Connects and reads the greeting and the capabilities.
    pub fn connect(addr: &str, timeout: Duration) -> Result<Connection, ImapError> {
        let sock = addr
            .to_socket_addrs()
            .map_err(io)?
            .next()
            .ok_or_else(|| ImapError::Io(format!("no address for {addr}")))?;
        let stream = TcpStream::connect_timeout(&sock, timeout).map_err(io)?;
        stream.set_read_timeout(Some(timeout)).map_err(io)?;
        stream.set_write_timeout(Some(timeout)).map_err(io)?;
        let writer = stream.try_clone().map_err(io)?;
        let mut c = Connection {
            reader: BufReader::new(stream),
            writer,
            tag: 0,
            caps: Vec::new(),
            qresync: false,
            selected: None,
        };
        let greeting = c.read_response()?;
        let text = parse::text_after(&greeting, 1);
        match parse::tokens(&greeting)?.get(1).and_then(Tok::atom).map(str::to_ascii_uppercase).as_deref() {
            Some("OK") | Some("PREAUTH") => {}
            Some("BYE") => return Err(ImapError::Bye(text)),
            _ => return Err(ImapError::Protocol(format!("greeting {text:?}"))),
        }
        match status_code(&text).filter(|w| w[0].eq_ignore_ascii_case("CAPABILITY")) {
            Some(words) => c.caps = words[1..].iter().map(|w| w.to_ascii_uppercase()).collect(),
            None => c.capability()?,
        }
        Ok(c)
    }

    fn capability(&mut self) -> Result<(), ImapError> {
        let a = self.command(&[Arg::Raw("CAPABILITY")])?;
        for r in &a.untagged {
            let toks = parse::tokens(r)?;
            if toks.get(1).and_then(Tok::atom).is_some_and(|t| t.eq_ignore_ascii_case("CAPABILITY")) {
                self.caps = toks[2..].iter().filter_map(Tok::atom).map(str::to_ascii_uppercase).collect();
            }
        }
        Ok(())
    }

    /// LOGIN; then the capabilities again, and ENABLE QRESYNC when offered.
    pub fn login(&mut self, user: &str, password: &str) -> Result<(), ImapError> {
        let a = self.command(&[Arg::Raw("LOGIN "), Arg::Str(user), Arg::Raw(" "), Arg::Str(password)])?;
        match status_code(&a.text).filter(|w| w[0].eq_ignore_ascii_case("CAPABILITY")) {
            Some(words) => self.caps = words[1..].iter().map(|w| w.to_ascii_uppercase()).collect(),
            None => self.capability()?,
        }
        if self.has("QRESYNC") && self.has("ENABLE") {
            let a = self.command(&[Arg::Raw("ENABLE QRESYNC")])?;
            self.qresync = a.untagged.iter().any(|r| {
                parse::tokens(r)
                    .is_ok_and(|t| t.iter().any(|x| x.atom().is_some_and(|a| a.eq_ignore_ascii_case("QRESYNC"))))
            });
        }
        Ok(())
    }

    /// Whether the server offers a capability (case-insensitive).
    pub fn has(&self, capability: &str) -> bool {
        self.caps.iter().any(|c| c.eq_ignore_ascii_case(capability))
    }

    /// Every mailbox (`LIST "" "*"`).
    pub fn list(&mut self) -> Result<Vec<MailboxInfo>, ImapError> {
        let a = self.command(&[Arg::Raw("LIST \"\" \"*\"")])?;
        let mut out = Vec::new();
        for r in &a.untagged {
            let toks = parse::tokens(r)?;
            if !toks.get(1).and_then(Tok::atom).is_some_and(|t| t.eq_ignore_ascii_case("LIST")) {
                continue;
            }
            let attributes = match toks.get(2) {
                Some(Tok::List(l)) => l.iter().filter_map(Tok::text).collect(),
                _ => Vec::new(),
            };
            let delimiter = toks.get(3).and_then(Tok::text).and_then(|d| d.chars().next());
            let raw =
                toks.get(4).and_then(Tok::text).ok_or_else(|| ImapError::Protocol("LIST without a name".into()))?;
            let name = utf7::decode(&raw).unwrap_or(raw);
            out.push(MailboxInfo { name, delimiter, attributes });
        }
        Ok(out)
    }

    /// STATUS of a mailbox.
    pub fn status(&mut self, mailbox: &str) -> Result<MailboxStatus, ImapError> {
        let name = utf7::encode(mailbox);
        let items = if self.has("CONDSTORE") {
            " (UIDVALIDITY UIDNEXT MESSAGES HIGHESTMODSEQ)"
        } else {
            " (UIDVALIDITY UIDNEXT MESSAGES)"
        };
        let a = self.command(&[Arg::Raw("STATUS "), Arg::Str(&name), Arg::Raw(items)])?;
        let mut st = MailboxStatus { uidvalidity: 0, uidnext: 0, messages: 0, highestmodseq: None, mailboxid: None };
        for r in &a.untagged {
            let toks = parse::tokens(r)?;
            if let Some(Tok::List(kv)) = toks.get(3) {
                for pair in kv.chunks(2) {
                    let (Some(k), Some(v)) = (pair[0].atom(), pair.get(1).and_then(Tok::number)) else { continue };
                    match k.to_ascii_uppercase().as_str() {
                        "UIDVALIDITY" => st.uidvalidity = u32::try_from(v).unwrap_or(0),
                        "UIDNEXT" => st.uidnext = u32::try_from(v).unwrap_or(0),
                        "MESSAGES" => st.messages = u32::try_from(v).unwrap_or(0),
                        "HIGHESTMODSEQ" => st.highestmodseq = Some(v),
                        _ => {}
                    }
                }
            }
        }
        Ok(st)
    }

    /// SELECT a mailbox.
    pub fn select(&mut self, mailbox: &str) -> Result<Selected, ImapError> {
        let name = utf7::encode(mailbox);
        self.selected = None;
        let condstore = if self.has("CONDSTORE") && !self.qresync { " (CONDSTORE)" } else { "" };
        let a = self.command(&[Arg::Raw("SELECT "), Arg::Str(&name), Arg::Raw(condstore)])?;
        let mut sel = Selected { uidvalidity: 0, uidnext: 0, exists: 0, highestmodseq: None };
        for r in &a.untagged {
            let toks = parse::tokens(r)?;
            let word = toks.get(1).and_then(Tok::atom).unwrap_or("");
            if toks.get(2).and_then(Tok::atom).is_some_and(|t| t.eq_ignore_ascii_case("EXISTS")) {
                sel.exists = word.parse().unwrap_or(0);
            }
            if word.eq_ignore_ascii_case("OK") {
                if let Some(code) = status_code(&parse::text_after(r, 2)) {
                    let n = code.get(1).and_then(|v| v.parse::<u64>().ok());
                    match code[0].to_ascii_uppercase().as_str() {
                        "UIDVALIDITY" => sel.uidvalidity = n.and_then(|v| u32::try_from(v).ok()).unwrap_or(0),
                        "UIDNEXT" => sel.uidnext = n.and_then(|v| u32::try_from(v).ok()).unwrap_or(0),
                        "HIGHESTMODSEQ" => sel.highestmodseq = n,
                        _ => {}
                    }
                }
            }
        }
        self.selected = Some((mailbox.to_string(), sel.clone()));
        Ok(sel)
    }

    /// The selected mailbox, if any.
    pub fn selected(&self) -> Option<(String, Selected)> {
        self.selected.clone()
    }

    /// Sizes of the selected mailbox's messages with UIDs `first` to `last`.
    pub fn fetch_sizes(&mut self, first: u32, last: u32) -> Result<Vec<(u32, u64)>, ImapError> {
        let cmd = format!("UID FETCH {first}:{last} (UID RFC822.SIZE)");
        let a = self.command(&[Arg::Raw(&cmd)])?;
        let mut out = Vec::new();
        for r in &a.untagged {
            let toks = parse::tokens(r)?;
            if let Some((meta, _)) = fetched(&toks) {
                // `first:last` also names the highest UID when none is in the range.
                if (first..=last).contains(&meta.uid) {
                    out.push((meta.uid, meta.size.unwrap_or(0)));
                }
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// The selected mailbox's messages with these UIDs (not marking them seen).
    pub fn fetch_bodies(&mut self, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>)>, ImapError> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let set: Vec<String> = uids.iter().map(u32::to_string).collect();
        let cmd = format!("UID FETCH {} (UID BODY.PEEK[])", set.join(","));
        let a = self.command(&[Arg::Raw(&cmd)])?;
        let mut out = Vec::new();
        for r in &a.untagged {
            let toks = parse::tokens(r)?;
            if let Some((meta, items)) = fetched(&toks) {
                if let Some(Tok::Str(body)) = fetch_item(items, "BODY[]") {
                    out.push((meta.uid, body.clone()));
                }
            }
        }
        Ok(out)
    }

    /// UID, flags, size (and modseq) of the selected mailbox's messages, or of those changed
    /// since `changed_since`; with QRESYNC also the UIDs expunged since.
    pub fn fetch_meta(&mut self, changed_since: Option<u64>) -> Result<(Vec<MessageMeta>, Vec<u32>), ImapError> {
        let condstore = self.has("CONDSTORE");
        let items = if condstore { "(UID FLAGS RFC822.SIZE MODSEQ)" } else { "(UID FLAGS RFC822.SIZE)" };
        let modifier = match changed_since {
            Some(m) if self.qresync => format!(" (CHANGEDSINCE {m} VANISHED)"),
            Some(m) if condstore => format!(" (CHANGEDSINCE {m})"),
            _ => String::new(),
        };
        let cmd = format!("UID FETCH 1:* {items}{modifier}");
        let a = self.command(&[Arg::Raw(&cmd)])?;
        let mut metas = Vec::new();
        let mut vanished = Vec::new();
        for r in &a.untagged {
            let toks = parse::tokens(r)?;
            if toks.get(1).and_then(Tok::atom).is_some_and(|t| t.eq_ignore_ascii_case("VANISHED")) {
                if let Some(set) = toks.last().and_then(Tok::atom) {
                    vanished.extend(parse::uid_set(set, MAX_UIDS)?);
                }
                continue;
            }
            if let Some(meta) = fetched(&toks) {
                metas.push(meta.0);
            }
        }
        Ok((metas, vanished))
    }

    /// The whole message `uid` of the selected mailbox (not marking it seen).
    pub fn fetch_body(&mut self, uid: u32) -> Result<Option<Vec<u8>>, ImapError> {
        let cmd = format!("UID FETCH {uid} (UID BODY.PEEK[])");
        let a = self.command(&[Arg::Raw(&cmd)])?;
        for r in &a.untagged {
            let toks = parse::tokens(r)?;
            if let Some((meta, items)) = fetched(&toks) {
                if meta.uid == uid {
                    if let Some(Tok::Str(body)) = fetch_item(items, "BODY[]") {
                        return Ok(Some(body.clone()));
                    }
                }
            }
        }
        Ok(None)
    }

    /// APPEND; the new message's UID (APPENDUID, with UIDPLUS).
    pub fn append(&mut self, mailbox: &str, flags: &[&str], message: &[u8]) -> Result<Option<u32>, ImapError> {
        let name = utf7::encode(mailbox);
        let flags = format!(" ({}) ", flags.join(" "));
        let a = self.command(&[Arg::Raw("APPEND "), Arg::Str(&name), Arg::Raw(&flags), Arg::Literal(message)])?;
        Ok(status_code(&a.text).filter(|w| w[0].eq_ignore_ascii_case("APPENDUID")).and_then(|w| w.get(2)?.parse().ok()))
    }

    /// UID STORE of flags on a message of the selected mailbox.
    pub fn store_flags(&mut self, uid: u32, mode: FlagMode, flags: &[&str]) -> Result<(), ImapError> {
        let op = match mode {
            FlagMode::Set => "FLAGS.SILENT",
            FlagMode::Add => "+FLAGS.SILENT",
            FlagMode::Remove => "-FLAGS.SILENT",
        };
        let cmd = format!("UID STORE {uid} {op} ({})", flags.join(" "));
        self.command(&[Arg::Raw(&cmd)]).map(|_| ())
    }

    /// Moves a message of the selected mailbox; its new UID (COPYUID, with UIDPLUS).
    pub fn uid_move(&mut self, uid: u32, to: &str) -> Result<Option<u32>, ImapError> {
        let name = utf7::encode(to);
        let verb = if self.has("MOVE") { format!("UID MOVE {uid} ") } else { format!("UID COPY {uid} ") };
        let a = self.command(&[Arg::Raw(&verb), Arg::Str(&name)])?;
        let mut texts: Vec<String> = a.untagged.iter().map(|r| parse::text_after(r, 2)).collect();
        texts.push(a.text.clone());
        let new = texts
            .iter()
            .filter_map(|t| status_code(t))
            .find(|w| w[0].eq_ignore_ascii_case("COPYUID"))
            .and_then(|w| parse::uid_set(w.get(3)?, 2).ok()?.first().copied());
        if !self.has("MOVE") {
            self.delete_message(uid)?;
        }
        Ok(new)
    }

    /// Removes a message of the selected mailbox (\Deleted, then UID EXPUNGE with UIDPLUS).
    pub fn delete_message(&mut self, uid: u32) -> Result<(), ImapError> {
        self.store_flags(uid, FlagMode::Add, &["\\Deleted"])?;
        let cmd = if self.has("UIDPLUS") { format!("UID EXPUNGE {uid}") } else { "EXPUNGE".to_string() };
        self.command(&[Arg::Raw(&cmd)]).map(|_| ())
    }

    pub fn create(&mut self, mailbox: &str) -> Result<(), ImapError> {
        let name = utf7::encode(mailbox);
        self.command(&[Arg::Raw("CREATE "), Arg::Str(&name)]).map(|_| ())
    }

    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), ImapError> {
        let (f, t) = (utf7::encode(from), utf7::encode(to));
        self.selected = None;
        self.command(&[Arg::Raw("RENAME "), Arg::Str(&f), Arg::Raw(" "), Arg::Str(&t)]).map(|_| ())
    }

    pub fn delete_mailbox(&mut self, mailbox: &str) -> Result<(), ImapError> {
        let name = utf7::encode(mailbox);
        self.selected = None;
        self.command(&[Arg::Raw("DELETE "), Arg::Str(&name)]).map(|_| ())
    }

    /// IDLE (RFC 2177) on the selected mailbox until the server reports a change (EXISTS,
    /// EXPUNGE, FETCH, VANISHED) or `max` passes; true when something changed.
    pub fn idle(&mut self, max: Duration) -> Result<bool, ImapError> {
        self.tag += 1;
        let tag = format!("g{}", self.tag);
        self.writer.write_all(format!("{tag} IDLE\r\n").as_bytes()).map_err(io)?;
        loop {
            let r = self.read_response()?;
            match r.first() {
                Some(Part::Text(t)) if t.starts_with(b"+") => break,
                Some(Part::Text(t)) if t.starts_with(tag.as_bytes()) => {
                    return Err(ImapError::No(parse::text_after(&r, 2)));
                }
                _ => {}
            }
        }
        let normal = self.reader.get_ref().read_timeout().map_err(io)?;
        self.reader.get_ref().set_read_timeout(Some(max.max(Duration::from_millis(1)))).map_err(io)?;
        let mut changed = false;
        let waited = self.read_response();
        self.reader.get_ref().set_read_timeout(normal).map_err(io)?;
        match waited {
            Ok(r) => {
                let toks = parse::tokens(&r)?;
                changed = toks.iter().take(3).filter_map(Tok::atom).any(|w| {
                    ["EXISTS", "EXPUNGE", "FETCH", "VANISHED", "RECENT"].iter().any(|k| w.eq_ignore_ascii_case(k))
                });
            }
            Err(ImapError::Io(_)) => {}
            Err(e) => return Err(e),
        }
        self.writer.write_all(b"DONE\r\n").map_err(io)?;
        loop {
            let r = self.read_response()?;
            if let Some(Part::Text(t)) = r.first() {
                if t.starts_with(tag.as_bytes()) {
                    return Ok(changed);
                }
                if t.starts_with(b"* ") {
                    changed = true;
                }
            }
        }
    }

    pub fn noop(&mut self) -> Result<(), ImapError> {
        self.command(&[Arg::Raw("NOOP")]).map(|_| ())
    }

    /// LOGOUT (errors do not matter any more).
    pub fn logout(mut self) {
        let _ = self.command(&[Arg::Raw("LOGOUT")]);
    }

    /// Sends a command and reads until its tagged answer.
    fn command(&mut self, args: &[Arg<'_>]) -> Result<Answer, ImapError> {
        self.tag += 1;
        let tag = format!("g{}", self.tag);
        let mut line: Vec<u8> = format!("{tag} ").into_bytes();
        for arg in args {
            match arg {
                Arg::Raw(t) => line.extend_from_slice(t.as_bytes()),
                Arg::Str(s) if s.bytes().all(|b| (0x20..0x7f).contains(&b)) => {
                    line.push(b'"');
                    for b in s.bytes() {
                        if b == b'"' || b == b'\\' {
                            line.push(b'\\');
                        }
                        line.push(b);
                    }
                    line.push(b'"');
                }
                Arg::Str(s) => self.literal(&mut line, s.as_bytes())?,
                Arg::Literal(bytes) => self.literal(&mut line, bytes)?,
            }
        }
        line.extend_from_slice(b"\r\n");
        self.writer.write_all(&line).map_err(io)?;
        let logout = matches!(args.first(), Some(Arg::Raw("LOGOUT")));
        let mut untagged = Vec::new();
        loop {
            let r = self.read_response()?;
            let head = match r.first() {
                Some(Part::Text(t)) => String::from_utf8_lossy(t).into_owned(),
                _ => String::new(),
            };
            if let Some(rest) = head.strip_prefix("* ") {
                let bye = rest.trim_start().get(..3).is_some_and(|w| w.eq_ignore_ascii_case("BYE"));
                if bye && !logout {
                    return Err(ImapError::Bye(parse::text_after(&r, 2)));
                }
                untagged.push(r);
                continue;
            }
            if head.starts_with("+") {
                continue;
            }
            let mut words = head.splitn(3, ' ');
            if words.next() != Some(tag.as_str()) {
                continue;
            }
            let status = words.next().unwrap_or("").to_ascii_uppercase();
            let text = parse::text_after(&r, 2);
            return match status.as_str() {
                "OK" => Ok(Answer { untagged, text }),
                "NO" => Err(ImapError::No(text)),
                "BAD" => Err(ImapError::Bad(text)),
                other => Err(ImapError::Protocol(format!("tagged answer {other:?}"))),
            };
        }
    }

    /// Appends a literal to the command being written: `{n+}` with LITERAL+, else `{n}` and
    /// the server's go-ahead first.
    fn literal(&mut self, line: &mut Vec<u8>, bytes: &[u8]) -> Result<(), ImapError> {
        if self.has("LITERAL+") {
            line.extend_from_slice(format!("{{{}+}}\r\n", bytes.len()).as_bytes());
            line.extend_from_slice(bytes);
            return Ok(());
        }
        line.extend_from_slice(format!("{{{}}}\r\n", bytes.len()).as_bytes());
        self.writer.write_all(line).map_err(io)?;
        line.clear();
        let r = self.read_response()?;
        match r.first() {
            Some(Part::Text(t)) if t.starts_with(b"+") => {}
            _ => return Err(ImapError::Protocol("no continuation for a literal".into())),
        }
        line.extend_from_slice(bytes);
        Ok(())
    }

    /// One response: its lines, with the literals they announce.
    fn read_response(&mut self) -> Result<Vec<Part>, ImapError> {
        let mut parts = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = (&mut self.reader).take(MAX_LINE as u64).read_until(b'\n', &mut line).map_err(io)?;
            if n == 0 {
                return Err(ImapError::Bye("the server closed the connection".into()));
            }
            if !line.ends_with(b"\n") {
                return Err(ImapError::Protocol(format!("response line longer than {MAX_LINE} bytes")));
            }
            let trimmed = line.strip_suffix(b"\r\n").or_else(|| line.strip_suffix(b"\n")).unwrap_or(&line);
            let literal = trimmed
                .strip_suffix(b"}")
                .and_then(|t| t.iter().rposition(|&b| b == b'{').map(|i| (i, &t[i + 1..])))
                .and_then(|(i, n)| {
                    Some((i, std::str::from_utf8(n).ok()?.trim_end_matches('+').parse::<usize>().ok()?))
                });
            match literal {
                Some((at, size)) => {
                    if size > MAX_LITERAL {
                        return Err(ImapError::Protocol(format!("literal of {size} bytes")));
                    }
                    parts.push(Part::Text(trimmed[..at].to_vec()));
                    let mut buf = vec![0u8; size];
                    self.reader.read_exact(&mut buf).map_err(io)?;
                    parts.push(Part::Literal(buf));
                }
                None => {
                    parts.push(Part::Text(line));
                    return Ok(parts);
                }
            }
        }
    }
}

/// A FETCH response's metadata and its attribute list.
fn fetched(toks: &[Tok]) -> Option<(MessageMeta, &[Tok])> {
    if !toks.get(2).and_then(Tok::atom).is_some_and(|t| t.eq_ignore_ascii_case("FETCH")) {
        return None;
    }
    let Some(Tok::List(items)) = toks.get(3) else { return None };
    let uid = u32::try_from(fetch_item(items, "UID")?.number()?).ok()?;
    // \Recent belongs to a session, not to the message.
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
