//! The one integration-test binary: each module is an area.

mod api;
mod cli;
mod conformance;
mod dovecot;
mod golden;
mod imap_client;
mod imap_store;
mod interop;
mod kannel;
mod libwbxml;
mod notify;
mod partial;
mod props;
mod regressions;
mod server;
