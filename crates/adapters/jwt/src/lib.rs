//! # evo-jwt
//!
//! The JWT adapter of evo-sessions: [`JwtVerifier`] implements the
//! [`TokenVerifier`](evo_ports::TokenVerifier) port (docs/api.md, "Tokens"), and
//! [`mint_hs256`] mints the tokens of the `evo-sessions token` subcommand (the same section).
//!
//! - One algorithm is configured ([`JwtAlgorithm`]: HS256, RS256 or ES256); a token whose
//!   `alg` differs, `none` included, is refused. An RS256 public key can never be used as an
//!   HS256 secret (algorithm confusion), since the key's type is fixed by the configuration.
//! - RS256 and ES256 keys come from a PEM file or from a JWKS document ([`JwksConfig`],
//!   docs/api.md, "Keys from a JWKS document"): built with [`JwtVerifier::connect`], which
//!   fetches it; keys are chosen by the token's `kid`, only those whose type fits the
//!   algorithm are used, and the
//!   document is fetched again every 10 minutes and when a token names an unknown `kid` (at
//!   most once every 30 s), so that the identity provider can rotate keys without a restart.
//! - `sub` and `exp` are required; `nbf` and `iat` are checked when present; `iss` and `aud`
//!   when configured. `name` defaults to `sub`, `roles` and `accountIds` to empty.
//! - Refusals are [`AuthError::InvalidToken`](evo_ports::AuthError::InvalidToken) with a short
//!   reason safe to show (`"expired"`, `"bad signature"`, `"wrong algorithm"`...), never the
//!   token; an empty token is [`AuthError::MissingToken`](evo_ports::AuthError::MissingToken).
//! - Secrets ([`Secret`]) never appear in `Debug`, `Display` or error messages.
//!
//! ```
//! use std::time::Duration;
//! use evo_jwt::{JwtConfig, JwtVerifier, MintRequest, Secret, mint_hs256};
//!
//! let secret = Secret::from("an example secret of at least 32 bytes".to_owned());
//! let verifier = JwtVerifier::new(JwtConfig::hs256(secret.clone())).unwrap();
//! let mut request = MintRequest::new("ann@example.com", Duration::from_secs(3600));
//! request.roles = vec!["User".to_owned()];
//! let token = mint_hs256(&secret, &request, 1_700_000_000).unwrap();
//! let actor = verifier.verify_at(&token, 1_700_000_100).unwrap();
//! assert_eq!(actor.name, "ann@example.com");
//! assert_eq!(actor.roles, ["User"]);
//! ```

mod config;
mod jwks;
mod mint;
mod verifier;

pub use config::{
    DEFAULT_JWKS_FETCH_TIMEOUT, DEFAULT_JWKS_MIN_REFETCH_INTERVAL, DEFAULT_JWKS_REFRESH_INTERVAL,
    DEFAULT_LEEWAY, DEFAULT_MAX_JWKS_BYTES, JwksConfig, JwksProblem, JwtAlgorithm, JwtConfig, JwtConfigError,
    MAX_LEEWAY, MIN_SECRET_BYTES, PublicKeyProblem, Secret, UnsupportedAlgorithm, VerificationKey,
};
pub use mint::{MintError, MintRequest, mint_hs256};
pub use verifier::{JwtVerifier, MAX_TOKEN_BYTES};
