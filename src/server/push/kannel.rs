//! The SMS push channel: a notification sent as WAP Push over SMS (PROTOCOL.md §8.5) through
//! Kannel's `sendsms` HTTP interface. Owns the `[push.kannel]`-style configuration and the
//! request for each SMS; the framing (WSP Push PDU, port and concatenation UDH, splitting into
//! parts of at most 140 octets) is `notify::wap`'s.
//!
//! Each part is one `GET {sendsms_url}?username=…&password=…[&from=…]&to=MSISDN&udh=…&text=…
//! &coding=1`: `udh` and `text` are the raw octets percent-encoded, `coding=1` is 8-bit data
//! (Kannel user guide, "SMS Push (send-sms) CGI Variables"). Because every part already carries
//! its UDH and fits 140 octets, neither smsbox (`sms-length`, default 140) nor bearerbox
//! (`max-sms-octets`, default 140) splits or concatenates it again; the `sendsms-user` needs
//! `max-messages` ≥ 1 (its default, 1; with 0 Kannel answers "Sent." and drops the message) and
//! its `concatenation` setting does not matter.
//!
//! Kannel's answers: 202 (`0: Accepted for delivery`, `3: Queued for later delivery`) or 200
//! mean the part was taken; 5xx (503 temporal failure, 500 sending failed) and failures to
//! connect or get an answer are [`PushError::Retry`]; 4xx (400 malformed field, 403
//! authorization failed or not routable) is [`PushError::Permanent`]. The concatenation
//! reference (and WSP TID) is the low byte of the alert id: each alert gets its own, and a retry
//! of the same alert reuses it, so a handset merges parts it already has instead of waiting on
//! two half messages.
//!
//! Must not touch: the store, the notifier's queue and backoff (it only reports the outcome).

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::{Channel, DeliverFuture, Delivery, PushEnabler, PushError};
use crate::notify::wap::{self, SmsPart};
use crate::transport::{HttpClient, TransportError, Url};

/// Where and as whom to reach Kannel's smsbox.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KannelConfig {
    /// The smsbox `sendsms` URL (`sendsms-port` of the `smsbox` group); plain `http://`.
    pub sendsms_url: String,
    /// A `sendsms-user` group's `username`.
    pub username: String,
    /// That group's `password`.
    pub password: String,
    /// The sender number; empty leaves it to Kannel (`default-sender`, `global-sender`).
    pub from: String,
    /// How long one request may take (connect, send, answer), in seconds.
    pub timeout_secs: u64,
}

impl Default for KannelConfig {
    fn default() -> Self {
        KannelConfig {
            sendsms_url: "http://127.0.0.1:13013/cgi-bin/sendsms".into(),
            username: String::new(),
            password: String::new(),
            from: String::new(),
            timeout_secs: 10,
        }
    }
}

impl fmt::Debug for KannelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KannelConfig")
            .field("sendsms_url", &self.sendsms_url)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("from", &self.from)
            .field("timeout_secs", &self.timeout_secs)
            .finish()
    }
}

/// Why a [`KannelConfig`] cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KannelConfigError {
    #[error("kannel sendsms_url: {0}")]
    Url(#[source] TransportError),
    #[error("kannel timeout_secs must be at least 1")]
    ZeroTimeout,
}

/// Sends notifications as WAP Push SMS through Kannel.
#[derive(Debug)]
pub struct KannelEnabler {
    config: KannelConfig,
    url: Url,
}

impl KannelEnabler {
    /// Checks the configuration: an `http://` URL and a non-zero timeout.
    pub fn new(config: KannelConfig) -> Result<KannelEnabler, KannelConfigError> {
        let url = Url::parse(&config.sendsms_url).map_err(KannelConfigError::Url)?;
        if config.timeout_secs == 0 {
            return Err(KannelConfigError::ZeroTimeout);
        }
        Ok(KannelEnabler { config, url })
    }

    async fn send(&self, delivery: &Delivery) -> Result<(), PushError> {
        let to = delivery.address.as_deref().map(str::trim).filter(|to| !to.is_empty()).ok_or_else(|| {
            PushError::Permanent(format!(
                "device {} of {} has no MSISDN to send the SMS to",
                delivery.device, delivery.user
            ))
        })?;
        // The low byte: a fresh reference per alert, the same one when this alert is retried.
        let reference = (delivery.alert_id & 0xFF) as u8;
        let parts = wap::encode(&delivery.san, reference).map_err(|e| PushError::Permanent(e.to_string()))?;
        let mut client = HttpClient::new(Duration::from_secs(self.config.timeout_secs))
            .with_user_agent(concat!("syncgate/", env!("CARGO_PKG_VERSION")));
        let count = parts.len();
        for (index, part) in parts.iter().enumerate() {
            let url = Url { target: self.target(to, part), ..self.url.clone() };
            let response = client.get(&url).await.map_err(|e| match e {
                TransportError::BadUrl(why) => PushError::Permanent(why),
                other => PushError::Retry(format!("Kannel at {}: {other}", self.url.authority())),
            })?;
            outcome(response.status, &response.body)
                .map_err(|e| with_context(e, &format!("SMS {} of {count} to {to}", index + 1)))?;
        }
        tracing::debug!(alert = delivery.alert_id, device = %delivery.device, parts = count, "WAP push handed to Kannel");
        Ok(())
    }

