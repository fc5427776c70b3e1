//! Duplicate calibration on a real community (ai.stackexchange.com 2017 from
//! the shared data) on SQLite and (when `TEST_DATABASE_URL` is set, always
//! under `CI=true`) PostgreSQL: the `calibrate-duplicates` job learns a
//! threshold in (0, 1) from the dump's links and saves it as the promoted
//! artifact; reloaded, it gives a linked duplicate a higher probability than
//! any thread an unrelated draft finds. LSA trained on the dump stands in
//! for the embedding model, so the test embeds in seconds.

use std::sync::Arc;

use steward_domain::{PostKind, PostLinkKind};
use steward_ingest::stackexchange::{DumpOptions, import_dump};
use steward_jobs::JobHandle;
use steward_runtime::Config;
use steward_runtime::build::{self, LsaFallback};
use steward_runtime::dupes::load_calibration;
use steward_runtime::jobs::{self, JobOutput, JobSpec};
use steward_runtime::search::{RefreshOptions, open_searcher, refresh};
use steward_search::duplicates::{self, CALIBRATION_KIND, Draft, calibration_name};
use steward_search::searcher::Searcher;
use steward_store::Store;
use steward_testkit::{TestDb, on_every_backend, shared_data_dir};

fn config(db: &TestDb, index_dir: &std::path::Path) -> Config {
    let mut config = Config::defaults();
    config.embedding.model = "lsa".to_string();
    config.search.index_dir = Some(index_dir.to_path_buf());
    if let Some(schema) = db.schema() {
        config.database.schema = Some(schema.to_string());
    }
    config
}

async fn searcher(config: &Config, store: &Store) -> Searcher {
    let job = JobHandle::new();
    let resolver = build::model_resolver(config);
    let loaded = build::load_embedder(config, &resolver, Some(store), LsaFallback::Refused, &job)
        .await
        .expect("LSA loads");
    let searcher = open_searcher(config, store, Some(Arc::new(loaded.embedder)), &job)
        .await
        .expect("the indices open");
    let options = RefreshOptions {
        rebuild: false,
        save: false,
        embed: true,
    };
    refresh(&searcher, options, &job).await.expect("a refresh");
    searcher
}

