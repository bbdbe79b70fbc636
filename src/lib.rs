//! syncgate: a SyncML / OMA Data Synchronization 1.2 gateway.
//!
//! # Layout
//! - [`proto`]: the typed SyncML model (messages, commands, items, meta, DevInf, codes); pure data.
//! - [`codec`]: bytes ⇄ model, XML and WBXML over one token stream; element tables generated
//!   from `schemas/wbxml/`; decoding limits.
//! - [`auth`]: SyncML credential formulas (basic, MD5), constant-time comparison.
//! - [`engine`]: the sans-IO sync engine (session packages, auth, anchors, change sets, maps).
//! - [`store`]: the `Store` trait (users, devices, items, change log with deltas, anchors, maps,
//!   device sync preferences and the alert queue); SQLite and memory backends; `ImapStore`,
//!   which keeps the messages datastore in an IMAP server; `ObservedStore`, which tells the
//!   notifier about committed changes; `MeteredStore`, which times every call for the metrics.
//! - [`imap`]: a small blocking IMAP4rev1 client (for `ImapStore`).
//! - [`load`]: the load generator (`syncgate load`): many simulated devices, latency and
//!   throughput, the server's CPU and memory.
//! - [`notify`]: server-alerted notifications (package #0): the DS 1.2 binary SAN and the 1.1 form;
//!   their WAP Push over SMS framing; device sync preferences, the alert policy, schedules.
//! - [`filter`]: DS 1.2 record filters (`syncml:filtertype-cgi`) and the item properties they
//!   test.
//! - [`cpm`]: the message storage: folder/file/e-mail data objects and the service's operations
//!   on a user's folders, files and messages; reduced forms for limited devices (truncation,
//!   details plus link, vCard/iCalendar field filters) and the signed links to whole objects.
//! - [`config`]: the TOML configuration file (serde, defaults, unknown keys rejected).
//! - [`conformance`]: black-box protocol cases over HTTP, runnable against any SyncML server;
//!   the source lives in the top-level `conformance/` directory.
//! - [`server`]: the HTTP server: sync endpoint, sessions, service API, health, the links to
//!   whole objects (`/link`); the notifier (server-initiated sync) and the push channels
//!   (long-poll, webhook, SMS through Kannel); Prometheus metrics on their own listener
//!   (`server::metrics`) and the operator console (`server::console`: HTML pages, recent
//!   sessions, wire dumps). The engine counts what each session did (`engine::stats`).
//! - [`transport`]: the HTTP client side (POST a message, read the answer) for the simulated
//!   device, the conformance runner and the load generator. With `server` and `imap`, the only
//!   socket code.
//! - [`client`]: a SyncML client (the simulated device): sans-IO session, local data, state,
//!   the HTTP driver, and waiting for notifications.
//! - [`cli`]: the command-line front end used by `main.rs` (`codec`, `san`, `serve`, `user`,
//!   `client`, `load`, `conformance`, `bench`).
//!
//! `proto` and `codec` never touch sockets, files, clocks or a store.

pub mod auth;
pub mod cli;
pub mod client;
pub mod codec;
pub mod config;
#[path = "../conformance/mod.rs"]
pub mod conformance;
pub mod cpm;
pub mod engine;
pub mod filter;
pub mod imap;
pub mod load;
pub mod notify;
pub mod proto;
pub mod server;
pub mod store;
pub mod transport;
