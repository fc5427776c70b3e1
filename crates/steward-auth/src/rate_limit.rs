//! Per-caller request rate limits: a token bucket per API key (its rate set by
//! the key's role) and one per client address for anonymous callers and for
//! requests whose key was refused.
//!
//! Buckets live in this process: with several replicas each one limits on its
//! own, so a client may get up to (replicas × rate). LLM spending is bounded
//! separately, and across replicas, by the audit gateway's token quotas.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::access::{Caller, Role};

/// A sustained rate with room for bursts: `burst` requests at once, then
/// `per_second` on average.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: u32,
}

/// The rate of each kind of caller.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimits {
    pub admin: Rate,
    pub moderator: Rate,
    pub analyst: Rate,
    pub member: Rate,
    pub service: Rate,
    /// Per client address, for callers without a (valid) key.
    pub anonymous: Rate,
}

impl Default for RateLimits {
    /// Generous enough that a person's client or a batch importer never
    /// notices; tight enough that one runaway script cannot hog a server.
    fn default() -> RateLimits {
        RateLimits {
            admin: Rate {
                per_second: 50.0,
                burst: 100,
            },
            moderator: Rate {
                per_second: 20.0,
                burst: 50,
            },
            analyst: Rate {
                per_second: 10.0,
                burst: 30,
            },
            member: Rate {
                per_second: 5.0,
                burst: 20,
            },
            service: Rate {
                per_second: 50.0,
                burst: 200,
            },
            anonymous: Rate {
                per_second: 10.0,
                burst: 30,
            },
        }
    }
}

impl RateLimits {
    pub fn for_role(&self, role: Role) -> Rate {
        match role {
            Role::Admin => self.admin,
            Role::Moderator => self.moderator,
            Role::Analyst => self.analyst,
            Role::Member => self.member,
            Role::Service => self.service,
        }
    }
}

/// A refused request: try again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    pub retry_after: Duration,
}

impl RateLimited {
    /// Whole seconds, rounded up, at least 1: the `Retry-After` header value.
    pub fn retry_after_secs(&self) -> u64 {
        let secs = self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0);
        secs.max(1)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum BucketKey {
    Key(String),
    Client(Option<IpAddr>),
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Buckets kept before full (idle) ones are dropped: bounds the memory that
/// many client addresses can take.
const PRUNE_AT: usize = 10_000;

/// Longest wait ever announced, also for a rate of zero.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The token buckets of one server.
#[derive(Debug)]
pub struct RateLimiter {
    limits: RateLimits,
    buckets: Mutex<HashMap<BucketKey, Bucket>>,
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> RateLimiter {
        RateLimiter {
            limits,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn limits(&self) -> &RateLimits {
        &self.limits
    }

    /// Takes one request from the caller's bucket: the key's for a key holder,
    /// the client address's otherwise (`None`: address unknown, one shared bucket).
    pub fn check(&self, caller: &Caller, client: Option<IpAddr>) -> Result<(), RateLimited> {
        self.check_at(caller, client, Instant::now())
    }

    /// [`check`](Self::check) at a given time, for tests.
    pub fn check_at(
        &self,
        caller: &Caller,
        client: Option<IpAddr>,
        now: Instant,
    ) -> Result<(), RateLimited> {
        let (key, rate) = match caller {
            Caller::Key(principal) => (
                BucketKey::Key(principal.key_id.clone()),
                self.limits.for_role(principal.role),
            ),
            Caller::Anonymous => (BucketKey::Client(client), self.limits.anonymous),
        };
        let burst = f64::from(rate.burst.max(1));
        let per_second = rate.per_second.max(0.0);
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= PRUNE_AT {
            buckets.retain(|_, bucket| {
                let idle = now.saturating_duration_since(bucket.updated).as_secs_f64();
                bucket.tokens + idle * per_second < burst
            });
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = if per_second > 0.0 {
            Duration::try_from_secs_f64((1.0 - bucket.tokens) / per_second)
                .unwrap_or(MAX_RETRY_AFTER)
                .min(MAX_RETRY_AFTER)
        } else {
            MAX_RETRY_AFTER
        };
        Err(RateLimited { retry_after: wait })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Principal;

    fn key(id: &str, role: Role) -> Caller {
        Caller::Key(Principal {
            key_id: id.into(),
            name: id.into(),
            role,
            scopes: Vec::new(),
        })
    }

    fn limiter() -> RateLimiter {
        let slow = Rate {
            per_second: 2.0,
            burst: 3,
        };
        RateLimiter::new(RateLimits {
            member: slow,
            anonymous: Rate {
                per_second: 1.0,
                burst: 1,
            },
            ..RateLimits::default()
        })
    }

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let limiter = limiter();
        let start = Instant::now();
        let member = key("m", Role::Member);
        for _ in 0..3 {
            assert_eq!(limiter.check_at(&member, None, start), Ok(()));
        }
        let refused = limiter
            .check_at(&member, None, start)
            .expect_err("burst spent");
        assert_eq!(refused.retry_after, Duration::from_millis(500));
        assert_eq!(refused.retry_after_secs(), 1);
        let later = start + Duration::from_millis(500);
        assert_eq!(limiter.check_at(&member, None, later), Ok(()));
        assert!(limiter.check_at(&member, None, later).is_err());
    }

    #[test]
    fn keys_and_client_addresses_have_buckets_of_their_own() {
        let limiter = limiter();
        let now = Instant::now();
        let first: IpAddr = "192.0.2.1".parse().expect("address");
        let second: IpAddr = "192.0.2.2".parse().expect("address");
        assert_eq!(
            limiter.check_at(&Caller::Anonymous, Some(first), now),
            Ok(())
        );
        assert!(
            limiter
                .check_at(&Caller::Anonymous, Some(first), now)
                .is_err()
        );
        assert_eq!(
            limiter.check_at(&Caller::Anonymous, Some(second), now),
            Ok(())
        );
        for id in ["a", "b"] {
            for _ in 0..3 {
                assert_eq!(limiter.check_at(&key(id, Role::Member), None, now), Ok(()));
            }
        }
        // The admin's rate, not the member's.
        for _ in 0..100 {
            assert_eq!(limiter.check_at(&key("c", Role::Admin), None, now), Ok(()));
        }
    }

    #[test]
    fn a_zero_rate_never_refills() {
        let limiter = RateLimiter::new(RateLimits {
            anonymous: Rate {
                per_second: 0.0,
                burst: 1,
            },
            ..RateLimits::default()
        });
        let now = Instant::now();
        assert_eq!(limiter.check_at(&Caller::Anonymous, None, now), Ok(()));
        let refused = limiter
            .check_at(&Caller::Anonymous, None, now + Duration::from_secs(60))
            .expect_err("no refill");
        assert_eq!(refused.retry_after, MAX_RETRY_AFTER);
    }
}
