//! The SyncML endpoint: one POST = one SyncML message (PROTOCOL.md §1.1).
//!
//! Reads the body under the size limit, tells the encoding from the Content-Type or the bytes,
//! decodes, finds the session ([`super::sessions`]), replays the cached reply for a resend, else
//! runs the engine on a blocking thread with the session locked and answers in the request's
//! encoding. Client mistakes get 4xx with a one-line reason, never 500; 500 is kept for our own
//! failures (a panicking engine, an unencodable reply), which are logged as errors.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hyper::body::{Body as _, Incoming};
use hyper::header::{CONTENT_TYPE, USER_AGENT};
use hyper::{Request, StatusCode};
use tokio::sync::OwnedMutexGuard;
use tracing::field::Empty;
use tracing::{debug, error, info_span, warn, Instrument as _, Span};

use super::console::activity::SessionRecord;
use super::http::{self, BodyError, HttpResponse};
use super::sessions::{BodyDigest, CachedReply, HeaderKey, Refusal, RouteKind, Routed, SessionState, SessionToken};
use super::user_locks::{self, Busy};
use super::Shared;
use crate::codec::{self, DecodeErrorKind, Encoding};
use crate::engine::stats::Flow;
use crate::engine::Context;
use crate::proto::Message;

/// How long a client may take to send a request body.
pub(super) const BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// Handles a POST on the sync path; logs the outcome at debug level in the request's span.
pub(super) async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    peer: SocketAddr,
    local: SocketAddr,
    secure: bool,
) -> HttpResponse {
    let span = info_span!("sync", %peer, sid = Empty, user = Empty, device = Empty, datastores = Empty);
    async move {
        let started = Instant::now();
        let (response, request_bytes) = exchange(&shared, req, local, secure).await;
        if response.status() == StatusCode::OK {
            shared.metrics.message(started.elapsed());
        }
        debug!(
            status = response.status().as_u16(),
            request_bytes,
            response_bytes = response.body().size_hint().exact().unwrap_or(0),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request done"
        );
        response
    }
    .instrument(span)
    .await
}

/// The whole exchange; returns the response and the size of the request body.
async fn exchange(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    local: SocketAddr,
    secure: bool,
) -> (HttpResponse, usize) {
    let (parts, body) = req.into_parts();
    let config = &shared.config;
    let body = match http::read_body(&parts.headers, body, config.max_body_bytes, BODY_TIMEOUT).await {
        Ok(body) => body,
        Err(e) => return (body_error(e), 0),
    };
    let size = body.len();
    let declared = parts.headers.get(CONTENT_TYPE).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    if declared.as_deref().and_then(Encoding::from_content_type).is_none() && codec::sniff(&body).is_none() {
        let shown = declared.as_deref().unwrap_or("none");
        warn!(content_type = shown, "refused: not a SyncML message");
        let reason = format!(
            "expected a SyncML message (application/vnd.syncml+xml or application/vnd.syncml+wbxml), got content type {shown}"
        );
        return (http::text(StatusCode::UNSUPPORTED_MEDIA_TYPE, &reason), size);
    }
    let (encoding, msg) = match decode(shared, body.clone()).await {
        Ok(decoded) => decoded,
        Err(response) => return (response, size),
    };
    let sid = http::query_param(parts.uri.query(), "sid");
    let base = match config.public_base() {
        Some(base) => base.to_string(),
        None => http::base_from_host(&parts.headers, local, secure),
    };
    let user_agent = parts.headers.get(USER_AGENT).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let request = RequestFacts { digest: BodyDigest::of(&body), encoding, base, user_agent, raw: body };
    (run_in_session(shared, sid, msg, request).await, size)
}

/// What the session part needs to know about the request besides the message.
struct RequestFacts {
    digest: BodyDigest,
    encoding: Encoding,
    /// Scheme and authority (and prefix) of the RespURI.
    base: String,
    /// The User-Agent header (device quirks are keyed by it).
    user_agent: Option<String>,
    /// The message as received (for a wire dump the operator switched on).
    raw: hyper::body::Bytes,
}

/// Decodes on a blocking thread (up to `max_body_bytes` of XML or WBXML).
async fn decode(shared: &Arc<Shared>, body: hyper::body::Bytes) -> Result<(Encoding, Message), HttpResponse> {
    let limits = shared.config.limits;
    match tokio::task::spawn_blocking(move || codec::decode_message(&body, &limits)).await {
        Ok(Ok(decoded)) => Ok(decoded),
        Ok(Err(e)) => {
            warn!("refused: undecodable message: {e}");
            Err(match e.kind {
                DecodeErrorKind::InputTooLarge { .. } => http::text(StatusCode::PAYLOAD_TOO_LARGE, &e.to_string()),
                _ => http::text(StatusCode::BAD_REQUEST, &format!("malformed SyncML message: {e}")),
            })
        }
        Err(e) => {
            error!("the decoder failed: {e}");
            Err(internal())
        }
    }
}

