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

use crate::idset::IdSet;
use crate::intake::{self, Source};
use crate::report::{ImportReport, SkipReason};
use crate::rows::{Framing, spawn_reader};
use crate::values::parse_date;
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

    let mut imported_posts = IdSet::default();
    let mut seen_users = IdSet::default();
    let mut seen_posts = IdSet::default();
    let mut seen_links = IdSet::default();
    let mut seen_tags: HashSet<String> = HashSet::new();
    let mut seen_event_keys: HashSet<String> = HashSet::new();
    let mut rows_done = 0;

    while let Some(chunk) = chunks.recv().await {
        let chunk = chunk.map_err(|source| Error::io("reading", path, source))?;
        report.files[file_idx].rows_read += chunk.records.len() as u64;
        let defined_here: HashSet<i64> = chunk
            .records
            .iter()
            .filter_map(|record| match &record.outcome {
                Ok(Record::Post(post)) => Some(post.id.0),
                _ => None,
            })
            .collect();
        let mut referenced: Vec<PostId> = chunk
            .records
            .iter()
            .filter_map(|record| record.outcome.as_ref().ok())
            .flat_map(Record::referenced_posts)
            .map(|(_, id)| id)
            .filter(|id| !imported_posts.contains(id.0) && !defined_here.contains(&id.0))
            .collect();
        referenced.sort_unstable();
        referenced.dedup();
        let mut in_store: HashSet<i64> = HashSet::new();
        for ids in referenced.chunks(500) {
            in_store.extend(store.existing_posts(ids).await?.into_iter().map(|id| id.0));
        }

        let mut batch = WriteBatch::default();
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
            let dangling = value
                .referenced_posts()
                .into_iter()
                .find(|(_, id)| !imported_posts.contains(id.0) && !in_store.contains(&id.0));
            if let Some((attribute, post_id)) = dangling {
                let reason = SkipReason::DanglingReference {
                    attribute,
                    post_id: post_id.0,
                };
                report.record_skip(file_idx, line, reason);
                continue;
            }
            match value {
                Record::User(user) => {
                    seen_users.insert(user.id.0);
                    batch.users.push(user);
                }
                Record::Post(post) => {
                    seen_posts.insert(post.id.0);
                    imported_posts.insert(post.id.0);
                    batch.posts.push(post);
                }
                Record::Link(link) => {
                    seen_links.insert(link.id);
                    batch.post_links.push(link);
                }
                Record::Tag(tag) => {
                    seen_tags.insert(tag.name.clone());
                    batch.tags.push(tag);
                }
                Record::Event(event) => {
                    seen_event_keys.insert(event.key.clone());
                    batch.events.push(event);
                }
            }
        }
        let imported = batch.len() as u64;
        if !batch.is_empty() {
            store.write(&batch).await?;
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
    // checked here, before the store would refuse the whole batch.
    if !matches!(wire, WireRecord::Event(_)) && has_escaped_nul(line) {
        return Err(SkipReason::BadValue {
            attribute: "text",
            value: "a NUL character (\\u0000), which the store cannot keep".to_string(),
        });
    }
    match wire {
        WireRecord::User(user) => Ok(Record::User(User {
            id: UserId(user.id),
            display_name: user.display_name,
            reputation: user.reputation,
            created_at: parse_date("created_at", &user.created_at)?,
            last_access_at: optional_date("last_access_at", user.last_access_at.as_deref())?,
            location: user.location,
            about: user.about,
            website: user.website,
        })),
        WireRecord::Post(post) => map_post(post).map(Record::Post),
        WireRecord::Event(fields) => intake::parse_event(&Value::Object(fields), Source::Jsonl)
            .map(Record::Event)
            .map_err(SkipReason::InvalidEvent),
        WireRecord::Tag(tag) => {
            let name = tag.name.trim().to_lowercase();
            if name.is_empty() {
                return Err(SkipReason::MissingAttribute("name"));
            }
            Ok(Record::Tag(Tag {
                name,
                count: tag.count,
                excerpt: tag.excerpt,
                wiki: tag.wiki,
                synonyms: tag
                    .synonyms
                    .iter()
                    .map(|name| name.trim().to_lowercase())
                    .collect(),
            }))
        }
        WireRecord::Link(link) => {
            let kind: PostLinkKind = link.kind.parse().map_err(|_| SkipReason::BadValue {
                attribute: "kind",
                value: link.kind.clone(),
            })?;
            Ok(Record::Link(PostLink {
                id: link.id,
                post_id: PostId(link.post_id),
                related_post_id: PostId(link.related_post_id),
                kind,
                created_at: parse_date("created_at", &link.created_at)?,
            }))
        }
    }
}

/// Whether the JSON text `line` holds the escape `\u0000` (a NUL once
/// decoded), as opposed to an escaped backslash followed by `u0000`: the
/// escape is real when an even number of backslashes precedes its own.
fn has_escaped_nul(line: &str) -> bool {
    line.match_indices("\\u0000").any(|(start, _)| {
        let preceding = line.as_bytes()[..start]
            .iter()
            .rev()
            .take_while(|&&byte| byte == b'\\')
            .count();
        preceding % 2 == 0
    })
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
    Ok(Post {
        id: PostId(post.id),
        kind,
        parent_id: post.parent_id.map(PostId),
        accepted_answer_id: post.accepted_answer_id.map(PostId),
        owner_id: post.owner_id.map(UserId),
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
    })
}

fn optional_date(name: &'static str, value: Option<&str>) -> Result<Option<Timestamp>, SkipReason> {
    value.map(|value| parse_date(name, value)).transpose()
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
    fn only_a_real_nul_escape_is_a_nul() {
        let check = |json_text: &str, expected: bool| {
            assert_eq!(has_escaped_nul(json_text), expected, "{json_text}");
        };
        check(r#""a\u0000b""#, true);
        check(r#""a\\u0000b""#, false);
        check(r#""a\\\u0000b""#, true);
        check(r#""u0000""#, false);
        check(r#""\u00000""#, true);
        let user = |name: &str| {
            format!(
                r#"{{"type":"user","id":1,"display_name":"{name}","created_at":"2024-01-02T03:04:05Z"}}"#
            )
        };
        assert!(map_line(&user(r"C:\\u0000")).is_ok());
        assert!(map_line(&user(r"a\u0000")).is_err());
    }

    #[test]
    fn text_bodies_become_escaped_paragraphs() {
        assert_eq!(
            text_to_html("a < b\n\nsecond & last"),
            "<p>a &lt; b</p>\n<p>second &amp; last</p>"
        );
    }
}
