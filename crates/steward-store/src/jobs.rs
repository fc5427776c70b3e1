//! The jobs table: every long task (import, reindex, train) is a row that a
//! worker claims, reports progress on through heartbeats, and finishes; a
//! client cancels it by flagging the row, and the worker sees the flag on its
//! next heartbeat. Ownership is `(state = running, worker = me)`: every write
//! by a worker checks it, so a worker whose job was requeued cannot finish it.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::AnyRow;
use steward_domain::Timestamp;

use crate::error::{Error, Result, database};
use crate::rows::column;
use crate::sql::SqlText;
use crate::write::check_text;
use crate::{Dialect, Store, from_millis, now_millis};

/// Page size of [`Store::jobs`] when the filter asks for 0.
pub const DEFAULT_JOBS_PER_PAGE: u32 = 50;
/// Largest page of [`Store::jobs`]; bigger limits are capped.
pub const MAX_JOBS_PER_PAGE: u32 = 500;

/// Where a job is in its life: `Queued` → `Running` → one of the final three;
/// a queued job can also be cancelled directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Succeeded, failed or cancelled: nothing will change it any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }
}

impl FromStr for JobState {
    type Err = Error;

    fn from_str(value: &str) -> Result<JobState> {
        match value {
            "queued" => Ok(JobState::Queued),
            "running" => Ok(JobState::Running),
            "succeeded" => Ok(JobState::Succeeded),
            "failed" => Ok(JobState::Failed),
            "cancelled" => Ok(JobState::Cancelled),
            other => Err(Error::UnknownJobState(other.to_string())),
        }
    }
}

/// A job to create: what to run and with which parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub kind: String,
    pub params: serde_json::Value,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    pub id: i64,
    pub kind: String,
    pub params: serde_json::Value,
    pub state: JobState,
    /// The last progress a heartbeat reported; `null` before the first.
    pub progress: serde_json::Value,
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
    /// Who runs (or last ran) it; `None` while queued.
    pub worker: Option<String>,
    /// How many times a worker took it; more than 1 after a stale requeue.
    pub attempts: i64,
    pub cancel_requested: bool,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub heartbeat_at: Option<Timestamp>,
}

/// Which jobs [`Store::jobs`] lists, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobFilter {
    pub state: Option<JobState>,
    pub kind: Option<String>,
    /// 0 reads as [`DEFAULT_JOBS_PER_PAGE`]; more than [`MAX_JOBS_PER_PAGE`] is capped.
    pub limit: u32,
    /// Only jobs with a smaller id: the next page after the last id seen.
    pub before_id: Option<i64>,
}

/// What a worker learns from a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    /// Someone asked for the job to stop: wind down and finish it as cancelled.
    pub cancel_requested: bool,
    /// `false`: the job is no longer this worker's (requeued as stale, or
    /// finished): stop without finishing it.
    pub still_owned: bool,
}

const COLUMNS: &str = "id, kind, params, state, progress, result, error, worker, attempts, \
                       cancel_requested, created_at, started_at, finished_at, heartbeat_at";

fn json(table: &'static str, name: &str, text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|error| Error::Corrupt {
        table,
        message: format!("column {name} is not JSON: {error}"),
    })
}

fn optional_time(row: &AnyRow, table: &'static str, name: &str) -> Result<Option<Timestamp>> {
    column::<Option<i64>>(row, table, name)?
        .map(|millis| from_millis(table, millis))
        .transpose()
}

