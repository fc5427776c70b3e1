//! In-process GGUF models on candle (llama and qwen2 architectures): load once,
//! share the weights across requests, keep each request's state to itself.
//!
//! A request renders the chat template, tokenizes, runs the prompt in one
//! forward pass, then decodes token by token with its own [`KvCache`] and a
//! sampler seeded from the request, so the same request gives the same text.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use candle_core::Tensor;
use candle_core::quantized::gguf_file::Content;
use candle_transformers::generation::{LogitsProcessor, Sampling};

use super::chat_template::ChatTemplate;
use super::gguf_tokenizer::GgufTokenizer;
use super::json_constraint::{JsonMask, JsonState};
use super::text_stream::{Flow, TextStream};
use super::transformer::{KvCache, Transformer};
use super::{
    CancellationToken, ChatMessage, ChatRequest, Completion, FinishReason, GenerationParams,
    ResponseFormat,
};
use crate::{Error, Result};

pub use super::transformer::{Architecture, Config};

/// How a local model is loaded and served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalOptions {
    /// Caps the context window below the model's trained length (memory per
    /// request grows with it: ~46 KB per position for SmolLM2-135M).
    pub max_context: Option<usize>,
    /// How many processed prompts (and finished conversations) to keep, so a
    /// request that starts with the same tokens skips that part of the prompt.
    /// 0 turns the reuse off (benchmarks measure prompt processing with it off).
    pub prefix_cache_entries: usize,
}

impl Default for LocalOptions {
    fn default() -> LocalOptions {
        LocalOptions {
            max_context: Some(4096),
            prefix_cache_entries: 4,
        }
    }
}

/// A loaded GGUF chat model. Cloning is cheap and clones share the weights and
/// the prefix cache; every `generate` call has its own KV cache and sampler.
#[derive(Debug, Clone)]
pub struct LocalLlm {
    inner: Arc<Inner>,
}

struct Inner {
    model_id: String,
    path: PathBuf,
    model: Transformer,
    tokenizer: GgufTokenizer,
    template: ChatTemplate,
    options: LocalOptions,
    prefixes: Mutex<Vec<Prefix>>,
    /// The vocabulary for JSON-constrained decoding, built on first use.
    json_mask: OnceLock<JsonMask>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalLlm")
            .field("model_id", &self.model_id)
            .field("path", &self.path)
            .field("config", self.model.config())
            .finish_non_exhaustive()
    }
}

/// A processed token sequence: its cache and the logits after its last token.
#[derive(Debug, Clone)]
struct Prefix {
    tokens: Vec<u32>,
    cache: KvCache,
    logits: Tensor,
}

impl LocalLlm {
    /// Loads a `.gguf` file, or the only (or first, by name) `.gguf` in a directory.
    ///
    /// Q4_1, Q5_0 and Q5_1 weights are converted to Q8_0 in memory while loading
    /// (about a second for 135M parameters): candle's Q4_1 CPU kernel gives
    /// garbage on AVX2 and these types have no fast kernel, while Q8_0 is both
    /// correct and ~3.7x faster. Converting at load rather than writing a
    /// converted file keeps one source of truth and no cache to invalidate.
    pub fn load(path: &Path, options: &LocalOptions) -> Result<LocalLlm> {
        let file_path = find_gguf(path)?;
        let bad = |message: String| Error::BadModel {
            path: file_path.display().to_string(),
            message,
        };
        let file = File::open(&file_path).map_err(|source| Error::Io {
            context: format!("opening {}", file_path.display()),
            source,
        })?;
        let mut reader = BufReader::new(file);
        let content = Content::read(&mut reader).map_err(|error| bad(error.to_string()))?;
        let model = Transformer::from_gguf(&content, &mut reader, options.max_context).map_err(
            |error| match error {
                Error::BadModel { message, .. } => bad(message),
                other => other,
            },
        )?;
        let tokenizer = GgufTokenizer::from_gguf(&content)?;
        let template = match content.metadata.get("tokenizer.chat_template") {
            Some(source) => ChatTemplate::new(
                source.to_string()?.clone(),
                tokenizer.bos_token().unwrap_or_default(),
                tokenizer.eos_token().unwrap_or_default(),
            )?,
            None => ChatTemplate::chatml(),
        };
        Ok(LocalLlm {
            inner: Arc::new(Inner {
                model_id: model_id(&file_path),
                path: file_path,
                model,
                tokenizer,
                template,
                options: options.clone(),
                prefixes: Mutex::new(Vec::new()),
                json_mask: OnceLock::new(),
            }),
        })
    }

