//! How this process reaches an etcd cluster: the members' client addresses, whether they speak TLS (`etcds://`),
//! the CA that signed their certificates, a client certificate for clusters started with `--client-cert-auth`,
//! and an etcd user for clusters with authentication enabled.
//!
//! The settings come from flags, `ZOS_ETCD_*` variables or the config file (see `config`); they are checked here
//! once, so a bad combination (a CA file for a plain `etcd://` URL, a certificate without its key, a user without
//! a password) is a clear error at start-up rather than a connection that fails later. The password never comes
//! from a flag (it would show in `ps`), and `Debug` never prints it.

use std::path::PathBuf;

/// The members and the security the cluster asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Access {
    /// `host:port` of each member's client URL.
    pub endpoints: Vec<String>,
    /// `etcds://`: HTTPS to every member.
    pub tls: bool,
    /// The CA certificate (PEM) the members' certificates are checked against, beside the system's roots.
    pub ca_file: Option<PathBuf>,
    /// A client certificate and its key (PEM), for clusters that authenticate clients by certificate.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// An etcd user (`etcdctl user add`), for clusters with `auth enable`.
    pub user: Option<User>,
}

/// An etcd user's name and password.
#[derive(Clone, PartialEq)]
pub struct User {
    pub name: String,
    pub password: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The security settings as given, before they are checked against the URL.
#[derive(Debug, Clone, Default)]
pub struct Security {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl Security {
    pub fn is_empty(&self) -> bool {
        self.ca_file.is_none()
            && self.cert_file.is_none()
            && self.key_file.is_none()
            && self.user.is_none()
            && self.password.is_none()
    }
}

impl Access {
    /// `etcd://host:port[,host:port…]` (plain HTTP) or `etcds://…` (HTTPS); `None` for any other text.
    pub fn parse(text: &str) -> Option<Result<Access, String>> {
        let (tls, members) = match text.strip_prefix("etcds://") {
            Some(members) => (true, members),
            None => (false, text.strip_prefix("etcd://")?),
        };
        let endpoints: Vec<String> = members.split(',').map(str::to_owned).collect();
        for endpoint in &endpoints {
            let port = endpoint.rsplit_once(':').and_then(|(host, port)| {
                (!host.is_empty() && !host.contains('/'))
                    .then(|| port.parse::<u16>().ok())
                    .flatten()
            });
            if port.is_none() {
                return Some(Err(format!("'{endpoint}' is not host:port")));
            }
        }
        Some(Ok(Access {
            endpoints,
            tls,
            ..Access::default()
        }))
    }

    /// Adds the security settings, refusing combinations that cannot work.
    pub fn secured(mut self, security: Security) -> Result<Access, String> {
        if !self.tls && (security.ca_file.is_some() || security.cert_file.is_some()) {
            return Err("the etcd TLS settings (CA, client certificate) need an etcds:// store URL".into());
        }
        self.ca_file = security.ca_file;
        self.client_cert = match (security.cert_file, security.key_file) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => return Err("an etcd client certificate needs both --etcd-cert and --etcd-key".into()),
        };
        self.user = match (security.user, security.password) {
            (Some(name), Some(password)) if !name.is_empty() => Some(User { name, password }),
            (Some(_), None) => {
                return Err("an etcd user needs a password: ZOS_ETCD_PASSWORD or --etcd-password-file".into());
            }
            (None, Some(_)) => return Err("an etcd password was given without --etcd-user".into()),
            (Some(_), Some(_)) => return Err("the etcd user name is empty".into()),
            (None, None) => None,
        };
        Ok(self)
    }

    /// The base URL of each member.
    pub fn urls(&self) -> Vec<String> {
        let scheme = if self.tls { "https" } else { "http" };
        self.endpoints
            .iter()
            .map(|endpoint| format!("{scheme}://{endpoint}"))
            .collect()
    }

    /// The HTTP client for these members: the CA and the client certificate read and checked now.
    pub fn http_client(&self) -> Result<reqwest::Client, String> {
        let mut builder = reqwest::Client::builder().connect_timeout(std::time::Duration::from_secs(1));
        if let Some(ca_file) = &self.ca_file {
            let pem = read(ca_file, "CA certificate")?;
            let ca = reqwest::Certificate::from_pem(&pem)
                .map_err(|err| format!("{}: not a PEM certificate: {err}", ca_file.display()))?;
            builder = builder.add_root_certificate(ca);
        }
        if let Some((cert_file, key_file)) = &self.client_cert {
            let mut pem = read(cert_file, "client certificate")?;
            pem.push(b'\n');
            pem.extend(read(key_file, "client key")?);
            let identity = reqwest::Identity::from_pem(&pem).map_err(|err| {
                format!(
                    "{} and {}: not a PEM certificate and key: {err}",
                    cert_file.display(),
                    key_file.display()
                )
            })?;
            builder = builder.identity(identity);
        }
        builder
            .build()
            .map_err(|err| format!("cannot build the HTTP client: {err}"))
    }
}

fn read(path: &std::path::Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|err| format!("cannot read the etcd {what} {}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_carry_the_scheme_and_bad_members_are_named() {
        let plain = Access::parse("etcd://10.0.0.1:2379,h2:2379").unwrap().unwrap();
        assert_eq!(plain.urls(), ["http://10.0.0.1:2379", "http://h2:2379"]);
        let tls = Access::parse("etcds://h1:2379").unwrap().unwrap();
        assert_eq!(tls.urls(), ["https://h1:2379"]);
        assert_eq!(
            Access::parse("etcd://h1").unwrap().unwrap_err(),
            "'h1' is not host:port"
        );
        assert!(Access::parse("http://h1:2379").is_none());
    }

    #[test]
    fn security_that_cannot_work_is_refused_and_the_password_is_never_printed() {
        let plain = Access::parse("etcd://h1:2379").unwrap().unwrap();
        let ca = Security {
            ca_file: Some("ca.pem".into()),
            ..Security::default()
        };
        assert!(plain.clone().secured(ca).unwrap_err().contains("etcds://"));
        let half_cert = Security {
            cert_file: Some("c.pem".into()),
            ..Security::default()
        };
        let tls = Access::parse("etcds://h1:2379").unwrap().unwrap();
        assert!(tls.clone().secured(half_cert).unwrap_err().contains("--etcd-key"));
        let no_password = Security {
            user: Some("zos".into()),
            ..Security::default()
        };
        assert!(
            plain
                .clone()
                .secured(no_password)
                .unwrap_err()
                .contains("ZOS_ETCD_PASSWORD")
        );
        let user = Security {
            user: Some("zos".into()),
            password: Some("s3cret-pw".into()),
            ..Security::default()
        };
        let access = plain.secured(user).unwrap();
        let shown = format!("{access:?}");
        assert!(shown.contains("zos") && !shown.contains("s3cret-pw"), "{shown}");
    }
}