#[tokio::test]
async fn calibration_learns_a_threshold_from_the_links_and_ranks_a_duplicate_above_unrelated() {
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
            let index_dir = tempfile::tempdir().expect("a temporary folder");
            let config = config(&db, index_dir.path());

            // Before calibrating: candidates, no probabilities, and what to run.
            let before = searcher(&config, &store).await;
            assert!(load_calibration(&before).await.expect("read").is_none());
            let draft = Draft {
                title: "What is the difference between machine learning and deep learning?".into(),
                ..Draft::default()
            };
            let uncalibrated = duplicates::similar(&before, None, &draft, 5, None)
                .await
                .expect("similar");
            assert!(!uncalibrated.threads.is_empty());
            assert!(
                uncalibrated
                    .threads
                    .iter()
                    .all(|thread| thread.probability.is_none() && !thread.likely_duplicate)
            );
            assert!(
                uncalibrated
                    .notice
                    .as_deref()
                    .is_some_and(|notice| notice.contains("steward dupes --calibrate")),
                "{:?}",
                uncalibrated.notice
            );

            // The job the CLI and the workers share.
            let output = jobs::run(&JobSpec::CalibrateDuplicates {}, &config, &store, &job)
                .await
                .expect("calibrated");
            let JobOutput::CalibrateDuplicates { report, .. } = &output else {
                panic!("not a calibration: {output:?}");
            };
            assert!(
                report.threshold > 0.0 && report.threshold < 1.0,
                "{report:?}"
            );
            // The dump has a handful of duplicate links, fewer than the
            // minimum: related links count as positives, and it says so.
            assert!(report.metrics.duplicate_links < duplicates::MIN_DUPLICATE_LINKS);
            assert_eq!(report.positive_links, ["duplicate", "related"]);
            let metrics = &report.metrics;
            eprintln!(
                "calibration: threshold {} weights {:?} {metrics:?}",
                report.threshold, report.weights
            );
            assert!(
                metrics.positives >= 10 && metrics.negatives > metrics.positives,
                "{metrics:?}"
            );
            assert_eq!(metrics.pairs, metrics.positives + metrics.negatives);
            for value in [
                metrics.precision,
                metrics.recall,
                metrics.f1,
                metrics.candidate_recall,
            ] {
                assert!((0.0..=1.0).contains(&value), "{metrics:?}");
            }
            // Better than calling every candidate a duplicate.
            let base_rate = metrics.positives as f64 / metrics.pairs as f64;
            assert!(metrics.precision > base_rate, "{metrics:?}");
            assert!(output.summary()["metrics"]["precision"].is_number());

            let model = report.model.clone();
            let version = store
                .promoted_artifact(&calibration_name(&model))
                .await
                .expect("read")
                .expect("promoted");
            assert_eq!(version.kind, CALIBRATION_KIND);
            assert_eq!(version.version, report.version);
            assert_eq!(version.metrics["precision"], metrics.precision);
            assert_eq!(
                version.metadata["positive_links"],
                serde_json::json!(["duplicate", "related"])
            );

            // Reloaded: a linked duplicate beats whatever an unrelated draft finds.
            let after = searcher(&config, &store).await;
            let calibration = load_calibration(&after)
                .await
                .expect("read")
                .expect("a calibration");
            assert_eq!(calibration.threshold, report.threshold);
            let unrelated = Draft {
                title: "How long should sourdough bread rise before baking?".into(),
                body: "My loaf comes out flat; the dough sits on the kitchen counter overnight."
                    .into(),
                tags: vec!["baking".into()],
            };
            let unrelated = duplicates::similar(&after, Some(&calibration), &unrelated, 20, None)
                .await
                .expect("similar");
            let unrelated_best = unrelated
                .threads
                .iter()
                .filter_map(|thread| thread.probability)
                .fold(0.0_f64, f64::max);

            let mut links = store.post_links_after(None, 1_000).await.expect("links");
            links.retain(|link| link.kind == PostLinkKind::Duplicate);
            let mut best_duplicate = None;
            for link in &links {
                let posts = store
                    .posts_by_ids(&[link.post_id, link.related_post_id])
                    .await
                    .expect("posts");
                let Some(asker) = posts.iter().find(|post| post.id == link.post_id) else {
                    continue;
                };
                if asker.kind != PostKind::Question
                    || !posts.iter().any(|post| post.id == link.related_post_id)
                {
                    continue;
                }
                let draft = Draft {
                    title: asker.title.clone().unwrap_or_default(),
                    body: asker.body_html.clone(),
                    tags: asker.tags.clone(),
                };
                // The asker's own thread is in the index: left out, as in calibration.
                let found =
                    duplicates::similar(&after, Some(&calibration), &draft, 20, Some(asker.id))
                        .await
                        .expect("similar");
                // Sorted by probability.
                let probabilities: Vec<f64> = found
                    .threads
                    .iter()
                    .map(|thread| thread.probability.expect("calibrated"))
                    .collect();
                assert!(probabilities.windows(2).all(|pair| pair[0] >= pair[1]));
                if let Some(target) = found
                    .threads
                    .iter()
                    .find(|thread| thread.post_id == link.related_post_id)
                {
                    let probability = target.probability.expect("calibrated");
                    assert_eq!(
                        target.likely_duplicate,
                        probability >= calibration.threshold
                    );
                    best_duplicate =
                        Some(best_duplicate.map_or(probability, |best: f64| best.max(probability)));
                }
            }
            let best_duplicate = best_duplicate.expect("some duplicate target is a candidate");
            assert!(
                best_duplicate > unrelated_best,
                "duplicate {best_duplicate} vs unrelated {unrelated_best}"
            );
        }
    })
    .await;
}
