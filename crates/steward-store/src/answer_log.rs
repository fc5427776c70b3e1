//! The answer log: one row per answer `ask` gave (generated, extractive or
//! refused), with the passages it read and the citations it showed, so that
//! answers can be evaluated later. A generated answer's LLM call is in the
//! audit log (`llm_calls`) under the object id `answer:<id>`.

use sqlx::any::AnyRow;
use steward_domain::Timestamp;

use crate::error::{Error, Result, database};
use crate::rows::column;
use crate::sql::SqlText;
use crate::write::check_text;
use crate::{Store, from_millis, to_millis};

const TABLE: &str = "answer_log";

const COLUMNS: &str = "id, asked_at, question, language, mode, passages, answer, citations, \
                       model, latency_ms, prompt_tokens, completion_tokens, role, key_id";

/// One logged answer.
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerLogEntry {
    /// A UUID; the audit row of the LLM call names it as `answer:<id>`.
    pub id: String,
    pub asked_at: Timestamp,
    pub question: String,
    /// ISO 639-1 code of the question's language.
    pub language: String,
    /// `generated`, `extractive` or `refused`.
    pub mode: String,
    /// The passages the answer was made from (a JSON list).
    pub passages: serde_json::Value,
    /// The text shown, with `[n]` markers; for a refusal, its reason.
    pub answer: String,
    /// The citations shown (a JSON list).
    pub citations: serde_json::Value,
    /// The LLM that drafted it; `None` when no model ran.
    pub model: Option<String>,
    pub latency_ms: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    /// The role of the caller (the operator's for the CLI).
    pub role: String,
    /// The API key asked with; `None` for the CLI and Steward's own asks.
    pub key_id: Option<String>,
}

fn json_column(row: &AnyRow, name: &str) -> Result<serde_json::Value> {
    let text: String = column(row, TABLE, name)?;
    serde_json::from_str(&text).map_err(|error| Error::Corrupt {
        table: TABLE,
        message: format!("column {name} is not JSON: {error}"),
    })
}

fn entry(row: &AnyRow) -> Result<AnswerLogEntry> {
    Ok(AnswerLogEntry {
        id: column(row, TABLE, "id")?,
        asked_at: from_millis(TABLE, column(row, TABLE, "asked_at")?)?,
        question: column(row, TABLE, "question")?,
        language: column(row, TABLE, "language")?,
        mode: column(row, TABLE, "mode")?,
        passages: json_column(row, "passages")?,
        answer: column(row, TABLE, "answer")?,
        citations: json_column(row, "citations")?,
        model: column(row, TABLE, "model")?,
        latency_ms: column(row, TABLE, "latency_ms")?,
        prompt_tokens: column(row, TABLE, "prompt_tokens")?,
        completion_tokens: column(row, TABLE, "completion_tokens")?,
        role: column(row, TABLE, "role")?,
        key_id: column(row, TABLE, "key_id")?,
    })
}

/// Writing the same id again replaces the row: a retried write of one answer
/// must not log it twice.
pub(crate) async fn record_answer(store: &Store, answer: &AnswerLogEntry) -> Result<()> {
    let passages = answer.passages.to_string();
    let citations = answer.citations.to_string();
    let id = || answer.id.clone();
    for text in [
        &answer.id,
        &answer.question,
        &answer.language,
        &answer.mode,
        &answer.answer,
        &answer.role,
        &passages,
        &citations,
    ]
    .into_iter()
    .chain(&answer.model)
    .chain(&answer.key_id)
    {
        check_text("answer", &id, text)?;
    }
    let mut sql = SqlText::new(store.dialect, "INSERT INTO answer_log (");
    sql.push(COLUMNS)
        .push(") VALUES (")
        .parameter_list(14)
        .push(
            ") ON CONFLICT (id) DO UPDATE SET asked_at = excluded.asked_at, \
             question = excluded.question, language = excluded.language, \
             mode = excluded.mode, passages = excluded.passages, answer = excluded.answer, \
             citations = excluded.citations, model = excluded.model, \
             latency_ms = excluded.latency_ms, prompt_tokens = excluded.prompt_tokens, \
             completion_tokens = excluded.completion_tokens, role = excluded.role, \
             key_id = excluded.key_id",
        );
    sql.query()
        .bind(answer.id.clone())
        .bind(to_millis(answer.asked_at))
        .bind(answer.question.clone())
        .bind(answer.language.clone())
        .bind(answer.mode.clone())
        .bind(passages)
        .bind(answer.answer.clone())
        .bind(citations)
        .bind(answer.model.clone())
        .bind(answer.latency_ms)
        .bind(answer.prompt_tokens)
        .bind(answer.completion_tokens)
        .bind(answer.role.clone())
        .bind(answer.key_id.clone())
        .execute(&store.pool)
        .await
        .map_err(database("logging an answer"))?;
    Ok(())
}

/// The newest answers first, at most `limit`.
pub(crate) async fn answer_log(store: &Store, limit: u32) -> Result<Vec<AnswerLogEntry>> {
    let mut sql = SqlText::new(store.dialect, "SELECT ");
    sql.push(COLUMNS)
        .push(" FROM answer_log ORDER BY asked_at DESC, id DESC LIMIT ")
        .parameter();
    let found = sql
        .query()
        .bind(i64::from(limit))
        .fetch_all(&store.pool)
        .await
        .map_err(database("reading the answer log"))?;
    found.iter().map(entry).collect()
}

/// The answer logged under `id`, if any.
pub(crate) async fn logged_answer(store: &Store, id: &str) -> Result<Option<AnswerLogEntry>> {
    let mut sql = SqlText::new(store.dialect, "SELECT ");
    sql.push(COLUMNS)
        .push(" FROM answer_log WHERE id = ")
        .parameter();
    let row = sql
        .query()
        .bind(id.to_string())
        .fetch_optional(&store.pool)
        .await
        .map_err(database("reading a logged answer"))?;
    row.as_ref().map(entry).transpose()
}
