//! One event intake: the same raw events posted to the API and imported from a
//! JSONL file into a real SQLite store are accepted, normalised and rejected
//! alike, with the same field and the same message.

mod common;

use std::path::Path;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use steward_domain::{Event, EventKind, EventTarget, PostId, Timestamp, UserId};
use steward_ingest::jsonl::{JsonlOptions, import_jsonl};
use steward_ingest::report::{ImportReport, SkipReason};
use steward_jobs::JobHandle;
use steward_server::{events, router};
use steward_store::Store;
use tower::ServiceExt;

fn now() -> Timestamp {
    steward_testkit::fixtures::time("2026-01-02T03:04:05Z")
}

/// The single place this file calls the importer, so that a change of its
/// signature is a one-line change here.
async fn import(store: &Store, path: &Path) -> ImportReport {
    import_jsonl(store, path, &JsonlOptions::default(), &JobHandle::new())
        .await
        .expect("the import runs to the end")
}

/// Writes `events` as JSONL event lines (line n is `events[n - 1]` with
/// `"type":"event"`) and imports them.
async fn import_events(store: &Store, events: &[Value]) -> ImportReport {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("events.jsonl");
    let lines: Vec<String> = events
        .iter()
        .map(|event| {
            let mut line = event.clone();
            line.as_object_mut()
                .expect("table events are objects")
                .insert("type".into(), json!("event"));
            line.to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n")).expect("file written");
    import(store, &path).await
}

fn event(
    key: &str,
    user: i64,
    kind: EventKind,
    target: EventTarget,
    at: &str,
    weight: f64,
) -> Event {
    Event {
        key: key.into(),
        user_id: UserId(user),
        kind,
        target,
        at: steward_testkit::fixtures::time(at),
        weight,
    }
}

const AT: &str = "2024-01-02T03:04:05Z";

/// The event both paths store, or the field both blame and a fragment of the
/// message both give.
type Expected = Result<Event, (&'static str, &'static str)>;

/// Raw event → what both paths make of it. Post targets 10 and 11 are in the store.
fn table() -> Vec<(Value, Expected)> {
    use EventKind::{Follow, UpVote, View};
    let post = |id| EventTarget::Post(PostId(id));
    let tag = |name: &str| EventTarget::Tag(name.into());
    let base = |extra: Value| {
        let mut event =
            json!({"kind": "view", "user_id": 2, "target": {"type": "post", "id": 10}, "at": AT});
        for (name, value) in extra.as_object().expect("object") {
            event[name] = value.clone();
        }
        event
    };
    let without = |name: &str| {
        let mut event = base(json!({"key": format!("without-{name}")}));
        event.as_object_mut().expect("object").remove(name);
        event
    };
    vec![
        // Accepted, normalised.
        (
            base(json!({"key": "ok-view"})),
            Ok(event("ok-view", 2, View, post(10), AT, 1.0)),
        ),
        (
            base(
                json!({"key": "ok-rust", "kind": "follow", "target": {"type": "tag", "id": "Rust"}}),
            ),
            Ok(event("ok-rust", 2, Follow, tag("rust"), AT, 3.0)),
        ),
        (
            base(
                json!({"key": "ok-tokio", "kind": "follow", "target": {"id": "  Tokio ", "type": "tag"}}),
            ),
            Ok(event("ok-tokio", 2, Follow, tag("tokio"), AT, 3.0)),
        ),
        (
            base(
                json!({"key": "ok-vote", "kind": "up_vote", "target": {"type": "post", "id": 11},
                        "weight": 0.5, "at": "2024-01-02T05:04:05+02:00"}),
            ),
            Ok(event("ok-vote", 2, UpVote, post(11), AT, 0.5)),
        ),
        (
            base(
                json!({"key": "ok-community", "user_id": -1, "kind": "follow", "target": {"type": "user", "id": -1}}),
            ),
            Ok(event(
                "ok-community",
                -1,
                Follow,
                EventTarget::User(UserId(-1)),
                AT,
                3.0,
            )),
        ),
        (
            base(json!({"key": "ok-no-zone", "at": "2024-01-02T03:04:05"})),
            Ok(event("ok-no-zone", 2, View, post(10), AT, 1.0)),
        ),
        (
            base(json!({"key": "ok-limits", "weight": -1000, "at": "2100-12-31T23:59:59Z"})),
            Ok(event(
                "ok-limits",
                2,
                View,
                post(10),
                "2100-12-31T23:59:59Z",
                -1000.0,
            )),
        ),
        (
            base(json!({"key": "ok-nulls", "weight": null, "type": "event"})),
            Ok(event("ok-nulls", 2, View, post(10), AT, 1.0)),
        ),
        // Rejected: shape.
        (base(json!({"kind": "like"})), Err(("kind", "like"))),
        (base(json!({"kind": 5})), Err(("kind", "must be a string"))),
        (without("kind"), Err(("kind", "is required"))),
        (without("user_id"), Err(("user_id", "is required"))),
        (
            base(json!({"user_id": "me"})),
            Err(("user_id", "whole number")),
        ),
        (
            base(json!({"user_id": 1.5})),
            Err(("user_id", "whole number")),
        ),
        (without("target"), Err(("target", "is required"))),
        (
            base(json!({"target": "post:10"})),
            Err(("target", "must be an object")),
        ),
        (
            base(json!({"target": {"id": 10}})),
            Err(("target.type", "is required")),
        ),
        (
            base(json!({"target": {"type": "badge", "id": 10}})),
            Err(("target.type", "unknown target type")),
        ),
        (
            base(json!({"target": {"type": "post"}})),
            Err(("target.id", "is required")),
        ),
        (
            base(json!({"target": {"type": "post", "id": "10"}})),
            Err(("target.id", "whole number")),
        ),
        (
            base(json!({"target": {"type": "post", "id": 10, "name": "x"}})),
            Err(("target.name", "unknown field")),
        ),
        (
            base(json!({"target": {"type": "tag", "id": 7}})),
            Err(("target.id", "non-empty string")),
        ),
        (
            base(json!({"at": "yesterday"})),
            Err(("at", "not an RFC 3339 time")),
        ),
        (
            base(json!({"at": 1_700_000_000})),
            Err(("at", "must be an RFC 3339 time string")),
        ),
        (
            base(json!({"weight": "heavy"})),
            Err(("weight", "must be a number")),
        ),
        (base(json!({"key": 7})), Err(("key", "must be a string"))),
        (base(json!({"wieght": 2})), Err(("wieght", "unknown field"))),
        // Rejected: ranges and limits.
        (base(json!({"user_id": -2})), Err(("user_id", "below -1"))),
        (
            base(json!({"target": {"type": "user", "id": -5}})),
            Err(("target.id", "below -1")),
        ),
        (
            base(json!({"target": {"type": "post", "id": 0}})),
            Err(("target.id", "outside")),
        ),
        (
            base(json!({"target": {"type": "post", "id": -7}})),
            Err(("target.id", "outside")),
        ),
        (
            base(json!({"target": {"type": "post", "id": 1_u64 << 40}})),
            Err(("target.id", "outside")),
        ),
        (
            base(json!({"target": {"type": "post", "id": i64::MAX}})),
            Err(("target.id", "outside")),
        ),
        (
            base(json!({"target": {"type": "post", "id": u64::MAX}})),
            Err(("target.id", "whole number")),
        ),
        (
            base(json!({"target": {"type": "tag", "id": ""}})),
            Err(("target.id", "non-empty")),
        ),
        (
            base(json!({"target": {"type": "tag", "id": "   "}})),
            Err(("target.id", "non-empty")),
        ),
        (
            base(json!({"target": {"type": "tag", "id": "a\u{0}b"}})),
            Err(("target.id", "control")),
        ),
        (
            base(json!({"target": {"type": "tag", "id": "x".repeat(101)}})),
            Err(("target.id", "at most 100")),
        ),
        (
            base(json!({"at": "0000-01-01T00:00:00Z"})),
            Err(("at", "year 0 is outside")),
        ),
        (
            base(json!({"at": "1969-12-31T23:59:59Z"})),
            Err(("at", "year 1969")),
        ),
        (
            base(json!({"at": "9999-12-31T23:59:59Z"})),
            Err(("at", "year 9999")),
        ),
        (
            base(json!({"weight": 1e308})),
            Err(("weight", "from -1000 to 1000")),
        ),
        (
            base(json!({"weight": -1000.5})),
            Err(("weight", "from -1000 to 1000")),
        ),
        (base(json!({"key": ""})), Err(("key", "must not be empty"))),
        (
            base(json!({"key": "  "})),
            Err(("key", "must not be empty")),
        ),
        (
            base(json!({"key": "k".repeat(201)})),
            Err(("key", "201 characters")),
        ),
        (
            base(json!({"key": "k".repeat(100_000)})),
            Err(("key", "100000 characters")),
        ),
        (base(json!({"key": "a\u{0}b"})), Err(("key", "control"))),
        (
            base(json!({"key": "a\u{1b}[31mb"})),
            Err(("key", "control")),
        ),
    ]
}

#[tokio::test]
async fn the_api_and_jsonl_accept_and_reject_events_alike() {
    let (_dir, store) = steward_testkit::fixtures::community_store().await;
    let table = table();
    let report = import_events(
        &store,
        &table.iter().map(|(raw, _)| raw.clone()).collect::<Vec<_>>(),
    )
    .await;
    let good = json!({"kind": "view", "user_id": 1, "target": {"type": "post", "id": 10}});
    let mut stored_keys = Vec::new();
    for (row, (raw, expected)) in table.iter().enumerate() {
        let line = row as u64 + 1;
        let api = events::parse(&json!([good, raw]), now());
        let skip = report.skips.iter().find(|skip| skip.line == line);
        match expected {
            Ok(expected) => {
                let api =
                    api.unwrap_or_else(|error| panic!("line {line} {raw}: API said {error:?}"));
                assert_eq!(&api[1], expected, "line {line}: API");
                assert_eq!(skip, None, "line {line}: JSONL");
                stored_keys.push(expected.key.clone());
            }
            Err((field, fragment)) => {
                let api = api.expect_err("the API rejects it");
                let Some(SkipReason::InvalidEvent(jsonl)) = skip.map(|skip| &skip.reason) else {
                    panic!("line {line} {raw}: JSONL skip {skip:?}, expected invalid_event");
                };
                assert_eq!(jsonl.field(), Some(*field), "line {line}: JSONL field");
                assert!(
                    jsonl.problem.contains(fragment),
                    "line {line}: `{}` lacks `{fragment}`",
                    jsonl.problem
                );
                assert_eq!(api.code, "invalid_event", "line {line}");
                assert_eq!(
                    (api.details.index, api.details.field.as_deref()),
                    (Some(1), Some(*field)),
                    "line {line}: API"
                );
                assert_eq!(
                    api.message,
                    format!("event 1, field `{field}`: {}", jsonl.problem),
                    "line {line}: the same message"
                );
            }
        }
    }
    let errors = table
        .iter()
        .filter(|(_, expected)| expected.is_err())
        .count() as u64;
    assert_eq!(report.total_skipped, errors, "{report}");
    assert_eq!(report.skips_by_reason.get("invalid_event"), Some(&errors));
    let stored = store
        .events_by_keys(&stored_keys)
        .await
        .expect("events read");
    let mut expected: Vec<Event> = table
        .into_iter()
        .filter_map(|(_, expected)| expected.ok())
        .collect();
    expected.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(stored, expected, "what JSONL stored");
}

#[tokio::test]
async fn a_rust_tag_follow_from_jsonl_and_a_rust_follow_from_the_api_are_one_tag() {
    let (_dir, store) = steward_testkit::fixtures::community_store().await;
    let report = import_events(
        &store,
        &[json!({"kind": "follow", "user_id": 1, "target": {"type": "tag", "id": "Rust"}, "at": AT, "key": "from-jsonl"})],
    )
    .await;
    assert_eq!(report.total_skipped, 0, "{report}");
    let body = json!({"kind": "follow", "user_id": 2, "target": {"type": "tag", "id": "rust"}, "key": "from-api"});
    let (state, key) = common::keyed_state(&store, steward_auth::Role::Member).await;
    let request = Request::post("/api/v1/events")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {key}"))
        .body(Body::from(body.to_string()))
        .expect("valid request");
    let response = router(state).oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let stored = store
        .events_by_keys(&["from-api".into(), "from-jsonl".into()])
        .await
        .expect("events read");
    let targets: Vec<&EventTarget> = stored.iter().map(|event| &event.target).collect();
    assert_eq!(targets, [&EventTarget::Tag("rust".into()); 2]);
}

#[tokio::test]
async fn where_the_sources_differ_a_missing_time_and_a_missing_key() {
    let (_dir, store) = steward_testkit::fixtures::community_store().await;
    let no_at =
        json!({"kind": "view", "user_id": 2, "target": {"type": "post", "id": 10}, "key": "no-at"});
    let parsed = events::parse(&no_at, now()).expect("the API dates it now");
    assert_eq!(parsed[0].at, now());
    let report = import_events(&store, &[no_at]).await;
    let skip = &report.skips[0];
    assert_eq!(
        (skip.line, skip.reason.field()),
        (1, Some("at")),
        "{report}"
    );

    // Without a key the API makes each post a new event; JSONL derives the key
    // from the normalised act, so a re-import, even re-spelled, adds nothing.
    let no_key =
        json!({"kind": "follow", "user_id": 2, "target": {"type": "tag", "id": "Rust"}, "at": AT});
    let twice = events::parse(&json!([no_key, no_key]), now()).expect("valid");
    assert!(twice[0].key.starts_with("live:") && twice[0].key != twice[1].key);
    let first = import_events(&store, std::slice::from_ref(&no_key)).await;
    assert_eq!(first.total_imported(), 1, "{first}");
    let events_after_first = store.stats().await.expect("stats").events;
    let respelled = json!({"at": "2024-01-02T04:04:05+01:00", "target": {"id": " rust", "type": "tag"},
                           "kind": "follow", "user_id": 2, "weight": 3});
    let again = import_events(&store, &[no_key, respelled]).await;
    assert_eq!(
        again.skips_by_reason.get("duplicate_id"),
        Some(&1),
        "{again}"
    );
    assert_eq!(
        store.stats().await.expect("stats").events,
        events_after_first
    );
}
