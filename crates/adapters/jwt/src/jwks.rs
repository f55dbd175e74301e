//! Keys from a JWKS document (docs/api.md, "Keys from a JWKS document"): fetched at
//! start-up, fetched again in the background, and on demand when a token names a `kid` we do
//! not know, at a bounded rate.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use evo_ports::AuthError;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse};
use serde::Deserialize;

use crate::config::{JwksConfig, JwksProblem, JwtAlgorithm, JwtConfigError, verifies_with};

/// The usable keys of one JWKS document, by `kid`.
type KeysById = HashMap<String, DecodingKey>;

/// The keys known so far and what is needed to fetch them again.
pub(crate) struct JwksKeys {
    config: JwksConfig,
    algorithm: JwtAlgorithm,
    agent: ureq::Agent,
    current: RwLock<Arc<KeysById>>,
    /// When the last fetch started. Held across a fetch, so that concurrent tokens with the
    /// same new `kid` wait for that one fetch instead of each starting their own.
    last_fetch: tokio::sync::Mutex<Instant>,
}

impl JwksKeys {
    /// Fetches the document once (failing if that fails or it has no usable key) and starts
    /// the background refresh on the current tokio runtime. The refresh holds the keys weakly:
    /// it ends once the verifier that owns them is dropped.
    pub(crate) async fn start(
        config: JwksConfig,
        algorithm: JwtAlgorithm,
    ) -> Result<Arc<Self>, JwtConfigError> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.fetch_timeout))
            .http_status_as_error(false)
            // An https document must not be redirected to plain http, where anyone on the
            // path could substitute keys.
            .https_only(config.url.trim_start().starts_with("https://"))
            .build()
            .into();
        let started = Instant::now();
        let keys = fetch(&agent, &config, algorithm)
            .await
            .map_err(|problem| JwtConfigError::JwksUnavailable { url: config.redacted_url(), problem })?;
        let jwks = Arc::new(Self {
            config,
            algorithm,
            agent,
            current: RwLock::new(Arc::new(keys)),
            last_fetch: tokio::sync::Mutex::new(started),
        });
        tokio::spawn(refresh_periodically(Arc::downgrade(&jwks)));
        Ok(jwks)
    }

    /// The URL, without credentials, for `Debug`.
    pub(crate) fn redacted_url(&self) -> String {
        self.config.redacted_url()
    }

    /// The key named `kid` among those already fetched.
    pub(crate) fn cached(&self, kid: &str) -> Option<DecodingKey> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).get(kid).cloned()
    }

    /// The key named `kid`, fetching the document again if it is unknown and the last fetch
    /// is at least `min_refetch_interval` old. While a fetch is under way an unknown `kid`
    /// fails at once: a storm of tokens naming made-up keys never queues behind a fetch.
    pub(crate) async fn key_for(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        let unknown = || AuthError::InvalidToken("unknown key".to_owned());
        let Ok(mut last_fetch) = self.last_fetch.try_lock() else { return Err(unknown()) };
        // Whoever held the lock before may have fetched the key we need.
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        if last_fetch.elapsed() >= self.config.min_refetch_interval {
            *last_fetch = Instant::now();
            self.refresh("a token names an unknown kid").await;
        }
        drop(last_fetch);
        self.cached(kid).ok_or_else(unknown)
    }

    /// Fetches the document and replaces the keys; on failure keeps the old ones and warns.
    async fn refresh(&self, why: &'static str) {
        match fetch(&self.agent, &self.config, self.algorithm).await {
            Ok(keys) => {
                let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
                let mut kids: Vec<&str> = keys.keys().map(String::as_str).collect();
                kids.sort_unstable();
                // A rotation is worth a line in the log; an unchanged document is not.
                if keys.len() != current.len() || keys.keys().any(|kid| !current.contains_key(kid)) {
                    tracing::info!(url = %self.config.redacted_url(), ?kids, why, "JWT keys from the JWKS URL changed");
                } else {
                    tracing::debug!(url = %self.config.redacted_url(), ?kids, why, "JWT keys from the JWKS URL unchanged");
                }
                *current = Arc::new(keys);
            }
            Err(problem) => tracing::warn!(
                url = %self.config.redacted_url(),
                %problem,
                why,
                "cannot refresh the JWT keys from the JWKS URL; keeping the keys already known"
            ),
        }
    }
}

