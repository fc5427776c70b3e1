//! Link-prediction evaluation: hold out edges, then ask the GNN and the
//! classic heuristics to tell the missing links from non-edges.
//!
//! One split serves every method, so the figures compare like with like;
//! the heuristics read the training graph only, as the GNN does.

use std::collections::HashSet;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::gnn::{Adjacency, GnnOptions, GraphSage};

/// Sampled non-edges per held-out edge in [`evaluate`]: enough that
/// Hits@20 is not trivially 1 on a graph with a few dozen test edges.
pub const EVAL_NEGATIVES_PER_TEST: usize = 20;

/// Held-out edges and the non-edges they are ranked against.
#[derive(Debug, Clone)]
pub struct EdgeSplit {
    /// Edges the model and heuristics may see, `(low, high)`.
    pub train: Vec<(u32, u32)>,
    /// Held-out edges, never in `train`.
    pub test: Vec<(u32, u32)>,
    /// Uniformly sampled pairs that are not edges of the full graph.
    pub negatives: Vec<(u32, u32)>,
}

/// Splits the edges (undirected, deduplicated here) into train and test,
/// `test_share` of them held out, and samples `negatives_per_test` non-edges
/// per test edge. A node's last remaining edge is never held out, so every
/// node that had an edge keeps one in `train` and can still be embedded
/// from its neighbours; on a very sparse graph the test set can therefore
/// come out smaller than asked.
pub fn split(
    nodes: usize,
    edges: &[(u32, u32)],
    test_share: f64,
    negatives_per_test: usize,
    seed: u64,
) -> EdgeSplit {
    let full = Adjacency::new(nodes, edges);
    let mut all = full.edges();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    all.shuffle(&mut rng);
    let wanted = (all.len() as f64 * test_share.clamp(0.0, 1.0)).round() as usize;
    let mut remaining: Vec<usize> = (0..nodes as u32).map(|v| full.degree(v)).collect();
    let mut train = Vec::with_capacity(all.len());
    let mut test = Vec::with_capacity(wanted);
    for (a, b) in all {
        let (ia, ib) = (a as usize, b as usize);
        if test.len() < wanted && remaining[ia] > 1 && remaining[ib] > 1 {
            remaining[ia] -= 1;
            remaining[ib] -= 1;
            test.push((a, b));
        } else {
            train.push((a, b));
        }
    }
    train.sort_unstable();
    test.sort_unstable();

    let possible = nodes * nodes.saturating_sub(1) / 2 - full.edge_count();
    let target = (test.len() * negatives_per_test).min(possible);
    let mut seen: HashSet<(u32, u32)> = HashSet::with_capacity(target);
    let mut negatives = Vec::with_capacity(target);
    if target * 2 > possible {
        // Dense: list every non-edge and take a random subset.
        let mut all_non_edges: Vec<(u32, u32)> = (0..nodes as u32)
            .flat_map(|a| (a + 1..nodes as u32).map(move |b| (a, b)))
            .filter(|&(a, b)| !full.has_edge(a, b))
            .collect();
        all_non_edges.shuffle(&mut rng);
        all_non_edges.truncate(target);
        negatives = all_non_edges;
    } else {
        while negatives.len() < target {
            let a = rng.random_range(0..nodes as u32);
            let b = rng.random_range(0..nodes as u32);
            let pair = (a.min(b), a.max(b));
            if a != b && !full.has_edge(a, b) && seen.insert(pair) {
                negatives.push(pair);
            }
        }
    }
    EdgeSplit {
        train,
        test,
        negatives,
    }
}

/// Two views of how well a method ranks held-out edges above non-edges.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LinkScores {
    /// Probability a random held-out edge outscores a random non-edge.
    pub auc: f64,
    /// Share of held-out edges scored above the 20th best non-edge (OGB).
    #[serde(rename = "hits@20")]
    pub hits_at_20: f64,
}

/// Every method's scores on one split, and the split's size.
#[derive(Debug, Clone, Serialize)]
pub struct LinkPredReport {
    /// GraphSAGE embeddings, dot-product score.
    pub gnn: LinkScores,
    /// Adamic-Adar on the training graph.
    pub adamic_adar: LinkScores,
    /// Common neighbours on the training graph.
    pub common_neighbors: LinkScores,
    /// Cosine of the input text features (no graph at all).
    pub embedding_cosine: LinkScores,
    /// Held-out edges.
    pub test_edges: usize,
    /// Non-edges they were ranked against.
    pub negatives: usize,
    /// Nodes in the graph.
    pub nodes: usize,
    /// Edges left for training.
    pub train_edges: usize,
}

