//! OpenAI's wire format: the request, response, stream-chunk, embeddings,
//! model-list and error bodies, as plain serde structs shared by Steward's
//! server and its OpenAI-compatible client.
//!
//! These types are OpenAI's contract, kept apart from Steward's own
//! [`ChatRequest`](crate::llm::ChatRequest) and
//! [`Completion`](crate::llm::Completion) so the wire format does not move when
//! the internal types do. They depend on nothing else in this crate; the
//! conversions live with the chat types (`llm/openai_wire.rs`).

pub(crate) mod sse;

use serde::{Deserialize, Serialize};

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
    /// `{"type": "text"}`, `{"type": "json_object"}` or `{"type":
    /// "json_schema", "json_schema": {...}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<WireResponseFormat>,
}

/// `response_format` as sent: the type, and the schema of `json_schema`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireResponseFormat {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_schema: Option<serde_json::Value>,
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

impl ChatCompletionRequest {
    /// Whether a streamed answer should end with a usage chunk.
    pub fn wants_stream_usage(&self) -> bool {
        self.stream_options
            .is_some_and(|options| options.include_usage)
    }
}

/// Token counts of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
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
    pub(crate) fn with_choice(id: &str, created: i64, model: &str, choice: ChunkChoice) -> Self {
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

// ----------------------------------------------------------------------------
// Embeddings, models, errors
// ----------------------------------------------------------------------------

/// `POST /embeddings` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingsRequest {
    #[serde(default)]
    pub model: String,
    pub input: EmbeddingInput,
    /// `float` (the default) or `base64`.
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

/// How the vectors of an answer are written (`encoding_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmbeddingEncoding {
    /// A JSON array of numbers.
    #[default]
    Float,
    /// The little-endian `f32` bytes, base64: what OpenAI's Python client asks
    /// for by default (a quarter of the size, no float parsing).
    Base64,
}

impl EmbeddingEncoding {
    /// The encoding an `encoding_format` names; `None` (absent) is `float`.
    pub fn parse(name: Option<&str>) -> Option<EmbeddingEncoding> {
        match name {
            None | Some("float") => Some(EmbeddingEncoding::Float),
            Some("base64") => Some(EmbeddingEncoding::Base64),
            Some(_) => None,
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
    pub embedding: EmbeddingVector,
}

/// One vector as a JSON array, or base64 of its little-endian `f32` bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingVector {
    Float(Vec<f32>),
    Base64(String),
}

impl EmbeddingVector {
    pub fn encode(vector: Vec<f32>, encoding: EmbeddingEncoding) -> EmbeddingVector {
        use base64::Engine;
        match encoding {
            EmbeddingEncoding::Float => EmbeddingVector::Float(vector),
            EmbeddingEncoding::Base64 => {
                let bytes: Vec<u8> = vector
                    .iter()
                    .flat_map(|value| value.to_le_bytes())
                    .collect();
                EmbeddingVector::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
        }
    }

    /// The numbers, whichever way they were written; an error says what is
    /// wrong with a base64 string.
    pub fn into_floats(self) -> std::result::Result<Vec<f32>, String> {
        use base64::Engine;
        match self {
            EmbeddingVector::Float(vector) => Ok(vector),
            EmbeddingVector::Base64(text) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .map_err(|error| format!("invalid base64 embedding: {error}"))?;
                if bytes.len() % 4 != 0 {
                    return Err(format!(
                        "a base64 embedding of {} bytes is not a whole number of f32 values",
                        bytes.len()
                    ));
                }
                Ok(bytes
                    .chunks_exact(4)
                    .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
                    .collect())
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddingUsage {
    pub prompt_tokens: u32,
    pub total_tokens: u32,
}

impl EmbeddingsResponse {
    pub fn new(
        model: &str,
        vectors: Vec<Vec<f32>>,
        prompt_tokens: u32,
        encoding: EmbeddingEncoding,
    ) -> Self {
        EmbeddingsResponse {
            object: "list".into(),
            data: vectors
                .into_iter()
                .enumerate()
                .map(|(index, embedding)| EmbeddingObject {
                    object: "embedding".into(),
                    index: index as u32,
                    embedding: EmbeddingVector::encode(embedding, encoding),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_embeddings_are_little_endian_f32_and_read_back() {
        let vector = vec![1.0f32, -0.5, 0.0, f32::MIN_POSITIVE];
        let encoded = EmbeddingVector::encode(vector.clone(), EmbeddingEncoding::Base64);
        // 1.0f32 is 00 00 80 3f little-endian.
        match &encoded {
            EmbeddingVector::Base64(text) => assert!(text.starts_with("AACAPwAAAL8"), "{text}"),
            other => panic!("{other:?}"),
        }
        let json = serde_json::to_string(&encoded).expect("serializes");
        let back: EmbeddingVector = serde_json::from_str(&json).expect("parses");
        assert_eq!(back.into_floats().expect("decodes"), vector);
        let floats: EmbeddingVector = serde_json::from_str("[0.25, 1]").expect("parses");
        assert_eq!(floats.into_floats().expect("floats"), [0.25, 1.0]);
        let odd = EmbeddingVector::Base64("AAAAAAA=".into()).into_floats();
        assert!(odd.expect_err("5 bytes").contains("5 bytes"));
        assert_eq!(
            EmbeddingEncoding::parse(None),
            Some(EmbeddingEncoding::Float)
        );
        assert_eq!(
            EmbeddingEncoding::parse(Some("base64")),
            Some(EmbeddingEncoding::Base64)
        );
        assert_eq!(EmbeddingEncoding::parse(Some("int8")), None);
    }
}
