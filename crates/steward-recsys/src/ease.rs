//! EASE (Steck 2019, "Embarrassingly Shallow Autoencoders"): a dense
//! item × item weight matrix with a zero diagonal in closed form,
//! `B = I − P · diag(1 / diag(P))` with `P = (XᵀX + λI)⁻¹`. Strong on small
//! catalogues; its n² memory and n³ training limit it to [`MAX_ITEMS`].

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::codec::{self, Reader, Writer};
use crate::linalg::{axpy, cholesky, dot64};
use crate::matrix::{Interactions, Row, Scored, sort_best_first, top_n};
use crate::{Error, Result};

/// Largest catalogue EASE trains on: the f64 Gram matrix alone is 8·n² bytes
/// (3.2 GB at 20k items) and the inverse costs n³.
pub const MAX_ITEMS: usize = 20_000;

/// Hyper-parameters of [`Ease::fit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EaseParams {
    /// λ added to the Gram matrix's diagonal.
    pub regularization: f32,
}

impl Default for EaseParams {
    fn default() -> Self {
        EaseParams {
            regularization: 300.0,
        }
    }
}

/// The trained item × item weights, row-major: `weights[i][j]` is how much
/// having `i` in one's history supports `j`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ease {
    params: EaseParams,
    n_items: usize,
    weights: Vec<f32>,
}

impl Ease {
    pub fn fit(matrix: &Interactions, params: &EaseParams) -> Result<Ease> {
        let n = matrix.n_items();
        if n > MAX_ITEMS {
            return Err(Error::InvalidParameter {
                name: "model",
                message: format!(
                    "EASE needs a dense {n} x {n} matrix; it is limited to {MAX_ITEMS} items \
                     (use als or item_knn for this catalogue)"
                ),
            });
        }
        if !(params.regularization > 0.0 && params.regularization.is_finite()) {
            return Err(Error::InvalidParameter {
                name: "regularization",
                message: "must be finite and > 0".into(),
            });
        }
        if n == 0 {
            return Err(Error::Empty("EASE needs at least one item".into()));
        }
        // G = XᵀX + λI, rows in parallel: row i sums over i's users' rows.
        let mut gram = vec![0f64; n * n];
        gram.par_chunks_mut(n).enumerate().for_each(|(item, row)| {
            for (user, weight) in matrix.item(item as u32).iter() {
                for (other, other_weight) in matrix.user(user).iter() {
                    row[other as usize] += f64::from(weight) * f64::from(other_weight);
                }
            }
            row[item] += f64::from(params.regularization);
        });
        if !cholesky(&mut gram, n) {
            return Err(Error::InvalidParameter {
                name: "regularization",
                message: "the regularised Gram matrix is not positive definite".into(),
            });
        }
        let lower = gram;
        // Lᵀ row-major, so the backward solve reads rows too.
        let mut upper = vec![0f64; n * n];
        for i in 0..n {
            for k in 0..=i {
                upper[k * n + i] = lower[i * n + k];
            }
        }
        // P = G⁻¹, one column (= row, P is symmetric) per unit vector.
        let mut inverse = vec![0f32; n * n];
        inverse.par_chunks_mut(n).enumerate().for_each_init(
            || vec![0f64; n],
            |solution, (column, out)| {
                solution.fill(0.0);
                solution[column] = 1.0 / lower[column * n + column];
                for i in column + 1..n {
                    let row = &lower[i * n..i * n + n];
                    solution[i] = -dot64(&row[column..i], &solution[column..i]) / row[i];
                }
                for i in (0..n).rev() {
                    let row = &upper[i * n..i * n + n];
                    let sum = dot64(&row[i + 1..], &solution[i + 1..]);
                    solution[i] = (solution[i] - sum) / row[i];
                }
                for (slot, value) in out.iter_mut().zip(solution.iter()) {
                    *slot = *value as f32;
                }
            },
        );
        let diagonal: Vec<f32> = (0..n).map(|i| inverse[i * n + i]).collect();
        inverse.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
            for (j, value) in row.iter_mut().enumerate() {
                *value = if i == j { 0.0 } else { -*value / diagonal[j] };
            }
        });
        Ok(Ease {
            params: params.clone(),
            n_items: n,
            weights: inverse,
        })
    }

    pub fn params(&self) -> &EaseParams {
        &self.params
    }

    pub fn n_items(&self) -> usize {
        self.n_items
    }

    fn row(&self, item: u32) -> &[f32] {
        &self.weights[item as usize * self.n_items..(item as usize + 1) * self.n_items]
    }

    pub(crate) fn scores(&self, _user: Option<u32>, history: Row<'_>, out: &mut [f32]) {
        out.fill(0.0);
        for (item, weight) in history.iter() {
            if (item as usize) < self.n_items {
                axpy(weight, self.row(item), out);
            }
        }
    }

    pub fn similar_items(&self, item: u32, n: usize) -> Vec<Scored> {
        if item as usize >= self.n_items {
            return Vec::new();
        }
        top_n(self.row(item), n, &[&[item]])
    }

    /// Each past item's term `wⱼ · B[j][i]`; they sum to the score.
    pub fn explain(&self, history: Row<'_>, item: u32, top: usize) -> Vec<Scored> {
        if item as usize >= self.n_items {
            return Vec::new();
        }
        let mut contributions: Vec<Scored> = history
            .iter()
            .filter(|&(past, _)| (past as usize) < self.n_items)
            .map(|(past, weight)| Scored {
                item: past,
                score: weight * self.row(past)[item as usize],
            })
            .collect();
        sort_best_first(&mut contributions);
        contributions.truncate(top);
        contributions
    }

    pub(crate) fn encode(&self, writer: &mut Writer) {
        writer.param("params", &self.params);
        writer.param("n_items", self.n_items);
        writer.f32s("weights", &self.weights);
    }

    pub(crate) fn decode(reader: &Reader<'_>) -> Result<Ease> {
        let params: EaseParams = reader.param("params")?;
        let n_items: usize = reader.param("n_items")?;
        let weights = reader.f32s("weights")?;
        codec::expect_len("weights", weights.len(), n_items * n_items)?;
        Ok(Ease {
            params,
            n_items,
            weights,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weights_solve_the_regularised_least_squares_problem() {
        // With λ small and items 0, 1 always together, 0 predicts 1.
        let matrix = Interactions::from_triplets(
            4,
            3,
            [
                (0, 0, 1.0),
                (0, 1, 1.0),
                (1, 0, 1.0),
                (1, 1, 1.0),
                (2, 2, 1.0),
                (3, 1, 1.0),
            ],
        );
        let model = Ease::fit(
            &matrix,
            &EaseParams {
                regularization: 0.5,
            },
        )
        .expect("fits");
        assert_eq!(model.row(0)[0], 0.0);
        assert!(model.row(0)[1] > 0.3);
        assert!(model.row(0)[2].abs() < 1e-6);
        let history = Row::new(&[0], &[1.0]);
        let mut scores = vec![0.0; 3];
        model.scores(None, history, &mut scores);
        let shares = model.explain(history, 1, 5);
        assert!((shares[0].score - scores[1]).abs() < 1e-6);
    }

    #[test]
    fn refuses_large_catalogues_with_a_clear_error() {
        let matrix = Interactions::from_triplets(1, MAX_ITEMS + 1, [(0, 0, 1.0)]);
        let error = Ease::fit(&matrix, &EaseParams::default()).expect_err("too large");
        assert!(error.to_string().contains("limited to"), "{error}");
    }
}
