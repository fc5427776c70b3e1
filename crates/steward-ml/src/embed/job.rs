//! The embedding job: keeps the stored vectors of one model in step with the
//! community, by following the store's change feed.
//!
//! A model's first run (or one asked for with [`EmbedJobOptions::full`]) scans
//! every post; later runs read only the changes since the position the model's
//! consumer saved: edited posts are embedded again, deleted posts lose their
//! vectors. Either way a post is embedded only when its content hash (xxh3 of
//! model id and embedded text) differs from the stored one, so an edit that
//! leaves the text alone (a score, a tag) embeds nothing.
//!
//! Invariant: the consumer position only moves after everything it covers is
//! stored. A full scan saves the feed's head as read *before* the scan (a
//! change made during the scan is read again next time: harmless, by the hash);
//! an incremental run saves each page's last seq once that page is stored, so
//! a cancelled or crashed run resumes from its last whole page.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use steward_domain::{Post, PostId, PostKind};
use steward_jobs::{JobHandle, Unit};
use steward_store::{ChangeKey, ChangeOp, Store, StoredEmbedding};

use super::{Embedder, Purpose, post_text};
use crate::{Error, Result};

/// How the job walks and batches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmbedJobOptions {
    /// Posts (full scan) or changes (incremental) read from the store per page.
    pub page_size: u32,
    /// Texts per embedder call (and per store write).
    pub batch_size: usize,
    /// Comments are short and numerous; search and duplicates work on posts.
    /// Runs with and without comments follow the feed as two consumers.
    pub include_comments: bool,
    /// Scan every post even when the consumer has a position: after vectors
    /// were removed by hand, or to check that nothing was missed.
    pub full: bool,
}

impl Default for EmbedJobOptions {
    fn default() -> EmbedJobOptions {
        EmbedJobOptions {
            page_size: 512,
            batch_size: 64,
            include_comments: false,
            full: false,
        }
    }
}

/// Whether a run scanned the community or followed the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbedMode {
    /// Every post read: the model's first run, or [`EmbedJobOptions::full`].
    Full,
    /// Only the posts changed since the consumer's position.
    Incremental,
}

impl EmbedMode {
    pub fn as_str(self) -> &'static str {
        match self {
            EmbedMode::Full => "full",
            EmbedMode::Incremental => "incremental",
        }
    }
}

/// At most this many ids are kept in [`EmbedReport::touched`]; the counts
/// are always complete.
pub const MAX_TOUCHED_IDS: usize = 1_000;

/// What a run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmbedReport {
    pub model: String,
    pub dim: usize,
    pub mode: EmbedMode,
    /// Posts read (comments included, embedded or not).
    pub scanned: u64,
    pub embedded: u64,
    /// Read, but their stored vector is for the same text.
    pub unchanged: u64,
    /// Deleted posts whose vectors are gone (incremental runs only: a full
    /// scan never meets a deleted post).
    pub deleted: u64,
    /// The ids embedded or deleted, in the order done, at most
    /// [`MAX_TOUCHED_IDS`] of them (`embedded + deleted` counts them all).
    pub touched: Vec<PostId>,
    /// The consumer's position after the run: the feed is applied up to here.
    pub feed_position: i64,
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

/// The change-feed consumer that keeps `model_id`'s vectors: `embed:<model id>`,
/// with `+comments` when comments are embedded too (a run with comments must
/// not take the position of one that skipped them).
pub fn consumer_name(model_id: &str, include_comments: bool) -> String {
    if include_comments {
        format!("embed:{model_id}+comments")
    } else {
        format!("embed:{model_id}")
    }
}

