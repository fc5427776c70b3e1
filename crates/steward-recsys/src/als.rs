//! Implicit-feedback ALS (Hu, Koren & Volinsky 2008) trained with the
//! conjugate-gradient solver of Takács et al. 2011 as the `implicit` library
//! runs it, plus the exact closed-form fold-in of one user's new history and
//! Hu et al.'s explanation of a score by the user's past items.
//!
//! Confidence is `c = 1 + alpha * weight`, preference 1 for every stored pair.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::codec::{self, Reader, Writer};
use crate::linalg::{
    axpy, cholesky, cholesky_solve, dot, gram, symmetric_matvec, symmetric_matvec_fixed,
};
use crate::matrix::{Interactions, Row, Scored, sort_best_first, top_n};
use crate::{Error, Result};

/// Hyper-parameters of [`Als::fit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlsParams {
    /// Latent dimensions per user and item.
    pub factors: usize,
    /// λ of the ridge penalty on every factor vector.
    pub regularization: f32,
    /// Confidence slope: `c = 1 + alpha * weight`.
    pub alpha: f32,
    /// Alternations (users, then items).
    pub iterations: usize,
    /// CG steps per row and half-iteration, warm-started from the previous
    /// solution: 3 is what `implicit` uses and is enough because each step
    /// starts close to the optimum.
    pub cg_steps: usize,
    /// Seeds the initial factors.
    pub seed: u64,
}

impl Default for AlsParams {
    fn default() -> Self {
        AlsParams {
            factors: 64,
            regularization: 0.05,
            alpha: 2.0,
            iterations: 15,
            cg_steps: 3,
            seed: 42,
        }
    }
}

/// A trained ALS model: user and item factors, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Als {
    params: AlsParams,
    n_users: usize,
    n_items: usize,
    user_factors: Vec<f32>,
    item_factors: Vec<f32>,
    /// `YᵀY + λI` of the final item factors: the shared part of every user's
    /// normal equations, kept so a fold-in costs O(|history|·f² + f³).
    item_gram: Vec<f32>,
    /// A hash of each user's training row: `recommend` uses the trained
    /// factors only when the history it is given is that same row.
    row_hashes: Vec<u64>,
}

/// What the CG solver reads of one side of the matrix.
trait Rows: Sync {
    fn row(&self, index: u32) -> Row<'_>;
}

struct ByUser<'a>(&'a Interactions);
struct ByItem<'a>(&'a Interactions);

impl Rows for ByUser<'_> {
    fn row(&self, index: u32) -> Row<'_> {
        self.0.user(index)
    }
}

impl Rows for ByItem<'_> {
    fn row(&self, index: u32) -> Row<'_> {
        self.0.item(index)
    }
}

impl Als {
    /// Trains on `matrix`. `on_iteration(i)` is called after each full
    /// iteration; returning `false` cancels the training.
    ///
    /// Runs on the current rayon pool: callers choose the thread count with
    /// `ThreadPool::install`.
    pub fn fit(
        matrix: &Interactions,
        params: &AlsParams,
        on_iteration: &mut dyn FnMut(usize) -> bool,
    ) -> Result<Als> {
        validate(params)?;
        if matrix.nnz() == 0 {
            return Err(Error::Empty("ALS needs at least one interaction".into()));
        }
        let factors = params.factors;
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        let mut random_factors = |rows: usize| -> Vec<f32> {
            (0..rows * factors)
                .map(|_| rng.random::<f32>() * 0.01)
                .collect()
        };
        let mut user_factors = random_factors(matrix.n_users());
        let mut item_factors = random_factors(matrix.n_items());
        for iteration in 0..params.iterations {
            least_squares_cg(&ByUser(matrix), &mut user_factors, &item_factors, params);
            least_squares_cg(&ByItem(matrix), &mut item_factors, &user_factors, params);
            if !on_iteration(iteration) {
                return Err(Error::Cancelled);
            }
        }
        let item_gram = regularized_gram(&item_factors, factors, params.regularization);
        let row_hashes = (0..matrix.n_users() as u32)
            .map(|user| row_hash(matrix.user(user)))
            .collect();
        Ok(Als {
            params: params.clone(),
            n_users: matrix.n_users(),
            n_items: matrix.n_items(),
            user_factors,
            item_factors,
            item_gram,
            row_hashes,
        })
    }

