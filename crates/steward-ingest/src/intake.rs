//! The one event intake: every interaction event, whether posted to the API,
//! read from a JSONL line or derived from a Stack Exchange row, passes
//! [`validate`], and the JSON sources parse it with [`parse_event`], so all
//! three normalise the same way, enforce the same limits and give the same
//! messages.
//!
//! A rejected event is an [`IntakeError`]: the dotted field that is wrong
//! (`target.id`) and what is wrong with it. The API answers it as
//! `invalid_event` with the event's index, the importers as a located skip.
//!
//! Normalisation, and the limits and why each is what it is:
//! - Tag names are trimmed and lower-cased, as post tags are on every import
//!   path, so a follow of `"Rust"` and one of `" rust"` name the tag `rust`.
//!   Keys are taken verbatim: they are identities, and rewriting one could
//!   merge two events.
//! - Keys: non-empty (not only whitespace), at most [`MAX_KEY_CHARS`]
//!   characters, no control characters (NUL cannot be stored by PostgreSQL;
//!   the others are invisible in every report that shows a key).
//! - Weights: finite, `|w| ≤` [`MAX_ABS_WEIGHT`].
//! - Times: from [`EARLIEST_YEAR`] through [`LATEST_YEAR`].
//! - Ids: users from [`MIN_USER_ID`]; posts in `1..2^40`, or a Stack Exchange
//!   comment's `PostId::comment(n)` with `n` in `1..2^40`.

use std::borrow::Cow;

use chrono::Datelike;
use serde_json::{Map, Value};
use steward_domain::{Event, EventKind, EventTarget, PostId, Timestamp, UserId};

use crate::values::parse_timestamp;

/// Longest event key. Keys are row identities in a unique index: 200
/// characters hold any `source:kind:id` scheme or a UUID with room to spare,
/// and bound the index entry.
pub const MAX_KEY_CHARS: usize = 200;

/// Longest tag name a tag target may have. Stack Exchange caps tags at 35
/// characters; 100 leaves room for other communities' topic names, and a
/// longer "tag" is a sentence sent into the wrong field.
pub const MAX_TAG_CHARS: usize = 100;

/// Largest absolute event weight. Weights are confidences on the scale of
/// [`EventKind::default_weight`] (−2 to 5); 1000 leaves a client's own scale
/// two orders of magnitude of room, while a sum over millions of events stays
/// exact enough in the `f32` that models train in, and can never overflow to
/// infinity the way a single `1e308` does.
pub const MAX_ABS_WEIGHT: f64 = 1000.0;

/// First accepted year (UTC). Times are stored as milliseconds since 1970;
/// no online community, and no event of one, is older, so an earlier time is
/// a zero or a typo (year 0, 1900 sentinels).
pub const EARLIEST_YEAR: i32 = 1970;

/// Last accepted year (UTC). Far beyond any clock skew, yet it rejects the
/// `9999-12-31` "never" sentinels of exports and keeps every time printable
/// as a four-digit RFC 3339 year.
pub const LATEST_YEAR: i32 = 2100;

/// Smallest user id: Stack Exchange's "Community" bot is user -1, every real
/// account is positive.
pub const MIN_USER_ID: i64 = -1;

/// Largest source id an importer accepts for posts, users, votes, badges,
/// links and history rows (2^40 - 1). Stack Exchange comments live at
/// `PostId::comment(n)` = 2^40 + n, so a post id from 2^40 on would land on a
/// comment, and a comment id from 2^40 on would overflow into another range
/// (or wrap past `i64::MAX`); 2^40 is a thousand times the largest site's ids.
pub const MAX_SOURCE_ID: i64 = PostId::COMMENT_BASE - 1;

/// Whether `id` is a source id of a post, comment, vote, badge, link or
/// history row: `1..=MAX_SOURCE_ID`.
pub fn is_source_id(id: i64) -> bool {
    (1..=MAX_SOURCE_ID).contains(&id)
}

/// Whether `id` is a post id: a source id, or a Stack Exchange comment's
/// `PostId::comment(n)` with `n` a source id (`2^40 + 1 ..= 2^41 - 1`).
pub fn is_post_id(id: i64) -> bool {
    is_source_id(id)
        || id
            .checked_sub(PostId::COMMENT_BASE)
            .is_some_and(is_source_id)
}

