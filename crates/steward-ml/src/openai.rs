//! OpenAI-compatible wire types (chat completions, SSE chunks, embeddings,
//! models, errors), shared by Steward's server and its client, and the HTTP
//! client that speaks them to vLLM, llama.cpp server, Ollama, a hosted API or
//! another Steward.
//!
//! The wire types are explicit serde structs, apart from the domain's
//! [`ChatRequest`] and [`Completion`]: the wire format is OpenAI's contract and
//! must not change when Steward's internal types do.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::llm::{ChatMessage, ChatRequest, Completion, FinishReason, GenerationParams, Role};
use crate::{Error, Result};

// ----------------------------------------------------------------------------
// Chat completions
// ----------------------------------------------------------------------------

/// `POST /chat/completions` body. Fields Steward does not use (tools,
/// penalties, logit bias) are ignored rather than rejected, as OpenAI-compatible
/// servers commonly do, so that stock clients work unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionRequest {
    #[serde(default)]
    pub model: String,
    pub messages: Vec<WireMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// OpenAI's newer name for `max_tokens`; used when `max_tokens` is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// OpenAI allows negative seeds; they map bijectively onto `u64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// Number of choices; Steward generates exactly one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
}

/// One chat message as clients send it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireMessage {
    /// `system`, `developer`, `user` or `assistant`.
    pub role: String,
    /// `null` for assistant tool calls, which Steward does not support.
    #[serde(default)]
    pub content: Option<MessageContent>,
}

/// Message content: a plain string, or an array of typed parts (only `text`
/// parts are understood).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// `stop`: one string or several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamOptions {
    /// Ask for a last chunk that carries the token usage.
    #[serde(default)]
    pub include_usage: bool,
}

/// Largest `max_tokens` OpenAI itself accepts for common models; beyond it a
/// request is more likely a mistake than a plan.
const MAX_COMPLETION_TOKENS: u32 = 32_768;

impl ChatCompletionRequest {
    /// The request in Steward's terms, validated. Omitted sampling settings take
    /// Steward's defaults ([`GenerationParams::default`]: greedy decoding), not
    /// OpenAI's `temperature = 1`, so that a bare request is reproducible; an
    /// omitted seed with `temperature > 0` draws a fresh one, as OpenAI does.
    pub fn to_chat_request(&self) -> Result<ChatRequest> {
        let invalid = |message: String| Err(Error::InvalidRequest(message));
        if self.messages.is_empty() {
            return invalid("`messages` must hold at least one message".into());
        }
        if let Some(n) = self.n
            && n != 1
        {
            return invalid(format!(
                "`n` = {n}: only one choice per request is supported"
            ));
        }
        let mut messages = Vec::with_capacity(self.messages.len());
        for (index, message) in self.messages.iter().enumerate() {
            messages.push(message.to_chat_message().map_err(|error| match error {
                Error::InvalidRequest(message) => {
                    Error::InvalidRequest(format!("`messages[{index}]`: {message}"))
                }
                other => other,
            })?);
        }
        let mut params = GenerationParams::default();
        if let Some(max_tokens) = self.max_tokens.or(self.max_completion_tokens) {
            if !(1..=MAX_COMPLETION_TOKENS).contains(&max_tokens) {
                return invalid(format!(
                    "`max_tokens` = {max_tokens}: must be between 1 and {MAX_COMPLETION_TOKENS}"
                ));
            }
            params.max_tokens = max_tokens;
        }
        if let Some(temperature) = self.temperature {
            if !(0.0..=2.0).contains(&temperature) {
                return invalid(format!(
                    "`temperature` = {temperature}: must be between 0 and 2"
                ));
            }
            params.temperature = temperature;
        }
        if let Some(top_p) = self.top_p {
            if !(top_p > 0.0 && top_p <= 1.0) {
                return invalid(format!("`top_p` = {top_p}: must be in (0, 1]"));
            }
            // top_p = 1 keeps every token: the same as no nucleus filter.
            params.top_p = (top_p < 1.0).then_some(top_p);
        }
        params.seed = match self.seed {
            Some(seed) => seed as u64,
            None if params.temperature > 0.0 => random_u64(),
            None => params.seed,
        };
        params.stop = match &self.stop {
            None => Vec::new(),
            Some(Stop::One(stop)) => vec![stop.clone()],
            Some(Stop::Many(stops)) => stops.clone(),
        };
        params.stop.retain(|stop| !stop.is_empty());
        if params.stop.len() > 4 {
            return invalid("`stop` holds more than 4 sequences".into());
        }
        Ok(ChatRequest { messages, params })
    }

