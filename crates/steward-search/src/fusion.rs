//! Merging ranked lists (BM25 hits, vector hits) into one ranking: reciprocal
//! rank fusion, which needs only ranks, and weighted fusion of normalised scores.
//!
//! Both return the fused list best first, ties broken by the smaller post id,
//! so the same lists always fuse to the same order.

use std::cmp::Ordering;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use steward_domain::PostId;

/// The usual `k` of reciprocal rank fusion (Cormack et al., 2009): large
/// enough that the first few ranks of one list do not drown the others.
pub const RRF_K: f32 = 60.0;

/// Reciprocal rank fusion: each post scores `Σ 1 / (k + rank)` over the lists
/// it is in (rank 1 for a list's first item). Each list must be best first;
/// its scores are ignored, so lists of incomparable scores fuse fairly. A post
/// listed twice in one list counts once, at its better rank. A `k` that is not
/// a finite number above zero reads as [`RRF_K`].
pub fn reciprocal_rank(lists: &[&[(PostId, f32)]], k: f32) -> Vec<(PostId, f32)> {
    let k = if k.is_finite() && k > 0.0 { k } else { RRF_K };
    let mut fused: HashMap<PostId, f32> = HashMap::new();
    for list in lists {
        let mut seen: HashSet<PostId> = HashSet::with_capacity(list.len());
        for (index, (post_id, _)) in list.iter().enumerate() {
            if !seen.insert(*post_id) {
                continue;
            }
            let rank = index as f32 + 1.0;
            *fused.entry(*post_id).or_insert(0.0) += 1.0 / (k + rank);
        }
    }
    sorted(fused)
}

/// Weighted score fusion: `(1 - dense_weight) * lexical + dense_weight * dense`
/// after scaling each list's scores to [0, 1] by its own minimum and maximum
/// (its best hit 1, its worst 0; every hit 1 when all score the same). A post
/// missing from a list gets 0 there, as if it ranked below that list's last.
///
/// Min-max rather than z-scores: BM25 scores are unbounded and differ from
/// query to query while cosine similarities sit in a narrow band, so raw
/// scores cannot be added; and a z-score over a short top-k list is unstable
/// (two hits give ±1 whatever their gap) and puts a missing post (0) above
/// the below-average hits. Min-max keeps "missing" the bottom of each list.
///
/// `dense_weight` is clamped to [0, 1]; NaN reads as 0.5. Non-finite scores
/// count as their list's minimum. A post listed twice in one list keeps its
/// higher score.
pub fn weighted(
    lexical: &[(PostId, f32)],
    dense: &[(PostId, f32)],
    dense_weight: f32,
) -> Vec<(PostId, f32)> {
    let dense_weight = if dense_weight.is_nan() {
        0.5
    } else {
        dense_weight.clamp(0.0, 1.0)
    };
    let mut fused: HashMap<PostId, f32> = HashMap::new();
    for (list, weight) in [(lexical, 1.0 - dense_weight), (dense, dense_weight)] {
        for (post_id, score) in normalised(list) {
            *fused.entry(post_id).or_insert(0.0) += weight * score;
        }
    }
    sorted(fused)
}

/// `list`'s scores min-max scaled to [0, 1], one entry per post (its best).
fn normalised(list: &[(PostId, f32)]) -> HashMap<PostId, f32> {
    let finite = || {
        list.iter()
            .map(|(_, score)| *score)
            .filter(|s| s.is_finite())
    };
    let (Some(min), Some(max)) = (
        finite().min_by(f32::total_cmp),
        finite().max_by(f32::total_cmp),
    ) else {
        // No finite score at all: every hit ranks the same, as the best.
        return list.iter().map(|(post_id, _)| (*post_id, 1.0)).collect();
    };
    let range = max - min;
    let mut scaled: HashMap<PostId, f32> = HashMap::with_capacity(list.len());
    for (post_id, score) in list {
        let value = match (score.is_finite(), range > 0.0) {
            (false, _) => 0.0,
            (true, false) => 1.0,
            (true, true) => (score - min) / range,
        };
        match scaled.entry(*post_id) {
            Entry::Occupied(mut kept) => {
                if value > *kept.get() {
                    kept.insert(value);
                }
            }
            Entry::Vacant(new) => {
                new.insert(value);
            }
        }
    }
    scaled
}

/// Best first; equal scores by the smaller id.
fn sorted(fused: HashMap<PostId, f32>) -> Vec<(PostId, f32)> {
    let mut ranked: Vec<(PostId, f32)> = fused.into_iter().collect();
    ranked.sort_by(|a, b| by_score_then_id(*a, *b));
    ranked
}

