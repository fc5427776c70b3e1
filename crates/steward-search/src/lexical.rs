//! The BM25 index: one tantivy document per thread, cut by the `steward`
//! analyzer, kept current by following the store's change feed.
//!
//! The feed position lives in the index itself (the payload of each tantivy
//! commit), not in the store: every replica over one database keeps an index
//! of its own, and an index's documents and position are committed together,
//! so they can never disagree.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use steward_domain::{PostId, PostKind};
use steward_jobs::{JobHandle, Unit};
use steward_store::{ChangeKey, Store};
use tantivy::collector::{Count, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, DisjunctionMaxQuery, Occur, Query, RangeQuery,
    TermQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{
    DocAddress, DocSet, Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy, Searcher,
    TantivyDocument, Term,
};

use crate::analyzer::{self, ANALYZER_NAME, ANALYZER_VERSION, HighlightTokenizer};
use crate::document::{ThreadDocument, is_thread_root};
use crate::error::index_failed;
use crate::synonyms::{Expansion, TagSynonyms};
use crate::{Error, Filters, IndexReport, Result};

/// Posts read from the store per page of a rebuild.
const REBUILD_PAGE: u32 = 512;
/// Feed entries read per page when following the feed; one commit per page.
const CHANGES_PAGE: u32 = 1_000;
/// The writer's memory before it flushes a segment (tantivy's minimum is 15 MB).
const WRITER_MEMORY_BYTES: usize = 64_000_000;
/// Most hits one search returns (tantivy sizes its top-k heap by the limit).
pub const MAX_HITS: usize = 10_000;
/// Snippets are cut to about this many bytes around the best match.
const SNIPPET_BYTES: usize = 200;

/// A term counts fully in its best field and this much in the others (a term
/// that is everywhere in a thread should not drown one that is in its title).
const TIE_BREAKER: f32 = 0.3;

/// How much a tag synonym's expansion counts against the query's own words:
/// the asker did not write the tag's name, and a synonym can be looser
/// than the tag.
pub const EXPANSION_BOOST: f32 = 0.5;
/// What a thread carrying the expanded tag scores for it (before
/// [`EXPANSION_BOOST`]): about what one mid-frequency word in the title
/// scores with BM25 and the title's boost.
const TAG_MATCH_SCORE: f32 = 3.0;

/// One search result: a thread root.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LexicalHit {
    pub post_id: PostId,
    /// BM25 over the boosted fields, summed over the query's terms.
    pub score: f32,
    pub title: Option<String>,
    /// The query's terms that this thread holds, in query order.
    pub matched_terms: Vec<String>,
    /// An HTML-escaped excerpt with the matched terms in `<mark>..</mark>`:
    /// from the body, else the code, else the title; the body's beginning
    /// when none of them holds a term (the match was in the answers).
    pub snippet: String,
}

/// The threads one query scored, best first, with the snapshot of the index
/// they were scored on (so that their evidence is read from the same one).
#[derive(Clone)]
pub struct LexicalScores {
    searcher: Searcher,
    /// The analysed query terms, tag-synonym expansions included.
    terms: Vec<String>,
    pub hits: Vec<ScoredThread>,
}

impl std::fmt::Debug for LexicalScores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LexicalScores")
            .field("terms", &self.terms)
            .field("hits", &self.hits)
            .finish_non_exhaustive()
    }
}

/// One scored thread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredThread {
    pub post_id: PostId,
    /// BM25 over the boosted fields, summed over the query's terms.
    pub score: f32,
    address: DocAddress,
}

/// What `steward index status` shows of the index.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LexicalStatus {
    /// Threads in the index.
    pub documents: u64,
    /// The last feed seq applied; 0 before the first build.
    pub position: i64,
    /// Bytes the index takes on disk (in memory for [`LexicalIndex::in_ram`]).
    pub size_bytes: u64,
    /// `None` for an index in memory.
    pub dir: Option<PathBuf>,
}

/// The index's fields.
#[derive(Debug, Clone, Copy)]
struct Fields {
    id: Field,
    kind: Field,
    title: Field,
    body: Field,
    code: Field,
    tags: Field,
    tags_text: Field,
    answers_top: Field,
    answers_rest: Field,
    created_at: Field,
    answered: Field,
    answer_ids: Field,
}

impl Fields {
    /// The analysed fields and how much a match in each counts: the title says
    /// most about what a thread is about, then its tags, its prose, its code;
    /// answers say it less directly, the community's picks more than the rest.
    fn scored(&self) -> [(Field, f32); 6] {
        [
            (self.title, 3.0),
            (self.tags_text, 2.0),
            (self.body, 1.0),
            (self.code, 0.8),
            (self.answers_top, 0.6),
            (self.answers_rest, 0.3),
        ]
    }
}

