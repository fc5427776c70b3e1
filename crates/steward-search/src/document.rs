//! What one thread looks like to the search index: a question, article or wiki
//! page with its answers folded in, read from the store.
//!
//! Answers count towards their thread, but not all alike: the accepted one and
//! those the community voted up go to `answers_top`, which the index weighs
//! higher than `answers_rest`.

use steward_domain::{Post, PostId, PostKind, Timestamp};
use steward_store::Store;

use crate::Result;

/// At most this many answers (in reading order: accepted first, then by
/// score) are folded into a thread; the rest of a huge thread adds little.
pub const MAX_ANSWERS_PER_THREAD: u32 = 100;

/// One thread as the index sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadDocument {
    pub id: PostId,
    pub kind: PostKind,
    pub title: Option<String>,
    /// The root's prose (markup and code blocks removed).
    pub body: String,
    /// The root's code blocks, one per line group.
    pub code: String,
    /// Lower-case tag names.
    pub tags: Vec<String>,
    /// Prose and code of the accepted answer and of answers scored above 0.
    pub answers_top: String,
    /// Prose and code of the other answers.
    pub answers_rest: String,
    pub created_at: Timestamp,
    /// Has a stored answer, an accepted answer, or an answer count from the source.
    pub answered: bool,
    /// The answers folded in: a deleted answer's thread is found by its id.
    pub answer_ids: Vec<PostId>,
}

/// Whether posts of `kind` are threads of their own (the unit of retrieval);
/// answers belong to their question's thread and comments to nobody's.
pub fn is_thread_root(kind: PostKind) -> bool {
    matches!(
        kind,
        PostKind::Question | PostKind::Article | PostKind::Wiki
    )
}

impl ThreadDocument {
    /// The document of `root` with `answers` (its answers, any order; others
    /// are ignored) folded in.
    pub fn new(root: &Post, answers: &[Post]) -> ThreadDocument {
        let mut answers_top = String::new();
        let mut answers_rest = String::new();
        let mut answer_ids = Vec::new();
        for answer in answers
            .iter()
            .filter(|answer| answer.kind == PostKind::Answer && answer.parent_id == Some(root.id))
        {
            let is_top = root.accepted_answer_id == Some(answer.id) || answer.score > 0;
            let target = if is_top {
                &mut answers_top
            } else {
                &mut answers_rest
            };
            push_paragraph(target, &answer.body_text);
            for block in &answer.code_blocks {
                push_paragraph(target, block);
            }
            answer_ids.push(answer.id);
        }
        let mut code = String::new();
        for block in &root.code_blocks {
            push_paragraph(&mut code, block);
        }
        ThreadDocument {
            id: root.id,
            kind: root.kind,
            title: root.title.clone(),
            body: root.body_text.clone(),
            code,
            tags: root.tags.clone(),
            answers_top,
            answers_rest,
            created_at: root.created_at,
            answered: !answer_ids.is_empty()
                || root.accepted_answer_id.is_some()
                || root.answer_count > 0,
            answer_ids,
        }
    }

    /// The documents of the thread roots among `posts`, each with its answers
    /// read from the store (posts of other kinds are skipped), in the order of
    /// `posts`.
    pub async fn load(store: &Store, posts: &[Post]) -> Result<Vec<ThreadDocument>> {
        let roots: Vec<&Post> = posts
            .iter()
            .filter(|post| is_thread_root(post.kind))
            .collect();
        let ids: Vec<PostId> = roots.iter().map(|root| root.id).collect();
        let answers = store.top_answers(&ids, MAX_ANSWERS_PER_THREAD).await?;
        let mut by_thread: std::collections::HashMap<PostId, Vec<Post>> =
            std::collections::HashMap::new();
        for answer in answers {
            if let Some(parent) = answer.parent_id {
                by_thread.entry(parent).or_default().push(answer);
            }
        }
        Ok(roots
            .into_iter()
            .map(|root| {
                let answers = by_thread.remove(&root.id).unwrap_or_default();
                ThreadDocument::new(root, &answers)
            })
            .collect())
    }

    /// The documents of the threads with these root ids that exist, in the order
    /// of `ids`: what a change to any post of those threads re-indexes.
    pub async fn load_ids(store: &Store, ids: &[PostId]) -> Result<Vec<ThreadDocument>> {
        let posts = store.posts_by_ids(ids).await?;
        ThreadDocument::load(store, &posts).await
    }
}

fn push_paragraph(target: &mut String, text: &str) {
    let text = text.trim();
    if text.is_empty() {
        return;
    }
    if !target.is_empty() {
        target.push_str("\n\n");
    }
    target.push_str(text);
}

#[cfg(test)]
mod tests {
    use steward_testkit::fixtures::{post, question};

    use super::*;

    fn answer(id: i64, parent: i64, score: i64, body: &str) -> Post {
        Post {
            score,
            body_text: body.to_string(),
            ..post(id, PostKind::Answer, Some(parent), 0)
        }
    }

    #[test]
    fn accepted_and_upvoted_answers_are_weighted_up() {
        let mut root = question(1, &["rust"], 0);
        root.accepted_answer_id = Some(PostId(2));
        root.code_blocks = vec!["fn main() {}".to_string(), "  ".to_string()];
        let answers = [
            answer(2, 1, 0, "accepted, unvoted"),
            answer(3, 1, 5, "voted up"),
            answer(4, 1, 0, "plain"),
            answer(5, 1, -2, "voted down"),
            answer(6, 99, 9, "another thread's"),
        ];
        let document = ThreadDocument::new(&root, &answers);
        assert_eq!(document.answers_top, "accepted, unvoted\n\nvoted up");
        assert_eq!(document.answers_rest, "plain\n\nvoted down");
        assert_eq!(
            document.answer_ids,
            [PostId(2), PostId(3), PostId(4), PostId(5)]
        );
        assert_eq!(document.code, "fn main() {}");
        assert_eq!(document.tags, ["rust"]);
        assert!(document.answered);
    }

    #[test]
    fn a_thread_without_answers_is_unanswered() {
        let document = ThreadDocument::new(&question(1, &[], 0), &[]);
        assert!(!document.answered);
        assert!(document.answer_ids.is_empty());
        assert_eq!(document.answers_top, "");
    }

    #[test]
    fn questions_articles_and_wikis_are_thread_roots() {
        let roots: Vec<PostKind> = PostKind::ALL
            .into_iter()
            .filter(|kind| is_thread_root(*kind))
            .collect();
        assert_eq!(
            roots,
            [PostKind::Question, PostKind::Article, PostKind::Wiki]
        );
    }
}
