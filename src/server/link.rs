//! `GET /link/{user}/{datastore}/{guid}`: the whole file or message behind a link a device got
//! with an item's details (list-plus-link partial sync, `cpm::link`, `cpm::shape`).
//!
//! Access: the link's signature (`?exp=…&sig=…`, bound to user and item, expiring), or HTTP
//! basic authentication as the item's user. Answers: 200 with the file's bytes (its own content
//! type, `Content-Disposition` with its name) or the message (`message/rfc822`); 206 for a
//! `Range: bytes=…` request (one range; several are answered whole), 416 for a range past the
//! end; 401 without credentials; 403 for an altered, another user's, expired or revoked link and
//! for another user's credentials; 404 once the item is deleted. Each refusal is logged with its
//! reason. HEAD answers the same headers without the body.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{
    HeaderValue, ACCEPT_RANGES, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE,
};
use hyper::{Method, Request, Response, StatusCode};
use tracing::{debug, info, warn};

use crate::auth::{constant_time_eq, md5_secret};
use crate::cpm::link::{self, LinkKey};
use crate::cpm::objects::{Email, File, EMAIL_TYPE, FILE_TYPE};
use crate::server::http::{self, HttpResponse};
use crate::server::Shared;

pub(in crate::server) async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> HttpResponse {
    let head = match *req.method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => return http::method_not_allowed("GET, HEAD"),
    };
    let Some(target) = link::parse_path(req.uri().path()) else {
        return http::text(StatusCode::NOT_FOUND, "not a link: /link/{user}/{datastore}/{item}");
    };
    let query = req.uri().query();
    let signed = (http::query_param(query, "exp"), http::query_param(query, "sig"));
    let creds = http::basic_auth(req.headers());
    let store = shared.engine.store().clone();
    let (t, secret) = (target.clone(), shared.config.engine.links.secret.clone());
    let looked_up = tokio::task::spawn_blocking(move || -> Result<_, crate::store::StoreError> {
        let Some(user) = store.user_by_name(&t.user)? else { return Ok(None) };
        let item = store.item(user.id, &t.datastore, &t.guid)?;
        Ok(Some((user, item)))
    })
    .await;
    let (user, item) = match looked_up {
        Ok(Ok(Some(found))) => found,
        Ok(Ok(None)) => {
            warn!(user = %target.user, "link of an unknown user refused: 403");
            return http::text(StatusCode::FORBIDDEN, "this link is not valid");
        }
        Ok(Err(e)) => {
            warn!(error = %e, "link: store failure");
            return http::text(StatusCode::SERVICE_UNAVAILABLE, "store unavailable; try again");
        }
        Err(e) => {
            warn!(error = %e, "link: task failure");
            return http::text(StatusCode::SERVICE_UNAVAILABLE, "try again");
        }
    };
    match signed {
        (Some(exp), Some(sig)) => {
            let key = LinkKey::for_user(&secret, &user.secret);
            if let Err(e) = link::verify(&key, &target, exp, sig, unix_now()) {
                warn!(user = %target.user, datastore = %target.datastore, item = %target.guid, "link refused: {e}");
                return http::text(StatusCode::FORBIDDEN, &e.to_string());
            }
        }
        _ => match creds {
            None => {
                let mut r = http::text(
                    StatusCode::UNAUTHORIZED,
                    "a signed link (?exp=…&sig=…) or the user's credentials (HTTP basic) are needed",
                );
                r.headers_mut()
                    .insert(hyper::header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"syncgate\""));
                return r;
            }
            Some((name, password)) => {
                let ok = name == user.name
                    && constant_time_eq(user.secret.as_bytes(), md5_secret(&name, &password).as_bytes());
                if !ok {
                    warn!(link_user = %target.user, as_user = %name, "link with credentials that are not its user's: 403");
                    return http::text(StatusCode::FORBIDDEN, "these credentials are not this item's user's");
                }
            }
        },
    }
    let Some(item) = item else {
        info!(user = %target.user, datastore = %target.datastore, item = %target.guid, "link of a deleted item: 404");
        return http::text(StatusCode::NOT_FOUND, "the item no longer exists");
    };
    let base = item.content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let (bytes, content_type, name) = match base.as_str() {
        FILE_TYPE => match File::parse(&item.data) {
            Ok(File { body: Some(body), cttype, name, .. }) => {
                (body, cttype.unwrap_or_else(|| "application/octet-stream".into()), Some(name))
            }
            Ok(_) => return http::text(StatusCode::NOT_FOUND, "the file is stored without its bytes"),
            Err(e) => {
                warn!(error = %e, "link: stored file unreadable");
                return http::text(StatusCode::NOT_FOUND, "the stored file is unreadable");
            }
        },
        EMAIL_TYPE => match Email::parse(&item.data) {
            Ok(e) => (e.emailitem, "message/rfc822".to_string(), None),
            Err(e) => {
                warn!(error = %e, "link: stored message unreadable");
                return http::text(StatusCode::NOT_FOUND, "the stored message is unreadable");
            }
        },
        _ => return http::text(StatusCode::NOT_FOUND, "only files and messages have links"),
    };
    let total = bytes.len() as u64;
    let range = req.headers().get(RANGE).and_then(|v| v.to_str().ok()).map(|r| parse_range(r, total));
    let (status, slice) = match range {
        Some(Range::Unsatisfiable) => {
            let mut r = http::text(StatusCode::RANGE_NOT_SATISFIABLE, "the range is outside the object");
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{total}")) {
                r.headers_mut().insert(CONTENT_RANGE, v);
            }
            return r;
        }
        Some(Range::Bytes(a, b)) => (StatusCode::PARTIAL_CONTENT, Some((a, b))),
        Some(Range::Whole) | None => (StatusCode::OK, None),
    };
    let body = match slice {
        Some((a, b)) => Bytes::copy_from_slice(&bytes[a as usize..=b as usize]),
        None => Bytes::from(bytes),
    };
    debug!(user = %target.user, item = %target.guid, status = status.as_u16(), bytes = body.len(), "link served");
    let len = body.len();
    let mut r = Response::new(Full::new(if head { Bytes::new() } else { body }));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_str(&content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if let Some((a, b)) = slice {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {a}-{b}/{total}")) {
            h.insert(CONTENT_RANGE, v);
        }
    }
    if let Some(name) = name {
        let safe: String = name.chars().filter(|c| !c.is_control() && *c != '"' && *c != '\\').collect();
        if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{safe}\"")) {
            h.insert(CONTENT_DISPOSITION, v);
        }
    }
    r
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// What a `Range` header asks of an object of `total` bytes.
#[derive(Debug, PartialEq, Eq)]
enum Range {
    /// First and last byte, inclusive.
    Bytes(u64, u64),
    /// Not a single byte range we serve partially: the whole object (RFC 9110 allows that).
    Whole,
    Unsatisfiable,
}

