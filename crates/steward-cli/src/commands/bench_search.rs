//! `steward bench search`: BM25 queries/s, index build docs/s and the latency
//! from a written post to a search that finds it, on a generated community,
//! with `bm25s` (Python) side by side on the same corpus and the same queries.
//!
//! The community comes from the sample generator, imported into a fresh SQLite
//! file; the index is built from it with [`LexicalIndex::rebuild`], the real
//! product path (reading the store included). Every thread's indexed text
//! (title, body, code, tags, answers) is written as JSONL for the peer, which
//! cuts it with its own default tokenizer. Queries are 2 to 4 words of the
//! corpus (frequent and rare ones, no stopwords), drawn by a seeded generator:
//! the same list for both sides. Each side retrieves the top 10 per query, one
//! query at a time; the overlap of the two top-10 lists says whether they did
//! comparable work. Steward's queries/s is its ranking alone (ids and scores,
//! what the peer returns); with the evidence a user sees (matched terms,
//! snippets) is measured beside it.
//!
//! A second community (`--hybrid-docs`, 100k threads by default) is embedded
//! and searched hybrid through the product's searcher for its latency.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use steward_domain::{Post, PostId, PostKind};
use steward_ingest::stackexchange::{DumpOptions, import_dump};
use steward_jobs::JobHandle;
use steward_sample::{SampleConfig, generate};
use steward_search::eval::percentile;
use steward_search::searcher::{Mode, SearchRequest};
use steward_search::{Filters, LexicalIndex, ThreadDocument};
use steward_store::{Store, StoreOptions, WriteBatch};

use crate::{Context, progress};

/// Results per query, on both sides.
const TOP_K: usize = 10;
/// The goal: Steward's queries/s over bm25s's, one query at a time on one thread.
const TARGET_RATIO: f64 = 5.0;
/// Posts read per page when writing the peer's corpus.
const CORPUS_PAGE: u32 = 1_000;

