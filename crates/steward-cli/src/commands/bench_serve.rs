//! `steward bench serve`: HTTP serving figures on a generated community. It
//! generates and imports a community of about `--posts` posts (or reuses the
//! one left in `--work-dir`), starts `steward serve` on loopback as a child
//! process, drives each endpoint with `wrk` (requests/s, p50, p99, errors),
//! then opens `--idle-connections` idle connections and times a new client's
//! request among them. Every step is bounded in time.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::Serialize;
use steward_ingest::stackexchange::{DumpOptions, import_dump};
use steward_jobs::JobHandle;
use steward_sample::{SampleConfig, generate};
use steward_store::{PostCursor, PostOrder, PostQuery, Store, StoreOptions};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::{Context, progress};

/// The targets for the listing and stats endpoints.
const TARGET_REQUESTS_PER_SECOND: f64 = 2_000.0;
const TARGET_P99_MILLISECONDS: f64 = 50.0;

/// Posts per generated question: the sample writes 1.7 answers per question
/// on average.
const POSTS_PER_QUESTION: f64 = 2.7;

#[derive(Debug, clap::Args)]
pub struct BenchServeArgs {
    /// About how many posts (questions and answers) to generate.
    #[arg(long, default_value_t = 80_000)]
    pub posts: u64,
    /// Seed of the generated community.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Keep the generated database here and reuse it on the next run
    /// (default: a temporary folder, removed afterwards).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Seconds of load per endpoint.
    #[arg(long, default_value_t = 15)]
    pub duration_secs: u64,
    /// wrk threads.
    #[arg(long, default_value_t = 2)]
    pub threads: u32,
    /// wrk connections.
    #[arg(long, default_value_t = 32)]
    pub connections: u32,
    /// Idle connections opened before timing a new client (capped by this
    /// process's open-file limit; `bench/load.sh` raises it).
    #[arg(long, default_value_t = 20_000)]
    pub idle_connections: u32,
    /// Print the figures as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// wrk's figures for one endpoint.
#[derive(Debug, Serialize)]
struct EndpointResult {
    name: &'static str,
    path: String,
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    requests: u64,
    /// Non-2xx answers plus socket errors (connect, read, write, timeout).
    errors: u64,
    /// Held to the targets (listing and stats only).
    targeted: bool,
}

#[derive(Debug, Serialize)]
struct IdleResult {
    idle_connections_opened: u32,
    new_client_status: String,
    new_client_ms: f64,
}

#[derive(Debug, Serialize)]
struct BenchServeResult {
    database: String,
    posts: i64,
    comments: i64,
    wrk: String,
    threads: u32,
    connections: u32,
    duration_secs: u64,
    endpoints: Vec<EndpointResult>,
    idle: IdleResult,
    target_requests_per_second: f64,
    target_p99_ms: f64,
    meets_targets: bool,
}

pub async fn run(args: BenchServeArgs, context: &Context) -> anyhow::Result<()> {
    let wrk = which_wrk().context(
        "`wrk` is not installed: on Debian or Ubuntu `apt-get install -y wrk`, \
         elsewhere see https://github.com/wg/wrk",
    )?;
    let (work_dir, temporary) = match &args.work_dir {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!("steward-bench-serve-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("creating {}", work_dir.display()))?;
    let outcome = bench(&args, &work_dir, &wrk, context).await;
    if temporary {
        let _ = std::fs::remove_dir_all(&work_dir);
    }
    let result = outcome?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&result).context("serializing the figures")?
        );
        return Ok(());
    }
    println!(
        "serve bench: {} posts + {} comments in {}; wrk -t{} -c{} -d{}s",
        result.posts,
        result.comments,
        result.database,
        result.threads,
        result.connections,
        result.duration_secs
    );
    println!(
        "  {:<14} {:>10} {:>9} {:>9} {:>8}  path",
        "endpoint", "req/s", "p50 ms", "p99 ms", "errors"
    );
    for endpoint in &result.endpoints {
        println!(
            "  {:<14} {:>10.0} {:>9.2} {:>9.2} {:>8}  {}",
            endpoint.name,
            endpoint.requests_per_second,
            endpoint.p50_ms,
            endpoint.p99_ms,
            endpoint.errors,
            endpoint.path
        );
    }
    println!(
        "  idle: {} idle connections open, a new client got `{}` in {:.1} ms",
        result.idle.idle_connections_opened,
        result.idle.new_client_status,
        result.idle.new_client_ms
    );
    println!(
        "  meets targets (listing and stats >= {TARGET_REQUESTS_PER_SECOND} req/s, p99 < {TARGET_P99_MILLISECONDS} ms, 0 errors; new client served): {}",
        result.meets_targets
    );
    Ok(())
}

