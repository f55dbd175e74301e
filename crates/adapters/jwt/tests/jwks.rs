//! Keys from a JWKS document (docs/api.md, "Keys from a JWKS document"), served by a tiny HTTP server on
//! 127.0.0.1 that each test starts, counts requests on and changes the document of.
//!
//! The key pairs under `tests/keys/` are test-only keys; their JWK forms are beside them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use evo_jwt::{
    JwksConfig, JwksProblem, JwtAlgorithm, JwtConfig, JwtConfigError, JwtVerifier, VerificationKey,
};
use evo_ports::{AuthError, TokenVerifier};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const ISSUER: &str = "https://idp.test.invalid/";
const AUDIENCE: &str = "evo-sessions";
/// Long enough that nothing happens by itself during a test.
const NEVER: Duration = Duration::from_secs(3600);

// ---- the JWKS server ----

/// What the server answers: a status and a body.
#[derive(Clone)]
struct Answer {
    status: u16,
    body: String,
    /// How long the server waits before it answers.
    delay: Duration,
}

/// An HTTP/1.1 server on 127.0.0.1 that answers every request with the current [`Answer`]
/// and closes the connection.
struct JwksServer {
    address: SocketAddr,
    answer: Arc<Mutex<Answer>>,
    requests: Arc<AtomicUsize>,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl JwksServer {
    fn start(document: Value) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let answer =
            Arc::new(Mutex::new(Answer { status: 200, body: document.to_string(), delay: Duration::ZERO }));
        let requests = Arc::new(AtomicUsize::new(0));
        let stopping = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let (answer, requests, stopping) = (answer.clone(), requests.clone(), stopping.clone());
            move || {
                for stream in listener.incoming() {
                    if stopping.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let (answer, requests) = (answer.clone(), requests.clone());
                    std::thread::spawn(move || answer_one(stream, &answer, &requests));
                }
            }
        });
        Self { address, answer, requests, stopping, thread: Some(thread) }
    }

    fn url(&self) -> String {
        format!("http://{}/.well-known/jwks.json", self.address)
    }

    fn serve(&self, document: Value) {
        *self.answer.lock().unwrap() =
            Answer { status: 200, body: document.to_string(), delay: Duration::ZERO };
    }

    fn serve_slowly(&self, document: Value, delay: Duration) {
        *self.answer.lock().unwrap() = Answer { status: 200, body: document.to_string(), delay };
    }

    fn fail_with(&self, status: u16) {
        *self.answer.lock().unwrap() =
            Answer { status, body: "{\"error\":\"down\"}".to_owned(), delay: Duration::ZERO };
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Waits (at most 10 s) until the server has answered `count` requests.
    async fn wait_for_requests(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.requests() < count {
            assert!(Instant::now() < deadline, "only {} requests, expected {count}", self.requests());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.address);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request head, counts it, and writes the current answer. The count goes up
/// before the answer is written, so that a client that has its answer sees it counted.
fn answer_one(mut stream: TcpStream, answer: &Mutex<Answer>, requests: &AtomicUsize) {
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(read) => head.extend_from_slice(&buffer[..read]),
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    requests.fetch_add(1, Ordering::SeqCst);
    let answer = answer.lock().unwrap().clone();
    std::thread::sleep(answer.delay);
    let response = format!(
        "HTTP/1.1 {} Test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        answer.status,
        answer.body.len(),
        answer.body
    );
    // A client that gave up (a test of time-outs or size limits) is no failure of the server.
    let _ = stream.write_all(response.as_bytes());
}

// ---- keys and tokens ----

fn key_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/keys").join(file)
}

fn key_bytes(file: &str) -> Vec<u8> {
    std::fs::read(key_path(file)).unwrap()
}

/// The committed JWK form of a test-only public key, with `extra` members (kid, use, alg...).
fn jwk(file: &str, extra: Value) -> Value {
    let mut jwk: Value = serde_json::from_slice(&key_bytes(file)).unwrap();
    jwk.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    jwk
}

fn rsa_a(kid: &str) -> Value {
    jwk("test-only-rs256-public.jwk.json", json!({ "kid": kid, "use": "sig", "alg": "RS256" }))
}

fn rsa_b(kid: &str) -> Value {
    jwk("test-only-rs256-b-public.jwk.json", json!({ "kid": kid, "use": "sig", "alg": "RS256" }))
}

fn ec_key(kid: &str) -> Value {
    jwk("test-only-es256-public.jwk.json", json!({ "kid": kid, "use": "sig", "alg": "ES256" }))
}

fn jwks(keys: &[Value]) -> Value {
    json!({ "keys": keys })
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn claims() -> Value {
    json!({ "sub": "ann@example.com", "iss": ISSUER, "aud": AUDIENCE, "iat": now(), "exp": now() + 3600 })
}

fn sign(algorithm: Algorithm, kid: Option<&str>, key: &EncodingKey) -> String {
    let mut header = Header::new(algorithm);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, &claims(), key).unwrap()
}

fn signed_by_a(kid: &str) -> String {
    sign(
        Algorithm::RS256,
        Some(kid),
        &EncodingKey::from_rsa_pem(&key_bytes("test-only-rs256-private.pem")).unwrap(),
    )
}

fn signed_by_b(kid: &str) -> String {
    sign(
        Algorithm::RS256,
        Some(kid),
        &EncodingKey::from_rsa_pem(&key_bytes("test-only-rs256-b-private.pem")).unwrap(),
    )
}

/// An RS256 token naming `kid`, with a signature of the right size that nothing made.
fn unsigned_rs256(kid: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(json!({ "alg": "RS256", "typ": "JWT", "kid": kid }).to_string());
    let payload = URL_SAFE_NO_PAD.encode(claims().to_string());
    format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode([7u8; 256]))
}