#[derive(Debug, clap::Args)]
pub struct BenchSearchArgs {
    /// Threads (questions) in the generated community.
    #[arg(long, default_value_t = 50_000)]
    pub docs: u64,
    /// Queries run on each side.
    #[arg(long, default_value_t = 1_000)]
    pub queries: usize,
    /// Threads running Steward's queries (the peer always runs on one).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Python with `bm25s` for the peer; without one the peer is skipped.
    #[arg(long, env = "STEWARD_PEER_PYTHON")]
    pub python: Option<PathBuf>,
    /// Seed of the community and of the queries.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Posts written one at a time to time "written → searchable".
    #[arg(long, default_value_t = 20)]
    pub incremental_repeats: usize,
    /// Folder of the peer scripts.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/peers"))]
    pub peers_dir: PathBuf,
    /// Threads in a second generated community, searched hybrid (BM25 and
    /// dense, fused) for its latency; 0 skips that run.
    #[arg(long, default_value_t = 100_000)]
    pub hybrid_docs: u64,
    /// The embedding model of the hybrid run: `lsa` (trained on the generated
    /// community: embeds 100k threads in minutes on a CPU) or a
    /// sentence-transformer name or folder (every post is embedded first).
    #[arg(long, default_value = "lsa")]
    pub hybrid_model: String,
    /// Print the figures as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Hybrid search latency through the product's searcher.
#[derive(Debug, Serialize)]
struct HybridFigures {
    docs: u64,
    model: String,
    dimensions: usize,
    /// `exact` or `hnsw`.
    vector_index: &'static str,
    generate_seconds: f64,
    import_seconds: f64,
    /// Embedding every post, the BM25 build and the vector index build.
    embed_and_index_seconds: f64,
    queries: usize,
    /// One hybrid (RRF) search at a time, top 10, through `Searcher::search`:
    /// query embedding, BM25, vector search, fusion, reading the hits' posts.
    p50_ms: f64,
    p99_ms: f64,
    /// The same queries BM25 only and dense only, for where the time goes.
    bm25_p50_ms: f64,
    dense_p50_ms: f64,
}

/// Steward's figures.
#[derive(Debug, Serialize)]
struct StewardFigures {
    build_seconds: f64,
    build_docs_per_sec: f64,
    /// Ranking only: the top 10 ids and BM25 scores (what the peer returns,
    /// and what a hybrid search reads from BM25 before fusing).
    queries_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Ranking and the evidence a user sees: matched terms, titles and
    /// highlighted snippets of the 10 hits (`steward search --mode bm25`).
    with_evidence_queries_per_sec: f64,
    with_evidence_p50_ms: f64,
    with_evidence_p99_ms: f64,
    /// Mean hits per query (at most 10).
    mean_hits: f64,
    /// Post written → `catch_up` → a search finds it; the write itself excluded.
    incremental_p50_ms: f64,
    incremental_max_ms: f64,
    index_bytes: u64,
}

/// What the peer script prints.
#[derive(Debug, Serialize, Deserialize)]
struct PeerFigures {
    name: String,
    version: String,
    build_docs_per_sec: f64,
    /// One `retrieve` call per query, the query's tokenization included (what
    /// the product does).
    queries_per_sec: f64,
    /// One `retrieve` call for all queries at once.
    batched_queries_per_sec: Option<f64>,
    p50_ms: f64,
    p99_ms: f64,
    tokenizer: String,
    backend: String,
}

#[derive(Debug, Serialize)]
struct BenchSearchResult {
    docs: u64,
    queries: usize,
    threads: usize,
    /// Mean words per query.
    mean_query_terms: f64,
    generate_seconds: f64,
    import_seconds: f64,
    steward: StewardFigures,
    peer: Option<PeerFigures>,
    /// Why there is no `peer`.
    peer_error: Option<String>,
    /// Steward's queries/s over the peer's (one query at a time each).
    ratio_queries_per_sec: Option<f64>,
    /// Mean Jaccard similarity of the two sides' top-10 ids per query.
    top10_overlap: Option<f64>,
    target_ratio: f64,
    meets_target: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hybrid: Option<HybridFigures>,
}

pub async fn run(args: BenchSearchArgs, context: &Context) -> anyhow::Result<()> {
    anyhow::ensure!(args.docs > 0, "--docs must be at least 1");
    anyhow::ensure!(args.queries > 0, "--queries must be at least 1");
    anyhow::ensure!(args.threads > 0, "--threads must be at least 1");
    let work_dir = tempfile::Builder::new()
        .prefix("steward-bench-search-")
        .tempdir()
        .context("creating a work directory")?;
    let result = bench(&args, work_dir.path(), context).await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&result).context("serializing the figures")?
        );
        return Ok(());
    }
    print_table(&result);
    Ok(())
}

