//! Serving under load and contention: connection limits and timeouts over
//! real sockets, keyset pages of listings and threads, cached stats, and
//! 503 `database_busy` when another writer holds the database; on SQLite and
//! (when `TEST_DATABASE_URL` is set, always under `CI=true`) PostgreSQL.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use steward_auth::{Rate, RateLimiter, RateLimits, Role};
use steward_domain::{Post, PostId, PostKind};
use steward_server::{AppState, ServerConfig, router};
use steward_store::{Store, StoreOptions, WriteBatch};
use steward_testkit::fixtures::{post, user};
use steward_testkit::{TestDb, on_every_backend};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceExt;

/// A state over `store` whose anonymous rate never throttles: these tests
/// walk listings page by page faster than a person would, and the rate
/// limiter has tests of its own (`auth_matrix.rs`).
fn unthrottled(store: Store) -> AppState {
    let unlimited = Rate {
        per_second: 1e9,
        burst: u32::MAX,
    };
    AppState {
        rate_limiter: Arc::new(RateLimiter::new(RateLimits {
            anonymous: unlimited,
            ..RateLimits::default()
        })),
        ..AppState::new(store)
    }
}

async fn call(
    state: &AppState,
    key: Option<&str>,
    method: Method,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Option<String>, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let request = request
        .body(body.map_or_else(Body::empty, |body| Body::from(body.to_string())))
        .expect("valid request");
    let response = router(state.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().expect("ASCII").to_string());
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let value =
        serde_json::from_slice(&bytes).unwrap_or_else(|error| panic!("{uri}: not JSON ({error})"));
    (status, retry_after, value)
}

async fn get(state: &AppState, uri: &str) -> Value {
    let (status, _, body) = call(state, None, Method::GET, uri, None).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    body
}

fn ids(items: &Value) -> Vec<i64> {
    items
        .as_array()
        .expect("an array")
        .iter()
        .map(|item| item["id"].as_i64().expect("id"))
        .collect()
}

fn posts_batch(posts: Vec<Post>) -> WriteBatch {
    WriteBatch {
        users: vec![user(1)],
        posts,
        ..WriteBatch::default()
    }
}

// ---- connections ---------------------------------------------------------

/// A server on a free loopback port with `config`, stopped when dropped.
struct Running {
    address: std::net::SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
    _db: TestDb,
}