fn signed_by_ec(kid: &str) -> String {
    sign(
        Algorithm::ES256,
        Some(kid),
        &EncodingKey::from_ec_pem(&key_bytes("test-only-es256-private.pem")).unwrap(),
    )
}

fn jwks_config(
    server: &JwksServer,
    refresh_interval: Duration,
    min_refetch_interval: Duration,
) -> JwksConfig {
    let mut jwks = JwksConfig::new(server.url());
    jwks.refresh_interval = refresh_interval;
    jwks.min_refetch_interval = min_refetch_interval;
    jwks
}

fn config(algorithm: JwtAlgorithm, jwks: JwksConfig) -> JwtConfig {
    let mut config = JwtConfig::new(algorithm, VerificationKey::Jwks(jwks));
    config.issuer = Some(ISSUER.to_owned());
    config.audience = Some(AUDIENCE.to_owned());
    config
}

async fn rs256_verifier(
    server: &JwksServer,
    refresh_interval: Duration,
    min_refetch: Duration,
) -> JwtVerifier {
    JwtVerifier::connect(config(JwtAlgorithm::RS256, jwks_config(server, refresh_interval, min_refetch)))
        .await
        .unwrap()
}

fn refused(reason: &str) -> Result<String, AuthError> {
    Err(AuthError::InvalidToken(reason.to_owned()))
}

async fn verify(verifier: &JwtVerifier, token: &str) -> Result<String, AuthError> {
    verifier.verify(token).await.map(|actor| actor.user_id)
}

fn accepted() -> Result<String, AuthError> {
    Ok("ann@example.com".to_owned())
}

// ---- the tests ----

