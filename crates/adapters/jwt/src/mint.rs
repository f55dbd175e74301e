//! Minting HS256 tokens, for the `evo-sessions token` subcommand and for tests.

use std::time::Duration;

use evo_domain::AccountId;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::config::{MIN_SECRET_BYTES, Secret};

/// The claims of a token to mint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintRequest {
    /// The user ID (`sub`), an email.
    pub sub: String,
    /// The name shown in session log entries (`name`); omitted when `None`.
    pub name: Option<String>,
    /// Role names (`roles`).
    pub roles: Vec<String>,
    /// Account IDs (`accountIds`); each must pass `AccountId::parse`.
    pub account_ids: Vec<String>,
    /// How long the token is valid from now (`exp` = `iat` + `ttl`, whole seconds).
    pub ttl: Duration,
    /// The `iss` claim; omitted when `None`.
    pub issuer: Option<String>,
    /// The `aud` claim; omitted when `None`.
    pub audience: Option<String>,
}

impl MintRequest {
    /// A request for `sub` with no name, roles, accounts, issuer or audience, valid for `ttl`.
    pub fn new(sub: impl Into<String>, ttl: Duration) -> Self {
        Self {
            sub: sub.into(),
            name: None,
            roles: Vec::new(),
            account_ids: Vec::new(),
            ttl,
            issuer: None,
            audience: None,
        }
    }
}

/// Why a token cannot be minted. Messages never show the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MintError {
    /// The secret is shorter than [`MIN_SECRET_BYTES`]: the verifier would refuse it.
    #[error("the HS256 secret must be at least {MIN_SECRET_BYTES} bytes long, but it has {actual}")]
    SecretTooShort {
        /// The length given.
        actual: usize,
    },
    /// An empty or blank `sub`.
    #[error("the token subject (sub) must not be empty")]
    EmptySubject,
    /// A TTL under one second: the token would be born expired.
    #[error("the token lifetime must be at least 1 second")]
    ZeroTtl,
    /// An account ID that `AccountId::parse` refuses.
    #[error("invalid account ID {value:?}: {reason}")]
    InvalidAccountId {
        /// The account ID given.
        value: String,
        /// Why it is invalid.
        reason: evo_domain::IdError,
    },
    /// jsonwebtoken failed to sign (not expected with a valid secret).
    #[error("cannot sign the token: {0}")]
    Signing(String),
}

#[derive(Serialize)]
struct MintedClaims<'a> {
    sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    roles: &'a [String],
    #[serde(rename = "accountIds")]
    account_ids: &'a [String],
    iat: u64,
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
}

/// Mints an HS256 token for `request`, issued at `now_unix_secs` (seconds since the Unix
/// epoch) and expiring `request.ttl` later.
///
/// Refuses what the verifier would refuse: a secret under 32 bytes, an empty `sub`, an
/// invalid account ID; and a TTL under one second.
pub fn mint_hs256(secret: &Secret, request: &MintRequest, now_unix_secs: u64) -> Result<String, MintError> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(MintError::SecretTooShort { actual: secret.len() });
    }
    if request.sub.trim().is_empty() {
        return Err(MintError::EmptySubject);
    }
    if request.ttl.as_secs() == 0 {
        return Err(MintError::ZeroTtl);
    }
    if let Some((value, reason)) = request
        .account_ids
        .iter()
        .find_map(|raw| AccountId::parse(raw).err().map(|reason| (raw.clone(), reason)))
    {
        return Err(MintError::InvalidAccountId { value, reason });
    }
    let claims = MintedClaims {
        sub: &request.sub,
        name: request.name.as_deref(),
        roles: &request.roles,
        account_ids: &request.account_ids,
        iat: now_unix_secs,
        exp: now_unix_secs.saturating_add(request.ttl.as_secs()),
        iss: request.issuer.as_deref(),
        aud: request.audience.as_deref(),
    };
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.expose()))
        .map_err(|error| MintError::Signing(error.to_string()))
}
