//! Who may call what: every route × {no key, each role, a revoked key, an
//! expired key, a malformed header}, from one table. A route the router serves
//! without a row here fails the test, and so does a row for a route that is
//! gone. Also: the audit row and the quota go by the key, never by the
//! `x-steward-role` header; per-key and per-client rate limits answer 429.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use steward_auth::{Authenticator, Permission, Rate, RateLimiter, RateLimits, Role, create_key};
use steward_domain::LlmOutcome;
use steward_ml::audit::{Gateway, Quota, QuotaScope};
use steward_ml::llm::Llm;
use steward_ml::llm::openai_compatible::{OpenAiClient, OpenAiConfig};
use steward_server::{AppState, ErrorShape, route_specs, router};
use steward_store::Store;
use tower::ServiceExt;

/// Who sends the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anonymous,
    Role(Role),
    RevokedKey,
    ExpiredKey,
    /// `Authorization: Bearer not-a-key`.
    Malformed,
}

/// What the caller gets: through the guard (any status the handler gives:
/// 2xx or a domain error such as 404 or 503), 401 or 403.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Through,
    Unauthorized,
    Forbidden,
}

const EVERY_ROLE: &[Role] = &Role::ALL;
const WRITERS: &[Role] = &[Role::Admin, Role::Moderator, Role::Member, Role::Service];
const USAGE_READERS: &[Role] = &[Role::Admin, Role::Analyst];
const ADMINS: &[Role] = &[Role::Admin];
const JOB_READERS: &[Role] = &[Role::Admin, Role::Moderator, Role::Analyst, Role::Service];
const JOB_RUNNERS: &[Role] = &[Role::Admin, Role::Service];
const MEMBER_READERS: &[Role] = &[
    Role::Admin,
    Role::Moderator,
    Role::Analyst,
    Role::Member,
    Role::Service,
];

/// One route: how to call it, what it declares, who gets through.
struct Row {
    method: Method,
    path: &'static str,
    uri: &'static str,
    body: Option<fn() -> Value>,
    permission: Permission,
    /// Open to anonymous callers (with `public_read` on).
    anonymous: bool,
    roles: &'static [Role],
}

fn event() -> Value {
    json!({"kind": "view", "user_id": 2, "target": {"type": "post", "id": 10}})
}

fn chat() -> Value {
    json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4})
}

fn question() -> Value {
    json!({"question": "How do I undo my last git commit?"})
}

fn embedding() -> Value {
    json!({"input": "hi"})
}

fn draft() -> Value {
    json!({"title": "How do I undo a commit?"})
}

fn new_job() -> Value {
    json!({"kind": "train-lsa"})
}

fn new_key() -> Value {
    json!({"role": "member", "name": "made in the matrix"})
}