    /// The request target (path and query) that sends `part` to `to`.
    fn target(&self, to: &str, part: &SmsPart) -> String {
        let mut target = self.url.target.clone();
        target.push(if target.contains('?') { '&' } else { '?' });
        let mut add = |name: &str, value: &[u8]| {
            target.push_str(name);
            target.push('=');
            percent_encode(value, &mut target);
            target.push('&');
        };
        add("username", self.config.username.as_bytes());
        add("password", self.config.password.as_bytes());
        if !self.config.from.is_empty() {
            add("from", self.config.from.as_bytes());
        }
        add("to", to.as_bytes());
        add("udh", &part.udh);
        add("text", &part.data);
        target.push_str("coding=1");
        target
    }
}

impl PushEnabler for KannelEnabler {
    fn channel(&self) -> Channel {
        Channel::Sms
    }

    fn deliver<'a>(&'a self, delivery: &'a Delivery) -> DeliverFuture<'a> {
        Box::pin(self.send(delivery))
    }
}

/// What Kannel's answer to one `sendsms` request means.
fn outcome(status: u16, body: &[u8]) -> Result<(), PushError> {
    let said = || {
        let text = String::from_utf8_lossy(body);
        let text: String = text.trim().chars().take(200).collect();
        format!("Kannel answered {status}: {text}")
    };
    match status {
        200 | 202 => Ok(()),
        500..=599 => Err(PushError::Retry(said())),
        _ => Err(PushError::Permanent(said())),
    }
}

fn with_context(error: PushError, context: &str) -> PushError {
    match error {
        PushError::Retry(why) => PushError::Retry(format!("{context}: {why}")),
        PushError::Permanent(why) => PushError::Permanent(format!("{context}: {why}")),
    }
}

/// Appends `bytes` with everything but RFC 3986 unreserved characters as `%XX` (so `+` in an
/// MSISDN stays a plus, not Kannel's receiver separator, and binary octets survive).
fn percent_encode(bytes: &[u8], out: &mut String) {
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enabler(url: &str) -> KannelEnabler {
        KannelEnabler::new(KannelConfig {
            sendsms_url: url.into(),
            username: "sync gate".into(),
            password: "p&ss".into(),
            from: "1234".into(),
            timeout_secs: 2,
        })
        .unwrap()
    }

    fn delivery(address: Option<&str>) -> Delivery {
        Delivery {
            alert_id: 0x1_2A,
            user: "alice".into(),
            device: "IMEI:1".into(),
            address: address.map(str::to_string),
            san: vec![0; 30],
        }
    }

    #[test]
    fn config_defaults_and_unknown_keys() {
        let config: KannelConfig = toml::from_str("username = \"u\"").unwrap();
        assert_eq!(config.sendsms_url, "http://127.0.0.1:13013/cgi-bin/sendsms");
        assert_eq!((config.username.as_str(), config.timeout_secs), ("u", 10));
        assert!(toml::from_str::<KannelConfig>("smsc = \"x\"").is_err());
        assert!(!format!("{config:?}").contains("password: \"\""));
        assert!(matches!(
            KannelEnabler::new(KannelConfig { sendsms_url: "https://k/x".into(), ..KannelConfig::default() }),
            Err(KannelConfigError::Url(_))
        ));
        assert!(matches!(
            KannelEnabler::new(KannelConfig { timeout_secs: 0, ..KannelConfig::default() }),
            Err(KannelConfigError::ZeroTimeout)
        ));
    }

    #[test]
    fn one_get_per_part_with_raw_octets_encoded() {
        let part =
            SmsPart { udh: vec![0x06, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0], data: vec![0x2A, 0x06, b' ', b'+', b'a'] };
        assert_eq!(
            enabler("http://127.0.0.1:13013/cgi-bin/sendsms").target("+49 170", &part),
            "/cgi-bin/sendsms?username=sync%20gate&password=p%26ss&from=1234&to=%2B49%20170\
             &udh=%06%05%04%0B%84%23%F0&text=%2A%06%20%2Ba&coding=1"
        );
        let with_query = enabler("http://k:1/cgi-bin/sendsms?smsc=gsm");
        assert!(with_query.target("1", &part).starts_with("/cgi-bin/sendsms?smsc=gsm&username="));
    }

    #[test]
    fn kannel_answers() {
        assert_eq!(outcome(202, b"0: Accepted for delivery"), Ok(()));
        assert_eq!(outcome(200, b"Sent."), Ok(()));
        assert!(
            matches!(outcome(503, b"Temporal failure, try again later."), Err(PushError::Retry(m)) if m.contains("503"))
        );
        assert!(matches!(outcome(500, b"Sending failed."), Err(PushError::Retry(_))));
        assert!(
            matches!(outcome(403, b"Authorization failed for sendsms"), Err(PushError::Permanent(m)) if m.contains("Authorization"))
        );
        assert!(matches!(outcome(400, b"UDH field misformed, rejected"), Err(PushError::Permanent(_))));
    }

    #[test]
    fn missing_address_is_permanent_and_no_kannel_is_retry() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let kannel = enabler("http://127.0.0.1:1/cgi-bin/sendsms");
        assert_eq!(kannel.channel(), Channel::Sms);
        for address in [None, Some(""), Some("  ")] {
            let result = rt.block_on(kannel.deliver(&delivery(address)));
            assert!(matches!(result, Err(PushError::Permanent(m)) if m.contains("MSISDN")), "{address:?}");
        }
        let result = rt.block_on(kannel.deliver(&delivery(Some("+4917012345"))));
        assert!(matches!(result, Err(PushError::Retry(m)) if m.contains("127.0.0.1:1")));
    }
}
