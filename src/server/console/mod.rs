//! The operator console: server-rendered HTML pages under `/console` for the support desk,
//! behind the operator token of `[api] token` (and `[console] enabled`). No JavaScript.
//!
//! ```text
//! GET  /console/login                                  the token form; POST checks it, sets the cookie
//! POST /console/logout                                 forgets the cookie
//! GET  /console/                                       users, recent sessions, alerts waiting
//! GET  /console/users/{user}                           the user's devices and sessions
//! GET  /console/users/{user}/devices/{id}              one device: last sync, DevInf, quirks,
//!                                                      anchors, preferences, alerts, sessions, wire dump
//! POST /console/users/{user}/devices/{id}/slow-sync    clears its anchors: the next sync is slow
//! POST /console/users/{user}/devices/{id}/alerts/{n}/resend   sends the alert again
//! POST /console/users/{user}/devices/{id}/dump         `on=1|0` switches the wire dump; `clear=1` empties it
//! GET  /console/users/{user}/devices/{id}/dump/{seq}   one captured message, decoded as XML
//! ```
//!
//! Signing in sets an HttpOnly, SameSite=Strict cookie holding an HMAC of the token (a new
//! token signs every operator out). Every form carries a second HMAC of the token as a CSRF
//! field, checked on each POST. Actions answer 303 back to the page with a note of what was
//! done; each is logged with the operator's address.

pub mod activity;
mod pages;

use std::net::SocketAddr;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use hyper::{Method, Request, StatusCode};
use sha2::Sha256;
use tracing::{info, warn};

use super::api::percent_decode;
use super::http::{self, HttpResponse};
use super::Shared;
use crate::auth::constant_time_eq;
use crate::store::{StoreError, User};

/// The cookie that says an operator signed in.
const COOKIE_NAME: &str = "syncgate_console";

/// Largest form accepted.
const MAX_FORM: usize = 16 * 1024;