/// The schema every Steward index has; an index on disk with another one is
/// refused (see [`LexicalIndex::open`]).
fn schema() -> (Schema, Fields) {
    let analysed = TextFieldIndexing::default()
        .set_tokenizer(ANALYZER_NAME)
        .set_index_option(IndexRecordOption::WithFreqs);
    let text = TextOptions::default().set_indexing_options(analysed);
    let stored_text = text.clone().set_stored();
    let mut builder = Schema::builder();
    let fields = Fields {
        // Fast: a search reads the ids of its top hits from the column, not
        // from the compressed document store.
        id: builder.add_i64_field(
            "id",
            NumericOptions::default()
                .set_indexed()
                .set_stored()
                .set_fast(),
        ),
        kind: builder.add_text_field("kind", STRING),
        title: builder.add_text_field("title", stored_text.clone()),
        body: builder.add_text_field("body", stored_text.clone()),
        code: builder.add_text_field("code", stored_text),
        // Raw names for exact filters; analysed names for scoring.
        tags: builder.add_text_field("tags", STRING),
        tags_text: builder.add_text_field("tags_text", text.clone()),
        answers_top: builder.add_text_field("answers_top", text.clone()),
        answers_rest: builder.add_text_field("answers_rest", text),
        created_at: builder.add_i64_field("created_at", NumericOptions::default().set_fast()),
        answered: builder.add_u64_field("answered", NumericOptions::default().set_indexed()),
        answer_ids: builder.add_i64_field("answer_ids", NumericOptions::default().set_indexed()),
    };
    (builder.build(), fields)
}

/// What each commit carries besides its documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct CommitPayload {
    /// The last feed seq the index reflects.
    position: i64,
    /// [`ANALYZER_VERSION`] of the analyzer that cut the documents.
    analyzer: u32,
}

/// A BM25 index of threads (see the module docs). Share it by reference: it
/// searches from any thread, and writes one job at a time.
pub struct LexicalIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    dir: Option<PathBuf>,
    /// One rebuild or catch-up at a time in this process; tantivy's lock file
    /// keeps writers in other processes out.
    writing: tokio::sync::Mutex<()>,
    /// The community's tag synonyms, read again by every rebuild and
    /// catch-up (tags are few; a synonym added needs no re-indexing).
    synonyms: std::sync::RwLock<Arc<TagSynonyms>>,
}

impl std::fmt::Debug for LexicalIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LexicalIndex")
            .field("dir", &self.dir)
            .field("documents", &self.reader.searcher().num_docs())
            .finish_non_exhaustive()
    }
}

impl LexicalIndex {
    /// Opens the index in `dir`, creating the directory and an empty index when
    /// there is none. An index written with another schema or analyzer is
    /// refused with [`Error::SchemaMismatch`], which names the command that
    /// rebuilds it; nothing in `dir` is changed then.
    pub fn open(dir: &Path) -> Result<LexicalIndex> {
        std::fs::create_dir_all(dir).map_err(|source| Error::File {
            action: "creating the search index directory",
            path: dir.to_path_buf(),
            source,
        })?;
        let directory = MmapDirectory::open(dir)
            .map_err(tantivy::TantivyError::from)
            .map_err(index_failed("opening the index directory"))?;
        let (schema, fields) = schema();
        let exists = Index::exists(&directory)
            .map_err(tantivy::TantivyError::from)
            .map_err(index_failed("looking for an index"))?;
        let index = if exists {
            let index = Index::open(directory).map_err(|error| match error {
                // Written by another tantivy release: as stale as another schema.
                tantivy::TantivyError::IncompatibleIndex(_) => Error::SchemaMismatch {
                    dir: dir.to_path_buf(),
                    detail: error.to_string(),
                },
                other => index_failed("opening the index")(other),
            })?;
            check_layout(&index, &schema, dir)?;
            index
        } else {
            Index::create(directory, schema, IndexSettings::default())
                .map_err(index_failed("creating the index"))?
        };
        LexicalIndex::with_index(index, fields, Some(dir.to_path_buf()))
    }

