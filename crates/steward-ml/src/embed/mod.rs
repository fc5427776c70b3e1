//! Sentence embedders behind one closed enum: [`Embedder::Bert`] (any BERT-family
//! sentence-transformer in safetensors) and [`Embedder::Lsa`] (TF-IDF + randomized
//! SVD trained on the community itself; needs no weights).
//!
//! Embedding is synchronous CPU work: async callers run it on
//! `tokio::task::spawn_blocking` (as [`job::embed_community`] does).

pub mod bert;
pub mod job;
pub mod lsa;

use std::time::Instant;

use serde::{Deserialize, Serialize};
use steward_domain::Post;
use steward_jobs::{JobHandle, Unit};
use steward_store::{ArtifactVersion, NewArtifact, Store};

use crate::resolve::ModelResolver;
use crate::{Error, Result};

/// The embedder used when none is named: small, fast, English-centred.
pub const DEFAULT_MODEL: &str = "all-MiniLM-L6-v2";

/// The name that selects the LSA embedder explicitly (`--model lsa`).
pub const LSA_MODEL: &str = "lsa";

/// The registry name of the community's trained LSA model (`steward artifacts show lsa`).
pub const LSA_ARTIFACT: &str = "lsa";

/// The registry kind of LSA model versions.
pub const LSA_ARTIFACT_KIND: &str = "embedder/lsa";

/// Where stores made before the artifact registry kept their LSA model (the
/// migration keeps it as version 1 of this name); adopted as [`LSA_ARTIFACT`]
/// when that has no promoted version, so the model and its vectors are kept.
pub const LEGACY_LSA_ARTIFACT: &str = "embedder/lsa";

/// What a text is for. Asymmetric models (e5, bge) embed search queries and the
/// passages they should find with different prefixes; symmetric ones ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    Query,
    Passage,
}

/// The embedders Steward knows.
#[derive(Debug)]
pub enum Embedder {
    /// Boxed: the model is large and the enum is moved around by value.
    Bert(Box<bert::BertEmbedder>),
    Lsa(lsa::LsaEmbedder),
}

/// An embedder and, when it is not the one asked for, why.
#[derive(Debug)]
pub struct LoadedEmbedder {
    pub embedder: Embedder,
    /// Set when the requested model could not be used and LSA stands in for it;
    /// callers must show it (search quality differs a lot).
    pub warning: Option<String>,
}

impl Embedder {
    /// One vector per text, in order, each `dim()` long (L2-normalised unless the
    /// model's configuration says otherwise).
    pub fn embed(&self, texts: &[&str], purpose: Purpose) -> Result<Vec<Vec<f32>>> {
        match self {
            Embedder::Bert(bert) => bert.embed(texts, purpose),
            Embedder::Lsa(lsa) => Ok(texts.iter().map(|text| lsa.embed(text)).collect()),
        }
    }

    /// A stable identifier of the model and its settings: the key of its vectors in
    /// the store. Two embedders with the same id give the same vectors.
    pub fn model_id(&self) -> &str {
        match self {
            Embedder::Bert(bert) => bert.model_id(),
            Embedder::Lsa(lsa) => lsa.model_id(),
        }
    }

    pub fn dim(&self) -> usize {
        match self {
            Embedder::Bert(bert) => bert.dim(),
            Embedder::Lsa(lsa) => lsa.dim(),
        }
    }

