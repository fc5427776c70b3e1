//! The client of an OpenAI-compatible inference server (vLLM, llama.cpp
//! server, Ollama, a hosted API or another Steward): chat completions, JSON or
//! streamed, embeddings and the model list, with retries and backoff.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::openai::sse::{SseParser, StreamEvent};
use crate::openai::{
    ChatCompletionRequest, ChatCompletionResponse, EmbeddingInput, EmbeddingsRequest,
    EmbeddingsResponse, ErrorResponse, ModelList, Usage,
};
use crate::{Error, Result};

use super::openai_wire::parse_finish_reason;
use super::{CancellationToken, ChatRequest, Completion, FinishReason};

/// Where and how to reach an OpenAI-compatible server (a `[llm.openai]` table
/// in the config file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OpenAiConfig {
    /// Up to and including the version, e.g. `http://127.0.0.1:8080/v1`.
    pub base_url: String,
    /// Chat model name as the server knows it.
    pub model: String,
    /// Embedding model name; the chat model when absent.
    pub embedding_model: Option<String>,
    /// Name of the environment variable holding the API key: secrets stay out
    /// of config files. No key is sent when the variable is unset or empty.
    pub api_key_env: Option<String>,
    /// Connect and read timeout; for non-streamed calls also the whole call's.
    pub timeout_secs: u64,
    /// Retries after a connect error, a 429 or a 5xx; other 4xx never retry.
    pub max_retries: u32,
}

impl Default for OpenAiConfig {
    fn default() -> OpenAiConfig {
        OpenAiConfig {
            base_url: "http://127.0.0.1:8080/v1".into(),
            model: "default".into(),
            embedding_model: None,
            api_key_env: Some("STEWARD_LLM_API_KEY".into()),
            timeout_secs: 120,
            max_retries: 3,
        }
    }
}

/// A client of one OpenAI-compatible server and model; cheap to clone.
#[derive(Clone)]
pub struct OpenAiClient {
    http: reqwest::Client,
    base_url: String,
    model: String,
    embedding_model: String,
    model_id: String,
    api_key: Option<String>,
    timeout: Duration,
    max_retries: u32,
}

/// Hand-written so that the API key never reaches a log.
impl std::fmt::Debug for OpenAiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiClient")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("embedding_model", &self.embedding_model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

/// First retry delay; doubles with each further attempt.
const BACKOFF_BASE: Duration = Duration::from_millis(250);
/// Longest wait between two attempts, `Retry-After` included.
const BACKOFF_CAP: Duration = Duration::from_secs(20);

impl OpenAiClient {
    pub fn new(config: &OpenAiConfig) -> Result<OpenAiClient> {
        let api_key = config
            .api_key_env
            .as_deref()
            .and_then(|name| std::env::var(name).ok())
            .filter(|key| !key.trim().is_empty());
        let timeout = Duration::from_secs(config.timeout_secs.max(1));
        let base_url = config.base_url.trim_end_matches('/').to_string();
        let http = crate::http::client_builder()
            .connect_timeout(timeout)
            .read_timeout(timeout)
            .build()
            .map_err(|error| Error::Remote {
                url: base_url.clone(),
                message: format!("cannot build the HTTP client: {error}"),
            })?;
        Ok(OpenAiClient {
            http,
            model_id: format!("openai:{}", config.model),
            embedding_model: config
                .embedding_model
                .clone()
                .unwrap_or_else(|| config.model.clone()),
            model: config.model.clone(),
            base_url,
            api_key,
            timeout,
            max_retries: config.max_retries,
        })
    }

    /// `openai:<model>`, as the audit log records it.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// Runs a chat completion. With `tokens`, the answer is streamed (SSE) and
    /// each piece of text is sent on as it arrives; without, one JSON answer.
    /// Token counts come from the server's usage report; a server that sends
    /// none gets them estimated (one streamed piece per token, four characters
    /// per prompt token) so that quotas still see the call.
    pub async fn chat(
        &self,
        request: &ChatRequest,
        tokens: Option<tokio::sync::mpsc::UnboundedSender<String>>,
    ) -> Result<Completion> {
        self.chat_with(request, tokens, &CancellationToken::new())
            .await
    }

    /// [`OpenAiClient::chat`] that gives up when `cancel` is cancelled: the
    /// connection is dropped, which a streaming server sees as the client
    /// leaving. The remote server's usage is unknown then; the pieces received
    /// so far are counted as tokens.
    pub async fn chat_with(
        &self,
        request: &ChatRequest,
        tokens: Option<tokio::sync::mpsc::UnboundedSender<String>>,
        cancel: &CancellationToken,
    ) -> Result<Completion> {
        let pieces = std::sync::atomic::AtomicU32::new(0);
        let counted = tokens.map(|sender| (sender, &pieces));
        tokio::select! {
            result = self.chat_uncancelled(request, counted) => result,
            () = cancel.cancelled() => Err(Error::CallCancelled {
                prompt_tokens: estimate_prompt_tokens(request),
                completion_tokens: pieces.load(std::sync::atomic::Ordering::Relaxed),
            }),
        }
    }

