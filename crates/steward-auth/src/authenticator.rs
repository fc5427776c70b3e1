//! From an `Authorization` header to a [`Caller`]: parse the key, find its
//! record (in a short-lived cache, else the store), check the secret, the
//! revocation and the expiry.
//!
//! The cache keeps a key's record for [`DEFAULT_CACHE_TTL`] (5 s), so a busy
//! client costs one store read per key every few seconds, not one per request.
//! The price: a key revoked by another process (`steward keys revoke`, another
//! replica) is still accepted for up to that long. [`Authenticator::forget`]
//! makes a revocation in this process visible at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use steward_store::{ApiKeyRecord, Store};

use crate::access::{Caller, Principal, Role};
use crate::error::{Error, Result};
use crate::key::parse_bearer;
use crate::secret::ServerSecret;

/// How long a key's record is trusted without asking the store again: the
/// longest a revocation elsewhere goes unnoticed.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(5);

/// `last_used_at` is written at most this often per key: it tells an admin
/// whether a key is in use, not how much.
pub const TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// Records kept before stale ones are dropped; the cache holds only keys that
/// exist, so it stays as small as the key table.
const CACHE_PRUNE_AT: usize = 4_096;

/// Checks the keys callers present. One per server; share it behind an `Arc`.
#[derive(Debug)]
pub struct Authenticator {
    store: Store,
    secret: ServerSecret,
    cache_ttl: Duration,
    cache: Mutex<HashMap<String, Cached>>,
}

#[derive(Debug)]
struct Cached {
    record: ApiKeyRecord,
    fetched_at: Instant,
    /// When this process last wrote `last_used_at`; kept across refreshes.
    touched_at: Option<Instant>,
}

impl Authenticator {
    pub fn new(store: Store, secret: ServerSecret) -> Authenticator {
        Authenticator {
            store,
            secret,
            cache_ttl: DEFAULT_CACHE_TTL,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// A different cache lifetime; zero reads the store on every request.
    pub fn with_cache_ttl(mut self, cache_ttl: Duration) -> Authenticator {
        self.cache_ttl = cache_ttl;
        self
    }

    pub fn cache_ttl(&self) -> Duration {
        self.cache_ttl
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn secret(&self) -> &ServerSecret {
        &self.secret
    }

    /// Who sent `authorization_header`: no header is [`Caller::Anonymous`]
    /// (whether that may do anything is [`authorize`](crate::authorize)'s
    /// call); a header must carry a valid, unrevoked, unexpired key. A store
    /// failure is [`Error::Store`], not a refusal.
    pub async fn authenticate(&self, authorization_header: Option<&str>) -> Result<Caller> {
        let Some(header) = authorization_header else {
            return Ok(Caller::Anonymous);
        };
        let presented = parse_bearer(header)?;
        let record = self.record(presented.id).await?.ok_or(Error::UnknownKey)?;
        if !presented.verify(&self.secret, &record.hash) {
            return Err(Error::UnknownKey);
        }
        if record.revoked_at.is_some() {
            return Err(Error::RevokedKey { id: record.id });
        }
        let now = chrono::Utc::now();
        if let Some(expired_at) = record.expires_at.filter(|expires_at| *expires_at <= now) {
            return Err(Error::ExpiredKey {
                id: record.id,
                expired_at,
            });
        }
        let role: Role = record.role.parse()?;
        self.touch(&record, now).await;
        Ok(Caller::Key(Principal {
            key_id: record.id,
            name: record.name,
            role,
            scopes: record.scopes,
        }))
    }

    /// Drops the cached record of `key_id`, so that its revocation in this
    /// process takes effect on the next request.
    pub fn forget(&self, key_id: &str) {
        self.lock().remove(key_id);
    }

    /// The record of `id`, from the cache while fresh. Unknown ids are not
    /// cached: a made-up id costs a store read, which the per-client rate
    /// limit bounds.
    async fn record(&self, id: &str) -> Result<Option<ApiKeyRecord>> {
        if let Some(cached) = self.lock().get(id)
            && cached.fetched_at.elapsed() < self.cache_ttl
        {
            return Ok(Some(cached.record.clone()));
        }
        let Some(record) = self.store.api_key(id).await? else {
            self.forget(id);
            return Ok(None);
        };
        let mut cache = self.lock();
        if cache.len() >= CACHE_PRUNE_AT {
            let ttl = self.cache_ttl;
            cache.retain(|_, cached| cached.fetched_at.elapsed() < ttl);
        }
        let touched_at = cache.get(id).and_then(|cached| cached.touched_at);
        cache.insert(
            id.to_string(),
            Cached {
                record: record.clone(),
                fetched_at: Instant::now(),
                touched_at,
            },
        );
        Ok(Some(record))
    }

    /// Writes `last_used_at` when neither this process nor (as far as the
    /// record says) another wrote it within [`TOUCH_INTERVAL`]. A failed write
    /// is logged: it must not turn a valid key away.
    async fn touch(&self, record: &ApiKeyRecord, now: steward_domain::Timestamp) {
        let interval = chrono::Duration::from_std(TOUCH_INTERVAL).expect("a minute fits");
        if record
            .last_used_at
            .is_some_and(|last_used| now - last_used < interval)
        {
            return;
        }
        {
            let mut cache = self.lock();
            let Some(cached) = cache.get_mut(&record.id) else {
                return;
            };
            if cached
                .touched_at
                .is_some_and(|touched| touched.elapsed() < TOUCH_INTERVAL)
            {
                return;
            }
            // Claimed before the write, so that concurrent requests do not all write.
            cached.touched_at = Some(Instant::now());
        }
        if let Err(error) = self.store.touch_api_key(&record.id, now).await {
            tracing::warn!(key_id = %record.id, %error, "cannot record the use of an API key");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        // A panic while holding the lock leaves a plain map behind, still usable.
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
