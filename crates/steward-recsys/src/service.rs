//! The recommender as a server holds it: the promoted bundle (re-read when a
//! newer version is promoted, so replicas pick up a retrain without a
//! restart), the threads posted since it was trained (recommendable through
//! their embeddings), and the answers to the API's questions. A member's
//! history is read from the store on every request: what any writer stored
//! a moment ago already counts (the models fold it in).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use serde::Serialize;
use steward_domain::{PostId, PostKind, Timestamp, UserId};
use steward_store::{ChangeKey, ChangeOp, Store};

use crate::bundle::{ARTIFACT, Bundle};
use crate::dataset::InteractionWeights;
use crate::error::{Error, Result};
use crate::experts::{Expert, QuestionToRoute};
use crate::matrix::Scored;
use crate::model::ModelKind;
use crate::profile::{UserProfile, member_community, profile};
use crate::recommend::{FreshThread, MemberHistory, Recommendations, recommend};

/// Most feed entries read to find threads posted since training.
const FRESH_SCAN: u32 = 50_000;
/// Open questions considered for a member's "questions you can answer".
const OPEN_QUESTIONS: u32 = 500;

#[derive(Debug)]
struct Served {
    version: i64,
    /// Shared: a refresh that only reads new threads keeps the same models.
    bundle: Arc<Bundle>,
    fresh: Vec<FreshThread>,
}

/// Shared by every handler; cheap to clone.
#[derive(Debug, Clone)]
pub struct RecsysService {
    store: Store,
    served: Arc<RwLock<Option<Arc<Served>>>>,
}

/// What a reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Reload {
    /// The version served now, if any.
    pub version: Option<i64>,
    /// Whether it changed.
    pub changed: bool,
    pub fresh_threads: usize,
}

/// Items of `GET /api/v1/posts/{id}/similar`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimilarPosts {
    pub post_id: PostId,
    pub model: ModelKind,
    pub items: Vec<SimilarPost>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimilarPost {
    pub post_id: PostId,
    pub score: f32,
}

/// `GET /api/v1/questions/{id}/experts`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuestionExperts {
    pub question_id: PostId,
    pub experts: Vec<Expert>,
}

/// One open question a member could answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answerable {
    pub post_id: PostId,
    pub tags: Vec<String>,
    pub created_at: Timestamp,
    #[serde(flatten)]
    pub fit: Expert,
}

impl RecsysService {
    /// A service with nothing loaded: call [`RecsysService::reload`].
    pub fn new(store: Store) -> RecsysService {
        RecsysService {
            store,
            served: Arc::default(),
        }
    }

    fn current(&self) -> Option<Arc<Served>> {
        self.served
            .read()
            .expect("the served bundle lock is never poisoned")
            .clone()
    }

    fn require(&self) -> Result<Arc<Served>> {
        self.current().ok_or(Error::NotTrained)
    }

    /// The version served, if any.
    pub fn version(&self) -> Option<i64> {
        self.current().map(|served| served.version)
    }

    /// Loads the promoted bundle when it is not the one served, and reads the
    /// threads posted since it was trained.
    pub async fn reload(&self) -> Result<Reload> {
        let promoted = self.store.promoted_artifact(ARTIFACT).await?;
        let current = self.current();
        let Some(promoted) = promoted else {
            return Ok(Reload {
                version: current.as_ref().map(|served| served.version),
                changed: false,
                fresh_threads: 0,
            });
        };
        let (bundle, changed) = match &current {
            Some(served) if served.version == promoted.version => (None, false),
            _ => {
                let bytes = self
                    .store
                    .artifact_bytes(ARTIFACT, promoted.version)
                    .await?;
                let bundle = tokio::task::spawn_blocking(move || Bundle::from_bytes(&bytes))
                    .await
                    .map_err(|error| {
                        Error::Codec(format!("loading the bundle stopped: {error}"))
                    })??;
                (Some(Arc::new(bundle)), true)
            }
        };
        let bundle_ref = bundle
            .as_ref()
            .or(current.as_ref().map(|served| &served.bundle))
            .map(Arc::as_ref)
            .expect("either a new bundle or the served one");
        let fresh = fresh_threads(&self.store, bundle_ref).await?;
        let fresh_threads = fresh.len();
        let served = match bundle {
            Some(bundle) => Served {
                version: promoted.version,
                bundle,
                fresh,
            },
            None => {
                let current = current.expect("unchanged means served");
                Served {
                    version: current.version,
                    bundle: Arc::clone(&current.bundle),
                    fresh,
                }
            }
        };
        *self
            .served
            .write()
            .expect("the served bundle lock is never poisoned") = Some(Arc::new(served));
        Ok(Reload {
            version: Some(promoted.version),
            changed,
            fresh_threads,
        })
    }

