//! The conformance suite: black-box cases that talk to a SyncML server over HTTP only
//! (`syncgate conformance --url URL --user U --password P`). Laid out by protocol area; see
//! `conformance/README.md`.
//!
//! Layout:
//! - this file: what a case is ([`Case`], [`Area`], [`Outcome`]), the run context ([`Ctx`]),
//!   the error a case fails with ([`CaseError`]) and the list of all cases ([`all_cases`]);
//! - `session`: a scriptable SyncML client session built on `crate::proto`, `crate::codec`,
//!   `crate::auth` and `crate::transport` (auth with Chal, RespURI, automatic Status answers);
//! - `messages`: builders for commands and credentials, and status lookups (pure);
//! - `runner`: runs cases, the expected-failures file, the per-case lines and the summary;
//! - one file per protocol area (`headers_auth`, `alerts_anchors`, `sync_package`, `map`,
//!   `large_objects`, `devinf`, `suspend_resume`, `status_rules`, `wbxml`, `filters`, `hostile`).
//!
//! Cases never call the engine or a store: everything goes through HTTP, so the suite runs
//! against any SyncML server. Every case uses its own device id (`{prefix}-{case id}`, and
//! `{prefix}-{case id}-b` for a second device) so that cases are independent and re-runnable.

mod alerts_anchors;
mod devinf;
mod filters;
mod headers_auth;
mod hostile;
mod large_objects;
mod map;
pub mod messages;
pub mod runner;
pub mod session;
mod status_rules;
mod suspend_resume;
mod sync_package;
mod wbxml;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::codec::{DecodeError, EncodeError, Encoding};
use crate::transport::{TransportError, Url};

/// The protocol area a case belongs to (one source file each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Area {
    Headers,
    Auth,
    AlertsAnchors,
    SyncPackage,
    Map,
    LargeObjects,
    DevInf,
    SuspendResume,
    StatusRules,
    Wbxml,
    Filters,
    Hostile,
}

impl Area {
    /// Every area, in the order the suite runs them.
    pub const ALL: [Area; 12] = [
        Area::Headers,
        Area::Auth,
        Area::AlertsAnchors,
        Area::SyncPackage,
        Area::Map,
        Area::LargeObjects,
        Area::DevInf,
        Area::SuspendResume,
        Area::StatusRules,
        Area::Wbxml,
        Area::Filters,
        Area::Hostile,
    ];

    /// A short name for listings.
    pub fn name(self) -> &'static str {
        match self {
            Area::Headers => "headers",
            Area::Auth => "auth",
            Area::AlertsAnchors => "alerts and anchors",
            Area::SyncPackage => "sync package",
            Area::Map => "map",
            Area::LargeObjects => "large objects",
            Area::DevInf => "devinf",
            Area::SuspendResume => "suspend and resume",
            Area::StatusRules => "status rules",
            Area::Wbxml => "wbxml",
            Area::Filters => "filters",
            Area::Hostile => "hostile input",
        }
    }
}

/// What a case found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail(String),
    /// The server does not claim the feature (e.g. no DS 1.2 suspend), with the evidence.
    NotApplicable(String),
}

/// Why a case failed: the exchange broke, or the server answered against the protocol.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    #[error("HTTP {status} instead of a SyncML answer: {body}")]
    Http { status: u16, body: String },
    #[error("undecodable answer: {0}")]
    Decode(#[from] DecodeError),
    #[error("cannot encode the request: {0}")]
    Encode(#[from] EncodeError),
    /// The server answered, but not as the protocol says.
    #[error("{0}")]
    Protocol(String),
    /// The case found the feature unsupported (turned into [`Outcome::NotApplicable`]).
    #[error("not applicable: {0}")]
    NotApplicable(String),
}

/// Fails the case with `reason` unless `cond` holds.
pub fn check(cond: bool, reason: impl FnOnce() -> String) -> Result<(), CaseError> {
    if cond {
        Ok(())
    } else {
        Err(CaseError::Protocol(reason()))
    }
}

/// What a case returns; `Ok(())` is a pass.
pub type CaseResult = Result<(), CaseError>;

/// The future a case runs as (cases run one at a time on one thread, so no `Send`).
pub type CaseFuture = Pin<Box<dyn Future<Output = CaseResult>>>;

/// One conformance case.
#[derive(Clone, Copy)]
pub struct Case {
    /// Stable id, e.g. `auth-03`; device ids derive from it.
    pub id: &'static str,
    pub area: Area,
    /// What it checks in protocol terms, with the PROTOCOL.md section.
    pub title: &'static str,
    /// How many devices the case uses (1: `{prefix}-{id}`; 2: also `{prefix}-{id}-b`).
    pub devices: u8,
    pub run: fn(Ctx) -> CaseFuture,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Case").field("id", &self.id).field("area", &self.area).finish()
    }
}

