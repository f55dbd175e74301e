//! Graceful shutdown: a request in flight when the server is told to stop (what SIGTERM and
//! SIGINT do) still completes with 200, and new connections are refused afterwards.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use evo_domain::{
    AccountId, Actor, Channel, Direction, MemberIdentity, NewMember, NewSession, Session, SessionDetails,
    SessionId, SessionPatch,
};
use evo_ports::{
    AuthError, Change, Ending, ListSessions, OpenSession, Parsed, Removal, RemovalReport, RemovalsOfMember,
    RepositoryError, ServiceError, SessionPage, SessionUseCases,
};

/// Use cases whose GetSession takes a while, as a slow database would.
struct SlowReads {
    delay: Duration,
}

fn actor() -> Actor {
    Actor {
        user_id: "ann@example.com".into(),
        name: "Ann".into(),
        roles: vec!["User".into()],
        account_ids: vec![AccountId::parse("acme").unwrap()],
    }
}

/// What every use case but GetSession answers: this test does not use them.
fn not_in_this_test<T>() -> Result<T, ServiceError> {
    Err(ServiceError::Repository(RepositoryError::Internal("not used by this test".into())))
}

type Invite = Parsed<Change<NewMember>>;
type Outcome = evo_ports::ChangeOutcome<Session>;

#[async_trait]
impl SessionUseCases for SlowReads {
    async fn authenticate(&self, _token: &str) -> Result<Actor, AuthError> {
        Ok(actor())
    }
    async fn new_session(&self, _: &Actor, _: Parsed<OpenSession>) -> Result<Outcome, ServiceError> {
        not_in_this_test()
    }
    async fn invite_chat_member(&self, _: &Actor, _: Invite) -> Result<Outcome, ServiceError> {
        not_in_this_test()
    }
    async fn delete_chat_member(
        &self,
        _: &Actor,
        _: Parsed<Change<Removal>>,
    ) -> Result<Outcome, ServiceError> {
        not_in_this_test()
    }
    async fn get_session(&self, actor: &Actor, _: Parsed<SessionId>) -> Result<Session, ServiceError> {
        tokio::time::sleep(self.delay).await;
        let new = NewSession {
            account_id: AccountId::parse("acme").unwrap(),
            channel: Channel::Chat,
            direction: Direction::Incoming,
            details: SessionDetails::default(),
            members: vec![NewMember::new(MemberIdentity::parse("+15550104477").unwrap())],
        };
        Ok(Session::open(SessionId::parse("slow-1").unwrap(), new, actor, Utc::now())?)
    }
    async fn end_session(&self, _: &Actor, _: Parsed<Change<Ending>>) -> Result<Outcome, ServiceError> {
        not_in_this_test()
    }
    async fn patch_session(
        &self,
        _: &Actor,
        _: Parsed<Change<SessionPatch>>,
    ) -> Result<Outcome, ServiceError> {
        not_in_this_test()
    }
    async fn list_sessions(&self, _: &Actor, _: Parsed<ListSessions>) -> Result<SessionPage, ServiceError> {
        not_in_this_test()
    }
    async fn active_sessions(&self, _: &Actor) -> Result<Vec<Session>, ServiceError> {
        not_in_this_test()
    }
    async fn remove_from_active_sessions(
        &self,
        _: &Actor,
        _: Parsed<RemovalsOfMember>,
    ) -> Result<evo_ports::ChangeOutcome<RemovalReport>, ServiceError> {
        not_in_this_test()
    }
    async fn readiness(&self) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_flight_request_completes_during_shutdown() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let options =
        evo_http::HttpOptions { workers: 1, shutdown_timeout: Duration::from_secs(10), ..Default::default() };
    let server =
        evo_http::server(listener, Arc::new(SlowReads { delay: Duration::from_millis(800) }), None, options)
            .unwrap();
    let handle = server.handle();
    let running = tokio::spawn(server);

    let in_flight = std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let response = agent
            .get(&format!("http://{address}/sessions/slow-1"))
            .header("Authorization", "Bearer any")
            .call()
            .unwrap();
        (response.status().as_u16(), response.into_body().read_to_string().unwrap())
    });
    // Let the request reach the handler, then stop gracefully as SIGTERM does.
    tokio::time::sleep(Duration::from_millis(300)).await;
    handle.stop(true).await;

    let (status, body) = tokio::task::spawn_blocking(move || in_flight.join().unwrap()).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"id\":\"slow-1\""), "{body}");
    running.await.unwrap().unwrap();
    assert!(std::net::TcpStream::connect(address).is_err(), "no new connections after shutdown");
}