/// Holds out `test_share` of the edges (with [`EVAL_NEGATIVES_PER_TEST`]
/// non-edges each), trains the GNN on the rest and scores it and the
/// heuristics on the same positives and negatives.
pub fn evaluate(
    nodes: usize,
    edges: &[(u32, u32)],
    features: &[f32],
    feature_dim: usize,
    options: &GnnOptions,
    test_share: f64,
    seed: u64,
) -> LinkPredReport {
    let split = split(nodes, edges, test_share, EVAL_NEGATIVES_PER_TEST, seed);
    let model = GraphSage::train(
        nodes,
        &split.train,
        features,
        feature_dim,
        options,
        &mut |_, _| {},
    );
    let embeddings = model.embed(nodes, &split.train, features);
    let graph = Adjacency::new(nodes, &split.train);
    let dim = model.dim();
    let scores = |score: &dyn Fn(u32, u32) -> f32| {
        let pos: Vec<f32> = split.test.iter().map(|&(a, b)| score(a, b)).collect();
        let neg: Vec<f32> = split.negatives.iter().map(|&(a, b)| score(a, b)).collect();
        LinkScores {
            auc: auc(&pos, &neg),
            hits_at_20: hits_at(20, &pos, &neg),
        }
    };
    LinkPredReport {
        gnn: scores(&|a, b| GraphSage::score(&embeddings, dim, a, b)),
        adamic_adar: scores(&|a, b| adamic_adar(&graph, a, b)),
        common_neighbors: scores(&|a, b| common_neighbors(&graph, a, b)),
        embedding_cosine: scores(&|a, b| cosine(features, feature_dim, a, b)),
        test_edges: split.test.len(),
        negatives: split.negatives.len(),
        nodes,
        train_edges: split.train.len(),
    }
}

