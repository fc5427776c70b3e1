//! BERT-family sentence-transformers on candle: a model folder with
//! `model.safetensors`, `tokenizer.json` and `config.json` (plus the
//! sentence-transformers pooling and normalisation configs when present).
//!
//! Vectors match sentence-transformers (cosine ≥ 0.9999 on all-MiniLM-L6-v2, see
//! tests/embed_parity.rs) for texts within the model's max length. Longer texts
//! differ on purpose: sentence-transformers truncates them, we embed overlapping
//! chunks and average, so the end of a long post still counts.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use super::Purpose;
use crate::{Error, Result};

/// How token vectors become one sentence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Mean over the real (unpadded) tokens.
    Mean,
    /// The first token's (`[CLS]`) vector.
    Cls,
}

/// How a BERT model is used; [`BertOptions::from_model_dir`] reads the
/// sentence-transformers configs so that a model works as its authors meant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertOptions {
    /// Prepended to queries (`"query: "` for e5 models).
    pub query_prefix: String,
    /// Prepended to passages (`"passage: "` for e5 models).
    pub passage_prefix: String,
    pub pooling: Pooling,
    /// L2-normalise the output (sentence-transformers' `Normalize` module).
    pub normalize: bool,
    /// Tokens per model call, special tokens included; longer texts are chunked.
    pub max_length: usize,
    /// Tokens shared by consecutive chunks of a long text.
    pub chunk_overlap: usize,
    /// Upper bound on `sequences × padded length` of one forward pass: bounds
    /// memory and keeps attention's quadratic term small.
    pub batch_tokens: usize,
    /// Upper bound on sequences per forward pass.
    pub max_batch: usize,
}

impl Default for BertOptions {
    fn default() -> BertOptions {
        BertOptions {
            query_prefix: String::new(),
            passage_prefix: String::new(),
            pooling: Pooling::Mean,
            normalize: true,
            max_length: 256,
            chunk_overlap: 32,
            batch_tokens: 4096,
            max_batch: 64,
        }
    }
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
}

