//! What the verifier is configured with: the algorithm, the key (or where to fetch the keys),
//! the required issuer and audience, the clock leeway; and why a configuration is refused.

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

/// The signature algorithms a deployment may configure (docs/api.md, "Tokens").
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

/// How often the JWKS document is fetched again in the background (docs/api.md, "Keys from a
/// JWKS document").
pub const DEFAULT_JWKS_REFRESH_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// Least time between two fetches of the JWKS document caused by unknown `kid`s (docs/api.md,
/// "Keys from a JWKS document"), so that tokens naming random keys cannot make us hammer the
/// identity provider.
pub const DEFAULT_JWKS_MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// Longest a JWKS fetch may take, connection included.
pub const DEFAULT_JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest JWKS document read: a real one is a few kilobytes.
pub const DEFAULT_MAX_JWKS_BYTES: u64 = 1024 * 1024;

/// Where RS256/ES256 keys are fetched from, and how often.
#[derive(Clone, PartialEq, Eq)]
pub struct JwksConfig {
    /// The `http://` or `https://` URL of the JWKS document.
    pub url: String,
    /// How often the document is fetched again in the background.
    pub refresh_interval: Duration,
    /// Least time between two fetches caused by tokens naming an unknown `kid`; every fetch
    /// counts, the one at start-up and the background ones included.
    pub min_refetch_interval: Duration,
    /// Longest one fetch may take.
    pub fetch_timeout: Duration,
    /// Largest document accepted, in bytes.
    pub max_document_bytes: u64,
}

impl JwksConfig {
    /// The document at `url`, with the intervals and bounds of docs/api.md, "Keys from a JWKS
    /// document".
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            refresh_interval: DEFAULT_JWKS_REFRESH_INTERVAL,
            min_refetch_interval: DEFAULT_JWKS_MIN_REFETCH_INTERVAL,
            fetch_timeout: DEFAULT_JWKS_FETCH_TIMEOUT,
            max_document_bytes: DEFAULT_MAX_JWKS_BYTES,
        }
    }

    /// Checks what can be checked without fetching: an `http://` or `https://` URL with a
    /// host, and intervals and bounds that are not zero.
    pub fn check(&self) -> Result<(), JwtConfigError> {
        let url = self.url.trim();
        let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
        let has_host = rest.is_some_and(|rest| !rest.starts_with(['/', '?', '#']) && !rest.is_empty());
        if !has_host || url.contains(char::is_whitespace) {
            return Err(JwtConfigError::InvalidJwksUrl { url: redacted_url(url) });
        }
        let settings = [
            ("refresh interval", self.refresh_interval.is_zero()),
            ("fetch timeout", self.fetch_timeout.is_zero()),
            ("document size limit", self.max_document_bytes == 0),
        ];
        if let Some((setting, _)) = settings.into_iter().find(|(_, is_zero)| *is_zero) {
            return Err(JwtConfigError::ZeroJwksSetting { setting });
        }
        Ok(())
    }

    /// The URL without any `user:password@`, fit for logs and messages.
    pub fn redacted_url(&self) -> String {
        redacted_url(&self.url)
    }
}

impl fmt::Debug for JwksConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksConfig")
            .field("url", &self.redacted_url())
            .field("refresh_interval", &self.refresh_interval)
            .field("min_refetch_interval", &self.min_refetch_interval)
            .field("fetch_timeout", &self.fetch_timeout)
            .field("max_document_bytes", &self.max_document_bytes)
            .finish()
    }
}

/// `url` with the credentials of its authority, if any, replaced by `***`.
fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
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
    /// RS256 or ES256 keys from a JWKS document, chosen by the token's `kid`. Build the
    /// verifier with [`JwtVerifier::connect`](crate::JwtVerifier::connect), which fetches it.
    Jwks(JwksConfig),
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
            Self::Jwks(jwks) => f.debug_tuple("Jwks").field(jwks).finish(),
        }
    }
}

