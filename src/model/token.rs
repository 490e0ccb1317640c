//! API tokens and roles.

use serde::{Deserialize, Serialize};

/// What a token may do. Ordered: each role can do everything the one before it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read-only: GET requests and the event stream.
    Viewer,
    /// Everything on nodes and workloads.
    Operator,
    /// Everything, including tokens.
    Admin,
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(format!("unknown role '{other}' (expected viewer, operator or admin)")),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        })
    }
}

/// A stored token: never the secret itself, only its SHA-256 (see `auth` for why).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Token {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub secret_sha256: String,
    pub created_at: String,
}

crate::store::record!(Token, "tokens", id);
