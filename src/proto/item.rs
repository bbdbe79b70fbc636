//! `Item` and its `Data`.

use crate::proto::devinf::{DevInf, Property};
use crate::proto::location::{Source, Target};
use crate::proto::meta::{Anchor, Meta};

/// `Item`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Item {
    pub target: Option<Target>,
    pub source: Option<Source>,
    /// DS 1.2 hierarchical sync: the parent's LocURI.
    pub source_parent: Option<String>,
    pub target_parent: Option<String>,
    pub meta: Option<Meta>,
    pub data: Option<Data>,
    /// A large-object chunk that is not the last one.
    pub more_data: bool,
}

/// The content of an Item's `Data`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Data {
    /// Character or binary data, byte-exact as carried on the wire (CRLF kept).
    Bytes(Vec<u8>),
    /// Device information (Put/Results of `./devinf1x`).
    DevInf(Box<DevInf>),
    /// An anchor (the Next-anchor echo in the Status of a sync Alert).
    Anchor(Anchor),
    /// DevInf `Property` elements (the Field part of a DS 1.2 Filter).
    Properties(Vec<Property>),
}

impl Data {
    /// The bytes of a `Bytes` payload.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Data::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

impl From<&str> for Data {
    fn from(s: &str) -> Self {
        Data::Bytes(s.as_bytes().to_vec())
    }
}
