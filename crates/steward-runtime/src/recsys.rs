//! The recommender put together: `[recsys]` and `[interactions]` as training
//! options, the `train-recsys` job (the community read, its stored thread
//! embeddings as the content model's vectors, models chosen on a time
//! hold-out, the bundle saved and promoted only when it beats the promoted
//! one), and the loop `steward serve` runs: pick up a newer promoted
//! version, read threads posted since, queue a retrain when enough events
//! arrived.

use std::time::{Duration, Instant};

use serde::Serialize;
use steward_domain::PostId;
use steward_jobs::{JobHandle, Unit};
use steward_recsys::als::AlsParams;
use steward_recsys::bpr::BprParams;
use steward_recsys::bundle::{ARTIFACT, ARTIFACT_KIND, Bundle};
use steward_recsys::dataset::Community;
use steward_recsys::experts::RoutingOptions;
use steward_recsys::knn::{KnnParams, Similarity};
use steward_recsys::metrics::RankingMetrics;
use steward_recsys::service::{RecsysService, unit_vectors};
use steward_recsys::train::{ItemVectors, TrainOptions, train};
use steward_store::{NewArtifact, Store};

use crate::build::{self, LsaFallback};
use crate::{Config, Error, Result};

/// `[recsys]` and `[interactions]` as training options.
pub fn train_options(config: &Config) -> TrainOptions {
    let settings = &config.recsys;
    TrainOptions {
        weights: config.interactions.clone(),
        als: AlsParams {
            factors: settings.factors,
            regularization: settings.regularization,
            alpha: settings.alpha,
            iterations: settings.iterations,
            ..AlsParams::default()
        },
        bpr: BprParams {
            factors: settings.factors,
            ..BprParams::default()
        },
        knn: KnnParams {
            neighbours: settings.neighbours,
            similarity: Similarity::Cosine,
            ..KnnParams::default()
        },
        search: settings.search,
        validation_share: settings.validation_share,
        routing: RoutingOptions {
            weekly_answer_cap: settings.weekly_answer_cap,
            ..RoutingOptions::default()
        },
    }
}

/// What one training run did.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    pub name: &'static str,
    pub version: i64,
    /// Whether this version is now the one served.
    pub promoted: bool,
    /// The promoted version before, and its default model's validation nDCG@10.
    pub previous: Option<(i64, Option<f64>)>,
    pub default_model: String,
    /// Validation metrics per model.
    pub validation: std::collections::BTreeMap<String, RankingMetrics>,
    pub users: usize,
    pub items: usize,
    pub interactions: usize,
    /// The embedding model of the content vectors (none: no content model).
    pub embedding_model: Option<String>,
    pub feed_seq: i64,
    pub elapsed_seconds: f64,
}

/// The `train-recsys` job. `force` promotes the new version even when it
/// does not beat the promoted one on validation.
pub async fn train_job(
    config: &Config,
    store: &Store,
    force: bool,
    job: &JobHandle,
) -> Result<(TrainReport, Option<String>)> {
    let started = Instant::now();
    let community = Community::load(store, job)
        .await
        .map_err(recsys_error("reading the community"))?;
    let (vectors, warning) = thread_vectors(config, store, &community, job).await?;
    let options = train_options(config);
    let now = chrono::Utc::now();
    job.set_phase("training", None, Unit::Items);
    let job_for_task = job.clone();
    let (bundle, _validation) = tokio::task::spawn_blocking(move || {
        train(&community, vectors.as_ref(), &options, now, &mut |step| {
            job_for_task.set_message(step);
            job_for_task.advance(1);
            !job_for_task.is_cancelled()
        })
    })
    .await
    .map_err(|error| Error::LoaderThread {
        what: "training the recommender".into(),
        message: error.to_string(),
    })?
    .map_err(recsys_error("training the recommender"))?;
    job.check_cancelled().map_err(|_| Error::Cancelled)?;
    let previous = store
        .promoted_artifact(ARTIFACT)
        .await
        .map_err(store_error("reading the promoted recommender"))?;
    let previous_score = previous.as_ref().and_then(|version| {
        version
            .metrics
            .get("ndcg@10")
            .and_then(serde_json::Value::as_f64)
    });
    let score = bundle.score();
    let beats = match (score, previous_score) {
        (_, None) => true,
        (Some(new), Some(old)) => new > old,
        (None, Some(_)) => false,
    };
    let promote = force || previous.is_none() || beats;
    let version = save(store, &bundle, promote).await?;
    let info = &bundle.info;
    Ok((
        TrainReport {
            name: ARTIFACT,
            version,
            promoted: promote,
            previous: previous.map(|version| (version.version, previous_score)),
            default_model: info.default_model.as_str().to_string(),
            validation: info.validation.clone(),
            users: info.users,
            items: info.items,
            interactions: info.interactions,
            embedding_model: info.embedding_model.clone(),
            feed_seq: info.feed_seq,
            elapsed_seconds: started.elapsed().as_secs_f64(),
        },
        warning,
    ))
}

async fn save(store: &Store, bundle: &Bundle, promote: bool) -> Result<i64> {
    let default = bundle.info.default_model.as_str();
    let default_metrics = bundle
        .info
        .validation
        .get(default)
        .cloned()
        .unwrap_or_default();
    let mut metrics = serde_json::to_value(default_metrics).expect("metrics serialize");
    metrics["model"] = serde_json::json!(default);
    let metadata = serde_json::json!({
        "default_model": default,
        "validation": bundle.info.validation,
        "params": bundle.info.params,
        "users": bundle.info.users,
        "items": bundle.info.items,
        "interactions": bundle.info.interactions,
        "embedding_model": bundle.info.embedding_model,
        "weights": bundle.info.weights,
    });
    let bytes = bundle.to_bytes();
    let version = store
        .put_artifact_version(
            &NewArtifact {
                name: ARTIFACT,
                kind: ARTIFACT_KIND,
                metadata,
                metrics,
                feed_seq: Some(bundle.info.feed_seq),
                bytes: &bytes,
            },
            promote,
        )
        .await
        .map_err(store_error("saving the recommender"))?;
    Ok(version.version)
}

