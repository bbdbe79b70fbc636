//! Interop: the real SyncEvolution client (one `$HOME` per simulated device) against the real
//! `syncgate` binary, over HTTP on 127.0.0.1. Needs `syncevolution` and a C compiler for the
//! client's LD_PRELOAD shim; `scripts/test` installs both. Field notes: tests/interop/NOTES.md.
//!
//! Layout:
//! - `harness`: processes: the shim, devices (configure, sync, item files); `gateway`: the
//!   gateway under test;
//! - `report`: what a client run reports (`status.ini`, message dumps) and its assertions;
//! - `items`: vCard/iCalendar/note builders and the semantic comparison of items;
//! - `reference`: opt-in `SYNCGATE_INTEROP_SERVER=reference`, the same tests against
//!   SyncEvolution's own server, to check the tests themselves;
//! - `sync_modes`: the acceptance tests;
//! - `concurrency`: two devices of one user syncing at the same moment;
//! - `crash`: the gateway killed (SIGKILL) mid-session and restarted;
//! - `suspend`: the client suspended (SIGINT → Alert 224) and resumed (Alert 225).
//! - `client`: `syncgate client` with SyncEvolution through syncgate, and in every mode with
//!   syncgate and with the reference server;
//! - `memory`: the gateway's peak RSS while 50 MB of large objects go up and down.

mod client;
mod concurrency;
mod conflicts;
mod crash;
mod gateway;
mod harness;
mod https;
mod items;
mod large_objects;
mod memory;
mod reference;
mod report;
mod suspend;
mod sync_modes;
