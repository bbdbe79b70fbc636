//! The sans-IO sync engine: one SyncML session from the first client message to the last
//! server reply (PROTOCOL.md §3): authentication, alerts and anchors, change sets, ID maps,
//! DevInf, status bookkeeping, message size limits.
//!
//! The engine is given decoded messages, a [`Context`] (the RespURI to advertise, the time from
//! an injected clock, the encoding) and a [`Store`]; it returns the reply message. It never
//! touches sockets, files or the system clock, and never names a concrete store.

mod alert;
mod auth;
mod client_sync;
mod config;
mod conflict;
mod devinf;
mod fields;
mod filters;
mod hierarchy;
mod matching;
mod out_chunk;
pub mod quirks;
mod reply;
mod resume;
mod server_sync;
mod session;
pub mod stats;

pub use config::{AuthConfig, DatastoreConfig, EngineConfig};
pub use conflict::ConflictPolicy;
pub use quirks::{QuirkRule, Quirks};
pub use session::Session;

use std::sync::Arc;

use crate::codec::Encoding;
use crate::proto::Message;
use crate::store::Store;

/// What the transport tells the engine about one incoming message.
#[derive(Clone, Debug)]
pub struct Context {
    /// The URI the client must use for its next message (carries the session token). The
    /// engine puts it in the reply's RespURI.
    pub resp_uri: String,
    /// Current time, Unix seconds (from the injected clock).
    pub now: i64,
    /// Encoding of the request (and of the reply, unless a quirk forces one: [`Reply::encoding`]).
    pub encoding: Encoding,
    /// The HTTP User-Agent header, when the request had one (device quirks are keyed by it).
    pub user_agent: Option<String>,
    /// The gateway is shutting down: a DS 1.2 session in the middle of its sync is suspended
    /// with this message (server Alert 224, state saved for the client's Alert 225).
    pub suspend: bool,
}

/// The engine's answer to one message.
#[derive(Clone, Debug)]
pub struct Reply {
    /// The message to send back.
    pub message: Message,
    /// True when the session is over (successfully or not): the transport may forget it.
    pub finished: bool,
    /// The encoding to send the reply in: the request's, or the one a quirk forces.
    pub encoding: Encoding,
}

/// The engine: configuration plus the store. Cheap to share (`Arc` inside).
#[derive(Clone, Debug)]
pub struct Engine {
    store: Arc<dyn Store>,
    config: Arc<EngineConfig>,
    throttle: Arc<auth::Throttle>,
}

impl Engine {
    pub fn new(store: Arc<dyn Store>, config: EngineConfig) -> Engine {
        Engine { store, config: Arc::new(config), throttle: Arc::default() }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// A fresh session, before its first message.
    pub fn new_session(&self) -> Session {
        Session::default()
    }

    /// Makes the device's next session a slow sync of every datastore: its anchors go, its
    /// ID maps and items stay (the service API's and the console's "force a slow sync").
    pub fn force_slow_sync(&self, user: crate::store::UserId, device: &str) -> Result<(), crate::store::StoreError> {
        for ds in &self.config.datastores {
            self.store.clear_anchor(user, device, &ds.name)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod conflict_tests;
#[cfg(test)]
mod large_object_tests;
#[cfg(test)]
mod quirks_tests;
#[cfg(test)]
mod resume_store_tests;
#[cfg(test)]
mod resume_tests;
#[cfg(test)]
mod tests;