    /// The wire form of `request` for `model`; the inverse of
    /// [`ChatCompletionRequest::to_chat_request`] for the fields Steward sets.
    pub fn from_chat_request(model: &str, request: &ChatRequest, stream: bool) -> Self {
        let params = &request.params;
        ChatCompletionRequest {
            model: model.to_string(),
            messages: request
                .messages
                .iter()
                .map(|message| WireMessage {
                    role: role_name(message.role).to_string(),
                    content: Some(MessageContent::Text(message.content.clone())),
                })
                .collect(),
            max_tokens: Some(params.max_tokens),
            max_completion_tokens: None,
            temperature: Some(params.temperature),
            top_p: params.top_p,
            seed: Some(params.seed as i64),
            stop: (!params.stop.is_empty()).then(|| Stop::Many(params.stop.clone())),
            n: None,
            stream,
            stream_options: stream.then_some(StreamOptions {
                include_usage: true,
            }),
        }
    }

    /// Whether a streamed answer should end with a usage chunk.
    pub fn wants_stream_usage(&self) -> bool {
        self.stream_options
            .is_some_and(|options| options.include_usage)
    }
}

impl WireMessage {
    fn to_chat_message(&self) -> Result<ChatMessage> {
        let role = match self.role.as_str() {
            // `developer` is OpenAI's newer name for the system prompt.
            "system" | "developer" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            other => {
                return Err(Error::InvalidRequest(format!(
                    "unsupported role `{other}`; expected system, developer, user or assistant"
                )));
            }
        };
        let content = match &self.content {
            None => String::new(),
            Some(MessageContent::Text(text)) => text.clone(),
            Some(MessageContent::Parts(parts)) => {
                let mut text = String::new();
                for part in parts {
                    match (part.kind.as_str(), &part.text) {
                        ("text", Some(piece)) => text.push_str(piece),
                        (kind, _) => {
                            return Err(Error::InvalidRequest(format!(
                                "unsupported content part `{kind}`; only text parts are supported"
                            )));
                        }
                    }
                }
                text
            }
        };
        Ok(ChatMessage { role, content })
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

/// Token counts of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
}

impl Usage {
    pub fn of(completion: &Completion) -> Usage {
        Usage {
            prompt_tokens: completion.prompt_tokens,
            completion_tokens: completion.completion_tokens,
            total_tokens: completion.prompt_tokens + completion.completion_tokens,
        }
    }
}

/// `POST /chat/completions` answer when not streaming.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionResponse {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub object: String,
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub model: String,
    pub choices: Vec<ChatChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatChoice {
    #[serde(default)]
    pub index: u32,
    pub message: ResponseMessage,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseMessage {
    pub role: String,
    #[serde(default)]
    pub content: Option<String>,
}

impl ChatCompletionResponse {
    pub fn new(id: &str, created: i64, model: &str, completion: &Completion) -> Self {
        ChatCompletionResponse {
            id: id.to_string(),
            object: "chat.completion".into(),
            created,
            model: model.to_string(),
            choices: vec![ChatChoice {
                index: 0,
                message: ResponseMessage {
                    role: "assistant".into(),
                    content: Some(completion.text.clone()),
                },
                finish_reason: Some(finish_reason_name(completion.finish_reason).into()),
            }],
            usage: Some(Usage::of(completion)),
        }
    }
}

/// One `data:` event of a streamed chat completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionChunk {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub object: String,
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub model: String,
    /// Empty in the final usage chunk.
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    #[serde(default)]
    pub index: u32,
    #[serde(default)]
    pub delta: Delta,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

impl ChatCompletionChunk {
    fn with_choice(id: &str, created: i64, model: &str, choice: ChunkChoice) -> Self {
        ChatCompletionChunk {
            id: id.to_string(),
            object: "chat.completion.chunk".into(),
            created,
            model: model.to_string(),
            choices: vec![choice],
            usage: None,
        }
    }

    /// The first chunk: announces the assistant role, as OpenAI does.
    pub fn role(id: &str, created: i64, model: &str) -> Self {
        let delta = Delta {
            role: Some("assistant".into()),
            content: Some(String::new()),
        };
        Self::with_choice(
            id,
            created,
            model,
            ChunkChoice {
                index: 0,
                delta,
                finish_reason: None,
            },
        )
    }

    /// A piece of generated text.
    pub fn piece(id: &str, created: i64, model: &str, text: &str) -> Self {
        let delta = Delta {
            role: None,
            content: Some(text.to_string()),
        };
        Self::with_choice(
            id,
            created,
            model,
            ChunkChoice {
                index: 0,
                delta,
                finish_reason: None,
            },
        )
    }

    /// The last content chunk: an empty delta with the finish reason.
    pub fn finish(id: &str, created: i64, model: &str, reason: FinishReason) -> Self {
        Self::with_choice(
            id,
            created,
            model,
            ChunkChoice {
                index: 0,
                delta: Delta::default(),
                finish_reason: Some(finish_reason_name(reason).into()),
            },
        )
    }

    /// The usage chunk sent when `stream_options.include_usage` is set.
    pub fn usage(id: &str, created: i64, model: &str, usage: Usage) -> Self {
        ChatCompletionChunk {
            id: id.to_string(),
            object: "chat.completion.chunk".into(),
            created,
            model: model.to_string(),
            choices: Vec::new(),
            usage: Some(usage),
        }
    }
}

pub fn finish_reason_name(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
    }
}

/// `length` is the only reason that says "cut short"; `tool_calls` and
/// `content_filter` both end a turn, like `stop`.
fn parse_finish_reason(reason: &str) -> FinishReason {
    if reason == "length" {
        FinishReason::Length
    } else {
        FinishReason::Stop
    }
}

// ----------------------------------------------------------------------------
// Embeddings, models, errors
// ----------------------------------------------------------------------------

/// `POST /embeddings` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingsRequest {
    #[serde(default)]
    pub model: String,
    pub input: EmbeddingInput,
    /// Only `float` is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<String>,
}