pub(crate) fn by_score_then_id(a: (PostId, f32), b: (PostId, f32)) -> Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[(i64, f32)]) -> Vec<(PostId, f32)> {
        entries
            .iter()
            .map(|(id, score)| (PostId(*id), *score))
            .collect()
    }

    fn check(actual: &[(PostId, f32)], expected: &[(i64, f32)]) {
        let ids: Vec<i64> = actual.iter().map(|(id, _)| id.0).collect();
        let expected_ids: Vec<i64> = expected.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, expected_ids, "order of {actual:?}");
        for ((_, score), (id, want)) in actual.iter().zip(expected) {
            assert!(
                (score - want).abs() < 1e-6,
                "post {id}: {score} where {want} was computed by hand"
            );
        }
    }

    #[test]
    fn reciprocal_rank_adds_one_over_k_plus_rank_per_list() {
        // k = 60. Lexical: 1, 2, 3. Dense: 3, 4, 1.
        // 1: 1/61 + 1/63; 3: 1/63 + 1/61; 2: 1/62; 4: 1/62.
        let lexical = list(&[(1, 9.0), (2, 5.0), (3, 1.0)]);
        let dense = list(&[(3, 0.9), (4, 0.8), (1, 0.1)]);
        let fused = reciprocal_rank(&[&lexical, &dense], 60.0);
        let both = 1.0 / 61.0 + 1.0 / 63.0;
        // Equal sums tie, and ties go to the smaller id: 1 before 3, 2 before 4.
        check(
            &fused,
            &[(1, both), (3, both), (2, 1.0 / 62.0), (4, 1.0 / 62.0)],
        );
    }

    #[test]
    fn reciprocal_rank_ignores_scores_and_counts_a_repeated_post_once() {
        let first = list(&[(7, -3.0), (8, 100.0), (7, 50.0)]);
        let fused = reciprocal_rank(&[&first], 1.0);
        check(&fused, &[(7, 1.0 / 2.0), (8, 1.0 / 3.0)]);
        // A k of zero or NaN falls back to 60.
        check(
            &reciprocal_rank(&[&first], 0.0),
            &[(7, 1.0 / 61.0), (8, 1.0 / 62.0)],
        );
        check(
            &reciprocal_rank(&[&first], f32::NAN),
            &[(7, 1.0 / 61.0), (8, 1.0 / 62.0)],
        );
        assert!(reciprocal_rank(&[], 60.0).is_empty());
    }

    #[test]
    fn weighted_fusion_scales_each_list_to_zero_one() {
        // Lexical 10, 6, 2 -> 1, 0.5, 0. Dense 0.9, 0.7, 0.5 -> 1, 0.5, 0.
        let lexical = list(&[(1, 10.0), (2, 6.0), (3, 2.0)]);
        let dense = list(&[(3, 0.9), (2, 0.7), (4, 0.5)]);
        // Weight 0.25 on dense: 1 -> 0.75; 2 -> 0.375 + 0.125 = 0.5;
        // 3 -> 0 + 0.25 = 0.25; 4 -> 0.
        check(
            &weighted(&lexical, &dense, 0.25),
            &[(1, 0.75), (2, 0.5), (3, 0.25), (4, 0.0)],
        );
        // Equal weights: 1 and 3 tie at 0.5 (smaller id first), 2 at 0.5 too.
        check(
            &weighted(&lexical, &dense, 0.5),
            &[(1, 0.5), (2, 0.5), (3, 0.5), (4, 0.0)],
        );
    }

    #[test]
    fn weighted_fusion_edge_cases() {
        // One hit, or equal scores: every hit is its list's best.
        let lexical = list(&[(5, 3.0), (6, 3.0)]);
        check(&weighted(&lexical, &[], 0.0), &[(5, 1.0), (6, 1.0)]);
        // Weights out of range are clamped; NaN is 0.5.
        let dense = list(&[(9, 0.2)]);
        check(
            &weighted(&lexical, &dense, 7.0),
            &[(9, 1.0), (5, 0.0), (6, 0.0)],
        );
        check(
            &weighted(&lexical, &dense, f32::NAN),
            &[(5, 0.5), (6, 0.5), (9, 0.5)],
        );
        // A non-finite score counts as the list's minimum; a repeat keeps its best.
        let odd = list(&[(1, f32::NAN), (2, 4.0), (3, 2.0), (3, 4.0)]);
        check(&weighted(&odd, &[], 0.0), &[(2, 1.0), (3, 1.0), (1, 0.0)]);
        assert!(weighted(&[], &[], 0.5).is_empty());
    }
}
