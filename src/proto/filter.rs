//! DS 1.2 `Filter` (in the Target of a sync Alert's item).

use crate::proto::item::Item;
use crate::proto::meta::Meta;

/// `Filter`: the content type it applies to, field and record parts, and the filter type.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Filter {
    pub meta: Meta,
    /// Which properties travel (Item Data holds DevInf `Property` elements).
    pub field: Option<Item>,
    /// Which items belong to the sync set (Item Data holds the query, e.g. `syncml:filtertype-cgi`).
    pub record: Option<Item>,
    /// Absent means EXCLUSIVE.
    pub filter_type: Option<FilterType>,
}

/// `FilterType`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilterType {
    Inclusive,
    Exclusive,
    /// Any other value, kept so the engine can answer 422.
    Other(String),
}

impl FilterType {
    /// Parses the wire value (case-insensitive).
    pub fn parse(s: &str) -> FilterType {
        if s.eq_ignore_ascii_case("INCLUSIVE") {
            FilterType::Inclusive
        } else if s.eq_ignore_ascii_case("EXCLUSIVE") {
            FilterType::Exclusive
        } else {
            FilterType::Other(s.to_string())
        }
    }

    /// The wire value.
    pub fn as_str(&self) -> &str {
        match self {
            FilterType::Inclusive => "INCLUSIVE",
            FilterType::Exclusive => "EXCLUSIVE",
            FilterType::Other(s) => s,
        }
    }
}
