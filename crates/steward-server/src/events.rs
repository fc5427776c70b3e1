//! Live interaction events (`POST /api/v1/events`): each event of the batch
//! through [`steward_ingest::intake`], the validation JSONL and Stack Exchange
//! events pass too, then one all-or-nothing insert.
//!
//! Events are validated from raw JSON rather than through a derived
//! `Deserialize`, so that a bad batch is answered with the index of the bad
//! event and the name of the bad field, which serde's messages do not give.

use std::collections::HashSet;

use serde_json::Value;
use steward_domain::{Event, EventTarget, PostId, Timestamp};
use steward_ingest::intake::{self, Source};
use steward_store::Store;

use crate::dto::EventsAccepted;
use crate::error::ApiError;

/// Most events one request may carry; larger feeds send several batches.
pub const MAX_EVENTS_PER_REQUEST: usize = 1000;

/// Validates `body` (one event object or an array of them) into events.
/// Missing `at` is `now`, missing `key` a fresh `live:<uuid>` (see
/// [`Source::Api`]); the first invalid event answers for the batch.
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
        .map(|(index, item)| {
            intake::parse_event(item, Source::Api { now })
                .map_err(|error| ApiError::invalid_event(index, error.field(), &error.problem))
        })
        .collect()
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
    use steward_domain::{EventKind, UserId};

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