fn job_record(row: &AnyRow) -> Result<JobRecord> {
    const TABLE: &str = "jobs";
    let state: String = column(row, TABLE, "state")?;
    let params: String = column(row, TABLE, "params")?;
    let progress: String = column(row, TABLE, "progress")?;
    let result: Option<String> = column(row, TABLE, "result")?;
    Ok(JobRecord {
        id: column(row, TABLE, "id")?,
        kind: column(row, TABLE, "kind")?,
        params: json(TABLE, "params", &params)?,
        state: state.parse().map_err(|_| Error::Corrupt {
            table: TABLE,
            message: format!("unknown state `{state}`"),
        })?,
        progress: json(TABLE, "progress", &progress)?,
        result: result
            .map(|text| json(TABLE, "result", &text))
            .transpose()?,
        error: column(row, TABLE, "error")?,
        worker: column(row, TABLE, "worker")?,
        attempts: column(row, TABLE, "attempts")?,
        cancel_requested: column::<i64>(row, TABLE, "cancel_requested")? != 0,
        created_at: from_millis(TABLE, column(row, TABLE, "created_at")?)?,
        started_at: optional_time(row, TABLE, "started_at")?,
        finished_at: optional_time(row, TABLE, "finished_at")?,
        heartbeat_at: optional_time(row, TABLE, "heartbeat_at")?,
    })
}

fn json_text(value: &serde_json::Value) -> String {
    // Escapes control characters, so the text never holds a raw NUL.
    serde_json::to_string(value).expect("a JSON value always serializes")
}

impl Store {
    /// Creates a queued job for a worker to claim.
    pub async fn enqueue_job(&self, job: &NewJob) -> Result<JobRecord> {
        self.insert_job(job, None).await
    }

    /// Creates a job that `worker` already runs: the CLI runs jobs inline and
    /// still records them, so that they show in listings with their progress.
    pub async fn start_job(&self, job: &NewJob, worker: &str) -> Result<JobRecord> {
        self.insert_job(job, Some(worker)).await
    }

    async fn insert_job(&self, job: &NewJob, worker: Option<&str>) -> Result<JobRecord> {
        check_text("job", &|| job.kind.clone(), &job.kind)?;
        if let Some(worker) = worker {
            check_text("job", &|| job.kind.clone(), worker)?;
        }
        let now = now_millis();
        let mut sql = SqlText::new(
            self.dialect,
            "INSERT INTO jobs (kind, params, state, progress, worker, attempts, cancel_requested, \
             created_at, started_at, heartbeat_at) VALUES (",
        );
        sql.parameter_list(10).push(") RETURNING ").push(COLUMNS);
        let started = worker.map(|_| now);
        let row = sql
            .query()
            .bind(job.kind.clone())
            .bind(json_text(&job.params))
            .bind(if worker.is_some() {
                JobState::Running.as_str()
            } else {
                JobState::Queued.as_str()
            })
            .bind("null")
            .bind(worker.map(str::to_string))
            .bind(i64::from(worker.is_some()))
            .bind(0_i64)
            .bind(now)
            .bind(started)
            .bind(started)
            .fetch_one(&self.pool)
            .await
            .map_err(database("creating a job"))?;
        job_record(&row)
    }

    /// Takes the oldest queued job of one of `kinds` (any kind when empty) for
    /// `worker`; `None` when there is none. Two workers never get the same job.
    pub async fn claim_job(&self, worker: &str, kinds: &[&str]) -> Result<Option<JobRecord>> {
        check_text("job", &|| worker.to_string(), worker)?;
        let now = now_millis();
        let mut sql = SqlText::new(self.dialect, "UPDATE jobs SET state = 'running', worker = ");
        sql.parameter()
            .push(", attempts = attempts + 1, started_at = COALESCE(started_at, ")
            .parameter()
            .push("), heartbeat_at = ")
            .parameter()
            .push(" WHERE state = 'queued' AND id = (SELECT id FROM jobs WHERE state = 'queued'");
        if !kinds.is_empty() {
            sql.push(" AND kind IN (")
                .parameter_list(kinds.len())
                .push(")");
        }
        sql.push(" ORDER BY id LIMIT 1");
        // PostgreSQL: a worker skips the rows another worker is claiming
        // instead of waiting for it and then finding them taken. SQLite runs
        // one writer at a time (`BEGIN IMMEDIATE`), so the statement is atomic.
        if self.dialect == Dialect::Postgres {
            sql.push(" FOR UPDATE SKIP LOCKED");
        }
        sql.push(") RETURNING ").push(COLUMNS);
        let mut query = sql.query().bind(worker.to_string()).bind(now).bind(now);
        for kind in kinds {
            query = query.bind(kind.to_string());
        }
        let mut transaction = self.begin_write().await?;
        let row = query
            .fetch_optional(&mut *transaction)
            .await
            .map_err(database("claiming a job"))?;
        transaction
            .commit()
            .await
            .map_err(database("claiming a job"))?;
        row.as_ref().map(job_record).transpose()
    }

