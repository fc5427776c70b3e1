//! What an import did: rows read, imported, skipped and ignored per file, and
//! why each skipped record was skipped, with its file and line. Bad input is
//! data: the report is the place it goes.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde::ser::SerializeStruct;

use crate::intake::IntakeError;

/// How many skip details a report keeps; the counts cover all of them.
pub const MAX_SKIP_DETAILS: usize = 100;

/// Why one record was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// The line is not a well-formed XML row or JSON object.
    Malformed(String),
    /// A line that is neither a row nor part of the file's wrapper.
    NotARecord,
    /// The file ends in the middle of a record (a cut-off download).
    Truncated,
    /// A record longer than the reader accepts (a runaway row).
    TooLong {
        bytes: usize,
    },
    /// The line is not valid UTF-8.
    InvalidUtf8,
    MissingAttribute(&'static str),
    BadDate {
        attribute: &'static str,
        value: String,
    },
    BadNumber {
        attribute: &'static str,
        value: String,
    },
    /// A value outside its set (`Class="9"`, `TagBased="maybe"`, a kind name).
    BadValue {
        attribute: &'static str,
        value: String,
    },
    UnknownPostType(i64),
    UnknownLinkType(i64),
    /// The record refers to a post that is neither in this import nor in the store.
    DanglingReference {
        attribute: &'static str,
        post_id: i64,
    },
    /// A second record with an id the file already used.
    DuplicateId(String),
    /// An event (a JSONL event line, or the event a dump row implies) that
    /// [`crate::intake`] rejected; the same field and problem the API gives.
    InvalidEvent(IntakeError),
}

impl SkipReason {
    /// Stable snake_case name of the reason, the key of the per-reason counts.
    pub fn code(&self) -> &'static str {
        match self {
            SkipReason::Malformed(_) => "malformed",
            SkipReason::NotARecord => "not_a_record",
            SkipReason::Truncated => "truncated",
            SkipReason::TooLong { .. } => "too_long",
            SkipReason::InvalidUtf8 => "invalid_utf8",
            SkipReason::MissingAttribute(_) => "missing_attribute",
            SkipReason::BadDate { .. } => "bad_date",
            SkipReason::BadNumber { .. } => "bad_number",
            SkipReason::BadValue { .. } => "bad_value",
            SkipReason::UnknownPostType(_) => "unknown_post_type",
            SkipReason::UnknownLinkType(_) => "unknown_link_type",
            SkipReason::DanglingReference { .. } => "dangling_reference",
            SkipReason::DuplicateId(_) => "duplicate_id",
            SkipReason::InvalidEvent(_) => "invalid_event",
        }
    }

    /// The field to blame, where the reason names one by its wire name
    /// (`target.id`); shown as `field` in the JSON report.
    pub fn field(&self) -> Option<&str> {
        match self {
            SkipReason::InvalidEvent(error) => error.field(),
            _ => None,
        }
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::Malformed(message) => write!(f, "malformed record: {message}"),
            SkipReason::NotARecord => f.write_str("not a record"),
            SkipReason::Truncated => f.write_str("file ends inside this record (truncated)"),
            SkipReason::TooLong { bytes } => write!(f, "record longer than {bytes} bytes"),
            SkipReason::InvalidUtf8 => f.write_str("not valid UTF-8"),
            SkipReason::MissingAttribute(name) => write!(f, "missing required {name}"),
            SkipReason::BadDate { attribute, value } => {
                write!(f, "bad date in {attribute}: `{value}`")
            }
            SkipReason::BadNumber { attribute, value } => {
                write!(f, "bad number in {attribute}: `{value}`")
            }
            SkipReason::BadValue { attribute, value } => {
                write!(f, "bad value in {attribute}: `{value}`")
            }
            SkipReason::UnknownPostType(type_id) => write!(f, "unknown post type {type_id}"),
            SkipReason::UnknownLinkType(type_id) => write!(f, "unknown link type {type_id}"),
            SkipReason::DanglingReference { attribute, post_id } => {
                write!(
                    f,
                    "{attribute} {post_id} names a post that is neither in this import nor in the store"
                )
            }
            SkipReason::DuplicateId(id) => {
                write!(f, "duplicate id {id} (an earlier record used it)")
            }
            SkipReason::InvalidEvent(error) => write!(f, "invalid event, {error}"),
        }
    }
}

/// One skipped record and where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    pub file: String,
    /// 1-based line where the record starts.
    pub line: u64,
    pub reason: SkipReason,
}