fn print_table(result: &BenchSearchResult) {
    println!(
        "BM25 search on {} generated threads, {} queries (mean {:.1} words), top {TOP_K}, {} thread(s)",
        result.docs, result.queries, result.mean_query_terms, result.threads
    );
    println!(
        "  generate {:.1} s, import {:.1} s",
        result.generate_seconds, result.import_seconds
    );
    println!(
        "{:<10} {:>14} {:>12} {:>16} {:>9} {:>9}",
        "engine", "build docs/s", "queries/s", "batched q/s", "p50 ms", "p99 ms"
    );
    let steward = &result.steward;
    println!(
        "{:<10} {:>14.0} {:>12.0} {:>16} {:>9.3} {:>9.3}",
        "steward",
        steward.build_docs_per_sec,
        steward.queries_per_sec,
        "-",
        steward.p50_ms,
        steward.p99_ms
    );
    match (&result.peer, &result.peer_error) {
        (Some(peer), _) => {
            let batched = peer
                .batched_queries_per_sec
                .map_or("-".to_string(), |rate| format!("{rate:.0}"));
            println!(
                "{:<10} {:>14.0} {:>12.0} {:>16} {:>9.3} {:>9.3}",
                "bm25s",
                peer.build_docs_per_sec,
                peer.queries_per_sec,
                batched,
                peer.p50_ms,
                peer.p99_ms
            );
            println!(
                "  peer: {} ({} backend; its own tokenizer: {})",
                peer.version, peer.backend, peer.tokenizer
            );
        }
        (None, Some(error)) => println!("  peer: {error}"),
        (None, None) => {}
    }
    println!(
        "  steward: index {:.1} MB, mean {:.1} hits/query; ranking only (ids and scores, as the peer)",
        steward.index_bytes as f64 / 1e6,
        steward.mean_hits
    );
    println!(
        "  steward with evidence (matched terms, snippets): {:.0} queries/s, p50 {:.3} ms, p99 {:.3} ms",
        steward.with_evidence_queries_per_sec,
        steward.with_evidence_p50_ms,
        steward.with_evidence_p99_ms
    );
    println!(
        "  written → searchable (catch_up + search): p50 {:.1} ms, max {:.1} ms",
        steward.incremental_p50_ms, steward.incremental_max_ms
    );
    if let Some(ratio) = result.ratio_queries_per_sec {
        println!("  steward ÷ bm25s queries/s: {ratio:.2} (goal ≥ {TARGET_RATIO})");
    }
    if let Some(overlap) = result.top10_overlap {
        println!("  top-10 overlap (mean Jaccard): {overlap:.3}");
    }
    if let Some(hybrid) = &result.hybrid {
        println!(
            "hybrid search on {} generated threads ({} model, {} dims, {} vector index), {} queries, top {TOP_K}",
            hybrid.docs, hybrid.model, hybrid.dimensions, hybrid.vector_index, hybrid.queries
        );
        println!(
            "  generate {:.1} s, import {:.1} s, embed + index {:.1} s",
            hybrid.generate_seconds, hybrid.import_seconds, hybrid.embed_and_index_seconds
        );
        println!(
            "  hybrid p50 {:.2} ms, p99 {:.2} ms (bm25 alone p50 {:.2} ms, dense alone p50 {:.2} ms)",
            hybrid.p50_ms, hybrid.p99_ms, hybrid.bm25_p50_ms, hybrid.dense_p50_ms
        );
    }
}

async fn bench(
    args: &BenchSearchArgs,
    work_dir: &Path,
    context: &Context,
) -> anyhow::Result<BenchSearchResult> {
    let (store, generate_seconds, import_seconds) =
        community(args.docs, args.seed, &work_dir.join("bm25"), context).await?;

    let index =
        LexicalIndex::open(&work_dir.join("bm25").join("index")).context("opening the index")?;
    let started = Instant::now();
    let job = JobHandle::new();
    let report = progress::run(&job, index.rebuild(&store, &job))
        .await
        .context("building the index")?;
    let build_seconds = started.elapsed().as_secs_f64();

    let corpus = read_corpus(&store).await?;
    let queries = make_queries(&corpus, args.queries, args.seed);
    let mean_query_terms = queries
        .iter()
        .map(|query| query.split(' ').count())
        .sum::<usize>() as f64
        / queries.len() as f64;

    let (mut latencies, steward_top, queries_seconds) =
        run_queries(&index, &queries, args.threads, false)?;
    latencies.sort_by(f64::total_cmp);
    let (mut explained, _, explained_seconds) = run_queries(&index, &queries, args.threads, true)?;
    explained.sort_by(f64::total_cmp);
    let mean_hits =
        steward_top.iter().map(Vec::len).sum::<usize>() as f64 / steward_top.len() as f64;

    let mut incremental = incremental_latencies(&store, &index, args.incremental_repeats).await?;
    incremental.sort_by(f64::total_cmp);
    let index_bytes = index
        .status()
        .context("reading the index status")?
        .size_bytes;
    store.close().await;

    let steward = StewardFigures {
        build_seconds,
        build_docs_per_sec: report.indexed as f64 / build_seconds.max(1e-9),
        queries_per_sec: queries.len() as f64 / queries_seconds.max(1e-9),
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        with_evidence_queries_per_sec: queries.len() as f64 / explained_seconds.max(1e-9),
        with_evidence_p50_ms: percentile(&explained, 0.50),
        with_evidence_p99_ms: percentile(&explained, 0.99),
        mean_hits,
        incremental_p50_ms: percentile(&incremental, 0.50),
        incremental_max_ms: incremental.last().copied().unwrap_or(0.0),
        index_bytes,
    };

    let (peer, peer_top, peer_error) = match &args.python {
        None => (
            None,
            None,
            Some("no peer python (--python or STEWARD_PEER_PYTHON): peer skipped".to_string()),
        ),
        Some(python) => {
            let script = args.peers_dir.join("bench_bm25s.py");
            match run_peer(python, &script, work_dir, &corpus, &queries) {
                Ok((figures, top)) => (Some(figures), Some(top), None),
                Err(error) => (None, None, Some(format!("{error:#}"))),
            }
        }
    };
    let ratio_queries_per_sec = peer
        .as_ref()
        .map(|peer| steward.queries_per_sec / peer.queries_per_sec.max(1e-9));
    let top10_overlap = peer_top.map(|peer_top| mean_jaccard(&steward_top, &peer_top));
    let hybrid = if args.hybrid_docs > 0 {
        Some(hybrid(args, &queries, &work_dir.join("hybrid"), context).await?)
    } else {
        None
    };
    Ok(BenchSearchResult {
        docs: report.indexed,
        queries: queries.len(),
        threads: args.threads,
        mean_query_terms,
        generate_seconds,
        import_seconds,
        steward,
        peer,
        peer_error,
        ratio_queries_per_sec,
        top10_overlap,
        target_ratio: TARGET_RATIO,
        meets_target: ratio_queries_per_sec.map(|ratio| ratio >= TARGET_RATIO),
        hybrid,
    })
}

