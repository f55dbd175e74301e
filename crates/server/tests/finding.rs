//! Finding and steering sessions end to end, through the binary on both stores
//! (docs/api.md, "ListSessions", "GetActiveSessions and GetMySessions", "PatchSession",
//! "RemoveChatMemberFromActiveSessions"): every route form, the formats, the field errors,
//! and tenancy (another account's sessions are never listed, counted or changed).

mod support;

use serde_json::{Value, json};
use support::{Server, Workdir, agent, call, mint, test_database};

struct Service {
    server: Server,
    ann: String,
    bob: String,
    globex: String,
    admin: String,
}

fn start(dir: &Workdir, database_url: &str) -> Service {
    let server = Server::start(&dir.0, database_url, &[]);
    let mint = |sub, roles: &[&str], accounts: &[&str]| mint(&dir.0, database_url, sub, roles, accounts);
    Service {
        ann: mint("ann@example.com", &["User"], &["acme"]),
        bob: mint("bob@example.com", &["User"], &["acme"]),
        globex: mint("gil@example.com", &["User"], &["globex"]),
        admin: mint("root@example.com", &["Admin"], &[]),
        server,
    }
}

impl Service {
    fn call(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let (status, _, body) = call(&self.server.base, token, method, path, &[], body);
        (status, body)
    }

    fn open(&self, token: &str, account: &str, details: Value, members: &[&str]) -> String {
        let mut body = details;
        body["accountId"] = json!(account);
        body["members"] = members.iter().map(|identity| json!({"identity": identity})).collect();
        let (status, session) = self.call(token, "POST", "/sessions", Some(body));
        assert_eq!(status, 200, "{session}");
        session["id"].as_str().unwrap().to_owned()
    }

    /// A GET's status, content type and body text.
    fn get_text(&self, token: &str, path: &str) -> (u16, String, String) {
        let response = agent()
            .get(&format!("{}{path}", self.server.base))
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .unwrap();
        let status = response.status().as_u16();
        let content_type = response.headers().get("content-type").unwrap().to_str().unwrap().to_owned();
        (status, content_type, response.into_body().read_to_string().unwrap())
    }
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect()
}

fn field_errors(body: &Value) -> Vec<String> {
    body["responseStatus"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["fieldName"].as_str().unwrap().to_owned())
        .collect()
}