    pub fn params(&self) -> &AlsParams {
        &self.params
    }

    pub fn n_users(&self) -> usize {
        self.n_users
    }

    pub fn n_items(&self) -> usize {
        self.n_items
    }

    /// The trained factors of `user` (empty when the user is unknown).
    pub fn user_factors(&self, user: u32) -> &[f32] {
        let factors = self.params.factors;
        self.user_factors
            .get(user as usize * factors..(user as usize + 1) * factors)
            .unwrap_or(&[])
    }

    pub fn item_factors(&self, item: u32) -> &[f32] {
        let factors = self.params.factors;
        &self.item_factors[item as usize * factors..(item as usize + 1) * factors]
    }

    /// The exact least-squares user vector for `history` against the fixed
    /// item factors: `(YᵀY + λI + Yᵀ(Cᵘ − I)Y)⁻¹ YᵀCᵘp`, by Cholesky.
    /// Unknown items (beyond the trained catalogue) are ignored.
    pub fn fold_in(&self, history: Row<'_>) -> Vec<f32> {
        let factors = self.params.factors;
        let (mut system, mut rhs) = self.normal_equations(history);
        if !cholesky(&mut system, factors) {
            // λ > 0 keeps the system positive definite; λ = 0 with a
            // degenerate history is the only way here: no signal.
            return vec![0.0; factors];
        }
        cholesky_solve(&system, factors, &mut rhs);
        rhs.into_iter().map(|value| value as f32).collect()
    }

    /// Replaces `user`'s factors by the fold-in of `history` and remembers
    /// that row, so later calls with the same history use them directly.
    /// Users beyond the trained ones are ignored (recommend folds them in).
    pub fn set_user_factors(&mut self, user: u32, history: Row<'_>) {
        if (user as usize) >= self.n_users {
            return;
        }
        let folded = self.fold_in(history);
        let factors = self.params.factors;
        self.user_factors[user as usize * factors..(user as usize + 1) * factors]
            .copy_from_slice(&folded);
        self.row_hashes[user as usize] = row_hash(history);
    }

    /// The user vector `recommend` scores with: the trained one when
    /// `history` is the row it was trained on, else the fold-in.
    pub fn user_vector(&self, user: Option<u32>, history: Row<'_>) -> Vec<f32> {
        if let Some(user) = user
            && (user as usize) < self.n_users
            && self.row_hashes[user as usize] == row_hash(history)
        {
            return self.user_factors(user).to_vec();
        }
        self.fold_in(history)
    }

    pub(crate) fn scores(&self, user: Option<u32>, history: Row<'_>, out: &mut [f32]) {
        let vector = self.user_vector(user, history);
        self.scores_for_vector(&vector, out);
    }

