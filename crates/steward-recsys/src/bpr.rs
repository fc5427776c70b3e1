//! Bayesian Personalised Ranking (Rendle et al. 2009): matrix factorisation
//! with item biases, trained by sampled pairwise SGD on (user, liked item,
//! other item) triples. One thread is deterministic for a seed; more threads
//! run Hogwild (lock-free, racy updates), which is not bit-reproducible.
//!
//! The shared parameters are f32 bits in `AtomicU32` with `Relaxed` ordering:
//! plain loads and stores on x86 and ARM, the races Hogwild accepts, without
//! `unsafe`.

use std::sync::atomic::{AtomicU32, Ordering};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::codec::{self, Reader, Writer};
use crate::linalg::dot;
use crate::matrix::{Interactions, Row, Scored, sort_best_first, top_n};
use crate::{Error, Result};

/// Hyper-parameters of [`Bpr::fit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BprParams {
    pub factors: usize,
    pub learning_rate: f32,
    pub regularization: f32,
    /// Passes; each draws as many triples as there are interactions.
    pub epochs: usize,
    pub seed: u64,
    /// 1: deterministic. More: Hogwild across that many threads.
    pub threads: usize,
}

impl Default for BprParams {
    fn default() -> Self {
        BprParams {
            factors: 64,
            learning_rate: 0.05,
            regularization: 0.01,
            epochs: 100,
            seed: 42,
            threads: 1,
        }
    }
}

/// A trained BPR model.
#[derive(Debug, Clone, PartialEq)]
pub struct Bpr {
    params: BprParams,
    n_users: usize,
    n_items: usize,
    user_factors: Vec<f32>,
    item_factors: Vec<f32>,
    item_bias: Vec<f32>,
}

struct Shared {
    users: Vec<AtomicU32>,
    items: Vec<AtomicU32>,
    bias: Vec<AtomicU32>,
}

#[inline]
fn load(cell: &AtomicU32) -> f32 {
    f32::from_bits(cell.load(Ordering::Relaxed))
}

#[inline]
fn store(cell: &AtomicU32, value: f32) {
    cell.store(value.to_bits(), Ordering::Relaxed);
}

impl Bpr {
    /// Trains on `matrix`; `on_epoch(e)` after each epoch, `false` cancels.
    pub fn fit(
        matrix: &Interactions,
        params: &BprParams,
        on_epoch: &mut dyn FnMut(usize) -> bool,
    ) -> Result<Bpr> {
        if params.factors == 0 || params.threads == 0 {
            return Err(Error::InvalidParameter {
                name: if params.factors == 0 {
                    "factors"
                } else {
                    "threads"
                },
                message: "must be at least 1".into(),
            });
        }
        if matrix.nnz() == 0 || matrix.n_items() < 2 {
            return Err(Error::Empty(
                "BPR needs interactions and at least two items".into(),
            ));
        }
        let factors = params.factors;
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        let mut init = |len: usize| -> Vec<AtomicU32> {
            (0..len)
                .map(|_| AtomicU32::new(((rng.random::<f32>() - 0.5) / factors as f32).to_bits()))
                .collect()
        };
        let shared = Shared {
            users: init(matrix.n_users() * factors),
            items: init(matrix.n_items() * factors),
            bias: (0..matrix.n_items()).map(|_| AtomicU32::new(0)).collect(),
        };
        let positives: Vec<(u32, u32)> = matrix
            .triplets()
            .map(|(user, item, _)| (user, item))
            .collect();
        let samples_per_thread = positives.len().div_ceil(params.threads);
        for epoch in 0..params.epochs {
            let run_shard = |shard: usize| {
                let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
                rng.set_stream((epoch * params.threads + shard) as u64 + 1);
                sgd_shard(
                    matrix,
                    &positives,
                    &shared,
                    params,
                    samples_per_thread,
                    &mut rng,
                );
            };
            if params.threads == 1 {
                run_shard(0);
            } else {
                std::thread::scope(|scope| {
                    for shard in 0..params.threads {
                        let run_shard = &run_shard;
                        scope.spawn(move || run_shard(shard));
                    }
                });
            }
            if !on_epoch(epoch) {
                return Err(Error::Cancelled);
            }
        }
        let unwrap = |cells: Vec<AtomicU32>| -> Vec<f32> {
            cells
                .into_iter()
                .map(|cell| f32::from_bits(cell.into_inner()))
                .collect()
        };
        Ok(Bpr {
            params: params.clone(),
            n_users: matrix.n_users(),
            n_items: matrix.n_items(),
            user_factors: unwrap(shared.users),
            item_factors: unwrap(shared.items),
            item_bias: unwrap(shared.bias),
        })
    }

