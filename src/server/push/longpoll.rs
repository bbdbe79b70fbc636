//! The long-poll channel for IP-connected devices: a device holds `GET /notify?device=ID` open
//! (HTTP basic auth with its sync credentials) and receives the raw notification
//! (`application/vnd.syncml.ds.notification`) as soon as an alert is due for it. With nothing to
//! say the gateway answers 204 after the heartbeat interval and the device asks again: that
//! request every half minute is what keeps a NAT binding alive. An alert due while the device is
//! not connected waits for its next poll.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, StatusCode};
use tokio::sync::oneshot;
use tracing::{debug, info, warn};

use crate::auth::{constant_time_eq, md5_secret};
use crate::server::http::{self, HttpResponse};
use crate::server::push::{Channel, DeliverFuture, Delivery, PushEnabler, PushError};
use crate::server::Shared;

/// The content type of a DS 1.2 notification (PROTOCOL.md §8.5).
pub const SAN_CONTENT_TYPE: &str = "application/vnd.syncml.ds.notification";

/// (user, device id).
type DeviceKey = (String, String);

/// The devices waiting on `GET /notify`.
#[derive(Debug, Default)]
pub struct LongPoll {
    waiters: Mutex<HashMap<DeviceKey, oneshot::Sender<Vec<u8>>>>,
}

impl LongPoll {
    /// A device starts waiting (a second poll of the same device replaces the first).
    fn register(&self, user: &str, device: &str) -> oneshot::Receiver<Vec<u8>> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = self.waiters.lock() {
            w.insert((user.to_string(), device.to_string()), tx);
        }
        rx
    }

    fn unregister(&self, user: &str, device: &str) {
        if let Ok(mut w) = self.waiters.lock() {
            if w.get(&(user.to_string(), device.to_string())).is_some_and(oneshot::Sender::is_closed) {
                w.remove(&(user.to_string(), device.to_string()));
            }
        }
    }

    /// How many devices are waiting now.
    pub fn waiting(&self) -> usize {
        self.waiters.lock().map(|w| w.len()).unwrap_or(0)
    }

    /// Gives `san` to the waiting device; false when it is not waiting.
    fn offer(&self, user: &str, device: &str, san: Vec<u8>) -> bool {
        let tx = self.waiters.lock().ok().and_then(|mut w| w.remove(&(user.to_string(), device.to_string())));
        tx.is_some_and(|tx| tx.send(san).is_ok())
    }
}

/// The long-poll channel as a [`PushEnabler`].
#[derive(Debug, Clone)]
pub struct LongPollEnabler(pub Arc<LongPoll>);

impl PushEnabler for LongPollEnabler {
    fn channel(&self) -> Channel {
        Channel::Longpoll
    }

    fn deliver<'a>(&'a self, d: &'a Delivery) -> DeliverFuture<'a> {
        Box::pin(async move {
            if self.0.offer(&d.user, &d.device, d.san.clone()) {
                Ok(())
            } else {
                Err(PushError::Retry("the device is not connected".into()))
            }
        })
    }
}

/// `GET /notify?device=ID`.
pub(in crate::server) async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> HttpResponse {
    if req.method() != Method::GET {
        return http::method_not_allowed("GET");
    }
    let Some(notifier) = shared.notifier.clone() else {
        return http::text(StatusCode::NOT_FOUND, "server-initiated sync is not enabled on this gateway");
    };
    let Some(device) = http::query_param(req.uri().query(), "device").filter(|d| !d.is_empty()) else {
        return http::text(StatusCode::BAD_REQUEST, "missing ?device=ID (the SyncML device id)");
    };
    let device = crate::server::api::percent_decode(device);
    let Some((user, password)) = http::basic_auth(req.headers()) else {
        return unauthorized("HTTP basic authentication with the device's sync user and password required");
    };
    let store = shared.engine.store().clone();
    let lookup = {
        let user = user.clone();
        tokio::task::spawn_blocking(move || store.user_by_name(&user)).await
    };
    let account = match lookup {
        Ok(Ok(Some(u))) if constant_time_eq(u.secret.as_bytes(), md5_secret(&user, &password).as_bytes()) => u,
        Ok(Ok(_)) => {
            warn!(%user, %device, "long-poll with a wrong user or password: 401");
            return unauthorized("wrong user or password");
        }
        Ok(Err(e)) => {
            warn!(error = %e, "long-poll: store failure");
            return http::text(StatusCode::SERVICE_UNAVAILABLE, "store unavailable; try again");
        }
        Err(e) => {
            warn!(error = %e, "long-poll: task failure");
            return http::text(StatusCode::SERVICE_UNAVAILABLE, "try again");
        }
    };
    let longpoll = notifier.longpoll().clone();
    let waiting = longpoll.register(&user, &device);
    // An alert that came due while the device was away goes now.
    let pending = {
        let (n, d) = (notifier.clone(), device.clone());
        tokio::task::spawn_blocking(move || n.take_for_longpoll(account.id, &d)).await
    };
    if let Ok(Ok(Some(san))) = pending {
        longpoll.unregister(&user, &device);
        return http::bytes(StatusCode::OK, SAN_CONTENT_TYPE, Bytes::from(san));
    }
    debug!(%user, %device, "long-poll waiting");
    let heartbeat = Duration::from_secs(shared.config.notify.longpoll_heartbeat_secs.max(1));
    let deadline = tokio::time::Instant::now() + heartbeat;
    tokio::pin!(waiting);
    // Checks for a shutdown now and then: a stopping gateway lets the device go at once.
    let got = loop {
        tokio::select! {
            got = &mut waiting => break got.ok(),
            _ = tokio::time::sleep(Duration::from_millis(250)) => {
                if shared.drain.is_draining() || tokio::time::Instant::now() >= deadline {
                    break None;
                }
            }
        }
    };
    let answer = match got {
        Some(san) => {
            info!(%user, %device, bytes = san.len(), "notification delivered on the long-poll channel");
            http::bytes(StatusCode::OK, SAN_CONTENT_TYPE, Bytes::from(san))
        }
        None => {
            let mut r = http::text(StatusCode::NO_CONTENT, "");
            *r.body_mut() = Default::default();
            r
        }
    };
    longpoll.unregister(&user, &device);
    answer
}

fn unauthorized(reason: &str) -> HttpResponse {
    let mut r = http::text(StatusCode::UNAUTHORIZED, reason);
    r.headers_mut()
        .insert(hyper::header::WWW_AUTHENTICATE, hyper::header::HeaderValue::from_static("Basic realm=\"syncgate\""));
    r
}
