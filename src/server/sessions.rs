//! The session table: which engine [`Session`] an HTTP request belongs to (PROTOCOL.md §1.4,
//! §11.4 point 3), the cached last reply of each session for client resends (§1.1), expiry.
//!
//! Routing rules, in order:
//! 1. `?sid=TOKEN` naming a session whose SyncHdr (SessionID, Source LocURI) matches the request
//!    (or that has none) → that session. From then on the session is reachable only by token.
//! 2. A session with the same (SessionID, Source LocURI) whose client has never used its token
//!    (clients that ignore RespURI) → that session.
//! 3. A token that names no session (unknown, expired) and no header match → refused (HTTP 404).
//! 4. Otherwise → a new session, whatever the MsgID (libsynthesis retries a failed login in a new
//!    session at the original URL, sometimes starting above MsgID 1).
//!
//! A byte-identical resend of a session's last request is answered from [`SessionState::replay`],
//! even after the session finished. Otherwise the caller starts a new session
//! ([`Sessions::start`]) when the session found is finished, or (found by header only) when the
//! MsgID does not go forward.
//!
//! Holds no sockets and reads no clock: every call takes `now`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use md5::{Digest as _, Md5};
use tokio::sync::Mutex as AsyncMutex;

use super::user_locks::UserLease;
use crate::engine::Session;

/// A session token: 128 random bits as 32 lowercase hex digits, carried as `?sid=` in RespURI.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionToken(String);

/// What names a session in the client's own SyncHdr: (SessionID, Source LocURI = device id).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HeaderKey {
    session_id: String,
    device: String,
}

/// Length and MD5 of a request body: recognises a byte-identical resend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyDigest {
    len: usize,
    md5: [u8; 16],
}

/// An encoded reply, kept for replay.
#[derive(Clone, Debug)]
pub struct CachedReply {
    pub body: Bytes,
    pub content_type: &'static str,
}

/// The state of one session; locked for the whole handling of each of its requests.
#[derive(Debug)]
pub struct SessionState {
    pub session: Session,
    /// MsgID of the last message handled (0 before the first).
    pub last_msg_id: u32,
    /// The engine said the session is over; only a resend of the last request is answered.
    pub finished: bool,
    /// The session's hold on its user, from its second message until it ends.
    pub user_lease: Option<UserLease>,
    last: Option<(BodyDigest, CachedReply)>,
}

/// How a request found its session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteKind {
    /// By the `sid` query parameter.
    Token,
    /// By (SessionID, Source LocURI) without a token.
    Header,
    /// A session created for this request.
    New,
}

/// The session a request goes to.
#[derive(Debug)]
pub struct Routed {
    pub token: SessionToken,
    pub state: Arc<AsyncMutex<SessionState>>,
    pub kind: RouteKind,
}

/// Why a request gets no session.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("unknown or expired session")]
    UnknownSession,
    #[error("too many sessions")]
    Full,
    #[error("no randomness for a session token: {0}")]
    Random(getrandom::Error),
}

