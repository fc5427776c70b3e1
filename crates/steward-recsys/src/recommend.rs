//! Serving one member from a trained bundle: their history as it is now
//! (read fresh, so a new favorite counts at once: ALS folds it in), the
//! model's ranking without anything they touched or dismissed, threads
//! posted since training brought in by content similarity, a cold-start
//! path from tags and popularity, and an explanation computed from the
//! model's own contributions.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use steward_domain::{PostId, Timestamp, UserId};

use crate::bundle::Bundle;
use crate::dataset::{ActKind, Community, act_weight};
use crate::matrix::{Row, Scored};
use crate::model::{Model, ModelKind};
use crate::profile::verb;

/// Share of the list that threads posted since training may take.
const FRESH_SHARE: usize = 5;

/// A member's history against a bundle's item space.
#[derive(Debug, Clone)]
pub struct MemberHistory {
    pub user_id: UserId,
    /// The member's index in the bundle, when they were trained on.
    pub index: Option<u32>,
    items: Vec<u32>,
    weights: Vec<f32>,
    /// The strongest act per item (for explanations).
    acts: HashMap<u32, ActKind>,
    negatives: Vec<u32>,
    /// Threads the member touched or dismissed that the bundle does not know
    /// (posted since training).
    touched_fresh: HashSet<PostId>,
    /// Followed tags, then the tags of threads the member touched.
    tags: Vec<String>,
}

impl MemberHistory {
    /// `member` holds the member's own acts (see `profile::member_community`).
    pub fn new(bundle: &Bundle, member: &Community, user_id: UserId) -> MemberHistory {
        let index = bundle.users.get(user_id);
        let weights_config = &bundle.info.weights;
        let mut per_item: BTreeMap<u32, f32> = BTreeMap::new();
        let mut acts: HashMap<u32, ActKind> = HashMap::new();
        let mut negatives: Vec<u32> = index
            .and_then(|index| bundle.negatives.get(index as usize).cloned())
            .unwrap_or_default();
        let mut touched_fresh = HashSet::new();
        let mut tags: Vec<String> = member
            .followed_tags
            .get(&user_id)
            .cloned()
            .unwrap_or_default();
        for act in member.acts.iter().filter(|act| act.user == user_id) {
            if let Some(thread) = member.thread(act.thread) {
                for tag in &thread.tags {
                    if !tags.contains(tag) {
                        tags.push(tag.clone());
                    }
                }
            }
            let Some(item) = bundle.items.get(act.thread) else {
                touched_fresh.insert(act.thread);
                continue;
            };
            match act_weight(weights_config, act) {
                Some(weight) => {
                    let age_days =
                        (bundle.info.trained_at - act.at).num_seconds() as f64 / 86_400.0;
                    *per_item.entry(item).or_default() += weight * weights_config.decay(age_days);
                    let strongest = acts.entry(item).or_insert(act.kind);
                    if rank(act.kind) > rank(*strongest) {
                        *strongest = act.kind;
                    }
                }
                None => negatives.push(item),
            }
        }
        negatives.sort_unstable();
        negatives.dedup();
        let (items, weights) = per_item
            .into_iter()
            .filter(|(_, weight)| *weight > 0.0)
            .unzip();
        MemberHistory {
            user_id,
            index,
            items,
            weights,
            acts,
            negatives,
            touched_fresh,
            tags,
        }
    }

    pub fn row(&self) -> Row<'_> {
        Row::new(&self.items, &self.weights)
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether this history differs from the row the model was trained on
    /// (new acts since training): the models then fold it in.
    pub fn is_newer_than_training(&self, bundle: &Bundle) -> bool {
        match self.index {
            None => !self.items.is_empty(),
            Some(index) => {
                let trained = bundle.interactions.user(index);
                trained.indices != self.items.as_slice()
                    || trained
                        .weights
                        .iter()
                        .zip(&self.weights)
                        .any(|(a, b)| (a - b).abs() > 1e-4 * a.abs().max(1.0))
            }
        }
    }

    fn exclusions(&self) -> Vec<u32> {
        let mut exclude = self.items.clone();
        exclude.extend_from_slice(&self.negatives);
        exclude.sort_unstable();
        exclude.dedup();
        exclude
    }
}

/// Strength of an act for "the strongest thing you did to this thread".
fn rank(kind: ActKind) -> u8 {
    use steward_domain::EventKind::*;
    match kind {
        ActKind::Event(Answer) => 9,
        ActKind::Ask => 8,
        ActKind::Event(Accept) => 7,
        ActKind::Event(Favorite) => 6,
        ActKind::Event(Follow) => 5,
        ActKind::Event(Comment) => 4,
        ActKind::Event(Edit) => 3,
        ActKind::Event(UpVote) => 2,
        ActKind::Event(View) => 1,
        ActKind::Event(DownVote) | ActKind::Event(NotInterested) => 0,
    }
}

