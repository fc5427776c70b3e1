//! Stack Exchange data dump importer: Users, Posts, Comments, PostLinks,
//! Votes, Badges, PostHistory and Tags (in that order, so that references
//! resolve), streamed row by row into the store in batches.
//!
//! Signals become [`Event`]s with stable keys so that a re-import keeps one of
//! each: `se:answer:{AnswerId}` (the owner answered the question),
//! `se:accept:{QuestionId}` (the asker accepted the answer; the dump carries no
//! acceptance time, so the answer's creation time stands in for it),
//! `se:comment:{Id}`, `se:vote:{Id}` (favorites, bounty starts as follows) and
//! `se:history:{Id}` (title, body and tag edits). Anonymous votes are kept by
//! vote id, and the store adds to the per-post counts only the votes it did
//! not hold yet, so a vote is counted once whatever the file's order, however
//! often the import is interrupted and re-run, and however many run at once.
//!
//! Every value is checked before the store sees it (ids in `1..2^40`, times in
//! the accepted years, characters XML 1.0 allows, parents of the right kind,
//! known vote types): a bad one is a located skip. Should the store still
//! refuse a record, its batch is split until that record stands alone, and it
//! is skipped as `rejected_by_store` while the others are written.
//!
//! Every derived event passes [`crate::intake::validate`], the check live and
//! JSONL events pass; a row whose event it rejects is skipped whole
//! (`invalid_event`), so the store never holds a post or comment without the
//! event it implies.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

use steward_domain::{
    AnonymousVote, Badge, BadgeClass, BadgeId, Event, EventKind, EventTarget, Post, PostId,
    PostKind, PostLink, PostLinkKind, Tag, Timestamp, User, UserId, split_tags,
};
use steward_jobs::{JobHandle, Unit};
use steward_store::{Store, WriteBatch};
use steward_text::html::html_to_text;

use crate::batch::LocatedBatch;
use crate::checks::{KnownPosts, check_post};
use crate::idset::IdSet;
use crate::intake::{self, IntakeError};
use crate::report::{ImportReport, Location, SkipReason};
use crate::rows::{Chunk, Framing, parse_row, spawn_reader};
use crate::values::check_user_id;
use crate::{Error, Result};

/// The dump's files in import order; only `Posts.xml` is required.
pub const DUMP_FILES: [&str; 8] = [
    "Users.xml",
    "Posts.xml",
    "Comments.xml",
    "PostLinks.xml",
    "Votes.xml",
    "Badges.xml",
    "PostHistory.xml",
    "Tags.xml",
];

/// Vote types that name their voter in the dumps.
const VOTE_FAVORITE: i64 = 5;
const VOTE_BOUNTY_START: i64 = 8;

/// Vote types of the dump schema (1 accepted by originator ... 16 approve
/// edit suggestion); any other is a located skip (`unknown_vote_type`).
const VOTE_TYPES: std::ops::RangeInclusive<i64> = 1..=16;

/// Post history types that are edits: title, body, tags, and a suggested edit applied.
const EDIT_HISTORY_TYPES: [i64; 4] = [4, 5, 6, 24];

/// How to import a dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpOptions {
    /// Rows per write transaction.
    pub batch_size: usize,
}

impl Default for DumpOptions {
    fn default() -> DumpOptions {
        DumpOptions { batch_size: 2_000 }
    }
}

/// Imports the Stack Exchange dump in `dir` into `store`.
///
/// Bad rows are skipped and reported; a store error or a cancel stops the
/// import, keeping every batch written before it. Running it again converges
/// to the same store contents as one uninterrupted run.
///
/// `job` hears one phase per dump file (the file name, in bytes of its size)
/// and is checked for a cancel after every batch.
pub async fn import_dump(
    store: &Store,
    dir: &Path,
    options: &DumpOptions,
    job: &JobHandle,
) -> Result<ImportReport> {
    let started = Instant::now();
    let metadata = std::fs::metadata(dir).map_err(|source| Error::io("reading", dir, source))?;
    if !metadata.is_dir() {
        return Err(Error::io(
            "reading",
            dir,
            std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        ));
    }
    if !dump_file_exists(&dir.join("Posts.xml"))? {
        return Err(Error::MissingPosts(dir.to_path_buf()));
    }
    let mut importer = DumpImporter {
        store,
        job,
        batch_size: options.batch_size.max(1),
        report: ImportReport::new(dir.display().to_string()),
        known_posts: KnownPosts::default(),
        pending_accepts: HashMap::new(),
        rows_done: 0,
    };
    for file in DUMP_FILES {
        if job.is_cancelled() {
            return Err(Error::Cancelled {
                rows_done: importer.rows_done,
            });
        }
        if !dump_file_exists(&dir.join(file))? {
            importer.report.absent_files.push(file.to_string());
            continue;
        }
        match file {
            "Users.xml" => importer.import_users(dir).await?,
            "Posts.xml" => importer.import_posts(dir).await?,
            "Comments.xml" => importer.import_comments(dir).await?,
            "PostLinks.xml" => importer.import_post_links(dir).await?,
            "Votes.xml" => importer.import_votes(dir).await?,
            "Badges.xml" => importer.import_badges(dir).await?,
            "PostHistory.xml" => importer.import_post_history(dir).await?,
            _ => importer.import_tags(dir).await?,
        }
    }
    importer.report.set_elapsed(started.elapsed());
    Ok(importer.report)
}

