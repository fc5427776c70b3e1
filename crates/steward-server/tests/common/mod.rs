//! What the server's tests share beyond `steward-testkit`: keys and states
//! that accept them (the testkit must not depend on the server or on auth).

#![allow(dead_code, unused_imports)]

use steward_auth::{Authenticator, Role, ServerSecret, create_key};
use steward_server::AppState;
use steward_store::Store;
use steward_testkit::TestDb;
pub use steward_testkit::fixtures::{community, time as at};

/// A store holding the testkit's small community, with the handle that keeps
/// its database alive.
pub async fn store() -> (TestDb, Store) {
    steward_testkit::fixtures::community_store().await
}

/// The server secret of test servers.
pub fn secret() -> ServerSecret {
    ServerSecret::new("the test server secret, 32 characters or more").expect("long enough")
}

/// A key of `role` in `store`, made under [`secret`].
pub async fn key(store: &Store, role: Role) -> String {
    let (key, _) = create_key(store, &secret(), "test", role, &[], None)
        .await
        .expect("key made");
    key
}

/// A state over `store` that accepts keys made under [`secret`], and a key
/// of `role`.
pub async fn keyed_state(store: &Store, role: Role) -> (AppState, String) {
    let state = AppState::new(store.clone())
        .with_authenticator(Authenticator::new(store.clone(), secret()));
    (state, key(store, role).await)
}
