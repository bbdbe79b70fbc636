//! Draining before a stop: after SIGTERM/SIGINT the gateway keeps serving for a moment so the
//! sessions in the middle of a sync are suspended (server Alert 224, PROTOCOL.md §3.7) instead
//! of cut off; new sessions get 503 with Retry-After. The drain ends once no sync request has
//! arrived for [`QUIET`], or after [`super::SHUTDOWN_GRACE`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long without a sync request ends the drain.
pub const QUIET: Duration = Duration::from_secs(1);

/// Whether the gateway drains, and when the last sync request arrived.
#[derive(Debug)]
pub struct Drain {
    draining: AtomicBool,
    last_request: Mutex<Instant>,
}

impl Default for Drain {
    fn default() -> Drain {
        Drain { draining: AtomicBool::new(false), last_request: Mutex::new(Instant::now()) }
    }
}

impl Drain {
    /// From now on sessions are suspended and new ones refused.
    pub fn start(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// A sync request arrived at `now`.
    pub fn touch(&self, now: Instant) {
        let mut last = self.last_request.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if now > *last {
            *last = now;
        }
    }

    /// Whether no sync request arrived for [`QUIET`] before `now`.
    pub fn quiet(&self, now: Instant) -> bool {
        let last = *self.last_request.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        now.saturating_duration_since(last) >= QUIET
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_after_a_second_without_requests() {
        let d = Drain::default();
        let t0 = Instant::now();
        d.touch(t0);
        assert!(!d.is_draining());
        d.start();
        assert!(d.is_draining());
        assert!(!d.quiet(t0 + Duration::from_millis(500)));
        assert!(d.quiet(t0 + QUIET));
        d.touch(t0 + QUIET);
        assert!(!d.quiet(t0 + QUIET + Duration::from_millis(10)));
    }
}