/// A generated community of `docs` threads imported into a fresh SQLite
/// file under `dir`; returns it with the generate and import seconds.
async fn community(
    docs: u64,
    seed: u64,
    dir: &Path,
    context: &Context,
) -> anyhow::Result<(Store, f64, f64)> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dump = dir.join("dump");
    let config = SampleConfig {
        users: u32::try_from((docs / 3).max(100)).unwrap_or(u32::MAX),
        questions: Some(docs),
        ..SampleConfig::new(1_000, seed)
    };
    let started = Instant::now();
    let target = dump.clone();
    tokio::task::spawn_blocking(move || generate(&target, &config))
        .await
        .context("the sample generator stopped unexpectedly")?
        .context("generating the benchmark community")?;
    let generate_seconds = started.elapsed().as_secs_f64();

    let database = dir.join("bench.db");
    let store_options = StoreOptions {
        url: database.display().to_string(),
        ..steward_runtime::build::store_options(&context.config)
    };
    let store = Store::open_with(store_options)
        .await
        .with_context(|| format!("opening {}", database.display()))?;
    let started = Instant::now();
    let job = JobHandle::new();
    progress::run(
        &job,
        import_dump(&store, &dump, &DumpOptions::default(), &job),
    )
    .await
    .with_context(|| format!("importing {}", dump.display()))?;
    let import_seconds = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dump);
    Ok((store, generate_seconds, import_seconds))
}

