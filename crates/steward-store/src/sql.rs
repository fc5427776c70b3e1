//! SQL text that differs between SQLite and PostgreSQL: placeholders, type names
//! and the sizing of multi-row statements. Everything else is written once.

use sqlx::any::AnyArguments;

use crate::Dialect;

/// A query over the `Any` driver whose parameters are bound one by one.
pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, AnyArguments>;

/// Most rows one multi-row statement carries, whatever the parameter limit
/// allows. Bigger statements save round trips but cost more to parse and keep
/// in the statement cache; 200 rows was measured best for posts (see
/// `examples/write_speed.rs`), and full statements are reused between batches.
const MAX_ROWS_PER_STATEMENT: usize = 200;

/// SQL text under construction whose placeholders number themselves, so that a
/// dynamically built query is written once for both dialects.
#[derive(Debug)]
pub(crate) struct SqlText {
    dialect: Dialect,
    text: String,
    parameters: usize,
}

impl SqlText {
    pub(crate) fn new(dialect: Dialect, start: &str) -> SqlText {
        SqlText {
            dialect,
            text: start.to_string(),
            parameters: 0,
        }
    }

    pub(crate) fn push(&mut self, text: &str) -> &mut SqlText {
        self.text.push_str(text);
        self
    }

    /// Appends the next parameter's placeholder; bind its value in the same order.
    pub(crate) fn parameter(&mut self) -> &mut SqlText {
        self.parameters += 1;
        self.dialect
            .push_placeholder(&mut self.text, self.parameters);
        self
    }

    /// Appends `count` comma-separated placeholders (the inside of an `IN (...)`).
    pub(crate) fn parameter_list(&mut self, count: usize) -> &mut SqlText {
        let list = self.dialect.placeholder_list(self.parameters + 1, count);
        self.parameters += count;
        self.text.push_str(&list);
        self
    }

    /// A query over the finished text, ready for its values to be bound.
    pub(crate) fn query(&self) -> AnyQuery<'static> {
        sqlx::query(sqlx::AssertSqlSafe(self.text.clone()))
    }
}

impl Dialect {
    /// The bound-parameter limit of one statement: SQLite's default
    /// `SQLITE_MAX_VARIABLE_NUMBER`, PostgreSQL's 16-bit parameter count.
    pub(crate) fn max_parameters(self) -> usize {
        match self {
            Dialect::Sqlite => 32_766,
            Dialect::Postgres => 65_535,
        }
    }

    /// How many rows of `columns` values one multi-row statement may carry.
    pub(crate) fn rows_per_statement(self, columns: usize) -> usize {
        (self.max_parameters() / columns.max(1)).clamp(1, MAX_ROWS_PER_STATEMENT)
    }

    /// Appends the placeholder of the `number`th (1-based) parameter: `?` on
    /// SQLite (its bulk path is much faster with anonymous parameters), `$N` on
    /// PostgreSQL (which rejects `?`).
    pub(crate) fn push_placeholder(self, sql: &mut String, number: usize) {
        match self {
            Dialect::Sqlite => sql.push('?'),
            Dialect::Postgres => {
                sql.push('$');
                sql.push_str(&number.to_string());
            }
        }
    }

    /// `(p, p, p), (p, p, p)`: `rows` tuples of `columns` placeholders, numbered
    /// from `first_number`.
    pub(crate) fn push_value_tuples(
        self,
        sql: &mut String,
        first_number: usize,
        rows: usize,
        columns: usize,
    ) {
        let mut number = first_number;
        for row_idx in 0..rows {
            if row_idx > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for column_idx in 0..columns {
                if column_idx > 0 {
                    sql.push_str(", ");
                }
                self.push_placeholder(sql, number);
                number += 1;
            }
            sql.push(')');
        }
    }

    /// `p, p, p`: a list of `count` placeholders for an `IN (...)` clause.
    pub(crate) fn placeholder_list(self, first_number: usize, count: usize) -> String {
        let mut sql = String::with_capacity(count * 4);
        for offset in 0..count {
            if offset > 0 {
                sql.push_str(", ");
            }
            self.push_placeholder(&mut sql, first_number + offset);
        }
        sql
    }

    /// Replaces the type tokens of a migration statement with this dialect's names,
    /// so that one DDL text serves both backends:
    /// `{id}` a 64-bit integer primary key (SQLite's rowid alias, which makes
    /// upserts by id a single B-tree probe), `{serial}` a generated 64-bit key,
    /// `{blob}` bytes, `{without_rowid}` SQLite's clustered-table option,
    /// `{sequence}` a generated 64-bit key that is never handed out twice, even
    /// after the newest row is deleted (SQLite's plain rowid reuses it; a change
    /// feed or job id must not).
    pub(crate) fn ddl(self, template: &str) -> String {
        let (id, serial, sequence, blob, without_rowid) = match self {
            Dialect::Sqlite => (
                "INTEGER PRIMARY KEY",
                "INTEGER PRIMARY KEY",
                "INTEGER PRIMARY KEY AUTOINCREMENT",
                "BLOB",
                " WITHOUT ROWID",
            ),
            Dialect::Postgres => (
                "BIGINT PRIMARY KEY",
                "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                "BYTEA",
                "",
            ),
        };
        template
            .replace("{id}", id)
            .replace("{serial}", serial)
            .replace("{sequence}", sequence)
            .replace("{blob}", blob)
            .replace("{without_rowid}", without_rowid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_dialect() {
        let check =
            |dialect: Dialect, first: usize, rows: usize, columns: usize, expected: &str| {
                let mut sql = String::new();
                dialect.push_value_tuples(&mut sql, first, rows, columns);
                assert_eq!(sql, expected, "{dialect:?}");
            };
        check(Dialect::Sqlite, 1, 2, 2, "(?, ?), (?, ?)");
        check(Dialect::Postgres, 1, 2, 2, "($1, $2), ($3, $4)");
        check(Dialect::Postgres, 3, 1, 3, "($3, $4, $5)");
        assert_eq!(Dialect::Postgres.placeholder_list(2, 3), "$2, $3, $4");
        assert_eq!(Dialect::Sqlite.placeholder_list(1, 2), "?, ?");
    }

    #[test]
    fn statements_stay_below_the_parameter_limits() {
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            for columns in [1, 2, 8, 21, 40_000] {
                let rows = dialect.rows_per_statement(columns);
                assert!(rows >= 1);
                assert!(rows * columns <= dialect.max_parameters() || rows == 1);
            }
        }
    }
}