/// A thread posted since the bundle was trained, with its embedding.
#[derive(Debug, Clone)]
pub struct FreshThread {
    pub id: PostId,
    pub tags: Vec<String>,
    pub created_at: Timestamp,
    /// Unit length, in the content model's space.
    pub vector: Option<Vec<f32>>,
}

/// Why a thread is recommended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// One sentence: "because you answered 3 questions on tokio and favorited #1234".
    pub text: String,
    /// The member's threads that contributed most, with their share of the score.
    pub because: Vec<Because>,
    /// Tags the thread shares with the member's history.
    pub shared_tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Because {
    pub post_id: PostId,
    /// What the member did to it: `answered`, `favorited`, ...
    pub did: &'static str,
    pub share: f32,
}

/// Where a recommended thread came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The requested (or default) model's ranking.
    Model,
    /// Posted since training, close to the member's history by embedding.
    Fresh,
    /// Cold start: popular, in the member's tags first.
    Popular,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    pub post_id: PostId,
    pub score: f32,
    pub source: Source,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Explanation>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendations {
    pub user_id: UserId,
    pub model: ModelKind,
    /// The member's new acts since training were folded in for this answer.
    pub folded_in: bool,
    /// The member has no history the models know: tags and popularity.
    pub cold_start: bool,
    pub items: Vec<Recommendation>,
}

/// Recommends `n` threads to the member with `history`.
pub fn recommend(
    bundle: &Bundle,
    history: &MemberHistory,
    model: &Model,
    n: usize,
    explain: bool,
    fresh: &[FreshThread],
) -> Recommendations {
    let exclude = history.exclusions();
    let cold_start = history.is_empty();
    let mut items: Vec<Recommendation> = if cold_start {
        cold_start_items(bundle, history, n, &exclude)
    } else {
        model
            .recommend(history.index, history.row(), n, &exclude)
            .into_iter()
            .map(|scored| Recommendation {
                post_id: bundle.items.id(scored.item),
                score: scored.score,
                source: Source::Model,
                explanation: None,
            })
            .collect()
    };
    if !cold_start {
        mix_fresh(bundle, history, fresh, n, &mut items);
    }
    if explain {
        for item in &mut items {
            item.explanation = Some(explanation(bundle, history, model, item, fresh));
        }
    }
    Recommendations {
        user_id: history.user_id,
        model: if cold_start {
            ModelKind::Popularity
        } else {
            model.kind()
        },
        folded_in: history.is_newer_than_training(bundle),
        cold_start,
        items,
    }
}

/// Popular threads, those carrying the member's tags first.
fn cold_start_items(
    bundle: &Bundle,
    history: &MemberHistory,
    n: usize,
    exclude: &[u32],
) -> Vec<Recommendation> {
    let Some(popularity) = bundle.model(ModelKind::Popularity) else {
        return Vec::new();
    };
    let pool = popularity.recommend(None, Row::new(&[], &[]), (n * 20).max(200), exclude);
    let tags: HashSet<&str> = history.tags.iter().map(String::as_str).collect();
    let mut ranked: Vec<(usize, Scored)> = pool
        .into_iter()
        .map(|scored| {
            let shared = bundle.item_tags[scored.item as usize]
                .iter()
                .filter(|tag| tags.contains(tag.as_str()))
                .count();
            (shared, scored)
        })
        .collect();
    // Stable: within the same tag overlap, popularity order stays.
    ranked.sort_by_key(|(shared, _)| std::cmp::Reverse(*shared));
    ranked
        .into_iter()
        .take(n)
        .map(|(_, scored)| Recommendation {
            post_id: bundle.items.id(scored.item),
            score: scored.score,
            source: Source::Popular,
            explanation: None,
        })
        .collect()
}

/// Lets up to a fifth of the list be threads posted since training, when
/// they are at least as close to the member as the weakest model pick.
fn mix_fresh(
    bundle: &Bundle,
    history: &MemberHistory,
    fresh: &[FreshThread],
    n: usize,
    items: &mut Vec<Recommendation>,
) {
    if fresh.is_empty() || n == 0 {
        return;
    }
    let Some(Model::Content(content)) = bundle.model(ModelKind::Content) else {
        return;
    };
    let Some(centroid) = content.centroid(history.row()) else {
        return;
    };
    let cosine = |vector: &[f32]| -> f32 { vector.iter().zip(&centroid).map(|(a, b)| a * b).sum() };
    let weakest = items
        .iter()
        .filter_map(|item| bundle.items.get(item.post_id))
        .filter_map(|item| content.vector(item).map(cosine))
        .fold(f32::INFINITY, f32::min);
    let bar = if weakest.is_finite() { weakest } else { 0.0 };
    let mut candidates: Vec<(f32, &FreshThread)> = fresh
        .iter()
        .filter(|thread| !history.touched_fresh.contains(&thread.id))
        .filter_map(|thread| {
            thread
                .vector
                .as_deref()
                .map(|vector| (cosine(vector), thread))
        })
        .filter(|(similarity, _)| *similarity >= bar && similarity.is_finite())
        .collect();
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.id.cmp(&a.1.id)));
    let slots = n.div_ceil(FRESH_SHARE);
    let picked: Vec<Recommendation> = candidates
        .into_iter()
        .take(slots)
        .map(|(similarity, thread)| Recommendation {
            post_id: thread.id,
            score: similarity,
            source: Source::Fresh,
            explanation: None,
        })
        .collect();
    if picked.is_empty() {
        return;
    }
    let keep = n.saturating_sub(picked.len()).min(items.len());
    items.truncate(keep);
    // Interleave: every FRESH_SHARE-th place goes to a fresh thread.
    let mut merged = Vec::with_capacity(n);
    let mut model_items = std::mem::take(items).into_iter();
    let mut fresh_items = picked.into_iter();
    while merged.len() < n {
        let next = if merged.len() % FRESH_SHARE == FRESH_SHARE - 1 {
            fresh_items.next().or_else(|| model_items.next())
        } else {
            model_items.next().or_else(|| fresh_items.next())
        };
        match next {
            Some(item) => merged.push(item),
            None => break,
        }
    }
    *items = merged;
}