/// Whether `id` is a user id an importer accepts: a source id, or
/// [`MIN_USER_ID`] (Stack Exchange's "Community" user).
pub fn is_user_id(id: i64) -> bool {
    id == MIN_USER_ID || is_source_id(id)
}

/// Whether `year` is in [`EARLIEST_YEAR`]`..=`[`LATEST_YEAR`]: the one range
/// of times for events, posts, users and every other record.
pub fn is_accepted_year(year: i32) -> bool {
    (EARLIEST_YEAR..=LATEST_YEAR).contains(&year)
}

/// Fields of an event object; anything else is rejected, so that a typo such
/// as `wieght` is an error rather than a silently defaulted weight. `type`
/// may only say `event`: it lets a JSONL event line be posted as it is.
const FIELDS: [&str; 7] = ["type", "key", "kind", "user_id", "target", "at", "weight"];

/// Fields of a target object.
const TARGET_FIELDS: [&str; 2] = ["type", "id"];

/// Why an event was rejected: the field (dotted, `target.id`; `None` when the
/// event as a whole is wrong) and the problem, in words a client can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeError {
    /// `type`, `kind`, `user_id`, `target`, `target.type`, `target.id`,
    /// `at`, `weight`, `key`, or an unknown field's name.
    pub field: Option<Cow<'static, str>>,
    pub problem: String,
}

impl IntakeError {
    fn at(field: &'static str, problem: impl Into<String>) -> IntakeError {
        IntakeError {
            field: Some(Cow::Borrowed(field)),
            problem: problem.into(),
        }
    }

    /// The bad field, if one is to blame.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }
}

impl std::fmt::Display for IntakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "field `{field}`: {}", self.problem),
            None => f.write_str(&self.problem),
        }
    }
}

impl std::error::Error for IntakeError {}

/// Where a JSON event comes from; the sources differ only in what a missing
/// `at` or `key` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `POST /api/v1/events`: a missing `at` is `now` (the event is
    /// happening), a missing `key` a fresh `live:<uuid>` (the client asked for
    /// no idempotency, so the event is never taken for a duplicate).
    Api { now: Timestamp },
    /// A JSONL line: `at` is required (a file records past events; the import
    /// time is not theirs), and a missing `key` is derived from the event's
    /// content (see [`content_key`]), so re-importing the file, even
    /// re-formatted, stores each event once.
    Jsonl,
}

/// Parses one event object (an item of the API's array, a JSONL event line)
/// and runs it through [`validate`].
pub fn parse_event(raw: &Value, source: Source) -> Result<Event, IntakeError> {
    let Value::Object(fields) = raw else {
        return Err(IntakeError {
            field: None,
            problem: "an event must be a JSON object".into(),
        });
    };
    reject_unknown(fields, &FIELDS, "")?;
    match present(fields, "type") {
        None => {}
        Some(Value::String(record_type)) if record_type == "event" => {}
        Some(_) => {
            return Err(IntakeError::at(
                "type",
                "an event's `type`, when given, is \"event\"",
            ));
        }
    }
    let kind = match required(fields, "kind")? {
        Value::String(raw) => raw
            .parse::<EventKind>()
            .map_err(|error| IntakeError::at("kind", error.to_string()))?,
        _ => return Err(IntakeError::at("kind", "must be a string")),
    };
    let user_id = UserId(whole_number(required(fields, "user_id")?, "user_id")?);
    let target = parse_target(required(fields, "target")?)?;
    let at = match (present(fields, "at"), source) {
        (Some(Value::String(raw)), _) => parse_timestamp(raw).ok_or_else(|| {
            IntakeError::at(
                "at",
                format!(
                    "not an RFC 3339 time: `{}`",
                    raw.chars().take(40).collect::<String>()
                ),
            )
        })?,
        (Some(_), _) => return Err(IntakeError::at("at", "must be an RFC 3339 time string")),
        (None, Source::Api { now }) => now,
        (None, Source::Jsonl) => return Err(IntakeError::at("at", "is required")),
    };
    let weight = match present(fields, "weight") {
        None => kind.default_weight(),
        Some(value) => value
            .as_f64()
            .ok_or_else(|| IntakeError::at("weight", "must be a number"))?,
    };
    let key = match present(fields, "key") {
        Some(Value::String(key)) => {
            check_key(key)?;
            Some(key.clone())
        }
        Some(_) => return Err(IntakeError::at("key", "must be a string")),
        None => None,
    };
    let event = normalize(Event {
        key: key.clone().unwrap_or_default(),
        user_id,
        kind,
        target,
        at,
        weight,
    })?;
    // A derived key hashes the normalised event, so it comes last.
    let key = key.unwrap_or_else(|| match source {
        Source::Api { .. } => format!("live:{}", uuid::Uuid::new_v4()),
        Source::Jsonl => content_key(&event),
    });
    Ok(Event { key, ..event })
}

