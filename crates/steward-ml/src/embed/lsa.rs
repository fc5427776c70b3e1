//! Latent semantic analysis: TF-IDF over the community's own texts, reduced by a
//! randomized SVD. Needs no downloaded weights, so it is the fallback embedder of
//! an offline install, and it speaks the community's own vocabulary (Chinese and
//! code identifiers included, through steward-text's tokenizer).
//!
//! Training: sublinear tf (`1 + ln tf`), smoothed idf (`ln((1 + n) / (1 + df)) + 1`),
//! documents L2-normalised, vocabulary pruned by min/max document frequency and
//! size; then Halko, Martinsson & Tropp's randomized range finder (Gaussian test
//! matrix, oversampling, power iterations with re-orthonormalisation by modified
//! Gram-Schmidt) and an exact eigen-decomposition (Jacobi) of the small projected
//! Gram matrix. A text is embedded by folding in: `U_kᵀ d`, L2-normalised, which is
//! the training documents' own representation (`V_k Σ_k`) up to scale.

use std::collections::HashMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use steward_jobs::{JobHandle, Unit};
use steward_text::tokenize::{Tokenizer, TokenizerConfig};

use super::bert::l2_normalize;
use crate::{Error, Result};

/// Training settings; same texts + same config = the same model, bit for bit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LsaConfig {
    /// Output dimensions; fewer when the corpus is too small to support them.
    pub dim: usize,
    /// Terms in fewer documents than this are dropped (typos, ids).
    pub min_df: usize,
    /// Terms in more than this share of documents are dropped (stop words);
    /// applied only from 20 documents on.
    pub max_df_ratio: f64,
    /// The vocabulary keeps at most this many terms, most frequent first.
    pub max_vocab: usize,
    /// Extra random directions beyond `dim` (Halko et al. suggest 5-10).
    pub oversample: usize,
    /// Power iterations: each sharpens the spectrum the range finder sees.
    pub power_iterations: usize,
    pub seed: u64,
}

impl Default for LsaConfig {
    fn default() -> LsaConfig {
        LsaConfig {
            dim: 256,
            min_df: 2,
            max_df_ratio: 0.5,
            max_vocab: 50_000,
            oversample: 10,
            power_iterations: 2,
            seed: 0x05ee_d15a,
        }
    }
}

/// What a model was trained on: kept in the model, so that the registry's
/// metadata and the explained share can be read from a stored model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LsaTraining {
    /// Texts given to training.
    pub texts: usize,
    /// Texts with at least one vocabulary term: the nonzero columns of the
    /// TF-IDF matrix, each of unit length.
    pub documents: usize,
}

/// A trained LSA model. Immutable.
pub struct LsaEmbedder {
    tokenizer: Tokenizer,
    /// Term → row of `components`.
    vocabulary: HashMap<String, u32>,
    /// The terms in row order (kept for persistence).
    terms: Vec<String>,
    idf: Vec<f32>,
    /// `n_terms × dim`, row-major: row `t` is term `t`'s coordinates.
    components: Vec<f32>,
    singular_values: Vec<f32>,
    dim: usize,
    /// `None` for models saved before it was recorded.
    training: Option<LsaTraining>,
    model_id: String,
}

impl std::fmt::Debug for LsaEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LsaEmbedder")
            .field("model_id", &self.model_id)
            .field("terms", &self.terms.len())
            .field("dim", &self.dim)
            .finish_non_exhaustive()
    }
}

/// Persistence header; the numbers follow it as little-endian f32.
#[derive(Serialize, Deserialize)]
struct Header {
    version: u32,
    dim: usize,
    terms: Vec<String>,
    /// Added after the first models were saved: optional, so they still load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    training: Option<LsaTraining>,
}

const MAGIC: &[u8; 8] = b"STWLSA01";

/// A document as (term row, weight) pairs, L2-normalised.
type SparseDoc = Vec<(u32, f64)>;

/// Texts tokenized between two progress reports and cancel checks.
const TOKENIZE_CHUNK: usize = 1_024;

