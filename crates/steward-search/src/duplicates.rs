//! Duplicate detection while a question is being asked: the threads a draft
//! may duplicate, each with a calibrated probability, where the calibration
//! (a small logistic regression and its threshold) is learned from the
//! community's own duplicate and related links and kept as an artifact.
//!
//! How it works:
//! - **Candidates**: a hybrid search over question threads with the draft's
//!   title and body as the query, the first [`DEFAULT_CANDIDATES`] kept.
//! - **Features** of each candidate, a fixed vector ([`FEATURE_NAMES`]):
//!   the cosine similarity of draft and thread (dense), the BM25 score over
//!   the best BM25 score of the list, the reciprocal of the fused rank, the
//!   overlap (Jaccard) of title terms (steward-text's terms, stopwords
//!   dropped, so Chinese words and code identifiers count), the overlap of
//!   tags, and whether both retrievers found it. A feature the draft cannot
//!   give (tags when it has none, similarity without a dense side) takes its
//!   training mean, so it moves nothing.
//! - **Calibration** ([`calibrate`]): every question Q that links another
//!   question is a draft (its title and body), its own thread left out of its
//!   candidates; a candidate is positive when it and Q are linked as
//!   duplicates, or, when the community has fewer than
//!   [`MIN_DUPLICATE_LINKS`] duplicate links, as duplicates or related (the
//!   calibration says which in `positive_links`, and the probability then
//!   means "duplicate or closely related"). The other candidates are
//!   negatives. The threshold maximises F1 over out-of-fold probabilities
//!   (k-fold cross-validation grouped by query, seeded), so precision and
//!   recall are measured on questions the model was not fitted on. Nothing
//!   here hard-codes a threshold: it is learned and stored.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use steward_domain::{Post, PostId, PostKind, PostLinkKind};
use steward_jobs::{JobHandle, Unit};
use steward_store::{ArtifactVersion, NewArtifact, Store};
use steward_text::tokenize::{Tokenizer, TokenizerConfig};

use crate::searcher::{Fusion, Mode, SearchHit, SearchRequest, Searcher};
use crate::{Error, Filters, Result};

/// Candidates read per draft unless a caller says otherwise.
pub const DEFAULT_CANDIDATES: usize = 20;

/// Fewer duplicate links than this between questions and related links count
/// as positives too: a handful of pairs cannot fit even six weights.
pub const MIN_DUPLICATE_LINKS: usize = 30;

/// The artifact kind of a saved calibration.
pub const CALIBRATION_KIND: &str = "model/duplicate-calibration";

/// The layout of the calibration JSON this Steward writes and reads.
const CALIBRATION_FORMAT: u32 = 1;

/// Characters of the draft's body that go into the candidate query: enough
/// for the question's gist, short enough that a pasted log does not drown
/// the title (the embedder truncates long text anyway).
pub const QUERY_BODY_CHARS: usize = 1_000;

/// The L2 penalty on the standardised weights: the fit has a few hundred
/// pairs and a few dozen positives, and must not chase them.
const REGULARIZATION: f64 = 1.0;

/// A small penalty on the bias so that a fold with one class only still has
/// a finite fit.
const BIAS_REGULARIZATION: f64 = 1e-4;

/// Folds of the cross-validation that picks the threshold.
const FOLDS: usize = 5;

/// Seed of the fold assignment: the same community gives the same folds.
const FOLD_SEED: u64 = 0x5EED_0000_D00B;

/// The features of a candidate, in the order of the weights.
pub const FEATURE_NAMES: [&str; 6] = [
    "dense_similarity",
    "bm25_relative",
    "fused_reciprocal_rank",
    "title_overlap",
    "tag_overlap",
    "found_by_both",
];

const N_FEATURES: usize = FEATURE_NAMES.len();

/// The artifact name of the calibration for `model` (the embedding model of
/// the dense side, or `bm25` without one): features depend on the model.
pub fn calibration_name(model: &str) -> String {
    format!("duplicate-calibration:{model}")
}

/// The model key a searcher's calibration is kept under.
pub fn calibration_model(searcher: &Searcher) -> String {
    match searcher.dense() {
        Some(dense) => dense.embedder.model_id().to_string(),
        None => "bm25".to_string(),
    }
}

/// A question being written: what the asker typed so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Draft {
    pub title: String,
    /// May be empty; HTML or markdown text both work (markup is removed).
    pub body: String,
    /// Lower-case tag names; may be empty.
    pub tags: Vec<String>,
}

impl Draft {
    /// The search query: the title, then the start of the body's text.
    fn query(&self) -> String {
        let converted = steward_text::html::html_to_text(&self.body);
        let mut body = converted.text;
        for block in &converted.code_blocks {
            body.push('\n');
            body.push_str(block);
        }
        let body: String = body.chars().take(QUERY_BODY_CHARS).collect();
        format!("{}\n{}", self.title.trim(), body.trim())
            .trim()
            .to_string()
    }

    fn from_post(post: &Post) -> Draft {
        Draft {
            title: post.title.clone().unwrap_or_default(),
            body: post.body_html.clone(),
            tags: post.tags.clone(),
        }
    }
}

