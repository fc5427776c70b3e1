//! Expert routing: who is most likely to answer this question well. Each
//! member who has answered is described by a few features against the
//! question (tag expertise, how close their past answers' threads are to it,
//! how recently and how much they answer), and a logistic model learned on
//! the community's own history turns them into a probability. A member
//! already carrying more than their share of answers this week is ranked
//! down, so the same few experts are not flooded.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use steward_domain::{PostId, Timestamp, UserId};

use crate::dataset::{Community, IdMap, Thread};

/// Members scored per question when the community has more answerers than
/// this: the ones who answered in the question's tags, the closest by
/// embedding and the most active recently.
const SCORE_ALL_BELOW: usize = 5_000;
const FEATURES: usize = 8;
const FEATURE_NAMES: [&str; FEATURES] = [
    "tag_expertise",
    "tag_focus",
    "answer_similarity",
    "recency",
    "activity",
    "accept_rate",
    "recent_activity",
    "recent_tag_activity",
];
/// Days over which an answer's weight in the recent-activity features halves… roughly: `exp(-age / τ)`.
const RECENT_ACTIVITY_DAYS: f64 = 14.0;
const RECENT_TAG_DAYS: f64 = 30.0;

/// Unit-length embedding vectors of threads (their question), by thread id.
pub type ThreadVectors = HashMap<PostId, Vec<f32>>;

/// How routing is tuned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingOptions {
    /// Answers in the last 7 days above which a member is ranked down
    /// (their probability divided by 1 + excess / cap); 0 turns it off.
    pub weekly_answer_cap: u32,
    /// L2 regularisation of the learned model.
    pub regularization: f64,
}

impl Default for RoutingOptions {
    fn default() -> RoutingOptions {
        RoutingOptions {
            weekly_answer_cap: 10,
            regularization: 1.0,
        }
    }
}

/// A question to route.
#[derive(Debug, Clone)]
pub struct QuestionToRoute<'a> {
    pub tags: &'a [String],
    /// Its embedding (unit length), when one is stored.
    pub vector: Option<&'a [f32]>,
    pub asker: Option<UserId>,
    pub at: Timestamp,
    /// Members never to propose (those who already answered it).
    pub exclude: &'a [UserId],
}

impl<'a> QuestionToRoute<'a> {
    /// A thread of the community as it was asked: its tags, vector, asker and time.
    pub fn of(thread: &'a Thread, vectors: Option<&'a ThreadVectors>) -> QuestionToRoute<'a> {
        QuestionToRoute {
            tags: &thread.tags,
            vector: vectors
                .and_then(|vectors| vectors.get(&thread.id))
                .map(Vec::as_slice),
            asker: thread.owner,
            at: thread.created_at,
            exclude: &[],
        }
    }
}

/// One proposed member, with the evidence behind the rank.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Expert {
    pub user_id: UserId,
    /// Learned probability that this member answers, after the load penalty.
    pub probability: f64,
    /// Answers in the question's tags before now, and how many were accepted.
    pub tag_answers: u32,
    pub tag_accepted: u32,
    /// Cosine of the question with the threads the member answered (null without vectors).
    pub answer_similarity: Option<f32>,
    pub answers_last_7_days: u32,
    /// Days since the member's last answer.
    pub days_since_last_answer: Option<f64>,
    /// The tags of the question the member answered most in.
    pub strongest_tags: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct TagStat {
    answers: u32,
    accepted: u32,
    /// Answer times in this tag, oldest first.
    answered_at: Vec<Timestamp>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Member {
    answers: u32,
    accepted: u32,
    /// Answer times, oldest first.
    answered_at: Vec<Timestamp>,
    /// Unit centroid of the answered threads' vectors.
    centroid: Option<Vec<f32>>,
}

/// What routing knows, as of one moment: per member and tag, who answered
/// what, and the learned weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExpertIndex {
    members: IdMap<UserId>,
    stats: Vec<Member>,
    by_tag: HashMap<String, Vec<(u32, TagStat)>>,
    weights: [f64; FEATURES],
    bias: f64,
    mean: [f64; FEATURES],
    scale: [f64; FEATURES],
    options: RoutingOptions,
    /// How many (question, answerer) pairs the weights were learned from.
    pub trained_on: usize,
}