    /// The file name without `.gguf` and without a trailing quantization tag
    /// (`SmolLM2-135M-Instruct.Q4_1.gguf` is `SmolLM2-135M-Instruct`).
    pub fn model_id(&self) -> &str {
        &self.inner.model_id
    }

    /// The `.gguf` file the weights came from.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    pub fn config(&self) -> &Config {
        self.inner.model.config()
    }

    /// The most positions (prompt plus completion) one request can use.
    pub fn context_length(&self) -> usize {
        self.inner.model.config().context_length
    }

    pub fn tokenizer(&self) -> &GgufTokenizer {
        &self.inner.tokenizer
    }

    pub fn chat_template(&self) -> &ChatTemplate {
        &self.inner.template
    }

    /// The prompt text for `messages`, ending where the assistant's answer starts.
    pub fn render_prompt(&self, messages: &[ChatMessage]) -> Result<String> {
        self.inner.template.render(messages, true)
    }

    /// An empty KV cache for [`LocalLlm::forward`].
    pub fn new_cache(&self) -> KvCache {
        self.inner.model.new_cache()
    }

    /// Runs `tokens` after those in `cache`; returns the next-token logits.
    /// The low-level step under [`LocalLlm::generate`], for benchmarks and scoring.
    pub fn forward(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Tensor> {
        self.inner.model.forward(tokens, cache)
    }

    /// Runs a chat request on the calling thread (blocking: seconds of CPU).
    /// `on_text` receives the completion piece by piece as it becomes safe to show.
    pub fn generate(&self, request: &ChatRequest, on_text: impl FnMut(&str)) -> Result<Completion> {
        self.generate_with(request, &CancellationToken::new(), on_text)
    }

    /// [`LocalLlm::generate`] that stops before the next token once `cancel`
    /// is cancelled, with [`Error::CallCancelled`].
    pub fn generate_with(
        &self,
        request: &ChatRequest,
        cancel: &CancellationToken,
        on_text: impl FnMut(&str),
    ) -> Result<Completion> {
        let started = Instant::now();
        let prompt = self.render_prompt(&request.messages)?;
        let prompt_tokens = self.inner.tokenizer.encode(&prompt)?;
        self.generate_from_tokens(&prompt_tokens, &request.params, started, cancel, on_text)
    }

    /// [`LocalLlm::generate`] for an already tokenized prompt.
    pub fn generate_tokens(
        &self,
        prompt_tokens: &[u32],
        params: &GenerationParams,
        on_text: impl FnMut(&str),
    ) -> Result<Completion> {
        self.generate_from_tokens(
            prompt_tokens,
            params,
            Instant::now(),
            &CancellationToken::new(),
            on_text,
        )
    }

    /// The token mask of JSON mode for this model's vocabulary.
    fn json_mask(&self) -> &JsonMask {
        self.inner.json_mask.get_or_init(|| {
            let tokenizer = &self.inner.tokenizer;
            let vocab_size = self
                .inner
                .model
                .config()
                .vocab_size
                .max(tokenizer.vocab_size());
            let token_bytes = (0..vocab_size as u32)
                .map(|id| {
                    if tokenizer.is_control(id) {
                        Vec::new()
                    } else {
                        tokenizer.token_bytes(id).to_vec()
                    }
                })
                .collect();
            JsonMask::new(token_bytes, tokenizer.end_of_turn_ids().to_vec())
        })
    }

    fn generate_from_tokens(
        &self,
        prompt_tokens: &[u32],
        params: &GenerationParams,
        started: Instant,
        cancel: &CancellationToken,
        mut on_text: impl FnMut(&str),
    ) -> Result<Completion> {
        let context_length = self.context_length();
        if prompt_tokens.is_empty() {
            return Err(Error::Tokenizer("the prompt has no tokens".into()));
        }
        if prompt_tokens.len() >= context_length {
            return Err(Error::PromptTooLong {
                prompt_tokens: prompt_tokens.len(),
                context_length,
            });
        }
        let tokenizer = &self.inner.tokenizer;
        let cancelled = |completion_tokens: usize| Error::CallCancelled {
            prompt_tokens: prompt_tokens.len() as u32,
            completion_tokens: completion_tokens as u32,
        };
        if cancel.is_cancelled() {
            return Err(cancelled(0));
        }
        let (mut cache, mut logits) = self.prefill(prompt_tokens)?;
        let prompt_ms = started.elapsed().as_secs_f64() * 1e3;
        let decode_started = Instant::now();

        let mut sampler = LogitsProcessor::from_sampling(params.seed, sampling(params));
        let max_tokens = params.max_tokens as usize;
        let mut history = Vec::with_capacity(prompt_tokens.len() + max_tokens);
        history.extend_from_slice(prompt_tokens);
        let mut text = TextStream::new(&params.stop);
        let mut completion_tokens = 0usize;
        let mut finish_reason = FinishReason::Length;
        let mut stopped_by_string = false;
        let mut json = (params.response_format == ResponseFormat::JsonObject)
            .then(|| (self.json_mask(), JsonState::new()));
        while completion_tokens < max_tokens {
            if cancel.is_cancelled() {
                return Err(cancelled(completion_tokens));
            }
            let scores = if params.repeat_penalty == 1.0 || params.repeat_last_n == 0 {
                logits.clone()
            } else {
                let recent = &history[history.len().saturating_sub(params.repeat_last_n)..];
                candle_transformers::utils::apply_repeat_penalty(
                    &logits,
                    params.repeat_penalty,
                    recent,
                )?
            };
            let next = match &json {
                None => sampler.sample(&scores)?,
                Some((mask, state)) => {
                    let mut values = scores.to_dtype(candle_core::DType::F32)?.to_vec1::<f32>()?;
                    if mask.apply(state, &mut values) == 0 {
                        return Err(Error::Tokenizer(
                            "JSON mode: no token of the vocabulary continues the object".into(),
                        ));
                    }
                    let len = values.len();
                    sampler.sample(&Tensor::from_vec(values, len, scores.device())?)?
                }
            };
            if let Some((_, state)) = &mut json
                && !tokenizer.is_end_of_turn(next)
            {
                // The mask allowed only tokens that continue the object.
                state.feed(tokenizer.token_bytes(next));
            }
            completion_tokens += 1;
            history.push(next);
            if tokenizer.is_end_of_turn(next) {
                finish_reason = FinishReason::Stop;
                break;
            }
            if !tokenizer.is_control(next)
                && text.push(tokenizer.token_bytes(next), &mut on_text) == Flow::Stop
            {
                finish_reason = FinishReason::Stop;
                stopped_by_string = true;
                break;
            }
            if completion_tokens == max_tokens || cache.len() + 1 >= context_length {
                break;
            }
            logits = self.inner.model.forward(&[next], &mut cache)?;
        }
        let text = if stopped_by_string {
            text.finish_stopped()
        } else {
            text.finish(&mut on_text)
        };
        let decode_ms = decode_started.elapsed().as_secs_f64() * 1e3;
        let fed = cache.len();
        self.remember(Prefix {
            tokens: history[..fed].to_vec(),
            cache,
            logits,
        });
        Ok(Completion {
            text,
            prompt_tokens: prompt_tokens.len() as u32,
            completion_tokens: completion_tokens as u32,
            finish_reason,
            prompt_ms,
            decode_ms,
        })
    }

    /// The cache and next-token logits after `tokens`, starting from the longest
    /// kept prefix they share. Reused positions are bit-identical; the rest may
    /// differ from a from-scratch pass in the last float bits (another matmul
    /// split), which can flip a near-tie in sampling.
    fn prefill(&self, tokens: &[u32]) -> Result<(KvCache, Tensor)> {
        let mut cache = match self.longest_prefix(tokens)? {
            Some((cache, Some(logits))) => return Ok((cache, logits)),
            Some((cache, None)) => cache,
            None => self.inner.model.new_cache(),
        };
        let logits = self
            .inner
            .model
            .forward(&tokens[cache.len()..], &mut cache)?;
        self.remember(Prefix {
            tokens: tokens.to_vec(),
            cache: cache.clone(),
            logits: logits.clone(),
        });
        Ok((cache, logits))
    }

    /// A kept cache covering the longest common prefix with `tokens`; with the
    /// logits when it covers all of `tokens`.
    #[allow(clippy::type_complexity)]
    fn longest_prefix(&self, tokens: &[u32]) -> Result<Option<(KvCache, Option<Tensor>)>> {
        if self.inner.options.prefix_cache_entries == 0 {
            return Ok(None);
        }
        let mut prefixes = self
            .inner
            .prefixes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let best = prefixes
            .iter()
            .enumerate()
            .map(|(idx, prefix)| {
                let shared = prefix
                    .tokens
                    .iter()
                    .zip(tokens)
                    .take_while(|(a, b)| a == b)
                    .count();
                (idx, shared)
            })
            .max_by_key(|&(_, shared)| shared);
        let Some((idx, shared)) = best.filter(|&(_, shared)| shared > 0) else {
            return Ok(None);
        };
        // Most recently used last, so eviction drops the stalest.
        let prefix = prefixes.remove(idx);
        let found = if shared == tokens.len() && prefix.tokens.len() == tokens.len() {
            (prefix.cache.clone(), Some(prefix.logits.clone()))
        } else {
            // At least one token must run to get logits.
            let mut cache = prefix.cache.clone();
            cache.truncate(shared.min(tokens.len() - 1))?;
            (cache, None)
        };
        prefixes.push(prefix);
        Ok(Some(found))
    }

    fn remember(&self, prefix: Prefix) {
        let capacity = self.inner.options.prefix_cache_entries;
        if capacity == 0 || prefix.tokens.is_empty() {
            return;
        }
        let mut prefixes = self
            .inner
            .prefixes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        prefixes.retain(|kept| kept.tokens != prefix.tokens);
        prefixes.push(prefix);
        if prefixes.len() > capacity {
            let excess = prefixes.len() - capacity;
            prefixes.drain(..excess);
        }
    }
}