/// One text or several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    One(String),
    Many(Vec<String>),
}

impl EmbeddingInput {
    pub fn texts(&self) -> Vec<&str> {
        match self {
            EmbeddingInput::One(text) => vec![text.as_str()],
            EmbeddingInput::Many(texts) => texts.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingsResponse {
    #[serde(default)]
    pub object: String,
    pub data: Vec<EmbeddingObject>,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub usage: Option<EmbeddingUsage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingObject {
    #[serde(default)]
    pub object: String,
    pub index: u32,
    pub embedding: Vec<f32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddingUsage {
    pub prompt_tokens: u32,
    pub total_tokens: u32,
}

impl EmbeddingsResponse {
    pub fn new(model: &str, vectors: Vec<Vec<f32>>, prompt_tokens: u32) -> Self {
        EmbeddingsResponse {
            object: "list".into(),
            data: vectors
                .into_iter()
                .enumerate()
                .map(|(index, embedding)| EmbeddingObject {
                    object: "embedding".into(),
                    index: index as u32,
                    embedding,
                })
                .collect(),
            model: model.to_string(),
            usage: Some(EmbeddingUsage {
                prompt_tokens,
                total_tokens: prompt_tokens,
            }),
        }
    }
}

/// `GET /models` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelList {
    pub object: String,
    pub data: Vec<ModelObject>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelObject {
    pub id: String,
    pub object: String,
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub owned_by: String,
}

impl ModelList {
    pub fn new(ids: impl IntoIterator<Item = String>, owned_by: &str) -> Self {
        ModelList {
            object: "list".into(),
            data: ids
                .into_iter()
                .map(|id| ModelObject {
                    id,
                    object: "model".into(),
                    created: 0,
                    owned_by: owned_by.to_string(),
                })
                .collect(),
        }
    }
}

/// OpenAI's error body: `{"error": {"message", "type", "param", "code"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub error: ErrorObject,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    pub message: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub param: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
}

// ----------------------------------------------------------------------------
// Client
// ----------------------------------------------------------------------------

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
        let url = format!("{}/chat/completions", self.base_url);
        let body = ChatCompletionRequest::from_chat_request(&self.model, request, tokens.is_some());
        let started = Instant::now();
        match tokens {
            Some(tokens) => {
                let response = self.post(&url, &body, None).await?;
                read_stream(&url, response, request, &tokens, started).await
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
        let in_order = data
            .iter()
            .enumerate()
            .all(|(position, item)| item.index as usize == position);
        if data.len() != texts.len() || !in_order {
            return Err(Error::Remote {
                url,
                message: format!(
                    "asked for {} embeddings, got {} (indices not 0..n)",
                    texts.len(),
                    data.len()
                ),
            });
        }
        Ok(data.into_iter().map(|item| item.embedding).collect())
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
    let jitter_fraction = (random_u64() % 1000) as f64 / 1000.0;
    exponential + exponential.mul_f64(jitter_fraction)
}

/// A random number from the standard library's per-process hash keys: enough
/// for jitter and seeds without a thread-local RNG dependency.
fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos())
            .unwrap_or_default(),
    );
    hasher.finish()
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

/// What one SSE `data:` payload of a chat stream can be.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StreamPayload {
    /// Tried first: a chunk with every field defaulted would match any object.
    Error(ErrorResponse),
    Chunk(ChatCompletionChunk),
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
    ) -> Result<()> {
        if payload.trim() == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let chunk = match serde_json::from_str::<StreamPayload>(payload) {
            Ok(StreamPayload::Chunk(chunk)) => chunk,
            Ok(StreamPayload::Error(error)) => {
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
            state.handle(url, &payload, tokens)?;
        }
    }
    if !state.done {
        for payload in parser.finish() {
            state.handle(url, &payload, tokens)?;
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

/// Incremental server-sent-events reader: bytes in, `data` payloads out.
///
/// Follows the SSE spec (lines end in `\n`, `\r\n` or `\r`; an event ends at a
/// blank line; several `data:` lines join with `\n`; `:` lines are comments)
/// and forgives servers that omit the blank line between events: a `data:` line
/// that arrives while a complete JSON value or `[DONE]` is pending dispatches
/// the pending one first.
#[derive(Debug, Default)]
struct SseParser {
    line: Vec<u8>,
    data: Option<String>,
    /// The last byte was `\r`: a following `\n` belongs to the same line end.
    after_cr: bool,
}

impl SseParser {
    fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut payloads = Vec::new();
        for &byte in bytes {
            match byte {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    self.line(&String::from_utf8_lossy(&line), &mut payloads);
                }
                _ => {
                    self.after_cr = false;
                    self.line.push(byte);
                }
            }
        }
        payloads
    }

    /// Whatever is pending when the connection closes.
    fn finish(mut self) -> Vec<String> {
        let mut payloads = Vec::new();
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line(&String::from_utf8_lossy(&line), &mut payloads);
        }
        payloads.extend(self.data.take());
        payloads
    }

    fn line(&mut self, line: &str, payloads: &mut Vec<String>) {
        if line.is_empty() {
            payloads.extend(self.data.take());
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        if field != "data" {
            // Comments (`: keep-alive`), `event:`, `id:`, `retry:`.
            return;
        }
        match self.data.take() {
            Some(pending) if is_complete_payload(&pending) => {
                payloads.push(pending);
                self.data = Some(value.to_string());
            }
            Some(mut pending) => {
                pending.push('\n');
                pending.push_str(value);
                self.data = Some(pending);
            }
            None => self.data = Some(value.to_string()),
        }
    }
}

fn is_complete_payload(payload: &str) -> bool {
    payload.trim() == "[DONE]" || serde_json::from_str::<serde::de::IgnoredAny>(payload).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `stream` fed in pieces of every size from 1 byte to all of it:
    /// a server may split its writes anywhere, even inside a UTF-8 character.
    fn check_sse(stream: &str, expected: &[&str]) {
        for piece_len in 1..=stream.len() {
            let mut parser = SseParser::default();
            let mut payloads = Vec::new();
            for piece in stream.as_bytes().chunks(piece_len) {
                payloads.extend(parser.push(piece));
            }
            payloads.extend(parser.finish());
            assert_eq!(payloads, expected, "{stream:?} in pieces of {piece_len}");
        }
    }

    #[test]
    fn sse_payloads_come_out_whole_however_the_bytes_are_split() {
        check_sse(
            "data: {\"a\":1}\n\ndata: [DONE]\n\n",
            &["{\"a\":1}", "[DONE]"],
        );
        check_sse(
            "data:{\"a\":1}\r\n\r\ndata:[DONE]\r\n\r\n",
            &["{\"a\":1}", "[DONE]"],
        );
        check_sse(
            "data: {\"a\":1}\r\rdata: [DONE]\r\r",
            &["{\"a\":1}", "[DONE]"],
        );
        check_sse(
            ": keep-alive\n\nevent: message\nid: 7\ndata: {\"é\":\"ü\"}\n\n",
            &["{\"é\":\"ü\"}"],
        );
        // Multi-line data joins with a newline.
        check_sse("data: {\"a\":\ndata: 1}\n\n", &["{\"a\":\n1}"]);
        // No blank lines between events, and no final newline.
        check_sse(
            "data: {\"a\":1}\ndata: {\"b\":2}\ndata: [DONE]",
            &["{\"a\":1}", "{\"b\":2}", "[DONE]"],
        );
        check_sse("", &[]);
    }

    fn check_request(json: &str, expected: std::result::Result<(u32, f64, Vec<&str>), &str>) {
        let request: ChatCompletionRequest = serde_json::from_str(json).expect("valid JSON");
        match (request.to_chat_request(), expected) {
            (Ok(chat), Ok((max_tokens, temperature, stop))) => {
                assert_eq!(chat.params.max_tokens, max_tokens, "{json}");
                assert_eq!(chat.params.temperature, temperature, "{json}");
                assert_eq!(chat.params.stop, stop, "{json}");
            }
            (Err(error), Err(fragment)) => {
                assert!(error.to_string().contains(fragment), "{json}: {error}")
            }
            (got, expected) => panic!("{json}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn chat_requests_are_validated_and_take_steward_defaults() {
        let default_max = GenerationParams::default().max_tokens;
        let user = r#""messages":[{"role":"user","content":"hi"}]"#;
        check_request(&format!("{{{user}}}"), Ok((default_max, 0.0, vec![])));
        check_request(
            &format!(r#"{{{user},"max_tokens":5,"temperature":0.7,"stop":"\n"}}"#),
            Ok((5, 0.7, vec!["\n"])),
        );
        check_request(
            &format!(r#"{{{user},"max_completion_tokens":9,"stop":["a","b"]}}"#),
            Ok((9, 0.0, vec!["a", "b"])),
        );
        check_request(
            r#"{"messages":[{"role":"developer","content":[{"type":"text","text":"be brief"}]},{"role":"user","content":"hi"}]}"#,
            Ok((default_max, 0.0, vec![])),
        );
        check_request(r#"{"messages":[]}"#, Err("at least one message"));
        check_request(
            r#"{"messages":[{"role":"user","content":"a"},{"role":"tool","content":"x"}]}"#,
            Err("`messages[1]`: unsupported role `tool`"),
        );
        check_request(
            &format!(r#"{{{user},"max_tokens":0}}"#),
            Err("`max_tokens` = 0"),
        );
        check_request(
            &format!(r#"{{{user},"temperature":3}}"#),
            Err("`temperature` = 3"),
        );
        check_request(&format!(r#"{{{user},"top_p":0}}"#), Err("`top_p` = 0"));
        check_request(&format!(r#"{{{user},"n":2}}"#), Err("`n` = 2"));
    }

    #[test]
    fn a_chat_request_survives_the_wire() {
        let request = ChatRequest {
            messages: vec![ChatMessage {
                role: Role::System,
                content: "be brief".into(),
            }],
            params: GenerationParams {
                max_tokens: 7,
                temperature: 0.5,
                top_p: Some(0.9),
                seed: u64::MAX,
                stop: vec!["\n\n".into()],
                ..GenerationParams::default()
            },
        };
        let wire = ChatCompletionRequest::from_chat_request("m", &request, true);
        let json = serde_json::to_string(&wire).expect("serializable");
        let back: ChatCompletionRequest = serde_json::from_str(&json).expect("round trip");
        assert!(back.stream && back.wants_stream_usage());
        let chat = back.to_chat_request().expect("valid");
        assert_eq!(chat.messages, request.messages);
        assert_eq!(chat.params.max_tokens, 7);
        assert_eq!(chat.params.top_p, Some(0.9));
        assert_eq!(chat.params.seed, u64::MAX);
        assert_eq!(chat.params.stop, request.params.stop);
    }

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
