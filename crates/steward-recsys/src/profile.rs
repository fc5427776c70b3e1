//! A member as the recommender sees them: what they care about (tag
//! affinities from everything they did), what they know (expertise per tag
//! from their answers), and how they take part (activity, rhythm, how much
//! they answer against how much they ask).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{Datelike, Timelike};
use serde::Serialize;
use steward_domain::{EventKind, EventTarget, PostId, PostKind, Timestamp, UserId};
use steward_store::{PostMeta, Store, StoredEvent};

use crate::dataset::{ActKind, Community, InteractionWeights, act_weight};
use crate::error::Result;

/// Most events and posts of one member read for a profile or a fold-in.
pub const MEMBER_HISTORY_LIMIT: u32 = 10_000;
/// Tags listed per section.
const TOP_TAGS: usize = 20;

/// Interest in a tag: the decayed weight of the member's acts on its threads,
/// as a share of all of them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TagAffinity {
    pub tag: String,
    pub share: f64,
    /// The member follows the tag.
    pub followed: bool,
}

/// What a member's answers say they know about a tag.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TagExpertise {
    pub tag: String,
    pub answers: u32,
    pub accepted: u32,
    /// Sum of the answers' scores.
    pub score: i64,
    /// `ln(1 + answers + 2 * accepted) + ln(1 + positive score)`: more answers,
    /// accepted ones and well-received ones all count, each with diminishing returns.
    pub expertise: f64,
}

/// How and when a member takes part.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Activity {
    pub acts: usize,
    pub questions: u32,
    pub answers: u32,
    pub accepted_answers: u32,
    /// Answers per question asked; null for a member who never asked.
    pub answer_ask_ratio: Option<f64>,
    pub first_at: Option<Timestamp>,
    pub last_at: Option<Timestamp>,
    /// Distinct days with at least one act.
    pub active_days: usize,
    pub acts_last_30_days: usize,
    /// Acts per hour of the day (UTC), 0 to 23.
    pub hours: [u32; 24],
    /// Acts per weekday, Monday first.
    pub weekdays: [u32; 7],
}

/// The profile `GET /api/v1/users/{id}/profile` shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserProfile {
    pub user_id: UserId,
    pub tags: Vec<TagAffinity>,
    pub expertise: Vec<TagExpertise>,
    pub activity: Activity,
    /// Threads with a stored embedding among those the member touched: their
    /// mean is the member's embedding centroid (the content model's query).
    pub centroid_threads: usize,
}

/// One member's part of the community: their acts (and the threads and
/// answers those touch), read from the store without loading everyone.
pub async fn member_community(store: &Store, user: UserId) -> Result<Community> {
    let events = store.user_events(user, MEMBER_HISTORY_LIMIT).await?;
    let owned = store.posts_by_owner(user, MEMBER_HISTORY_LIMIT).await?;
    let mut wanted: HashSet<PostId> = events
        .iter()
        .filter_map(|stored| match stored.event.target {
            EventTarget::Post(post) => Some(post),
            _ => None,
        })
        .collect();
    wanted.extend(owned.iter().filter_map(|post| post.parent_id));
    wanted.retain(|id| !owned.iter().any(|post| post.id == *id));
    let mut posts = owned;
    let targets = store
        .post_meta_by_ids(&wanted.iter().copied().collect::<Vec<_>>())
        .await?;
    // Answers the member acted on lead to their questions.
    let parents: Vec<PostId> = targets
        .iter()
        .filter(|post| post.kind == PostKind::Answer)
        .filter_map(|post| post.parent_id)
        .filter(|id| !wanted.contains(id) && !posts.iter().any(|post| post.id == *id))
        .collect();
    posts.extend(targets);
    posts.extend(store.post_meta_by_ids(&parents).await?);
    posts.sort_by_key(|post| post.id);
    posts.dedup_by_key(|post| post.id);
    Ok(member_view(posts, &events, user))
}

/// A community built from rows that only keeps `user`'s own acts and answers.
fn member_view(posts: Vec<PostMeta>, events: &[StoredEvent], user: UserId) -> Community {
    let mut community = Community::from_parts(posts, events);
    community.acts.retain(|act| act.user == user);
    community.answers.retain(|answer| answer.owner == user);
    community.followed_tags.retain(|member, _| *member == user);
    community
}