async fn start(config: ServerConfig) -> Running {
    let db = TestDb::sqlite();
    let store = db.open().await;
    store
        .write(&posts_batch(vec![post(1, PostKind::Question, None, 1_000)]))
        .await
        .expect("written");
    let state = AppState {
        config,
        ..unthrottled(store)
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let address = listener.local_addr().expect("bound");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(steward_server::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    Running {
        address,
        _stop: stop,
        _db: db,
    }
}

/// `GET path` on a new connection with a plain HTTP/1.1 request; the status line.
async fn fresh_get(address: std::net::SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(address).await.expect("connected");
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("sent");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Opens `count` connections to `address`: every other one sends nothing,
/// the rest half a request head.
async fn idle_and_half_sent(address: std::net::SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(count);
    for index in 0..count {
        let mut stream = TcpStream::connect(address).await.expect("connected");
        if index % 2 == 1 {
            stream
                .write_all(b"GET /api/v1/stats HTTP/1.1\r\nHost: te")
                .await
                .expect("half a head sent");
        }
        streams.push(stream);
    }
    streams
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_half_sent_connections_past_the_limit_do_not_lock_out_a_new_client() {
    // A header timeout far beyond the test: only the limit can make room.
    let server = start(ServerConfig {
        header_read_timeout: Duration::from_secs(600),
        max_connections: 100,
        ..ServerConfig::default()
    })
    .await;
    let hogs = idle_and_half_sent(server.address, 1_000).await;
    let started = Instant::now();
    let status = tokio::time::timeout(
        Duration::from_secs(10),
        fresh_get(server.address, "/api/v1/stats"),
    )
    .await
    .expect("a new client is answered while 1,000 connections hog the server");
    assert_eq!(status, "HTTP/1.1 200 OK", "after {:?}", started.elapsed());
    drop(hogs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_half_sent_connections_are_closed_after_the_header_timeout() {
    let server = start(ServerConfig {
        header_read_timeout: Duration::from_secs(1),
        ..ServerConfig::default()
    })
    .await;
    let mut hogs = idle_and_half_sent(server.address, 200).await;
    // A kept-alive connection that finished a request counts as idle too.
    let mut kept_alive = TcpStream::connect(server.address).await.expect("connected");
    kept_alive
        .write_all(b"GET /api/v1/health/live HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("sent");
    let mut answer = [0u8; 1024];
    let read = kept_alive.read(&mut answer).await.expect("answered");
    assert!(answer[..read].starts_with(b"HTTP/1.1 200 OK"));
    hogs.push(kept_alive);

    for (index, stream) in hogs.iter_mut().enumerate() {
        let mut byte = [0u8; 1024];
        // Whatever the server says last (a 408 or nothing), it then closes.
        let closed = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match stream.read(&mut byte).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "connection {index} still open after 10 s");
    }
    assert_eq!(
        fresh_get(server.address, "/api/v1/health/live").await,
        "HTTP/1.1 200 OK"
    );
}

// ---- listings ------------------------------------------------------------

/// `count` questions; created times repeat (ties broken by id) and scores too.
fn questions(first_id: i64, count: i64, first_millis: i64) -> Vec<Post> {
    (0..count)
        .map(|index| {
            let id = first_id + index;
            let mut question = post(
                id,
                PostKind::Question,
                None,
                first_millis + (index / 3) * 1_000,
            );
            question.score = (index * 7) % 5;
            question
        })
        .collect()
}

/// Every id of a listing, walked by cursor `per_page` at a time.
async fn walk(state: &AppState, query: &str, per_page: u32) -> Vec<i64> {
    let mut seen = Vec::new();
    let mut uri = format!("/api/v1/posts?{query}&per_page={per_page}");
    loop {
        let page = get(state, &uri).await;
        let page_ids = ids(&page["items"]);
        assert!(page_ids.len() <= per_page as usize, "{page}");
        seen.extend(page_ids);
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                uri = format!("/api/v1/posts?{query}&per_page={per_page}&cursor={cursor}")
            }
            None => return seen,
        }
    }
}

#[tokio::test]
async fn listings_walked_by_cursor_match_the_pages_and_survive_inserts() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        store
            .write(&posts_batch(questions(1, 57, 1_704_067_200_000)))
            .await
            .expect("written");
        let state = unthrottled(store.clone());
        for sort in ["newest", "oldest", "score"] {
            let query = format!("sort={sort}");
            let all =
                ids(&get(&state, &format!("/api/v1/posts?{query}&per_page=100")).await["items"]);
            assert_eq!(all.len(), 57);
            assert_eq!(walk(&state, &query, 10).await, all, "{sort}");
            // Page numbers still work, and agree with the cursor.
            let third = get(&state, &format!("/api/v1/posts?{query}&per_page=10&page=3")).await;
            assert_eq!(ids(&third["items"]), all[20..30], "{sort}");
            assert_eq!(third["page"], 3);
            assert!(third["next_cursor"].is_string(), "{third}");
        }
        let kind = walk(&state, "kind=question&sort=oldest", 25).await;
        assert_eq!(kind.len(), 57);

        // New posts arriving while a client walks the oldest-first listing
        // land after its end, and no post is shown twice or skipped.
        let first = get(&state, "/api/v1/posts?sort=oldest&per_page=20").await;
        store
            .write(&posts_batch(questions(1_000, 5, 1_800_000_000_000)))
            .await
            .expect("written");
        let mut seen = ids(&first["items"]);
        let mut cursor = first["next_cursor"].as_str().expect("more").to_string();
        loop {
            let page = get(
                &state,
                &format!("/api/v1/posts?sort=oldest&per_page=20&cursor={cursor}"),
            )
            .await;
            assert_eq!(page["page"], Value::Null, "a cursor page has no number");
            seen.extend(ids(&page["items"]));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = next.to_string(),
                None => break,
            }
        }
        assert_eq!(seen.len(), 62);
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 62, "no repeats");
        assert_eq!(seen[57..], [1_000, 1_001, 1_002, 1_003, 1_004]);

        // A cursor of one order is refused by another, by name.
        let oldest_cursor = first["next_cursor"].as_str().expect("cursor");
        let (status, _, body) = call(
            &state,
            None,
            Method::GET,
            &format!("/api/v1/posts?sort=newest&cursor={oldest_cursor}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"]["code"], "invalid_parameter");
        assert_eq!(body["error"]["parameter"], "cursor");
        store.close().await;
    })
    .await;
}

// ---- threads -------------------------------------------------------------

const QUESTION: i64 = 1;
const ANSWERS: i64 = 230;

