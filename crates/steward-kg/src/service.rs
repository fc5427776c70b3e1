//! Serving the graph: the stored graph loaded once into memory (with
//! PageRank, communities, GraphSAGE embeddings and the linker), swapped
//! whole when it is reloaded, and the queries the API, the CLI and other
//! subsystems ask of it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use serde::Serialize;
use steward_domain::{PostId, PostKind, UserId};
use steward_ml::ner::Tagger;
use steward_store::{KgEntity, Store};

use crate::build::{self, BuildOptions, Snapshot, UpdateReport};
use crate::error::{Error, Result};
use crate::extract::Linker;
use crate::gnn;
use crate::normalize;
use crate::relation::Relation;
use crate::view::{Edge, GraphView};
use crate::vocab::EntityKind;

/// PageRank's damping factor and iterations.
const DAMPING: f64 = 0.85;
const PAGERANK_ITERATIONS: usize = 50;
/// The seed of community detection, so clusters are stable across reloads.
const LOUVAIN_SEED: u64 = 7;
/// An explanation path is at most this long.
pub const MAX_PATH_HOPS: usize = 6;

/// An entity as lists show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntityBrief {
    pub id: i64,
    pub key: String,
    pub name: String,
    pub kind: String,
    /// Posts naming it.
    pub mentions: i64,
    pub pagerank: f64,
    /// Its topic cluster (Louvain), 0 the largest.
    pub community: u32,
}

/// Where an edge was read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Provenance {
    pub post_id: i64,
    pub sentence: String,
    pub extractor: String,
    pub confidence: f64,
}

/// A neighbour on an entity page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NeighbourEntry {
    pub entity: EntityBrief,
    pub relation: Relation,
    /// True when the edge points from the page's entity to this one.
    pub outgoing: bool,
    pub weight: f64,
    pub evidence: u32,
    /// The strongest evidence (typed relations only; co-occurrence is
    /// evidence by count).
    pub provenance: Vec<Provenance>,
}

/// A post that names the entity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostEntry {
    pub id: i64,
    pub kind: String,
    pub title: Option<String>,
    pub score: i64,
    pub mentions: i64,
}

/// A member who answers about the entity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpertEntry {
    pub user_id: i64,
    /// Their answers that name the entity, among the posts read.
    pub answers: u32,
    pub accepted: u32,
    pub score: i64,
}

/// Everything an entity's page shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntityPage {
    #[serde(flatten)]
    pub entity: EntityBrief,
    pub source: String,
    pub tag: Option<String>,
    pub aliases: Vec<String>,
    /// The tag wiki excerpt, when there is one; otherwise a line drafted
    /// from the graph ("X is a library, used with Y and Z").
    pub description: String,
    pub neighbours: BTreeMap<String, Vec<NeighbourEntry>>,
    /// Close in GraphSAGE's embedding and not yet a neighbour: "related
    /// concepts to learn next".
    pub related: Vec<RelatedEntry>,
    pub top_posts: Vec<PostEntry>,
    pub experts: Vec<ExpertEntry>,
}

/// An entity GraphSAGE puts close to another.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RelatedEntry {
    pub entity: EntityBrief,
    pub score: f32,
}

/// One step of an explanation path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathStep {
    pub from: EntityBrief,
    pub to: EntityBrief,
    pub relation: Relation,
    /// True when the stored edge points from `from` to `to`.
    pub forward: bool,
    pub weight: f64,
    pub provenance: Vec<Provenance>,
}

/// The shortest explanation between two entities.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathAnswer {
    pub from: EntityBrief,
    pub to: EntityBrief,
    pub steps: Vec<PathStep>,
    pub cost: f64,
}

/// An entity named in a query, with the names to search it by.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryEntity {
    pub id: i64,
    pub name: String,
    pub kind: String,
    /// Other names of it (synonyms, spellings) a search may add.
    pub aliases: Vec<String>,
    pub confidence: f32,
}

/// What the graph offers the rest of Steward: query expansion for search,
/// entity context for Q&A prompts, entity features for recommendation.
pub trait EntityContext: Send + Sync {
    /// The entities a query names, with their other names.
    fn expand(&self, query: &str) -> Vec<QueryEntity>;
    /// Short lines about the entities a text names ("tokio (library):
    /// is_a runtime; used_with hyper"), at most `limit`, for a prompt.
    fn context(&self, text: &str, limit: usize) -> Vec<String>;
    /// The entities a text names with their confidence: a sparse feature
    /// vector of a post or a member's history.
    fn entity_features(&self, text: &str) -> Vec<(i64, f32)>;
    /// An entity's GraphSAGE embedding, when the last build trained one.
    fn embedding(&self, entity: i64) -> Option<Vec<f32>>;
}

