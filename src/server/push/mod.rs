//! Push enablers: how a Server Alerted Notification reaches a device (PROTOCOL.md §8.5). Each
//! channel implements [`PushEnabler`]; the notifier (`server::notifier`) hands every due alert to
//! the enabler of the device's channel and records the outcome.
//!
//! - `longpoll`: the device holds `GET /notify` open on the gateway and gets the raw SAN bytes.
//! - `webhook`: a JSON POST (SAN in base64, signed) to the operator's own push service.
//! - `kannel`: a WAP Push over SMS through Kannel's `sendsms` HTTP interface.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

pub mod kannel;
pub mod longpoll;
pub mod webhook;

pub use crate::notify::prefs::Channel;

/// One notification to deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The alert's id in the durable queue.
    pub alert_id: i64,
    pub user: String,
    /// The SyncML device id.
    pub device: String,
    /// Where the channel delivers: the MSISDN for SMS, the URL for a webhook (the configured
    /// one when the device has none); unused by long-poll.
    pub address: Option<String>,
    /// The encoded notification (DS 1.2 SAN, or a 1.1 notification message).
    pub san: Vec<u8>,
}

/// Why a delivery failed. `Retry` failures are tried again with backoff; `Permanent` ones end
/// the alert as failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("temporary failure: {0}")]
    Retry(String),
    #[error("permanent failure: {0}")]
    Permanent(String),
}

/// The future a delivery returns.
pub type DeliverFuture<'a> = Pin<Box<dyn Future<Output = Result<(), PushError>> + Send + 'a>>;

/// A push channel's sender.
pub trait PushEnabler: Send + Sync + fmt::Debug {
    fn channel(&self) -> Channel;
    /// Delivers one notification; `Ok` once the channel took it.
    fn deliver<'a>(&'a self, delivery: &'a Delivery) -> DeliverFuture<'a>;
}
