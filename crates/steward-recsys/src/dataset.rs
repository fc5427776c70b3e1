//! From a community to the interaction matrix: which member touched which
//! thread, how strongly (a weight per kind of act, decayed with age), and
//! what they said they do not want (never recommended back).
//!
//! The item is a thread: an answer, a comment or a vote on an answer counts
//! for the question it belongs to, because the question is what gets
//! recommended.

use std::collections::HashMap;
use std::hash::Hash;

use serde::{Deserialize, Serialize};
use steward_domain::{EventKind, EventTarget, PostId, PostKind, Timestamp, UserId};
use steward_jobs::{JobHandle, Unit};
use steward_store::{PostMeta, Store, StoredEvent};

use crate::error::{Error, Result};
use crate::matrix::{Interactions, Row};

/// Rows read per store call while loading a community.
const PAGE: u32 = 5_000;

/// Dense indices for the ids of one side of the matrix, in first-seen order.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(
    serialize = "Id: Serialize",
    deserialize = "Id: Deserialize<'de> + Eq + Hash"
))]
pub struct IdMap<Id: Eq + Hash> {
    ids: Vec<Id>,
    #[serde(skip)]
    index: HashMap<Id, u32>,
}

impl<Id: Eq + Hash> Default for IdMap<Id> {
    fn default() -> IdMap<Id> {
        IdMap {
            ids: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<Id: Copy + Eq + Hash> IdMap<Id> {
    pub fn from_ids(ids: Vec<Id>) -> IdMap<Id> {
        let index = ids
            .iter()
            .enumerate()
            .map(|(position, id)| (*id, position as u32))
            .collect();
        IdMap { ids, index }
    }

    /// The index of `id`, added at the end when it is new.
    pub fn insert(&mut self, id: Id) -> u32 {
        if let Some(&position) = self.index.get(&id) {
            return position;
        }
        let position = self.ids.len() as u32;
        self.ids.push(id);
        self.index.insert(id, position);
        position
    }

    pub fn get(&self, id: Id) -> Option<u32> {
        self.index.get(&id).copied()
    }

    pub fn id(&self, position: u32) -> Id {
        self.ids[position as usize]
    }

    pub fn ids(&self) -> &[Id] {
        &self.ids
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Rebuilds the lookup after deserialization (it is not stored).
    pub fn reindex(&mut self) {
        self.index = self
            .ids
            .iter()
            .enumerate()
            .map(|(position, id)| (*id, position as u32))
            .collect();
    }
}

/// How much each kind of act says about a member's interest in a thread.
/// `ask` is writing the question; the event kinds are as the intake names
/// them. Negative acts (`down_vote` on the thread itself, `not_interested`)
/// are not weights: they exclude the thread for that member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InteractionWeights {
    pub ask: f32,
    pub answer: f32,
    pub accept: f32,
    pub favorite: f32,
    pub comment: f32,
    pub up_vote: f32,
    pub view: f32,
    pub edit: f32,
    pub follow: f32,
    /// Days after which an interaction counts half; 0 turns decay off.
    pub half_life_days: f64,
}

impl Default for InteractionWeights {
    fn default() -> InteractionWeights {
        InteractionWeights {
            ask: 4.0,
            answer: 5.0,
            accept: 4.0,
            favorite: 3.0,
            comment: 2.0,
            up_vote: 2.0,
            view: 1.0,
            edit: 2.0,
            follow: 3.0,
            half_life_days: 365.0,
        }
    }
}

impl InteractionWeights {
    /// The weight of a positive act, `None` for a negative one.
    fn of(&self, kind: EventKind) -> Option<f32> {
        Some(match kind {
            EventKind::Answer => self.answer,
            EventKind::Accept => self.accept,
            EventKind::Favorite => self.favorite,
            EventKind::Comment => self.comment,
            EventKind::UpVote => self.up_vote,
            EventKind::View => self.view,
            EventKind::Edit => self.edit,
            EventKind::Follow => self.follow,
            EventKind::DownVote | EventKind::NotInterested => return None,
        })
    }

    /// The factor an interaction `age_days` old is multiplied by.
    pub fn decay(&self, age_days: f64) -> f32 {
        if self.half_life_days <= 0.0 {
            return 1.0;
        }
        (0.5_f64).powf(age_days.max(0.0) / self.half_life_days) as f32
    }
}

/// A thread (question or article): what is recommended.
#[derive(Debug, Clone, PartialEq)]
pub struct Thread {
    pub id: PostId,
    pub owner: Option<UserId>,
    pub tags: Vec<String>,
    pub created_at: Timestamp,
    pub score: i64,
    pub answer_count: i64,
    pub accepted_answer: Option<PostId>,
    pub closed: bool,
}

/// An answer, for expertise: who answered what, how well.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub id: PostId,
    pub question: PostId,
    pub owner: UserId,
    pub score: i64,
    pub accepted: bool,
    pub created_at: Timestamp,
}

/// What a member did to which thread, as read from the store: the raw
/// material of the matrix, the profiles and expert routing.
#[derive(Debug, Clone, PartialEq)]
pub struct Act {
    pub user: UserId,
    pub thread: PostId,
    pub kind: ActKind,
    pub at: Timestamp,
    /// The event's own weight when it came from an event (a client may set it).
    pub weight: Option<f32>,
}

/// `Ask` and `Answer` come from authorship; the rest from events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActKind {
    Ask,
    Event(EventKind),
}

impl ActKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActKind::Ask => "ask",
            ActKind::Event(kind) => kind.as_str(),
        }
    }
}

