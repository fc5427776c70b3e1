//! The interaction matrix every model learns from: users × items, f32 weights,
//! stored twice (CSR by user, CSC by item) because ALS alternates between both.

use serde::Serialize;

/// Users × items with their summed interaction weights, in both orientations.
///
/// Built once per training from triplets; immutable afterwards so models can
/// borrow rows without copying.
#[derive(Debug, Clone, PartialEq)]
pub struct Interactions {
    n_users: usize,
    n_items: usize,
    user_offsets: Vec<usize>,
    user_items: Vec<u32>,
    user_weights: Vec<f32>,
    item_offsets: Vec<usize>,
    item_users: Vec<u32>,
    item_weights: Vec<f32>,
}

/// One row (a user's items) or column (an item's users), sorted by index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row<'a> {
    pub indices: &'a [u32],
    pub weights: &'a [f32],
}

impl<'a> Row<'a> {
    /// A row with nothing in it: a user with no history.
    pub const EMPTY: Row<'static> = Row {
        indices: &[],
        weights: &[],
    };

    /// A row from parallel slices; `indices` must be sorted and unique.
    pub fn new(indices: &'a [u32], weights: &'a [f32]) -> Row<'a> {
        assert_eq!(
            indices.len(),
            weights.len(),
            "a row has one weight per index"
        );
        debug_assert!(
            indices.windows(2).all(|pair| pair[0] < pair[1]),
            "row indices are sorted and unique"
        );
        Row { indices, weights }
    }

    pub fn len(&self) -> usize {
        self.indices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    pub fn iter(self) -> impl Iterator<Item = (u32, f32)> + 'a {
        self.indices
            .iter()
            .copied()
            .zip(self.weights.iter().copied())
    }

    /// The weight at `index`, if present (binary search: rows are sorted).
    pub fn get(&self, index: u32) -> Option<f32> {
        self.indices
            .binary_search(&index)
            .ok()
            .map(|position| self.weights[position])
    }
}

/// An item and its score, as every model returns them (best first).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scored {
    pub item: u32,
    pub score: f32,
}

impl Interactions {
    /// Sums duplicate (user, item) pairs; drops pairs whose summed weight is <= 0.
    ///
    /// Triplets outside `n_users × n_items` are a caller bug and panic.
    pub fn from_triplets(
        n_users: usize,
        n_items: usize,
        triplets: impl IntoIterator<Item = (u32, u32, f32)>,
    ) -> Interactions {
        let mut triplets: Vec<(u32, u32, f32)> = triplets.into_iter().collect();
        for &(user, item, _) in &triplets {
            assert!(
                (user as usize) < n_users && (item as usize) < n_items,
                "triplet ({user}, {item}) outside a {n_users} x {n_items} matrix"
            );
        }
        triplets.sort_unstable_by_key(|&(user, item, _)| (user, item));
        let mut merged: Vec<(u32, u32, f32)> = Vec::with_capacity(triplets.len());
        for (user, item, weight) in triplets {
            match merged.last_mut() {
                Some(last) if last.0 == user && last.1 == item => last.2 += weight,
                _ => merged.push((user, item, weight)),
            }
        }
        merged.retain(|&(_, _, weight)| weight > 0.0 && weight.is_finite());

        let mut user_offsets = vec![0usize; n_users + 1];
        let mut item_offsets = vec![0usize; n_items + 1];
        for &(user, item, _) in &merged {
            user_offsets[user as usize + 1] += 1;
            item_offsets[item as usize + 1] += 1;
        }
        for index in 0..n_users {
            user_offsets[index + 1] += user_offsets[index];
        }
        for index in 0..n_items {
            item_offsets[index + 1] += item_offsets[index];
        }
        let user_items = merged.iter().map(|&(_, item, _)| item).collect();
        let user_weights = merged.iter().map(|&(_, _, weight)| weight).collect();
        // Counting sort by item; users stay ascending within an item because
        // `merged` is sorted by user first.
        let mut item_users = vec![0u32; merged.len()];
        let mut item_weights = vec![0f32; merged.len()];
        let mut cursor = item_offsets.clone();
        for &(user, item, weight) in &merged {
            let slot = &mut cursor[item as usize];
            item_users[*slot] = user;
            item_weights[*slot] = weight;
            *slot += 1;
        }
        Interactions {
            n_users,
            n_items,
            user_offsets,
            user_items,
            user_weights,
            item_offsets,
            item_users,
            item_weights,
        }
    }

    pub fn n_users(&self) -> usize {
        self.n_users
    }

    pub fn n_items(&self) -> usize {
        self.n_items
    }

    /// Stored (user, item) pairs.
    pub fn nnz(&self) -> usize {
        self.user_items.len()
    }

