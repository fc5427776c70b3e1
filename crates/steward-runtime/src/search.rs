//! The search indices of a Steward: where the lexical index lives, opening
//! both indices over a store, and bringing them up to the change feed (the
//! `index` job, `steward index build`, and `steward serve`'s refresh loop).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use steward_jobs::JobHandle;
use steward_ml::embed::Embedder;
use steward_ml::embed::job::{EmbedJobOptions, EmbedReport, consumer_name, embed_community};
use steward_search::searcher::{Dense, Searcher};
use steward_search::vector::VectorOptions;
use steward_search::{IndexReport, LexicalIndex, VectorIndex};
use steward_store::Store;
use tokio::sync::RwLock;

use crate::build::{self, LsaFallback};
use crate::config::{Config, expand_home};
use crate::{Error, Result};

/// The lexical index's folder: `search.index_dir`, else beside a SQLite file
/// (`<file>.search`), else `./steward-search/<schema>` (PostgreSQL; `public`
/// for the default schema).
pub fn index_dir(config: &Config, store: &Store) -> PathBuf {
    if let Some(dir) = &config.search.index_dir {
        return expand_home(&dir.to_string_lossy());
    }
    match store.sqlite_file() {
        Some(file) => {
            let mut name = file.as_os_str().to_owned();
            name.push(".search");
            PathBuf::from(name)
        }
        None => {
            let schema = match store.schema_name() {
                "" => "public",
                schema => schema,
            };
            PathBuf::from("steward-search").join(schema)
        }
    }
}

/// Opens the lexical index (created empty when missing) and, with an
/// `embedder`, the vector index of its model: the promoted artifact when
/// there is one, else built from the stored vectors. Neither is brought up
/// to the feed here: call [`refresh`].
pub async fn open_searcher(
    config: &Config,
    store: &Store,
    embedder: Option<Arc<Embedder>>,
    job: &JobHandle,
) -> Result<Searcher> {
    let dir = index_dir(config, store);
    let opened = match LexicalIndex::open(&dir) {
        // The index is derived data: one of another layout is rebuilt from
        // the store (the next refresh sees position 0 and rebuilds).
        Err(steward_search::Error::SchemaMismatch { detail, .. }) => {
            tracing::warn!(dir = %dir.display(), %detail, "the search index has another layout; rebuilding it");
            LexicalIndex::recreate(&dir)
        }
        other => other,
    };
    let lexical = opened.map_err(|source| Error::Search {
        what: format!("opening the search index at {}", dir.display()),
        source: Box::new(source),
    })?;
    let dense = match embedder {
        Some(embedder) => {
            let model = embedder.model_id().to_string();
            let index = match VectorIndex::load_with(store, &model, vector_options(&model))
                .await
                .map_err(search_error("loading the vector index"))?
            {
                Some(index) => index,
                None => VectorIndex::build_with(store, &model, vector_options(&model), job)
                    .await
                    .map_err(search_error("building the vector index"))?,
            };
            Some(Dense {
                index: Arc::new(RwLock::new(index)),
                embedder,
            })
        }
        None => None,
    };
    Ok(Searcher::new(store.clone(), Arc::new(lexical), dense))
}

/// The searcher a job works with: the configured embedder (LSA standing in
/// when it cannot load, said in the warning; none at all when neither loads,
/// the warning then ending with `without_dense`: what the job does instead)
/// over the indices of `config`.
pub async fn job_searcher(
    config: &Config,
    store: &Store,
    without_dense: &str,
    job: &JobHandle,
) -> Result<(Searcher, Option<String>)> {
    let resolver = build::model_resolver(config);
    let (embedder, warning) =
        match build::load_embedder(config, &resolver, Some(store), LsaFallback::Allowed, job).await
        {
            Ok(loaded) => (Some(Arc::new(loaded.embedder)), loaded.warning),
            Err(Error::Model { source, .. })
                if matches!(*source, steward_ml::Error::Cancelled(_)) =>
            {
                return Err(Error::Cancelled);
            }
            Err(error) => (None, Some(format!("{error}; {without_dense}"))),
        };
    if let Some(warning) = &warning {
        tracing::warn!("{warning}");
    }
    let searcher = open_searcher(config, store, embedder, job).await?;
    Ok((searcher, warning))
}

/// The vector index of `model` follows the embedder's own feed consumer, so
/// it never moves past posts whose vectors are not written yet.
fn vector_options(model: &str) -> VectorOptions {
    VectorOptions {
        producer: Some(consumer_name(model, false)),
        ..VectorOptions::default()
    }
}

fn search_error(what: &'static str) -> impl Fn(steward_search::Error) -> Error {
    move |source| Error::Search {
        what: what.to_string(),
        source: Box::new(source),
    }
}

/// What one refresh did.
#[derive(Debug, Clone, Serialize)]
pub struct RefreshReport {
    pub lexical: IndexReport,
    /// The posts embedded on the way (dense side only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedded: Option<EmbedSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dense: Option<IndexReport>,
    /// The vector index version saved, when the refresh saved one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved_version: Option<i64>,
    pub elapsed_seconds: f64,
}

/// The part of an [`EmbedReport`] a refresh reports.
#[derive(Debug, Clone, Serialize)]
pub struct EmbedSummary {
    pub model: String,
    pub embedded: u64,
    pub deleted: u64,
}

impl From<&EmbedReport> for EmbedSummary {
    fn from(report: &EmbedReport) -> EmbedSummary {
        EmbedSummary {
            model: report.model.clone(),
            embedded: report.embedded,
            deleted: report.deleted,
        }
    }
}

