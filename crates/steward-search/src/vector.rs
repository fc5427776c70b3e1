//! The vector index: the stored embeddings of thread roots (questions,
//! articles, wiki pages) under one model, searched by cosine similarity.
//!
//! Below [`VectorOptions::exact_below`] vectors every query is an exact scan
//! (normalised dot products, a bounded heap, no allocation per vector): at
//! 20k x 384 that is ~2.7 ms here. Above it an HNSW graph (instant-distance)
//! answers: ~2 ms at 20k, recall@10 ~0.97 on embedding-like vectors; the
//! graph pays off as the index grows, since the scan grows linearly. (On
//! uniformly random 384-dimensional vectors, which have no neighbourhoods to
//! exploit, no graph does well: recall@10 0.56 at the same settings.)
//! Its graphs cannot change once built, so the index keeps the current vectors
//! beside the graph: a post changed or removed since the graph was built is
//! skipped in the graph's answers (`stale`), a post added or changed is
//! scanned exactly (`fresh`), and the graph is built again when those pass a
//! tenth of the index. Filtered searches and searches for more hits than the
//! graph gives fall back to the exact scan when the graph's candidates do not
//! fill the page.
//!
//! The index follows the change feed: its position is a feed seq, and
//! [`VectorIndex::catch_up`] reads the posts changed after it, their vectors
//! again from the store, and drops the posts that are gone. Vectors are
//! written by the embedder, which follows the feed too: an index that passed
//! a post's edit before the embedder had stored the new vector would keep the
//! old one for good, so [`VectorOptions::producer`] names the embedder's feed
//! consumer and the index never moves past its position.
//!
//! Saved as a version of the artifact `vector-index:<model>`: ids and
//! normalised vectors, not the graph (instant-distance has no compact
//! serialisation of its own); the graph is built again at load.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet};

use instant_distance::{Builder, HnswMap, Point, Search};
use serde::Serialize;
use steward_domain::PostId;
use steward_jobs::{JobHandle, Unit};
use steward_store::{ArtifactVersion, ChangeKey, NewArtifact, Store};

use crate::{Error, IndexReport, Result};

/// Below this many vectors every search is exact: an exact scan is fast
/// enough (and always right), and an HNSW graph costs memory and build time.
pub const EXACT_BELOW: usize = 20_000;

/// The registry kind of saved vector indices.
pub const VECTOR_INDEX_KIND: &str = "index/vector";

/// The first bytes of a saved index: the layout's name and version.
const MAGIC: &[u8; 8] = b"stwvec\x00\x01";

/// The graph's random layers are drawn from this seed: the same vectors
/// inserted in the same order give the same graph (on one rayon thread).
const GRAPH_SEED: u64 = 0x5eed_57e4_a2d0_0001;

/// The registry name of `model`'s saved vector index.
pub fn vector_index_name(model: &str) -> String {
    format!("vector-index:{model}")
}

/// How the index answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VectorIndexKind {
    /// Every query scans every vector.
    Exact,
    /// An HNSW graph, with the exact scan for what changed since it was built.
    Hnsw,
}

impl VectorIndexKind {
    pub fn as_str(self) -> &'static str {
        match self {
            VectorIndexKind::Exact => "exact",
            VectorIndexKind::Hnsw => "hnsw",
        }
    }
}

/// How an index is built and kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorOptions {
    /// Fewer vectors than this: exact search; this many or more: HNSW.
    pub exact_below: usize,
    /// Candidates kept while linking a new node (HNSW's `efConstruction`).
    pub ef_construction: usize,
    /// Candidates kept while searching (HNSW's `ef`): the most hits the graph
    /// gives one query; a search for more scans exactly.
    pub ef_search: usize,
    /// Vectors (build) or feed changes (catch-up) read per store call.
    pub page_size: u32,
    /// The change-feed consumer that writes the model's vectors (steward-ml's
    /// `embed::job::consumer_name(model, false)`); the index never moves past
    /// its position (see the module docs). `None` when vectors are written
    /// together with their posts (tests, an outside pipeline that writes
    /// vectors before the posts' changes are read): the index follows the head.
    pub producer: Option<String>,
}

impl Default for VectorOptions {
    fn default() -> VectorOptions {
        VectorOptions {
            exact_below: EXACT_BELOW,
            // 40 / 128: 20k x 384 built in ~10 s, recall@10 ~0.97 on
            // embedding-like vectors (tests/vector.rs); see the report there.
            ef_construction: 40,
            ef_search: 128,
            page_size: 1_000,
            producer: None,
        }
    }
}

