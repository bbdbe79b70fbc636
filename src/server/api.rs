//! The service API: JSON over HTTP under `/api/v1` for the messaging service, web clients and
//! operators (the sync endpoint keeps SyncML auth). Every request brings the operator token of
//! the configuration as `Authorization: Bearer TOKEN`; without a configured token the API is off.
//! The description is `schemas/openapi.yaml`. Bad requests get 4xx with `{"error": "..."}`.
//!
//! ```text
//! GET    /api/v1/users                                   list users
//! POST   /api/v1/users                {name, password}   create a user (201)
//! DELETE /api/v1/users/{user}                            delete a user and everything of it
//! PUT    /api/v1/users/{user}/password  {password}       set a password
//! GET    /api/v1/users/{user}/devices                    devices with their last sync
//! DELETE /api/v1/users/{user}/devices/{id}               forget a device (next sync is a first one)
//! POST   /api/v1/users/{user}/devices/{id}/slow-sync     force a slow sync of every datastore
//! PUT    /api/v1/users/{user}/devices/{id}/prefs  {mode, channel, …}  sync preferences (issue 7)
//! GET    /api/v1/users/{user}/devices/{id}/prefs         the preferences and the next run
//! DELETE /api/v1/users/{user}/devices/{id}/prefs         no more alerts for the device
//! GET    /api/v1/users/{user}/devices/{id}/alerts        its alerts and their delivery state
//! GET    /api/v1/users/{user}/{store}                    the tree of `messages` or `content`
//! POST   /api/v1/users/{user}/{store}/folders  {name, parent?}            create a folder (201)
//! PATCH  /api/v1/users/{user}/{store}/items/{guid}  {name?, parent?}      rename and/or move
//! DELETE /api/v1/users/{user}/{store}/items/{guid}[?recursive=true]     delete (folders: empty,
//!                                                                         or with contents)
//! POST   /api/v1/users/{user}/content/files  {name, parent?, content_type, body_base64}  upload
//! GET    /api/v1/users/{user}/content/files/{guid}       download the bytes
//! POST   /api/v1/users/{user}/messages/deposit  {rfc822, folder?, states?}  deposit (201)
//! GET    /api/v1/users/{user}/messages/items/{guid}      {states, rfc822}
//! PUT    /api/v1/users/{user}/messages/items/{guid}/states  {seen, flagged, …}
//! ```
//! `{store}` is `messages` or `content` (the datastores named in `[api]`); `parent: null` is the
//! top of the tree.

use std::sync::Arc;

use base64::Engine as _;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use tracing::{info, warn};

use super::http::{self, HttpResponse};
use super::Shared;
use crate::auth::{constant_time_eq, md5_secret};
use crate::cpm::service::{ServiceError, States, Storage};
use crate::notify::prefs::SyncPrefs;
use crate::server::notifier::{Clock as _, Notifier, SystemClock};
use crate::store::{StoreError, User};