/// Whether the dump file at `path` is there: `false` only when nothing is
/// at that path. A path that cannot be read (a symlink loop, no permission)
/// or is not a file is an error naming it, not an absent file.
fn dump_file_exists(path: &Path) -> Result<bool> {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_file() => Ok(true),
        Ok(_) => Err(Error::io(
            "reading",
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
        )),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(Error::io("reading", path, error)),
    }
}

/// State of one dump import.
struct DumpImporter<'a> {
    store: &'a Store,
    job: &'a JobHandle,
    batch_size: usize,
    report: ImportReport,
    /// Every post written by this import and its kind, to check parents
    /// without the store.
    known_posts: KnownPosts,
    /// Accepted answer id -> (question id, question owner), until the answer is read.
    pending_accepts: HashMap<i64, (PostId, Option<UserId>)>,
    rows_done: u64,
}

/// A file being read: its index in the report and its chunks.
struct OpenFile<T> {
    file_idx: usize,
    chunks: tokio::sync::mpsc::Receiver<std::io::Result<Chunk<T>>>,
    path: std::path::PathBuf,
    /// Ids already used in this file, to report duplicates.
    seen_ids: IdSet,
    started: Instant,
}

impl<'a> DumpImporter<'a> {
    fn open<T, F>(&mut self, dir: &Path, name: &'static str, map: F) -> Result<OpenFile<T>>
    where
        T: Send + 'static,
        F: Fn(&str) -> Result<T, SkipReason> + Send + 'static,
    {
        let path = &dir.join(name);
        let bytes = std::fs::metadata(path)
            .map_err(|source| Error::io("reading", path, source))?
            .len();
        let file_idx = self.report.start_file(name, bytes);
        self.job.set_phase(name, Some(bytes), Unit::Bytes);
        let chunks = spawn_reader(path, Framing::XmlRows, self.batch_size, map)?;
        Ok(OpenFile {
            file_idx,
            chunks,
            path: path.to_path_buf(),
            seen_ids: IdSet::default(),
            started: Instant::now(),
        })
    }

    async fn next_chunk<T>(&mut self, file: &mut OpenFile<T>) -> Result<Option<Chunk<T>>> {
        match file.chunks.recv().await {
            Some(Ok(chunk)) => {
                self.report.files[file.file_idx].rows_read += chunk.records.len() as u64;
                Ok(Some(chunk))
            }
            Some(Err(source)) => Err(Error::io("reading", &file.path, source)),
            None => {
                self.report.files[file.file_idx].elapsed_seconds =
                    file.started.elapsed().as_secs_f64();
                Ok(None)
            }
        }
    }

    /// Writes one batch (a record the store refuses is a located skip; the
    /// others are written), then reports progress and honours a cancel.
    async fn write(&mut self, batch: LocatedBatch, file_idx: usize, bytes: u64) -> Result<()> {
        let records = batch.records() as u64;
        let rejected = batch.write(self.store).await?;
        let imported = records - rejected.len() as u64;
        for rejected in rejected {
            let reason = SkipReason::RejectedByStore(rejected.error.to_string());
            self.report.record_skip(file_idx, rejected.line, reason);
        }
        let file = &mut self.report.files[file_idx];
        file.imported += imported;
        self.rows_done += imported;
        self.job.advance(bytes);
        self.job
            .set_message(format!("{} rows imported", file.imported));
        if self.job.is_cancelled() {
            return Err(Error::Cancelled {
                rows_done: self.rows_done,
            });
        }
        Ok(())
    }

    fn skip(&mut self, file_idx: usize, at: Location, reason: SkipReason) {
        self.report.record_skip(file_idx, at, reason);
    }

    /// Whether post `id` exists: written by this import or found in `stored`.
    fn is_known_post(&self, id: PostId, stored: &HashMap<PostId, PostKind>) -> bool {
        self.known_posts.contains(id) || stored.contains_key(&id)
    }

    async fn import_users(&mut self, dir: &Path) -> Result<()> {
        let mut file = self.open(dir, "Users.xml", map_user)?;
        while let Some(chunk) = self.next_chunk(&mut file).await? {
            let mut batch = LocatedBatch::default();
            for record in chunk.records {
                match record.outcome {
                    Err(reason) => self.skip(file.file_idx, record.line, reason),
                    Ok(user) if !file.seen_ids.insert(user.id.0) => {
                        self.skip(
                            file.file_idx,
                            record.line,
                            SkipReason::DuplicateId(user.id.to_string()),
                        );
                    }
                    Ok(user) => batch.push(
                        record.line,
                        WriteBatch {
                            users: vec![user],
                            ..WriteBatch::default()
                        },
                    ),
                }
            }
            self.write(batch, file.file_idx, chunk.bytes).await?;
        }
        Ok(())
    }

    async fn import_posts(&mut self, dir: &Path) -> Result<()> {
        let mut file = self.open(dir, "Posts.xml", map_post)?;
        while let Some(chunk) = self.next_chunk(&mut file).await? {
            let stored = self
                .known_posts
                .stored_kinds(
                    self.store,
                    chunk
                        .records
                        .iter()
                        .filter_map(|record| record.outcome.as_ref().ok())
                        .flat_map(|post| [Some(post.id), post.parent_id].into_iter().flatten()),
                )
                .await?;
            let mut batch = LocatedBatch::default();
            for record in chunk.records {
                let post = match record.outcome {
                    Err(reason) => {
                        self.skip(file.file_idx, record.line, reason);
                        continue;
                    }
                    Ok(post) => post,
                };
                if file.seen_ids.contains(post.id.0) {
                    self.skip(
                        file.file_idx,
                        record.line,
                        SkipReason::DuplicateId(post.id.to_string()),
                    );
                    continue;
                }
                if let Err(reason) = self.known_posts.check_links(&post, "ParentId", &stored) {
                    self.skip(file.file_idx, record.line, reason);
                    continue;
                }
                let events = match self.post_events(&post) {
                    Ok(events) => events,
                    Err(error) => {
                        let reason = SkipReason::InvalidEvent(error);
                        self.skip(file.file_idx, record.line, reason);
                        continue;
                    }
                };
                file.seen_ids.insert(post.id.0);
                self.known_posts.insert(post.id, post.kind);
                batch.push(
                    record.line,
                    WriteBatch {
                        posts: vec![post],
                        events,
                        ..WriteBatch::default()
                    },
                );
            }
            self.write(batch, file.file_idx, chunk.bytes).await?;
        }
        Ok(())
    }

    /// Answer and accept events of one post.
    fn post_events(&mut self, post: &Post) -> Result<Vec<Event>, IntakeError> {
        let mut events = Vec::new();
        match post.kind {
            PostKind::Question => {
                if let Some(answer_id) = post.accepted_answer_id {
                    self.pending_accepts
                        .insert(answer_id.0, (post.id, post.owner_id));
                }
            }
            PostKind::Answer => {
                let Some(question_id) = post.parent_id else {
                    return Ok(events);
                };
                if let Some(owner_id) = post.owner_id {
                    events.push(event(
                        format!("se:answer:{}", post.id),
                        owner_id,
                        EventKind::Answer,
                        EventTarget::Post(question_id),
                        post.created_at,
                    )?);
                }
                if let Some((accepted_in, asker)) = self.pending_accepts.remove(&post.id.0)
                    && accepted_in == question_id
                    && let Some(asker) = asker
                {
                    events.push(event(
                        format!("se:accept:{question_id}"),
                        asker,
                        EventKind::Accept,
                        EventTarget::Post(post.id),
                        post.created_at,
                    )?);
                }
            }
            PostKind::Article | PostKind::Comment | PostKind::Wiki => {}
        }
        Ok(events)
    }

    async fn import_comments(&mut self, dir: &Path) -> Result<()> {
        let mut file = self.open(dir, "Comments.xml", map_comment)?;
        while let Some(chunk) = self.next_chunk(&mut file).await? {
            let stored = self
                .known_posts
                .stored_kinds(
                    self.store,
                    chunk
                        .records
                        .iter()
                        .filter_map(|record| record.outcome.as_ref().ok())
                        .flat_map(|comment| {
                            [Some(comment.post.id), comment.post.parent_id]
                                .into_iter()
                                .flatten()
                        }),
                )
                .await?;
            let mut batch = LocatedBatch::default();
            for record in chunk.records {
                let comment = match record.outcome {
                    Err(reason) => {
                        self.skip(file.file_idx, record.line, reason);
                        continue;
                    }
                    Ok(comment) => comment,
                };
                let Some(parent_id) = comment.post.parent_id else {
                    continue;
                };
                if !file.seen_ids.insert(comment.comment_id) {
                    self.skip(
                        file.file_idx,
                        record.line,
                        SkipReason::DuplicateId(comment.comment_id.to_string()),
                    );
                    continue;
                }
                if let Err(reason) = self
                    .known_posts
                    .check_links(&comment.post, "PostId", &stored)
                {
                    self.skip(file.file_idx, record.line, reason);
                    continue;
                }
                let mut events = Vec::new();
                if let Some(user_id) = comment.post.owner_id {
                    match event(
                        format!("se:comment:{}", comment.comment_id),
                        user_id,
                        EventKind::Comment,
                        EventTarget::Post(parent_id),
                        comment.post.created_at,
                    ) {
                        Ok(event) => events.push(event),
                        Err(error) => {
                            let reason = SkipReason::InvalidEvent(error);
                            self.skip(file.file_idx, record.line, reason);
                            continue;
                        }
                    }
                }
                self.known_posts.insert(comment.post.id, PostKind::Comment);
                batch.push(
                    record.line,
                    WriteBatch {
                        posts: vec![comment.post],
                        events,
                        ..WriteBatch::default()
                    },
                );
            }
            self.write(batch, file.file_idx, chunk.bytes).await?;
        }
        Ok(())
    }

    async fn import_post_links(&mut self, dir: &Path) -> Result<()> {
        let mut file = self.open(dir, "PostLinks.xml", map_post_link)?;
        while let Some(chunk) = self.next_chunk(&mut file).await? {
            let stored = self
                .known_posts
                .stored_kinds(
                    self.store,
                    chunk
                        .records
                        .iter()
                        .filter_map(|record| record.outcome.as_ref().ok())
                        .flat_map(|link| [link.post_id, link.related_post_id]),
                )
                .await?;
            let mut batch = LocatedBatch::default();
            for record in chunk.records {
                let link = match record.outcome {
                    Err(reason) => {
                        self.skip(file.file_idx, record.line, reason);
                        continue;
                    }
                    Ok(link) => link,
                };
                if !file.seen_ids.insert(link.id) {
                    self.skip(
                        file.file_idx,
                        record.line,
                        SkipReason::DuplicateId(link.id.to_string()),
                    );
                    continue;
                }
                let dangling = [
                    ("PostId", link.post_id),
                    ("RelatedPostId", link.related_post_id),
                ]
                .into_iter()
                .find(|(_, id)| !self.is_known_post(*id, &stored));
                if let Some((attribute, post_id)) = dangling {
                    let reason = SkipReason::DanglingReference {
                        attribute,
                        post_id: post_id.0,
                    };
                    self.skip(file.file_idx, record.line, reason);
                    continue;
                }
                batch.push(
                    record.line,
                    WriteBatch {
                        post_links: vec![link],
                        ..WriteBatch::default()
                    },
                );
            }
            self.write(batch, file.file_idx, chunk.bytes).await?;
        }
        Ok(())
    }

    /// Votes that name their voter (favorites, bounty starts) become events;
    /// the others are kept by vote id, and the store counts each once.
    async fn import_votes(&mut self, dir: &Path) -> Result<()> {
        let mut file = self.open(dir, "Votes.xml", map_vote)?;
        while let Some(chunk) = self.next_chunk(&mut file).await? {
            let stored = self
                .known_posts
                .stored_kinds(
                    self.store,
                    chunk
                        .records
                        .iter()
                        .filter_map(|record| record.outcome.as_ref().ok())
                        .map(|vote| vote.post_id),
                )
                .await?;
            let mut batch = LocatedBatch::default();
            for record in chunk.records {
                let vote = match record.outcome {
                    Err(reason) => {
                        self.skip(file.file_idx, record.line, reason);
                        continue;
                    }
                    Ok(vote) => vote,
                };
                if !file.seen_ids.insert(vote.id) {
                    self.skip(
                        file.file_idx,
                        record.line,
                        SkipReason::DuplicateId(vote.id.to_string()),
                    );
                    continue;
                }
                if !self.is_known_post(vote.post_id, &stored) {
                    let reason = SkipReason::DanglingReference {
                        attribute: "PostId",
                        post_id: vote.post_id.0,
                    };
                    self.skip(file.file_idx, record.line, reason);
                    continue;
                }
                let user_event_kind = match (vote.vote_type, vote.user_id) {
                    (VOTE_FAVORITE, Some(user_id)) => Some((EventKind::Favorite, user_id)),
                    (VOTE_BOUNTY_START, Some(user_id)) => Some((EventKind::Follow, user_id)),
                    _ => None,
                };
                let record_batch = match user_event_kind {
                    Some((kind, user_id)) => match event(
                        format!("se:vote:{}", vote.id),
                        user_id,
                        kind,
                        EventTarget::Post(vote.post_id),
                        vote.at,
                    ) {
                        Ok(event) => WriteBatch {
                            events: vec![event],
                            ..WriteBatch::default()
                        },
                        Err(error) => {
                            let reason = SkipReason::InvalidEvent(error);
                            self.skip(file.file_idx, record.line, reason);
                            continue;
                        }
                    },
                    None => WriteBatch {
                        anonymous_votes: vec![AnonymousVote {
                            id: vote.id,
                            post_id: vote.post_id,
                            vote_type: vote.vote_type,
                        }],
                        ..WriteBatch::default()
                    },
                };
                batch.push(record.line, record_batch);
            }
            self.write(batch, file.file_idx, chunk.bytes).await?;
        }
        Ok(())
    }

    async fn import_badges(&mut self, dir: &Path) -> Result<()> {
        let mut file = self.open(dir, "Badges.xml", map_badge)?;
        while let Some(chunk) = self.next_chunk(&mut file).await? {
            let mut batch = LocatedBatch::default();
            for record in chunk.records {
                match record.outcome {
                    Err(reason) => self.skip(file.file_idx, record.line, reason),
                    Ok(badge) if !file.seen_ids.insert(badge.id.0) => {
                        self.skip(
                            file.file_idx,
                            record.line,
                            SkipReason::DuplicateId(badge.id.to_string()),
                        );
                    }
                    Ok(badge) => batch.push(
                        record.line,
                        WriteBatch {
                            badges: vec![badge],
                            ..WriteBatch::default()
                        },
                    ),
                }
            }
            self.write(batch, file.file_idx, chunk.bytes).await?;
        }
        Ok(())
    }

    async fn import_post_history(&mut self, dir: &Path) -> Result<()> {
        let mut file = self.open(dir, "PostHistory.xml", map_history)?;
        while let Some(chunk) = self.next_chunk(&mut file).await? {
            let stored = self
                .known_posts
                .stored_kinds(
                    self.store,
                    chunk.records.iter().filter_map(|record| {
                        let entry = record.outcome.as_ref().ok()?;
                        entry.is_edit().then_some(entry.post_id)
                    }),
                )
                .await?;
            let mut batch = LocatedBatch::default();
            for record in chunk.records {
                let entry = match record.outcome {
                    Err(reason) => {
                        self.skip(file.file_idx, record.line, reason);
                        continue;
                    }
                    Ok(entry) => entry,
                };
                if !file.seen_ids.insert(entry.id) {
                    self.skip(
                        file.file_idx,
                        record.line,
                        SkipReason::DuplicateId(entry.id.to_string()),
                    );
                    continue;
                }
                let (true, Some(user_id)) = (entry.is_edit(), entry.user_id) else {
                    self.report.files[file.file_idx].ignored += 1;
                    continue;
                };
                if !self.is_known_post(entry.post_id, &stored) {
                    let reason = SkipReason::DanglingReference {
                        attribute: "PostId",
                        post_id: entry.post_id.0,
                    };
                    self.skip(file.file_idx, record.line, reason);
                    continue;
                }
                match event(
                    format!("se:history:{}", entry.id),
                    user_id,
                    EventKind::Edit,
                    EventTarget::Post(entry.post_id),
                    entry.at,
                ) {
                    Ok(event) => batch.push(
                        record.line,
                        WriteBatch {
                            events: vec![event],
                            ..WriteBatch::default()
                        },
                    ),
                    Err(error) => {
                        let reason = SkipReason::InvalidEvent(error);
                        self.skip(file.file_idx, record.line, reason);
                    }
                }
            }
            self.write(batch, file.file_idx, chunk.bytes).await?;
        }
        Ok(())
    }

    async fn import_tags(&mut self, dir: &Path) -> Result<()> {
        let mut file = self.open(dir, "Tags.xml", map_tag)?;
        let mut seen_names: HashSet<String> = HashSet::new();
        while let Some(chunk) = self.next_chunk(&mut file).await? {
            let mut batch = LocatedBatch::default();
            for record in chunk.records {
                let mut tag_row = match record.outcome {
                    Err(reason) => {
                        self.skip(file.file_idx, record.line, reason);
                        continue;
                    }
                    Ok(tag_row) => tag_row,
                };
                if !seen_names.insert(tag_row.tag.name.clone()) {
                    self.skip(
                        file.file_idx,
                        record.line,
                        SkipReason::DuplicateId(tag_row.tag.name),
                    );
                    continue;
                }
                tag_row.tag.excerpt = self.wiki_text(tag_row.excerpt_post_id).await?;
                tag_row.tag.wiki = self.wiki_text(tag_row.wiki_post_id).await?;
                batch.push(
                    record.line,
                    WriteBatch {
                        tags: vec![tag_row.tag],
                        ..WriteBatch::default()
                    },
                );
            }
            self.write(batch, file.file_idx, chunk.bytes).await?;
        }
        Ok(())
    }

    /// The plain text of a tag wiki post, when it exists and says something.
    async fn wiki_text(&self, post_id: Option<PostId>) -> Result<Option<String>> {
        let Some(post_id) = post_id else {
            return Ok(None);
        };
        let post = self.store.post(post_id).await?;
        Ok(post
            .map(|post| post.body_text.trim().to_string())
            .filter(|text| !text.is_empty()))
    }
}

/// Runs `text` through the row parser and every file's mapper, for the fuzz
/// targets (`fuzz/`): each must return a value or a skip reason, never panic,
/// and a mapped post must pass the checks the importer relies on.
#[doc(hidden)]
pub fn fuzz_row(text: &str) {
    if let Ok(post) = map_post(text) {
        assert!(intake::is_source_id(post.id.0), "{post:?}");
        assert!(check_post(&post, "ParentId").is_ok(), "{post:?}");
    }
    if let Ok(comment) = map_comment(text) {
        assert!(intake::is_post_id(comment.post.id.0), "{comment:?}");
    }
    let _ = map_user(text);
    let _ = map_post_link(text);
    if let Ok(vote) = map_vote(text) {
        assert!(VOTE_TYPES.contains(&vote.vote_type), "{vote:?}");
    }
    let _ = map_badge(text);
    let _ = map_history(text);
    let _ = map_tag(text);
}

/// An event a dump row implies, with its kind's default weight, through the
/// same validation as live and JSONL events.
fn event(
    key: String,
    user_id: UserId,
    kind: EventKind,
    target: EventTarget,
    at: Timestamp,
) -> Result<Event, IntakeError> {
    intake::validate(Event {
        key,
        user_id,
        kind,
        target,
        at,
        weight: kind.default_weight(),
    })
}

fn map_user(text: &str) -> Result<User, SkipReason> {
    let mut row = parse_row(text)?;
    let id = check_user_id("Id", row.required_i64("Id")?)?;
    let created_at = row.required_date("CreationDate")?;
    let about = row
        .take("AboutMe")
        .map(|html| html_to_text(&html).text.trim().to_string())
        .filter(|text| !text.is_empty());
    Ok(User {
        id: UserId(id),
        display_name: row.get("DisplayName").unwrap_or_default().to_string(),
        reputation: row.i64_or_zero("Reputation")?,
        created_at,
        last_access_at: row.optional_date("LastAccessDate")?,
        location: row.optional_string("Location"),
        about,
        website: row.optional_string("WebsiteUrl"),
    })
}

/// Maps a `Posts.xml` row; runs on the reader thread, so the HTML conversion
/// and language detection overlap with the store's writes.
fn map_post(text: &str) -> Result<Post, SkipReason> {
    let mut row = parse_row(text)?;
    let id = row.required_id("Id")?;
    let post_type_id = row.required_i64("PostTypeId")?;
    let kind = PostKind::from_stack_exchange(post_type_id)
        .ok_or(SkipReason::UnknownPostType(post_type_id))?;
    let created_at = row.required_date("CreationDate")?;
    let parent_id = row.optional_id("ParentId")?.map(PostId);
    if kind.needs_parent() && parent_id.is_none() {
        return Err(SkipReason::MissingAttribute("ParentId"));
    }
    let title = row.take("Title").filter(|title| !title.trim().is_empty());
    let body_html = row.take("Body").unwrap_or_default();
    let body = html_to_text(&body_html);
    let language = match &title {
        Some(title) => steward_text::lang::detect(&format!("{title}\n{}", body.text)),
        None => steward_text::lang::detect(&body.text),
    };
    let post = Post {
        id: PostId(id),
        kind,
        parent_id,
        accepted_answer_id: row.optional_id("AcceptedAnswerId")?.map(PostId),
        owner_id: row.optional_user_id("OwnerUserId")?.map(UserId),
        title,
        body_html,
        body_text: body.text,
        code_blocks: body.code_blocks,
        tags: row.get("Tags").map(split_tags).unwrap_or_default(),
        score: row.i64_or_zero("Score")?,
        view_count: row.i64_or_zero("ViewCount")?,
        answer_count: row.i64_or_zero("AnswerCount")?,
        comment_count: row.i64_or_zero("CommentCount")?,
        favorite_count: row.i64_or_zero("FavoriteCount")?,
        created_at,
        last_activity_at: row.optional_date("LastActivityDate")?,
        closed_at: row.optional_date("ClosedDate")?,
        license: row.optional_string("ContentLicense"),
        language: language.map(str::to_string),
    };
    check_post(&post, "ParentId")?;
    Ok(post)
}

/// A comment as a post under its parent, and its dump `Id`.
#[derive(Debug)]
struct CommentRow {
    comment_id: i64,
    post: Post,
}

fn map_comment(text: &str) -> Result<CommentRow, SkipReason> {
    let mut row = parse_row(text)?;
    // Both in `1..2^40`, so the comment's post id (2^40 + Id) neither wraps
    // nor lands on a post, and its parent is a post, not another comment.
    let comment_id = row.required_id("Id")?;
    let parent_id = row.required_id("PostId")?;
    let created_at = row.required_date("CreationDate")?;
    let body = row
        .take("Text")
        .ok_or(SkipReason::MissingAttribute("Text"))?;
    let language = steward_text::lang::detect(&body).map(str::to_string);
    let comment = CommentRow {
        comment_id,
        post: Post {
            id: PostId::comment(comment_id),
            kind: PostKind::Comment,
            parent_id: Some(PostId(parent_id)),
            accepted_answer_id: None,
            owner_id: row.optional_user_id("UserId")?.map(UserId),
            title: None,
            body_html: body.clone(),
            body_text: body,
            code_blocks: Vec::new(),
            tags: Vec::new(),
            score: row.i64_or_zero("Score")?,
            view_count: 0,
            answer_count: 0,
            comment_count: 0,
            favorite_count: 0,
            created_at,
            last_activity_at: None,
            closed_at: None,
            license: row.optional_string("ContentLicense"),
            language,
        },
    };
    check_post(&comment.post, "PostId")?;
    Ok(comment)
}

fn map_post_link(text: &str) -> Result<PostLink, SkipReason> {
    let row = parse_row(text)?;
    let id = row.required_id("Id")?;
    let post_id = row.required_id("PostId")?;
    let related_post_id = row.required_id("RelatedPostId")?;
    let link_type_id = row.required_i64("LinkTypeId")?;
    let kind = PostLinkKind::from_stack_exchange(link_type_id)
        .ok_or(SkipReason::UnknownLinkType(link_type_id))?;
    if post_id == related_post_id {
        return Err(SkipReason::SelfLink(post_id));
    }
    Ok(PostLink {
        id,
        post_id: PostId(post_id),
        related_post_id: PostId(related_post_id),
        kind,
        created_at: row.required_date("CreationDate")?,
    })
}

/// One `Votes.xml` row.
#[derive(Debug)]
struct VoteRow {
    id: i64,
    post_id: PostId,
    vote_type: i64,
    user_id: Option<UserId>,
    at: Timestamp,
}

fn map_vote(text: &str) -> Result<VoteRow, SkipReason> {
    let row = parse_row(text)?;
    let vote_type = row.required_i64("VoteTypeId")?;
    if !VOTE_TYPES.contains(&vote_type) {
        return Err(SkipReason::UnknownVoteType(vote_type));
    }
    Ok(VoteRow {
        id: row.required_id("Id")?,
        post_id: PostId(row.required_id("PostId")?),
        vote_type,
        user_id: row.optional_user_id("UserId")?.map(UserId),
        at: row.required_date("CreationDate")?,
    })
}

fn map_badge(text: &str) -> Result<Badge, SkipReason> {
    let row = parse_row(text)?;
    let id = row.required_id("Id")?;
    let user_id = check_user_id("UserId", row.required_i64("UserId")?)?;
    let name = row.required("Name")?.to_string();
    let awarded_at = row.required_date("Date")?;
    let class_code = row.required_i64("Class")?;
    let class = BadgeClass::from_code(class_code).ok_or_else(|| SkipReason::BadValue {
        attribute: "Class",
        value: class_code.to_string(),
    })?;
    let tag_based = match row.get("TagBased") {
        None => false,
        Some(value) if value.eq_ignore_ascii_case("true") => true,
        Some(value) if value.eq_ignore_ascii_case("false") => false,
        Some(value) => {
            return Err(SkipReason::BadValue {
                attribute: "TagBased",
                value: value.chars().take(40).collect(),
            });
        }
    };
    Ok(Badge {
        id: BadgeId(id),
        user_id: UserId(user_id),
        name,
        class,
        tag_based,
        awarded_at,
    })
}

/// The fields of a `PostHistory.xml` row that an edit event needs; the
/// revision text itself is not kept.
#[derive(Debug)]
struct HistoryRow {
    id: i64,
    history_type: i64,
    post_id: PostId,
    user_id: Option<UserId>,
    at: Timestamp,
}

impl HistoryRow {
    fn is_edit(&self) -> bool {
        EDIT_HISTORY_TYPES.contains(&self.history_type) && self.user_id.is_some()
    }
}

fn map_history(text: &str) -> Result<HistoryRow, SkipReason> {
    let row = parse_row(text)?;
    Ok(HistoryRow {
        id: row.required_id("Id")?,
        history_type: row.required_i64("PostHistoryTypeId")?,
        post_id: PostId(row.required_id("PostId")?),
        user_id: row.optional_user_id("UserId")?.map(UserId),
        at: row.required_date("CreationDate")?,
    })
}

/// A tag and the posts that hold its wiki.
#[derive(Debug)]
struct TagRow {
    tag: Tag,
    excerpt_post_id: Option<PostId>,
    wiki_post_id: Option<PostId>,
}

fn map_tag(text: &str) -> Result<TagRow, SkipReason> {
    let row = parse_row(text)?;
    let name = row.required("TagName")?.trim().to_lowercase();
    if name.is_empty() {
        return Err(SkipReason::MissingAttribute("TagName"));
    }
    Ok(TagRow {
        tag: Tag {
            name,
            count: row.i64_or_zero("Count")?,
            excerpt: None,
            wiki: None,
            synonyms: Vec::new(),
        },
        excerpt_post_id: row.optional_id("ExcerptPostId")?.map(PostId),
        wiki_post_id: row.optional_id("WikiPostId")?.map(PostId),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_rows_map_to_posts_or_reasons() {
        let question = map_post(
            r#"<row Id="1" PostTypeId="1" AcceptedAnswerId="3" CreationDate="2016-08-02T15:39:14.947" Score="5" ViewCount="154" Body="&lt;p&gt;What is it?&lt;/p&gt;" OwnerUserId="8" Title="What is &quot;backprop&quot;?" Tags="&lt;neural-networks&gt;&lt;definitions&gt;" AnswerCount="3" CommentCount="3" ContentLicense="CC BY-SA 3.0" />"#,
        )
        .expect("a valid question");
        assert_eq!(question.kind, PostKind::Question);
        assert_eq!(question.title.as_deref(), Some("What is \"backprop\"?"));
        assert_eq!(question.tags, ["neural-networks", "definitions"]);
        assert_eq!(question.accepted_answer_id, Some(PostId(3)));
        assert_eq!(question.owner_id, Some(UserId(8)));
        assert_eq!(
            (question.score, question.view_count, question.answer_count),
            (5, 154, 3)
        );
        assert_eq!(question.license.as_deref(), Some("CC BY-SA 3.0"));
        assert_eq!(
            question.created_at.to_rfc3339(),
            "2016-08-02T15:39:14.947+00:00"
        );

        let check = |row: &str, expected: &str| {
            let reason = map_post(row).expect_err("a bad row").to_string();
            assert!(reason.contains(expected), "{row}: {reason}");
        };
        check(
            r#"<row PostTypeId="1" CreationDate="2016-08-02T15:39:14" />"#,
            "missing required Id",
        );
        check(
            r#"<row Id="2" PostTypeId="9" CreationDate="2016-08-02T15:39:14" />"#,
            "unknown post type 9",
        );
        check(
            r#"<row Id="2" PostTypeId="2" CreationDate="2016-08-02T15:39:14" />"#,
            "missing required ParentId",
        );
        check(
            r#"<row Id="2" PostTypeId="1" CreationDate="2016-02-30T15:39:14" />"#,
            "bad date in CreationDate",
        );
        check(
            r#"<row Id="x2" PostTypeId="1" CreationDate="2016-08-02T15:39:14" />"#,
            "bad number in Id",
        );
        check(
            r#"<row Id="2" PostTypeId="1" CreationDate="2016-08-02T15:39:14" Score="lots" />"#,
            "bad number in Score",
        );
    }

    #[test]
    fn newer_dumps_pipe_tags_and_offsets_parse() {
        let question = map_post(
            r#"<row Id="5" PostTypeId="1" CreationDate="2021-04-27T15:06:44Z" Body="" Tags="|plutus|smart-contracts|" ClosedDate="2021-05-01T00:00:00+02:00" />"#,
        )
        .expect("a valid question");
        assert_eq!(question.tags, ["plutus", "smart-contracts"]);
        assert_eq!(
            question.closed_at.map(|at| at.to_rfc3339()).as_deref(),
            Some("2021-04-30T22:00:00+00:00")
        );
    }

    #[test]
    fn other_files_map_their_rows() {
        let comment = map_comment(r#"<row Id="3" PostId="5" Score="0" Text="What's your goal?" CreationDate="2016-08-02T15:44:46.497" UserId="8" />"#)
            .expect("a valid comment");
        assert_eq!(comment.post.id, PostId::comment(3));
        assert_eq!(comment.post.parent_id, Some(PostId(5)));
        assert_eq!(comment.post.body_text, "What's your goal?");

        let link = map_post_link(r#"<row Id="103" CreationDate="2016-08-02T19:22:20.577" PostId="118" RelatedPostId="10" LinkTypeId="3" />"#)
            .expect("a valid link");
        assert_eq!(link.kind, PostLinkKind::Duplicate);
        let reason = map_post_link(r#"<row Id="104" CreationDate="2016-08-02T19:22:20.577" PostId="118" RelatedPostId="10" LinkTypeId="2" />"#)
            .expect_err("type 2 is not a link Steward keeps");
        assert_eq!(reason, SkipReason::UnknownLinkType(2));

        let badge = map_badge(r#"<row Id="1" UserId="4" Name="python" Date="2016-08-02T15:38:29.913" Class="2" TagBased="True" />"#)
            .expect("a valid badge");
        assert_eq!((badge.class, badge.tag_based), (BadgeClass::Silver, true));
        assert!(
            map_badge(r#"<row Id="1" UserId="4" Name="x" Date="2016-08-02T15:38:29" Class="7" />"#)
                .is_err()
        );

        let vote = map_vote(r#"<row Id="78" PostId="40" VoteTypeId="5" UserId="78" CreationDate="2016-08-02T00:00:00.000" />"#)
            .expect("a valid vote");
        assert_eq!((vote.vote_type, vote.user_id), (5, Some(UserId(78))));

        let tag = map_tag(r#"<row Id="1" TagName="Deep-Network" Count="24" ExcerptPostId="1797" WikiPostId="1796" />"#)
            .expect("a valid tag");
        assert_eq!(tag.tag.name, "deep-network");
        assert_eq!(
            (tag.excerpt_post_id, tag.wiki_post_id),
            (Some(PostId(1797)), Some(PostId(1796)))
        );

        let history = map_history(r#"<row Id="9" PostHistoryTypeId="5" PostId="1" CreationDate="2016-08-02T15:39:14.947" UserId="8" Text="x" />"#)
            .expect("a valid history row");
        assert!(history.is_edit());
        let anonymous = map_history(r#"<row Id="10" PostHistoryTypeId="5" PostId="1" CreationDate="2016-08-02T15:39:14.947" />"#)
            .expect("a valid history row");
        assert!(!anonymous.is_edit());
    }
}
