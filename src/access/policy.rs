//! Who may enter, and as which October role.
use std::collections::HashSet;

use crate::config::{AccessConfig, RoleRule};
use crate::identity::{Grant, Identity};

/// Why a signed-in user is turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DenyReason {
    /// `allowed_groups` is set and the user is in none of them.
    #[error("not in any allowed group")]
    NotInAllowedGroups,
    /// `allowed_email_domains` is set and the email is missing, malformed or in another domain.
    #[error("email domain not allowed")]
    EmailDomainNotAllowed,
    /// `allowed_email_domains` is set and the provider did not verify the email.
    #[error("email not verified")]
    EmailNotVerified,
    /// No role rule matched and there is no `default_role`.
    #[error("no role matched")]
    NoRoleMatched,
}

impl DenyReason {
    /// Stable code for logs, metrics and the deny page.
    pub fn code(self) -> &'static str {
        match self {
            Self::NotInAllowedGroups => "not_in_allowed_groups",
            Self::EmailDomainNotAllowed => "email_domain_not_allowed",
            Self::EmailNotVerified => "email_not_verified",
            Self::NoRoleMatched => "no_role_matched",
        }
    }
}

/// The outcome of [`Policy::decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Let the user in with this grant.
    Allow(Grant),
    /// Turn the user away.
    Deny(DenyReason),
}

/// The access rules of `[access]` that concern users (paths are in [`PathRules`](super::PathRules)).
#[derive(Debug, Clone)]
pub struct Policy {
    allowed_groups: Vec<String>,
    /// Lowercased.
    allowed_email_domains: Vec<String>,
    default_role: Option<String>,
    roles: Vec<RoleRule>,
}

/// Characters allowed in the local part of an email address (RFC 5322 `atext` and dots).
fn local_ok(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b)
}

/// The lowercased domain of a plain `local@domain` address, or `None` for anything unusual
/// (more than one `@`, quoting, spaces, non-ASCII, empty parts, bad labels).
fn email_domain(email: &str) -> Option<String> {
    if email.len() > 254 {
        return None;
    }
    let (local, domain) = email.split_once('@')?;
    if local.is_empty() || local.len() > 64 || !local.bytes().all(local_ok) {
        return None;
    }
    let domain = domain.to_ascii_lowercase();
    let labels_ok = domain.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    (labels_ok && domain.contains('.')).then_some(domain)
}

impl Policy {
    /// The policy of `[access]`.
    pub fn new(cfg: &AccessConfig) -> Self {
        Self {
            allowed_groups: cfg.allowed_groups.clone(),
            allowed_email_domains: cfg
                .allowed_email_domains
                .iter()
                .map(|d| d.to_ascii_lowercase())
                .collect(),
            default_role: cfg.default_role.clone(),
            roles: cfg.roles.clone(),
        }
    }

    /// Decides whether `identity` may enter and with which role.
    ///
    /// In order: with `allowed_groups` set the user needs one of them (exact, case-sensitive);
    /// with `allowed_email_domains` set the email must be a plain address (exactly one `@`, sane
    /// characters) whose domain equals a listed domain or is a subdomain of one, and it must be
    /// verified; then the first role rule (file order) whose group the user has gives the role,
    /// else `default_role` (never superuser), else [`DenyReason::NoRoleMatched`].
    pub fn decide(&self, identity: &Identity) -> Decision {
        let has = |g: &str| identity.groups.iter().any(|ug| ug == g);
        if !self.allowed_groups.is_empty() && !self.allowed_groups.iter().any(|g| has(g)) {
            return Decision::Deny(DenyReason::NotInAllowedGroups);
        }
        if !self.allowed_email_domains.is_empty() {
            let domain = identity.email.as_deref().and_then(email_domain);
            let Some(domain) = domain else {
                return Decision::Deny(DenyReason::EmailDomainNotAllowed);
            };
            let listed = self.allowed_email_domains.iter().any(|d| {
                domain == *d
                    || domain
                        .strip_suffix(d.as_str())
                        .is_some_and(|head| head.ends_with('.'))
            });
            if !listed {
                return Decision::Deny(DenyReason::EmailDomainNotAllowed);
            }
            if !identity.email_verified {
                return Decision::Deny(DenyReason::EmailNotVerified);
            }
        }
        if let Some(rule) = self.roles.iter().find(|r| has(&r.group)) {
            return Decision::Allow(Grant {
                role: rule.role.clone(),
                superuser: rule.superuser,
            });
        }
        match &self.default_role {
            Some(role) => Decision::Allow(Grant {
                role: role.clone(),
                superuser: false,
            }),
            None => Decision::Deny(DenyReason::NoRoleMatched),
        }
    }