/// The features of one candidate; `None` where the draft cannot give one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Features {
    /// Cosine similarity of the draft's and the thread's embeddings.
    pub dense_similarity: Option<f64>,
    /// The candidate's BM25 score over the best in the list (0 when BM25
    /// did not find it).
    pub bm25_relative: f64,
    /// 1 / the candidate's rank in the fused list.
    pub fused_reciprocal_rank: f64,
    /// Jaccard overlap of the two titles' terms.
    pub title_overlap: f64,
    /// Jaccard overlap of the tags; `None` when the draft has none.
    pub tag_overlap: Option<f64>,
    /// 1 when both BM25 and the dense index found it, else 0.
    pub found_by_both: f64,
}

impl Features {
    fn vector(&self) -> [Option<f64>; N_FEATURES] {
        [
            self.dense_similarity,
            Some(self.bm25_relative),
            Some(self.fused_reciprocal_rank),
            Some(self.title_overlap),
            self.tag_overlap,
            Some(self.found_by_both),
        ]
    }
}

/// A candidate thread with its features.
#[derive(Debug, Clone)]
struct Candidate {
    hit: SearchHit,
    features: Features,
}

/// The candidates of `draft`: a hybrid search over questions, `exclude` (the
/// draft's own thread, when calibrating) left out, the first `depth` kept.
/// Returns the search's notice too (a bm25-only fallback, say).
async fn candidates(
    searcher: &Searcher,
    draft: &Draft,
    depth: usize,
    exclude: Option<PostId>,
) -> Result<(Vec<Candidate>, Option<String>)> {
    let query = draft.query();
    let request = SearchRequest {
        query: query.clone(),
        mode: Mode::Hybrid,
        fusion: Fusion::Rrf,
        dense_weight: 0.5,
        filters: Filters {
            kinds: vec![PostKind::Question],
            ..Filters::default()
        },
        limit: depth + usize::from(exclude.is_some()),
        offset: 0,
    };
    let results = searcher.search(&request).await?;
    let hits: Vec<SearchHit> = results
        .hits
        .into_iter()
        .filter(|hit| Some(hit.post_id) != exclude)
        .take(depth)
        .collect();
    let similarities = dense_similarities(searcher, results.query_vector.as_deref(), &hits).await?;
    let best_bm25 = hits
        .iter()
        .filter_map(|hit| hit.bm25.as_ref().map(|bm25| bm25.score))
        .fold(0.0_f32, f32::max);
    let tokenizer = Tokenizer::new(TokenizerConfig { stopwords: true });
    let draft_title = term_set(&tokenizer, &draft.title);
    let draft_tags: HashSet<String> = draft
        .tags
        .iter()
        .map(|tag| tag.trim().to_lowercase())
        .filter(|tag| !tag.is_empty())
        .collect();
    let candidates = hits
        .into_iter()
        .enumerate()
        .map(|(index, hit)| {
            let title = term_set(&tokenizer, hit.title.as_deref().unwrap_or_default());
            let tags: HashSet<String> = hit.tags.iter().cloned().collect();
            let features = Features {
                dense_similarity: similarities.get(&hit.post_id).copied(),
                bm25_relative: match (&hit.bm25, best_bm25 > 0.0) {
                    (Some(bm25), true) => f64::from(bm25.score / best_bm25),
                    _ => 0.0,
                },
                fused_reciprocal_rank: 1.0 / (index + 1) as f64,
                title_overlap: jaccard(&draft_title, &title),
                tag_overlap: (!draft_tags.is_empty()).then(|| jaccard(&draft_tags, &tags)),
                found_by_both: if hit.bm25.is_some() && hit.dense.is_some() {
                    1.0
                } else {
                    0.0
                },
            };
            Candidate { hit, features }
        })
        .collect();
    Ok((candidates, results.notice))
}

/// The cosine similarity of the draft's embedding (the one its search
/// made) and each hit's stored thread vector: the dense evidence where the
/// dense list reached the hit, else computed from the stored vector (the
/// dense list reads only so deep). Only the dense evidence without a query
/// vector (no dense side, or an empty vector index).
async fn dense_similarities(
    searcher: &Searcher,
    draft_vector: Option<&[f32]>,
    hits: &[SearchHit],
) -> Result<HashMap<PostId, f64>> {
    let mut similarities: HashMap<PostId, f64> = hits
        .iter()
        .filter_map(|hit| Some((hit.post_id, f64::from(hit.dense.as_ref()?.similarity))))
        .collect();
    let (Some(dense), Some(draft_vector)) = (searcher.dense(), draft_vector) else {
        return Ok(similarities);
    };
    let missing: Vec<PostId> = hits
        .iter()
        .filter(|hit| hit.dense.is_none())
        .map(|hit| hit.post_id)
        .collect();
    if missing.is_empty() {
        return Ok(similarities);
    }
    let stored = searcher
        .store()
        .embeddings(dense.embedder.model_id(), &missing)
        .await?;
    for embedding in stored {
        if embedding.vector.len() == draft_vector.len() {
            let similarity = crate::answer::support::cosine(draft_vector, &embedding.vector);
            similarities.insert(embedding.post_id, f64::from(similarity));
        }
    }
    Ok(similarities)
}