/// Hybrid latency at `args.hybrid_docs` threads: a second community, every
/// post embedded with `args.hybrid_model`, both indices built by the
/// product's refresh, then `queries` one at a time through the searcher.
async fn hybrid(
    args: &BenchSearchArgs,
    queries: &[String],
    dir: &Path,
    context: &Context,
) -> anyhow::Result<HybridFigures> {
    let (store, generate_seconds, import_seconds) =
        community(args.hybrid_docs, args.seed ^ 0x4859_4252, dir, context).await?;
    let mut config = context.config.clone();
    config.embedding.model.clone_from(&args.hybrid_model);
    config.search.index_dir = Some(dir.join("index"));
    let job = JobHandle::new();
    let resolver = steward_runtime::build::model_resolver(&config);
    let loaded = progress::run(
        &job,
        steward_runtime::build::load_embedder(
            &config,
            &resolver,
            Some(&store),
            steward_runtime::build::LsaFallback::Allowed,
            &job,
        ),
    )
    .await
    .context("loading the hybrid run's embedder")?;
    let embedder = std::sync::Arc::new(loaded.embedder);
    let model = embedder.model_id().to_string();
    let dimensions = embedder.dim();
    let started = Instant::now();
    let searcher =
        steward_runtime::search::open_searcher(&config, &store, Some(embedder), &job).await?;
    let options = steward_runtime::search::RefreshOptions {
        rebuild: true,
        save: false,
        embed: true,
    };
    let refreshed = progress::run(
        &job,
        steward_runtime::search::refresh(&searcher, options, &job),
    )
    .await
    .context("embedding and indexing the hybrid run's community")?;
    let embed_and_index_seconds = started.elapsed().as_secs_f64();
    let vector_index = match searcher.dense() {
        Some(dense) => match dense.index.read().await.kind() {
            steward_search::VectorIndexKind::Exact => "exact",
            steward_search::VectorIndexKind::Hnsw => "hnsw",
        },
        None => anyhow::bail!("the hybrid run has no vector index"),
    };

    let mut timings = Vec::new();
    for mode in [Mode::Hybrid, Mode::Bm25, Mode::Dense] {
        // Warm up, as the BM25 run does.
        for query in queries.iter().take(20) {
            searcher.search(&hybrid_request(query, mode)).await?;
        }
        let mut latencies = Vec::with_capacity(queries.len());
        for query in queries {
            let started = Instant::now();
            let results = searcher
                .search(&hybrid_request(query, mode))
                .await
                .with_context(|| format!("searching {query:?}"))?;
            latencies.push(millis(started.elapsed()));
            anyhow::ensure!(
                results.mode == mode,
                "the hybrid run fell back to {}: {}",
                results.mode.as_str(),
                results.notice.unwrap_or_default()
            );
        }
        latencies.sort_by(f64::total_cmp);
        timings.push(latencies);
    }
    store.close().await;
    Ok(HybridFigures {
        docs: refreshed.lexical.indexed,
        model,
        dimensions,
        vector_index,
        generate_seconds,
        import_seconds,
        embed_and_index_seconds,
        queries: queries.len(),
        p50_ms: percentile(&timings[0], 0.50),
        p99_ms: percentile(&timings[0], 0.99),
        bm25_p50_ms: percentile(&timings[1], 0.50),
        dense_p50_ms: percentile(&timings[2], 0.50),
    })
}

fn hybrid_request(query: &str, mode: Mode) -> SearchRequest {
    SearchRequest {
        mode,
        limit: TOP_K,
        ..SearchRequest::new(query)
    }
}

/// One thread's id and indexed text, the fields in the index's order.
struct CorpusDocument {
    id: PostId,
    text: String,
}

async fn read_corpus(store: &Store) -> anyhow::Result<Vec<CorpusDocument>> {
    let mut corpus = Vec::new();
    let mut after = None;
    loop {
        let posts = store
            .posts_after(after, CORPUS_PAGE)
            .await
            .context("reading the corpus")?;
        let Some(last) = posts.last() else {
            break;
        };
        after = Some(last.id);
        for document in ThreadDocument::load(store, &posts)
            .await
            .context("reading the corpus")?
        {
            let mut parts: Vec<&str> = Vec::new();
            parts.extend(document.title.as_deref());
            parts.push(&document.body);
            parts.push(&document.code);
            let tags = document.tags.join(" ");
            parts.push(&tags);
            parts.push(&document.answers_top);
            parts.push(&document.answers_rest);
            let text = parts
                .into_iter()
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
                .join("\n");
            corpus.push(CorpusDocument {
                id: document.id,
                text,
            });
        }
    }
    anyhow::ensure!(!corpus.is_empty(), "the generated community has no threads");
    Ok(corpus)
}

/// Common English words left out of the queries: the peer keeps stopwords by
/// default and Steward's analyzer too, but a query of them says nothing.
const STOPWORDS: &[&str] = &[
    "about", "after", "also", "been", "before", "being", "but", "can", "could", "does", "doing",
    "each", "from", "have", "here", "into", "just", "like", "more", "most", "much", "only",
    "other", "over", "same", "should", "some", "such", "than", "that", "their", "them", "then",
    "there", "these", "they", "this", "those", "very", "want", "what", "when", "where", "which",
    "while", "will", "with", "would", "your",
];