/// All live sessions.
#[derive(Debug)]
pub struct Sessions {
    table: Mutex<Table>,
    timeout: Duration,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Table {
    by_token: HashMap<SessionToken, Slot>,
    by_header: HashMap<HeaderKey, SessionToken>,
}

#[derive(Debug)]
struct Slot {
    state: Arc<AsyncMutex<SessionState>>,
    key: Option<HeaderKey>,
    last_use: Instant,
    /// The client came back with the token: it follows RespURI, header routing is off.
    token_used: bool,
    /// The session is over; it stays only to answer a resend of its last message, for
    /// [`FINISHED_KEEP`] at most, and gives way first when the table is full.
    finished: bool,
}

/// How long a finished session stays to answer a resend of its last message.
pub const FINISHED_KEEP: Duration = Duration::from_secs(30);

impl SessionToken {
    /// A fresh random token.
    pub fn generate() -> Result<SessionToken, getrandom::Error> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)?;
        Ok(SessionToken(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    /// A token as found in a query; anything but 32 hex digits is `None`.
    pub fn parse(text: &str) -> Option<SessionToken> {
        (text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| SessionToken(text.to_ascii_lowercase()))
    }

    /// The full token, for the RespURI.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 8 digits: enough to follow a session in the logs, too few to take it over.
    pub fn short(&self) -> &str {
        // Every token is 32 ASCII hex digits (`generate`, `parse`).
        &self.0[..8]
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionToken({}…)", self.short())
    }
}

impl HeaderKey {
    /// The key of a SyncHdr; `None` when SessionID or Source LocURI is empty (such a header
    /// identifies nothing and is never routed by).
    pub fn new(session_id: &str, device: &str) -> Option<HeaderKey> {
        (!session_id.is_empty() && !device.is_empty())
            .then(|| HeaderKey { session_id: session_id.into(), device: device.into() })
    }
}

impl BodyDigest {
    pub fn of(body: &[u8]) -> BodyDigest {
        BodyDigest { len: body.len(), md5: Md5::digest(body).into() }
    }
}

impl SessionState {
    fn new(session: Session) -> SessionState {
        SessionState { session, last_msg_id: 0, finished: false, user_lease: None, last: None }
    }

    /// The reply to the last request if `digest` is that request's.
    pub fn replay(&self, digest: &BodyDigest) -> Option<CachedReply> {
        self.last.as_ref().filter(|(d, _)| d == digest).map(|(_, reply)| reply.clone())
    }

    /// Remembers a handled request and its reply.
    pub fn record(&mut self, digest: BodyDigest, msg_id: u32, reply: CachedReply, finished: bool) {
        self.last = Some((digest, reply));
        self.last_msg_id = msg_id;
        self.finished = finished;
        if finished {
            self.user_lease = None;
        }
    }
}

impl Sessions {
    /// An empty table; sessions expire after `timeout` without a request.
    pub fn new(timeout: Duration, capacity: usize) -> Sessions {
        Sessions { table: Mutex::new(Table::default()), timeout, capacity }
    }

    /// Finds or creates the session of a request (rules in the module docs).
    pub fn route(
        &self,
        sid: Option<&str>,
        key: Option<&HeaderKey>,
        now: Instant,
        new_session: impl FnOnce() -> Session,
    ) -> Result<Routed, Refusal> {
        let mut table = self.lock();
        let mut unknown_token = false;
        if let Some(sid) = sid {
            match SessionToken::parse(sid).and_then(|t| table.by_token.get_mut(&t).map(|slot| (t, slot))) {
                Some((token, slot)) if slot.key.is_none() || key.is_none() || slot.key.as_ref() == key => {
                    slot.token_used = true;
                    slot.last_use = now;
                    return Ok(Routed { token, state: slot.state.clone(), kind: RouteKind::Token });
                }
                // A known token but another SyncHdr: the client started a new session at the
                // URL it last used.
                Some(_) => {}
                None => unknown_token = true,
            }
        }
        if let Some(key) = key {
            let found = table.by_header.get(key).cloned();
            if let Some(token) = found {
                if let Some(slot) = table.by_token.get_mut(&token).filter(|s| !s.token_used) {
                    slot.last_use = now;
                    return Ok(Routed { token, state: slot.state.clone(), kind: RouteKind::Header });
                }
            }
        }
        if unknown_token {
            return Err(Refusal::UnknownSession);
        }
        self.insert(&mut table, key, now, new_session())
    }

    /// Creates a session unconditionally (a client restarting with a reused SessionID).
    pub fn start(&self, key: Option<&HeaderKey>, now: Instant, session: Session) -> Result<Routed, Refusal> {
        let mut table = self.lock();
        self.insert(&mut table, key, now, session)
    }

    /// Notes the end of a request: the session stays for another timeout (a finished one only
    /// to answer a resend of its last request, for [`FINISHED_KEEP`]).
    pub fn handled(&self, token: &SessionToken, now: Instant, finished: bool) {
        if let Some(slot) = self.lock().by_token.get_mut(token) {
            slot.last_use = now;
            slot.finished |= finished;
        }
    }

    /// Forgets a session at once (its state is unusable).
    pub fn remove(&self, token: &SessionToken) {
        let mut table = self.lock();
        if let Some(slot) = table.by_token.remove(token) {
            if let Some(key) = slot.key {
                unindex(&mut table, &key, token);
            }
        }
    }

    /// Forgets sessions idle for longer than the timeout and not in use; returns how many.
    #[cfg(test)]
    pub fn sweep(&self, now: Instant) -> usize {
        self.sweep_abandoned(now).0
    }

    /// [`Sessions::sweep`], also returning the sessions forgotten before they ended (the device
    /// went away mid-session), as their last state.
    pub fn sweep_abandoned(&self, now: Instant) -> (usize, Vec<(SessionToken, Session)>) {
        let mut table = self.lock();
        let mut abandoned = Vec::new();
        let n = sweep_table(&mut table, now, self.timeout, &mut abandoned);
        (n, abandoned)
    }

    /// How long session `token` has been idle: zero while a request of it is being handled,
    /// `None` when the session is gone.
    pub fn idle_for(&self, token: &SessionToken, now: Instant) -> Option<Duration> {
        let table = self.lock();
        let slot = table.by_token.get(token)?;
        if slot.state.try_lock().is_err() {
            return Some(Duration::ZERO);
        }
        Some(now.saturating_duration_since(slot.last_use))
    }

    /// Number of sessions held (finished ones included until they expire).
    pub fn len(&self) -> usize {
        self.lock().by_token.len()
    }

    fn insert(
        &self,
        table: &mut Table,
        key: Option<&HeaderKey>,
        now: Instant,
        session: Session,
    ) -> Result<Routed, Refusal> {
        if table.by_token.len() >= self.capacity
            && sweep_table(table, now, self.timeout, &mut Vec::new()) == 0
            && evict_finished(table) == 0
        {
            return Err(Refusal::Full);
        }
        let token = SessionToken::generate().map_err(Refusal::Random)?;
        let state = Arc::new(AsyncMutex::new(SessionState::new(session)));
        if let Some(key) = key {
            table.by_header.insert(key.clone(), token.clone());
        }
        let slot = Slot { state: state.clone(), key: key.cloned(), last_use: now, token_used: false, finished: false };
        table.by_token.insert(token.clone(), slot);
        Ok(Routed { token, state, kind: RouteKind::New })
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // Safe to recover from poisoning: no code panics between the updates of one operation
        // (map inserts and removals only), so the table is consistent.
        self.table.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn sweep_table(
    table: &mut Table,
    now: Instant,
    timeout: Duration,
    abandoned: &mut Vec<(SessionToken, Session)>,
) -> usize {
    let expired: Vec<SessionToken> = table
        .by_token
        .iter()
        .filter(|(_, slot)| {
            let keep = if slot.finished { timeout.min(FINISHED_KEEP) } else { timeout };
            now.saturating_duration_since(slot.last_use) >= keep
        })
        // Only the table holds the state, and nobody has it locked: not in use.
        .filter(|(_, slot)| Arc::strong_count(&slot.state) == 1 && slot.state.try_lock().is_ok())
        .map(|(token, _)| token.clone())
        .collect();
    for token in &expired {
        let Some(slot) = table.by_token.remove(token) else { continue };
        if let Some(key) = &slot.key {
            unindex(table, key, token);
        }
        if !slot.finished {
            if let Ok(mut state) = slot.state.try_lock() {
                if !state.finished {
                    abandoned.push((token.clone(), std::mem::take(&mut state.session)));
                }
            }
        }
    }
    expired.len()
}

/// A full table drops its finished sessions that nobody is using (the oldest half at most, at
/// least one); returns how many.
fn evict_finished(table: &mut Table) -> usize {
    let mut finished: Vec<(Instant, SessionToken)> = table
        .by_token
        .iter()
        .filter(|(_, slot)| slot.finished && Arc::strong_count(&slot.state) == 1 && slot.state.try_lock().is_ok())
        .map(|(token, slot)| (slot.last_use, token.clone()))
        .collect();
    finished.sort_by_key(|(last_use, _)| *last_use);
    finished.truncate((finished.len() / 2).max(1));
    for (_, token) in &finished {
        if let Some(key) = table.by_token.remove(token).and_then(|slot| slot.key) {
            unindex(table, &key, token);
        }
    }
    finished.len()
}

/// Drops the header index entry of `key` if it still points at `token`.
fn unindex(table: &mut Table, key: &HeaderKey, token: &SessionToken) {
    if table.by_header.get(key) == Some(token) {
        table.by_header.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(300);

    fn key(session_id: &str, device: &str) -> Option<HeaderKey> {
        HeaderKey::new(session_id, device)
    }

    fn reply() -> CachedReply {
        CachedReply { body: Bytes::from_static(b"<SyncML/>"), content_type: "application/vnd.syncml+xml" }
    }

    #[test]
    fn tokens_are_128_random_bits_in_hex() {
        let a = SessionToken::generate().unwrap();
        let b = SessionToken::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        assert_eq!(SessionToken::parse(a.as_str()), Some(a.clone()));
        assert_eq!(SessionToken::parse(&a.as_str().to_uppercase()), Some(a.clone()));
        assert_eq!(a.short(), &a.as_str()[..8]);
        assert!(!format!("{a:?}").contains(a.as_str()), "Debug never shows the whole token");
        for bad in ["", "abc", &"g".repeat(32), &"a".repeat(33)] {
            assert_eq!(SessionToken::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn empty_header_fields_identify_nothing() {
        assert_eq!(HeaderKey::new("", "IMEI:1"), None);
        assert_eq!(HeaderKey::new("1", ""), None);
    }

    #[test]
    fn a_token_finds_its_session_and_turns_header_routing_off() {
        let sessions = Sessions::new(TIMEOUT, 10);
        let now = Instant::now();
        let k = key("1", "IMEI:1");
        let first = sessions.route(None, k.as_ref(), now, Session::default).unwrap();
        assert_eq!(first.kind, RouteKind::New);

        let by_header = sessions.route(None, k.as_ref(), now, Session::default).unwrap();
        assert_eq!((by_header.kind, &by_header.token), (RouteKind::Header, &first.token));

        let by_token = sessions.route(Some(first.token.as_str()), k.as_ref(), now, Session::default).unwrap();
        assert_eq!((by_token.kind, &by_token.token), (RouteKind::Token, &first.token));

        // The client follows RespURI: the header alone no longer reaches the session.
        let other = sessions.route(None, k.as_ref(), now, Session::default).unwrap();
        assert_eq!(other.kind, RouteKind::New);
        assert_ne!(other.token, first.token);
    }

    #[test]
    fn unknown_tokens_are_refused_unless_the_header_matches() {
        let sessions = Sessions::new(TIMEOUT, 10);
        let now = Instant::now();
        let stale = SessionToken::generate().unwrap();
        let k = key("7", "phone-1");
        let refused = sessions.route(Some(stale.as_str()), k.as_ref(), now, Session::default);
        assert!(matches!(refused, Err(Refusal::UnknownSession)));
        assert!(matches!(sessions.route(Some("garbage"), None, now, Session::default), Err(Refusal::UnknownSession)));

        let live = sessions.route(None, k.as_ref(), now, Session::default).unwrap();
        let routed = sessions.route(Some(stale.as_str()), k.as_ref(), now, Session::default).unwrap();
        assert_eq!((routed.kind, routed.token), (RouteKind::Header, live.token));
    }

    #[test]
    fn a_known_token_with_another_header_is_a_new_client_session() {
        let sessions = Sessions::new(TIMEOUT, 10);
        let now = Instant::now();
        let first = sessions.route(None, key("1", "phone-1").as_ref(), now, Session::default).unwrap();
        let second =
            sessions.route(Some(first.token.as_str()), key("2", "phone-1").as_ref(), now, Session::default).unwrap();
        assert_eq!(second.kind, RouteKind::New);
        assert_ne!(second.token, first.token);
    }

    #[test]
    fn finished_sessions_stay_for_a_resend_of_their_last_request() {
        let sessions = Sessions::new(TIMEOUT, 10);
        let now = Instant::now();
        let k = key("1", "phone-1");
        let routed = sessions.route(None, k.as_ref(), now, Session::default).unwrap();
        let digest = BodyDigest::of(b"last message");
        routed.state.try_lock().unwrap().record(digest, 3, reply(), true);
        sessions.handled(&routed.token, now, true);

        for sid in [None, Some(routed.token.as_str())] {
            let resend = sessions.route(sid, k.as_ref(), now, Session::default).unwrap();
            assert_eq!(resend.token, routed.token);
            let state = resend.state.try_lock().unwrap();
            assert!(state.finished);
            assert_eq!(state.replay(&digest).unwrap().body, reply().body);
            assert!(state.replay(&BodyDigest::of(b"last messagE")).is_none());
        }
    }

    #[test]
    fn idle_sessions_expire_unless_in_use() {
        let sessions = Sessions::new(TIMEOUT, 10);
        let start = Instant::now();
        let a = sessions.route(None, key("1", "a").as_ref(), start, Session::default).unwrap();
        let b = sessions.route(None, key("1", "b").as_ref(), start, Session::default).unwrap();
        sessions.handled(&b.token, start + Duration::from_secs(200), false);
        let a_state = a.state.clone();
        let guard = a_state.try_lock().unwrap();
        drop(a);
        drop(b);
        let later = start + Duration::from_secs(301);
        assert_eq!(sessions.sweep(later), 0, "a is locked (in use), b was used 101 s ago");
        drop(guard);
        drop(a_state);
        assert_eq!(sessions.sweep(later), 1);
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions.sweep(start + Duration::from_secs(500)), 1);
        assert_eq!(sessions.len(), 0);
        let fresh = sessions.route(None, key("1", "a").as_ref(), later, Session::default).unwrap();
        assert_eq!(fresh.kind, RouteKind::New);
    }

    #[test]
    fn sessions_forgotten_before_they_ended_are_handed_back() {
        let sessions = Sessions::new(TIMEOUT, 10);
        let start = Instant::now();
        let open = sessions.route(None, key("1", "a").as_ref(), start, Session::default).unwrap();
        let done = sessions.route(None, key("1", "b").as_ref(), start, Session::default).unwrap();
        done.state.try_lock().unwrap().finished = true;
        sessions.handled(&done.token, start, true);
        let token = open.token.clone();
        drop((open, done));
        let (n, abandoned) = sessions.sweep_abandoned(start + TIMEOUT);
        assert_eq!(n, 2);
        assert_eq!(abandoned.len(), 1, "only the unfinished one");
        assert_eq!(abandoned[0].0, token);
    }

    #[test]
    fn a_full_table_refuses_new_sessions_until_one_expires() {
        let sessions = Sessions::new(TIMEOUT, 1);
        let now = Instant::now();
        drop(sessions.route(None, key("1", "a").as_ref(), now, Session::default).unwrap());
        assert!(matches!(sessions.route(None, key("1", "b").as_ref(), now, Session::default), Err(Refusal::Full)));
        let later = now + TIMEOUT;
        assert_eq!(sessions.route(None, key("1", "b").as_ref(), later, Session::default).unwrap().kind, RouteKind::New);
    }

    #[test]
    fn finished_sessions_give_way_and_expire_sooner() {
        let sessions = Sessions::new(TIMEOUT, 2);
        let now = Instant::now();
        let done = sessions.route(None, key("1", "a").as_ref(), now, Session::default).unwrap();
        sessions.handled(&done.token, now, true);
        drop(done);
        let busy = sessions.route(None, key("1", "b").as_ref(), now, Session::default).unwrap();
        sessions.handled(&busy.token, now, false);
        // Full: the finished session gives way, the running one stays.
        let third = sessions.route(None, key("1", "c").as_ref(), now, Session::default).unwrap();
        assert_eq!(third.kind, RouteKind::New);
        assert_eq!(sessions.len(), 2);
        drop((busy, third));
        assert!(matches!(sessions.route(None, key("1", "d").as_ref(), now, Session::default), Err(Refusal::Full)));
        // A finished session is kept FINISHED_KEEP, not the whole timeout.
        let e = Sessions::new(TIMEOUT, 10);
        let done = e.route(None, key("1", "e").as_ref(), now, Session::default).unwrap();
        e.handled(&done.token, now, true);
        drop(done);
        assert_eq!(e.sweep(now + FINISHED_KEEP - Duration::from_secs(1)), 0);
        assert_eq!(e.sweep(now + FINISHED_KEEP), 1);
    }

    #[test]
    fn restart_replaces_the_header_index() {
        let sessions = Sessions::new(TIMEOUT, 10);
        let now = Instant::now();
        let k = key("1", "a");
        let old = sessions.route(None, k.as_ref(), now, Session::default).unwrap();
        let new = sessions.start(k.as_ref(), now, Session::default()).unwrap();
        let routed = sessions.route(None, k.as_ref(), now, Session::default).unwrap();
        assert_eq!(routed.token, new.token);
        sessions.remove(&old.token);
        assert_eq!(sessions.route(None, k.as_ref(), now, Session::default).unwrap().token, new.token);
        sessions.remove(&new.token);
        assert_eq!(sessions.len(), 0);
    }
}
