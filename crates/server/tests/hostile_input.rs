//! Hostile HTTP input against the built binary (SQLite, a folder of its own): over-long IDs,
//! broken percent-encoding, NUL and control characters, SQL and JSON metacharacters, deeply
//! nested and oversized JSON, wrong content types, duplicated query parameters, unknown
//! formats, header, cookie and token floods, request smuggling shapes.
//!
//! Every answer must be a 4xx: with the ResponseStatus JSON body when the request reached
//! the service, or a body-less 400/413/431 when actix's HTTP/1 parser refused the bytes
//! before any route ran. Never a 5xx, never a hang; the server keeps serving, a keep-alive
//! connection survives refusals, and the seeded session is byte-for-byte the same after.

mod support;

use std::io::{BufReader, Write};

use serde_json::{Value, json};
use support::{RawResponse, Server, Workdir, agent, build_request, connect, mint, read_response, send_raw};

/// What a case may answer besides a JSON 4xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// Reaches the service: a 4xx with a ResponseStatus body.
    Api,
    /// May be refused by the HTTP/1 parser first: also a body-less 400, 413 or 431.
    Protocol,
}

#[derive(Debug)]
struct Case {
    name: String,
    request: Vec<u8>,
    refusal: Refusal,
}

struct Fixture {
    _dir: Workdir,
    server: Server,
    token: String,
    session: String,
    before: Value,
}

impl Fixture {
    fn start(name: &str) -> Self {
        let dir = Workdir::new(name);
        let url = format!("sqlite://{}", dir.0.join("hostile.db").display());
        let server = Server::start(&dir.0, &url, &[]);
        let token = mint(&dir.0, &url, "ann@example.com", &["User"], &["demo"]);
        let response = agent()
            .post(&format!("{}/sessions", server.base))
            .header("Authorization", &format!("Bearer {token}"))
            .send_json(json!({
                "accountId": "demo",
                "displayName": "Support",
                "members": [
                    {"identity": "+15550104477", "displayName": "Maria"},
                    {"identity": "bob@example.com", "displayName": "Bob"},
                    {"identity": "carol@example.com"}
                ]
            }))
            .unwrap();
        assert_eq!(response.status(), 200);
        let created: Value = serde_json::from_str(&response.into_body().read_to_string().unwrap()).unwrap();
        let session = created["id"].as_str().unwrap().to_owned();
        let mut fixture = Self { _dir: dir, server, token, session, before: Value::Null };
        fixture.before = fixture.snapshot();
        fixture
    }

    fn auth(&self) -> (&'static str, String) {
        ("Authorization", format!("Bearer {}", self.token))
    }

    fn snapshot(&self) -> Value {
        let response = agent()
            .get(&format!("{}/sessions/{}", self.server.base, self.session))
            .header("Authorization", &format!("Bearer {}", self.token))
            .call()
            .unwrap();
        assert_eq!(response.status(), 200, "the seeded session answers");
        serde_json::from_str(&response.into_body().read_to_string().unwrap()).unwrap()
    }

    /// A request with the token, `Connection: close`, and `Content-Type: application/json`
    /// when it has a body.
    fn api(&self, method: &str, target: &str, body: &[u8]) -> Vec<u8> {
        let mut headers = vec![self.auth()];
        if !body.is_empty() {
            headers.push(("Content-Type", "application/json".to_owned()));
        }
        build_request(method, target, &headers, body)
    }

    fn case(&self, name: impl Into<String>, request: Vec<u8>, refusal: Refusal) -> Case {
        Case { name: name.into(), request, refusal }
    }

    /// Sends every case; returns the statuses seen, for the report.
    fn run(&mut self, cases: &[Case]) -> Vec<(String, u16)> {
        let mut seen = Vec::new();
        for case in cases {
            let response = send_raw(self.server.port, &case.request)
                .unwrap_or_else(|error| panic!("{}: no response ({error})", case.name));
            check_refusal(case, &response, &self.token);
            assert!(self.server.is_running(), "{}: the server died", case.name);
            seen.push((case.name.clone(), response.status));
        }
        let live = agent().get(&format!("{}/health/live", self.server.base)).call().unwrap();
        assert_eq!(live.status(), 200, "the server still serves");
        assert_eq!(self.snapshot(), self.before, "the seeded session did not change");
        seen
    }
}

fn check_refusal(case: &Case, response: &RawResponse, token: &str) {
    let name = &case.name;
    assert!(
        (400..500).contains(&response.status),
        "{name}: a 4xx, not {} {}",
        response.status,
        response.text()
    );
    for (header, value) in &response.headers {
        assert!(
            !header.eq_ignore_ascii_case("x-injected") && !value.contains("injected"),
            "{name}: a header was injected: {header}: {value}"
        );
    }
    // Refusals never echo a token, and never grow with the attacker's input.
    let text = response.text();
    assert!(!text.contains(&token[token.len() - 20..]), "{name}: the token is echoed");
    assert!(response.body.len() < 16 * 1024, "{name}: a {}-byte error body", response.body.len());
    match response.json() {
        Some(body) => {
            let status = &body["responseStatus"];
            assert!(
                status["errorCode"].as_str().is_some_and(|code| !code.is_empty()),
                "{name}: errorCode in {body}"
            );
            assert!(status["message"].is_string(), "{name}: message in {body}");
            assert!(status["errors"].is_array(), "{name}: errors in {body}");
            assert_eq!(response.header("content-type"), Some("application/json"), "{name}: errors are JSON");
        }
        None => {
            assert_eq!(
                case.refusal,
                Refusal::Protocol,
                "{name}: {} without a ResponseStatus body: {text:?}",
                response.status
            );
            assert!(
                [400, 413, 431].contains(&response.status),
                "{name}: a protocol refusal is 400, 413 or 431, not {}",
                response.status
            );
        }
    }
}

