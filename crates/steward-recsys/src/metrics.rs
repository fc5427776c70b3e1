//! Offline ranking metrics under the full-ranking protocol: every catalogue
//! item is a candidate, the user's training items (and negatives) excluded,
//! and the top 20 compared with the held-out items.

use std::collections::BTreeSet;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::matrix::Interactions;
use crate::model::Model;

/// Averages over the users that have held-out items. Serialises with the
/// metric names as keys, as `steward eval recsys --json` prints them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RankingMetrics {
    #[serde(rename = "p@10")]
    pub precision_at_10: f64,
    #[serde(rename = "r@10")]
    pub recall_at_10: f64,
    #[serde(rename = "r@20")]
    pub recall_at_20: f64,
    #[serde(rename = "ndcg@10")]
    pub ndcg_at_10: f64,
    #[serde(rename = "map@10")]
    pub map_at_10: f64,
    /// Share of the catalogue that appears in at least one user's top 10.
    pub coverage: f64,
    /// Users evaluated (those with at least one held-out item).
    pub users: usize,
}

/// One user's figures for a ranked list (best first) against the sorted
/// `relevant` items.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct UserMetrics {
    pub precision_at_10: f64,
    pub recall_at_10: f64,
    pub recall_at_20: f64,
    pub ndcg_at_10: f64,
    pub map_at_10: f64,
}

impl UserMetrics {
    /// Binary relevance. Recall divides by all held-out items; nDCG's ideal
    /// and MAP's normaliser use `min(|relevant|, 10)` (RecBole's definitions).
    pub fn of(ranked: &[u32], relevant: &[u32]) -> UserMetrics {
        if relevant.is_empty() {
            return UserMetrics::default();
        }
        let is_hit = |item: &u32| relevant.binary_search(item).is_ok();
        let hits_at = |k: usize| ranked.iter().take(k).filter(|item| is_hit(item)).count() as f64;
        let mut dcg = 0.0;
        let mut average_precision = 0.0;
        let mut hits = 0.0;
        for (rank, item) in ranked.iter().take(10).enumerate() {
            if is_hit(item) {
                hits += 1.0;
                dcg += 1.0 / ((rank + 2) as f64).log2();
                average_precision += hits / (rank + 1) as f64;
            }
        }
        let ideal_hits = relevant.len().min(10);
        let ideal: f64 = (0..ideal_hits)
            .map(|rank| 1.0 / ((rank + 2) as f64).log2())
            .sum();
        UserMetrics {
            precision_at_10: hits_at(10) / 10.0,
            recall_at_10: hits_at(10) / relevant.len() as f64,
            recall_at_20: hits_at(20) / relevant.len() as f64,
            ndcg_at_10: dcg / ideal,
            map_at_10: average_precision / ideal_hits as f64,
        }
    }
}

/// Ranks the whole catalogue for every user with held-out items in `test`,
/// excluding their `train` items and any `negatives`, in parallel over users.
pub fn evaluate(
    model: &Model,
    train: &Interactions,
    test: &Interactions,
    negatives: Option<&Interactions>,
) -> RankingMetrics {
    let users: Vec<u32> = test.active_users().collect();
    let per_user: Vec<(UserMetrics, Vec<u32>)> = users
        .par_iter()
        .map(|&user| {
            let history = if (user as usize) < train.n_users() {
                train.user(user)
            } else {
                crate::matrix::Row::EMPTY
            };
            let excluded = negatives
                .filter(|negatives| (user as usize) < negatives.n_users())
                .map(|negatives| negatives.user(user).indices)
                .unwrap_or(&[]);
            let ranked: Vec<u32> = model
                .recommend(Some(user), history, 20, excluded)
                .into_iter()
                .map(|scored| scored.item)
                .collect();
            let metrics = UserMetrics::of(&ranked, test.user(user).indices);
            let top_10 = ranked.into_iter().take(10).collect();
            (metrics, top_10)
        })
        .collect();
    summarise(&per_user, model.n_items())
}

/// Averages per-user figures and measures catalogue coverage.
pub(crate) fn summarise(per_user: &[(UserMetrics, Vec<u32>)], n_items: usize) -> RankingMetrics {
    let count = per_user.len().max(1) as f64;
    let mut total = RankingMetrics {
        users: per_user.len(),
        ..RankingMetrics::default()
    };
    let mut shown = BTreeSet::new();
    for (metrics, top_10) in per_user {
        total.precision_at_10 += metrics.precision_at_10 / count;
        total.recall_at_10 += metrics.recall_at_10 / count;
        total.recall_at_20 += metrics.recall_at_20 / count;
        total.ndcg_at_10 += metrics.ndcg_at_10 / count;
        total.map_at_10 += metrics.map_at_10 / count;
        shown.extend(top_10.iter().copied());
    }
    total.coverage = shown.len() as f64 / n_items.max(1) as f64;
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ranked: &[u32], relevant: &[u32], expected: UserMetrics) {
        let got = UserMetrics::of(ranked, relevant);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(
            close(got.precision_at_10, expected.precision_at_10)
                && close(got.recall_at_10, expected.recall_at_10)
                && close(got.recall_at_20, expected.recall_at_20)
                && close(got.ndcg_at_10, expected.ndcg_at_10)
                && close(got.map_at_10, expected.map_at_10),
            "{got:?} vs {expected:?}"
        );
    }

    #[test]
    fn a_perfect_single_hit_scores_one() {
        check(
            &[5, 1, 2],
            &[5],
            UserMetrics {
                precision_at_10: 0.1,
                recall_at_10: 1.0,
                recall_at_20: 1.0,
                ndcg_at_10: 1.0,
                map_at_10: 1.0,
            },
        );
    }

    #[test]
    fn a_hit_at_rank_two_of_two_relevant() {
        // DCG = 1/log2(3); IDCG = 1 + 1/log2(3); AP = (1/2) / 2.
        let dcg = 1.0 / 3f64.log2();
        check(
            &[9, 4, 8],
            &[4, 7],
            UserMetrics {
                precision_at_10: 0.1,
                recall_at_10: 0.5,
                recall_at_20: 0.5,
                ndcg_at_10: dcg / (1.0 + dcg),
                map_at_10: 0.25,
            },
        );
    }

    #[test]
    fn serialises_with_the_metric_names() {
        let json = serde_json::to_value(RankingMetrics::default()).expect("serialises");
        let keys: Vec<&String> = json.as_object().expect("an object").keys().collect();
        for key in [
            "p@10", "r@10", "r@20", "ndcg@10", "map@10", "coverage", "users",
        ] {
            assert!(keys.iter().any(|k| k.as_str() == key), "{key}");
        }
    }
}