    /// Loads `name_or_path` (see [`ModelResolver::resolve`]). When the model cannot
    /// be found or downloaded, falls back to LSA (the store's trained artifact, or
    /// one trained now on the community's posts and saved) with a warning, so that
    /// an offline install still gets semantic-ish search instead of an error.
    /// `"lsa"` asks for LSA outright. Without a store there is no fallback: the
    /// resolver's error is returned.
    ///
    /// Loading can be long (a download, LSA training on a large community):
    /// `job` hears its phases and can cancel it ([`Error::Cancelled`]).
    pub async fn load(
        name_or_path: &str,
        resolver: &ModelResolver,
        store: Option<&Store>,
        job: &JobHandle,
    ) -> Result<LoadedEmbedder> {
        if name_or_path.eq_ignore_ascii_case(LSA_MODEL) {
            let store = store.ok_or_else(|| Error::ModelNotFound {
                name: LSA_MODEL.to_string(),
                hint: "LSA is trained on a community: open a database".to_string(),
            })?;
            return Ok(LoadedEmbedder {
                embedder: Embedder::Lsa(load_or_train_lsa(store, job).await?),
                warning: None,
            });
        }
        match (
            resolver.resolve_with_progress(name_or_path, job).await,
            store,
        ) {
            (Ok(path), _) => {
                let bert = tokio::task::spawn_blocking(move || {
                    let options = bert::BertOptions::from_model_dir(&path)?;
                    bert::BertEmbedder::load(&path, options)
                })
                .await
                .map_err(|error| Error::BadModel {
                    path: name_or_path.to_string(),
                    message: format!("loading thread failed: {error}"),
                })??;
                Ok(LoadedEmbedder {
                    embedder: Embedder::Bert(Box::new(bert)),
                    warning: None,
                })
            }
            (Err(error @ Error::ModelNotFound { .. }), Some(store)) => {
                let lsa = load_or_train_lsa(store, job).await?;
                Ok(LoadedEmbedder {
                    warning: Some(format!(
                        "{error}; using {} (LSA trained on this community) instead",
                        lsa.model_id()
                    )),
                    embedder: Embedder::Lsa(lsa),
                })
            }
            (Err(error), _) => Err(error),
        }
    }
}

/// The text of a post that gets embedded: title, prose, and the first code block
/// (cut to [`CODE_CHARS`]). The first block is usually the snippet the question is
/// about, and its identifiers are good search terms; later blocks are mostly
/// output and logs. Long texts are chunked by the BERT embedder, not cut here.
pub fn post_text(post: &Post) -> String {
    let mut text = String::new();
    if let Some(title) = post.title.as_deref().filter(|title| !title.is_empty()) {
        text.push_str(title);
        text.push('\n');
    }
    text.push_str(post.body_text.trim());
    if let Some(code) = post.code_blocks.first() {
        let code = code.trim();
        if !code.is_empty() {
            text.push('\n');
            match code.char_indices().nth(CODE_CHARS) {
                Some((cut, _)) => text.push_str(&code[..cut]),
                None => text.push_str(code),
            }
        }
    }
    text
}

/// How much of a post's first code block goes into its embedded text.
pub const CODE_CHARS: usize = 1000;

/// The community's LSA model: the promoted version of [`LSA_ARTIFACT`] (its
/// bytes checked against their SHA-256 by the store), else the legacy model
/// of an older store (adopted), else one trained now by [`train_lsa`].
///
/// A promoted model is loaded however far the feed has moved since it was
/// trained (its `feed_seq`): LSA's vocabulary and axes stay good for a long
/// time, and retraining changes the model id, so every vector is embedded
/// again. Retraining is asked for (`steward models train-lsa`), never done
/// here behind the caller's back.
pub async fn load_or_train_lsa(store: &Store, job: &JobHandle) -> Result<lsa::LsaEmbedder> {
    if let Some(promoted) = store.promoted_artifact(LSA_ARTIFACT).await? {
        let bytes = store.artifact_bytes(LSA_ARTIFACT, promoted.version).await?;
        return lsa::LsaEmbedder::from_bytes(&bytes);
    }
    if let Some(legacy) = store.promoted_artifact(LEGACY_LSA_ARTIFACT).await? {
        let bytes = store
            .artifact_bytes(LEGACY_LSA_ARTIFACT, legacy.version)
            .await?;
        let model = lsa::LsaEmbedder::from_bytes(&bytes)?;
        let mut metadata = lsa_metadata(&model, None);
        metadata["adopted_from"] =
            serde_json::json!(format!("{LEGACY_LSA_ARTIFACT} v{}", legacy.version));
        store
            .put_artifact_version(
                &NewArtifact {
                    name: LSA_ARTIFACT,
                    kind: LSA_ARTIFACT_KIND,
                    metadata,
                    metrics: lsa_metrics(&model, None),
                    feed_seq: None,
                    bytes: &bytes,
                },
                true,
            )
            .await?;
        return Ok(model);
    }
    Ok(train_lsa(store, &lsa::LsaConfig::default(), job)
        .await?
        .embedder)
}

