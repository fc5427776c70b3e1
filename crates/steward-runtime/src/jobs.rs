//! What a job is: [`JobSpec`], the long tasks Steward runs as jobs (imports,
//! embedding the community, LSA training) with their parameters, checked
//! where they are queued, and [`run`], the one function that runs them, for
//! the CLI and the worker alike.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use steward_ingest::jsonl::{JsonlOptions, import_jsonl};
use steward_ingest::report::ImportReport;
use steward_ingest::stackexchange::{DumpOptions, import_dump};
use steward_jobs::JobHandle;
use steward_ml::embed::job::{EmbedJobOptions, EmbedReport, embed_community};
use steward_ml::embed::lsa::LsaConfig;
use steward_ml::embed::{self, TrainedLsa};
use steward_store::{ArtifactVersion, NewJob, Store};

use crate::build::{self, LsaFallback};
use crate::dupes;
use crate::recsys;
use crate::search::{self, RefreshOptions, RefreshReport};
use crate::{Config, Error, Result};

/// Rows (or lines, or texts) per write transaction when a spec says nothing.
pub const DEFAULT_BATCH_SIZE: usize = 2_000;
/// Texts per embedder call when an embed spec says nothing.
pub const DEFAULT_EMBED_BATCH_SIZE: usize = 64;
/// Largest batch a spec may ask for: bounds the memory of one transaction.
pub const MAX_BATCH_SIZE: usize = 100_000;

/// A long task and its parameters: the `kind` and `params` of a job row, the
/// body of `POST /api/v1/jobs`, and what `steward jobs enqueue` builds. The
/// fields mirror the flags of the CLI command that runs the same task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum JobSpec {
    /// `steward import stackexchange DIR`.
    ImportStackexchange {
        /// The unpacked dump's folder, as the worker sees it.
        path: PathBuf,
        /// Fail the job when any record was skipped.
        #[serde(default)]
        strict: bool,
        #[serde(default = "default_batch_size")]
        batch_size: usize,
    },
    /// `steward import jsonl FILE`.
    ImportJsonl {
        path: PathBuf,
        #[serde(default)]
        strict: bool,
        #[serde(default = "default_batch_size")]
        batch_size: usize,
    },
    /// `steward embed --all`: the whole community, following the change feed.
    Embed {
        /// `embedding.model` when unset.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
        /// Scan every post instead of following the feed.
        #[serde(default)]
        full: bool,
        #[serde(default)]
        include_comments: bool,
        #[serde(default = "default_embed_batch_size")]
        batch_size: usize,
    },
    /// `steward models train-lsa`.
    TrainLsa {},
    /// `steward index build`: the search indices brought up to the change
    /// feed (posts changed since are embedded on the way), or rebuilt; the
    /// vector index saved as a new artifact version when it changed.
    Index {
        #[serde(default)]
        rebuild: bool,
    },
    /// `steward dupes --calibrate`: the search indices brought up to the
    /// feed, then the duplicate calibration fitted on the community's links
    /// and saved as a new promoted `duplicate-calibration:<model>` version.
    CalibrateDuplicates {},
    /// `steward train`: the recommender trained on the whole community
    /// (models chosen on a time hold-out of the latest acts) and saved as a
    /// new `recsys` version, promoted when it beats the promoted one on
    /// validation nDCG@10 (or always, with `force`).
    TrainRecsys {
        #[serde(default)]
        force: bool,
    },
    /// `steward kg build`: the knowledge graph built anew from the
    /// community (vocabulary, tagger, links, relations, GraphSAGE), stored
    /// as a new promoted `kg` version.
    BuildKg {},
}

fn default_batch_size() -> usize {
    DEFAULT_BATCH_SIZE
}

fn default_embed_batch_size() -> usize {
    DEFAULT_EMBED_BATCH_SIZE
}

impl JobSpec {
    /// Every kind, as written in `kind`.
    pub const KINDS: [&'static str; 8] = [
        "import-stackexchange",
        "import-jsonl",
        "embed",
        "train-lsa",
        "index",
        "calibrate-duplicates",
        "train-recsys",
        "build-kg",
    ];

