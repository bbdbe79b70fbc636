//! One blocking IMAP connection: commands with tags, literals (LITERAL+ when offered), the
//! responses they get, and the calls the IMAP store makes. Every read and write gives up after
//! the connection's timeout ([`ImapError::Io`]); lines, literals and whole responses have size
//! limits. What responses mean is worked out in `parse`; this file only talks.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::imap::parse::{self, fetch_item, Code, Part, Tok};
use crate::imap::tls::{Security, Stream};
use crate::imap::{utf7, FlagMode, ImapError, MailboxInfo, MailboxStatus, MessageMeta, Selected};

/// The longest line of a response (literals aside).
const MAX_LINE: usize = 1 << 20;
/// The largest literal accepted (a message).
const MAX_LITERAL: usize = 64 << 20;
/// The most bytes of one response, its lines and literals together.
const MAX_RESPONSE: usize = MAX_LITERAL + (16 << 20);
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
    /// Reads through the buffer; writes go to the stream itself (`send`).
    reader: BufReader<Stream>,
    tag: u32,
    /// The capabilities, upper-case.
    caps: Vec<String>,
    /// CONDSTORE is enabled for the session (ENABLE, or implied by QRESYNC).
    condstore: bool,
    /// QRESYNC is enabled for the session.
    qresync: bool,
    /// The selected mailbox and what SELECT said of it.
    selected: Option<(String, Selected)>,
}

fn io(e: std::io::Error) -> ImapError {
    ImapError::Io(e.to_string())
}

impl Connection {
    /// Connects (plain IMAP) and reads the greeting and the capabilities.
    pub fn connect(addr: &str, timeout: Duration) -> Result<Connection, ImapError> {
        Connection::connect_with(addr, timeout, &Security::Plain)
    }

    /// Connects plain, over TLS (IMAPS) or plain then STARTTLS, and reads the greeting and the
    /// capabilities (again after STARTTLS, as RFC 3501 asks).
    pub fn connect_with(addr: &str, timeout: Duration, security: &Security) -> Result<Connection, ImapError> {
        let sock = addr
            .to_socket_addrs()
            .map_err(io)?
            .next()
            .ok_or_else(|| ImapError::Io(format!("no address for {addr}")))?;
        let tcp = TcpStream::connect_timeout(&sock, timeout).map_err(io)?;
        tcp.set_read_timeout(Some(timeout)).map_err(io)?;
        tcp.set_write_timeout(Some(timeout)).map_err(io)?;
        let stream = match security {
            Security::Imaps(tls) => tls.wrap(tcp)?,
            Security::Plain | Security::StartTls(_) => Stream::Plain(tcp),
        };
        let mut c = Connection::greeted(stream)?;
        if let Security::StartTls(tls) = security {
            if !c.has("STARTTLS") {
                return Err(ImapError::Protocol("the server does not offer STARTTLS".into()));
            }
            c.command(&[Arg::Raw("STARTTLS")])?;
            if !c.reader.buffer().is_empty() {
                return Err(ImapError::Protocol("data after the STARTTLS answer (injection?)".into()));
            }
            let Stream::Plain(tcp) = c.reader.into_inner() else {
                return Err(ImapError::Protocol("STARTTLS on a TLS connection".into()));
            };
            c = Connection::new(tls.wrap(tcp)?);
            c.capability()?;
        }
        Ok(c)
    }

    fn new(stream: Stream) -> Connection {
        Connection {
            reader: BufReader::new(stream),
            tag: 0,
            caps: Vec::new(),
            condstore: false,
            qresync: false,
            selected: None,
        }
    }

    /// Reads the greeting and the capabilities.
    fn greeted(stream: Stream) -> Result<Connection, ImapError> {
        let mut c = Connection::new(stream);
        let greeting = c.read_response()?;
        let text = parse::text_after(&greeting, 1);
        match parse::tokens(&greeting)?.get(1).and_then(Tok::atom).map(str::to_ascii_uppercase).as_deref() {
            Some("OK") | Some("PREAUTH") => {}
            Some("BYE") => return Err(ImapError::Bye(text)),
            _ => return Err(ImapError::Protocol(format!("greeting {text:?}"))),
        }
        match parse::code(&text) {
            Some(Code::Capability(caps)) => c.caps = caps,
            _ => c.capability()?,
        }
        Ok(c)
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.reader.get_ref().is_tls()
    }