async fn bench(
    args: &BenchServeArgs,
    work_dir: &Path,
    wrk: &Path,
    context: &Context,
) -> anyhow::Result<BenchServeResult> {
    let database = work_dir.join("bench.db");
    let options = StoreOptions {
        url: database.display().to_string(),
        ..steward_runtime::build::store_options(&context.config)
    };
    if !database.exists() {
        prepare(args, work_dir, &options).await?;
    }
    let store = Store::open_with(options.clone())
        .await
        .with_context(|| format!("opening {}", database.display()))?;
    let stats = store.stats().await.context("counting the community")?;
    let paths = paths(&store).await?;
    store.close().await;

    let mut server = Server::start(&database)?;
    let address = server.address.clone();
    let mut endpoints = Vec::new();
    for (name, path, targeted) in paths {
        // Warm-up: the first /stats waits for the first computation, which
        // would otherwise land in the measured tail.
        let warm = get_status(&address, &path).await;
        if !warm.contains("200") {
            bail!("GET {path} answered `{warm}` before the load started");
        }
        let url = format!("http://{address}{path}");
        let figures = run_wrk(wrk, args, &url).with_context(|| format!("running wrk on {url}"))?;
        endpoints.push(EndpointResult {
            name,
            path,
            targeted,
            ..figures
        });
    }
    let idle = idle_connections(&address, args.idle_connections).await?;
    server.stop();

    let meets_targets = endpoints
        .iter()
        .filter(|endpoint| endpoint.targeted)
        .all(|endpoint| {
            endpoint.requests_per_second >= TARGET_REQUESTS_PER_SECOND
                && endpoint.p99_ms < TARGET_P99_MILLISECONDS
                && endpoint.errors == 0
        })
        && idle.new_client_status.contains("200");
    Ok(BenchServeResult {
        database: database.display().to_string(),
        posts: stats.posts,
        comments: stats.comments,
        wrk: wrk.display().to_string(),
        threads: args.threads,
        connections: args.connections,
        duration_secs: args.duration_secs,
        endpoints,
        idle,
        target_requests_per_second: TARGET_REQUESTS_PER_SECOND,
        target_p99_ms: TARGET_P99_MILLISECONDS,
        meets_targets,
    })
}

/// Generates the community and imports it into `options.url`.
async fn prepare(
    args: &BenchServeArgs,
    work_dir: &Path,
    options: &StoreOptions,
) -> anyhow::Result<()> {
    let dump = work_dir.join("dump");
    let questions = (args.posts as f64 / POSTS_PER_QUESTION).ceil() as u64;
    let config = SampleConfig {
        users: u32::try_from((questions / 3).max(100)).unwrap_or(u32::MAX),
        questions: Some(questions),
        ..SampleConfig::new(1_000, args.seed)
    };
    let target = dump.clone();
    tokio::task::spawn_blocking(move || generate(&target, &config))
        .await
        .context("the sample generator stopped unexpectedly")?
        .context("generating the benchmark community")?;
    let store = Store::open_with(options.clone())
        .await
        .with_context(|| format!("creating {}", options.url))?;
    let job = JobHandle::new();
    progress::run(
        &job,
        import_dump(&store, &dump, &DumpOptions::default(), &job),
    )
    .await
    .with_context(|| format!("importing {}", dump.display()))?;
    store.close().await;
    let _ = std::fs::remove_dir_all(&dump);
    Ok(())
}

