//! The built `evo-sessions` binary, end to end on the SQLite default: start it, mint a token
//! with its own `token` subcommand, create a session, remove a member, stop it, start it
//! again and find the change still there.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{BINARY, Workdir, agent, free_port};

/// The binary with no configuration at all: nothing from the test's environment leaks in.
fn evo(dir: &Path) -> Command {
    let mut command = Command::new(BINARY);
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("EVO_LOG", "warn");
    command
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(dir: &Path, port: u16) -> Self {
        let child = evo(dir)
            .arg("serve")
            .env("EVO_BIND", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts");
        let server = Self { child, base: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let ready = agent().get(&format!("{}/health/ready", server.base)).call();
            if ready.is_ok_and(|response| response.status() == 200) {
                return server;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the server did not become ready on {}", server.base);
    }

    /// SIGTERM, as an orchestrator would, and wait for a clean exit.
    fn stop(mut self) {
        let status = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "graceful stop exits 0, not {status:?}");
                return;
            }
            assert!(Instant::now() < deadline, "the server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mint(dir: &Path) -> String {
    let output = evo(dir)
        .args(["token", "--sub", "ann@example.com", "--name", "Ann", "--account", "demo"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let token = String::from_utf8(output.stdout).unwrap();
    assert_eq!(token.trim().split('.').count(), 3, "the token alone on standard output: {token:?}");
    token.trim().to_owned()
}

/// `serve` with `env` on a free port, once ready: the process (the caller stops it), its
/// base URL and port.
fn serve_ready(dir: &Path, env: &[(&str, &str)]) -> (Child, String, u16) {
    let port = free_port();
    let mut command = evo(dir);
    command.arg("serve").env("EVO_BIND", format!("127.0.0.1:{port}"));
    for (name, value) in env {
        command.env(name, value);
    }
    let child = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !agent().get(&format!("{base}/health/ready")).call().is_ok_and(|r| r.status() == 200) {
        assert!(Instant::now() < deadline, "the server did not become ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    (child, base, port)
}

fn json_of(response: ureq::http::Response<ureq::Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.into_body().read_to_string().unwrap();
    (status, serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}")))
}

#[test]
fn serves_on_the_sqlite_default_and_keeps_changes_across_restarts() {
    let dir = Workdir::new("e2e");
    let port = free_port();
    let server = Server::start(&dir.0, port);
    assert!(dir.0.join("data/evo-sessions.db").exists(), "the default database is data/evo-sessions.db");
    let secret = dir.0.join("data/jwt-secret");
    let mode_of = |path: &std::path::Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(path).unwrap().permissions()) & 0o777
    };
    assert_eq!(mode_of(&secret), 0o600, "the dev secret is private");
    // The store's folder and files are its owner's only (docs/operations.md).
    assert_eq!(mode_of(&dir.0.join("data")), 0o700, "data/ is private");
    for file in ["evo-sessions.db", "evo-sessions.db-wal", "evo-sessions.db-shm"] {
        assert_eq!(mode_of(&dir.0.join("data").join(file)), 0o600, "{file} is private");
    }

    let token = mint(&dir.0);
    let auth = format!("Bearer {token}");
    let (status, created) = json_of(
        agent()
            .post(&format!("{}/sessions", server.base))
            .header("Authorization", &auth)
            .send_json(json!({
                "accountId": "demo",
                "members": [
                    {"identity": "+1 555 010 4477", "displayName": "Maria"},
                    {"identity": "bob@example.com", "displayName": "Bob"}
                ]
            }))
            .unwrap(),
    );
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();

    let (status, removed) = json_of(
        agent()
            .delete(&format!("{}/sessions/{id}/members/bob%40example.com", server.base))
            .header("Authorization", &auth)
            .call()
            .unwrap(),
    );
    assert_eq!(status, 200, "{removed}");
    assert_eq!(removed["members"].as_array().unwrap().len(), 1);
    server.stop();

    let server = Server::start(&dir.0, port);
    let (status, session) = json_of(
        agent().get(&format!("{}/sessions/{id}", server.base)).header("Authorization", &auth).call().unwrap(),
    );
    assert_eq!(status, 200, "{session}");
    let members: Vec<_> =
        session["members"].as_array().unwrap().iter().map(|m| m["identity"].clone()).collect();
    assert_eq!(members, [json!("+15550104477")]);
    let log: Vec<_> = session["log"].as_array().unwrap().iter().map(|e| e["message"].clone()).collect();
    assert_eq!(log.last().unwrap(), &json!("Ann removed Bob from the chat"));
    assert_eq!(session["lastModifiedBy"], json!("ann@example.com"));

    // A token signed with another secret is refused by the restarted server too.
    let (status, body) = json_of(
        agent()
            .get(&format!("{}/sessions/{id}", server.base))
            .header("Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl")
            .call()
            .unwrap(),
    );
    assert_eq!(status, 401);
    assert_eq!(body["responseStatus"]["errorCode"], json!("TokenException"));
    server.stop();
}

#[test]
fn help_explains_every_subcommand() {
    let dir = Workdir::new("help");
    let help = evo(&dir.0).arg("--help").output().unwrap();
    let text = String::from_utf8(help.stdout).unwrap();
    for word in ["serve", "migrate", "token", "seed", "DATABASE_URL", "EVO_JWT_SECRET"] {
        assert!(text.contains(word), "--help lacks {word}:\n{text}");
    }
    for subcommand in ["serve", "migrate", "token", "seed"] {
        let output = evo(&dir.0).args([subcommand, "--help"]).output().unwrap();
        assert!(output.status.success(), "{subcommand} --help");
        assert!(!output.stdout.is_empty());
    }
    let token_help =
        String::from_utf8(evo(&dir.0).args(["token", "--help"]).output().unwrap().stdout).unwrap();
    for flag in ["--sub", "--name", "--role", "--account", "--ttl"] {
        assert!(token_help.contains(flag), "token --help lacks {flag}");
    }
}

#[test]
fn refuses_to_start_on_postgres_without_a_key_and_says_why() {
    let dir = Workdir::new("nokey");
    let output =
        evo(&dir.0).env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("authentication off"), "{stderr}");
}

#[test]
fn seed_prints_ids_and_a_curl_line() {
    let dir = Workdir::new("seed");
    let output = evo(&dir.0).arg("seed").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.starts_with("Seeded 5 sessions:"), "{text}");
    assert!(text.contains("curl -s -X DELETE"), "{text}");
}

#[test]
fn help_never_shows_the_database_url_it_was_given() {
    let dir = Workdir::new("help-secrets");
    let output = evo(&dir.0)
        .env("DATABASE_URL", "postgres://evo:hunter2-db-password@db.internal:5432/evo")
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("DATABASE_URL"), "{text}");
    assert!(!text.contains("hunter2"), "--help shows the database password:\n{text}");
}

#[test]
fn refuses_a_development_secret_that_others_can_read() {
    use std::os::unix::fs::PermissionsExt;

    let dir = Workdir::new("secret-mode");
    std::fs::create_dir_all(dir.0.join("data")).unwrap();
    let secret = dir.0.join("data/jwt-secret");
    std::fs::write(&secret, "a-development-secret-of-enough-bytes-0123456789").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = evo(&dir.0).args(["token", "--sub", "ann@example.com"]).output().unwrap();
    assert!(!output.status.success(), "a world-readable secret was used");
    assert!(output.stdout.is_empty(), "no token is minted with it");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("chmod 600"), "{stderr}");
    assert!(!stderr.contains("a-development-secret"), "the secret itself is never shown: {stderr}");

    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let output = evo(&dir.0).args(["token", "--sub", "ann@example.com"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn a_configured_audience_is_checked_on_the_sqlite_default_too() {
    let dir = Workdir::new("dev-audience");
    // Minted before the audience is configured: signed with the same development secret,
    // but without `aud`.
    let without_audience = mint(&dir.0);
    let with_audience = String::from_utf8(
        evo(&dir.0)
            .env("EVO_JWT_AUDIENCE", "evo-sessions")
            .args(["token", "--sub", "ann@example.com", "--account", "demo"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let (mut child, base, _) = serve_ready(&dir.0, &[("EVO_JWT_AUDIENCE", "evo-sessions")]);
    let get = |token: &str| {
        json_of(
            agent()
                .get(&format!("{base}/sessions/no-such-session"))
                .header("Authorization", &format!("Bearer {}", token.trim()))
                .call()
                .unwrap(),
        )
    };
    let (status, body) = get(&without_audience);
    assert_eq!(status, 401, "a token without the configured audience: {body}");
    assert_eq!(body["responseStatus"]["message"], json!("Invalid token: missing aud"));
    assert_eq!(get(&with_audience).0, 404, "a token for this audience is authenticated");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn sigterm_makes_it_unready_at_once_and_it_serves_until_the_drain_ends() {
    let dir = Workdir::new("drain");
    let token = mint(&dir.0);
    let (mut child, base, port) = serve_ready(&dir.0, &[("EVO_SHUTDOWN_DRAIN_SECS", "2")]);
    let signalled = Instant::now();
    assert!(Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap().success());
    std::thread::sleep(Duration::from_millis(300));
    let (ready, body) = json_of(agent().get(&format!("{base}/health/ready")).call().unwrap());
    assert_eq!(ready, 503, "unready at once: {body}");
    assert_eq!(body["responseStatus"]["errorCode"], json!("ServiceUnavailable"));
    // Still serving every other request while the balancer notices.
    let (status, _) = json_of(
        agent()
            .get(&format!("{base}/sessions/no-such-session"))
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .unwrap(),
    );
    assert_eq!(status, 404, "requests are still served during the drain");
    let exit = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(signalled.elapsed() < Duration::from_secs(20), "it did not stop after the drain");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    assert!(signalled.elapsed() >= Duration::from_secs(2), "it stopped before the drain ended");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "the listener is closed");
}

#[test]
fn a_retried_keyed_request_gets_the_first_answer_byte_for_byte() {
    let dir = Workdir::new("idempotency");
    let token = mint(&dir.0);
    let (mut child, base, _) = serve_ready(&dir.0, &[]);
    let send = |method: &str, path: &str, key: &str, body: Option<&str>| {
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{base}{path}"))
            .header("Authorization", format!("Bearer {token}"))
            .header("Idempotency-Key", key)
            .header("Content-Type", "application/json");
        let response = agent().run(request.body(body.unwrap_or("").to_owned()).unwrap()).unwrap();
        let replayed = response.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap().to_owned());
        let status = response.status().as_u16();
        (status, replayed, response.into_body().read_to_string().unwrap())
    };
    let create = r#"{"accountId":"demo","members":[{"identity":"+15550104477"},{"identity":"bob@example.com"},{"identity":"eve@example.com"}]}"#;
    let (status, replayed, first) = send("POST", "/sessions", "create-1", Some(create));
    assert_eq!((status, replayed), (200, None), "{first}");
    let (status, replayed, again) = send("POST", "/sessions", "create-1", Some(create));
    assert_eq!((status, replayed.as_deref()), (200, Some("true")));
    assert_eq!(again, first, "the same answer, byte for byte: no second session");
    let id = serde_json::from_str::<Value>(&first).unwrap()["id"].as_str().unwrap().to_owned();

    let remove = format!("/sessions/{id}/members/bob@example.com");
    let (status, _, removed) = send("DELETE", &remove, "remove-bob", None);
    assert_eq!(status, 200, "{removed}");
    let (status, replayed, again) = send("DELETE", &remove, "remove-bob", None);
    assert_eq!(
        (status, replayed.as_deref(), again.as_str()),
        (200, Some("true"), removed.as_str()),
        "not 404 MemberNotFound"
    );
    let (status, _, reused) =
        send("DELETE", &format!("/sessions/{id}/members/eve@example.com"), "remove-bob", None);
    assert_eq!(status, 422, "{reused}");
    assert!(reused.contains("IdempotencyKeyReused"), "{reused}");
    let (status, _, malformed) = send("DELETE", &remove, "", None);
    assert_eq!(status, 400, "{malformed}");
    assert!(malformed.contains("\"fieldName\":\"Idempotency-Key\""), "{malformed}");
    let (_, _, session) = send(
        "POST",
        &format!("/sessions/{id}/members"),
        "invite-zed",
        Some(r#"{"memberToAdd":"zed@example.com"}"#),
    );
    let members: Vec<String> = serde_json::from_str::<Value>(&session).unwrap()["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["identity"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(members, ["+15550104477", "eve@example.com", "zed@example.com"], "Bob was removed once");
    let _ = child.kill();
    let _ = child.wait();
}
