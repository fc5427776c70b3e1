//! Sentence embedders behind one closed enum: [`Embedder::Bert`] (any BERT-family
//! sentence-transformer in safetensors) and [`Embedder::Lsa`] (TF-IDF + randomized
//! SVD trained on the community itself; needs no weights).
//!
//! Embedding is synchronous CPU work: async callers run it on
//! `tokio::task::spawn_blocking` (as [`job::embed_community`] does).

pub mod bert;
pub mod job;
pub mod lsa;

use serde::{Deserialize, Serialize};
use steward_domain::Post;
use steward_jobs::{JobHandle, Unit};
use steward_store::Store;

use crate::resolve::ModelResolver;
use crate::{Error, Result};

/// The embedder used when none is named: small, fast, English-centred.
pub const DEFAULT_MODEL: &str = "all-MiniLM-L6-v2";

/// The name that selects the LSA embedder explicitly (`--model lsa`).
pub const LSA_MODEL: &str = "lsa";

/// The store artifact holding the community's trained LSA model.
pub const LSA_ARTIFACT: &str = "embedder/lsa";

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

/// The community's LSA model: the stored artifact, else trained on every post
/// now (the same texts [`job::embed_community`] embeds) and stored. Training
/// reports the phases "reading posts", then those of [`lsa::LsaEmbedder::train`];
/// a cancel stores nothing.
pub async fn load_or_train_lsa(store: &Store, job: &JobHandle) -> Result<lsa::LsaEmbedder> {
    if let Some(bytes) = store.artifact(LSA_ARTIFACT).await? {
        return lsa::LsaEmbedder::from_bytes(&bytes);
    }
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
    let lsa = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        lsa::LsaEmbedder::train(&refs, &lsa::LsaConfig::default(), &trainer)
    })
    .await
    .map_err(|error| Error::BadModel {
        path: LSA_MODEL.to_string(),
        message: format!("training thread failed: {error}"),
    })??;
    store.put_artifact(LSA_ARTIFACT, &lsa.to_bytes()).await?;
    Ok(lsa)
}
