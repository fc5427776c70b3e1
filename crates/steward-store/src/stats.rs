//! [`Stats`] as JSON: the one shape that `steward stats --json` and
//! `GET /api/v1/stats` both print (docs/cli.md, docs/api.md), so a script
//! reads the CLI and the API alike.

use chrono::SecondsFormat;
use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::Stats;

impl Stats {
    /// Share of questions with at least one answer, 0 when there are none.
    pub fn answer_rate(&self) -> f64 {
        ratio(self.answered_questions, self.questions)
    }

    /// Share of questions with an accepted answer, 0 when there are none.
    pub fn accepted_rate(&self) -> f64 {
        ratio(self.accepted_questions, self.questions)
    }
}

fn ratio(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// `(name, count)` pairs as an array of `{"name", "count"}` objects, in their
/// order (most frequent first): an object keyed by name would lose the order.
struct NamedCounts<'a>(&'a [(String, i64)]);

impl Serialize for NamedCounts<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct NamedCount<'a> {
            name: &'a str,
            count: i64,
        }
        serializer.collect_seq(self.0.iter().map(|(name, count)| NamedCount {
            name,
            count: *count,
        }))
    }
}

/// Written out rather than derived: the rates are computed, times are RFC 3339
/// in UTC (`2024-01-01T00:00:00Z`) and counts per name are arrays. The
/// destructuring names every field, so a new one cannot be left out silently.
impl Serialize for Stats {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Stats {
            posts,
            questions,
            answers,
            articles,
            wikis,
            comments,
            users,
            tags,
            post_links,
            duplicate_links,
            badges,
            events,
            events_by_kind,
            anonymous_votes,
            answered_questions,
            accepted_questions,
            first_post_at,
            last_post_at,
            top_tags,
        } = self;
        let time = |at: &Option<crate::Timestamp>| {
            at.map(|at| at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        };
        let mut out = serializer.serialize_struct("Stats", 21)?;
        out.serialize_field("posts", posts)?;
        out.serialize_field("questions", questions)?;
        out.serialize_field("answers", answers)?;
        out.serialize_field("articles", articles)?;
        out.serialize_field("wikis", wikis)?;
        out.serialize_field("comments", comments)?;
        out.serialize_field("users", users)?;
        out.serialize_field("tags", tags)?;
        out.serialize_field("post_links", post_links)?;
        out.serialize_field("duplicate_links", duplicate_links)?;
        out.serialize_field("badges", badges)?;
        out.serialize_field("events", events)?;
        out.serialize_field("events_by_kind", &NamedCounts(events_by_kind))?;
        out.serialize_field("anonymous_votes", anonymous_votes)?;
        out.serialize_field("answered_questions", answered_questions)?;
        out.serialize_field("accepted_questions", accepted_questions)?;
        out.serialize_field("answer_rate", &self.answer_rate())?;
        out.serialize_field("accepted_rate", &self.accepted_rate())?;
        out.serialize_field("first_post_at", &time(first_post_at))?;
        out.serialize_field("last_post_at", &time(last_post_at))?;
        out.serialize_field("top_tags", &NamedCounts(top_tags))?;
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn stats() -> Stats {
        let at = |millis| chrono::DateTime::from_timestamp_millis(millis).expect("valid time");
        Stats {
            posts: 5,
            questions: 2,
            answers: 2,
            articles: 1,
            wikis: 0,
            comments: 2,
            users: 3,
            tags: 4,
            post_links: 1,
            duplicate_links: 1,
            badges: 0,
            events: 4,
            events_by_kind: vec![("follow".into(), 3), ("view".into(), 1)],
            anonymous_votes: 7,
            answered_questions: 1,
            accepted_questions: 1,
            first_post_at: Some(at(1_704_067_200_000)),
            last_post_at: Some(at(1_709_251_200_250)),
            top_tags: vec![("rust".into(), 2), ("io".into(), 1)],
        }
    }

    #[test]
    fn stats_serialize_to_the_documented_shape() {
        assert_eq!(
            serde_json::to_value(stats()).expect("serializable"),
            json!({
                "posts": 5, "questions": 2, "answers": 2, "articles": 1, "wikis": 0,
                "comments": 2, "users": 3, "tags": 4, "post_links": 1, "duplicate_links": 1,
                "badges": 0, "events": 4,
                "events_by_kind": [{"name": "follow", "count": 3}, {"name": "view", "count": 1}],
                "anonymous_votes": 7, "answered_questions": 1, "accepted_questions": 1,
                "answer_rate": 0.5, "accepted_rate": 0.5,
                "first_post_at": "2024-01-01T00:00:00Z",
                "last_post_at": "2024-03-01T00:00:00.250Z",
                "top_tags": [{"name": "rust", "count": 2}, {"name": "io", "count": 1}],
            })
        );
    }

    #[test]
    fn an_empty_community_has_zero_rates_and_no_dates() {
        let empty = Stats {
            questions: 0,
            answered_questions: 0,
            accepted_questions: 0,
            first_post_at: None,
            last_post_at: None,
            events_by_kind: Vec::new(),
            top_tags: Vec::new(),
            ..stats()
        };
        let json = serde_json::to_value(empty).expect("serializable");
        assert_eq!(
            (
                &json["answer_rate"],
                &json["first_post_at"],
                &json["top_tags"]
            ),
            (&json!(0.0), &json!(null), &json!([]))
        );
    }
}