    async fn chat_uncancelled(
        &self,
        request: &ChatRequest,
        tokens: Option<(
            tokio::sync::mpsc::UnboundedSender<String>,
            &std::sync::atomic::AtomicU32,
        )>,
    ) -> Result<Completion> {
        let url = format!("{}/chat/completions", self.base_url);
        let body = ChatCompletionRequest::from_chat_request(&self.model, request, tokens.is_some());
        let started = Instant::now();
        match tokens {
            Some((tokens, pieces)) => {
                let response = self.post(&url, &body, None).await?;
                read_stream(&url, response, request, &tokens, pieces, started).await
            }
            None => {
                let response = self.post(&url, &body, Some(self.timeout)).await?;
                let answer: ChatCompletionResponse = response
                    .json()
                    .await
                    .map_err(|error| remote(&url, &error))?;
                let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
                let choice = answer
                    .choices
                    .into_iter()
                    .next()
                    .ok_or_else(|| Error::Remote {
                        url: url.clone(),
                        message: "the answer holds no choices".into(),
                    })?;
                let text = choice.message.content.unwrap_or_default();
                let (prompt_tokens, completion_tokens) = match answer.usage {
                    Some(usage) => (usage.prompt_tokens, usage.completion_tokens),
                    None => (estimate_prompt_tokens(request), estimate_tokens(&text)),
                };
                Ok(Completion {
                    text,
                    prompt_tokens,
                    completion_tokens,
                    finish_reason: parse_finish_reason(
                        choice.finish_reason.as_deref().unwrap_or("stop"),
                    ),
                    prompt_ms: elapsed_ms,
                    decode_ms: 0.0,
                })
            }
        }
    }

    /// Embeds `texts` with the configured embedding model, in input order.
    pub async fn embeddings(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let url = format!("{}/embeddings", self.base_url);
        let body = EmbeddingsRequest {
            model: self.embedding_model.clone(),
            input: EmbeddingInput::Many(texts.iter().map(|text| text.to_string()).collect()),
            encoding_format: Some("float".into()),
        };
        let response = self.post(&url, &body, Some(self.timeout)).await?;
        let answer: EmbeddingsResponse = response
            .json()
            .await
            .map_err(|error| remote(&url, &error))?;
        let mut data = answer.data;
        data.sort_by_key(|item| item.index);
        let count = data.len();
        let in_order = data
            .iter()
            .enumerate()
            .all(|(position, item)| item.index as usize == position);
        if count != texts.len() || !in_order {
            return Err(Error::Remote {
                url,
                message: format!(
                    "asked for {} embeddings, got {count} (indices not 0..n)",
                    texts.len(),
                ),
            });
        }
        // Asked for floats, but a server may answer base64 all the same.
        data.into_iter()
            .map(|item| {
                item.embedding
                    .into_floats()
                    .map_err(|message| Error::Remote {
                        url: url.clone(),
                        message,
                    })
            })
            .collect()
    }

    /// The models the server offers.
    pub async fn models(&self) -> Result<ModelList> {
        let url = format!("{}/models", self.base_url);
        let response = self
            .send(&url, || self.http.get(&url).timeout(self.timeout))
            .await?;
        response.json().await.map_err(|error| remote(&url, &error))
    }