fn finds_lists_and_steers(store: &str, dir: &Workdir, database_url: &str) {
    let api = start(dir, database_url);
    let first = api.open(
        &api.ann,
        "acme",
        json!({"customerId": "c-1", "fromName": "Maria Lopez", "toAddress": "sales@acme.test"}),
        &["+15550104477", "bob@example.com", "ann@example.com"],
    );
    let second =
        api.open(&api.ann, "acme", json!({"customerId": "c-2"}), &["bob@example.com", "+15550104478"]);
    let third = api.open(&api.ann, "acme", json!({}), &["+15550104479", "ann@example.com"]);
    let theirs =
        api.open(&api.globex, "globex", json!({"customerId": "c-1"}), &["+15550104480", "bob@example.com"]);

    // ListSessions: newest first, in every route form; another account's never listed or counted.
    for path in ["/sessions", "/api/ListSessions", "/json/reply/ListSessions"] {
        let (status, page) = api.call(&api.ann, "GET", path, None);
        assert_eq!(status, 200, "{store} {path}: {page}");
        assert_eq!(ids(&page["items"]), [third.clone(), second.clone(), first.clone()], "{store} {path}");
        assert_eq!((page["totalCount"].clone(), page["totalPages"].clone()), (json!(3), json!(1)), "{path}");
        assert_eq!(page["hasMorePages"], json!(false));
        assert_eq!(page["items"][0]["log"], json!([]), "a list leaves the log to GetSession");
    }
    let (_, page) = api.call(&api.globex, "GET", "/sessions?accountIds=acme,globex", None);
    assert_eq!(ids(&page["items"]), std::slice::from_ref(&theirs), "{store}: narrowing never widens");
    let (_, page) = api.call(&api.admin, "GET", "/sessions?customerIds=c-1", None);
    assert_eq!(ids(&page["items"]), [theirs.clone(), first.clone()], "{store}: an Admin sees every account");
    let all = vec![third.clone(), second.clone(), first.clone()];
    let filters: Vec<(String, Vec<String>)> = vec![
        ("customerIds=c-1,c-9".into(), vec![first.clone()]),
        ("from=maria%20LOP".into(), vec![first.clone()]),
        ("to=ACME.TEST".into(), vec![first.clone()]),
        ("log=started%20THE".into(), all.clone()),
        (format!("specificIds=[%22{second}%22]"), vec![second.clone()]),
        ("startDate=2000-01-01&endDate=2999-12-31".into(), all.clone()),
        ("endDate=2000-01-01".into(), vec![]),
        ("parentSessionId=p-1".into(), vec![]),
        ("countPerPage=2&page=1&sortOrder=Ascend".into(), vec![third.clone()]),
        ("countPerPage=1&sortField=dateLastModified&searchArchive=true".into(), vec![third.clone()]),
    ];
    for (query, expected) in filters {
        let (status, page) = api.call(&api.ann, "GET", &format!("/sessions?{query}"), None);
        assert_eq!(status, 200, "{store} {query}: {page}");
        assert_eq!(ids(&page["items"]), expected, "{store} {query}");
    }
    let (_, page) = api.call(&api.ann, "GET", "/sessions?countPerPage=2&simplifiedPaging=true", None);
    assert_eq!((page.get("totalCount"), page["hasMorePages"].clone()), (None, json!(true)), "{store}");
    let (status, bad) = api.call(
        &api.ann,
        "GET",
        "/sessions?countPerPage=1001&page=-1&startDate=yesterday&sortOrder=up&accountIds=no%20spaces&all=maybe",
        None,
    );
    assert_eq!(status, 400, "{bad}");
    assert_eq!(field_errors(&bad), ["accountIds", "startDate", "page", "countPerPage", "all", "sortOrder"]);
    let (status, content_type, csv) = api.get_text(&api.ann, "/sessions?format=csv");
    assert_eq!((status, content_type.as_str()), (200, "text/csv"));
    assert_eq!(csv.lines().count(), 4, "a header and one row per session: {csv}");
    let (status, content_type, jsv) = api.get_text(&api.ann, "/jsv/reply/ListSessions");
    assert_eq!((status, content_type.as_str()), (200, "text/jsv"));
    assert!(jsv.starts_with("{Items:[") && jsv.contains("TotalCount:3"), "{jsv}");

    // GetActiveSessions / GetMySessions: the caller's own, not ended, in its accounts.
    for path in ["/sessions/active", "/sessions/my", "/api/GetActiveSessions", "/json/reply/GetMySessions"] {
        let (status, active) = api.call(&api.ann, "GET", path, None);
        assert_eq!(status, 200, "{store} {path}: {active}");
        assert_eq!(ids(&active["sessions"]), [third.clone(), first.clone()], "{store} {path}");
    }
    let (_, active) = api.call(&api.bob, "GET", "/sessions/active", None);
    assert_eq!(ids(&active["sessions"]), [second.clone(), first.clone()], "{store}: bob's in acme only");

    // PatchSession: body or query, every route form; who set what is logged; ended: 409.
    let (status, patched) = api.call(
        &api.ann,
        "PATCH",
        &format!("/sessions/{third}"),
        Some(json!({"callState": "Hold", "holdReason": "Transferring", "consoleData": "{\"step\":2}"})),
    );
    assert_eq!(status, 200, "{store}: {patched}");
    assert_eq!(
        (patched["callState"].clone(), patched["consoleData"].clone()),
        (json!("Hold"), json!("{\"step\":2}"))
    );
    assert_eq!(
        patched["log"].as_array().unwrap().last().unwrap()["message"],
        json!("ann set consoleData, callState to Hold, holdReason to Transferring")
    );
    let (status, patched) =
        api.call(&api.ann, "PATCH", &format!("/api/PatchSession?sessionId={third}&queueState=Queued"), None);
    assert_eq!(
        (status, patched["queueState"].clone(), patched["callState"].clone()),
        (200, json!("Queued"), json!("Hold"))
    );
    let (status, bad) = api.call(
        &api.ann,
        "PATCH",
        &format!("/json/reply/PatchSession?sessionId={third}&callState=OnHold"),
        None,
    );
    assert_eq!((status, field_errors(&bad)), (400, vec!["callState".to_owned()]), "{bad}");
    let (status, bad) = api.call(&api.ann, "PATCH", &format!("/sessions/{third}"), Some(json!({})));
    assert_eq!((status, field_errors(&bad)), (400, vec!["consoleData".to_owned()]), "nothing to set: {bad}");
    let (status, _) = api.call(&api.globex, "PATCH", &format!("/sessions/{third}?callState=Hold"), None);
    assert_eq!(status, 404, "{store}: another account's session is never changed");

    // InviteChatMember's callerId and EndSession's callSid.
    let (status, bad) = api.call(
        &api.ann,
        "POST",
        &format!("/sessions/{second}/members"),
        Some(json!({"memberToAdd": "carl@example.com", "callerId": "not a number"})),
    );
    assert_eq!((status, field_errors(&bad)), (400, vec!["callerId".to_owned()]), "{bad}");
    let (status, _) = api.call(
        &api.ann,
        "POST",
        &format!("/sessions/{second}/members"),
        Some(json!({"memberToAdd": "carl@example.com", "callerId": "+1 (555) 010-9999"})),
    );
    assert_eq!(status, 200, "{store}");
    let long_sid = "C".repeat(65);
    let (status, bad) = api.call(&api.ann, "DELETE", &format!("/sessions/{third}?callSid={long_sid}"), None);
    assert_eq!((status, field_errors(&bad)), (400, vec!["callSid".to_owned()]), "{bad}");
    let (status, ended) = api.call(&api.ann, "DELETE", &format!("/sessions/{third}?callSid=CA123"), None);
    assert_eq!((status, ended["ended"].clone()), (200, json!(true)), "{store}");
    let (status, refused) =
        api.call(&api.ann, "PATCH", &format!("/sessions/{third}?callState=Connected"), None);
    assert_eq!((status, refused["responseStatus"]["errorCode"].clone()), (409, json!("SessionEnded")));
    let (_, active) = api.call(&api.ann, "GET", "/sessions/active", None);
    assert_eq!(
        ids(&active["sessions"]),
        std::slice::from_ref(&first),
        "{store}: an ended session is not active"
    );

    // RemoveChatMemberFromActiveSessions: bob leaves every active chat of acme, one at a time;
    // where he is the original member, the answer says why; globex's chat is not touched.
    let key = [("Idempotency-Key", "bob-logs-out-1")];
    let (status, _, report) = call(
        &api.server.base,
        &api.ann,
        "DELETE",
        "/sessions/active/members/bob%40example.com?reason=logged%20out",
        &key,
        None,
    );
    assert_eq!(status, 200, "{store}: {report}");
    assert_eq!(
        report,
        json!({"results": [
            {"sessionId": second, "status": 409, "errorCode": "CannotRemoveOriginalMember"},
            {"sessionId": first, "status": 200},
        ], "removed": 1, "hasMore": false}),
        "{store}"
    );
    let (_, session) = api.call(&api.ann, "GET", &format!("/sessions/{first}"), None);
    assert_eq!(
        session["log"].as_array().unwrap().last().unwrap()["message"],
        json!("ann removed bob@example.com from the chat: logged out")
    );
    let (status, _, again) = call(
        &api.server.base,
        &api.ann,
        "DELETE",
        "/sessions/active/members/bob%40example.com?reason=logged%20out",
        &key,
        None,
    );
    assert_eq!((status, &again), (200, &report), "{store}: a keyed retry answers the same list");
    let (_, after) = api.call(&api.ann, "GET", &format!("/sessions/{first}"), None);
    assert_eq!(after["version"], session["version"], "{store}: and changes nothing");
    let (_, theirs_now) = api.call(&api.globex, "GET", &format!("/sessions/{theirs}"), None);
    assert_eq!(theirs_now["members"].as_array().unwrap().len(), 2, "{store}: globex's chat untouched");
    for path in [
        "/api/RemoveChatMemberFromActiveSessions?memberToRemove=ann%40example.com",
        "/json/reply/RemoveChatMemberFromActiveSessions?memberToRemove=ann%40example.com",
    ] {
        let (status, report) = api.call(&api.ann, "DELETE", path, None);
        assert_eq!(status, 200, "{store} {path}: {report}");
    }
    let (_, active) = api.call(&api.ann, "GET", "/sessions/my", None);
    assert_eq!(ids(&active["sessions"]), Vec::<String>::new(), "{store}: ann has left every chat");
    let (status, bad) = api.call(&api.ann, "DELETE", "/sessions/active/members/nobody", None);
    assert_eq!((status, field_errors(&bad)), (400, vec!["memberToRemove".to_owned()]));
}

#[test]
fn sessions_are_found_listed_and_steered_on_sqlite() {
    let dir = Workdir::new("finding-sqlite");
    let url = format!("sqlite://{}", dir.0.join("sessions.db").display());
    finds_lists_and_steers("SQLite", &dir, &url);
}

#[test]
fn sessions_are_found_listed_and_steered_on_postgres() {
    let database = test_database();
    let dir = Workdir::new("finding-postgres");
    finds_lists_and_steers("PostgreSQL", &dir, &database.url);
}
