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
//! Waiting sessions get the lease in the order they asked for it (a queue per user): a device
//! that has just finished cannot start again ahead of the devices already waiting.
//!
//! A lease is given up when its session ends, is dropped (expiry, failure) or is taken over:
//! a new session of the same device takes the lease of its own older session (the client
//! abandoned it; it is forgotten), and any session takes the lease of one that is gone or has
//! been idle between messages for [`IDLE_TAKEOVER`]. A session that cannot get the lease within
//! [`WAIT`] is answered HTTP 503.
//!
//! Holds no sockets and no sessions: the caller says which holders are stale.

use std::collections::{HashMap, VecDeque};
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
    state: Mutex<State>,
    released: Notify,
}

#[derive(Debug, Default)]
struct State {
    held: HashMap<String, Holder>,
    /// Per user, the sessions waiting for the lease, first come first.
    waiting: HashMap<String, VecDeque<SessionToken>>,
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
        let mut state = self.inner.lock();
        let first = state.waiting.get(user).and_then(|q| q.front()).cloned();
        // Someone else asked first: wait behind them (the device's own old session aside).
        let behind = first.as_ref().is_some_and(|f| f != token);
        let taken_from = match state.held.get(user) {
            None if behind => return Err(first.unwrap_or_else(|| token.clone())),
            None => None,
            Some(h) if h.token == *token => None,
            Some(h) if h.device == device => Some(h.token.clone()),
            Some(h) if stale(&h.token) && !behind => Some(h.token.clone()),
            Some(h) => return Err(h.token.clone()),
        };
        if let Some(q) = state.waiting.get_mut(user) {
            q.retain(|t| t != token);
            if q.is_empty() {
                state.waiting.remove(user);
            }
        }
        state.held.insert(user.to_string(), Holder { token: token.clone(), device: device.to_string() });
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
        // In the queue until granted, refused or cancelled (the request went away).
        let _queued = Queued::join(&self.inner, user, token);
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
        self.inner.lock().held.get(user).map(|h| h.token.clone())
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Only inserts and removals happen under the lock: the maps are consistent after a panic.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A session's place in its user's queue; leaving it (granted, busy or cancelled) lets the next
/// one look.
struct Queued {
    inner: Arc<Inner>,
    user: String,
    token: SessionToken,
}

impl Queued {
    fn join(inner: &Arc<Inner>, user: &str, token: &SessionToken) -> Queued {
        let mut state = inner.lock();
        let q = state.waiting.entry(user.to_string()).or_default();
        if !q.contains(token) {
            q.push_back(token.clone());
        }
        Queued { inner: inner.clone(), user: user.to_string(), token: token.clone() }
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        let mut state = self.inner.lock();
        if let Some(q) = state.waiting.get_mut(&self.user) {
            let before = q.len();
            q.retain(|t| *t != self.token);
            let left = q.len() != before;
            if q.is_empty() {
                state.waiting.remove(&self.user);
            }
            drop(state);
            if left {
                self.inner.released.notify_waiters();
            }
        }
    }
}

impl Drop for UserLease {
    fn drop(&mut self) {
        let mut state = self.inner.lock();
        if state.held.get(&self.user).is_some_and(|h| h.token == self.token) {
            state.held.remove(&self.user);
            drop(state);
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

    #[tokio::test]
    async fn waiters_are_served_first_come_first_served() {
        let locks = Arc::new(UserLocks::new());
        let held = locks.try_acquire("alice", "phone", &token(), |_| false).unwrap();
        let (first, second) = (token(), token());
        let wait_for = |t: SessionToken, device: &'static str| {
            let locks = locks.clone();
            tokio::spawn(async move { locks.acquire("alice", device, &t, WAIT, |_| false).await.map(|g| g.lease) })
        };
        let w1 = wait_for(first.clone(), "tablet");
        tokio::time::sleep(Duration::from_millis(20)).await;
        let w2 = wait_for(second.clone(), "laptop");
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(held);
        // The phone comes back at once with a new session: it queues behind the others.
        let again = token();
        assert!(locks.try_acquire("alice", "phone", &again, |_| false).is_err());
        let lease1 = w1.await.unwrap().unwrap();
        assert_eq!(locks.holder("alice"), Some(first));
        assert!(!w2.is_finished());
        drop(lease1);
        let lease2 = w2.await.unwrap().unwrap();
        assert_eq!(locks.holder("alice"), Some(second));
        drop(lease2);
        // A waiter that gave up leaves the queue: nobody waits behind it.
        let held = locks.try_acquire("alice", "phone", &again, |_| false).unwrap();
        let quitter = wait_for(token(), "tv");
        tokio::time::sleep(Duration::from_millis(20)).await;
        quitter.abort();
        let _ = quitter.await;
        drop(held);
        assert!(locks.try_acquire("alice", "watch", &token(), |_| false).is_ok());
    }
}