    /// Saves `progress` and the heartbeat time if `worker` still runs job
    /// `id`, and tells it whether to stop.
    pub async fn heartbeat_job(
        &self,
        id: i64,
        worker: &str,
        progress: &serde_json::Value,
    ) -> Result<Heartbeat> {
        let mut sql = SqlText::new(self.dialect, "UPDATE jobs SET progress = ");
        sql.parameter()
            .push(", heartbeat_at = ")
            .parameter()
            .push(" WHERE id = ")
            .parameter()
            .push(" AND worker = ")
            .parameter()
            .push(" AND state = 'running' RETURNING cancel_requested");
        let row = sql
            .query()
            .bind(json_text(progress))
            .bind(now_millis())
            .bind(id)
            .bind(worker.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(database("recording a job heartbeat"))?;
        match row {
            Some(row) => Ok(Heartbeat {
                cancel_requested: column::<i64>(&row, "jobs", "cancel_requested")? != 0,
                still_owned: true,
            }),
            None => Ok(Heartbeat {
                cancel_requested: self.job(id).await?.is_some_and(|job| job.cancel_requested),
                still_owned: false,
            }),
        }
    }

    /// Ends job `id` with a final `state` if `worker` still runs it; `false`
    /// when it does not any more (requeued as stale, or already finished), in
    /// which case nothing is written. A NUL in `error` is replaced: a failure
    /// report must not fail to store.
    pub async fn finish_job(
        &self,
        id: i64,
        worker: &str,
        state: JobState,
        result: Option<&serde_json::Value>,
        error: Option<&str>,
    ) -> Result<bool> {
        if !state.is_final() {
            return Err(Error::NotAFinalState {
                id,
                state: state.as_str(),
            });
        }
        let now = now_millis();
        let mut sql = SqlText::new(self.dialect, "UPDATE jobs SET state = ");
        sql.parameter()
            .push(", result = ")
            .parameter()
            .push(", error = ")
            .parameter()
            .push(", finished_at = ")
            .parameter()
            .push(", heartbeat_at = ")
            .parameter()
            .push(" WHERE id = ")
            .parameter()
            .push(" AND worker = ")
            .parameter()
            .push(" AND state = 'running'");
        let finished = sql
            .query()
            .bind(state.as_str())
            .bind(result.map(json_text))
            .bind(error.map(|error| error.replace('\0', "\u{fffd}")))
            .bind(now)
            .bind(now)
            .bind(id)
            .bind(worker.to_string())
            .execute(&self.pool)
            .await
            .map_err(database("finishing a job"))?
            .rows_affected();
        Ok(finished == 1)
    }

    /// Cancels job `id`: a queued job is cancelled at once, a running one is
    /// flagged for its worker to stop at its next heartbeat, a finished one is
    /// left as it is. Returns the job as it is afterwards, `None` if unknown.
    pub async fn cancel_job(&self, id: i64) -> Result<Option<JobRecord>> {
        // One statement, so a job claimed meanwhile is flagged, not lost.
        let mut sql = SqlText::new(
            self.dialect,
            "UPDATE jobs SET cancel_requested = 1, \
             finished_at = CASE WHEN state = 'queued' THEN ",
        );
        sql.parameter()
            .push(
                " ELSE finished_at END, \
                 state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END \
                 WHERE id = ",
            )
            .parameter()
            .push(" AND state IN ('queued', 'running') RETURNING ")
            .push(COLUMNS);
        let row = sql
            .query()
            .bind(now_millis())
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(database("cancelling a job"))?;
        match row {
            Some(row) => job_record(&row).map(Some),
            None => self.job(id).await,
        }
    }

    /// Gives job `id` back to the queue if `worker` still runs it: a worker
    /// that shuts down hands its unfinished job to the next worker (imports
    /// and embedding resume where they stopped), or cancels it when a cancel
    /// was asked for. `false` when the job is not this worker's any more.
    pub async fn release_job(&self, id: i64, worker: &str) -> Result<bool> {
        let mut sql = SqlText::new(
            self.dialect,
            "UPDATE jobs SET worker = CASE WHEN cancel_requested = 1 THEN worker ELSE NULL END, \
             finished_at = CASE WHEN cancel_requested = 1 THEN ",
        );
        sql.parameter()
            .push(
                " ELSE finished_at END, \
                 state = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'queued' END \
                 WHERE id = ",
            )
            .parameter()
            .push(" AND worker = ")
            .parameter()
            .push(" AND state = 'running'");
        let released = sql
            .query()
            .bind(now_millis())
            .bind(id)
            .bind(worker.to_string())
            .execute(&self.pool)
            .await
            .map_err(database("releasing a job"))?
            .rows_affected();
        Ok(released == 1)
    }

    /// Takes back the running jobs whose worker sent no heartbeat for
    /// `stale_after` (it crashed or lost the database): they are queued again
    /// for another worker, keeping their attempts, or cancelled if a cancel
    /// was asked for. Returns how many jobs were taken back.
    pub async fn requeue_stale_jobs(&self, stale_after: Duration) -> Result<u64> {
        let now = now_millis();
        let stale_millis = i64::try_from(stale_after.as_millis()).unwrap_or(i64::MAX);
        let cutoff = now.saturating_sub(stale_millis);
        let mut sql = SqlText::new(
            self.dialect,
            "UPDATE jobs SET worker = CASE WHEN cancel_requested = 1 THEN worker ELSE NULL END, \
             finished_at = CASE WHEN cancel_requested = 1 THEN ",
        );
        sql.parameter()
            .push(
                " ELSE finished_at END, \
                 state = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'queued' END \
                 WHERE state = 'running' AND COALESCE(heartbeat_at, started_at, created_at) < ",
            )
            .parameter();
        let taken_back = sql
            .query()
            .bind(now)
            .bind(cutoff)
            .execute(&self.pool)
            .await
            .map_err(database("requeueing stale jobs"))?
            .rows_affected();
        Ok(taken_back)
    }

    pub async fn job(&self, id: i64) -> Result<Option<JobRecord>> {
        let mut sql = SqlText::new(self.dialect, "SELECT ");
        sql.push(COLUMNS).push(" FROM jobs WHERE id = ").parameter();
        let row = sql
            .query()
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(database("reading a job"))?;
        row.as_ref().map(job_record).transpose()
    }

    /// Jobs matching `filter`, newest first.
    pub async fn jobs(&self, filter: &JobFilter) -> Result<Vec<JobRecord>> {
        let limit = match filter.limit {
            0 => DEFAULT_JOBS_PER_PAGE,
            requested => requested.min(MAX_JOBS_PER_PAGE),
        };
        let mut sql = SqlText::new(self.dialect, "SELECT ");
        sql.push(COLUMNS).push(" FROM jobs WHERE 1 = 1");
        if filter.state.is_some() {
            sql.push(" AND state = ").parameter();
        }
        if filter.kind.is_some() {
            sql.push(" AND kind = ").parameter();
        }
        if filter.before_id.is_some() {
            sql.push(" AND id < ").parameter();
        }
        sql.push(" ORDER BY id DESC LIMIT ").parameter();
        let mut query = sql.query();
        if let Some(state) = filter.state {
            query = query.bind(state.as_str());
        }
        if let Some(kind) = &filter.kind {
            query = query.bind(kind.clone());
        }
        if let Some(before_id) = filter.before_id {
            query = query.bind(before_id);
        }
        let found = query
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(database("listing jobs"))?;
        found.iter().map(job_record).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_by_name() {
        for state in [
            JobState::Queued,
            JobState::Running,
            JobState::Succeeded,
            JobState::Failed,
            JobState::Cancelled,
        ] {
            assert_eq!(state.as_str().parse::<JobState>().expect("known"), state);
        }
        let unknown = "done".parse::<JobState>().expect_err("unknown state");
        assert!(unknown.to_string().contains("succeeded"), "{unknown}");
    }
}