/// The table: one row per route. `anonymous`: open to callers without a key
/// when `public_read` is on. `roles`: the roles that get through.
#[rustfmt::skip]
fn matrix() -> Vec<Row> {
    use Permission::*;
    let row = |method: Method, path: &'static str, uri: &'static str, body: Option<fn() -> Value>,
               permission: Permission, anonymous: bool, roles: &'static [Role]| Row {
        method, path, uri, body, permission, anonymous, roles,
    };
    vec![
        row(Method::GET, "/api/v1/health/live", "/api/v1/health/live", None, CheckHealth, true, EVERY_ROLE),
        row(Method::GET, "/api/v1/health/ready", "/api/v1/health/ready", None, CheckHealth, true, EVERY_ROLE),
        row(Method::GET, "/api/v1/stats", "/api/v1/stats", None, ReadCommunity, true, EVERY_ROLE),
        row(Method::GET, "/api/v1/posts", "/api/v1/posts?tag=rust", None, ReadCommunity, true, EVERY_ROLE),
        row(Method::GET, "/api/v1/posts/{id}", "/api/v1/posts/10", None, ReadCommunity, true, EVERY_ROLE),
        row(Method::GET, "/api/v1/users/{id}", "/api/v1/users/1", None, ReadCommunity, true, EVERY_ROLE),
        row(Method::GET, "/api/v1/search", "/api/v1/search?q=rust", None, ReadCommunity, true, EVERY_ROLE),
        row(Method::POST, "/api/v1/ask", "/api/v1/ask", Some(question), UseLlm, false, WRITERS),
        row(Method::POST, "/api/v1/questions/similar", "/api/v1/questions/similar", Some(draft), ReadCommunity, true, EVERY_ROLE),
        row(Method::GET, "/api/v1/users/{id}/profile", "/api/v1/users/1/profile", None, ReadMembers, false, MEMBER_READERS),
        row(Method::GET, "/api/v1/users/{id}/recommendations", "/api/v1/users/1/recommendations?n=5", None, ReadMembers, false, MEMBER_READERS),
        row(Method::GET, "/api/v1/users/{id}/answerable", "/api/v1/users/1/answerable", None, ReadMembers, false, MEMBER_READERS),
        row(Method::GET, "/api/v1/posts/{id}/similar", "/api/v1/posts/10/similar", None, ReadCommunity, true, EVERY_ROLE),
        row(Method::GET, "/api/v1/questions/{id}/experts", "/api/v1/questions/10/experts", None, ReadCommunity, true, EVERY_ROLE),
        row(Method::GET, "/api/v1/kg/entities", "/api/v1/kg/entities?q=rust", None, ReadCommunity, true, EVERY_ROLE),
        row(Method::GET, "/api/v1/kg/entities/{id}", "/api/v1/kg/entities/rust", None, ReadCommunity, true, EVERY_ROLE),
        row(Method::GET, "/api/v1/kg/path", "/api/v1/kg/path?from=rust&to=tokio", None, ReadCommunity, true, EVERY_ROLE),
        row(Method::GET, "/api/v1/kg/subgraph", "/api/v1/kg/subgraph?seeds=rust", None, ReadCommunity, true, EVERY_ROLE),
        row(Method::POST, "/api/v1/events", "/api/v1/events", Some(event), WriteEvents, false, WRITERS),
        row(Method::GET, "/api/v1/llm/usage", "/api/v1/llm/usage", None, ReadLlmUsage, false, USAGE_READERS),
        row(Method::GET, "/api/v1/keys", "/api/v1/keys", None, ManageKeys, false, ADMINS),
        row(Method::POST, "/api/v1/keys", "/api/v1/keys", Some(new_key), ManageKeys, false, ADMINS),
        row(Method::DELETE, "/api/v1/keys/{id}", "/api/v1/keys/zzzzzzzzzzzz", None, ManageKeys, false, ADMINS),
        row(Method::GET, "/api/v1/jobs", "/api/v1/jobs?state=queued", None, ReadJobs, false, JOB_READERS),
        row(Method::POST, "/api/v1/jobs", "/api/v1/jobs", Some(new_job), RunJobs, false, JOB_RUNNERS),
        row(Method::GET, "/api/v1/jobs/{id}", "/api/v1/jobs/999999", None, ReadJobs, false, JOB_READERS),
        row(Method::POST, "/api/v1/jobs/{id}/cancel", "/api/v1/jobs/999999/cancel", None, RunJobs, false, JOB_RUNNERS),
        row(Method::POST, "/v1/chat/completions", "/v1/chat/completions", Some(chat), UseLlm, false, WRITERS),
        row(Method::POST, "/v1/embeddings", "/v1/embeddings", Some(embedding), UseLlm, false, WRITERS),
        row(Method::GET, "/v1/models", "/v1/models", None, ReadCommunity, true, EVERY_ROLE),
    ]
}

impl Row {
    fn expected(&self, who: Who, public_read: bool) -> Outcome {
        match who {
            Who::RevokedKey | Who::ExpiredKey | Who::Malformed => Outcome::Unauthorized,
            Who::Anonymous => {
                let open = match self.permission {
                    Permission::CheckHealth => true,
                    _ => self.anonymous && public_read,
                };
                if open {
                    Outcome::Through
                } else {
                    Outcome::Unauthorized
                }
            }
            // A key never gets less than an anonymous caller.
            Who::Role(role) if self.roles.contains(&role) => Outcome::Through,
            Who::Role(_) if self.anonymous && public_read => Outcome::Through,
            Who::Role(_) => Outcome::Forbidden,
        }
    }

    fn shape(&self) -> ErrorShape {
        if self.path.starts_with("/v1/") {
            ErrorShape::OpenAi
        } else {
            ErrorShape::Api
        }
    }
}

/// Rates no test of access runs into.
fn unlimited() -> RateLimits {
    let rate = Rate {
        per_second: 1_000_000.0,
        burst: 1_000_000,
    };
    RateLimits {
        admin: rate,
        moderator: rate,
        analyst: rate,
        member: rate,
        service: rate,
        anonymous: rate,
    }
}