    /// Writes bytes of a command to the server.
    fn send(&mut self, bytes: &[u8]) -> Result<(), ImapError> {
        let stream = self.reader.get_mut();
        stream.write_all(bytes).map_err(io)?;
        stream.flush().map_err(io)
    }

    /// LOGIN (quoted strings, literals for names or passwords that need them); then the
    /// capabilities again, and ENABLE CONDSTORE QRESYNC (those offered) with ENABLE.
    pub fn login(&mut self, user: &str, password: &str) -> Result<(), ImapError> {
        let a = self.command(&[Arg::Raw("LOGIN "), Arg::Str(user), Arg::Raw(" "), Arg::Str(password)])?;
        match parse::code(&a.text) {
            Some(Code::Capability(caps)) => self.caps = caps,
            _ => self.capability()?,
        }
        let wanted: Vec<&str> = ["CONDSTORE", "QRESYNC"].into_iter().filter(|c| self.has(c)).collect();
        if self.has("ENABLE") && !wanted.is_empty() {
            let a = self.command(&[Arg::Raw("ENABLE "), Arg::Raw(&wanted.join(" "))])?;
            for r in &a.untagged {
                if let Some(names) = parse::names_of(&parse::tokens(r)?, "ENABLED") {
                    self.condstore |= names.iter().any(|n| n == "CONDSTORE" || n == "QRESYNC");
                    self.qresync |= names.iter().any(|n| n == "QRESYNC");
                }
            }
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
            out.extend(parse::mailbox_info(&parse::tokens(r)?)?);
        }
        Ok(out)
    }

    /// STATUS of a mailbox: UIDVALIDITY UIDNEXT MESSAGES, HIGHESTMODSEQ with CONDSTORE and
    /// MAILBOXID with OBJECTID.
    pub fn status(&mut self, mailbox: &str) -> Result<MailboxStatus, ImapError> {
        let name = utf7::encode(mailbox);
        let mut items = String::from(" (UIDVALIDITY UIDNEXT MESSAGES");
        if self.has("CONDSTORE") {
            items.push_str(" HIGHESTMODSEQ");
        }
        if self.has("OBJECTID") {
            items.push_str(" MAILBOXID");
        }
        items.push(')');
        let a = self.command(&[Arg::Raw("STATUS "), Arg::Str(&name), Arg::Raw(&items)])?;
        let mut st = MailboxStatus { uidvalidity: 0, uidnext: 0, messages: 0, highestmodseq: None, mailboxid: None };
        for r in &a.untagged {
            parse::mailbox_status(&parse::tokens(r)?, &mut st);
        }
        Ok(st)
    }

