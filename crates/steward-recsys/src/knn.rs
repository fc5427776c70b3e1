//! Item-based k-nearest-neighbours: item–item similarities from co-occurrence
//! (cosine, or BM25-weighted dot products as in the `implicit` library), top-k
//! neighbours kept per item; a user's score for `i` is `Σⱼ wᵤⱼ sim(j, i)`.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::codec::{self, Reader, Writer};
use crate::matrix::{Interactions, Row, Scored, sort_best_first};
use crate::{Error, Result};

/// How two items' user vectors are compared.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Similarity {
    /// Cosine of the raw weight vectors (with `shrink` in the denominator).
    Cosine,
    /// Dot product after BM25 weighting (Robertson's term-frequency
    /// saturation `k1` and length normalisation `b`): heavy users and very
    /// popular items count for less.
    Bm25 { k1: f32, b: f32 },
}

/// Hyper-parameters of [`ItemKnn::fit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnnParams {
    /// Neighbours kept per item.
    pub neighbours: usize,
    pub similarity: Similarity,
    /// Added to the cosine denominator: damps similarities resting on few
    /// common users.
    pub shrink: f32,
}

impl Default for KnnParams {
    fn default() -> Self {
        KnnParams {
            neighbours: 50,
            similarity: Similarity::Cosine,
            shrink: 0.0,
        }
    }
}

/// Each item's top-k neighbours, stored CSR-like and sorted by neighbour.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemKnn {
    params: KnnParams,
    n_items: usize,
    offsets: Vec<u32>,
    neighbours: Vec<u32>,
    similarities: Vec<f32>,
}

impl ItemKnn {
    pub fn fit(matrix: &Interactions, params: &KnnParams) -> Result<ItemKnn> {
        if params.neighbours == 0 {
            return Err(Error::InvalidParameter {
                name: "neighbours",
                message: "must be at least 1".into(),
            });
        }
        let weighted = match params.similarity {
            Similarity::Cosine => matrix.clone(),
            Similarity::Bm25 { k1, b } => bm25_weight(matrix, k1, b),
        };
        let n_items = matrix.n_items();
        let norms: Vec<f32> = (0..n_items as u32)
            .map(|item| {
                let weights = weighted.item(item).weights;
                weights.iter().map(|w| w * w).sum::<f32>().sqrt()
            })
            .collect();
        let rows: Vec<Vec<(u32, f32)>> = (0..n_items as u32)
            .into_par_iter()
            .map_init(
                || (vec![0f32; n_items], Vec::<u32>::new()),
                |(accumulator, touched), item| {
                    for (user, weight) in weighted.item(item).iter() {
                        for (other, other_weight) in weighted.user(user).iter() {
                            if other == item {
                                continue;
                            }
                            if accumulator[other as usize] == 0.0 {
                                touched.push(other);
                            }
                            accumulator[other as usize] += weight * other_weight;
                        }
                    }
                    let mut row: Vec<(u32, f32)> = touched
                        .drain(..)
                        .map(|other| {
                            let product = std::mem::take(&mut accumulator[other as usize]);
                            let similarity = match params.similarity {
                                Similarity::Cosine => {
                                    product
                                        / (norms[item as usize] * norms[other as usize]
                                            + params.shrink)
                                }
                                Similarity::Bm25 { .. } => product,
                            };
                            (other, similarity)
                        })
                        .filter(|(_, similarity)| similarity.is_finite() && *similarity > 0.0)
                        .collect();
                    if row.len() > params.neighbours {
                        row.select_nth_unstable_by(params.neighbours - 1, |a, b| {
                            b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
                        });
                        row.truncate(params.neighbours);
                    }
                    row.sort_unstable_by_key(|&(other, _)| other);
                    row
                },
            )
            .collect();
        let mut offsets = Vec::with_capacity(n_items + 1);
        offsets.push(0u32);
        let mut neighbours = Vec::new();
        let mut similarities = Vec::new();
        for row in rows {
            for (other, similarity) in row {
                neighbours.push(other);
                similarities.push(similarity);
            }
            offsets.push(neighbours.len() as u32);
        }
        Ok(ItemKnn {
            params: params.clone(),
            n_items,
            offsets,
            neighbours,
            similarities,
        })
    }

    pub fn params(&self) -> &KnnParams {
        &self.params
    }

    pub fn n_items(&self) -> usize {
        self.n_items
    }