    /// Scores of every item for a user vector (`fold_in`'s output, say).
    pub fn scores_for_vector(&self, vector: &[f32], out: &mut [f32]) {
        let factors = self.params.factors;
        for (item_vector, slot) in self.item_factors.chunks_exact(factors).zip(out.iter_mut()) {
            *slot = dot(item_vector, vector);
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
            .map(|other| {
                let denominator = target_norm * dot(other, other).sqrt();
                if denominator > 0.0 {
                    dot(target, other) / denominator
                } else {
                    f32::NAN
                }
            })
            .collect();
        top_n(&scores, n, &[&[item]])
    }

    /// Hu et al. 2008, §5: `p̂ᵤᵢ = Σⱼ sᵘᵢⱼ cᵤⱼ` with `sᵘᵢⱼ = yᵢᵀ Wᵘ yⱼ` and
    /// `Wᵘ = (YᵀCᵘY + λI)⁻¹`. Each history item's term is its share of the
    /// fold-in score; the terms sum to that score exactly.
    pub fn explain(&self, history: Row<'_>, item: u32, top: usize) -> Vec<Scored> {
        if item as usize >= self.n_items {
            return Vec::new();
        }
        let factors = self.params.factors;
        let (mut system, _) = self.normal_equations(history);
        if !cholesky(&mut system, factors) {
            return Vec::new();
        }
        let mut weighted_item: Vec<f64> = self
            .item_factors(item)
            .iter()
            .map(|&value| f64::from(value))
            .collect();
        cholesky_solve(&system, factors, &mut weighted_item);
        let weighted_item: Vec<f32> = weighted_item.into_iter().map(|v| v as f32).collect();
        let mut contributions: Vec<Scored> = history
            .iter()
            .filter(|&(past, _)| (past as usize) < self.n_items)
            .map(|(past, weight)| Scored {
                item: past,
                score: self.confidence(weight) * dot(&weighted_item, self.item_factors(past)),
            })
            .collect();
        sort_best_first(&mut contributions);
        contributions.truncate(top);
        contributions
    }

    fn confidence(&self, weight: f32) -> f32 {
        1.0 + self.params.alpha * weight
    }

    /// `(YᵀY + λI + Σ (c−1) yyᵀ, Σ c y)` for `history`, in f64 for the solve.
    fn normal_equations(&self, history: Row<'_>) -> (Vec<f64>, Vec<f64>) {
        let factors = self.params.factors;
        let mut system: Vec<f32> = self.item_gram.clone();
        let mut rhs = vec![0f32; factors];
        for (item, weight) in history.iter() {
            if item as usize >= self.n_items {
                continue;
            }
            let confidence = self.confidence(weight);
            let vector = self.item_factors(item);
            for (a, row) in system.chunks_exact_mut(factors).enumerate() {
                axpy((confidence - 1.0) * vector[a], vector, row);
            }
            axpy(confidence, vector, &mut rhs);
        }
        (
            system.into_iter().map(f64::from).collect(),
            rhs.into_iter().map(f64::from).collect(),
        )
    }

    pub(crate) fn encode(&self, writer: &mut Writer) {
        writer.param("params", &self.params);
        writer.param("n_users", self.n_users);
        writer.param("n_items", self.n_items);
        writer.f32s("user_factors", &self.user_factors);
        writer.f32s("item_factors", &self.item_factors);
        writer.f32s("item_gram", &self.item_gram);
        writer.u64s("row_hashes", &self.row_hashes);
    }

    pub(crate) fn decode(reader: &Reader<'_>) -> Result<Als> {
        let params: AlsParams = reader.param("params")?;
        let n_users: usize = reader.param("n_users")?;
        let n_items: usize = reader.param("n_items")?;
        let user_factors = reader.f32s("user_factors")?;
        let item_factors = reader.f32s("item_factors")?;
        let item_gram = reader.f32s("item_gram")?;
        let row_hashes = reader.u64s("row_hashes")?;
        codec::expect_len("user_factors", user_factors.len(), n_users * params.factors)?;
        codec::expect_len("item_factors", item_factors.len(), n_items * params.factors)?;
        codec::expect_len(
            "item_gram",
            item_gram.len(),
            params.factors * params.factors,
        )?;
        codec::expect_len("row_hashes", row_hashes.len(), n_users)?;
        Ok(Als {
            params,
            n_users,
            n_items,
            user_factors,
            item_factors,
            item_gram,
            row_hashes,
        })
    }
}

fn validate(params: &AlsParams) -> Result<()> {
    let invalid = |name: &'static str, message: &str| {
        Err(Error::InvalidParameter {
            name,
            message: message.to_owned(),
        })
    };
    if params.factors == 0 {
        return invalid("factors", "must be at least 1");
    }
    if !(params.regularization >= 0.0 && params.regularization.is_finite()) {
        return invalid("regularization", "must be finite and >= 0");
    }
    if !(params.alpha >= 0.0 && params.alpha.is_finite()) {
        return invalid("alpha", "must be finite and >= 0");
    }
    if params.cg_steps == 0 {
        return invalid("cg_steps", "must be at least 1");
    }
    Ok(())
}

fn regularized_gram(factors_matrix: &[f32], factors: usize, regularization: f32) -> Vec<f32> {
    let mut gram = gram(factors_matrix, factors);
    for diagonal in 0..factors {
        gram[diagonal * factors + diagonal] += regularization;
    }
    gram
}

/// The factor count as a type: `Fixed<N>` for the common sizes, so every
/// row slice has a compile-time length and LLVM unrolls the dot products and
/// the matrix–vector product completely; `Dynamic` for any other size.
trait Dim: Copy + Send + Sync {
    fn get(self) -> usize;
    /// `out = gram · v` (gram symmetric, `get() × get()`).
    fn gram_times(self, gram: &[f32], v: &[f32], out: &mut [f32]);
}

