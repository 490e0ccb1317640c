//! Per-MAC rate limit, so that a looping or hostile client cannot make the proxy flood the network (every
//! offer is a broadcast) or the boot event log.
//!
//! A token bucket per MAC: a whole boot (the ROM's discovers and request, then iPXE's own discover, with
//! retries) fits in the burst; a machine rebooting in a loop is still answered every few seconds. The table is
//! bounded: when it is full, MACs whose bucket has refilled are forgotten; if none has, new MACs wait.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Answers a MAC may get in a burst.
const BURST: f64 = 8.0;
/// One more answer per this much time.
const REFILL: Duration = Duration::from_secs(2);
/// MACs tracked at once (about 50 bytes each).
const MAX_TRACKED: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn refilled(self, now: Instant) -> f64 {
        let earned = now.saturating_duration_since(self.at).as_secs_f64() / REFILL.as_secs_f64();
        (self.tokens + earned).min(BURST)
    }
}

#[derive(Debug, Default)]
pub struct RateLimit {
    buckets: HashMap<[u8; 6], Bucket>,
}

impl RateLimit {
    /// Takes one answer from `mac`'s bucket; false when it is empty (or the table is full of busy MACs).
    pub fn allow(&mut self, mac: [u8; 6], now: Instant) -> bool {
        if !self.buckets.contains_key(&mac) && self.buckets.len() >= MAX_TRACKED {
            self.buckets.retain(|_, bucket| bucket.refilled(now) < BURST);
            if self.buckets.len() >= MAX_TRACKED {
                return false;
            }
        }
        let bucket = self.buckets.entry(mac).or_insert(Bucket { tokens: BURST, at: now });
        let tokens = bucket.refilled(now);
        let allowed = tokens >= 1.0;
        *bucket = Bucket {
            tokens: if allowed { tokens - 1.0 } else { tokens },
            at: now,
        };
        allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x52, 0x54, 0, 0, 0, 1];

    #[test]
    fn a_burst_then_one_answer_per_refill() {
        let mut limit = RateLimit::default();
        let start = Instant::now();
        let allowed = (0..20).filter(|_| limit.allow(MAC, start)).count();
        assert_eq!(allowed, BURST as usize);
        assert!(
            limit.allow([0x52, 0x54, 0, 0, 0, 2], start),
            "another MAC has its own bucket"
        );
        assert!(!limit.allow(MAC, start + REFILL / 2));
        assert!(limit.allow(MAC, start + REFILL));
        assert!(!limit.allow(MAC, start + REFILL));
        let rested = start + REFILL * 100;
        assert_eq!((0..20).filter(|_| limit.allow(MAC, rested)).count(), BURST as usize);
    }

    #[test]
    fn the_table_is_bounded() {
        let mut limit = RateLimit::default();
        let start = Instant::now();
        let mac = |i: usize| [2, 0, 0, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        assert!((0..MAX_TRACKED).all(|i| limit.allow(mac(i), start)));
        assert!(!limit.allow(mac(MAX_TRACKED), start), "full of MACs seen just now");
        let later = start + REFILL * 2;
        assert!(limit.allow(mac(MAX_TRACKED), later), "refilled buckets make room");
        assert!(limit.buckets.len() <= MAX_TRACKED);
    }
}
