//! Typed reads of record fields: required and optional numbers, dates and
//! flags, each failure turned into the [`SkipReason`] the report shows.

use chrono::{DateTime, NaiveDateTime, Utc};
use steward_domain::Timestamp;

use crate::report::SkipReason;
use crate::rows::Row;

/// Parses Stack Exchange times (`2016-08-02T15:39:14.947`, no zone = UTC) and
/// RFC 3339 times with `Z` or an offset.
pub(crate) fn parse_timestamp(value: &str) -> Option<Timestamp> {
    let value = value.trim();
    // `FromStr` reads `%Y-%m-%dT%H:%M:%S%.f` with pre-built items: several times
    // faster than `parse_from_str`, which re-reads its format string every call.
    if let Ok(naive) = value.parse::<NaiveDateTime>() {
        return Some(naive.and_utc());
    }
    if let Ok(with_offset) = DateTime::parse_from_rfc3339(value) {
        return Some(with_offset.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|naive| naive.and_utc())
}

impl Row {
    pub(crate) fn required(&self, name: &'static str) -> Result<&str, SkipReason> {
        self.get(name).ok_or(SkipReason::MissingAttribute(name))
    }

    pub(crate) fn required_i64(&self, name: &'static str) -> Result<i64, SkipReason> {
        parse_i64(name, self.required(name)?)
    }

    /// An absent or empty attribute is `None`; a present, unparsable one is an error.
    pub(crate) fn optional_i64(&self, name: &'static str) -> Result<Option<i64>, SkipReason> {
        match self.get(name) {
            None => Ok(None),
            Some(value) if value.trim().is_empty() => Ok(None),
            Some(value) => parse_i64(name, value).map(Some),
        }
    }

    pub(crate) fn i64_or_zero(&self, name: &'static str) -> Result<i64, SkipReason> {
        Ok(self.optional_i64(name)?.unwrap_or(0))
    }

    pub(crate) fn required_date(&self, name: &'static str) -> Result<Timestamp, SkipReason> {
        parse_date(name, self.required(name)?)
    }

    pub(crate) fn optional_date(
        &self,
        name: &'static str,
    ) -> Result<Option<Timestamp>, SkipReason> {
        match self.get(name) {
            None => Ok(None),
            Some(value) if value.trim().is_empty() => Ok(None),
            Some(value) => parse_date(name, value).map(Some),
        }
    }

    pub(crate) fn optional_string(&self, name: &'static str) -> Option<String> {
        self.get(name)
            .filter(|value| !value.trim().is_empty())
            .map(str::to_string)
    }
}

pub(crate) fn parse_i64(name: &'static str, value: &str) -> Result<i64, SkipReason> {
    value.trim().parse().map_err(|_| SkipReason::BadNumber {
        attribute: name,
        value: value.chars().take(40).collect(),
    })
}

pub(crate) fn parse_date(name: &'static str, value: &str) -> Result<Timestamp, SkipReason> {
    parse_timestamp(value).ok_or_else(|| SkipReason::BadDate {
        attribute: name,
        value: value.chars().take(40).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_and_rfc3339_times_parse_as_utc() {
        let check = |input: &str, expected: Option<&str>| {
            let parsed = parse_timestamp(input).map(|at| at.to_rfc3339());
            assert_eq!(parsed.as_deref(), expected, "{input}");
        };
        check(
            "2016-08-02T15:39:14.947",
            Some("2016-08-02T15:39:14.947+00:00"),
        );
        check("2016-08-02T15:39:14", Some("2016-08-02T15:39:14+00:00"));
        check(
            "2016-08-02T15:39:14.947Z",
            Some("2016-08-02T15:39:14.947+00:00"),
        );
        check(
            "2016-08-02T17:39:14+02:00",
            Some("2016-08-02T15:39:14+00:00"),
        );
        check("2016-13-02T15:39:14", None);
        check("yesterday", None);
        check("", None);
    }
}