fn term_set(tokenizer: &Tokenizer, text: &str) -> HashSet<String> {
    tokenizer.terms(text).into_iter().collect()
}

fn jaccard(left: &HashSet<String>, right: &HashSet<String>) -> f64 {
    let union = left.union(right).count();
    if union == 0 {
        return 0.0;
    }
    left.intersection(right).count() as f64 / union as f64
}

/// An L2-regularised logistic regression over standardised features, fitted
/// by Newton's method: deterministic, a handful of weights, no dependency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticModel {
    /// One weight per standardised feature.
    pub weights: Vec<f64>,
    pub bias: f64,
    /// The training mean of each feature: a missing feature takes it.
    pub means: Vec<f64>,
    /// The training standard deviation of each feature (1 where it is 0).
    pub scales: Vec<f64>,
}

impl LogisticModel {
    /// Fits `labels` on `rows` (each as long as the first; `None` is a
    /// missing value, imputed with the column mean), with `lambda` the L2
    /// penalty on the weights.
    pub fn fit(rows: &[Vec<Option<f64>>], labels: &[bool], lambda: f64) -> LogisticModel {
        let dims = rows.first().map_or(0, Vec::len);
        let mut means = vec![0.0; dims];
        let mut scales = vec![1.0; dims];
        for column in 0..dims {
            let values: Vec<f64> = rows.iter().filter_map(|row| row[column]).collect();
            if values.is_empty() {
                continue;
            }
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            let variance =
                values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
            means[column] = mean;
            scales[column] = if variance > 1e-12 {
                variance.sqrt()
            } else {
                1.0
            };
        }
        let mut model = LogisticModel {
            weights: vec![0.0; dims],
            bias: 0.0,
            means,
            scales,
        };
        let standardised: Vec<Vec<f64>> = rows.iter().map(|row| model.standardise(row)).collect();
        // Newton's method on the penalised log-loss: the parameters are the
        // weights then the bias; the Hessian is XᵀWX plus the penalty (a
        // few parameters: the whole matrix is summed, no symmetry tricks).
        let size = dims + 1;
        for _ in 0..100 {
            let mut gradient = vec![0.0; size];
            let mut hessian = vec![vec![0.0; size]; size];
            for (x, label) in standardised.iter().zip(labels) {
                let p = sigmoid(model.logit(x));
                let error = p - if *label { 1.0 } else { 0.0 };
                let curvature = (p * (1.0 - p)).max(1e-12);
                for i in 0..size {
                    let xi = if i < dims { x[i] } else { 1.0 };
                    gradient[i] += error * xi;
                    for j in 0..size {
                        let xj = if j < dims { x[j] } else { 1.0 };
                        hessian[i][j] += curvature * xi * xj;
                    }
                }
            }
            for i in 0..size {
                let (parameter, penalty) = if i < dims {
                    (model.weights[i], lambda)
                } else {
                    (model.bias, BIAS_REGULARIZATION)
                };
                gradient[i] += penalty * parameter;
                hessian[i][i] += penalty;
            }
            let Some(step) = solve(hessian, gradient) else {
                break;
            };
            for (weight, delta) in model.weights.iter_mut().zip(&step) {
                *weight -= delta;
            }
            model.bias -= step[dims];
            if step.iter().all(|s| s.abs() < 1e-10) {
                break;
            }
        }
        model
    }

    fn standardise(&self, row: &[Option<f64>]) -> Vec<f64> {
        row.iter()
            .enumerate()
            .map(|(column, value)| match value {
                Some(value) if value.is_finite() => {
                    (value - self.means[column]) / self.scales[column]
                }
                _ => 0.0,
            })
            .collect()
    }

    fn logit(&self, standardised: &[f64]) -> f64 {
        self.bias
            + self
                .weights
                .iter()
                .zip(standardised)
                .map(|(w, x)| w * x)
                .sum::<f64>()
    }

