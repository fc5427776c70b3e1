//! A weighted blend of other models' scores, each min–max normalised per user
//! so the weights mean the same thing whatever a model's score scale. The
//! weights are chosen on a validation split by a small grid over the simplex.

use std::collections::BTreeMap;

use rayon::prelude::*;

use crate::codec::{Reader, Writer};
use crate::matrix::{Interactions, Row, Scored, sort_best_first, top_n};
use crate::metrics::UserMetrics;
use crate::model::{Model, ModelKind};
use crate::{Error, Result};

/// Candidates taken from each part's own top list when tuning: the blended
/// top 10 comes from these, and scoring only them keeps tuning cheap on large
/// catalogues.
const TUNE_CANDIDATES_PER_PART: usize = 100;
/// Validation users scored at most while tuning (evenly spread).
const TUNE_MAX_USERS: usize = 5_000;

/// Models and their non-negative weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Hybrid {
    parts: Vec<(Model, f32)>,
}

impl Hybrid {
    /// Parts must share one catalogue; weights must be finite and >= 0.
    pub fn new(parts: Vec<(Model, f32)>) -> Result<Hybrid> {
        let invalid = |message: String| Error::InvalidParameter {
            name: "parts",
            message,
        };
        let first = parts
            .first()
            .ok_or_else(|| invalid("a hybrid needs at least one part".into()))?;
        let n_items = first.0.n_items();
        for (model, weight) in &parts {
            if model.n_items() != n_items {
                return Err(invalid(format!(
                    "{} knows {} items, {} knows {n_items}",
                    model.kind(),
                    model.n_items(),
                    first.0.kind()
                )));
            }
            if !(weight.is_finite() && *weight >= 0.0) {
                return Err(invalid(format!("weight {weight} of {}", model.kind())));
            }
        }
        Ok(Hybrid { parts })
    }

    pub fn parts(&self) -> &[(Model, f32)] {
        &self.parts
    }

    /// `(kind, weight)` per part, for reports.
    pub fn weights(&self) -> Vec<(ModelKind, f32)> {
        self.parts
            .iter()
            .map(|(model, weight)| (model.kind(), *weight))
            .collect()
    }

    pub fn n_items(&self) -> usize {
        self.parts.first().map_or(0, |(model, _)| model.n_items())
    }

    pub(crate) fn scores(&self, user: Option<u32>, history: Row<'_>, out: &mut [f32]) {
        out.fill(0.0);
        let mut part_scores = vec![0f32; out.len()];
        for (model, weight) in &self.parts {
            if *weight == 0.0 {
                continue;
            }
            model.scores(user, history, &mut part_scores);
            normalise(&mut part_scores);
            for (slot, score) in out.iter_mut().zip(&part_scores) {
                *slot += weight * score;
            }
        }
    }

    /// The heaviest part that has a notion of likeness answers.
    pub fn similar_items(&self, item: u32, n: usize) -> Vec<Scored> {
        self.parts
            .iter()
            .filter(|(model, weight)| model.kind() != ModelKind::Popularity && *weight > 0.0)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .or_else(|| self.parts.first())
            .map(|(model, _)| model.similar_items(item, n))
            .unwrap_or_default()
    }

    /// Each part's explanation, scaled as its scores are in the blend
    /// (weight / score range for this user), summed per history item.
    pub fn explain(
        &self,
        user: Option<u32>,
        history: Row<'_>,
        item: u32,
        top: usize,
    ) -> Vec<Scored> {
        let mut part_scores = vec![0f32; self.n_items()];
        let mut shares: BTreeMap<u32, f32> = BTreeMap::new();
        for (model, weight) in &self.parts {
            if *weight == 0.0 {
                continue;
            }
            model.scores(user, history, &mut part_scores);
            let (_, range) = finite_range(&part_scores);
            if range <= 0.0 {
                continue;
            }
            for share in model.explain(user, history, item, usize::MAX) {
                *shares.entry(share.item).or_default() += weight * share.score / range;
            }
        }
        let mut contributions: Vec<Scored> = shares
            .into_iter()
            .map(|(item, score)| Scored { item, score })
            .collect();
        sort_best_first(&mut contributions);
        contributions.truncate(top);
        contributions
    }