/// candle's sampling mode for these parameters: greedy at temperature 0.
fn sampling(params: &GenerationParams) -> Sampling {
    let temperature = params.temperature;
    if temperature <= 0.0 || !temperature.is_finite() {
        return Sampling::ArgMax;
    }
    match (params.top_k, params.top_p) {
        (Some(k), Some(p)) => Sampling::TopKThenTopP { k, p, temperature },
        (Some(k), None) => Sampling::TopK { k, temperature },
        (None, Some(p)) => Sampling::TopP { p, temperature },
        (None, None) => Sampling::All { temperature },
    }
}

fn find_gguf(path: &Path) -> Result<PathBuf> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    let not_found = |hint: String| Error::ModelNotFound {
        name: path.display().to_string(),
        hint,
    };
    let entries = std::fs::read_dir(path).map_err(|error| {
        not_found(format!(
            "not a .gguf file or a readable directory ({error})"
        ))
    })?;
    let mut ggufs: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|candidate| candidate.extension().is_some_and(|ext| ext == "gguf"))
        .collect();
    ggufs.sort();
    ggufs
        .into_iter()
        .next()
        .ok_or_else(|| not_found("the directory holds no .gguf file".into()))
}

fn model_id(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    match stem.rsplit_once('.') {
        Some((name, tag))
            if ["Q", "q", "F", "f", "IQ", "iq", "BF", "bf"]
                .iter()
                .any(|prefix| tag.starts_with(prefix)) =>
        {
            name.to_string()
        }
        _ => stem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_id_drops_the_quantization_tag_only() {
        let check = |file: &str, expected: &str| assert_eq!(model_id(Path::new(file)), expected);
        check("m/SmolLM2-135M-Instruct.Q4_1.gguf", "SmolLM2-135M-Instruct");
        check("Qwen2.5-0.5B-Instruct.Q4_K_M.gguf", "Qwen2.5-0.5B-Instruct");
        check(
            "qwen2.5-0.5b-instruct-q4_k_m.gguf",
            "qwen2.5-0.5b-instruct-q4_k_m",
        );
    }

    #[test]
    fn temperature_zero_is_greedy_whatever_the_other_knobs() {
        let params = GenerationParams {
            temperature: 0.0,
            top_k: Some(5),
            top_p: Some(0.9),
            ..GenerationParams::default()
        };
        assert_eq!(sampling(&params), Sampling::ArgMax);
        let params = GenerationParams {
            temperature: 0.7,
            ..params
        };
        assert_eq!(
            sampling(&params),
            Sampling::TopKThenTopP {
                k: 5,
                p: 0.9,
                temperature: 0.7
            }
        );
    }
}