impl LsaEmbedder {
    /// Trains on `texts` (the community's posts). `job` hears two phases,
    /// "tokenizing" (texts) and "svd" (matrix passes), and a cancel stops the
    /// training between chunks of texts or passes with [`Error::Cancelled`].
    pub fn train(texts: &[&str], config: &LsaConfig, job: &JobHandle) -> Result<LsaEmbedder> {
        let tokenizer = Tokenizer::new(TokenizerConfig::default());
        job.set_phase("tokenizing", Some(texts.len() as u64), Unit::Items);
        let mut tokenized: Vec<Vec<String>> = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(TOKENIZE_CHUNK) {
            job.check_cancelled()?;
            tokenized.extend(chunk.iter().map(|text| tokenizer.terms(text)));
            job.advance(chunk.len() as u64);
        }
        let n_docs = tokenized.len();

        let mut df: HashMap<&str, usize> = HashMap::new();
        for doc in &tokenized {
            let mut seen: Vec<&str> = doc.iter().map(String::as_str).collect();
            seen.sort_unstable();
            seen.dedup();
            for term in seen {
                *df.entry(term).or_default() += 1;
            }
        }
        let max_df = if n_docs >= 20 {
            ((config.max_df_ratio * n_docs as f64).floor() as usize).max(config.min_df)
        } else {
            usize::MAX
        };
        let mut kept: Vec<(&str, usize)> = df
            .into_iter()
            .filter(|&(_, count)| count >= config.min_df && count <= max_df)
            .collect();
        kept.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        kept.truncate(config.max_vocab);
        if kept.len() < 2 || n_docs < 2 {
            return Err(Error::BadModel {
                path: "lsa".to_string(),
                message: format!(
                    "{n_docs} texts with {} shared terms are too few to train LSA",
                    kept.len()
                ),
            });
        }
        let terms: Vec<String> = kept.iter().map(|(term, _)| term.to_string()).collect();
        let idf: Vec<f32> = kept
            .iter()
            .map(|&(_, count)| (((1 + n_docs) as f64 / (1 + count) as f64).ln() + 1.0) as f32)
            .collect();
        let vocabulary: HashMap<String, u32> = terms
            .iter()
            .enumerate()
            .map(|(row, term)| (term.clone(), row as u32))
            .collect();
        let docs: Vec<SparseDoc> = tokenized
            .iter()
            .map(|doc| tfidf(doc.iter().map(String::as_str), &vocabulary, &idf))
            .collect();

        let training = LsaTraining {
            texts: n_docs,
            documents: docs.iter().filter(|doc| !doc.is_empty()).count(),
        };
        let n_terms = terms.len();
        let dim = config.dim.min(n_docs - 1).min(n_terms - 1).max(1);
        let (components, singular_values) = randomized_svd(&docs, n_terms, dim, config, job)?;
        let mut model = LsaEmbedder {
            tokenizer,
            vocabulary,
            terms,
            idf,
            components,
            singular_values,
            dim,
            training: Some(training),
            model_id: String::new(),
        };
        model.model_id = lsa_model_id(dim, &model.to_bytes());
        Ok(model)
    }

    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The singular values of the kept dimensions, largest first.
    pub fn singular_values(&self) -> &[f32] {
        &self.singular_values
    }

    /// Terms in the vocabulary.
    pub fn vocabulary_size(&self) -> usize {
        self.terms.len()
    }

    pub fn training(&self) -> Option<LsaTraining> {
        self.training
    }

    /// The share of the TF-IDF matrix's squared Frobenius norm that the kept
    /// dimensions hold (sum of squared singular values over the number of
    /// unit-length document columns): how much of the corpus the model sees.
    /// `None` when the model does not know what it was trained on.
    pub fn explained_share(&self) -> Option<f64> {
        let documents = self.training?.documents;
        if documents == 0 {
            return None;
        }
        let kept: f64 = self
            .singular_values
            .iter()
            .map(|value| f64::from(*value) * f64::from(*value))
            .sum();
        Some(kept / documents as f64)
    }

    /// The text's L2-normalised fold-in; all zeros when it shares no term with
    /// the vocabulary.
    pub fn embed(&self, text: &str) -> Vec<f32> {
        let terms = self.tokenizer.terms(text);
        let doc = tfidf(
            terms.iter().map(String::as_str),
            &self.vocabulary,
            &self.idf,
        );
        let mut vector = vec![0f32; self.dim];
        for (row, weight) in doc {
            let row = row as usize;
            let coordinates = &self.components[row * self.dim..(row + 1) * self.dim];
            for (out, value) in vector.iter_mut().zip(coordinates) {
                *out += weight as f32 * value;
            }
        }
        l2_normalize(&mut vector);
        vector
    }