/// The loaded graph.
#[derive(Debug)]
pub struct Served {
    pub view: GraphView,
    entities: HashMap<i64, KgEntity>,
    pagerank: Vec<f64>,
    communities: Vec<u32>,
    snapshot: Option<Snapshot>,
    linker: Linker,
    /// Lower-cased name/key/alias → entity, for lookups by name.
    by_name: HashMap<String, i64>,
}

impl Served {
    /// Loads the graph from the store. [`Error::NotBuilt`] when there are no
    /// entities.
    pub async fn load(store: &Store) -> Result<Served> {
        let snapshot = build::load_snapshot(store).await?;
        let min_cooccurrence = snapshot
            .as_ref()
            .map_or(BuildOptions::default().min_cooccurrence, |snapshot| {
                snapshot.header.min_cooccurrence
            });
        let view = build::load_view(store, min_cooccurrence).await?;
        if view.nodes().is_empty() {
            return Err(Error::NotBuilt);
        }
        let stored = store.kg_entities().await?;
        let priors = snapshot
            .as_ref()
            .map(|snapshot| snapshot.header.priors.clone())
            .unwrap_or_default();
        let linker = build::linker_of(&stored, priors);
        let entities: HashMap<i64, KgEntity> = stored
            .into_iter()
            .map(|entity| (entity.id, entity))
            .collect();
        let pagerank = view.pagerank(DAMPING, PAGERANK_ITERATIONS);
        let communities = view.communities(LOUVAIN_SEED);
        let mut by_name = HashMap::new();
        for entity in entities.values() {
            for name in std::iter::once(&entity.key)
                .chain(std::iter::once(&entity.name))
                .chain(&entity.aliases)
            {
                by_name.entry(normalize::key(name)).or_insert(entity.id);
            }
        }
        Ok(Served {
            view,
            entities,
            pagerank,
            communities,
            snapshot,
            linker,
            by_name,
        })
    }

    /// The entity an id, key, name or alias names.
    pub fn resolve(&self, text: &str) -> Result<i64> {
        if let Ok(id) = text.trim().parse::<i64>()
            && self.entities.contains_key(&id)
        {
            return Ok(id);
        }
        let key = normalize::key(text);
        self.by_name
            .get(&key)
            .copied()
            .or_else(|| {
                self.linker
                    .resolve(text)
                    .map(|entry| self.linker.id(entry))
                    .filter(|id| self.entities.contains_key(id))
            })
            .ok_or_else(|| Error::UnknownEntity(text.to_string()))
    }

    pub fn entity(&self, id: i64) -> Option<&KgEntity> {
        self.entities.get(&id)
    }

    pub fn brief(&self, id: i64) -> Option<EntityBrief> {
        let entity = self.entities.get(&id)?;
        let index = self.view.index_of(id);
        Some(EntityBrief {
            id,
            key: entity.key.clone(),
            name: entity.name.clone(),
            kind: entity.kind.clone(),
            mentions: index.map_or(0, |i| self.view.nodes()[i].weight as i64),
            pagerank: index.map_or(0.0, |i| self.pagerank[i]),
            community: index.map_or(0, |i| self.communities[i]),
        })
    }