/// Everything the verifier needs. Build it with [`JwtConfig::new`] and adjust the fields.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// The only algorithm accepted in a token's `alg` header.
    pub algorithm: JwtAlgorithm,
    /// The HS256 secret, or the RS256/ES256 public key or JWKS document.
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
    /// A JWKS URL configured for HS256.
    #[error("HS256 verifies with a shared secret, not keys from a JWKS URL")]
    JwksForSharedSecret,
    /// A JWKS configuration given to the synchronous constructor, which cannot fetch.
    #[error("a verifier with a JWKS URL is built with JwtVerifier::connect, which fetches the keys")]
    JwksNeedsConnect,
    /// A JWKS URL that is not `http://` or `https://` with a host.
    #[error("the JWKS URL {url:?} is not an http:// or https:// URL")]
    InvalidJwksUrl {
        /// The URL, without credentials.
        url: String,
    },
    /// A JWKS interval or bound of zero.
    #[error("the JWKS {setting} must not be zero")]
    ZeroJwksSetting {
        /// Which one.
        setting: &'static str,
    },
    /// The JWKS document cannot be fetched or holds no usable key (at start-up only: later
    /// failures keep the keys already known).
    #[error("cannot fetch the JWT keys from the JWKS URL {url}: {problem}")]
    JwksUnavailable {
        /// The URL, without credentials.
        url: String,
        /// What went wrong.
        problem: JwksProblem,
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

/// Why a JWKS document could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksProblem {
    /// No answer: connection refused, time-out, TLS failure...
    #[error("{0}")]
    Unreachable(String),
    /// An answer other than 2xx.
    #[error("the server answered HTTP {0}")]
    Status(u16),
    /// A document larger than the configured bound.
    #[error("the document is larger than {limit} bytes")]
    TooLarge {
        /// The bound, in bytes.
        limit: u64,
    },
    /// Not a JSON object with a `keys` array.
    #[error("the document is not a JWKS ({0})")]
    NotJwks(String),
    /// No key with a `kid` that fits the algorithm.
    #[error("the document holds no {algorithm} signing key with a kid")]
    NoUsableKey {
        /// The configured algorithm.
        algorithm: JwtAlgorithm,
    },
    /// The fetching thread failed (a panic): not expected.
    #[error("the fetch did not complete")]
    FetchAborted,
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
    if algorithm == JwtAlgorithm::ES256 && !verifies_with(&key, algorithm) {
        return Err(wrong_type);
    }
    Ok(key)
}

/// Whether jsonwebtoken can build a verifier for `algorithm` from `key` (a probe with an
/// empty signature: only the key's type and curve matter).
pub(crate) fn verifies_with(key: &DecodingKey, algorithm: JwtAlgorithm) -> bool {
    jsonwebtoken::crypto::verify("", b"probe", key, algorithm.to_jsonwebtoken()).is_ok()
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
    fn jwks_urls_are_checked_and_never_show_credentials() {
        assert!(JwksConfig::new("https://idp.example.com/.well-known/jwks.json").check().is_ok());
        assert!(JwksConfig::new("http://127.0.0.1:8081/jwks").check().is_ok());
        for refused in ["", "idp.example.com/jwks", "ftp://idp.example.com/jwks", "https://", "https:///jwks"]
        {
            let error = JwksConfig::new(refused).check().unwrap_err();
            assert!(matches!(error, JwtConfigError::InvalidJwksUrl { .. }), "{refused:?}: {error}");
        }
        let with_credentials = JwksConfig::new("https://user:hunter2@idp.example.com/jwks?x=a@b");
        assert_eq!(with_credentials.redacted_url(), "https://***@idp.example.com/jwks?x=a@b");
        assert!(!format!("{with_credentials:?}").contains("hunter2"));
        let mut zero = JwksConfig::new("https://idp.example.com/jwks");
        zero.refresh_interval = Duration::ZERO;
        assert_eq!(zero.check().unwrap_err().to_string(), "the JWKS refresh interval must not be zero");
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