/// `count` queries of 2 to 4 distinct words of the corpus, half of the words
/// from the frequent ones and half from the rare ones, drawn with `seed`.
/// Words are ASCII letters only, at least 3 long: both tokenizers cut them
/// alike (the peer's default pattern would keep a Chinese sentence whole).
fn make_queries(corpus: &[CorpusDocument], count: usize, seed: u64) -> Vec<String> {
    let stopwords: HashSet<&str> = STOPWORDS.iter().copied().collect();
    let mut document_frequency: BTreeMap<String, u32> = BTreeMap::new();
    for document in corpus {
        let words: BTreeSet<String> = document
            .text
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .filter(|word| word.len() >= 3 && word.bytes().all(|b| b.is_ascii_alphabetic()))
            .map(str::to_ascii_lowercase)
            .filter(|word| !stopwords.contains(word.as_str()))
            .collect();
        for word in words {
            *document_frequency.entry(word).or_default() += 1;
        }
    }
    let documents = corpus.len() as f64;
    // Frequent: in 1% to 30% of the threads; rare: in at most 0.2% (and at
    // least one). A small corpus takes the most and least frequent halves.
    let mut by_frequency: Vec<(&String, u32)> = document_frequency
        .iter()
        .map(|(word, frequency)| (word, *frequency))
        .collect();
    by_frequency.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut frequent: Vec<&str> = by_frequency
        .iter()
        .filter(|(_, df)| {
            let share = f64::from(*df) / documents;
            (0.01..=0.30).contains(&share)
        })
        .map(|(word, _)| word.as_str())
        .collect();
    let mut rare: Vec<&str> = by_frequency
        .iter()
        .filter(|(_, df)| f64::from(*df) <= (documents * 0.002).max(2.0))
        .map(|(word, _)| word.as_str())
        .collect();
    let half = by_frequency.len() / 2;
    if frequent.len() < 8 {
        frequent = by_frequency[..half]
            .iter()
            .map(|(word, _)| word.as_str())
            .collect();
    }
    if rare.len() < 8 {
        rare = by_frequency[half..]
            .iter()
            .map(|(word, _)| word.as_str())
            .collect();
    }
    if frequent.is_empty() || rare.is_empty() {
        let all: Vec<&str> = by_frequency.iter().map(|(word, _)| word.as_str()).collect();
        frequent.clone_from(&all);
        rare = all;
    }
    let mut random = SplitMix64(seed ^ 0x5eed_5ea4_c4b3_0001);
    let mut queries = Vec::with_capacity(count);
    while queries.len() < count {
        let terms = 2 + (random.next() % 3) as usize;
        let mut words: Vec<&str> = Vec::with_capacity(terms);
        for _ in 0..terms * 4 {
            if words.len() == terms {
                break;
            }
            let pool = if random.next().is_multiple_of(2) {
                &frequent
            } else {
                &rare
            };
            let word = pool[(random.next() % pool.len() as u64) as usize];
            if !words.contains(&word) {
                words.push(word);
            }
        }
        queries.push(words.join(" "));
    }
    queries
}

