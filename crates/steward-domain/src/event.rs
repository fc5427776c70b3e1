//! Interaction events: who did what to which post, user or tag, and when.
//! They are the implicit feedback that recommendation and expert finding learn from.

use serde::{Deserialize, Serialize};

use crate::{Error, PostId, Result, Timestamp, UserId};

/// What a user did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    View,
    UpVote,
    DownVote,
    /// Favorite or bookmark.
    Favorite,
    /// The user answered the target question.
    Answer,
    Comment,
    /// The asker accepted the target answer.
    Accept,
    Edit,
    Follow,
    /// The user asked not to be shown the target again: negative feedback that
    /// recommendations never bring back.
    NotInterested,
}

impl EventKind {
    pub const ALL: [EventKind; 10] = [
        EventKind::View,
        EventKind::UpVote,
        EventKind::DownVote,
        EventKind::Favorite,
        EventKind::Answer,
        EventKind::Comment,
        EventKind::Accept,
        EventKind::Edit,
        EventKind::Follow,
        EventKind::NotInterested,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::View => "view",
            EventKind::UpVote => "up_vote",
            EventKind::DownVote => "down_vote",
            EventKind::Favorite => "favorite",
            EventKind::Answer => "answer",
            EventKind::Comment => "comment",
            EventKind::Accept => "accept",
            EventKind::Edit => "edit",
            EventKind::Follow => "follow",
            EventKind::NotInterested => "not_interested",
        }
    }

    /// Confidence weight of the signal for implicit-feedback models when the
    /// source gives none: effortful, deliberate acts count more than a view,
    /// a down vote counts against.
    pub fn default_weight(self) -> f64 {
        match self {
            EventKind::View => 1.0,
            EventKind::UpVote => 2.0,
            EventKind::DownVote => -2.0,
            EventKind::Favorite => 3.0,
            EventKind::Answer => 5.0,
            EventKind::Comment => 2.0,
            EventKind::Accept => 4.0,
            EventKind::Edit => 2.0,
            EventKind::Follow => 3.0,
            EventKind::NotInterested => -3.0,
        }
    }
}

impl std::str::FromStr for EventKind {
    type Err = Error;

    fn from_str(value: &str) -> Result<EventKind> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == value)
            .ok_or_else(|| Error::UnknownKind {
                what: "event kind",
                value: value.to_string(),
                expected: "view, up_vote, down_vote, favorite, answer, comment, accept, edit, follow, not_interested",
            })
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum EventTarget {
    Post(PostId),
    User(UserId),
    /// A tag, by name (following a topic).
    Tag(String),
}

/// One interaction: `user` did `kind` to `target` at `at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Idempotency key, unique per event: `se:vote:123`, `se:answer:456`, or a
    /// client-chosen key for live events. Writing an event twice keeps one.
    pub key: String,
    pub user_id: UserId,
    pub kind: EventKind,
    pub target: EventTarget,
    pub at: Timestamp,
    pub weight: f64,
}

/// One anonymous vote, kept by its source id: the dumps strip the voter from up
/// and down votes, so they count for the post, not a user. Keeping each vote
/// (not only a running count) is what lets a re-run, an interrupted run or two
/// imports at once count every vote exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnonymousVote {
    /// The source's vote id (Stack Exchange `Votes.xml` `Id`).
    pub id: i64,
    pub post_id: PostId,
    /// Stack Exchange `VoteTypeId` (2 up, 3 down, ...).
    pub vote_type: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_kinds_round_trip_through_text() {
        for kind in EventKind::ALL {
            assert_eq!(kind.as_str().parse::<EventKind>(), Ok(kind));
            assert!(kind.default_weight().is_finite());
        }
        let error = "like".parse::<EventKind>().expect_err("not a kind");
        assert!(error.to_string().contains("up_vote"), "{error}");
    }

    #[test]
    fn targets_serialize_with_their_type() {
        let target = EventTarget::Post(PostId(7));
        let json = serde_json::to_string(&target).expect("serializable");
        assert_eq!(json, r#"{"type":"post","id":7}"#);
        let back: EventTarget = serde_json::from_str(&json).expect("round trip");
        assert_eq!(back, target);
    }
}
