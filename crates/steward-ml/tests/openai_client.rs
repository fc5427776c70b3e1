//! The OpenAI-compatible client's behaviour when the server is not there:
//! connection failures are retried with growing waits, then reported with the
//! cause. (Talking to a real server is tested end to end against Steward's own
//! server in steward-server/tests/e2e.rs.)

use std::time::{Duration, Instant};

use steward_ml::Error;
use steward_ml::llm::openai_compatible::{OpenAiClient, OpenAiConfig};
use steward_ml::llm::{ChatMessage, ChatRequest, GenerationParams, Llm, Role};

async fn client_of_nobody(max_retries: u32) -> OpenAiClient {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("port 0 binds");
    let address = listener.local_addr().expect("address");
    drop(listener);
    OpenAiClient::new(&OpenAiConfig {
        base_url: format!("http://{address}/v1/"),
        model: "gpt-4o-mini".into(),
        api_key_env: None,
        max_retries,
        ..OpenAiConfig::default()
    })
    .expect("client builds")
}

fn hello() -> ChatRequest {
    ChatRequest {
        messages: vec![ChatMessage {
            role: Role::User,
            content: "hello".into(),
        }],
        params: GenerationParams::default(),
    }
}

#[tokio::test]
async fn connection_failures_are_retried_with_backoff_then_reported() {
    // (retries, least total wait): 250 ms, then 500 ms more.
    for (max_retries, least_wait) in [(0, Duration::ZERO), (2, Duration::from_millis(750))] {
        let client = client_of_nobody(max_retries).await;
        let started = Instant::now();
        let error = client
            .chat(&hello(), None)
            .await
            .expect_err("nobody listens");
        let elapsed = started.elapsed();
        match &error {
            Error::Remote { url, message } => {
                assert!(url.ends_with("/v1/chat/completions"), "{url}");
                assert!(message.to_lowercase().contains("refused"), "{message}");
            }
            other => panic!("expected a connection error, got {other:?}"),
        }
        assert!(
            elapsed >= least_wait,
            "{max_retries} retries took only {elapsed:?}"
        );
        assert!(
            elapsed < least_wait * 2 + Duration::from_secs(2),
            "{max_retries} retries took {elapsed:?}"
        );
    }
}

#[tokio::test]
async fn streaming_and_embedding_calls_fail_the_same_way() {
    let client = client_of_nobody(0).await;
    let (sender, _receiver) = tokio::sync::mpsc::unbounded_channel();
    let llm = Llm::OpenAiCompatible(client.clone());
    assert_eq!(llm.model_id(), "openai:gpt-4o-mini");
    assert!(matches!(
        llm.chat(&hello(), Some(sender)).await,
        Err(Error::Remote { .. })
    ));
    assert!(matches!(
        client.embeddings(&["a"]).await,
        Err(Error::Remote { .. })
    ));
    // Nothing to embed: no call at all.
    assert_eq!(
        client.embeddings(&[]).await.expect("no call needed"),
        Vec::<Vec<f32>>::new()
    );
}

#[test]
fn the_api_key_never_shows_in_debug_output() {
    // An env var every test process has, standing in for a secret.
    let client = OpenAiClient::new(&OpenAiConfig {
        api_key_env: Some("PATH".into()),
        ..OpenAiConfig::default()
    })
    .expect("client builds");
    let path = std::env::var("PATH").expect("PATH is set");
    let debug = format!("{client:?}");
    assert!(!debug.contains(&path), "{debug}");
    assert!(debug.contains("<set>"), "{debug}");
}
