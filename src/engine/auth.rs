//! Authenticating a session's first message (PROTOCOL.md §5): basic and MD5 credentials,
//! per-device nonces (persisted, used once), challenges, and throttling of repeated failures.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::auth::{constant_time_eq, md5_credential_from_secret};
use crate::engine::config::AuthConfig;
use crate::proto::{Chal, Cred, Header, Meta, StatusCode};
use crate::store::{DeviceRecord, Store, StoreError, User};

/// The refusal reasons that are challenges, not failed logins.
const NO_CREDENTIALS: &str = "no credentials";
const FIRST_CONTACT: &str = "first contact: challenge with a nonce";

/// The scheme a client authenticated with (the next challenge repeats it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    Basic,
    Md5,
}

/// The outcome of checking a header.
#[derive(Debug)]
pub(crate) enum AuthOutcome {
    /// Authenticated for the whole session: answer 212 with this challenge for the next session.
    Accepted { user: User, chal: Chal },
    /// Refused: answer this status (401/407/...) with the challenge, and end the session.
    Refused {
        code: StatusCode,
        chal: Option<Chal>,
        reason: String,
        user: Option<String>,
        /// Nothing was wrong but the device had no credentials to give yet (none sent, or MD5
        /// before it knew a nonce): the challenge it retries with, not a failed login.
        challenge: bool,
    },
}

/// Failed attempts per user, for throttling (in memory: a restart forgives).
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    failures: Mutex<HashMap<String, (u32, i64)>>,
}

impl Throttle {
    fn blocked(&self, cfg: &AuthConfig, user: &str, now: i64) -> bool {
        if cfg.max_failures == 0 {
            return false;
        }
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        matches!(map.get(user), Some(&(n, since)) if n >= cfg.max_failures && now - since < cfg.throttle_seconds as i64)
    }

    fn failed(&self, cfg: &AuthConfig, user: &str, now: i64) -> u32 {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let e = map.entry(user.to_string()).or_insert((0, now));
        if now - e.1 >= cfg.throttle_seconds as i64 {
            *e = (0, now);
        }
        e.0 += 1;
        e.0
    }

    fn succeeded(&self, user: &str) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(user);
    }
}

/// A fresh nonce: 16 random-looking bytes derived from the system's hasher seeds and a counter.
/// Nonces need to be unpredictable enough not to be guessed and never repeat; they are not keys.
pub(crate) fn fresh_nonce() -> Vec<u8> {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut out = Vec::with_capacity(16);
    for i in 0..2u64 {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(n);
        h.write_u64(i);
        out.extend_from_slice(&h.finish().to_be_bytes());
    }
    out
}

pub(crate) fn md5_chal(nonce: &[u8]) -> Chal {
    Chal {
        meta: Meta {
            type_: Some("syncml:auth-md5".into()),
            format: Some("b64".into()),
            next_nonce: Some(B64.encode(nonce)),
            ..Default::default()
        },
    }
}

fn basic_chal() -> Chal {
    Chal { meta: Meta { type_: Some("syncml:auth-basic".into()), format: Some("b64".into()), ..Default::default() } }
}