impl Serialize for Skip {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut state = serializer.serialize_struct("Skip", 5)?;
        state.serialize_field("file", &self.file)?;
        state.serialize_field("line", &self.line)?;
        state.serialize_field("code", self.reason.code())?;
        match self.reason.field() {
            Some(field) => state.serialize_field("field", field)?,
            None => state.skip_field("field")?,
        }
        state.serialize_field("reason", &self.reason.to_string())?;
        state.end()
    }
}

/// Counts for one source file.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FileReport {
    pub file: String,
    pub bytes: u64,
    /// Records read (rows or lines holding a record, good or bad).
    pub rows_read: u64,
    pub imported: u64,
    pub skipped: u64,
    /// Good records that carry nothing Steward keeps (e.g. post history
    /// entries other than edits); neither imported nor errors.
    pub ignored: u64,
    /// Time from opening the file to its last batch written.
    pub elapsed_seconds: f64,
}

/// The outcome of one import.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportReport {
    /// The directory or file imported.
    pub source: String,
    pub files: Vec<FileReport>,
    /// Optional files that the source did not have.
    pub absent_files: Vec<String>,
    /// Skips by [`SkipReason::code`].
    pub skips_by_reason: BTreeMap<String, u64>,
    /// The first [`MAX_SKIP_DETAILS`] skips, in reading order.
    pub skips: Vec<Skip>,
    pub total_skipped: u64,
    pub total_bytes: u64,
    pub elapsed_seconds: f64,
}

impl ImportReport {
    pub(crate) fn new(source: String) -> ImportReport {
        ImportReport {
            source,
            ..ImportReport::default()
        }
    }

    /// Counts of the file named `file`, if it was read.
    pub fn file(&self, file: &str) -> Option<&FileReport> {
        self.files.iter().find(|report| report.file == file)
    }

    pub fn total_imported(&self) -> u64 {
        self.files.iter().map(|file| file.imported).sum()
    }

    pub fn total_rows(&self) -> u64 {
        self.files.iter().map(|file| file.rows_read).sum()
    }

    /// Megabytes (10^6 bytes) read per second over the whole import.
    pub fn megabytes_per_second(&self) -> f64 {
        if self.elapsed_seconds > 0.0 {
            self.total_bytes as f64 / 1e6 / self.elapsed_seconds
        } else {
            0.0
        }
    }

    pub(crate) fn record_skip(&mut self, file_idx: usize, line: u64, reason: SkipReason) {
        self.files[file_idx].skipped += 1;
        self.total_skipped += 1;
        *self
            .skips_by_reason
            .entry(reason.code().to_string())
            .or_default() += 1;
        if self.skips.len() < MAX_SKIP_DETAILS {
            let file = self.files[file_idx].file.clone();
            self.skips.push(Skip { file, line, reason });
        }
    }

    pub(crate) fn start_file(&mut self, file: &str, bytes: u64) -> usize {
        self.files.push(FileReport {
            file: file.to_string(),
            bytes,
            ..FileReport::default()
        });
        self.total_bytes += bytes;
        self.files.len() - 1
    }

    pub(crate) fn set_elapsed(&mut self, elapsed: Duration) {
        self.elapsed_seconds = elapsed.as_secs_f64();
    }
}

impl std::fmt::Display for ImportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "Imported {} of {} records from {} ({:.1} MB in {:.1} s, {:.1} MB/s)",
            self.total_imported(),
            self.total_rows(),
            self.source,
            self.total_bytes as f64 / 1e6,
            self.elapsed_seconds,
            self.megabytes_per_second(),
        )?;
        writeln!(
            f,
            "  {:<18} {:>10} {:>10} {:>8} {:>8}",
            "file", "read", "imported", "skipped", "ignored"
        )?;
        for file in &self.files {
            writeln!(
                f,
                "  {:<18} {:>10} {:>10} {:>8} {:>8}",
                file.file, file.rows_read, file.imported, file.skipped, file.ignored
            )?;
        }
        if !self.absent_files.is_empty() {
            writeln!(f, "  absent (optional): {}", self.absent_files.join(", "))?;
        }
        if self.total_skipped > 0 {
            let by_reason: Vec<String> = self
                .skips_by_reason
                .iter()
                .map(|(code, count)| format!("{code} {count}"))
                .collect();
            writeln!(
                f,
                "Skipped {} records: {}",
                self.total_skipped,
                by_reason.join(", ")
            )?;
            for skip in &self.skips {
                writeln!(f, "  {}:{}: {}", skip.file, skip.line, skip.reason)?;
            }
            let hidden = self.total_skipped.saturating_sub(self.skips.len() as u64);
            if hidden > 0 {
                writeln!(
                    f,
                    "  ... and {hidden} more (use --json for counts by reason)"
                )?;
            }
        }
        Ok(())
    }
}