/// The explanation of one recommended thread, from the model's contributions.
fn explanation(
    bundle: &Bundle,
    history: &MemberHistory,
    model: &Model,
    item: &Recommendation,
    fresh: &[FreshThread],
) -> Explanation {
    let item_tags: Vec<String> = match bundle.items.get(item.post_id) {
        Some(index) => bundle.item_tags[index as usize].clone(),
        None => fresh
            .iter()
            .find(|thread| thread.id == item.post_id)
            .map(|thread| thread.tags.clone())
            .unwrap_or_default(),
    };
    let contributions = match (item.source, bundle.items.get(item.post_id)) {
        (Source::Model, Some(index)) => model.explain(history.index, history.row(), index, 3),
        (Source::Fresh, _) => match bundle.model(ModelKind::Content) {
            Some(Model::Content(content)) => {
                let fresh_vector = fresh
                    .iter()
                    .find(|thread| thread.id == item.post_id)
                    .and_then(|thread| thread.vector.clone());
                let mut list: Vec<Scored> = fresh_vector
                    .map(|vector| {
                        history
                            .items
                            .iter()
                            .filter_map(|&mine| {
                                content.vector(mine).map(|mine_vector| Scored {
                                    item: mine,
                                    score: mine_vector
                                        .iter()
                                        .zip(&vector)
                                        .map(|(a, b)| a * b)
                                        .sum(),
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                list.sort_by(|a, b| b.score.total_cmp(&a.score));
                list.truncate(3);
                list
            }
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    let total: f32 = contributions
        .iter()
        .map(|scored| scored.score.max(0.0))
        .sum();
    let because: Vec<Because> = contributions
        .iter()
        .filter(|scored| scored.score > 0.0)
        .map(|scored| Because {
            post_id: bundle.items.id(scored.item),
            did: history
                .acts
                .get(&scored.item)
                .map_or("touched", |kind| verb(*kind)),
            share: if total > 0.0 {
                scored.score / total
            } else {
                0.0
            },
        })
        .collect();
    let mine: HashSet<&str> = history.tags.iter().map(String::as_str).collect();
    let shared_tags: Vec<String> = item_tags
        .iter()
        .filter(|tag| mine.contains(tag.as_str()))
        .cloned()
        .collect();
    Explanation {
        text: sentence(bundle, history, item.source, &because, &shared_tags),
        because,
        shared_tags,
    }
}

/// "because you answered 3 questions on tokio and favorited #1234".
fn sentence(
    bundle: &Bundle,
    history: &MemberHistory,
    source: Source,
    because: &[Because],
    shared_tags: &[String],
) -> String {
    let mut parts = Vec::new();
    if let Some(tag) = shared_tags.first() {
        // What the member did most on threads with this tag.
        let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
        for (&item, kind) in &history.acts {
            if bundle.item_tags[item as usize]
                .iter()
                .any(|item_tag| item_tag == tag)
            {
                *counts.entry(verb(*kind)).or_default() += 1;
            }
        }
        if let Some((did, count)) = counts
            .into_iter()
            .max_by_key(|(did, count)| (*count, std::cmp::Reverse(*did)))
        {
            let noun = if count == 1 { "thread" } else { "threads" };
            parts.push(format!("you {did} {count} {noun} on {tag}"));
        } else {
            parts.push(format!("you follow {tag}"));
        }
    }
    if let Some(top) = because.first() {
        parts.push(format!("{} #{}", top.did, top.post_id.0));
    }
    match (source, parts.is_empty()) {
        (Source::Popular, true) => "popular in the community".to_string(),
        (Source::Popular, false) => format!("popular, and {}", parts.join(" and ")),
        (Source::Fresh, true) => "new, and close to what you read".to_string(),
        (_, true) => "close to members with a history like yours".to_string(),
        (Source::Fresh, false) => format!("new, and because {}", parts.join(" and ")),
        (Source::Model, false) => format!("because {}", parts.join(" and ")),
    }
}
