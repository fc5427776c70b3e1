//! The embedding job: embeds every post of the community whose text changed since
//! it was last embedded under the same model, and stores the vectors.
//!
//! Incremental by content hash: a post's hash is xxh3 of (model id, embedded
//! text), so a second run embeds nothing, an edited post is embedded again, and
//! switching models embeds everything under the new model's key.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use steward_domain::{PostId, PostKind};
use steward_jobs::{JobHandle, Unit};
use steward_store::{Store, StoredEmbedding};

use super::{Embedder, Purpose, post_text};
use crate::{Error, Result};

/// How the job walks and batches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmbedJobOptions {
    /// Posts read from the store per page.
    pub page_size: u32,
    /// Texts per embedder call (and per store write).
    pub batch_size: usize,
    /// Comments are short and numerous; search and duplicates work on posts.
    pub include_comments: bool,
}

impl Default for EmbedJobOptions {
    fn default() -> EmbedJobOptions {
        EmbedJobOptions {
            page_size: 512,
            batch_size: 64,
            include_comments: false,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmbedReport {
    pub model: String,
    pub dim: usize,
    pub scanned: u64,
    pub embedded: u64,
    pub unchanged: u64,
    /// True when the run stopped early on request; what was stored stays stored.
    pub cancelled: bool,
    pub elapsed: Duration,
}

/// The content hash stored with a vector: xxh3 of the model id and the text,
/// as the store's i64 (bit-for-bit).
pub fn content_hash(model_id: &str, text: &str) -> i64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(model_id.as_bytes());
    hasher.update(&[0]);
    hasher.update(text.as_bytes());
    hasher.digest() as i64
}

/// Embeds the community into the store (see the module docs).
///
/// `job` hears one phase, "embedding", counting the posts scanned (comments
/// included, skipped or not) against the community's size, with the embedded
/// and unchanged counts as its message. A cancel stops the job before the next
/// batch (what was stored stays stored) and sets [`EmbedReport::cancelled`].
/// Embedding runs on blocking threads, one batch at a time.
pub async fn embed_community(
    store: &Store,
    embedder: Arc<Embedder>,
    options: &EmbedJobOptions,
    job: &JobHandle,
) -> Result<EmbedReport> {
    let started = Instant::now();
    let model = embedder.model_id().to_string();
    let stats = store.stats().await?;
    let total = u64::try_from(stats.posts + stats.comments).unwrap_or(0);
    job.set_phase("embedding", Some(total), Unit::Items);
    let mut scanned = 0u64;
    let mut embedded = 0u64;
    let mut unchanged = 0u64;
    let report_counts = |scanned: u64, embedded: u64, unchanged: u64| {
        job.set_done(scanned);
        job.set_message(format!("{embedded} embedded, {unchanged} unchanged"));
    };
    let mut after: Option<PostId> = None;
    let mut cancelled = false;
    'pages: loop {
        // Also checked here: a run over unchanged posts embeds no batch.
        if job.is_cancelled() {
            cancelled = true;
            break;
        }
        let posts = store.posts_after(after, options.page_size.max(1)).await?;
        let Some(last) = posts.last() else {
            break;
        };
        after = Some(last.id);
        scanned += posts.len() as u64;
        let candidates: Vec<(PostId, String)> = posts
            .iter()
            .filter(|post| options.include_comments || post.kind != PostKind::Comment)
            .map(|post| (post.id, post_text(post)))
            .collect();
        let ids: Vec<PostId> = candidates.iter().map(|(id, _)| *id).collect();
        let stored = store.embedding_hashes(&model, &ids).await?;
        let mut changed: Vec<(PostId, String, i64)> = Vec::new();
        for (id, text) in candidates {
            let hash = content_hash(&model, &text);
            if stored.get(&id) == Some(&hash) {
                unchanged += 1;
            } else {
                changed.push((id, text, hash));
            }
        }
        // Posts of this page still to embed: done counts the rest as finished.
        let mut pending = changed.len() as u64;
        for batch in changed.chunks(options.batch_size.max(1)) {
            if job.is_cancelled() {
                cancelled = true;
                break 'pages;
            }
            let texts: Vec<String> = batch.iter().map(|(_, text, _)| text.clone()).collect();
            let worker = Arc::clone(&embedder);
            let vectors = tokio::task::spawn_blocking(move || {
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                worker.embed(&refs, Purpose::Passage)
            })
            .await
            .map_err(|error| Error::BadModel {
                path: model.clone(),
                message: format!("embedding thread failed: {error}"),
            })??;
            let rows: Vec<StoredEmbedding> = batch
                .iter()
                .zip(vectors)
                .map(|((id, _, hash), vector)| StoredEmbedding {
                    post_id: *id,
                    model: model.clone(),
                    content_hash: *hash,
                    vector,
                })
                .collect();
            store.put_embeddings(&rows).await?;
            embedded += rows.len() as u64;
            pending -= batch.len() as u64;
            report_counts(scanned - pending, embedded, unchanged);
        }
        report_counts(scanned, embedded, unchanged);
    }
    Ok(EmbedReport {
        model,
        dim: embedder.dim(),
        scanned,
        embedded,
        unchanged,
        cancelled,
        elapsed: started.elapsed(),
    })
}
