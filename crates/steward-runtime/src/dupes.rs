//! Duplicate detection put together: the `calibrate-duplicates` job (the
//! search indices brought up to the feed, then the calibration fitted on the
//! community's links and saved) and loading the promoted calibration of the
//! searcher's embedding model.

use std::time::Instant;

use serde::Serialize;
use steward_jobs::JobHandle;
use steward_search::duplicates::{self, Calibration, CalibrationMetrics};
use steward_search::searcher::Searcher;
use steward_store::Store;

use crate::search::{self, RefreshOptions, RefreshReport};
use crate::{Config, Error, Result};

/// What one calibration did.
#[derive(Debug, Clone, Serialize)]
pub struct CalibrationReport {
    /// The artifact written: `duplicate-calibration:<model>`.
    pub name: String,
    pub version: i64,
    pub model: String,
    pub threshold: f64,
    /// `["duplicate"]`, or `["duplicate", "related"]` when the community has
    /// too few duplicate links.
    pub positive_links: Vec<String>,
    pub feature_names: Vec<String>,
    pub weights: Vec<f64>,
    /// Cross-validated figures at the threshold, with the pair counts.
    pub metrics: CalibrationMetrics,
    /// What bringing the indices up to the feed did first.
    pub refresh: RefreshReport,
    pub elapsed_seconds: f64,
}

/// The `calibrate-duplicates` job: indices brought up to the feed (posts
/// changed since embedded, the vector index saved when it changed, as the
/// `index` job does), then a calibration fitted and saved as the promoted
/// version of `duplicate-calibration:<model>`.
pub async fn calibrate(
    config: &Config,
    store: &Store,
    job: &JobHandle,
) -> Result<(CalibrationReport, Option<String>)> {
    let started = Instant::now();
    let (searcher, warning) = search::job_searcher(
        config,
        store,
        "duplicates are found and calibrated with bm25 only",
        job,
    )
    .await?;
    let options = RefreshOptions {
        rebuild: false,
        save: true,
        embed: true,
    };
    let refresh = search::refresh(&searcher, options, job).await?;
    let calibration = duplicates::calibrate(&searcher, duplicates::DEFAULT_CANDIDATES, job)
        .await
        .map_err(calibration_error("calibrating duplicate detection"))?;
    let version = calibration
        .save(store)
        .await
        .map_err(calibration_error("saving the duplicate calibration"))?;
    Ok((
        CalibrationReport {
            name: version.name,
            version: version.version,
            model: calibration.model,
            threshold: calibration.threshold,
            positive_links: calibration.positive_links,
            feature_names: calibration.feature_names,
            weights: calibration.logistic.weights,
            metrics: calibration.metrics,
            refresh,
            elapsed_seconds: started.elapsed().as_secs_f64(),
        },
        warning,
    ))
}

/// The promoted calibration for `searcher`'s embedding model (`bm25`
/// without one); `None` when none was saved yet.
pub async fn load_calibration(searcher: &Searcher) -> Result<Option<Calibration>> {
    let model = duplicates::calibration_model(searcher);
    let loaded = Calibration::load(searcher.store(), &model)
        .await
        .map_err(calibration_error("loading the duplicate calibration"))?;
    Ok(loaded.map(|(_, calibration)| calibration))
}

fn calibration_error(what: &'static str) -> impl Fn(steward_search::Error) -> Error {
    move |source| match source {
        steward_search::Error::CalibrationCancelled => Error::Cancelled,
        source => Error::Search {
            what: what.to_string(),
            source: Box::new(source),
        },
    }
}