/// Routes to a session, replays or runs the engine, remembers the reply.
async fn run_in_session(shared: &Arc<Shared>, sid: Option<&str>, msg: Message, request: RequestFacts) -> HttpResponse {
    let sessions = &shared.sessions;
    let key = HeaderKey::new(&msg.header.session_id, &msg.header.source.loc_uri);
    let msg_id = msg.header.msg_id;
    let now = Instant::now();
    let mut routed = match sessions.route(sid, key.as_ref(), now, || shared.engine.new_session()) {
        Ok(routed) => routed,
        Err(refusal) => return refused(refusal, &shared.config.sync_path),
    };
    shared.drain.touch(now);
    if routed.kind == RouteKind::New && shared.drain.is_draining() {
        sessions.remove(&routed.token);
        return shutting_down();
    }
    let mut guard = routed.state.clone().lock_owned().await;
    if let Some(cached) = guard.replay(&request.digest) {
        Span::current().record("sid", routed.token.short());
        debug!(msg_id, "resend of the last request: replaying the cached reply");
        sessions.handled(&routed.token, Instant::now(), guard.finished);
        return http::bytes(StatusCode::OK, cached.content_type, cached.body);
    }
    // A message that is not the next one of the session it reached starts a new session: the
    // engine ended the session (e.g. after 401 libsynthesis sends its next credential in the
    // same SessionID), or a client reuses its SessionID without following RespURI.
    let restart = match routed.kind {
        RouteKind::Header => guard.finished || msg_id <= guard.last_msg_id,
        RouteKind::Token => guard.finished,
        RouteKind::New => false,
    };
    if restart && shared.drain.is_draining() {
        return shutting_down();
    }
    if restart {
        debug!(msg_id, last_msg_id = guard.last_msg_id, finished = guard.finished, "starting a new session");
        drop(guard);
        routed = match sessions.start(key.as_ref(), now, shared.engine.new_session()) {
            Ok(routed) => routed,
            Err(refusal) => return refused(refusal, &shared.config.sync_path),
        };
        guard = routed.state.clone().lock_owned().await;
    }
    Span::current().record("sid", routed.token.short());
    let known = record_session(&guard, (false, false, false));
    call_engine(shared, routed, guard, msg, request, known).await
}

/// Runs the engine on a blocking thread with the session locked, encodes and caches the reply.
async fn call_engine(
    shared: &Arc<Shared>,
    routed: Routed,
    mut guard: OwnedMutexGuard<SessionState>,
    msg: Message,
    request: RequestFacts,
    known: (bool, bool, bool),
) -> HttpResponse {
    let msg_id = msg.header.msg_id;
    if let Err(busy) = hold_user_lease(shared, &routed, &mut guard).await {
        warn!("refused: {busy}, still running after {:?}", user_locks::WAIT);
        return http::text(StatusCode::SERVICE_UNAVAILABLE, &format!("{busy}; try again later"));
    }
    let ctx = Context {
        resp_uri: format!("{}{}?sid={}", request.base, shared.config.sync_path, routed.token.as_str()),
        now: unix_now(),
        encoding: request.encoding,
        user_agent: request.user_agent,
        suspend: shared.drain.is_draining(),
    };
    let engine = shared.engine.clone();
    let span = Span::current();
    let outcome = tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let reply = engine.handle(&mut guard.session, msg, &ctx);
        // The request's encoding unless a device quirk forces one.
        let encoded = codec::encode_message(&reply.message, reply.encoding);
        (guard, reply.finished, reply.encoding, encoded)
    })
    .await;
    let (mut guard, finished, encoding, encoded) = match outcome {
        Ok(outcome) => outcome,
        Err(e) => {
            error!("the engine failed: {e}; session dropped");
            shared.sessions.remove(&routed.token);
            return internal();
        }
    };
    let body = match encoded {
        Ok(body) => hyper::body::Bytes::from(body),
        Err(e) => {
            error!("the engine's reply cannot be encoded: {e}; session dropped");
            shared.sessions.remove(&routed.token);
            return internal();
        }
    };
    if finished {
        shared.metrics.session_ended(guard.session.stats());
        shared.history.push(SessionRecord::of(&guard.session, routed.token.short(), None));
    }
    if shared.dumps.any_on() {
        if let (Some(user), Some(device)) = (guard.session.user(), guard.session.device()) {
            let (sid, now) = (routed.token.short(), unix_now());
            shared.dumps.record(user, device, (Flow::FromClient, request.encoding, &request.raw), sid, now);
            shared.dumps.record(user, device, (Flow::ToClient, encoding, &body), sid, now);
        }
    }
    let reply = CachedReply { body: body.clone(), content_type: encoding.content_type() };
    guard.record(request.digest, msg_id, reply, finished);
    record_session(&guard, known);
    drop(guard);
    shared.sessions.handled(&routed.token, Instant::now(), finished);
    if finished {
        debug!("session finished");
    }
    http::bytes(StatusCode::OK, encoding.content_type(), body)
}

