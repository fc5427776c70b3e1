//! The kinds of edge the knowledge graph keeps between two entities, with
//! their wire names (`snake_case`, as stored and served) and direction.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How two entities relate. Every relation but `RelatedTo` comes from a
/// typed extractor (a sentence pattern, a version mention); `RelatedTo` is
/// plain co-occurrence and says only that the two are discussed together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// Co-occurrence: mentioned together often enough to matter. Symmetric.
    RelatedTo,
    /// The source is a kind of the target (`flask` is a `web framework`).
    IsA,
    /// The source is a component of the target (`asyncio` of `python`).
    PartOf,
    /// Either can stand in for the other (`yarn` vs `npm`). Symmetric.
    AlternativeTo,
    /// The source needs or is built on the target (`keras` on `tensorflow`).
    DependsOn,
    /// The two are used together (`flask` with `sqlalchemy`). Symmetric.
    UsedWith,
    /// The source is a version of the target (`python 3.12` of `python`).
    VersionOf,
    /// The source causes the target: cause → effect, so an error is the
    /// *target* (`circular import` causes `ImportError`).
    Causes,
    /// The source solves the target, usually an error (`venv` solves
    /// `externally-managed-environment`).
    Solves,
}

impl Relation {
    /// Every relation, in declaration order (the order of the wire enum).
    pub const ALL: [Relation; 9] = [
        Relation::RelatedTo,
        Relation::IsA,
        Relation::PartOf,
        Relation::AlternativeTo,
        Relation::DependsOn,
        Relation::UsedWith,
        Relation::VersionOf,
        Relation::Causes,
        Relation::Solves,
    ];

    /// The wire name, identical to the serde form.
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::RelatedTo => "related_to",
            Relation::IsA => "is_a",
            Relation::PartOf => "part_of",
            Relation::AlternativeTo => "alternative_to",
            Relation::DependsOn => "depends_on",
            Relation::UsedWith => "used_with",
            Relation::VersionOf => "version_of",
            Relation::Causes => "causes",
            Relation::Solves => "solves",
        }
    }

    /// Whether source and target play different roles. For the symmetric
    /// relations (`related_to`, `alternative_to`, `used_with`) the graph
    /// stores the pair once, with the smaller id as source.
    pub fn directed(self) -> bool {
        !matches!(
            self,
            Relation::RelatedTo | Relation::AlternativeTo | Relation::UsedWith
        )
    }

    /// Whether a typed extractor produced it, as opposed to co-occurrence.
    pub fn is_typed(self) -> bool {
        self != Relation::RelatedTo
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A relation name that is none of [`Relation::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown relation `{input}`; expected one of: related_to, is_a, part_of, alternative_to, depends_on, used_with, version_of, causes, solves"
)]
pub struct ParseRelationError {
    /// What was given, as given.
    pub input: String,
}

impl FromStr for Relation {
    type Err = ParseRelationError;

    /// Accepts the wire names in any case (`is_a`, `IS_A`); query strings and
    /// GraphML from other tools are not always lower-case.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let wanted = input.trim();
        Relation::ALL
            .into_iter()
            .find(|relation| relation.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| ParseRelationError {
                input: input.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_through_from_str_display_and_serde() {
        for relation in Relation::ALL {
            assert_eq!(relation.as_str().parse::<Relation>(), Ok(relation));
            assert_eq!(relation.to_string(), relation.as_str());
            let json = serde_json::to_string(&relation).expect("a unit variant serialises");
            assert_eq!(json, format!("\"{}\"", relation.as_str()));
            assert_eq!(
                serde_json::from_str::<Relation>(&json).expect("its own output parses"),
                relation
            );
        }
    }

    #[test]
    fn parsing_ignores_case_and_surrounding_space() {
        assert_eq!(" Depends_On ".parse::<Relation>(), Ok(Relation::DependsOn));
    }

    #[test]
    fn an_unknown_name_is_rejected_with_the_valid_names() {
        let error = "similar_to"
            .parse::<Relation>()
            .expect_err("not a relation");
        let message = error.to_string();
        assert!(message.contains("similar_to"), "{message}");
        for relation in Relation::ALL {
            assert!(message.contains(relation.as_str()), "{message}");
        }
    }

    #[test]
    fn only_co_occurrence_alternatives_and_used_with_are_symmetric() {
        let symmetric: Vec<Relation> = Relation::ALL
            .into_iter()
            .filter(|relation| !relation.directed())
            .collect();
        assert_eq!(
            symmetric,
            [
                Relation::RelatedTo,
                Relation::AlternativeTo,
                Relation::UsedWith
            ]
        );
    }
}
