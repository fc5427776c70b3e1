//! `steward bench recsys`: ALS training seconds per iteration against the
//! Python `implicit` library on the same data, factors and threads (MovieLens
//! -100k and a generated 10k × 5k set), both sides' nDCG@10 on the MovieLens
//! split, and the latency of folding one new event into a user's factors.
//!
//! Steward writes the split it trains on (train.tsv, test.tsv) to a temporary
//! folder and the peer (`bench/recsys_peer.py`) reads exactly those pairs, so
//! both sides learn from and are judged on identical data. Per-iteration time
//! is taken from each side's own per-iteration callback, so neither side's
//! set-up (matrix conversion, initialisation) is counted; the figure is the
//! median over `--runs` runs of each run's median iteration.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use serde::Serialize;
use steward_recsys::als::{Als, AlsParams};
use steward_recsys::matrix::{Interactions, Row};
use steward_recsys::metrics::{RankingMetrics, evaluate};
use steward_recsys::model::Model;
use steward_recsys::{movielens, split, synthetic};

use crate::Context;

/// The goal: Steward's seconds per ALS iteration over implicit's.
const TARGET_RATIO: f64 = 1.0;
/// The goal for one fold-in at 64 factors.
const FOLD_IN_TARGET_MS: f64 = 5.0;