    /// Picks the weights (multiples of `1 / steps`, summing to 1) that give
    /// the best mean nDCG@10 on `validation`, with `train` as the history and
    /// exclusion. `parts` must have been trained on `train` only.
    pub fn tune(
        parts: Vec<Model>,
        train: &Interactions,
        validation: &Interactions,
        steps: usize,
    ) -> Result<Hybrid> {
        if parts.is_empty() || steps == 0 {
            return Err(Error::InvalidParameter {
                name: "parts",
                message: "tuning needs at least one part and one step".into(),
            });
        }
        let grid = simplex_grid(parts.len(), steps);
        let mut users: Vec<u32> = validation.active_users().collect();
        if users.len() > TUNE_MAX_USERS {
            let stride = users.len().div_ceil(TUNE_MAX_USERS);
            users = users.into_iter().step_by(stride).collect();
        }
        let n_items = parts[0].n_items();
        let totals: Vec<f64> = users
            .par_iter()
            .map_init(
                || vec![0f32; n_items],
                |scratch, &user| {
                    let history = train.user(user);
                    // Candidates: the union of each part's own top list.
                    let mut normalised: Vec<Vec<f32>> = Vec::with_capacity(parts.len());
                    let mut candidates: Vec<u32> = Vec::new();
                    for model in &parts {
                        model.scores(Some(user), history, scratch);
                        normalise(scratch);
                        candidates.extend(
                            top_n(scratch, TUNE_CANDIDATES_PER_PART, &[history.indices])
                                .into_iter()
                                .map(|scored| scored.item),
                        );
                        normalised.push(scratch.clone());
                    }
                    candidates.sort_unstable();
                    candidates.dedup();
                    let relevant = validation.user(user).indices;
                    let mut blended = vec![0f32; candidates.len()];
                    grid.iter()
                        .map(|weights| {
                            for (slot, &item) in blended.iter_mut().zip(&candidates) {
                                *slot = weights
                                    .iter()
                                    .zip(&normalised)
                                    .map(|(weight, scores)| weight * scores[item as usize])
                                    .sum();
                            }
                            let ranked: Vec<u32> = top_n(&blended, 10, &[])
                                .into_iter()
                                .map(|scored| candidates[scored.item as usize])
                                .collect();
                            UserMetrics::of(&ranked, relevant).ndcg_at_10
                        })
                        .collect::<Vec<f64>>()
                },
            )
            .reduce(
                || vec![0f64; grid.len()],
                |mut left, right| {
                    for (a, b) in left.iter_mut().zip(right) {
                        *a += b;
                    }
                    left
                },
            );
        let best = totals
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
            .map(|(index, _)| index)
            .expect("the grid is not empty");
        Hybrid::new(parts.into_iter().zip(grid[best].iter().copied()).collect())
    }

    pub(crate) fn encode(&self, writer: &mut Writer) {
        let weights: Vec<f32> = self.parts.iter().map(|(_, weight)| *weight).collect();
        writer.param("weights", &weights);
        for (index, (model, _)) in self.parts.iter().enumerate() {
            writer.bytes(&format!("part{index}"), &model.to_bytes());
        }
    }

    pub(crate) fn decode(reader: &Reader<'_>) -> Result<Hybrid> {
        let weights: Vec<f32> = reader.param("weights")?;
        let parts = weights
            .into_iter()
            .enumerate()
            .map(|(index, weight)| {
                let bytes = reader.bytes(&format!("part{index}"))?;
                Ok((Model::from_bytes(bytes)?, weight))
            })
            .collect::<Result<Vec<_>>>()?;
        Hybrid::new(parts).map_err(|error| Error::Codec(error.to_string()))
    }
}

/// Min–max over finite scores into [0, 1]; non-finite scores become 0 (no
/// support from this part).
fn normalise(scores: &mut [f32]) {
    let (min, range) = finite_range(scores);
    for score in scores.iter_mut() {
        *score = if score.is_finite() && range > 0.0 {
            (*score - min) / range
        } else {
            0.0
        };
    }
}

/// `(min, max − min)` of the finite scores; `(0, 0)` when there are none.
fn finite_range(scores: &[f32]) -> (f32, f32) {
    let (min, max) = scores
        .iter()
        .filter(|score| score.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &s| {
            (lo.min(s), hi.max(s))
        });
    if min.is_finite() {
        (min, max - min)
    } else {
        (0.0, 0.0)
    }
}

/// Every weight vector of `parts` non-negative multiples of `1 / steps`
/// summing to 1, in lexicographic order.
fn simplex_grid(parts: usize, steps: usize) -> Vec<Vec<f32>> {
    fn fill(remaining: usize, slots: usize, prefix: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if slots == 1 {
            prefix.push(remaining);
            out.push(prefix.clone());
            prefix.pop();
            return;
        }
        for take in 0..=remaining {
            prefix.push(take);
            fill(remaining - take, slots - 1, prefix, out);
            prefix.pop();
        }
    }
    let mut out = Vec::new();
    fill(steps, parts, &mut Vec::new(), &mut out);
    out.into_iter()
        .map(|counts| {
            counts
                .into_iter()
                .map(|c| c as f32 / steps as f32)
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_covers_the_simplex() {
        let grid = simplex_grid(3, 2);
        assert_eq!(grid.len(), 6);
        for weights in &grid {
            assert!((weights.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
    }

    #[test]
    fn normalising_maps_finite_scores_to_the_unit_interval() {
        let mut scores = vec![2.0, f32::NAN, 4.0, 3.0];
        normalise(&mut scores);
        assert_eq!(scores, vec![0.0, 0.0, 1.0, 0.5]);
    }
}