    /// Entities whose name, key or an alias contains `query` (all when it
    /// is empty), of `kind` if given: exact names first, then by PageRank.
    pub fn search(&self, query: &str, kind: Option<EntityKind>, limit: usize) -> Vec<EntityBrief> {
        let wanted = normalize::key(query);
        let mut found: Vec<(u8, EntityBrief)> = self
            .entities
            .values()
            .filter(|entity| kind.is_none_or(|kind| entity.kind == kind.as_str()))
            .filter_map(|entity| {
                let rank = if wanted.is_empty() {
                    2
                } else if entity.key == wanted || entity.aliases.contains(&wanted) {
                    0
                } else if entity.key.starts_with(&wanted) {
                    1
                } else if entity.key.contains(&wanted)
                    || entity.name.to_lowercase().contains(&query.to_lowercase())
                    || entity.aliases.iter().any(|alias| alias.contains(&wanted))
                {
                    2
                } else {
                    return None;
                };
                Some((rank, self.brief(entity.id)?))
            })
            .collect();
        found.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then(b.1.pagerank.total_cmp(&a.1.pagerank))
                .then(a.1.id.cmp(&b.1.id))
        });
        found
            .into_iter()
            .take(limit)
            .map(|(_, brief)| brief)
            .collect()
    }

    /// The top entities by PageRank.
    pub fn top(&self, limit: usize) -> Vec<EntityBrief> {
        self.search("", None, limit)
    }

    /// The strongest edges of a relation (all typed ones when `None`),
    /// strongest first.
    pub fn top_edges(&self, relation: Option<Relation>, limit: usize) -> Vec<Edge> {
        let mut edges: Vec<Edge> = self
            .view
            .edges()
            .iter()
            .filter(|edge| match relation {
                Some(relation) => edge.relation == relation,
                None => edge.relation != Relation::RelatedTo,
            })
            .cloned()
            .collect();
        edges.sort_by(|a, b| {
            b.weight
                .total_cmp(&a.weight)
                .then(b.evidence.cmp(&a.evidence))
        });
        edges.truncate(limit);
        edges
    }

    /// Entities GraphSAGE places near `id`, neighbours left out.
    pub fn related(&self, id: i64, limit: usize) -> Vec<RelatedEntry> {
        let Some(snapshot) = &self.snapshot else {
            return Vec::new();
        };
        let ids = &snapshot.header.entity_ids;
        let Some(row) = ids.iter().position(|&entity| entity == id) else {
            return Vec::new();
        };
        let neighbours: std::collections::HashSet<i64> = self
            .view
            .neighbours(id, None, usize::MAX)
            .into_iter()
            .map(|neighbour| neighbour.node.id)
            .collect();
        let exclude = |index: u32| {
            ids.get(index as usize).is_none_or(|entity| {
                neighbours.contains(entity) || !self.entities.contains_key(entity)
            })
        };
        gnn::related(
            &snapshot.embeddings,
            snapshot.header.dim,
            row as u32,
            limit,
            &exclude,
        )
        .into_iter()
        .filter_map(|(index, score)| {
            Some(RelatedEntry {
                entity: self.brief(*ids.get(index as usize)?)?,
                score,
            })
        })
        .collect()
    }

    /// A line describing an entity from the graph itself, for entities
    /// without a tag wiki: its kind and its strongest typed relations.
    fn drafted_description(&self, id: i64) -> String {
        let Some(entity) = self.entities.get(&id) else {
            return String::new();
        };
        let mut parts = Vec::new();
        for neighbour in self.view.neighbours(id, None, 40) {
            if neighbour.edge.relation == Relation::RelatedTo || parts.len() >= 3 {
                continue;
            }
            let verb = match (neighbour.edge.relation, neighbour.outgoing) {
                (Relation::IsA, true) => "is a kind of",
                (Relation::IsA, false) => "has the kind",
                (Relation::PartOf, true) => "is part of",
                (Relation::PartOf, false) => "contains",
                (Relation::DependsOn, true) => "builds on",
                (Relation::DependsOn, false) => "is a foundation of",
                (Relation::VersionOf, true) => "is a version of",
                (Relation::VersionOf, false) => "has the version",
                (Relation::Causes, true) => "causes",
                (Relation::Causes, false) => "is caused by",
                (Relation::Solves, true) => "solves",
                (Relation::Solves, false) => "is solved by",
                (Relation::AlternativeTo, _) => "is an alternative to",
                (Relation::UsedWith, _) => "is used with",
                (Relation::RelatedTo, _) => "is related to",
            };
            parts.push(format!("{verb} {}", neighbour.node.name));
        }
        let related: Vec<String> = self
            .view
            .neighbours(id, Some(Relation::RelatedTo), 3)
            .into_iter()
            .map(|neighbour| neighbour.node.name)
            .collect();
        let mut text = format!("{} ({})", entity.name, entity.kind);
        if !parts.is_empty() {
            text.push(' ');
            text.push_str(&parts.join(", "));
        }
        if !related.is_empty() {
            text.push_str(if parts.is_empty() {
                " is discussed with "
            } else {
                "; discussed with "
            });
            text.push_str(&related.join(", "));
        }
        text.push('.');
        text
    }
}

