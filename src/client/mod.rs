//! A SyncML client: the simulated device behind `syncgate client`, the load generator and the
//! tests that need what SyncEvolution does not do.
//!
//! Layout:
//! - `session`: the sans-IO client session (packages 1, 3, 5 out; 2, 4, 6 in): it builds
//!   messages and consumes replies, never touching sockets, files or clocks;
//! - `types`: sync modes, the device configuration, the session report;
//! - `outgoing`: the device's change set and packing it into messages (large objects chunked);
//! - `incoming`: applying the server's Sync (Add/Replace/Delete, chunks) to the local data;
//! - `local`: the device's data ([`LocalStore`]: in memory or a folder of files);
//! - `state`: what a device remembers between sessions (anchors, digests, nonce);
//! - `driver`: the I/O loop: sends the session's messages over HTTP (`crate::transport`), and
//!   the state folder of `syncgate client`;
//! - `wait`: server-initiated sync on the device side: the long-poll for notifications and
//!   checking their digest.

pub mod driver;
mod incoming;
pub mod local;
mod outgoing;
pub mod session;
pub mod state;
mod types;
pub mod wait;

pub use local::{FolderLocal, LocalItem, LocalStore, MemoryLocal};
pub use session::{
    AuthKind, ClientConfig, ClientError, ClientSession, DatastoreReport, DatastoreSpec, Next, Outcome, Report, SyncMode,
};
pub use state::DeviceState;
#[cfg(test)]
mod tests;