/// Normalises and checks an event from any source; the Stack Exchange
/// importer runs it on the events it derives from dump rows.
pub fn validate(event: Event) -> Result<Event, IntakeError> {
    check_key(&event.key)?;
    normalize(event)
}

/// [`validate`] but for the key, which [`parse_event`] may derive afterwards.
fn normalize(mut event: Event) -> Result<Event, IntakeError> {
    check_user_id(event.user_id.0, "user_id")?;
    event.target = normalize_target(event.target)?;
    let year = event.at.year();
    if !is_accepted_year(year) {
        return Err(IntakeError::at(
            "at",
            format!(
                "year {year} is outside {EARLIEST_YEAR} to {LATEST_YEAR}: `{}`",
                event.at.to_rfc3339()
            ),
        ));
    }
    if !event.weight.is_finite() || event.weight.abs() > MAX_ABS_WEIGHT {
        return Err(IntakeError::at(
            "weight",
            format!(
                "must be a finite number from -{MAX_ABS_WEIGHT} to {MAX_ABS_WEIGHT}, got {}",
                event.weight
            ),
        ));
    }
    Ok(event)
}

/// The key of a JSONL event that names none: `jsonl:` and the 128-bit xxh3
/// hash of what identifies the act (kind, user, normalised target, time in
/// milliseconds). The weight is left out: it says how much the act counts,
/// not which act it was. Two lines recording the same act at the same
/// millisecond are one event.
pub fn content_key(event: &Event) -> String {
    let target = match &event.target {
        EventTarget::Post(id) => format!("post\u{1f}{id}"),
        EventTarget::User(id) => format!("user\u{1f}{id}"),
        EventTarget::Tag(name) => format!("tag\u{1f}{name}"),
    };
    let identity = format!(
        "{}\u{1f}{}\u{1f}{target}\u{1f}{}",
        event.kind,
        event.user_id,
        event.at.timestamp_millis()
    );
    format!(
        "jsonl:{:032x}",
        xxhash_rust::xxh3::xxh3_128(identity.as_bytes())
    )
}

fn check_key(key: &str) -> Result<(), IntakeError> {
    if key.trim().is_empty() {
        return Err(IntakeError::at("key", "must not be empty"));
    }
    let chars = key.chars().count();
    if chars > MAX_KEY_CHARS {
        return Err(IntakeError::at(
            "key",
            format!("{chars} characters; at most {MAX_KEY_CHARS} are accepted"),
        ));
    }
    if key.chars().any(char::is_control) {
        return Err(IntakeError::at(
            "key",
            "must not hold control characters (NUL, newline, escape, ...)",
        ));
    }
    Ok(())
}

fn check_user_id(id: i64, field: &'static str) -> Result<(), IntakeError> {
    if id < MIN_USER_ID {
        return Err(IntakeError::at(
            field,
            format!("user id {id} is below {MIN_USER_ID}"),
        ));
    }
    Ok(())
}

/// Post ids live in `1..2^40`; Stack Exchange comments at `2^40 + n` with
/// `n` in `1..2^40` (see [`PostId::comment`]).
fn check_post_id(id: i64) -> Result<(), IntakeError> {
    if !is_post_id(id) {
        return Err(IntakeError::at(
            "target.id",
            format!("post id {id} is outside 1 to 2^40-1 (posts) and 2^40+1 to 2^41-1 (comments)"),
        ));
    }
    Ok(())
}

