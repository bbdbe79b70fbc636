//! The client side of the HTTP binding (PROTOCOL.md §1.1): POSTs a SyncML message to a URL and
//! returns the answer. Used by the simulated device (`client`), the conformance runner and the
//! load generator; the only module besides `server` that opens sockets.
//!
//! One [`HttpClient`] keeps one HTTP/1.1 keep-alive connection (per host and port, as a real
//! handset does) and reconnects when the server closed it. Plain `http://` only for now;
//! an `https://` URL is refused with a clear error. Besides POST it can GET, for HTTP
//! interfaces driven by query strings (Kannel's `sendsms`, `server::push::kannel`) and the
//! long-poll of notifications.

use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, RETRY_AFTER, USER_AGENT};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// An `http://host[:port]/path?query` URL, split the way a request needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub target: String,
}

impl Url {
    /// Parses an absolute `http://` URL (`https://` is refused: no TLS in this client yet).
    pub fn parse(text: &str) -> Result<Url, TransportError> {
        let bad = |why: &str| TransportError::BadUrl(format!("{text}: {why}"));
        let rest = match text.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => {
                return Err(bad("https is not supported by this client yet; use http://"))
            }
            _ => return Err(bad("expected http://host[:port]/path")),
        };
        let (authority, target) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
                (host, port.parse::<u16>().map_err(|_| bad("bad port"))?)
            }
            _ => (authority, 80),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Url { host: host.trim_start_matches('[').trim_end_matches(']').to_string(), port, target })
    }

    /// `host:port` (brackets around an IPv6 address).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// A URL the server gave (RespURI): absolute, or a path on the same host.
    pub fn join(&self, uri: &str) -> Result<Url, TransportError> {
        if uri.contains("://") {
            Url::parse(uri)
        } else if uri.starts_with('/') {
            Ok(Url { target: uri.to_string(), ..self.clone() })
        } else {
            Err(TransportError::BadUrl(format!("{uri}: not an absolute URL or path")))
        }
    }
}

/// What the server answered.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// The `Retry-After` header in seconds, when given.
    pub retry_after: Option<u64>,
}

/// Why an exchange failed before an HTTP answer arrived.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("bad URL {0}")]
    BadUrl(String),
    #[error("cannot connect to {0}")]
    Connect(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("HTTP exchange failed: {0}")]
    Http(String),
}

/// An HTTP/1.1 client holding one keep-alive connection.
#[derive(Debug)]
pub struct HttpClient {
    timeout: Duration,
    user_agent: Option<String>,
    conn: Option<(String, SendRequest<Full<Bytes>>)>,
}

impl HttpClient {
    /// A client whose exchanges (connect, send, whole answer) each end after `timeout`.
    pub fn new(timeout: Duration) -> HttpClient {
        HttpClient { timeout, user_agent: None, conn: None }
    }

    /// Sends this `User-Agent` header with every request.
    pub fn with_user_agent(mut self, user_agent: &str) -> HttpClient {
        self.user_agent = Some(user_agent.to_string());
        self
    }

    /// POSTs `body` with `content_type` and reads the whole answer. A connection the server
    /// closed in the meantime is reopened and the request sent once more (SyncML servers answer
    /// a resent message from their cache, PROTOCOL.md §1.1).
    pub async fn post(&mut self, url: &Url, content_type: &str, body: Vec<u8>) -> Result<Response, TransportError> {
        self.post_with_headers(url, content_type, body, &[]).await
    }

    /// GETs `url` (path and query as given) and reads the whole answer; like [`post`](Self::post),
    /// a connection the server closed in the meantime is reopened and the request sent once more.
    pub async fn get(&mut self, url: &Url) -> Result<Response, TransportError> {
        self.request(hyper::Method::GET, url, None, Vec::new(), &[]).await
    }