    /// Events written since the served bundle's training data was read
    /// (what decides a retrain); `None` with nothing served.
    pub async fn events_since_training(&self) -> Result<Option<u64>> {
        let Some(served) = self.current() else {
            return Ok(None);
        };
        let mut after = served.bundle.info.feed_seq;
        let mut count = 0;
        loop {
            let changes = self
                .store
                .changes_after(after, steward_store::MAX_CHANGES_PER_READ)
                .await?;
            let Some(last) = changes.last() else { break };
            after = last.seq;
            count += changes
                .iter()
                .filter(|change| matches!(change.key, ChangeKey::Event(_)))
                .count() as u64;
        }
        Ok(Some(count))
    }

    /// Recommendations for `user`, from `model` (the bundle's default when
    /// `None`), with explanations when asked.
    pub async fn recommend(
        &self,
        user: UserId,
        n: usize,
        model: Option<ModelKind>,
        explain: bool,
    ) -> Result<(i64, Recommendations)> {
        let served = self.require()?;
        let member = member_community(&self.store, user).await?;
        let served_for_task = served.clone();
        let result = tokio::task::spawn_blocking(move || {
            let bundle = &served_for_task.bundle;
            let chosen = match model {
                Some(kind) => bundle.model(kind).ok_or(Error::ModelNotTrained(kind))?,
                None => bundle.default_model().ok_or(Error::NotTrained)?,
            };
            let history = MemberHistory::new(bundle, &member, user);
            Ok::<_, Error>(recommend(
                bundle,
                &history,
                chosen,
                n,
                explain,
                &served_for_task.fresh,
            ))
        })
        .await
        .map_err(|error| Error::Codec(format!("recommending stopped: {error}")))??;
        Ok((served.version, result))
    }

    /// Threads like `post` (a thread, or the thread of an answer).
    pub async fn similar(
        &self,
        post: PostId,
        n: usize,
        model: Option<ModelKind>,
    ) -> Result<SimilarPosts> {
        let served = self.require()?;
        let bundle = &served.bundle;
        let meta = self.store.post_meta_by_ids(&[post]).await?;
        let thread = match meta.first() {
            None => return Err(Error::UnknownPost(post)),
            Some(meta) if meta.kind == PostKind::Answer => meta.parent_id.unwrap_or(post),
            Some(meta) => meta.id,
        };
        let kind = model.unwrap_or(bundle.info.default_model);
        let chosen = bundle.model(kind).ok_or(Error::ModelNotTrained(kind))?;
        let items = match bundle.items.get(thread) {
            Some(item) => chosen.similar_items(item, n),
            // Posted since training: only its embedding can place it.
            None => Vec::new(),
        };
        Ok(SimilarPosts {
            post_id: post,
            model: kind,
            items: items
                .into_iter()
                .filter(|scored: &Scored| bundle.items.id(scored.item) != thread)
                .map(|scored| SimilarPost {
                    post_id: bundle.items.id(scored.item),
                    score: scored.score,
                })
                .collect(),
        })
    }

    /// The profile of `user`; `None` when the store knows nothing of them.
    pub async fn profile(&self, user: UserId, now: Timestamp) -> Result<Option<UserProfile>> {
        let member = member_community(&self.store, user).await?;
        if member.acts.is_empty() && self.store.user(user).await?.is_none() {
            return Ok(None);
        }
        let served = self.current();
        let weights = served
            .as_ref()
            .map_or_else(InteractionWeights::default, |served| {
                served.bundle.info.weights.clone()
            });
        let with_vectors: HashSet<PostId> = match &served {
            Some(served) => threads_with_vectors(&self.store, &served.bundle, &member).await?,
            None => HashSet::new(),
        };
        Ok(Some(profile(&member, user, &weights, now, &with_vectors)))
    }

    /// The members most likely to answer `question` well.
    pub async fn experts(&self, question: PostId, n: usize) -> Result<QuestionExperts> {
        let served = self.require()?;
        let meta = self.store.post_meta_by_ids(&[question]).await?;
        let meta = match meta.into_iter().next() {
            Some(meta) if meta.kind == PostKind::Question => meta,
            Some(_) => return Err(Error::NotAQuestion(question)),
            None => return Err(Error::UnknownPost(question)),
        };
        let answered: Vec<UserId> = self
            .store
            .children(question)
            .await?
            .into_iter()
            .filter(|child| child.kind == PostKind::Answer)
            .filter_map(|child| child.owner_id)
            .collect();
        let vector = question_vector(&self.store, &served.bundle, question).await?;
        let route = QuestionToRoute {
            tags: &meta.tags,
            vector: vector.as_deref(),
            asker: meta.owner_id,
            at: chrono::Utc::now(),
            exclude: &answered,
        };
        Ok(QuestionExperts {
            question_id: question,
            experts: served.bundle.experts.route(&route, n),
        })
    }

