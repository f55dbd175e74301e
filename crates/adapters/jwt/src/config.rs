//! What the verifier is configured with: the algorithm, the key, the required issuer and
//! audience, the clock leeway; and why a configuration is refused.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey};

/// Fewest bytes an HS256 secret may have: 256 bits, the size of the HMAC-SHA256 output.
pub const MIN_SECRET_BYTES: usize = 32;
/// Clock skew tolerated on `exp`, `nbf` and `iat` unless configured otherwise.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// Largest leeway accepted: more would keep expired tokens alive noticeably longer.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);

/// The signature algorithms a deployment may configure (contract section 8).
///
/// Exactly one is configured; a token signed with any other (or with `none`) is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum JwtAlgorithm {
    /// HMAC-SHA256 with a shared secret (the default).
    #[default]
    HS256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, verified with an RSA public key.
    RS256,
    /// ECDSA on P-256 with SHA-256, verified with an EC P-256 public key.
    ES256,
}

impl JwtAlgorithm {
    /// The name as written in a token's `alg` header and in `EVO_JWT_ALGORITHM`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
        }
    }

    /// Whether this algorithm verifies with a shared secret rather than a public key.
    pub fn uses_shared_secret(self) -> bool {
        self == Self::HS256
    }

    pub(crate) fn to_jsonwebtoken(self) -> Algorithm {
        match self {
            Self::HS256 => Algorithm::HS256,
            Self::RS256 => Algorithm::RS256,
            Self::ES256 => Algorithm::ES256,
        }
    }

    /// The kind of public key this algorithm needs, for error messages.
    fn public_key_kind(self) -> &'static str {
        match self {
            Self::HS256 => "shared secret",
            Self::RS256 => "RSA public key",
            Self::ES256 => "EC P-256 public key",
        }
    }
}

impl fmt::Display for JwtAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A text that names none of the supported algorithms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported JWT algorithm {0:?}: expected HS256, RS256 or ES256")]
pub struct UnsupportedAlgorithm(pub String);

impl FromStr for JwtAlgorithm {
    type Err = UnsupportedAlgorithm;

    /// Reads `HS256`, `RS256` or `ES256`, ignoring ASCII case and surrounding white space.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let trimmed = raw.trim();
        [Self::HS256, Self::RS256, Self::ES256]
            .into_iter()
            .find(|algorithm| algorithm.as_str().eq_ignore_ascii_case(trimmed))
            .ok_or_else(|| UnsupportedAlgorithm(raw.to_owned()))
    }
}

/// Secret bytes (an HS256 key). `Debug` and `Display` never show them.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps secret bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// The secret bytes themselves. Keep them out of logs and messages.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// How many bytes the secret has (safe to show).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret has no bytes at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Fails unless the secret has at least [`MIN_SECRET_BYTES`] bytes.
    pub(crate) fn check_length(&self) -> Result<(), JwtConfigError> {
        if self.len() < MIN_SECRET_BYTES {
            return Err(JwtConfigError::SecretTooShort { actual: self.len() });
        }
        Ok(())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(secret: String) -> Self {
        Self(secret.into_bytes())
    }
}

impl From<Vec<u8>> for Secret {
    fn from(secret: Vec<u8>) -> Self {
        Self(secret)
    }
}

/// The key tokens are verified with.
#[derive(Clone)]
pub enum VerificationKey {
    /// The HS256 shared secret.
    SharedSecret(Secret),
    /// A PEM public key (`-----BEGIN PUBLIC KEY-----`, or `RSA PUBLIC KEY` for RS256), for
    /// RS256 or ES256.
    PublicKeyPem(Vec<u8>),
}