/// A state accepting keys, and a header value for each [`Who`].
struct Fixture {
    _dir: steward_testkit::TestDb,
    store: Store,
    state: AppState,
    headers: Vec<(Who, Option<String>)>,
}

async fn fixture() -> Fixture {
    let (dir, store) = common::store().await;
    let mut state = AppState::new(store.clone())
        .with_authenticator(Authenticator::new(store.clone(), common::secret()));
    state.rate_limiter = std::sync::Arc::new(RateLimiter::new(unlimited()));
    let mut headers = vec![(Who::Anonymous, None)];
    for role in Role::ALL {
        headers.push((Who::Role(role), Some(common::key(&store, role).await)));
    }
    let (revoked, record) = create_key(&store, &common::secret(), "gone", Role::Admin, &[], None)
        .await
        .expect("key made");
    store.revoke_api_key(&record.id).await.expect("revoked");
    headers.push((Who::RevokedKey, Some(revoked)));
    let (expired, _) = create_key(
        &store,
        &common::secret(),
        "old",
        Role::Admin,
        &[],
        Some(Duration::ZERO),
    )
    .await
    .expect("key made");
    headers.push((Who::ExpiredKey, Some(expired)));
    headers.push((Who::Malformed, Some("not-a-key".to_string())));
    let headers = headers
        .into_iter()
        .map(|(who, key)| (who, key.map(|key| format!("Bearer {key}"))))
        .collect();
    Fixture {
        _dir: dir,
        store,
        state,
        headers,
    }
}

struct Answer {
    status: StatusCode,
    www_authenticate: Option<String>,
    retry_after: Option<String>,
    body: Value,
}

async fn send(
    state: &AppState,
    method: Method,
    uri: &str,
    authorization: Option<&str>,
    body: Option<Value>,
    extra: &[(&str, &str)],
    client: Option<SocketAddr>,
) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let mut request = request
        .body(body.map_or_else(Body::empty, |body| Body::from(body.to_string())))
        .expect("valid request");
    if let Some(client) = client {
        request.extensions_mut().insert(ConnectInfo(client));
    }
    let response = router(state.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().expect("ascii").to_string())
    };
    let (www_authenticate, retry_after) = (header("www-authenticate"), header("retry-after"));
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        www_authenticate,
        retry_after,
        body,
    }
}

/// The error body of a refusal: our shape on `/api`, OpenAI's on `/v1`.
fn assert_refusal(answer: &Answer, shape: ErrorShape, code: &str, context: &str) {
    let error = &answer.body["error"];
    assert_eq!(error["code"], code, "{context}: {}", answer.body);
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|message| !message.is_empty()),
        "{context}: {}",
        answer.body
    );
    match shape {
        ErrorShape::Api => assert!(error.get("type").is_none(), "{context}"),
        ErrorShape::OpenAi => assert!(error["type"].is_string(), "{context}: {}", answer.body),
    }
}

#[test]
fn every_route_has_a_row_and_every_row_a_route() {
    let rows = matrix();
    for spec in route_specs() {
        let row = rows
            .iter()
            .find(|row| row.method == spec.method && row.path == spec.path)
            .unwrap_or_else(|| {
                panic!(
                    "{} {} has no row in the auth matrix: add one saying who may call it",
                    spec.method, spec.path
                )
            });
        assert_eq!(
            row.permission, spec.permission,
            "{} {}",
            spec.method, spec.path
        );
        assert_eq!(row.shape(), spec.shape, "{} {}", spec.method, spec.path);
    }
    for row in &rows {
        assert!(
            route_specs()
                .iter()
                .any(|spec| spec.method == row.method && spec.path == row.path),
            "{} {} is in the matrix but not served",
            row.method,
            row.path
        );
    }
}