    /// The probability of the positive class for `row` (missing values at
    /// the training mean).
    pub fn probability(&self, row: &[Option<f64>]) -> f64 {
        sigmoid(self.logit(&self.standardise(row)))
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting; `None`
/// when `a` is singular (the penalty keeps it from being).
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for column in 0..n {
        let pivot =
            (column..n).max_by(|x, y| a[*x][column].abs().total_cmp(&a[*y][column].abs()))?;
        if a[pivot][column].abs() < 1e-15 {
            return None;
        }
        a.swap(column, pivot);
        b.swap(column, pivot);
        for row in column + 1..n {
            let factor = a[row][column] / a[column][column];
            let pivot_row = a[column].clone();
            for (value, pivot_value) in a[row].iter_mut().zip(&pivot_row).skip(column) {
                *value -= factor * pivot_value;
            }
            b[row] -= factor * b[column];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let tail: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - tail) / a[row][row];
    }
    Some(x)
}

/// Precision, recall and F1 of `probabilities >= threshold` against `labels`.
fn scores_at(probabilities: &[f64], labels: &[bool], threshold: f64) -> (f64, f64, f64) {
    let mut true_positives = 0usize;
    let mut predicted = 0usize;
    let positives = labels.iter().filter(|label| **label).count();
    for (probability, label) in probabilities.iter().zip(labels) {
        if *probability >= threshold {
            predicted += 1;
            if *label {
                true_positives += 1;
            }
        }
    }
    let precision = if predicted == 0 {
        0.0
    } else {
        true_positives as f64 / predicted as f64
    };
    let recall = if positives == 0 {
        0.0
    } else {
        true_positives as f64 / positives as f64
    };
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    (precision, recall, f1)
}

/// The threshold with the best F1 over `probabilities` (one of them: a pair
/// is called a duplicate at or above it); ties go to the higher threshold,
/// which claims fewer duplicates. `None` without a positive.
pub fn best_threshold(probabilities: &[f64], labels: &[bool]) -> Option<f64> {
    if !labels.iter().any(|label| *label) {
        return None;
    }
    let mut order: Vec<usize> = (0..probabilities.len()).collect();
    order.sort_by(|a, b| probabilities[*b].total_cmp(&probabilities[*a]));
    let positives = labels.iter().filter(|label| **label).count();
    let mut best: Option<(f64, f64)> = None;
    let mut true_positives = 0usize;
    for (seen, index) in order.iter().enumerate() {
        if labels[*index] {
            true_positives += 1;
        }
        // Only cut between distinct probabilities.
        if let Some(next) = order.get(seen + 1)
            && probabilities[*next] == probabilities[*index]
        {
            continue;
        }
        let f1 = 2.0 * true_positives as f64 / (seen + 1 + positives) as f64;
        if best.is_none_or(|(best_f1, _)| f1 > best_f1) {
            best = Some((f1, probabilities[*index]));
        }
    }
    best.map(|(_, threshold)| threshold)
}

/// Cross-validated figures of a calibration, stored as its artifact's metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationMetrics {
    /// Of the out-of-fold pairs at or above the threshold, the share that are positive.
    pub precision: f64,
    /// Of the positive pairs among the candidates, the share at or above the threshold.
    pub recall: f64,
    pub f1: f64,
    /// Linking questions used as drafts.
    pub queries: usize,
    /// Draft–candidate pairs.
    pub pairs: usize,
    pub positives: usize,
    pub negatives: usize,
    /// Duplicate links between two questions in the store.
    pub duplicate_links: usize,
    /// Related links between two questions in the store.
    pub related_links: usize,
    /// Of the positive links of the drafts, the share the candidates held:
    /// the ceiling on recall set by retrieval.
    pub candidate_recall: f64,
    pub folds: usize,
}

/// A fitted calibration: the bytes of a `duplicate-calibration:<model>` version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub format: u32,
    /// The embedding model whose similarities the weights were fitted on.
    pub model: String,
    pub feature_names: Vec<String>,
    pub logistic: LogisticModel,
    /// A candidate at or above this probability is a likely duplicate;
    /// chosen to maximise cross-validated F1.
    pub threshold: f64,
    /// Which link types were positives: `["duplicate"]`, or
    /// `["duplicate", "related"]` when duplicates were too few.
    pub positive_links: Vec<String>,
    /// Candidates read per draft while fitting.
    pub candidates_per_query: usize,
    pub regularization: f64,
    pub seed: u64,
    pub metrics: CalibrationMetrics,
    /// The change-feed seq the community was at.
    pub feed_seq: i64,
}

impl Calibration {
    /// The probability that a candidate with `features` duplicates the draft.
    pub fn probability(&self, features: &Features) -> f64 {
        self.logistic.probability(&features.vector())
    }

    /// Saves this as the next version of `duplicate-calibration:<model>`,
    /// promoted: a newer calibration reflects more of the community, and its
    /// figures are not comparable with an older one's on other links.
    pub async fn save(&self, store: &Store) -> Result<ArtifactVersion> {
        let bytes = serde_json::to_vec(self).expect("a calibration serializes");
        let name = calibration_name(&self.model);
        let metrics = serde_json::to_value(&self.metrics).expect("metrics serialize");
        let metadata = serde_json::json!({
            "model": self.model,
            "threshold": self.threshold,
            "positive_links": self.positive_links,
            "feature_names": self.feature_names,
            "feed_seq": self.feed_seq,
        });
        Ok(store
            .put_artifact_version(
                &NewArtifact {
                    name: &name,
                    kind: CALIBRATION_KIND,
                    metadata,
                    metrics,
                    feed_seq: Some(self.feed_seq),
                    bytes: &bytes,
                },
                true,
            )
            .await?)
    }

    /// The promoted calibration of `model` with its version, `None` when
    /// there is none.
    pub async fn load(store: &Store, model: &str) -> Result<Option<(i64, Calibration)>> {
        let name = calibration_name(model);
        let Some(version) = store.promoted_artifact(&name).await? else {
            return Ok(None);
        };
        let calibration = Calibration::read(store, &version).await?;
        Ok(Some((version.version, calibration)))
    }

