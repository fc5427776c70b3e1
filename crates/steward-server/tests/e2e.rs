//! End to end over a real socket: a Steward server on port 0 with the real
//! SmolLM2-135M-Instruct and all-MiniLM-L6-v2 models, and Steward's own
//! OpenAI-compatible client (`Llm::OpenAiCompatible`) talking to it: streamed
//! and plain chat, JSON mode, embeddings (float and base64), unknown models,
//! quotas with their audit rows, the concurrency limit, a client that
//! disconnects, graceful shutdown.
//!
//! The models come from `STEWARD_MODEL_DIR` (default `../shared/models` next to
//! the repository). Without them the tests say so and pass, except on CI
//! (`CI=true`), where they must run.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use steward_auth::{Authenticator, create_key};
use steward_domain::LlmOutcome;
use steward_ml::audit::{Gateway, Limits, Quota, QuotaScope};
use steward_ml::embed::Embedder;
use steward_ml::embed::bert::{BertEmbedder, BertOptions};
use steward_ml::llm::local::{LocalLlm, LocalOptions};
use steward_ml::llm::openai_compatible::{OpenAiClient, OpenAiConfig};
use steward_ml::llm::{
    ChatMessage, ChatRequest, Completion, FinishReason, GenerationParams, Llm, ResponseFormat, Role,
};
use steward_server::{AppState, ServerConfig};
use steward_store::{ApiKeyRecord, Store};
use steward_testkit::{TestDb, fixtures, shared_model_dir};

const CHAT_MODEL: &str = "SmolLM2-135M-Instruct";
const EMBED_MODEL: &str = "all-MiniLM-L6-v2";

struct Models {
    llm: LocalLlm,
    embedder: Arc<Embedder>,
}

/// Both models, loaded once per test binary; `None` (reason printed) when absent.
fn models() -> Option<&'static Models> {
    static MODELS: OnceLock<Option<Models>> = OnceLock::new();
    MODELS
        .get_or_init(|| {
            limit_threads();
            let chat_dir = shared_model_dir(CHAT_MODEL)?;
            let embed_dir = shared_model_dir(EMBED_MODEL)?;
            let llm = LocalLlm::load(&chat_dir, &LocalOptions::default()).expect("SmolLM2 loads");
            let options = BertOptions::from_model_dir(&embed_dir).expect("MiniLM options");
            let bert = BertEmbedder::load(&embed_dir, options).expect("MiniLM loads");
            Some(Models {
                llm,
                embedder: Arc::new(Embedder::Bert(Box::new(bert))),
            })
        })
        .as_ref()
}

/// candle's thread pool spin-waits; with tests running in parallel more than
/// one thread each makes them crawl. Set before the pool exists (first model load).
#[allow(unsafe_code)]
fn limit_threads() {
    for var in ["CANDLE_NUM_THREADS", "RAYON_NUM_THREADS"] {
        if std::env::var_os(var).is_none() {
            // SAFETY: runs once inside the OnceLock initialiser, before any candle
            // or rayon thread exists; the other model tests wait on the OnceLock.
            unsafe { std::env::set_var(var, "1") };
        }
    }
}

/// Where the clients of these tests find their API key: Steward's own
/// OpenAI client reads its key from an environment variable.
const KEY_ENV: &str = "STEWARD_E2E_TEST_API_KEY";

/// One service key, made once and stored in every test's store, its value
/// in [`KEY_ENV`].
fn service_key() -> &'static (String, ApiKeyRecord) {
    static KEY: OnceLock<(String, ApiKeyRecord)> = OnceLock::new();
    KEY.get_or_init(|| {
        let made = std::thread::spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let store = Store::open(":memory:").await.expect("store opens");
                create_key(
                    &store,
                    &common::secret(),
                    "e2e",
                    steward_auth::Role::Service,
                    &[],
                    None,
                )
                .await
                .expect("key made")
            })
        })
        .join()
        .expect("key thread");
        set_key_env(&made.0);
        made
    })
}

