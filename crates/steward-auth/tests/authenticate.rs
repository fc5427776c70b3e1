//! Keys made and checked against a real SQLite store: what each kind of bad
//! header gets, revocation through the cache, expiry, scopes, `last_used_at`.

use std::time::Duration;

use steward_auth::{
    Authenticator, Caller, Error, Permission, Principal, Role, ServerSecret, create_key,
};
use steward_store::Store;

async fn store() -> (tempfile::TempDir, Store) {
    let directory = tempfile::tempdir().expect("temporary directory");
    let url = directory.path().join("steward.db").display().to_string();
    let store = Store::open(&url).await.expect("store opens");
    (directory, store)
}

fn secret() -> ServerSecret {
    ServerSecret::new("a test secret of at least thirty-two characters").expect("long enough")
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

#[tokio::test]
async fn a_fresh_key_authenticates_as_its_role() {
    let (_directory, store) = store().await;
    let (key, record) = create_key(
        &store,
        &secret(),
        "ingest bot",
        Role::Service,
        &[Permission::WriteEvents],
        None,
    )
    .await
    .expect("key made");
    assert!(key.starts_with(&format!("stw_{}_", record.id)), "{key}");
    assert_eq!(key.len(), 4 + 12 + 1 + 64);
    assert_eq!(record.hash.len(), 32, "an HMAC-SHA-256, not the key");
    assert_eq!(
        store.api_key(&record.id).await.expect("read"),
        Some(record.clone())
    );

    let authenticator = Authenticator::new(store.clone(), secret());
    let caller = authenticator
        .authenticate(Some(&bearer(&key)))
        .await
        .expect("valid");
    assert_eq!(
        caller,
        Caller::Key(Principal {
            key_id: record.id.clone(),
            name: "ingest bot".into(),
            role: Role::Service,
            scopes: vec!["write_events".into()],
        })
    );
    let touched = store.api_key(&record.id).await.expect("read");
    assert!(
        touched.and_then(|key| key.last_used_at).is_some(),
        "the first use is recorded"
    );
    assert_eq!(
        authenticator.authenticate(None).await.expect("no header"),
        Caller::Anonymous
    );
}

#[tokio::test]
async fn bad_keys_are_refused_with_their_reason() {
    let (_directory, store) = store().await;
    let (key, record) = create_key(&store, &secret(), "k", Role::Member, &[], None)
        .await
        .expect("key made");
    let authenticator = Authenticator::new(store.clone(), secret());
    let wrong_secret = format!("stw_{}_{}", record.id, "0".repeat(64));
    let unknown_id = format!("stw_zzzzzzzzzzzz_{}", &key[key.len() - 64..]);
    let check = async |header: &str, expected: &str| {
        let error = authenticator
            .authenticate(Some(header))
            .await
            .expect_err(header);
        assert!(error.is_unauthorized(), "{header}: {error}");
        assert_eq!(error.reason(), expected, "{header}");
    };
    check(&bearer(&wrong_secret), "unknown_key").await;
    check(&bearer(&unknown_id), "unknown_key").await;
    check(&key, "malformed_key").await;
    check(&format!("Basic {key}"), "malformed_key").await;
    check("Bearer stw_nonsense", "malformed_key").await;

    let elsewhere = Authenticator::new(
        store.clone(),
        ServerSecret::new("another server's secret, 32 chars or more").expect("long"),
    );
    let error = elsewhere
        .authenticate(Some(&bearer(&key)))
        .await
        .expect_err("made under another secret");
    assert!(matches!(error, Error::UnknownKey), "{error}");
}

#[tokio::test]
async fn a_revoked_key_is_refused_once_the_cache_has_expired() {
    let (_directory, store) = store().await;
    let (key, record) = create_key(&store, &secret(), "k", Role::Member, &[], None)
        .await
        .expect("key made");
    let cache_ttl = Duration::from_millis(300);
    let authenticator = Authenticator::new(store.clone(), secret()).with_cache_ttl(cache_ttl);
    let header = bearer(&key);
    authenticator
        .authenticate(Some(&header))
        .await
        .expect("valid");
    assert!(store.revoke_api_key(&record.id).await.expect("revoke"));
    // Still cached: the documented window.
    authenticator
        .authenticate(Some(&header))
        .await
        .expect("cached for up to the TTL");
    tokio::time::sleep(cache_ttl).await;
    let error = authenticator
        .authenticate(Some(&header))
        .await
        .expect_err("revoked");
    assert!(matches!(error, Error::RevokedKey { .. }), "{error}");

    // `forget` makes a revocation in this process visible at once.
    let (key, record) = create_key(&store, &secret(), "k2", Role::Member, &[], None)
        .await
        .expect("key made");
    let authenticator =
        Authenticator::new(store.clone(), secret()).with_cache_ttl(Duration::from_secs(3600));
    let header = bearer(&key);
    authenticator
        .authenticate(Some(&header))
        .await
        .expect("valid");
    store.revoke_api_key(&record.id).await.expect("revoke");
    authenticator.forget(&record.id);
    assert!(matches!(
        authenticator.authenticate(Some(&header)).await,
        Err(Error::RevokedKey { .. })
    ));
}

#[tokio::test]
async fn an_expired_key_is_refused() {
    let (_directory, store) = store().await;
    let authenticator = Authenticator::new(store.clone(), secret());
    let (expired, _) = create_key(
        &store,
        &secret(),
        "k",
        Role::Admin,
        &[],
        Some(Duration::ZERO),
    )
    .await
    .expect("key made");
    let error = authenticator
        .authenticate(Some(&bearer(&expired)))
        .await
        .expect_err("expired");
    assert!(matches!(error, Error::ExpiredKey { .. }), "{error}");

    let (valid, record) = create_key(
        &store,
        &secret(),
        "k",
        Role::Admin,
        &[],
        Some(Duration::from_secs(86_400)),
    )
    .await
    .expect("key made");
    let expires_at = record.expires_at.expect("expires");
    let in_a_day = record.created_at + chrono::Duration::days(1);
    assert_eq!(expires_at, in_a_day);
    authenticator
        .authenticate(Some(&bearer(&valid)))
        .await
        .expect("valid for a day");
}

#[tokio::test]
async fn a_broken_store_is_a_server_fault_not_a_refusal() {
    let (_directory, store) = store().await;
    let (key, _) = create_key(&store, &secret(), "k", Role::Member, &[], None)
        .await
        .expect("key made");
    let authenticator = Authenticator::new(store.clone(), secret());
    store.close().await;
    let error = authenticator
        .authenticate(Some(&bearer(&key)))
        .await
        .expect_err("store closed");
    assert!(matches!(error, Error::Store(_)), "{error}");
    assert!(!error.is_unauthorized());
}
