//! Figures that cost a scan of the community, kept off the request path:
//! `/api/v1/stats` (a dozen aggregate queries) and listing totals
//! (`COUNT(*)` per filter). Each is served from memory and refreshed when
//! older than the configured age: by one background refresh at a time
//! (single flight) while callers keep getting the previous value (stale while
//! revalidate). Only a caller that finds nothing yet waits for the database.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use steward_domain::PostKind;
use steward_store::{PostQuery, Store};

use crate::error::ApiError;

/// The caches of one server; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ReadCaches {
    stats: Arc<StatsCache>,
    totals: Arc<TotalsCache>,
}

impl ReadCaches {
    /// `GET /api/v1/stats` as serialized JSON, at most `max_age` old once warm
    /// (plus one refresh). `max_age` zero: read from the database every time.
    pub async fn stats_json(&self, store: &Store, max_age: Duration) -> Result<Bytes, ApiError> {
        if max_age.is_zero() {
            return load_stats(store).await;
        }
        let current = self.stats.current();
        if let Some(cached) = current {
            if cached.at.elapsed() >= max_age {
                self.refresh_stats_in_background(store);
            }
            return Ok(cached.json);
        }
        // Nothing yet: the first callers wait on one load, not one each.
        let _loading = self.stats.first_load.lock().await;
        if let Some(cached) = self.stats.current() {
            return Ok(cached.json);
        }
        let json = load_stats(store).await?;
        self.stats.set(json.clone());
        Ok(json)
    }

    fn refresh_stats_in_background(&self, store: &Store) {
        if self.stats.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let stats = Arc::clone(&self.stats);
        let store = store.clone();
        tokio::spawn(async move {
            match load_stats(&store).await {
                Ok(json) => stats.set(json),
                // Keep serving the last figures; the next request tries again.
                Err(error) => tracing::warn!(?error, "refreshing stats failed"),
            }
            stats.refreshing.store(false, Ordering::Release);
        });
    }

    /// How many posts match the filters of `query`, at most `max_age` old.
    /// Counted on the request that finds no fresh total; `max_age` zero
    /// counts every time.
    pub async fn total(
        &self,
        store: &Store,
        query: &PostQuery,
        max_age: Duration,
    ) -> Result<i64, ApiError> {
        let key = (query.kind, query.tag.clone());
        if !max_age.is_zero()
            && let Some(total) = self.totals.fresh(&key, max_age)
        {
            return Ok(total);
        }
        let total = store.count_posts(query).await?;
        self.totals.set(key, total);
        Ok(total)
    }
}

async fn load_stats(store: &Store) -> Result<Bytes, ApiError> {
    let stats = store.stats().await?;
    let json = serde_json::to_vec(&stats).map_err(|error| ApiError::internal(&error))?;
    Ok(Bytes::from(json))
}

#[derive(Debug, Clone)]
struct CachedStats {
    json: Bytes,
    at: Instant,
}

#[derive(Debug, Default)]
struct StatsCache {
    value: RwLock<Option<CachedStats>>,
    refreshing: AtomicBool,
    first_load: tokio::sync::Mutex<()>,
}

impl StatsCache {
    fn current(&self) -> Option<CachedStats> {
        self.value
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set(&self, json: Bytes) {
        *self
            .value
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(CachedStats {
            json,
            at: Instant::now(),
        });
    }
}

type TotalKey = (Option<PostKind>, Option<String>);

/// Filters remembered at most; past it the map starts over, so that clients
/// sending ever new tags cannot grow it without bound.
const MAX_TOTALS: usize = 4096;

#[derive(Debug, Default)]
struct TotalsCache {
    totals: Mutex<HashMap<TotalKey, (i64, Instant)>>,
}

impl TotalsCache {
    fn fresh(&self, key: &TotalKey, max_age: Duration) -> Option<i64> {
        let totals = self
            .totals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        totals
            .get(key)
            .filter(|(_, at)| at.elapsed() < max_age)
            .map(|(total, _)| *total)
    }

    fn set(&self, key: TotalKey, total: i64) {
        let mut totals = self
            .totals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if totals.len() >= MAX_TOTALS {
            totals.clear();
        }
        totals.insert(key, (total, Instant::now()));
    }
}
