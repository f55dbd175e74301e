//! Minting HS256 tokens: the claims written and what is refused.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use evo_domain::IdError;
use evo_jwt::{MintError, MintRequest, Secret, mint_hs256};
use serde_json::{Value, json};

const SECRET: &str = "test-only HS256 secret, 32+ bytes long";
const NOW: u64 = 1_800_000_000;

fn secret() -> Secret {
    Secret::from(SECRET.to_owned())
}

fn decoded_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[test]
fn a_minted_token_carries_exactly_the_requested_claims() {
    let request = MintRequest {
        sub: "ann@example.com".to_owned(),
        name: Some("Ann Example".to_owned()),
        roles: vec!["User".to_owned()],
        account_ids: vec!["acme".to_owned()],
        ttl: Duration::from_secs(900),
        issuer: Some("evo-tests".to_owned()),
        audience: Some("evo-sessions".to_owned()),
    };
    let token = mint_hs256(&secret(), &request, NOW).unwrap();
    assert_eq!(decoded_part(&token, 0), json!({ "alg": "HS256", "typ": "JWT" }));
    assert_eq!(
        decoded_part(&token, 1),
        json!({
            "sub": "ann@example.com",
            "name": "Ann Example",
            "roles": ["User"],
            "accountIds": ["acme"],
            "iat": NOW,
            "exp": NOW + 900,
            "iss": "evo-tests",
            "aud": "evo-sessions",
        })
    );
}

#[test]
fn optional_claims_are_left_out_when_absent() {
    let token =
        mint_hs256(&secret(), &MintRequest::new("ann@example.com", Duration::from_secs(60)), NOW).unwrap();
    assert_eq!(
        decoded_part(&token, 1),
        json!({ "sub": "ann@example.com", "roles": [], "accountIds": [], "iat": NOW, "exp": NOW + 60 })
    );
}

#[test]
fn minting_refuses_what_the_verifier_would_refuse() {
    let valid = MintRequest::new("ann@example.com", Duration::from_secs(60));

    let short = Secret::from("x".repeat(31));
    assert_eq!(mint_hs256(&short, &valid, NOW), Err(MintError::SecretTooShort { actual: 31 }));

    let blank_sub = MintRequest { sub: " ".to_owned(), ..valid.clone() };
    assert_eq!(mint_hs256(&secret(), &blank_sub, NOW), Err(MintError::EmptySubject));

    let zero_ttl = MintRequest { ttl: Duration::from_millis(999), ..valid.clone() };
    assert_eq!(mint_hs256(&secret(), &zero_ttl, NOW), Err(MintError::ZeroTtl));

    let bad_account = MintRequest { account_ids: vec!["acme".to_owned(), "acme'--".to_owned()], ..valid };
    let error = mint_hs256(&secret(), &bad_account, NOW).unwrap_err();
    assert_eq!(
        error,
        MintError::InvalidAccountId { value: "acme'--".to_owned(), reason: IdError::InvalidCharacter }
    );
    assert_eq!(
        error.to_string(),
        "invalid account ID \"acme'--\": may only hold letters, digits, '-', '_' and '.'"
    );
}

#[test]
fn minting_errors_never_show_the_secret() {
    let short = Secret::from("short but secret".to_owned());
    let error =
        mint_hs256(&short, &MintRequest::new("ann@example.com", Duration::from_secs(60)), NOW).unwrap_err();
    assert!(!format!("{error} {error:?}").contains("short but secret"));
}
