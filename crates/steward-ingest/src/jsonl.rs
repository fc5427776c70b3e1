//! JSONL importer: one JSON object per line, `{"type":"user"|"post"|"event"|
//! "tag"|"link", ...}`, for communities that are not Stack Exchange. The
//! schema, with an example per record type, is in `docs/jsonl.md`.
//!
//! Same contract as the dump importer: bad lines are skipped and reported with
//! their line number, the rest is written in batches, and a re-run converges
//! (records are upserted by id, events keep one row per key; an event without
//! a `key` gets one derived from its content).
//!
//! Event lines are the API's event objects plus `"type":"event"`, parsed and
//! validated by [`crate::intake`], so a line is accepted exactly when the API
//! would accept the same event, and a rejected one names the same field.

use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

use serde::Deserialize;
use serde_json::{Map, Value};
use steward_domain::{
    Event, EventTarget, Post, PostId, PostKind, PostLink, PostLinkKind, Tag, Timestamp, User,
    UserId,
};
use steward_jobs::{JobHandle, Unit};
use steward_store::{Store, WriteBatch};
use steward_text::html::html_to_text;

use crate::batch::LocatedBatch;
use crate::checks::{KnownPosts, check_post};
use crate::idset::IdSet;
use crate::intake::{self, Source, is_post_id};
use crate::report::{ImportReport, SkipReason};
use crate::rows::{Framing, spawn_reader};
use crate::values::{check_characters, check_id, check_user_id, parse_date};
use crate::{Error, Result};

/// How to import a JSONL file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonlOptions {
    /// Lines per write transaction.
    pub batch_size: usize,
}

impl Default for JsonlOptions {
    fn default() -> JsonlOptions {
        JsonlOptions { batch_size: 2_000 }
    }
}

