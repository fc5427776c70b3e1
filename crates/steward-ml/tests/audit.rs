//! The LLM gateway on a real SQLite store: which calls a quota refuses, and
//! the audit row every call leaves.
//!
//! The model behind the gateway is an OpenAI-compatible client aimed at a
//! port nobody listens on: a call that reaches it fails with `Error::Remote`,
//! so a `QuotaExceeded` proves the model was never called, and a failed call
//! shows the `error` audit row.

use std::time::Duration;

use chrono::Utc;
use steward_domain::{LlmCall, LlmOutcome};
use steward_ml::Error;
use steward_ml::audit::{CallContext, Gateway, Limits, Quota, QuotaScope};
use steward_ml::llm::openai_compatible::{OpenAiClient, OpenAiConfig};
use steward_ml::llm::{CancellationToken, ChatMessage, ChatRequest, GenerationParams, Llm, Role};
use steward_store::Store;

/// The address of a port that was free a moment ago: nothing answers there.
async fn dead_address() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("port 0 binds");
    let address = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{address}/v1")
}

async fn gateway(quotas: Vec<Quota>) -> (tempfile::TempDir, Gateway) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Store::open(&dir.path().join("audit.db").display().to_string())
        .await
        .expect("store opens");
    let client = OpenAiClient::new(&OpenAiConfig {
        base_url: dead_address().await,
        model: "unreachable".into(),
        api_key_env: None,
        max_retries: 0,
        ..OpenAiConfig::default()
    })
    .expect("client builds");
    let gateway = Gateway::new(Llm::OpenAiCompatible(client), store, quotas);
    (dir, gateway)
}

fn past_call(feature: &str, role: &str, tokens: i64, seconds_ago: i64) -> LlmCall {
    LlmCall {
        request_id: uuid::Uuid::new_v4().to_string(),
        feature: feature.into(),
        role: role.into(),
        key_id: None,
        model: "openai:unreachable".into(),
        prompt_tokens: tokens / 2,
        completion_tokens: tokens - tokens / 2,
        latency_ms: 100,
        outcome: LlmOutcome::Ok,
        object_ids: Vec::new(),
        at: Utc::now() - chrono::Duration::seconds(seconds_ago),
    }
}

fn quota(scope: QuotaScope, max_tokens: i64, window_secs: u64) -> Quota {
    Quota {
        scope,
        max_tokens,
        window: Duration::from_secs(window_secs),
    }
}

fn feature(name: &str) -> QuotaScope {
    QuotaScope::Feature(name.into())
}

fn role(name: &str) -> QuotaScope {
    QuotaScope::Role(name.into())
}

/// What became of a call.
#[derive(Debug, PartialEq)]
enum Expected {
    /// Refused with these `used` tokens; the model was not called.
    Refused { used: i64 },
    /// Passed the quotas and reached the model.
    Called,
}

/// Runs one call of `max_tokens` for feature `generate`, role `member`, after
/// `history`, under `quotas`, and checks the outcome and the new audit row.
async fn check(quotas: Vec<Quota>, history: Vec<LlmCall>, max_tokens: u32, expected: Expected) {
    let description = format!(
        "{quotas:?} after {} calls, {max_tokens} tokens",
        history.len()
    );
    let (_dir, gateway) = gateway(quotas).await;
    for call in &history {
        gateway
            .store
            .record_llm_call(call)
            .await
            .expect("history recorded");
    }
    let context = CallContext {
        feature: "generate".into(),
        role: "member".into(),
        key_id: Some("k1".into()),
        object_ids: vec!["post:10".into()],
    };
    let request = ChatRequest {
        messages: vec![ChatMessage {
            role: Role::User,
            content: "Summarise post 10.".into(),
        }],
        params: GenerationParams {
            max_tokens,
            ..GenerationParams::default()
        },
    };
    let started = Utc::now();
    let result = gateway.chat(&context, &request, None).await;
    let expected_outcome = match (&result, &expected) {
        (
            Err(Error::QuotaExceeded { used, .. }),
            Expected::Refused {
                used: expected_used,
            },
        ) => {
            assert_eq!(used, expected_used, "{description}");
            LlmOutcome::Refused
        }
        (Err(Error::Remote { .. }), Expected::Called) => LlmOutcome::Error,
        (got, expected) => panic!("{description}: got {got:?}, expected {expected:?}"),
    };
    let rows = gateway
        .store
        .llm_calls_since(started - chrono::Duration::seconds(1), 100)
        .await
        .expect("audit log");
    assert_eq!(
        rows.len(),
        1,
        "{description}: one audit row per call: {rows:?}"
    );
    let row = &rows[0];
    assert_eq!(row.outcome, expected_outcome, "{description}");
    assert_eq!(
        (row.prompt_tokens, row.completion_tokens),
        (0, 0),
        "{description}"
    );
    assert_eq!(
        (
            row.feature.as_str(),
            row.role.as_str(),
            row.key_id.as_deref()
        ),
        ("generate", "member", Some("k1"))
    );
    assert_eq!(row.object_ids, ["post:10"]);
    assert_eq!(row.model, "openai:unreachable");
    assert!(!row.request_id.is_empty());
}

