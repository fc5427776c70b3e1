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
    /// An id outside the range the store keeps apart (see
    /// [`crate::intake::MAX_SOURCE_ID`]): zero, negative, or so large that it
    /// would land on another record (a comment's post id) or wrap.
    IdOutOfRange {
        attribute: &'static str,
        value: String,
    },
    /// A time outside [`crate::intake::EARLIEST_YEAR`] to
    /// [`crate::intake::LATEST_YEAR`] (a `0001` or `9999` sentinel).
    DateOutOfRange {
        attribute: &'static str,
        value: String,
    },
    /// A character that XML 1.0 forbids (C0 controls but tab, newline and
    /// carriage return; U+FFFE, U+FFFF), raw or as a character reference,
    /// or a NUL in JSONL text: the store cannot keep NUL, and the others are
    /// invisible in every page and report that shows them.
    IllegalCharacter {
        attribute: String,
        code_point: u32,
    },
    /// An answer whose parent is not a question.
    ParentNotQuestion {
        parent_id: i64,
        parent_kind: String,
    },
    /// A comment whose parent is a comment.
    ParentIsComment {
        parent_id: i64,
    },
    /// A question, wiki or article with a parent: only answers and comments
    /// hang under another post.
    UnexpectedParent {
        kind: String,
    },
    /// A re-import that changes the kind of a stored post (a question into an
    /// answer, say): kinds are fixed once stored, which is what keeps the
    /// parent links free of cycles across imports.
    KindChanged {
        stored: String,
        found: String,
    },
    /// A post that is its own parent, or a link from a post to itself.
    SelfLink(i64),
    /// A post tag that is empty or only whitespace.
    EmptyTag,
    /// A `VoteTypeId` outside the dump schema's 1 to 16.
    UnknownVoteType(i64),
    /// The database refused the record although it passed every check here;
    /// the rest of its batch was written.
    RejectedByStore(String),
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
            SkipReason::IdOutOfRange { .. } => "id_out_of_range",
            SkipReason::DateOutOfRange { .. } => "date_out_of_range",
            SkipReason::IllegalCharacter { .. } => "illegal_character",
            SkipReason::ParentNotQuestion { .. } => "parent_not_question",
            SkipReason::ParentIsComment { .. } => "parent_is_comment",
            SkipReason::UnexpectedParent { .. } => "unexpected_parent",
            SkipReason::KindChanged { .. } => "kind_changed",
            SkipReason::SelfLink(_) => "self_link",
            SkipReason::EmptyTag => "empty_tag",
            SkipReason::UnknownVoteType(_) => "unknown_vote_type",
            SkipReason::RejectedByStore(_) => "rejected_by_store",
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
            SkipReason::IdOutOfRange { attribute, value } => write!(
                f,
                "{attribute} `{value}` is outside the ids Steward keeps (1 to 2^40-1)"
            ),
            SkipReason::DateOutOfRange { attribute, value } => write!(
                f,
                "{attribute} `{value}` is outside the years {} to {}",
                crate::intake::EARLIEST_YEAR,
                crate::intake::LATEST_YEAR
            ),
            SkipReason::IllegalCharacter {
                attribute,
                code_point,
            } => write!(
                f,
                "{attribute} holds the character U+{code_point:04X}, which is not allowed in text"
            ),
            SkipReason::ParentNotQuestion {
                parent_id,
                parent_kind,
            } => write!(
                f,
                "an answer's parent must be a question; post {parent_id} is a {parent_kind}"
            ),
            SkipReason::ParentIsComment { parent_id } => write!(
                f,
                "a comment's parent must be a post, not comment {parent_id}"
            ),
            SkipReason::UnexpectedParent { kind } => {
                write!(f, "a {kind} has no parent; only answers and comments do")
            }
            SkipReason::KindChanged { stored, found } => write!(
                f,
                "the store holds this post as a {stored}, not a {found}; a post's kind does not change"
            ),
            SkipReason::SelfLink(id) => write!(f, "post {id} links to itself"),
            SkipReason::EmptyTag => f.write_str("a tag is empty"),
            SkipReason::UnknownVoteType(type_id) => {
                write!(
                    f,
                    "unknown vote type {type_id} (the dump schema has 1 to 16)"
                )
            }
            SkipReason::RejectedByStore(message) => {
                write!(f, "the store refused the record: {message}")
            }
        }
    }
}

/// Where a record starts in its file: the 1-based line and, for a file that
/// is not one record per line (read by the streaming XML parser), the
/// 1-based column (in bytes) within that line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    pub line: u64,
    pub column: Option<u64>,
}

impl Location {
    /// The start of `line`.
    pub fn line(line: u64) -> Location {
        Location { line, column: None }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.column {
            None => write!(f, "{}", self.line),
            Some(column) => write!(f, "{}:{column}", self.line),
        }
    }
}

/// One skipped record and where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    pub file: String,
    /// 1-based line where the record starts.
    pub line: u64,
    /// 1-based byte column where the record starts, when its file is not one
    /// record per line.
    pub column: Option<u64>,
    pub reason: SkipReason,
}

impl Serialize for Skip {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut state = serializer.serialize_struct("Skip", 6)?;
        state.serialize_field("file", &self.file)?;
        state.serialize_field("line", &self.line)?;
        match self.column {
            Some(column) => state.serialize_field("column", &column)?,
            None => state.skip_field("column")?,
        }
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

    pub(crate) fn record_skip(&mut self, file_idx: usize, at: Location, reason: SkipReason) {
        self.files[file_idx].skipped += 1;
        self.total_skipped += 1;
        *self
            .skips_by_reason
            .entry(reason.code().to_string())
            .or_default() += 1;
        if self.skips.len() < MAX_SKIP_DETAILS {
            let file = self.files[file_idx].file.clone();
            self.skips.push(Skip {
                file,
                line: at.line,
                column: at.column,
                reason,
            });
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
                let at = Location {
                    line: skip.line,
                    column: skip.column,
                };
                writeln!(f, "  {}:{at}: {}", skip.file, skip.reason)?;
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
