//! The HTTP server: the only module that touches sockets, hyper and the tokio runtime.
//!
//! Routes: `POST {sync_path}` is the SyncML endpoint (`sync.rs`, sessions in `sessions.rs`,
//! one session at a time per user in `user_locks.rs`), `/api/v1/…` the service API (`api.rs`),
//! `GET /notify` the long-poll notification channel (`push/longpoll.rs`), `GET /link/…` whole
//! objects behind the links of partial sync (`link.rs`), `/console/…` the operator console
//! (`console/`), `GET /healthz` answers `ok`, anything else 404 (405 for a wrong method). The
//! same routes are served over HTTPS on `[tls] listen` (`tls.rs`, certificate reloaded on
//! SIGHUP); `GET /metrics` is served on its own listener, `[metrics] listen` (`metrics.rs`).
//! Every connection runs on its own task; the engine runs on blocking threads. Shutdown first drains
//! (`drain.rs`: sessions mid-sync get a server Alert 224 and are saved for a resume, new ones
//! 503, until requests stop for a second), then stops accepting, lets requests in flight finish
//! for up to [`SHUTDOWN_GRACE`], and returns.
//!
//! ```no_run
//! # async fn demo(config: syncgate::config::Config, engine: syncgate::engine::Engine) -> std::io::Result<()> {
//! let server = syncgate::server::Server::bind(config, engine).await?;
//! println!("{}", server.local_addr());
//! server.run(syncgate::server::shutdown_signal()?).await
//! # }
//! ```

mod api;
pub mod console;
mod drain;
mod http;
mod imap_watch;
mod link;
pub mod metrics;
pub mod notifier;
#[cfg(test)]
mod notifier_tests;
pub mod push;
mod sessions;
mod sync;
pub mod tls;
mod user_locks;

pub use sessions::SessionToken;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::engine::Engine;
use http::HttpResponse;
use sessions::Sessions;
use user_locks::UserLocks;

/// How long requests in flight may take to finish after shutdown was asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long a client may take to send the request line and headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// A bound, not yet running server.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    /// The HTTPS listener, its address and certificate, with `[tls]`.
    tls: Option<(TcpListener, SocketAddr, Arc<tls::Tls>)>,
    /// The metrics listener, with `[metrics] listen`.
    metrics_listener: Option<TcpListener>,
    shared: Arc<Shared>,
}

/// What every request handler sees.
#[derive(Debug)]
struct Shared {
    config: Config,
    engine: Engine,
    sessions: Sessions,
    /// One session at a time per user ([`user_locks`]).
    user_locks: UserLocks,
    /// Set once a stop was asked for ([`drain`]).
    drain: drain::Drain,
    /// Server-initiated sync, when enabled ([`notifier`]).
    notifier: Option<Arc<notifier::Notifier>>,
    /// Counters for Prometheus ([`metrics`]).
    metrics: Arc<metrics::Metrics>,
    /// Recent sessions and wire dumps for the operator console ([`console`]).
    history: console::activity::History,
    dumps: console::activity::Dumps,
}

/// Binds `config.listen` and serves until `shutdown` completes.
pub async fn serve(config: Config, engine: Engine, shutdown: impl Future<Output = ()>) -> io::Result<()> {
    Server::bind(config, engine).await?.run(shutdown).await
}

/// Watches SIGTERM and SIGINT from this call on; the future completes at the first of them.
/// Must be called inside a tokio runtime.
pub fn shutdown_signal() -> io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => info!("SIGTERM received"),
                _ = interrupt.recv() => info!("SIGINT received"),
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            info!("Ctrl-C received");
        })
    }
}

impl Server {
    /// Binds the listening socket (`127.0.0.1:0` picks a free port: see [`Server::local_addr`]).
    pub async fn bind(config: Config, engine: Engine) -> io::Result<Server> {
        Server::bind_with(config, engine, None, Arc::default()).await
    }