    /// Reads and checks a spec (`{"kind": ..., ...}`); the error names the
    /// field at fault.
    pub fn from_json(value: serde_json::Value) -> Result<JobSpec> {
        let spec: JobSpec = serde_json::from_value(value.clone()).map_err(|error| {
            let message = error.to_string();
            // serde names an unknown or missing field in the message; a value
            // of the wrong type it cannot place, because an internally tagged
            // enum is read from a buffered copy: the field is the one whose
            // removal makes that error go away.
            let field = named_field(&message)
                .or_else(|| field_at_fault(&value))
                .unwrap_or_else(|| "kind".to_string());
            Error::InvalidJobSpec { field, message }
        })?;
        spec.validate()?;
        Ok(spec)
    }

    /// The spec of a stored job: its kind and parameters.
    pub fn from_row(kind: &str, params: &serde_json::Value) -> Result<JobSpec> {
        let mut object = match params {
            serde_json::Value::Object(object) => object.clone(),
            serde_json::Value::Null => serde_json::Map::new(),
            _ => {
                return Err(Error::InvalidJobSpec {
                    field: "params".to_string(),
                    message: "job parameters are a JSON object".to_string(),
                });
            }
        };
        object.insert("kind".to_string(), kind.into());
        JobSpec::from_json(serde_json::Value::Object(object))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            JobSpec::ImportStackexchange { .. } => "import-stackexchange",
            JobSpec::ImportJsonl { .. } => "import-jsonl",
            JobSpec::Embed { .. } => "embed",
            JobSpec::TrainLsa {} => "train-lsa",
            JobSpec::Index { .. } => "index",
            JobSpec::CalibrateDuplicates {} => "calibrate-duplicates",
            JobSpec::TrainRecsys { .. } => "train-recsys",
            JobSpec::BuildKg {} => "build-kg",
        }
    }

    /// The parameters as stored in the job row: the spec without its kind.
    pub fn params(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).expect("a job spec always serializes");
        if let Some(object) = value.as_object_mut() {
            object.remove("kind");
        }
        value
    }

    /// The row to queue or start.
    pub fn new_job(&self) -> NewJob {
        NewJob {
            kind: self.kind().to_string(),
            params: self.params(),
        }
    }

    /// What serde cannot say: values in range, paths and names not empty.
    fn validate(&self) -> Result<()> {
        let invalid = |field: &str, message: &str| {
            Err(Error::InvalidJobSpec {
                field: field.to_string(),
                message: message.to_string(),
            })
        };
        let batch_size = match self {
            JobSpec::ImportStackexchange {
                path, batch_size, ..
            }
            | JobSpec::ImportJsonl {
                path, batch_size, ..
            } => {
                if path.as_os_str().is_empty() || path.to_string_lossy().trim().is_empty() {
                    return invalid("path", "is empty; give the path as the worker sees it");
                }
                Some(*batch_size)
            }
            JobSpec::Embed {
                model, batch_size, ..
            } => {
                if model
                    .as_deref()
                    .is_some_and(|model| model.trim().is_empty())
                {
                    return invalid("model", "is empty; name a model or leave it out");
                }
                Some(*batch_size)
            }
            JobSpec::TrainLsa {}
            | JobSpec::Index { .. }
            | JobSpec::CalibrateDuplicates {}
            | JobSpec::TrainRecsys { .. }
            | JobSpec::BuildKg {} => None,
        };
        match batch_size {
            Some(size) if !(1..=MAX_BATCH_SIZE).contains(&size) => invalid(
                "batch_size",
                &format!("is {size}; it must be 1 to {MAX_BATCH_SIZE}"),
            ),
            _ => Ok(()),
        }
    }
}