/// The stored, unit-length embeddings of the community's threads under the
/// configured embedding model; none (with a warning) when the model cannot
/// be loaded or nothing is embedded yet.
async fn thread_vectors(
    config: &Config,
    store: &Store,
    community: &Community,
    job: &JobHandle,
) -> Result<(Option<ItemVectors>, Option<String>)> {
    // Training reads stored vectors; it never trains an embedder of its own.
    if config
        .embedding
        .model
        .eq_ignore_ascii_case(steward_ml::embed::LSA_MODEL)
        && store
            .promoted_artifact(steward_ml::embed::LSA_ARTIFACT)
            .await
            .map_err(store_error("reading the promoted LSA model"))?
            .is_none()
    {
        return Ok((
            None,
            Some(
                "no LSA model is trained, so no thread has LSA vectors; run `steward embed --all` first for the content model"
                    .to_string(),
            ),
        ));
    }
    let resolver = build::model_resolver(config);
    let model =
        match build::load_embedder(config, &resolver, Some(store), LsaFallback::Refused, job).await
        {
            Ok(loaded) => loaded.embedder.model_id().to_string(),
            Err(error) => {
                return Ok((
                    None,
                    Some(format!("{error}; the content model is left out")),
                ));
            }
        };
    let ids: Vec<PostId> = community.threads.iter().map(|thread| thread.id).collect();
    job.set_phase(
        "reading thread embeddings",
        Some(ids.len() as u64),
        Unit::Items,
    );
    let vectors = unit_vectors(store, &model, &ids)
        .await
        .map_err(recsys_error("reading thread embeddings"))?;
    job.set_done(ids.len() as u64);
    if vectors.is_empty() {
        return Ok((
            None,
            Some(format!(
                "no thread is embedded with {model}; run `steward embed --all` (or `steward index build`) first for the content model"
            )),
        ));
    }
    let missing = ids.len() - vectors.len();
    let warning = (missing * 10 > ids.len()).then(|| {
        format!("{missing} of {} threads have no {model} embedding; run `steward embed --all` for a fuller content model", ids.len())
    });
    Ok((Some(ItemVectors { model, vectors }), warning))
}

/// `steward serve`'s loop: every `recsys.refresh_secs`, serve a newly
/// promoted version, read the threads posted since training, and queue a
/// `train-recsys` job when `recsys.retrain_after_events` events arrived
/// since (and none is queued or running).
pub async fn refresh_loop(
    service: RecsysService,
    store: Store,
    every: Duration,
    retrain_after_events: u64,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut stop = std::pin::pin!(stop);
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = ticker.tick() => {}
        }
        match service.reload().await {
            Ok(reload) if reload.changed => {
                tracing::info!(
                    version = reload.version,
                    "serving a newly promoted recommender"
                );
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "recommender reload failed; retrying next tick"),
        }
        if retrain_after_events == 0 {
            continue;
        }
        match retrain_if_due(&service, &store, retrain_after_events).await {
            Ok(Some(id)) => tracing::info!(job = id, "queued a recommender retrain"),
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "checking for a recommender retrain failed"),
        }
    }
}

async fn retrain_if_due(
    service: &RecsysService,
    store: &Store,
    threshold: u64,
) -> Result<Option<i64>> {
    let Some(new_events) = service
        .events_since_training()
        .await
        .map_err(recsys_error("counting events since training"))?
    else {
        return Ok(None);
    };
    if new_events < threshold {
        return Ok(None);
    }
    let spec = crate::jobs::JobSpec::TrainRecsys { force: false };
    let pending = store
        .jobs(&steward_store::JobFilter {
            kind: Some(spec.kind().to_string()),
            ..steward_store::JobFilter::default()
        })
        .await
        .map_err(store_error("listing recommender jobs"))?;
    if pending.iter().any(|job| !job.state.is_final()) {
        return Ok(None);
    }
    let queued = store
        .enqueue_job(&spec.new_job())
        .await
        .map_err(store_error("queueing a recommender retrain"))?;
    Ok(Some(queued.id))
}

pub(crate) fn recsys_error(what: &'static str) -> impl Fn(steward_recsys::Error) -> Error {
    move |source| match source {
        steward_recsys::Error::Cancelled => Error::Cancelled,
        source => Error::Recsys {
            what: what.to_string(),
            source: Box::new(source),
        },
    }
}

fn store_error(what: &'static str) -> impl Fn(steward_store::Error) -> Error {
    move |source| Error::Store {
        what: what.to_string(),
        source: Box::new(source),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The library's defaults are the example file's.
    #[test]
    fn library_defaults_agree_with_the_example_file() {
        let defaults = Config::defaults();
        assert_eq!(
            defaults.interactions,
            steward_recsys::dataset::InteractionWeights::default()
        );
        let options = train_options(&defaults);
        assert_eq!(options.als, AlsParams::default());
        assert_eq!(options.knn, KnnParams::default());
        assert_eq!(
            options.routing.weekly_answer_cap,
            RoutingOptions::default().weekly_answer_cap
        );
    }
}
