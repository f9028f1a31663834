//! Access control: may this user read every table and column a query touches?
//!
//! This is the seam the access-control work fills. The agent asks a [`Policy`] about each
//! planned query before it runs and records every decision in the answer's provenance; until
//! rules exist, [`AllowAll`] allows everything and says so in each decision's reason, so an
//! answer never claims a check that did not happen.

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Principal {
    pub user: String,
}

impl Principal {
    /// The operating-system user (`$USER`, `$USERNAME`), or "unknown".
    pub fn current() -> Principal {
        let user = std::env::var("SKIPPER_USER")
            .or_else(|_| std::env::var("USER"))
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "unknown".into());
        Principal { user }
    }
}

/// What a query touches, resolved to catalog names.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AccessRequest {
    /// `source.schema.table`.
    pub tables: Vec<String>,
    /// `source.schema.table.column`.
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    Allow,
    Deny,
}

/// One decision about one object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Decision {
    /// The table or column decided on.
    pub object: String,
    pub effect: Effect,
    /// Why: the rule, grant or default that decided.
    pub reason: String,
}

pub trait Policy: Send + Sync {
    /// One decision per table and column of `request`.
    fn decide(&self, who: &Principal, request: &AccessRequest) -> Vec<Decision>;
}

/// No rules yet: everything is allowed, and each decision says that no policy was applied.
pub struct AllowAll;

impl Policy for AllowAll {
    fn decide(&self, _who: &Principal, request: &AccessRequest) -> Vec<Decision> {
        request
            .tables
            .iter()
            .map(|t| Decision {
                object: t.clone(),
                effect: Effect::Allow,
                reason: "no access policy is configured (allow-all placeholder)".into(),
            })
            .collect()
    }
}

/// The denials among `decisions`.
pub fn denials(decisions: &[Decision]) -> Vec<&Decision> {
    decisions
        .iter()
        .filter(|d| d.effect == Effect::Deny)
        .collect()
}