    /// The user's items, sorted by item.
    pub fn user(&self, user: u32) -> Row<'_> {
        let range = self.user_offsets[user as usize]..self.user_offsets[user as usize + 1];
        Row {
            indices: &self.user_items[range.clone()],
            weights: &self.user_weights[range],
        }
    }

    /// The item's users, sorted by user.
    pub fn item(&self, item: u32) -> Row<'_> {
        let range = self.item_offsets[item as usize]..self.item_offsets[item as usize + 1];
        Row {
            indices: &self.item_users[range.clone()],
            weights: &self.item_weights[range],
        }
    }

    /// Every stored pair as (user, item, weight), by user then item.
    pub fn triplets(&self) -> impl Iterator<Item = (u32, u32, f32)> + '_ {
        (0..self.n_users as u32).flat_map(move |user| {
            let row = self.user(user);
            row.iter().map(move |(item, weight)| (user, item, weight))
        })
    }

    /// The same matrix with users and items swapped (item × user).
    pub fn transpose(&self) -> Interactions {
        Interactions {
            n_users: self.n_items,
            n_items: self.n_users,
            user_offsets: self.item_offsets.clone(),
            user_items: self.item_users.clone(),
            user_weights: self.item_weights.clone(),
            item_offsets: self.user_offsets.clone(),
            item_users: self.user_items.clone(),
            item_weights: self.user_weights.clone(),
        }
    }

    /// Users that have at least one stored item.
    pub fn active_users(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.n_users as u32).filter(move |&user| !self.user(user).is_empty())
    }
}

/// The `n` best finite scores, best first, skipping every item in the sorted
/// slices of `excluded`; ties go to the lower item index so rankings are
/// reproducible.
pub fn top_n(scores: &[f32], n: usize, excluded: &[&[u32]]) -> Vec<Scored> {
    use std::cmp::Ordering;
    use std::collections::BinaryHeap;

    /// Min-heap entry: the worst kept candidate sits on top.
    #[derive(PartialEq)]
    struct Entry(Scored);
    impl Eq for Entry {}
    impl Ord for Entry {
        fn cmp(&self, other: &Self) -> Ordering {
            // Reverse of "better": higher score is better, then lower item.
            other
                .0
                .score
                .total_cmp(&self.0.score)
                .then(self.0.item.cmp(&other.0.item))
        }
    }
    impl PartialOrd for Entry {
        fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
            Some(self.cmp(other))
        }
    }

    if n == 0 {
        return Vec::new();
    }
    let mut heap: BinaryHeap<Entry> = BinaryHeap::with_capacity(n + 1);
    for (item, &score) in scores.iter().enumerate() {
        if !score.is_finite() {
            continue;
        }
        if heap.len() == n {
            let worst = &heap.peek().expect("heap holds n > 0 entries").0;
            if score <= worst.score {
                continue;
            }
        }
        let item = item as u32;
        if excluded
            .iter()
            .any(|list| list.binary_search(&item).is_ok())
        {
            continue;
        }
        heap.push(Entry(Scored { item, score }));
        if heap.len() > n {
            heap.pop();
        }
    }
    let mut best: Vec<Scored> = heap.into_iter().map(|entry| entry.0).collect();
    sort_best_first(&mut best);
    best
}

/// Highest score first, ties by lower item.
pub fn sort_best_first(scored: &mut [Scored]) {
    scored.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.item.cmp(&b.item)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_summed_and_non_positive_pairs_dropped() {
        let matrix = Interactions::from_triplets(
            3,
            4,
            [
                (0, 1, 1.0),
                (0, 1, 2.0),
                (1, 3, 1.0),
                (1, 3, -1.0),
                (2, 0, 0.5),
                (0, 0, 1.0),
            ],
        );
        assert_eq!(matrix.nnz(), 3);
        assert_eq!(matrix.user(0).indices, &[0, 1]);
        assert_eq!(matrix.user(0).weights, &[1.0, 3.0]);
        assert!(matrix.user(1).is_empty());
        assert_eq!(matrix.item(0).indices, &[0, 2]);
        assert_eq!(matrix.item(0).weights, &[1.0, 0.5]);
        assert_eq!(matrix.item(1).indices, &[0]);
    }

    #[test]
    fn transpose_swaps_the_orientations() {
        let matrix = Interactions::from_triplets(2, 3, [(0, 2, 1.0), (1, 0, 2.0), (1, 2, 3.0)]);
        let transposed = matrix.transpose();
        assert_eq!(transposed.n_users(), 3);
        assert_eq!(transposed.user(2).indices, &[0, 1]);
        assert_eq!(transposed.item(1), matrix.user(1));
    }

    #[test]
    fn top_n_skips_excluded_and_non_finite_and_breaks_ties_by_item() {
        let scores = [0.5, f32::NAN, 0.9, 0.5, f32::NEG_INFINITY, 0.7];
        let best = top_n(&scores, 3, &[&[2]]);
        let items: Vec<u32> = best.iter().map(|scored| scored.item).collect();
        assert_eq!(items, vec![5, 0, 3]);
        assert!(top_n(&scores, 0, &[]).is_empty());
    }
}
