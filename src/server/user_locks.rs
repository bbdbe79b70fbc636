//! One sync session at a time per user: the lease a session holds from its second message
//! (the first one authenticates) until it ends, so that sessions of one user's devices run one
//! after the other, as if they had not overlapped.
//!
//! Why a lock and not "busy": SyncEvolution (libsynthesis) treats an HTTP error as fatal and a
//! SyncML 503 as a failed sync, so answering busy turns every overlap of two devices into a
//! failed sync for the user. A waiting request costs the client nothing: it just sees a slower
//! reply. Why a lock at all: the store is transactional per call, but a session reads and
//! writes over several messages. Two slow syncs of one user at once each match the client's
//! items against the unmapped stored items as they were when the session looked first, so the
//! same new content sent by both is added twice and each device receives the other's copy
//! (a duplicate on every side). Two-way sessions lose nothing (a change committed after a
//! session's snapshot has a higher sequence number than the anchor stored for it, and is sent
//! next time), but a Replace can overwrite another device's concurrent change of the same item
//! without the conflict being noticed. Under the lease none of this can happen.
//!
//! A lease is given up when its session ends, is dropped (expiry, failure) or is taken over:
//! a new session of the same device takes the lease of its own older session (the client
//! abandoned it; it is forgotten), and any session takes the lease of one that is gone or has
//! been idle between messages for [`IDLE_TAKEOVER`]. A session that cannot get the lease within
//! [`WAIT`] is answered HTTP 503.
//!
//! Holds no sockets and no sessions: the caller says which holders are stale.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::sessions::SessionToken;

/// How long a session waits for another session of its user before it is answered busy.
pub const WAIT: Duration = Duration::from_secs(90);

/// A lease whose session has been idle this long between two messages may be taken over.
pub const IDLE_TAKEOVER: Duration = Duration::from_secs(60);

/// How often a waiting session looks again for a stale holder when nothing was released.
const RECHECK: Duration = Duration::from_secs(1);

/// The per-user leases of the server.
#[derive(Debug, Default)]
pub struct UserLocks {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    held: Mutex<HashMap<String, Holder>>,
    released: Notify,
}

#[derive(Clone, Debug)]
struct Holder {
    token: SessionToken,
    device: String,
}

/// A session's hold on its user; released on drop (unless it was taken over meanwhile).
pub struct UserLease {
    inner: Arc<Inner>,
    user: String,
    token: SessionToken,
}

/// A lease obtained, and the session it was taken from (to be forgotten), if any.
#[derive(Debug)]
pub struct Granted {
    pub lease: UserLease,
    pub taken_from: Option<SessionToken>,
}

/// No lease within [`WAIT`]: another session of the user is still running.
#[derive(Debug, thiserror::Error)]
#[error("another sync session of user {user} is in progress")]
pub struct Busy {
    pub user: String,
}

impl UserLocks {
    pub fn new() -> UserLocks {
        UserLocks::default()
    }

    /// The lease of `user` for session `token` of `device` if free or takeable now; otherwise
    /// the token of the session holding it. `stale` tells whether a holder may be taken over.
    pub fn try_acquire(
        &self,
        user: &str,
        device: &str,
        token: &SessionToken,
        stale: impl Fn(&SessionToken) -> bool,
    ) -> Result<Granted, SessionToken> {
        let mut held = self.inner.lock();
        let taken_from = match held.get(user) {
            None => None,
            Some(h) if h.token == *token => None,
            Some(h) if h.device == device || stale(&h.token) => Some(h.token.clone()),
            Some(h) => return Err(h.token.clone()),
        };
        held.insert(user.to_string(), Holder { token: token.clone(), device: device.to_string() });
        let lease = UserLease { inner: self.inner.clone(), user: user.to_string(), token: token.clone() };
        Ok(Granted { lease, taken_from })
    }

