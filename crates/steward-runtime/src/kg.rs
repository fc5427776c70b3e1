//! The knowledge graph put together: `[kg]` as build options, the tagger
//! (the promoted `ner` artifact, or trained now on the configured corpus
//! and stored as one), the embedder for node features, the `build-kg` job,
//! and the loop `steward serve` runs to apply new posts to the graph.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;
use steward_jobs::{JobHandle, Unit};
use steward_kg::build::{BuildOptions, BuildReport};
use steward_kg::gnn::GnnOptions;
use steward_kg::service::KgService;
use steward_ml::ner::{self, Tagger};
use steward_store::{NewArtifact, Store};

use crate::build::{self, LsaFallback};
use crate::{Config, Error, Result};

/// The artifact the trained tagger is stored under.
pub const NER_ARTIFACT: &str = "ner";
/// Its kind in the registry.
pub const NER_ARTIFACT_KIND: &str = "ner/tagger";

/// `[kg]` as build options.
pub fn build_options(config: &Config) -> BuildOptions {
    let settings = &config.kg;
    BuildOptions {
        min_ner_posts: settings.min_ner_posts,
        max_cooccurring: settings.max_cooccurring,
        min_cooccurrence: settings.min_cooccurrence,
        gnn: GnnOptions {
            epochs: settings.gnn_epochs.max(1),
            ..GnnOptions::default()
        },
        train_gnn: settings.gnn_epochs > 0,
    }
}

/// The tagger's training corpus: `kg.ner_corpus`, else
/// `stackoverflow-ner/train.txt` under `STEWARD_DATA_DIR` (or `../shared/data`).
pub fn ner_corpus(config: &Config) -> PathBuf {
    if !config.kg.ner_corpus.is_empty() {
        return PathBuf::from(&config.kg.ner_corpus);
    }
    let data = std::env::var_os("STEWARD_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared/data"));
    data.join("stackoverflow-ner").join("train.txt")
}

/// What training the tagger did.
#[derive(Debug, Clone, Serialize)]
pub struct NerTrainReport {
    pub corpus: String,
    pub sentences: usize,
    pub version: i64,
    pub seconds: f64,
}

/// Trains the tagger on `corpus` (CoNLL) and stores it as the promoted
/// version of the `ner` artifact.
pub async fn train_ner(
    store: &Store,
    corpus: &std::path::Path,
    job: &JobHandle,
) -> Result<(Tagger, NerTrainReport)> {
    let started = Instant::now();
    let sentences = ner::conll::read(corpus, &ner::Protocol::default()).map_err(|error| Error::Ner {
        what: format!(
            "reading the tagger's corpus {} (set kg.ner_corpus, or kg.ner = false to build without it)",
            corpus.display()
        ),
        message: error.to_string(),
    })?;
    let count = sentences.len();
    let options = ner::NerTrainOptions::default();
    job.set_phase(
        "training the tagger",
        Some(options.epochs as u64),
        Unit::Items,
    );
    let progress = job.clone();
    let tagger = tokio::task::spawn_blocking(move || {
        Tagger::train(&sentences, &options, &mut |epoch, _| {
            progress.set_done(epoch as u64)
        })
    })
    .await
    .map_err(|error| Error::LoaderThread {
        what: "training the tagger".into(),
        message: error.to_string(),
    })?;
    let bytes = tagger.to_bytes();
    let version = store
        .put_artifact_version(
            &NewArtifact {
                name: NER_ARTIFACT,
                kind: NER_ARTIFACT_KIND,
                metadata: serde_json::json!({
                    "corpus": corpus.display().to_string(),
                    "sentences": count,
                }),
                metrics: serde_json::json!({}),
                feed_seq: None,
                bytes: &bytes,
            },
            true,
        )
        .await
        .map_err(|source| Error::Store {
            what: "saving the tagger".into(),
            source: Box::new(source),
        })?;
    Ok((
        tagger,
        NerTrainReport {
            corpus: corpus.display().to_string(),
            sentences: count,
            version: version.version,
            seconds: started.elapsed().as_secs_f64(),
        },
    ))
}