/// Serves one console request.
pub(super) async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    peer: SocketAddr,
    secure: bool,
) -> HttpResponse {
    let token = match shared.config.api.token.clone() {
        Some(token) if shared.config.console.enabled => token,
        _ => {
            return http::text(
                StatusCode::FORBIDDEN,
                "the operator console is off: set [api] token (and keep [console] enabled = true)",
            )
        }
    };
    let keys = Keys::new(&token);
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let method = req.method().clone();
    let signed_in = req
        .headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix(COOKIE_NAME)?.strip_prefix('='))
        .any(|v| constant_time_eq(v.as_bytes(), keys.cookie.as_bytes()));
    let (parts, body) = req.into_parts();
    let form = if method == Method::POST {
        match http::read_body(&parts.headers, body, MAX_FORM, super::sync::BODY_TIMEOUT).await {
            Ok(b) => parse_form(&b),
            Err(e) => return http::text(StatusCode::BAD_REQUEST, &e.to_string()),
        }
    } else {
        Vec::new()
    };
    let seg: Vec<String> =
        path.trim_start_matches("/console").split('/').filter(|s| !s.is_empty()).map(percent_decode).collect();
    let seg: Vec<&str> = seg.iter().map(String::as_str).collect();

    // Signing in and out.
    match (&method, seg.as_slice()) {
        (&Method::GET, ["login"]) => return html(StatusCode::OK, pages::login(None)),
        (&Method::POST, ["login"]) => {
            let given = field(&form, "token").unwrap_or("");
            if !constant_time_eq(given.trim().as_bytes(), token.as_bytes()) {
                warn!(%peer, "console: sign-in with a wrong operator token");
                return html(StatusCode::UNAUTHORIZED, pages::login(Some("That is not the operator token.")));
            }
            info!(%peer, "console: operator signed in");
            let mut r = redirect("/console/");
            // Secure on the TLS listener (behind a TLS proxy the browser sees https too, but
            // the gateway cannot tell: there the cookie goes without the flag).
            let secure = if secure { "; Secure" } else { "" };
            let cookie = format!("{COOKIE_NAME}={}; Path=/console; HttpOnly; SameSite=Strict{secure}", keys.cookie);
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(SET_COOKIE, v);
            }
            return r;
        }
        (&Method::POST, ["logout"]) => {
            let mut r = redirect("/console/login");
            r.headers_mut().insert(
                SET_COOKIE,
                HeaderValue::from_static("syncgate_console=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0"),
            );
            return r;
        }
        _ => {}
    }
    if !signed_in {
        return if method == Method::GET {
            redirect("/console/login")
        } else {
            http::text(StatusCode::UNAUTHORIZED, "sign in to the console first (/console/login)")
        };
    }
    if method == Method::POST
        && !field(&form, "csrf").is_some_and(|c| constant_time_eq(c.as_bytes(), keys.csrf.as_bytes()))
    {
        warn!(%peer, "console: a form without the right CSRF field: 403");
        return http::text(StatusCode::FORBIDDEN, "the form is stale or not from the console: reload the page");
    }
    let note = query.split('&').find_map(|p| p.strip_prefix("note=")).map(|n| percent_decode(&n.replace('+', " ")));
    let owned: Vec<String> = seg.iter().map(|s| s.to_string()).collect();
    let csrf = keys.csrf.clone();
    let shared2 = shared.clone();
    let routed = tokio::task::spawn_blocking(move || {
        let seg: Vec<&str> = owned.iter().map(String::as_str).collect();
        route(&shared2, &method, &seg, &form, Page { csrf: &csrf, note: note.as_deref() }, peer)
    })
    .await;
    match routed {
        Ok(Ok(response)) => response,
        Ok(Err(ConsoleError::NotFound(what))) => html(StatusCode::NOT_FOUND, pages::not_found(&what, &keys.csrf)),
        Ok(Err(ConsoleError::BadRequest(what))) => http::text(StatusCode::BAD_REQUEST, &what),
        Ok(Err(ConsoleError::Store(e))) => {
            warn!(error = %e, "console: store failure");
            http::text(StatusCode::SERVICE_UNAVAILABLE, &format!("the store failed: {e}"))
        }
        Err(e) => {
            tracing::error!("console task failed: {e}");
            http::text(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
        }
    }
}

/// What every page needs besides its data.
#[derive(Clone, Copy)]
pub(crate) struct Page<'a> {
    /// The CSRF field of the forms.
    pub csrf: &'a str,
    /// What the last action did (shown once, from `?note=`).
    pub note: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