    /// Binds a gateway over `store` with server-initiated sync as `config.notify` says: the
    /// engine works on a store that tells the notifier of every committed change.
    pub async fn bind_notifying(
        config: Config,
        store: Arc<dyn crate::store::Store>,
        clock: Arc<dyn notifier::Clock>,
    ) -> io::Result<Server> {
        // Every store call is timed for the metrics, whatever the backend.
        let metrics = Arc::new(metrics::Metrics::new());
        let timing = metrics.clone();
        let store: Arc<dyn crate::store::Store> = Arc::new(crate::store::metered::MeteredStore::new(
            store,
            Arc::new(move |operation, elapsed| timing.store_call(operation, elapsed)),
        ));
        if !config.notify.enabled {
            let engine = Engine::new(store, config.engine.clone());
            return Server::bind_with(config, engine, None, metrics).await;
        }
        let (observed, events) = notifier::observe(store, clock.clone());
        let engine = Engine::new(observed.clone(), config.engine.clone());
        let longpoll = Arc::new(push::longpoll::LongPoll::default());
        let mut enablers: Vec<Arc<dyn push::PushEnabler>> =
            vec![Arc::new(push::longpoll::LongPollEnabler(longpoll.clone()))];
        if config.notify.webhook.secret.is_some() {
            enablers.push(Arc::new(push::webhook::WebhookEnabler::new(config.notify.webhook.clone())));
        }
        if !config.notify.sms.username.is_empty() {
            let sms = push::kannel::KannelEnabler::new(config.notify.sms.clone())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
            enablers.push(Arc::new(sms));
        }
        let settings = notifier::NotifierSettings {
            server_id: config.notify.server_id.clone(),
            policy: config.notify.policy.clone(),
            max_attempts: config.notify.max_attempts,
            datastores: config.engine.datastores.clone(),
        };
        let n = notifier::Notifier::new(observed, settings, enablers, longpoll, clock);
        n.set_metrics(metrics.clone());
        n.start_events(events);
        Server::bind_with(config, engine, Some(n), metrics).await
    }