fn normalize_target(target: EventTarget) -> Result<EventTarget, IntakeError> {
    match target {
        EventTarget::Post(id) => check_post_id(id.0).map(|()| EventTarget::Post(id)),
        EventTarget::User(id) => check_user_id(id.0, "target.id").map(|()| EventTarget::User(id)),
        EventTarget::Tag(name) => {
            let name = name.trim().to_lowercase();
            if name.is_empty() {
                return Err(IntakeError::at(
                    "target.id",
                    "a tag target's id is its name, a non-empty string",
                ));
            }
            let chars = name.chars().count();
            if chars > MAX_TAG_CHARS {
                return Err(IntakeError::at(
                    "target.id",
                    format!("tag name of {chars} characters; at most {MAX_TAG_CHARS}"),
                ));
            }
            if name.chars().any(char::is_control) {
                return Err(IntakeError::at(
                    "target.id",
                    "a tag name must not hold control characters",
                ));
            }
            Ok(EventTarget::Tag(name))
        }
    }
}

/// `{"type": "post"|"user"|"tag", "id": ...}`, shape only: ranges and
/// normalisation are [`validate`]'s.
fn parse_target(value: &Value) -> Result<EventTarget, IntakeError> {
    let Value::Object(target) = value else {
        return Err(IntakeError::at(
            "target",
            "must be an object {\"type\", \"id\"}",
        ));
    };
    reject_unknown(target, &TARGET_FIELDS, "target.")?;
    let kind = match present(target, "type") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => return Err(IntakeError::at("target.type", "must be a string")),
        None => {
            return Err(IntakeError::at(
                "target.type",
                "is required: post, user or tag",
            ));
        }
    };
    let id = present(target, "id").ok_or_else(|| IntakeError::at("target.id", "is required"))?;
    match kind {
        "post" => Ok(EventTarget::Post(PostId(whole_number(id, "target.id")?))),
        "user" => Ok(EventTarget::User(UserId(whole_number(id, "target.id")?))),
        "tag" => match id {
            Value::String(name) => Ok(EventTarget::Tag(name.clone())),
            _ => Err(IntakeError::at(
                "target.id",
                "a tag target's id is its name, a non-empty string",
            )),
        },
        other => Err(IntakeError::at(
            "target.type",
            format!(
                "unknown target type `{}`; expected post, user or tag",
                other.chars().take(40).collect::<String>()
            ),
        )),
    }
}

/// The first field of `object` not in `known`, as an error naming it (with
/// `prefix`, so an unknown target field reads `target.name`).
fn reject_unknown(
    object: &Map<String, Value>,
    known: &[&str],
    prefix: &str,
) -> Result<(), IntakeError> {
    match object.keys().find(|name| !known.contains(&name.as_str())) {
        None => Ok(()),
        Some(unknown) => Err(IntakeError {
            field: Some(Cow::Owned(format!(
                "{prefix}{}",
                unknown.chars().take(40).collect::<String>()
            ))),
            problem: format!("unknown field; expected: {}", known.join(", ")),
        }),
    }
}

/// A field that is present and not `null` (`null` means "use the default").
fn present<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    fields.get(name).filter(|value| !value.is_null())
}

fn required<'a>(
    fields: &'a Map<String, Value>,
    name: &'static str,
) -> Result<&'a Value, IntakeError> {
    present(fields, name).ok_or_else(|| IntakeError::at(name, "is required"))
}

