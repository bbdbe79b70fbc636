//! SyncML credentials (PROTOCOL.md §5): the `syncml:auth-basic` and `syncml:auth-md5` formulas,
//! nonces, and constant-time comparison.
//!
//! Pure functions over bytes: no store, no clock, no sockets. The server keeps per user only
//! `B64(MD5(user:password))` ([`md5_secret`]), which is all the DS ≥ 1.1 MD5 scheme needs.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use md5::{Digest as _, Md5};

/// `B64(MD5("user:password"))`: the stored secret, and the inner part of the MD5 credential.
pub fn md5_secret(user: &str, password: &str) -> String {
    B64.encode(Md5::digest(format!("{user}:{password}").as_bytes()))
}

/// The `syncml:auth-md5` credential of SyncML ≥ 1.1 from the stored secret:
/// `B64(MD5(secret + ":" + nonce))`, `nonce` being the raw (base64-decoded) nonce bytes.
pub fn md5_credential_from_secret(secret: &str, nonce: &[u8]) -> String {
    let mut h = Md5::new();
    h.update(secret.as_bytes());
    h.update(b":");
    h.update(nonce);
    B64.encode(h.finalize())
}

/// The `syncml:auth-md5` credential of SyncML ≥ 1.1: `B64(MD5(B64(MD5(user:password)) ":" nonce))`.
pub fn md5_credential(user: &str, password: &str, nonce: &[u8]) -> String {
    md5_credential_from_secret(&md5_secret(user, password), nonce)
}

/// The `syncml:auth-basic` credential: `B64("user:password")`.
pub fn basic_credential(user: &str, password: &str) -> String {
    B64.encode(format!("{user}:{password}"))
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PROTOCOL.md §5.2: user `user`, password `pass`, nonce bytes `Synthesis`.
    #[test]
    fn protocol_test_vector() {
        assert_eq!(md5_secret("user", "pass"), "IaOShYhKJo1kWOP96wi+rA==");
        assert_eq!(md5_credential("user", "pass", b"Synthesis"), "zwukO8O/JRgYZhrKXWwWFQ==");
        assert_eq!(B64.encode(b"Synthesis"), "U3ludGhlc2lz");
        assert_eq!(basic_credential("user", "pass"), "dXNlcjpwYXNz");
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