fn parse_range(header: &str, total: u64) -> Range {
    let Some(spec) = header.trim().strip_prefix("bytes=") else { return Range::Whole };
    if spec.contains(',') {
        return Range::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else { return Range::Whole };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        // The last `b` bytes.
        let Ok(n) = b.parse::<u64>() else { return Range::Whole };
        if n == 0 || total == 0 {
            return Range::Unsatisfiable;
        }
        return Range::Bytes(total.saturating_sub(n), total - 1);
    }
    let Ok(first) = a.parse::<u64>() else { return Range::Whole };
    let last = if b.is_empty() {
        total.saturating_sub(1)
    } else {
        match b.parse::<u64>() {
            Ok(l) if l >= first => l.min(total.saturating_sub(1)),
            _ => return Range::Whole,
        }
    };
    if first >= total {
        return Range::Unsatisfiable;
    }
    Range::Bytes(first, last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Range::Bytes(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), Range::Bytes(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), Range::Bytes(90, 99));
        assert_eq!(parse_range("bytes=-1000", 100), Range::Bytes(0, 99));
        assert_eq!(parse_range("bytes=50-5000", 100), Range::Bytes(50, 99));
        assert_eq!(parse_range("bytes=100-", 100), Range::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Range::Unsatisfiable);
        for whole in ["bytes=0-1,5-6", "items=0-1", "bytes=x-1", "bytes=9-1", "bytes"] {
            assert_eq!(parse_range(whole, 100), Range::Whole, "{whole}");
        }
    }
}