#[derive(Clone, Copy)]
struct Fixed<const N: usize>;

impl<const N: usize> Dim for Fixed<N> {
    #[inline(always)]
    fn get(self) -> usize {
        N
    }

    #[inline(always)]
    fn gram_times(self, gram: &[f32], v: &[f32], out: &mut [f32]) {
        symmetric_matvec_fixed::<N>(gram, v, out);
    }
}

#[derive(Clone, Copy)]
struct Dynamic(usize);

impl Dim for Dynamic {
    #[inline(always)]
    fn get(self) -> usize {
        self.0
    }

    #[inline(always)]
    fn gram_times(self, gram: &[f32], v: &[f32], out: &mut [f32]) {
        symmetric_matvec(gram, v, out);
    }
}

/// One half-iteration: every row of `x` moves `cg_steps` CG steps towards
/// the solution of `(YᵀCY + λI) x = YᵀCp`, starting where it stands.
/// Rows run in parallel; each thread reuses three scratch vectors, so the
/// loop allocates nothing per row.
fn least_squares_cg(rows: &impl Rows, x: &mut [f32], y: &[f32], params: &AlsParams) {
    match params.factors {
        16 => least_squares_cg_in(Fixed::<16>, rows, x, y, params),
        32 => least_squares_cg_in(Fixed::<32>, rows, x, y, params),
        64 => least_squares_cg_in(Fixed::<64>, rows, x, y, params),
        128 => least_squares_cg_in(Fixed::<128>, rows, x, y, params),
        factors => least_squares_cg_in(Dynamic(factors), rows, x, y, params),
    }
}

fn least_squares_cg_in<D: Dim>(
    dim: D,
    rows: &impl Rows,
    x: &mut [f32],
    y: &[f32],
    params: &AlsParams,
) {
    let factors = dim.get();
    let gram = regularized_gram(y, factors, params.regularization);
    let alpha = params.alpha;
    let cg_steps = params.cg_steps;
    let vector = |index: u32| {
        let start = index as usize * dim.get();
        &y[start..start + dim.get()]
    };
    x.par_chunks_mut(factors)
        .enumerate()
        .with_min_len(64)
        .for_each_init(
            || vec![0f32; 3 * factors],
            |scratch, (index, xu)| {
                let xu = &mut xu[..dim.get()];
                let (r, rest) = scratch.split_at_mut(dim.get());
                let (p, ap) = rest.split_at_mut(dim.get());
                let ap = &mut ap[..dim.get()];
                let row = rows.row(index as u32);
                // r = b − A x, with b = Σ c y and A = G + Σ (c−1) y yᵀ.
                dim.gram_times(&gram, xu, r);
                r.iter_mut().for_each(|value| *value = -*value);
                for (other, weight) in row.iter() {
                    let confidence = 1.0 + alpha * weight;
                    let yi = vector(other);
                    axpy(confidence - (confidence - 1.0) * dot(yi, xu), yi, r);
                }
                p.copy_from_slice(r);
                let mut rs_old = dot(r, r);
                if rs_old < 1e-20 {
                    return;
                }
                for _ in 0..cg_steps {
                    dim.gram_times(&gram, p, ap);
                    for (other, weight) in row.iter() {
                        let yi = vector(other);
                        axpy(alpha * weight * dot(yi, p), yi, ap);
                    }
                    let step = rs_old / dot(p, ap);
                    axpy(step, p, xu);
                    axpy(-step, ap, r);
                    let rs_new = dot(r, r);
                    if rs_new < 1e-20 {
                        break;
                    }
                    let ratio = rs_new / rs_old;
                    for (pi, ri) in p.iter_mut().zip(r.iter()) {
                        *pi = ri + ratio * *pi;
                    }
                    rs_old = rs_new;
                }
            },
        );
}