    /// An empty index in `dir`, replacing whatever index was there (what
    /// `steward index build` does when [`LexicalIndex::open`] reports
    /// [`Error::SchemaMismatch`]). Only a directory that holds an index
    /// (tantivy's `meta.json`) is emptied, and only of its files (never of
    /// folders); elsewhere the new index is just created.
    pub fn recreate(dir: &Path) -> Result<LexicalIndex> {
        let file_error = |action: &'static str| {
            move |source| Error::File {
                action,
                path: dir.to_path_buf(),
                source,
            }
        };
        if dir.join("meta.json").is_file() {
            for entry in
                std::fs::read_dir(dir).map_err(file_error("reading the index directory"))?
            {
                let path = entry
                    .map_err(file_error("reading the index directory"))?
                    .path();
                if path.is_file() {
                    std::fs::remove_file(&path)
                        .map_err(file_error("removing the old index from"))?;
                }
            }
        }
        LexicalIndex::open(dir)
    }

    /// An empty index in memory: for tests, and for communities small enough
    /// to index at every start.
    pub fn in_ram() -> Result<LexicalIndex> {
        let (schema, fields) = schema();
        let index = Index::builder()
            .schema(schema)
            .create_in_ram()
            .map_err(index_failed("creating the index in memory"))?;
        LexicalIndex::with_index(index, fields, None)
    }

    fn with_index(index: Index, fields: Fields, dir: Option<PathBuf>) -> Result<LexicalIndex> {
        analyzer::register(&index);
        // Also reloads after commits by another process (`steward index build`
        // into a served directory); this process reloads at once after its own.
        let reader: IndexReader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::OnCommitWithDelay)
            .try_into()
            .map_err(index_failed("opening a reader"))?;
        Ok(LexicalIndex {
            index,
            reader,
            fields,
            dir,
            writing: tokio::sync::Mutex::new(()),
            synonyms: std::sync::RwLock::new(Arc::new(TagSynonyms::default())),
        })
    }

    /// Replaces the whole index with every thread of the store, and takes the
    /// feed's head as read before the scan as its position (a change made
    /// during the scan is applied again by the next catch-up: harmless).
    ///
    /// All or nothing: the new documents and the position are committed once,
    /// at the end; until then searches see the old index, and a cancel (checked
    /// between pages) or an error leaves it as it was. `job` hears the phase
    /// "indexing" with the posts scanned (comments included) against the
    /// community's size.
    pub async fn rebuild(&self, store: &Store, job: &JobHandle) -> Result<IndexReport> {
        let _writing = self.writing.lock().await;
        self.load_synonyms(store).await?;
        self.rebuild_locked(store, job).await
    }

    async fn rebuild_locked(&self, store: &Store, job: &JobHandle) -> Result<IndexReport> {
        let previous = self.position()?;
        let head = store.latest_change_seq().await?;
        let stats = store.stats().await?;
        let total = u64::try_from(stats.posts + stats.comments).unwrap_or(0);
        job.set_phase("indexing", Some(total), Unit::Items);
        let mut writer = self.writer()?;
        writer = blocking(move || {
            writer
                .delete_all_documents()
                .map_err(index_failed("clearing the index"))?;
            Ok(writer)
        })
        .await?;
        let mut after: Option<PostId> = None;
        let (mut scanned, mut indexed) = (0u64, 0u64);
        loop {
            if job.is_cancelled() {
                blocking(move || {
                    writer
                        .rollback()
                        .map_err(index_failed("rolling back a rebuild"))?;
                    Ok(())
                })
                .await?;
                return Err(Error::Cancelled { position: previous });
            }
            let posts = store.posts_after(after, REBUILD_PAGE).await?;
            let Some(last) = posts.last() else {
                break;
            };
            after = Some(last.id);
            scanned += posts.len() as u64;
            let documents = ThreadDocument::load(store, &posts).await?;
            indexed += documents.len() as u64;
            let fields = self.fields;
            writer = blocking(move || {
                for document in &documents {
                    writer
                        .add_document(tantivy_document(&fields, document))
                        .map_err(index_failed("adding a thread"))?;
                }
                Ok(writer)
            })
            .await?;
            job.set_done(scanned);
            job.set_message(format!("{indexed} threads"));
        }
        commit(writer, head).await?;
        self.reload()?;
        Ok(IndexReport {
            mode: "rebuild",
            indexed,
            deleted: 0,
            position: head,
        })
    }

    /// Applies the feed's changes after the index's own position: a changed
    /// question, article or wiki page is indexed again, so is the thread of a
    /// changed answer; a deleted thread root leaves the index, and a deleted
    /// answer's thread (found by its `answer_ids`) is indexed again without it.
    /// An index that was never built is rebuilt instead.
    ///
    /// One commit per page of the feed, with the page's last seq as position:
    /// a cancel (checked between pages) or an error keeps the pages committed
    /// so far, and the next run resumes after them. `job` hears the phase
    /// "indexing changes" with the feed entries applied against those pending.
    pub async fn catch_up(&self, store: &Store, job: &JobHandle) -> Result<IndexReport> {
        let _writing = self.writing.lock().await;
        self.load_synonyms(store).await?;
        let Some(start) = self.payload()?.map(|payload| payload.position) else {
            return self.rebuild_locked(store, job).await;
        };
        let head = store.latest_change_seq().await?;
        let pending = u64::try_from(head - start).unwrap_or(0);
        job.set_phase("indexing changes", Some(pending), Unit::Items);
        let mut position = start;
        let (mut indexed, mut deleted) = (0u64, 0u64);
        while position < head {
            if job.is_cancelled() {
                return Err(Error::Cancelled { position });
            }
            let changes = store.changes_after(position, CHANGES_PAGE).await?;
            let Some(last) = changes.last() else {
                break;
            };
            let last_seq = last.seq;
            let mut changed: Vec<PostId> = Vec::new();
            let mut seen = HashSet::new();
            for change in &changes {
                if let ChangeKey::Post(id) = change.key
                    && seen.insert(id)
                {
                    changed.push(id);
                }
            }
            let (page_indexed, page_deleted) = self.apply(store, &changed, last_seq).await?;
            indexed += page_indexed;
            deleted += page_deleted;
            position = last_seq;
            job.set_done(u64::try_from(position - start).unwrap_or(0).min(pending));
            job.set_message(format!("{indexed} threads indexed, {deleted} deleted"));
        }
        Ok(IndexReport {
            mode: "changes",
            indexed,
            deleted,
            position,
        })
    }

    /// Re-indexes the threads that the posts `changed` belong to (or belonged
    /// to) and drops the documents of those that are no thread root any more;
    /// commits with `position`. Returns (threads indexed, documents deleted).
    async fn apply(&self, store: &Store, changed: &[PostId], position: i64) -> Result<(u64, u64)> {
        let posts = store.posts_by_ids(changed).await?;
        let searcher = self.reader.searcher();
        let mut roots: BTreeSet<PostId> = BTreeSet::new();
        let mut current_roots: HashSet<PostId> = HashSet::new();
        for post in &posts {
            if is_thread_root(post.kind) {
                roots.insert(post.id);
                current_roots.insert(post.id);
            } else if post.kind == PostKind::Answer
                && let Some(parent) = post.parent_id
            {
                roots.insert(parent);
            }
        }
        // Threads that hold a changed post as an answer: it may be gone, or
        // have moved, or stopped being an answer.
        for id in changed {
            roots.extend(self.threads_with_answer(&searcher, *id)?);
        }
        let documents: Vec<ThreadDocument> = {
            let ids: Vec<PostId> = roots.iter().copied().collect();
            ThreadDocument::load_ids(store, &ids).await?
        };
        let rebuilt: HashSet<PostId> = documents.iter().map(|document| document.id).collect();
        // Documents to drop: changed posts that are no thread root now (gone,
        // or an answer or comment), and threads whose root could not be read.
        let removed: BTreeSet<PostId> = changed
            .iter()
            .chain(roots.iter())
            .filter(|id| !current_roots.contains(id) && !rebuilt.contains(id))
            .copied()
            .collect();
        let mut deleted = 0u64;
        for id in &removed {
            if self.contains(&searcher, *id)? {
                deleted += 1;
            }
        }
        let indexed = documents.len() as u64;
        let fields = self.fields;
        let writer = self.writer()?;
        let writer = blocking(move || {
            for id in removed {
                writer.delete_term(Term::from_field_i64(fields.id, id.0));
            }
            for document in &documents {
                writer.delete_term(Term::from_field_i64(fields.id, document.id.0));
                writer
                    .add_document(tantivy_document(&fields, document))
                    .map_err(index_failed("adding a thread"))?;
            }
            Ok(writer)
        })
        .await?;
        commit(writer, position).await?;
        self.reload()?;
        Ok((indexed, deleted))
    }

    /// Reads the community's tag synonyms for query expansion.
    pub async fn load_synonyms(&self, store: &Store) -> Result<()> {
        let synonyms = TagSynonyms::new(&store.tags_with_synonyms().await?);
        *self
            .synonyms
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(synonyms);
        Ok(())
    }

    /// The tag synonyms `query` holds: what [`LexicalIndex::search`] adds to it.
    pub fn expansions(&self, query: &str) -> Vec<Expansion> {
        self.synonyms
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .expand(query)
    }

    /// The threads best matching `query`, at most `limit`, narrowed by
    /// `filters`. The query is cut by the same analyzer as the documents (so
    /// `tokio::select!`, `C++` or `.NET` are terms, not syntax) and every term
    /// is optional; text without any term finds nothing. At most
    /// [`MAX_HITS`] come back, whatever `limit` asks for.
    ///
    /// A tag synonym in the query ([`LexicalIndex::expansions`]) also searches
    /// for its tag: the tag itself, and its name's words in the text, each at
    /// [`EXPANSION_BOOST`] of what the query's own words count.
    pub fn search(&self, query: &str, filters: &Filters, limit: usize) -> Result<Vec<LexicalHit>> {
        let scored = self.score(query, filters, limit)?;
        let ids: Vec<PostId> = scored.hits.iter().map(|hit| hit.post_id).collect();
        self.evidence(&scored, &ids)
    }

    /// The ranking half of [`LexicalIndex::search`]: the best threads' ids and
    /// BM25 scores, without reading their documents. [`LexicalIndex::evidence`]
    /// then explains the few that are shown (a hybrid search scores a hundred
    /// to fuse, and shows ten).
    pub fn score(&self, query: &str, filters: &Filters, limit: usize) -> Result<LexicalScores> {
        let limit = limit.min(MAX_HITS);
        let searcher = self.reader.searcher();
        let mut terms = analyzer::query_terms(query);
        if terms.is_empty() || limit == 0 {
            return Ok(LexicalScores {
                searcher,
                terms,
                hits: Vec::new(),
            });
        }
        let expansions = self.expansions(query);
        let mut text: Vec<(Occur, Box<dyn Query>)> =
            vec![(Occur::Should, Box::new(self.text_query(&terms)))];
        for expansion in &expansions {
            let extra: Vec<String> = expansion
                .terms
                .iter()
                .filter(|term| !terms.contains(term))
                .cloned()
                .collect();
            let tag: Box<dyn Query> = Box::new(TermQuery::new(
                Term::from_field_text(self.fields.tags, &expansion.tag),
                IndexRecordOption::Basic,
            ));
            let mut either: Vec<(Occur, Box<dyn Query>)> = vec![(
                Occur::Should,
                Box::new(ConstScoreQuery::new(tag, TAG_MATCH_SCORE)),
            )];
            if !extra.is_empty() {
                either.push((Occur::Should, Box::new(self.text_query(&extra))));
            }
            text.push((
                Occur::Should,
                Box::new(BoostQuery::new(
                    Box::new(BooleanQuery::new(either)),
                    EXPANSION_BOOST,
                )),
            ));
            terms.extend(extra);
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> =
            vec![(Occur::Must, Box::new(BooleanQuery::new(text)))];
        for filter in self.filter_queries(filters) {
            // Filters narrow; they do not score.
            clauses.push((Occur::Must, Box::new(ConstScoreQuery::new(filter, 0.0))));
        }
        let query = BooleanQuery::new(clauses);
        let top = searcher
            .search(&query, &TopDocs::with_limit(limit).order_by_score())
            .map_err(index_failed("searching"))?;
        let mut hits = Vec::with_capacity(top.len());
        let mut columns: HashMap<u32, tantivy::columnar::Column<i64>> = HashMap::new();
        for (score, address) in top {
            let column = match columns.entry(address.segment_ord) {
                std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::hash_map::Entry::Vacant(entry) => entry.insert(
                    searcher
                        .segment_reader(address.segment_ord)
                        .fast_fields()
                        .i64("id")
                        .map_err(index_failed("reading the ids of found threads"))?,
                ),
            };
            let id = column.first(address.doc_id).ok_or_else(|| Error::Index {
                action: "reading a found thread",
                source: tantivy::TantivyError::InternalError(
                    "a document without an id".to_string(),
                ),
            })?;
            hits.push(ScoredThread {
                post_id: PostId(id),
                score,
                address,
            });
        }
        Ok(LexicalScores {
            searcher,
            terms,
            hits,
        })
    }

    /// The matched terms, title and snippet of those of `scored`'s hits that
    /// `ids` names, in `ids`' order (an id it did not find is skipped), read
    /// from the same snapshot of the index that scored them.
    pub fn evidence(&self, scored: &LexicalScores, ids: &[PostId]) -> Result<Vec<LexicalHit>> {
        let by_id: HashMap<PostId, &ScoredThread> =
            scored.hits.iter().map(|hit| (hit.post_id, hit)).collect();
        let wanted: Vec<&ScoredThread> =
            ids.iter().filter_map(|id| by_id.get(id).copied()).collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let searcher = &scored.searcher;
        let terms = &scored.terms;
        let addresses: Vec<DocAddress> = wanted.iter().map(|hit| hit.address).collect();
        let matched = self.matched_terms(searcher, terms, &addresses)?;
        let snippets = Snippets::new(searcher, &self.fields, terms)?;
        let mut hits = Vec::with_capacity(wanted.len());
        for (hit, matched_terms) in wanted.into_iter().zip(matched) {
            let document: TantivyDocument = searcher
                .doc(hit.address)
                .map_err(index_failed("reading a found thread"))?;
            let title = document
                .get_first(self.fields.title)
                .and_then(|value| value.as_str())
                .map(str::to_string);
            hits.push(LexicalHit {
                post_id: hit.post_id,
                score: hit.score,
                title,
                matched_terms,
                snippet: snippets.snippet(&document),
            });
        }
        Ok(hits)
    }

    /// How big the index is and how far it has followed the feed.
    pub fn status(&self) -> Result<LexicalStatus> {
        let searcher = self.reader.searcher();
        let size_bytes = match &self.dir {
            Some(dir) => directory_size(dir)?,
            None => searcher
                .space_usage()
                .map_err(tantivy::TantivyError::from)
                .map_err(index_failed("measuring the index"))?
                .total()
                .get_bytes(),
        };
        Ok(LexicalStatus {
            documents: searcher.num_docs(),
            position: self.position()?,
            size_bytes,
            dir: self.dir.clone(),
        })
    }

    /// The feed position of the last commit; 0 before the first.
    fn position(&self) -> Result<i64> {
        Ok(self.payload()?.map_or(0, |payload| payload.position))
    }

    fn payload(&self) -> Result<Option<CommitPayload>> {
        let metas = self
            .index
            .load_metas()
            .map_err(index_failed("reading the last commit"))?;
        metas
            .payload
            .as_deref()
            .map(|payload| {
                serde_json::from_str(payload).map_err(|error| Error::Index {
                    action: "reading the last commit's payload",
                    source: error.into(),
                })
            })
            .transpose()
    }

    fn writer(&self) -> Result<IndexWriter> {
        self.index
            .writer_with_num_threads(1, WRITER_MEMORY_BYTES)
            .map_err(index_failed(
                "taking the index writer (is another `steward` indexing it?)",
            ))
    }

    fn reload(&self) -> Result<()> {
        self.reader
            .reload()
            .map_err(index_failed("reloading after a commit"))
    }

    /// Whether a live document has this id.
    fn contains(&self, searcher: &Searcher, id: PostId) -> Result<bool> {
        let query = TermQuery::new(
            Term::from_field_i64(self.fields.id, id.0),
            IndexRecordOption::Basic,
        );
        let count = searcher
            .search(&query, &Count)
            .map_err(index_failed("looking up a thread"))?;
        Ok(count > 0)
    }

    /// The roots of the live documents that fold in `answer` as an answer.
    fn threads_with_answer(&self, searcher: &Searcher, answer: PostId) -> Result<Vec<PostId>> {
        let query = TermQuery::new(
            Term::from_field_i64(self.fields.answer_ids, answer.0),
            IndexRecordOption::Basic,
        );
        let found = searcher
            .search(&query, &TopDocs::with_limit(16).order_by_score())
            .map_err(index_failed("looking up an answer's thread"))?;
        let mut roots = Vec::with_capacity(found.len());
        for (_, address) in found {
            let document: TantivyDocument = searcher
                .doc(address)
                .map_err(index_failed("reading an answer's thread"))?;
            if let Some(id) = document
                .get_first(self.fields.id)
                .and_then(|value| value.as_i64())
            {
                roots.push(PostId(id));
            }
        }
        Ok(roots)
    }

    /// Each term in its best field fully, in the others by the tie breaker;
    /// the terms' scores add up, and any one term is enough to match.
    fn text_query(&self, terms: &[String]) -> BooleanQuery {
        let per_term: Vec<(Occur, Box<dyn Query>)> = terms
            .iter()
            .map(|term| {
                let fields: Vec<Box<dyn Query>> = self
                    .fields
                    .scored()
                    .into_iter()
                    .map(|(field, boost)| {
                        let query = TermQuery::new(
                            Term::from_field_text(field, term),
                            IndexRecordOption::WithFreqs,
                        );
                        Box::new(BoostQuery::new(Box::new(query), boost)) as Box<dyn Query>
                    })
                    .collect();
                let best_field: Box<dyn Query> =
                    Box::new(DisjunctionMaxQuery::with_tie_breaker(fields, TIE_BREAKER));
                (Occur::Should, best_field)
            })
            .collect();
        BooleanQuery::new(per_term)
    }

    fn filter_queries(&self, filters: &Filters) -> Vec<Box<dyn Query>> {
        let fields = &self.fields;
        let mut queries: Vec<Box<dyn Query>> = Vec::new();
        for tag in &filters.tags {
            queries.push(Box::new(TermQuery::new(
                Term::from_field_text(fields.tags, &tag.to_lowercase()),
                IndexRecordOption::Basic,
            )));
        }
        if filters.created_from.is_some() || filters.created_to.is_some() {
            let bound = |time: Option<steward_domain::Timestamp>, inclusive: bool| match time {
                None => Bound::Unbounded,
                Some(time) => {
                    let term = Term::from_field_i64(fields.created_at, time.timestamp_millis());
                    if inclusive {
                        Bound::Included(term)
                    } else {
                        Bound::Excluded(term)
                    }
                }
            };
            queries.push(Box::new(RangeQuery::new(
                bound(filters.created_from, true),
                bound(filters.created_to, false),
            )));
        }
        if let Some(answered) = filters.answered {
            queries.push(Box::new(TermQuery::new(
                Term::from_field_u64(fields.answered, u64::from(answered)),
                IndexRecordOption::Basic,
            )));
        }
        if !filters.kinds.is_empty() {
            let any_kind: Vec<(Occur, Box<dyn Query>)> = filters
                .kinds
                .iter()
                .map(|kind| {
                    let query: Box<dyn Query> = Box::new(TermQuery::new(
                        Term::from_field_text(fields.kind, kind.as_str()),
                        IndexRecordOption::Basic,
                    ));
                    (Occur::Should, query)
                })
                .collect();
            queries.push(Box::new(BooleanQuery::new(any_kind)));
        }
        queries
    }

    /// For each of `hits`, the `terms` that one of its analysed fields holds:
    /// one walk over each term's postings per segment, hits in doc order.
    fn matched_terms(
        &self,
        searcher: &Searcher,
        terms: &[String],
        hits: &[DocAddress],
    ) -> Result<Vec<Vec<String>>> {
        let mut found = vec![vec![false; terms.len()]; hits.len()];
        let mut order: Vec<usize> = (0..hits.len()).collect();
        order.sort_by_key(|&hit| (hits[hit].segment_ord, hits[hit].doc_id));
        for segment_hits in order.chunk_by(|&a, &b| hits[a].segment_ord == hits[b].segment_ord) {
            let segment = searcher.segment_reader(hits[segment_hits[0]].segment_ord);
            for (field, _) in self.fields.scored() {
                let inverted = segment
                    .inverted_index(field)
                    .map_err(index_failed("reading matched terms"))?;
                for (term_index, term) in terms.iter().enumerate() {
                    let postings = inverted
                        .read_postings(
                            &Term::from_field_text(field, term),
                            IndexRecordOption::Basic,
                        )
                        .map_err(tantivy::TantivyError::from)
                        .map_err(index_failed("reading matched terms"))?;
                    let Some(mut postings) = postings else {
                        continue;
                    };
                    for &hit in segment_hits {
                        let doc = hits[hit].doc_id;
                        if postings.doc() <= doc && postings.seek(doc) == doc {
                            found[hit][term_index] = true;
                        }
                    }
                }
            }
        }
        Ok(found
            .into_iter()
            .map(|flags| {
                terms
                    .iter()
                    .zip(flags)
                    .filter(|(_, matched)| *matched)
                    .map(|(term, _)| term.clone())
                    .collect()
            })
            .collect())
    }
}