    async fn read(store: &Store, version: &ArtifactVersion) -> Result<Calibration> {
        let corrupt = |message: String| Error::CorruptCalibration {
            name: version.name.clone(),
            version: version.version,
            message,
        };
        if version.kind != CALIBRATION_KIND {
            return Err(corrupt(format!(
                "its kind is `{}`, not `{CALIBRATION_KIND}`",
                version.kind
            )));
        }
        let bytes = store.artifact_bytes(&version.name, version.version).await?;
        let calibration: Calibration =
            serde_json::from_slice(&bytes).map_err(|error| corrupt(error.to_string()))?;
        if calibration.format != CALIBRATION_FORMAT
            || calibration.feature_names != FEATURE_NAMES
            || calibration.logistic.weights.len() != N_FEATURES
            || calibration.logistic.means.len() != N_FEATURES
            || calibration.logistic.scales.len() != N_FEATURES
        {
            return Err(corrupt(format!(
                "it was written by another version of Steward (format {}, features {:?})",
                calibration.format, calibration.feature_names
            )));
        }
        Ok(calibration)
    }
}

/// The promoted calibration of a model, read again only when a newer
/// version is promoted: each [`CalibrationCache::current`] reads the
/// promoted version's row (one indexed query), the bytes only when the
/// version changed. What a server holds between requests.
#[derive(Debug, Default)]
pub struct CalibrationCache {
    loaded: tokio::sync::RwLock<Option<(String, i64, Arc<Calibration>)>>,
}

impl CalibrationCache {
    /// The promoted calibration of `model`, `None` when there is none.
    pub async fn current(&self, store: &Store, model: &str) -> Result<Option<Arc<Calibration>>> {
        let name = calibration_name(model);
        let Some(version) = store.promoted_artifact(&name).await? else {
            return Ok(None);
        };
        if let Some((loaded_name, loaded_version, calibration)) = &*self.loaded.read().await
            && *loaded_name == name
            && *loaded_version == version.version
        {
            return Ok(Some(calibration.clone()));
        }
        let calibration = Arc::new(Calibration::read(store, &version).await?);
        *self.loaded.write().await = Some((name, version.version, calibration.clone()));
        Ok(Some(calibration))
    }
}

/// What a calibration is fitted on: every draft's candidates, labelled.
struct Pairs {
    /// Per pair: the draft it came from (the fold group), features, label.
    groups: Vec<PostId>,
    rows: Vec<Vec<Option<f64>>>,
    labels: Vec<bool>,
    queries: usize,
    duplicate_links: usize,
    related_links: usize,
    positive_links: Vec<String>,
    /// Positive links of the drafts, and how many of them were candidates.
    linked_positives: usize,
    found_positives: usize,
}

/// Reads the community's links and runs every linking question through the
/// candidate search, labelling each candidate.
async fn pairs(searcher: &Searcher, depth: usize, job: &JobHandle) -> Result<Pairs> {
    let (links, posts) = crate::eval::links_with_posts(searcher.store()).await?;
    let is_question = |id: &PostId| {
        posts
            .get(id)
            .is_some_and(|post| post.kind == PostKind::Question)
    };
    // Unordered pairs: a thread is the duplicate of its duplicate's draft too.
    let mut linked: HashMap<(PostId, PostId), PostLinkKind> = HashMap::new();
    let mut drafts: Vec<PostId> = Vec::new();
    for link in &links {
        let (from, to) = (link.post_id, link.related_post_id);
        if from == to || !is_question(&from) || !is_question(&to) {
            continue;
        }
        let key = (from.min(to), from.max(to));
        let entry = linked.entry(key).or_insert(link.kind);
        if link.kind == PostLinkKind::Duplicate {
            *entry = PostLinkKind::Duplicate;
        }
        if !drafts.contains(&from) {
            drafts.push(from);
        }
    }
    let duplicate_links = linked
        .values()
        .filter(|kind| **kind == PostLinkKind::Duplicate)
        .count();
    let related_links = linked.len() - duplicate_links;
    if duplicate_links + related_links == 0 {
        return Err(Error::NoLinks {
            detail: "the store has no duplicate or related links between two questions".into(),
        });
    }
    let with_related = duplicate_links < MIN_DUPLICATE_LINKS;
    let positive_links = if with_related {
        vec!["duplicate".to_string(), "related".to_string()]
    } else {
        vec!["duplicate".to_string()]
    };
    let is_positive = |kind: PostLinkKind| with_related || kind == PostLinkKind::Duplicate;
    let mut positives_of: HashMap<PostId, HashSet<PostId>> = HashMap::new();
    for ((a, b), kind) in &linked {
        if is_positive(*kind) {
            positives_of.entry(*a).or_default().insert(*b);
            positives_of.entry(*b).or_default().insert(*a);
        }
    }
    // Only drafts with a positive to find teach the model anything.
    drafts.retain(|id| positives_of.contains_key(id) && posts[id].title.is_some());
    job.set_phase("finding candidates", Some(drafts.len() as u64), Unit::Items);
    let mut pairs = Pairs {
        groups: Vec::new(),
        rows: Vec::new(),
        labels: Vec::new(),
        queries: 0,
        duplicate_links,
        related_links,
        positive_links,
        linked_positives: 0,
        found_positives: 0,
    };
    for draft_id in drafts {
        if job.is_cancelled() {
            return Err(Error::CalibrationCancelled);
        }
        let draft = Draft::from_post(&posts[&draft_id]);
        let positives = &positives_of[&draft_id];
        let (found, _) = candidates(searcher, &draft, depth, Some(draft_id)).await?;
        pairs.queries += 1;
        pairs.linked_positives += positives.len();
        for candidate in found {
            let label = positives.contains(&candidate.hit.post_id);
            pairs.found_positives += usize::from(label);
            pairs.groups.push(draft_id);
            pairs.rows.push(candidate.features.vector().to_vec());
            pairs.labels.push(label);
        }
        job.advance(1);
    }
    Ok(pairs)
}