/// FNV-1a over the row's indices and weight bits: cheap, stable across
/// platforms and releases (stored in the artifact).
pub(crate) fn row_hash(row: Row<'_>) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (index, weight) in row.iter() {
        for byte in index
            .to_le_bytes()
            .into_iter()
            .chain(weight.to_bits().to_le_bytes())
        {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two blocks of users and items: users 0..10 like items 0..6, users
    /// 10..20 like items 6..12, with a few holes to recommend into.
    pub(crate) fn blocks() -> Interactions {
        let mut triplets = Vec::new();
        for user in 0..20u32 {
            let base = if user < 10 { 0 } else { 6 };
            for item in base..base + 6 {
                if (user + item) % 5 != 0 {
                    triplets.push((user, item, 1.0));
                }
            }
        }
        Interactions::from_triplets(20, 12, triplets)
    }

    fn params() -> AlsParams {
        AlsParams {
            factors: 4,
            regularization: 0.1,
            alpha: 5.0,
            iterations: 15,
            cg_steps: 3,
            seed: 7,
        }
    }

    #[test]
    fn recommends_inside_the_users_block() {
        let matrix = blocks();
        let params = AlsParams {
            factors: 2,
            regularization: 1.0,
            ..params()
        };
        let model = Als::fit(&matrix, &params, &mut |_| true).expect("trains");
        for user in 0..20u32 {
            let history = matrix.user(user);
            let mut scores = vec![0f32; 12];
            model.scores(Some(user), history, &mut scores);
            let best = top_n(&scores, 1, &[history.indices]);
            let block = if user < 10 { 0..6 } else { 6..12 };
            assert!(block.contains(&best[0].item), "user {user}: {best:?}");
        }
    }

    #[test]
    fn fold_in_agrees_with_the_trained_user_factors() {
        let matrix = blocks();
        let mut params = params();
        // Many CG steps make the trained rows exact least-squares solutions.
        params.cg_steps = 20;
        params.iterations = 10;
        let model = Als::fit(&matrix, &params, &mut |_| true).expect("trains");
        // The final half-iteration updates items, so solve users once more
        // against the final items for the comparison.
        let mut users = model.user_factors.clone();
        least_squares_cg(&ByUser(&matrix), &mut users, &model.item_factors, &params);
        for user in 0..20u32 {
            let folded = model.fold_in(matrix.user(user));
            let trained = &users[user as usize * 4..(user as usize + 1) * 4];
            for (a, b) in folded.iter().zip(trained) {
                assert!(
                    (a - b).abs() < 1e-3,
                    "user {user}: {folded:?} vs {trained:?}"
                );
            }
        }
    }

    #[test]
    fn explanations_sum_to_the_folded_in_score() {
        let matrix = blocks();
        let model = Als::fit(&matrix, &params(), &mut |_| true).expect("trains");
        let history = matrix.user(2);
        let folded = model.fold_in(history);
        for item in 0..12u32 {
            let score = dot(&folded, model.item_factors(item));
            let parts = model.explain(history, item, usize::MAX);
            assert_eq!(parts.len(), history.len());
            let total: f32 = parts.iter().map(|part| part.score).sum();
            assert!(
                (total - score).abs() < 1e-3,
                "item {item}: {total} vs {score}"
            );
            assert!(parts.windows(2).all(|pair| pair[0].score >= pair[1].score));
        }
    }

    #[test]
    fn a_new_favourite_changes_the_folded_in_recommendations() {
        let matrix = blocks();
        let model = Als::fit(&matrix, &params(), &mut |_| true).expect("trains");
        let history = matrix.user(0);
        let before = model.user_vector(Some(0), history);
        let mut items = history.indices.to_vec();
        let mut weights = history.weights.to_vec();
        items.push(11);
        weights.push(5.0);
        let after = model.user_vector(Some(0), Row::new(&items, &weights));
        assert_ne!(before, after);
        let score_before = dot(&before, model.item_factors(10));
        let score_after = dot(&after, model.item_factors(10));
        assert!(score_after > score_before, "liking item 11 raises item 10");
    }

    #[test]
    fn cancelling_stops_the_training() {
        let result = Als::fit(&blocks(), &params(), &mut |iteration| iteration < 2);
        assert!(matches!(result, Err(Error::Cancelled)));
    }

    #[test]
    fn same_seed_gives_the_same_factors() {
        let matrix = blocks();
        let first = Als::fit(&matrix, &params(), &mut |_| true).expect("trains");
        let second = Als::fit(&matrix, &params(), &mut |_| true).expect("trains");
        assert_eq!(first, second);
    }
}
