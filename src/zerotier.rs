//! A small typed client for the member API of a ZeroTier network controller: ZeroTier Central (API v1,
//! `/network/{id}/member…`, `Authorization: token …`) or a self-hosted controller (the ZeroTier One service,
//! `/controller/network/{id}/member…`, `X-ZT1-Auth`), on our own HTTP client.
//!
//! Written by hand because the published crate only builds pinned to an old version and brings a second HTTP
//! stack (see DESIGN.md); the shapes follow the published OpenAPI documents, and the tests run against
//! stand-ins that validate every request and response against them.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use crate::model::zerotier::Member;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ZeroTierError {
    #[error("ZeroTier API unreachable: {0}")]
    Unreachable(String),
    #[error("ZeroTier API refused the token (HTTP {0})")]
    Unauthorized(u16),
    #[error("ZeroTier API: {0}")]
    Api(String),
}

/// The wire shape (every field nullable, as the API document says).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireMember {
    node_id: Option<String>,
    name: Option<String>,
    description: Option<String>,
    config: Option<WireConfig>,
    last_online: Option<i64>,
    physical_address: Option<String>,
    client_version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireConfig {
    authorized: Option<bool>,
    ip_assignments: Option<Vec<String>>,
}

impl From<WireMember> for Member {
    fn from(wire: WireMember) -> Member {
        let config = wire.config.unwrap_or(WireConfig {
            authorized: None,
            ip_assignments: None,
        });
        Member {
            id: wire.node_id.unwrap_or_default(),
            name: wire.name.unwrap_or_default(),
            description: wire.description.unwrap_or_default(),
            authorized: config.authorized.unwrap_or(false),
            ip_assignments: config.ip_assignments.unwrap_or_default(),
            last_online: wire.last_online.unwrap_or(0),
            physical_address: wire.physical_address.unwrap_or_default(),
            client_version: wire.client_version.unwrap_or_default(),
        }
    }
}

/// The self-hosted controller's member object (ZeroTier One's `ControllerNetworkMember`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ControllerMember {
    id: String,
    #[serde(default)]
    authorized: bool,
    #[serde(default)]
    ip_assignments: Vec<String>,
}

impl From<ControllerMember> for Member {
    fn from(wire: ControllerMember) -> Member {
        Member {
            id: wire.id,
            name: String::new(),
            description: String::new(),
            authorized: wire.authorized,
            ip_assignments: wire.ip_assignments,
            last_online: 0,
            physical_address: String::new(),
            client_version: String::new(),
        }
    }
}

/// Which kind of controller the client talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// ZeroTier Central, e.g. `https://api.zerotier.com/api/v1`.
    Central,
    /// A self-hosted controller (the ZeroTier One service), e.g. `http://10.0.0.1:9993`.
    Controller,
}

/// The member API of a ZeroTier network controller (Central or self-hosted).
pub struct MemberApi {
    http: reqwest::Client,
    kind: Kind,
    base: String,
    token: String,
}

impl MemberApi {
    /// The token is sent as Central or the controller expects it, and never logged.
    pub fn new(kind: Kind, base: &str, token: &str, timeout: Duration) -> Result<MemberApi, ZeroTierError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|err| ZeroTierError::Api(format!("cannot build the HTTP client: {err}")))?;
        Ok(MemberApi {
            http,
            kind,
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }

    fn members_url(&self, network: &str) -> String {
        match self.kind {
            Kind::Central => format!("{}/network/{network}/member", self.base),
            Kind::Controller => format!("{}/controller/network/{network}/member", self.base),
        }
    }

    async fn send<T: serde::de::DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T, ZeroTierError> {
        let request = match self.kind {
            Kind::Central => request.header(reqwest::header::AUTHORIZATION, format!("token {}", self.token)),
            Kind::Controller => request.header("X-ZT1-Auth", &self.token),
        };
        let response = request
            .send()
            .await
            .map_err(|err| ZeroTierError::Unreachable(err.without_url().to_string()))?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(ZeroTierError::Unauthorized(status.as_u16()));
        }
        if !status.is_success() {
            return Err(ZeroTierError::Api(format!("HTTP {status}")));
        }
        response
            .json()
            .await
            .map_err(|err| ZeroTierError::Api(format!("unexpected answer: {err}")))
    }

    pub async fn members(&self, network: &str) -> Result<Vec<Member>, ZeroTierError> {
        let url = self.members_url(network);
        match self.kind {
            Kind::Central => {
                let members: Vec<WireMember> = self.send(self.http.get(url)).await?;
                Ok(members.into_iter().map(Member::from).collect())
            }
            Kind::Controller => {
                // The controller lists ids (with revision counters); each member is read on its own.
                let ids: std::collections::BTreeMap<String, i64> = self.send(self.http.get(&url)).await?;
                let mut members = Vec::with_capacity(ids.len());
                for id in ids.keys() {
                    let member: ControllerMember = self.send(self.http.get(format!("{url}/{id}"))).await?;
                    members.push(member.into());
                }
                Ok(members)
            }
        }
    }

    /// Changes a member: authorisation, and optionally its name and description (we name members after their
    /// node, as 0-orchestrator did; a self-hosted controller keeps no names, so there only authorisation changes).
    pub async fn update(
        &self,
        network: &str,
        member: &str,
        authorized: bool,
        name_and_description: Option<(&str, &str)>,
    ) -> Result<Member, ZeroTierError> {
        let url = format!("{}/{member}", self.members_url(network));
        match self.kind {
            Kind::Central => {
                let mut body = json!({"config": {"authorized": authorized}});
                if let Some((name, description)) = name_and_description {
                    body["name"] = json!(name);
                    body["description"] = json!(description);
                }
                let member: WireMember = self.send(self.http.post(url).json(&body)).await?;
                Ok(member.into())
            }
            Kind::Controller => {
                let member: ControllerMember = self
                    .send(self.http.post(url).json(&json!({"authorized": authorized})))
                    .await?;
                Ok(member.into())
            }
        }
    }

    /// Whether members can carry a name (Central) or not (a self-hosted controller).
    pub fn names_members(&self) -> bool {
        self.kind == Kind::Central
    }
}