/// Snippet generators for one query, on the stored fields in fallback order.
struct Snippets {
    generators: Vec<SnippetGenerator>,
    body: Field,
}

impl Snippets {
    fn new(searcher: &Searcher, fields: &Fields, terms: &[String]) -> Result<Snippets> {
        let mut generators = Vec::new();
        for field in [fields.body, fields.code, fields.title] {
            // Rarer terms make the better excerpt, as tantivy's own generator weighs them.
            let mut weights = BTreeMap::new();
            for term in terms {
                let frequency = searcher
                    .doc_freq(&Term::from_field_text(field, term))
                    .map_err(index_failed("weighing snippet terms"))?;
                if frequency > 0 {
                    weights.insert(term.clone(), 1.0 / (1.0 + frequency as f32));
                }
            }
            let analyzer = TextAnalyzer::from(HighlightTokenizer::new(terms.iter().cloned()));
            generators.push(SnippetGenerator::new(
                weights,
                analyzer,
                field,
                SNIPPET_BYTES,
            ));
        }
        Ok(Snippets {
            generators,
            body: fields.body,
        })
    }

    fn snippet(&self, document: &TantivyDocument) -> String {
        for generator in &self.generators {
            let mut snippet = generator.snippet_from_doc(document);
            if !snippet.is_empty() {
                snippet.set_snippet_prefix_postfix("<mark>", "</mark>");
                return snippet.to_html();
            }
        }
        let body = document
            .get_first(self.body)
            .and_then(|value| value.as_str())
            .unwrap_or_default();
        lead_snippet(body)
    }
}