/// How a refresh treats the indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshOptions {
    /// Rebuild both from the store instead of following the feed.
    pub rebuild: bool,
    /// Save the vector index as a new artifact version when it changed (a
    /// job or `steward index build`; not the serving loop, which would add a
    /// version every few seconds).
    pub save: bool,
    /// Embed the posts changed since the embedder last looked before the
    /// vector index follows the feed (`steward search` leaves that to
    /// `steward embed` and `steward index build`).
    pub embed: bool,
}

/// Brings both indices up to the change feed (or rebuilds them): the
/// lexical index first; then, on the dense side, the posts changed since the
/// embedder last looked are embedded and the vector index follows.
pub async fn refresh(
    searcher: &Searcher,
    options: RefreshOptions,
    job: &JobHandle,
) -> Result<RefreshReport> {
    let started = Instant::now();
    let store = searcher.store();
    let lexical = searcher.lexical();
    // A never-built index rebuilds itself on its first catch-up.
    let lexical_report = if options.rebuild {
        lexical.rebuild(store, job).await
    } else {
        lexical.catch_up(store, job).await
    }
    .map_err(search_error("updating the search index"))?;

    let mut embedded = None;
    let mut dense_report = None;
    let mut saved_version = None;
    if let Some(dense) = searcher.dense() {
        job.check_cancelled().map_err(|_| Error::Cancelled)?;
        if options.embed {
            let report = embed_community(
                store,
                dense.embedder.clone(),
                &EmbedJobOptions::default(),
                job,
            )
            .await
            .map_err(|source| Error::Model {
                what: "embedding changed posts for the vector index".to_string(),
                source: Box::new(source),
            })?;
            embedded = Some(EmbedSummary::from(&report));
        }
        let mut index = dense.index.write().await;
        let report = if options.rebuild {
            let model = index.model().to_string();
            let rebuilt = VectorIndex::build_with(store, &model, vector_options(&model), job)
                .await
                .map_err(search_error("building the vector index"))?;
            let report = IndexReport {
                mode: "rebuild",
                indexed: rebuilt.len() as u64,
                deleted: 0,
                position: rebuilt.position(),
            };
            *index = rebuilt;
            report
        } else {
            index
                .catch_up(store, job)
                .await
                .map_err(search_error("updating the vector index"))?
        };
        if options.save && (options.rebuild || report.indexed + report.deleted > 0) {
            let version = index
                .save(store)
                .await
                .map_err(search_error("saving the vector index"))?;
            saved_version = Some(version.version);
        }
        dense_report = Some(report);
    }
    Ok(RefreshReport {
        lexical: lexical_report,
        embedded,
        dense: dense_report,
        saved_version,
        elapsed_seconds: started.elapsed().as_secs_f64(),
    })
}

/// `steward serve`'s loop: a [`refresh`] every `search.refresh_secs` until
/// `stop` resolves; a failed refresh is logged and tried again next time.
pub async fn refresh_loop(
    searcher: Searcher,
    every: Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut stop = std::pin::pin!(stop);
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = ticker.tick() => {}
        }
        let options = RefreshOptions {
            rebuild: false,
            save: false,
            embed: true,
        };
        match refresh(&searcher, options, &JobHandle::new()).await {
            Ok(report) => {
                let dense = report.dense.as_ref();
                if report.lexical.indexed + report.lexical.deleted > 0
                    || dense.is_some_and(|dense| dense.indexed + dense.deleted > 0)
                {
                    tracing::info!(
                        lexical_indexed = report.lexical.indexed,
                        lexical_deleted = report.lexical.deleted,
                        dense_indexed = dense.map(|dense| dense.indexed),
                        position = report.lexical.position,
                        "search indices caught up"
                    );
                }
            }
            Err(error) => tracing::warn!(%error, "search refresh failed; retrying next tick"),
        }
    }
}

/// How current the indices are (`steward index status`).
#[derive(Debug, Clone, Serialize)]
pub struct IndexStatus {
    /// The newest seq of the change feed.
    pub feed_head: i64,
    pub lexical: steward_search::LexicalStatus,
    /// The promoted vector index of each model.
    pub vectors: Vec<VectorStatus>,
}

/// One saved vector index, as its artifact says.
#[derive(Debug, Clone, Serialize)]
pub struct VectorStatus {
    pub name: String,
    pub version: i64,
    pub count: i64,
    /// The feed seq it reflects.
    pub position: i64,
    pub created_at: steward_domain::Timestamp,
}

/// Reads the lexical index's status and the promoted vector index artifacts.
pub async fn status(config: &Config, store: &Store) -> Result<IndexStatus> {
    let store_error = |what: &'static str| {
        move |source| Error::Store {
            what: what.to_string(),
            source: Box::new(source),
        }
    };
    let feed_head = store
        .latest_change_seq()
        .await
        .map_err(store_error("reading the change feed"))?;
    let dir = index_dir(config, store);
    let lexical = LexicalIndex::open(&dir)
        .and_then(|index| index.status())
        .map_err(search_error("reading the search index"))?;
    let vectors = store
        .artifact_names()
        .await
        .map_err(store_error("listing artifacts"))?
        .into_iter()
        .filter(|version| version.kind == steward_search::vector::VECTOR_INDEX_KIND)
        .map(|version| VectorStatus {
            count: version.metadata["count"].as_i64().unwrap_or(0),
            position: version.feed_seq.unwrap_or(0),
            name: version.name,
            version: version.version,
            created_at: version.created_at,
        })
        .collect();
    Ok(IndexStatus {
        feed_head,
        lexical,
        vectors,
    })
}