impl VerificationKey {
    /// Reads and checks the PEM public key at `path` for `algorithm` (RS256 or ES256).
    ///
    /// Every error names the path: unreadable file, not a PEM public key, a private key, or a
    /// key of the wrong type for the algorithm.
    pub fn from_pem_file(path: impl AsRef<Path>, algorithm: JwtAlgorithm) -> Result<Self, JwtConfigError> {
        let path = path.as_ref();
        if algorithm.uses_shared_secret() {
            return Err(JwtConfigError::PublicKeyForSharedSecret);
        }
        let pem = std::fs::read(path)
            .map_err(|source| JwtConfigError::UnreadableKeyFile { path: path.to_owned(), source })?;
        decoding_key_from_pem(&pem, algorithm)
            .map_err(|problem| JwtConfigError::InvalidKeyFile { path: path.to_owned(), problem })?;
        Ok(Self::PublicKeyPem(pem))
    }
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SharedSecret(secret) => f.debug_tuple("SharedSecret").field(secret).finish(),
            // A public key is no secret, but its PEM text is noise in a log line.
            Self::PublicKeyPem(pem) => write!(f, "PublicKeyPem({} bytes)", pem.len()),
        }
    }
}

/// Everything the verifier needs. Build it with [`JwtConfig::new`] and adjust the fields.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// The only algorithm accepted in a token's `alg` header.
    pub algorithm: JwtAlgorithm,
    /// The HS256 secret or the RS256/ES256 public key.
    pub key: VerificationKey,
    /// When set, a token must carry exactly this `iss`.
    pub issuer: Option<String>,
    /// When set, a token's `aud` must hold this value.
    pub audience: Option<String>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat` (at most [`MAX_LEEWAY`]).
    pub leeway: Duration,
}

impl JwtConfig {
    /// A configuration with no required issuer or audience and [`DEFAULT_LEEWAY`].
    pub fn new(algorithm: JwtAlgorithm, key: VerificationKey) -> Self {
        Self { algorithm, key, issuer: None, audience: None, leeway: DEFAULT_LEEWAY }
    }

    /// An HS256 configuration with `secret` (checked by [`JwtVerifier::new`](crate::JwtVerifier::new)).
    pub fn hs256(secret: Secret) -> Self {
        Self::new(JwtAlgorithm::HS256, VerificationKey::SharedSecret(secret))
    }
}

/// What is wrong with a PEM public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublicKeyProblem {
    /// No `-----BEGIN ...-----` block, or one whose content does not decode.
    #[error("is not a PEM public key (expected -----BEGIN PUBLIC KEY-----)")]
    NotPem,
    /// A private key where the public key belongs.
    #[error("holds a private key: configure the public key only")]
    PrivateKey,
    /// A PEM block of another kind (a certificate, parameters...).
    #[error("holds a PEM {label:?} block, not a PUBLIC KEY")]
    UnexpectedBlock {
        /// The label after `BEGIN`.
        label: String,
    },
    /// A public key of the wrong type or curve for the algorithm.
    #[error("is not an {expected}, which {algorithm} needs")]
    WrongKeyType {
        /// The configured algorithm.
        algorithm: JwtAlgorithm,
        /// The kind of key that algorithm needs.
        expected: &'static str,
    },
}

/// Why a configuration cannot verify tokens. Messages never show a secret.
#[derive(Debug, thiserror::Error)]
pub enum JwtConfigError {
    /// An HS256 secret shorter than [`MIN_SECRET_BYTES`].
    #[error("the HS256 secret must be at least {MIN_SECRET_BYTES} bytes long, but it has {actual}")]
    SecretTooShort {
        /// The length given.
        actual: usize,
    },
    /// A shared secret configured for RS256 or ES256.
    #[error("{algorithm} verifies with a PEM public key, not a shared secret")]
    SecretForPublicKeyAlgorithm {
        /// The configured algorithm.
        algorithm: JwtAlgorithm,
    },
    /// A PEM public key configured for HS256.
    #[error("HS256 verifies with a shared secret, not a PEM public key")]
    PublicKeyForSharedSecret,
    /// The public key file cannot be read.
    #[error("cannot read the JWT public key file {}: {source}", path.display())]
    UnreadableKeyFile {
        /// The file.
        path: PathBuf,
        /// Why it cannot be read.
        source: std::io::Error,
    },
    /// The public key file does not hold a usable public key.
    #[error("the JWT public key file {} {problem}", path.display())]
    InvalidKeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: PublicKeyProblem,
    },
    /// The in-memory public key is not usable.
    #[error("the JWT public key {problem}")]
    InvalidKey {
        /// What is wrong with it.
        problem: PublicKeyProblem,
    },
    /// A required issuer or audience that is empty.
    #[error("the required JWT {claim} must not be empty")]
    EmptyRequirement {
        /// `iss` or `aud`.
        claim: &'static str,
    },
    /// A leeway above [`MAX_LEEWAY`].
    #[error("the JWT clock leeway must be at most {} s, not {} s", MAX_LEEWAY.as_secs(), actual.as_secs())]
    LeewayTooLarge {
        /// The leeway given.
        actual: Duration,
    },
}

/// Builds the jsonwebtoken key from a PEM public key, refusing private keys, other PEM
/// blocks and keys of the wrong type or curve.
pub(crate) fn decoding_key_from_pem(
    pem: &[u8],
    algorithm: JwtAlgorithm,
) -> Result<DecodingKey, PublicKeyProblem> {
    let label = pem_label(pem).ok_or(PublicKeyProblem::NotPem)?;
    if label.contains("PRIVATE KEY") {
        return Err(PublicKeyProblem::PrivateKey);
    }
    let label_fits = label == "PUBLIC KEY" || (algorithm == JwtAlgorithm::RS256 && label == "RSA PUBLIC KEY");
    if !label_fits {
        return Err(PublicKeyProblem::UnexpectedBlock { label: label.to_owned() });
    }
    let wrong_type = PublicKeyProblem::WrongKeyType { algorithm, expected: algorithm.public_key_kind() };
    let key = match algorithm {
        JwtAlgorithm::RS256 => DecodingKey::from_rsa_pem(pem),
        JwtAlgorithm::ES256 => DecodingKey::from_ec_pem(pem),
        JwtAlgorithm::HS256 => return Err(wrong_type),
    }
    .map_err(|_| wrong_type.clone())?;
    // jsonwebtoken reads EC keys of any curve; a probe verification builds the P-256
    // verifying key now, so that a P-384 key fails at startup rather than on every request.
    if algorithm == JwtAlgorithm::ES256
        && jsonwebtoken::crypto::verify("", b"probe", &key, algorithm.to_jsonwebtoken()).is_err()
    {
        return Err(wrong_type);
    }
    Ok(key)
}

/// The label of the first `-----BEGIN <label>-----` line, if any.
fn pem_label(pem: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(pem).ok()?;
    let after_begin = &text[text.find("-----BEGIN ")? + "-----BEGIN ".len()..];
    let label = &after_begin[..after_begin.find("-----")?];
    Some(label.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithms_parse_by_name_and_refuse_anything_else() {
        assert_eq!("HS256".parse(), Ok(JwtAlgorithm::HS256));
        assert_eq!(" rs256 ".parse(), Ok(JwtAlgorithm::RS256));
        assert_eq!("ES256".parse(), Ok(JwtAlgorithm::ES256));
        for refused in ["none", "HS512", "PS256", "", "EdDSA"] {
            assert_eq!(refused.parse::<JwtAlgorithm>(), Err(UnsupportedAlgorithm(refused.to_owned())));
        }
        assert_eq!(
            "none".parse::<JwtAlgorithm>().unwrap_err().to_string(),
            "unsupported JWT algorithm \"none\": expected HS256, RS256 or ES256"
        );
        assert_eq!(JwtAlgorithm::default(), JwtAlgorithm::HS256);
        assert_eq!(JwtAlgorithm::ES256.to_string(), "ES256");
    }

    #[test]
    fn secrets_never_show_in_debug_or_display() {
        let secret = Secret::from("correct horse battery staple, 32+ bytes".to_owned());
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(secret.to_string(), "***");
        let key = VerificationKey::SharedSecret(secret);
        assert_eq!(format!("{key:?}"), "SharedSecret(Secret(***))");
    }

    #[test]
    fn pem_labels_are_read_from_the_begin_line() {
        assert_eq!(
            pem_label(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
            Some("PUBLIC KEY")
        );
        assert_eq!(pem_label(b"junk before\n-----BEGIN RSA PUBLIC KEY-----\n"), Some("RSA PUBLIC KEY"));
        assert_eq!(pem_label(b"no pem here"), None);
        assert_eq!(pem_label(&[0xff, 0xfe]), None);
    }
}