#[derive(Debug, clap::Args)]
pub struct BenchRecsysArgs {
    /// A MovieLens-100k folder (`bench/fetch-movielens.sh DIR`).
    #[arg(long)]
    pub movielens: Option<PathBuf>,
    /// Users of the generated set (0 skips it).
    #[arg(long, default_value_t = 10_000)]
    pub synthetic_users: usize,
    #[arg(long, default_value_t = 5_000)]
    pub synthetic_items: usize,
    /// Draws of (user, item); duplicates are summed.
    #[arg(long, default_value_t = 500_000)]
    pub synthetic_interactions: usize,
    #[arg(long, default_value_t = 64)]
    pub factors: usize,
    #[arg(long, default_value_t = 15)]
    pub iterations: usize,
    #[arg(long, default_value_t = 0.05)]
    pub regularization: f32,
    /// Confidence slope: `c = 1 + alpha * weight`.
    #[arg(long, default_value_t = 2.0)]
    pub alpha: f32,
    #[arg(long, default_value_t = 3)]
    pub cg_steps: usize,
    /// Threads on both sides.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Training runs per side and data set (medians reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Seeds the split, the generated set and the factors.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Events folded in to time the fold-in.
    #[arg(long, default_value_t = 1_000)]
    pub fold_in_events: usize,
    /// Python with `implicit`, numpy and scipy; without one the peer is skipped.
    #[arg(long, env = "STEWARD_PEER_PYTHON")]
    pub peer_python: Option<PathBuf>,
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/recsys_peer.py"))]
    pub peer_script: PathBuf,
    /// Print the figures as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// One side's ALS figures on one data set.
#[derive(Debug, Clone, Serialize)]
struct SideFigures {
    seconds_per_iteration: f64,
    fit_seconds: f64,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    metrics: Option<serde_json::Value>,
}

#[derive(Debug, Serialize)]
struct DatasetFigures {
    users: usize,
    items: usize,
    train: usize,
    test: usize,
    steward: SideFigures,
    implicit: Option<SideFigures>,
    /// implicit's ItemKNN (cosine, K = 50) on the MovieLens split.
    #[serde(skip_serializing_if = "Option::is_none")]
    implicit_item_knn: Option<serde_json::Value>,
    peer_error: Option<String>,
    /// Steward's seconds per iteration over implicit's (≤ 1: Steward is faster).
    time_ratio: Option<f64>,
    /// Steward's nDCG@10 minus implicit's (each the mean over the runs).
    ndcg_difference: Option<f64>,
}

#[derive(Debug, Serialize)]
struct FoldInFigures {
    data: &'static str,
    factors: usize,
    events: usize,
    /// The closed-form solve of one user's history plus one new event.
    p50_ms: f64,
    p95_ms: f64,
    /// The solve and a full-catalogue top 10 with that history excluded.
    with_recommend_p50_ms: f64,
    with_recommend_p95_ms: f64,
    target_ms: f64,
}

#[derive(Debug, Serialize)]
struct BenchRecsysResult {
    factors: usize,
    iterations: usize,
    regularization: f32,
    alpha: f32,
    cg_steps: usize,
    threads: usize,
    runs: usize,
    implicit_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    movielens: Option<DatasetFigures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    synthetic: Option<DatasetFigures>,
    fold_in: Option<FoldInFigures>,
    target_ratio: f64,
}

pub async fn run(args: BenchRecsysArgs, _context: &Context) -> anyhow::Result<()> {
    anyhow::ensure!(args.threads > 0, "--threads must be at least 1");
    anyhow::ensure!(args.runs > 0, "--runs must be at least 1");
    anyhow::ensure!(args.factors > 0, "--factors must be at least 1");
    anyhow::ensure!(args.iterations > 0, "--iterations must be at least 1");
    let json = args.json;
    // Training is CPU-bound: keep it off the async runtime.
    let result = tokio::task::spawn_blocking(move || bench(&args))
        .await
        .context("the benchmark thread panicked")??;
    if json {
        println!(
            "{}",
            serde_json::to_string(&result).context("serializing the figures")?
        );
    } else {
        print_table(&result);
    }
    Ok(())
}

fn bench(args: &BenchRecsysArgs) -> anyhow::Result<BenchRecsysResult> {
    let work_dir = tempfile::Builder::new()
        .prefix("steward-bench-recsys-")
        .tempdir()
        .context("creating a work directory")?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build()
        .context("building the thread pool")?;
    let params = AlsParams {
        factors: args.factors,
        regularization: args.regularization,
        alpha: args.alpha,
        iterations: args.iterations,
        cg_steps: args.cg_steps,
        seed: args.seed,
    };
    let mut implicit_version = None;
    let mut fold_in = None;

    let movielens = match &args.movielens {
        None => None,
        Some(dir) => {
            let (_, train, test) = movielens::load_split(dir, args.seed, 0.2)
                .with_context(|| format!("loading MovieLens from {}", dir.display()))?;
            let dir = work_dir.path().join("movielens");
            let (figures, model) = bench_dataset(
                args,
                &pool,
                &params,
                &train,
                Some(&test),
                &dir,
                &mut implicit_version,
            )?;
            fold_in = Some(time_fold_in(args, &model, &train, "movielens"));
            Some(figures)
        }
    };
    let synthetic = if args.synthetic_users > 0
        && args.synthetic_items > 0
        && args.synthetic_interactions > 0
    {
        let train = synthetic::generate(
            args.synthetic_users,
            args.synthetic_items,
            args.synthetic_interactions,
            args.seed,
        );
        let dir = work_dir.path().join("synthetic");
        let (figures, model) = bench_dataset(
            args,
            &pool,
            &params,
            &train,
            None,
            &dir,
            &mut implicit_version,
        )?;
        if fold_in.is_none() {
            fold_in = Some(time_fold_in(args, &model, &train, "synthetic"));
        }
        Some(figures)
    } else {
        None
    };
    Ok(BenchRecsysResult {
        factors: args.factors,
        iterations: args.iterations,
        regularization: args.regularization,
        alpha: args.alpha,
        cg_steps: args.cg_steps,
        threads: args.threads,
        runs: args.runs,
        implicit_version,
        movielens,
        synthetic,
        fold_in,
        target_ratio: TARGET_RATIO,
    })
}

/// Both sides' ALS on one data set; returns the figures and Steward's last model.
fn bench_dataset(
    args: &BenchRecsysArgs,
    pool: &rayon::ThreadPool,
    params: &AlsParams,
    train: &Interactions,
    test: Option<&Interactions>,
    dir: &Path,
    implicit_version: &mut Option<String>,
) -> anyhow::Result<(DatasetFigures, Als)> {
    let mut per_iteration = Vec::with_capacity(args.runs);
    let mut fit_seconds = Vec::with_capacity(args.runs);
    let mut run_metrics = Vec::with_capacity(args.runs);
    let mut model = None;
    for run in 0..args.runs {
        let params = AlsParams {
            seed: params.seed + run as u64,
            ..params.clone()
        };
        let mut times = Vec::with_capacity(params.iterations);
        let started = Instant::now();
        let mut last = started;
        let fitted = pool.install(|| {
            Als::fit(train, &params, &mut |_| {
                let now = Instant::now();
                times.push((now - last).as_secs_f64());
                last = now;
                true
            })
        })?;
        fit_seconds.push(started.elapsed().as_secs_f64());
        // The first "iteration" interval also holds the random initialisation;
        // implicit's callback excludes its own, so drop it when there are more.
        if times.len() > 1 {
            times.remove(0);
        }
        per_iteration.push(median(&mut times));
        if let Some(test) = test {
            let wrapped = Model::Als(fitted.clone());
            run_metrics.push(pool.install(|| evaluate(&wrapped, train, test, None)));
        }
        model = Some(fitted);
    }
    let model = model.expect("at least one run");
    // Quality is the mean over the runs (seeds differ per run on both sides),
    // so the comparison with implicit is not one seed's luck.
    let metrics = (!run_metrics.is_empty())
        .then(|| serde_json::to_value(mean_metrics(&run_metrics)))
        .transpose()?;
    let steward = SideFigures {
        seconds_per_iteration: median(&mut per_iteration),
        fit_seconds: median(&mut fit_seconds),
        metrics,
    };

    let mut implicit = None;
    let mut implicit_item_knn = None;
    let mut peer_error = None;
    if let Some(python) = &args.peer_python {
        match run_peer(args, python, train, test, dir) {
            Ok(mut output) => {
                if let Some(version) = output.get("implicit_version").and_then(|v| v.as_str()) {
                    *implicit_version = Some(version.to_owned());
                }
                implicit_item_knn = output.get_mut("item_knn").map(serde_json::Value::take);
                match output.get_mut("als").map(serde_json::Value::take) {
                    Some(serde_json::Value::Object(mut als)) => {
                        let take = |als: &mut serde_json::Map<String, serde_json::Value>,
                                    key: &str| {
                            als.remove(key).and_then(|v| v.as_f64()).unwrap_or(f64::NAN)
                        };
                        let seconds_per_iteration = take(&mut als, "seconds_per_iteration");
                        let fit_seconds = take(&mut als, "fit_seconds");
                        implicit = Some(SideFigures {
                            seconds_per_iteration,
                            fit_seconds,
                            metrics: (!als.is_empty()).then_some(serde_json::Value::Object(als)),
                        });
                    }
                    _ => peer_error = Some("the peer printed no `als` figures".into()),
                }
            }
            Err(error) => peer_error = Some(format!("{error:#}")),
        }
    }
    let time_ratio = implicit
        .as_ref()
        .map(|peer| steward.seconds_per_iteration / peer.seconds_per_iteration);
    let ndcg = |side: &SideFigures| {
        side.metrics
            .as_ref()
            .and_then(|metrics| metrics.get("ndcg@10"))
            .and_then(|value| value.as_f64())
    };
    let ndcg_difference = implicit
        .as_ref()
        .and_then(|peer| Some(ndcg(&steward)? - ndcg(peer)?));
    Ok((
        DatasetFigures {
            users: train.n_users(),
            items: train.n_items(),
            train: train.nnz(),
            test: test.map_or(0, Interactions::nnz),
            steward,
            implicit,
            implicit_item_knn,
            peer_error,
            time_ratio,
            ndcg_difference,
        },
        model,
    ))
}

/// Writes the split and runs `bench/recsys_peer.py` on it.
fn run_peer(
    args: &BenchRecsysArgs,
    python: &Path,
    train: &Interactions,
    test: Option<&Interactions>,
    dir: &Path,
) -> anyhow::Result<serde_json::Value> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let train_path = dir.join("train.tsv");
    split::write_tsv(train, &train_path)?;
    let mut command = std::process::Command::new(python);
    command
        .arg(&args.peer_script)
        .arg("--train")
        .arg(&train_path)
        .args(["--factors", &args.factors.to_string()])
        .args(["--regularization", &args.regularization.to_string()])
        .args(["--alpha", &args.alpha.to_string()])
        .args(["--iterations", &args.iterations.to_string()])
        .args(["--cg-steps", &args.cg_steps.to_string()])
        .args(["--threads", &args.threads.to_string()])
        .args(["--runs", &args.runs.to_string()])
        .args(["--seed", &args.seed.to_string()])
        .env("OMP_NUM_THREADS", "1")
        .env("MKL_NUM_THREADS", "1")
        .env("OPENBLAS_NUM_THREADS", "1");
    if let Some(test) = test {
        let test_path = dir.join("test.tsv");
        split::write_tsv(test, &test_path)?;
        command
            .arg("--test")
            .arg(&test_path)
            .args(["--knn-neighbours", "50"]);
    }
    let output = command
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    super::bench::peer_json(&args.peer_script, &output).map_err(anyhow::Error::msg)
}

