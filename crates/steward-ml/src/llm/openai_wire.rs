//! Steward's chat types to and from OpenAI's wire format: the validation of
//! an incoming request (limits, roles, Steward's sampling defaults), the wire
//! form of an outgoing one, and the answer and stream bodies of a completion.
//! Used by the server's OpenAI-compatible API and by the OpenAI-compatible
//! client alike, so both sides read the wire the same way.

use crate::openai::{
    ChatChoice, ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse, ChunkChoice,
    Delta, MessageContent, ResponseMessage, Stop, StreamOptions, Usage, WireMessage,
    WireResponseFormat,
};
use crate::{Error, Result};

use super::{
    ChatMessage, ChatRequest, Completion, FinishReason, GenerationParams, ResponseFormat, Role,
};

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
            None if params.temperature > 0.0 => super::fresh_seed(),
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
        params.response_format = match &self.response_format {
            None => ResponseFormat::Text,
            Some(format) => match format.kind.as_str() {
                "text" => ResponseFormat::Text,
                "json_object" => ResponseFormat::JsonObject,
                "json_schema" => {
                    return invalid(
                        "`response_format` type `json_schema` is not supported; use `json_object`"
                            .into(),
                    );
                }
                other => {
                    return invalid(format!(
                        "`response_format` type `{other}` is unknown; expected `text` or `json_object`"
                    ));
                }
            },
        };
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
            response_format: match params.response_format {
                ResponseFormat::Text => None,
                ResponseFormat::JsonObject => Some(WireResponseFormat {
                    kind: "json_object".into(),
                    json_schema: None,
                }),
            },
        }
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

impl Usage {
    pub fn of(completion: &Completion) -> Usage {
        Usage {
            prompt_tokens: completion.prompt_tokens,
            completion_tokens: completion.completion_tokens,
            total_tokens: completion.prompt_tokens + completion.completion_tokens,
        }
    }
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

impl ChatCompletionChunk {
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
}

pub(crate) fn finish_reason_name(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
    }
}

/// `length` is the only reason that says "cut short"; `tool_calls` and
/// `content_filter` both end a turn, like `stop`.
pub(crate) fn parse_finish_reason(reason: &str) -> FinishReason {
    if reason == "length" {
        FinishReason::Length
    } else {
        FinishReason::Stop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        check_request(
            &format!(r#"{{{user},"response_format":{{"type":"json_schema","json_schema":{{}}}}}}"#),
            Err("`json_schema` is not supported"),
        );
        check_request(
            &format!(r#"{{{user},"response_format":{{"type":"yaml"}}}}"#),
            Err("`yaml` is unknown"),
        );
        let json: ChatCompletionRequest = serde_json::from_str(&format!(
            r#"{{{user},"response_format":{{"type":"json_object"}}}}"#
        ))
        .expect("valid JSON");
        assert_eq!(
            json.to_chat_request()
                .expect("valid")
                .params
                .response_format,
            ResponseFormat::JsonObject
        );
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
                response_format: ResponseFormat::JsonObject,
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
        assert_eq!(chat.params.response_format, ResponseFormat::JsonObject);
    }
}