async fn check_matrix(public_read: bool) {
    let mut fixture = fixture().await;
    fixture.state.config.public_read = public_read;
    for row in matrix() {
        for (who, authorization) in &fixture.headers {
            let expected = row.expected(*who, public_read);
            let context = format!(
                "{} {} as {who:?} (public_read={public_read})",
                row.method, row.uri
            );
            let answer = send(
                &fixture.state,
                row.method.clone(),
                row.uri,
                authorization.as_deref(),
                row.body.map(|body| body()),
                &[],
                None,
            )
            .await;
            match expected {
                // 503: the model endpoints of a server without models.
                Outcome::Through => assert!(
                    answer.status.is_success() || [400, 404, 503].contains(&answer.status.as_u16()),
                    "{context}: expected to get through, got {} {}",
                    answer.status,
                    answer.body
                ),
                Outcome::Unauthorized => {
                    assert_eq!(
                        answer.status,
                        StatusCode::UNAUTHORIZED,
                        "{context}: {}",
                        answer.body
                    );
                    assert_refusal(&answer, row.shape(), "unauthorized", &context);
                    assert!(
                        answer
                            .www_authenticate
                            .as_deref()
                            .is_some_and(|challenge| challenge.starts_with("Bearer")),
                        "{context}: {:?}",
                        answer.www_authenticate
                    );
                }
                Outcome::Forbidden => {
                    assert_eq!(
                        answer.status,
                        StatusCode::FORBIDDEN,
                        "{context}: {}",
                        answer.body
                    );
                    assert_refusal(&answer, row.shape(), "forbidden", &context);
                }
            }
        }
    }
    // The admin's POST made a key; nothing else wrote one.
    let made = fixture.store.api_keys().await.expect("keys");
    assert_eq!(
        made.iter()
            .filter(|key| key.name == "made in the matrix")
            .count(),
        1
    );
    // The admin's and the service's POSTs queued a job each; nobody else did.
    let queued = fixture
        .store
        .jobs(&steward_store::JobFilter::default())
        .await
        .expect("jobs");
    assert_eq!(queued.len(), JOB_RUNNERS.len(), "{queued:?}");
}

#[tokio::test]
async fn the_role_by_endpoint_matrix_with_public_reads() {
    check_matrix(true).await;
}

#[tokio::test]
async fn the_role_by_endpoint_matrix_without_public_reads() {
    check_matrix(false).await;
}

#[tokio::test]
async fn refusals_say_why_a_key_was_refused() {
    let fixture = fixture().await;
    let header_of = |wanted: Who| {
        fixture
            .headers
            .iter()
            .find(|(who, _)| *who == wanted)
            .and_then(|(_, header)| header.clone())
            .expect("a header for each kind of caller")
    };
    let check = async |authorization: Option<&str>, reason: &str, invalid_token: bool| {
        let answer = send(
            &fixture.state,
            Method::POST,
            "/api/v1/events",
            authorization,
            Some(event()),
            &[],
            None,
        )
        .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.body["error"]["reason"], reason, "{}", answer.body);
        let challenge = answer.www_authenticate.expect("a challenge");
        assert_eq!(
            challenge.contains("invalid_token"),
            invalid_token,
            "{challenge}"
        );
    };
    check(None, "missing_key", false).await;
    check(Some(&header_of(Who::Malformed)), "malformed_key", true).await;
    check(Some(&header_of(Who::RevokedKey)), "revoked_key", true).await;
    check(Some(&header_of(Who::ExpiredKey)), "expired_key", true).await;
    let wrong = format!("Bearer stw_zzzzzzzzzzzz_{}", "0".repeat(64));
    check(Some(&wrong), "unknown_key", true).await;

    // A server that accepts no keys refuses even well-formed ones.
    let anonymous_only = AppState::new(fixture.store.clone());
    let answer = send(
        &anonymous_only,
        Method::GET,
        "/api/v1/stats",
        Some(&header_of(Who::Role(Role::Admin))),
        None,
        &[],
        None,
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
}

/// A gateway whose model is an OpenAI-compatible client aimed at a port
/// nobody listens on: a call that gets past the quota fails (503), one that
/// does not is refused (429); both leave an audit row.
async fn dead_gateway(store: &Store, quotas: Vec<Quota>) -> Gateway {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("port 0 binds");
    let address = listener.local_addr().expect("address");
    drop(listener);
    let client = OpenAiClient::new(&OpenAiConfig {
        base_url: format!("http://{address}/v1"),
        model: "unreachable".into(),
        api_key_env: None,
        max_retries: 0,
        ..OpenAiConfig::default()
    })
    .expect("client builds");
    Gateway::new(Llm::OpenAiCompatible(client), store.clone(), quotas)
}

