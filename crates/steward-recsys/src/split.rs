//! Seeded train/test splits of the interaction matrix, and the plain-text
//! form in which a split is handed to a peer (Python `implicit`) so both
//! sides learn and are judged on exactly the same pairs.

use std::io::{BufWriter, Write as _};
use std::path::Path;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::matrix::Interactions;
use crate::{Error, Result};

/// Holds out `test_share` of each user's items (rounded down, so users with
/// a single item keep it for training), chosen by a seeded shuffle: the same
/// seed always gives the same split, on every platform.
pub fn random_split(
    matrix: &Interactions,
    test_share: f64,
    seed: u64,
) -> (Interactions, Interactions) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut train = Vec::with_capacity(matrix.nnz());
    let mut test = Vec::new();
    let mut order: Vec<usize> = Vec::new();
    for user in 0..matrix.n_users() as u32 {
        let row = matrix.user(user);
        order.clear();
        order.extend(0..row.len());
        order.shuffle(&mut rng);
        let n_test = (row.len() as f64 * test_share).floor() as usize;
        for (rank, &position) in order.iter().enumerate() {
            let triplet = (user, row.indices[position], row.weights[position]);
            if rank < n_test {
                test.push(triplet);
            } else {
                train.push(triplet);
            }
        }
    }
    (
        Interactions::from_triplets(matrix.n_users(), matrix.n_items(), train),
        Interactions::from_triplets(matrix.n_users(), matrix.n_items(), test),
    )
}

/// Writes `user\titem\tweight` lines, with a `# users items` first line so
/// the reader can size its matrix (trailing users or items may be empty).
pub fn write_tsv(matrix: &Interactions, path: &Path) -> Result<()> {
    let io_error = |error: std::io::Error| Error::Data {
        path: path.display().to_string(),
        message: error.to_string(),
    };
    let file = std::fs::File::create(path).map_err(io_error)?;
    let mut out = BufWriter::new(file);
    writeln!(out, "# {} {}", matrix.n_users(), matrix.n_items()).map_err(io_error)?;
    for (user, item, weight) in matrix.triplets() {
        writeln!(out, "{user}\t{item}\t{weight}").map_err(io_error)?;
    }
    out.flush().map_err(io_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_partitions_each_row_and_depends_only_on_the_seed() {
        let matrix = Interactions::from_triplets(
            3,
            20,
            (0..3u32).flat_map(|user| (0..10u32).map(move |item| (user, item + user, 1.0))),
        );
        let (train, test) = random_split(&matrix, 0.2, 9);
        for user in 0..3u32 {
            assert_eq!(test.user(user).len(), 2);
            assert_eq!(train.user(user).len(), 8);
            for item in test.user(user).indices {
                assert!(train.user(user).get(*item).is_none());
            }
        }
        assert_eq!(random_split(&matrix, 0.2, 9), (train, test));
        assert_ne!(
            random_split(&matrix, 0.2, 10).1,
            random_split(&matrix, 0.2, 9).1
        );
    }
}
