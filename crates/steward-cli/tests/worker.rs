//! The scale-out path end to end, through the real binaries on PostgreSQL:
//! `steward serve --no-worker` takes an import and an embed job over HTTP,
//! `steward worker` runs them with progress visible in `/api/v1/jobs`, is
//! killed (SIGKILL) midway through the import, and a new worker takes the
//! job back once it is stale and finishes both, with the same counts as an
//! uninterrupted import into another schema.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use steward_testkit::{TestDb, require_shared};

/// The longest the import and embed jobs may take on the slowest machine.
const JOB_PATIENCE: Duration = Duration::from_secs(600);
/// The longest the first worker may take to report progress.
const START_PATIENCE: Duration = Duration::from_secs(120);
/// Seconds without a heartbeat after which the second worker takes a job back.
const STALE_AFTER_SECS: u64 = 3;
/// Small batches: the import takes long enough to be killed midway.
const BATCH_SIZE: usize = 25;
const SECRET: &str = "worker-test-secret-worker-test-secret";

/// One database (a PostgreSQL schema of its own) and the processes on it.
struct Site {
    db: TestDb,
    url: String,
    logs: PathBuf,
}

impl Site {
    fn new(url: &str, logs: &Path) -> Option<Site> {
        let db = TestDb::postgres()?;
        Some(Site {
            db,
            url: url.to_string(),
            logs: logs.to_path_buf(),
        })
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_steward"));
        // A temporary folder: what a command keeps beside its working
        // directory (the PostgreSQL search index) stays out of the source tree.
        command
            .current_dir(&self.logs)
            .args(args)
            .env("STEWARD_DATABASE_URL", &self.url)
            .env(
                "STEWARD_DATABASE__SCHEMA",
                self.db.schema().expect("a PostgreSQL test database"),
            )
            .env("STEWARD_AUTH__SECRET", SECRET)
            .env("STEWARD_WORKER__HEARTBEAT_SECS", "1")
            .env(
                "STEWARD_WORKER__STALE_AFTER_SECS",
                STALE_AFTER_SECS.to_string(),
            )
            .env("STEWARD_WORKER__POLL_INTERVAL_MS", "200")
            .env("RUST_LOG", "warn,steward=info");
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args)
            .output()
            .expect("the steward binary runs")
    }

    fn json(&self, args: &[&str]) -> Value {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "steward {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
            panic!(
                "steward {args:?}: stdout is not one JSON object ({error}): {}",
                String::from_utf8_lossy(&output.stdout)
            )
        })
    }

    /// A child whose stderr goes to `<logs>/<name>.log`, killed when dropped.
    fn spawn(&self, name: &str, args: &[&str], stdout: Stdio) -> Process {
        let log = self.logs.join(format!("{name}.log"));
        let stderr = std::fs::File::create(&log).expect("a log file");
        let child = self
            .command(args)
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("steward starts");
        Process { child, log }
    }
}

struct Process {
    child: Child,
    log: PathBuf,
}

impl Process {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `steward serve --no-worker` on a free port, and its base URL.
fn serve(site: &Site) -> (Process, String) {
    let mut server = site.spawn(
        "serve",
        &[
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--no-models",
            "--no-worker",
        ],
        Stdio::piped(),
    );
    let stdout = server.child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the address line");
    let base_url = line.trim().to_string();
    assert!(
        base_url.starts_with("http://127.0.0.1:"),
        "no address from steward serve: {base_url:?}; log: {}",
        server.log()
    );
    (server, base_url)
}

struct Api {
    client: reqwest::Client,
    base_url: String,
    bearer: String,
}

impl Api {
    async fn post_job(&self, spec: Value) -> Value {
        let answer = self
            .client
            .post(format!("{}/api/v1/jobs", self.base_url))
            .header("authorization", &self.bearer)
            .json(&spec)
            .send()
            .await
            .expect("POST /api/v1/jobs");
        assert_eq!(answer.status(), 202, "{spec}");
        let location = answer
            .headers()
            .get("location")
            .expect("a Location header")
            .to_str()
            .expect("ascii")
            .to_string();
        let job: Value = answer.json().await.expect("the job as JSON");
        assert_eq!(location, format!("/api/v1/jobs/{}", job["id"]));
        assert_eq!(job["state"], "queued", "{job}");
        job
    }

    async fn job(&self, id: &Value) -> Value {
        let answer = self
            .client
            .get(format!("{}/api/v1/jobs/{id}", self.base_url))
            .header("authorization", &self.bearer)
            .send()
            .await
            .expect("GET /api/v1/jobs/{id}");
        assert_eq!(answer.status(), 200);
        answer.json().await.expect("the job as JSON")
    }

    async fn list(&self) -> Value {
        let answer = self
            .client
            .get(format!("{}/api/v1/jobs", self.base_url))
            .header("authorization", &self.bearer)
            .send()
            .await
            .expect("GET /api/v1/jobs");
        assert_eq!(answer.status(), 200);
        answer.json().await.expect("the jobs as JSON")
    }

