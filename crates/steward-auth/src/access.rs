//! Who a caller is ([`Caller`], [`Principal`]), what a role may do
//! ([`Permission`], [`allows`]) and the one decision every request goes
//! through ([`authorize`]). Anything not granted here is denied.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// What a key is for. A key has exactly one role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything, key management included.
    Admin,
    /// Community work: reads, events, the LLM endpoints, job progress.
    Moderator,
    /// Reads the community, the LLM usage and job progress; writes nothing,
    /// calls no model.
    Analyst,
    /// A person's client: reads, events, the LLM endpoints.
    Member,
    /// Another program (an importer, a bot): reads, events, the LLM
    /// endpoints, and queueing jobs (imports, embedding, training).
    Service,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Moderator,
        Role::Analyst,
        Role::Member,
        Role::Service,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Moderator => "moderator",
            Role::Analyst => "analyst",
            Role::Member => "member",
            Role::Service => "service",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;

    fn from_str(text: &str) -> Result<Role, Error> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| Error::InvalidRole(text.to_string()))
    }
}

/// What a route needs. Every route declares one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Liveness and readiness: open to everyone, always (load balancers
    /// carry no key).
    CheckHealth,
    /// The community as published: stats, posts, users, the model list. Open
    /// to anonymous callers when the server's `public_read` is on.
    ReadCommunity,
    /// What is derived from one member's behaviour: their profile, their
    /// recommendations, the questions proposed to them. Never anonymous.
    ReadMembers,
    /// `POST /api/v1/events`.
    WriteEvents,
    /// The model endpoints that run a model: chat completions, embeddings.
    UseLlm,
    /// LLM usage totals and the audit log.
    ReadLlmUsage,
    /// Creating, listing and revoking API keys.
    ManageKeys,
    /// Listing jobs and reading their progress (`GET /api/v1/jobs`).
    ReadJobs,
    /// Queueing and cancelling jobs: imports and model training write the
    /// whole community.
    RunJobs,
}

impl Permission {
    pub const ALL: [Permission; 9] = [
        Permission::CheckHealth,
        Permission::ReadCommunity,
        Permission::ReadMembers,
        Permission::WriteEvents,
        Permission::UseLlm,
        Permission::ReadLlmUsage,
        Permission::ManageKeys,
        Permission::ReadJobs,
        Permission::RunJobs,
    ];

    /// The name used in a key's scopes and in the docs.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::CheckHealth => "check_health",
            Permission::ReadCommunity => "read_community",
            Permission::ReadMembers => "read_members",
            Permission::WriteEvents => "write_events",
            Permission::UseLlm => "use_llm",
            Permission::ReadLlmUsage => "read_llm_usage",
            Permission::ManageKeys => "manage_keys",
            Permission::ReadJobs => "read_jobs",
            Permission::RunJobs => "run_jobs",
        }
    }

    /// `check_health, read_community, ...`, for error messages.
    pub fn names() -> String {
        Permission::ALL.map(Permission::as_str).join(", ")
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Permission {
    type Err = Error;

    fn from_str(text: &str) -> Result<Permission, Error> {
        Permission::ALL
            .into_iter()
            .find(|permission| permission.as_str() == text)
            .ok_or_else(|| Error::InvalidScope(text.to_string()))
    }
}

/// Whether `role` may do what `permission` covers. Deny by default: a pair
/// not listed here is refused, so a new permission is nobody's until granted.
pub fn allows(role: Role, permission: Permission) -> bool {
    use Permission::*;
    use Role::*;
    matches!(
        (role, permission),
        (_, CheckHealth | ReadCommunity)
            | (Admin, _)
            | (Moderator | Member | Service, WriteEvents | UseLlm)
            | (Moderator | Analyst | Member | Service, ReadMembers)
            | (Analyst, ReadLlmUsage)
            | (Moderator | Analyst | Service, ReadJobs)
            | (Service, RunJobs)
    )
}

/// An authenticated caller: the key it presented, and what that key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub key_id: String,
    pub name: String,
    pub role: Role,
    /// Permission names the key is limited to; empty: all of its role's. A
    /// name this build does not know grants nothing.
    pub scopes: Vec<String>,
}

impl Principal {
    /// The role allows it, and the key's scopes (if any) include it.
    pub fn allows(&self, permission: Permission) -> bool {
        allows(self.role, permission)
            && (self.scopes.is_empty()
                || self.scopes.iter().any(|scope| scope == permission.as_str()))
    }
}

/// Who is calling: nobody in particular, or the holder of a valid key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Anonymous,
    Key(Principal),
}

impl Caller {
    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Caller::Anonymous => None,
            Caller::Key(principal) => Some(principal),
        }
    }
}

/// Why [`authorize`] said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// Anonymous, and the route needs a key (HTTP 401).
    NeedsKey,
    /// A valid key whose role or scopes do not cover the route (HTTP 403).
    Forbidden,
}