/// The snippet of a thread none of whose matches is in its root: the start
/// of `body`, HTML-escaped like every snippet (a client may show it as HTML).
pub(crate) fn lead_snippet(body: &str) -> String {
    escape_html(truncate(body.trim(), SNIPPET_BYTES))
}

fn tantivy_document(fields: &Fields, document: &ThreadDocument) -> TantivyDocument {
    let mut out = TantivyDocument::new();
    out.add_i64(fields.id, document.id.0);
    out.add_text(fields.kind, document.kind.as_str());
    if let Some(title) = &document.title {
        out.add_text(fields.title, title);
    }
    out.add_text(fields.body, &document.body);
    if !document.code.is_empty() {
        out.add_text(fields.code, &document.code);
    }
    for tag in &document.tags {
        out.add_text(fields.tags, tag);
        out.add_text(fields.tags_text, tag);
    }
    out.add_text(fields.answers_top, &document.answers_top);
    out.add_text(fields.answers_rest, &document.answers_rest);
    out.add_i64(fields.created_at, document.created_at.timestamp_millis());
    out.add_u64(fields.answered, u64::from(document.answered));
    for answer in &document.answer_ids {
        out.add_i64(fields.answer_ids, answer.0);
    }
    out
}

/// Refuses an index whose schema or analyzer is not this Steward's.
fn check_layout(index: &Index, expected: &Schema, dir: &Path) -> Result<()> {
    let found = index.schema();
    let mismatch = |detail: String| Error::SchemaMismatch {
        dir: dir.to_path_buf(),
        detail,
    };
    for (_, entry) in expected.fields() {
        match found.get_field(entry.name()) {
            Err(_) => return Err(mismatch(format!("it has no field `{}`", entry.name()))),
            Ok(field) if found.get_field_entry(field) != entry => {
                return Err(mismatch(format!(
                    "its field `{}` is indexed differently",
                    entry.name()
                )));
            }
            Ok(_) => {}
        }
    }
    if found != *expected {
        return Err(mismatch(
            "it has fields this version does not know".to_string(),
        ));
    }
    let payload = index
        .load_metas()
        .map_err(index_failed("reading the last commit"))?
        .payload;
    if let Some(payload) = payload {
        let analyzer = serde_json::from_str::<CommitPayload>(&payload)
            .map(|payload| payload.analyzer)
            .map_err(|_| mismatch(format!("its commit payload `{payload}` is not Steward's")))?;
        if analyzer != ANALYZER_VERSION {
            return Err(mismatch(format!(
                "its text was analysed by analyzer version {analyzer}, this one is {ANALYZER_VERSION}"
            )));
        }
    }
    Ok(())
}