/// The field of `value` without which it reads as a spec, or fails only for
/// lacking that field.
fn field_at_fault(value: &serde_json::Value) -> Option<String> {
    let object = value.as_object()?;
    object
        .keys()
        .filter(|key| key.as_str() != "kind")
        .find(|key| {
            let mut without = object.clone();
            without.remove(key.as_str());
            match serde_json::from_value::<JobSpec>(serde_json::Value::Object(without)) {
                Ok(_) => true,
                Err(error) => named_field(&error.to_string()).as_deref() == Some(key.as_str()),
            }
        })
        .cloned()
}

/// `unknown field `x`, expected ...` or `missing field `x`` → `x`.
fn named_field(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("missing field `"))?;
    rest.split('`').next().map(str::to_string)
}

/// What a job produced, typed, so that the CLI prints it as it always did;
/// [`JobOutput::summary`] is what the job row keeps.
#[derive(Debug)]
pub enum JobOutput {
    Import(ImportReport),
    Embed {
        report: EmbedReport,
        /// Set when LSA stood in for a model that could not be loaded.
        warning: Option<String>,
    },
    TrainLsa {
        /// Boxed: the trained model is large beside the other outputs.
        trained: Box<TrainedLsa>,
        /// The version promoted before this one.
        previous: Option<ArtifactVersion>,
    },
    Index {
        report: RefreshReport,
        /// Set when there is no dense side (no embedder loaded) or LSA stands
        /// in for the configured model.
        warning: Option<String>,
    },
    CalibrateDuplicates {
        /// Boxed: the calibration is large beside the other outputs.
        report: Box<dupes::CalibrationReport>,
        /// As for `Index`.
        warning: Option<String>,
    },
    TrainRecsys {
        report: Box<recsys::TrainReport>,
        /// Why the content model was left out, when it was.
        warning: Option<String>,
    },
    BuildKg {
        report: Box<steward_kg::build::BuildReport>,
        /// What the build did without (the tagger, the embedder), and why.
        warnings: Vec<String>,
    },
}

impl JobOutput {
    /// The result summary stored in the job row.
    pub fn summary(&self) -> serde_json::Value {
        match self {
            JobOutput::Import(report) => {
                serde_json::to_value(report).expect("an import report serializes")
            }
            JobOutput::Embed { report, warning } => serde_json::json!({
                "model": report.model,
                "dim": report.dim,
                "mode": report.mode.as_str(),
                "scanned": report.scanned,
                "embedded": report.embedded,
                "unchanged": report.unchanged,
                "deleted": report.deleted,
                "feed_position": report.feed_position,
                "cancelled": report.cancelled,
                "elapsed_seconds": report.elapsed.as_secs_f64(),
                "warning": warning,
            }),
            JobOutput::TrainLsa { trained, previous } => {
                let version = &trained.version;
                serde_json::json!({
                    "name": version.name,
                    "version": version.version,
                    "promoted": version.promoted,
                    "previous_version": previous.as_ref().map(|previous| previous.version),
                    "model_id": trained.embedder.model_id(),
                    "feed_seq": version.feed_seq,
                    "size_bytes": version.size_bytes,
                    "sha256": version.sha256,
                    "metadata": version.metadata,
                    "metrics": version.metrics,
                })
            }
            JobOutput::Index { report, warning } => {
                let mut value = serde_json::to_value(report).expect("a refresh report serializes");
                value["warning"] = serde_json::json!(warning);
                value
            }
            JobOutput::CalibrateDuplicates { report, warning } => {
                let mut value =
                    serde_json::to_value(report).expect("a calibration report serializes");
                value["warning"] = serde_json::json!(warning);
                value
            }
            JobOutput::TrainRecsys { report, warning } => {
                let mut value = serde_json::to_value(report).expect("a train report serializes");
                value["warning"] = serde_json::json!(warning);
                value
            }
            JobOutput::BuildKg { report, warnings } => {
                let mut value = serde_json::to_value(report).expect("a build report serializes");
                value["warnings"] = serde_json::json!(warnings);
                value
            }
        }
    }