/// A community as the recommender sees it: threads, answers and acts, read
/// in one pass with the feed position they reflect.
#[derive(Debug, Clone, Default)]
pub struct Community {
    pub threads: Vec<Thread>,
    pub answers: Vec<Answer>,
    pub acts: Vec<Act>,
    /// Tags a member follows (`follow` events on a tag).
    pub followed_tags: HashMap<UserId, Vec<String>>,
    /// The change-feed seq read before the first row: everything up to it is in.
    pub feed_seq: i64,
    /// The largest `events.id` read.
    pub last_event_id: i64,
    thread_index: HashMap<PostId, usize>,
    answer_thread: HashMap<PostId, PostId>,
}

impl Community {
    /// Reads every thread, answer and event, reporting progress to `job`.
    pub async fn load(store: &Store, job: &JobHandle) -> Result<Community> {
        let feed_seq = store.latest_change_seq().await?;
        let mut posts = Vec::new();
        job.set_phase("reading posts", None, Unit::Items);
        let mut after = None;
        loop {
            let page = store.post_meta_after(after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            job.advance(page.len() as u64);
            posts.extend(page);
            if job.is_cancelled() {
                return Err(Error::Cancelled);
            }
        }
        let mut events = Vec::new();
        job.set_phase("reading events", None, Unit::Items);
        let mut after_event = 0;
        loop {
            let page = store.events_after(after_event, PAGE).await?;
            let Some(last) = page.last() else { break };
            after_event = last.id;
            job.advance(page.len() as u64);
            events.extend(page);
            if job.is_cancelled() {
                return Err(Error::Cancelled);
            }
        }
        let mut community = Community::from_parts(posts, &events);
        community.feed_seq = feed_seq;
        Ok(community)
    }

    /// Builds the community from rows already read (tests, evaluations).
    pub fn from_parts(posts: Vec<PostMeta>, events: &[StoredEvent]) -> Community {
        let mut community = Community::default();
        for post in &posts {
            if matches!(post.kind, PostKind::Question | PostKind::Article) {
                community
                    .thread_index
                    .insert(post.id, community.threads.len());
                community.threads.push(Thread {
                    id: post.id,
                    owner: post.owner_id,
                    tags: post.tags.clone(),
                    created_at: post.created_at,
                    score: post.score,
                    answer_count: post.answer_count,
                    accepted_answer: post.accepted_answer_id,
                    closed: post.closed_at.is_some(),
                });
            }
        }
        for post in &posts {
            if post.kind != PostKind::Answer {
                continue;
            }
            let Some(question) = post
                .parent_id
                .filter(|id| community.thread_index.contains_key(id))
            else {
                continue;
            };
            community.answer_thread.insert(post.id, question);
            let accepted = community.threads[community.thread_index[&question]].accepted_answer
                == Some(post.id);
            if let Some(owner) = post.owner_id {
                community.answers.push(Answer {
                    id: post.id,
                    question,
                    owner,
                    score: post.score,
                    accepted,
                    created_at: post.created_at,
                });
            }
        }
        // Authorship is an act of its own; an `answer` event for an answer we
        // hold as a post would count it twice.
        let mut authored = std::collections::HashSet::new();
        for thread in &community.threads {
            if let Some(owner) = thread.owner {
                community.acts.push(Act {
                    user: owner,
                    thread: thread.id,
                    kind: ActKind::Ask,
                    at: thread.created_at,
                    weight: None,
                });
            }
        }
        for answer in &community.answers {
            authored.insert((answer.owner, answer.question));
            community.acts.push(Act {
                user: answer.owner,
                thread: answer.question,
                kind: ActKind::Event(EventKind::Answer),
                at: answer.created_at,
                weight: None,
            });
        }
        for stored in events {
            community.last_event_id = community.last_event_id.max(stored.id);
            let event = &stored.event;
            match &event.target {
                EventTarget::Tag(tag) if event.kind == EventKind::Follow => {
                    let tags = community.followed_tags.entry(event.user_id).or_default();
                    if !tags.contains(tag) {
                        tags.push(tag.clone());
                    }
                }
                EventTarget::Post(post) => {
                    let Some(thread) = community.thread_of(*post) else {
                        continue;
                    };
                    if event.kind == EventKind::Answer
                        && authored.contains(&(event.user_id, thread))
                    {
                        continue;
                    }
                    // A down vote on an answer says nothing against its question.
                    if event.kind == EventKind::DownVote && *post != thread {
                        continue;
                    }
                    community.acts.push(Act {
                        user: event.user_id,
                        thread,
                        kind: ActKind::Event(event.kind),
                        at: event.at,
                        weight: Some(event.weight as f32),
                    });
                }
                EventTarget::Tag(_) | EventTarget::User(_) => {}
            }
        }
        community.acts.sort_by_key(|act| act.at);
        community
    }

    /// The thread a post belongs to (itself for a thread).
    pub fn thread_of(&self, post: PostId) -> Option<PostId> {
        if self.thread_index.contains_key(&post) {
            Some(post)
        } else {
            self.answer_thread.get(&post).copied()
        }
    }

    pub fn thread(&self, id: PostId) -> Option<&Thread> {
        self.thread_index
            .get(&id)
            .map(|&position| &self.threads[position])
    }
}

/// What `build` is asked for.
#[derive(Debug, Clone)]
pub struct DatasetOptions {
    pub weights: InteractionWeights,
    /// Decay is measured back from here.
    pub now: Timestamp,
    /// Only acts strictly before this time (a time split's training side).
    pub until: Option<Timestamp>,
    /// Which threads are items: all of them (`All`: an evaluation's
    /// catalogue, where threads posted after the split are cold items only
    /// content can rank), or those created before `until` (`Known`).
    pub catalogue: Catalogue,
}

/// See [`DatasetOptions::catalogue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Catalogue {
    All,
    Known,
}