    /// Waits (at most `wait`) for the lease of `user`; see [`UserLocks::try_acquire`].
    pub async fn acquire(
        &self,
        user: &str,
        device: &str,
        token: &SessionToken,
        wait: Duration,
        stale: impl Fn(&SessionToken) -> bool,
    ) -> Result<Granted, Busy> {
        let deadline = Instant::now() + wait;
        loop {
            // Registered before looking, so a release between the look and the wait wakes us.
            let released = self.inner.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if let Ok(granted) = self.try_acquire(user, device, token, &stale) {
                return Ok(granted);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Busy { user: user.to_string() });
            }
            let _ = tokio::time::timeout(left.min(RECHECK), released).await;
        }
    }

    /// The session holding the lease of `user`, if any.
    #[cfg(test)]
    pub fn holder(&self, user: &str) -> Option<SessionToken> {
        self.inner.lock().get(user).map(|h| h.token.clone())
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Holder>> {
        // Only inserts and removals happen under the lock: the map is consistent after a panic.
        self.held.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for UserLease {
    fn drop(&mut self) {
        let mut held = self.inner.lock();
        if held.get(&self.user).is_some_and(|h| h.token == self.token) {
            held.remove(&self.user);
            drop(held);
            self.inner.released.notify_waiters();
        }
    }
}

impl fmt::Debug for UserLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserLease").field("user", &self.user).field("token", &self.token).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> SessionToken {
        SessionToken::generate().unwrap()
    }

    #[test]
    fn one_lease_per_user_released_on_drop() {
        let locks = UserLocks::new();
        let (a, b, c) = (token(), token(), token());
        let first = locks.try_acquire("alice", "phone", &a, |_| false).unwrap();
        assert!(first.taken_from.is_none());
        assert_eq!(locks.try_acquire("alice", "tablet", &b, |_| false).unwrap_err(), a);
        // Other users are independent.
        let other = locks.try_acquire("bob", "tablet", &c, |_| false).unwrap();
        drop(first);
        assert_eq!(locks.holder("alice"), None);
        let second = locks.try_acquire("alice", "tablet", &b, |_| false).unwrap();
        assert_eq!(locks.holder("alice"), Some(b.clone()));
        drop(other);
        drop(second);
        assert_eq!(locks.holder("alice"), None);
    }

    #[test]
    fn the_same_device_or_a_stale_holder_is_taken_over() {
        let locks = UserLocks::new();
        let (old, new, third) = (token(), token(), token());
        let abandoned = locks.try_acquire("alice", "phone", &old, |_| false).unwrap();
        let granted = locks.try_acquire("alice", "phone", &new, |_| false).unwrap();
        assert_eq!(granted.taken_from, Some(old.clone()));
        // The old session's lease, dropped later, does not release the new holder.
        drop(abandoned);
        assert_eq!(locks.holder("alice"), Some(new.clone()));
        let stale = locks.try_acquire("alice", "tablet", &third, |t| *t == new).unwrap();
        assert_eq!(stale.taken_from, Some(new));
        drop(granted);
        assert_eq!(locks.holder("alice"), Some(third));
    }

    #[tokio::test]
    async fn a_waiter_gets_the_lease_when_it_is_released_or_is_told_busy() {
        let locks = Arc::new(UserLocks::new());
        let (a, b) = (token(), token());
        let held = locks.try_acquire("alice", "phone", &a, |_| false).unwrap();
        let waiter = {
            let locks = locks.clone();
            let b = b.clone();
            tokio::spawn(async move { locks.acquire("alice", "tablet", &b, WAIT, |_| false).await.map(|g| g.lease) })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished());
        drop(held);
        let lease = waiter.await.unwrap().unwrap();
        assert_eq!(locks.holder("alice"), Some(b));

        let busy = locks.acquire("alice", "laptop", &token(), Duration::from_millis(50), |_| false).await;
        assert!(matches!(busy, Err(Busy { .. })));
        drop(lease);
    }
}
