//! Large language models behind one closed enum: [`Llm::Local`] runs a GGUF model
//! in-process on candle, [`Llm::OpenAiCompatible`] talks to vLLM, llama.cpp
//! server, Ollama, a hosted API, or another Steward.
//!
//! This module depends on the OpenAI wire types ([`crate::openai`]), never the
//! other way round: the conversions live in `openai_wire.rs`.

pub mod chat_template;
pub mod gguf_tokenizer;
pub mod json_constraint;
pub mod local;
pub mod openai_compatible;
mod openai_wire;
mod text_stream;
pub mod transformer;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use serde::{Deserialize, Serialize};

use crate::Result;

/// Cancels a call: [`Llm::chat_with`] stops generating at its next token once
/// the token is cancelled (a local model checks it per token, a remote stream
/// is dropped).
pub use tokio_util::sync::CancellationToken;

/// Who says a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

/// Sampling settings. `temperature == 0` is greedy decoding; with the same
/// `seed` the same prompt gives the same completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationParams {
    pub max_tokens: u32,
    pub temperature: f64,
    pub top_p: Option<f64>,
    pub top_k: Option<usize>,
    /// 1.0 disables the penalty.
    pub repeat_penalty: f32,
    /// How many recent tokens the repeat penalty looks at.
    pub repeat_last_n: usize,
    pub seed: u64,
    /// Generation stops before any of these strings.
    pub stop: Vec<String>,
    /// Free text, or a JSON object (constrained decoding for a local model).
    #[serde(default)]
    pub response_format: ResponseFormat,
}

/// The shape the completion must have.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    #[default]
    Text,
    /// One JSON object, valid by construction: a local model may only pick
    /// tokens that keep the text a prefix of a JSON object
    /// ([`json_constraint`]), and ends its turn only once the object is closed.
    /// Cut short by `max_tokens` it is unfinished (finish reason `length`).
    JsonObject,
}

impl Default for GenerationParams {
    fn default() -> GenerationParams {
        GenerationParams {
            max_tokens: 256,
            temperature: 0.0,
            top_p: None,
            top_k: None,
            repeat_penalty: 1.1,
            repeat_last_n: 64,
            seed: 299_792_458,
            stop: Vec::new(),
            response_format: ResponseFormat::Text,
        }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// End-of-turn token or a stop string.
    Stop,
    /// `max_tokens` reached.
    Length,
}

/// A finished completion with its token counts and timings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    pub text: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub finish_reason: FinishReason,
    /// Time to process the prompt (to the first token), milliseconds.
    pub prompt_ms: f64,
    /// Time spent decoding after the first token, milliseconds.
    pub decode_ms: f64,
}

/// A chat completion request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub messages: Vec<ChatMessage>,
    pub params: GenerationParams,
}

/// The LLM providers Steward knows.
#[derive(Debug, Clone)]
pub enum Llm {
    Local(local::LocalLlm),
    OpenAiCompatible(openai_compatible::OpenAiClient),
}

impl Llm {
    /// The model id written to the audit log.
    pub fn model_id(&self) -> &str {
        match self {
            Llm::Local(llm) => llm.model_id(),
            Llm::OpenAiCompatible(client) => client.model_id(),
        }
    }

    /// Runs a chat completion. Each decoded piece of text is sent to `tokens` as
    /// soon as it is known (dropped receivers are fine); the full completion is
    /// returned at the end. Local generation runs on a blocking thread, never on
    /// the async runtime; dropping the returned future stops it at the next token.
    pub async fn chat(
        &self,
        request: &ChatRequest,
        tokens: Option<tokio::sync::mpsc::UnboundedSender<String>>,
    ) -> Result<Completion> {
        self.chat_with(request, tokens, &CancellationToken::new())
            .await
    }

    /// [`Llm::chat`] that also stops when `cancel` is cancelled: within one
    /// token for a local model (the blocking thread checks it before each
    /// forward pass), at once for a remote one (the connection is dropped).
    /// A call stopped so ends with [`crate::Error::CallCancelled`], holding the
    /// tokens spent so far.
    pub async fn chat_with(
        &self,
        request: &ChatRequest,
        tokens: Option<tokio::sync::mpsc::UnboundedSender<String>>,
        cancel: &CancellationToken,
    ) -> Result<Completion> {
        match self {
            Llm::Local(llm) => {
                let llm = llm.clone();
                let request = request.clone();
                // Dropping this future (a caller that stops waiting) cancels too:
                // the blocking thread must not run on for nobody.
                let cancel = cancel.child_token();
                let _stop_on_drop = cancel.clone().drop_guard();
                let task = tokio::task::spawn_blocking(move || {
                    llm.generate_with(&request, &cancel, |piece| {
                        if let Some(sender) = &tokens {
                            // A dropped receiver (client gone) is not an error.
                            let _ = sender.send(piece.to_string());
                        }
                    })
                });
                match task.await {
                    Ok(completion) => completion,
                    Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                    Err(error) => Err(crate::Error::Io {
                        context: "local generation task".into(),
                        source: std::io::Error::other(error),
                    }),
                }
            }
            Llm::OpenAiCompatible(client) => client.chat_with(request, tokens, cancel).await,
        }
    }
}

/// A fresh random number, from the standard library's per-process hash keys
/// and the clock: the seed of a sampled request that names none, and retry
/// jitter, without a thread-local RNG dependency.
pub(crate) fn fresh_seed() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos())
            .unwrap_or_default(),
    );
    hasher.finish()
}