/// Commits what `writer` holds with `position` as the payload, on a blocking
/// thread, and waits for the merges the commit started: dropping a writer
/// abandons them, and an index that follows the feed page by page would
/// pile up small segments.
async fn commit(mut writer: IndexWriter, position: i64) -> Result<()> {
    let payload = serde_json::to_string(&CommitPayload {
        position,
        analyzer: ANALYZER_VERSION,
    })
    .map_err(|error| Error::Index {
        action: "writing the commit payload",
        source: error.into(),
    })?;
    blocking(move || {
        let mut prepared = writer
            .prepare_commit()
            .map_err(index_failed("preparing a commit"))?;
        prepared.set_payload(&payload);
        prepared.commit().map_err(index_failed("committing"))?;
        writer
            .wait_merging_threads()
            .map_err(index_failed("merging segments"))
    })
    .await
}

/// Runs index work (tokenizing, writing segments) off the async runtime.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(_) => Err(Error::Index {
            action: "indexing on a blocking thread",
            source: tantivy::TantivyError::SystemError(
                "the runtime shut down before the work ran".to_string(),
            ),
        }),
    }
}

fn directory_size(dir: &Path) -> Result<u64> {
    let file_error = |source| Error::File {
        action: "measuring the search index",
        path: dir.to_path_buf(),
        source,
    };
    let mut total = 0;
    for entry in std::fs::read_dir(dir).map_err(file_error)? {
        let metadata = entry.map_err(file_error)?.metadata().map_err(file_error)?;
        if metadata.is_file() {
            total += metadata.len();
        }
    }
    Ok(total)
}

