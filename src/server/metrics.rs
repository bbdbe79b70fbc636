//! The gateway's numbers for Prometheus, served as OpenMetrics text (which Prometheus scrapes
//! natively) on their own listener, `[metrics] listen`, so they can stay inside the operator's
//! network while the sync endpoint faces devices. `GET /metrics` is the only route there.
//!
//! What is counted, where:
//! - sessions by outcome and mode, items by datastore, operation and direction, large objects,
//!   authentication failures, SyncML message durations: `sync.rs`, from the engine's
//!   [`SessionStats`] when a session ends (`expired` when the sweeper forgets an unfinished one);
//! - alerts queued, sent, retried and failed by channel: the notifier;
//! - store call durations by operation: [`crate::store::metered::MeteredStore`];
//! - open sessions and waiting long-poll connections: read when scraped.
//!
//! Label values are bounded: datastore names from the configuration (`other` for the rest),
//! fixed words for operations, modes, outcomes and channels; never a user or device name.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::http::{self, HttpResponse};
use super::Shared;
use crate::engine::stats::{Outcome, SessionStats};

type Labels<const N: usize> = [(&'static str, String); N];

/// Every metric of one gateway.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    sessions: Family<Labels<2>, Counter>,
    items: Family<Labels<3>, Counter>,
    large_objects: Family<Labels<1>, Counter>,
    auth_failures: Family<Labels<1>, Counter>,
    messages: Histogram,
    alerts: Family<Labels<2>, Counter>,
    store: Family<Labels<1>, Histogram>,
    open_sessions: Gauge,
    longpoll: Gauge,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("syncgate");
        let sessions = Family::<Labels<2>, Counter>::default();
        registry.register("sessions", "SyncML sessions ended, by outcome and sync mode", sessions.clone());
        let items = Family::<Labels<3>, Counter>::default();
        registry.register("items", "Items synced, by datastore, operation and direction", items.clone());
        let large_objects = Family::<Labels<1>, Counter>::default();
        registry.register("large_objects", "Large objects sent in chunks, by direction", large_objects.clone());
        let auth_failures = Family::<Labels<1>, Counter>::default();
        registry.register(
            "auth_failures",
            "Sessions whose credentials were refused, by SyncML status (401 or 407)",
            auth_failures.clone(),
        );
        let messages = latency_histogram();
        registry.register_with_unit(
            "message_duration",
            "Time to answer one SyncML message (decode, engine, encode)",
            Unit::Seconds,
            messages.clone(),
        );
        let alerts = Family::<Labels<2>, Counter>::default();
        registry.register(
            "alerts",
            "Server alerted notifications by channel and event (queued, sent, retried, failed)",
            alerts.clone(),
        );
        let store = Family::<Labels<1>, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register_with_unit("store_duration", "Store calls by operation", Unit::Seconds, store.clone());
        let open_sessions = Gauge::default();
        registry.register("open_sessions", "SyncML sessions held (not yet ended or expired)", open_sessions.clone());
        let longpoll = Gauge::default();
        registry.register("longpoll_connections", "Devices waiting on GET /notify", longpoll.clone());
        // Present from the start, so a rate over a series that is still zero works.
        for status in ["401", "407"] {
            let _ = auth_failures.get_or_create(&[("status", status.into())]);
        }
        Metrics {
            registry,
            sessions,
            items,
            large_objects,
            auth_failures,
            messages,
            alerts,
            store,
            open_sessions,
            longpoll,
        }
    }

    /// Counts one ended session.
    pub fn session_ended(&self, stats: &SessionStats) {
        let outcome = stats.outcome.unwrap_or(Outcome::Failed);
        self.sessions.get_or_create(&[("outcome", outcome.as_str().into()), ("mode", stats.mode().into())]).inc();
        for ((datastore, op, flow), n) in &stats.items {
            self.items
                .get_or_create(&[
                    ("datastore", datastore.clone()),
                    ("operation", (*op).into()),
                    ("direction", flow.as_str().into()),
                ])
                .inc_by(*n);
        }
        for (flow, n) in &stats.large_objects {
            self.large_objects.get_or_create(&[("direction", flow.as_str().into())]).inc_by(*n);
        }
        if let Some(status) = stats.auth_status {
            self.auth_failures.get_or_create(&[("status", status.to_string())]).inc();
        }
    }

    /// Counts sessions forgotten unfinished.
    pub fn sessions_expired(&self, n: usize) {
        self.sessions
            .get_or_create(&[("outcome", Outcome::Expired.as_str().into()), ("mode", "none".into())])
            .inc_by(n as u64);
    }

    /// One SyncML message answered in `elapsed`.
    pub fn message(&self, elapsed: Duration) {
        self.messages.observe(elapsed.as_secs_f64());
    }

    /// An alert event (`queued`, `sent`, `retried`, `failed`) on a channel.
    pub fn alert(&self, channel: &str, event: &'static str) {
        self.alerts.get_or_create(&[("channel", channel.to_string()), ("event", event.into())]).inc();
    }

    /// One store call.
    pub fn store_call(&self, operation: &'static str, elapsed: Duration) {
        self.store.get_or_create(&[("operation", operation.into())]).observe(elapsed.as_secs_f64());
    }

    /// The exposition, with the gauges read now.
    pub fn render(&self, open_sessions: usize, longpoll: usize) -> String {
        self.open_sessions.set(open_sessions as i64);
        self.longpoll.set(longpoll as i64);
        let mut out = String::new();
        if let Err(e) = encode(&mut out, &self.registry) {
            warn!("metrics not encoded: {e}");
        }
        out
    }
}

/// Serves `GET /metrics` until `stopped`.
pub(super) async fn serve(shared: Arc<Shared>, listener: TcpListener, mut stopped: watch::Receiver<bool>) {
    if let Ok(addr) = listener.local_addr() {
        info!("metrics on http://{addr}/metrics");
    }
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.wait_for(|stop| *stop) => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                warn!("metrics: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(answer(&shared, req.method(), req.uri().path())) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                debug!(%peer, "metrics connection ended: {e}");
            }
        });
    }
}

fn answer(shared: &Shared, method: &Method, path: &str) -> HttpResponse {
    if path != "/metrics" {
        return http::text(StatusCode::NOT_FOUND, "not found: the metrics are at /metrics");
    }
    if !matches!(*method, Method::GET | Method::HEAD) {
        return http::method_not_allowed("GET, HEAD");
    }
    let longpoll = shared.notifier.as_ref().map_or(0, |n| n.longpoll().waiting());
    let body = shared.metrics.render(shared.sessions.len(), longpoll);
    http::bytes(
        StatusCode::OK,
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        hyper::body::Bytes::from(body),
    )
}