    pub fn params(&self) -> &BprParams {
        &self.params
    }

    pub fn n_items(&self) -> usize {
        self.n_items
    }

    fn item_factors(&self, item: u32) -> &[f32] {
        let factors = self.params.factors;
        &self.item_factors[item as usize * factors..(item as usize + 1) * factors]
    }

    /// A known user's trained vector; for anyone else the weighted mean of
    /// the history's item vectors (BPR has no closed-form fold-in).
    fn user_vector(&self, user: Option<u32>, history: Row<'_>) -> Vec<f32> {
        let factors = self.params.factors;
        if let Some(user) = user
            && (user as usize) < self.n_users
        {
            return self.user_factors[user as usize * factors..(user as usize + 1) * factors]
                .to_vec();
        }
        let mut vector = vec![0f32; factors];
        let mut total = 0f32;
        for (item, weight) in history.iter() {
            if (item as usize) < self.n_items {
                crate::linalg::axpy(weight, self.item_factors(item), &mut vector);
                total += weight;
            }
        }
        if total > 0.0 {
            vector.iter_mut().for_each(|value| *value /= total);
        }
        vector
    }

    pub(crate) fn scores(&self, user: Option<u32>, history: Row<'_>, out: &mut [f32]) {
        let vector = self.user_vector(user, history);
        let factors = self.params.factors;
        for ((item_vector, bias), slot) in self
            .item_factors
            .chunks_exact(factors)
            .zip(&self.item_bias)
            .zip(out.iter_mut())
        {
            *slot = dot(item_vector, &vector) + bias;
        }
    }

    /// Items closest to `item` by cosine of their factors.
    pub fn similar_items(&self, item: u32, n: usize) -> Vec<Scored> {
        if item as usize >= self.n_items {
            return Vec::new();
        }
        let target = self.item_factors(item);
        let target_norm = dot(target, target).sqrt();
        let scores: Vec<f32> = self
            .item_factors
            .chunks_exact(self.params.factors)
            .map(|other| dot(target, other) / (target_norm * dot(other, other).sqrt()))
            .collect();
        top_n(&scores, n, &[&[item]])
    }

    /// Each past item's `wⱼ · qⱼ·qᵢ`: how much the item-space neighbourhood
    /// of the history supports `item`.
    pub fn explain(&self, history: Row<'_>, item: u32, top: usize) -> Vec<Scored> {
        if item as usize >= self.n_items {
            return Vec::new();
        }
        let target = self.item_factors(item);
        let mut contributions: Vec<Scored> = history
            .iter()
            .filter(|&(past, _)| (past as usize) < self.n_items)
            .map(|(past, weight)| Scored {
                item: past,
                score: weight * dot(self.item_factors(past), target),
            })
            .collect();
        sort_best_first(&mut contributions);
        contributions.truncate(top);
        contributions
    }

    pub(crate) fn encode(&self, writer: &mut Writer) {
        writer.param("params", &self.params);
        writer.param("n_users", self.n_users);
        writer.param("n_items", self.n_items);
        writer.f32s("user_factors", &self.user_factors);
        writer.f32s("item_factors", &self.item_factors);
        writer.f32s("item_bias", &self.item_bias);
    }

    pub(crate) fn decode(reader: &Reader<'_>) -> Result<Bpr> {
        let params: BprParams = reader.param("params")?;
        let n_users: usize = reader.param("n_users")?;
        let n_items: usize = reader.param("n_items")?;
        let user_factors = reader.f32s("user_factors")?;
        let item_factors = reader.f32s("item_factors")?;
        let item_bias = reader.f32s("item_bias")?;
        codec::expect_len("user_factors", user_factors.len(), n_users * params.factors)?;
        codec::expect_len("item_factors", item_factors.len(), n_items * params.factors)?;
        codec::expect_len("item_bias", item_bias.len(), n_items)?;
        Ok(Bpr {
            params,
            n_users,
            n_items,
            user_factors,
            item_factors,
            item_bias,
        })
    }
}

