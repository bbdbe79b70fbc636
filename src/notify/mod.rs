//! Server-alerted notifications: how the server asks a client to start a sync session.
//!
//! Owns package #0 (PROTOCOL.md §8): the DS 1.2 binary Server Alerted Notification with its MD5
//! digest ([`san`]) and the SyncML 1.0/1.1 form, an Alert message ([`legacy`], §8.4). Later: the push
//! transports that deliver the bytes (WAP Push over SMS, persistent connections, §8.5), per-device
//! notification preferences, and the scheduler that decides when to alert.
//!
//! Pure bytes and data: no sockets, files, clocks or store here. Delivery over the network belongs
//! in `server`; this module only builds, parses and checks notifications.

pub mod legacy;
pub mod policy;
pub mod prefs;
pub mod san;
pub mod schedule;
