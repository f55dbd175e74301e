//! [`JwtVerifier`]: the [`TokenVerifier`] adapter.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
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
use crate::jwks::JwksKeys;

/// Longest token looked at, in bytes. A real token is a few hundred bytes; this bounds the
/// work an attacker can cause per request.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Verifies bearer tokens against one configured algorithm and key, or the keys of a JWKS
/// document.
///
/// The decoding key and the validation rules are built once, in [`JwtVerifier::new`] or
/// [`JwtVerifier::connect`]; verifying a token only decodes and checks it (and, with a JWKS,
/// may fetch the document again when the token names an unknown `kid`).
pub struct JwtVerifier {
    algorithm: JwtAlgorithm,
    keys: Keys,
    validation: Validation,
    leeway_secs: u64,
}

enum Keys {
    Fixed(DecodingKey),
    Jwks(Arc<JwksKeys>),
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The decoding key may be a shared secret: never shown.
        let jwks_url = match &self.keys {
            Keys::Fixed(_) => None,
            Keys::Jwks(keys) => Some(keys.redacted_url()),
        };
        f.debug_struct("JwtVerifier")
            .field("algorithm", &self.algorithm)
            .field("jwks_url", &jwks_url)
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
    /// an empty required issuer or audience, and a leeway above [`MAX_LEEWAY`]. A JWKS
    /// configuration needs [`JwtVerifier::connect`] instead.
    pub fn new(config: JwtConfig) -> Result<Self, JwtConfigError> {
        let algorithm = config.algorithm;
        let decoding_key = match (&config.key, algorithm.uses_shared_secret()) {
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
            (VerificationKey::Jwks(_), true) => return Err(JwtConfigError::JwksForSharedSecret),
            (VerificationKey::Jwks(_), false) => return Err(JwtConfigError::JwksNeedsConnect),
        };
        Self::with_keys(config, Keys::Fixed(decoding_key))
    }

    /// Like [`JwtVerifier::new`], and with a JWKS URL: fetches the document (failing if it
    /// cannot be fetched or holds no key for the algorithm) and starts refreshing it every
    /// `refresh_interval` on the current tokio runtime, until the verifier is dropped.
    pub async fn connect(config: JwtConfig) -> Result<Self, JwtConfigError> {
        let jwks = match (&config.key, config.algorithm.uses_shared_secret()) {
            (VerificationKey::Jwks(_), true) => return Err(JwtConfigError::JwksForSharedSecret),
            (VerificationKey::Jwks(jwks), false) => jwks.clone(),
            _ => return Self::new(config),
        };
        // Everything that needs no network is refused before the fetch.
        jwks.check()?;
        check_rules(&config)?;
        let keys = JwksKeys::start(jwks, config.algorithm).await?;
        Self::with_keys(config, Keys::Jwks(keys))
    }

    fn with_keys(config: JwtConfig, keys: Keys) -> Result<Self, JwtConfigError> {
        check_rules(&config)?;
        let JwtConfig { algorithm, key: _, issuer, audience, leeway } = config;

        // jsonwebtoken checks the algorithm, the signature, the presence of `sub` and `exp`
        // and the issuer and audience. The times (`exp`, `nbf`, `iat`) are checked here
        // instead, against one clock and one leeway, which `verify_at` lets tests fix.
        let mut validation = Validation::new(algorithm.to_jsonwebtoken());
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        let mut required: HashSet<String> = ["sub", "exp"].map(String::from).into();
        if let Some(issuer) = issuer {
            validation.set_issuer(&[issuer]);
            required.insert("iss".to_owned());
        }
        // Without a configured audience, `aud` is not checked (docs/api.md, "Tokens").
        validation.validate_aud = audience.is_some();
        if let Some(audience) = audience {
            validation.set_audience(&[audience]);
            required.insert("aud".to_owned());
        }
        validation.required_spec_claims = required;

        Ok(Self { algorithm, keys, validation, leeway_secs: leeway.as_secs() })
    }

    /// The algorithm tokens must be signed with.
    pub fn algorithm(&self) -> JwtAlgorithm {
        self.algorithm
    }

    /// Verifies `token` as of `now_unix_secs` (seconds since the Unix epoch) and returns the
    /// caller it proves. With a JWKS, only the keys already fetched are tried: an unknown
    /// `kid` is refused here, whereas [`TokenVerifier::verify`] (the system clock) may fetch
    /// the document again first.
    pub fn verify_at(&self, token: &str, now_unix_secs: u64) -> Result<Actor, AuthError> {
        let token = bounded(token)?;
        match &self.keys {
            Keys::Fixed(key) => self.decode(token, key, now_unix_secs),
            Keys::Jwks(keys) => {
                let kid = self.signing_kid(token)?;
                let key = keys.cached(&kid).ok_or_else(|| invalid("unknown key"))?;
                self.decode(token, &key, now_unix_secs)
            }
        }
    }

    fn decode(&self, token: &str, key: &DecodingKey, now: u64) -> Result<Actor, AuthError> {
        let claims = jsonwebtoken::decode::<TokenClaims>(token, key, &self.validation)
            .map_err(|error| invalid(self.reason_for(error.kind(), token)))?
            .claims;
        self.check_times(&claims, now)?;
        claims.into_actor()
    }

    /// The `kid` of a token whose header names the configured algorithm. The algorithm is
    /// checked before any key is looked up, so that tokens of another algorithm cannot make
    /// us fetch the JWKS.
    fn signing_kid(&self, token: &str) -> Result<String, AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|error| invalid(self.reason_for(error.kind(), token)))?;
        if header.alg != self.algorithm.to_jsonwebtoken() {
            return Err(invalid("wrong algorithm"));
        }
        header.kid.filter(|kid| !kid.is_empty()).ok_or_else(|| invalid("missing kid"))
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
        let Keys::Jwks(keys) = &self.keys else {
            return self.verify_at(token, unix_now());
        };
        let token = bounded(token)?;
        let kid = self.signing_kid(token)?;
        let key = keys.key_for(&kid).await?;
        self.decode(token, &key, unix_now())
    }

    fn valid_until(&self, token: &str) -> Option<evo_domain::Timestamp> {
        // Read from a token `verify` accepted: its signature and claims were checked there.
        #[derive(Deserialize)]
        struct Expiry {
            exp: NumericDate,
        }
        let payload = token.trim().split('.').nth(1)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
        let Expiry { exp } = serde_json::from_slice(&bytes).ok()?;
        let until = exp.0.saturating_add(self.leeway_secs);
        chrono::DateTime::from_timestamp(i64::try_from(until).ok()?, 0)
    }
}

/// Refuses an empty token and one longer than [`MAX_TOKEN_BYTES`].
fn bounded(token: &str) -> Result<&str, AuthError> {
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthError::MissingToken);
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(invalid("too long"));
    }
    Ok(token)
}

/// Refuses a leeway above [`MAX_LEEWAY`] and an empty required issuer or audience.
fn check_rules(config: &JwtConfig) -> Result<(), JwtConfigError> {
    if config.leeway > MAX_LEEWAY {
        return Err(JwtConfigError::LeewayTooLarge { actual: config.leeway });
    }
    if config.issuer.as_ref().is_some_and(|issuer| issuer.trim().is_empty()) {
        return Err(JwtConfigError::EmptyRequirement { claim: "iss" });
    }
    if config.audience.as_ref().is_some_and(|audience| audience.trim().is_empty()) {
        return Err(JwtConfigError::EmptyRequirement { claim: "aud" });
    }
    Ok(())
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