    async fn bind_with(
        config: Config,
        engine: Engine,
        notifier: Option<Arc<notifier::Notifier>>,
        metrics: Arc<metrics::Metrics>,
    ) -> io::Result<Server> {
        let listener = TcpListener::bind(config.listen).await?;
        let local_addr = listener.local_addr()?;
        let tls = match config.tls.enabled() {
            false => None,
            true => {
                let invalid = |e: tls::TlsError| io::Error::new(io::ErrorKind::InvalidInput, e.to_string());
                let (listen, cert, key) = config.tls.parts().map_err(invalid)?;
                let certified = Arc::new(tls::Tls::new(cert, key).map_err(invalid)?);
                let listener = TcpListener::bind(listen).await?;
                let addr = listener.local_addr()?;
                Some((listener, addr, certified))
            }
        };
        let sessions = Sessions::new(Duration::from_secs(config.session_timeout_secs), config.max_sessions);
        let history = console::activity::History::new(config.console.history);
        let dumps = console::activity::Dumps::new(config.console.dump_messages, config.console.dump_bytes);
        let metrics_listener = match config.metrics.listen {
            Some(addr) => Some(TcpListener::bind(addr).await?),
            None => None,
        };
        Ok(Server {
            listener,
            local_addr,
            tls,
            metrics_listener,
            shared: Arc::new(Shared {
                config,
                engine,
                sessions,
                user_locks: UserLocks::new(),
                drain: Default::default(),
                notifier,
                metrics,
                history,
                dumps,
            }),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The HTTPS listener's address, with `[tls]`.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref().map(|(_, addr, _)| *addr)
    }

    /// Serves until `shutdown` completes, then drains connections (at most [`SHUTDOWN_GRACE`]).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        let Server { listener, local_addr, tls, metrics_listener, shared } = self;
        info!("listening on http://{local_addr} (sync endpoint {})", shared.config.sync_path);
        let (tls_listener, tls) = match tls {
            Some((l, addr, t)) => {
                info!("TLS listening on https://{addr}");
                (Some(l), Some(t))
            }
            None => (None, None),
        };
        let reloader = reload_on_hangup(tls.clone())?;
        let (stop, stopped) = watch::channel(false);
        let sweeper = tokio::spawn(sweep_sessions(shared.clone()));
        let dispatcher = shared.notifier.clone().map(|n| tokio::spawn(n.run(stopped.clone())));
        let poller = (shared.config.imap.enabled && shared.config.imap.poll_secs > 0)
            .then(|| tokio::spawn(poll_backend(shared.clone())));
        let watcher = (shared.config.imap.enabled && shared.config.imap.idle)
            .then(|| tokio::spawn(imap_watch::run(shared.clone())));
        let metrics = metrics_listener.map(|l| tokio::spawn(metrics::serve(shared.clone(), l, stopped.clone())));
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        let mut drain_deadline: Option<Instant> = None;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                () = &mut shutdown, if drain_deadline.is_none() => {
                    // Keep serving a moment: sessions mid-sync are suspended, not cut off.
                    info!("stop requested: suspending sessions in progress, refusing new ones");
                    shared.drain.start();
                    drain_deadline = Some(Instant::now() + SHUTDOWN_GRACE);
                }
                _ = tick.tick(), if drain_deadline.is_some() => {
                    let now = Instant::now();
                    if shared.drain.quiet(now) || drain_deadline.is_some_and(|d| now >= d) {
                        break;
                    }
                }
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        connections.spawn(connection(shared.clone(), stream, peer, local_addr, false, stopped.clone()));
                    }
                    Err(e) => {
                        // Out of descriptors and the like: wait instead of spinning.
                        warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                accepted = accept_tls(tls_listener.as_ref()) => match (accepted, &tls) {
                    (Ok((stream, peer)), Some(tls)) => {
                        let _ = stream.set_nodelay(true);
                        let local = stream.local_addr().unwrap_or(local_addr);
                        connections.spawn(tls_connection(shared.clone(), tls.clone(), stream, peer, local, stopped.clone()));
                    }
                    (Ok(_), None) => {}
                    (Err(e), _) => {
                        warn!("TLS accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        drop(listener);
        drop(tls_listener);
        reloader.abort();
        info!(connections = connections.len(), "shutting down");
        let _ = stop.send(true);
        let drain = async { while connections.join_next().await.is_some() {} };
        if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
            warn!(connections = connections.len(), "requests still running after {SHUTDOWN_GRACE:?}: dropped");
            connections.abort_all();
        }
        sweeper.abort();
        if let Some(d) = dispatcher {
            d.abort();
        }
        if let Some(p) = poller {
            p.abort();
        }
        if let Some(m) = metrics {
            m.abort();
        }
        if let Some(w) = watcher {
            // Its threads see the drain and log out after their current IDLE period at most.
            w.abort();
        }
        info!("stopped");
        Ok(())
    }
}

/// The next connection of the TLS listener; never, without one.
async fn accept_tls(listener: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// Does the TLS handshake (at most [`tls::HANDSHAKE_TIMEOUT`]), then serves the connection.
async fn tls_connection(
    shared: Arc<Shared>,
    tls: Arc<tls::Tls>,
    stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    stopped: watch::Receiver<bool>,
) {
    // A browser or client pointed at http:// on this port: say so instead of a TLS error.
    let mut first = [0u8; 1];
    if let Ok(Ok(1)) = tokio::time::timeout(tls::HANDSHAKE_TIMEOUT, stream.peek(&mut first)).await {
        if first[0].is_ascii_uppercase() {
            info!(%peer, "plain HTTP on the TLS port: answered 400");
            let body = "this port speaks TLS: use https://\n";
            let answer = format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let mut stream = stream;
            let _ = tokio::time::timeout(Duration::from_secs(5), stream.write_all(answer.as_bytes())).await;
            return;
        }
    }
    match tokio::time::timeout(tls::HANDSHAKE_TIMEOUT, tls.acceptor().accept(stream)).await {
        Ok(Ok(stream)) => connection(shared, stream, peer, local, true, stopped).await,
        // Plain HTTP on the TLS port, a client that does not trust the certificate, a scanner.
        Ok(Err(e)) => info!(%peer, "TLS handshake failed: {e}"),
        Err(_) => info!(%peer, "TLS handshake not finished within {:?}", tls::HANDSHAKE_TIMEOUT),
    }
}

/// Reloads the certificate at each SIGHUP (logging the outcome); without `[tls]` a SIGHUP
/// is logged and otherwise ignored (it does not stop the gateway).
fn reload_on_hangup(tls: Option<Arc<tls::Tls>>) -> io::Result<tokio::task::JoinHandle<()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangup = signal(SignalKind::hangup())?;
        Ok(tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                let Some(tls) = tls.clone() else {
                    info!("SIGHUP received: nothing to reload (no [tls])");
                    continue;
                };
                match tokio::task::spawn_blocking(move || tls.reload()).await {
                    Ok(Ok(())) => info!("SIGHUP received: TLS certificate reloaded"),
                    Ok(Err(e)) => {
                        tracing::error!("SIGHUP received: TLS certificate NOT reloaded, the old one stays: {e}")
                    }
                    Err(e) => tracing::error!("TLS reload task failed: {e}"),
                }
            }
        }))
    }
    #[cfg(not(unix))]
    {
        let _ = tls;
        Ok(tokio::spawn(async {}))
    }
}

