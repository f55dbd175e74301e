//! The per-caller change rate of contract section 12: at most N changes (POST and DELETE) a
//! second per `sub` and per instance, with a burst of twice that; `0` turns it off.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// How many checks pass between two sweeps of callers not seen lately, so that the table of
/// callers stays as small as the set of recent ones.
const SWEEP_EVERY: u64 = 4096;

/// Changes per second and caller, shared by the workers of one instance.
pub struct ChangeRateLimit {
    limiter: Option<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
    checks: AtomicU64,
}

impl std::fmt::Debug for ChangeRateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeRateLimit").field("enabled", &self.limiter.is_some()).finish()
    }
}

impl ChangeRateLimit {
    /// `per_second` changes a second per caller, bursts of twice that; 0: no limit.
    pub fn new(per_second: u32) -> Self {
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let burst = rate.saturating_mul(NonZeroU32::new(2).expect("2 is not zero"));
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Self { limiter, clock: DefaultClock::default(), checks: AtomicU64::new(0) }
    }

    /// Counts one change by `caller`: `Err(wait)` when its rate is used up, where `wait` is
    /// how long until the next change is accepted.
    pub fn check(&self, caller: &str) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        // The key is owned by the table: one allocation per change, only for the limited.
        limiter.check_key(&caller.to_owned()).map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_gets_a_burst_of_twice_the_rate_then_waits() {
        let limit = ChangeRateLimit::new(5);
        for n in 0..10 {
            assert_eq!(limit.check("ann@example.com"), Ok(()), "change {n} of the burst");
        }
        let wait = limit.check("ann@example.com").expect_err("the 11th change in a burst is refused");
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(200), "{wait:?}");
        assert_eq!(limit.check("bob@example.com"), Ok(()), "another caller has a rate of its own");
    }

    #[test]
    fn zero_turns_the_limit_off() {
        let limit = ChangeRateLimit::new(0);
        assert!((0..10_000).all(|_| limit.check("ann@example.com").is_ok()));
    }
}