enum ConsoleError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn route(
    shared: &Shared,
    method: &Method,
    seg: &[&str],
    form: &[(String, String)],
    page: Page<'_>,
    peer: SocketAddr,
) -> Result<HttpResponse, ConsoleError> {
    let store = shared.engine.store().as_ref();
    let user = |name: &str| -> Result<User, ConsoleError> {
        store.user_by_name(name)?.ok_or_else(|| ConsoleError::NotFound(format!("user {name}")))
    };
    let device_url = |u: &str, d: &str| format!("/console/users/{}/devices/{}", pages::url(u), pages::url(d));
    match (method, seg) {
        (&Method::GET, []) => Ok(html(StatusCode::OK, pages::overview(shared, page)?)),
        (&Method::GET, ["users", name]) => {
            let u = user(name)?;
            Ok(html(StatusCode::OK, pages::user(shared, &u, page)?))
        }
        (&Method::GET, ["users", name, "devices", id]) => {
            let u = user(name)?;
            let rec =
                store.device(u.id, id)?.ok_or_else(|| ConsoleError::NotFound(format!("device {id} of {name}")))?;
            Ok(html(StatusCode::OK, pages::device(shared, &u, &rec, page)?))
        }
        (&Method::POST, ["users", name, "devices", id, "slow-sync"]) => {
            let u = user(name)?;
            store.device(u.id, id)?.ok_or_else(|| ConsoleError::NotFound(format!("device {id} of {name}")))?;
            shared.engine.force_slow_sync(u.id, id)?;
            info!(%peer, user = %name, device = %id, "console: slow sync forced");
            Ok(redirect(&format!("{}?note=Slow+sync+forced", device_url(name, id))))
        }
        (&Method::POST, ["users", name, "devices", id, "alerts", alert, "resend"]) => {
            let u = user(name)?;
            let Some(notifier) = &shared.notifier else {
                return Err(ConsoleError::BadRequest("server-initiated sync is off ([notify] enabled)".into()));
            };
            let n: i64 = alert.parse().map_err(|_| ConsoleError::BadRequest(format!("alert {alert}")))?;
            let old = store
                .device_alerts(u.id, id, 0)?
                .into_iter()
                .find(|a| a.id == n)
                .ok_or_else(|| ConsoleError::NotFound(format!("alert {n} of {id}")))?;
            let sent = notifier.resend(&old)?;
            info!(%peer, user = %name, device = %id, alert = n, now = sent, "console: alert resent");
            Ok(redirect(&format!("{}?note=Alert+{sent}+will+go+out+now", device_url(name, id))))
        }
        (&Method::POST, ["users", name, "devices", id, "dump"]) => {
            let u = user(name)?;
            store.device(u.id, id)?.ok_or_else(|| ConsoleError::NotFound(format!("device {id} of {name}")))?;
            let note = if field(form, "clear") == Some("1") {
                shared.dumps.clear(name, id);
                "Wire+dump+cleared"
            } else {
                let on = field(form, "on") == Some("1");
                shared.dumps.switch(name, id, on);
                info!(%peer, user = %name, device = %id, on, "console: wire dump switched");
                if on {
                    "Wire+dump+on"
                } else {
                    "Wire+dump+off"
                }
            };
            Ok(redirect(&format!("{}?note={note}#dump", device_url(name, id))))
        }
        (&Method::GET, ["users", name, "devices", id, "dump", seq]) => {
            user(name)?;
            let n: u64 = seq.parse().map_err(|_| ConsoleError::NotFound(format!("message {seq}")))?;
            let m = shared.dumps.get(name, id, n).ok_or_else(|| ConsoleError::NotFound(format!("message {n}")))?;
            Ok(html(StatusCode::OK, pages::dumped(shared, name, id, &m, page)))
        }
        (&Method::GET, _) => Err(ConsoleError::NotFound(format!("page /console/{}", seg.join("/")))),
        _ => Err(ConsoleError::BadRequest(format!("no such action: {method} /console/{}", seg.join("/")))),
    }
}

/// The cookie value and the CSRF field, both derived from the operator token.
struct Keys {
    cookie: String,
    csrf: String,
}

impl Keys {
    fn new(token: &str) -> Keys {
        let mac = |what: &[u8]| {
            let mut m = <Hmac<Sha256> as Mac>::new_from_slice(token.as_bytes())
                .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
            m.update(what);
            m.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        Keys { cookie: mac(b"syncgate console session v1"), csrf: mac(b"syncgate console form v1") }
    }
}

/// `application/x-www-form-urlencoded` pairs.
fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(&k.replace('+', " ")), percent_decode(&v.replace('+', " ")))
        })
        .collect()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn html(status: StatusCode, body: String) -> HttpResponse {
    let mut r = http::bytes(status, "text/html; charset=utf-8", hyper::body::Bytes::from(body));
    r.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut().insert(
        hyper::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"),
    );
    r.headers_mut().insert(hyper::header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

fn redirect(to: &str) -> HttpResponse {
    let mut r = http::text(StatusCode::SEE_OTHER, &format!("see {to}"));
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(LOCATION, v);
    }
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_keys() {
        let f = parse_form(b"token=a+b%26c&csrf=x&empty=");
        assert_eq!(field(&f, "token"), Some("a b&c"));
        assert_eq!(field(&f, "empty"), Some(""));
        assert_eq!(field(&f, "missing"), None);
        let (a, b) = (Keys::new("one"), Keys::new("two"));
        assert_ne!(a.cookie, b.cookie, "another token signs every operator out");
        assert_ne!(a.cookie, a.csrf);
        assert_eq!(a.cookie.len(), 64);
    }
}