/// Embeds the community into the store (see the module docs).
///
/// `job` hears one phase: "embedding" for a full scan (posts scanned, comments
/// included, against the community's size) or "embedding changes" (feed
/// entries applied against those pending), with the counts as its message. A
/// cancel stops the job before the next batch (what was stored stays stored)
/// and sets [`EmbedReport::cancelled`]. Embedding runs on blocking threads,
/// one batch at a time.
pub async fn embed_community(
    store: &Store,
    embedder: Arc<Embedder>,
    options: &EmbedJobOptions,
    job: &JobHandle,
) -> Result<EmbedReport> {
    let started = Instant::now();
    let consumer = consumer_name(embedder.model_id(), options.include_comments);
    let position = store.consumer_position(&consumer).await?;
    // Read before anything else: what the run will have covered when it ends.
    let head = store.latest_change_seq().await?;
    let mode = if options.full || position == 0 {
        EmbedMode::Full
    } else {
        EmbedMode::Incremental
    };
    let mut run = Run {
        store,
        model: embedder.model_id().to_string(),
        embedder: Arc::clone(&embedder),
        options,
        job,
        counts: Counts::default(),
        touched: Vec::new(),
    };
    let (cancelled, feed_position) = match mode {
        EmbedMode::Full => {
            let cancelled = run.full_scan().await?;
            if cancelled {
                (true, position)
            } else {
                store.set_consumer_position(&consumer, head).await?;
                (false, head)
            }
        }
        EmbedMode::Incremental => run.follow_feed(&consumer, position, head).await?,
    };
    Ok(EmbedReport {
        model: run.model,
        dim: embedder.dim(),
        mode,
        scanned: run.counts.scanned,
        embedded: run.counts.embedded,
        unchanged: run.counts.unchanged,
        deleted: run.counts.deleted,
        touched: run.touched,
        feed_position,
        cancelled,
        elapsed: started.elapsed(),
    })
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    scanned: u64,
    embedded: u64,
    unchanged: u64,
    deleted: u64,
}

impl Counts {
    fn message(&self) -> String {
        format!(
            "{} embedded, {} unchanged, {} deleted",
            self.embedded, self.unchanged, self.deleted
        )
    }
}

/// Whether a step ran to its end or stopped on a cancel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Done,
    Cancelled,
}

/// One run's state: what it embeds with and what it has done so far.
struct Run<'a> {
    store: &'a Store,
    model: String,
    embedder: Arc<Embedder>,
    options: &'a EmbedJobOptions,
    job: &'a JobHandle,
    counts: Counts,
    touched: Vec<PostId>,
}