/// A splitmix64 step: the fold of a draft is a hash of its id and the seed,
/// so folds are the same on every run and every machine.
fn mix(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Out-of-fold probabilities: drafts shuffled by `seed` into `folds` groups,
/// each group's pairs scored by a model fitted on the others.
fn out_of_fold(
    groups: &[PostId],
    rows: &[Vec<Option<f64>>],
    labels: &[bool],
    folds: usize,
    seed: u64,
) -> Vec<f64> {
    let mut drafts: Vec<PostId> = groups.to_vec();
    drafts.sort();
    drafts.dedup();
    drafts.sort_by_key(|id| (mix(id.0 as u64 ^ seed), id.0));
    let fold_of: HashMap<PostId, usize> = drafts
        .iter()
        .enumerate()
        .map(|(index, id)| (*id, index % folds))
        .collect();
    let mut probabilities = vec![0.0; rows.len()];
    for fold in 0..folds {
        let (mut train_rows, mut train_labels) = (Vec::new(), Vec::new());
        for (index, group) in groups.iter().enumerate() {
            if fold_of[group] != fold {
                train_rows.push(rows[index].clone());
                train_labels.push(labels[index]);
            }
        }
        let model = LogisticModel::fit(&train_rows, &train_labels, REGULARIZATION);
        for (index, group) in groups.iter().enumerate() {
            if fold_of[group] == fold {
                probabilities[index] = model.probability(&rows[index]);
            }
        }
    }
    probabilities
}

/// Fits a calibration on the community behind `searcher` (its indices
/// current): the candidates of every linking question, cross-validated for
/// the threshold and the figures, then fitted on every pair. Nothing is
/// saved ([`Calibration::save`] does). [`Error::NoLinks`] when there is
/// nothing to learn from.
pub async fn calibrate(searcher: &Searcher, depth: usize, job: &JobHandle) -> Result<Calibration> {
    let feed_seq = searcher.store().latest_change_seq().await?;
    let pairs = pairs(searcher, depth, job).await?;
    let positives = pairs.labels.iter().filter(|label| **label).count();
    let drafts: HashSet<PostId> = pairs.groups.iter().copied().collect();
    if positives < 2 || drafts.len() < 2 {
        return Err(Error::NoLinks {
            detail: format!(
                "only {positives} linked question(s) were among the candidates of {} linking question(s); \
                 at least 2 are needed",
                pairs.queries
            ),
        });
    }
    let folds = FOLDS.min(drafts.len());
    job.set_phase("cross-validating", None, Unit::Items);
    let probabilities = out_of_fold(&pairs.groups, &pairs.rows, &pairs.labels, folds, FOLD_SEED);
    let threshold = best_threshold(&probabilities, &pairs.labels)
        .expect("there are positive pairs, checked above");
    let (precision, recall, f1) = scores_at(&probabilities, &pairs.labels, threshold);
    let logistic = LogisticModel::fit(&pairs.rows, &pairs.labels, REGULARIZATION);
    Ok(Calibration {
        format: CALIBRATION_FORMAT,
        model: calibration_model(searcher),
        feature_names: FEATURE_NAMES.iter().map(|name| name.to_string()).collect(),
        logistic,
        threshold,
        positive_links: pairs.positive_links,
        candidates_per_query: depth,
        regularization: REGULARIZATION,
        seed: FOLD_SEED,
        metrics: CalibrationMetrics {
            precision,
            recall,
            f1,
            queries: pairs.queries,
            pairs: pairs.labels.len(),
            positives,
            negatives: pairs.labels.len() - positives,
            duplicate_links: pairs.duplicate_links,
            related_links: pairs.related_links,
            candidate_recall: if pairs.linked_positives == 0 {
                0.0
            } else {
                pairs.found_positives as f64 / pairs.linked_positives as f64
            },
            folds,
        },
        feed_seq,
    })
}

/// The `dupes` section of `steward eval search`: the cross-validated figures
/// at the calibrated threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DupesReport {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub threshold: f64,
    pub positive_links: Vec<String>,
    pub queries: usize,
    pub pairs: usize,
    pub positives: usize,
    pub negatives: usize,
    pub duplicate_links: usize,
    pub related_links: usize,
    pub candidate_recall: f64,
    pub folds: usize,
    pub seconds: f64,
}