fn long(n: usize) -> String {
    "a".repeat(n)
}

#[test]
fn hostile_paths_and_query_strings_are_refused_with_json_errors() {
    let mut f = Fixture::start("paths");
    let s = f.session.clone();
    let long_id = long(10_000);
    let long_email = format!("{}@example.com", long(10_000));
    let mut cases = Vec::new();
    let mut api = |name: &str, method: &str, target: String| {
        cases.push(f.case(name, f.api(method, &target, b""), Refusal::Api));
    };

    // Over-long IDs, in the path and in the query.
    api("long session id in path", "GET", format!("/sessions/{long_id}"));
    api("long session id, end", "DELETE", format!("/sessions/{long_id}"));
    api("long member in path", "DELETE", format!("/sessions/{s}/members/{long_id}"));
    api("long email member in path", "DELETE", format!("/sessions/{s}/members/{long_email}"));
    api("long session id in query", "GET", format!("/api/GetSession?sessionId={long_id}"));
    api(
        "long member in query",
        "DELETE",
        format!("/api/DeleteChatMember?sessionId={s}&memberToRemove={long_email}"),
    );
    api("long query name", "GET", format!("/sessions/{s}x?{long_id}=1"));
    api(
        "long invite in query",
        "POST",
        format!("/api/InviteChatMember?sessionId={s}&memberToAdd={long_email}"),
    );

    // Invalid percent-encoding.
    for bad in ["%FF", "%", "%E0%A4", "%C0%AF", "%zz", "%2", "%%41"] {
        api(&format!("{bad} as session"), "GET", format!("/sessions/{bad}"));
        api(&format!("{bad} as member"), "DELETE", format!("/sessions/{s}/members/{bad}"));
        api(&format!("{bad} in query session"), "GET", format!("/api/GetSession?sessionId={bad}"));
        api(
            &format!("{bad} in query member"),
            "DELETE",
            format!("/api/DeleteChatMember?sessionId={s}&memberToRemove=bob{bad}@example.com"),
        );
        api(&format!("{bad} as query name"), "DELETE", format!("/api/DeleteChatMember?{bad}={s}"));
    }

    // NUL and control characters, percent-encoded (raw ones are in the protocol test).
    for control in ["%00", "%01", "%07", "%0A", "%0D%0A", "%1B%5B2J", "%7F", "%C2%85"] {
        api(
            &format!("{control} in member"),
            "DELETE",
            format!("/sessions/{s}/members/bob{control}@example.com"),
        );
        api(
            &format!("{control} in phone"),
            "DELETE",
            format!("/sessions/{s}/members/%2B1555{control}0104477"),
        );
        api(&format!("{control} in session"), "GET", format!("/sessions/{s}{control}"));
        api(
            &format!("{control} in query member"),
            "DELETE",
            format!("/api/DeleteChatMember?sessionId={s}&memberToRemove=bob{control}%40example.com"),
        );
    }
    // A CRLF that would inject a header if it were ever copied into one.
    api("header injection in session", "GET", "/sessions/x%0D%0AX-Injected:%20injected".to_owned());
    api(
        "header injection in member",
        "DELETE",
        format!("/sessions/{s}/members/x%0D%0ASet-Cookie:%20injected=1@example.com"),
    );

    // SQL and JSON metacharacters in identities and IDs.
    for meta in [
        "'%20OR%201=1%20--",
        "%27%20OR%20%271%27=%271",
        "%22%7D%5D",
        "bob@example.com'%20OR%201=1%20--",
        "bob@example.com%22%7D%5D",
        "%27;%20DROP%20TABLE%20sessions;%20--@x",
        "%5C%22%5C%5C",
        "*",
        "%25",
        "..%2F..%2Fetc%2Fpasswd",
    ] {
        api(&format!("{meta} as member"), "DELETE", format!("/sessions/{s}/members/{meta}"));
        api(&format!("{meta} as session"), "GET", format!("/sessions/{meta}"));
        api(&format!("{meta} as session to end"), "DELETE", format!("/sessions/{meta}"));
        api(
            &format!("{meta} as query member"),
            "DELETE",
            format!("/api/DeleteChatMember?sessionId={s}&memberToRemove={meta}"),
        );
        // With an `@` and no white space these are valid user IDs by docs/api.md, "Member
        // identities" (`bob@example.com"}]` is one); metacharacters_in_data_are_stored_verbatim has them.
        if !meta.contains('@') {
            api(
                &format!("{meta} as invitee"),
                "POST",
                format!("/api/InviteChatMember?sessionId={s}&memberToAdd={meta}"),
            );
        }
    }

    // Duplicated query parameters: whichever wins, nothing valid is asked.
    api(
        "duplicate member",
        "DELETE",
        format!(
            "/api/DeleteChatMember?sessionId={s}&memberToRemove=nobody@example.com&memberToRemove=%2B15550104477"
        ),
    );
    api(
        "duplicate member, other order",
        "DELETE",
        format!(
            "/api/DeleteChatMember?sessionId={s}&memberToRemove=%2B15550104477&memberToRemove=nobody@example.com"
        ),
    );
    api(
        "duplicate session",
        "DELETE",
        "/api/DeleteChatMember?sessionId=nope&sessionId=nope2&memberToRemove=bob@example.com".to_owned(),
    );
    api(
        "case-variant duplicates",
        "DELETE",
        "/api/EndSession?sessionId=nope&SESSIONID=nope2&SessionId=nope3".to_owned(),
    );
    api("a hundred duplicates", "GET", format!("/api/GetSession?{}", "sessionId=nope&".repeat(100)));
    api("duplicate format", "GET", "/sessions/nope?format=csv&format=xml&format=".to_owned());
    api("empty names and values", "GET", "/api/GetSession?&&=&==&sessionId".to_owned());

    // Unknown formats and reply prefixes.
    api("format=xml", "GET", "/sessions/nope?format=xml".to_owned());
    api("format=xml on DELETE", "DELETE", format!("/sessions/{s}/members/nobody@example.com?format=xml"));
    api(".xml suffix", "GET", "/sessions/nope.xml".to_owned());
    api("/xml/reply", "GET", "/xml/reply/GetSession?sessionId=nope".to_owned());
    api("/csv/reply unknown operation", "GET", "/csv/reply/DropTables".to_owned());
    api("format=%00", "GET", "/sessions/nope?format=%00".to_owned());
    api("long format", "GET", format!("/sessions/nope?format={long_id}"));

    // Methods and routes that do not exist.
    cases.push(f.case("PATCH", f.api("PATCH", &format!("/sessions/{s}"), b""), Refusal::Api));
    cases.push(f.case(
        "PUT member",
        f.api("PUT", &format!("/sessions/{s}/members/bob@example.com"), b""),
        Refusal::Api,
    ));
    cases.push(f.case("OPTIONS", f.api("OPTIONS", &format!("/sessions/{s}"), b""), Refusal::Api));
    cases.push(f.case("unknown method", f.api("FROBNICATE", &format!("/sessions/{s}"), b""), Refusal::Api));
    cases.push(f.case(
        "dot segments",
        f.api("DELETE", &format!("/sessions/{s}/members/../../sessions/{s}"), b""),
        Refusal::Api,
    ));
    cases.push(f.case("double slashes", f.api("DELETE", &format!("//sessions//{s}//"), b""), Refusal::Api));

    // Without a token, hostile paths are still only 401s.
    cases.push(f.case(
        "no token, long path",
        build_request("DELETE", &format!("/sessions/{s}/members/{long_email}"), &[], b""),
        Refusal::Api,
    ));

    let seen = f.run(&cases);
    assert!(seen.len() >= 140, "{} cases", seen.len());
    eprintln!("hostile paths and queries: {} cases, statuses {:?}", seen.len(), histogram(&seen));
}

