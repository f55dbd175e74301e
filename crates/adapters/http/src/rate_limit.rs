//! The per-caller rates (docs/api.md, "Bounds"): at most N changes (POST and DELETE), and
//! separately M reads (GET, stream opens included), a second per `sub` and per instance, with
//! bursts of twice that; `0` turns a limit off.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// How many checks pass between two sweeps of callers not seen lately, so that the table of
/// callers stays as small as the set of recent ones.
const SWEEP_EVERY: u64 = 4096;

/// Requests of one kind per second and caller, shared by the workers of one instance.
pub struct CallerRateLimit {
    limiter: Option<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
    checks: AtomicU64,
}

impl std::fmt::Debug for CallerRateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallerRateLimit").field("enabled", &self.limiter.is_some()).finish()
    }
}

impl CallerRateLimit {
    /// `per_second` requests a second per caller, bursts of twice that; 0: no limit.
    pub fn new(per_second: u32) -> Self {
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let burst = rate.saturating_mul(NonZeroU32::new(2).expect("2 is not zero"));
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Self { limiter, clock: DefaultClock::default(), checks: AtomicU64::new(0) }
    }

    /// Counts one request by `caller`: `Err(wait)` when its rate is used up, where `wait` is
    /// how long until the next one is accepted.
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
        let limit = CallerRateLimit::new(5);
        for n in 0..10 {
            assert_eq!(limit.check("ann@example.com"), Ok(()), "change {n} of the burst");
        }
        let wait = limit.check("ann@example.com").expect_err("the 11th change in a burst is refused");
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(200), "{wait:?}");
        assert_eq!(limit.check("bob@example.com"), Ok(()), "another caller has a rate of its own");
    }

    #[test]
    fn zero_turns_the_limit_off() {
        let limit = CallerRateLimit::new(0);
        assert!((0..10_000).all(|_| limit.check("ann@example.com").is_ok()));
    }
}
