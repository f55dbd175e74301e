//! What the reliability tests share: the built binary started in a folder of its own, tokens
//! minted with its `token` subcommand, and a raw HTTP/1.1 client over `std::net::TcpStream`
//! that sends bytes exactly as written (ureq refuses to send malformed requests) and reads
//! responses without trusting the server to be well-behaved.

#![allow(dead_code)] // each test file uses a part of it

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub mod receiver;
pub mod sse;

pub const BINARY: &str = env!("CARGO_BIN_EXE_evo-sessions");

/// The HS256 secret every test server uses, so tokens can be minted before it starts.
pub const SECRET: &str = "reliability-tests-secret-0123456789abcdef";

/// A folder of its own for each test, removed at the end.
#[derive(Debug)]
pub struct Workdir(pub PathBuf);

impl Workdir {
    pub fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("evo-reliability-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binary with a clean environment: only PATH, the test secret and quiet logs.
pub fn evo(dir: &Path, database_url: &str) -> Command {
    let mut command = Command::new(BINARY);
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("EVO_LOG", "error")
        .env("EVO_JWT_SECRET", SECRET)
        .env("DATABASE_URL", database_url);
    command
}

/// A migrated PostgreSQL database of its own for one test (dropped on drop).
pub fn test_database() -> evo_postgres::test_support::TestDatabase {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(evo_postgres::test_support::TestDatabase::create())
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The server's log goes with the test's output when `EVO_TEST_SERVER_LOG` is set (actix
/// logs every malformed request at ERROR, which the hostile tests send by the hundred).
fn server_log() -> Stdio {
    if std::env::var_os("EVO_TEST_SERVER_LOG").is_some() { Stdio::inherit() } else { Stdio::null() }
}

/// A running `evo-sessions serve`, killed on drop.
#[derive(Debug)]
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub base: String,
}

impl Server {
    /// Starts `serve` on a free port with `env` on top of [`evo`]'s, and waits until
    /// `/health/ready` answers 200 (at most 60 s: the machine is shared).
    pub fn start(dir: &Path, database_url: &str, env: &[(&str, String)]) -> Self {
        Self::start_on(dir, database_url, free_port(), env)
    }

    /// [`Server::start`] on a given port (a restart on the port clients know).
    pub fn start_on(dir: &Path, database_url: &str, port: u16, env: &[(&str, String)]) -> Self {
        let mut command = evo(dir, database_url);
        command.arg("serve").env("EVO_BIND", format!("127.0.0.1:{port}"));
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.stdout(Stdio::null()).stderr(server_log()).spawn().expect("the binary starts");
        let mut server = Self { child, port, base: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(response) = agent().get(&format!("{}/health/ready", server.base)).call()
                && response.status() == 200
            {
                return server;
            }
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("the server exited before it was ready: {status:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the server did not become ready on {}", server.base);
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A ureq agent that returns 4xx and 5xx as responses, with a global timeout.
pub fn agent() -> ureq::Agent {
    agent_with_timeout(Duration::from_secs(15))
}

pub fn agent_with_timeout(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(timeout)).build().into()
}

/// A token minted by the binary's own `token` subcommand.
pub fn mint(dir: &Path, database_url: &str, sub: &str, roles: &[&str], accounts: &[&str]) -> String {
    let mut command = evo(dir, database_url);
    command.args(["token", "--sub", sub, "--name", sub.split('@').next().unwrap_or(sub)]);
    for role in roles {
        command.args(["--role", role]);
    }
    for account in accounts {
        command.args(["--account", account]);
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "token: {}", String::from_utf8_lossy(&output.stderr));
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token:?}");
    token
}

/// One HTTP response as read off the wire.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Reads one response (Content-Length, chunked, or until close) from a buffered stream.
pub fn read_response(reader: &mut BufReader<TcpStream>) -> std::io::Result<RawResponse> {
    let mut status_line = String::new();
    if reader.read_line(&mut status_line)? == 0 {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed before a response"));
    }
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not a status line: {status_line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed inside the head"));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let find = |name: &str| headers.iter().find(|(n, _): &&(String, String)| n.eq_ignore_ascii_case(name));
    let mut body = Vec::new();
    if let Some((_, length)) = find("content-length") {
        let length: usize = length.parse().map_err(std::io::Error::other)?;
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    } else if find("transfer-encoding").is_some_and(|(_, v)| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line)?;
            let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(std::io::Error::other)?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if status != 204 && status != 304 && !(100..200).contains(&status) {
        reader.read_to_end(&mut body)?;
    }
    Ok(RawResponse { status, headers, body })
}

/// Opens a connection to the server with read and write timeouts.
pub fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

/// Sends `request` exactly as given on a new connection and reads one response. A write
/// error (the server may refuse and close before reading it all) is ignored: the response,
/// if any, is what counts.
pub fn send_raw(port: u16, request: &[u8]) -> std::io::Result<RawResponse> {
    let mut stream = connect(port);
    let _ = stream.write_all(request);
    let _ = stream.flush();
    let mut reader = BufReader::new(stream);
    read_response(&mut reader)
}

/// A request's bytes: the request line, `Host`, the given headers, `Content-Length` when
/// there is a body, and `Connection: close`.
pub fn build_request(method: &str, target: &str, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n").into_bytes();
    for (name, value) in headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    if !body.is_empty() || method == "POST" {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(body);
    out
}

/// Waits for `port` to accept connections again (after a restart).
pub fn wait_for_port(port: u16, within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on {port}");
}

/// Status, `ETag` and JSON body of one call to `base`.
pub fn call(
    base: &str,
    token: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, Option<String>, Value) {
    let url = format!("{base}{path}");
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(&url)
        .header("Authorization", format!("Bearer {token}"));
    let request = headers.iter().fold(request, |request, (name, value)| request.header(*name, *value));
    let response = match body {
        Some(body) => {
            agent().run(request.header("Content-Type", "application/json").body(body.to_string()).unwrap())
        }
        None => agent().run(request.body(()).unwrap()),
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let etag = response.headers().get("etag").map(|v| v.to_str().unwrap().to_owned());
    let text = response.into_body().read_to_string().unwrap();
    (status, etag, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub fn create(base: &str, token: &str, members: usize) -> String {
    let mut list = vec![json!({"identity": "+15550009999"})];
    list.extend((0..members).map(|m| json!({"identity": format!("agent{m}@example.com")})));
    let (status, _, body) =
        call(base, token, "POST", "/sessions", &[], Some(json!({"accountId": "acme", "members": list})));
    assert_eq!(status, 200, "{body}");
    body["id"].as_str().unwrap().to_owned()
}
