//! OpenAI-compatible endpoints served from Steward's own models: chat
//! completions (JSON or SSE), embeddings and the model list, so that any
//! OpenAI client library can use a Steward instance.
//!
//! Every chat call goes through the audit [`Gateway`](steward_ml::audit::Gateway)
//! under feature [`FEATURE`], as the caller's key: quotas apply to its role and
//! each call leaves an audit row with its role and key id. The gateway's
//! concurrency limit answers 503 `overloaded` with `Retry-After` when every
//! slot and the wait queue are taken.
//!
//! A chat call is tied to its client: the call runs in its own task (so that it
//! can finish and write its audit row), but holds a cancellation token that
//! the handler (plain answers) or the response stream (streamed ones) cancels
//! when dropped. A client that disconnects so stops its generation within a
//! token, frees its slot, and leaves a `cancelled` audit row.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use steward_auth::Caller;
use steward_ml::audit::CallContext;
use steward_ml::audit::Gateway;
use steward_ml::embed::{Embedder, Purpose};
use steward_ml::llm::{CancellationToken, Completion};
use steward_ml::openai::{
    ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse, EmbeddingEncoding,
    EmbeddingsRequest, EmbeddingsResponse, ModelList, Usage,
};
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::AppState;
use crate::error::{ApiError, OpenAiError};

/// The audit log's feature name for calls through this API.
pub const FEATURE: &str = "openai_api";

/// Most texts in one embeddings request (OpenAI's own limit).
pub const MAX_EMBEDDING_INPUTS: usize = 2048;

/// Answers a chat completion: one JSON body, or an SSE stream when the
/// request says `stream: true`.
///
/// The quota and the audit row are those of `caller`'s key: its role and id,
/// never anything the client claims in a header.
pub async fn chat(
    state: &AppState,
    caller: &Caller,
    request: ChatCompletionRequest,
) -> Result<Response, OpenAiError> {
    // The guard lets only key holders with `use_llm` this far.
    let principal = caller
        .principal()
        .ok_or_else(|| ApiError::internal(&"a chat call reached the model without a key"))?;
    let gateway = state
        .llm
        .clone()
        .ok_or_else(|| ApiError::model_unavailable("no chat model is loaded on this server"))?;
    if !serves(&gateway, &request.model) {
        return Err(ApiError::model_not_found("model", &request.model).into());
    }
    let chat_request = request.to_chat_request()?;
    let context = CallContext {
        feature: FEATURE.to_string(),
        role: principal.role.as_str().to_string(),
        key_id: Some(principal.key_id.clone()),
        object_ids: Vec::new(),
    };
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let created = chrono::Utc::now().timestamp();
    let model = gateway.llm.model_id().to_string();
    // The call runs in its own task, so that when the client goes away it
    // still ends properly and writes its audit row; `stop` cancels it when
    // dropped: with this handler's future (a plain answer, or a stream not
    // yet started), or with the response stream.
    let cancel = CancellationToken::new();
    let stop = cancel.clone().drop_guard();
    if !request.stream {
        let call = tokio::spawn(async move {
            gateway
                .chat_with(&context, &chat_request, None, &cancel)
                .await
        });
        let completion = finish(call).await?;
        drop(stop);
        return Ok(Json(ChatCompletionResponse::new(
            &id,
            created,
            &model,
            &completion,
        ))
        .into_response());
    }
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let call = tokio::spawn(async move {
        gateway
            .chat_with(&context, &chat_request, Some(sender), &cancel)
            .await
    });
    // Wait for the first piece before answering, so that a refusal (quota, busy,
    // bad prompt) is still an HTTP error status rather than an event in a 200 stream.
    let first = receiver.recv().await;
    if first.is_none() {
        // The call ended without a piece: refused, failed, or an empty answer.
        let completion = finish(call).await?;
        let mut events = vec![chunk_event(&ChatCompletionChunk::role(
            &id, created, &model,
        ))];
        events.extend(closing_events(
            &id,
            created,
            &model,
            &completion,
            request.wants_stream_usage(),
        ));
        return Ok(sse(futures::stream::iter(events)).into_response());
    }
    let head = [chunk_event(&ChatCompletionChunk::role(
        &id, created, &model,
    ))]
    .into_iter()
    .chain(
        first.map(|piece| chunk_event(&ChatCompletionChunk::piece(&id, created, &model, &piece))),
    );
    let pieces = {
        let (id, model) = (id.clone(), model.clone());
        UnboundedReceiverStream::new(receiver).map(move |piece| {
            chunk_event(&ChatCompletionChunk::piece(&id, created, &model, &piece))
        })
    };
    let include_usage = request.wants_stream_usage();
    let tail = futures::stream::once(async move {
        match finish(call).await {
            Ok(completion) => closing_events(&id, created, &model, &completion, include_usage),
            Err(error) => vec![json_event(&OpenAiError(error).body())],
        }
    })
    .flat_map(futures::stream::iter);
    let events = futures::stream::iter(head).chain(pieces).chain(tail);
    // The stream owns `stop`: when the server drops it (the client went away,
    // or it ended) the call is cancelled, which is a no-op once it is done.
    let events = events.map(move |event| {
        let _owned = &stop;
        event
    });
    Ok(sse(events).into_response())
}