    /// SELECT a mailbox (with the CONDSTORE parameter when CONDSTORE is offered but not
    /// enabled). `highestmodseq` is `None` without CONDSTORE or with NOMODSEQ.
    pub fn select(&mut self, mailbox: &str) -> Result<Selected, ImapError> {
        let name = utf7::encode(mailbox);
        self.selected = None;
        let condstore = if self.has("CONDSTORE") && !self.condstore { " (CONDSTORE)" } else { "" };
        let a = self.command(&[Arg::Raw("SELECT "), Arg::Str(&name), Arg::Raw(condstore)])?;
        let mut sel = Selected { uidvalidity: 0, uidnext: 0, exists: 0, highestmodseq: None };
        for r in &a.untagged {
            let toks = parse::tokens(r)?;
            if let Some(n) = parse::counted(&toks, "EXISTS") {
                sel.exists = n;
            }
            if parse::is_atom(&toks, 1, "OK") {
                match parse::code(&parse::text_after(r, 2)) {
                    Some(Code::UidValidity(v)) => sel.uidvalidity = v,
                    Some(Code::UidNext(n)) => sel.uidnext = n,
                    Some(Code::HighestModSeq(m)) => sel.highestmodseq = Some(m),
                    Some(Code::NoModSeq) => sel.highestmodseq = None,
                    _ => {}
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
            if let Some((meta, _)) = parse::message_meta(&toks) {
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
            if let Some((meta, items)) = parse::message_meta(&toks) {
                if let Some(Tok::Str(body)) = fetch_item(items, "BODY[]") {
                    out.push((meta.uid, body.clone()));
                }
            }
        }
        Ok(out)
    }

    /// UID FETCH of all messages (1:*) of the selected mailbox: UID, flags, size (and modseq
    /// with CONDSTORE); with `changed_since` (CONDSTORE) only those changed since, and with
    /// QRESYNC also the UIDs expunged since (VANISHED), returned second. Without CONDSTORE
    /// `changed_since` is ignored: every message is listed.
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
            if let Some(uids) = parse::vanished(&toks, MAX_UIDS.saturating_sub(vanished.len()))? {
                vanished.extend(uids);
            } else if let Some((meta, _)) = parse::message_meta(&toks) {
                metas.push(meta);
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
            if let Some((meta, items)) = parse::message_meta(&toks) {
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
        match parse::code(&a.text) {
            Some(Code::AppendUid { uid, .. }) => Ok(Some(uid)),
            _ => Ok(None),
        }
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

    /// Moves a message of the selected mailbox: UID MOVE (MOVE), else UID COPY and
    /// [`delete_message`](Self::delete_message); its new UID (COPYUID, with UIDPLUS).
    pub fn uid_move(&mut self, uid: u32, to: &str) -> Result<Option<u32>, ImapError> {
        let name = utf7::encode(to);
        let verb = if self.has("MOVE") { format!("UID MOVE {uid} ") } else { format!("UID COPY {uid} ") };
        let a = self.command(&[Arg::Raw(&verb), Arg::Str(&name)])?;
        // With MOVE, COPYUID comes in an untagged OK (RFC 6851); with COPY, in the tagged one.
        let mut texts: Vec<String> = a.untagged.iter().map(|r| parse::text_after(r, 2)).collect();
        texts.push(a.text.clone());
        let new = texts.iter().find_map(|t| match parse::code(t) {
            Some(Code::CopyUid { source, dest, .. }) => {
                source.iter().position(|&s| s == uid).and_then(|i| dest.get(i)).copied()
            }
            _ => None,
        });
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

    /// CREATE a mailbox (a full path with the server's delimiter).
    pub fn create(&mut self, mailbox: &str) -> Result<(), ImapError> {
        let name = utf7::encode(mailbox);
        self.command(&[Arg::Raw("CREATE "), Arg::Str(&name)]).map(|_| ())
    }

    /// RENAME a mailbox (its children go with it).
    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), ImapError> {
        let (f, t) = (utf7::encode(from), utf7::encode(to));
        self.selected = None;
        self.command(&[Arg::Raw("RENAME "), Arg::Str(&f), Arg::Raw(" "), Arg::Str(&t)]).map(|_| ())
    }

    /// DELETE a mailbox.
    pub fn delete_mailbox(&mut self, mailbox: &str) -> Result<(), ImapError> {
        let name = utf7::encode(mailbox);
        self.selected = None;
        self.command(&[Arg::Raw("DELETE "), Arg::Str(&name)]).map(|_| ())
    }

    /// IDLE (RFC 2177) on the selected mailbox until the server reports a change (EXISTS,
    /// EXPUNGE, FETCH, VANISHED) or `max` passes; true when something changed. Other untagged
    /// responses (`* OK Still here`) do not end it. Sends DONE and reads the tagged answer
    /// before returning, so the connection is ready for the next command.
    pub fn idle(&mut self, max: Duration) -> Result<bool, ImapError> {
        let tag = self.next_tag();
        self.send(format!("{tag} IDLE\r\n").as_bytes())?;
        let mut changed = false;
        loop {
            let r = self.read_response()?;
            if matches!(r.first(), Some(Part::Text(t)) if t.starts_with(b"+")) {
                break;
            }
            if let Some(done) = tagged(&r, &tag) {
                // A server that refuses IDLE says NO or BAD; an OK without a go-ahead is wrong.
                done?;
                return Err(ImapError::Protocol("IDLE ended before it began".into()));
            }
            changed |= self.untagged_change(&r)?;
        }
        // (No deadline: a `max` too long for the clock is as good as forever.)
        let deadline = Instant::now().checked_add(max);
        while !changed {
            let left = deadline.map_or(max, |d| d.saturating_duration_since(Instant::now()));
            if left.is_zero() || !self.wait_readable(left)? {
                break;
            }
            let r = self.read_response()?;
            changed = self.untagged_change(&r)?;
        }
        self.send(b"DONE\r\n")?;
        loop {
            let r = self.read_response()?;
            if let Some(done) = tagged(&r, &tag) {
                return done.map(|_| changed);
            }
            changed |= self.untagged_change(&r)?;
        }
    }

    /// NOOP (also a way to hear of changes, and to find out whether the server is still there).
    pub fn noop(&mut self) -> Result<(), ImapError> {
        self.command(&[Arg::Raw("NOOP")]).map(|_| ())
    }

    /// LOGOUT (errors do not matter any more).
    pub fn logout(mut self) {
        let _ = self.command(&[Arg::Raw("LOGOUT")]);
    }

    fn capability(&mut self) -> Result<(), ImapError> {
        let a = self.command(&[Arg::Raw("CAPABILITY")])?;
        for r in &a.untagged {
            if let Some(caps) = parse::names_of(&parse::tokens(r)?, "CAPABILITY") {
                self.caps = caps;
            }
        }
        Ok(())
    }

    fn next_tag(&mut self) -> String {
        self.tag = self.tag.wrapping_add(1);
        format!("g{}", self.tag)
    }

    /// Whether an untagged response read while idling is a change; BYE is an error.
    fn untagged_change(&self, r: &[Part]) -> Result<bool, ImapError> {
        let toks = parse::tokens(r)?;
        if parse::is_atom(&toks, 1, "BYE") {
            return Err(ImapError::Bye(parse::text_after(r, 2)));
        }
        Ok(parse::is_change(&toks))
    }

    /// Waits up to `max` for the server to send something; false when it did not. Nothing is
    /// read (so a late line is not cut in two); the connection's own timeout is put back.
    fn wait_readable(&mut self, max: Duration) -> Result<bool, ImapError> {
        if !self.reader.buffer().is_empty() {
            return Ok(true);
        }
        let normal = self.reader.get_ref().tcp().read_timeout().map_err(io)?;
        self.reader.get_ref().tcp().set_read_timeout(Some(max.max(Duration::from_millis(1)))).map_err(io)?;
        let waited = self.reader.fill_buf().map(|_| ());
        self.reader.get_ref().tcp().set_read_timeout(normal).map_err(io)?;
        match waited {
            // (End of stream too: the next read says BYE.)
            Ok(()) => Ok(true),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(false),
            Err(e) => Err(io(e)),
        }
    }

    /// Sends a command and reads until its tagged answer.
    fn command(&mut self, args: &[Arg<'_>]) -> Result<Answer, ImapError> {
        let tag = self.next_tag();
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
        self.send(&line)?;
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
            if let Some(done) = tagged(&r, &tag) {
                return done.map(|text| Answer { untagged, text });
            }
            // Continuations and lines for other tags are not ours.
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
        self.send(line)?;
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
        let mut total = 0usize;
        loop {
            let mut line = Vec::new();
            let n = (&mut self.reader).take(MAX_LINE as u64).read_until(b'\n', &mut line).map_err(io)?;
            total += n;
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
                    total += size;
                    if total > MAX_RESPONSE {
                        return Err(ImapError::Protocol(format!("response longer than {MAX_RESPONSE} bytes")));
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

/// The outcome of a command when `r` is its tagged answer: the text after OK, or the error
/// NO or BAD stand for; `None` when `r` is not tagged `tag`.
fn tagged(r: &[Part], tag: &str) -> Option<Result<String, ImapError>> {
    let Some(Part::Text(first)) = r.first() else { return None };
    let rest = first.strip_prefix(tag.as_bytes())?.strip_prefix(b" ")?;
    let status = rest.split(|&b| b == b' ' || b == b'\r' || b == b'\n').next().unwrap_or_default();
    let text = parse::text_after(r, 2);
    Some(match status.to_ascii_uppercase().as_slice() {
        b"OK" => Ok(text),
        b"NO" => Err(ImapError::No(text)),
        b"BAD" => Err(ImapError::Bad(text)),
        other => Err(ImapError::Protocol(format!("tagged answer {:?}", String::from_utf8_lossy(other)))),
    })
}