    fn neighbours_of(&self, item: u32) -> Row<'_> {
        if item as usize >= self.n_items {
            return Row::EMPTY;
        }
        let range = self.offsets[item as usize] as usize..self.offsets[item as usize + 1] as usize;
        Row {
            indices: &self.neighbours[range.clone()],
            weights: &self.similarities[range],
        }
    }

    pub(crate) fn scores(&self, _user: Option<u32>, history: Row<'_>, out: &mut [f32]) {
        out.fill(0.0);
        for (past, weight) in history.iter() {
            for (other, similarity) in self.neighbours_of(past).iter() {
                out[other as usize] += weight * similarity;
            }
        }
    }

    pub fn similar_items(&self, item: u32, n: usize) -> Vec<Scored> {
        let mut similar: Vec<Scored> = self
            .neighbours_of(item)
            .iter()
            .map(|(other, similarity)| Scored {
                item: other,
                score: similarity,
            })
            .collect();
        sort_best_first(&mut similar);
        similar.truncate(n);
        similar
    }

    /// Each past item's term `wᵤⱼ · sim(j, i)` of the score.
    pub fn explain(&self, history: Row<'_>, item: u32, top: usize) -> Vec<Scored> {
        let mut contributions: Vec<Scored> = history
            .iter()
            .filter_map(|(past, weight)| {
                self.neighbours_of(past).get(item).map(|similarity| Scored {
                    item: past,
                    score: weight * similarity,
                })
            })
            .collect();
        sort_best_first(&mut contributions);
        contributions.truncate(top);
        contributions
    }

    pub(crate) fn encode(&self, writer: &mut Writer) {
        writer.param("params", &self.params);
        writer.param("n_items", self.n_items);
        writer.u32s("offsets", &self.offsets);
        writer.u32s("neighbours", &self.neighbours);
        writer.f32s("similarities", &self.similarities);
    }

    pub(crate) fn decode(reader: &Reader<'_>) -> Result<ItemKnn> {
        let params: KnnParams = reader.param("params")?;
        let n_items: usize = reader.param("n_items")?;
        let offsets = reader.u32s("offsets")?;
        let neighbours = reader.u32s("neighbours")?;
        let similarities = reader.f32s("similarities")?;
        codec::expect_len("offsets", offsets.len(), n_items + 1)?;
        codec::expect_len("similarities", similarities.len(), neighbours.len())?;
        let consistent = offsets.windows(2).all(|pair| pair[0] <= pair[1])
            && offsets.last().copied() == Some(neighbours.len() as u32)
            && neighbours.iter().all(|&other| (other as usize) < n_items);
        if !consistent {
            return Err(Error::Codec(
                "item-kNN neighbour lists are inconsistent".into(),
            ));
        }
        Ok(ItemKnn {
            params,
            n_items,
            offsets,
            neighbours,
            similarities,
        })
    }
}

/// BM25 weighting of the item × user matrix as `implicit.nearest_neighbours.
/// bm25_weight` does it: `idf` per user (users with many items say less about
/// each), length normalisation per item.
fn bm25_weight(matrix: &Interactions, k1: f32, b: f32) -> Interactions {
    let n_items = matrix.n_items() as f32;
    let idf: Vec<f32> = (0..matrix.n_users() as u32)
        .map(|user| n_items.ln() - (matrix.user(user).len() as f32).ln_1p())
        .collect();
    let lengths: Vec<f32> = (0..matrix.n_items() as u32)
        .map(|item| matrix.item(item).weights.iter().sum())
        .collect();
    let average = lengths.iter().sum::<f32>() / lengths.len().max(1) as f32;
    let triplets = matrix.triplets().map(|(user, item, weight)| {
        let length_norm = (1.0 - b) + b * lengths[item as usize] / average.max(f32::MIN_POSITIVE);
        let scaled = weight * (k1 + 1.0) / (k1 * length_norm + weight) * idf[user as usize];
        (user, item, scaled)
    });
    Interactions::from_triplets(matrix.n_users(), matrix.n_items(), triplets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(similarity: Similarity) {
        // Items 0 and 1 are always taken together; item 2 with 3.
        let matrix = Interactions::from_triplets(
            4,
            4,
            [
                (0, 0, 1.0),
                (0, 1, 1.0),
                (1, 0, 1.0),
                (1, 1, 1.0),
                (2, 2, 1.0),
                (2, 3, 1.0),
                (3, 3, 1.0),
                (3, 1, 1.0),
            ],
        );
        let params = KnnParams {
            neighbours: 2,
            similarity,
            shrink: 0.0,
        };
        let model = ItemKnn::fit(&matrix, &params).expect("fits");
        assert_eq!(model.similar_items(0, 1)[0].item, 1);
        assert_eq!(model.similar_items(2, 1)[0].item, 3);
        let history = Row::new(&[0], &[2.0]);
        let mut scores = vec![0.0; 4];
        model.scores(None, history, &mut scores);
        assert!(scores[1] > 0.0 && scores[2] == 0.0);
        let explanation = model.explain(history, 1, 5);
        assert_eq!(explanation.len(), 1);
        assert!((explanation[0].score - scores[1]).abs() < 1e-6);
    }

    #[test]
    fn cosine_neighbours_are_co_occurring_items() {
        check(Similarity::Cosine);
    }

    #[test]
    fn bm25_neighbours_are_co_occurring_items() {
        check(Similarity::Bm25 { k1: 100.0, b: 0.8 });
    }
}