/// Whether `gateway` serves the model a request names: no name means the
/// loaded model; a remote model answers to its own name too.
fn serves(gateway: &Gateway, name: &str) -> bool {
    let id = gateway.llm.model_id();
    name.is_empty() || name == id || id.strip_prefix("openai:") == Some(name)
}

/// The outcome of the spawned chat call.
async fn finish(
    call: tokio::task::JoinHandle<steward_ml::Result<Completion>>,
) -> Result<Completion, ApiError> {
    match call.await {
        Ok(result) => result.map_err(ApiError::from),
        Err(error) => Err(ApiError::internal(&error)),
    }
}

/// The finish chunk, the usage chunk when asked for, and `[DONE]`.
fn closing_events(
    id: &str,
    created: i64,
    model: &str,
    completion: &Completion,
    include_usage: bool,
) -> Vec<Event> {
    let mut events = vec![chunk_event(&ChatCompletionChunk::finish(
        id,
        created,
        model,
        completion.finish_reason,
    ))];
    if include_usage {
        events.push(chunk_event(&ChatCompletionChunk::usage(
            id,
            created,
            model,
            Usage::of(completion),
        )));
    }
    events.push(Event::default().data("[DONE]"));
    events
}

fn chunk_event(chunk: &ChatCompletionChunk) -> Event {
    json_event(chunk)
}

fn json_event(value: &impl serde::Serialize) -> Event {
    match serde_json::to_string(value) {
        Ok(json) => Event::default().data(json),
        // Plain structs of strings and numbers always serialize.
        Err(error) => Event::default().data(format!(
            r#"{{"error":{{"message":"cannot encode a chunk: {error}","type":"server_error","code":"internal"}}}}"#
        )),
    }
}

fn sse(
    events: impl futures::Stream<Item = Event> + Send + 'static,
) -> Sse<impl futures::Stream<Item = Result<Event, Infallible>> + Send + 'static> {
    Sse::new(events.map(Ok)).keep_alive(KeepAlive::default())
}

/// Embeds the input texts with the loaded embedder, as floats or base64
/// (`encoding_format`); a request naming another model is 404 `model_not_found`.
pub async fn embeddings(
    state: &AppState,
    request: EmbeddingsRequest,
) -> Result<EmbeddingsResponse, ApiError> {
    let embedder = state.embedder.clone().ok_or_else(|| {
        ApiError::model_unavailable("no embedding model is loaded on this server")
    })?;
    let Some(encoding) = EmbeddingEncoding::parse(request.encoding_format.as_deref()) else {
        return Err(ApiError::invalid_parameter(
            "encoding_format",
            format!(
                "encoding_format `{}` is not supported; use `float` or `base64`",
                request.encoding_format.as_deref().unwrap_or_default()
            ),
        ));
    };
    if !request.model.is_empty() && request.model != embedder.model_id() {
        return Err(ApiError::model_not_found("model", &request.model));
    }
    let texts: Vec<String> = request
        .input
        .texts()
        .into_iter()
        .map(str::to_string)
        .collect();
    if texts.is_empty() || texts.len() > MAX_EMBEDDING_INPUTS {
        return Err(ApiError::invalid_parameter(
            "input",
            format!(
                "`input` must hold 1 to {MAX_EMBEDDING_INPUTS} texts, got {}",
                texts.len()
            ),
        ));
    }
    let model = embedder.model_id().to_string();
    let (vectors, prompt_tokens) = tokio::task::spawn_blocking(move || embed(&embedder, &texts))
        .await
        .map_err(|error| ApiError::internal(&error))??;
    Ok(EmbeddingsResponse::new(
        &model,
        vectors,
        prompt_tokens,
        encoding,
    ))
}

/// CPU work, run on a blocking thread: the vectors and the input's token count.
fn embed(embedder: &Arc<Embedder>, texts: &[String]) -> steward_ml::Result<(Vec<Vec<f32>>, u32)> {
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vectors = embedder.embed(&refs, Purpose::Passage)?;
    let tokens = match embedder.as_ref() {
        Embedder::Bert(bert) => bert.token_counts(&refs)?.iter().sum::<usize>(),
        // LSA has no tokenizer of its own: count words.
        Embedder::Lsa(_) => refs
            .iter()
            .map(|text| text.split_whitespace().count())
            .sum(),
    };
    Ok((vectors, u32::try_from(tokens).unwrap_or(u32::MAX)))
}

/// The loaded models.
pub fn models(state: &AppState) -> ModelList {
    let ids = state
        .llm
        .iter()
        .map(|gateway| gateway.llm.model_id().to_string())
        .chain(
            state
                .embedder
                .iter()
                .map(|embedder| embedder.model_id().to_string()),
        );
    ModelList::new(ids, "steward")
}
