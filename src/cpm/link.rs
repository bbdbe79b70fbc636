//! Links to full objects in network storage (list-plus-link partial sync, issue 8): a device
//! that keeps only the details of a file or message gets a URL the gateway serves the whole
//! object at (`server::link`).
//!
//! A link is `{base}/link/{user}/{datastore}/{guid}?exp={unix seconds}&sig={hex}`. The signature
//! is HMAC-SHA256 over user, datastore, item and expiry with a key of the user's: HMAC of the
//! operator's `[links] secret` with the credential secret the gateway stores for the user
//! (`B64(H(user:password))`). So a link is bound to one user and one item, cannot be altered,
//! expires, and stops working when the user's password changes or the user is removed. Without
//! `exp`/`sig` the same URL takes the user's own credentials (HTTP basic).
//!
//! Pure: the caller gives the time and the secrets.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The extension (`<Ext><XNam>`) that carries the link in a file or e-mail object (a gateway
/// convention: OMA DS has no link element, PROTOCOL.md §10.3).
pub const LINK_EXT: &str = "X-CPM-LINK";

/// Signature length in bytes (hex in the URL: twice that).
const SIG_BYTES: usize = 16;

/// The per-user signing key.
#[derive(Clone)]
pub struct LinkKey([u8; 32]);

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(…)")
    }
}

impl LinkKey {
    /// The key of a user: the operator's secret (may be empty) and the user's stored
    /// credential secret.
    pub fn for_user(operator_secret: &str, user_secret: &str) -> LinkKey {
        let mut mac = mac(operator_secret.as_bytes());
        mac.update(b"syncgate link key\0");
        mac.update(user_secret.as_bytes());
        LinkKey(mac.finalize().into_bytes().into())
    }

    fn sign(&self, user: &str, datastore: &str, guid: &str, exp: i64) -> [u8; SIG_BYTES] {
        let mut m = mac(&self.0);
        for part in [user, datastore, guid, &exp.to_string()] {
            m.update(part.as_bytes());
            m.update(b"\0");
        }
        let full = m.finalize().into_bytes();
        let mut out = [0u8; SIG_BYTES];
        out.copy_from_slice(&full[..SIG_BYTES]);
        out
    }
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
}

/// What a link addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkTarget {
    pub user: String,
    pub datastore: String,
    pub guid: String,
}

/// The path of an item's link, without signature: `/link/{user}/{datastore}/{guid}`.
pub fn path(t: &LinkTarget) -> String {
    format!("/link/{}/{}/{}", encode(&t.user), encode(&t.datastore), encode(&t.guid))
}

/// The signed URL of an item, valid until `exp` (Unix seconds).
pub fn url(base: &str, key: &LinkKey, t: &LinkTarget, exp: i64) -> String {
    let sig = hex(&key.sign(&t.user, &t.datastore, &t.guid, exp));
    format!("{}{}?exp={exp}&sig={sig}", base.trim_end_matches('/'), path(t))
}

/// Why a signed link is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link's signature does not match (altered, another user's or a revoked link)")]
    BadSignature,
    #[error("the link expired at {0} (Unix time); sync again for a fresh one")]
    Expired(i64),
    #[error("the link's exp or sig is malformed")]
    Malformed,
}

/// Checks a signed link's `exp` and `sig` at time `now`.
pub fn verify(key: &LinkKey, t: &LinkTarget, exp: &str, sig: &str, now: i64) -> Result<(), LinkError> {
    let exp: i64 = exp.parse().map_err(|_| LinkError::Malformed)?;
    let given = unhex(sig).ok_or(LinkError::Malformed)?;
    let want = key.sign(&t.user, &t.datastore, &t.guid, exp);
    // Constant time: no early exit on the first differing byte.
    let differ = given.len() != want.len() || given.iter().zip(want.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) != 0;
    if differ {
        return Err(LinkError::BadSignature);
    }
    if now > exp {
        return Err(LinkError::Expired(exp));
    }
    Ok(())
}

/// Splits a link path (`/link/{user}/{datastore}/{guid}`) into its target.
pub fn parse_path(path: &str) -> Option<LinkTarget> {
    let rest = path.strip_prefix("/link/")?;
    let mut parts = rest.split('/');
    let (user, datastore, guid) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || [user, datastore, guid].iter().any(|p| p.is_empty()) {
        return None;
    }
    Some(LinkTarget { user: decode(user)?, datastore: decode(datastore)?, guid: decode(guid)? })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Percent-encodes everything but unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let h = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(user: &str, guid: &str) -> LinkTarget {
        LinkTarget { user: user.into(), datastore: "content".into(), guid: guid.into() }
    }

    fn parts(url: &str) -> (LinkTarget, String, String) {
        let (base_path, query) = url.split_once('?').unwrap();
        let path = &base_path[base_path.find("/link/").unwrap()..];
        let q: Vec<(&str, &str)> = query.split('&').map(|kv| kv.split_once('=').unwrap()).collect();
        (parse_path(path).unwrap(), q[0].1.to_string(), q[1].1.to_string())
    }

    #[test]
    fn a_link_verifies_until_it_expires_and_not_when_altered() {
        let key = LinkKey::for_user("op", "secret-of-alice");
        let t = target("alice", "g 1/é");
        let u = url("http://gw:8080/", &key, &t, 1_000);
        assert!(u.starts_with("http://gw:8080/link/alice/content/g%201%2F%C3%A9?exp=1000&sig="), "{u}");
        let (back, exp, sig) = parts(&u);
        assert_eq!(back, t);
        assert_eq!(verify(&key, &back, &exp, &sig, 999), Ok(()));
        assert_eq!(verify(&key, &back, &exp, &sig, 1_001), Err(LinkError::Expired(1_000)));
        // Another item, a later expiry, a flipped signature, another user's key: refused.
        assert_eq!(verify(&key, &target("alice", "g2"), &exp, &sig, 0), Err(LinkError::BadSignature));
        assert_eq!(verify(&key, &back, "2000", &sig, 0), Err(LinkError::BadSignature));
        let mut flipped = sig.clone().into_bytes();
        flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
        assert_eq!(verify(&key, &back, &exp, std::str::from_utf8(&flipped).unwrap(), 0), Err(LinkError::BadSignature));
        let bob = LinkKey::for_user("op", "secret-of-bob");
        assert_eq!(verify(&bob, &back, &exp, &sig, 0), Err(LinkError::BadSignature));
        // A changed password (another stored secret) or operator secret revokes the link.
        assert_eq!(verify(&LinkKey::for_user("op", "new-secret"), &back, &exp, &sig, 0), Err(LinkError::BadSignature));
        assert_eq!(
            verify(&LinkKey::for_user("", "secret-of-alice"), &back, &exp, &sig, 0),
            Err(LinkError::BadSignature)
        );
        assert_eq!(verify(&key, &back, "x", &sig, 0), Err(LinkError::Malformed));
        assert_eq!(verify(&key, &back, &exp, "zz", 0), Err(LinkError::Malformed));
    }

    #[test]
    fn link_paths_parse_strictly() {
        assert_eq!(
            parse_path("/link/a/b/c"),
            Some(LinkTarget { user: "a".into(), datastore: "b".into(), guid: "c".into() })
        );
        for bad in ["/link/a/b", "/link/a/b/c/d", "/link//b/c", "/other/a/b/c", "/link/a/b/%zz", "/link/a/b/%ff"] {
            assert_eq!(parse_path(bad), None, "{bad}");
        }
    }
}