#[tokio::test]
async fn the_audit_row_and_the_quota_go_by_the_key_not_the_role_header() {
    let (_dir, store) = common::store().await;
    // Members may spend nothing; admins anything.
    let quota = Quota {
        scope: QuotaScope::Role("member".into()),
        max_tokens: 0,
        window: Duration::from_secs(3600),
    };
    let mut state = AppState::new(store.clone())
        .with_authenticator(Authenticator::new(store.clone(), common::secret()));
    state.llm = Some(std::sync::Arc::new(dead_gateway(&store, vec![quota]).await));
    let (member_key, member) = create_key(&store, &common::secret(), "m", Role::Member, &[], None)
        .await
        .expect("key made");
    let (service_key, service) =
        create_key(&store, &common::secret(), "s", Role::Service, &[], None)
            .await
            .expect("key made");
    let claims_admin = [("x-steward-role", "admin")];

    let refused = send(
        &state,
        Method::POST,
        "/v1/chat/completions",
        Some(&format!("Bearer {member_key}")),
        Some(chat()),
        &claims_admin,
        None,
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.body
    );
    assert_eq!(refused.body["error"]["code"], "quota_exceeded");

    let failed = send(
        &state,
        Method::POST,
        "/v1/chat/completions",
        Some(&format!("Bearer {service_key}")),
        Some(chat()),
        &claims_admin,
        None,
    )
    .await;
    assert_eq!(
        failed.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        failed.body
    );

    let since = common::at("2000-01-01T00:00:00Z");
    let rows = store.llm_calls_since(since, 10).await.expect("audit log");
    let seen: Vec<(&str, Option<&str>, LlmOutcome)> = rows
        .iter()
        .map(|row| (row.role.as_str(), row.key_id.as_deref(), row.outcome))
        .collect();
    assert_eq!(seen.len(), 2, "{rows:?}");
    assert!(seen.contains(&("member", Some(member.id.as_str()), LlmOutcome::Refused)));
    assert!(seen.contains(&("service", Some(service.id.as_str()), LlmOutcome::Error)));
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let (_dir, store) = common::store().await;
    let trickle = Rate {
        per_second: 0.01,
        burst: 2,
    };
    let mut state = AppState::new(store.clone())
        .with_authenticator(Authenticator::new(store.clone(), common::secret()));
    state.rate_limiter = std::sync::Arc::new(RateLimiter::new(RateLimits {
        member: trickle,
        anonymous: trickle,
        ..unlimited()
    }));
    let member = format!("Bearer {}", common::key(&store, Role::Member).await);
    let other_member = format!("Bearer {}", common::key(&store, Role::Member).await);
    let admin = format!("Bearer {}", common::key(&store, Role::Admin).await);
    let statuses = async |authorization: Option<&str>, uri: &str, client: Option<SocketAddr>| {
        let mut statuses = Vec::new();
        let mut last = None;
        for _ in 0..3 {
            let answer = send(&state, Method::GET, uri, authorization, None, &[], client).await;
            statuses.push(answer.status.as_u16());
            last = Some(answer);
        }
        (statuses, last.expect("three answers"))
    };

    let (seen, last) = statuses(Some(&member), "/api/v1/stats", None).await;
    assert_eq!(seen, [200, 200, 429]);
    assert_eq!(last.body["error"]["code"], "rate_limited", "{}", last.body);
    let retry_after: u64 = last
        .retry_after
        .expect("a Retry-After header")
        .parse()
        .expect("whole seconds");
    assert!((1..=100).contains(&retry_after), "{retry_after}");
    // On /v1 the same limit answers in OpenAI's shape.
    let (seen, last) = statuses(Some(&member), "/v1/models", None).await;
    assert_eq!(seen, [429, 429, 429]);
    assert_eq!(
        last.body["error"]["type"], "rate_limit_error",
        "{}",
        last.body
    );

    // Each key and each client address has its own bucket.
    assert_eq!(
        statuses(Some(&other_member), "/api/v1/stats", None).await.0,
        [200, 200, 429]
    );
    assert_eq!(
        statuses(Some(&admin), "/api/v1/stats", None).await.0,
        [200, 200, 200]
    );
    let first: SocketAddr = "192.0.2.1:1000".parse().expect("address");
    let second: SocketAddr = "192.0.2.2:1000".parse().expect("address");
    assert_eq!(
        statuses(None, "/api/v1/stats", Some(first)).await.0,
        [200, 200, 429]
    );
    assert_eq!(
        statuses(None, "/api/v1/stats", Some(second)).await.0,
        [200, 200, 429]
    );
    // Refused keys draw on their client's anonymous bucket: no free guessing.
    let guess = format!("Bearer stw_zzzzzzzzzzzz_{}", "0".repeat(64));
    assert_eq!(
        statuses(Some(&guess), "/api/v1/stats", Some(first)).await.0,
        [429, 429, 429]
    );
}
