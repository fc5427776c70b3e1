//! The popularity baseline and cold-start fallback: every item scored by its
//! summed interaction weight (already time-decayed by the dataset builder).

use crate::Result;
use crate::codec::{self, Reader, Writer};
use crate::matrix::{Interactions, Row, Scored, top_n};

/// Items ranked by total weight, the same list for everyone.
#[derive(Debug, Clone, PartialEq)]
pub struct Popularity {
    scores: Vec<f32>,
}

impl Popularity {
    pub fn fit(matrix: &Interactions) -> Popularity {
        let scores = (0..matrix.n_items() as u32)
            .map(|item| matrix.item(item).weights.iter().sum())
            .collect();
        Popularity { scores }
    }

    pub fn n_items(&self) -> usize {
        self.scores.len()
    }

    pub fn item_score(&self, item: u32) -> f32 {
        self.scores.get(item as usize).copied().unwrap_or(0.0)
    }

    pub(crate) fn scores(&self, _user: Option<u32>, _history: Row<'_>, out: &mut [f32]) {
        out.copy_from_slice(&self.scores);
    }

    /// Popularity knows nothing about similarity: the most popular other items.
    pub fn similar_items(&self, item: u32, n: usize) -> Vec<Scored> {
        top_n(&self.scores, n, &[&[item]])
    }

    pub(crate) fn encode(&self, writer: &mut Writer) {
        writer.param("n_items", self.scores.len());
        writer.f32s("scores", &self.scores);
    }

    pub(crate) fn decode(reader: &Reader<'_>) -> Result<Popularity> {
        let n_items: usize = reader.param("n_items")?;
        let scores = reader.f32s("scores")?;
        codec::expect_len("scores", scores.len(), n_items)?;
        Ok(Popularity { scores })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_items_by_summed_weight() {
        let matrix =
            Interactions::from_triplets(3, 3, [(0, 0, 1.0), (1, 0, 1.0), (2, 1, 3.0), (0, 2, 0.5)]);
        let model = Popularity::fit(&matrix);
        let mut scores = vec![0.0; 3];
        model.scores(None, Row::EMPTY, &mut scores);
        let order: Vec<u32> = top_n(&scores, 3, &[]).iter().map(|s| s.item).collect();
        assert_eq!(order, vec![1, 0, 2]);
    }
}