/// Checks the credentials of a session's first message.
pub(crate) fn authenticate(
    store: &dyn Store,
    cfg: &AuthConfig,
    throttle: &Throttle,
    header: &Header,
    now: i64,
) -> Result<AuthOutcome, StoreError> {
    let device_id = header.source.loc_uri.as_str();
    let cred = header.cred.as_deref();
    let scheme = cred.map(scheme_of);
    // The user name: LocName, or the name inside a basic credential.
    let basic = match (cred, scheme) {
        (Some(c), Some(Some(Scheme::Basic))) => decode_basic(c),
        _ => None,
    };
    let name = header.source.loc_name.clone().filter(|n| !n.is_empty()).or_else(|| basic.as_ref().map(|b| b.0.clone()));

    // Every refusal issues a fresh nonce to the device (when the user is known), so a retry can
    // hash with it and a replayed message cannot succeed.
    let refuse = |code: StatusCode, reason: String, user: Option<&User>| -> Result<AuthOutcome, StoreError> {
        let chal = match user {
            Some(u) => Some(md5_chal(&issue_nonce(store, u, device_id)?)),
            None => Some(md5_chal(&fresh_nonce())),
        };
        // A challenge: the device had nothing to answer with yet (it retries with a credential).
        let challenge = reason == NO_CREDENTIALS || reason == FIRST_CONTACT;
        Ok(AuthOutcome::Refused { code, chal, reason, user: name.clone(), challenge })
    };

    let Some(cred) = cred else {
        let user = match &name {
            Some(n) => store.user_by_name(n)?,
            None => None,
        };
        return refuse(StatusCode::MissingCredentials, NO_CREDENTIALS.into(), user.as_ref());
    };
    let Some(name) = name.clone() else {
        return refuse(StatusCode::InvalidCredentials, "no user name (SyncHdr Source/LocName)".into(), None);
    };
    if throttle.blocked(cfg, &name, now) {
        return Ok(AuthOutcome::Refused {
            code: StatusCode::InvalidCredentials,
            chal: None,
            reason: format!("user {name:?} throttled after repeated failures"),
            user: Some(name),
            challenge: false,
        });
    }
    let Some(user) = store.user_by_name(&name)? else {
        throttle.failed(cfg, &name, now);
        return refuse(StatusCode::InvalidCredentials, format!("unknown user {name:?}"), None);
    };
    let device = store.device(user.id, device_id)?;
    let ok = match scheme.flatten() {
        Some(Scheme::Basic) if !cfg.allow_basic => {
            return refuse(StatusCode::InvalidCredentials, "basic authentication is disabled".into(), Some(&user));
        }
        Some(Scheme::Basic) => match &basic {
            Some((n, pw)) => {
                *n == user.name && constant_time_eq(crate::auth::md5_secret(n, pw).as_bytes(), user.secret.as_bytes())
            }
            None => false,
        },
        Some(Scheme::Md5) => {
            let nonce = device.as_ref().and_then(|d| d.nonce.clone());
            match nonce {
                None if !cfg.accept_empty_nonce => {
                    return refuse(StatusCode::InvalidCredentials, FIRST_CONTACT.into(), Some(&user));
                }
                nonce => {
                    let expected = md5_credential_from_secret(&user.secret, nonce.as_deref().unwrap_or(b""));
                    constant_time_eq(md5_data(cred).as_bytes(), expected.as_bytes())
                }
            }
        }
        None => {
            let t = cred.meta.as_ref().and_then(|m| m.type_.clone()).unwrap_or_default();
            return Ok(AuthOutcome::Refused {
                code: StatusCode::OptionalFeatureNotSupported,
                chal: Some(md5_chal(&issue_nonce(store, &user, device_id)?)),
                reason: format!("unsupported authentication type {t:?}"),
                user: Some(name),
                challenge: false,
            });
        }
    };
    if !ok {
        let n = throttle.failed(cfg, &name, now);
        return refuse(
            StatusCode::InvalidCredentials,
            format!("wrong credentials for {name:?} (failure {n})"),
            Some(&user),
        );
    }
    throttle.succeeded(&name);
    let chal = match scheme.flatten() {
        Some(Scheme::Basic) => basic_chal(),
        _ => md5_chal(&issue_nonce(store, &user, device_id)?),
    };
    Ok(AuthOutcome::Accepted { user, chal })
}

/// Stores and returns a new nonce for the device.
fn issue_nonce(store: &dyn Store, user: &User, device_id: &str) -> Result<Vec<u8>, StoreError> {
    let nonce = fresh_nonce();
    let mut rec = store
        .device(user.id, device_id)?
        .unwrap_or_else(|| DeviceRecord { device_id: device_id.into(), ..Default::default() });
    rec.nonce = Some(nonce.clone());
    store.put_device(user.id, &rec)?;
    Ok(nonce)
}

/// `syncml:auth-basic`, `syncml:auth-md5`, or unknown (`None`). A missing type means basic.
fn scheme_of(c: &Cred) -> Option<Scheme> {
    match c.meta.as_ref().and_then(|m| m.type_.as_deref()).map(str::trim) {
        None | Some("") => Some(Scheme::Basic),
        Some(t) if t.eq_ignore_ascii_case("syncml:auth-basic") => Some(Scheme::Basic),
        Some(t) if t.eq_ignore_ascii_case("syncml:auth-md5") => Some(Scheme::Md5),
        Some(_) => None,
    }
}

fn decode_basic(c: &Cred) -> Option<(String, String)> {
    let raw = B64.decode(c.data.trim_ascii()).ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// The MD5 credential as base64 text: clients may send the 16 raw digest bytes in WBXML.
fn md5_data(c: &Cred) -> String {
    let d = c.data.trim_ascii();
    let is_b64_text = d.len() == 24 && d.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
    if !is_b64_text && c.data.len() == 16 {
        B64.encode(&c.data)
    } else {
        String::from_utf8_lossy(d).into_owned()
    }
}
