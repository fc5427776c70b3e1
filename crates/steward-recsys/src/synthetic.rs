//! Seeded synthetic interaction matrices for benchmarks (`steward bench
//! recsys`): a popularity skew plus taste groups, so the factor models have
//! structure to learn and the sparsity pattern resembles real feedback.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::matrix::Interactions;

/// Taste groups; each owns a contiguous slice of the catalogue.
const GROUPS: u32 = 20;

/// `n_interactions` draws (duplicates summed, so `nnz` is a little lower):
/// a user uniformly, then half the time an item from the user's group's
/// slice and otherwise from a skewed global popularity (density ∝ 1/√rank);
/// weights 1 to 5.
pub fn generate(n_users: usize, n_items: usize, n_interactions: usize, seed: u64) -> Interactions {
    assert!(
        n_users > 0 && n_items > 0,
        "a synthetic matrix needs users and items"
    );
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let group_size = (n_items as u32 / GROUPS).max(1);
    let triplets: Vec<(u32, u32, f32)> = (0..n_interactions)
        .map(|_| {
            let user = rng.random_range(0..n_users as u32);
            let item = if rng.random_bool(0.5) {
                let start = (user % GROUPS) * group_size;
                (start + rng.random_range(0..group_size)).min(n_items as u32 - 1)
            } else {
                let draw: f64 = rng.random();
                ((draw * draw * n_items as f64) as u32).min(n_items as u32 - 1)
            };
            let weight = rng.random_range(1..=5) as f32;
            (user, item, weight)
        })
        .collect();
    Interactions::from_triplets(n_users, n_items, triplets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_matrix() {
        let first = generate(200, 400, 1_000, 5);
        assert_eq!(first, generate(200, 400, 1_000, 5));
        assert!(first.nnz() > 500 && first.nnz() <= 1_000);
    }
}
