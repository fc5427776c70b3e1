//! Ranking quality: nDCG@k with graded gains, Recall@k and MRR per query, and
//! their means over a query set, for `steward eval search` and index checks.
//!
//! A post is relevant when its gain is above zero. A query without any
//! relevant post has no score (`None`): it is counted apart, never as a zero.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use steward_domain::PostId;

/// `ranked` without repeats (a post listed twice counts once, where first
/// listed), at most `k` of them.
fn first_k(ranked: &[PostId], k: usize) -> impl Iterator<Item = (usize, PostId)> + '_ {
    let mut seen = HashSet::new();
    ranked
        .iter()
        .copied()
        .filter(move |post_id| seen.insert(*post_id))
        .take(k)
        .enumerate()
}

fn gain(relevant: &HashMap<PostId, f64>, post_id: PostId) -> f64 {
    relevant
        .get(&post_id)
        .copied()
        .filter(|gain| gain.is_finite() && *gain > 0.0)
        .unwrap_or(0.0)
}

/// Discount of the item at 0-based `index`: `1 / log2(index + 2)`.
fn discount(index: usize) -> f64 {
    1.0 / (index as f64 + 2.0).log2()
}

/// Normalised discounted cumulative gain of the first `k` of `ranked`: the sum
/// of `gain / log2(rank + 1)` (linear gains, rank 1-based), over the same sum
/// for the best possible order of the relevant posts. `None` when no post is
/// relevant or `k` is 0.
pub fn ndcg_at(ranked: &[PostId], relevant: &HashMap<PostId, f64>, k: usize) -> Option<f64> {
    let mut ideal: Vec<f64> = relevant
        .keys()
        .map(|post_id| gain(relevant, *post_id))
        .filter(|gain| *gain > 0.0)
        .collect();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let ideal_dcg: f64 = ideal
        .iter()
        .take(k)
        .enumerate()
        .map(|(index, gain)| gain * discount(index))
        .sum();
    if ideal_dcg <= 0.0 {
        return None;
    }
    let dcg: f64 = first_k(ranked, k)
        .map(|(index, post_id)| gain(relevant, post_id) * discount(index))
        .sum();
    Some(dcg / ideal_dcg)
}

/// The share of the relevant posts found in the first `k` of `ranked`
/// (over all relevant posts, not `min(k, relevant)`: a query with more
/// relevant posts than `k` cannot reach 1). `None` when none is relevant.
pub fn recall_at(ranked: &[PostId], relevant: &HashMap<PostId, f64>, k: usize) -> Option<f64> {
    let total = relevant
        .keys()
        .filter(|post_id| gain(relevant, **post_id) > 0.0)
        .count();
    if total == 0 {
        return None;
    }
    let found = first_k(ranked, k)
        .filter(|(_, post_id)| gain(relevant, *post_id) > 0.0)
        .count();
    Some(found as f64 / total as f64)
}

/// Reciprocal rank: `1 / rank` of the first relevant post in `ranked` (rank
/// 1-based), 0 when `ranked` holds none. `None` when none is relevant.
pub fn mrr(ranked: &[PostId], relevant: &HashMap<PostId, f64>) -> Option<f64> {
    if !relevant
        .keys()
        .any(|post_id| gain(relevant, *post_id) > 0.0)
    {
        return None;
    }
    let first = first_k(ranked, usize::MAX).find(|(_, post_id)| gain(relevant, *post_id) > 0.0);
    Some(first.map_or(0.0, |(index, _)| 1.0 / (index as f64 + 1.0)))
}

/// Means of nDCG@k, Recall@k and MRR over the queries added, each query
/// counted once whatever it scored; queries without a relevant post are
/// counted apart (`skipped`).
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    k: usize,
    queries: u64,
    skipped: u64,
    ndcg: f64,
    recall: f64,
    mrr: f64,
}

/// An [`Aggregate`]'s figures, as `steward eval search --json` prints them.
/// The means are `None` when no query had a relevant post.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricsSummary {
    pub k: usize,
    /// Queries scored (with at least one relevant post).
    pub queries: u64,
    /// Queries added without any relevant post.
    pub skipped: u64,
    pub ndcg: Option<f64>,
    pub recall: Option<f64>,
    pub mrr: Option<f64>,
}

impl Aggregate {
    /// Scores at cut-off `k` (MRR looks at the whole ranking).
    pub fn new(k: usize) -> Aggregate {
        Aggregate {
            k,
            queries: 0,
            skipped: 0,
            ndcg: 0.0,
            recall: 0.0,
            mrr: 0.0,
        }
    }

    /// Scores one query's ranking against its relevance judgements.
    pub fn add(&mut self, ranked: &[PostId], relevant: &HashMap<PostId, f64>) {
        match (
            ndcg_at(ranked, relevant, self.k),
            recall_at(ranked, relevant, self.k),
            mrr(ranked, relevant),
        ) {
            (Some(ndcg), Some(recall), Some(mrr)) => {
                self.queries += 1;
                self.ndcg += ndcg;
                self.recall += recall;
                self.mrr += mrr;
            }
            // No relevant post (or k = 0, which scores nothing).
            _ => self.skipped += 1,
        }
    }

    pub fn k(&self) -> usize {
        self.k
    }

    /// Queries scored.
    pub fn queries(&self) -> u64 {
        self.queries
    }