impl EntityContext for Served {
    fn expand(&self, query: &str) -> Vec<QueryEntity> {
        self.linker
            .entities_in(query)
            .into_iter()
            .filter_map(|(id, confidence)| {
                let entity = self.entities.get(&id)?;
                let mut aliases: Vec<String> = entity
                    .aliases
                    .iter()
                    .map(|alias| alias.replace('-', " "))
                    .collect();
                let name = entity.key.replace('-', " ");
                if !aliases.contains(&name) {
                    aliases.insert(0, name);
                }
                Some(QueryEntity {
                    id,
                    name: entity.name.clone(),
                    kind: entity.kind.clone(),
                    aliases,
                    confidence,
                })
            })
            .collect()
    }

    fn context(&self, text: &str, limit: usize) -> Vec<String> {
        self.linker
            .entities_in(text)
            .into_iter()
            .take(limit)
            .filter_map(|(id, _)| {
                let entity = self.entities.get(&id)?;
                let facts: Vec<String> = self
                    .view
                    .neighbours(id, None, 20)
                    .into_iter()
                    .filter(|neighbour| neighbour.edge.relation != Relation::RelatedTo)
                    .take(4)
                    .map(|neighbour| {
                        let direction = if neighbour.outgoing { "" } else { " (of)" };
                        format!(
                            "{}{direction} {}",
                            neighbour.edge.relation, neighbour.node.name
                        )
                    })
                    .collect();
                let mut line = format!("{} ({})", entity.name, entity.kind);
                if let Some(description) = &entity.description {
                    let short: String = description.chars().take(160).collect();
                    line.push_str(": ");
                    line.push_str(&short);
                }
                if !facts.is_empty() {
                    line.push_str(" [");
                    line.push_str(&facts.join("; "));
                    line.push(']');
                }
                Some(line)
            })
            .collect()
    }

    fn entity_features(&self, text: &str) -> Vec<(i64, f32)> {
        self.linker.entities_in(text)
    }

    fn embedding(&self, entity: i64) -> Option<Vec<f32>> {
        self.snapshot
            .as_ref()?
            .embedding(entity)
            .map(<[f32]>::to_vec)
    }
}

/// The graph a server or the CLI answers from; reloaded whole.
#[derive(Debug, Clone)]
pub struct KgService {
    store: Store,
    served: Arc<RwLock<Option<Arc<Served>>>>,
}

impl KgService {
    pub fn new(store: Store) -> KgService {
        KgService {
            store,
            served: Arc::new(RwLock::new(None)),
        }
    }

    /// The loaded graph, loading it on first use.
    pub async fn served(&self) -> Result<Arc<Served>> {
        if let Some(served) = self
            .served
            .read()
            .expect("the lock is never poisoned")
            .clone()
        {
            return Ok(served);
        }
        self.reload().await
    }

    /// Loads the graph from the store again and swaps it in.
    pub async fn reload(&self) -> Result<Arc<Served>> {
        let served = Arc::new(Served::load(&self.store).await?);
        *self.served.write().expect("the lock is never poisoned") = Some(served.clone());
        Ok(served)
    }

    /// Applies the change feed since the last build or update and reloads
    /// when anything changed.
    pub async fn update(&self, tagger: Option<&Tagger>) -> Result<UpdateReport> {
        let report = build::update(&self.store, tagger, &BuildOptions::default()).await?;
        if report.posts > 0 || report.new_entities > 0 {
            self.reload().await?;
        }
        Ok(report)
    }