    async fn post(
        &self,
        url: &str,
        body: &impl Serialize,
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response> {
        self.send(url, || {
            let builder = self.http.post(url).json(body);
            match timeout {
                Some(timeout) => builder.timeout(timeout),
                None => builder,
            }
        })
        .await
    }

    /// Sends the request `build` makes, retrying with exponential backoff and
    /// jitter while the failure may be passing (no connection, 429, 5xx). A 4xx
    /// other than 429 means the request itself is wrong: retrying cannot help.
    async fn send(
        &self,
        url: &str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut attempt = 0;
        loop {
            let mut builder = build().header("x-request-id", &request_id);
            if let Some(key) = &self.api_key {
                builder = builder.bearer_auth(key);
            }
            let (error, retry_after) = match builder.send().await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => {
                    let status = response.status();
                    let retry_after = retry_after(&response);
                    let message = error_message(response).await;
                    let error = Error::RemoteStatus {
                        url: url.to_string(),
                        status: status.as_u16(),
                        message,
                    };
                    let retryable = status == reqwest::StatusCode::TOO_MANY_REQUESTS
                        || status.is_server_error();
                    if !retryable {
                        return Err(error);
                    }
                    (error, retry_after)
                }
                Err(error) if error.is_connect() => (remote(url, &error), None),
                Err(error) => return Err(remote(url, &error)),
            };
            if attempt >= self.max_retries {
                return Err(error);
            }
            let delay = retry_after
                .unwrap_or_else(|| backoff(attempt))
                .min(BACKOFF_CAP);
            tracing::warn!(%url, attempt, ?delay, %error, "retrying the inference server");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}

/// `base * 2^attempt`, capped, plus up to as much again of random jitter so
/// that many clients refused at once do not all come back at once.
fn backoff(attempt: u32) -> Duration {
    let exponential = BACKOFF_BASE
        .saturating_mul(1 << attempt.min(16))
        .min(BACKOFF_CAP);
    let jitter_fraction = (super::fresh_seed() % 1000) as f64 / 1000.0;
    exponential + exponential.mul_f64(jitter_fraction)
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?;
    let seconds: f64 = value.to_str().ok()?.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

/// The message of an error answer: OpenAI's `error.message` when the body has
/// that shape, else the start of the body.
async fn error_message(response: reqwest::Response) -> String {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if let Ok(error) = serde_json::from_str::<ErrorResponse>(&body) {
        return error.error.message;
    }
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return status.to_string();
    }
    trimmed.chars().take(500).collect()
}

fn remote(url: &str, error: &reqwest::Error) -> Error {
    // reqwest's Display omits the cause ("error sending request"); the chain
    // says what actually happened (connection refused, timed out).
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    Error::Remote {
        url: url.to_string(),
        message,
    }
}

/// About four characters per token for English BPE vocabularies: only used
/// when a server reports no usage.
fn estimate_tokens(text: &str) -> u32 {
    (text.chars().count() as u32).div_ceil(4)
}

fn estimate_prompt_tokens(request: &ChatRequest) -> u32 {
    request
        .messages
        .iter()
        .map(|message| estimate_tokens(&message.content) + 4)
        .sum()
}

/// What a chat stream has said so far.
#[derive(Debug, Default)]
struct StreamState {
    text: String,
    pieces: u32,
    first_piece_at: Option<Instant>,
    finish_reason: Option<FinishReason>,
    usage: Option<Usage>,
    done: bool,
}

impl StreamState {
    fn handle(
        &mut self,
        url: &str,
        payload: &str,
        tokens: &tokio::sync::mpsc::UnboundedSender<String>,
        pieces: &std::sync::atomic::AtomicU32,
    ) -> Result<()> {
        let chunk = match StreamEvent::parse(payload) {
            Ok(StreamEvent::Done) => {
                self.done = true;
                return Ok(());
            }
            Ok(StreamEvent::Chunk(chunk)) => chunk,
            Ok(StreamEvent::Error(error)) => {
                return Err(Error::Remote {
                    url: url.to_string(),
                    message: error.error.message,
                });
            }
            Err(error) => {
                return Err(Error::Remote {
                    url: url.to_string(),
                    message: format!("unreadable stream event ({error}): {payload:.200}"),
                });
            }
        };
        if let Some(usage) = chunk.usage {
            self.usage = Some(usage);
        }
        for choice in chunk.choices.into_iter().filter(|choice| choice.index == 0) {
            if let Some(piece) = choice.delta.content.filter(|piece| !piece.is_empty()) {
                self.first_piece_at.get_or_insert_with(Instant::now);
                self.pieces += 1;
                pieces.store(self.pieces, std::sync::atomic::Ordering::Relaxed);
                self.text.push_str(&piece);
                // A dropped receiver only means nobody watches the stream.
                let _ = tokens.send(piece);
            }
            if let Some(reason) = choice.finish_reason {
                self.finish_reason = Some(parse_finish_reason(&reason));
            }
        }
        Ok(())
    }
}

async fn read_stream(
    url: &str,
    response: reqwest::Response,
    request: &ChatRequest,
    tokens: &tokio::sync::mpsc::UnboundedSender<String>,
    pieces: &std::sync::atomic::AtomicU32,
    started: Instant,
) -> Result<Completion> {
    let mut parser = SseParser::default();
    let mut bytes = response.bytes_stream();
    let mut state = StreamState::default();
    while !state.done
        && let Some(next) = bytes.next().await
    {
        let next = next.map_err(|error| remote(url, &error))?;
        for payload in parser.push(&next) {
            state.handle(url, &payload, tokens, pieces)?;
        }
    }
    if !state.done {
        for payload in parser.finish() {
            state.handle(url, &payload, tokens, pieces)?;
        }
    }
    let finish_reason = match state.finish_reason {
        Some(reason) => reason,
        // Servers differ in whether they send `[DONE]`; a finish reason or the
        // marker both say the answer is whole. Neither means it was cut off.
        None if state.done => FinishReason::Stop,
        None => {
            return Err(Error::Remote {
                url: url.to_string(),
                message: "the stream ended before the completion finished".into(),
            });
        }
    };
    let first_piece_at = state.first_piece_at.unwrap_or_else(Instant::now);
    let (prompt_tokens, completion_tokens) = match state.usage {
        Some(usage) => (usage.prompt_tokens, usage.completion_tokens),
        None => (estimate_prompt_tokens(request), state.pieces),
    };
    Ok(Completion {
        text: state.text,
        prompt_tokens,
        completion_tokens,
        finish_reason,
        prompt_ms: first_piece_at.duration_since(started).as_secs_f64() * 1000.0,
        decode_ms: first_piece_at.elapsed().as_secs_f64() * 1000.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_under_the_cap() {
        for attempt in 0..40 {
            let delay = backoff(attempt);
            let floor = BACKOFF_BASE
                .saturating_mul(1 << attempt.min(16))
                .min(BACKOFF_CAP);
            assert!(delay >= floor && delay <= floor * 2, "{attempt}: {delay:?}");
        }
    }
}