fn whole_number(value: &Value, field: &'static str) -> Result<i64, IntakeError> {
    value
        .as_i64()
        .ok_or_else(|| IntakeError::at(field, "must be a whole number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(text: &str) -> Timestamp {
        chrono::DateTime::parse_from_rfc3339(text)
            .expect("valid time")
            .to_utc()
    }

    fn event(target: EventTarget) -> Event {
        Event {
            key: "k".into(),
            user_id: UserId(1),
            kind: EventKind::Follow,
            target,
            at: time("2024-01-02T03:04:05Z"),
            weight: 3.0,
        }
    }

    /// `Ok(target)`: what `validate` made of the target; `Err(field)`: what it blamed.
    fn check(event: Event, expected: Result<EventTarget, &str>) {
        let outcome = validate(event.clone());
        match (outcome, expected) {
            (Ok(got), Ok(target)) => assert_eq!(got.target, target, "{event:?}"),
            (Err(error), Err(field)) => assert_eq!(error.field(), Some(field), "{event:?}"),
            (got, expected) => panic!("{event:?}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn validation_normalises_tags_and_enforces_ranges() {
        let tag = |name: &str| EventTarget::Tag(name.into());
        check(event(tag("  Rust ")), Ok(tag("rust")));
        check(event(tag("C#")), Ok(tag("c#")));
        check(event(tag("   ")), Err("target.id"));
        check(event(tag("a\u{1b}b")), Err("target.id"));
        check(event(tag(&"x".repeat(101))), Err("target.id"));
        let post = |id| EventTarget::Post(PostId(id));
        check(event(post(1)), Ok(post(1)));
        check(event(post((1 << 40) - 1)), Ok(post((1 << 40) - 1)));
        check(
            event(post(PostId::comment(5).0)),
            Ok(post(PostId::comment(5).0)),
        );
        check(event(post(0)), Err("target.id"));
        check(event(post(-3)), Err("target.id"));
        check(event(post(1 << 40)), Err("target.id"));
        check(event(post(1 << 41)), Err("target.id"));
        check(event(post(i64::MAX)), Err("target.id"));
        check(event(post(i64::MIN)), Err("target.id"));
        let user = |id| EventTarget::User(UserId(id));
        check(event(user(-1)), Ok(user(-1)));
        check(event(user(-2)), Err("target.id"));
        check(
            Event {
                user_id: UserId(-2),
                ..event(post(1))
            },
            Err("user_id"),
        );
        for weight in [f64::NAN, f64::INFINITY, 1e308, -1000.5] {
            check(
                Event {
                    weight,
                    ..event(post(1))
                },
                Err("weight"),
            );
        }
        for at in ["1969-12-31T23:59:59Z", "2101-01-01T00:00:00Z"] {
            check(
                Event {
                    at: time(at),
                    ..event(post(1))
                },
                Err("at"),
            );
        }
        for key in ["", " ", "a\0b", "line\nbreak", &"k".repeat(201)] {
            check(
                Event {
                    key: key.into(),
                    ..event(post(1))
                },
                Err("key"),
            );
        }
        check(
            Event {
                key: "ключ:🦀".repeat(28),
                ..event(post(1))
            },
            Ok(post(1)),
        );
    }

    #[test]
    fn derived_keys_follow_the_normalised_act_not_its_spelling() {
        let parse = |line: &str| {
            let value: Value = serde_json::from_str(line).expect("valid JSON");
            parse_event(&value, Source::Jsonl).expect("valid event")
        };
        let first = parse(
            r#"{"kind":"follow","user_id":1,"target":{"type":"tag","id":"Rust"},"at":"2024-01-02T05:04:05+02:00"}"#,
        );
        let same = parse(
            r#"{"at":"2024-01-02T03:04:05Z","weight":9,"target":{"id":" rust","type":"tag"},"user_id":1,"kind":"follow"}"#,
        );
        let later = parse(
            r#"{"kind":"follow","user_id":1,"target":{"type":"tag","id":"rust"},"at":"2024-01-02T03:04:06Z"}"#,
        );
        assert!(first.key.starts_with("jsonl:"), "{}", first.key);
        assert_eq!(first.key, same.key);
        assert_ne!(first.key, later.key);
    }

    #[test]
    fn the_api_fills_in_now_and_a_fresh_key() {
        let now = time("2026-01-02T03:04:05Z");
        let value: Value =
            serde_json::from_str(r#"{"kind":"view","user_id":1,"target":{"type":"post","id":7}}"#)
                .expect("valid JSON");
        let first = parse_event(&value, Source::Api { now }).expect("valid event");
        let second = parse_event(&value, Source::Api { now }).expect("valid event");
        assert_eq!(first.at, now);
        assert!(first.key.starts_with("live:"), "{}", first.key);
        assert_ne!(first.key, second.key);
        let missing_at = parse_event(&value, Source::Jsonl).expect_err("at is required");
        assert_eq!(missing_at.field(), Some("at"));
        let typed: Value = serde_json::from_str(
            r#"{"type":"user","kind":"view","user_id":1,"target":{"type":"post","id":7}}"#,
        )
        .expect("valid JSON");
        let not_an_event = parse_event(&typed, Source::Api { now }).expect_err("not an event");
        assert_eq!(not_an_event.field(), Some("type"));
    }
}