/// Imports the JSONL file at `path` into `store`. Parents must come before
/// their answers and comments (or already be in the store).
///
/// `job` hears one phase (the file name, in bytes of its size) and is checked
/// for a cancel after every batch.
pub async fn import_jsonl(
    store: &Store,
    path: &Path,
    options: &JsonlOptions,
    job: &JobHandle,
) -> Result<ImportReport> {
    let started = Instant::now();
    let bytes = std::fs::metadata(path)
        .map_err(|source| Error::io("reading", path, source))?
        .len();
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let mut report = ImportReport::new(path.display().to_string());
    let file_idx = report.start_file(&file_name, bytes);
    job.set_phase(&file_name, Some(bytes), Unit::Bytes);
    let mut chunks = spawn_reader(
        path,
        Framing::JsonLines,
        options.batch_size.max(1),
        map_line,
    )?;

    let mut known_posts = KnownPosts::default();
    let mut seen_users = IdSet::default();
    let mut seen_posts = IdSet::default();
    let mut seen_links = IdSet::default();
    let mut seen_tags: HashSet<String> = HashSet::new();
    let mut seen_event_keys: HashSet<String> = HashSet::new();
    let mut rows_done = 0;

    while let Some(chunk) = chunks.recv().await {
        let chunk = chunk.map_err(|source| Error::io("reading", path, source))?;
        report.files[file_idx].rows_read += chunk.records.len() as u64;
        // Collected first: an iterator of closures held across the await below
        // would make this future not `Send` for every lifetime (a worker spawns it).
        let wanted: Vec<PostId> = chunk
            .records
            .iter()
            .filter_map(|record| record.outcome.as_ref().ok())
            .flat_map(|record| {
                let own = match record {
                    Record::Post(post) => Some(post.id),
                    _ => None,
                };
                own.into_iter()
                    .chain(record.referenced_posts().into_iter().map(|(_, id)| id))
            })
            .collect();
        let stored = known_posts.stored_kinds(store, wanted.into_iter()).await?;

        let mut batch = LocatedBatch::default();
        for record in chunk.records {
            let line = record.line;
            let value = match record.outcome {
                Err(reason) => {
                    report.record_skip(file_idx, line, reason);
                    continue;
                }
                Ok(value) => value,
            };
            let duplicate = match &value {
                Record::User(user) => seen_users.contains(user.id.0).then(|| user.id.to_string()),
                Record::Post(post) => seen_posts.contains(post.id.0).then(|| post.id.to_string()),
                Record::Link(link) => seen_links.contains(link.id).then(|| link.id.to_string()),
                Record::Tag(tag) => seen_tags.contains(&tag.name).then(|| tag.name.clone()),
                Record::Event(event) => seen_event_keys
                    .contains(&event.key)
                    .then(|| event.key.clone()),
            };
            if let Some(id) = duplicate {
                report.record_skip(file_idx, line, SkipReason::DuplicateId(id));
                continue;
            }
            let checked = match &value {
                Record::Post(post) => known_posts.check_links(post, "parent_id", &stored),
                _ => match value
                    .referenced_posts()
                    .into_iter()
                    .find(|(_, id)| known_posts.resolve(*id, &stored).is_none())
                {
                    None => Ok(()),
                    Some((attribute, post_id)) => Err(SkipReason::DanglingReference {
                        attribute,
                        post_id: post_id.0,
                    }),
                },
            };
            if let Err(reason) = checked {
                report.record_skip(file_idx, line, reason);
                continue;
            }
            let record_batch = match value {
                Record::User(user) => {
                    seen_users.insert(user.id.0);
                    WriteBatch {
                        users: vec![user],
                        ..WriteBatch::default()
                    }
                }
                Record::Post(post) => {
                    seen_posts.insert(post.id.0);
                    known_posts.insert(post.id, post.kind);
                    WriteBatch {
                        posts: vec![post],
                        ..WriteBatch::default()
                    }
                }
                Record::Link(link) => {
                    seen_links.insert(link.id);
                    WriteBatch {
                        post_links: vec![link],
                        ..WriteBatch::default()
                    }
                }
                Record::Tag(tag) => {
                    seen_tags.insert(tag.name.clone());
                    WriteBatch {
                        tags: vec![tag],
                        ..WriteBatch::default()
                    }
                }
                Record::Event(event) => {
                    seen_event_keys.insert(event.key.clone());
                    WriteBatch {
                        events: vec![event],
                        ..WriteBatch::default()
                    }
                }
            };
            batch.push(line, record_batch);
        }
        let records = batch.records() as u64;
        let rejected = batch.write(store).await?;
        let imported = records - rejected.len() as u64;
        for rejected in rejected {
            let reason = SkipReason::RejectedByStore(rejected.error.to_string());
            report.record_skip(file_idx, rejected.line, reason);
        }
        report.files[file_idx].imported += imported;
        rows_done += imported;
        job.advance(chunk.bytes);
        job.set_message(format!(
            "{} records imported",
            report.files[file_idx].imported
        ));
        if job.is_cancelled() {
            return Err(Error::Cancelled { rows_done });
        }
    }
    report.files[file_idx].elapsed_seconds = started.elapsed().as_secs_f64();
    report.set_elapsed(started.elapsed());
    Ok(report)
}

/// One line, mapped to domain values.
#[derive(Debug)]
enum Record {
    User(User),
    Post(Post),
    Event(Event),
    Tag(Tag),
    Link(PostLink),
}

impl Record {
    /// The posts this record needs to exist, with the field that names them.
    fn referenced_posts(&self) -> Vec<(&'static str, PostId)> {
        match self {
            Record::Post(post) => post
                .parent_id
                .map(|id| ("parent_id", id))
                .into_iter()
                .collect(),
            Record::Event(Event {
                target: EventTarget::Post(id),
                ..
            }) => vec![("target.id", *id)],
            Record::Link(link) => vec![
                ("post_id", link.post_id),
                ("related_post_id", link.related_post_id),
            ],
            Record::User(_) | Record::Tag(_) | Record::Event(_) => Vec::new(),
        }
    }
}

