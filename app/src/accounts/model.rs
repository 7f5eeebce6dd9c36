//! The types the browser sees of accounts. None of them carries a secret.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    OrgAdmin,
    AgentOwner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::OrgAdmin => "org_admin",
            Role::AgentOwner => "agent_owner",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "org_admin" => Some(Role::OrgAdmin),
            "agent_owner" => Some(Role::AgentOwner),
            _ => None,
        }
    }
}

/// The signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub user_id: String,
    pub org_id: String,
    pub org_name: String,
    pub email: String,
    pub role: Role,
    /// The API token's name when the call came through the REST API (for the audit log).
    #[serde(skip)]
    pub token: Option<String>,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::OrgAdmin => "Organization admin",
            Role::AgentOwner => "Agent owner",
        }
    }
}

/// Where a user lands: admins on the connectors, agent owners on their agents.
pub fn home_of(role: Role) -> &'static str {
    match role {
        Role::OrgAdmin => "/connectors",
        Role::AgentOwner => "/agents",
    }
}

/// A user of the organization, as its admins see the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub is_me: bool,
}

/// A personal API token as its owner sees it later: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenRow {
    pub id: String,
    pub name: String,
    /// The token's first characters, to recognize it.
    pub prefix: String,
    pub created: String,
    pub last_used: Option<String>,
}

/// A token just created: the only time it is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewApiToken {
    pub token: String,
    pub row: ApiTokenRow,
}