    /// The model as bytes, for [`steward_store::Store::put_artifact_version`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = Header {
            version: 1,
            dim: self.dim,
            terms: self.terms.clone(),
            training: self.training,
        };
        let header = serde_json::to_vec(&header).expect("a struct of strings and ints serialises");
        let floats = self.idf.len() + self.singular_values.len() + self.components.len();
        let mut bytes = Vec::with_capacity(MAGIC.len() + 8 + header.len() + floats * 4);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&header);
        for value in self
            .idf
            .iter()
            .chain(&self.singular_values)
            .chain(&self.components)
        {
            bytes.extend_from_slice(&value.to_le_bytes());
        }
        bytes
    }

    /// Reads what [`Self::to_bytes`] wrote.
    pub fn from_bytes(bytes: &[u8]) -> Result<LsaEmbedder> {
        let bad = |message: &str| Error::BadModel {
            path: super::LSA_ARTIFACT.to_string(),
            message: message.to_string(),
        };
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or_else(|| bad("not an LSA model (bad magic)"))?;
        let (length, rest) = rest
            .split_first_chunk::<8>()
            .ok_or_else(|| bad("truncated header"))?;
        let length = usize::try_from(u64::from_le_bytes(*length))
            .map_err(|_| bad("header length overflows"))?;
        if rest.len() < length {
            return Err(bad("truncated header"));
        }
        let (header, numbers) = rest.split_at(length);
        let header: Header =
            serde_json::from_slice(header).map_err(|error| bad(&format!("header: {error}")))?;
        let n_terms = header.terms.len();
        let expected = n_terms + header.dim + n_terms * header.dim;
        if numbers.len() != expected * 4 {
            return Err(bad("numbers do not match the header"));
        }
        let floats: Vec<f32> = numbers
            .chunks_exact(4)
            .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
            .collect();
        let idf = floats[..n_terms].to_vec();
        let singular_values = floats[n_terms..n_terms + header.dim].to_vec();
        let components = floats[n_terms + header.dim..].to_vec();
        let vocabulary = header
            .terms
            .iter()
            .enumerate()
            .map(|(row, term)| (term.clone(), row as u32))
            .collect();
        Ok(LsaEmbedder {
            tokenizer: Tokenizer::new(TokenizerConfig::default()),
            vocabulary,
            terms: header.terms,
            idf,
            components,
            singular_values,
            dim: header.dim,
            training: header.training,
            model_id: lsa_model_id(header.dim, bytes),
        })
    }
}

fn lsa_model_id(dim: usize, bytes: &[u8]) -> String {
    format!("lsa-{dim}-{:016x}", xxhash_rust::xxh3::xxh3_64(bytes))
}

/// Sublinear tf × idf over known terms, L2-normalised, sorted by row.
fn tfidf<'a>(
    terms: impl Iterator<Item = &'a str>,
    vocabulary: &HashMap<String, u32>,
    idf: &[f32],
) -> SparseDoc {
    let mut counts: HashMap<u32, u32> = HashMap::new();
    for term in terms {
        if let Some(&row) = vocabulary.get(term) {
            *counts.entry(row).or_default() += 1;
        }
    }
    let mut doc: SparseDoc = counts
        .into_iter()
        .map(|(row, count)| {
            (
                row,
                (1.0 + f64::from(count).ln()) * f64::from(idf[row as usize]),
            )
        })
        .collect();
    doc.sort_unstable_by_key(|&(row, _)| row);
    let norm = doc
        .iter()
        .map(|(_, weight)| weight * weight)
        .sum::<f64>()
        .sqrt();
    if norm > 0.0 {
        doc.iter_mut().for_each(|(_, weight)| *weight /= norm);
    }
    doc
}

/// A dense matrix stored as columns (each `rows` long): the range finder works
/// column by column (products, Gram-Schmidt), so columns are contiguous.
type Columns = Vec<Vec<f64>>;