    /// True when the task stopped early on request (embedding reports it
    /// rather than failing).
    pub fn cancelled(&self) -> bool {
        matches!(self, JobOutput::Embed { report, .. } if report.cancelled)
    }
}

/// Runs `spec` against `store`, reporting to `job` and honouring its cancel
/// (`Error::Cancelled`, or an output that says so). The CLI commands and the
/// worker both come here, so a job runs the same code wherever it runs.
pub async fn run(
    spec: &JobSpec,
    config: &Config,
    store: &Store,
    job: &JobHandle,
) -> Result<JobOutput> {
    match spec {
        JobSpec::ImportStackexchange {
            path,
            strict,
            batch_size,
        } => {
            let options = DumpOptions {
                batch_size: *batch_size,
            };
            let report = import_dump(store, path, &options, job)
                .await
                .map_err(|source| import_error(source, path))?;
            check_strict(report, *strict)
        }
        JobSpec::ImportJsonl {
            path,
            strict,
            batch_size,
        } => {
            let options = JsonlOptions {
                batch_size: *batch_size,
            };
            let report = import_jsonl(store, path, &options, job)
                .await
                .map_err(|source| import_error(source, path))?;
            check_strict(report, *strict)
        }
        JobSpec::Embed {
            model,
            full,
            include_comments,
            batch_size,
        } => {
            let mut config = config.clone();
            if let Some(model) = model {
                config.embedding.model.clone_from(model);
            }
            let resolver = build::model_resolver(&config);
            let loaded =
                build::load_embedder(&config, &resolver, Some(store), LsaFallback::Allowed, job)
                    .await
                    .map_err(|error| match error {
                        Error::Model { source, .. }
                            if matches!(*source, steward_ml::Error::Cancelled(_)) =>
                        {
                            Error::Cancelled
                        }
                        other => other,
                    })?;
            if let Some(warning) = &loaded.warning {
                tracing::warn!("{warning}");
            }
            let options = EmbedJobOptions {
                batch_size: *batch_size,
                include_comments: *include_comments,
                full: *full,
                ..EmbedJobOptions::default()
            };
            let report = embed_community(store, Arc::new(loaded.embedder), &options, job)
                .await
                .map_err(|source| Error::Task {
                    what: "embedding the community".to_string(),
                    source: Box::new(source),
                })?;
            Ok(JobOutput::Embed {
                report,
                warning: loaded.warning,
            })
        }
        JobSpec::TrainLsa {} => {
            let previous =
                store
                    .promoted_artifact(embed::LSA_ARTIFACT)
                    .await
                    .map_err(|source| Error::Store {
                        what: "reading the promoted LSA model".to_string(),
                        source: Box::new(source),
                    })?;
            let trained = embed::train_lsa(store, &LsaConfig::default(), job)
                .await
                .map_err(|source| match source {
                    steward_ml::Error::Cancelled(_) => Error::Cancelled,
                    source => Error::Task {
                        what: "training LSA".to_string(),
                        source: Box::new(source),
                    },
                })?;
            Ok(JobOutput::TrainLsa {
                trained: Box::new(trained),
                previous,
            })
        }
        JobSpec::Index { rebuild } => {
            let (searcher, warning) =
                search::job_searcher(config, store, "only the lexical index is updated", job)
                    .await?;
            let options = RefreshOptions {
                rebuild: *rebuild,
                save: true,
                embed: true,
            };
            let report = search::refresh(&searcher, options, job).await?;
            Ok(JobOutput::Index { report, warning })
        }
        JobSpec::CalibrateDuplicates {} => {
            let (report, warning) = dupes::calibrate(config, store, job).await?;
            Ok(JobOutput::CalibrateDuplicates {
                report: Box::new(report),
                warning,
            })
        }
        JobSpec::TrainRecsys { force } => {
            let (report, warning) = recsys::train_job(config, store, *force, job).await?;
            Ok(JobOutput::TrainRecsys {
                report: Box::new(report),
                warning,
            })
        }
        JobSpec::BuildKg {} => {
            let (report, warnings) = crate::kg::build_job(config, store, job).await?;
            Ok(JobOutput::BuildKg {
                report: Box::new(report),
                warnings,
            })
        }
    }
}