/// The matrix and everything needed to serve from it.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub users: IdMap<UserId>,
    pub items: IdMap<PostId>,
    pub interactions: Interactions,
    /// Per user, sorted item indices never to recommend (negative feedback).
    pub negatives: Vec<Vec<u32>>,
}

impl Dataset {
    /// Users and items are every member who acted and every thread that
    /// existed (before `until`), in first-seen order.
    pub fn build(community: &Community, options: &DatasetOptions) -> Dataset {
        let mut items = IdMap::default();
        for thread in &community.threads {
            let known = options.until.is_none_or(|until| thread.created_at < until);
            if known || options.catalogue == Catalogue::All {
                items.insert(thread.id);
            }
        }
        let mut users = IdMap::default();
        let mut triplets = Vec::new();
        let mut negative_pairs = Vec::new();
        for act in &community.acts {
            if options.until.is_some_and(|until| act.at >= until) {
                continue;
            }
            let Some(item) = items.get(act.thread) else {
                continue;
            };
            let user = users.insert(act.user);
            match act_weight(&options.weights, act) {
                Some(weight) => {
                    let age_days = (options.now - act.at).num_seconds() as f64 / 86_400.0;
                    triplets.push((user, item, weight * options.weights.decay(age_days)));
                }
                None => negative_pairs.push((user, item)),
            }
        }
        let mut negatives = vec![Vec::new(); users.len()];
        for (user, item) in negative_pairs {
            negatives[user as usize].push(item);
        }
        for list in &mut negatives {
            list.sort_unstable();
            list.dedup();
        }
        let interactions = Interactions::from_triplets(users.len(), items.len(), triplets);
        Dataset {
            users,
            items,
            interactions,
            negatives,
        }
    }

    /// What a user's recommendations must leave out: their history and their
    /// negatives, sorted.
    pub fn exclusions(&self, user: u32, history: Row<'_>) -> Vec<u32> {
        let mut exclude = history.indices.to_vec();
        if let Some(negatives) = self.negatives.get(user as usize) {
            exclude.extend_from_slice(negatives);
        }
        exclude.sort_unstable();
        exclude.dedup();
        exclude
    }
}

