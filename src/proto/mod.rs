//! The typed SyncML model: messages, header, every command, items, meta information, filters,
//! device information, status and alert codes.
//!
//! Pure data: no bytes, no I/O, no knowledge of XML or WBXML (that is `codec`). Values the
//! protocol keeps open (status and alert codes, sync types, filter types) are enums that keep
//! unknown values instead of rejecting them, so the engine can answer them properly.

pub mod codes;
pub mod command;
pub mod cred;
pub mod devinf;
pub mod filter;
pub mod item;
pub mod location;
pub mod message;
pub mod meta;

pub use codes::{AlertCode, StatusCode};
pub use command::{
    Add, Alert, Atomic, CmdName, Command, Copy, Delete, Exec, Get, Map, MapItem, Move, Put, Replace, Results, Search,
    Sequence, Status, Sync,
};
pub use cred::{Chal, Cred};
pub use devinf::{CtCap, CtInfo, DataStore, DevInf, DsMem, Ext, FilterCap, PropParam, Property};
pub use filter::{Filter, FilterType};
pub use item::{Data, Item};
pub use location::{Source, Target};
pub use message::{Header, Message, Version};
pub use meta::{Anchor, Mem, Meta};
