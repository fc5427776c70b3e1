//! `POST /api/v1/ask`: a question in, a cited answer (or a refusal) out, as
//! one JSON object or, with `"stream": true` or `Accept: text/event-stream`,
//! as server-sent events: `passages` first, `draft` pieces of the model's
//! raw text as they come (unverified), the final `answer`, then `done`.
//!
//! The ask runs in its own task, so that it ends properly and writes its
//! answer-log and audit rows, but holds a cancellation token that the
//! handler (JSON) or the response stream (SSE) cancels when dropped: a
//! client that leaves stops the generation, as in `openai_api.rs`.

use std::convert::Infallible;

use axum::Json;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use steward_auth::Caller;
use steward_ml::llm::CancellationToken;
use steward_search::answer::{Answerer, AskEvent, AskRequest, AskResponse, Asker};
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::AppState;
use crate::error::ApiError;

/// Longest question, in characters.
pub const MAX_QUESTION_CHARS: usize = 2_000;
/// Most tags one ask may filter on.
pub const MAX_TAGS: usize = 10;

/// The request body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskBody {
    pub question: Option<String>,
    /// Answer as server-sent events.
    #[serde(default)]
    pub stream: bool,
    /// Only threads with every one of these tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// `false`: answer extractively without the model.
    #[serde(default)]
    pub use_llm: Option<bool>,
}

impl AskBody {
    /// The ask this body asks for; a bad field is a 400 naming it.
    pub fn to_request(&self) -> Result<AskRequest, ApiError> {
        let question = self.question.as_deref().map(str::trim).unwrap_or_default();
        if question.is_empty() {
            return Err(ApiError::invalid_parameter(
                "question",
                "`question` is required: the question to answer, as text",
            ));
        }
        let length = question.chars().count();
        if length > MAX_QUESTION_CHARS {
            return Err(ApiError::invalid_parameter(
                "question",
                format!(
                    "`question` has {length} characters; at most {MAX_QUESTION_CHARS} are \
                     accepted: shorten it to the question itself"
                ),
            ));
        }
        if self.tags.len() > MAX_TAGS {
            return Err(ApiError::invalid_parameter(
                "tags",
                format!("`tags` holds {} tags; at most {MAX_TAGS}", self.tags.len()),
            ));
        }
        let tags: Vec<String> = self
            .tags
            .iter()
            .map(|tag| tag.trim().to_lowercase())
            .collect();
        if tags.iter().any(String::is_empty) {
            return Err(ApiError::invalid_parameter(
                "tags",
                "`tags` holds an empty tag; give tag names such as \"git\"",
            ));
        }
        Ok(AskRequest {
            question: question.to_string(),
            tags,
            use_llm: self.use_llm.unwrap_or(true),
        })
    }
}

/// Whether the client asks for an event stream in its `Accept` header.
pub fn wants_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.contains("text/event-stream"))
}

/// Answers `body` for `caller`: JSON, or SSE when asked for.
pub async fn ask(
    state: &AppState,
    caller: &Caller,
    body: AskBody,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let request = body.to_request()?;
    let stream = body.stream || wants_event_stream(headers);
    // The guard lets only key holders with `use_llm` this far.
    let principal = caller
        .principal()
        .ok_or_else(|| ApiError::internal(&"an ask reached the answerer without a key"))?;
    let Some(searcher) = state.searcher.clone() else {
        return Err(ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "search_unavailable",
            "answering needs the search indices, which are not set up on this server; its log \
             says why (run `steward index build`)",
        ));
    };
    let answerer = Answerer::new(
        searcher,
        state.llm.as_deref().cloned(),
        state.ask_options.clone(),
    );
    let asker = Asker {
        role: principal.role.as_str().to_string(),
        key_id: Some(principal.key_id.clone()),
    };
    let cancel = CancellationToken::new();
    // Cancels the ask when dropped: with this handler's future (a JSON
    // answer), or with the response stream.
    let stop = cancel.clone().drop_guard();
    if !stream {
        let task = tokio::spawn(async move { answerer.ask(&request, &asker, None, &cancel).await });
        let response = finish(task).await?;
        drop(stop);
        return Ok(Json(response).into_response());
    }
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let task =
        tokio::spawn(async move { answerer.ask(&request, &asker, Some(sender), &cancel).await });
    // Wait for the passages before answering, so that a failed retrieval is
    // still an HTTP error status rather than an event in a 200 stream.
    let first = receiver.recv().await;
    if first.is_none() {
        let response = finish(task).await?;
        let events = vec![answer_event(&response), done_event(&response.id)];
        return Ok(sse(futures::stream::iter(events)).into_response());
    }
    let head = futures::stream::iter(first.map(|event| ask_event(&event)));
    let rest = UnboundedReceiverStream::new(receiver).map(|event| ask_event(&event));
    let tail = futures::stream::once(async move {
        match finish(task).await {
            Ok(response) => vec![answer_event(&response), done_event(&response.id)],
            Err(error) => vec![error_event(&error)],
        }
    })
    .flat_map(futures::stream::iter);
    let events = head.chain(rest).chain(tail).map(move |event| {
        // The stream owns `stop`: a client that leaves cancels the ask.
        let _owned = &stop;
        event
    });
    Ok(sse(events).into_response())
}