/// One search result: a thread root and its cosine similarity to the query.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct VectorHit {
    pub post_id: PostId,
    /// In [-1, 1]; higher is closer.
    pub similarity: f32,
}

/// See the module docs.
pub struct VectorIndex {
    model: String,
    options: VectorOptions,
    /// The vectors' length; 0 until the first vector arrives.
    dims: usize,
    /// The feed seq the index reflects.
    position: i64,
    /// Row-major, unit length: row `slot` belongs to `ids[slot]`.
    vectors: Vec<f32>,
    ids: Vec<PostId>,
    slots: HashMap<PostId, usize>,
    /// Present while the index holds `exact_below` vectors or more.
    graph: Option<Graph>,
}

/// An HNSW graph over the vectors as they were when it was built.
struct Graph {
    map: HnswMap<UnitVector, PostId>,
    /// Posts whose vector in the graph is no longer theirs: changed or
    /// removed since it was built. Their graph hits are skipped.
    stale: HashSet<PostId>,
    /// Posts added or changed since it was built: scanned exactly.
    fresh: HashSet<PostId>,
    /// Vectors in the graph.
    len: usize,
}

impl std::fmt::Debug for VectorIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorIndex")
            .field("model", &self.model)
            .field("kind", &self.kind())
            .field("len", &self.len())
            .field("dims", &self.dims)
            .field("position", &self.position)
            .field(
                "pending",
                &self
                    .graph
                    .as_ref()
                    .map(|graph| graph.stale.len() + graph.fresh.len()),
            )
            .finish()
    }
}

/// A unit-length vector as the graph sees it: distance is `1 - cosine`.
#[derive(Clone)]
struct UnitVector(Box<[f32]>);

impl Point for UnitVector {
    fn distance(&self, other: &UnitVector) -> f32 {
        1.0 - dot(&self.0, &other.0)
    }
}

/// The dot product, in eight lanes the compiler keeps in SIMD registers.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (a_chunks, a_rest) = a.as_chunks::<8>();
    let (b_chunks, b_rest) = b.as_chunks::<8>();
    let mut lanes = [0.0f32; 8];
    for (x, y) in a_chunks.iter().zip(b_chunks) {
        for lane in 0..8 {
            lanes[lane] += x[lane] * y[lane];
        }
    }
    let mut sum = lanes.iter().sum::<f32>();
    for (x, y) in a_rest.iter().zip(b_rest) {
        sum += x * y;
    }
    sum
}

/// Scales `vector` to unit length in place; `false` (and the vector left as
/// it was) when it has no direction: all zeros, or a non-finite value.
fn normalise(vector: &mut [f32]) -> bool {
    let norm = dot(vector, vector).sqrt();
    if !norm.is_finite() || norm == 0.0 {
        return false;
    }
    for value in vector.iter_mut() {
        *value /= norm;
    }
    true
}

use crate::document::is_thread_root;

/// A hit ordered worst first, so that a max-heap's top is the one to drop.
#[derive(Clone, Copy)]
struct Worst(VectorHit);

impl Ord for Worst {
    fn cmp(&self, other: &Worst) -> Ordering {
        other
            .0
            .similarity
            .total_cmp(&self.0.similarity)
            .then(self.0.post_id.cmp(&other.0.post_id))
    }
}

impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Worst) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Worst {
    fn eq(&self, other: &Worst) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Worst {}

/// The best `limit` hits offered, best first; ties by the smaller id.
struct TopK {
    limit: usize,
    heap: BinaryHeap<Worst>,
}

impl TopK {
    fn new(limit: usize) -> TopK {
        TopK {
            limit,
            heap: BinaryHeap::with_capacity(limit.saturating_add(1).min(4_096)),
        }
    }

    fn offer(&mut self, post_id: PostId, similarity: f32) {
        let hit = Worst(VectorHit {
            post_id,
            similarity,
        });
        if self.heap.len() < self.limit {
            self.heap.push(hit);
        } else if let Some(mut worst) = self.heap.peek_mut()
            && hit < *worst
        {
            *worst = hit;
        }
    }

    fn into_hits(self) -> Vec<VectorHit> {
        // Ascending in `Worst` order is best first.
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|worst| worst.0)
            .collect()
    }
}

impl VectorIndex {
    /// An empty index of `model` at feed position `position`.
    fn empty(model: &str, options: VectorOptions, position: i64) -> VectorIndex {
        VectorIndex {
            model: model.to_string(),
            options,
            dims: 0,
            position,
            vectors: Vec::new(),
            ids: Vec::new(),
            slots: HashMap::new(),
            graph: None,
        }
    }