/// `samples` SGD steps on random (user, liked, not-liked) triples.
fn sgd_shard(
    matrix: &Interactions,
    positives: &[(u32, u32)],
    shared: &Shared,
    params: &BprParams,
    samples: usize,
    rng: &mut ChaCha8Rng,
) {
    let factors = params.factors;
    let (rate, reg) = (params.learning_rate, params.regularization);
    let n_items = matrix.n_items() as u32;
    let mut user_vector = vec![0f32; factors];
    let mut liked_vector = vec![0f32; factors];
    let mut other_vector = vec![0f32; factors];
    for _ in 0..samples {
        let (user, liked) = positives[rng.random_range(0..positives.len())];
        let other = rng.random_range(0..n_items);
        if matrix.user(user).get(other).is_some() {
            continue;
        }
        let user_cells = &shared.users[user as usize * factors..(user as usize + 1) * factors];
        let liked_cells = &shared.items[liked as usize * factors..(liked as usize + 1) * factors];
        let other_cells = &shared.items[other as usize * factors..(other as usize + 1) * factors];
        for f in 0..factors {
            user_vector[f] = load(&user_cells[f]);
            liked_vector[f] = load(&liked_cells[f]);
            other_vector[f] = load(&other_cells[f]);
        }
        let liked_bias = load(&shared.bias[liked as usize]);
        let other_bias = load(&shared.bias[other as usize]);
        let margin = liked_bias - other_bias + dot(&user_vector, &liked_vector)
            - dot(&user_vector, &other_vector);
        // d/dx ln σ(x) = 1 − σ(x) = σ(−x).
        let gradient = 1.0 / (1.0 + margin.exp());
        for f in 0..factors {
            let (u, i, j) = (user_vector[f], liked_vector[f], other_vector[f]);
            store(&user_cells[f], u + rate * (gradient * (i - j) - reg * u));
            store(&liked_cells[f], i + rate * (gradient * u - reg * i));
            store(&other_cells[f], j + rate * (-gradient * u - reg * j));
        }
        store(
            &shared.bias[liked as usize],
            liked_bias + rate * (gradient - reg * liked_bias),
        );
        store(
            &shared.bias[other as usize],
            other_bias + rate * (-gradient - reg * other_bias),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks() -> Interactions {
        let mut triplets = Vec::new();
        for user in 0..12u32 {
            let base = if user < 6 { 0 } else { 5 };
            for item in base..base + 5 {
                if (user + item) % 4 != 0 {
                    triplets.push((user, item, 1.0));
                }
            }
        }
        Interactions::from_triplets(12, 10, triplets)
    }

    fn params(threads: usize) -> BprParams {
        BprParams {
            factors: 8,
            learning_rate: 0.1,
            regularization: 0.01,
            epochs: 200,
            seed: 3,
            threads,
        }
    }

    #[test]
    fn learns_the_blocks_with_one_or_two_threads() {
        let matrix = blocks();
        for threads in [1, 2] {
            let model = Bpr::fit(&matrix, &params(threads), &mut |_| true).expect("fits");
            let mut hits = 0;
            for user in 0..12u32 {
                let mut scores = vec![0.0; 10];
                model.scores(Some(user), matrix.user(user), &mut scores);
                let best = top_n(&scores, 1, &[matrix.user(user).indices]);
                let block = if user < 6 { 0..5 } else { 5..10 };
                hits += usize::from(block.contains(&best[0].item));
            }
            assert!(hits >= 10, "threads {threads}: {hits}/12 in block");
        }
    }

    #[test]
    fn one_thread_is_deterministic_for_a_seed() {
        let matrix = blocks();
        let first = Bpr::fit(&matrix, &params(1), &mut |_| true).expect("fits");
        let second = Bpr::fit(&matrix, &params(1), &mut |_| true).expect("fits");
        assert_eq!(first, second);
    }
}