/// One event per sample: a user's training row plus one item they have not
/// interacted with, folded in (and then ranked) on one thread.
fn time_fold_in(
    args: &BenchRecsysArgs,
    model: &Als,
    train: &Interactions,
    data: &'static str,
) -> FoldInFigures {
    let users: Vec<u32> = train.active_users().collect();
    let mut solve_ms = Vec::with_capacity(args.fold_in_events);
    let mut with_recommend_ms = Vec::with_capacity(args.fold_in_events);
    let wrapped = Model::Als(model.clone());
    let n_items = train.n_items() as u32;
    for event in 0..args.fold_in_events.min(users.len().max(1) * 10) {
        let Some(&user) = users.get(event * 7919 % users.len().max(1)) else {
            break;
        };
        let row = train.user(user);
        // A deterministic item the user has not seen.
        let mut new_item = (event as u32).wrapping_mul(2_654_435_761) % n_items;
        while row.get(new_item).is_some() {
            new_item = (new_item + 1) % n_items;
        }
        let position = row.indices.partition_point(|&item| item < new_item);
        let mut items = row.indices.to_vec();
        let mut weights = row.weights.to_vec();
        items.insert(position, new_item);
        weights.insert(position, 1.0);
        let history = Row::new(&items, &weights);
        let started = Instant::now();
        let factors = model.fold_in(history);
        solve_ms.push(started.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(&factors);
        let started = Instant::now();
        let top = wrapped.recommend(None, history, 10, &[]);
        with_recommend_ms.push(started.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(&top);
    }
    FoldInFigures {
        data,
        factors: args.factors,
        events: solve_ms.len(),
        p50_ms: percentile(&mut solve_ms, 0.5),
        p95_ms: percentile(&mut solve_ms, 0.95),
        with_recommend_p50_ms: percentile(&mut with_recommend_ms, 0.5),
        with_recommend_p95_ms: percentile(&mut with_recommend_ms, 0.95),
        target_ms: FOLD_IN_TARGET_MS,
    }
}

/// Field-wise mean of several runs' metrics.
fn mean_metrics(runs: &[RankingMetrics]) -> RankingMetrics {
    let count = runs.len().max(1) as f64;
    let mut mean = RankingMetrics {
        users: runs.first().map_or(0, |metrics| metrics.users),
        ..RankingMetrics::default()
    };
    for metrics in runs {
        mean.precision_at_10 += metrics.precision_at_10 / count;
        mean.recall_at_10 += metrics.recall_at_10 / count;
        mean.recall_at_20 += metrics.recall_at_20 / count;
        mean.ndcg_at_10 += metrics.ndcg_at_10 / count;
        mean.map_at_10 += metrics.map_at_10 / count;
        mean.coverage += metrics.coverage / count;
    }
    mean
}

fn median(values: &mut [f64]) -> f64 {
    percentile(values, 0.5)
}

/// Nearest-rank percentile; NaN for no values.
fn percentile(values: &mut [f64], share: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((share * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

fn print_table(result: &BenchRecsysResult) {
    println!(
        "ALS: {} factors, {} iterations, λ {}, α {}, {} CG steps, {} thread(s), median of {} runs; implicit {}",
        result.factors,
        result.iterations,
        result.regularization,
        result.alpha,
        result.cg_steps,
        result.threads,
        result.runs,
        result.implicit_version.as_deref().unwrap_or("not run"),
    );
    for (name, figures) in [
        ("movielens", &result.movielens),
        ("synthetic", &result.synthetic),
    ] {
        let Some(figures) = figures else { continue };
        println!(
            "{name}: {} users, {} items, {} train / {} test pairs",
            figures.users, figures.items, figures.train, figures.test
        );
        let ndcg = |side: &SideFigures| {
            side.metrics
                .as_ref()
                .and_then(|m| m.get("ndcg@10"))
                .and_then(|v| v.as_f64())
                .map_or("-".to_owned(), |v| format!("{v:.4}"))
        };
        println!(
            "  {:<10} {:>12} {:>10} {:>9}",
            "side", "s/iteration", "fit s", "nDCG@10"
        );
        println!(
            "  {:<10} {:>12.4} {:>10.3} {:>9}",
            "steward",
            figures.steward.seconds_per_iteration,
            figures.steward.fit_seconds,
            ndcg(&figures.steward)
        );
        if let Some(peer) = &figures.implicit {
            println!(
                "  {:<10} {:>12.4} {:>10.3} {:>9}",
                "implicit",
                peer.seconds_per_iteration,
                peer.fit_seconds,
                ndcg(peer)
            );
        }
        if let Some(knn) = figures
            .implicit_item_knn
            .as_ref()
            .and_then(|k| k.get("ndcg@10"))
        {
            println!("  implicit ItemKNN (cosine, K 50) nDCG@10: {knn}");
        }
        if let Some(error) = &figures.peer_error {
            println!("  peer: {error}");
        }
        if let Some(ratio) = figures.time_ratio {
            println!(
                "  steward ÷ implicit seconds per iteration: {ratio:.3} (goal ≤ {TARGET_RATIO})"
            );
        }
        if let Some(difference) = figures.ndcg_difference {
            println!(
                "  nDCG@10 difference (steward − implicit): {difference:+.4} (goal within ±0.005)"
            );
        }
    }
    if let Some(fold_in) = &result.fold_in {
        println!(
            "fold-in ({}, {} factors, {} events): p50 {:.3} ms, p95 {:.3} ms; with a top-10: p50 {:.3} ms, p95 {:.3} ms (goal < {} ms)",
            fold_in.data,
            fold_in.factors,
            fold_in.events,
            fold_in.p50_ms,
            fold_in.p95_ms,
            fold_in.with_recommend_p50_ms,
            fold_in.with_recommend_p95_ms,
            fold_in.target_ms
        );
    }
}