impl ExpertIndex {
    /// Learns from the answers before `until` (all when `None`): statistics
    /// from the first four fifths of that history, the weights from who
    /// answered the questions of the last fifth, then the statistics again
    /// over all of it.
    pub fn build(
        community: &Community,
        vectors: Option<&ThreadVectors>,
        until: Option<Timestamp>,
        options: &RoutingOptions,
    ) -> ExpertIndex {
        let mut questions: Vec<_> = community
            .threads
            .iter()
            .filter(|thread| until.is_none_or(|until| thread.created_at < until))
            .map(|thread| thread.created_at)
            .collect();
        questions.sort();
        let learn_from = questions.get(questions.len() / 2).copied().or(until);
        let mut index = ExpertIndex::statistics(community, vectors, learn_from, options);
        if let Some(learn_from) = learn_from {
            index.learn(community, vectors, learn_from, until);
        }
        let mut full = ExpertIndex::statistics(community, vectors, until, options);
        full.weights = index.weights;
        full.bias = index.bias;
        full.mean = index.mean;
        full.scale = index.scale;
        full.trained_on = index.trained_on;
        full
    }

    fn statistics(
        community: &Community,
        vectors: Option<&ThreadVectors>,
        until: Option<Timestamp>,
        options: &RoutingOptions,
    ) -> ExpertIndex {
        let mut members = IdMap::default();
        let mut stats: Vec<Member> = Vec::new();
        let mut per_tag: HashMap<String, HashMap<u32, TagStat>> = HashMap::new();
        let mut sums: Vec<Option<Vec<f32>>> = Vec::new();
        let mut answers: Vec<_> = community
            .answers
            .iter()
            .filter(|answer| until.is_none_or(|until| answer.created_at < until))
            .collect();
        answers.sort_by_key(|answer| answer.created_at);
        for answer in answers {
            let Some(thread) = community.thread(answer.question) else {
                continue;
            };
            let member = members.insert(answer.owner) as usize;
            if member == stats.len() {
                stats.push(Member {
                    answers: 0,
                    accepted: 0,
                    answered_at: Vec::new(),
                    centroid: None,
                });
                sums.push(None);
            }
            let entry = &mut stats[member];
            entry.answers += 1;
            entry.accepted += u32::from(answer.accepted);
            entry.answered_at.push(answer.created_at);
            for tag in &thread.tags {
                let stat = per_tag
                    .entry(tag.clone())
                    .or_default()
                    .entry(member as u32)
                    .or_default();
                stat.answers += 1;
                stat.accepted += u32::from(answer.accepted);
                stat.answered_at.push(answer.created_at);
            }
            if let Some(vector) = vectors.and_then(|vectors| vectors.get(&thread.id)) {
                let sum = sums[member].get_or_insert_with(|| vec![0.0; vector.len()]);
                if sum.len() == vector.len() {
                    for (total, value) in sum.iter_mut().zip(vector) {
                        *total += value;
                    }
                }
            }
        }
        for (member, sum) in stats.iter_mut().zip(sums) {
            member.centroid = sum.and_then(unit);
        }
        let by_tag = per_tag
            .into_iter()
            .map(|(tag, members)| {
                let mut list: Vec<_> = members.into_iter().collect();
                list.sort_by_key(|(member, _)| *member);
                (tag, list)
            })
            .collect();
        ExpertIndex {
            members,
            stats,
            by_tag,
            // Until learned: a sensible hand prior (expertise and closeness first).
            weights: [1.0, 0.3, 1.0, 0.5, 0.3, 0.2, 0.5, 0.5],
            bias: 0.0,
            mean: [0.0; FEATURES],
            scale: [1.0; FEATURES],
            options: options.clone(),
            trained_on: 0,
        }
    }