impl Case {
    /// The device ids this case uses under `prefix`.
    pub fn device_ids(&self, prefix: &str) -> Vec<String> {
        let first = format!("{prefix}-{}", self.id);
        (0..self.devices)
            .map(|i| if i == 0 { first.clone() } else { format!("{first}-{}", (b'a' + i) as char) })
            .collect()
    }
}

/// Declares a case: `case!("auth-03", Area::Auth, "title (§5.2)", fn_name)` or with a device
/// count as fifth argument.
macro_rules! case {
    ($id:literal, $area:expr, $title:literal, $f:path) => {
        case!($id, $area, $title, $f, 1)
    };
    ($id:literal, $area:expr, $title:literal, $f:path, $devices:literal) => {
        $crate::conformance::Case {
            id: $id,
            area: $area,
            title: $title,
            devices: $devices,
            run: |ctx| Box::pin($f(ctx)),
        }
    };
}
pub(crate) use case;

/// Everything a case needs to reach the server under test.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// The sync URL as given (also the SyncHdr Target LocURI).
    pub url_text: String,
    pub url: Url,
    pub user: String,
    pub password: String,
    /// Device ids are `{prefix}-{case id}`.
    pub prefix: String,
    /// The encoding of ordinary cases (`--wbxml` switches to WBXML).
    pub encoding: Encoding,
    /// The datastore ordinary cases sync (alerted as Target LocURI).
    pub datastore: String,
    /// How long one HTTP exchange may take.
    pub timeout: Duration,
    /// The id of the case this context was made for.
    pub case_id: String,
}

impl Ctx {
    /// The device id of the case's `n`th device (0 = the first).
    pub fn device_id(&self, n: u8) -> String {
        if n == 0 {
            format!("{}-{}", self.prefix, self.case_id)
        } else {
            format!("{}-{}-{}", self.prefix, self.case_id, (b'a' + n) as char)
        }
    }
}

/// Every case of the suite, area by area.
pub fn all_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    cases.extend(headers_auth::cases());
    cases.extend(alerts_anchors::cases());
    cases.extend(sync_package::cases());
    cases.extend(map::cases());
    cases.extend(large_objects::cases());
    cases.extend(devinf::cases());
    cases.extend(suspend_resume::cases());
    cases.extend(status_rules::cases());
    cases.extend(wbxml::cases());
    cases.extend(filters::cases());
    cases.extend(hostile::cases());
    cases
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn cases_have_unique_ids_titles_with_sections_and_enough_of_them() {
        let cases = all_cases();
        assert!(cases.len() >= 60, "{} cases", cases.len());
        let mut ids = HashSet::new();
        for c in &cases {
            assert!(ids.insert(c.id), "duplicate id {}", c.id);
            assert!(c.title.contains('§'), "{}: the title names a PROTOCOL.md section", c.id);
            assert!((1..=2).contains(&c.devices), "{}", c.id);
        }
        for area in Area::ALL {
            assert!(cases.iter().any(|c| c.area == area), "no case for {}", area.name());
        }
    }

    #[test]
    fn device_ids_derive_from_prefix_and_case() {
        let c = all_cases().into_iter().find(|c| c.devices == 2).expect("a two-device case");
        let ids = c.device_ids("conf-1");
        assert_eq!(ids, vec![format!("conf-1-{}", c.id), format!("conf-1-{}-b", c.id)]);
    }
}