/// The endpoints driven: name, path, held to the targets.
async fn paths(store: &Store) -> anyhow::Result<Vec<(&'static str, String, bool)>> {
    // The cursor after the middle post of the newest-first listing.
    let total = store
        .count_posts(&PostQuery::default())
        .await
        .context("counting posts")?;
    let middle = store
        .post_listing(&PostQuery {
            per_page: 1,
            page: u32::try_from(total / 2).unwrap_or(u32::MAX).max(1),
            ..PostQuery::default()
        })
        .await
        .context("finding the middle of the listing")?;
    let cursor = middle
        .items
        .first()
        .map(PostCursor::of)
        .context("the community has no posts")?;
    // The question with the highest score: a thread with answers.
    let question = store
        .post_listing(&PostQuery {
            kind: Some(steward_domain::PostKind::Question),
            order: PostOrder::Score,
            per_page: 1,
            ..PostQuery::default()
        })
        .await
        .context("finding a thread")?
        .items
        .first()
        .map(|question| question.id)
        .context("the community has no questions")?;
    Ok(vec![
        ("posts", "/api/v1/posts?per_page=20".to_string(), true),
        (
            "posts_deep",
            format!(
                "/api/v1/posts?per_page=20&cursor={}",
                steward_server::community::encode_cursor('n', cursor)
            ),
            false,
        ),
        ("stats", "/api/v1/stats".to_string(), true),
        ("thread", format!("/api/v1/posts/{question}"), false),
    ])
}

/// `steward serve` on a free loopback port, as a child process.
struct Server {
    child: Child,
    address: String,
}

impl Server {
    fn start(database: &Path) -> anyhow::Result<Server> {
        let exe = std::env::current_exe().context("finding the steward executable")?;
        let mut child = Command::new(exe)
            .arg("--database")
            .arg(database)
            .args(["serve", "--bind", "127.0.0.1:0", "--no-models"])
            .env("STEWARD_SERVER__RUN_WORKER", "false")
            // wrk is one client address: the anonymous rate limit would
            // answer most requests 429; this measures serving, not the limiter.
            .env("STEWARD_AUTH__ANONYMOUS_REQUESTS_PER_SECOND", "1000000000")
            .env("STEWARD_AUTH__ANONYMOUS_BURST", "1000000000")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting `steward serve`")?;
        let stdout = child.stdout.take().context("no stdout")?;
        // The first line is the address (see `serve.rs`).
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .context("reading the server's address")?;
        let address = line.trim().strip_prefix("http://").map(str::to_string);
        match address {
            Some(address) => Ok(Server { child, address }),
            None => {
                let _ = child.kill();
                bail!(
                    "`steward serve` did not print its address (got `{}`)",
                    line.trim()
                )
            }
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn which_wrk() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("wrk"))
            .find(|candidate| candidate.is_file())
    })
}