/// A question with [`ANSWERS`] answers (ids 100..), the accepted one with
/// the lowest score; 45 comments under the question (ids 10_000..) and 25
/// under each of three answers of the top score (ids 20_000..).
fn big_thread() -> Vec<Post> {
    let mut question = post(QUESTION, PostKind::Question, None, 0);
    let accepted = 100 + ANSWERS - 1;
    question.accepted_answer_id = Some(PostId(accepted));
    let mut posts = vec![question];
    for index in 0..ANSWERS {
        let mut answer = post(
            100 + index,
            PostKind::Answer,
            Some(QUESTION),
            1_000 + index % 17,
        );
        answer.score = if 100 + index == accepted {
            -5
        } else {
            index % 11
        };
        posts.push(answer);
    }
    for index in 0..45 {
        posts.push(post(
            10_000 + index,
            PostKind::Comment,
            Some(QUESTION),
            5_000 + index / 2,
        ));
    }
    for (answer, parent) in [110, 121, 132].into_iter().enumerate() {
        for index in 0..25 {
            posts.push(post(
                20_000 + answer as i64 * 100 + index,
                PostKind::Comment,
                Some(parent),
                6_000 + index,
            ));
        }
    }
    posts
}

#[tokio::test]
async fn a_big_thread_comes_in_pages_of_answers_and_comments() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let posts = big_thread();
        store.write(&posts_batch(posts.clone())).await.expect("written");
        let state = unthrottled(store.clone());

        // The reading order: accepted first, then by score, ties oldest first.
        let accepted = PostId(100 + ANSWERS - 1);
        let mut expected: Vec<&Post> = posts.iter().filter(|post| post.kind == PostKind::Answer).collect();
        expected.sort_by_key(|answer| {
            (answer.id != accepted, std::cmp::Reverse(answer.score), answer.created_at, answer.id)
        });
        let expected: Vec<i64> = expected.iter().map(|answer| answer.id.0).collect();

        let mut answers = Vec::new();
        let mut uri = format!("/api/v1/posts/{QUESTION}?answers_per_page=100");
        let mut pages = 0;
        loop {
            let thread = get(&state, &uri).await;
            pages += 1;
            assert_eq!(thread["post"]["id"], QUESTION);
            assert_eq!(thread["comments"].as_array().expect("comments").len(), 20, "default page");
            answers.extend(ids(&thread["answers"]));
            match thread["next_answers_cursor"].as_str() {
                Some(cursor) => uri = format!("/api/v1/posts/{QUESTION}?answers_per_page=100&answers_cursor={cursor}"),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(answers, expected);

        // The question's comments, page by page, oldest first.
        let mut comments = Vec::new();
        let mut uri = format!("/api/v1/posts/{QUESTION}?comments_per_page=20&answers_per_page=1");
        loop {
            let thread = get(&state, &uri).await;
            comments.extend(ids(&thread["comments"]));
            match thread["next_comments_cursor"].as_str() {
                Some(cursor) => uri = format!("/api/v1/posts/{QUESTION}?comments_per_page=20&answers_per_page=1&comments_cursor={cursor}"),
                None => break,
            }
        }
        assert_eq!(comments, (10_000..10_045).collect::<Vec<_>>());

        // An answer shows its first comments; the rest are a cursor away.
        let thread = get(&state, &format!("/api/v1/posts/{QUESTION}?answers_per_page=100&comments_per_page=10")).await;
        let answer = thread["answers"]
            .as_array()
            .expect("answers")
            .iter()
            .find(|answer| answer["id"] == 110)
            .expect("answer 110 (top score) on the first page");
        assert_eq!(ids(&answer["comments"]), (20_000..20_010).collect::<Vec<_>>());
        let cursor = answer["next_comments_cursor"].as_str().expect("more comments");
        let rest = get(&state, &format!("/api/v1/posts/110?comments_per_page=100&comments_cursor={cursor}")).await;
        assert_eq!(ids(&rest["comments"]), (20_010..20_025).collect::<Vec<_>>());
        assert_eq!(rest["next_comments_cursor"], Value::Null);
        let quiet = thread["answers"]
            .as_array()
            .expect("answers")
            .iter()
            .find(|answer| answer["id"] == 143)
            .expect("answer 143 (top score, no comments) on the first page");
        assert_eq!((&quiet["comments"], &quiet["next_comments_cursor"]), (&json!([]), &Value::Null));
        store.close().await;
    })
    .await;
}

// ---- stats ---------------------------------------------------------------

