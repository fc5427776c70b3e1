//! The recommender on a real community (ai.stackexchange.com 2017 from the
//! shared data), on SQLite and (when `TEST_DATABASE_URL` is set, always
//! under `CI=true`) PostgreSQL: the `train-recsys` job trains and promotes a
//! bundle (LSA vectors, trained on the dump, stand in for the embedding
//! model so the content model is in); a member's recommendations never hold
//! what they touched or dismissed; a new favorite is folded in at once and
//! changes the next list; a retrain that does not beat the promoted version
//! is kept unpromoted unless forced; expert routing proposes members who
//! answered in the question's tags.

use std::collections::HashSet;

use steward_domain::{Event, EventKind, EventTarget, PostId, UserId};
use steward_ingest::stackexchange::{DumpOptions, import_dump};
use steward_jobs::JobHandle;
use steward_recsys::bundle::ARTIFACT;
use steward_recsys::model::ModelKind;
use steward_recsys::service::RecsysService;
use steward_runtime::Config;
use steward_runtime::jobs::{self, JobOutput, JobSpec};
use steward_store::Store;
use steward_testkit::{TestDb, on_every_backend, shared_data_dir};

fn config(db: &TestDb) -> Config {
    let mut config = Config::defaults();
    config.embedding.model = "lsa".to_string();
    // One ALS setting keeps the debug-build test short; the search is
    // exercised by the unit tests and `steward eval recsys`.
    config.recsys.search = false;
    if let Some(schema) = db.schema() {
        config.database.schema = Some(schema.to_string());
    }
    config
}

async fn train(
    config: &Config,
    store: &Store,
    force: bool,
) -> steward_runtime::recsys::TrainReport {
    match jobs::run(
        &JobSpec::TrainRecsys { force },
        config,
        store,
        &JobHandle::new(),
    )
    .await
    .expect("training runs")
    {
        JobOutput::TrainRecsys { report, .. } => *report,
        other => panic!("expected a training report, got {other:?}"),
    }
}

fn favorite(key: &str, user: UserId, post: PostId) -> Event {
    Event {
        key: key.to_string(),
        user_id: user,
        kind: EventKind::Favorite,
        target: EventTarget::Post(post),
        at: chrono::Utc::now(),
        weight: EventKind::Favorite.default_weight(),
    }
}