    /// The user's groups that this site cares about (named in `allowed_groups` or a role rule),
    /// in the user's order, without duplicates: what the session cookie keeps.
    pub fn relevant_groups(&self, groups: &[String]) -> Vec<String> {
        let mut seen = HashSet::new();
        groups
            .iter()
            .filter(|g| {
                self.allowed_groups.contains(g) || self.roles.iter().any(|r| &r.group == *g)
            })
            .filter(|g| seen.insert(g.as_str()))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(group: &str, role: &str, superuser: bool) -> RoleRule {
        RoleRule {
            group: group.into(),
            role: role.into(),
            superuser,
        }
    }

    fn cfg(
        allowed_groups: &[&str],
        domains: &[&str],
        default_role: Option<&str>,
        roles: Vec<RoleRule>,
    ) -> AccessConfig {
        AccessConfig {
            protect: vec!["/backend".into()],
            public: vec![],
            allowed_groups: allowed_groups.iter().map(|s| s.to_string()).collect(),
            allowed_email_domains: domains.iter().map(|s| s.to_string()).collect(),
            default_role: default_role.map(str::to_string),
            show_groups_on_deny: false,
            contact: "it@company.com".into(),
            roles,
        }
    }

    fn user(groups: &[&str], email: Option<&str>, verified: bool) -> Identity {
        Identity {
            sub: "u1".into(),
            email: email.map(str::to_string),
            email_verified: verified,
            name: None,
            preferred_username: None,
            groups: groups.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn allow(role: &str, superuser: bool) -> Decision {
        Decision::Allow(Grant {
            role: role.into(),
            superuser,
        })
    }

    #[test]
    fn roles_first_match_default_and_deny() {
        use DenyReason::*;
        let roles = vec![
            rule("cms-admins", "developer", true),
            rule("cms-editors", "publisher", false),
            rule("cms-admins", "never", false),
        ];
        let with_default = Policy::new(&cfg(&[], &[], Some("viewer"), roles.clone()));
        let no_default = Policy::new(&cfg(&[], &[], None, roles.clone()));
        let gated = Policy::new(&cfg(&["cms-users", "cms-admins"], &[], None, roles));
        let cases: Vec<(&str, &Policy, Identity, Decision)> = vec![
            (
                "admin",
                &with_default,
                user(&["cms-admins"], None, false),
                allow("developer", true),
            ),
            (
                "file order, not user order",
                &with_default,
                user(&["cms-editors", "cms-admins"], None, false),
                allow("developer", true),
            ),
            (
                "editor",
                &with_default,
                user(&["x", "cms-editors"], None, false),
                allow("publisher", false),
            ),
            (
                "default role",
                &with_default,
                user(&["x"], None, false),
                allow("viewer", false),
            ),
            (
                "default role, no groups",
                &with_default,
                user(&[], None, false),
                allow("viewer", false),
            ),
            (
                "no default",
                &no_default,
                user(&["x"], None, false),
                Decision::Deny(NoRoleMatched),
            ),
            (
                "case-sensitive groups",
                &no_default,
                user(&["CMS-ADMINS"], None, false),
                Decision::Deny(NoRoleMatched),
            ),
            (
                "no whitespace games",
                &no_default,
                user(&["cms-admins "], None, false),
                Decision::Deny(NoRoleMatched),
            ),
            (
                "gate: not in group",
                &gated,
                user(&["cms-editors"], None, false),
                Decision::Deny(NotInAllowedGroups),
            ),
            (
                "gate: in group, no role",
                &gated,
                user(&["cms-users"], None, false),
                Decision::Deny(NoRoleMatched),
            ),
            (
                "gate: in group with role",
                &gated,
                user(&["cms-users", "cms-editors"], None, false),
                allow("publisher", false),
            ),
            (
                "gate: case",
                &gated,
                user(&["CMS-USERS"], None, false),
                Decision::Deny(NotInAllowedGroups),
            ),
        ];
        for (label, p, u, want) in cases {
            assert_eq!(p.decide(&u), want, "{label}");
        }
    }

    #[test]
    fn email_domain_table() {
        use DenyReason::*;
        let p = Policy::new(&cfg(
            &[],
            &["company.com", "Partner.ORG"],
            Some("viewer"),
            vec![],
        ));
        let ok = allow("viewer", false);
        let cases: Vec<(Option<&str>, bool, Decision)> = vec![
            (Some("jane@company.com"), true, ok.clone()),
            (Some("Jane.Doe+cms@COMPANY.com"), true, ok.clone()),
            (Some("x@sub.company.com"), true, ok.clone()),
            (Some("x@a.b.company.com"), true, ok.clone()),
            (Some("x@partner.org"), true, ok.clone()),
            (
                Some("jane@company.com"),
                false,
                Decision::Deny(EmailNotVerified),
            ),
            (
                Some("x@evilcompany.com"),
                true,
                Decision::Deny(EmailDomainNotAllowed),
            ),
            (
                Some("x@company.com.evil.com"),
                true,
                Decision::Deny(EmailDomainNotAllowed),
            ),
            (
                Some("x@company.co"),
                true,
                Decision::Deny(EmailDomainNotAllowed),
            ),
            (
                Some("attacker@evil.com@company.com"),
                true,
                Decision::Deny(EmailDomainNotAllowed),
            ),
            (
                Some("\"a@b\"@company.com"),
                true,
                Decision::Deny(EmailDomainNotAllowed),
            ),
            (
                Some("a b@company.com"),
                true,
                Decision::Deny(EmailDomainNotAllowed),
            ),
            (
                Some("x@company.com "),
                true,
                Decision::Deny(EmailDomainNotAllowed),
            ),
            (
                Some("x@company.com."),
                true,
                Decision::Deny(EmailDomainNotAllowed),
            ),
            (
                Some("x@.company.com"),
                true,
                Decision::Deny(EmailDomainNotAllowed),
            ),
            (
                Some("x@sub..company.com"),
                true,
                Decision::Deny(EmailDomainNotAllowed),
            ),
            (
                Some("x@cömpany.com"),
                true,
                Decision::Deny(EmailDomainNotAllowed),
            ),
            (
                Some("x@company.com\n"),
                true,
                Decision::Deny(EmailDomainNotAllowed),
            ),
            (
                Some("x@company.com\0"),
                true,
                Decision::Deny(EmailDomainNotAllowed),
            ),
            (
                Some("x@company.com/evil"),
                true,
                Decision::Deny(EmailDomainNotAllowed),
            ),
            (
                Some("@company.com"),
                true,
                Decision::Deny(EmailDomainNotAllowed),
            ),
            (
                Some("company.com"),
                true,
                Decision::Deny(EmailDomainNotAllowed),
            ),
            (Some(""), true, Decision::Deny(EmailDomainNotAllowed)),
            (None, true, Decision::Deny(EmailDomainNotAllowed)),
        ];
        for (email, verified, want) in cases {
            assert_eq!(
                p.decide(&user(&[], email, verified)),
                want,
                "{email:?} verified={verified}"
            );
        }
        // Without a domain list, email is not looked at.
        let open = Policy::new(&cfg(&[], &[], Some("viewer"), vec![]));
        assert_eq!(
            open.decide(&user(&[], Some("a@evil.com@company.com"), false)),
            allow("viewer", false)
        );
    }

    #[test]
    fn relevant_groups_table() {
        let p = Policy::new(&cfg(
            &["cms-users"],
            &[],
            None,
            vec![
                rule("cms-admins", "developer", true),
                rule("cms-editors", "publisher", false),
            ],
        ));
        let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
            (vec![], vec![]),
            (vec!["Everyone", "okta-all"], vec![]),
            (
                vec!["cms-editors", "Everyone", "cms-users", "cms-admins"],
                vec!["cms-editors", "cms-users", "cms-admins"],
            ),
            (
                vec!["cms-admins", "cms-admins", "x", "cms-admins"],
                vec!["cms-admins"],
            ),
            (vec!["CMS-ADMINS", "cms-users"], vec!["cms-users"]),
        ];
        for (groups, want) in cases {
            let g: Vec<String> = groups.iter().map(|s| s.to_string()).collect();
            assert_eq!(p.relevant_groups(&g), want, "{groups:?}");
        }
        // Many irrelevant groups collapse to nothing.
        let many: Vec<String> = (0..200).map(|i| format!("okta-group-{i}")).collect();
        assert!(p.relevant_groups(&many).is_empty());
    }

    #[test]
    fn deny_codes_distinct() {
        let all = [
            DenyReason::NotInAllowedGroups,
            DenyReason::EmailDomainNotAllowed,
            DenyReason::EmailNotVerified,
            DenyReason::NoRoleMatched,
        ];
        let codes: HashSet<&str> = all.iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), all.len());
        assert_eq!(DenyReason::NoRoleMatched.code(), "no_role_matched");
    }
}