/// The outcome of the spawned ask, as an API error when it failed.
async fn finish(
    task: tokio::task::JoinHandle<steward_search::Result<AskResponse>>,
) -> Result<AskResponse, ApiError> {
    match task.await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(error)) => Err(api_error(error)),
        Err(error) => Err(ApiError::internal(&error)),
    }
}

fn api_error(error: steward_search::Error) -> ApiError {
    match error {
        steward_search::Error::Store(error) => ApiError::from(error),
        steward_search::Error::Ml(error) => ApiError::from(error),
        steward_search::Error::EmptyQuery => {
            ApiError::invalid_parameter("question", error.to_string())
        }
        other => ApiError::internal(&other),
    }
}

fn ask_event(event: &AskEvent) -> Event {
    match event {
        AskEvent::Passages(passages) => {
            json_event("passages", &serde_json::json!({ "passages": passages }))
        }
        AskEvent::Draft(text) => json_event(
            "draft",
            &serde_json::json!({ "text": text, "unverified": true }),
        ),
    }
}

fn answer_event(response: &AskResponse) -> Event {
    json_event("answer", response)
}

fn done_event(id: &str) -> Event {
    json_event("done", &serde_json::json!({ "id": id }))
}

fn error_event(error: &ApiError) -> Event {
    json_event(
        "error",
        &serde_json::json!({ "error": { "code": error.code, "message": error.message } }),
    )
}

fn json_event(name: &'static str, value: &impl serde::Serialize) -> Event {
    let data = serde_json::to_string(value).unwrap_or_else(|error| {
        format!(r#"{{"error":{{"code":"internal","message":"cannot encode an event: {error}"}}}}"#)
    });
    Event::default().event(name).data(data)
}

fn sse(
    events: impl futures::Stream<Item = Event> + Send + 'static,
) -> Sse<impl futures::Stream<Item = Result<Event, Infallible>> + Send + 'static> {
    Sse::new(events.map(Ok)).keep_alive(KeepAlive::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: serde_json::Value, field: Option<&str>) {
        let parsed: AskBody = serde_json::from_value(body.clone()).expect("a body");
        match (parsed.to_request(), field) {
            (Ok(_), None) => {}
            (Err(error), Some(field)) => {
                assert_eq!(error.details.parameter.as_deref(), Some(field), "{body}");
                assert_eq!(error.status, axum::http::StatusCode::BAD_REQUEST);
            }
            (outcome, _) => panic!("{body}: {outcome:?}"),
        }
    }

    #[test]
    fn bad_fields_are_named() {
        check(
            serde_json::json!({"question": "How do I undo a commit?"}),
            None,
        );
        check(serde_json::json!({}), Some("question"));
        check(serde_json::json!({"question": "   "}), Some("question"));
        check(
            serde_json::json!({"question": "x".repeat(MAX_QUESTION_CHARS + 1)}),
            Some("question"),
        );
        check(
            serde_json::json!({"question": "q", "tags": ["git", " "]}),
            Some("tags"),
        );
        check(
            serde_json::json!({"question": "q", "tags": vec!["t"; MAX_TAGS + 1]}),
            Some("tags"),
        );
    }
}
