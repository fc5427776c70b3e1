//! Live interaction events (`POST /api/v1/events`): validation of each event
//! field by field, then one all-or-nothing insert.
//!
//! Events are validated from raw JSON rather than through a derived
//! `Deserialize`, so that a bad batch is answered with the index of the bad
//! event and the name of the bad field, which serde's messages do not give.

use std::collections::HashSet;

use serde_json::{Map, Value};
use steward_domain::{Event, EventKind, EventTarget, PostId, Timestamp, UserId};
use steward_store::Store;

use crate::dto::EventsAccepted;
use crate::error::ApiError;

/// Most events one request may carry; larger feeds send several batches.
pub const MAX_EVENTS_PER_REQUEST: usize = 1000;

/// Longest client-chosen idempotency key.
const MAX_KEY_CHARS: usize = 200;

const FIELDS: [&str; 6] = ["key", "kind", "user_id", "target", "at", "weight"];

/// Validates `body` (one event object or an array of them) into events.
/// Missing `at` is `now`, missing `weight` the kind's default weight, missing
/// `key` a fresh `live:<uuid>` (so the event is never taken for a duplicate).
pub fn parse(body: &Value, now: Timestamp) -> Result<Vec<Event>, ApiError> {
    let items: &[Value] = match body {
        Value::Array(items) => items,
        Value::Object(_) => std::slice::from_ref(body),
        _ => {
            return Err(ApiError::bad_request(
                "the body must be an event object or an array of event objects",
            ));
        }
    };
    if items.len() > MAX_EVENTS_PER_REQUEST {
        return Err(ApiError::bad_request(format!(
            "{} events in one request; at most {MAX_EVENTS_PER_REQUEST} are accepted",
            items.len()
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(index, item)| parse_one(index, item, now))
        .collect()
}

fn parse_one(index: usize, item: &Value, now: Timestamp) -> Result<Event, ApiError> {
    let invalid =
        |field: &str, problem: String| ApiError::invalid_event(index, Some(field), problem);
    let Value::Object(fields) = item else {
        return Err(ApiError::invalid_event(
            index,
            None,
            "an event must be a JSON object",
        ));
    };
    if let Some(unknown) = fields.keys().find(|name| !FIELDS.contains(&name.as_str())) {
        return Err(invalid(
            unknown,
            format!("unknown field; expected: {}", FIELDS.join(", ")),
        ));
    }
    let kind = match required(fields, "kind").map_err(|problem| invalid("kind", problem))? {
        Value::String(raw) => raw
            .parse::<EventKind>()
            .map_err(|error| invalid("kind", error.to_string()))?,
        _ => return Err(invalid("kind", "must be a string".into())),
    };
    let user_id = required(fields, "user_id")
        .map_err(|problem| invalid("user_id", problem))?
        .as_i64()
        .ok_or_else(|| invalid("user_id", "must be a whole number".into()))?;
    let target =
        parse_target(required(fields, "target").map_err(|problem| invalid("target", problem))?)
            .map_err(|(field, problem)| invalid(field, problem))?;
    let at = match fields.get("at") {
        None | Some(Value::Null) => now,
        Some(Value::String(raw)) => chrono::DateTime::parse_from_rfc3339(raw)
            .map_err(|error| invalid("at", format!("not an RFC 3339 time ({error}): `{raw}`")))?
            .to_utc(),
        Some(_) => return Err(invalid("at", "must be an RFC 3339 time string".into())),
    };
    let weight = match fields.get("weight") {
        None | Some(Value::Null) => kind.default_weight(),
        Some(value) => value
            .as_f64()
            .filter(|weight| weight.is_finite())
            .ok_or_else(|| invalid("weight", "must be a finite number".into()))?,
    };
    let key = match fields.get("key") {
        None | Some(Value::Null) => format!("live:{}", uuid::Uuid::new_v4()),
        Some(Value::String(key))
            if !key.trim().is_empty()
                && key.chars().count() <= MAX_KEY_CHARS
                && !key.contains('\0') =>
        {
            key.clone()
        }
        Some(_) => {
            return Err(invalid(
                "key",
                format!("must be a non-empty string of at most {MAX_KEY_CHARS} characters, no NUL"),
            ));
        }
    };
    Ok(Event {
        key,
        user_id: UserId(user_id),
        kind,
        target,
        at,
        weight,
    })
}

fn required<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<&'a Value, String> {
    match fields.get(name) {
        None | Some(Value::Null) => Err("is required".into()),
        Some(value) => Ok(value),
    }
}

/// `{"type": "post"|"user"|"tag", "id": ...}`; errors name `target.type` or
/// `target.id`.
fn parse_target(value: &Value) -> Result<EventTarget, (&'static str, String)> {
    let Value::Object(target) = value else {
        return Err(("target", "must be an object {\"type\", \"id\"}".into()));
    };
    let id = target
        .get("id")
        .ok_or(("target.id", "is required".to_string()))?;
    let whole = |id: &Value| {
        id.as_i64()
            .ok_or(("target.id", "must be a whole number".to_string()))
    };
    match target.get("type").and_then(Value::as_str) {
        Some("post") => Ok(EventTarget::Post(PostId(whole(id)?))),
        Some("user") => Ok(EventTarget::User(UserId(whole(id)?))),
        Some("tag") => match id.as_str().map(|name| name.trim().to_lowercase()) {
            Some(name) if !name.is_empty() && !name.contains('\0') => Ok(EventTarget::Tag(name)),
            _ => Err((
                "target.id",
                "a tag target's id is its name, a non-empty string".into(),
            )),
        },
        Some(other) => Err((
            "target.type",
            format!("unknown target type `{other}`; expected post, user or tag"),
        )),
        None => Err(("target.type", "is required: post, user or tag".into())),
    }
}

/// Validates and stores a batch: all of it or, on any error, none of it.
/// Post targets must exist (an event about a missing post would dangle);
/// user and tag targets are taken as given, since live users and topics may
/// appear before the next import brings them in.
pub async fn ingest(
    store: &Store,
    body: &Value,
    now: Timestamp,
) -> Result<EventsAccepted, ApiError> {
    let events = parse(body, now)?;
    let post_ids: Vec<PostId> = events
        .iter()
        .filter_map(|event| match event.target {
            EventTarget::Post(id) => Some(id),
            _ => None,
        })
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    if !post_ids.is_empty() {
        let existing = store.existing_posts(&post_ids).await?;
        if let Some((index, id)) = events
            .iter()
            .enumerate()
            .find_map(|(index, event)| match event.target {
                EventTarget::Post(id) if !existing.contains(&id) => Some((index, id)),
                _ => None,
            })
        {
            return Err(ApiError::invalid_event(
                index,
                Some("target.id"),
                format!("no post with id {id}"),
            ));
        }
    }
    let accepted = store.insert_events(&events).await?;
    Ok(EventsAccepted {
        accepted,
        duplicates: (events.len() as u64).saturating_sub(accepted),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .expect("valid time")
            .to_utc()
    }

    /// An expected event: key (`live:*` for a generated one), kind, target, weight.
    type Expected<'a> = (&'a str, EventKind, EventTarget, f64);

    /// `Ok(events)`: what was parsed; `Err((index, field))`: where it failed.
    fn check(body: &str, expected: Result<Vec<Expected<'_>>, (usize, Option<&str>)>) {
        let value: Value = serde_json::from_str(body).expect("valid JSON");
        match (parse(&value, now()), expected) {
            (Ok(events), Ok(expected)) => {
                let got: Vec<_> = events
                    .iter()
                    .map(|event| (event.kind, event.target.clone(), event.weight))
                    .collect();
                let want: Vec<_> = expected
                    .iter()
                    .map(|(_, kind, target, weight)| (*kind, target.clone(), *weight))
                    .collect();
                assert_eq!(got, want, "{body}");
                for (event, (key, ..)) in events.iter().zip(&expected) {
                    match *key {
                        "live:*" => {
                            assert!(event.key.starts_with("live:"), "{body}: {}", event.key)
                        }
                        key => assert_eq!(event.key, key, "{body}"),
                    }
                }
            }
            (Err(error), Err((index, field))) => {
                assert_eq!(error.code, "invalid_event", "{body}: {error:?}");
                assert_eq!(
                    (error.details.index, error.details.field.as_deref()),
                    (Some(index), field),
                    "{body}"
                );
            }
            (got, expected) => panic!("{body}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn events_are_validated_field_by_field() {
        let post = |id| EventTarget::Post(PostId(id));
        check(
            r#"{"kind":"view","user_id":1,"target":{"type":"post","id":7}}"#,
            Ok(vec![("live:*", EventKind::View, post(7), 1.0)]),
        );
        check(
            r#"[{"kind":"up_vote","user_id":1,"target":{"type":"post","id":7},"key":"k1","weight":0.5,"at":"2025-01-01T00:00:00+02:00"},
                {"kind":"follow","user_id":2,"target":{"type":"tag","id":"Rust"}},
                {"kind":"follow","user_id":2,"target":{"type":"user","id":1}}]"#,
            Ok(vec![
                ("k1", EventKind::UpVote, post(7), 0.5),
                (
                    "live:*",
                    EventKind::Follow,
                    EventTarget::Tag("rust".into()),
                    3.0,
                ),
                (
                    "live:*",
                    EventKind::Follow,
                    EventTarget::User(UserId(1)),
                    3.0,
                ),
            ]),
        );
        check("[]", Ok(vec![]));
        let good = r#"{"kind":"view","user_id":1,"target":{"type":"post","id":7}}"#;
        check(
            &format!(r#"[{good},{{"kind":"like","user_id":1,"target":{{"type":"post","id":7}}}}]"#),
            Err((1, Some("kind"))),
        );
        check(
            r#"[{"user_id":1,"target":{"type":"post","id":7}}]"#,
            Err((0, Some("kind"))),
        );
        check(
            r#"{"kind":"view","user_id":"me","target":{"type":"post","id":7}}"#,
            Err((0, Some("user_id"))),
        );
        check(r#"{"kind":"view","user_id":1}"#, Err((0, Some("target"))));
        check(
            r#"{"kind":"view","user_id":1,"target":{"type":"badge","id":7}}"#,
            Err((0, Some("target.type"))),
        );
        check(
            r#"{"kind":"view","user_id":1,"target":{"type":"post","id":"7"}}"#,
            Err((0, Some("target.id"))),
        );
        check(
            r#"{"kind":"view","user_id":1,"target":{"type":"post","id":7},"at":"yesterday"}"#,
            Err((0, Some("at"))),
        );
        check(
            r#"{"kind":"view","user_id":1,"target":{"type":"post","id":7},"weight":"heavy"}"#,
            Err((0, Some("weight"))),
        );
        check(
            r#"{"kind":"view","user_id":1,"target":{"type":"post","id":7},"key":""}"#,
            Err((0, Some("key"))),
        );
        check(
            r#"{"kind":"view","user_id":1,"target":{"type":"post","id":7},"wieght":2}"#,
            Err((0, Some("wieght"))),
        );
        check(&format!("[{good}, 5]"), Err((1, None)));
    }

    #[test]
    fn default_time_is_now_and_explicit_times_become_utc() {
        let value: Value = serde_json::from_str(
            r#"[{"kind":"view","user_id":1,"target":{"type":"post","id":7}},
                {"kind":"view","user_id":1,"target":{"type":"post","id":7},"at":"2025-01-01T02:00:00+02:00"}]"#,
        )
        .expect("valid JSON");
        let events = parse(&value, now()).expect("valid events");
        assert_eq!(events[0].at, now());
        assert_eq!(crate::dto::time(events[1].at), "2025-01-01T00:00:00Z");
    }
}
