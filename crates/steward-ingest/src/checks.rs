//! The checks every post passes before it is written, on every import path,
//! so that the store never sees a value it would refuse and the posts never
//! form a parent cycle.
//!
//! Parent links are kept acyclic by kinds alone: an answer's parent is a
//! question, a comment's parent is any post but a comment, the other kinds
//! have no parent, and a stored post never changes kind on a re-import
//! (`kind_changed`). A chain is therefore at most comment → answer → question,
//! whatever order and however many imports wrote it.

use std::collections::HashMap;

use steward_domain::{Post, PostId, PostKind};
use steward_store::Store;

use crate::Result;
use crate::idset::IdSet;
use crate::report::SkipReason;
use crate::values::check_characters;

/// What a post must be on its own: a parent exactly when its kind needs one,
/// not itself as parent, no empty tag, no character the store cannot keep.
pub(crate) fn check_post(post: &Post, parent_attribute: &'static str) -> Result<(), SkipReason> {
    match (post.kind.needs_parent(), post.parent_id) {
        (true, None) => return Err(SkipReason::MissingAttribute(parent_attribute)),
        (false, Some(_)) => {
            return Err(SkipReason::UnexpectedParent {
                kind: post.kind.to_string(),
            });
        }
        _ => {}
    }
    if post.parent_id == Some(post.id) {
        return Err(SkipReason::SelfLink(post.id.0));
    }
    if post.tags.iter().any(|tag| tag.trim().is_empty()) {
        return Err(SkipReason::EmptyTag);
    }
    let texts = [
        ("title", post.title.as_deref()),
        ("body", Some(post.body_html.as_str())),
        ("body_text", Some(post.body_text.as_str())),
        ("license", post.license.as_deref()),
        ("language", post.language.as_deref()),
    ];
    for (name, text) in texts {
        if let Some(text) = text {
            check_characters(name, text)?;
        }
    }
    for tag in &post.tags {
        check_characters("tags", tag)?;
    }
    for block in &post.code_blocks {
        check_characters("body", block)?;
    }
    Ok(())
}

/// The kinds of the posts an import has written, to check parents without
/// asking the store: a few bits per post for the common kinds.
#[derive(Debug, Default)]
pub(crate) struct KnownPosts {
    all: IdSet,
    questions: IdSet,
    answers: IdSet,
    comments: IdSet,
    /// Wikis and articles: few.
    others: HashMap<i64, PostKind>,
}

impl KnownPosts {
    pub(crate) fn insert(&mut self, id: PostId, kind: PostKind) {
        self.all.insert(id.0);
        match kind {
            PostKind::Question => self.questions.insert(id.0),
            PostKind::Answer => self.answers.insert(id.0),
            PostKind::Comment => self.comments.insert(id.0),
            PostKind::Article | PostKind::Wiki => self.others.insert(id.0, kind).is_none(),
        };
    }

    pub(crate) fn contains(&self, id: PostId) -> bool {
        self.all.contains(id.0)
    }

    fn kind(&self, id: PostId) -> Option<PostKind> {
        if !self.all.contains(id.0) {
            return None;
        }
        if self.questions.contains(id.0) {
            Some(PostKind::Question)
        } else if self.answers.contains(id.0) {
            Some(PostKind::Answer)
        } else if self.comments.contains(id.0) {
            Some(PostKind::Comment)
        } else {
            self.others.get(&id.0).copied()
        }
    }

    /// The kinds, in the store, of the posts `ids` that this import has not
    /// written (one query per 500 ids).
    pub(crate) async fn stored_kinds(
        &self,
        store: &Store,
        ids: impl Iterator<Item = PostId>,
    ) -> Result<HashMap<PostId, PostKind>> {
        let mut missing: Vec<PostId> = ids.filter(|id| !self.contains(*id)).collect();
        missing.sort_unstable();
        missing.dedup();
        let mut kinds = HashMap::new();
        for ids in missing.chunks(500) {
            kinds.extend(store.post_kinds(ids).await?);
        }
        Ok(kinds)
    }

    /// The kind of `id`, written by this import or found in `stored`.
    pub(crate) fn resolve(
        &self,
        id: PostId,
        stored: &HashMap<PostId, PostKind>,
    ) -> Option<PostKind> {
        self.kind(id).or_else(|| stored.get(&id).copied())
    }

    /// Checks `post` against what is already there: its own stored kind
    /// (unchanged) and its parent's (present, and of a kind it may hang under).
    pub(crate) fn check_links(
        &self,
        post: &Post,
        parent_attribute: &'static str,
        stored: &HashMap<PostId, PostKind>,
    ) -> Result<(), SkipReason> {
        if let Some(&stored_kind) = stored.get(&post.id)
            && stored_kind != post.kind
            && !self.contains(post.id)
        {
            return Err(SkipReason::KindChanged {
                stored: stored_kind.to_string(),
                found: post.kind.to_string(),
            });
        }
        let Some(parent_id) = post.parent_id else {
            return Ok(());
        };
        let Some(parent_kind) = self.resolve(parent_id, stored) else {
            return Err(SkipReason::DanglingReference {
                attribute: parent_attribute,
                post_id: parent_id.0,
            });
        };
        match (post.kind, parent_kind) {
            (PostKind::Answer, PostKind::Question) => Ok(()),
            (PostKind::Answer, other) => Err(SkipReason::ParentNotQuestion {
                parent_id: parent_id.0,
                parent_kind: other.to_string(),
            }),
            (PostKind::Comment, PostKind::Comment) => Err(SkipReason::ParentIsComment {
                parent_id: parent_id.0,
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use steward_testkit::fixtures::{post, question};

    use super::*;

    #[test]
    fn parents_follow_the_kinds() {
        let mut known = KnownPosts::default();
        known.insert(PostId(1), PostKind::Question);
        known.insert(PostId(2), PostKind::Answer);
        known.insert(PostId::comment(3), PostKind::Comment);
        let stored = HashMap::from([(PostId(10), PostKind::Answer), (PostId(11), PostKind::Wiki)]);
        let check = |record: Post, expected: &str| {
            let outcome = check_post(&record, "ParentId")
                .and_then(|()| known.check_links(&record, "ParentId", &stored));
            let code = outcome.err().map_or("ok", |reason| reason.code());
            assert_eq!(code, expected, "{record:?}");
        };
        check(post(5, PostKind::Answer, Some(1), 0), "ok");
        check(post(5, PostKind::Answer, Some(2), 0), "parent_not_question");
        check(
            post(5, PostKind::Answer, Some(10), 0),
            "parent_not_question",
        );
        check(post(5, PostKind::Answer, Some(99), 0), "dangling_reference");
        check(post(5, PostKind::Answer, Some(5), 0), "self_link");
        check(post(5, PostKind::Comment, Some(2), 0), "ok");
        check(post(5, PostKind::Comment, Some(11), 0), "ok");
        check(
            post(5, PostKind::Comment, Some(PostId::comment(3).0), 0),
            "parent_is_comment",
        );
        check(post(5, PostKind::Question, Some(1), 0), "unexpected_parent");
        check(question(10, &[], 0), "kind_changed");
        check(question(12, &["ok", " "], 0), "empty_tag");
        let mut escape = question(12, &[], 0);
        escape.title = Some("a\u{1b}[31m".to_string());
        check(escape, "illegal_character");
    }
}
