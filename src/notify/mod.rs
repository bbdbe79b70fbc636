//! Server-alerted notifications: how the server asks a client to start a sync session, and
//! whom it asks when.
//!
//! - [`san`]: package #0 (PROTOCOL.md §8): the DS 1.2 binary Server Alerted Notification with
//!   its MD5 digest; [`legacy`]: the SyncML 1.0/1.1 form, an Alert message (§8.4);
//! - [`wap`]: the WAP Push over SMS framing that carries a notification to a handset (§8.5: WSP
//!   Push PDU, port and concatenation UDH, splitting into SMS and reassembling them);
//! - [`prefs`]: a device's sync preferences (automatic, scheduled, manual; channel);
//! - [`policy`]: the operator's policy and the decision who is alerted for a change, when;
//! - [`schedule`]: scheduled runs and quiet hours in the device's time zone.
//!
//! Pure bytes, data and arithmetic on times the caller gives: no sockets, files, clocks here.
//! Queues live in the store (`store::alerts`); delivery and the clock in `server::notifier` and
//! `server::push`.

pub mod legacy;
pub mod policy;
pub mod prefs;
pub mod san;
pub mod schedule;
pub mod wap;
