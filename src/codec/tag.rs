//! The element catalogue shared by both encodings: [`Tag`] (every SyncML, MetInf and DevInf
//! element with its XML name, namespace and WBXML token) and the WBXML public identifiers.
//!
//! The tables are generated at build time from `schemas/wbxml/tags.tsv` and
//! `schemas/wbxml/publicids.tsv`; this module only adds the hand-written [`Namespace`] type.
//! It must not know anything about the typed model or about bytes on the wire.

/// The three XML namespaces of the SyncML family. In WBXML a SyncML document uses code page 0
/// for [`Namespace::SyncMl`] and page 1 for [`Namespace::MetInf`]; DevInf is a separate document
/// with its own page 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Namespace {
    /// `SYNCML:SYNCML1.x`: the message itself.
    SyncMl,
    /// `syncml:metinf`: meta information (`Type`, `Anchor`, `MaxMsgSize`, ...).
    MetInf,
    /// `syncml:devinf`: device information.
    DevInf,
}

impl Namespace {
    /// The XML namespace URI written for this namespace (SyncML's depends on the version).
    pub fn uri(self, minor: u8) -> &'static str {
        match self {
            Namespace::SyncMl => match minor {
                0 => "SYNCML:SYNCML1.0",
                1 => "SYNCML:SYNCML1.1",
                _ => "SYNCML:SYNCML1.2",
            },
            Namespace::MetInf => "syncml:metinf",
            Namespace::DevInf => "syncml:devinf",
        }
    }

    /// Classifies a namespace URI, case-insensitively as real clients need
    /// (pysyncml writes `syncml:syncml1.2`). Unknown URIs give `None`.
    pub fn from_uri(uri: &[u8]) -> Option<Namespace> {
        let lower = |p: &[u8]| uri.len() >= p.len() && uri[..p.len()].eq_ignore_ascii_case(p);
        if lower(b"syncml:syncml") {
            Some(Namespace::SyncMl)
        } else if uri.eq_ignore_ascii_case(b"syncml:metinf") {
            Some(Namespace::MetInf)
        } else if uri.eq_ignore_ascii_case(b"syncml:devinf") {
            Some(Namespace::DevInf)
        } else {
            None
        }
    }

    /// The SyncML minor version named by a `SYNCML:SYNCML1.x` URI (`None` for other URIs).
    pub fn syncml_minor(uri: &[u8]) -> Option<u8> {
        match uri.len() {
            16 if uri[..13].eq_ignore_ascii_case(b"syncml:syncml") && &uri[13..15] == b"1." => match uri[15] {
                b'0' => Some(0),
                b'1' => Some(1),
                b'2' => Some(2),
                _ => None,
            },
            _ => None,
        }
    }
}

include!(concat!(env!("OUT_DIR"), "/tags.rs"));

/// Looks up a public identifier: `(document namespace, minor version)` for a numeric WBXML id.
pub fn public_id(id: u32) -> Option<(Namespace, u8)> {
    PUBLIC_IDS.iter().find(|p| p.2 == id).map(|p| (p.0, p.1))
}

/// Looks up a formal public identifier string (`-//SYNCML//DTD SyncML 1.2//EN`), ignoring case
/// and surrounding white space.
pub fn public_id_fpi(fpi: &[u8]) -> Option<(Namespace, u8)> {
    let fpi = fpi.trim_ascii();
    PUBLIC_IDS.iter().find(|p| p.3.as_bytes().eq_ignore_ascii_case(fpi)).map(|p| (p.0, p.1))
}

/// The numeric public identifier of a document kind and version.
pub fn public_id_of(doc: Namespace, minor: u8) -> Option<u32> {
    PUBLIC_IDS.iter().find(|p| p.0 == doc && p.1 == minor).map(|p| p.2)
}

/// The FPI string of a document kind and version.
pub fn fpi_of(doc: Namespace, minor: u8) -> Option<&'static str> {
    PUBLIC_IDS.iter().find(|p| p.0 == doc && p.1 == minor).map(|p| p.3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_through_the_tables() {
        for &tag in Tag::ALL {
            let back = Tag::from_token(tag.namespace(), tag.token()).expect("token decodes");
            // DevInf Size and MaxSize share token 0x1C; the table lists MaxSize first.
            if tag != Tag::DevSize {
                assert_eq!(back, tag);
            }
            assert_eq!(Tag::from_name(tag.namespace(), tag.name().as_bytes()), Some(tag));
        }
        assert_eq!(Tag::from_token(Namespace::SyncMl, 0x2D), Some(Tag::SyncML));
        assert_eq!(Tag::from_token(Namespace::MetInf, 0x0C), Some(Tag::MetMaxMsgSize));
        assert_eq!(Tag::from_token(Namespace::DevInf, 0x1C), Some(Tag::DevMaxSize));
        assert_eq!(Tag::from_token(Namespace::SyncMl, 0x30), None);
    }

    #[test]
    fn public_ids_and_namespaces() {
        assert_eq!(public_id(0x1201), Some((Namespace::SyncMl, 2)));
        assert_eq!(public_id(0x0FD4), Some((Namespace::DevInf, 1)));
        assert_eq!(public_id_fpi(b"-//SYNCML//DTD SyncML 1.0//EN"), Some((Namespace::SyncMl, 0)));
        assert_eq!(Namespace::from_uri(b"syncml:SYNCML1.2"), Some(Namespace::SyncMl));
        assert_eq!(Namespace::syncml_minor(b"syncml:syncml1.1"), Some(1));
        assert_eq!(Namespace::from_uri(b"SYNCML:METINF"), Some(Namespace::MetInf));
    }
}