/// A freshly trained LSA model and the registry version it is stored as.
#[derive(Debug)]
pub struct TrainedLsa {
    pub embedder: lsa::LsaEmbedder,
    pub version: ArtifactVersion,
}

/// Trains LSA on every post now (the same texts [`job::embed_community`]
/// embeds) and stores it as the next version of [`LSA_ARTIFACT`], promoted,
/// with its metadata (dim, vocabulary, training texts, config, model id),
/// metrics (explained share, training seconds) and the feed position read
/// before the first post (the model reflects at least the changes up to it).
/// Training reports the phases "reading posts", then those of
/// [`lsa::LsaEmbedder::train`]; a cancel stores nothing.
pub async fn train_lsa(
    store: &Store,
    config: &lsa::LsaConfig,
    job: &JobHandle,
) -> Result<TrainedLsa> {
    let started = Instant::now();
    let feed_seq = store.latest_change_seq().await?;
    let stats = store.stats().await?;
    let total = u64::try_from(stats.posts + stats.comments).unwrap_or(0);
    job.set_phase("reading posts", Some(total), Unit::Items);
    let mut texts = Vec::new();
    let mut after = None;
    loop {
        job.check_cancelled()?;
        let posts = store.posts_after(after, 1000).await?;
        let Some(last) = posts.last() else {
            break;
        };
        after = Some(last.id);
        texts.extend(posts.iter().map(post_text));
        job.advance(posts.len() as u64);
    }
    if texts.is_empty() {
        return Err(Error::ModelNotFound {
            name: LSA_MODEL.to_string(),
            hint: "the community has no posts to train LSA on: import data first, or give a \
                   BERT model with --model"
                .to_string(),
        });
    }
    let trainer = job.clone();
    let training_config = config.clone();
    let embedder = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        lsa::LsaEmbedder::train(&refs, &training_config, &trainer)
    })
    .await
    .map_err(|error| Error::BadModel {
        path: LSA_MODEL.to_string(),
        message: format!("training thread failed: {error}"),
    })??;
    let seconds = started.elapsed().as_secs_f64();
    let bytes = embedder.to_bytes();
    let version = store
        .put_artifact_version(
            &NewArtifact {
                name: LSA_ARTIFACT,
                kind: LSA_ARTIFACT_KIND,
                metadata: lsa_metadata(&embedder, Some(config)),
                metrics: lsa_metrics(&embedder, Some(seconds)),
                feed_seq: Some(feed_seq),
                bytes: &bytes,
            },
            true,
        )
        .await?;
    Ok(TrainedLsa { embedder, version })
}

/// What `steward artifacts show lsa` says about a model.
fn lsa_metadata(model: &lsa::LsaEmbedder, config: Option<&lsa::LsaConfig>) -> serde_json::Value {
    let training = model.training();
    serde_json::json!({
        "model_id": model.model_id(),
        "dim": model.dim(),
        "vocabulary": model.vocabulary_size(),
        "training_texts": training.map(|training| training.texts),
        "training_documents": training.map(|training| training.documents),
        "config": config,
    })
}

fn lsa_metrics(model: &lsa::LsaEmbedder, training_seconds: Option<f64>) -> serde_json::Value {
    serde_json::json!({
        "explained_share": model.explained_share(),
        "training_seconds": training_seconds,
    })
}