/// The top `dim` left singular vectors of the `n_terms × n_docs` matrix whose
/// columns are `docs`, as an `n_terms × dim` row-major f32 matrix, and the
/// singular values. Reports one step per pass over the matrix (the expensive
/// part) and checks for a cancel before each.
fn randomized_svd(
    docs: &[SparseDoc],
    n_terms: usize,
    dim: usize,
    config: &LsaConfig,
    job: &JobHandle,
) -> Result<(Vec<f32>, Vec<f32>)> {
    // A Y = A Ω pass, two per power iteration, Z = Aᵀ Q, the decomposition.
    let passes = 3 + 2 * config.power_iterations as u64;
    job.set_phase("svd", Some(passes), Unit::Items);
    let step = || -> Result<()> {
        job.advance(1);
        job.check_cancelled()?;
        Ok(())
    };
    job.check_cancelled()?;
    let width = (dim + config.oversample).min(n_terms).min(docs.len());
    // Ω (n_docs × width), Gaussian; Y = A Ω.
    let omega: Columns = (0..width)
        .map(|column| {
            (0..docs.len())
                .map(|doc| gaussian(config.seed, (doc * width + column) as u64))
                .collect()
        })
        .collect();
    let mut q = orthonormalize(times_a(docs, n_terms, &omega));
    step()?;
    for _ in 0..config.power_iterations {
        let z = orthonormalize(times_a_transpose(docs, &q));
        step()?;
        q = orthonormalize(times_a(docs, n_terms, &z));
        step()?;
    }
    // B = Qᵀ A (width × n_docs); B Bᵀ = Zᵀ Z with Z = Aᵀ Q.
    let z = times_a_transpose(docs, &q);
    step()?;
    let gram: Vec<Vec<f64>> = (0..width)
        .map(|i| (0..width).map(|j| dot(&z[i], &z[j])).collect())
        .collect();
    let (eigenvalues, eigenvectors) = symmetric_eigen(gram);
    let mut order: Vec<usize> = (0..width).collect();
    order.sort_by(|&a, &b| eigenvalues[b].total_cmp(&eigenvalues[a]).then(a.cmp(&b)));
    order.truncate(dim);

    let mut components = vec![0f32; n_terms * dim];
    components
        .par_chunks_mut(dim)
        .enumerate()
        .for_each(|(term, row)| {
            for (out, &component) in row.iter_mut().zip(&order) {
                let value: f64 = (0..width)
                    .map(|i| q[i][term] * eigenvectors[i][component])
                    .sum();
                *out = value as f32;
            }
        });
    let singular_values = order
        .iter()
        .map(|&component| eigenvalues[component].max(0.0).sqrt() as f32)
        .collect();
    job.advance(1);
    Ok((components, singular_values))
}

/// `A X` for `X` with one row per document: each column is `n_terms` long.
fn times_a(docs: &[SparseDoc], n_terms: usize, x: &Columns) -> Columns {
    x.par_iter()
        .map(|column| {
            let mut out = vec![0f64; n_terms];
            for (doc, &coefficient) in docs.iter().zip(column) {
                if coefficient == 0.0 {
                    continue;
                }
                for &(row, weight) in doc {
                    out[row as usize] += weight * coefficient;
                }
            }
            out
        })
        .collect()
}

/// `Aᵀ X` for `X` with one row per term: each column is `n_docs` long.
fn times_a_transpose(docs: &[SparseDoc], x: &Columns) -> Columns {
    x.par_iter()
        .map(|column| {
            docs.iter()
                .map(|doc| {
                    doc.iter()
                        .map(|&(row, weight)| weight * column[row as usize])
                        .sum()
                })
                .collect()
        })
        .collect()
}

/// Modified Gram-Schmidt, twice ("twice is enough", Giraud et al.) for columns
/// that lose orthogonality after power iterations; dependent columns become zero.
fn orthonormalize(mut columns: Columns) -> Columns {
    for index in 0..columns.len() {
        let (done, rest) = columns.split_at_mut(index);
        let column = &mut rest[0];
        let original = dot(column, column).sqrt();
        for _ in 0..2 {
            for basis in done.iter() {
                let projection = dot(column, basis);
                for (value, base) in column.iter_mut().zip(basis) {
                    *value -= projection * base;
                }
            }
        }
        let norm = dot(column, column).sqrt();
        if norm <= 1e-10 * original.max(f64::MIN_POSITIVE) || norm == 0.0 {
            column.iter_mut().for_each(|value| *value = 0.0);
        } else {
            column.iter_mut().for_each(|value| *value /= norm);
        }
    }
    columns
}