#[tokio::test]
async fn train_promote_recommend_fold_in_and_route() {
    let Some(dump) = shared_data_dir("se-ai-2017") else {
        return;
    };
    on_every_backend(|db| {
        let dump = dump.clone();
        async move {
            let store = db.open().await;
            let job = JobHandle::new();
            import_dump(&store, &dump, &DumpOptions::default(), &job)
                .await
                .expect("the dump imports");
            let config = config(&db);
            let service = RecsysService::new(store.clone());
            assert!(
                service.recommend(UserId(1), 5, None, false).await.is_err(),
                "nothing is served before training"
            );
            // Content (LSA vectors, trained on the dump) on SQLite only: the
            // SVD is the slow part of this test, and the store path is the same.
            let with_content = db.schema().is_none();
            if with_content {
                jobs::run(
                    &JobSpec::Embed {
                        model: None,
                        full: false,
                        include_comments: false,
                        batch_size: 64,
                    },
                    &config,
                    &store,
                    &job,
                )
                .await
                .expect("LSA embeds the dump");
            }

            let first = train(&config, &store, false).await;
            assert!(first.promoted, "the first version is promoted");
            assert!(first.users > 100 && first.items > 300, "{first:?}");
            for kind in ["popularity", "item_knn", "als", "bpr", "content", "hybrid"] {
                if kind == "content" && !with_content {
                    assert!(
                        !first.validation.contains_key(kind),
                        "no vectors, no content model"
                    );
                    continue;
                }
                let metrics = first
                    .validation
                    .get(kind)
                    .unwrap_or_else(|| panic!("{kind} scored"));
                assert!(
                    metrics.ndcg_at_10.is_finite() && (0.0..=1.0).contains(&metrics.ndcg_at_10)
                );
            }
            assert_eq!(
                first.embedding_model.is_some(),
                with_content,
                "the content model has vectors when the dump is embedded"
            );

            let reload = service.reload().await.expect("reload");
            assert_eq!(reload.version, Some(first.version));
            assert!(reload.changed);

            // The most active member: a real history.
            let community = steward_recsys::dataset::Community::load(&store, &job)
                .await
                .expect("the community loads");
            let mut counts = std::collections::HashMap::<UserId, usize>::new();
            for act in &community.acts {
                *counts.entry(act.user).or_default() += 1;
            }
            let (&member, _) = counts
                .iter()
                .max_by_key(|(user, count)| (**count, user.0))
                .expect("a member");
            let touched: HashSet<PostId> = community
                .acts
                .iter()
                .filter(|act| act.user == member)
                .map(|act| act.thread)
                .collect();

            let mut kinds = vec![
                ModelKind::Als,
                ModelKind::ItemKnn,
                ModelKind::Bpr,
                ModelKind::Hybrid,
            ];
            if with_content {
                kinds.push(ModelKind::Content);
            }
            for kind in kinds {
                let (_, list) = service
                    .recommend(member, 10, Some(kind), true)
                    .await
                    .expect("recommendations");
                assert_eq!(list.items.len(), 10, "{kind:?}");
                assert!(!list.folded_in, "nothing new since training");
                for item in &list.items {
                    assert!(
                        !touched.contains(&item.post_id),
                        "{kind:?} recommended a touched thread"
                    );
                    assert!(item.score.is_finite());
                    let explanation = item.explanation.as_ref().expect("explained");
                    assert!(!explanation.text.is_empty());
                }
            }

            // A new favorite: folded in at once, the thread leaves the list,
            // and the list changes.
            let (_, before) = service
                .recommend(member, 10, Some(ModelKind::Als), false)
                .await
                .expect("before");
            let liked = before.items[0].post_id;
            store
                .insert_events(&[favorite("test:favorite", member, liked)])
                .await
                .expect("a favorite");
            let (_, after) = service
                .recommend(member, 10, Some(ModelKind::Als), false)
                .await
                .expect("after");
            assert!(after.folded_in, "the favorite is newer than training");
            assert!(after.items.iter().all(|item| item.post_id != liked));
            // Not only the liked thread gone: the member's vector moved, so the
            // threads still listed are scored anew.
            let rescored = after.items.iter().any(|item| {
                before
                    .items
                    .iter()
                    .find(|old| old.post_id == item.post_id)
                    .is_some_and(|old| (old.score - item.score).abs() > 1e-6)
            });
            assert!(rescored, "{before:?}\n{after:?}");

            // Not interested: never recommended back.
            let dismissed = after.items[0].post_id;
            store
                .insert_events(&[Event {
                    kind: EventKind::NotInterested,
                    weight: EventKind::NotInterested.default_weight(),
                    ..favorite("test:dismiss", member, dismissed)
                }])
                .await
                .expect("a dismissal");
            for kind in [ModelKind::Als, ModelKind::Popularity, ModelKind::Hybrid] {
                let (_, list) = service
                    .recommend(member, 20, Some(kind), false)
                    .await
                    .expect("list");
                assert!(
                    list.items.iter().all(|item| item.post_id != dismissed),
                    "{kind:?}"
                );
            }

            // A newcomer with nothing: cold start from popularity.
            let (_, cold) = service
                .recommend(UserId(999_999), 5, None, true)
                .await
                .expect("cold");
            assert!(cold.cold_start);
            assert_eq!(cold.items.len(), 5);

            // Retraining on the same data does not beat itself: kept aside, unless forced.
            let second = train(&config, &store, false).await;
            let promoted = store
                .promoted_artifact(ARTIFACT)
                .await
                .expect("read")
                .expect("one promoted");
            if second.promoted {
                assert_eq!(promoted.version, second.version);
            } else {
                assert_eq!(promoted.version, first.version);
            }
            let forced = train(&config, &store, true).await;
            assert!(forced.promoted);
            let reload = service.reload().await.expect("reload");
            assert_eq!(
                reload.version,
                Some(forced.version),
                "a replica picks up the promoted version"
            );

            // Expert routing: a question's proposed members answered in its tags before.
            let question = community
                .threads
                .iter()
                .filter(|thread| thread.answer_count >= 2)
                .max_by_key(|thread| thread.id)
                .expect("an answered question");
            let routed = service.experts(question.id, 10).await.expect("experts");
            assert!(!routed.experts.is_empty());
            assert!(
                routed
                    .experts
                    .windows(2)
                    .all(|pair| pair[0].probability >= pair[1].probability)
            );
            assert!(
                routed
                    .experts
                    .iter()
                    .all(|expert| Some(expert.user_id) != question.owner)
            );
            let profile = service
                .profile(member, chrono::Utc::now())
                .await
                .expect("profile")
                .expect("the member exists");
            assert!(profile.activity.acts > 0);
            assert!(!profile.tags.is_empty());
            store.close().await;
        }
    })
    .await;
}