/// A small seeded generator (splitmix64): the queries must not change with a
/// dependency's version.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Runs every query on `threads` threads (contiguous shares), ranking only
/// or with the hits' evidence; returns each query's latency in ms, each
/// query's top ids, and the wall time in seconds.
#[allow(clippy::type_complexity)]
fn run_queries(
    index: &LexicalIndex,
    queries: &[String],
    threads: usize,
    evidence: bool,
) -> anyhow::Result<(Vec<f64>, Vec<Vec<PostId>>, f64)> {
    let filters = Filters::default();
    let top = |query: &str| -> anyhow::Result<Vec<PostId>> {
        Ok(if evidence {
            index
                .search(query, &filters, TOP_K)?
                .into_iter()
                .map(|hit| hit.post_id)
                .collect()
        } else {
            index
                .score(query, &filters, TOP_K)?
                .hits
                .into_iter()
                .map(|hit| hit.post_id)
                .collect()
        })
    };
    // Warm up: the first searches map the segments' files.
    for query in queries.iter().take(20) {
        top(query)?;
    }
    let share = queries.len().div_ceil(threads);
    let started = Instant::now();
    let outcomes: Vec<anyhow::Result<Vec<(f64, Vec<PostId>)>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = queries
            .chunks(share)
            .map(|chunk| {
                let top = &top;
                scope.spawn(move || -> anyhow::Result<Vec<(f64, Vec<PostId>)>> {
                    let mut out = Vec::with_capacity(chunk.len());
                    for query in chunk {
                        let started = Instant::now();
                        let ids = top(query).with_context(|| format!("searching {query:?}"))?;
                        out.push((millis(started.elapsed()), ids));
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a search thread panicked")))
            })
            .collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    let mut latencies = Vec::with_capacity(queries.len());
    let mut top = Vec::with_capacity(queries.len());
    for outcome in outcomes {
        for (latency, ids) in outcome? {
            latencies.push(latency);
            top.push(ids);
        }
    }
    Ok((latencies, top, seconds))
}

/// Writes `repeats` new questions one at a time, each with a word of its own;
/// times from the write's commit to a search for that word finding it
/// (`catch_up` + search), in ms.
async fn incremental_latencies(
    store: &Store,
    index: &LexicalIndex,
    repeats: usize,
) -> anyhow::Result<Vec<f64>> {
    let mut last_id = None;
    let mut after = None;
    loop {
        let posts = store.posts_after(after, CORPUS_PAGE).await?;
        let Some(last) = posts.last() else {
            break;
        };
        after = Some(last.id);
        last_id = Some(last.id);
    }
    let first_id = last_id.map_or(1, |id| id.0 + 1_000);
    let template = store
        .posts_after(None, 1)
        .await?
        .into_iter()
        .next()
        .context("the community has no posts")?;
    let filters = Filters::default();
    let mut latencies = Vec::with_capacity(repeats);
    for repeat in 0..repeats {
        let id = PostId(first_id + repeat as i64);
        let marker = format!("benchmarker{}", letters(repeat));
        let post = Post {
            id,
            kind: PostKind::Question,
            parent_id: None,
            accepted_answer_id: None,
            title: Some(format!("How do I configure {marker} with tokio?")),
            body_html: format!("<p>The {marker} setting is ignored at start-up.</p>"),
            body_text: format!("The {marker} setting is ignored at start-up."),
            code_blocks: vec![format!("let {marker} = Config::load()?;")],
            tags: vec!["rust".to_string()],
            score: 0,
            answer_count: 0,
            comment_count: 0,
            favorite_count: 0,
            view_count: 0,
            created_at: chrono::Utc::now(),
            last_activity_at: None,
            closed_at: None,
            ..template.clone()
        };
        store
            .write(&WriteBatch {
                posts: vec![post],
                ..WriteBatch::default()
            })
            .await
            .context("writing a new post")?;
        let started = Instant::now();
        index
            .catch_up(store, &JobHandle::new())
            .await
            .context("catching up")?;
        let hits = index.search(&marker, &filters, TOP_K)?;
        let elapsed = started.elapsed();
        anyhow::ensure!(
            hits.first().map(|hit| hit.post_id) == Some(id),
            "the new post {} is not found by {marker:?} after catch_up",
            id.0
        );
        latencies.push(millis(elapsed));
    }
    Ok(latencies)
}

/// `n` spelt in letters (a word the analyzer keeps whole: digits would make
/// the marker a mixed token on some tokenizers).
fn letters(mut n: usize) -> String {
    let mut out = String::new();
    loop {
        out.push(char::from(b'a' + (n % 26) as u8));
        n /= 26;
        if n == 0 {
            return out;
        }
    }
}

fn run_peer(
    python: &Path,
    script: &Path,
    work_dir: &Path,
    corpus: &[CorpusDocument],
    queries: &[String],
) -> anyhow::Result<(PeerFigures, Vec<Vec<PostId>>)> {
    let corpus_path = work_dir.join("corpus.jsonl");
    let queries_path = work_dir.join("queries.json");
    let top_path = work_dir.join("peer_top.json");
    {
        let file = std::fs::File::create(&corpus_path)
            .with_context(|| format!("creating {}", corpus_path.display()))?;
        let mut writer = std::io::BufWriter::new(file);
        for document in corpus {
            serde_json::to_writer(
                &mut writer,
                &serde_json::json!({ "id": document.id.0, "text": document.text }),
            )?;
            writer.write_all(b"\n")?;
        }
        writer.flush()?;
    }
    std::fs::write(&queries_path, serde_json::to_vec(queries)?)
        .with_context(|| format!("writing {}", queries_path.display()))?;
    let output = std::process::Command::new(python)
        .arg(script)
        .arg("--corpus")
        .arg(&corpus_path)
        .arg("--queries")
        .arg(&queries_path)
        .arg("--top-out")
        .arg(&top_path)
        .arg("--k")
        .arg(TOP_K.to_string())
        .env("OMP_NUM_THREADS", "1")
        .env("MKL_NUM_THREADS", "1")
        .env("OPENBLAS_NUM_THREADS", "1")
        .env("NUMBA_NUM_THREADS", "1")
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    let figures: PeerFigures = serde_json::from_value(
        super::bench::peer_json(script, &output).map_err(anyhow::Error::msg)?,
    )
    .with_context(|| format!("{} printed", script.display()))?;
    let top: Vec<Vec<i64>> = serde_json::from_slice(
        &std::fs::read(&top_path).with_context(|| format!("reading {}", top_path.display()))?,
    )
    .with_context(|| format!("reading {}", top_path.display()))?;
    anyhow::ensure!(
        top.len() == queries.len(),
        "the peer answered {} of {} queries",
        top.len(),
        queries.len()
    );
    let top = top
        .into_iter()
        .map(|ids| ids.into_iter().map(PostId).collect())
        .collect();
    Ok((figures, top))
}

/// Mean over queries of |A ∩ B| / |A ∪ B| of the two top lists; a query
/// neither side finds anything for counts as agreeing.
fn mean_jaccard(ours: &[Vec<PostId>], theirs: &[Vec<PostId>]) -> f64 {
    let mut total = 0.0;
    for (a, b) in ours.iter().zip(theirs) {
        let a: HashSet<PostId> = a.iter().copied().collect();
        let b: HashSet<PostId> = b.iter().copied().collect();
        let union = a.union(&b).count();
        total += if union == 0 {
            1.0
        } else {
            a.intersection(&b).count() as f64 / union as f64
        };
    }
    total / ours.len().max(1) as f64
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus(texts: &[&str]) -> Vec<CorpusDocument> {
        texts
            .iter()
            .enumerate()
            .map(|(i, text)| CorpusDocument {
                id: PostId(i as i64 + 1),
                text: text.to_string(),
            })
            .collect()
    }

    #[test]
    fn queries_are_corpus_words_and_the_same_for_the_same_seed() {
        let corpus = corpus(&[
            "tokio runtime spawns tasks; the runtime blocks",
            "serde derives Serialize for structs",
            "a tokio task panics inside the runtime",
            "如何训练神经网络 with pytorch tensors",
        ]);
        let queries = make_queries(&corpus, 50, 7);
        assert_eq!(queries.len(), 50);
        assert_eq!(queries, make_queries(&corpus, 50, 7));
        assert_ne!(queries, make_queries(&corpus, 50, 8));
        for query in &queries {
            let words: Vec<&str> = query.split(' ').collect();
            assert!((1..=4).contains(&words.len()), "{query}");
            for word in words {
                assert!(
                    corpus
                        .iter()
                        .any(|document| document.text.to_lowercase().contains(word)),
                    "{word} is from the corpus"
                );
                assert!(!STOPWORDS.contains(&word), "{word} is no stopword");
                assert!(word.bytes().all(|b| b.is_ascii_lowercase()), "{word}");
            }
        }
    }

    #[test]
    fn jaccard_and_percentiles() {
        let a = vec![vec![PostId(1), PostId(2)], vec![]];
        let b = vec![vec![PostId(2), PostId(3)], vec![]];
        assert!((mean_jaccard(&a, &b) - (1.0 / 3.0 + 1.0) / 2.0).abs() < 1e-9);
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 0.5), 50.0);
        assert_eq!(percentile(&sorted, 0.99), 99.0);
        assert_eq!(letters(0), "a");
        assert_eq!(letters(27), "bb");
    }
}