/// The tagger a build uses: none when `kg.ner` is off; the promoted `ner`
/// artifact; else one trained now on [`ner_corpus`] (and stored); else
/// none, with the reason to show.
pub async fn tagger(
    config: &Config,
    store: &Store,
    job: &JobHandle,
) -> Result<(Option<Tagger>, Option<String>)> {
    if !config.kg.ner {
        return Ok((None, None));
    }
    if let Some(tagger) = stored_tagger(store).await? {
        return Ok((Some(tagger), None));
    }
    let corpus = ner_corpus(config);
    if !corpus.is_file() {
        return Ok((
            None,
            Some(format!(
                "no tagger: no `ner` artifact is stored and the corpus {} is missing, so only tag names \
                 are entities; set kg.ner_corpus (CoNLL) or run `steward kg train-ner --corpus FILE`",
                corpus.display()
            )),
        ));
    }
    let (tagger, _) = train_ner(store, &corpus, job).await?;
    Ok((Some(tagger), None))
}

/// The promoted `ner` artifact, if one is stored.
pub async fn stored_tagger(store: &Store) -> Result<Option<Tagger>> {
    let store_error = |what: &'static str| {
        move |source| Error::Store {
            what: what.into(),
            source: Box::new(source),
        }
    };
    let Some(version) = store
        .promoted_artifact(NER_ARTIFACT)
        .await
        .map_err(store_error("reading the promoted tagger"))?
    else {
        return Ok(None);
    };
    let bytes = store
        .artifact_bytes(NER_ARTIFACT, version.version)
        .await
        .map_err(store_error("reading the tagger"))?;
    let tagger = Tagger::from_bytes(&bytes).map_err(|error| Error::Ner {
        what: format!(
            "the stored tagger (ner version {}) is unreadable; retrain it with `steward kg train-ner`",
            version.version
        ),
        message: error.to_string(),
    })?;
    Ok(Some(tagger))
}

/// The `build-kg` job: the tagger, the embedder for node features (the
/// configured model; hashed words when it cannot be loaded), the build.
pub async fn build_job(
    config: &Config,
    store: &Store,
    job: &JobHandle,
) -> Result<(BuildReport, Vec<String>)> {
    let mut warnings = Vec::new();
    let (tagger, warning) = tagger(config, store, job).await?;
    warnings.extend(warning);
    let resolver = build::model_resolver(config);
    let embedder =
        match build::load_embedder(config, &resolver, Some(store), LsaFallback::Refused, job).await
        {
            Ok(loaded) => {
                warnings.extend(loaded.warning);
                Some(loaded.embedder)
            }
            Err(error) => {
                warnings.push(format!(
                    "node features are hashed words, not embeddings: {error}"
                ));
                None
            }
        };
    let report = steward_kg::build::build(
        store,
        tagger.as_ref(),
        embedder.as_ref(),
        &build_options(config),
        job,
    )
    .await
    .map_err(kg_error("building the knowledge graph"))?;
    Ok((report, warnings))
}

/// Maps a graph error, keeping cancellation as such.
pub fn kg_error(what: &'static str) -> impl Fn(steward_kg::Error) -> Error {
    move |source| match source {
        steward_kg::Error::Cancelled => Error::Cancelled,
        source => Error::Kg {
            what: what.to_string(),
            source: Box::new(source),
        },
    }
}

/// What `steward serve` runs: every `every`, apply the posts written since
/// the last build or update to the graph (no rebuild), and reload it.
pub async fn update_loop(
    service: KgService,
    tagger: Option<Tagger>,
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
        match service.update(tagger.as_ref()).await {
            Ok(report) if report.posts > 0 => {
                tracing::info!(
                    posts = report.posts,
                    mentions = report.mentions,
                    "knowledge graph updated"
                );
            }
            Ok(_) | Err(steward_kg::Error::NotBuilt) => {}
            Err(error) => {
                tracing::warn!(%error, "knowledge-graph update failed; retrying next tick")
            }
        }
    }
}