/// Eigenvalues and eigenvectors (as columns: `vectors[i][k]` is component `i`
/// of eigenvector `k`) of a small symmetric matrix, by cyclic Jacobi rotations.
fn symmetric_eigen(mut matrix: Vec<Vec<f64>>) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = matrix.len();
    let mut vectors: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
        .collect();
    let scale: f64 = (0..n)
        .map(|i| matrix[i][i].abs())
        .sum::<f64>()
        .max(f64::MIN_POSITIVE);
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| matrix[i][j] * matrix[i][j])
            .sum();
        if off.sqrt() <= 1e-14 * scale {
            break;
        }
        for p in 0..n {
            for r in p + 1..n {
                let apr = matrix[p][r];
                if apr.abs() <= 1e-300 {
                    continue;
                }
                let theta = (matrix[r][r] - matrix[p][p]) / (2.0 * apr);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for row in matrix.iter_mut() {
                    let (mkp, mkr) = (row[p], row[r]);
                    row[p] = c * mkp - s * mkr;
                    row[r] = s * mkp + c * mkr;
                }
                let (upper, lower) = matrix.split_at_mut(r);
                for (mpk, mrk) in upper[p].iter_mut().zip(lower[0].iter_mut()) {
                    let (old_p, old_r) = (*mpk, *mrk);
                    *mpk = c * old_p - s * old_r;
                    *mrk = s * old_p + c * old_r;
                }
                for row in vectors.iter_mut() {
                    let (vp, vr) = (row[p], row[r]);
                    row[p] = c * vp - s * vr;
                    row[r] = s * vp + c * vr;
                }
            }
        }
    }
    let values = (0..n).map(|i| matrix[i][i]).collect();
    (values, vectors)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A standard normal number that depends only on `(seed, index)`: the test
/// matrix is the same whatever the thread count or evaluation order.
fn gaussian(seed: u64, index: u64) -> f64 {
    let first = splitmix64(seed ^ splitmix64(index.wrapping_mul(2)));
    let second = splitmix64(seed ^ splitmix64(index.wrapping_mul(2) + 1));
    // 53-bit uniforms in (0, 1].
    let u1 = ((first >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let u2 = (second >> 11) as f64 / (1u64 << 53) as f64;
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn splitmix64(mut state: u64) -> u64 {
    state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    state = (state ^ (state >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    state = (state ^ (state >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    state ^ (state >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_recovers_a_known_spectrum() {
        let matrix = vec![
            vec![4.0, 1.0, 0.0],
            vec![1.0, 3.0, 1.0],
            vec![0.0, 1.0, 2.0],
        ];
        let (values, vectors) = symmetric_eigen(matrix.clone());
        // Each column v satisfies M v = λ v.
        for k in 0..3 {
            for i in 0..3 {
                let mv: f64 = (0..3).map(|j| matrix[i][j] * vectors[j][k]).sum();
                assert!((mv - values[k] * vectors[i][k]).abs() < 1e-10);
            }
        }
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let expected = [3.0 - 3f64.sqrt(), 3.0, 3.0 + 3f64.sqrt()];
        for (got, want) in sorted.iter().zip(expected) {
            assert!((got - want).abs() < 1e-10, "{got} vs {want}");
        }
    }

    #[test]
    fn orthonormalize_gives_orthonormal_columns_and_zeroes_dependent_ones() {
        let columns = vec![
            vec![1.0, 1.0, 0.0],
            vec![2.0, 2.0, 0.0],
            vec![0.0, 1.0, 1.0],
        ];
        let q = orthonormalize(columns);
        assert!((dot(&q[0], &q[0]) - 1.0).abs() < 1e-12);
        assert_eq!(dot(&q[1], &q[1]), 0.0);
        assert!((dot(&q[2], &q[2]) - 1.0).abs() < 1e-12);
        assert!(dot(&q[0], &q[2]).abs() < 1e-12);
    }
}