    /// Fits the weights on the questions asked in `[from, until)`: their
    /// answerers are positives, the other candidates negatives.
    fn learn(
        &mut self,
        community: &Community,
        vectors: Option<&ThreadVectors>,
        from: Timestamp,
        until: Option<Timestamp>,
    ) {
        let mut answerers: HashMap<PostId, HashSet<UserId>> = HashMap::new();
        for answer in &community.answers {
            if until.is_none_or(|until| answer.created_at < until) {
                answerers
                    .entry(answer.question)
                    .or_default()
                    .insert(answer.owner);
            }
        }
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        for thread in &community.threads {
            if thread.created_at < from || until.is_some_and(|until| thread.created_at >= until) {
                continue;
            }
            let Some(positive) = answerers.get(&thread.id) else {
                continue;
            };
            let question = QuestionToRoute::of(thread, vectors);
            for member in self.candidates(&question) {
                rows.push(self.features(member, &question).0);
                labels.push(positive.contains(&self.members.id(member)));
            }
        }
        if labels.iter().filter(|&&label| label).count() < 5 {
            return;
        }
        self.trained_on = labels.iter().filter(|&&label| label).count();
        for feature in 0..FEATURES {
            let values = rows.iter().map(|row| row[feature]);
            let n = rows.len() as f64;
            let mean = values.clone().sum::<f64>() / n;
            let variance = values.map(|value| (value - mean).powi(2)).sum::<f64>() / n;
            self.mean[feature] = mean;
            self.scale[feature] = if variance > 1e-12 {
                variance.sqrt()
            } else {
                1.0
            };
        }
        let standardized: Vec<[f64; FEATURES]> = rows
            .iter()
            .map(|row| {
                std::array::from_fn(|feature| {
                    (row[feature] - self.mean[feature]) / self.scale[feature]
                })
            })
            .collect();
        // Positives are rare among candidates: weight them up to balance the classes.
        let positives = self.trained_on as f64;
        let negatives = labels.len() as f64 - positives;
        let positive_weight = (negatives / positives.max(1.0)).max(1.0);
        let (weights, bias) = logistic_fit(
            &standardized,
            &labels,
            positive_weight,
            self.options.regularization,
        );
        self.weights = weights;
        self.bias = bias;
    }

    /// Members worth scoring for `question`.
    fn candidates(&self, question: &QuestionToRoute<'_>) -> Vec<u32> {
        let excluded: HashSet<u32> = question
            .exclude
            .iter()
            .chain(question.asker.iter())
            .filter_map(|user| self.members.get(*user))
            .collect();
        let keep = |member: &u32| !excluded.contains(member);
        if self.members.len() <= SCORE_ALL_BELOW {
            return (0..self.members.len() as u32).filter(keep).collect();
        }
        let mut chosen: HashSet<u32> = HashSet::new();
        for tag in question.tags {
            if let Some(list) = self.by_tag.get(tag) {
                chosen.extend(list.iter().map(|(member, _)| *member));
            }
        }
        let mut recent: Vec<(Timestamp, u32)> = self
            .stats
            .iter()
            .enumerate()
            .filter_map(|(member, stat)| stat.answered_at.last().map(|at| (*at, member as u32)))
            .collect();
        recent.sort_unstable_by(|a, b| b.cmp(a));
        chosen.extend(recent.iter().take(500).map(|(_, member)| *member));
        if let Some(vector) = question.vector {
            let mut close: Vec<(f32, u32)> = self
                .stats
                .iter()
                .enumerate()
                .filter_map(|(member, stat)| {
                    stat.centroid
                        .as_ref()
                        .map(|centroid| (dot(centroid, vector), member as u32))
                })
                .collect();
            close.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
            chosen.extend(close.iter().take(500).map(|(_, member)| *member));
        }
        let mut list: Vec<u32> = chosen.into_iter().filter(keep).collect();
        list.sort_unstable();
        list
    }

