//! IMAP IDLE on every user's INBOX (issue 9, `[imap] idle`): a message delivered to the IMAP
//! store by anyone but syncgate joins the change log within a moment, so automatic devices are
//! alerted without waiting for the next poll (`[imap] poll_secs` still looks at every mailbox).
//!
//! One thread and one IMAP connection per watched user (users with at least one device, up to
//! `idle_users`); the set is looked at every few seconds. A watcher catches up (a pull) when it
//! connects, then idles in periods of `IDLE_PERIOD` (servers drop idle connections after 30
//! minutes); a lost connection is tried again after a pause. Watchers stop when the gateway
//! drains.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::{debug, info, warn};

use crate::imap::Connection;
use crate::server::Shared;
use crate::store::imap::config::ImapConfig;
use crate::store::{Store, User};

/// How long one IDLE lasts before it is renewed.
const IDLE_PERIOD: Duration = Duration::from_secs(60);
/// How often the set of watched users is looked at.
const REFRESH: Duration = Duration::from_secs(3);
/// The pause before a lost connection is tried again.
const RETRY: Duration = Duration::from_secs(10);

/// Keeps a watcher for every user with devices, until the gateway drains.
pub(super) async fn run(shared: Arc<Shared>) {
    let watching: Arc<Mutex<HashSet<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    loop {
        if shared.drain.is_draining() {
            stop.store(true, Ordering::Relaxed);
            return;
        }
        let store = shared.engine.store().clone();
        let users = tokio::task::spawn_blocking(move || -> Vec<User> {
            let Ok(users) = store.list_users() else { return Vec::new() };
            users.into_iter().filter(|u| store.list_devices(u.id).is_ok_and(|d| !d.is_empty())).collect()
        })
        .await
        .unwrap_or_default();
        for user in users {
            let Ok(mut w) = watching.lock() else { return };
            if w.contains(&user.name) {
                continue;
            }
            if w.len() >= shared.config.imap.idle_users {
                debug!(limit = shared.config.imap.idle_users, "IDLE watcher limit reached; others are polled");
                break;
            }
            w.insert(user.name.clone());
            let (cfg, store, stop, watching) =
                (shared.config.imap.clone(), shared.engine.store().clone(), stop.clone(), watching.clone());
            let spawned = std::thread::Builder::new().name(format!("idle-{}", user.name)).spawn(move || {
                watch(&cfg, store.as_ref(), &user, &stop);
                if let Ok(mut w) = watching.lock() {
                    w.remove(&user.name);
                }
            });
            if let Err(e) = spawned {
                warn!(error = %e, "cannot start an IDLE watcher");
            }
        }
        tokio::time::sleep(REFRESH).await;
    }
}

/// One user's watcher.
fn watch(cfg: &ImapConfig, store: &dyn Store, user: &User, stop: &AtomicBool) {
    let timeout = Duration::from_secs(cfg.timeout_secs.max(1));
    while !stop.load(Ordering::Relaxed) {
        let connected = (|| {
            let security = cfg.security().map_err(crate::imap::ImapError::Io)?;
            let mut c = Connection::connect_with(&cfg.address, timeout, &security)?;
            let (name, password) = cfg.credentials(&user.name)?;
            c.login(&name, &password)?;
            c.select("INBOX")?;
            Ok::<_, crate::imap::ImapError>(c)
        })();
        let mut c = match connected {
            Ok(c) => c,
            Err(e) => {
                warn!(user = %user.name, error = %e, "IDLE watcher cannot connect; trying again later");
                std::thread::sleep(RETRY);
                continue;
            }
        };
        // What arrived while nobody was watching.
        pull(store, user);
        debug!(user = %user.name, "watching INBOX with IDLE");
        while !stop.load(Ordering::Relaxed) {
            match c.idle(IDLE_PERIOD) {
                Ok(true) => pull(store, user),
                Ok(false) => {}
                Err(e) => {
                    warn!(user = %user.name, error = %e, "IDLE connection lost");
                    break;
                }
            }
        }
        if stop.load(Ordering::Relaxed) {
            c.logout();
            return;
        }
        std::thread::sleep(RETRY);
    }
}

fn pull(store: &dyn Store, user: &User) {
    match store.pull_backend(user.id) {
        Ok(0) => {}
        Ok(n) => info!(user = %user.name, changes = n, "changes picked up from IMAP (IDLE)"),
        Err(e) => warn!(user = %user.name, error = %e, "IMAP changes not read"),
    }
}
