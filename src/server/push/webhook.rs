//! The HTTP webhook channel, for operators with their own push service: each notification is
//! POSTed as JSON to the device's address (a URL) or the configured one:
//!
//! ```json
//! {"alert": 17, "user": "alice", "device": "IMEI:35…", "san": "<base64 of the SAN bytes>"}
//! ```
//!
//! signed with the configured shared secret: header `X-Syncgate-Signature: sha256=<hex>` carries
//! HMAC-SHA256(secret, body). 2xx means taken; 4xx a permanent failure; anything else, or no
//! connection, is retried with backoff.

use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::server::push::{Channel, DeliverFuture, Delivery, PushEnabler, PushError};
use crate::transport::{HttpClient, Url};

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Syncgate-Signature";

/// `[notify.webhook]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Where to POST when the device's preferences name no URL.
    pub url: Option<String>,
    /// The shared secret of the signature (required for the channel to be used).
    pub secret: Option<String>,
    pub timeout_secs: u64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig { url: None, secret: None, timeout_secs: 10 }
    }
}

/// `sha256=<hex of HMAC-SHA256(secret, body)>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC takes keys of any length: `new_from_slice` cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    format!("sha256={}", tag.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// The webhook sender.
#[derive(Debug)]
pub struct WebhookEnabler {
    config: WebhookConfig,
}

impl WebhookEnabler {
    pub fn new(config: WebhookConfig) -> WebhookEnabler {
        WebhookEnabler { config }
    }
}

impl PushEnabler for WebhookEnabler {
    fn channel(&self) -> Channel {
        Channel::Webhook
    }

    fn deliver<'a>(&'a self, d: &'a Delivery) -> DeliverFuture<'a> {
        Box::pin(async move {
            let Some(secret) = self.config.secret.as_deref() else {
                return Err(PushError::Permanent("no webhook secret configured ([notify.webhook] secret)".into()));
            };
            let Some(target) = d.address.as_deref().or(self.config.url.as_deref()) else {
                return Err(PushError::Permanent("no webhook URL (device address or [notify.webhook] url)".into()));
            };
            let url = Url::parse(target).map_err(|e| PushError::Permanent(e.to_string()))?;
            let body = serde_json::json!({
                "alert": d.alert_id,
                "user": d.user,
                "device": d.device,
                "san": base64::engine::general_purpose::STANDARD.encode(&d.san),
            })
            .to_string()
            .into_bytes();
            let sig = signature(secret, &body);
            let mut client = HttpClient::new(Duration::from_secs(self.config.timeout_secs.max(1)));
            let response = client
                .post_with_headers(&url, "application/json", body, &[(SIGNATURE_HEADER, &sig)])
                .await
                .map_err(|e| PushError::Retry(e.to_string()))?;
            match response.status {
                200..=299 => Ok(()),
                400..=499 => Err(PushError::Permanent(format!("webhook answered {}", response.status))),
                s => Err(PushError::Retry(format!("webhook answered {s}"))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-shot HTTP server answering `status`; returns its URL and what it received
    /// (signature header, body).
    async fn receiver(status: u16) -> (String, tokio::sync::oneshot::Receiver<(String, Vec<u8>)>) {
        use http_body_util::{BodyExt as _, Full};
        use hyper::body::Bytes;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let tx = std::sync::Mutex::new(Some(tx));
            let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let sig = req.headers().get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                let tx = tx.lock().unwrap().take();
                async move {
                    let body = req.into_body().collect().await.unwrap().to_bytes().to_vec();
                    if let Some(tx) = tx {
                        let _ = tx.send((sig, body));
                    }
                    let mut r = hyper::Response::new(Full::new(Bytes::new()));
                    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                    Ok::<_, std::convert::Infallible>(r)
                }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
        });
        (format!("http://{addr}/push"), rx)
    }

    fn delivery(address: Option<String>) -> Delivery {
        Delivery { alert_id: 7, user: "alice".into(), device: "phone".into(), address, san: vec![0, 1, 2, 255] }
    }

    #[tokio::test]
    async fn posts_signed_json_and_classifies_answers() {
        let (url, got) = receiver(202).await;
        let hook = WebhookEnabler::new(WebhookConfig { secret: Some("s3".into()), ..Default::default() });
        hook.deliver(&delivery(Some(url))).await.expect("taken");
        let (sig, body) = got.await.unwrap();
        assert_eq!(sig, signature("s3", &body), "signed over the exact body");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            (v["alert"].as_i64(), v["device"].as_str(), v["san"].as_str()),
            (Some(7), Some("phone"), Some("AAEC/w=="))
        );

        let (url, _) = receiver(410).await;
        let r = hook.deliver(&delivery(Some(url))).await;
        assert!(matches!(r, Err(PushError::Permanent(_))), "{r:?}");
        let (url, _) = receiver(503).await;
        let r = hook.deliver(&delivery(Some(url))).await;
        assert!(matches!(r, Err(PushError::Retry(_))), "{r:?}");
        let r = hook.deliver(&delivery(Some("http://127.0.0.1:1/none".into()))).await;
        assert!(matches!(r, Err(PushError::Retry(_))), "no connection: {r:?}");
        let no_secret = WebhookEnabler::new(WebhookConfig::default());
        assert!(matches!(no_secret.deliver(&delivery(None)).await, Err(PushError::Permanent(_))));
    }

    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