/// The profile of `user` from their part of the community.
pub fn profile(
    community: &Community,
    user: UserId,
    weights: &InteractionWeights,
    now: Timestamp,
    threads_with_vectors: &HashSet<PostId>,
) -> UserProfile {
    let followed: Vec<String> = community
        .followed_tags
        .get(&user)
        .cloned()
        .unwrap_or_default();
    let mut affinity: HashMap<&str, f64> = HashMap::new();
    let mut total = 0.0;
    let mut hours = [0_u32; 24];
    let mut weekdays = [0_u32; 7];
    let mut days = HashSet::new();
    let mut touched = HashSet::new();
    let acts: Vec<_> = community
        .acts
        .iter()
        .filter(|act| act.user == user)
        .collect();
    for act in &acts {
        hours[act.at.hour() as usize] += 1;
        weekdays[act.at.weekday().num_days_from_monday() as usize] += 1;
        days.insert(act.at.date_naive());
        let Some(weight) = act_weight(weights, act) else {
            continue;
        };
        touched.insert(act.thread);
        let age_days = (now - act.at).num_seconds() as f64 / 86_400.0;
        let weight = f64::from(weight * weights.decay(age_days));
        if let Some(thread) = community.thread(act.thread) {
            for tag in &thread.tags {
                *affinity.entry(tag.as_str()).or_default() += weight;
                total += weight;
            }
        }
    }
    for tag in &followed {
        affinity.entry(tag.as_str()).or_default();
    }
    let mut tags: Vec<TagAffinity> = affinity
        .into_iter()
        .map(|(tag, weight)| TagAffinity {
            tag: tag.to_string(),
            share: if total > 0.0 { weight / total } else { 0.0 },
            followed: followed.iter().any(|followed| followed == tag),
        })
        .collect();
    tags.sort_by(|a, b| {
        b.followed
            .cmp(&a.followed)
            .then(b.share.total_cmp(&a.share))
            .then_with(|| a.tag.cmp(&b.tag))
    });
    tags.truncate(TOP_TAGS);

    let mut per_tag: BTreeMap<&str, (u32, u32, i64)> = BTreeMap::new();
    let answers: Vec<_> = community
        .answers
        .iter()
        .filter(|answer| answer.owner == user)
        .collect();
    for answer in &answers {
        if let Some(thread) = community.thread(answer.question) {
            for tag in &thread.tags {
                let entry = per_tag.entry(tag.as_str()).or_default();
                entry.0 += 1;
                entry.1 += u32::from(answer.accepted);
                entry.2 += answer.score;
            }
        }
    }
    let mut expertise: Vec<TagExpertise> = per_tag
        .into_iter()
        .map(|(tag, (answers, accepted, score))| TagExpertise {
            tag: tag.to_string(),
            answers,
            accepted,
            score,
            expertise: f64::from(answers + 2 * accepted).ln_1p() + (score.max(0) as f64).ln_1p(),
        })
        .collect();
    expertise.sort_by(|a, b| {
        b.expertise
            .total_cmp(&a.expertise)
            .then_with(|| a.tag.cmp(&b.tag))
    });
    expertise.truncate(TOP_TAGS);

    let questions = acts.iter().filter(|act| act.kind == ActKind::Ask).count() as u32;
    let answer_count = answers.len() as u32;
    let month_ago = now - chrono::Duration::days(30);
    UserProfile {
        user_id: user,
        tags,
        expertise,
        activity: Activity {
            acts: acts.len(),
            questions,
            answers: answer_count,
            accepted_answers: answers.iter().filter(|answer| answer.accepted).count() as u32,
            answer_ask_ratio: (questions > 0)
                .then(|| f64::from(answer_count) / f64::from(questions)),
            first_at: acts.first().map(|act| act.at),
            last_at: acts.last().map(|act| act.at),
            active_days: days.len(),
            acts_last_30_days: acts.iter().filter(|act| act.at >= month_ago).count(),
            hours,
            weekdays,
        },
        centroid_threads: touched.intersection(threads_with_vectors).count(),
    }
}

/// Whether an act kind is one the member chose (for explanations: "you
/// answered", "you favorited").
pub fn verb(kind: ActKind) -> &'static str {
    match kind {
        ActKind::Ask => "asked",
        ActKind::Event(EventKind::Answer) => "answered",
        ActKind::Event(EventKind::Accept) => "accepted an answer in",
        ActKind::Event(EventKind::Favorite) => "favorited",
        ActKind::Event(EventKind::Comment) => "commented on",
        ActKind::Event(EventKind::UpVote) => "up-voted",
        ActKind::Event(EventKind::View) => "viewed",
        ActKind::Event(EventKind::Edit) => "edited",
        ActKind::Event(EventKind::Follow) => "followed",
        ActKind::Event(EventKind::DownVote) => "down-voted",
        ActKind::Event(EventKind::NotInterested) => "dismissed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use steward_domain::Event;
    use steward_testkit::fixtures::at;

    fn meta(id: i64, kind: PostKind, parent: Option<i64>, owner: i64, tags: &[&str]) -> PostMeta {
        PostMeta {
            id: PostId(id),
            kind,
            parent_id: parent.map(PostId),
            accepted_answer_id: (id == 1).then_some(PostId(2)),
            owner_id: Some(UserId(owner)),
            tags: tags.iter().map(|tag| tag.to_string()).collect(),
            score: 3,
            answer_count: 1,
            created_at: at(1_700_000_000_000 + id * 3_600_000),
            closed_at: None,
        }
    }

    #[test]
    fn answers_make_expertise_and_all_acts_make_affinity() {
        let posts = vec![
            meta(1, PostKind::Question, None, 9, &["rust", "tokio"]),
            meta(2, PostKind::Answer, Some(1), 5, &[]),
            meta(3, PostKind::Question, None, 5, &["go"]),
        ];
        let events = vec![StoredEvent {
            id: 1,
            event: Event {
                key: "f".into(),
                user_id: UserId(5),
                kind: EventKind::Follow,
                target: EventTarget::Tag("wasm".into()),
                at: at(1_700_000_000_000),
                weight: 3.0,
            },
        }];
        let community = member_view(posts, &events, UserId(5));
        let weights = InteractionWeights::default();
        let profile = profile(
            &community,
            UserId(5),
            &weights,
            at(1_700_100_000_000),
            &HashSet::new(),
        );
        assert_eq!(profile.activity.questions, 1);
        assert_eq!(profile.activity.answers, 1);
        assert_eq!(profile.activity.accepted_answers, 1);
        assert_eq!(profile.activity.answer_ask_ratio, Some(1.0));
        assert_eq!(profile.tags[0].tag, "wasm", "a followed tag comes first");
        assert!(profile.tags[0].followed);
        let rust = profile
            .expertise
            .iter()
            .find(|tag| tag.tag == "rust")
            .expect("rust");
        assert_eq!((rust.answers, rust.accepted, rust.score), (1, 1, 3));
        assert!(
            profile.expertise.iter().all(|tag| tag.tag != "go"),
            "asking is not expertise"
        );
        let shares: f64 = profile.tags.iter().map(|tag| tag.share).sum();
        assert!((shares - 1.0).abs() < 1e-9, "{shares}");
    }
}