/// Makes sure a session past its first message holds the lease of its user (waiting for
/// another session of the user to end), and forgets the session it was taken from, if any.
async fn hold_user_lease(
    shared: &Arc<Shared>,
    routed: &Routed,
    guard: &mut OwnedMutexGuard<SessionState>,
) -> Result<(), Busy> {
    if guard.user_lease.is_some() || guard.finished {
        return Ok(());
    }
    // Before its first message a session knows no user; after it, an unfinished session's user
    // is authenticated (a refused login ends the session).
    let (Some(user), Some(device)) = (guard.session.user(), guard.session.device()) else { return Ok(()) };
    let (user, device) = (user.to_string(), device.to_string());
    let sessions = &shared.sessions;
    let stale = |holder: &SessionToken| {
        sessions.idle_for(holder, Instant::now()).is_none_or(|idle| idle >= user_locks::IDLE_TAKEOVER)
    };
    let token = &routed.token;
    let granted = match shared.user_locks.try_acquire(&user, &device, token, stale) {
        Ok(granted) => granted,
        Err(holder) => {
            debug!(holder = holder.short(), "waiting for another session of the user");
            let granted = shared.user_locks.acquire(&user, &device, token, user_locks::WAIT, stale).await?;
            debug!("got the user's lease");
            granted
        }
    };
    if let Some(old) = granted.taken_from {
        warn!(old = old.short(), "took the user's lease over from an abandoned session; it is forgotten");
        sessions.remove(&old);
    }
    guard.user_lease = Some(granted.lease);
    Ok(())
}

/// Puts user, device and the session's datastores into the request's span, those not
/// recorded yet (`recorded`); returns which are recorded now.
fn record_session(state: &SessionState, recorded: (bool, bool, bool)) -> (bool, bool, bool) {
    let span = Span::current();
    let (user, device) = (state.session.user(), state.session.device());
    if let (Some(user), false) = (user, recorded.0) {
        span.record("user", user);
    }
    if let (Some(device), false) = (device, recorded.1) {
        span.record("device", device);
    }
    let datastores = state.session.datastore_names();
    if !datastores.is_empty() && !recorded.2 {
        span.record("datastores", datastores.join(",").as_str());
    }
    (recorded.0 || user.is_some(), recorded.1 || device.is_some(), recorded.2 || !datastores.is_empty())
}

fn refused(refusal: Refusal, sync_path: &str) -> HttpResponse {
    match refusal {
        Refusal::UnknownSession => {
            warn!("refused: unknown or expired session token");
            http::text(
                StatusCode::NOT_FOUND,
                &format!("unknown or expired session: start a new session at {sync_path} without sid"),
            )
        }
        Refusal::Full => {
            warn!("refused: the session table is full");
            http::text(StatusCode::SERVICE_UNAVAILABLE, "too many sessions, try again later")
        }
        Refusal::Random(e) => {
            error!("no randomness for a session token: {e}");
            internal()
        }
    }
}

/// 503 for a new session while the gateway drains before stopping.
fn shutting_down() -> HttpResponse {
    warn!("refused: a new session while the gateway is shutting down");
    let mut response = http::text(StatusCode::SERVICE_UNAVAILABLE, "the gateway is shutting down, try again later");
    response.headers_mut().insert(hyper::header::RETRY_AFTER, hyper::header::HeaderValue::from_static("30"));
    response
}

fn body_error(e: BodyError) -> HttpResponse {
    warn!("refused: {e}");
    let status = match e {
        BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        BodyError::TimedOut(_) => StatusCode::REQUEST_TIMEOUT,
        BodyError::Read(_) => StatusCode::BAD_REQUEST,
    };
    http::text(status, &e.to_string())
}

fn internal() -> HttpResponse {
    http::text(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
}

/// The only clock read of the gateway's protocol time: Unix seconds for [`Context::now`].
fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