/// The decision for one request: may `caller` do what `permission` covers?
/// Anonymous callers get [`Permission::CheckHealth`] always and
/// [`Permission::ReadCommunity`] when `public_read` is on; nothing else. A key
/// never gets less than an anonymous caller, whatever its scopes.
pub fn authorize(caller: &Caller, permission: Permission, public_read: bool) -> Result<(), Denied> {
    let open_to_all = match permission {
        Permission::CheckHealth => true,
        Permission::ReadCommunity => public_read,
        _ => false,
    };
    match caller {
        _ if open_to_all => Ok(()),
        Caller::Anonymous => Err(Denied::NeedsKey),
        Caller::Key(principal) if principal.allows(permission) => Ok(()),
        Caller::Key(_) => Err(Denied::Forbidden),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_permissions_read_back_from_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().expect("known"), role);
        }
        for permission in Permission::ALL {
            assert_eq!(
                permission.as_str().parse::<Permission>().expect("known"),
                permission
            );
        }
        assert!(matches!(
            "Admin".parse::<Role>(),
            Err(Error::InvalidRole(_))
        ));
        assert!(matches!(
            "everything".parse::<Permission>(),
            Err(Error::InvalidScope(_))
        ));
    }

    #[test]
    fn what_each_role_may_do() {
        use Permission::*;
        let check = |role: Role, granted: &[Permission]| {
            for permission in Permission::ALL {
                assert_eq!(
                    allows(role, permission),
                    granted.contains(&permission),
                    "{role} {permission}"
                );
            }
        };
        check(Role::Admin, &Permission::ALL);
        check(
            Role::Moderator,
            &[
                CheckHealth,
                ReadCommunity,
                ReadMembers,
                WriteEvents,
                UseLlm,
                ReadJobs,
            ],
        );
        check(
            Role::Member,
            &[CheckHealth, ReadCommunity, ReadMembers, WriteEvents, UseLlm],
        );
        check(
            Role::Service,
            &[
                CheckHealth,
                ReadCommunity,
                ReadMembers,
                WriteEvents,
                UseLlm,
                ReadJobs,
                RunJobs,
            ],
        );
        check(
            Role::Analyst,
            &[
                CheckHealth,
                ReadCommunity,
                ReadMembers,
                ReadLlmUsage,
                ReadJobs,
            ],
        );
    }

    #[test]
    fn scopes_narrow_a_role_and_never_widen_it() {
        let principal = |role: Role, scopes: &[&str]| Principal {
            key_id: "abc".into(),
            name: "test".into(),
            role,
            scopes: scopes.iter().map(|scope| scope.to_string()).collect(),
        };
        let events_only = principal(Role::Service, &["write_events"]);
        assert!(events_only.allows(Permission::WriteEvents));
        assert!(!events_only.allows(Permission::UseLlm));
        assert!(!events_only.allows(Permission::ReadCommunity));
        let overreaching = principal(Role::Member, &["manage_keys"]);
        assert!(!overreaching.allows(Permission::ManageKeys));
        let from_the_future = principal(Role::Admin, &["rule_the_world"]);
        assert!(!from_the_future.allows(Permission::ReadCommunity));
    }

    #[test]
    fn anonymous_callers_read_only_what_is_public() {
        let check = |permission: Permission, public_read: bool, expected: Result<(), Denied>| {
            assert_eq!(
                authorize(&Caller::Anonymous, permission, public_read),
                expected,
                "{permission} public_read={public_read}"
            );
        };
        check(Permission::CheckHealth, false, Ok(()));
        check(Permission::ReadCommunity, true, Ok(()));
        check(Permission::ReadCommunity, false, Err(Denied::NeedsKey));
        check(Permission::WriteEvents, true, Err(Denied::NeedsKey));
        check(Permission::UseLlm, true, Err(Denied::NeedsKey));
        let analyst = Caller::Key(Principal {
            key_id: "abc".into(),
            name: "test".into(),
            role: Role::Analyst,
            scopes: Vec::new(),
        });
        assert_eq!(
            authorize(&analyst, Permission::UseLlm, true),
            Err(Denied::Forbidden)
        );
        assert_eq!(
            authorize(&analyst, Permission::ReadCommunity, false),
            Ok(())
        );
        let events_only = Caller::Key(Principal {
            key_id: "abc".into(),
            name: "test".into(),
            role: Role::Service,
            scopes: vec!["write_events".into()],
        });
        assert_eq!(
            authorize(&events_only, Permission::ReadCommunity, true),
            Ok(()),
            "what anonymous callers may do, any key may"
        );
        assert_eq!(
            authorize(&events_only, Permission::ReadCommunity, false),
            Err(Denied::Forbidden)
        );
    }
}