    /// An entity's page.
    pub async fn entity_page(&self, name_or_id: &str) -> Result<EntityPage> {
        let served = self.served().await?;
        let id = served.resolve(name_or_id)?;
        let entity = served
            .entity(id)
            .ok_or_else(|| Error::UnknownEntity(name_or_id.to_string()))?;
        let brief = served
            .brief(id)
            .ok_or_else(|| Error::UnknownEntity(name_or_id.to_string()))?;

        let mut neighbours: BTreeMap<String, Vec<NeighbourEntry>> = BTreeMap::new();
        for neighbour in served.view.neighbours(id, None, 200) {
            let list = neighbours
                .entry(neighbour.edge.relation.as_str().to_string())
                .or_default();
            if list.len() >= 10 {
                continue;
            }
            let provenance = if neighbour.edge.relation == Relation::RelatedTo {
                Vec::new()
            } else {
                self.edge_provenance(&neighbour.edge, 2).await?
            };
            let Some(entity) = served.brief(neighbour.node.id) else {
                continue;
            };
            list.push(NeighbourEntry {
                entity,
                relation: neighbour.edge.relation,
                outgoing: neighbour.outgoing,
                weight: neighbour.edge.weight,
                evidence: neighbour.edge.evidence,
                provenance,
            });
        }

        let mentioned = self.store.kg_entity_posts(id, 300).await?;
        let counts: HashMap<PostId, i64> = mentioned.iter().copied().collect();
        let posts = self
            .store
            .posts_by_ids(&mentioned.iter().map(|(post, _)| *post).collect::<Vec<_>>())
            .await?;
        let mut top_posts: Vec<PostEntry> = posts
            .iter()
            .filter(|post| matches!(post.kind, PostKind::Question | PostKind::Article))
            .map(|post| PostEntry {
                id: post.id.0,
                kind: post.kind.as_str().to_string(),
                title: post.title.clone(),
                score: post.score,
                mentions: counts.get(&post.id).copied().unwrap_or(0),
            })
            .collect();
        top_posts.sort_by(|a, b| {
            b.score
                .cmp(&a.score)
                .then(b.mentions.cmp(&a.mentions))
                .then(a.id.cmp(&b.id))
        });
        top_posts.truncate(10);

        let accepted: std::collections::HashSet<PostId> = {
            let parents: Vec<PostId> = posts.iter().filter_map(|post| post.parent_id).collect();
            self.store
                .posts_by_ids(&parents)
                .await?
                .into_iter()
                .filter_map(|question| question.accepted_answer_id)
                .collect()
        };
        let mut experts: HashMap<UserId, ExpertEntry> = HashMap::new();
        for post in posts.iter().filter(|post| post.kind == PostKind::Answer) {
            let Some(owner) = post.owner_id else { continue };
            let entry = experts.entry(owner).or_insert(ExpertEntry {
                user_id: owner.0,
                answers: 0,
                accepted: 0,
                score: 0,
            });
            entry.answers += 1;
            entry.accepted += u32::from(accepted.contains(&post.id));
            entry.score += post.score;
        }
        let mut experts: Vec<ExpertEntry> = experts.into_values().collect();
        experts.sort_by(|a, b| {
            (b.accepted, b.answers, b.score)
                .cmp(&(a.accepted, a.answers, a.score))
                .then(a.user_id.cmp(&b.user_id))
        });
        experts.truncate(5);

        let description = entity
            .description
            .clone()
            .filter(|text| !text.trim().is_empty())
            .unwrap_or_else(|| served.drafted_description(id));
        Ok(EntityPage {
            entity: brief,
            source: entity.source.clone(),
            tag: entity.tag.clone(),
            aliases: entity.aliases.clone(),
            description,
            neighbours,
            related: served.related(id, 8),
            top_posts,
            experts,
        })
    }

    /// The strongest evidence for one edge.
    pub async fn edge_provenance(&self, edge: &Edge, limit: u32) -> Result<Vec<Provenance>> {
        Ok(self
            .store
            .kg_evidence_between(
                edge.source,
                edge.target,
                Some(edge.relation.as_str()),
                limit,
            )
            .await?
            .into_iter()
            .map(|evidence| Provenance {
                post_id: evidence.post_id.0,
                sentence: evidence.sentence,
                extractor: evidence.extractor,
                confidence: evidence.confidence,
            })
            .collect())
    }

    /// The shortest explanation path between two entities (by id or name).
    pub async fn path(&self, from: &str, to: &str) -> Result<Option<PathAnswer>> {
        let served = self.served().await?;
        let (a, b) = (served.resolve(from)?, served.resolve(to)?);
        let Some(path) = served.view.shortest_path(a, b, MAX_PATH_HOPS) else {
            return Ok(None);
        };
        let mut steps = Vec::with_capacity(path.edges.len());
        for (pair, edge) in path.nodes.windows(2).zip(&path.edges) {
            let (Some(from), Some(to)) = (served.brief(pair[0].id), served.brief(pair[1].id))
            else {
                continue;
            };
            steps.push(PathStep {
                from,
                to,
                relation: edge.relation,
                forward: edge.source == pair[0].id,
                weight: edge.weight,
                provenance: self.edge_provenance(edge, 1).await?,
            });
        }
        let (Some(from), Some(to)) = (served.brief(a), served.brief(b)) else {
            return Ok(None);
        };
        Ok(Some(PathAnswer {
            from,
            to,
            steps,
            cost: path.cost,
        }))
    }
}