/// At most `max_bytes` of `text`, cut at a char boundary, with `…` when cut.
fn truncate(text: &str, max_bytes: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max_bytes {
        return text.into();
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", text[..end].trim_end()).into()
}

fn escape_html(text: impl AsRef<str>) -> String {
    let text = text.as_ref();
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use steward_testkit::fixtures::question;

    use super::*;

    async fn index_of(posts: Vec<steward_domain::Post>) -> LexicalIndex {
        let index = LexicalIndex::in_ram().expect("an index in memory");
        let documents: Vec<ThreadDocument> = posts
            .iter()
            .map(|post| ThreadDocument::new(post, &[]))
            .collect();
        let writer = index.writer().expect("a writer");
        let fields = index.fields;
        for document in &documents {
            writer
                .add_document(tantivy_document(&fields, document))
                .expect("added");
        }
        commit(writer, 7).await.expect("committed");
        index.reload().expect("reloaded");
        index
    }

    fn titled(id: i64, title: &str, body: &str) -> steward_domain::Post {
        steward_domain::Post {
            title: Some(title.to_string()),
            body_text: body.to_string(),
            ..question(id, &[], 1_700_000_000_000)
        }
    }

    #[tokio::test]
    async fn lexical_snippets_mark_terms_and_escape_the_rest() {
        let index = index_of(vec![titled(
            1,
            "Waiting on two futures",
            "Use <b>tokio::select!</b> & friends to wait on two futures at once.",
        )])
        .await;
        let hits = index
            .search("select", &Filters::default(), 10)
            .expect("searched");
        assert_eq!(hits.len(), 1);
        // The excerpt ends with its last token, as tantivy cuts fragments.
        assert_eq!(
            hits[0].snippet,
            "Use &lt;b&gt;tokio::<mark>select</mark>!&lt;/b&gt; &amp; friends to wait on two futures at once"
        );
        assert_eq!(hits[0].matched_terms, ["select"]);
        let whole = index
            .search("tokio::select!", &Filters::default(), 10)
            .expect("searched");
        assert!(
            whole[0].snippet.contains("<mark>tokio::select!</mark>"),
            "{}",
            whole[0].snippet
        );
        assert_eq!(
            whole[0].matched_terms,
            ["tokio::select!", "tokio", "select"]
        );
    }

    #[tokio::test]
    async fn lexical_snippet_falls_back_to_the_title_then_the_body() {
        let index = index_of(vec![titled(1, "Borrow checker", "Some prose here.")]).await;
        let hits = index
            .search("borrow", &Filters::default(), 10)
            .expect("searched");
        assert_eq!(hits[0].snippet, "<mark>Borrow</mark> checker");
        assert_eq!(hits[0].title.as_deref(), Some("Borrow checker"));
    }

    #[tokio::test]
    async fn lexical_title_matches_rank_above_body_matches() {
        let index = index_of(vec![
            titled(1, "Unrelated", "a long body that mentions lifetimes once"),
            titled(2, "Lifetimes", "short"),
        ])
        .await;
        let hits = index
            .search("lifetimes", &Filters::default(), 10)
            .expect("searched");
        let ids: Vec<PostId> = hits.iter().map(|hit| hit.post_id).collect();
        assert_eq!(ids, [PostId(2), PostId(1)]);
        assert!(
            hits.iter()
                .all(|hit| hit.score.is_finite() && hit.score > 0.0)
        );
    }

    #[tokio::test]
    async fn lexical_queries_without_terms_find_nothing() {
        let index = index_of(vec![titled(1, "C++", "x")]).await;
        assert!(
            index
                .search("?!", &Filters::default(), 10)
                .expect("searched")
                .is_empty()
        );
        assert!(
            index
                .search("c++", &Filters::default(), 0)
                .expect("searched")
                .is_empty()
        );
    }

    #[test]
    fn lexical_truncation_respects_char_boundaries() {
        assert_eq!(truncate("短文本", 4), "短…");
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(
            escape_html("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