#[derive(Deserialize)]
struct ModuleEntry {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: String,
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

#[derive(Deserialize)]
struct SentenceTransformersConfig {
    #[serde(default)]
    prompts: std::collections::HashMap<String, String>,
}

impl BertOptions {
    /// Options from a sentence-transformers folder: pooling from the Pooling
    /// module's config, normalisation from a `Normalize` entry in `modules.json`,
    /// max length from `sentence_bert_config.json`, prefixes from the `prompts` of
    /// `config_sentence_transformers.json`. A plain BERT folder without these
    /// files gets mean pooling, normalisation and 256 tokens.
    pub fn from_model_dir(dir: &Path) -> Result<BertOptions> {
        let mut options = BertOptions::default();
        let modules: Option<Vec<ModuleEntry>> = read_json_if_present(&dir.join("modules.json"))?;
        let mut pooling_dir = dir.join("1_Pooling");
        if let Some(modules) = &modules {
            options.normalize = modules
                .iter()
                .any(|module| module.kind.ends_with("Normalize"));
            if let Some(pooling) = modules
                .iter()
                .find(|module| module.kind.ends_with("Pooling"))
            {
                pooling_dir = dir.join(&pooling.path);
            }
        }
        let pooling: Option<PoolingConfig> =
            read_json_if_present(&pooling_dir.join("config.json"))?;
        if let Some(pooling) = pooling {
            options.pooling = match (
                pooling.pooling_mode_cls_token,
                pooling.pooling_mode_mean_tokens,
            ) {
                (true, false) => Pooling::Cls,
                (false, true) => Pooling::Mean,
                _ => {
                    return Err(Error::BadModel {
                        path: pooling_dir.display().to_string(),
                        message: "only mean or CLS pooling (one of them) is supported".to_string(),
                    });
                }
            };
        }
        let sentence_bert: Option<SentenceBertConfig> =
            read_json_if_present(&dir.join("sentence_bert_config.json"))?;
        if let Some(max) = sentence_bert.and_then(|config| config.max_seq_length) {
            options.max_length = max;
        }
        let st_config: Option<SentenceTransformersConfig> =
            read_json_if_present(&dir.join("config_sentence_transformers.json"))?;
        if let Some(config) = st_config {
            if let Some(prefix) = config.prompts.get("query") {
                options.query_prefix = prefix.clone();
            }
            let passage = ["passage", "document"]
                .iter()
                .find_map(|key| config.prompts.get(*key));
            if let Some(prefix) = passage {
                options.passage_prefix = prefix.clone();
            }
        }
        Ok(options)
    }
}

/// A loaded BERT sentence embedder. Immutable: `embed` takes `&self` and may be
/// called from several threads.
pub struct BertEmbedder {
    model: BertModel,
    tokenizer: Tokenizer,
    options: BertOptions,
    model_id: String,
    dim: usize,
    /// Special tokens around a single sequence (`[CLS]` … `[SEP]` for BERT),
    /// found by asking the tokenizer, so that chunks get them too.
    prefix_ids: Vec<u32>,
    suffix_ids: Vec<u32>,
    pad_id: u32,
    device: Device,
}

impl std::fmt::Debug for BertEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BertEmbedder")
            .field("model_id", &self.model_id)
            .field("dim", &self.dim)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// One model call's worth of tokens: a whole short text or one chunk of a long one.
struct Chunk {
    text_idx: usize,
    ids: Vec<u32>,
}

impl BertEmbedder {
    /// Loads the folder's weights (memory-mapped) and tokenizer. The tokenizer's
    /// own padding and truncation are switched off: all-MiniLM-L6-v2's
    /// tokenizer.json pads every text to 128 tokens, which would both waste work
    /// and, pooled naively, change the vectors. We pad per batch instead.
    pub fn load(dir: &Path, options: BertOptions) -> Result<BertEmbedder> {
        let bad = |message: String| Error::BadModel {
            path: dir.display().to_string(),
            message,
        };
        let config_text = std::fs::read_to_string(dir.join("config.json"))
            .map_err(|error| bad(format!("config.json: {error}")))?;
        let config: Config = serde_json::from_str(&config_text)
            .map_err(|error| bad(format!("config.json: {error}")))?;
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|error| bad(format!("tokenizer.json: {error}")))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|error| bad(format!("tokenizer.json: {error}")))?;
        let (prefix_ids, suffix_ids) = special_tokens(&tokenizer).map_err(bad)?;