#[tokio::test]
async fn stats_are_served_from_memory_and_refreshed_in_the_background() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        store
            .write(&posts_batch(questions(1, 4, 1_704_067_200_000)))
            .await
            .expect("written");
        let state = AppState {
            config: ServerConfig {
                stats_max_age: Duration::from_millis(300),
                ..ServerConfig::default()
            },
            ..unthrottled(store.clone())
        };
        let first = get(&state, "/api/v1/stats").await;
        assert_eq!(first["questions"], 4);
        assert_eq!(
            first,
            serde_json::to_value(store.stats().await.expect("stats")).expect("JSON")
        );

        store
            .write(&posts_batch(questions(100, 3, 1_704_067_200_000)))
            .await
            .expect("written");
        // Within the age: the figures in memory, not a new scan.
        assert_eq!(get(&state, "/api/v1/stats").await["questions"], 4);
        // Past it: the next request starts a refresh, later ones see it.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let stats = get(&state, "/api/v1/stats").await;
            if stats["questions"] == 7 {
                assert_eq!(
                    stats,
                    serde_json::to_value(store.stats().await.expect("stats")).expect("JSON")
                );
                break;
            }
            assert!(Instant::now() < deadline, "stats never refreshed: {stats}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The listing's total follows the same age.
        let deadline = Instant::now() + Duration::from_secs(10);
        while get(&state, "/api/v1/posts?per_page=1").await["total"] != 7 {
            assert!(Instant::now() < deadline, "the total never refreshed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        store.close().await;
    })
    .await;
}

// ---- a busy database -----------------------------------------------------

/// A store on `db` that gives up on a lock after 200 ms.
async fn impatient_store(db: &TestDb) -> Store {
    let mut options: StoreOptions = db.options();
    options.busy_timeout = Duration::from_millis(200);
    options.acquire_timeout = Duration::from_millis(500);
    Store::open_with(options).await.expect("opened")
}

fn view(key: &str) -> Value {
    json!({"kind": "view", "user_id": 1, "target": {"type": "post", "id": 1}, "key": key})
}

#[tokio::test]
async fn a_locked_database_answers_503_database_busy_with_retry_after() {
    on_every_backend(|db| async move {
        let store = impatient_store(&db).await;
        store
            .write(&posts_batch(vec![post(1, PostKind::Question, None, 0)]))
            .await
            .expect("written");
        let (state, key) = common::keyed_state(&store, Role::Member).await;

        // Another client holds the write lock (SQLite) or locks the table
        // the events go to (PostgreSQL) and does not let go.
        let mut other = raw_connection(&db).await;
        let lock = match db.schema() {
            None => "BEGIN IMMEDIATE".to_string(),
            Some(schema) => {
                format!("BEGIN; LOCK TABLE \"{schema}\".events IN ACCESS EXCLUSIVE MODE")
            }
        };
        sqlx::raw_sql(sqlx::AssertSqlSafe(lock))
            .execute(&mut other)
            .await
            .expect("locked");

        let (status, retry_after, body) = call(
            &state,
            Some(&key),
            Method::POST,
            "/api/v1/events",
            Some(view("busy:1")),
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["error"]["code"], "database_busy", "{body}");
        assert_eq!(retry_after.as_deref(), Some("1"));
        if db.schema().is_none() {
            // A SQLite file that takes no writes is not ready.
            let (status, retry_after, body) =
                call(&state, None, Method::GET, "/api/v1/health/ready", None).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
            assert_eq!(body["error"]["code"], "not_ready", "{body}");
            assert_eq!(retry_after.as_deref(), Some("1"));
        }

        sqlx::raw_sql("ROLLBACK")
            .execute(&mut other)
            .await
            .expect("released");
        let (status, _, body) = call(&state, None, Method::GET, "/api/v1/health/ready", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, _, body) = call(
            &state,
            Some(&key),
            Method::POST,
            "/api/v1/events",
            Some(view("busy:1")),
        )
        .await;
        assert_eq!(
            (status, body),
            (StatusCode::OK, json!({"accepted": 1, "duplicates": 0}))
        );
        store.close().await;
    })
    .await;
}

/// A raw connection to the test database, beside the store's pool.
async fn raw_connection(db: &TestDb) -> sqlx::AnyConnection {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let url = db.options().url;
    let url = if url.starts_with("postgres") {
        url
    } else {
        format!("sqlite://{url}")
    };
    sqlx::AnyConnection::connect(&url).await.expect("connected")
}

#[tokio::test]
async fn processes_opening_a_new_sqlite_file_at_once_all_succeed() {
    for round in 0..5 {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let path = directory.path().join("new.db").display().to_string();
        let opens = (0..4).map(|_| Store::open(&path));
        for (index, opened) in futures::future::join_all(opens)
            .await
            .into_iter()
            .enumerate()
        {
            let store =
                opened.unwrap_or_else(|error| panic!("round {round}, open {index}: {error}"));
            assert_eq!(store.stats().await.expect("stats").posts, 0);
            store.close().await;
        }
    }
}
