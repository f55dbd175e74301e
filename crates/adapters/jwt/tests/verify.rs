//! Verification of HS256, RS256 and ES256 tokens: what is accepted, what is refused and why.
//!
//! The RS256 and ES256 key pairs under `tests/keys/` are test-only keys.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use evo_domain::{AccountId, Actor};
use evo_jwt::{
    JwtAlgorithm, JwtConfig, JwtConfigError, JwtVerifier, MintRequest, PublicKeyProblem, Secret,
    VerificationKey, mint_hs256,
};
use evo_ports::{AuthError, TokenVerifier};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const SECRET: &str = "test-only HS256 secret, 32+ bytes long";
const NOW: u64 = 1_800_000_000;
const HOUR: u64 = 3600;

fn secret() -> Secret {
    Secret::from(SECRET.to_owned())
}

fn key_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/keys").join(file)
}

fn key_bytes(file: &str) -> Vec<u8> {
    std::fs::read(key_path(file)).unwrap()
}

fn hs256_verifier() -> JwtVerifier {
    JwtVerifier::new(JwtConfig::hs256(secret())).unwrap()
}

fn rs256_verifier() -> JwtVerifier {
    let key =
        VerificationKey::from_pem_file(key_path("test-only-rs256-public.pem"), JwtAlgorithm::RS256).unwrap();
    JwtVerifier::new(JwtConfig::new(JwtAlgorithm::RS256, key)).unwrap()
}

fn es256_verifier() -> JwtVerifier {
    let key =
        VerificationKey::from_pem_file(key_path("test-only-es256-public.pem"), JwtAlgorithm::ES256).unwrap();
    JwtVerifier::new(JwtConfig::new(JwtAlgorithm::ES256, key)).unwrap()
}

fn sign(algorithm: Algorithm, key: &EncodingKey, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(algorithm), claims, key).unwrap()
}

fn sign_hs256(claims: &Value) -> String {
    sign(Algorithm::HS256, &EncodingKey::from_secret(SECRET.as_bytes()), claims)
}

fn sign_rs256(claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(&key_bytes("test-only-rs256-private.pem")).unwrap();
    sign(Algorithm::RS256, &key, claims)
}

fn sign_es256(claims: &Value) -> String {
    let key = EncodingKey::from_ec_pem(&key_bytes("test-only-es256-private.pem")).unwrap();
    sign(Algorithm::ES256, &key, claims)
}

/// A token with a hand-written header and an empty signature, as an attacker would send it.
fn unsigned_token(header: &Value, claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(header.to_string());
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.")
}

/// The smallest valid claims: `sub` and `exp`.
fn minimal_claims() -> Value {
    json!({ "sub": "ann@example.com", "exp": NOW + HOUR })
}

fn full_claims() -> Value {
    json!({
        "sub": "ann@example.com",
        "name": "Ann Example",
        "roles": ["User", "Supervisor"],
        "accountIds": ["acme", "globex-2"],
        "iat": NOW - 10,
        "nbf": NOW - 10,
        "exp": NOW + HOUR,
    })
}

fn full_actor() -> Actor {
    Actor {
        user_id: "ann@example.com".to_owned(),
        name: "Ann Example".to_owned(),
        roles: vec!["User".to_owned(), "Supervisor".to_owned()],
        account_ids: vec![AccountId::parse("acme").unwrap(), AccountId::parse("globex-2").unwrap()],
    }
}

fn minimal_actor() -> Actor {
    Actor {
        user_id: "ann@example.com".to_owned(),
        name: "ann@example.com".to_owned(),
        roles: Vec::new(),
        account_ids: Vec::new(),
    }
}

fn refused(reason: &str) -> Result<Actor, AuthError> {
    Err(AuthError::InvalidToken(reason.to_owned()))
}

fn with(mut claims: Value, field: &str, value: Value) -> Value {
    claims[field] = value;
    claims
}