    fn tag_stat(&self, member: u32, tag: &str) -> Option<&TagStat> {
        self.by_tag.get(tag).and_then(|list| {
            list.binary_search_by_key(&member, |(candidate, _)| *candidate)
                .ok()
                .map(|position| &list[position].1)
        })
    }

    fn tag_answers(&self, member: u32, tag: &str) -> u32 {
        self.tag_stat(member, tag).map_or(0, |stat| stat.answers)
    }

    /// The raw features of `member` for `question`, and the counts shown with it.
    fn features(&self, member: u32, question: &QuestionToRoute<'_>) -> ([f64; FEATURES], Observed) {
        let stat = &self.stats[member as usize];
        let mut tag_answers = 0;
        let mut tag_accepted = 0;
        let mut expertise = 0.0;
        let mut recent_tag = 0.0;
        let age_days = |at: &Timestamp| (question.at - *at).num_seconds() as f64 / 86_400.0;
        for tag in question.tags {
            let Some(tag_stat) = self.tag_stat(member, tag) else {
                continue;
            };
            tag_answers += tag_stat.answers;
            tag_accepted += tag_stat.accepted;
            expertise += f64::from(tag_stat.answers + 2 * tag_stat.accepted).ln_1p();
            recent_tag += tag_stat
                .answered_at
                .iter()
                .filter(|at| **at < question.at)
                .map(|at| (-age_days(at) / RECENT_TAG_DAYS).exp())
                .sum::<f64>();
        }
        let similarity = match (question.vector, &stat.centroid) {
            (Some(vector), Some(centroid)) if vector.len() == centroid.len() => {
                Some(dot(vector, centroid))
            }
            _ => None,
        };
        let before: Vec<&Timestamp> = stat
            .answered_at
            .iter()
            .filter(|at| **at < question.at)
            .collect();
        let last = before
            .last()
            .map(|at| (question.at - **at).num_seconds() as f64 / 86_400.0);
        let week_ago = question.at - chrono::Duration::days(7);
        let recent = before.iter().filter(|at| ***at >= week_ago).count() as u32;
        let recent_activity: f64 = before
            .iter()
            .map(|at| (-age_days(at) / RECENT_ACTIVITY_DAYS).exp())
            .sum();
        let features = [
            expertise,
            f64::from(tag_answers) / f64::from(stat.answers.max(1)),
            f64::from(similarity.unwrap_or(0.0)),
            last.map_or(0.0, |days| (-days / 30.0).exp()),
            f64::from(stat.answers).ln_1p(),
            (f64::from(stat.accepted) + 0.5) / (f64::from(stat.answers) + 2.0),
            recent_activity.ln_1p(),
            recent_tag.ln_1p(),
        ];
        (
            features,
            Observed {
                tag_answers,
                tag_accepted,
                similarity,
                recent,
                days_since_last: last,
            },
        )
    }

    /// The `n` members most likely to answer `question` well, best first.
    pub fn route(&self, question: &QuestionToRoute<'_>, n: usize) -> Vec<Expert> {
        let mut experts: Vec<Expert> = self
            .candidates(question)
            .into_iter()
            .map(|member| self.expert(member, question))
            .collect();
        experts.sort_by(|a, b| {
            b.probability
                .total_cmp(&a.probability)
                .then_with(|| a.user_id.cmp(&b.user_id))
        });
        experts.truncate(n);
        experts
    }

    /// How likely `user` is to answer `question` well; `None` for a member
    /// who has never answered (nothing to go on) or who may not be proposed.
    pub fn score_member(&self, user: UserId, question: &QuestionToRoute<'_>) -> Option<Expert> {
        if question.asker == Some(user) || question.exclude.contains(&user) {
            return None;
        }
        let member = self.members.get(user)?;
        Some(self.expert(member, question))
    }