    /// Builds the index of `model` from every stored vector, with the default
    /// [`VectorOptions`].
    pub async fn build(store: &Store, model: &str, job: &JobHandle) -> Result<VectorIndex> {
        VectorIndex::build_with(store, model, VectorOptions::default(), job).await
    }

    /// Builds the index of `model` from every stored vector of a thread root.
    /// Its position is the feed's head (or the producer's position) read
    /// before the scan: a change made during the scan is read again by the
    /// next [`VectorIndex::catch_up`], which is harmless.
    ///
    /// `job` hears "reading vectors" (roots indexed against the community's
    /// roots) and, above the threshold, "building the HNSW graph". A cancel
    /// stops it between pages with [`Error::Cancelled`].
    pub async fn build_with(
        store: &Store,
        model: &str,
        options: VectorOptions,
        job: &JobHandle,
    ) -> Result<VectorIndex> {
        let position = feed_target(store, &options).await?;
        let page_size = options.page_size.max(1);
        let mut index = VectorIndex::empty(model, options, position);
        let stats = store.stats().await?;
        let roots = stats.questions + stats.articles + stats.wikis;
        job.set_phase("reading vectors", u64::try_from(roots).ok(), Unit::Items);
        let mut after: Option<PostId> = None;
        loop {
            if job.is_cancelled() {
                return Err(Error::Cancelled { position: 0 });
            }
            let page = store.embeddings_after(model, after, page_size).await?;
            let Some(last) = page.last() else {
                break;
            };
            after = Some(last.post_id);
            let ids: Vec<PostId> = page.iter().map(|stored| stored.post_id).collect();
            let kinds = store.post_kinds(&ids).await?;
            for stored in &page {
                if kinds
                    .get(&stored.post_id)
                    .copied()
                    .is_some_and(is_thread_root)
                {
                    index.upsert(stored.post_id, &stored.vector)?;
                }
            }
            job.set_done(index.len() as u64);
            if page.len() < page_size as usize {
                break;
            }
        }
        job.set_message(format!(
            "{} vectors of {} dimensions",
            index.len(),
            index.dims
        ));
        index.refresh_graph(job).await?;
        Ok(index)
    }

    /// Applies the feed after [`VectorIndex::position`] up to its head (or the
    /// producer's position): a changed thread root's vector is read again
    /// from the store (a root without a vector is dropped), a deleted post is
    /// dropped; answers and comments change nothing. Then, above the
    /// threshold, the graph is built again if a tenth of the index changed.
    ///
    /// `job` hears "indexing vector changes" (feed entries against those
    /// pending). A cancel stops it between pages with [`Error::Cancelled`];
    /// the pages applied stay applied and the position says how far.
    pub async fn catch_up(&mut self, store: &Store, job: &JobHandle) -> Result<IndexReport> {
        let target = feed_target(store, &self.options).await?;
        let start = self.position;
        let page_size = self.options.page_size.max(1);
        job.set_phase(
            "indexing vector changes",
            u64::try_from(target - start).ok(),
            Unit::Items,
        );
        let (mut indexed, mut deleted) = (0u64, 0u64);
        while self.position < target {
            if job.is_cancelled() {
                return Err(Error::Cancelled {
                    position: self.position,
                });
            }
            let changes = store.changes_after(self.position, page_size).await?;
            let applied: Vec<_> = changes.iter().take_while(|c| c.seq <= target).collect();
            // Every change up to the target read: the position is the target,
            // whatever seqs were skipped (rolled-back writes) before it.
            let reached_target =
                applied.len() < changes.len() || changes.len() < page_size as usize;
            let mut ids: Vec<PostId> = Vec::new();
            let mut seen: HashSet<PostId> = HashSet::new();
            for change in &applied {
                if let ChangeKey::Post(post_id) = change.key
                    && seen.insert(post_id)
                {
                    ids.push(post_id);
                }
            }
            // What the posts are now, whatever the page says happened to them.
            let kinds = store.post_kinds(&ids).await?;
            let roots: Vec<PostId> = ids
                .iter()
                .copied()
                .filter(|post_id| kinds.get(post_id).copied().is_some_and(is_thread_root))
                .collect();
            let mut vectors: HashMap<PostId, Vec<f32>> = store
                .embeddings(&self.model, &roots)
                .await?
                .into_iter()
                .map(|stored| (stored.post_id, stored.vector))
                .collect();
            for post_id in ids {
                match vectors.remove(&post_id) {
                    Some(vector) => {
                        let was_in = self.slots.contains_key(&post_id);
                        if self.upsert(post_id, &vector)? {
                            indexed += 1;
                        } else if was_in {
                            deleted += 1;
                        }
                    }
                    None => {
                        if self.remove(post_id) {
                            deleted += 1;
                        }
                    }
                }
            }
            self.position = match (reached_target, applied.last()) {
                (false, Some(last)) => last.seq,
                _ => target,
            };
            job.set_done(u64::try_from(self.position - start).unwrap_or(0));
        }
        job.set_message(format!("{indexed} indexed, {deleted} deleted"));
        self.refresh_graph(job).await?;
        Ok(IndexReport {
            mode: "changes",
            indexed,
            deleted,
            position: self.position,
        })
    }