/// Runs wrk on `url`, killed if it overruns its duration by 30 s.
fn run_wrk(wrk: &Path, args: &BenchServeArgs, url: &str) -> anyhow::Result<EndpointResult> {
    let mut child = Command::new(wrk)
        .arg(format!("-t{}", args.threads))
        .arg(format!("-c{}", args.connections))
        .arg(format!("-d{}s", args.duration_secs))
        .args(["--timeout", "5s", "--latency", url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting wrk")?;
    let deadline = Instant::now() + Duration::from_secs(args.duration_secs + 30);
    loop {
        if child.try_wait().context("waiting for wrk")?.is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("wrk did not finish within its duration plus 30 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().context("reading wrk's output")?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "wrk failed ({}): {}{}",
            output.status,
            text,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse_wrk(&text).with_context(|| format!("reading wrk's report:\n{text}"))
}

/// The figures of wrk's `--latency` report.
fn parse_wrk(report: &str) -> anyhow::Result<EndpointResult> {
    let mut result = EndpointResult {
        name: "",
        path: String::new(),
        requests_per_second: f64::NAN,
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
        requests: 0,
        errors: 0,
        targeted: false,
    };
    for line in report.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", rate] => result.requests_per_second = rate.parse()?,
            ["50%", latency] => result.p50_ms = milliseconds(latency)?,
            ["99%", latency] => result.p99_ms = milliseconds(latency)?,
            [requests, "requests", "in", ..] => result.requests = requests.parse()?,
            ["Non-2xx", "or", "3xx", "responses:", count] => {
                result.errors += count.parse::<u64>()?
            }
            ["Socket", "errors:", rest @ ..] => {
                // connect 0, read 0, write 0, timeout 0
                for count in rest.iter().skip(1).step_by(2) {
                    result.errors += count.trim_end_matches(',').parse::<u64>()?;
                }
            }
            _ => {}
        }
    }
    if result.requests_per_second.is_nan() || result.p99_ms.is_nan() {
        bail!("no Requests/sec or 99% line");
    }
    Ok(result)
}

/// wrk's `1.23ms`, `456.00us`, `1.20s` as milliseconds.
fn milliseconds(text: &str) -> anyhow::Result<f64> {
    let (number, scale) = if let Some(number) = text.strip_suffix("us") {
        (number, 1e-3)
    } else if let Some(number) = text.strip_suffix("ms") {
        (number, 1.0)
    } else if let Some(number) = text.strip_suffix('m') {
        (number, 60_000.0)
    } else if let Some(number) = text.strip_suffix('s') {
        (number, 1_000.0)
    } else {
        bail!("`{text}` is not a wrk latency");
    };
    Ok(number.parse::<f64>()? * scale)
}

/// Opens up to `wanted` idle connections (fewer when this process may not
/// open that many files), then times a new client's request among them.
async fn idle_connections(address: &str, wanted: u32) -> anyhow::Result<IdleResult> {
    let allowed = open_file_limit().map_or(1_000, |limit| limit.saturating_sub(200));
    let wanted = wanted.min(u32::try_from(allowed).unwrap_or(u32::MAX));
    let mut idle = Vec::with_capacity(wanted as usize);
    let started = Instant::now();
    // One after another: loopback connects take microseconds.
    while idle.len() < wanted as usize && started.elapsed() < Duration::from_secs(60) {
        match tokio::net::TcpStream::connect(address).await {
            Ok(stream) => idle.push(stream),
            Err(error) => {
                tracing::warn!(%error, opened = idle.len(), "opening idle connections stopped");
                break;
            }
        }
    }
    let opened = u32::try_from(idle.len()).unwrap_or(u32::MAX);
    let started = Instant::now();
    let new_client_status = get_status(address, "/api/v1/health/live").await;
    let new_client_ms = started.elapsed().as_secs_f64() * 1e3;
    drop(idle);
    Ok(IdleResult {
        idle_connections_opened: opened,
        new_client_status,
        new_client_ms,
    })
}

/// `GET path` on a new connection: the status line, or what went wrong
/// (within 30 s).
async fn get_status(address: &str, path: &str) -> String {
    let answer = tokio::time::timeout(Duration::from_secs(30), async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        stream
            .write_all(
                format!("GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(
            String::from_utf8_lossy(&answer)
                .lines()
                .next()
                .unwrap_or("(no answer)")
                .to_string(),
        )
    })
    .await;
    match answer {
        Ok(Ok(line)) => line,
        Ok(Err(error)) => format!("error: {error}"),
        Err(_) => "no answer within 30 s".to_string(),
    }
}

/// This process's soft limit of open files (`ulimit -n`), from /proc.
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_reports_are_read() {
        let report = "Running 15s test @ http://127.0.0.1:8080/api/v1/stats
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.20ms  300.00us  10.00ms   90.00%
    Req/Sec     5.00k   100.00     6.00k    70.00%
  Latency Distribution
     50%  812.00us
     75%    1.10ms
     90%    1.50ms
     99%    2.50ms
  150000 requests in 15.00s, 100.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  10000.50
Transfer/sec:      6.67MB
";
        let result = parse_wrk(report).expect("parsed");
        assert_eq!(result.requests_per_second, 10000.5);
        assert_eq!(result.p50_ms, 0.812);
        assert_eq!(result.p99_ms, 2.5);
        assert_eq!(result.requests, 150_000);
        assert_eq!(result.errors, 7);
        assert_eq!(milliseconds("1.20s").expect("seconds"), 1_200.0);
    }
}
