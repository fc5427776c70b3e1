//! End-to-end tests through the `steward` binary: what a user types, what they
//! see on stdout, and the exit status.

use std::path::Path;
use std::process::{Command, Output};

use steward_testkit::require_shared;

fn steward(database: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_steward"))
        .arg("--database")
        .arg(database)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the steward binary runs")
}

fn json_stdout(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "steward failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "stdout is not one JSON object ({error}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn rows_in(path: &Path) -> i64 {
    let text = std::fs::read_to_string(path).expect("readable dump file");
    text.lines()
        .filter(|line| line.trim_start().starts_with("<row "))
        .count() as i64
}

#[test]
fn sample_import_and_stats_agree_and_reimport_changes_nothing() {
    let work = tempfile::tempdir().expect("temp dir");
    let dump = work.path().join("dump");
    let database = work.path().join("community.db");
    let sample = Command::new(env!("CARGO_BIN_EXE_steward"))
        .args(["sample", "--out"])
        .arg(&dump)
        .args(["--users", "120", "--seed", "7", "--json"])
        .output()
        .expect("steward sample runs");
    json_stdout(&sample);

    let report = json_stdout(&steward(
        &database,
        &[
            "import",
            "stackexchange",
            dump.to_str().expect("utf-8 path"),
            "--strict",
            "--json",
        ],
    ));
    assert_eq!(
        report["total_skipped"], 0,
        "a generated sample imports cleanly"
    );

    let stats = json_stdout(&steward(&database, &["stats", "--json"]));
    for key in [
        "posts",
        "questions",
        "answers",
        "comments",
        "users",
        "tags",
        "post_links",
        "badges",
        "events",
    ] {
        assert!(
            stats[key].is_i64(),
            "stats --json has integer `{key}`: {stats}"
        );
    }
    assert_eq!(
        stats["posts"].as_i64(),
        Some(rows_in(&dump.join("Posts.xml")))
    );
    assert_eq!(
        stats["comments"].as_i64(),
        Some(rows_in(&dump.join("Comments.xml")))
    );
    assert_eq!(
        stats["users"].as_i64(),
        Some(rows_in(&dump.join("Users.xml")))
    );
    assert!(stats["events"].as_i64() > Some(0));
    let named_counts = |key: &str| {
        stats[key].as_array().is_some_and(|items| {
            !items.is_empty()
                && items
                    .iter()
                    .all(|item| item["name"].is_string() && item["count"].is_i64())
        })
    };
    assert!(
        named_counts("events_by_kind") && named_counts("top_tags"),
        "arrays of {{name, count}}: {stats}"
    );
    // One shape for the CLI and `GET /api/v1/stats`: both print the store's Stats.
    let from_store = tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(async {
            let store = steward_store::Store::open(&database.display().to_string())
                .await
                .expect("the database opens");
            store.stats().await.expect("stats")
        });
    assert_eq!(
        stats,
        serde_json::to_value(from_store).expect("JSON"),
        "stats --json is the store's Stats as they serialize"
    );

    json_stdout(&steward(
        &database,
        &[
            "import",
            "stackexchange",
            dump.to_str().expect("utf-8 path"),
            "--json",
        ],
    ));
    let again = json_stdout(&steward(&database, &["stats", "--json"]));
    assert_eq!(
        again, stats,
        "importing the same dump twice changes nothing"
    );
}

#[test]
fn strict_import_fails_on_a_bad_row_and_names_its_line() {
    let dump_dir = require_shared!(data "se-ai-2017");
    let work = tempfile::tempdir().expect("temp dir");
    let dump = work.path().join("dump");
    std::fs::create_dir(&dump).expect("dump dir");
    let posts = std::fs::read_to_string(dump_dir.join("Posts.xml")).expect("Posts.xml");
    let mut lines: Vec<&str> = posts.lines().collect();
    // Line 5 of the file becomes garbage; everything else stays.
    lines[4] = "  <row Id=\"oops\" this is not xml";
    std::fs::write(dump.join("Posts.xml"), lines.join("\n")).expect("write corrupted copy");
    let database = work.path().join("community.db");

    let output = steward(
        &database,
        &[
            "import",
            "stackexchange",
            dump.to_str().expect("utf-8 path"),
            "--strict",
            "--json",
        ],
    );
    assert!(
        !output.status.success(),
        "--strict fails when a row was skipped"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the report is still printed as JSON");
    assert_eq!(report["total_skipped"], 1);
    assert_eq!(report["skips"][0]["file"], "Posts.xml");
    assert_eq!(report["skips"][0]["line"], 5);

    let stats = json_stdout(&steward(&database, &["stats", "--json"]));
    assert_eq!(
        stats["posts"].as_i64(),
        Some(rows_in(&dump_dir.join("Posts.xml")) - 1),
        "every good row is imported"
    );
}

#[test]
fn unreachable_database_gives_an_error_that_says_what_failed() {
    let work = tempfile::tempdir().expect("temp dir");
    let database = work.path().join("missing-folder/community.db");
    let output = steward(&database, &["stats", "--json"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("missing-folder"),
        "the error names the path: {stderr}"
    );
    assert!(output.stdout.is_empty(), "no half-printed JSON on failure");
}

#[test]
fn an_import_into_a_log_prints_plain_progress_lines_on_stderr() {
    let work = tempfile::tempdir().expect("temp dir");
    let dump = work.path().join("dump");
    let sample = Command::new(env!("CARGO_BIN_EXE_steward"))
        .args(["sample", "--out"])
        .arg(&dump)
        .args(["--users", "120", "--seed", "3", "--json"])
        .output()
        .expect("steward sample runs");
    json_stdout(&sample);

    // `output()` pipes stderr, so it is not a terminal: plain lines, not a bar.
    let output = Command::new(env!("CARGO_BIN_EXE_steward"))
        .arg("--database")
        .arg(work.path().join("community.db"))
        .args(["import", "stackexchange"])
        .arg(&dump)
        .arg("--json")
        .env("RUST_LOG", "warn")
        .env("STEWARD_PROGRESS_INTERVAL_MS", "1")
        .output()
        .expect("the steward binary runs");
    json_stdout(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr
            .lines()
            .any(|line| line.starts_with("Posts.xml: ") && line.contains("%)")),
        "a progress line for Posts.xml: {stderr}"
    );
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("done in ") && last.contains(", at Tags.xml: "),
        "the last line says the import is done: {stderr}"
    );
    assert!(
        !stderr.contains('\r') && !stderr.contains('\u{1b}'),
        "no terminal control characters in a log: {stderr}"
    );
}

/// A `steward serve` child process, killed when dropped.
struct Server {
    child: std::process::Child,
    base_url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(database: &Path) -> Server {
    use std::io::BufRead as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_steward"))
        .arg("--database")
        .arg(database)
        .args(["serve", "--bind", "127.0.0.1:0", "--no-models"])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("steward serve starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the address line");
    let base_url = line.trim().to_string();
    assert!(base_url.starts_with("http://127.0.0.1:"), "{base_url:?}");
    Server { child, base_url }
}

#[tokio::test]
async fn a_key_from_the_cli_works_over_http_until_revoked() {
    let work = tempfile::tempdir().expect("temp dir");
    let database = work.path().join("community.db");
    let created = json_stdout(&steward(
        &database,
        &[
            "keys", "create", "--role", "member", "--name", "cli test", "--json",
        ],
    ));
    let key = created["key"].as_str().expect("the key, once").to_string();
    let id = created["id"].as_str().expect("its id").to_string();
    assert_eq!(created["role"], "member");
    assert_eq!(created["expires_at"], serde_json::Value::Null);
    assert!(key.starts_with(&format!("stw_{id}_")), "{key}");
    assert!(
        work.path().join("community.db.auth-secret").is_file(),
        "the server secret is kept beside the database"
    );

    let listed = json_stdout(&steward(&database, &["keys", "list", "--json"]));
    assert_eq!(listed["items"][0]["id"], id.as_str());
    assert_eq!(listed["items"][0]["state"], "active");
    let listed_text = listed.to_string();
    assert!(
        !listed_text.contains(&key[key.len() - 64..]) && !listed_text.contains("hash"),
        "no secret in the list: {listed_text}"
    );

    let server = serve(&database);
    // reqwest is built without a default TLS provider (see the root Cargo.toml).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let event = serde_json::json!({"kind": "follow", "user_id": 1, "target": {"type": "tag", "id": "rust"}});
    let post_event = |authorization: Option<String>| {
        let mut request = client
            .post(format!("{}/api/v1/events", server.base_url))
            .json(&event);
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        request.send()
    };
    let bearer = format!("Bearer {key}");
    let accepted = post_event(Some(bearer.clone())).await.expect("request");
    assert_eq!(accepted.status(), 200);
    let anonymous = post_event(None).await.expect("request");
    assert_eq!(anonymous.status(), 401);
    let stats = client
        .get(format!("{}/api/v1/stats", server.base_url))
        .send()
        .await
        .expect("request");
    assert_eq!(stats.status(), 200, "reads are public by default");

    let revoked = steward(&database, &["keys", "revoke", &id]);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    // Refused within the server's key cache lifetime, plus slack.
    let deadline = std::time::Instant::now()
        + steward_auth::DEFAULT_CACHE_TTL
        + std::time::Duration::from_secs(5);
    loop {
        let answer = post_event(Some(bearer.clone())).await.expect("request");
        if answer.status() == 401 {
            let body: serde_json::Value = answer.json().await.expect("JSON error");
            assert_eq!(body["error"]["reason"], "revoked_key", "{body}");
            break;
        }
        assert_eq!(answer.status(), 200);
        assert!(
            std::time::Instant::now() < deadline,
            "the revoked key was still accepted after the cache window"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let listed = json_stdout(&steward(&database, &["keys", "list", "--json"]));
    assert_eq!(listed["items"][0]["state"], "revoked");
    assert!(listed["items"][0]["last_used_at"].is_string(), "{listed}");
}

#[test]
fn bench_search_reports_build_query_and_incremental_figures_as_json() {
    let work = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_steward"))
        .arg("--database")
        .arg(work.path().join("unused.db"))
        .args(["bench", "search", "--docs", "300", "--queries", "20"])
        .args(["--incremental-repeats", "3", "--json"])
        .args(["--hybrid-docs", "200", "--hybrid-model", "lsa"])
        .env("RUST_LOG", "warn")
        .env_remove("STEWARD_PEER_PYTHON")
        .output()
        .expect("the steward binary runs");
    let report = json_stdout(&output);
    // Every generated question is a thread; the generator adds articles too.
    assert!(
        report["docs"].as_u64().unwrap_or(0) >= 300,
        "every question is a thread: {report}"
    );
    assert_eq!(report["queries"], 20);
    assert_eq!(report["threads"], 1);
    let steward = &report["steward"];
    for key in [
        "build_docs_per_sec",
        "queries_per_sec",
        "p50_ms",
        "p99_ms",
        "incremental_p50_ms",
    ] {
        let value = steward[key].as_f64().unwrap_or(-1.0);
        assert!(
            value > 0.0 && value.is_finite(),
            "steward.{key} is a positive figure: {report}"
        );
    }
    assert!(
        steward["p50_ms"].as_f64() <= steward["p99_ms"].as_f64(),
        "p50 <= p99: {report}"
    );
    assert!(
        steward["mean_hits"].as_f64().unwrap_or(0.0) > 5.0,
        "queries of corpus words find threads: {report}"
    );
    assert!(report["peer"].is_null(), "no peer without --python");
    assert!(report["peer_error"].is_string());
    assert!(report["ratio_queries_per_sec"].is_null());
    // The hybrid run: its own community, embedded with LSA, searched fused.
    let hybrid = &report["hybrid"];
    assert!(hybrid["docs"].as_u64().unwrap_or(0) >= 200, "{report}");
    assert_eq!(hybrid["vector_index"], "exact", "200 threads: {report}");
    assert!(
        hybrid["model"]
            .as_str()
            .is_some_and(|model| model.starts_with("lsa")),
        "{report}"
    );
    assert_eq!(hybrid["queries"], 20);
    for key in ["p50_ms", "p99_ms", "bm25_p50_ms", "dense_p50_ms"] {
        let value = hybrid[key].as_f64().unwrap_or(-1.0);
        assert!(value > 0.0 && value.is_finite(), "hybrid.{key}: {report}");
    }
    assert!(
        hybrid["p50_ms"].as_f64() <= hybrid["p99_ms"].as_f64(),
        "{report}"
    );
}