    /// The `limit` thread roots closest to `query` (cosine similarity), best
    /// first, ties by the smaller id; only posts `allow` accepts, when given.
    /// A query without direction (all zeros) finds nothing.
    /// [`Error::QueryDimensions`] when the query is not as long as the index's
    /// vectors (another model embedded it).
    pub fn search(
        &self,
        query: &[f32],
        limit: usize,
        allow: Option<&dyn Fn(PostId) -> bool>,
    ) -> Result<Vec<VectorHit>> {
        let Some(query) = self.unit_query(query)? else {
            return Ok(Vec::new());
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        if let Some(graph) = &self.graph
            && limit <= self.options.ef_search
        {
            let hits = self.graph_search(graph, &query, limit, allow);
            // The graph's candidates, filtered, may not fill the page while
            // other vectors would: then only a scan is sure to.
            if hits.len() == limit || hits.len() == self.len() {
                return Ok(hits);
            }
        }
        Ok(self.exact_search(&query.0, limit, allow))
    }

    /// The mean share of the exact top `k` that the graph finds, over
    /// `queries` (1 for an exact index, or without queries): how much the
    /// approximation costs, for `steward index status` and benchmarks.
    pub fn recall_at(&self, queries: &[Vec<f32>], k: usize) -> Result<f64> {
        let Some(graph) = &self.graph else {
            return Ok(1.0);
        };
        let mut total = 0.0;
        let mut counted = 0usize;
        for query in queries {
            let Some(query) = self.unit_query(query)? else {
                continue;
            };
            let exact = self.exact_search(&query.0, k, None);
            if exact.is_empty() {
                continue;
            }
            let found: HashSet<PostId> = self
                .graph_search(graph, &query, k, None)
                .iter()
                .map(|hit| hit.post_id)
                .collect();
            let agreed = exact
                .iter()
                .filter(|hit| found.contains(&hit.post_id))
                .count();
            total += agreed as f64 / exact.len() as f64;
            counted += 1;
        }
        Ok(if counted == 0 {
            1.0
        } else {
            total / counted as f64
        })
    }

    /// Vectors indexed.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The feed seq the index reflects.
    pub fn position(&self) -> i64 {
        self.position
    }

    /// The model id whose vectors are indexed.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The vectors' length (0 while the index has never held one).
    pub fn dims(&self) -> usize {
        self.dims
    }

    pub fn kind(&self) -> VectorIndexKind {
        match self.graph {
            Some(_) => VectorIndexKind::Hnsw,
            None => VectorIndexKind::Exact,
        }
    }

    pub fn options(&self) -> &VectorOptions {
        &self.options
    }

    /// Saves the index as the next version of `vector-index:<model>`, promoted
    /// (a newer index is always the better one), with its position as the
    /// version's `feed_seq` and `{model, feed_seq, count, dims, kind}` as its
    /// metadata. The bytes are `count * (8 + 4 * dims)` and a header, kept in
    /// the blob directory above the store's inline limit.
    pub async fn save(&self, store: &Store) -> Result<ArtifactVersion> {
        let bytes = self.to_bytes();
        let name = vector_index_name(&self.model);
        let metadata = serde_json::json!({
            "model": self.model,
            "feed_seq": self.position,
            "count": self.len(),
            "dims": self.dims,
            "kind": self.kind(),
        });
        let version = store
            .put_artifact_version(
                &NewArtifact {
                    name: &name,
                    kind: VECTOR_INDEX_KIND,
                    metadata,
                    metrics: serde_json::json!({}),
                    feed_seq: Some(self.position),
                    bytes: &bytes,
                },
                true,
            )
            .await?;
        Ok(version)
    }

    /// The promoted saved index of `model` with the default options, `None`
    /// when there is none.
    pub async fn load(store: &Store, model: &str) -> Result<Option<VectorIndex>> {
        VectorIndex::load_with(store, model, VectorOptions::default()).await
    }

    /// The promoted saved index of `model`, `None` when there is none; its
    /// graph (above `options.exact_below`) is built again here. Follow it
    /// with [`VectorIndex::catch_up`] to apply what changed since it was saved.
    pub async fn load_with(
        store: &Store,
        model: &str,
        options: VectorOptions,
    ) -> Result<Option<VectorIndex>> {
        let name = vector_index_name(model);
        let Some(version) = store.promoted_artifact(&name).await? else {
            return Ok(None);
        };
        let corrupt = |message: String| Error::CorruptIndex {
            name: name.clone(),
            version: version.version,
            message,
        };
        if version.kind != VECTOR_INDEX_KIND {
            return Err(corrupt(format!(
                "its kind is `{}`, not `{VECTOR_INDEX_KIND}`",
                version.kind
            )));
        }
        let position = version
            .feed_seq
            .ok_or_else(|| corrupt("it has no feed position".to_string()))?;
        let bytes = store.artifact_bytes(&name, version.version).await?;
        let mut index =
            VectorIndex::from_bytes(model, options, position, &bytes).map_err(corrupt)?;
        index.refresh_graph(&JobHandle::new()).await?;
        Ok(Some(index))
    }

    /// `query` checked and scaled to unit length; `None` without direction.
    fn unit_query(&self, query: &[f32]) -> Result<Option<UnitVector>> {
        if self.is_empty() {
            return Ok(None);
        }
        if query.len() != self.dims {
            return Err(Error::QueryDimensions {
                model: self.model.clone(),
                expected: self.dims,
                found: query.len(),
            });
        }
        let mut unit = query.to_vec();
        Ok(normalise(&mut unit).then(|| UnitVector(unit.into_boxed_slice())))
    }

    fn exact_search(
        &self,
        query: &[f32],
        limit: usize,
        allow: Option<&dyn Fn(PostId) -> bool>,
    ) -> Vec<VectorHit> {
        if limit == 0 || self.dims == 0 {
            return Vec::new();
        }
        let mut top = TopK::new(limit);
        for (row, post_id) in self.vectors.chunks_exact(self.dims).zip(&self.ids) {
            if allow.is_some_and(|allow| !allow(*post_id)) {
                continue;
            }
            top.offer(*post_id, dot(query, row));
        }
        top.into_hits()
    }

    /// The graph's candidates that are still current, with the vectors
    /// changed since it was built scanned exactly.
    fn graph_search(
        &self,
        graph: &Graph,
        query: &UnitVector,
        limit: usize,
        allow: Option<&dyn Fn(PostId) -> bool>,
    ) -> Vec<VectorHit> {
        let allowed = |post_id: PostId| allow.is_none_or(|allow| allow(post_id));
        let mut top = TopK::new(limit);
        let mut search = Search::default();
        for item in graph.map.search(query, &mut search) {
            let post_id = *item.value;
            if graph.stale.contains(&post_id) || !allowed(post_id) {
                continue;
            }
            // Scored as the exact scan scores (`1 - distance` rounds
            // differently), so both paths give one post the same similarity.
            if let Some(&slot) = self.slots.get(&post_id) {
                top.offer(post_id, dot(&query.0, self.row(slot)));
            }
        }
        for post_id in &graph.fresh {
            if let Some(&slot) = self.slots.get(post_id)
                && allowed(*post_id)
            {
                top.offer(*post_id, dot(&query.0, self.row(slot)));
            }
        }
        top.into_hits()
    }

    fn row(&self, slot: usize) -> &[f32] {
        &self.vectors[slot * self.dims..(slot + 1) * self.dims]
    }

    /// Puts `vector` (scaled to unit length) in as `post_id`'s. Returns
    /// whether it is indexed: a vector without direction is not (and the
    /// post's old one goes).
    fn upsert(&mut self, post_id: PostId, vector: &[f32]) -> Result<bool> {
        if vector.is_empty() {
            self.remove(post_id);
            return Ok(false);
        }
        if self.dims == 0 {
            self.dims = vector.len();
        }
        if vector.len() != self.dims {
            return Err(Error::Dimensions {
                model: self.model.clone(),
                post_id,
                expected: self.dims,
                found: vector.len(),
            });
        }
        let dims = self.dims;
        let slot = match self.slots.get(&post_id) {
            Some(&slot) => {
                self.vectors[slot * dims..(slot + 1) * dims].copy_from_slice(vector);
                slot
            }
            None => {
                self.vectors.extend_from_slice(vector);
                self.ids.push(post_id);
                self.slots.insert(post_id, self.ids.len() - 1);
                self.ids.len() - 1
            }
        };
        if !normalise(&mut self.vectors[slot * dims..(slot + 1) * dims]) {
            self.remove(post_id);
            return Ok(false);
        }
        if let Some(graph) = &mut self.graph {
            graph.stale.insert(post_id);
            graph.fresh.insert(post_id);
        }
        Ok(true)
    }

    /// Takes `post_id` out; whether it was in.
    fn remove(&mut self, post_id: PostId) -> bool {
        let Some(slot) = self.slots.remove(&post_id) else {
            return false;
        };
        let dims = self.dims;
        let last = self.ids.len() - 1;
        if slot != last {
            self.vectors
                .copy_within(last * dims..(last + 1) * dims, slot * dims);
            self.ids[slot] = self.ids[last];
            self.slots.insert(self.ids[slot], slot);
        }
        self.ids.truncate(last);
        self.vectors.truncate(last * dims);
        if let Some(graph) = &mut self.graph {
            graph.stale.insert(post_id);
            graph.fresh.remove(&post_id);
        }
        true
    }

    /// Whether the graph should be (re)built now: the index is big enough and
    /// has none, or more than a tenth of it changed since it was built.
    fn graph_due(&self) -> bool {
        if self.len() < self.options.exact_below.max(1) {
            return false;
        }
        match &self.graph {
            None => true,
            Some(graph) => (graph.stale.len() + graph.fresh.len()) * 10 > graph.len.max(1),
        }
    }

    /// Drops the graph below the threshold; builds it (off the async
    /// runtime) when [`VectorIndex::graph_due`].
    async fn refresh_graph(&mut self, job: &JobHandle) -> Result<()> {
        if self.len() < self.options.exact_below.max(1) {
            self.graph = None;
            return Ok(());
        }
        if !self.graph_due() {
            return Ok(());
        }
        job.set_phase("building the HNSW graph", None, Unit::Items);
        let (points, ids) = self.graph_input();
        let options = self.options.clone();
        let built = tokio::task::spawn_blocking(move || build_graph(points, ids, &options)).await;
        self.graph = Some(match built {
            Ok(graph) => graph,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            // The runtime is shutting down.
            Err(_) => {
                return Err(Error::Cancelled {
                    position: self.position,
                });
            }
        });
        Ok(())
    }

    fn graph_input(&self) -> (Vec<UnitVector>, Vec<PostId>) {
        let points = (0..self.len())
            .map(|slot| UnitVector(self.row(slot).into()))
            .collect();
        (points, self.ids.clone())
    }

    /// The saved layout: the magic, dims (u32), count (u64), the ids (i64
    /// each), then the unit vectors (f32 each), all little-endian.
    fn to_bytes(&self) -> Vec<u8> {
        let mut bytes =
            Vec::with_capacity(MAGIC.len() + 12 + self.ids.len() * 8 + self.vectors.len() * 4);
        bytes.extend_from_slice(MAGIC);
        let dims = u32::try_from(self.dims).expect("a vector has fewer than 2^32 values");
        bytes.extend_from_slice(&dims.to_le_bytes());
        bytes.extend_from_slice(&(self.ids.len() as u64).to_le_bytes());
        for post_id in &self.ids {
            bytes.extend_from_slice(&post_id.0.to_le_bytes());
        }
        for value in &self.vectors {
            bytes.extend_from_slice(&value.to_le_bytes());
        }
        bytes
    }

    /// Reads [`VectorIndex::to_bytes`]'s layout back; the vectors are taken
    /// as saved (already unit length), so a loaded index scores bit for bit
    /// as the saved one did.
    fn from_bytes(
        model: &str,
        options: VectorOptions,
        position: i64,
        bytes: &[u8],
    ) -> Result<VectorIndex, String> {
        let header = MAGIC.len() + 12;
        if bytes.len() < header || &bytes[..MAGIC.len()] != MAGIC {
            return Err("it does not start with this layout's header".to_string());
        }
        let word = |at: usize, len: usize| &bytes[at..at + len];
        let dims = u32::from_le_bytes(word(8, 4).try_into().expect("4 bytes")) as usize;
        let count = u64::from_le_bytes(word(12, 8).try_into().expect("8 bytes"));
        let expected = usize::try_from(count)
            .ok()
            .and_then(|count| count.checked_mul(8 + 4 * dims))
            .and_then(|body| body.checked_add(header));
        if expected != Some(bytes.len()) {
            return Err(format!(
                "{} bytes for {count} vectors of {dims} dimensions",
                bytes.len()
            ));
        }
        if dims == 0 && count > 0 {
            return Err(format!("{count} vectors of no dimensions"));
        }
        let count = count as usize;
        let ids_end = header + count * 8;
        let ids: Vec<PostId> = bytes[header..ids_end]
            .chunks_exact(8)
            .map(|chunk| PostId(i64::from_le_bytes(chunk.try_into().expect("8 bytes"))))
            .collect();
        let vectors: Vec<f32> = bytes[ids_end..]
            .chunks_exact(4)
            .map(|chunk| f32::from_le_bytes(chunk.try_into().expect("4 bytes")))
            .collect();
        let slots: HashMap<PostId, usize> = ids
            .iter()
            .enumerate()
            .map(|(slot, post_id)| (*post_id, slot))
            .collect();
        if slots.len() != ids.len() {
            return Err("a post id is listed twice".to_string());
        }
        Ok(VectorIndex {
            model: model.to_string(),
            options,
            dims: if count == 0 { 0 } else { dims },
            position,
            vectors,
            ids,
            slots,
            graph: None,
        })
    }
}

fn build_graph(points: Vec<UnitVector>, ids: Vec<PostId>, options: &VectorOptions) -> Graph {
    let len = points.len();
    let map = Builder::default()
        .ef_construction(options.ef_construction.max(1))
        .ef_search(options.ef_search.max(1))
        .seed(GRAPH_SEED)
        // The paper's neighbour-selection heuristic re-prunes every
        // neighbour's 64 links on each insert: 6x the build time here (62 s
        // vs 10 s for 20k x 384) for recall 0.997 instead of 0.975.
        .select_heuristic(None)
        .build(points, ids);
    Graph {
        map,
        stale: HashSet::new(),
        fresh: HashSet::new(),
        len,
    }
}

/// Where the index may move to: the feed's head, or the producer's position
/// when that is behind.
async fn feed_target(store: &Store, options: &VectorOptions) -> Result<i64> {
    let head = store.latest_change_seq().await?;
    Ok(match &options.producer {
        None => head,
        Some(consumer) => head.min(store.consumer_position(consumer).await?),
    })
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn random_vector(rng: &mut ChaCha8Rng, dims: usize) -> Vec<f32> {
        (0..dims).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    fn unit(vector: &[f32]) -> Vec<f32> {
        let mut unit = vector.to_vec();
        assert!(normalise(&mut unit));
        unit
    }

    #[test]
    fn dot_products_match_a_plain_sum() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for len in [0, 1, 7, 8, 13, 384] {
            let a = random_vector(&mut rng, len);
            let b = random_vector(&mut rng, len);
            let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - plain).abs() < 1e-4, "length {len}");
        }
        let mut zero = vec![0.0; 4];
        assert!(!normalise(&mut zero));
        let mut broken = vec![1.0, f32::NAN];
        assert!(!normalise(&mut broken));
    }

    #[test]
    fn the_top_k_keeps_the_best_and_breaks_ties_by_id() {
        let mut top = TopK::new(3);
        for (id, similarity) in [(5, 0.5), (4, 0.9), (9, 0.5), (1, 0.1), (2, 0.5), (3, 0.9)] {
            top.offer(PostId(id), similarity);
        }
        let hits: Vec<(i64, f32)> = top
            .into_hits()
            .iter()
            .map(|hit| (hit.post_id.0, hit.similarity))
            .collect();
        assert_eq!(hits, vec![(3, 0.9), (4, 0.9), (2, 0.5)]);
        assert!(TopK::new(0).into_hits().is_empty());
    }

    /// Random upserts and removals against a plain map: the index holds what
    /// the map holds, and its exact search is the map's sorted by similarity.
    #[test]
    fn updates_keep_the_index_equal_to_a_plain_model() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut index = VectorIndex::empty("m", VectorOptions::default(), 0);
        let mut model: HashMap<PostId, Vec<f32>> = HashMap::new();
        for _ in 0..2_000 {
            let post_id = PostId(rng.random_range(0..150));
            if rng.random_bool(0.3) {
                assert_eq!(index.remove(post_id), model.remove(&post_id).is_some());
            } else {
                let vector = random_vector(&mut rng, 16);
                assert!(index.upsert(post_id, &vector).expect("16 dimensions"));
                model.insert(post_id, unit(&vector));
            }
        }
        assert_eq!(index.len(), model.len());
        for (post_id, vector) in &model {
            assert_eq!(index.row(index.slots[post_id]), vector.as_slice());
        }
        let query = unit(&random_vector(&mut rng, 16));
        let mut expected: Vec<(PostId, f32)> = model
            .iter()
            .map(|(post_id, vector)| (*post_id, dot(&query, vector)))
            .collect();
        expected.sort_by(|a, b| crate::fusion::by_score_then_id(*a, *b));
        let hits: Vec<(PostId, f32)> = index
            .search(&query, 1_000, None)
            .expect("searched")
            .iter()
            .map(|hit| (hit.post_id, hit.similarity))
            .collect();
        // The search scales the query to unit length again: the last bits may differ.
        assert_eq!(hits.len(), expected.len());
        for ((post_id, similarity), (want_id, want)) in hits.iter().zip(&expected) {
            assert_eq!(post_id, want_id);
            assert!((similarity - want).abs() < 1e-6);
        }
        match index.upsert(PostId(1), &[1.0; 3]) {
            Err(Error::Dimensions {
                expected, found, ..
            }) => assert_eq!((expected, found), (16, 3)),
            other => panic!("expected a dimension error, got {other:?}"),
        }
        // A vector without direction takes the post out.
        let some = *model.keys().next().expect("a post");
        assert!(!index.upsert(some, &[0.0; 16]).expect("16 dimensions"));
        assert!(!index.slots.contains_key(&some));
    }

    #[tokio::test]
    async fn graph_hits_skip_changed_vectors_and_scan_the_fresh_ones() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let options = VectorOptions {
            exact_below: 100,
            ..VectorOptions::default()
        };
        let mut index = VectorIndex::empty("m", options, 0);
        for id in 0..300 {
            index
                .upsert(PostId(id), &random_vector(&mut rng, 32))
                .expect("32 dimensions");
        }
        index.refresh_graph(&JobHandle::new()).await.expect("built");
        assert_eq!(index.kind(), VectorIndexKind::Hnsw);
        let moved = random_vector(&mut rng, 32);
        index.upsert(PostId(5), &moved).expect("32 dimensions");
        let removed = index.row(index.slots[&PostId(6)]).to_vec();
        assert!(index.remove(PostId(6)));
        index.refresh_graph(&JobHandle::new()).await.expect("kept");
        let graph = index.graph.as_ref().expect("a graph");
        assert_eq!(
            (graph.stale.len(), graph.fresh.len()),
            (2, 1),
            "not rebuilt"
        );

        let hits = index.search(&moved, 3, None).expect("searched");
        assert_eq!(hits[0].post_id, PostId(5));
        assert!((hits[0].similarity - 1.0).abs() < 1e-5);
        let hits = index.search(&removed, 20, None).expect("searched");
        assert!(hits.iter().all(|hit| hit.post_id != PostId(6)));
        for hit in &hits {
            let row = index.row(index.slots[&hit.post_id]);
            assert_eq!(hit.similarity, dot(&unit(&removed), row));
        }
        // A tenth of the index changed: the graph is built again.
        for id in 100..140 {
            index
                .upsert(PostId(id), &random_vector(&mut rng, 32))
                .expect("32 dimensions");
        }
        index
            .refresh_graph(&JobHandle::new())
            .await
            .expect("rebuilt");
        let graph = index.graph.as_ref().expect("a graph");
        assert_eq!(
            (graph.stale.len(), graph.fresh.len(), graph.len),
            (0, 0, 299)
        );
    }

    #[test]
    fn saved_bytes_read_back_and_damage_is_refused() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut index = VectorIndex::empty("m", VectorOptions::default(), 42);
        for id in [3, -1, 1 << 41] {
            index
                .upsert(PostId(id), &random_vector(&mut rng, 5))
                .expect("5 dimensions");
        }
        let bytes = index.to_bytes();
        assert_eq!(bytes.len(), 8 + 12 + 3 * (8 + 4 * 5));
        let back =
            VectorIndex::from_bytes("m", VectorOptions::default(), 42, &bytes).expect("read back");
        assert_eq!(back.ids, index.ids);
        assert_eq!(back.vectors, index.vectors);
        assert_eq!((back.dims, back.position), (5, 42));
        assert_eq!(back.slots, index.slots);

        let check_refused = |bytes: &[u8]| {
            assert!(VectorIndex::from_bytes("m", VectorOptions::default(), 0, bytes).is_err());
        };
        check_refused(&bytes[..bytes.len() - 1]);
        check_refused(&bytes[..10]);
        let mut other_layout = bytes.clone();
        other_layout[7] = 2;
        check_refused(&other_layout);
        let mut twice = index.to_bytes();
        twice[20..28].copy_from_slice(&index.ids[1].0.to_le_bytes());
        check_refused(&twice);

        let empty = VectorIndex::empty("m", VectorOptions::default(), 0).to_bytes();
        let back =
            VectorIndex::from_bytes("m", VectorOptions::default(), 0, &empty).expect("read back");
        assert!(back.is_empty());
    }
}
