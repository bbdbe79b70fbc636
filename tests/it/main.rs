//! The one integration-test binary: each module is an area.

mod api;
mod browser;
mod certs;
mod cli;
mod conformance;
mod console;
mod dovecot;
mod golden;
mod imap_client;
mod imap_store;
mod interop;
mod kannel;
mod libwbxml;
mod metrics;
mod notify;
mod partial;
mod props;
mod regressions;
mod server;
mod tls;
