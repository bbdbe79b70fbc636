//! `Target` and `Source`: where a message, command or item is addressed.

use crate::proto::filter::Filter;

/// `Target`: LocURI, optional LocName, and (DS 1.2, in a sync Alert's item) a Filter.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Target {
    pub loc_uri: String,
    pub loc_name: Option<String>,
    pub filter: Option<Box<Filter>>,
}

/// `Source`: LocURI and optional LocName (the user name in a SyncHdr).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Source {
    pub loc_uri: String,
    pub loc_name: Option<String>,
}

impl Target {
    /// A target with only a LocURI.
    pub fn uri(uri: impl Into<String>) -> Self {
        Target { loc_uri: uri.into(), ..Default::default() }
    }
}

impl Source {
    /// A source with only a LocURI.
    pub fn uri(uri: impl Into<String>) -> Self {
        Source { loc_uri: uri.into(), loc_name: None }
    }
}