    fn expert(&self, member: u32, question: &QuestionToRoute<'_>) -> Expert {
        let cap = f64::from(self.options.weekly_answer_cap);
        let (features, observed) = self.features(member, question);
        let mut probability = self.probability(&features);
        if cap > 0.0 && f64::from(observed.recent) > cap {
            probability /= 1.0 + (f64::from(observed.recent) - cap) / cap;
        }
        let mut strongest: Vec<(u32, &String)> = question
            .tags
            .iter()
            .map(|tag| (self.tag_answers(member, tag), tag))
            .filter(|(answers, _)| *answers > 0)
            .collect();
        strongest.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        Expert {
            user_id: self.members.id(member),
            probability,
            tag_answers: observed.tag_answers,
            tag_accepted: observed.tag_accepted,
            answer_similarity: observed.similarity,
            answers_last_7_days: observed.recent,
            days_since_last_answer: observed.days_since_last,
            strongest_tags: strongest.into_iter().map(|(_, tag)| tag.clone()).collect(),
        }
    }

    /// The baseline routing compares against: the members who answered most
    /// in the question's tags (ties: most answers overall).
    pub fn most_active_in_tags(&self, question: &QuestionToRoute<'_>, n: usize) -> Vec<UserId> {
        let mut ranked: Vec<(u32, u32, UserId)> = self
            .candidates(question)
            .into_iter()
            .map(|member| {
                let in_tags: u32 = question
                    .tags
                    .iter()
                    .map(|tag| self.tag_answers(member, tag))
                    .sum();
                (
                    in_tags,
                    self.stats[member as usize].answers,
                    self.members.id(member),
                )
            })
            .collect();
        ranked.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
        ranked
            .into_iter()
            .take(n)
            .map(|(_, _, user)| user)
            .collect()
    }

    fn probability(&self, features: &[f64; FEATURES]) -> f64 {
        let z: f64 = self.bias
            + (0..FEATURES)
                .map(|feature| {
                    self.weights[feature] * (features[feature] - self.mean[feature])
                        / self.scale[feature]
                })
                .sum::<f64>();
        1.0 / (1.0 + (-z).exp())
    }

    /// The learned weight of each feature (on standardized values), by name.
    pub fn weights(&self) -> Vec<(&'static str, f64)> {
        FEATURE_NAMES.iter().copied().zip(self.weights).collect()
    }

    /// The index after deserialization, with its member lookup rebuilt.
    pub fn reindexed(mut self) -> ExpertIndex {
        self.members.reindex();
        self
    }

