//! The cluster's ZeroTier network as the orchestrator sees it: its members (observed, discovery's) and an
//! operator's requests to authorise one (desired, the API's), which discovery carries out.

use serde::{Deserialize, Serialize};

use crate::store::Record;

/// A network member, as its controller reports it (`zerotier.rs` reads it off the wire).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// The member's 10-digit ZeroTier address.
    pub id: String,
    pub name: String,
    pub description: String,
    pub authorized: bool,
    pub ip_assignments: Vec<String>,
    /// Epoch milliseconds, 0 if never.
    pub last_online: i64,
    pub physical_address: String,
    pub client_version: String,
}

/// A member of the cluster's ZeroTier network, as discovery last saw it (observed: written only by discovery).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ZeroTierMember {
    #[serde(flatten)]
    pub member: Member,
    /// The node this member turned out to be, once it was reached.
    #[serde(default)]
    pub node: Option<String>,
    /// Why discovery de-authorised it (allowlist policy); empty otherwise. Such a member is not authorised again
    /// automatically; an operator still can.
    #[serde(default)]
    pub refused: String,
}

impl Record for ZeroTierMember {
    const COLLECTION: &'static str = "zerotier_members";
    fn id(&self) -> &str {
        &self.member.id
    }
}

/// An operator's request that a member be authorised (desired: the API writes it). Discovery carries it out
/// through the controller, records the member as the controller then answers, and removes the request; or, when
/// the controller fails, records why, and the request is over (the operator may ask again).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ZeroTierAuthorization {
    /// The member's ZeroTier address.
    pub id: String,
    /// The token that asked, for the log.
    pub requested_by: String,
    pub requested_at: String,
    /// The controller's error, once discovery tried and failed.
    #[serde(default)]
    pub failure: Option<String>,
}

crate::store::record!(ZeroTierAuthorization, "zerotier_authorizations", id);