/// Calibrates on the community behind `searcher` and reports the figures
/// (nothing saved).
pub async fn evaluate(searcher: &Searcher, job: &JobHandle) -> Result<DupesReport> {
    let started = std::time::Instant::now();
    let calibration = calibrate(searcher, DEFAULT_CANDIDATES, job).await?;
    let metrics = calibration.metrics;
    Ok(DupesReport {
        precision: metrics.precision,
        recall: metrics.recall,
        f1: metrics.f1,
        threshold: calibration.threshold,
        positive_links: calibration.positive_links,
        queries: metrics.queries,
        pairs: metrics.pairs,
        positives: metrics.positives,
        negatives: metrics.negatives,
        duplicate_links: metrics.duplicate_links,
        related_links: metrics.related_links,
        candidate_recall: metrics.candidate_recall,
        folds: metrics.folds,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// One thread a draft may duplicate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimilarThread {
    pub post_id: PostId,
    pub title: Option<String>,
    pub tags: Vec<String>,
    pub score_of_post: i64,
    pub answer_count: i64,
    pub accepted_answer_id: Option<PostId>,
    /// The calibrated probability that the draft duplicates this thread (or
    /// is closely related, when the calibration says so); `null` without a
    /// calibration.
    pub probability: Option<f64>,
    /// `probability >= threshold`; false without a calibration.
    pub likely_duplicate: bool,
    pub features: Features,
    /// Which retrievers found it.
    pub found_by: Vec<&'static str>,
    /// The draft's terms that matched it (BM25).
    pub matched_terms: Vec<String>,
    /// HTML-escaped, matches in `<mark>`.
    pub snippet: String,
}

/// The calibration an answer was scored with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationSummary {
    pub model: String,
    pub threshold: f64,
    pub positive_links: Vec<String>,
    pub precision: f64,
    pub recall: f64,
    pub feed_seq: i64,
}

/// The threads a draft may duplicate, most probable first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimilarResults {
    pub threads: Vec<SimilarThread>,
    /// `null` when no calibration is loaded (probabilities are `null` too).
    pub calibration: Option<CalibrationSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
}