/// The wire form of a line; kept apart from the domain types so that the file
/// format can stay stable while they change.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireRecord {
    User(WireUser),
    Post(WirePost),
    /// The event's own fields, for [`intake::parse_event`].
    Event(Map<String, Value>),
    Tag(WireTag),
    Link(WireLink),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireUser {
    id: i64,
    display_name: String,
    #[serde(default)]
    reputation: i64,
    created_at: String,
    last_access_at: Option<String>,
    location: Option<String>,
    about: Option<String>,
    website: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WirePost {
    id: i64,
    kind: String,
    parent_id: Option<i64>,
    accepted_answer_id: Option<i64>,
    owner_id: Option<i64>,
    title: Option<String>,
    body_html: Option<String>,
    body_text: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    score: i64,
    #[serde(default)]
    view_count: i64,
    #[serde(default)]
    answer_count: i64,
    #[serde(default)]
    comment_count: i64,
    #[serde(default)]
    favorite_count: i64,
    created_at: String,
    last_activity_at: Option<String>,
    closed_at: Option<String>,
    license: Option<String>,
    language: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireTag {
    name: String,
    #[serde(default)]
    count: i64,
    excerpt: Option<String>,
    wiki: Option<String>,
    #[serde(default)]
    synonyms: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireLink {
    id: i64,
    post_id: i64,
    related_post_id: i64,
    kind: String,
    created_at: String,
}

fn map_line(line: &str) -> Result<Record, SkipReason> {
    let wire: WireRecord =
        serde_json::from_str(line).map_err(|error| SkipReason::Malformed(error.to_string()))?;
    // Event text is checked field by field by the intake; other records are
    // checked here, on the decoded text, before the store could refuse them
    // (so an escaped backslash before `u0000` is text, not a NUL).
    match wire {
        WireRecord::User(user) => {
            let texts = [
                ("display_name", Some(&user.display_name)),
                ("location", user.location.as_ref()),
                ("about", user.about.as_ref()),
                ("website", user.website.as_ref()),
            ];
            for (name, text) in texts {
                if let Some(text) = text {
                    check_characters(name, text)?;
                }
            }
            Ok(Record::User(User {
                id: UserId(check_user_id("id", user.id)?),
                display_name: user.display_name,
                reputation: user.reputation,
                created_at: parse_date("created_at", &user.created_at)?,
                last_access_at: optional_date("last_access_at", user.last_access_at.as_deref())?,
                location: user.location,
                about: user.about,
                website: user.website,
            }))
        }
        WireRecord::Post(post) => map_post(post).map(Record::Post),
        WireRecord::Event(fields) => intake::parse_event(&Value::Object(fields), Source::Jsonl)
            .map(Record::Event)
            .map_err(SkipReason::InvalidEvent),
        WireRecord::Tag(tag) => {
            let name = tag.name.trim().to_lowercase();
            if name.is_empty() {
                return Err(SkipReason::MissingAttribute("name"));
            }
            let synonyms: Vec<String> = tag
                .synonyms
                .iter()
                .map(|name| name.trim().to_lowercase())
                .collect();
            if synonyms.iter().any(String::is_empty) {
                return Err(SkipReason::EmptyTag);
            }
            check_characters("name", &name)?;
            for (field, text) in [("excerpt", &tag.excerpt), ("wiki", &tag.wiki)] {
                if let Some(text) = text {
                    check_characters(field, text)?;
                }
            }
            for synonym in &synonyms {
                check_characters("synonyms", synonym)?;
            }
            Ok(Record::Tag(Tag {
                name,
                count: tag.count,
                excerpt: tag.excerpt,
                wiki: tag.wiki,
                synonyms,
            }))
        }
        WireRecord::Link(link) => {
            let kind: PostLinkKind = link.kind.parse().map_err(|_| SkipReason::BadValue {
                attribute: "kind",
                value: link.kind.clone(),
            })?;
            let id = check_id("id", link.id)?;
            let post_id = check_post_id("post_id", link.post_id)?;
            let related_post_id = check_post_id("related_post_id", link.related_post_id)?;
            if post_id == related_post_id {
                return Err(SkipReason::SelfLink(post_id.0));
            }
            Ok(Record::Link(PostLink {
                id,
                post_id,
                related_post_id,
                kind,
                created_at: parse_date("created_at", &link.created_at)?,
            }))
        }
    }
}

/// A post id (`1..2^40`, or a Stack Exchange comment's `2^40 + n`).
fn check_post_id(name: &'static str, id: i64) -> Result<PostId, SkipReason> {
    if is_post_id(id) {
        Ok(PostId(id))
    } else {
        Err(SkipReason::IdOutOfRange {
            attribute: name,
            value: id.to_string(),
        })
    }
}

fn map_post(post: WirePost) -> Result<Post, SkipReason> {
    let kind: PostKind = post.kind.parse().map_err(|_| SkipReason::BadValue {
        attribute: "kind",
        value: post.kind.clone(),
    })?;
    if kind.needs_parent() && post.parent_id.is_none() {
        return Err(SkipReason::MissingAttribute("parent_id"));
    }
    let created_at = parse_date("created_at", &post.created_at)?;
    let (body_html, body_text, code_blocks) = match (post.body_html, post.body_text) {
        (Some(html), _) => {
            let body = html_to_text(&html);
            (html, body.text, body.code_blocks)
        }
        (None, Some(text)) if kind == PostKind::Comment => (text.clone(), text, Vec::new()),
        (None, Some(text)) => (text_to_html(&text), text, Vec::new()),
        (None, None) => return Err(SkipReason::MissingAttribute("body_html or body_text")),
    };
    let language = post.language.or_else(|| {
        let detected = match &post.title {
            Some(title) => steward_text::lang::detect(&format!("{title}\n{body_text}")),
            None => steward_text::lang::detect(&body_text),
        };
        detected.map(str::to_string)
    });
    let post = Post {
        id: check_post_id("id", post.id)?,
        kind,
        parent_id: post
            .parent_id
            .map(|id| check_post_id("parent_id", id))
            .transpose()?,
        accepted_answer_id: post
            .accepted_answer_id
            .map(|id| check_post_id("accepted_answer_id", id))
            .transpose()?,
        owner_id: post
            .owner_id
            .map(|id| check_user_id("owner_id", id))
            .transpose()?
            .map(UserId),
        title: post.title,
        body_html,
        body_text,
        code_blocks,
        tags: post
            .tags
            .iter()
            .map(|tag| tag.trim().to_lowercase())
            .collect(),
        score: post.score,
        view_count: post.view_count,
        answer_count: post.answer_count,
        comment_count: post.comment_count,
        favorite_count: post.favorite_count,
        created_at,
        last_activity_at: optional_date("last_activity_at", post.last_activity_at.as_deref())?,
        closed_at: optional_date("closed_at", post.closed_at.as_deref())?,
        license: post.license,
        language,
    };
    check_post(&post, "parent_id")?;
    Ok(post)
}

fn optional_date(name: &'static str, value: Option<&str>) -> Result<Option<Timestamp>, SkipReason> {
    value.map(|value| parse_date(name, value)).transpose()
}

/// Runs one line through the JSONL mapper, for the fuzz target (`fuzz/`):
/// it must return a record or a skip reason, never panic, and a mapped post
/// must pass the checks the importer relies on.
#[doc(hidden)]
pub fn fuzz_line(line: &str) {
    if let Ok(Record::Post(post)) = map_line(line) {
        assert!(is_post_id(post.id.0), "{post:?}");
        assert!(check_post(&post, "parent_id").is_ok(), "{post:?}");
    }
}

/// Plain text as HTML paragraphs, so that a text-only body renders like the
/// HTML bodies next to it.
fn text_to_html(text: &str) -> String {
    text.split("\n\n")
        .filter(|paragraph| !paragraph.trim().is_empty())
        .map(|paragraph| {
            let escaped = paragraph
                .trim()
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;");
            format!("<p>{escaped}</p>")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(line: &str, expected: &str) {
        let outcome = match map_line(line) {
            Ok(Record::User(user)) => format!("user {} {}", user.id, user.display_name),
            Ok(Record::Post(post)) => format!(
                "post {} {} parent={:?} text={:?} tags={:?}",
                post.id,
                post.kind,
                post.parent_id.map(|id| id.0),
                post.body_text,
                post.tags
            ),
            Ok(Record::Event(event)) => format!(
                "event {} {} {:?} w={} key={}",
                event.user_id,
                event.kind,
                event.target,
                event.weight,
                if event.key.starts_with("jsonl:") {
                    "derived"
                } else {
                    &event.key
                }
            ),
            Ok(Record::Tag(tag)) => format!("tag {} {}", tag.name, tag.count),
            Ok(Record::Link(link)) => format!(
                "link {} {}->{} {}",
                link.id,
                link.post_id,
                link.related_post_id,
                link.kind.as_str()
            ),
            Err(reason) => format!("skip {}", reason.code()),
        };
        assert_eq!(outcome, expected, "{line}");
    }

    #[test]
    fn each_record_type_maps_or_says_why_not() {
        check(
            r#"{"type":"user","id":1,"display_name":"Ada","created_at":"2024-01-02T03:04:05Z"}"#,
            "user 1 Ada",
        );
        check(
            r#"{"type":"post","id":7,"kind":"question","title":"Why?","body_text":"Because.","tags":["Rust","tokio"],"created_at":"2024-01-02T03:04:05Z"}"#,
            r#"post 7 question parent=None text="Because." tags=["rust", "tokio"]"#,
        );
        check(
            r#"{"type":"post","id":8,"kind":"answer","parent_id":7,"body_html":"<p>Yes</p>","created_at":"2024-01-02T03:04:05+08:00"}"#,
            r#"post 8 answer parent=Some(7) text="<p>Yes</p>" tags=[]"#
                .replace("<p>Yes</p>", &html_to_text("<p>Yes</p>").text)
                .as_str(),
        );
        check(
            r#"{"type":"event","user_id":1,"kind":"favorite","target":{"type":"post","id":7},"at":"2024-01-02T03:04:05Z"}"#,
            "event 1 favorite Post(PostId(7)) w=3 key=derived",
        );
        check(
            r#"{"type":"event","user_id":1,"kind":"follow","target":{"type":"tag","id":"rust"},"at":"2024-01-02T03:04:05Z","weight":1.5,"key":"live:1"}"#,
            r#"event 1 follow Tag("rust") w=1.5 key=live:1"#,
        );
        check(r#"{"type":"tag","name":"Rust","count":3}"#, "tag rust 3");
        check(
            r#"{"type":"link","id":1,"post_id":7,"related_post_id":9,"kind":"duplicate","created_at":"2024-01-02T03:04:05Z"}"#,
            "link 1 7->9 duplicate",
        );
        check(r#"{"type":"user","id":1}"#, "skip malformed");
        check(r#"{"type":"poll","id":1}"#, "skip malformed");
        check(r#"not json"#, "skip malformed");
        check(
            r#"{"type":"user","id":1,"display_name":"A","created_at":"yesterday"}"#,
            "skip bad_date",
        );
        check(
            r#"{"type":"user","id":1,"display_name":"A","created_at":"2024-01-02T03:04:05Z","nmae":"x"}"#,
            "skip malformed",
        );
        check(
            r#"{"type":"post","id":8,"kind":"answer","body_text":"x","created_at":"2024-01-02T03:04:05Z"}"#,
            "skip missing_attribute",
        );
        check(
            r#"{"type":"post","id":8,"kind":"poll","body_text":"x","created_at":"2024-01-02T03:04:05Z"}"#,
            "skip bad_value",
        );
        check(
            r#"{"type":"post","id":8,"kind":"question","created_at":"2024-01-02T03:04:05Z"}"#,
            "skip missing_attribute",
        );
        check(
            r#"{"type":"event","user_id":1,"kind":"like","target":{"type":"post","id":7},"at":"2024-01-02T03:04:05Z"}"#,
            "skip invalid_event",
        );
        check(
            r#"{"type":"event","user_id":1,"kind":"follow","target":{"type":"tag","id":"Rust"},"at":"2024-01-02T03:04:05Z"}"#,
            r#"event 1 follow Tag("rust") w=3 key=derived"#,
        );
    }

    #[test]
    fn only_a_real_nul_is_a_nul() {
        let user = |name: &str| {
            format!(
                r#"{{"type":"user","id":1,"display_name":"{name}","created_at":"2024-01-02T03:04:05Z"}}"#
            )
        };
        check(&user(r"C:\\u0000"), r"user 1 C:\u0000");
        check(&user(r"a\\\u0000"), "skip illegal_character");
        check(&user(r"a\u0000b"), "skip illegal_character");
        check(&user(r"a\u001b[31m"), "skip illegal_character");
        check(&user(r"tab\tok"), "user 1 tab\tok");
    }

    #[test]
    fn text_bodies_become_escaped_paragraphs() {
        assert_eq!(
            text_to_html("a < b\n\nsecond & last"),
            "<p>a &lt; b</p>\n<p>second &amp; last</p>"
        );
    }
}
