//! A compact set of integer ids: one bit per id for the dense, non-negative ids
//! that sources hand out, a hash set for the rest. Remembers every post an
//! import wrote (to resolve parents without asking the store) and every id a
//! file used (to catch duplicates) in a few bits per row.

use std::collections::HashSet;

/// Ids below this go into the bitset (16 MiB of bits at most); others, like
/// negative user ids or comment post ids at 2^40, into the hash set.
const DENSE_LIMIT: i64 = 1 << 27;

#[derive(Debug, Default, Clone)]
pub(crate) struct IdSet {
    words: Vec<u64>,
    sparse: HashSet<i64>,
    len: usize,
}

impl IdSet {
    /// Adds `id`; returns false when it was already there.
    pub(crate) fn insert(&mut self, id: i64) -> bool {
        let added = if (0..DENSE_LIMIT).contains(&id) {
            let word_idx = (id / 64) as usize;
            let bit = 1u64 << (id % 64);
            if word_idx >= self.words.len() {
                let new_len = (word_idx + 1).next_power_of_two();
                self.words.resize(new_len, 0);
            }
            let was_set = self.words[word_idx] & bit != 0;
            self.words[word_idx] |= bit;
            !was_set
        } else {
            self.sparse.insert(id)
        };
        if added {
            self.len += 1;
        }
        added
    }

    pub(crate) fn contains(&self, id: i64) -> bool {
        if (0..DENSE_LIMIT).contains(&id) {
            let word_idx = (id / 64) as usize;
            self.words
                .get(word_idx)
                .is_some_and(|word| word & (1u64 << (id % 64)) != 0)
        } else {
            self.sparse.contains(&id)
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_and_sparse_ids_are_remembered_once() {
        let mut set = IdSet::default();
        for id in [0, 1, 63, 64, 1_000_000, -1, 1 << 40, 1 << 40] {
            set.insert(id);
        }
        assert_eq!(set.len(), 7);
        for id in [0, 1, 63, 64, 1_000_000, -1, 1 << 40] {
            assert!(set.contains(id), "{id}");
            assert!(!set.insert(id), "{id} inserted twice");
        }
        for id in [2, 65, 999_999, -2, (1 << 40) + 1] {
            assert!(!set.contains(id), "{id}");
        }
    }
}