    /// Reads job `id` until `done` holds; fails after `patience` saying what
    /// it waited for and what the worker logged.
    async fn wait_for(
        &self,
        id: &Value,
        what: &str,
        patience: Duration,
        worker: &Process,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + patience;
        loop {
            let job = self.job(id).await;
            if done(&job) {
                return job;
            }
            assert!(
                Instant::now() < deadline,
                "job {id} was not {what} within {patience:?}: {job}\nworker log:\n{}",
                worker.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The stats and the import and embed results, which must not depend on
/// whether the worker was killed.
fn counts(stats: &Value, embed_result: &Value) -> Value {
    json!({
        "stats": stats,
        "embedded": embed_result["embedded"],
        "scanned": embed_result["scanned"],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_import_is_finished_by_the_next_worker_with_the_same_counts() {
    let dump = require_shared!(data "se-ai-2017");
    let Some(url) = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
    else {
        // Fails under CI=true, skips with the reason elsewhere.
        let _ = TestDb::postgres();
        return;
    };
    let logs = tempfile::tempdir().expect("temp dir");
    let Some(interrupted) = Site::new(&url, logs.path()) else {
        return;
    };
    let Some(uninterrupted) = Site::new(&url, &logs.path().join("b")) else {
        return;
    };
    std::fs::create_dir_all(logs.path().join("b")).expect("log dir");
    let dump = dump.to_str().expect("a UTF-8 path").to_string();

    // The reference: the same import (and embedding) run once, uninterrupted.
    let report = uninterrupted.json(&[
        "import",
        "stackexchange",
        &dump,
        "--batch-size",
        &BATCH_SIZE.to_string(),
        "--json",
    ]);
    assert!(report["files"].is_array(), "{report}");
    let embedded = uninterrupted.run(&["embed", "--all", "--model", "lsa"]);
    assert!(
        embedded.status.success(),
        "{}",
        String::from_utf8_lossy(&embedded.stderr)
    );
    let recorded = uninterrupted.json(&["jobs", "list", "--json"]);
    let cli_embed = recorded["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|job| job["kind"] == "embed")
        .cloned()
        .expect("the CLI's embed run is recorded as a job");
    assert_eq!(cli_embed["worker"], "cli");
    assert_eq!(cli_embed["state"], "succeeded", "{cli_embed}");
    let expected = counts(
        &uninterrupted.json(&["stats", "--json"]),
        &cli_embed["result"],
    );

    // The scale-out setup: an API with no worker, jobs queued over HTTP.
    let (_server, base_url) = serve(&interrupted);
    let key = interrupted.json(&["keys", "create", "--role", "service", "--json"]);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let api = Api {
        client: reqwest::Client::new(),
        base_url,
        bearer: format!("Bearer {}", key["key"].as_str().expect("the key")),
    };
    let import = api
        .post_job(json!({
            "kind": "import-stackexchange",
            "path": dump,
            "batch_size": BATCH_SIZE,
        }))
        .await;
    let embed = api.post_job(json!({"kind": "embed", "model": "lsa"})).await;
    let listed = api.list().await;
    assert_eq!(
        listed["items"][0]["id"], embed["id"],
        "newest first: {listed}"
    );

    // The first worker makes progress, visible over HTTP, and is killed.
    let mut first = interrupted.spawn("worker-1", &["worker", "--name", "first"], Stdio::null());
    let running = api
        .wait_for(
            &import["id"],
            "running with progress",
            START_PATIENCE,
            &first,
            |job| job["state"] == "running" && job["progress"]["done"].as_u64() > Some(0),
        )
        .await;
    first.child.kill().expect("SIGKILL the worker");
    first.child.wait().expect("the worker is gone");
    assert_eq!(running["worker"], "first");
    for key in ["phase", "done", "total", "unit", "rate_per_sec", "eta_secs"] {
        assert!(
            running["progress"].get(key).is_some(),
            "progress has `{key}`: {running}"
        );
    }
    let after_kill = api.job(&import["id"]).await;
    assert_eq!(
        after_kill["state"], "running",
        "the import must still be running when its worker dies (else this test \
         proves nothing: make the import slower): {after_kill}"
    );
    assert_eq!(api.job(&embed["id"]).await["state"], "queued");

    // Once the dead worker's job is stale, a new worker takes it back first
    // (it is the oldest queued job), then runs the embedding, then exits.
    tokio::time::sleep(Duration::from_secs(STALE_AFTER_SECS + 1)).await;
    let second = interrupted.spawn(
        "worker-2",
        &["worker", "--name", "second", "--once"],
        Stdio::null(),
    );
    let finished = |job: &Value| {
        ["succeeded", "failed", "cancelled"].contains(&job["state"].as_str().unwrap_or(""))
    };
    let import = api
        .wait_for(&import["id"], "finished", JOB_PATIENCE, &second, finished)
        .await;
    assert_eq!(import["state"], "succeeded", "{import}");
    assert_eq!(
        (&import["worker"], &import["attempts"]),
        (&json!("second"), &json!(2)),
        "{import}"
    );
    let embed = api
        .wait_for(&embed["id"], "finished", JOB_PATIENCE, &second, finished)
        .await;
    assert_eq!(embed["state"], "succeeded", "{embed}\n{}", second.log());
    assert_eq!(embed["worker"], "second");

    let got = counts(&interrupted.json(&["stats", "--json"]), &embed["result"]);
    assert_eq!(got, expected, "killed and resumed vs uninterrupted");

    drop(second);
    interrupted.db.cleanup().await;
    uninterrupted.db.cleanup().await;
}
