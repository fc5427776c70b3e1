//! Building the graph from a community (a full build) and keeping it up to
//! date from the change feed (an update), and loading what was built.
//!
//! A full build: the vocabulary from the tags; the tagger over every
//! question and answer, whose names seen in enough posts join it; the link
//! priors from how each name is used; then every post's facts (mentions,
//! typed relations, co-occurrence) written post by post; finally the graph
//! is loaded, GraphSAGE trained on it, and a snapshot (priors, the model,
//! node embeddings) stored as a new version of the `kg` artifact. An update
//! rewrites the facts of the posts the feed names since the last build or
//! update, with the same vocabulary and priors: a new post's entities and
//! edges are in the graph without a rebuild.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use steward_domain::{Post, PostId, PostKind, Timestamp};
use steward_jobs::{JobHandle, Unit};
use steward_ml::embed::{Embedder, Purpose};
use steward_ml::ner::Tagger;
use steward_store::{ChangeKey, ChangeOp, KgEntity, NewArtifact, Store};

use crate::error::{Error, Result};
use crate::extract::{self, Discovery, FormStats, LinkPriors, Linker, Recognized};
use crate::gnn::{GnnOptions, GraphSage};
use crate::relation::Relation;
use crate::view::{Edge, GraphView, Node};
use crate::vocab::{EntityKind, Entry, Source, Vocabulary};

/// The artifact a build stores its snapshot under.
pub const ARTIFACT: &str = "kg";
/// Its kind in the registry.
pub const ARTIFACT_KIND: &str = "kg/snapshot";
/// The change-feed consumer that [`update`] advances.
pub const FEED_CONSUMER: &str = "kg";

/// Posts read per page.
const PAGE: u32 = 500;
/// Facts written per transaction.
const WRITE_BATCH: usize = 200;

/// How a graph is built.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// A name the tagger finds joins the vocabulary when this many posts have it.
    pub min_ner_posts: u64,
    /// Co-occurrence evidence per post pairs at most this many entities.
    pub max_cooccurring: usize,
    /// A `related_to` edge needs this many posts naming both ends.
    pub min_cooccurrence: i64,
    pub gnn: GnnOptions,
    /// Train GraphSAGE and store node embeddings.
    pub train_gnn: bool,
}

impl Default for BuildOptions {
    fn default() -> BuildOptions {
        BuildOptions {
            min_ner_posts: 3,
            max_cooccurring: 12,
            min_cooccurrence: 2,
            gnn: GnnOptions::default(),
            train_gnn: true,
        }
    }
}

/// What a build did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildReport {
    /// Entities in the vocabulary, and how many came from tags and the tagger.
    pub entities: usize,
    pub from_tags: usize,
    pub from_ner: usize,
    /// Posts read and the mentions found in them.
    pub posts: u64,
    pub mentions: u64,
    /// Edges in the loaded graph by relation.
    pub edges: BTreeMap<String, usize>,
    /// Evidence rows written (all extractors).
    pub evidence: u64,
    /// The tagger ran.
    pub ner: bool,
    /// What the GNN's node features are: the embedding model, or `hashed`.
    pub features: String,
    /// The stored artifact version.
    pub version: Option<i64>,
    pub feed_seq: i64,
    pub seconds: f64,
}

/// What an update did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UpdateReport {
    /// Posts whose facts were rewritten.
    pub posts: usize,
    /// Tags that became entities.
    pub new_entities: usize,
    pub mentions: usize,
    pub evidence: usize,
    /// The feed position now.
    pub feed_seq: i64,
}

/// The stored snapshot of a build.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotHeader {
    pub format: u32,
    pub priors: LinkPriors,
    /// The entity of each embedding row.
    pub entity_ids: Vec<i64>,
    pub dim: usize,
    /// The build's `min_cooccurrence`, so a server loads the graph the same way.
    pub min_cooccurrence: i64,
    pub report: BuildReport,
}

