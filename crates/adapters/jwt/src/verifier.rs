//! [`JwtVerifier`]: the [`TokenVerifier`] adapter.

use std::collections::HashSet;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine as _;
use evo_domain::{AccountId, Actor};
use evo_ports::{AuthError, TokenVerifier};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{DecodingKey, Validation};
use serde::Deserialize;

use crate::config::{
    JwtAlgorithm, JwtConfig, JwtConfigError, MAX_LEEWAY, VerificationKey, decoding_key_from_pem,
};

/// Longest token looked at, in bytes. A real token is a few hundred bytes; this bounds the
/// work an attacker can cause per request.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Verifies bearer tokens against one configured algorithm and key.
///
/// The decoding key and the validation rules are built once, in [`JwtVerifier::new`];
/// verifying a token only decodes and checks it.
pub struct JwtVerifier {
    algorithm: JwtAlgorithm,
    decoding_key: DecodingKey,
    validation: Validation,
    leeway_secs: u64,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The decoding key may be a shared secret: never shown.
        f.debug_struct("JwtVerifier")
            .field("algorithm", &self.algorithm)
            .field("issuer", &self.validation.iss)
            .field("audience", &self.validation.aud)
            .field("leeway_secs", &self.leeway_secs)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// Checks `config` and prepares the key and rules.
    ///
    /// Refuses an HS256 secret shorter than 32 bytes, a key that does not fit the algorithm
    /// (a secret for RS256/ES256, a PEM for HS256, an RSA key for ES256, a P-384 key...),
    /// an empty required issuer or audience, and a leeway above [`MAX_LEEWAY`].
    pub fn new(config: JwtConfig) -> Result<Self, JwtConfigError> {
        let JwtConfig { algorithm, key, issuer, audience, leeway } = config;
        let decoding_key = match (&key, algorithm.uses_shared_secret()) {
            (VerificationKey::SharedSecret(secret), true) => {
                secret.check_length()?;
                DecodingKey::from_secret(secret.expose())
            }
            (VerificationKey::SharedSecret(_), false) => {
                return Err(JwtConfigError::SecretForPublicKeyAlgorithm { algorithm });
            }
            (VerificationKey::PublicKeyPem(_), true) => return Err(JwtConfigError::PublicKeyForSharedSecret),
            (VerificationKey::PublicKeyPem(pem), false) => decoding_key_from_pem(pem, algorithm)
                .map_err(|problem| JwtConfigError::InvalidKey { problem })?,
        };
        if leeway > MAX_LEEWAY {
            return Err(JwtConfigError::LeewayTooLarge { actual: leeway });
        }

        // jsonwebtoken checks the algorithm, the signature, the presence of `sub` and `exp`
        // and the issuer and audience. The times (`exp`, `nbf`, `iat`) are checked here
        // instead, against one clock and one leeway, which `verify_at` lets tests fix.
        let mut validation = Validation::new(algorithm.to_jsonwebtoken());
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        let mut required: HashSet<String> = ["sub", "exp"].map(String::from).into();
        if let Some(issuer) = issuer {
            if issuer.trim().is_empty() {
                return Err(JwtConfigError::EmptyRequirement { claim: "iss" });
            }
            validation.set_issuer(&[issuer]);
            required.insert("iss".to_owned());
        }
        // Without a configured audience, `aud` is not checked (contract section 3).
        validation.validate_aud = audience.is_some();
        if let Some(audience) = audience {
            if audience.trim().is_empty() {
                return Err(JwtConfigError::EmptyRequirement { claim: "aud" });
            }
            validation.set_audience(&[audience]);
            required.insert("aud".to_owned());
        }
        validation.required_spec_claims = required;

        Ok(Self { algorithm, decoding_key, validation, leeway_secs: leeway.as_secs() })
    }

    /// The algorithm tokens must be signed with.
    pub fn algorithm(&self) -> JwtAlgorithm {
        self.algorithm
    }