/// Area under the ROC curve: the chance a positive outscores a negative,
/// ties counting half. 0.5 when either side is empty.
pub fn auc(pos: &[f32], neg: &[f32]) -> f64 {
    if pos.is_empty() || neg.is_empty() {
        return 0.5;
    }
    let mut all: Vec<(f32, bool)> = pos
        .iter()
        .map(|&s| (s, true))
        .chain(neg.iter().map(|&s| (s, false)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    // Mann-Whitney U with mid-ranks for ties.
    let mut rank_sum = 0.0f64;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0.total_cmp(&all[i].0).is_eq() {
            j += 1;
        }
        let mid_rank = (i + j + 1) as f64 / 2.0;
        rank_sum += mid_rank * all[i..j].iter().filter(|entry| entry.1).count() as f64;
        i = j;
    }
    let (p, n) = (pos.len() as f64, neg.len() as f64);
    (rank_sum - p * (p + 1.0) / 2.0) / (p * n)
}

/// Hits@k as OGB defines it: the share of positives scored strictly above
/// the k-th highest negative (all of them when there are fewer than k
/// negatives).
pub fn hits_at(k: usize, pos: &[f32], neg: &[f32]) -> f64 {
    if pos.is_empty() {
        return 0.0;
    }
    if k == 0 || neg.len() < k {
        return 1.0;
    }
    let mut sorted = neg.to_vec();
    sorted.sort_by(|x, y| y.total_cmp(x));
    let threshold = sorted[k - 1];
    pos.iter().filter(|&&s| s > threshold).count() as f64 / pos.len() as f64
}

/// Adamic-Adar: common neighbours, each weighted by 1 / ln(its degree),
/// so a shared niche neighbour says more than a shared hub.
pub fn adamic_adar(graph: &Adjacency, a: u32, b: u32) -> f32 {
    let mut total = 0.0f32;
    for_each_common(graph.neighbors(a), graph.neighbors(b), |w| {
        // A common neighbour has degree ≥ 2, so the log is positive.
        total += 1.0 / (graph.degree(w) as f32).ln();
    });
    total
}

/// Number of neighbours `a` and `b` share.
pub fn common_neighbors(graph: &Adjacency, a: u32, b: u32) -> f32 {
    let mut count = 0usize;
    for_each_common(graph.neighbors(a), graph.neighbors(b), |_| count += 1);
    count as f32
}

/// Cosine similarity of two rows of a row-major `features` matrix; 0 when
/// either row is all zeros.
pub fn cosine(features: &[f32], dim: usize, a: u32, b: u32) -> f32 {
    let row = |v: u32| &features[v as usize * dim..(v as usize + 1) * dim];
    let (x, y) = (row(a), row(b));
    let (mut xy, mut xx, mut yy) = (0.0f32, 0.0f32, 0.0f32);
    for (&p, &q) in x.iter().zip(y) {
        xy += p * q;
        xx += p * p;
        yy += q * q;
    }
    if xx == 0.0 || yy == 0.0 {
        0.0
    } else {
        xy / (xx.sqrt() * yy.sqrt())
    }
}

/// Walks two ascending lists in step, calling `found` on each shared value.
fn for_each_common(x: &[u32], y: &[u32], mut found: impl FnMut(u32)) {
    let (mut i, mut j) = (0, 0);
    while i < x.len() && j < y.len() {
        match x[i].cmp(&y[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                found(x[i]);
                i += 1;
                j += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_auc(pos: &[f32], neg: &[f32], expected: f64) {
        let got = auc(pos, neg);
        assert!(
            (got - expected).abs() < 1e-9,
            "auc({pos:?}, {neg:?}) = {got}, expected {expected}"
        );
    }

    #[test]
    fn auc_is_one_when_every_edge_outscores_every_non_edge_and_zero_when_inverted() {
        check_auc(&[0.9, 0.8], &[0.1, 0.2, 0.3], 1.0);
        check_auc(&[0.1, 0.2], &[0.8, 0.9, 0.7], 0.0);
    }

    #[test]
    fn auc_counts_ties_as_half() {
        check_auc(&[0.5, 0.5], &[0.5, 0.5, 0.5], 0.5);
        // 1 beats both, 0.5 ties one and beats one: (2 + 1.5) / 4.
        check_auc(&[1.0, 0.5], &[0.5, 0.2], 0.875);
    }

    #[test]
    fn hits_count_positives_strictly_above_the_kth_best_negative() {
        let neg = [0.9, 0.8, 0.7, 0.1];
        // The 2nd best negative is 0.8: 0.95 and 0.85 are above it, 0.8 is not.
        assert_eq!(hits_at(2, &[0.95, 0.85, 0.8, 0.0], &neg), 0.5);
        assert_eq!(hits_at(1, &[0.95, 0.85], &neg), 0.5);
        // Fewer negatives than k: every positive is a hit (OGB).
        assert_eq!(hits_at(20, &[0.0], &neg), 1.0);
        assert_eq!(hits_at(3, &[0.1, 0.2], &neg), 0.0);
    }

    #[test]
    fn split_keeps_test_edges_out_of_train_and_negatives_off_the_graph() {
        let nodes = 40;
        let edges: Vec<(u32, u32)> = (0..nodes as u32)
            .flat_map(|a| (1..4).map(move |step| (a, (a + step * 3) % nodes as u32)))
            .collect();
        let full = Adjacency::new(nodes, &edges);
        let edge_split = split(nodes, &edges, 0.2, 3, 9);
        assert!(!edge_split.test.is_empty());
        assert_eq!(
            edge_split.train.len() + edge_split.test.len(),
            full.edge_count()
        );
        for edge in &edge_split.test {
            assert!(!edge_split.train.contains(edge), "{edge:?} is in both");
        }
        assert_eq!(edge_split.negatives.len(), edge_split.test.len() * 3);
        for &(a, b) in &edge_split.negatives {
            assert!(a != b && !full.has_edge(a, b), "({a}, {b}) is an edge");
        }
        let train = Adjacency::new(nodes, &edge_split.train);
        for node in 0..nodes as u32 {
            assert!(
                full.degree(node) == 0 || train.degree(node) > 0,
                "node {node} lost every edge"
            );
        }
    }

    #[test]
    fn a_node_s_last_edge_is_never_held_out() {
        // A star: every leaf has exactly one edge, so nothing can be held out.
        let edges: Vec<(u32, u32)> = (1..10).map(|leaf| (0, leaf)).collect();
        let edge_split = split(10, &edges, 0.5, 1, 1);
        assert!(edge_split.test.is_empty());
        assert_eq!(edge_split.train.len(), 9);
    }

    #[test]
    fn heuristics_on_a_hand_graph() {
        // 0 and 1 share neighbours 2 (degree 3) and 3 (degree 2); 4 hangs off 2.
        let graph = Adjacency::new(5, &[(0, 2), (1, 2), (0, 3), (1, 3), (2, 4), (2, 0)]);
        assert_eq!(common_neighbors(&graph, 0, 1), 2.0);
        assert_eq!(common_neighbors(&graph, 0, 4), 1.0);
        assert_eq!(common_neighbors(&graph, 3, 4), 0.0);
        let expected = 1.0 / 3f32.ln() + 1.0 / 2f32.ln();
        assert!((adamic_adar(&graph, 0, 1) - expected).abs() < 1e-6);
        assert_eq!(adamic_adar(&graph, 3, 4), 0.0);
    }

    #[test]
    fn cosine_of_feature_rows() {
        let features = [1.0, 0.0, 1.0, 1.0, 0.0, 0.0];
        assert!((cosine(&features, 2, 0, 1) - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
        assert_eq!(cosine(&features, 2, 0, 2), 0.0);
    }
}