    pub fn summary(&self) -> MetricsSummary {
        let mean = |sum: f64| (self.queries > 0).then(|| sum / self.queries as f64);
        MetricsSummary {
            k: self.k,
            queries: self.queries,
            skipped: self.skipped,
            ndcg: mean(self.ndcg),
            recall: mean(self.recall),
            mrr: mean(self.mrr),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(values: &[i64]) -> Vec<PostId> {
        values.iter().copied().map(PostId).collect()
    }

    fn gains(entries: &[(i64, f64)]) -> HashMap<PostId, f64> {
        entries
            .iter()
            .map(|(id, gain)| (PostId(*id), *gain))
            .collect()
    }

    fn close(actual: Option<f64>, expected: f64) {
        let actual = actual.expect("a score");
        assert!(
            (actual - expected).abs() < 1e-9,
            "{actual} where {expected} was computed by hand"
        );
    }

    #[test]
    fn ndcg_uses_graded_gains_and_log2_discounts() {
        // Gains: 1 -> 3, 2 -> 2, 3 -> 1. Ranking 3, 1, 9, 2.
        let relevant = gains(&[(1, 3.0), (2, 2.0), (3, 1.0)]);
        let ranked = ids(&[3, 1, 9, 2]);
        // DCG@3 = 1/log2(2) + 3/log2(3) + 0 = 1 + 1.892789...
        // IDCG@3 = 3 + 2/log2(3) + 1/log2(4) = 3 + 1.261860... + 0.5
        let dcg = 1.0 + 3.0 / 3f64.log2();
        let ideal = 3.0 + 2.0 / 3f64.log2() + 0.5;
        close(ndcg_at(&ranked, &relevant, 3), dcg / ideal);
        // At 4, post 2 adds 2/log2(5); the ideal adds nothing (3 relevant).
        close(
            ndcg_at(&ranked, &relevant, 4),
            (dcg + 2.0 / 5f64.log2()) / ideal,
        );
        // The ideal order scores 1; an empty ranking 0.
        close(ndcg_at(&ids(&[1, 2, 3]), &relevant, 3), 1.0);
        close(ndcg_at(&[], &relevant, 3), 0.0);
        // At 1: 1/3.
        close(ndcg_at(&ranked, &relevant, 1), 1.0 / 3.0);
    }

    #[test]
    fn a_post_listed_twice_counts_once() {
        let relevant = gains(&[(1, 1.0), (2, 1.0)]);
        // 1, 1, 2: post 1 at rank 1, post 2 at rank 2 (the repeat is dropped).
        close(ndcg_at(&ids(&[1, 1, 2]), &relevant, 2), 1.0);
        close(recall_at(&ids(&[1, 1, 1]), &relevant, 3), 0.5);
    }

    #[test]
    fn recall_counts_relevant_posts_in_the_first_k() {
        let relevant = gains(&[(1, 1.0), (2, 2.0), (3, 0.5), (4, 0.0)]);
        // Post 4 has gain 0: not relevant, so 3 relevant posts.
        let ranked = ids(&[4, 2, 8, 1, 3]);
        close(recall_at(&ranked, &relevant, 2), 1.0 / 3.0);
        close(recall_at(&ranked, &relevant, 4), 2.0 / 3.0);
        close(recall_at(&ranked, &relevant, 10), 1.0);
    }

    #[test]
    fn mrr_is_one_over_the_rank_of_the_first_relevant_post() {
        let relevant = gains(&[(5, 1.0), (6, 2.0)]);
        close(mrr(&ids(&[1, 2, 6, 5]), &relevant), 1.0 / 3.0);
        close(mrr(&ids(&[5]), &relevant), 1.0);
        close(mrr(&ids(&[1, 2]), &relevant), 0.0);
    }

    #[test]
    fn a_query_without_relevant_posts_has_no_score() {
        let none = gains(&[(1, 0.0)]);
        assert_eq!(ndcg_at(&ids(&[1]), &none, 10), None);
        assert_eq!(recall_at(&ids(&[1]), &none, 10), None);
        assert_eq!(mrr(&ids(&[1]), &none), None);
        assert_eq!(ndcg_at(&ids(&[1]), &gains(&[(1, 1.0)]), 0), None);
    }

    #[test]
    fn the_aggregate_averages_scored_queries_and_counts_the_rest() {
        let mut aggregate = Aggregate::new(2);
        // Query 1: relevant 1 (gain 1), ranking 1, 2: ndcg 1, recall 1, rr 1.
        aggregate.add(&ids(&[1, 2]), &gains(&[(1, 1.0)]));
        // Query 2: relevant 3, ranking 2, 3: ndcg 1/log2(3), recall 1, rr 1/2.
        aggregate.add(&ids(&[2, 3]), &gains(&[(3, 1.0)]));
        // Query 3: nothing relevant: skipped, not a zero.
        aggregate.add(&ids(&[1]), &HashMap::new());
        let summary = aggregate.summary();
        assert_eq!((summary.k, summary.queries, summary.skipped), (2, 2, 1));
        close(summary.ndcg, (1.0 + 1.0 / 3f64.log2()) / 2.0);
        close(summary.recall, 1.0);
        close(summary.mrr, 0.75);
        assert_eq!(Aggregate::new(10).summary().ndcg, None);
    }
}
