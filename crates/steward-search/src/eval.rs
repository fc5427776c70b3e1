//! Search quality on a community's own relevance judgments: a question that
//! links another (closed as its duplicate, or "related") is a query whose
//! answer is known. The query is the linking question's title; the linked
//! question is relevant (gain 2 for a duplicate target, 1 for a related one).
//! The query's own thread is left out of its ranking: it is in the index and
//! would find itself.

use std::collections::HashMap;
use std::time::Instant;

use serde::Serialize;
use steward_domain::{Post, PostId, PostKind, PostLink, PostLinkKind};
use steward_store::Store;

use crate::metrics;
use crate::searcher::{Fusion, Mode, SearchRequest, Searcher};
use crate::{Filters, Result};

/// Gain of a duplicate target: the thread the asker was sent to.
pub const DUPLICATE_GAIN: f64 = 2.0;
/// Gain of a related thread.
pub const RELATED_GAIN: f64 = 1.0;

/// One query with what is relevant to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgment {
    /// The linking question: its title is the query, its thread is left out.
    pub query_post: PostId,
    pub query: String,
    pub relevant: HashMap<PostId, f64>,
}

/// Every post link of the store, in id order, with the posts at both ends
/// that exist: what judgments and the duplicate calibration are read from.
pub(crate) async fn links_with_posts(
    store: &Store,
) -> Result<(Vec<PostLink>, HashMap<PostId, Post>)> {
    let mut links = Vec::new();
    let mut after = None;
    loop {
        let page = store.post_links_after(after, 5_000).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        links.extend(page);
    }
    let mut ids: Vec<PostId> = links
        .iter()
        .flat_map(|link| [link.post_id, link.related_post_id])
        .collect();
    ids.sort();
    ids.dedup();
    let mut posts = HashMap::new();
    for chunk in ids.chunks(1_000) {
        for post in store.posts_by_ids(chunk).await? {
            posts.insert(post.id, post);
        }
    }
    Ok((links, posts))
}

/// Judgments read off the store's post links, in link order: one per
/// linking question whose title is not empty and that links at least one
/// other question or article present in the store.
pub async fn judgments_from_links(store: &Store) -> Result<Vec<Judgment>> {
    let (links, posts) = links_with_posts(store).await?;
    let is_root = |id: &PostId| {
        posts
            .get(id)
            .is_some_and(|post| matches!(post.kind, PostKind::Question | PostKind::Article))
    };
    let mut order = Vec::new();
    let mut by_query: HashMap<PostId, HashMap<PostId, f64>> = HashMap::new();
    for link in &links {
        if link.post_id == link.related_post_id
            || !is_root(&link.post_id)
            || !is_root(&link.related_post_id)
        {
            continue;
        }
        let gain = match link.kind {
            PostLinkKind::Duplicate => DUPLICATE_GAIN,
            PostLinkKind::Related => RELATED_GAIN,
        };
        let relevant = by_query.entry(link.post_id).or_insert_with(|| {
            order.push(link.post_id);
            HashMap::new()
        });
        let entry = relevant.entry(link.related_post_id).or_insert(0.0);
        *entry = entry.max(gain);
    }
    Ok(order
        .into_iter()
        .filter_map(|id| {
            let title = posts[&id].title.as_deref()?.trim();
            (!title.is_empty()).then(|| Judgment {
                query_post: id,
                query: title.to_string(),
                relevant: by_query.remove(&id).unwrap_or_default(),
            })
        })
        .collect())
}

/// The figures of one retrieval mode over a set of judgments.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModeReport {
    #[serde(rename = "ndcg@10")]
    pub ndcg_at_10: f64,
    #[serde(rename = "recall@10")]
    pub recall_at_10: f64,
    #[serde(rename = "recall@100")]
    pub recall_at_100: f64,
    pub mrr: f64,
    pub queries: usize,
    pub p50_latency_ms: f64,
    pub p99_latency_ms: f64,
}

/// How deep each query is ranked: Recall@100 needs a hundred, plus the
/// query's own thread, which is dropped.
const DEPTH: usize = 101;

/// Runs every judgment through `searcher` in `mode` (with `fusion` for
/// hybrid) and averages the metrics.
pub async fn evaluate(
    searcher: &Searcher,
    judgments: &[Judgment],
    mode: Mode,
    fusion: Fusion,
    dense_weight: f32,
) -> Result<ModeReport> {
    let mut ndcg = Vec::with_capacity(judgments.len());
    let mut recall_10 = Vec::with_capacity(judgments.len());
    let mut recall_100 = Vec::with_capacity(judgments.len());
    let mut reciprocal = Vec::with_capacity(judgments.len());
    let mut latencies = Vec::with_capacity(judgments.len());
    for judgment in judgments {
        let request = SearchRequest {
            query: judgment.query.clone(),
            mode,
            fusion,
            dense_weight,
            filters: Filters::default(),
            limit: DEPTH,
            offset: 0,
        };
        let started = Instant::now();
        let results = searcher.search(&request).await?;
        latencies.push(started.elapsed().as_secs_f64() * 1_000.0);
        let ranked: Vec<PostId> = results
            .hits
            .iter()
            .map(|hit| hit.post_id)
            .filter(|id| *id != judgment.query_post)
            .take(DEPTH - 1)
            .collect();
        // Every judgment has a relevant thread, so each metric is defined.
        let relevant = &judgment.relevant;
        ndcg.push(metrics::ndcg_at(&ranked, relevant, 10).unwrap_or(0.0));
        recall_10.push(metrics::recall_at(&ranked, relevant, 10).unwrap_or(0.0));
        recall_100.push(metrics::recall_at(&ranked, relevant, 100).unwrap_or(0.0));
        reciprocal.push(metrics::mrr(&ranked, relevant).unwrap_or(0.0));
    }
    latencies.sort_by(f64::total_cmp);
    Ok(ModeReport {
        ndcg_at_10: mean(&ndcg),
        recall_at_10: mean(&recall_10),
        recall_at_100: mean(&recall_100),
        mrr: mean(&reciprocal),
        queries: judgments.len(),
        p50_latency_ms: percentile(&latencies, 0.5),
        p99_latency_ms: percentile(&latencies, 0.99),
    })
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

/// The `share` quantile of sorted `values` (nearest rank); 0 for none.
pub fn percentile(sorted: &[f64], share: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((share * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(percentile(&values, 0.5), 5.0);
        assert_eq!(percentile(&values, 0.99), 10.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
        assert_eq!(mean(&[1.0, 2.0]), 1.5);
    }
}