        let device = Device::Cpu;
        let weights = dir.join("model.safetensors");
        if !weights.is_file() {
            return Err(bad("model.safetensors is missing".to_string()));
        }
        // candle's memory-mapped loader is `unsafe` (the file could change under
        // the map) and the workspace forbids `unsafe`, so the weights are read into
        // memory once instead (90 MB for MiniLM, ~0.1 s).
        let tensors = candle_core::safetensors::load(&weights, &device)?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &device);
        let model = BertModel::load(vb, &config)
            .map_err(|error| bad(format!("weights do not fit config.json: {error}")))?;

        let mut options = options;
        let specials = prefix_ids.len() + suffix_ids.len();
        options.max_length = options.max_length.min(config.max_position_embeddings);
        if options.max_length <= specials + 1 {
            return Err(bad(format!(
                "max_length {} is too small",
                options.max_length
            )));
        }
        let content = options.max_length - specials;
        options.chunk_overlap = options.chunk_overlap.min(content / 2);

        let name = dir
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "bert".to_string());
        let model_id = bert_model_id(&name, &options);
        Ok(BertEmbedder {
            model,
            tokenizer,
            dim: config.hidden_size,
            pad_id: config.pad_token_id as u32,
            options,
            model_id,
            prefix_ids,
            suffix_ids,
            device,
        })
    }

    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn options(&self) -> &BertOptions {
        &self.options
    }

    /// Token count of each text as the model sees it (special tokens included,
    /// before chunking); for benchmarks and chunking decisions.
    pub fn token_counts(&self, texts: &[&str]) -> Result<Vec<usize>> {
        let encodings = self
            .tokenizer
            .encode_batch_fast(texts.to_vec(), false)
            .map_err(|error| Error::Tokenizer(error.to_string()))?;
        let specials = self.prefix_ids.len() + self.suffix_ids.len();
        Ok(encodings
            .iter()
            .map(|encoding| encoding.len() + specials)
            .collect())
    }

    /// Embeds `texts`. Texts are tokenized, long ones split into overlapping
    /// chunks, all chunks sorted by length and run in batches padded only to the
    /// batch's longest member, so short texts do not pay for long ones.
    pub fn embed(&self, texts: &[&str], purpose: Purpose) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let prefix = match purpose {
            Purpose::Query => &self.options.query_prefix,
            Purpose::Passage => &self.options.passage_prefix,
        };
        let inputs: Vec<String> = texts.iter().map(|text| format!("{prefix}{text}")).collect();
        let encodings = self
            .tokenizer
            .encode_batch_fast(inputs, false)
            .map_err(|error| Error::Tokenizer(error.to_string()))?;
        let chunks = self.chunks(encodings.iter().map(|encoding| encoding.get_ids()));

        let mut order: Vec<usize> = (0..chunks.len()).collect();
        // Stable sort: equal lengths keep input order, so batches are deterministic.
        order.sort_by_key(|&chunk_idx| chunks[chunk_idx].ids.len());
        let mut chunk_vectors: Vec<Vec<f32>> = vec![Vec::new(); chunks.len()];
        let mut start = 0;
        while start < order.len() {
            let end = self.batch_end(&order, &chunks, start);
            let batch: Vec<&Chunk> = order[start..end]
                .iter()
                .map(|&chunk_idx| &chunks[chunk_idx])
                .collect();
            let pooled = self.forward(&batch)?;
            for (&chunk_idx, vector) in order[start..end].iter().zip(pooled) {
                chunk_vectors[chunk_idx] = vector;
            }
            start = end;
        }

        let mut sums: Vec<Vec<f32>> = vec![vec![0.0; self.dim]; texts.len()];
        let mut counts = vec![0usize; texts.len()];
        for (chunk, vector) in chunks.iter().zip(&chunk_vectors) {
            counts[chunk.text_idx] += 1;
            for (sum, value) in sums[chunk.text_idx].iter_mut().zip(vector) {
                *sum += value;
            }
        }
        for (sum, count) in sums.iter_mut().zip(counts) {
            if count > 1 {
                let scale = 1.0 / count as f32;
                sum.iter_mut().for_each(|value| *value *= scale);
                if self.options.normalize {
                    l2_normalize(sum);
                }
            }
        }
        Ok(sums)
    }

    /// Splits each text's token ids into chunks of at most `max_length` tokens
    /// (specials included), consecutive chunks sharing `chunk_overlap` tokens.
    fn chunks<'a>(&self, texts: impl Iterator<Item = &'a [u32]>) -> Vec<Chunk> {
        let content = self.options.max_length - self.prefix_ids.len() - self.suffix_ids.len();
        let stride = content - self.options.chunk_overlap;
        let mut chunks = Vec::new();
        for (text_idx, ids) in texts.enumerate() {
            let mut start = 0;
            loop {
                let end = (start + content).min(ids.len());
                let mut chunk_ids =
                    Vec::with_capacity(end - start + self.prefix_ids.len() + self.suffix_ids.len());
                chunk_ids.extend_from_slice(&self.prefix_ids);
                chunk_ids.extend_from_slice(&ids[start..end]);
                chunk_ids.extend_from_slice(&self.suffix_ids);
                chunks.push(Chunk {
                    text_idx,
                    ids: chunk_ids,
                });
                if end == ids.len() {
                    break;
                }
                start += stride;
            }
        }
        chunks
    }

    /// The end of the batch starting at `order[start]`: as many chunks as fit in
    /// `batch_tokens` once padded to the longest (the last, since sorted).
    fn batch_end(&self, order: &[usize], chunks: &[Chunk], start: usize) -> usize {
        let mut end = start + 1;
        while end < order.len() && end - start < self.options.max_batch {
            let padded = chunks[order[end]].ids.len() * (end - start + 1);
            if padded > self.options.batch_tokens {
                break;
            }
            end += 1;
        }
        end
    }

    /// One forward pass over a batch of chunks; returns the pooled (and, if
    /// configured, normalised) vector of each.
    fn forward(&self, batch: &[&Chunk]) -> Result<Vec<Vec<f32>>> {
        let batch_size = batch.len();
        let seq_len = batch.iter().map(|chunk| chunk.ids.len()).max().unwrap_or(0);
        let mut ids = vec![self.pad_id; batch_size * seq_len];
        let mut mask = vec![0u32; batch_size * seq_len];
        for (row, chunk) in batch.iter().enumerate() {
            let offset = row * seq_len;
            ids[offset..offset + chunk.ids.len()].copy_from_slice(&chunk.ids);
            mask[offset..offset + chunk.ids.len()].fill(1);
        }
        let input_ids = Tensor::from_vec(ids, (batch_size, seq_len), &self.device)?;
        let token_type_ids = input_ids.zeros_like()?;
        // All-ones masks are skipped: with no padding the additive mask is zero.
        let attention_mask = if batch.iter().all(|chunk| chunk.ids.len() == seq_len) {
            None
        } else {
            Some(Tensor::from_vec(mask, (batch_size, seq_len), &self.device)?)
        };
        let hidden = self
            .model
            .forward(&input_ids, &token_type_ids, attention_mask.as_ref())?;
        let (_, _, dim) = hidden.dims3()?;
        let hidden = hidden.flatten_all()?.to_vec1::<f32>()?;
        let mut pooled = Vec::with_capacity(batch_size);
        for (row, chunk) in batch.iter().enumerate() {
            let rows = &hidden[row * seq_len * dim..(row + 1) * seq_len * dim];
            let mut vector = match self.options.pooling {
                Pooling::Cls => rows[..dim].to_vec(),
                Pooling::Mean => {
                    let len = chunk.ids.len();
                    let mut sum = vec![0f32; dim];
                    for token in rows[..len * dim].chunks_exact(dim) {
                        for (acc, value) in sum.iter_mut().zip(token) {
                            *acc += value;
                        }
                    }
                    let scale = 1.0 / len as f32;
                    sum.iter_mut().for_each(|value| *value *= scale);
                    sum
                }
            };
            if self.options.normalize {
                l2_normalize(&mut vector);
            }
            pooled.push(vector);
        }
        Ok(pooled)
    }
}