/// The positive weight of an act, `None` when it is negative feedback.
pub fn act_weight(weights: &InteractionWeights, act: &Act) -> Option<f32> {
    match act.kind {
        ActKind::Ask => Some(weights.ask),
        ActKind::Event(kind) => {
            let configured = weights.of(kind)?;
            // A client-chosen weight that differs from the kind's default is
            // the client's own scale; a negative one is negative feedback.
            match act.weight {
                Some(weight) if weight < 0.0 => None,
                Some(weight) if (f64::from(weight) - kind.default_weight()).abs() > 1e-6 => {
                    Some(weight)
                }
                _ => Some(configured),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use steward_domain::Event;
    use steward_testkit::fixtures::at;

    fn meta(id: i64, kind: PostKind, parent: Option<i64>, owner: i64, millis: i64) -> PostMeta {
        PostMeta {
            id: PostId(id),
            kind,
            parent_id: parent.map(PostId),
            accepted_answer_id: None,
            owner_id: Some(UserId(owner)),
            tags: vec!["rust".into()],
            score: 0,
            answer_count: 0,
            created_at: at(millis),
            closed_at: None,
        }
    }

    fn stored(
        id: i64,
        user: i64,
        kind: EventKind,
        target: EventTarget,
        millis: i64,
    ) -> StoredEvent {
        StoredEvent {
            id,
            event: Event {
                key: format!("k{id}"),
                user_id: UserId(user),
                kind,
                target,
                at: at(millis),
                weight: kind.default_weight(),
            },
        }
    }

    fn community() -> Community {
        let posts = vec![
            meta(1, PostKind::Question, None, 1, 1_000),
            meta(2, PostKind::Answer, Some(1), 2, 2_000),
            meta(3, PostKind::Question, None, 1, 3_000),
            meta(4, PostKind::Question, None, 3, 10_000),
        ];
        let events = vec![
            // The SE importer's answer event for post 2: counted once.
            stored(1, 2, EventKind::Answer, EventTarget::Post(PostId(1)), 2_000),
            stored(
                2,
                3,
                EventKind::Favorite,
                EventTarget::Post(PostId(2)),
                4_000,
            ),
            stored(
                3,
                3,
                EventKind::NotInterested,
                EventTarget::Post(PostId(3)),
                5_000,
            ),
            stored(
                4,
                2,
                EventKind::DownVote,
                EventTarget::Post(PostId(2)),
                6_000,
            ),
            stored(
                5,
                2,
                EventKind::Follow,
                EventTarget::Tag("tokio".into()),
                7_000,
            ),
        ];
        Community::from_parts(posts, &events)
    }

    #[test]
    fn acts_land_on_threads_and_authorship_is_not_counted_twice() {
        let community = community();
        let answers: Vec<_> = community
            .acts
            .iter()
            .filter(|act| act.kind == ActKind::Event(EventKind::Answer))
            .collect();
        assert_eq!(answers.len(), 1);
        let favorite = community
            .acts
            .iter()
            .find(|act| act.kind == ActKind::Event(EventKind::Favorite))
            .expect("favorite kept");
        assert_eq!(
            favorite.thread,
            PostId(1),
            "a favorite on an answer counts for its question"
        );
        assert!(
            !community
                .acts
                .iter()
                .any(|act| act.kind == ActKind::Event(EventKind::DownVote)),
            "a down vote on an answer says nothing against the question"
        );
        assert_eq!(community.followed_tags[&UserId(2)], ["tokio"]);
    }

    #[test]
    fn negatives_are_kept_apart_and_until_cuts_acts_and_items() {
        let community = community();
        let options = DatasetOptions {
            weights: InteractionWeights {
                half_life_days: 0.0,
                ..InteractionWeights::default()
            },
            now: at(20_000),
            until: None,
            catalogue: Catalogue::Known,
        };
        let dataset = Dataset::build(&community, &options);
        let user3 = dataset.users.get(UserId(3)).expect("user 3 acted");
        let thread3 = dataset.items.get(PostId(3)).expect("thread 3");
        assert_eq!(dataset.negatives[user3 as usize], [thread3]);
        let row = dataset.interactions.user(user3);
        assert!(!row.indices.contains(&thread3));
        let exclude = dataset.exclusions(user3, row);
        assert!(exclude.contains(&thread3));

        let cut = Dataset::build(
            &community,
            &DatasetOptions {
                until: Some(at(4_500)),
                ..options.clone()
            },
        );
        assert_eq!(cut.items.len(), 2, "thread 4 is created after the cut");
        assert!(
            cut.users.get(UserId(3)).is_some(),
            "the favorite at 4000 is in"
        );
        assert!(
            cut.negatives.iter().all(Vec::is_empty),
            "the not-interested at 5000 is out"
        );
    }

    #[test]
    fn decay_halves_at_the_half_life() {
        let weights = InteractionWeights {
            half_life_days: 10.0,
            ..InteractionWeights::default()
        };
        assert!((weights.decay(10.0) - 0.5).abs() < 1e-6);
        assert!((weights.decay(0.0) - 1.0).abs() < 1e-6);
        let off = InteractionWeights {
            half_life_days: 0.0,
            ..weights
        };
        assert_eq!(off.decay(1_000.0), 1.0);
    }
}