    /// [`HttpClient::post`] with extra request headers.
    pub async fn post_with_headers(
        &mut self,
        url: &Url,
        content_type: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> Result<Response, TransportError> {
        self.request(hyper::Method::POST, url, Some(content_type), body, headers).await
    }

    /// Any request; reopens a connection the server closed in the meantime and sends once more.
    pub async fn request(
        &mut self,
        method: hyper::Method,
        url: &Url,
        content_type: Option<&str>,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> Result<Response, TransportError> {
        let body = Bytes::from(body);
        match self.try_request(method.clone(), url, content_type, body.clone(), headers).await {
            Err(TransportError::Http(_)) if self.conn.is_none() => {
                self.try_request(method, url, content_type, body, headers).await
            }
            other => other,
        }
    }

    async fn try_request(
        &mut self,
        method: hyper::Method,
        url: &Url,
        content_type: Option<&str>,
        body: Bytes,
        headers: &[(&str, &str)],
    ) -> Result<Response, TransportError> {
        let authority = url.authority();
        let mut sender = match self.conn.take() {
            Some((a, s)) if a == authority && !s.is_closed() => s,
            _ => self.connect(&authority).await?,
        };
        let mut request = Request::builder().method(method).uri(&url.target).header(HOST, &authority);
        if let Some(ct) = content_type {
            request = request.header(CONTENT_TYPE, ct).header(CONTENT_LENGTH, body.len());
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(ua) = &self.user_agent {
            request = request.header(USER_AGENT, ua);
        }
        let request = request.body(Full::new(body)).map_err(|e| TransportError::Http(e.to_string()))?;
        let exchange = async {
            sender.ready().await.map_err(|e| TransportError::Http(e.to_string()))?;
            let response = sender.send_request(request).await.map_err(|e| TransportError::Http(e.to_string()))?;
            let status = response.status().as_u16();
            let header = |name| response.headers().get(name).and_then(|v: &hyper::header::HeaderValue| v.to_str().ok());
            let content_type = header(CONTENT_TYPE).map(str::to_string);
            let retry_after = header(RETRY_AFTER).and_then(|v| v.trim().parse().ok());
            let body = response.into_body().collect().await.map_err(|e| TransportError::Http(e.to_string()))?;
            Ok::<_, TransportError>(Response { status, content_type, body: body.to_bytes().to_vec(), retry_after })
        };
        let response =
            tokio::time::timeout(self.timeout, exchange).await.map_err(|_| TransportError::Timeout(self.timeout))??;
        self.conn = Some((authority, sender));
        Ok(response)
    }

    async fn connect(&self, authority: &str) -> Result<SendRequest<Full<Bytes>>, TransportError> {
        let connect = async {
            let stream = TcpStream::connect(authority)
                .await
                .map_err(|e| TransportError::Connect(format!("{authority}: {e}")))?;
            let _ = stream.set_nodelay(true);
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| TransportError::Connect(format!("{authority}: {e}")))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok::<_, TransportError>(sender)
        };
        tokio::time::timeout(self.timeout, connect).await.map_err(|_| TransportError::Timeout(self.timeout))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("http://127.0.0.1:8080/sync?sid=ab").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.target.as_str()), ("127.0.0.1", 8080, "/sync?sid=ab"));
        assert_eq!(u.authority(), "127.0.0.1:8080");
        let u = Url::parse("HTTP://example.org").unwrap();
        assert_eq!((u.port, u.target.as_str()), (80, "/"));
        let u = Url::parse("http://[::1]:9/x").unwrap();
        assert_eq!((u.host.as_str(), u.authority()), ("::1", "[::1]:9".to_string()));
        assert!(matches!(Url::parse("https://x/sync"), Err(TransportError::BadUrl(m)) if m.contains("https")));
        assert!(Url::parse("ftp://x").is_err() && Url::parse("http://:80/").is_err());
        let base = Url::parse("http://h:1/sync").unwrap();
        assert_eq!(base.join("/sync?sid=1").unwrap().target, "/sync?sid=1");
        assert_eq!(base.join("http://other:2/s").unwrap().host, "other");
    }

    #[test]
    fn posts_and_keeps_the_connection() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let accepts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let counter = accepts.clone();
            tokio::spawn(async move {
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                            let ct = req.headers().get(CONTENT_TYPE).cloned();
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let mut resp = hyper::Response::new(Full::new(body));
                            if let Some(ct) = ct {
                                resp.headers_mut().insert(CONTENT_TYPE, ct);
                            }
                            resp.headers_mut().insert(RETRY_AFTER, "7".parse().unwrap());
                            Ok::<_, std::convert::Infallible>(resp)
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
            let mut client = HttpClient::new(Duration::from_secs(5));
            let url = Url::parse(&format!("http://{addr}/sync")).unwrap();
            for i in 0..3u8 {
                let r = client.post(&url, "application/vnd.syncml+xml", vec![i; 10]).await.unwrap();
                assert_eq!((r.status, r.body, r.retry_after), (200, vec![i; 10], Some(7)));
                assert_eq!(r.content_type.as_deref(), Some("application/vnd.syncml+xml"));
            }
            assert_eq!(accepts.load(std::sync::atomic::Ordering::SeqCst), 1, "one keep-alive connection");
            let closed = Url::parse("http://127.0.0.1:1/sync").unwrap();
            assert!(matches!(client.post(&closed, "x", vec![]).await, Err(TransportError::Connect(_))));
        });
    }

    #[test]
    fn gets_the_target_as_given() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                let service = hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                    let seen = format!("{} {} {:?}", req.method(), req.uri(), req.headers().get(CONTENT_LENGTH));
                    let mut resp = hyper::Response::new(Full::new(Bytes::from(seen)));
                    *resp.status_mut() = hyper::StatusCode::ACCEPTED;
                    Ok::<_, std::convert::Infallible>(resp)
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
            let mut client = HttpClient::new(Duration::from_secs(5));
            let url = Url::parse(&format!("http://{addr}/cgi-bin/sendsms?to=%2B1&text=%00%FF")).unwrap();
            let r = client.get(&url).await.unwrap();
            assert_eq!(r.status, 202);
            assert_eq!(String::from_utf8(r.body).unwrap(), "GET /cgi-bin/sendsms?to=%2B1&text=%00%FF None");
        });
    }
}