#[test]
fn hostile_bodies_are_refused_with_json_errors() {
    let mut f = Fixture::start("bodies");
    let s = f.session.clone();
    let invite = format!("/sessions/{s}/members");
    let mut cases = Vec::new();
    let mut post = |name: &str, target: &str, body: Vec<u8>| {
        cases.push(f.case(name, f.api("POST", target, &body), Refusal::Api));
    };

    // Deeply nested JSON, 10 000 levels: serde_json's recursion limit, not a stack overflow.
    let arrays = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let objects = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    post(
        "nested arrays as members",
        "/sessions",
        format!(r#"{{"accountId":"demo","members":{arrays}}}"#).into_bytes(),
    );
    post("nested objects as body", "/sessions", objects.clone().into_bytes());
    post("nested arrays as body", &invite, arrays.clone().into_bytes());
    post(
        "nested objects as applicationData",
        "/sessions",
        format!(
            r#"{{"accountId":"demo","members":[{{"identity":"+15550104477","applicationData":{objects}}}]}}"#
        )
        .into_bytes(),
    );
    post("nested objects as invitee", &invite, format!(r#"{{"memberToAdd":{objects}}}"#).into_bytes());
    post("unclosed nesting", &invite, "[".repeat(60_000).into_bytes());
    // Huge JSON: just under 64 KiB is read and answered (here a conflict: bob is a member
    // already); just over, and far over, is 413.
    let padded = |size: usize| {
        let head = r#"{"memberToAdd":"bob@example.com","padding":""#;
        let tail = r#""}"#;
        let mut body = head.to_owned();
        body.push_str(&"x".repeat(size - head.len() - tail.len()));
        body.push_str(tail);
        assert_eq!(body.len(), size);
        body.into_bytes()
    };
    post("64 KiB - 1 body", &invite, padded(64 * 1024 - 1));
    post("64 KiB body", &invite, padded(64 * 1024));
    post("64 KiB + 1 body", &invite, padded(64 * 1024 + 1));
    post("200 KiB body", &invite, padded(200 * 1024));
    post(
        "a 60 KiB display name",
        &invite,
        format!(r#"{{"memberToAdd":"dave@example.com","displayName":"{}"}}"#, "d".repeat(60_000))
            .into_bytes(),
    );
    // Amplification: 30 000 wrong-typed items in 60 KiB answered 2.6 MB before errors[]
    // was bounded (evo-http MAX_FIELD_ERRORS); the 16 KiB bound on error bodies checks it.
    post(
        "30 000 members of the wrong type",
        "/sessions",
        format!(r#"{{"accountId":"demo","members":[{}]}}"#, vec!["1"; 30_000].join(",")).into_bytes(),
    );
    post(
        "3 500 members",
        "/sessions",
        format!(r#"{{"accountId":"demo","members":[{}]}}"#, vec![r#"{"identity":"x"}"#; 3_500].join(","))
            .into_bytes(),
    );
    post("a 60 KiB number", &invite, format!(r#"{{"memberToAdd":{}}}"#, "9".repeat(60_000)).into_bytes());
    post(
        "many keys",
        &invite,
        format!(
            "{{{}\"memberToAdd\":\"bob@example.com\"}}",
            (0..5_000).map(|i| format!("\"k{i}\":0,")).collect::<String>()
        )
        .into_bytes(),
    );
    // Malformed JSON of every kind.
    for (name, body) in [
        ("truncated", r#"{"memberToAdd":"bob@exa"#.to_owned()),
        ("trailing garbage", r#"{"memberToAdd":"x@example.com"} {"#.to_owned()),
        ("not an object", r#""bob@example.com""#.to_owned()),
        ("array", r#"["bob@example.com"]"#.to_owned()),
        ("null", "null".to_owned()),
        ("number type", r#"{"memberToAdd":42}"#.to_owned()),
        ("object type", r#"{"memberToAdd":{"$ne":null}}"#.to_owned()),
        ("sql in invitee", r#"{"memberToAdd":"' OR 1=1 --"}"#.to_owned()),
        ("json in invitee", r#"{"memberToAdd":"\"}]"}"#.to_owned()),
        ("NUL in invitee", r#"{"memberToAdd":"bob\u0000@example.com"}"#.to_owned()),
        ("lone surrogate", r#"{"memberToAdd":"\ud800@example.com"}"#.to_owned()),
        ("role not an enum", r#"{"memberToAdd":"zed@example.com","role":"Admin"}"#.to_owned()),
        ("role a number", r#"{"memberToAdd":"zed@example.com","role":1}"#.to_owned()),
        ("duplicate keys", r#"{"memberToAdd":"zed@example.com","memberToAdd":"' OR 1=1"}"#.to_owned()),
        ("huge exponent", r#"{"memberToAdd":1e999999}"#.to_owned()),
        ("BOM", "\u{feff}{\"memberToAdd\":\"zed@\"}".to_owned()),
        (
            "session id in body overridden",
            r#"{"sessionId":"nope","memberToAdd":"bob@example.com"}"#.to_owned(),
        ),
    ] {
        post(name, &invite, body.into_bytes());
    }
    post("invalid UTF-8", &invite, b"{\"memberToAdd\":\"\xff\xfe@example.com\"}".to_vec());
    post("NUL bytes", &invite, vec![0; 1000]);
    post(
        "account with sql",
        "/sessions",
        br#"{"accountId":"demo' OR 1=1 --","members":[{"identity":"+15550104477"}]}"#.to_vec(),
    );
    post("account not a string", "/sessions", br#"{"accountId":["demo"],"members":[]}"#.to_vec());
    post(
        "members not a list",
        "/sessions",
        br#"{"accountId":"demo","members":{"identity":"+15550104477"}}"#.to_vec(),
    );
    post(
        "bad channel",
        "/sessions",
        br#"{"accountId":"demo","channel":"Carrier Pigeon","members":[{"identity":"+15550104477"}]}"#
            .to_vec(),
    );

    // Wrong content types: the body is still only ever read as JSON or a form.
    for content_type in [
        "text/plain",
        "application/xml",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "application/json; charset=utf-16",
        "image/png",
        "",
        "\u{1}",
    ] {
        for (kind, body) in [
            ("xml", "<memberToAdd>' OR 1=1</memberToAdd>".as_bytes().to_vec()),
            ("json conflict", br#"{"memberToAdd":"bob@example.com"}"#.to_vec()),
            ("form invalid", b"memberToAdd=%FF%FE&sessionId=%".to_vec()),
            ("binary", vec![0xff, 0x00, 0x89, 0x50, 0x4e, 0x47]),
        ] {
            let request =
                build_request("POST", &invite, &[f.auth(), ("Content-Type", content_type.to_owned())], &body);
            // A control character in a header value is refused by the HTTP parser.
            let refusal = if content_type.starts_with('\u{1}') { Refusal::Protocol } else { Refusal::Api };
            cases.push(f.case(format!("{content_type:?} with {kind}"), request, refusal));
        }
    }

    cases.push(f.case(
        "nested JSON in a query string",
        f.api("POST", &format!("/api/NewSession?accountId=demo&members={}", "%5B".repeat(5_000)), b""),
        Refusal::Api,
    ));

    // 413 also when the length is not announced: chunked transfer.
    let mut chunked = format!(
        "POST {invite} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        f.token
    )
    .into_bytes();
    for _ in 0..20 {
        chunked.extend_from_slice(format!("1000\r\n{}\r\n", "x".repeat(0x1000)).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    cases.push(f.case("80 KiB chunked body", chunked, Refusal::Api));

    let seen = f.run(&cases);
    let statuses = histogram(&seen);
    assert!(statuses.iter().any(|(status, _)| *status == 413), "some bodies were too large: {statuses:?}");
    let over: Vec<_> = seen
        .iter()
        .filter(|(name, _)| {
            name.contains("64 KiB + 1") || name.contains("200 KiB") || name.contains("chunked")
        })
        .collect();
    assert!(over.iter().all(|(_, status)| *status == 413), "over 64 KiB is 413: {over:?}");
    let under: Vec<_> =
        seen.iter().filter(|(name, _)| name == "64 KiB - 1 body" || name == "64 KiB body").collect();
    assert!(under.iter().all(|(_, status)| *status == 409), "up to 64 KiB is read: {under:?}");
    eprintln!("hostile bodies: {} cases, statuses {statuses:?}", seen.len());
}

#[test]
fn hostile_headers_and_malformed_requests_are_refused() {
    let mut f = Fixture::start("headers");
    let s = f.session.clone();
    let target = format!("/sessions/{s}/members/bob@example.com");
    let mut cases = Vec::new();

    token_cases(&f, &target, &mut cases);
    header_flood_cases(&f, &s, &target, &mut cases);
    cookie_flood_cases(&f, &s, &target, &mut cases);
    media_type_cases(&f, &mut cases);
    raw_request_cases(&f, &s, &mut cases);
    extension_method_cases(&f, &target, &mut cases);

    let metrics_before = metrics_text(&f);
    let seen = f.run(&cases);
    let metrics_after = metrics_text(&f);
    assert!(!metrics_after.contains("XMETHOD"), "a client's method became a label");
    // Hostile traffic may add a few series (its statuses), never one per request.
    assert!(
        metrics_after.len() < metrics_before.len() + 32 * 1024,
        "/metrics grew from {} to {} bytes",
        metrics_before.len(),
        metrics_after.len()
    );
    eprintln!("/metrics: {} bytes before, {} after", metrics_before.len(), metrics_after.len());
    let statuses = histogram(&seen);
    assert!(statuses.iter().any(|(status, _)| *status == 431), "a header flood is 431: {statuses:?}");
    let tokens: Vec<_> = seen.iter().filter(|(name, _)| name.starts_with("100 KB")).collect();
    assert!(tokens.iter().all(|(_, status)| [401, 431].contains(status)), "100 KB tokens: {tokens:?}");
    eprintln!("hostile headers: {} cases, statuses {statuses:?}", seen.len());
}

/// Tokens: 100 KB ones, in the header and in the cookie; tokens that are not tokens.
fn token_cases(f: &Fixture, target: &str, cases: &mut Vec<Case>) {
    // Tokens of 100 KB, in the header and in the cookie, shaped like a JWT or not.
    let blob = "A".repeat(100_000);
    let jwt_shaped = format!("eyJhbGciOiJIUzI1NiJ9.{}.{}", "B".repeat(99_000), "C".repeat(43));
    let huge_alg = format!("{}.e30.sig", "e".repeat(100_000));
    for (name, token) in [("blob", &blob), ("jwt-shaped", &jwt_shaped), ("huge header part", &huge_alg)] {
        cases.push(f.case(
            format!("100 KB {name} bearer"),
            build_request("DELETE", target, &[("Authorization", format!("Bearer {token}"))], b""),
            Refusal::Protocol,
        ));
        cases.push(f.case(
            format!("100 KB {name} cookie"),
            build_request("DELETE", target, &[("Cookie", format!("ss-tok={token}"))], b""),
            Refusal::Protocol,
        ));
    }
    // Tokens that are not tokens.
    for token in
        ["none", "a.b", "a.b.c.d", "..", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "%00", "' OR 1=1 --"]
    {
        cases.push(f.case(
            format!("bearer {token:?}"),
            build_request("DELETE", target, &[("Authorization", format!("Bearer {token}"))], b""),
            Refusal::Api,
        ));
    }
    cases.push(f.case(
        "two Authorization headers, the first bogus",
        build_request("DELETE", target, &[("Authorization", "Bearer x.y.z".to_owned()), f.auth()], b""),
        Refusal::Api,
    ));
    let mut non_utf8 = build_request("DELETE", target, &[], b"");
    let at = non_utf8.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    non_utf8.splice(at..at, b"Authorization: Bearer \xff\xfe\xfd\r\n".iter().copied());
    cases.push(f.case("non-UTF-8 bearer", non_utf8, Refusal::Protocol));
}

/// Header floods.
fn header_flood_cases(f: &Fixture, s: &str, target: &str, cases: &mut Vec<Case>) {
    // Header floods: 300 headers (over actix's 96) is 431; 90 headers of 1 KB each reach
    // the service with a valid token and are refused for the request itself.
    let flood: Vec<(&str, String)> = (0..300).map(|_| ("X-Flood", "1".to_owned())).collect();
    cases.push(f.case("300 headers", build_request("DELETE", target, &flood, b""), Refusal::Protocol));
    let mut wide: Vec<(&str, String)> = (0..90).map(|_| ("X-Wide", "w".repeat(1_000))).collect();
    wide.push(f.auth());
    cases.push(f.case(
        "90 headers of 1 KB",
        build_request("DELETE", &format!("/sessions/{s}/members/nobody@example.com"), &wide, b""),
        Refusal::Api,
    ));
    cases.push(f.case(
        "one 120 KB header",
        build_request("GET", "/sessions/nope", &[f.auth(), ("X-Big", "b".repeat(120_000))], b""),
        Refusal::Protocol,
    ));
    cases.push(f.case(
        "a 200 KB head",
        build_request("GET", "/sessions/nope", &[f.auth(), ("X-Big", "b".repeat(200_000))], b""),
        Refusal::Protocol,
    ));
}

/// Cookie floods.
fn cookie_flood_cases(f: &Fixture, s: &str, target: &str, cases: &mut Vec<Case>) {
    // Cookie floods: thousands of cookies, with and without a valid ss-tok among them.
    let many_cookies: String = (0..5_000).map(|i| format!("c{i}=v; ")).collect();
    cases.push(f.case(
        "5000 cookies, no token",
        build_request("DELETE", target, &[("Cookie", many_cookies.clone())], b""),
        Refusal::Protocol,
    ));
    cases.push(f.case(
        "5000 cookies and a token, missing member",
        build_request(
            "DELETE",
            &format!("/sessions/{s}/members/nobody@example.com"),
            &[("Cookie", format!("{many_cookies}ss-tok={}", f.token))],
            b"",
        ),
        Refusal::Protocol,
    ));
    let cookie_headers: Vec<(&str, String)> = (0..90).map(|i| ("Cookie", format!("k{i}=v"))).collect();
    cases.push(f.case(
        "90 Cookie headers",
        build_request("DELETE", target, &cookie_headers, b""),
        Refusal::Api,
    ));
    cases.push(f.case(
        "malformed cookies",
        build_request("DELETE", target, &[("Cookie", ";;;=;ss-tok;ss-tok=;=x;\"".to_owned())], b""),
        Refusal::Api,
    ));
}

/// Odd Accept and Content-Type values on an error path.
fn media_type_cases(f: &Fixture, cases: &mut Vec<Case>) {
    // Odd Accept and Content-Type values on an error path.
    for accept in [
        "application/xml",
        "*/*;q=abc",
        ";;;,,,",
        "text/csv;q=2, application/json;q=-1",
        &"a/b,".repeat(2_000),
    ] {
        cases.push(f.case(
            format!("Accept {}", &accept[..accept.len().min(30)]),
            build_request("GET", "/sessions/nope", &[f.auth(), ("Accept", accept.to_owned())], b""),
            Refusal::Api,
        ));
    }
    cases.push(f.case(
        "bad X-Request-Id",
        build_request(
            "GET",
            "/sessions/nope",
            &[f.auth(), ("X-Request-Id", format!("x\"}}{}", "r".repeat(5_000)))],
            b"",
        ),
        Refusal::Api,
    ));
}

/// Malformed requests only a raw client sends.
fn raw_request_cases(f: &Fixture, s: &str, cases: &mut Vec<Case>) {
    // Malformed requests only a raw client sends.
    let auth = format!("Authorization: Bearer {}\r\n", f.token);
    let raw = |text: String| text.into_bytes();
    for (name, request) in [
        (
            "raw NUL in path",
            raw(format!("GET /sessions/{s}\0 HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n")),
        ),
        (
            "raw space in path",
            raw(format!("GET /sessions/a b HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n")),
        ),
        (
            "raw control in path",
            raw(format!("GET /sessions/\x01\x1b HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n")),
        ),
        (
            "raw CR in header",
            raw(format!(
                "GET /sessions/nope HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n{auth}Connection: close\r\n\r\n"
            )),
        ),
        (
            "raw NUL in header",
            raw(format!(
                "GET /sessions/nope HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n{auth}Connection: close\r\n\r\n"
            )),
        ),
        (
            "header without colon",
            raw(format!(
                "GET /sessions/nope HTTP/1.1\r\nHost: x\r\nnonsense\r\n{auth}Connection: close\r\n\r\n"
            )),
        ),
        (
            "bad version",
            raw(format!("GET /sessions/nope HTTP/9.9\r\nHost: x\r\n{auth}Connection: close\r\n\r\n")),
        ),
        (
            "absolute-form target",
            raw(format!(
                "GET http://evil.example/sessions/nope HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"
            )),
        ),
        ("asterisk target", raw(format!("DELETE * HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"))),
        (
            "huge Content-Length",
            raw(format!(
                "POST /sessions/{s}/members HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 99999999999999999999999\r\nConnection: close\r\n\r\n{{}}"
            )),
        ),
        (
            "negative Content-Length",
            raw(format!(
                "POST /sessions/{s}/members HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: -1\r\nConnection: close\r\n\r\n{{}}"
            )),
        ),
        (
            "two Content-Lengths",
            raw(format!(
                "POST /sessions/{s}/members HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 2\r\nContent-Length: 40\r\nConnection: close\r\n\r\n{{}}"
            )),
        ),
        (
            "smuggling CL and TE",
            raw(format!(
                "POST /sessions/{s}/members HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\nDELETE /sessions/{s}/members/bob@example.com HTTP/1.1\r\nHost: x\r\n{auth}\r\n"
            )),
        ),
        (
            "unknown Transfer-Encoding",
            raw(format!(
                "POST /sessions/{s}/members HTTP/1.1\r\nHost: x\r\n{auth}Transfer-Encoding: gzip, identity\r\nConnection: close\r\n\r\n{{}}"
            )),
        ),
        (
            "bad chunk size",
            raw(format!(
                "POST /sessions/{s}/members HTTP/1.1\r\nHost: x\r\n{auth}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n"
            )),
        ),
        (
            "huge chunk size",
            raw(format!(
                "POST /sessions/{s}/members HTTP/1.1\r\nHost: x\r\n{auth}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nffffffffffffffffff\r\n{{}}\r\n0\r\n\r\n"
            )),
        ),
        (
            "HTTP/1.0 no Host",
            raw(format!("DELETE /sessions/{s}/members/nobody@example.com HTTP/1.0\r\n{auth}\r\n")),
        ),
        (
            "lower-case method",
            raw(format!(
                "delete /sessions/{s}/members/bob@example.com HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"
            )),
        ),
        ("garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n".to_vec()),
    ] {
        cases.push(f.case(name, request, Refusal::Protocol));
    }
}

/// Extension methods of any spelling.
fn extension_method_cases(f: &Fixture, target: &str, cases: &mut Vec<Case>) {
    // Extension methods of any spelling, each once: a label per method would grow /metrics.
    for n in 0..200 {
        cases.push(f.case(
            format!("extension method {n}"),
            build_request(&format!("XMETHOD{n}"), target, &[], b""),
            Refusal::Api,
        ));
    }
}

fn metrics_text(f: &Fixture) -> String {
    let response = agent().get(&format!("{}/metrics", f.server.base)).call().unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().read_to_string().unwrap()
}

/// A keep-alive connection that has just been refused several times still serves the next
/// request on the same connection: refusals are answers, not broken connections.
#[test]
fn a_keep_alive_connection_survives_refusals() {
    let f = Fixture::start("keepalive");
    let s = &f.session;
    let mut stream = connect(f.server.port);
    let keep = |method: &str, target: &str, body: &[u8]| {
        let mut request =
            format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n", f.token);
        if !body.is_empty() {
            request
                .push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
        }
        request.push_str("\r\n");
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(body);
        bytes
    };
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let requests = [
        keep("DELETE", &format!("/sessions/{s}/members/%FF"), b""),
        keep("DELETE", &format!("/sessions/{s}/members/'%20OR%201=1%20--"), b""),
        keep("POST", &format!("/sessions/{s}/members"), nested.as_bytes()),
        keep("POST", &format!("/sessions/{s}/members"), b"{\"memberToAdd\":"),
        keep("GET", &format!("/sessions/{}", "a".repeat(10_000)), b""),
        keep("GET", &format!("/sessions/{s}"), b""),
    ];
    // Pipelined: all written at once, answered in order.
    for request in &requests {
        stream.write_all(request).unwrap();
    }
    let mut reader = BufReader::new(stream);
    let mut statuses = Vec::new();
    for _ in &requests {
        statuses.push(read_response(&mut reader).expect("an answer on the same connection").status);
    }
    let last = statuses.pop().unwrap();
    assert!(statuses.iter().all(|status| (400..500).contains(status)), "{statuses:?}");
    assert_eq!(last, 200, "the connection still serves after {statuses:?}");
    assert_eq!(f.snapshot(), f.before);
}

/// Metacharacters in *data* are data: stored and returned verbatim, in JSON, CSV and JSV,
/// and they never change another session.
#[test]
fn metacharacters_in_data_are_stored_verbatim() {
    let f = Fixture::start("verbatim");
    // Control characters other than tab, CR and LF are refused in text (validation.rs).
    let nasty = "Robert'); DROP TABLE sessions; -- \"}], {x:[\"y\"]} \\ \t\r\n ünï 😀";
    let response = agent()
        .post(&format!("{}/sessions", f.server.base))
        .header("Authorization", &format!("Bearer {}", f.token))
        .send_json(json!({
            "accountId": "demo",
            "displayName": nasty,
            "customerName": nasty,
            "members": [
                {"identity": "+15550109999", "displayName": nasty, "applicationData": {nasty: nasty}},
                {"identity": "o'brien+\"tag\"@example.com", "displayName": nasty},
                {"identity": "bob@example.com\"}]"}
            ]
        }))
        .unwrap();
    assert_eq!(response.status(), 200);
    let created: Value = serde_json::from_str(&response.into_body().read_to_string().unwrap()).unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let get = |suffix: &str| {
        let response = agent()
            .get(&format!("{}/sessions/{id}{suffix}", f.server.base))
            .header("Authorization", &format!("Bearer {}", f.token))
            .call()
            .unwrap();
        assert_eq!(response.status(), 200, "{suffix}");
        response.into_body().read_to_string().unwrap()
    };
    let stored: Value = serde_json::from_str(&get("")).unwrap();
    assert_eq!(stored["displayName"], json!(nasty));
    assert_eq!(stored["customerName"], json!(nasty));
    assert_eq!(stored["members"][0]["displayName"], json!(nasty));
    assert_eq!(stored["members"][0]["applicationData"][nasty], json!(nasty));
    assert_eq!(stored["members"][1]["identity"], json!("o'brien+\"tag\"@example.com"));
    // Valid user IDs by docs/api.md, "Member identities" (an `@`, text on both sides, no white
    // space), kept
    // verbatim and distinct from bob@example.com (with white space they are refused: see
    // hostile_paths_and_query_strings_are_refused_with_json_errors).
    assert_eq!(stored["members"][2]["identity"], json!("bob@example.com\"}]"));
    assert!(get(".csv").starts_with("DialState,"));
    assert!(get(".jsv").starts_with('{'));
    // The quoted email is removable by its percent-encoded form, and only it goes.
    let response = agent()
        .delete(&format!("{}/sessions/{id}/members/o'brien%2B%22tag%22%40example.com", f.server.base))
        .header("Authorization", &format!("Bearer {}", f.token))
        .call()
        .unwrap();
    assert_eq!(response.status(), 200);
    let after: Value = serde_json::from_str(&response.into_body().read_to_string().unwrap()).unwrap();
    assert_eq!(after["members"].as_array().unwrap().len(), 2);
    assert_eq!(f.snapshot(), f.before, "the other session did not change");
}

fn histogram(seen: &[(String, u16)]) -> Vec<(u16, usize)> {
    let mut counts = std::collections::BTreeMap::new();
    for (_, status) in seen {
        *counts.entry(*status).or_insert(0) += 1;
    }
    counts.into_iter().collect()
}

/// Schemathesis found every operation "rejecting schema-valid data": the OpenAPI document did
/// not state the ID rule (1 to 64 of `A-Z a-z 0-9 - _ .`). It does now, for every
/// `sessionId` parameter (path and query) and body field, and the server enforces exactly it.
#[test]
fn the_openapi_document_states_the_id_rule_the_server_enforces() {
    const PATTERN: &str = "^[A-Za-z0-9._-]{1,64}$";
    let f = Fixture::start("openapi");
    let response = agent().get(&format!("{}/openapi.json", f.server.base)).call().unwrap();
    let document: Value = serde_json::from_str(&response.into_body().read_to_string().unwrap()).unwrap();
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                if parameter["name"] == "sessionId" {
                    assert_eq!(parameter["schema"]["pattern"], json!(PATTERN), "{method} {path}");
                    assert_eq!(parameter["schema"]["maxLength"], json!(64), "{method} {path}");
                    checked += 1;
                }
            }
        }
    }
    // 5 operation routes (GetSession, EndSession, PatchSession, InviteChatMember,
    // DeleteChatMember) and their 4 pre-defined forms each.
    assert_eq!(checked, 5 * 5, "sessionId parameters documented");
    let schemas = &document["components"]["schemas"];
    assert_eq!(schemas["NewSession"]["properties"]["accountId"]["pattern"], json!(PATTERN));
    assert_eq!(schemas["InviteChatMember"]["properties"]["sessionId"]["pattern"], json!(PATTERN));

    let status = |id: &str| {
        agent()
            .get(&format!("{}/sessions/{id}", f.server.base))
            .header("Authorization", &format!("Bearer {}", f.token))
            .call()
            .unwrap()
            .status()
            .as_u16()
    };
    for valid in ["a".repeat(64).as_str(), "A.b_c-9", "-", "x.y"] {
        assert_eq!(status(valid), 404, "{valid:?} matches the pattern: looked up");
    }
    for invalid in ["a".repeat(65).as_str(), "a%40b", "a%20b", "%C3%A9", "a~b"] {
        assert_eq!(status(invalid), 400, "{invalid:?} does not match: refused");
    }
}

/// Idle and slow clients cannot starve the server: with 200 connections that send nothing
/// and 20 that trickle a request head a header at a time (slowloris), ordinary requests are
/// still answered, and the server itself closes the slow and idle connections (actix's
/// client request timeout, 5 s by default) instead of holding them forever.
#[test]
fn idle_and_slow_connections_do_not_starve_the_server() {
    use std::io::Read;
    use std::time::{Duration, Instant};

    let f = Fixture::start("slow");
    let idle: Vec<_> = (0..200).map(|_| connect(f.server.port)).collect();
    let mut slow: Vec<_> = (0..20)
        .map(|_| {
            let mut stream = connect(f.server.port);
            stream.write_all(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n").unwrap();
            stream
        })
        .collect();
    let started = Instant::now();
    let mut answered = 0;
    let mut closed = vec![false; slow.len()];
    // Trickle a header every 250 ms on each slow connection while reading the seeded session.
    while started.elapsed() < Duration::from_secs(15) && closed.iter().any(|c| !c) {
        assert_eq!(f.snapshot(), f.before, "an ordinary request is answered");
        answered += 1;
        for (stream, closed) in slow.iter_mut().zip(closed.iter_mut()) {
            if !*closed && stream.write_all(b"X-Slow: 1\r\n").is_err() {
                *closed = true;
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(answered >= 10, "{answered} ordinary requests answered");
    let open = closed.iter().filter(|c| !**c).count();
    assert_eq!(open, 0, "{open} slow connections still open after {:?}", started.elapsed());
    // The idle ones were closed too (a 408 or just the end of the stream; never a hang).
    for mut stream in idle {
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buffer = Vec::new();
        match stream.read_to_end(&mut buffer) {
            Ok(_) => {
                let text = String::from_utf8_lossy(&buffer);
                assert!(text.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
            }
            Err(error) => assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset, "{error}"),
        }
    }
    eprintln!(
        "slow clients: 200 idle and 20 slowloris connections closed by the server within {:?}, {answered} ordinary requests answered meanwhile",
        started.elapsed()
    );
}

/// A caller that pushes a session with 1 KiB names and 500-character reasons (docs/api.md,
/// "Bounds"): the session stops at `EVO_SESSION_MAX_BYTES` with 409 `SessionLimitReached`
/// and is left as it was, ending it still works, and every event stays small (it carries its
/// `logEntry`, not the log).
#[test]
fn a_pushed_session_stops_at_its_size_limit_and_its_events_stay_small() {
    use std::time::Duration;

    use support::sse::Stream;
    const LIMIT: usize = 131_072;
    let dir = Workdir::new("session-size-limit");
    let db = format!("sqlite://{}/evo.db", dir.0.display());
    let env = [("EVO_RATE_LIMIT_PER_SEC", "0".to_owned()), ("EVO_SESSION_MAX_BYTES", LIMIT.to_string())];
    let server = Server::start(&dir.0, &db, &env);
    let token = mint(&dir.0, &db, "ann@example.com", &["User"], &["acme"]);
    let id = support::create(&server.base, &token, 0);
    let name = "n".repeat(1024);
    let reason = "r".repeat(500);
    let mut changes = 0;
    let refusal = loop {
        assert!(changes < 1000, "no limit within 1000 changes");
        let (status, _, body) = support::call(
            &server.base,
            &token,
            "POST",
            &format!("/sessions/{id}/members"),
            &[],
            Some(json!({"memberToAdd": "bob@example.com", "displayName": name})),
        );
        if status != 200 {
            break (status, body);
        }
        let (status, _, body) = support::call(
            &server.base,
            &token,
            "DELETE",
            &format!("/sessions/{id}/members/bob@example.com?reason={reason}"),
            &[],
            None,
        );
        if status != 200 {
            break (status, body);
        }
        changes += 2;
    };
    assert_eq!(refusal.0, 409, "{}", refusal.1);
    assert_eq!(refusal.1["responseStatus"]["errorCode"], "SessionLimitReached", "{}", refusal.1);
    let (status, _, session) =
        support::call(&server.base, &token, "GET", &format!("/sessions/{id}"), &[], None);
    assert_eq!(status, 200);
    let size = session.to_string().len();
    assert!(
        size <= LIMIT && size > LIMIT - 4096,
        "stopped just under the limit: {size} bytes after {changes} changes"
    );
    assert_eq!(session["log"].as_array().unwrap().len(), 1 + changes, "the refusal wrote nothing");
    let (status, _, _) = support::call(&server.base, &token, "DELETE", &format!("/sessions/{id}"), &[], None);
    assert_eq!(status, 200, "ending is always allowed");

    let stream = Stream::open(server.port, &format!("/sessions/{id}/events"), &token, Some(0));
    let events = stream.events(changes + 2, Duration::from_secs(10));
    assert_eq!(events.len(), changes + 2, "one event per change");
    let largest = events.iter().map(|(_, _, body)| body.to_string().len()).max().unwrap();
    assert!(largest < 8 * 1024, "events are bounded by the members, not the log: {largest} bytes");
    assert!(
        events
            .iter()
            .all(|(_, _, body)| body["session"].get("log").is_none() && body["logEntry"].is_object())
    );
}