#[tokio::test]
async fn quotas_refuse_calls_that_would_pass_their_limit() {
    use Expected::{Called, Refused};
    // No quota, or none that applies: the call goes through.
    check(vec![], vec![], 200, Called).await;
    check(
        vec![quota(feature("digest"), 10, 3600)],
        vec![],
        200,
        Called,
    )
    .await;
    check(vec![quota(role("admin"), 10, 3600)], vec![], 200, Called).await;
    // The budget alone passes the limit.
    check(
        vec![quota(feature("generate"), 100, 3600)],
        vec![],
        200,
        Refused { used: 0 },
    )
    .await;
    // Used tokens plus the budget: 900 + 100 fits 1000 exactly, 900 + 101 does not.
    let history = || vec![past_call("generate", "member", 900, 60)];
    check(
        vec![quota(feature("generate"), 1000, 3600)],
        history(),
        100,
        Called,
    )
    .await;
    check(
        vec![quota(feature("generate"), 1000, 3600)],
        history(),
        101,
        Refused { used: 900 },
    )
    .await;
    // Only the window counts: the same 900 tokens two hours ago do not.
    let old = vec![past_call("generate", "member", 900, 7200)];
    check(
        vec![quota(feature("generate"), 1000, 3600)],
        old,
        101,
        Called,
    )
    .await;
    // A role quota counts the role's calls across features, not other roles'.
    let mixed = vec![
        past_call("digest", "member", 400, 60),
        past_call("generate", "admin", 5000, 60),
    ];
    check(
        vec![quota(role("member"), 500, 3600)],
        mixed.clone(),
        100,
        Called,
    )
    .await;
    check(
        vec![quota(role("member"), 499, 3600)],
        mixed,
        100,
        Refused { used: 400 },
    )
    .await;
    // Every quota that applies must agree.
    check(
        vec![
            quota(feature("generate"), 1_000_000, 3600),
            quota(role("member"), 50, 60),
        ],
        vec![],
        100,
        Refused { used: 0 },
    )
    .await;
}

#[tokio::test]
async fn a_refusal_names_the_quota() {
    let (_dir, gateway) = gateway(vec![quota(role("member"), 10, 60)]).await;
    let context = CallContext {
        feature: "generate".into(),
        role: "member".into(),
        key_id: None,
        object_ids: Vec::new(),
    };
    let request = ChatRequest {
        messages: vec![ChatMessage {
            role: Role::User,
            content: "hi".into(),
        }],
        params: GenerationParams::default(),
    };
    let error = gateway
        .chat(&context, &request, None)
        .await
        .expect_err("refused");
    let message = error.to_string();
    assert!(
        message.contains("role `member`") && message.contains("10") && message.contains("60"),
        "{message}"
    );
}

/// A gateway whose model is a server that accepts connections and never
/// answers: a call holds its slot until it is cancelled.
async fn silent_gateway(limits: Limits) -> (tempfile::TempDir, Gateway) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("port 0 binds");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Store::open(&dir.path().join("audit.db").display().to_string())
        .await
        .expect("store opens");
    let client = OpenAiClient::new(&OpenAiConfig {
        base_url: format!("http://{address}/v1"),
        model: "silent".into(),
        api_key_env: None,
        max_retries: 0,
        ..OpenAiConfig::default()
    })
    .expect("client builds");
    let gateway =
        Gateway::new(Llm::OpenAiCompatible(client), store, Vec::new()).with_limits(limits);
    (dir, gateway)
}

async fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("not within 5 s: {what}");
}

#[tokio::test]
async fn the_concurrency_limit_queues_then_refuses_and_a_cancel_frees_the_slot() {
    let limits = Limits {
        max_concurrent: 1,
        max_queued: 1,
    };
    let (_dir, gateway) = silent_gateway(limits).await;
    let context = CallContext {
        feature: "openai_api".into(),
        role: "member".into(),
        key_id: None,
        object_ids: Vec::new(),
    };
    let request = ChatRequest {
        messages: vec![ChatMessage {
            role: Role::User,
            content: "Hi".into(),
        }],
        params: GenerationParams::default(),
    };
    let spawn = |cancel: CancellationToken| {
        let (gateway, context, request) = (gateway.clone(), context.clone(), request.clone());
        tokio::spawn(async move { gateway.chat_with(&context, &request, None, &cancel).await })
    };
    let (first_cancel, second_cancel) = (CancellationToken::new(), CancellationToken::new());
    let first = spawn(first_cancel.clone());
    until("the first call runs", || gateway.admission.running() == 1).await;
    let second = spawn(second_cancel.clone());
    until("the second call waits", || gateway.admission.waiting() == 1).await;

    // No slot and no room in the queue: refused at once.
    let third = gateway.chat(&context, &request, None).await;
    assert!(
        matches!(
            third,
            Err(Error::Busy {
                running: 1,
                queued: 1,
                retry_after_secs: 1
            })
        ),
        "{third:?}"
    );

    // A cancel takes a waiting call out of the queue ...
    second_cancel.cancel();
    let second = second.await.expect("task");
    assert!(
        matches!(
            second,
            Err(Error::CallCancelled {
                completion_tokens: 0,
                ..
            })
        ),
        "{second:?}"
    );
    assert_eq!(gateway.admission.waiting(), 0);
    // ... and stops a running one, which frees its slot.
    first_cancel.cancel();
    let first = first.await.expect("task");
    assert!(
        matches!(first, Err(Error::CallCancelled { .. })),
        "{first:?}"
    );
    assert_eq!(gateway.admission.running(), 0);

    let since = Utc::now() - chrono::Duration::minutes(1);
    let mut outcomes: Vec<LlmOutcome> = gateway
        .store
        .llm_calls_since(since, 10)
        .await
        .expect("audit log")
        .into_iter()
        .map(|call| call.outcome)
        .collect();
    outcomes.sort_by_key(|outcome| outcome.as_str());
    assert_eq!(
        outcomes,
        [
            LlmOutcome::Cancelled,
            LlmOutcome::Cancelled,
            LlmOutcome::Refused
        ]
    );
}