    /// Open questions `user` is most likely to answer well, best first.
    pub async fn answerable(&self, user: UserId, n: usize) -> Result<Vec<Answerable>> {
        let served = self.require()?;
        let open = self.store.unanswered_questions(OPEN_QUESTIONS).await?;
        let ids: Vec<PostId> = open.iter().map(|meta| meta.id).collect();
        let vectors = match &served.bundle.info.embedding_model {
            Some(model) => unit_vectors(&self.store, model, &ids).await?,
            None => HashMap::new(),
        };
        let now = chrono::Utc::now();
        let mut list: Vec<Answerable> = open
            .into_iter()
            .filter_map(|meta| {
                let route = QuestionToRoute {
                    tags: &meta.tags,
                    vector: vectors.get(&meta.id).map(Vec::as_slice),
                    asker: meta.owner_id,
                    at: now,
                    exclude: &[],
                };
                served
                    .bundle
                    .experts
                    .score_member(user, &route)
                    .map(|fit| Answerable {
                        post_id: meta.id,
                        tags: meta.tags.clone(),
                        created_at: meta.created_at,
                        fit,
                    })
            })
            .collect();
        list.sort_by(|a, b| {
            b.fit
                .probability
                .total_cmp(&a.fit.probability)
                .then(b.created_at.cmp(&a.created_at))
        });
        list.truncate(n);
        Ok(list)
    }

    /// The bundle served, for status pages.
    pub fn info(&self) -> Option<(i64, crate::bundle::BundleInfo, usize)> {
        self.current().map(|served| {
            (
                served.version,
                served.bundle.info.clone(),
                served.fresh.len(),
            )
        })
    }
}

/// Threads (questions and articles) written since `bundle`'s feed position
/// that it does not know, with their embeddings.
async fn fresh_threads(store: &Store, bundle: &Bundle) -> Result<Vec<FreshThread>> {
    let changes = store
        .changes_after(bundle.info.feed_seq, FRESH_SCAN)
        .await?;
    let mut ids: Vec<PostId> = changes
        .iter()
        .filter(|change| change.op == ChangeOp::Upsert)
        .filter_map(|change| match change.key {
            ChangeKey::Post(id) if bundle.items.get(id).is_none() => Some(id),
            _ => None,
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let metas = store.post_meta_by_ids(&ids).await?;
    let threads: Vec<_> = metas
        .into_iter()
        .filter(|meta| {
            matches!(meta.kind, PostKind::Question | PostKind::Article) && meta.closed_at.is_none()
        })
        .collect();
    let vectors = match &bundle.info.embedding_model {
        Some(model) => {
            let ids: Vec<PostId> = threads.iter().map(|meta| meta.id).collect();
            unit_vectors(store, model, &ids).await?
        }
        None => HashMap::new(),
    };
    Ok(threads
        .into_iter()
        .map(|meta| FreshThread {
            id: meta.id,
            vector: vectors.get(&meta.id).cloned(),
            tags: meta.tags,
            created_at: meta.created_at,
        })
        .collect())
}

/// Stored embeddings of `ids` under `model`, scaled to unit length.
pub async fn unit_vectors(
    store: &Store,
    model: &str,
    ids: &[PostId],
) -> Result<HashMap<PostId, Vec<f32>>> {
    let mut vectors = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(1_000) {
        for stored in store.embeddings(model, chunk).await? {
            let norm = stored
                .vector
                .iter()
                .map(|value| value * value)
                .sum::<f32>()
                .sqrt();
            if norm > f32::EPSILON && norm.is_finite() {
                vectors.insert(
                    stored.post_id,
                    stored.vector.iter().map(|value| value / norm).collect(),
                );
            }
        }
    }
    Ok(vectors)
}

async fn question_vector(
    store: &Store,
    bundle: &Bundle,
    question: PostId,
) -> Result<Option<Vec<f32>>> {
    let Some(model) = &bundle.info.embedding_model else {
        return Ok(None);
    };
    Ok(unit_vectors(store, model, &[question])
        .await?
        .remove(&question))
}

async fn threads_with_vectors(
    store: &Store,
    bundle: &Bundle,
    member: &crate::dataset::Community,
) -> Result<HashSet<PostId>> {
    let Some(model) = &bundle.info.embedding_model else {
        return Ok(HashSet::new());
    };
    let ids: Vec<PostId> = member.threads.iter().map(|thread| thread.id).collect();
    Ok(unit_vectors(store, model, &ids)
        .await?
        .into_keys()
        .collect())
}