/// Serves one API request.
pub(super) async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> HttpResponse {
    let Some(token) = shared.config.api.token.as_deref() else {
        return error(StatusCode::FORBIDDEN, "the service API is off: set [api] token in the configuration");
    };
    let given = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if !given.is_some_and(|g| constant_time_eq(g.trim().as_bytes(), token.as_bytes())) {
        warn!("API request without the operator token: 401");
        return error(StatusCode::UNAUTHORIZED, "missing or wrong operator token (Authorization: Bearer TOKEN)");
    }
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    // The one query parameter: `recursive=true` on DELETE of a folder.
    let recursive =
        req.uri().query().is_some_and(|q| q.split('&').any(|p| p == "recursive=true" || p == "recursive=1"));
    let (parts, body) = req.into_parts();
    let body =
        match http::read_body(&parts.headers, body, shared.config.max_body_bytes, super::sync::BODY_TIMEOUT).await {
            Ok(b) => b,
            Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
        };
    let segments: Vec<String> =
        path.trim_start_matches("/api/v1").split('/').filter(|s| !s.is_empty()).map(percent_decode).collect();
    let shared2 = shared.clone();
    let outcome = tokio::task::spawn_blocking(move || route(&shared2, &method, &segments, &body, recursive)).await;
    match outcome {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => {
            info!(%path, "API request refused: {e}");
            api_error(e)
        }
        Err(e) => {
            tracing::error!("the API handler failed: {e}");
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

/// Errors of the API: the service's, plus the request's own.
#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("bad JSON: {0}")]
    Json(String),
    #[error("no such resource: {0}")]
    NoRoute(String),
    #[error("method not allowed")]
    Method,
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::Service(match e {
            StoreError::NotFound(what) => ServiceError::NotFound(what),
            StoreError::AlreadyExists(what) => ServiceError::Invalid(format!("{what} already exists")),
            StoreError::Invalid(what) => ServiceError::Invalid(what),
            other => ServiceError::Store(other),
        })
    }
}

fn api_error(e: ApiError) -> HttpResponse {
    let status = match &e {
        ApiError::Service(ServiceError::NotFound(_)) | ApiError::NoRoute(_) => StatusCode::NOT_FOUND,
        ApiError::Service(ServiceError::Invalid(_)) | ApiError::Json(_) => StatusCode::BAD_REQUEST,
        ApiError::Service(ServiceError::NotEmpty(_)) | ApiError::Service(ServiceError::Cycle(_)) => {
            StatusCode::CONFLICT
        }
        ApiError::Method => StatusCode::METHOD_NOT_ALLOWED,
        ApiError::Service(ServiceError::Store(_)) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, &e.to_string())
}

fn error(status: StatusCode, message: &str) -> HttpResponse {
    json_response(status, &json!({ "error": message }))
}

fn json_response(status: StatusCode, value: &Value) -> HttpResponse {
    let mut r = http::bytes(status, "application/json", hyper::body::Bytes::from(value.to_string()));
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::Json(e.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Password {
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewFolder {
    name: String,
    #[serde(default)]
    parent: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Patch {
    #[serde(default)]
    name: Option<String>,
    /// Absent: stays; `null`: to the top; a GUID: into that folder.
    #[serde(default, with = "double_option")]
    parent: Option<Option<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Upload {
    name: String,
    #[serde(default)]
    parent: Option<String>,
    content_type: String,
    body_base64: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Deposit {
    rfc822: String,
    #[serde(default)]
    folder: Option<String>,
    #[serde(default)]
    states: States,
}

/// Tells an absent field from an explicit `null`.
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
        Ok(Some(Option::deserialize(d)?))
    }
}

fn route(
    shared: &Shared,
    method: &Method,
    seg: &[String],
    body: &[u8],
    recursive: bool,
) -> Result<HttpResponse, ApiError> {
    let store = shared.engine.store().as_ref();
    let seg: Vec<&str> = seg.iter().map(String::as_str).collect();
    let ok = |v: Value| Ok(json_response(StatusCode::OK, &v));
    let created = |v: Value| Ok(json_response(StatusCode::CREATED, &v));
    let user = |name: &str| -> Result<User, ApiError> {
        store.user_by_name(name)?.ok_or_else(|| ApiError::Service(ServiceError::NotFound(format!("user {name}"))))
    };
    let now = timestamp();
    match (method, seg.as_slice()) {
        (&Method::GET, ["users"]) => {
            let users: Vec<Value> = store.list_users()?.into_iter().map(|u| json!({ "name": u.name })).collect();
            ok(json!({ "users": users }))
        }
        (&Method::POST, ["users"]) => {
            let n: NewUser = parse(body)?;
            if n.name.is_empty() || n.password.is_empty() {
                return Err(ServiceError::Invalid("name and password must not be empty".into()).into());
            }
            store.create_user(&n.name, &md5_secret(&n.name, &n.password))?;
            created(json!({ "name": n.name }))
        }
        (&Method::DELETE, ["users", name]) => {
            user(name)?;
            store.delete_user(name)?;
            ok(json!({ "deleted": name }))
        }
        (&Method::PUT, ["users", name, "password"]) => {
            user(name)?;
            let p: Password = parse(body)?;
            store.set_user_secret(name, &md5_secret(name, &p.password))?;
            ok(json!({ "name": name }))
        }
        (&Method::GET, ["users", name, "devices"]) => {
            let u = user(name)?;
            let devices: Vec<Value> = store
                .list_devices(u.id)?
                .into_iter()
                .map(|d| json!({ "device_id": d.device_id, "last_sync": d.last_sync, "devinf": d.devinf.is_some() }))
                .collect();
            ok(json!({ "devices": devices }))
        }
        (&Method::DELETE, ["users", name, "devices", id]) => {
            let u = user(name)?;
            store.device(u.id, id)?.ok_or_else(|| ServiceError::NotFound(format!("device {id}")))?;
            store.delete_device(u.id, id)?;
            ok(json!({ "forgotten": id }))
        }
        (&Method::POST, ["users", name, "devices", id, "slow-sync"]) => {
            let u = user(name)?;
            store.device(u.id, id)?.ok_or_else(|| ServiceError::NotFound(format!("device {id}")))?;
            shared.engine.force_slow_sync(u.id, id)?;
            ok(json!({ "device_id": id, "next_sync": "slow" }))
        }
        (&Method::PUT, ["users", name, "devices", id, "prefs"]) => {
            let u = user(name)?;
            let text = std::str::from_utf8(body).map_err(|e| ApiError::Json(e.to_string()))?;
            let prefs = SyncPrefs::parse(text).map_err(|e| ApiError::Service(ServiceError::Invalid(e.to_string())))?;
            match &shared.notifier {
                Some(n) => n.set_prefs(u.id, id, Some(&prefs))?,
                None => {
                    let next = Notifier::next_of(&prefs, SystemClock.now_ms());
                    store.set_device_prefs(u.id, id, Some(&prefs.to_json()), next)?;
                }
            }
            let rec = store.device_prefs(u.id, id)?;
            ok(json!({ "device_id": id, "prefs": prefs, "next_run": rec.and_then(|r| r.next_run) }))
        }
        (&Method::GET, ["users", name, "devices", id, "prefs"]) => {
            let u = user(name)?;
            let rec =
                store.device_prefs(u.id, id)?.ok_or_else(|| ServiceError::NotFound(format!("preferences of {id}")))?;
            let prefs: Value = serde_json::from_str(&rec.prefs).unwrap_or(Value::Null);
            ok(json!({ "device_id": id, "prefs": prefs, "next_run": rec.next_run }))
        }
        (&Method::DELETE, ["users", name, "devices", id, "prefs"]) => {
            let u = user(name)?;
            store.device_prefs(u.id, id)?.ok_or_else(|| ServiceError::NotFound(format!("preferences of {id}")))?;
            store.set_device_prefs(u.id, id, None, None)?;
            ok(json!({ "device_id": id, "prefs": null }))
        }
        (&Method::GET, ["users", name, "devices", id, "alerts"]) => {
            let u = user(name)?;
            let alerts: Vec<Value> = store
                .device_alerts(u.id, id, 0)?
                .into_iter()
                .map(|a| {
                    json!({ "id": a.id, "datastores": a.datastores, "reason": a.reason, "created": a.created,
                            "due": a.due, "state": a.state.as_str(), "attempts": a.attempts, "sent": a.sent,
                            "error": a.error })
                })
                .collect();
            ok(json!({ "device_id": id, "alerts": alerts }))
        }
        (_, ["users", name, area, rest @ ..]) if matches!(*area, "messages" | "content") => {
            let u = user(name)?;
            let datastore = if *area == "messages" {
                &shared.config.api.messages_datastore
            } else {
                &shared.config.api.content_datastore
            };
            let s = Storage { store, user: u.id, datastore };
            match (method, *area, rest) {
                (&Method::GET, _, []) => ok(json!({ "items": s.tree()? })),
                (&Method::POST, _, ["folders"]) => {
                    let f: NewFolder = parse(body)?;
                    created(json!({ "guid": s.create_folder(f.parent.as_deref(), &f.name, &now)? }))
                }
                (&Method::PATCH, _, ["items", guid]) => {
                    let p: Patch = parse(body)?;
                    if let Some(name) = &p.name {
                        s.rename(guid, name)?;
                    }
                    if let Some(parent) = &p.parent {
                        s.move_to(guid, parent.as_deref())?;
                    }
                    ok(json!({ "guid": guid }))
                }
                (&Method::DELETE, _, ["items", guid]) => {
                    let n = s.delete(guid, recursive)?;
                    ok(json!({ "deleted": guid, "items": n }))
                }
                (&Method::POST, "content", ["files"]) => {
                    let up: Upload = parse(body)?;
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(up.body_base64.as_bytes())
                        .map_err(|e| ApiError::Json(format!("body_base64: {e}")))?;
                    created(
                        json!({ "guid": s.upload_file(up.parent.as_deref(), &up.name, &up.content_type, bytes, &now)? }),
                    )
                }
                (&Method::GET, "content", ["files", guid]) => {
                    let (ct, bytes) = s.download(guid)?;
                    let ct = HeaderValue::from_str(&ct).unwrap_or(HeaderValue::from_static("application/octet-stream"));
                    let mut r = http::bytes(StatusCode::OK, "application/octet-stream", bytes.into());
                    r.headers_mut().insert(CONTENT_TYPE, ct);
                    Ok(r)
                }
                (&Method::POST, "messages", ["deposit"]) => {
                    let d: Deposit = parse(body)?;
                    let guid = s.deposit_message(d.folder.as_deref(), d.rfc822.into_bytes(), d.states, &now)?;
                    created(json!({ "guid": guid }))
                }
                (&Method::GET, "messages", ["items", guid]) => {
                    let (states, text) = s.fetch_message(guid)?;
                    ok(json!({ "guid": guid, "states": states, "rfc822": String::from_utf8_lossy(&text) }))
                }
                (&Method::PUT, "messages", ["items", guid, "states"]) => {
                    let states: States = parse(body)?;
                    s.set_states(guid, states)?;
                    ok(json!({ "guid": guid, "states": states }))
                }
                _ => Err(ApiError::NoRoute(format!("{method} {area}/{}", rest.join("/")))),
            }
        }
        (_, ["users", ..]) => Err(ApiError::Method),
        _ => Err(ApiError::NoRoute(seg.join("/"))),
    }
}

/// `%2F` and friends in a path segment.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The current time as the data objects write it (`YYYYMMDDTHHMMSSZ`).
fn timestamp() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let (h, m, s) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}{mo:02}{d:02}T{h:02}{m:02}{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(percent_decode("favourite%20song"), "favourite song");
        assert_eq!(percent_decode("100%"), "100%");
        let t = timestamp();
        assert!(t.len() == 16 && t.starts_with("20") && t.ends_with('Z'), "{t}");
    }
}