/// Fetches the document every `refresh_interval` until the keys are dropped.
async fn refresh_periodically(jwks: std::sync::Weak<JwksKeys>) {
    let Some(interval) = jwks.upgrade().map(|jwks| jwks.config.refresh_interval) else {
        return;
    };
    loop {
        tokio::time::sleep(interval).await;
        let Some(jwks) = jwks.upgrade() else {
            return;
        };
        let mut last_fetch = jwks.last_fetch.lock().await;
        *last_fetch = Instant::now();
        jwks.refresh("scheduled").await;
    }
}

/// Fetches and reads the document on a blocking thread: ureq blocks, an async worker must not.
async fn fetch(
    agent: &ureq::Agent,
    config: &JwksConfig,
    algorithm: JwtAlgorithm,
) -> Result<KeysById, JwksProblem> {
    let agent = agent.clone();
    let url = config.url.trim().to_owned();
    let limit = config.max_document_bytes;
    tokio::task::spawn_blocking(move || usable_keys(&download(&agent, &url, limit)?, algorithm))
        .await
        .map_err(|_| JwksProblem::FetchAborted)?
}

fn download(agent: &ureq::Agent, url: &str, limit: u64) -> Result<Vec<u8>, JwksProblem> {
    let mut response = agent
        .get(url)
        .header("Accept", "application/json")
        .call()
        .map_err(|error| JwksProblem::Unreachable(error.to_string()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(JwksProblem::Status(status.as_u16()));
    }
    response.body_mut().with_config().limit(limit).read_to_vec().map_err(|error| match error {
        ureq::Error::BodyExceedsLimit(_) => JwksProblem::TooLarge { limit },
        other => JwksProblem::Unreachable(other.to_string()),
    })
}

/// The keys of `document` that can verify `algorithm` tokens, by `kid`.
///
/// Keys are read one by one, so that a key jsonwebtoken cannot parse (a new key type the
/// identity provider also publishes) is skipped rather than making the whole document unusable.
fn usable_keys(document: &[u8], algorithm: JwtAlgorithm) -> Result<KeysById, JwksProblem> {
    #[derive(Deserialize)]
    struct RawJwkSet {
        keys: Vec<serde_json::Value>,
    }
    let raw: RawJwkSet =
        serde_json::from_slice(document).map_err(|error| JwksProblem::NotJwks(error.to_string()))?;
    let mut keys = KeysById::new();
    for jwk in raw.keys.into_iter().filter_map(|value| serde_json::from_value::<Jwk>(value).ok()) {
        let Some(kid) = jwk.common.key_id.clone().filter(|kid| !kid.is_empty()) else {
            continue;
        };
        if let Some(key) = decoding_key_for(&jwk, algorithm) {
            // The first of two keys with one kid wins: which one the issuer meant is unknowable.
            keys.entry(kid).or_insert(key);
        }
    }
    if keys.is_empty() {
        return Err(JwksProblem::NoUsableKey { algorithm });
    }
    Ok(keys)
}

/// The key `jwk` holds if it is a signing key meant for `algorithm`: `kty` (and `crv`) fit
/// it, `use` is absent or `sig`, `key_ops` (if given) allows `verify`, and `alg` is absent or
/// names `algorithm`.
fn decoding_key_for(jwk: &Jwk, algorithm: JwtAlgorithm) -> Option<DecodingKey> {
    let common = &jwk.common;
    if common.public_key_use.as_ref().is_some_and(|key_use| *key_use != PublicKeyUse::Signature) {
        return None;
    }
    if common.key_operations.as_ref().is_some_and(|operations| !operations.contains(&KeyOperations::Verify)) {
        return None;
    }
    let expected_alg = match algorithm {
        JwtAlgorithm::RS256 => KeyAlgorithm::RS256,
        JwtAlgorithm::ES256 => KeyAlgorithm::ES256,
        JwtAlgorithm::HS256 => return None,
    };
    if common.key_algorithm.is_some_and(|alg| alg != expected_alg) {
        return None;
    }
    let type_fits = match (&jwk.algorithm, algorithm) {
        (AlgorithmParameters::RSA(_), JwtAlgorithm::RS256) => true,
        (AlgorithmParameters::EllipticCurve(ec), JwtAlgorithm::ES256) => ec.curve == EllipticCurve::P256,
        _ => false,
    };
    if !type_fits {
        return None;
    }
    DecodingKey::from_jwk(jwk).ok().filter(|key| verifies_with(key, algorithm))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// Test-only public keys (see tests/keys/README.md), without kid, use or alg.
    fn test_key(file_text: &str, extra: Value) -> Value {
        let mut jwk: Value = serde_json::from_str(file_text).unwrap();
        jwk.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        jwk
    }

    fn rsa(extra: Value) -> Value {
        test_key(include_str!("../tests/keys/test-only-rs256-public.jwk.json"), extra)
    }

    fn ec(extra: Value) -> Value {
        test_key(include_str!("../tests/keys/test-only-es256-public.jwk.json"), extra)
    }

    fn document(keys: Value) -> Vec<u8> {
        json!({ "keys": keys }).to_string().into_bytes()
    }

    fn kids(keys: &KeysById) -> Vec<&str> {
        let mut kids: Vec<_> = keys.keys().map(String::as_str).collect();
        kids.sort_unstable();
        kids
    }

    #[test]
    fn only_signing_keys_of_the_configured_type_are_kept() {
        let mixed = document(json!([
            rsa(json!({ "kid": "rsa" })),
            rsa(json!({ "kid": "rsa-sig", "alg": "RS256", "use": "sig", "key_ops": ["verify"] })),
            rsa(json!({ "kid": "rsa-enc", "use": "enc" })),
            rsa(json!({ "kid": "rsa-pss", "alg": "PS256" })),
            rsa(json!({ "kid": "rsa-sign-only", "key_ops": ["sign"] })),
            rsa(json!({})),
            { "kty": "oct", "k": "dGVzdC1vbmx5IHNlY3JldCwgMzIrIGJ5dGVzIGxvbmc", "kid": "oct" },
            { "kty": "AKP", "alg": "ML-DSA-44", "pub": "AAAA", "kid": "unknown-type" },
            ec(json!({ "kid": "ec" })),
            ec(json!({ "kid": "ec-es384", "alg": "ES384" })),
        ]));
        assert_eq!(kids(&usable_keys(&mixed, JwtAlgorithm::RS256).unwrap()), ["rsa", "rsa-sig"]);
        assert_eq!(kids(&usable_keys(&mixed, JwtAlgorithm::ES256).unwrap()), ["ec"]);
    }

    #[test]
    fn a_document_without_a_usable_key_or_not_a_jwks_is_refused() {
        let only_enc = document(json!([rsa(json!({ "kid": "enc", "use": "enc" }))]));
        assert_eq!(
            usable_keys(&only_enc, JwtAlgorithm::RS256).unwrap_err(),
            JwksProblem::NoUsableKey { algorithm: JwtAlgorithm::RS256 }
        );
        assert!(matches!(usable_keys(b"<html>", JwtAlgorithm::RS256), Err(JwksProblem::NotJwks(_))));
        assert!(matches!(usable_keys(b"{\"keys\": 3}", JwtAlgorithm::RS256), Err(JwksProblem::NotJwks(_))));
    }
}