/// The model id: the folder name, plus the settings that change vectors when
/// they differ from the defaults.
fn bert_model_id(name: &str, options: &BertOptions) -> String {
    let mut id = name.to_string();
    if options.pooling == Pooling::Cls {
        id.push_str("+cls");
    }
    if !options.normalize {
        id.push_str("+raw");
    }
    if options.max_length != BertOptions::default().max_length {
        id.push_str(&format!("+len{}", options.max_length));
    }
    id
}

/// The tokens the post-processor puts before and after a single sequence, found
/// by encoding one word with and without them.
fn special_tokens(tokenizer: &Tokenizer) -> std::result::Result<(Vec<u32>, Vec<u32>), String> {
    let with = tokenizer
        .encode("a", true)
        .map_err(|error| format!("tokenizer: {error}"))?;
    let without = tokenizer
        .encode("a", false)
        .map_err(|error| format!("tokenizer: {error}"))?;
    let (with, without) = (with.get_ids(), without.get_ids());
    let position = (0..=with.len().saturating_sub(without.len()))
        .find(|&start| with[start..].starts_with(without))
        .ok_or_else(|| "cannot locate the text among the special tokens".to_string())?;
    Ok((
        with[..position].to_vec(),
        with[position + without.len()..].to_vec(),
    ))
}

fn read_json_if_present<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|error| Error::BadModel {
                path: path.display().to_string(),
                message: error.to_string(),
            }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io {
            context: format!("reading {}", path.display()),
            source,
        }),
    }
}

/// Scales `vector` to unit length (left as is when it is all zeros).
pub(crate) fn l2_normalize(vector: &mut [f32]) {
    let norm = vector.iter().map(|value| value * value).sum::<f32>().sqrt();
    if norm > 0.0 {
        let scale = 1.0 / norm;
        vector.iter_mut().for_each(|value| *value *= scale);
    }
}