#[allow(unsafe_code)]
fn set_key_env(key: &str) {
    // SAFETY: runs once inside the OnceLock initialiser, before any client of
    // these tests reads the variable; nothing else reads it.
    unsafe { std::env::set_var(KEY_ENV, key) };
}

/// A server running on a free port, with its store.
struct Running {
    address: SocketAddr,
    store: Store,
    gateway: Arc<Gateway>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<steward_server::Result<()>>,
    _db: TestDb,
}

async fn start(models: &Models, quotas: Vec<Quota>) -> Running {
    start_with(models, quotas, Limits::default()).await
}

async fn start_with(models: &Models, quotas: Vec<Quota>, limits: Limits) -> Running {
    let (db, store) = common::store().await;
    store
        .insert_api_key(&service_key().1)
        .await
        .expect("the test key is stored");
    let gateway = Arc::new(
        Gateway::new(Llm::Local(models.llm.clone()), store.clone(), quotas).with_limits(limits),
    );
    let state = AppState {
        llm: Some(gateway.clone()),
        embedder: Some(models.embedder.clone()),
        config: ServerConfig::default(),
        ..AppState::new(store.clone())
    }
    .with_authenticator(Authenticator::new(store.clone(), common::secret()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("port 0 binds");
    let address = listener.local_addr().expect("bound address");
    let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(steward_server::serve(listener, state, async move {
        let _ = stop.await;
    }));
    Running {
        address,
        store,
        gateway,
        shutdown: Some(shutdown),
        server,
        _db: db,
    }
}

fn client(address: SocketAddr, max_retries: u32) -> OpenAiClient {
    OpenAiClient::new(&OpenAiConfig {
        base_url: format!("http://{address}/v1"),
        model: CHAT_MODEL.to_string(),
        embedding_model: Some(EMBED_MODEL.to_string()),
        api_key_env: Some(KEY_ENV.to_string()),
        timeout_secs: 120,
        max_retries,
    })
    .expect("client builds")
}

fn question(text: &str, max_tokens: u32) -> ChatRequest {
    ChatRequest {
        messages: vec![ChatMessage {
            role: Role::User,
            content: text.to_string(),
        }],
        params: GenerationParams {
            max_tokens,
            ..GenerationParams::default()
        },
    }
}

/// A streamed completion and the pieces that arrived on the way.
async fn streamed(
    llm: &Llm,
    request: &ChatRequest,
) -> (steward_ml::Result<Completion>, Vec<String>) {
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let completion = llm.chat(request, Some(sender)).await;
    let mut pieces = Vec::new();
    while let Some(piece) = receiver.recv().await {
        pieces.push(piece);
    }
    (completion, pieces)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_through_the_openai_api_streamed_and_plain() {
    let Some(models) = models() else { return };
    let server = start(models, Vec::new()).await;
    let llm = Llm::OpenAiCompatible(client(server.address, 0));
    assert_eq!(llm.model_id(), "openai:SmolLM2-135M-Instruct");
    let request = question("What is the capital of France?", 24);

    let (completion, pieces) = streamed(&llm, &request).await;
    let completion = completion.expect("streamed chat");
    assert!(pieces.len() > 1, "the answer came in one piece: {pieces:?}");
    assert_eq!(pieces.concat(), completion.text);
    assert!(completion.text.contains("Paris"), "{:?}", completion.text);
    assert!(
        completion.prompt_tokens > 5 && completion.completion_tokens > 1,
        "{completion:?}"
    );

    // Greedy decoding: the plain answer is the streamed one, with the same usage.
    let plain = llm.chat(&request, None).await.expect("plain chat");
    assert_eq!(plain.text, completion.text);
    assert_eq!(
        (
            plain.prompt_tokens,
            plain.completion_tokens,
            plain.finish_reason
        ),
        (
            completion.prompt_tokens,
            completion.completion_tokens,
            completion.finish_reason
        )
    );

    // max_tokens and stop strings reach the model.
    let mut cut_request = request.clone();
    cut_request.params.max_tokens = 3;
    let cut = llm.chat(&cut_request, None).await.expect("short chat");
    assert_eq!(
        (cut.finish_reason, cut.completion_tokens),
        (FinishReason::Length, 3),
        "{cut:?}"
    );
    assert!(completion.text.starts_with(&cut.text), "{cut:?}");
    let mut stop_request = request.clone();
    stop_request.params.stop = vec!["Paris".to_string()];
    let stopped = llm.chat(&stop_request, None).await.expect("stopped chat");
    assert_eq!(stopped.finish_reason, FinishReason::Stop, "{stopped:?}");
    assert!(!stopped.text.contains("Paris"), "{:?}", stopped.text);
    assert!(
        completion.text.starts_with(stopped.text.trim_end()),
        "{stopped:?}"
    );

    // Every call was audited under the API's feature, with its tokens.
    let usage = server.store.llm_usage().await.expect("usage");
    assert_eq!(usage.len(), 1, "{usage:?}");
    assert_eq!(
        (usage[0].feature.as_str(), usage[0].model.as_str()),
        ("openai_api", CHAT_MODEL)
    );
    assert_eq!(
        (usage[0].calls, usage[0].refused, usage[0].errors),
        (4, 0, 0)
    );
    assert!(usage[0].completion_tokens >= i64::from(2 * completion.completion_tokens + 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_is_server_sent_events_ending_in_done() {
    let Some(models) = models() else { return };
    let server = start(models, Vec::new()).await;
    let body = serde_json::json!({
        "model": CHAT_MODEL,
        "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 8,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    let response = reqwest::Client::new()
        .post(format!("http://{}/v1/chat/completions", server.address))
        .bearer_auth(&service_key().0)
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let text = response.text().await.expect("body");
    let events: Vec<&str> = text
        .split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .collect();
    assert_eq!(events.last(), Some(&"[DONE]"), "{text}");
    let chunks: Vec<serde_json::Value> = events[..events.len() - 1]
        .iter()
        .map(|event| serde_json::from_str(event).expect("JSON chunk"))
        .collect();
    assert!(
        chunks
            .iter()
            .all(|chunk| chunk["object"] == "chat.completion.chunk"),
        "{text}"
    );
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let usage = &chunks[chunks.len() - 1];
    assert_eq!(usage["choices"], serde_json::json!([]));
    assert!(
        usage["usage"]["total_tokens"]
            .as_u64()
            .is_some_and(|total| total > 0),
        "{usage}"
    );
    assert!(chunks[chunks.len() - 2]["choices"][0]["finish_reason"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_through_the_openai_api() {
    let Some(models) = models() else { return };
    let server = start(models, Vec::new()).await;
    let client = client(server.address, 0);
    let texts = [
        "What is the capital of France?",
        "Paris is the capital and largest city of France.",
        "Use std::fs::read_to_string to read a file in Rust.",
    ];
    let vectors = client.embeddings(&texts).await.expect("embeddings");
    assert_eq!(vectors.len(), 3);
    for vector in &vectors {
        assert_eq!(vector.len(), 384);
        let norm = vector.iter().map(|value| value * value).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "norm {norm}");
    }
    let cosine = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    assert!(
        cosine(&vectors[0], &vectors[1]) > cosine(&vectors[0], &vectors[2]) + 0.2,
        "the question is not closer to its answer than to an unrelated text"
    );
    // The same text gives the same vector, alone or in a batch.
    let alone = client
        .embeddings(&texts[1..2])
        .await
        .expect("one embedding");
    assert!(cosine(&alone[0], &vectors[1]) > 0.9999);

    let listed = client.models().await.expect("models");
    let ids: Vec<&str> = listed.data.iter().map(|model| model.id.as_str()).collect();
    assert_eq!(ids, [CHAT_MODEL, EMBED_MODEL]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_refuses_with_429_and_an_audit_row_without_calling_the_model() {
    let Some(models) = models() else { return };
    let quota = Quota {
        scope: QuotaScope::Feature("openai_api".to_string()),
        max_tokens: 50,
        window: Duration::from_secs(3600),
    };
    let server = start(models, vec![quota]).await;
    // One retry: 429 is retried once, and refused again.
    let llm = Llm::OpenAiCompatible(client(server.address, 1));

    let error = llm
        .chat(&question("What is the capital of France?", 64), None)
        .await
        .expect_err("64 tokens do not fit a 50-token quota");
    match &error {
        steward_ml::Error::RemoteStatus {
            status, message, ..
        } => {
            assert_eq!(*status, 429);
            assert!(message.contains("quota"), "{message}");
        }
        other => panic!("expected a 429, got {other:?}"),
    }
    let since = fixtures::time("2000-01-01T00:00:00Z");
    let calls = server
        .store
        .llm_calls_since(since, 100)
        .await
        .expect("audit log");
    assert_eq!(calls.len(), 2, "one refused row per attempt: {calls:?}");
    for call in &calls {
        assert_eq!(call.outcome, LlmOutcome::Refused);
        assert_eq!((call.prompt_tokens, call.completion_tokens), (0, 0));
        assert_eq!(
            (call.feature.as_str(), call.role.as_str()),
            ("openai_api", "service")
        );
        assert_eq!(call.key_id.as_deref(), Some(service_key().1.id.as_str()));
    }

    // A request that fits is served, and counts against the quota.
    let fitting = llm
        .chat(&question("What is the capital of France?", 8), None)
        .await
        .expect("8 tokens fit");
    assert!(!fitting.text.is_empty());
    let usage = server.store.llm_usage().await.expect("usage");
    assert_eq!((usage[0].calls, usage[0].refused), (3, 2), "{usage:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_request_in_flight() {
    let Some(models) = models() else { return };
    let mut server = start(models, Vec::new()).await;
    let llm = Llm::OpenAiCompatible(client(server.address, 0));
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let request = question("Write a short poem about the sea.", 32);
    let in_flight = tokio::spawn(async move { llm.chat(&request, Some(sender)).await });

    let first = receiver.recv().await.expect("a first piece");
    server
        .shutdown
        .take()
        .expect("not yet shut down")
        .send(())
        .expect("server listening");
    let completion = in_flight
        .await
        .expect("task")
        .expect("the request in flight completes");
    // Whole: it ends at the end of the turn or at max_tokens, not where the
    // shutdown came.
    assert!(completion.text.starts_with(&first), "{:?}", completion.text);
    assert!(completion.text.len() > first.len(), "{completion:?}");
    assert!(
        completion.finish_reason == FinishReason::Stop || completion.completion_tokens == 32,
        "cut short: {completion:?}"
    );
    tokio::time::timeout(Duration::from_secs(30), server.server)
        .await
        .expect("the server stops once the request is done")
        .expect("server task")
        .expect("clean shutdown");

    let late = client(server.address, 0).models().await;
    assert!(
        matches!(late, Err(steward_ml::Error::Remote { .. })),
        "{late:?}"
    );
}

/// A raw `/v1` POST with the service key.
async fn post(address: SocketAddr, path: &str, body: &serde_json::Value) -> reqwest::Response {
    // reqwest is built without a default TLS provider; install the one Steward uses.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
        .post(format!("http://{address}{path}"))
        .bearer_auth(&service_key().0)
        .json(body)
        .send()
        .await
        .expect("request")
}

/// Waits up to `limit` for `done`; how long it took, or `None`.
async fn within(limit: Duration, done: impl Fn() -> bool) -> Option<Duration> {
    let started = std::time::Instant::now();
    while started.elapsed() <= limit {
        if done() {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

/// The audit rows of the cancelled calls so far.
async fn cancelled_calls(store: &Store) -> Vec<steward_domain::LlmCall> {
    let since = fixtures::time("2000-01-01T00:00:00Z");
    let calls = store.llm_calls_since(since, 100).await.expect("audit log");
    calls
        .into_iter()
        .filter(|call| call.outcome == LlmOutcome::Cancelled)
        .collect()
}

/// The cancelled calls' rows, once there is one (the row is written right
/// after the call frees its slot); empty after 2 s.
async fn wait_for_cancelled(store: &Store) -> Vec<steward_domain::LlmCall> {
    for _ in 0..100 {
        let cancelled = cancelled_calls(store).await;
        if !cancelled.is_empty() {
            return cancelled;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Vec::new()
}

fn long_chat(stream: bool) -> serde_json::Value {
    serde_json::json!({
        "model": CHAT_MODEL,
        "messages": [{"role": "user", "content": "Write a very long essay about the history of Rome."}],
        "max_tokens": 3000,
        "stream": stream,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_stream_stops_generating_within_a_second_and_frees_its_slot() {
    let Some(models) = models() else { return };
    let limits = Limits {
        max_concurrent: 1,
        max_queued: 0,
    };
    let server = start_with(models, Vec::new(), limits).await;
    let mut response = post(server.address, "/v1/chat/completions", &long_chat(true)).await;
    assert_eq!(response.status(), 200);
    for _ in 0..3 {
        let chunk = response
            .chunk()
            .await
            .expect("a chunk")
            .expect("not the end");
        assert!(!chunk.is_empty());
    }
    assert_eq!(server.gateway.admission.running(), 1);

    // The one slot is taken and nobody may wait: a second call is refused at
    // once, in OpenAI's shape, with Retry-After.
    let refused = post(
        server.address,
        "/v1/chat/completions",
        &serde_json::json!({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}),
    )
    .await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: serde_json::Value = refused.json().await.expect("JSON error");
    assert_eq!(body["error"]["code"], "overloaded", "{body}");
    assert_eq!(body["error"]["type"], "server_error", "{body}");

    // The client goes away mid-stream.
    drop(response);
    // Far sooner than the long generation would end on its own; 1 s was a
    // speed target, and a loaded CI machine missed it.
    let freed = within(Duration::from_secs(5), || {
        server.gateway.admission.running() == 0
    })
    .await;
    assert!(
        freed.is_some(),
        "the generation still holds its slot 5 s after the client left"
    );
    // Stopped, not finished: its audit row says cancelled, with the tokens it
    // spent, far fewer than asked for; and they stay so.
    let cancelled = wait_for_cancelled(&server.store).await;
    assert_eq!(cancelled.len(), 1, "{cancelled:?}");
    let spent = cancelled[0].completion_tokens;
    assert!((1..1000).contains(&spent), "{spent} tokens");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        cancelled_calls(&server.store).await[0].completion_tokens,
        spent
    );

    // The freed slot admits the next call at once.
    let next = post(
        server.address,
        "/v1/chat/completions",
        &serde_json::json!({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}),
    )
    .await;
    assert_eq!(next.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_plain_chat_stops_generating_promptly() {
    let Some(models) = models() else { return };
    let limits = Limits {
        max_concurrent: 1,
        max_queued: 0,
    };
    let server = start_with(models, Vec::new(), limits).await;
    // A client of its own socket, so that "it leaves" is the socket closing,
    // not whatever a client library's pool does with a dropped request.
    let body = long_chat(false).to_string();
    let mut client = tokio::net::TcpStream::connect(server.address)
        .await
        .expect("connected");
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        server.address,
        service_key().0,
        body.len()
    );
    tokio::io::AsyncWriteExt::write_all(&mut client, request.as_bytes())
        .await
        .expect("request sent");
    within(Duration::from_secs(30), || {
        server.gateway.admission.running() == 1
    })
    .await
    .expect("the call starts");
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The client gives up: its connection closes.
    drop(client);
    // Far sooner than the long generation would end on its own; 1 s was a
    // speed target, and a loaded CI machine missed it.
    let freed = within(Duration::from_secs(5), || {
        server.gateway.admission.running() == 0
    })
    .await;
    assert!(
        freed.is_some(),
        "the generation still holds its slot 5 s after the client left"
    );
    let cancelled = wait_for_cancelled(&server.store).await;
    assert_eq!(cancelled.len(), 1, "{cancelled:?}");
    assert!(cancelled[0].completion_tokens < 1000, "{cancelled:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_is_not_served_is_404_model_not_found() {
    let Some(models) = models() else { return };
    let server = start(models, Vec::new()).await;
    for (path, body) in [
        (
            "/v1/chat/completions",
            serde_json::json!({"model": "nope", "messages": [{"role": "user", "content": "Hi"}]}),
        ),
        (
            "/v1/embeddings",
            serde_json::json!({"model": "nope", "input": "Hi"}),
        ),
    ] {
        let response = post(server.address, path, &body).await;
        assert_eq!(response.status(), 404, "{path}");
        let body: serde_json::Value = response.json().await.expect("JSON error");
        assert_eq!(body["error"]["code"], "model_not_found", "{path}: {body}");
        assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
        assert_eq!(body["error"]["param"], "model", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|message| message.contains("`nope`")),
            "{body}"
        );
    }
    // Nothing reached the model.
    assert!(server.store.llm_usage().await.expect("usage").is_empty());
    // json_schema is refused by name.
    let response = post(
        server.address,
        "/v1/chat/completions",
        &serde_json::json!({
            "messages": [{"role": "user", "content": "Hi"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
        }),
    )
    .await;
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.expect("JSON error");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("json_schema")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_in_base64_are_the_float_vectors_little_endian() {
    let Some(models) = models() else { return };
    let server = start(models, Vec::new()).await;
    let texts = ["What is the capital of France?", "巴黎"];
    let address = server.address;
    let answer = |format: Option<&str>| {
        let mut body = serde_json::json!({"model": EMBED_MODEL, "input": texts});
        if let Some(format) = format {
            body["encoding_format"] = format.into();
        }
        async move {
            let response = post(address, "/v1/embeddings", &body).await;
            assert_eq!(response.status(), 200);
            response
                .json::<serde_json::Value>()
                .await
                .expect("JSON answer")
        }
    };
    let floats = answer(None).await;
    let base64 = answer(Some("base64")).await;
    assert_eq!(answer(Some("float")).await, floats);
    assert_eq!(base64["model"], EMBED_MODEL);
    for index in 0..texts.len() {
        let expected: Vec<f32> = floats["data"][index]["embedding"]
            .as_array()
            .expect("floats")
            .iter()
            .map(|value| value.as_f64().expect("a number") as f32)
            .collect();
        let encoded: steward_ml::openai::EmbeddingVector =
            serde_json::from_value(base64["data"][index]["embedding"].clone()).expect("a vector");
        assert!(
            matches!(encoded, steward_ml::openai::EmbeddingVector::Base64(_)),
            "{encoded:?}"
        );
        assert_eq!(encoded.into_floats().expect("base64 f32"), expected);
    }
    let response = post(
        server.address,
        "/v1/embeddings",
        &serde_json::json!({"input": "x", "encoding_format": "int8"}),
    )
    .await;
    assert_eq!(response.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_mode_passes_through_the_client_and_answers_a_json_object() {
    let Some(models) = models() else { return };
    let server = start(models, Vec::new()).await;
    let llm = Llm::OpenAiCompatible(client(server.address, 0));
    let mut request = question(
        "Describe a cat as a JSON object with the keys name and age.",
        48,
    );
    request.params.response_format = ResponseFormat::JsonObject;
    let completion = llm.chat(&request, None).await.expect("JSON chat");
    assert_eq!(
        completion.finish_reason,
        FinishReason::Stop,
        "{completion:?}"
    );
    let value: serde_json::Value = serde_json::from_str(&completion.text)
        .unwrap_or_else(|error| panic!("not JSON ({error}): {:?}", completion.text));
    assert!(value.is_object(), "{value}");
}