    /// Members who have answered anything.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

struct Observed {
    tag_answers: u32,
    tag_accepted: u32,
    similarity: Option<f32>,
    recent: u32,
    days_since_last: Option<f64>,
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn unit(mut vector: Vec<f32>) -> Option<Vec<f32>> {
    let norm = dot(&vector, &vector).sqrt();
    if norm <= f32::EPSILON || !norm.is_finite() {
        return None;
    }
    for value in &mut vector {
        *value /= norm;
    }
    Some(vector)
}

/// L2-regularised logistic regression by full-batch gradient descent on
/// standardized features (a few hundred steps converge: the problem is
/// small and convex). Deterministic.
fn logistic_fit(
    rows: &[[f64; FEATURES]],
    labels: &[bool],
    positive_weight: f64,
    regularization: f64,
) -> ([f64; FEATURES], f64) {
    let mut weights = [0.0; FEATURES];
    let mut bias = 0.0;
    let total: f64 = labels
        .iter()
        .map(|&label| if label { positive_weight } else { 1.0 })
        .sum();
    let learning_rate = 0.5;
    for _ in 0..400 {
        let mut gradient = [0.0; FEATURES];
        let mut gradient_bias = 0.0;
        for (row, &label) in rows.iter().zip(labels) {
            let z = bias + row.iter().zip(&weights).map(|(x, w)| x * w).sum::<f64>();
            let predicted = 1.0 / (1.0 + (-z).exp());
            let sample_weight = if label { positive_weight } else { 1.0 };
            let error = sample_weight * (predicted - f64::from(u8::from(label)));
            for (slot, x) in gradient.iter_mut().zip(row) {
                *slot += error * x;
            }
            gradient_bias += error;
        }
        for (weight, slot) in weights.iter_mut().zip(gradient) {
            *weight -= learning_rate * (slot / total + regularization * *weight / total);
        }
        bias -= learning_rate * gradient_bias / total;
    }
    (weights, bias)
}

/// How routing did on questions it had not seen: Recall@10 and MRR of the
/// members who really answered, for the learned router and the baseline.
#[derive(Debug, Clone, Serialize)]
pub struct RoutingReport {
    pub questions: usize,
    #[serde(rename = "recall@10")]
    pub recall_at_10: f64,
    pub mrr: f64,
    #[serde(rename = "baseline_recall@10")]
    pub baseline_recall_at_10: f64,
    pub baseline_mrr: f64,
    /// `recall@10` over `baseline_recall@10`.
    pub recall_ratio: f64,
    /// The learned feature weights (standardized features).
    pub weights: Vec<(String, f64)>,
    /// Answerer pairs the weights were learned from.
    pub trained_on: usize,
}

/// Routes every question asked at or after `split` with what was known
/// before it, and checks the members who answered it.
pub fn evaluate_routing(
    community: &Community,
    vectors: Option<&ThreadVectors>,
    split: Timestamp,
    options: &RoutingOptions,
) -> RoutingReport {
    let index = ExpertIndex::build(community, vectors, Some(split), options);
    let mut answerers: HashMap<PostId, HashSet<UserId>> = HashMap::new();
    for answer in &community.answers {
        answerers
            .entry(answer.question)
            .or_default()
            .insert(answer.owner);
    }
    let (mut questions, mut recall, mut mrr, mut base_recall, mut base_mrr) =
        (0, 0.0, 0.0, 0.0, 0.0);
    for thread in community
        .threads
        .iter()
        .filter(|thread| thread.created_at >= split)
    {
        let Some(actual) = answerers.get(&thread.id) else {
            continue;
        };
        let actual: HashSet<UserId> = actual
            .iter()
            .copied()
            .filter(|user| Some(*user) != thread.owner)
            .collect();
        // Only questions someone known could have answered: a newcomer's
        // answer is out of reach of any router.
        if !actual.iter().any(|user| index.members.get(*user).is_some()) {
            continue;
        }
        questions += 1;
        let question = QuestionToRoute::of(thread, vectors);
        let ours: Vec<UserId> = index
            .route(&question, 10)
            .into_iter()
            .map(|expert| expert.user_id)
            .collect();
        let baseline = index.most_active_in_tags(&question, 10);
        let (r, m) = recall_and_rr(&ours, &actual);
        recall += r;
        mrr += m;
        let (r, m) = recall_and_rr(&baseline, &actual);
        base_recall += r;
        base_mrr += m;
    }
    let n = questions.max(1) as f64;
    let (recall, mrr, base_recall, base_mrr) = (recall / n, mrr / n, base_recall / n, base_mrr / n);
    RoutingReport {
        questions,
        recall_at_10: recall,
        mrr,
        baseline_recall_at_10: base_recall,
        baseline_mrr: base_mrr,
        recall_ratio: if base_recall > 0.0 {
            recall / base_recall
        } else {
            f64::NAN
        },
        weights: index
            .weights()
            .into_iter()
            .map(|(name, weight)| (name.to_string(), weight))
            .collect(),
        trained_on: index.trained_on,
    }
}

fn recall_and_rr(ranked: &[UserId], actual: &HashSet<UserId>) -> (f64, f64) {
    let hits = ranked.iter().filter(|user| actual.contains(user)).count();
    let first = ranked.iter().position(|user| actual.contains(user));
    (
        hits as f64 / actual.len().max(1) as f64,
        first.map_or(0.0, |rank| 1.0 / (rank as f64 + 1.0)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use steward_domain::PostKind;
    use steward_store::PostMeta;
    use steward_testkit::fixtures::at;

    fn meta(
        id: i64,
        kind: PostKind,
        parent: Option<i64>,
        owner: i64,
        tag: &str,
        day: i64,
    ) -> PostMeta {
        PostMeta {
            id: PostId(id),
            kind,
            parent_id: parent.map(PostId),
            accepted_answer_id: None,
            owner_id: Some(UserId(owner)),
            tags: vec![tag.to_string()],
            score: 0,
            answer_count: 0,
            created_at: at(day * 86_400_000),
            closed_at: None,
        }
    }

    /// Members 1..=3 answer `rust`, 4..=6 answer `go`; member 7 answers
    /// everything but is the most active overall.
    fn community() -> Community {
        let mut posts = Vec::new();
        let mut id = 1;
        for day in 0..60 {
            let tag = if day % 2 == 0 { "rust" } else { "go" };
            let question = id;
            posts.push(meta(
                question,
                PostKind::Question,
                None,
                100 + day,
                tag,
                day,
            ));
            id += 1;
            let specialist = if tag == "rust" {
                1 + day % 3
            } else {
                4 + day % 3
            };
            for answerer in [specialist, 7] {
                posts.push(meta(
                    id,
                    PostKind::Answer,
                    Some(question),
                    answerer,
                    tag,
                    day,
                ));
                id += 1;
            }
        }
        Community::from_parts(posts, &[])
    }

    #[test]
    fn specialists_of_the_questions_tag_rank_above_the_other_tags_members() {
        let community = community();
        let index = ExpertIndex::build(&community, None, None, &RoutingOptions::default());
        let tags = vec!["rust".to_string()];
        let question = QuestionToRoute {
            tags: &tags,
            vector: None,
            asker: None,
            at: at(61 * 86_400_000),
            exclude: &[UserId(7)],
        };
        let experts = index.route(&question, 3);
        let users: HashSet<i64> = experts.iter().map(|expert| expert.user_id.0).collect();
        assert_eq!(users, HashSet::from([1, 2, 3]), "{experts:?}");
        assert!(experts.iter().all(|expert| expert.probability.is_finite()));
        assert!(
            experts
                .iter()
                .all(|expert| expert.strongest_tags == ["rust"])
        );
    }

    #[test]
    fn a_member_over_the_weekly_cap_is_ranked_down() {
        let community = community();
        let tags = vec!["rust".to_string()];
        let question = QuestionToRoute {
            tags: &tags,
            vector: None,
            asker: None,
            at: at(60 * 86_400_000),
            exclude: &[],
        };
        let relaxed = RoutingOptions {
            weekly_answer_cap: 0,
            ..RoutingOptions::default()
        };
        let capped = RoutingOptions {
            weekly_answer_cap: 2,
            ..RoutingOptions::default()
        };
        let probability = |options: &RoutingOptions| {
            ExpertIndex::build(&community, None, None, options)
                .route(&question, 10)
                .into_iter()
                .find(|expert| expert.user_id == UserId(7))
                .expect("member 7 is proposed")
                .probability
        };
        assert!(probability(&capped) < probability(&relaxed));
    }

    #[test]
    fn the_evaluation_scores_later_questions_with_earlier_knowledge() {
        let community = community();
        let report = evaluate_routing(
            &community,
            None,
            at(40 * 86_400_000),
            &RoutingOptions::default(),
        );
        assert_eq!(report.questions, 20);
        assert!(report.recall_at_10 > 0.9, "{report:?}");
        assert!(report.baseline_recall_at_10 > 0.0);
    }
}