impl Run<'_> {
    /// Every post by id; returns whether it was cancelled.
    async fn full_scan(&mut self) -> Result<bool> {
        let stats = self.store.stats().await?;
        let total = u64::try_from(stats.posts + stats.comments).unwrap_or(0);
        self.job.set_phase("embedding", Some(total), Unit::Items);
        let mut after: Option<PostId> = None;
        loop {
            // Also checked here: a run over unchanged posts embeds no batch.
            if self.job.is_cancelled() {
                return Ok(true);
            }
            let posts = self
                .store
                .posts_after(after, self.options.page_size.max(1))
                .await?;
            let Some(last) = posts.last() else {
                return Ok(false);
            };
            after = Some(last.id);
            let scanned_before = self.counts.scanned;
            let flow = self
                .embed_posts(&posts, |run, pending| {
                    run.job.set_done(run.counts.scanned - pending);
                })
                .await?;
            self.job.set_done(scanned_before + posts.len() as u64);
            self.job.set_message(self.counts.message());
            if flow == Flow::Cancelled {
                return Ok(true);
            }
        }
    }

    /// The changes after `position` up to (at least) `head`, page by page,
    /// saving the position after each page. Returns (cancelled, position).
    async fn follow_feed(
        &mut self,
        consumer: &str,
        mut position: i64,
        head: i64,
    ) -> Result<(bool, i64)> {
        let start = position;
        let pending = u64::try_from(head - start).unwrap_or(0);
        self.job
            .set_phase("embedding changes", Some(pending), Unit::Items);
        while position < head {
            if self.job.is_cancelled() {
                return Ok((true, position));
            }
            let changes = self
                .store
                .changes_after(position, self.options.page_size.max(1))
                .await?;
            let Some(last) = changes.last() else {
                break;
            };
            let last_seq = last.seq;
            // Each changed post once, in feed order; and which were deleted.
            let mut ids: Vec<PostId> = Vec::new();
            let mut seen: HashSet<PostId> = HashSet::new();
            let mut deletions: HashSet<PostId> = HashSet::new();
            for change in &changes {
                if let ChangeKey::Post(id) = change.key {
                    if seen.insert(id) {
                        ids.push(id);
                    }
                    if change.op == ChangeOp::Delete {
                        deletions.insert(id);
                    }
                }
            }
            let posts = self.store.posts_by_ids(&ids).await?;
            // A post that is gone now loses its vectors, whatever the page says
            // happened to it before: a vector written while it was being
            // deleted goes too. Only deletions read here are counted; a later
            // page that deletes it counts it then.
            let present: HashSet<PostId> = posts.iter().map(|post| post.id).collect();
            let gone: Vec<PostId> = ids
                .iter()
                .copied()
                .filter(|id| !present.contains(id))
                .collect();
            if !gone.is_empty() {
                self.store.delete_embeddings(&self.model, &gone).await?;
                for id in gone.iter().filter(|id| deletions.contains(id)) {
                    self.counts.deleted += 1;
                    self.touch(*id);
                }
            }
            let flow = self.embed_posts(&posts, |_, _| {}).await?;
            self.job.set_message(self.counts.message());
            if flow == Flow::Cancelled {
                // This page is not whole: it is read again next time.
                return Ok((true, position));
            }
            self.store.set_consumer_position(consumer, last_seq).await?;
            position = last_seq;
            self.job
                .set_done(u64::try_from(position - start).unwrap_or(0).min(pending));
        }
        Ok((false, position))
    }

    fn touch(&mut self, id: PostId) {
        if self.touched.len() < MAX_TOUCHED_IDS {
            self.touched.push(id);
        }
    }

    /// Embeds the posts of `posts` whose text changed, in batches; counts
    /// them all as scanned. After each stored batch `progress` hears how many
    /// of the page's posts are still to embed.
    async fn embed_posts(&mut self, posts: &[Post], progress: impl Fn(&Self, u64)) -> Result<Flow> {
        self.counts.scanned += posts.len() as u64;
        let candidates: Vec<(PostId, String)> = posts
            .iter()
            .filter(|post| self.options.include_comments || post.kind != PostKind::Comment)
            .map(|post| (post.id, post_text(post)))
            .collect();
        let ids: Vec<PostId> = candidates.iter().map(|(id, _)| *id).collect();
        let stored = self.store.embedding_hashes(&self.model, &ids).await?;
        let mut changed: Vec<(PostId, String, i64)> = Vec::new();
        for (id, text) in candidates {
            let hash = content_hash(&self.model, &text);
            if stored.get(&id) == Some(&hash) {
                self.counts.unchanged += 1;
            } else {
                changed.push((id, text, hash));
            }
        }
        let mut pending = changed.len() as u64;
        for batch in changed.chunks(self.options.batch_size.max(1)) {
            if self.job.is_cancelled() {
                return Ok(Flow::Cancelled);
            }
            let texts: Vec<String> = batch.iter().map(|(_, text, _)| text.clone()).collect();
            let worker = Arc::clone(&self.embedder);
            let vectors = tokio::task::spawn_blocking(move || {
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                worker.embed(&refs, Purpose::Passage)
            })
            .await
            .map_err(|error| Error::BadModel {
                path: self.model.clone(),
                message: format!("embedding thread failed: {error}"),
            })??;
            let rows: Vec<StoredEmbedding> = batch
                .iter()
                .zip(vectors)
                .map(|((id, _, hash), vector)| StoredEmbedding {
                    post_id: *id,
                    model: self.model.clone(),
                    content_hash: *hash,
                    vector,
                })
                .collect();
            self.store.put_embeddings(&rows).await?;
            self.counts.embedded += rows.len() as u64;
            for row in &rows {
                self.touch(row.post_id);
            }
            pending -= batch.len() as u64;
            progress(self, pending);
            self.job.set_message(self.counts.message());
        }
        Ok(Flow::Done)
    }
}