fn import_error(source: steward_ingest::Error, path: &std::path::Path) -> Error {
    match source {
        steward_ingest::Error::Cancelled { .. } => Error::Cancelled,
        source => Error::Import {
            path: path.to_path_buf(),
            source: Box::new(source),
        },
    }
}

fn check_strict(report: ImportReport, strict: bool) -> Result<JobOutput> {
    if strict && report.total_skipped > 0 {
        return Err(Error::StrictSkips {
            report: Box::new(report),
        });
    }
    Ok(JobOutput::Import(report))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check_error(value: serde_json::Value, field: &str, words: &str) {
        match JobSpec::from_json(value.clone()) {
            Err(Error::InvalidJobSpec {
                field: got,
                message,
            }) => {
                assert_eq!(got, field, "{value}: {message}");
                assert!(message.contains(words), "{value}: {message}");
            }
            other => panic!("{value}: expected an invalid spec, got {other:?}"),
        }
    }

    #[test]
    fn specs_round_trip_through_their_job_row() {
        for spec in [
            JobSpec::ImportStackexchange {
                path: "/data/dump".into(),
                strict: true,
                batch_size: 50,
            },
            JobSpec::ImportJsonl {
                path: "community.jsonl".into(),
                strict: false,
                batch_size: DEFAULT_BATCH_SIZE,
            },
            JobSpec::Embed {
                model: Some("lsa".into()),
                full: false,
                include_comments: true,
                batch_size: 8,
            },
            JobSpec::TrainLsa {},
            JobSpec::Index { rebuild: true },
            JobSpec::CalibrateDuplicates {},
            JobSpec::TrainRecsys { force: true },
            JobSpec::BuildKg {},
        ] {
            let row = spec.new_job();
            assert!(JobSpec::KINDS.contains(&row.kind.as_str()));
            assert_eq!(row.params.get("kind"), None, "the kind has its own column");
            assert_eq!(
                JobSpec::from_row(&row.kind, &row.params).expect("reads back"),
                spec
            );
        }
    }

    #[test]
    fn omitted_parameters_take_the_cli_defaults() {
        let spec = JobSpec::from_json(json!({"kind": "embed"})).expect("valid");
        assert_eq!(
            spec,
            JobSpec::Embed {
                model: None,
                full: false,
                include_comments: false,
                batch_size: DEFAULT_EMBED_BATCH_SIZE,
            }
        );
        let spec = JobSpec::from_json(json!({"kind": "import-stackexchange", "path": "d"}))
            .expect("valid");
        assert_eq!(spec.params()["batch_size"], DEFAULT_BATCH_SIZE);
    }

    #[test]
    fn bad_specs_name_the_field_at_fault() {
        check_error(json!({"kind": "reindex"}), "kind", "unknown variant");
        check_error(json!({"path": "d"}), "kind", "missing field `kind`");
        check_error(
            json!({"kind": "import-jsonl"}),
            "path",
            "missing field `path`",
        );
        check_error(
            json!({"kind": "import-jsonl", "path": "a.jsonl", "stict": true}),
            "stict",
            "unknown field",
        );
        check_error(
            json!({"kind": "import-jsonl", "path": 7}),
            "path",
            "invalid type",
        );
        check_error(
            json!({"kind": "import-stackexchange", "path": "d", "batch_size": 0}),
            "batch_size",
            "1 to 100000",
        );
        check_error(
            json!({"kind": "import-stackexchange", "path": " "}),
            "path",
            "empty",
        );
        check_error(json!({"kind": "embed", "model": ""}), "model", "empty");
        check_error(
            json!({"kind": "train-lsa", "dim": 3}),
            "dim",
            "unknown field",
        );
        check_error(json!([1, 2]), "kind", "");
    }
}