/// A decoded `kg` artifact.
#[derive(Debug)]
pub struct Snapshot {
    pub header: SnapshotHeader,
    pub model: Option<GraphSage>,
    /// `entity_ids.len() × dim` node embeddings, row-major.
    pub embeddings: Vec<f32>,
}

const MAGIC: &[u8; 4] = b"SKG1";

impl Snapshot {
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = serde_json::to_vec(&self.header).expect("the header serializes");
        let model = self
            .model
            .as_ref()
            .map(GraphSage::to_bytes)
            .unwrap_or_default();
        let mut bytes =
            Vec::with_capacity(4 + 16 + header.len() + model.len() + self.embeddings.len() * 4);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&header);
        bytes.extend_from_slice(&(model.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&model);
        for value in &self.embeddings {
            bytes.extend_from_slice(&value.to_le_bytes());
        }
        bytes
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Snapshot> {
        let corrupt = |what: &str| Error::Codec(what.to_string());
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or_else(|| corrupt("not a knowledge-graph snapshot (bad magic)"))?;
        let (header, rest) = take_section(rest).ok_or_else(|| corrupt("truncated header"))?;
        let header: SnapshotHeader = serde_json::from_slice(header)
            .map_err(|error| Error::Codec(format!("header: {error}")))?;
        if header.format != 1 {
            return Err(Error::Codec(format!(
                "format {} is newer than this build reads (1)",
                header.format
            )));
        }
        let (model, rest) = take_section(rest).ok_or_else(|| corrupt("truncated model"))?;
        let model = if model.is_empty() {
            None
        } else {
            Some(GraphSage::from_bytes(model).map_err(|error| Error::Codec(error.to_string()))?)
        };
        if rest.len() != header.entity_ids.len() * header.dim * 4 {
            return Err(corrupt("the embeddings do not match the header"));
        }
        let embeddings = rest
            .chunks_exact(4)
            .map(|chunk| f32::from_le_bytes(chunk.try_into().expect("chunks of four")))
            .collect();
        Ok(Snapshot {
            header,
            model,
            embeddings,
        })
    }

    /// The node embedding of an entity, if the build embedded it.
    pub fn embedding(&self, entity: i64) -> Option<&[f32]> {
        let row = self.header.entity_ids.iter().position(|&id| id == entity)?;
        Some(&self.embeddings[row * self.header.dim..(row + 1) * self.header.dim])
    }
}

fn take_section(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let length = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let length = usize::try_from(length).ok()?;
    let rest = &bytes[8..];
    (rest.len() >= length).then(|| rest.split_at(length))
}

/// Every question and answer, page by page, with its thread's tags.
struct Posts<'s> {
    store: &'s Store,
    after: Option<PostId>,
    thread_tags: HashMap<PostId, Vec<String>>,
}

