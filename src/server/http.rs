//! Small HTTP pieces of the server: plain-text answers, reading a body under a size limit,
//! the query parameter and Host header as the sync endpoint needs them.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderMap, HeaderValue, ALLOW, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use hyper::{Response, StatusCode};

/// Every response the server sends.
pub type HttpResponse = Response<Full<Bytes>>;

/// Why a request body was not read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("request body exceeds the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("request body not received within {0:?}")]
    TimedOut(Duration),
    #[error("reading the request body failed: {0}")]
    Read(String),
}

/// A `text/plain` answer whose body is `reason` on one line.
pub fn text(status: StatusCode, reason: &str) -> HttpResponse {
    let mut line: String = reason.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    line.push('\n');
    let mut response = Response::new(Full::new(Bytes::from(line)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// 405 with the methods that are allowed.
pub fn method_not_allowed(allow: &'static str) -> HttpResponse {
    let mut response = text(StatusCode::METHOD_NOT_ALLOWED, &format!("method not allowed (allowed: {allow})"));
    response.headers_mut().insert(ALLOW, HeaderValue::from_static(allow));
    response
}

/// A body of the given content type.
pub fn bytes(status: StatusCode, content_type: &'static str, body: Bytes) -> HttpResponse {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Reads a whole body, never holding more than `limit` bytes: a larger Content-Length is
/// refused before reading, a body that grows past the limit while streaming is cut off.
pub async fn read_body(
    headers: &HeaderMap,
    body: Incoming,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, BodyError> {
    let declared = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Err(_) => Err(BodyError::TimedOut(timeout)),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge { limit }),
        Ok(Err(e)) => Err(BodyError::Read(e.to_string())),
    }
}

/// The value of query parameter `name` (taken as is: the values we look for need no decoding).
pub fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

/// `http://` (`https://` on the TLS listener) + the request's Host header, or the local address
/// when the header is missing or holds anything but host-name characters (it ends up in the
/// RespURI and in links).
pub fn base_from_host(headers: &HeaderMap, local: SocketAddr, secure: bool) -> String {
    let scheme = if secure { "https" } else { "http" };
    let host = headers.get(HOST).and_then(|v| v.to_str().ok()).filter(|h| is_host(h));
    match host {
        Some(host) => format!("{scheme}://{host}"),
        None => format!("{scheme}://{local}"),
    }
}

fn is_host(h: &str) -> bool {
    !h.is_empty() && h.len() <= 255 && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
}

/// (user, password) of an `Authorization: Basic` header.
pub fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_param_finds_the_named_value() {
        assert_eq!(query_param(Some("sid=abc"), "sid"), Some("abc"));
        assert_eq!(query_param(Some("x=1&sid=abc&y"), "sid"), Some("abc"));
        assert_eq!(query_param(Some("sidx=abc"), "sid"), None);
        assert_eq!(query_param(Some("sid"), "sid"), None);
        assert_eq!(query_param(None, "sid"), None);
    }

    #[test]
    fn host_header_is_used_only_when_clean() {
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let mut headers = HeaderMap::new();
        assert_eq!(base_from_host(&headers, local, false), "http://127.0.0.1:8080");
        headers.insert(HOST, HeaderValue::from_static("sync.example.com:81"));
        assert_eq!(base_from_host(&headers, local, false), "http://sync.example.com:81");
        headers.insert(HOST, HeaderValue::from_static("[::1]:8080"));
        assert_eq!(base_from_host(&headers, local, false), "http://[::1]:8080");
        assert_eq!(base_from_host(&headers, local, true), "https://[::1]:8080", "the TLS listener");
        headers.insert(HOST, HeaderValue::from_static("evil.com/x?y=<z>"));
        assert_eq!(base_from_host(&headers, local, false), "http://127.0.0.1:8080");
    }

    #[test]
    fn text_answers_are_one_line() {
        let response = text(StatusCode::BAD_REQUEST, "bad\nthing");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()[CONTENT_TYPE], "text/plain; charset=utf-8");
    }
}
