//! Posts of every kind and the links between them.

use serde::{Deserialize, Serialize};

use crate::{Error, PostId, Result, Timestamp, UserId};

/// What a post is. Stack Exchange's eight `PostTypeId`s fold into these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostKind {
    Question,
    Answer,
    /// A stand-alone piece: blog post, forum topic, moderator nomination.
    Article,
    /// A short remark under a post; its `parent_id` is that post.
    Comment,
    /// Tag wikis, wiki excerpts and privilege pages.
    Wiki,
}

impl PostKind {
    pub const ALL: [PostKind; 5] = [
        PostKind::Question,
        PostKind::Answer,
        PostKind::Article,
        PostKind::Comment,
        PostKind::Wiki,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PostKind::Question => "question",
            PostKind::Answer => "answer",
            PostKind::Article => "article",
            PostKind::Comment => "comment",
            PostKind::Wiki => "wiki",
        }
    }

    /// The kind for a Stack Exchange `PostTypeId`, or `None` for an unknown type.
    pub fn from_stack_exchange(post_type_id: i64) -> Option<PostKind> {
        match post_type_id {
            1 => Some(PostKind::Question),
            2 => Some(PostKind::Answer),
            // 3 orphaned tag wiki, 4 tag wiki excerpt, 5 tag wiki, 7 wiki placeholder, 8 privilege wiki
            3 | 4 | 5 | 7 | 8 => Some(PostKind::Wiki),
            // 6 moderator nomination: a stand-alone piece of writing.
            6 => Some(PostKind::Article),
            _ => None,
        }
    }

    /// Answers and comments hang under a parent; the others stand alone.
    pub fn needs_parent(self) -> bool {
        matches!(self, PostKind::Answer | PostKind::Comment)
    }
}

impl std::str::FromStr for PostKind {
    type Err = Error;

    fn from_str(value: &str) -> Result<PostKind> {
        PostKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == value)
            .ok_or_else(|| Error::UnknownKind {
                what: "post kind",
                value: value.to_string(),
                expected: "question, answer, article, comment, wiki",
            })
    }
}

impl std::fmt::Display for PostKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A question, answer, article, comment or wiki page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Post {
    pub id: PostId,
    pub kind: PostKind,
    /// The question of an answer, the post of a comment.
    pub parent_id: Option<PostId>,
    pub accepted_answer_id: Option<PostId>,
    /// `None` when the author deleted their account.
    pub owner_id: Option<UserId>,
    pub title: Option<String>,
    /// The body as the source wrote it (HTML; comments are plain text).
    pub body_html: String,
    /// Prose only: markup stripped, code blocks removed.
    pub body_text: String,
    /// The code blocks (`<pre>`), one per entry, in order.
    pub code_blocks: Vec<String>,
    /// Lower-case tag names, in the source's order.
    pub tags: Vec<String>,
    pub score: i64,
    pub view_count: i64,
    pub answer_count: i64,
    pub comment_count: i64,
    pub favorite_count: i64,
    pub created_at: Timestamp,
    pub last_activity_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    /// Content license, e.g. `CC BY-SA 4.0`.
    pub license: Option<String>,
    /// ISO 639-1 code of the body's main language (`en`, `zh`), when detected.
    pub language: Option<String>,
}

/// Splits a tag list in either dump format: `<a><b>` (older) or `|a|b|` (newer),
/// or a plain space / comma separated list. Names come back lower-cased.
pub fn split_tags(raw: &str) -> Vec<String> {
    let separators: &[char] = if raw.contains('<') {
        &['<', '>']
    } else if raw.contains('|') {
        &['|']
    } else {
        &[' ', ',']
    };
    raw.split(separators)
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// How two posts are linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostLinkKind {
    /// One post links to the other.
    Related,
    /// `post_id` was closed as a duplicate of `related_post_id`.
    Duplicate,
}

impl PostLinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PostLinkKind::Related => "related",
            PostLinkKind::Duplicate => "duplicate",
        }
    }

    /// Stack Exchange `LinkTypeId`: 1 linked, 3 duplicate.
    pub fn from_stack_exchange(link_type_id: i64) -> Option<PostLinkKind> {
        match link_type_id {
            1 => Some(PostLinkKind::Related),
            3 => Some(PostLinkKind::Duplicate),
            _ => None,
        }
    }
}

impl std::str::FromStr for PostLinkKind {
    type Err = Error;

    fn from_str(value: &str) -> Result<PostLinkKind> {
        match value {
            "related" => Ok(PostLinkKind::Related),
            "duplicate" => Ok(PostLinkKind::Duplicate),
            _ => Err(Error::UnknownKind {
                what: "post link kind",
                value: value.to_string(),
                expected: "related, duplicate",
            }),
        }
    }
}

/// A link between two posts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostLink {
    pub id: i64,
    pub post_id: PostId,
    pub related_post_id: PostId,
    pub kind: PostLinkKind,
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_in_both_dump_formats() {
        let check = |raw: &str, expected: &[&str]| assert_eq!(split_tags(raw), expected, "{raw}");
        check(
            "<neural-networks><definitions>",
            &["neural-networks", "definitions"],
        );
        check("|plutus|Smart-Contracts|", &["plutus", "smart-contracts"]);
        check("rust, tokio", &["rust", "tokio"]);
        check("", &[]);
    }

    #[test]
    fn every_stack_exchange_post_type_has_a_kind() {
        for type_id in 1..=8 {
            assert!(
                PostKind::from_stack_exchange(type_id).is_some(),
                "{type_id}"
            );
        }
        assert_eq!(PostKind::from_stack_exchange(42), None);
    }

    #[test]
    fn kinds_round_trip_through_text() {
        for kind in PostKind::ALL {
            assert_eq!(kind.as_str().parse::<PostKind>(), Ok(kind));
        }
        assert!("poll".parse::<PostKind>().is_err());
    }
}