impl<'s> Posts<'s> {
    async fn new(store: &'s Store) -> Result<Posts<'s>> {
        let mut thread_tags = HashMap::new();
        let mut after = None;
        loop {
            let page = store.post_meta_after(after, 5_000).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            for meta in page {
                if meta.kind == PostKind::Question {
                    thread_tags.insert(meta.id, meta.tags);
                }
            }
        }
        Ok(Posts {
            store,
            after: None,
            thread_tags,
        })
    }

    /// Back to the first post for another pass (the thread tags stay read).
    fn rewind(&mut self) {
        self.after = None;
    }

    async fn next_page(&mut self) -> Result<Option<Vec<Post>>> {
        loop {
            let page = self.store.posts_after(self.after, PAGE).await?;
            let Some(last) = page.last() else {
                return Ok(None);
            };
            self.after = Some(last.id);
            let page: Vec<Post> = page.into_iter().filter(reads).collect();
            if !page.is_empty() {
                return Ok(Some(page));
            }
        }
    }

    fn tags_of(&self, post: &Post) -> Vec<String> {
        thread_tags(post, &self.thread_tags)
    }
}

/// Questions, answers and articles: the posts the graph reads.
fn reads(post: &Post) -> bool {
    matches!(
        post.kind,
        PostKind::Question | PostKind::Answer | PostKind::Article
    )
}

fn thread_tags(post: &Post, questions: &HashMap<PostId, Vec<String>>) -> Vec<String> {
    if !post.tags.is_empty() {
        return post.tags.clone();
    }
    post.parent_id
        .and_then(|parent| questions.get(&parent).cloned())
        .unwrap_or_default()
}

fn entity_of(entry: &Entry, now: Timestamp) -> KgEntity {
    KgEntity {
        id: 0,
        key: entry.key.clone(),
        name: entry.name.clone(),
        kind: entry.kind.as_str().to_string(),
        source: entry.source.as_str().to_string(),
        tag: entry.tag.clone(),
        aliases: entry.aliases.clone(),
        description: entry.description.clone(),
        updated_at: now,
    }
}

/// The vocabulary's entries as entities to store, stamped now.
fn entities_of(vocabulary: &Vocabulary) -> Vec<KgEntity> {
    let now = chrono::Utc::now();
    vocabulary
        .entries()
        .iter()
        .map(|entry| entity_of(entry, now))
        .collect()
}

fn entry_of(entity: &KgEntity) -> Entry {
    Entry {
        key: entity.key.clone(),
        name: entity.name.clone(),
        kind: entity.kind.parse().unwrap_or(EntityKind::Concept),
        source: if entity.source == "ner" {
            Source::Ner
        } else {
            Source::Tag
        },
        tag: entity.tag.clone(),
        aliases: entity.aliases.clone(),
        description: entity.description.clone(),
        support: 0,
    }
}

/// Builds the whole graph anew (see the module docs).
pub async fn build(
    store: &Store,
    tagger: Option<&Tagger>,
    embedder: Option<&Embedder>,
    options: &BuildOptions,
    job: &JobHandle,
) -> Result<BuildReport> {
    let started = Instant::now();
    let feed_seq = store.latest_change_seq().await?;
    let mut report = BuildReport {
        ner: tagger.is_some(),
        feed_seq,
        ..BuildReport::default()
    };

    job.set_phase("vocabulary", None, Unit::Items);
    let tags = store.tags().await?;
    let mut vocabulary = Vocabulary::from_tags(&tags);
    report.from_tags = vocabulary.len();
    let stats = store.stats().await?;
    let total = u64::try_from(stats.questions + stats.answers).unwrap_or(0);

    // Every pass reads the posts in id order; the thread tags are read once.
    let mut posts = Posts::new(store).await?;
    // The tagger's names, by post, kept for the linking pass.
    let mut recognized: HashMap<PostId, Vec<Recognized>> = HashMap::new();
    if let Some(tagger) = tagger {
        job.set_phase("tagging", Some(total), Unit::Items);
        let mut discovery = Discovery::default();
        while let Some(page) = posts.next_page().await? {
            for post in &page {
                let text = extract::post_text(post);
                let found = extract::recognize(tagger, &text, &post.body_html);
                discovery.add_post(&found);
                if !found.is_empty() {
                    recognized.insert(post.id, found);
                }
            }
            job.advance(page.len() as u64);
            job.check_cancelled()?;
        }
        for found in discovery.finish(options.min_ner_posts) {
            // A spelling of a known entry folds into it as an alias.
            vocabulary.insert(Entry {
                key: found.key,
                name: found.name,
                kind: found.kind,
                source: Source::Ner,
                tag: None,
                aliases: Vec::new(),
                description: None,
                support: found.posts,
            });
        }
    }
    if vocabulary.is_empty() {
        return Err(Error::Empty(
            "the community has no tags and the tagger found no names: import a community first"
                .to_string(),
        ));
    }
    report.entities = vocabulary.len();
    report.from_ner = vocabulary.len() - report.from_tags;

    // Entities: known keys keep their ids; entities no longer in the
    // vocabulary (a name the tagger no longer finds often enough) go.
    let entities = entities_of(&vocabulary);
    let stored = store.put_kg_entities(&entities).await?;
    let ids: Vec<i64> = stored.iter().map(|entity| entity.id).collect();
    let keep: std::collections::HashSet<i64> = ids.iter().copied().collect();
    let stale: Vec<i64> = store
        .kg_entities()
        .await?
        .into_iter()
        .map(|entity| entity.id)
        .filter(|id| !keep.contains(id))
        .collect();
    store.delete_kg_entities(&stale).await?;

    // Link priors: how each name is used where its tag is and is not.
    job.set_phase("priors", Some(total), Unit::Items);
    let unprimed = Linker::new(vocabulary.clone(), ids.clone(), LinkPriors::default());
    let mut stats = vec![FormStats::default(); vocabulary.len()];
    posts.rewind();
    while let Some(page) = posts.next_page().await? {
        for post in &page {
            let tags = posts.tags_of(post);
            for (entry, tagged, capitalized) in unprimed.observe(&extract::post_text(post), &tags) {
                let slot = &mut stats[entry];
                slot.seen += 1;
                slot.hits += u64::from(tagged);
                slot.capitalized += u64::from(capitalized);
            }
        }
        job.advance(page.len() as u64);
        job.check_cancelled()?;
    }
    let priors = LinkPriors::learn(&vocabulary, &stats);
    let linker = Linker::new(vocabulary, ids.clone(), priors.clone());

    // Facts, post by post.
    job.set_phase("linking", Some(total), Unit::Items);
    store.clear_kg_facts().await?;
    posts.rewind();
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while let Some(page) = posts.next_page().await? {
        for post in &page {
            let tags = posts.tags_of(post);
            let found = recognized.remove(&post.id).unwrap_or_default();
            let facts = linker.facts(post, &tags, &found, options.max_cooccurring);
            report.posts += 1;
            report.mentions += facts.mentions.len() as u64;
            report.evidence += facts.evidence.len() as u64;
            batch.push(facts);
            if batch.len() >= WRITE_BATCH {
                store.replace_kg_posts(&batch).await?;
                batch.clear();
            }
        }
        job.advance(page.len() as u64);
        job.check_cancelled()?;
    }
    store.replace_kg_posts(&batch).await?;
    store.replace_kg_posts(&[vocabulary_facts(&linker)]).await?;
    store.set_consumer_position(FEED_CONSUMER, feed_seq).await?;

    // The graph, its node features and GraphSAGE.
    let view = load_view(store, options.min_cooccurrence).await?;
    for edge in view.edges() {
        *report
            .edges
            .entry(edge.relation.as_str().to_string())
            .or_default() += 1;
    }
    let (features, dim, source) = node_features(store, &view, embedder).await?;
    report.features = source;
    let (model, embeddings, embedding_dim) = if options.train_gnn && view.edges().len() >= 2 {
        job.set_phase("gnn", Some(options.gnn.epochs as u64), Unit::Items);
        let edges = view.dense_edges();
        let model = GraphSage::train(
            view.nodes().len(),
            &edges,
            &features,
            dim,
            &options.gnn,
            &mut |epoch, _| {
                job.set_done(epoch as u64);
            },
        );
        let embeddings = model.embed(view.nodes().len(), &edges, &features);
        let embedding_dim = model.dim();
        (Some(model), embeddings, embedding_dim)
    } else {
        (None, Vec::new(), 0)
    };
    job.check_cancelled()?;

    report.seconds = started.elapsed().as_secs_f64();
    let entity_ids = if model.is_some() {
        view.nodes().iter().map(|node| node.id).collect()
    } else {
        Vec::new()
    };
    let snapshot = Snapshot {
        header: SnapshotHeader {
            format: 1,
            priors,
            entity_ids,
            dim: embedding_dim,
            min_cooccurrence: options.min_cooccurrence,
            report: report.clone(),
        },
        model,
        embeddings,
    };
    let bytes = snapshot.to_bytes();
    let version = store
        .put_artifact_version(
            &NewArtifact {
                name: ARTIFACT,
                kind: ARTIFACT_KIND,
                metadata: serde_json::json!({
                    "entities": report.entities,
                    "from_ner": report.from_ner,
                    "posts": report.posts,
                    "features": report.features,
                }),
                metrics: serde_json::json!({ "edges": report.edges }),
                feed_seq: Some(feed_seq),
                bytes: &bytes,
            },
            true,
        )
        .await?;
    report.version = Some(version.version);
    Ok(report)
}

/// `version_of` edges the vocabulary itself implies (`python-3.x` →
/// `python`), kept under post 0: they come from the tag list, not a post.
fn vocabulary_facts(linker: &Linker) -> steward_store::KgPostFacts {
    let vocabulary = linker.vocabulary();
    let evidence = vocabulary
        .version_links()
        .into_iter()
        .filter_map(|link| {
            let version = vocabulary.by_key(&link.version)?;
            let base = vocabulary.by_key(&link.base)?;
            Some(steward_store::KgEvidence {
                source_id: linker.id(version),
                target_id: linker.id(base),
                relation: Relation::VersionOf.as_str().to_string(),
                post_id: PostId(0),
                extractor: "vocabulary".to_string(),
                sentence: format!("{} is a version of {}", link.version, link.base),
                confidence: 1.0,
            })
        })
        .collect();
    steward_store::KgPostFacts {
        post_id: PostId(0),
        mentions: Vec::new(),
        evidence,
    }
}

/// The linker of the stored vocabulary, with the priors of the promoted
/// snapshot (defaults when there is none).
pub async fn load_linker(store: &Store) -> Result<Linker> {
    let entities = store.kg_entities().await?;
    let priors = match load_snapshot(store).await? {
        Some(snapshot) => snapshot.header.priors,
        None => LinkPriors::default(),
    };
    Ok(linker_of(&entities, priors))
}

/// The linker of these stored entities (an entity whose names fold into an
/// earlier one's links as that one).
pub fn linker_of(entities: &[KgEntity], priors: LinkPriors) -> Linker {
    let mut vocabulary = Vocabulary::default();
    let mut ids = Vec::with_capacity(entities.len());
    for entity in entities {
        let before = vocabulary.len();
        vocabulary.insert(entry_of(entity));
        if vocabulary.len() > before {
            ids.push(entity.id);
        }
    }
    Linker::new(vocabulary, ids, priors)
}

/// The promoted snapshot, if a build stored one.
pub async fn load_snapshot(store: &Store) -> Result<Option<Snapshot>> {
    let Some(version) = store.promoted_artifact(ARTIFACT).await? else {
        return Ok(None);
    };
    let bytes = store.artifact_bytes(ARTIFACT, version.version).await?;
    Snapshot::from_bytes(&bytes).map(Some)
}

/// Rewrites the facts of every post the change feed names since the last
/// build or update, and makes entities of new tags.
pub async fn update(
    store: &Store,
    tagger: Option<&Tagger>,
    options: &BuildOptions,
) -> Result<UpdateReport> {
    // Before the first build there is nothing to update: the build reads
    // every post and sets the feed position itself.
    // (One row, not the entity table: serve asks every `kg.update_secs`.)
    if store.promoted_artifact(ARTIFACT).await?.is_none() {
        return Err(Error::NotBuilt);
    }
    let mut position = store.consumer_position(FEED_CONSUMER).await?;
    let mut report = UpdateReport {
        feed_seq: position,
        ..UpdateReport::default()
    };
    let mut linker: Option<Linker> = None;
    loop {
        let changes = store
            .changes_after(position, steward_store::MAX_CHANGES_PER_READ)
            .await?;
        let Some(last) = changes.last() else { break };
        let last_seq = last.seq;
        let mut posts: Vec<PostId> = Vec::new();
        let mut tags: Vec<String> = Vec::new();
        for change in &changes {
            match (&change.key, change.op) {
                (ChangeKey::Post(id), ChangeOp::Upsert) => posts.push(*id),
                (ChangeKey::Tag(name), ChangeOp::Upsert) => tags.push(name.clone()),
                // A deleted post's facts went with it (in the same transaction).
                _ => {}
            }
        }
        if !tags.is_empty() {
            report.new_entities += add_tags(store, &tags).await?;
            linker = None;
        }
        if !posts.is_empty() {
            if linker.is_none() {
                linker = Some(load_linker(store).await?);
            }
            let linker = linker.as_ref().expect("loaded above");
            posts.sort_unstable();
            posts.dedup();
            let found = store.posts_by_ids(&posts).await?;
            let parents: Vec<PostId> = found
                .iter()
                .filter(|post| post.tags.is_empty())
                .filter_map(|post| post.parent_id)
                .collect();
            let questions: HashMap<PostId, Vec<String>> = store
                .posts_by_ids(&parents)
                .await?
                .into_iter()
                .map(|post| (post.id, post.tags))
                .collect();
            let mut facts = Vec::new();
            for post in found.iter().filter(|post| reads(post)) {
                let recognized = match tagger {
                    Some(tagger) => {
                        extract::recognize(tagger, &extract::post_text(post), &post.body_html)
                    }
                    None => Vec::new(),
                };
                let fact = linker.facts(
                    post,
                    &thread_tags(post, &questions),
                    &recognized,
                    options.max_cooccurring,
                );
                report.mentions += fact.mentions.len();
                report.evidence += fact.evidence.len();
                facts.push(fact);
            }
            report.posts += facts.len();
            store.replace_kg_posts(&facts).await?;
        }
        store.set_consumer_position(FEED_CONSUMER, last_seq).await?;
        position = last_seq;
        report.feed_seq = last_seq;
    }
    Ok(report)
}

/// Entities for tags the vocabulary does not have yet; returns how many.
async fn add_tags(store: &Store, names: &[String]) -> Result<usize> {
    let known: std::collections::HashSet<String> = store
        .kg_entities()
        .await?
        .into_iter()
        .filter_map(|entity| entity.tag)
        .collect();
    let mut tags = Vec::new();
    for name in names {
        if known.contains(name) {
            continue;
        }
        if let Some(tag) = store.tag(name).await? {
            tags.push(tag);
        }
    }
    let vocabulary = Vocabulary::from_tags(&tags);
    let entities = entities_of(&vocabulary);
    store.put_kg_entities(&entities).await?;
    Ok(entities.len())
}

/// The graph as stored: every entity, every typed edge, and the
/// co-occurrence edges with at least `min_cooccurrence` posts and positive
/// association, weighted by normalised PMI times the log of their support
/// (so an edge between two rare names that always appear together, and one
/// between two common names seen together often, both rank above two
/// common names that meet by chance).
pub async fn load_view(store: &Store, min_cooccurrence: i64) -> Result<GraphView> {
    let entities = store.kg_entities().await?;
    let counts: HashMap<i64, i64> = store.kg_entity_post_counts().await?.into_iter().collect();
    let stats = store.stats().await?;
    let total = (stats.questions + stats.answers).max(1) as f64;
    let nodes: Vec<Node> = entities
        .iter()
        .map(|entity| Node {
            id: entity.id,
            key: entity.key.clone(),
            name: entity.name.clone(),
            kind: entity.kind.clone(),
            weight: counts.get(&entity.id).copied().unwrap_or(0) as f64,
        })
        .collect();
    let mut edges = Vec::new();
    for row in store.kg_edges().await? {
        let Ok(relation) = row.relation.parse::<Relation>() else {
            continue;
        };
        let weight = if relation == Relation::RelatedTo {
            if row.posts < min_cooccurrence {
                continue;
            }
            let (a, b) = (
                counts.get(&row.source_id).copied().unwrap_or(0).max(1) as f64,
                counts.get(&row.target_id).copied().unwrap_or(0).max(1) as f64,
            );
            let joint = (row.posts as f64 / total).min(1.0);
            let pmi = (joint / ((a / total) * (b / total))).ln();
            let npmi = if joint >= 1.0 { 1.0 } else { pmi / -joint.ln() };
            if npmi <= 0.0 {
                continue;
            }
            npmi * (1.0 + (row.posts as f64).ln())
        } else {
            row.confidence
        };
        edges.push(Edge {
            source: row.source_id,
            target: row.target_id,
            relation,
            weight,
            evidence: u32::try_from(row.evidence).unwrap_or(u32::MAX),
        });
    }
    Ok(GraphView::new(nodes, edges))
}

/// Hashed bag-of-words features when no embedder is at hand.
const HASHED_DIM: usize = 256;

/// One feature vector per node of `view`: the embedding of the entity's
/// own text (name, aliases, description), never of the posts that make
/// its edges (that would leak held-out edges into link prediction). Without
/// an embedder: a hashed bag of the same words.
pub async fn node_features(
    store: &Store,
    view: &GraphView,
    embedder: Option<&Embedder>,
) -> Result<(Vec<f32>, usize, String)> {
    let entities: HashMap<i64, KgEntity> = store
        .kg_entities()
        .await?
        .into_iter()
        .map(|entity| (entity.id, entity))
        .collect();
    let texts: Vec<String> = view
        .nodes()
        .iter()
        .map(|node| match entities.get(&node.id) {
            Some(entity) => entity_text(entity),
            None => node.name.clone(),
        })
        .collect();
    entity_features(&texts, embedder)
}

/// The text an entity is embedded by.
pub fn entity_text(entity: &KgEntity) -> String {
    let name = entity.name.replace('-', " ");
    let aliases: Vec<String> = entity
        .aliases
        .iter()
        .map(|alias| alias.replace('-', " "))
        .collect();
    let mut text = name;
    if !aliases.is_empty() {
        text.push_str(" (");
        text.push_str(&aliases.join(", "));
        text.push(')');
    }
    if let Some(description) = &entity.description {
        text.push_str(". ");
        text.push_str(description);
    }
    text
}

/// Features for texts: the embedder's vectors, or hashed words.
pub fn entity_features(
    texts: &[String],
    embedder: Option<&Embedder>,
) -> Result<(Vec<f32>, usize, String)> {
    if let Some(embedder) = embedder {
        let dim = embedder.dim();
        let mut features = Vec::with_capacity(texts.len() * dim);
        for chunk in texts.chunks(32) {
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            let vectors = embedder
                .embed(&refs, Purpose::Passage)
                .map_err(|error| Error::Embedding(error.to_string()))?;
            for vector in vectors {
                features.extend_from_slice(&vector);
            }
        }
        return Ok((features, dim, embedder.model_id().to_string()));
    }
    let mut features = vec![0.0_f32; texts.len() * HASHED_DIM];
    for (row, text) in texts.iter().enumerate() {
        let slot = &mut features[row * HASHED_DIM..(row + 1) * HASHED_DIM];
        for word in text
            .to_lowercase()
            .split(|c: char| !c.is_alphanumeric() && c != '#' && c != '+')
            .filter(|word| !word.is_empty())
        {
            let hash = fnv1a(word);
            let index = (hash % HASHED_DIM as u64) as usize;
            slot[index] += if hash & (1 << 40) == 0 { 1.0 } else { -1.0 };
        }
        let norm = slot.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            slot.iter_mut().for_each(|v| *v /= norm);
        }
    }
    Ok((features, HASHED_DIM, "hashed".to_string()))
}

/// FNV-1a: a stable hash for feature hashing (no dependency needed).
fn fnv1a(word: &str) -> u64 {
    word.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