/// Serves one connection (plain, or TLS when `secure`); on shutdown finishes the request in
/// flight and closes.
async fn connection<S>(
    shared: Arc<Shared>,
    stream: S,
    peer: SocketAddr,
    local: SocketAddr,
    secure: bool,
    mut stopped: watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(dispatch(shared, req, peer, local, secure).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                debug!(%peer, "connection ended: {e}");
            }
            return;
        }
        _ = stopped.wait_for(|stop| *stop) => {}
    }
    conn.as_mut().graceful_shutdown();
    if let Err(e) = conn.await {
        debug!(%peer, "connection ended during shutdown: {e}");
    }
}

/// Picks the handler by path and method.
async fn dispatch(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    peer: SocketAddr,
    local: SocketAddr,
    secure: bool,
) -> HttpResponse {
    let path = req.uri().path();
    if path == shared.config.sync_path {
        if req.method() == Method::POST {
            return sync::handle(shared, req, peer, local, secure).await;
        }
        return http::method_not_allowed("POST");
    }
    if path == "/api/v1" || path.starts_with("/api/v1/") {
        return api::handle(shared, req).await;
    }
    if path == "/notify" {
        return push::longpoll::handle(shared, req).await;
    }
    if path.starts_with("/link/") {
        return link::handle(shared, req).await;
    }
    if path == "/console" || path.starts_with("/console/") {
        return console::handle(shared, req, peer, secure).await;
    }
    if path == "/healthz" {
        return match *req.method() {
            Method::GET | Method::HEAD => http::text(StatusCode::OK, "ok"),
            _ => http::method_not_allowed("GET, HEAD"),
        };
    }
    http::text(StatusCode::NOT_FOUND, "not found")
}

/// Looks for changes made directly in the backing store (IMAP) of every user every
/// `[imap] poll_secs`, recorded like any change (so automatic devices are alerted).
async fn poll_backend(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(shared.config.imap.poll_secs.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if shared.drain.is_draining() {
            return;
        }
        let store = shared.engine.store().clone();
        let pulled = tokio::task::spawn_blocking(move || -> Result<usize, crate::store::StoreError> {
            let mut total = 0;
            for user in store.list_users()? {
                match store.pull_backend(user.id) {
                    Ok(n) => total += n,
                    Err(e) => warn!(user = %user.name, error = %e, "backing store not read"),
                }
            }
            Ok(total)
        })
        .await;
        match pulled {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => info!(changes = n, "changes picked up from the backing store"),
            Ok(Err(e)) => warn!(error = %e, "backing store poll failed"),
            Err(e) => warn!(error = %e, "backing store poll task failed"),
        }
    }
}

/// Forgets idle sessions, checking a few times per timeout.
async fn sweep_sessions(shared: Arc<Shared>) {
    let timeout = Duration::from_secs(shared.config.session_timeout_secs);
    let mut tick = tokio::time::interval((timeout / 4).clamp(Duration::from_secs(1), Duration::from_secs(30)));
    loop {
        tick.tick().await;
        let (expired, abandoned) = shared.sessions.sweep_abandoned(Instant::now());
        if expired > 0 {
            debug!(expired, remaining = shared.sessions.len(), "idle sessions forgotten");
        }
        if !abandoned.is_empty() {
            shared.metrics.sessions_expired(abandoned.len());
            for (token, session) in &abandoned {
                warn!(
                    sid = token.short(),
                    user = session.user(),
                    device = session.device(),
                    messages = session.stats().messages,
                    "session abandoned: the device stopped answering; forgotten after the session timeout"
                );
                let expired = Some(crate::engine::stats::Outcome::Expired);
                let record = console::activity::SessionRecord::of(session, token.short(), expired);
                shared.history.push(record);
            }
        }
    }
}
