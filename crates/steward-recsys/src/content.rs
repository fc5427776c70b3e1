//! Content-based recommendation: items as vectors (post embeddings, or genre
//! features on MovieLens), a user as the weighted centroid of their history,
//! scored by cosine. New items are recommendable as soon as they have a vector.

use crate::codec::{self, Reader, Writer};
use crate::linalg::{axpy, dot};
use crate::matrix::{Row, Scored, sort_best_first, top_n};
use crate::{Error, Result};

/// Unit-normalised item vectors; items without one are a zero row and are
/// never recommended by this model.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    dim: usize,
    vectors: Vec<f32>,
}

impl Content {
    /// `item_vectors` is row-major `n_items × dim`; rows are normalised here.
    pub fn new(mut item_vectors: Vec<f32>, dim: usize) -> Result<Content> {
        if dim == 0 || !item_vectors.len().is_multiple_of(dim) {
            return Err(Error::InvalidParameter {
                name: "dim",
                message: format!(
                    "{} values do not split into rows of {dim}",
                    item_vectors.len()
                ),
            });
        }
        for row in item_vectors.chunks_exact_mut(dim) {
            let norm = dot(row, row).sqrt();
            if norm > 0.0 && norm.is_finite() {
                row.iter_mut().for_each(|value| *value /= norm);
            } else {
                row.fill(0.0);
            }
        }
        Ok(Content {
            dim,
            vectors: item_vectors,
        })
    }

    pub fn n_items(&self) -> usize {
        self.vectors.len() / self.dim
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The unit-length vector of `item`; `None` for one without a vector.
    pub fn vector(&self, item: u32) -> Option<&[f32]> {
        let row = self
            .vectors
            .get(item as usize * self.dim..(item as usize + 1) * self.dim)?;
        row.iter().any(|&value| value != 0.0).then_some(row)
    }

    /// The unit-length weighted centroid of `history`'s vectors: the member
    /// as the content model sees them; `None` when no history item has one.
    pub fn centroid(&self, history: Row<'_>) -> Option<Vec<f32>> {
        let mut centroid = vec![0f32; self.dim];
        for (item, weight) in history.iter() {
            if let Some(vector) = self.vector(item) {
                axpy(weight, vector, &mut centroid);
            }
        }
        let norm = dot(&centroid, &centroid).sqrt();
        (norm > 0.0).then(|| {
            centroid.iter_mut().for_each(|value| *value /= norm);
            centroid
        })
    }

    pub(crate) fn scores(&self, _user: Option<u32>, history: Row<'_>, out: &mut [f32]) {
        let Some(centroid) = self.centroid(history) else {
            out.fill(f32::NAN);
            return;
        };
        for (item, slot) in out.iter_mut().enumerate() {
            *slot = match self.vector(item as u32) {
                Some(vector) => dot(vector, &centroid),
                None => f32::NAN,
            };
        }
    }

    pub fn similar_items(&self, item: u32, n: usize) -> Vec<Scored> {
        let Some(target) = self.vector(item) else {
            return Vec::new();
        };
        let scores: Vec<f32> = (0..self.n_items() as u32)
            .map(|other| match self.vector(other) {
                Some(vector) => dot(vector, target),
                None => f32::NAN,
            })
            .collect();
        top_n(&scores, n, &[&[item]])
    }

    /// Each past item's `wⱼ · cos(j, i) / |Σ w v|`: its share of the cosine
    /// between the history's centroid and `item` (the shares sum to it).
    pub fn explain(&self, history: Row<'_>, item: u32, top: usize) -> Vec<Scored> {
        let Some(target) = self.vector(item) else {
            return Vec::new();
        };
        let mut sum = vec![0f32; self.dim];
        for (past, weight) in history.iter() {
            if let Some(vector) = self.vector(past) {
                axpy(weight, vector, &mut sum);
            }
        }
        let norm = dot(&sum, &sum).sqrt();
        if norm <= 0.0 {
            return Vec::new();
        }
        let mut contributions: Vec<Scored> = history
            .iter()
            .filter_map(|(past, weight)| {
                self.vector(past).map(|vector| Scored {
                    item: past,
                    score: weight * dot(vector, target) / norm,
                })
            })
            .collect();
        sort_best_first(&mut contributions);
        contributions.truncate(top);
        contributions
    }

    pub(crate) fn encode(&self, writer: &mut Writer) {
        writer.param("dim", self.dim);
        writer.f32s("vectors", &self.vectors);
    }

    pub(crate) fn decode(reader: &Reader<'_>) -> Result<Content> {
        let dim: usize = reader.param("dim")?;
        let vectors = reader.f32s("vectors")?;
        if dim == 0 {
            return Err(Error::Codec("content vectors of dimension 0".into()));
        }
        codec::expect_len("vectors", vectors.len(), vectors.len() / dim * dim)?;
        Ok(Content { dim, vectors })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_without_vectors_are_never_scored_and_shares_sum_to_the_cosine() {
        // Item 2 has no vector.
        let model = Content::new(vec![1.0, 0.0, 0.9, 0.1, 0.0, 0.0, 0.0, 1.0], 2).expect("valid");
        let history = Row::new(&[0, 3], &[2.0, 1.0]);
        let mut scores = vec![0.0; 4];
        model.scores(None, history, &mut scores);
        assert!(scores[2].is_nan());
        assert!(scores[1] > 0.9);
        let shares = model.explain(history, 1, 10);
        let total: f32 = shares.iter().map(|share| share.score).sum();
        assert!((total - scores[1]).abs() < 1e-5);
        assert_eq!(shares[0].item, 0);
        assert!(model.similar_items(2, 3).is_empty());
    }
}
