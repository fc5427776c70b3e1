//! Typed reads of record fields: required and optional numbers, dates and
//! flags, each failure turned into the [`SkipReason`] the report shows.

use chrono::{DateTime, Datelike, NaiveDateTime, Utc};
use steward_domain::Timestamp;

use crate::intake::{is_accepted_year, is_source_id, is_user_id};
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

    /// A required source id (`1..2^40`, see [`crate::intake::MAX_SOURCE_ID`]).
    pub(crate) fn required_id(&self, name: &'static str) -> Result<i64, SkipReason> {
        check_id(name, self.required_i64(name)?)
    }

    /// An optional source id, as [`Row::required_id`].
    pub(crate) fn optional_id(&self, name: &'static str) -> Result<Option<i64>, SkipReason> {
        self.optional_i64(name)?
            .map(|id| check_id(name, id))
            .transpose()
    }

    /// An optional user id: a source id or -1 (Stack Exchange's Community user).
    pub(crate) fn optional_user_id(&self, name: &'static str) -> Result<Option<i64>, SkipReason> {
        self.optional_i64(name)?
            .map(|id| check_user_id(name, id))
            .transpose()
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

/// A time, which must fall in the accepted years ([`is_accepted_year`]).
pub(crate) fn parse_date(name: &'static str, value: &str) -> Result<Timestamp, SkipReason> {
    let at = parse_timestamp(value).ok_or_else(|| SkipReason::BadDate {
        attribute: name,
        value: value.chars().take(40).collect(),
    })?;
    if !is_accepted_year(at.year()) {
        return Err(SkipReason::DateOutOfRange {
            attribute: name,
            value: value.chars().take(40).collect(),
        });
    }
    Ok(at)
}

/// `id` if it is a source id (`1..2^40`).
pub(crate) fn check_id(name: &'static str, id: i64) -> Result<i64, SkipReason> {
    if is_source_id(id) {
        Ok(id)
    } else {
        Err(SkipReason::IdOutOfRange {
            attribute: name,
            value: id.to_string(),
        })
    }
}

/// `id` if it is a user id (a source id or -1).
pub(crate) fn check_user_id(name: &'static str, id: i64) -> Result<i64, SkipReason> {
    if is_user_id(id) {
        Ok(id)
    } else {
        Err(SkipReason::IdOutOfRange {
            attribute: name,
            value: id.to_string(),
        })
    }
}

/// The first character of `text` that XML 1.0 does not allow (C0 controls
/// other than tab, newline and carriage return; U+FFFE and U+FFFF): `Err`
/// naming `name` and the character.
pub(crate) fn check_characters(name: &str, text: &str) -> Result<(), SkipReason> {
    let illegal = text.chars().find(|&character| {
        (character < ' ' && !matches!(character, '\t' | '\n' | '\r'))
            || matches!(character, '\u{FFFE}' | '\u{FFFF}')
    });
    match illegal {
        None => Ok(()),
        Some(character) => Err(SkipReason::IllegalCharacter {
            attribute: name.to_string(),
            code_point: u32::from(character),
        }),
    }
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