fn without(mut claims: Value, field: &str) -> Value {
    claims.as_object_mut().unwrap().remove(field);
    claims
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

// --- accepted tokens ---

#[test]
fn a_valid_hs256_token_gives_its_actor() {
    assert_eq!(hs256_verifier().verify_at(&sign_hs256(&full_claims()), NOW), Ok(full_actor()));
}

#[test]
fn name_defaults_to_sub_and_roles_and_accounts_to_empty() {
    assert_eq!(hs256_verifier().verify_at(&sign_hs256(&minimal_claims()), NOW), Ok(minimal_actor()));
    let explicit_empty =
        json!({ "sub": "ann@example.com", "exp": NOW + HOUR, "roles": [], "accountIds": [] });
    assert_eq!(hs256_verifier().verify_at(&sign_hs256(&explicit_empty), NOW), Ok(minimal_actor()));
}

#[test]
fn a_token_minted_by_mint_hs256_verifies() {
    let request = MintRequest {
        sub: "ann@example.com".to_owned(),
        name: Some("Ann Example".to_owned()),
        roles: vec!["User".to_owned(), "Supervisor".to_owned()],
        account_ids: vec!["acme".to_owned(), "globex-2".to_owned()],
        ttl: Duration::from_secs(HOUR),
        issuer: Some("evo-tests".to_owned()),
        audience: Some("evo-sessions".to_owned()),
    };
    let token = mint_hs256(&secret(), &request, NOW).unwrap();
    let mut config = JwtConfig::hs256(secret());
    config.issuer = Some("evo-tests".to_owned());
    config.audience = Some("evo-sessions".to_owned());
    let verifier = JwtVerifier::new(config).unwrap();
    assert_eq!(verifier.verify_at(&token, NOW), Ok(full_actor()));
    // `exp` is `iat` + ttl: valid through the leeway after it, refused once past it.
    assert_eq!(verifier.verify_at(&token, NOW + HOUR + 30), Ok(full_actor()));
    assert_eq!(verifier.verify_at(&token, NOW + HOUR + 31), refused("expired"));
}

#[test]
fn a_valid_rs256_token_gives_its_actor() {
    assert_eq!(rs256_verifier().verify_at(&sign_rs256(&full_claims()), NOW), Ok(full_actor()));
    assert_eq!(rs256_verifier().verify_at(&sign_rs256(&minimal_claims()), NOW), Ok(minimal_actor()));
}

#[test]
fn a_valid_es256_token_gives_its_actor() {
    assert_eq!(es256_verifier().verify_at(&sign_es256(&full_claims()), NOW), Ok(full_actor()));
    assert_eq!(es256_verifier().verify_at(&sign_es256(&minimal_claims()), NOW), Ok(minimal_actor()));
}

#[tokio::test]
async fn the_port_verifies_against_the_system_clock() {
    let verifier: &dyn TokenVerifier = &hs256_verifier();
    let mut request = MintRequest::new("ann@example.com", Duration::from_secs(60));
    request.roles = vec!["User".to_owned()];
    let fresh = mint_hs256(&secret(), &request, unix_now()).unwrap();
    let actor = verifier.verify(&fresh).await.unwrap();
    assert_eq!(actor.user_id, "ann@example.com");
    assert_eq!(actor.roles, ["User"]);
    let stale = mint_hs256(&secret(), &request, unix_now() - HOUR).unwrap();
    assert_eq!(verifier.verify(&stale).await, refused("expired"));
    assert_eq!(verifier.verify("").await, Err(AuthError::MissingToken));
}

#[test]
fn an_audience_claim_is_ignored_when_none_is_configured() {
    let token = sign_hs256(&with(minimal_claims(), "aud", json!("someone-else")));
    assert_eq!(hs256_verifier().verify_at(&token, NOW), Ok(minimal_actor()));
}

#[test]
fn fractional_numeric_dates_are_accepted() {
    let claims =
        json!({ "sub": "ann@example.com", "exp": (NOW + HOUR) as f64 + 0.5, "iat": NOW as f64 - 0.25 });
    assert_eq!(hs256_verifier().verify_at(&sign_hs256(&claims), NOW), Ok(minimal_actor()));
}

// --- missing and malformed tokens ---

#[test]
fn no_token_is_missing_not_invalid() {
    assert_eq!(hs256_verifier().verify_at("", NOW), Err(AuthError::MissingToken));
    assert_eq!(hs256_verifier().verify_at("   ", NOW), Err(AuthError::MissingToken));
}

#[test]
fn garbage_is_malformed() {
    let verifier = hs256_verifier();
    for garbage in ["garbage", "a.b", "a.b.c", "..", "not.base64!.at-all", "e30.e30.e30", "a.b.c.d"] {
        assert_eq!(verifier.verify_at(garbage, NOW), refused("malformed"), "{garbage:?}");
    }
}

#[test]
fn a_token_beyond_the_size_limit_is_refused_unread() {
    let huge = "a".repeat(evo_jwt::MAX_TOKEN_BYTES + 1);
    assert_eq!(hs256_verifier().verify_at(&huge, NOW), refused("too long"));
}

#[test]
fn claims_of_the_wrong_type_are_malformed() {
    let verifier = hs256_verifier();
    let cases = [
        with(minimal_claims(), "roles", json!("User")),
        with(minimal_claims(), "roles", json!([1, 2])),
        with(minimal_claims(), "accountIds", json!("acme")),
        with(minimal_claims(), "exp", json!("tomorrow")),
        with(minimal_claims(), "sub", json!(42)),
    ];
    for claims in cases {
        assert_eq!(verifier.verify_at(&sign_hs256(&claims), NOW), refused("malformed"), "{claims}");
    }
}

// --- signature and algorithm ---

#[test]
fn a_token_signed_with_another_secret_has_a_bad_signature() {
    let other = EncodingKey::from_secret(b"another test-only secret of 32+ bytes");
    let token = sign(Algorithm::HS256, &other, &minimal_claims());
    assert_eq!(hs256_verifier().verify_at(&token, NOW), refused("bad signature"));
}

#[test]
fn a_tampered_payload_has_a_bad_signature() {
    let genuine = sign_hs256(&minimal_claims());
    let forged_payload =
        URL_SAFE_NO_PAD.encode(with(minimal_claims(), "roles", json!(["Admin"])).to_string());
    let mut parts = genuine.split('.');
    let (header, _, signature) = (parts.next().unwrap(), parts.next(), parts.next().unwrap());
    let forged = format!("{header}.{forged_payload}.{signature}");
    assert_eq!(hs256_verifier().verify_at(&forged, NOW), refused("bad signature"));
}

/// `header.payload` of `genuine` with the signature of another token: the signature is
/// well formed and made by the right key, but not over this payload.
fn with_signature_of(genuine: &str, other: &str) -> String {
    let (signed_part, _) = genuine.rsplit_once('.').unwrap();
    let (_, other_signature) = other.rsplit_once('.').unwrap();
    format!("{signed_part}.{other_signature}")
}

#[test]
fn rs256_and_es256_signatures_over_another_payload_are_bad() {
    let other_claims = with(minimal_claims(), "roles", json!(["Admin"]));
    let grafted = with_signature_of(&sign_rs256(&minimal_claims()), &sign_rs256(&other_claims));
    assert_eq!(rs256_verifier().verify_at(&grafted, NOW), refused("bad signature"));
    let grafted = with_signature_of(&sign_es256(&minimal_claims()), &sign_es256(&other_claims));
    assert_eq!(es256_verifier().verify_at(&grafted, NOW), refused("bad signature"));
}

#[test]
fn alg_none_is_refused_by_every_verifier() {
    let verifiers = [hs256_verifier(), rs256_verifier(), es256_verifier()];
    for alg in ["none", "None", "NONE"] {
        let token = unsigned_token(&json!({ "alg": alg, "typ": "JWT" }), &full_claims());
        for verifier in &verifiers {
            assert_eq!(verifier.verify_at(&token, NOW), refused("wrong algorithm"), "{alg} / {verifier:?}");
        }
    }
}

#[test]
fn an_rs256_public_key_used_as_an_hs256_secret_is_refused() {
    // Algorithm confusion: the attacker knows the public key and HMACs with its PEM bytes.
    let public_pem = key_bytes("test-only-rs256-public.pem");
    let forged = sign(Algorithm::HS256, &EncodingKey::from_secret(&public_pem), &full_claims());
    assert_eq!(rs256_verifier().verify_at(&forged, NOW), refused("wrong algorithm"));

    // Same with the ES256 public key.
    let public_pem = key_bytes("test-only-es256-public.pem");
    let forged = sign(Algorithm::HS256, &EncodingKey::from_secret(&public_pem), &full_claims());
    assert_eq!(es256_verifier().verify_at(&forged, NOW), refused("wrong algorithm"));
}

#[test]
fn any_algorithm_but_the_configured_one_is_refused() {
    let hs512 = sign(Algorithm::HS512, &EncodingKey::from_secret(SECRET.as_bytes()), &minimal_claims());
    assert_eq!(hs256_verifier().verify_at(&hs512, NOW), refused("wrong algorithm"));
    assert_eq!(hs256_verifier().verify_at(&sign_rs256(&minimal_claims()), NOW), refused("wrong algorithm"));
    assert_eq!(rs256_verifier().verify_at(&sign_es256(&minimal_claims()), NOW), refused("wrong algorithm"));
    assert_eq!(es256_verifier().verify_at(&sign_rs256(&minimal_claims()), NOW), refused("wrong algorithm"));
    let unknown = unsigned_token(&json!({ "alg": "HS999" }), &minimal_claims());
    assert_eq!(hs256_verifier().verify_at(&unknown, NOW), refused("wrong algorithm"));
}

// --- time claims (leeway 30 s by default) ---

#[test]
fn an_expired_token_is_refused_beyond_the_leeway() {
    let verifier = hs256_verifier();
    let token = sign_hs256(&with(minimal_claims(), "exp", json!(NOW - 31)));
    assert_eq!(verifier.verify_at(&token, NOW), refused("expired"));
    let within_leeway = sign_hs256(&with(minimal_claims(), "exp", json!(NOW - 30)));
    assert_eq!(verifier.verify_at(&within_leeway, NOW), Ok(minimal_actor()));
}

#[test]
fn a_token_before_its_nbf_is_not_yet_valid() {
    let verifier = hs256_verifier();
    let token = sign_hs256(&with(minimal_claims(), "nbf", json!(NOW + 31)));
    assert_eq!(verifier.verify_at(&token, NOW), refused("not yet valid"));
    let within_leeway = sign_hs256(&with(minimal_claims(), "nbf", json!(NOW + 30)));
    assert_eq!(verifier.verify_at(&within_leeway, NOW), Ok(minimal_actor()));
}

#[test]
fn a_token_issued_in_the_future_is_refused() {
    let verifier = hs256_verifier();
    let token = sign_hs256(&with(minimal_claims(), "iat", json!(NOW + 31)));
    assert_eq!(verifier.verify_at(&token, NOW), refused("issued in the future"));
    let within_leeway = sign_hs256(&with(minimal_claims(), "iat", json!(NOW + 30)));
    assert_eq!(verifier.verify_at(&within_leeway, NOW), Ok(minimal_actor()));
}

#[test]
fn the_leeway_is_configurable() {
    let mut config = JwtConfig::hs256(secret());
    config.leeway = Duration::ZERO;
    let strict = JwtVerifier::new(config).unwrap();
    let token = sign_hs256(&with(minimal_claims(), "exp", json!(NOW - 1)));
    assert_eq!(strict.verify_at(&token, NOW), refused("expired"));
    let token = sign_hs256(&with(minimal_claims(), "exp", json!(NOW)));
    assert_eq!(strict.verify_at(&token, NOW), Ok(minimal_actor()));
}

// --- issuer and audience ---

fn verifier_requiring(issuer: Option<&str>, audience: Option<&str>) -> JwtVerifier {
    let mut config = JwtConfig::hs256(secret());
    config.issuer = issuer.map(str::to_owned);
    config.audience = audience.map(str::to_owned);
    JwtVerifier::new(config).unwrap()
}

#[test]
fn the_issuer_is_checked_when_configured() {
    let verifier = verifier_requiring(Some("https://idp.example.com"), None);
    let right = sign_hs256(&with(minimal_claims(), "iss", json!("https://idp.example.com")));
    assert_eq!(verifier.verify_at(&right, NOW), Ok(minimal_actor()));
    let wrong = sign_hs256(&with(minimal_claims(), "iss", json!("https://evil.example.com")));
    assert_eq!(verifier.verify_at(&wrong, NOW), refused("wrong issuer"));
    assert_eq!(verifier.verify_at(&sign_hs256(&minimal_claims()), NOW), refused("missing iss"));
}

#[test]
fn the_audience_is_checked_when_configured() {
    let verifier = verifier_requiring(None, Some("evo-sessions"));
    let right = sign_hs256(&with(minimal_claims(), "aud", json!("evo-sessions")));
    assert_eq!(verifier.verify_at(&right, NOW), Ok(minimal_actor()));
    let among_others = sign_hs256(&with(minimal_claims(), "aud", json!(["billing", "evo-sessions"])));
    assert_eq!(verifier.verify_at(&among_others, NOW), Ok(minimal_actor()));
    let wrong = sign_hs256(&with(minimal_claims(), "aud", json!("billing")));
    assert_eq!(verifier.verify_at(&wrong, NOW), refused("wrong audience"));
    assert_eq!(verifier.verify_at(&sign_hs256(&minimal_claims()), NOW), refused("missing aud"));
}

// --- required and checked claims ---

#[test]
fn a_token_without_sub_is_refused() {
    let verifier = hs256_verifier();
    assert_eq!(verifier.verify_at(&sign_hs256(&without(full_claims(), "sub")), NOW), refused("missing sub"));
    assert_eq!(
        verifier.verify_at(&sign_hs256(&with(full_claims(), "sub", json!(""))), NOW),
        refused("missing sub")
    );
    assert_eq!(
        verifier.verify_at(&sign_hs256(&with(full_claims(), "sub", json!("  "))), NOW),
        refused("missing sub")
    );
    assert_eq!(
        verifier.verify_at(&sign_hs256(&with(full_claims(), "sub", json!(null))), NOW),
        refused("missing sub")
    );
}

#[test]
fn a_token_without_exp_is_refused() {
    let verifier = hs256_verifier();
    assert_eq!(verifier.verify_at(&sign_hs256(&without(full_claims(), "exp")), NOW), refused("missing exp"));
    assert_eq!(
        es256_verifier().verify_at(&sign_es256(&without(full_claims(), "exp")), NOW),
        refused("missing exp")
    );
}

#[test]
fn an_invalid_account_id_invalidates_the_token() {
    let verifier = hs256_verifier();
    for bad in ["acme'--", "", "a b", "é"] {
        let token = sign_hs256(&with(full_claims(), "accountIds", json!(["acme", bad])));
        assert_eq!(verifier.verify_at(&token, NOW), refused("invalid accountIds"), "{bad:?}");
    }
}

/// Every reason a refusal may give: short fixed texts, never anything from the token.
const KNOWN_REASONS: [&str; 13] = [
    "malformed",
    "too long",
    "bad signature",
    "wrong algorithm",
    "expired",
    "not yet valid",
    "issued in the future",
    "wrong issuer",
    "wrong audience",
    "missing sub",
    "missing exp",
    "missing iss",
    "invalid accountIds",
];

#[test]
fn a_refusal_never_echoes_the_token() {
    let verifier = hs256_verifier();
    let tokens = [
        "garbage-token-text".to_owned(),
        sign_hs256(&with(minimal_claims(), "exp", json!(NOW - HOUR))),
        sign_hs256(&with(full_claims(), "accountIds", json!(["acme'--"]))),
    ];
    for token in tokens {
        let Err(AuthError::InvalidToken(reason)) = verifier.verify_at(&token, NOW) else {
            panic!("{token} should be refused");
        };
        assert!(KNOWN_REASONS.contains(&reason.as_str()), "{reason:?}");
    }
}

// --- configuration ---

#[test]
fn a_secret_shorter_than_32_bytes_is_refused_at_construction() {
    let error = JwtVerifier::new(JwtConfig::hs256(Secret::from("x".repeat(31)))).unwrap_err();
    assert!(matches!(error, JwtConfigError::SecretTooShort { actual: 31 }), "{error:?}");
    assert_eq!(error.to_string(), "the HS256 secret must be at least 32 bytes long, but it has 31");
    assert!(JwtVerifier::new(JwtConfig::hs256(Secret::from("x".repeat(32)))).is_ok());
}

#[test]
fn the_debug_of_a_config_and_a_verifier_never_shows_the_secret() {
    let config = JwtConfig::hs256(secret());
    let debug = format!("{config:?}");
    assert!(!debug.contains(SECRET), "{debug}");
    assert!(debug.contains("Secret(***)"), "{debug}");
    let debug = format!("{:?}", JwtVerifier::new(config).unwrap());
    assert!(!debug.contains(SECRET) && !debug.contains("test-only"), "{debug}");
    let error = JwtVerifier::new(JwtConfig::hs256(Secret::from("short secret".to_owned()))).unwrap_err();
    assert!(!format!("{error} {error:?}").contains("short secret"));
}

#[test]
fn a_key_that_does_not_fit_the_algorithm_is_refused() {
    let secret_for_rs256 = JwtConfig::new(JwtAlgorithm::RS256, VerificationKey::SharedSecret(secret()));
    let error = JwtVerifier::new(secret_for_rs256).unwrap_err();
    assert_eq!(error.to_string(), "RS256 verifies with a PEM public key, not a shared secret");

    let pem_for_hs256 = JwtConfig::new(
        JwtAlgorithm::HS256,
        VerificationKey::PublicKeyPem(key_bytes("test-only-rs256-public.pem")),
    );
    let error = JwtVerifier::new(pem_for_hs256).unwrap_err();
    assert_eq!(error.to_string(), "HS256 verifies with a shared secret, not a PEM public key");

    let cases = [
        (
            JwtAlgorithm::ES256,
            "test-only-rs256-public.pem",
            "is not an EC P-256 public key, which ES256 needs",
        ),
        (
            JwtAlgorithm::ES256,
            "test-only-p384-public.pem",
            "is not an EC P-256 public key, which ES256 needs",
        ),
        (JwtAlgorithm::RS256, "test-only-es256-public.pem", "is not an RSA public key, which RS256 needs"),
        (
            JwtAlgorithm::RS256,
            "test-only-rs256-private.pem",
            "holds a private key: configure the public key only",
        ),
        (
            JwtAlgorithm::ES256,
            "test-only-es256-private.pem",
            "holds a private key: configure the public key only",
        ),
        (JwtAlgorithm::RS256, "README.md", "is not a PEM public key (expected -----BEGIN PUBLIC KEY-----)"),
    ];
    for (algorithm, file, problem) in cases {
        let in_memory = JwtConfig::new(algorithm, VerificationKey::PublicKeyPem(key_bytes(file)));
        let error = JwtVerifier::new(in_memory).unwrap_err();
        assert_eq!(error.to_string(), format!("the JWT public key {problem}"), "{algorithm} {file}");

        let error = VerificationKey::from_pem_file(key_path(file), algorithm).unwrap_err();
        let path = key_path(file);
        assert_eq!(error.to_string(), format!("the JWT public key file {} {problem}", path.display()));
    }

    let certificate = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec();
    let error =
        JwtVerifier::new(JwtConfig::new(JwtAlgorithm::RS256, VerificationKey::PublicKeyPem(certificate)))
            .unwrap_err();
    assert!(
        matches!(&error, JwtConfigError::InvalidKey { problem: PublicKeyProblem::UnexpectedBlock { label } } if label == "CERTIFICATE"),
        "{error:?}"
    );
}

#[test]
fn an_unreadable_key_file_is_named_in_the_error() {
    let missing = key_path("no-such-key.pem");
    let error = VerificationKey::from_pem_file(&missing, JwtAlgorithm::RS256).unwrap_err();
    assert!(
        matches!(error, JwtConfigError::UnreadableKeyFile { ref path, .. } if *path == missing),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with(&format!("cannot read the JWT public key file {}: ", missing.display()))
    );

    let error = VerificationKey::from_pem_file(key_path("test-only-rs256-public.pem"), JwtAlgorithm::HS256)
        .unwrap_err();
    assert_eq!(error.to_string(), "HS256 verifies with a shared secret, not a PEM public key");
}

#[test]
fn an_empty_requirement_or_a_large_leeway_is_refused() {
    let mut config = JwtConfig::hs256(secret());
    config.issuer = Some(" ".to_owned());
    assert_eq!(JwtVerifier::new(config).unwrap_err().to_string(), "the required JWT iss must not be empty");

    let mut config = JwtConfig::hs256(secret());
    config.audience = Some(String::new());
    assert_eq!(JwtVerifier::new(config).unwrap_err().to_string(), "the required JWT aud must not be empty");

    let mut config = JwtConfig::hs256(secret());
    config.leeway = Duration::from_secs(301);
    assert_eq!(
        JwtVerifier::new(config).unwrap_err().to_string(),
        "the JWT clock leeway must be at most 300 s, not 301 s"
    );
}