/// The threads `draft` may duplicate: its candidates, scored by
/// `calibration` and sorted by probability when there is one, in search
/// order otherwise, the first `limit` of them. `exclude` leaves a thread out:
/// the draft's own, when a question already posted is checked (as
/// calibration checks every linking question).
pub async fn similar(
    searcher: &Searcher,
    calibration: Option<&Calibration>,
    draft: &Draft,
    limit: usize,
    exclude: Option<PostId>,
) -> Result<SimilarResults> {
    if draft.title.trim().is_empty() {
        return Err(Error::EmptyQuery);
    }
    let depth = calibration.map_or(DEFAULT_CANDIDATES, |calibration| {
        calibration.candidates_per_query
    });
    let (found, search_notice) = candidates(searcher, draft, depth.max(limit), exclude).await?;
    let mut threads: Vec<SimilarThread> = found
        .into_iter()
        .map(|candidate| {
            let probability = calibration.map(|c| c.probability(&candidate.features));
            let hit = candidate.hit;
            SimilarThread {
                post_id: hit.post_id,
                title: hit.title,
                tags: hit.tags,
                score_of_post: hit.score_of_post,
                answer_count: hit.answer_count,
                accepted_answer_id: hit.accepted_answer_id,
                likely_duplicate: match (probability, calibration) {
                    (Some(probability), Some(calibration)) => probability >= calibration.threshold,
                    _ => false,
                },
                probability,
                features: candidate.features,
                found_by: hit.found_by,
                matched_terms: hit.bm25.map(|bm25| bm25.matched_terms).unwrap_or_default(),
                snippet: hit.snippet,
            }
        })
        .collect();
    if calibration.is_some() {
        // Stable: equal probabilities keep the search order.
        threads.sort_by(|a, b| {
            b.probability
                .unwrap_or(0.0)
                .total_cmp(&a.probability.unwrap_or(0.0))
        });
    }
    threads.truncate(limit);
    let notice = match calibration {
        Some(_) => search_notice,
        None => Some(format!(
            "no duplicate calibration for `{}` yet, so probabilities are null and threads are in search order; \
             run `steward dupes --calibrate`{}",
            calibration_model(searcher),
            search_notice
                .map(|notice| format!(". Also: {notice}"))
                .unwrap_or_default()
        )),
    };
    Ok(SimilarResults {
        threads,
        calibration: calibration.map(|calibration| CalibrationSummary {
            model: calibration.model.clone(),
            threshold: calibration.threshold,
            positive_links: calibration.positive_links.clone(),
            precision: calibration.metrics.precision,
            recall: calibration.metrics.recall,
            feed_seq: calibration.feed_seq,
        }),
        notice,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(values: &[f64]) -> Vec<Vec<Option<f64>>> {
        values.iter().map(|value| vec![Some(*value)]).collect()
    }

    #[test]
    fn separable_data_gets_separated() {
        let x = rows(&[0.1, 0.2, 0.3, 0.35, 0.6, 0.7, 0.8, 0.9]);
        let labels = [false, false, false, false, true, true, true, true];
        let model = LogisticModel::fit(&x, &labels, REGULARIZATION);
        for (row, label) in x.iter().zip(labels) {
            assert_eq!(model.probability(row) >= 0.5, label, "{row:?}: {model:?}");
        }
        let probabilities: Vec<f64> = x.iter().map(|row| model.probability(row)).collect();
        let threshold = best_threshold(&probabilities, &labels).expect("a positive");
        assert_eq!(
            scores_at(&probabilities, &labels, threshold),
            (1.0, 1.0, 1.0)
        );
    }

    #[test]
    fn probabilities_rise_with_a_positive_feature_and_ignore_a_missing_one() {
        let x: Vec<Vec<Option<f64>>> = (0..40)
            .map(|i| vec![Some(i as f64 / 40.0), Some(((i * 7) % 5) as f64)])
            .collect();
        // Noisy labels: positive mostly at high first feature.
        let labels: Vec<bool> = (0..40).map(|i| i > 25 || i == 10).collect();
        let model = LogisticModel::fit(&x, &labels, REGULARIZATION);
        let mut previous = 0.0;
        for step in 0..=20 {
            let p = model.probability(&[Some(step as f64 / 20.0), Some(2.0)]);
            assert!(p > previous, "not monotone at {step}: {p} <= {previous}");
            assert!(p > 0.0 && p < 1.0);
            previous = p;
        }
        // A missing value sits at the training mean.
        let mean = model.means[1];
        assert_eq!(
            model.probability(&[Some(0.5), None]),
            model.probability(&[Some(0.5), Some(mean)])
        );
    }

    #[test]
    fn the_fit_is_deterministic() {
        let x: Vec<Vec<Option<f64>>> = (0..30)
            .map(|i| vec![Some((i % 7) as f64), Some((i % 3) as f64)])
            .collect();
        let labels: Vec<bool> = (0..30).map(|i| i % 7 > 3).collect();
        let first = LogisticModel::fit(&x, &labels, REGULARIZATION);
        let second = LogisticModel::fit(&x, &labels, REGULARIZATION);
        assert_eq!(first, second);
        let groups: Vec<PostId> = (0..30).map(|i| PostId(i / 3)).collect();
        assert_eq!(
            out_of_fold(&groups, &x, &labels, 5, FOLD_SEED),
            out_of_fold(&groups, &x, &labels, 5, FOLD_SEED)
        );
    }

    #[test]
    fn stronger_regularisation_shrinks_the_weights() {
        let x = rows(&[0.1, 0.2, 0.3, 0.6, 0.7, 0.9]);
        let labels = [false, false, true, false, true, true];
        let loose = LogisticModel::fit(&x, &labels, 0.01);
        let tight = LogisticModel::fit(&x, &labels, 100.0);
        assert!(tight.weights[0].abs() < loose.weights[0].abs());
        assert!(tight.weights[0] > 0.0);
    }

    #[test]
    fn the_threshold_maximises_f1_and_needs_a_positive() {
        let probabilities = [0.9, 0.8, 0.7, 0.4, 0.3, 0.2];
        let labels = [true, false, true, false, false, true];
        // Cut at 0.7: P 2/3, R 2/3 (F1 0.667); at 0.2: P 1/2, R 1 (0.667);
        // the tie goes to the higher threshold.
        assert_eq!(best_threshold(&probabilities, &labels), Some(0.7));
        assert_eq!(best_threshold(&probabilities, &[false; 6]), None);
    }

    #[test]
    fn title_overlap_counts_chinese_and_code_terms() {
        let tokenizer = Tokenizer::new(TokenizerConfig { stopwords: true });
        let a = term_set(&tokenizer, "How to use tokio::select! with a timeout");
        let b = term_set(&tokenizer, "tokio::select! timeout never fires");
        assert!(jaccard(&a, &b) > 0.2, "{a:?} {b:?}");
        let zh_a = term_set(&tokenizer, "如何给 PostgreSQL 表添加索引");
        let zh_b = term_set(&tokenizer, "PostgreSQL 添加索引很慢");
        assert!(jaccard(&zh_a, &zh_b) > 0.2, "{zh_a:?} {zh_b:?}");
        assert_eq!(jaccard(&HashSet::new(), &HashSet::new()), 0.0);
    }

    #[test]
    fn a_draft_query_is_the_title_and_the_start_of_the_body_text() {
        let draft = Draft {
            title: " Undo a commit ".into(),
            body: "<p>I committed <b>too early</b></p><pre>git reset</pre>".into(),
            tags: vec![],
        };
        let query = draft.query();
        assert!(query.starts_with("Undo a commit\n"), "{query}");
        assert!(
            query.contains("too early") && query.contains("git reset"),
            "{query}"
        );
        assert!(!query.contains('<'), "{query}");
        let long = Draft {
            title: "t".into(),
            body: "x ".repeat(5_000),
            tags: vec![],
        };
        assert!(long.query().chars().count() <= QUERY_BODY_CHARS + 2);
    }
}
