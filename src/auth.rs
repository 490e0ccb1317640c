//! API tokens: issuing, verifying, and the bootstrap admin token.
//!
//! Tokens are opaque random secrets, and the store keeps only their SHA-256. We chose that over signed JWTs
//! because every request has to look the token up anyway for revocation to take effect on the next request; a
//! lookup by id makes a signature redundant, leaves no signing key to protect or rotate, and a copy of the data
//! directory gives an attacker no usable token. The secret is 256 random bits, so a plain (unsalted) SHA-256 is
//! enough: there is nothing to brute-force.
//!
//! Wire format: `zos_<id>_<secret>`; the id (public, shown by `GET /tokens`) finds the record, the secret proves
//! possession.

use std::path::{Path, PathBuf};

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::model::{Role, Token, now_rfc3339};
use crate::store::{Expect, Store, StoreError};

const PREFIX: &str = "zos_";
/// The file, inside the data directory, that holds the bootstrap admin token.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";
const BOOTSTRAP_DONE: &str = "bootstrap_token_issued";

/// A token just created: the only moment its secret exists outside the client.
pub struct IssuedToken {
    pub token: Token,
    pub secret: String,
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub async fn issue(store: &Store, name: &str, role: Role) -> Result<IssuedToken, StoreError> {
    let id = random_hex(8);
    let secret = random_hex(32);
    let token = Token {
        id: id.clone(),
        name: name.to_owned(),
        role,
        secret_sha256: sha256_hex(&secret),
        created_at: now_rfc3339(),
    };
    let stored = store.put(token, Expect::Absent).await?;
    Ok(IssuedToken {
        token: stored.value,
        secret: format!("{PREFIX}{id}_{secret}"),
    })
}

/// The token a bearer string belongs to, if it is valid and not revoked.
pub fn verify(store: &Store, bearer: &str) -> Result<Option<Token>, StoreError> {
    let Some((id, secret)) = bearer.strip_prefix(PREFIX).and_then(|rest| rest.split_once('_')) else {
        return Ok(None);
    };
    if id.len() != 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let Some(record) = store.get::<Token>(id)? else {
        return Ok(None);
    };
    // Comparing digests, not secrets: timing reveals nothing about a secret whose hash an attacker would need.
    Ok((record.value.secret_sha256 == sha256_hex(secret)).then_some(record.value))
}

/// The bootstrap admin token, issued: the record and the file its secret went to.
pub struct Bootstrapped {
    pub token: Token,
    pub path: PathBuf,
}

/// On the very first start, creates an admin token and writes it to `<data-dir>/admin.token` (mode 0600).
/// Returns the token and the file's path when it did. Never again afterwards, even if the file is deleted: an
/// operator who removed it meant to.
pub async fn bootstrap_admin(store: &Store, data_dir: &Path) -> Result<Option<Bootstrapped>, StoreError> {
    if store.meta_get(BOOTSTRAP_DONE)?.is_some() {
        return Ok(None);
    }
    let issued = issue(store, "bootstrap-admin", Role::Admin).await?;
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    write_private(&path, &format!("{}\n", issued.secret))?;
    store.meta_put(BOOTSTRAP_DONE, issued.token.id.as_bytes()).await?;
    Ok(Some(Bootstrapped {
        token: issued.token,
        path,
    }))
}

/// Writes a file readable by its owner only; it is created with that mode, so it is never briefly world-readable.
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::fs::PermissionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // A file left over from an earlier install keeps its old mode on open; tighten it explicitly.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}