#[tokio::test]
async fn the_identity_provider_rotates_keys_without_a_restart() {
    let server = JwksServer::start(jwks(&[rsa_a("key-a")]));
    let min_refetch = Duration::from_millis(200);
    let verifier = rs256_verifier(&server, NEVER, min_refetch).await;
    assert_eq!(server.requests(), 1, "fetched once at start-up");
    assert_eq!(verify(&verifier, &signed_by_a("key-a")).await, accepted());
    assert_eq!(server.requests(), 1, "a known kid needs no fetch");

    // The provider publishes key B only and starts signing with it.
    server.serve(jwks(&[rsa_b("key-b")]));
    assert_eq!(verify(&verifier, &signed_by_a("key-a")).await, accepted(), "until a fetch, A is still known");
    let token_b = signed_by_b("key-b");
    assert_eq!(
        verifier.verify_at(&token_b, now()).map(|actor| actor.user_id),
        refused("unknown key"),
        "verify_at never fetches"
    );
    assert_eq!(server.requests(), 1);

    tokio::time::sleep(min_refetch + Duration::from_millis(50)).await;
    assert_eq!(verify(&verifier, &token_b).await, accepted(), "kid B fetched on demand");
    assert_eq!(server.requests(), 2);
    assert_eq!(verify(&verifier, &token_b).await, accepted());
    assert_eq!(server.requests(), 2, "and kept");

    // A is gone from the document: refused now, by the same verifier.
    assert_eq!(verify(&verifier, &signed_by_a("key-a")).await, refused("unknown key"));
    // Key A under B's kid: the kid picks the key, the signature does not match it.
    assert_eq!(verify(&verifier, &signed_by_a("key-b")).await, refused("bad signature"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_kids_fetches_at_most_once_per_interval() {
    // Made before the verifier, so that its start-up fetch is as recent as can be; a kid
    // that is unknown is refused before any signature check, so these need none.
    let token_a = signed_by_a("key-a");
    let random_kid_tokens: Vec<String> = (0..40).map(|n| unsigned_rs256(&format!("random-{n}"))).collect();
    let server = JwksServer::start(jwks(&[rsa_a("key-a")]));
    let min_refetch = Duration::from_secs(1);
    let verifier = Arc::new(rs256_verifier(&server, NEVER, min_refetch).await);

    let flood = |tokens: Vec<String>| {
        let verifier = verifier.clone();
        async move {
            let mut tasks = tokio::task::JoinSet::new();
            for token in tokens {
                let verifier = verifier.clone();
                tasks.spawn(async move { verify(&verifier, &token).await });
            }
            while let Some(outcome) = tasks.join_next().await {
                assert_eq!(outcome.unwrap(), refused("unknown key"));
            }
        }
    };

    // Within the interval of the start-up fetch: no fetch at all.
    flood(random_kid_tokens.clone()).await;
    assert_eq!(server.requests(), 1);

    // Once the interval is over: one fetch for the whole flood, then none again.
    tokio::time::sleep(min_refetch + Duration::from_millis(100)).await;
    flood(random_kid_tokens.clone()).await;
    assert_eq!(server.requests(), 2);
    flood(random_kid_tokens).await;
    assert_eq!(server.requests(), 2);

    // Known keys are served all along.
    assert_eq!(verify(&verifier, &token_a).await, accepted());
    assert_eq!(server.requests(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_tokens_with_the_same_new_kid_share_one_fetch() {
    let server = JwksServer::start(jwks(&[rsa_a("key-a")]));
    let verifier = Arc::new(rs256_verifier(&server, NEVER, Duration::ZERO).await);
    server.serve(jwks(&[rsa_a("key-a"), rsa_b("key-b")]));
    let token_b = signed_by_b("key-b");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (verifier, token) = (verifier.clone(), token_b.clone());
        tasks.spawn(async move { verify(&verifier, &token).await });
    }
    let mut outcomes = Vec::new();
    while let Some(outcome) = tasks.join_next().await {
        outcomes.push(outcome.unwrap());
    }
    // Those that came while the fetch was under way were refused at once, not queued.
    assert!(outcomes.contains(&accepted()), "the token that fetched is accepted");
    assert!(outcomes.iter().all(|o| *o == accepted() || *o == refused("unknown key")), "{outcomes:?}");
    assert_eq!(server.requests(), 2, "even with no minimum interval, one fetch at a time");
    assert_eq!(verify(&verifier, &token_b).await, accepted(), "the key is known from then on");
}

/// While a fetch is under way (a slow identity provider), a token naming an unknown `kid`
/// is refused at once instead of queuing behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_kid_fails_fast_while_a_fetch_is_under_way() {
    let server = JwksServer::start(jwks(&[rsa_a("key-a")]));
    let verifier = Arc::new(rs256_verifier(&server, NEVER, Duration::ZERO).await);
    server.serve_slowly(jwks(&[rsa_a("key-a"), rsa_b("key-b")]), Duration::from_millis(1500));
    let fetching = {
        let verifier = verifier.clone();
        tokio::spawn(async move { verify(&verifier, &signed_by_b("key-b")).await })
    };
    server.wait_for_requests(2).await;
    let started = Instant::now();
    assert_eq!(verify(&verifier, &unsigned_rs256("made-up")).await, refused("unknown key"));
    assert!(started.elapsed() < Duration::from_millis(300), "refused at once: {:?}", started.elapsed());
    assert_eq!(fetching.await.unwrap(), accepted(), "the fetch itself goes on");
}

#[tokio::test]
async fn the_document_is_refreshed_in_the_background_and_a_failed_refresh_keeps_the_keys() {
    let server = JwksServer::start(jwks(&[rsa_a("key-a")]));
    // No on-demand fetch can happen: only the background refresh can bring key B.
    let verifier = rs256_verifier(&server, Duration::from_millis(150), NEVER).await;
    server.serve(jwks(&[rsa_a("key-a"), rsa_b("key-b")]));
    let token_b = signed_by_b("key-b");
    let deadline = Instant::now() + Duration::from_secs(10);
    while verify(&verifier, &token_b).await != accepted() {
        assert!(Instant::now() < deadline, "key B never arrived; {} requests", server.requests());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(server.requests() >= 2);

    server.fail_with(503);
    let seen = server.requests();
    server.wait_for_requests(seen + 2).await;
    assert_eq!(verify(&verifier, &signed_by_a("key-a")).await, accepted());
    assert_eq!(verify(&verifier, &signed_by_b("key-b")).await, accepted());

    server.serve(json!({ "keys": [] }));
    let seen = server.requests();
    server.wait_for_requests(seen + 2).await;
    assert_eq!(verify(&verifier, &signed_by_b("key-b")).await, accepted(), "an empty set is a failure too");
}

#[tokio::test]
async fn dropping_the_verifier_stops_the_background_refresh() {
    let server = JwksServer::start(jwks(&[rsa_a("key-a")]));
    let verifier = rs256_verifier(&server, Duration::from_millis(100), NEVER).await;
    drop(verifier);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn keys_of_the_wrong_type_or_use_are_not_used() {
    let document = jwks(&[
        rsa_b("key-b"),
        // Key A, but published for encryption, for another algorithm, or without a use.
        jwk("test-only-rs256-public.jwk.json", json!({ "kid": "a-enc", "use": "enc" })),
        jwk("test-only-rs256-public.jwk.json", json!({ "kid": "a-pss", "alg": "PS256" })),
        jwk("test-only-rs256-public.jwk.json", json!({ "kid": "a-plain" })),
        ec_key("ec"),
        json!({ "kty": "oct", "kid": "oct", "k": URL_SAFE_NO_PAD.encode("test-only HS256 secret, 32+ bytes long") }),
    ]);
    let server = JwksServer::start(document);
    let verifier = rs256_verifier(&server, NEVER, NEVER).await;
    assert_eq!(verify(&verifier, &signed_by_a("a-enc")).await, refused("unknown key"));
    assert_eq!(verify(&verifier, &signed_by_a("a-pss")).await, refused("unknown key"));
    assert_eq!(verify(&verifier, &signed_by_a("a-plain")).await, accepted(), "use and alg are optional");
    assert_eq!(verify(&verifier, &signed_by_a("ec")).await, refused("unknown key"));
    assert_eq!(verify(&verifier, &signed_by_a("oct")).await, refused("unknown key"));

    // The same document for ES256: only the P-256 key fits.
    let es256 =
        JwtVerifier::connect(config(JwtAlgorithm::ES256, jwks_config(&server, NEVER, NEVER))).await.unwrap();
    assert_eq!(verify(&es256, &signed_by_ec("ec")).await, accepted());
    assert_eq!(verify(&es256, &signed_by_ec("key-b")).await, refused("unknown key"));
}

#[tokio::test]
async fn algorithm_confusion_is_refused_before_any_fetch() {
    let hmac_secret = "test-only HS256 secret, 32+ bytes long";
    let server = JwksServer::start(jwks(&[
        rsa_a("key-a"),
        json!({ "kty": "oct", "kid": "oct", "k": URL_SAFE_NO_PAD.encode(hmac_secret) }),
    ]));
    // No minimum interval: any token that reached the key lookup with an unknown kid would fetch.
    let verifier = rs256_verifier(&server, NEVER, Duration::ZERO).await;

    // HS256 "signed" with the RSA public key's bytes, the classic confusion attack.
    let public_key_bytes = key_bytes("test-only-rs256-public.pem");
    let with_public_key = sign(Algorithm::HS256, Some("key-a"), &EncodingKey::from_secret(&public_key_bytes));
    assert_eq!(verify(&verifier, &with_public_key).await, refused("wrong algorithm"));
    let with_oct_key = sign(Algorithm::HS256, Some("oct"), &EncodingKey::from_secret(hmac_secret.as_bytes()));
    assert_eq!(verify(&verifier, &with_oct_key).await, refused("wrong algorithm"));
    let payload = URL_SAFE_NO_PAD.encode(claims().to_string());
    for alg in ["none", "HS256", "ES256", "PS256"] {
        let header =
            URL_SAFE_NO_PAD.encode(json!({ "alg": alg, "kid": format!("random-{alg}") }).to_string());
        assert_eq!(
            verify(&verifier, &format!("{header}.{payload}.")).await,
            refused("wrong algorithm"),
            "{alg}"
        );
    }
    assert_eq!(server.requests(), 1, "no token of another algorithm made us fetch");

    assert_eq!(verify(&verifier, &signed_by_a("key-a")).await, accepted());
}

#[tokio::test]
async fn tokens_without_a_kid_or_with_bad_claims_are_refused() {
    let server = JwksServer::start(jwks(&[rsa_a("key-a")]));
    let verifier = rs256_verifier(&server, NEVER, NEVER).await;
    let private_a = EncodingKey::from_rsa_pem(&key_bytes("test-only-rs256-private.pem")).unwrap();
    assert_eq!(verify(&verifier, &sign(Algorithm::RS256, None, &private_a)).await, refused("missing kid"));
    assert_eq!(
        verify(&verifier, &sign(Algorithm::RS256, Some(""), &private_a)).await,
        refused("missing kid")
    );
    assert_eq!(verify(&verifier, "").await, Err(AuthError::MissingToken));
    assert_eq!(verify(&verifier, "not.a.token").await, refused("malformed"));

    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("key-a".to_owned());
    let wrong_audience =
        json!({ "sub": "ann@example.com", "iss": ISSUER, "aud": "other", "exp": now() + 60 });
    let token = jsonwebtoken::encode(&header, &wrong_audience, &private_a).unwrap();
    assert_eq!(verify(&verifier, &token).await, refused("wrong audience"));
    let expired = json!({ "sub": "ann@example.com", "iss": ISSUER, "aud": AUDIENCE, "exp": now() - 3600 });
    let token = jsonwebtoken::encode(&header, &expired, &private_a).unwrap();
    assert_eq!(verify(&verifier, &token).await, refused("expired"));
}

#[tokio::test]
async fn start_up_fails_clearly_when_the_document_cannot_be_had() {
    let unavailable = |error: JwtConfigError| match error {
        JwtConfigError::JwksUnavailable { url, problem } => (url, problem),
        other => panic!("expected JwksUnavailable, got {other}"),
    };

    // Nothing listening.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}/jwks.json", closed.local_addr().unwrap());
    drop(closed);
    let error = JwtVerifier::connect(config(JwtAlgorithm::RS256, JwksConfig::new(closed_url.clone())))
        .await
        .unwrap_err();
    assert!(
        error.to_string().starts_with(&format!("cannot fetch the JWT keys from the JWKS URL {closed_url}: "))
    );
    assert!(matches!(unavailable(error).1, JwksProblem::Unreachable(_)));

    let server = JwksServer::start(jwks(&[rsa_a("key-a")]));
    let connect = |jwks: JwksConfig| JwtVerifier::connect(config(JwtAlgorithm::RS256, jwks));

    server.fail_with(500);
    let error = connect(JwksConfig::new(server.url())).await.unwrap_err();
    assert!(error.to_string().ends_with("the server answered HTTP 500"), "{error}");

    server.serve(jwks(&[rsa_a("key-a"), rsa_b("key-b")]));
    let mut small = JwksConfig::new(server.url());
    small.max_document_bytes = 512;
    assert_eq!(unavailable(connect(small).await.unwrap_err()).1, JwksProblem::TooLarge { limit: 512 });

    server.serve(jwks(&[ec_key("ec")]));
    assert_eq!(
        unavailable(connect(JwksConfig::new(server.url())).await.unwrap_err()).1,
        JwksProblem::NoUsableKey { algorithm: JwtAlgorithm::RS256 }
    );

    server.serve(json!(["not", "a", "jwks"]));
    assert!(matches!(
        unavailable(connect(JwksConfig::new(server.url())).await.unwrap_err()).1,
        JwksProblem::NotJwks(_)
    ));
}

#[tokio::test]
async fn a_jwks_is_for_public_key_algorithms_and_needs_connect() {
    let server = JwksServer::start(jwks(&[rsa_a("key-a")]));
    let hs256 = JwtConfig::new(JwtAlgorithm::HS256, VerificationKey::Jwks(JwksConfig::new(server.url())));
    assert!(matches!(JwtVerifier::connect(hs256.clone()).await, Err(JwtConfigError::JwksForSharedSecret)));
    assert!(matches!(JwtVerifier::new(hs256), Err(JwtConfigError::JwksForSharedSecret)));
    let rs256 = config(JwtAlgorithm::RS256, JwksConfig::new(server.url()));
    assert!(matches!(JwtVerifier::new(rs256), Err(JwtConfigError::JwksNeedsConnect)));

    let mut empty_audience = config(JwtAlgorithm::RS256, JwksConfig::new(server.url()));
    empty_audience.audience = Some(" ".to_owned());
    assert!(matches!(
        JwtVerifier::connect(empty_audience).await,
        Err(JwtConfigError::EmptyRequirement { claim: "aud" })
    ));
    assert_eq!(server.requests(), 0, "refused before fetching");

    // A PEM configuration still works through connect.
    let pem =
        VerificationKey::from_pem_file(key_path("test-only-rs256-public.pem"), JwtAlgorithm::RS256).unwrap();
    let verifier = JwtVerifier::connect(JwtConfig::new(JwtAlgorithm::RS256, pem)).await.unwrap();
    assert_eq!(verify(&verifier, &signed_by_a("any")).await, accepted());
}