    /// Verifies `token` as of `now_unix_secs` (seconds since the Unix epoch) and returns the
    /// caller it proves. [`TokenVerifier::verify`] calls this with the system clock.
    pub fn verify_at(&self, token: &str, now_unix_secs: u64) -> Result<Actor, AuthError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::MissingToken);
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(invalid("too long"));
        }
        let claims = jsonwebtoken::decode::<TokenClaims>(token, &self.decoding_key, &self.validation)
            .map_err(|error| invalid(self.reason_for(error.kind(), token)))?
            .claims;
        self.check_times(&claims, now_unix_secs)?;
        claims.into_actor()
    }

    fn check_times(&self, claims: &TokenClaims, now: u64) -> Result<(), AuthError> {
        let leeway = self.leeway_secs;
        // `exp` is required: jsonwebtoken refused its absence already.
        if claims.exp.is_some_and(|exp| now > exp.0.saturating_add(leeway)) {
            return Err(invalid("expired"));
        }
        if claims.nbf.is_some_and(|nbf| nbf.0 > now.saturating_add(leeway)) {
            return Err(invalid("not yet valid"));
        }
        if claims.iat.is_some_and(|iat| iat.0 > now.saturating_add(leeway)) {
            return Err(invalid("issued in the future"));
        }
        Ok(())
    }

    /// A short reason, safe to show, for a jsonwebtoken error.
    fn reason_for(&self, kind: &ErrorKind, token: &str) -> &'static str {
        match kind {
            ErrorKind::InvalidSignature => "bad signature",
            ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => "wrong algorithm",
            ErrorKind::ExpiredSignature => "expired",
            ErrorKind::ImmatureSignature => "not yet valid",
            ErrorKind::InvalidIssuer => "wrong issuer",
            ErrorKind::InvalidAudience => "wrong audience",
            ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
                "sub" => "missing sub",
                "exp" => "missing exp",
                "iss" => "missing iss",
                "aud" => "missing aud",
                _ => "missing claim",
            },
            // jsonwebtoken cannot even read a header whose `alg` it does not know (`none`,
            // `None`, `HS999`...): tell that apart from a token that is plain garbage.
            ErrorKind::Json(_) | ErrorKind::Base64(_) | ErrorKind::Utf8(_)
                if header_names_another_algorithm(token, self.algorithm) =>
            {
                "wrong algorithm"
            }
            _ => "malformed",
        }
    }
}

#[async_trait]
impl TokenVerifier for JwtVerifier {
    async fn verify(&self, token: &str) -> Result<Actor, AuthError> {
        self.verify_at(token, unix_now())
    }
}

fn invalid(reason: &'static str) -> AuthError {
    AuthError::InvalidToken(reason.to_owned())
}

/// Seconds since the Unix epoch; 0 if the system clock is set before it.
fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

/// Whether the token's header is readable JSON with an `alg` other than `expected`. Only
/// called on the error path.
fn header_names_another_algorithm(token: &str, expected: JwtAlgorithm) -> bool {
    #[derive(Deserialize)]
    struct HeaderAlgorithm {
        alg: String,
    }
    let Some((encoded_header, _)) = token.split_once('.') else {
        return false;
    };
    let Ok(header_json) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(encoded_header) else {
        return false;
    };
    serde_json::from_slice::<HeaderAlgorithm>(&header_json)
        .is_ok_and(|header| header.alg != expected.as_str())
}

/// The claims evo-sessions reads. Everything is optional here so that a missing claim is
/// reported by name (jsonwebtoken checks presence after deserializing these).
#[derive(Deserialize)]
struct TokenClaims {
    sub: Option<String>,
    exp: Option<NumericDate>,
    nbf: Option<NumericDate>,
    iat: Option<NumericDate>,
    name: Option<String>,
    roles: Option<Vec<String>>,
    #[serde(rename = "accountIds")]
    account_ids: Option<Vec<String>>,
}

/// A JWT NumericDate: seconds since the epoch, possibly fractional (RFC 7519 section 2).
#[derive(Clone, Copy)]
struct NumericDate(u64);

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let seconds = f64::deserialize(deserializer)?;
        if !seconds.is_finite() {
            return Err(serde::de::Error::custom("not a finite number"));
        }
        // `as` saturates: a negative date becomes 0, a huge one u64::MAX.
        Ok(Self(seconds as u64))
    }
}

impl TokenClaims {
    fn into_actor(self) -> Result<Actor, AuthError> {
        let user_id = match self.sub {
            Some(sub) if !sub.trim().is_empty() => sub,
            _ => return Err(invalid("missing sub")),
        };
        let account_ids = self
            .account_ids
            .unwrap_or_default()
            .iter()
            .map(|raw| AccountId::parse(raw))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| invalid("invalid accountIds"))?;
        let name = match self.name {
            Some(name) if !name.trim().is_empty() => name,
            _ => user_id.clone(),
        };
        Ok(Actor { user_id, name, roles: self.roles.unwrap_or_default(), account_ids })
    }
}
