//! Counts the round trips of store operations on a warm connection: a proxy delays every
//! answer of the server by a fixed latency, so an operation takes about that latency times
//! its round trips (pipelined statements share one).

use std::time::{Duration, Instant};

use evo_domain::SessionCommand;
use evo_ports::Applied;
use evo_ports::SessionRepository;
use evo_postgres::PgSessionRepository;
use evo_postgres::test_support::TestDatabase;
use evo_store_testkit::fixtures::{agent, at, chat_with_users, identity, user};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const LATENCY: Duration = Duration::from_millis(150);

/// Answers nothing worth reading: this test counts trips.
struct NoAnswer;

impl evo_ports::AnswerRenderer for NoAnswer {
    fn render(&self, _: Result<&evo_domain::Session, &evo_domain::SessionError>) -> evo_ports::KeptAnswer {
        evo_ports::KeptAnswer { status: 200, content_type: "text/plain".into(), body: Vec::new() }
    }

    fn render_removals(&self, _: &evo_ports::RemovalReport) -> evo_ports::KeptAnswer {
        evo_ports::KeptAnswer { status: 200, content_type: "text/plain".into(), body: Vec::new() }
    }
}

fn key(key: &str) -> evo_ports::Idempotency {
    evo_ports::Idempotency {
        scope: "agent@example.com".into(),
        key: key.into(),
        fingerprint: key.into(),
        expires_at: at(3600),
        renderer: std::sync::Arc::new(NoAnswer),
    }
}

/// A proxy that passes the client's bytes at once and the server's after [`LATENCY`],
/// keeping their order.
async fn start_slow_proxy(upstream: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(&upstream).await else { continue };
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            tokio::spawn(async move {
                let mut buffer = vec![0; 64 * 1024];
                while let Ok(n @ 1..) = client_read.read(&mut buffer).await {
                    if server_write.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                }
            });
            let (delayed, mut to_deliver) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
            tokio::spawn(async move {
                let mut buffer = vec![0; 64 * 1024];
                while let Ok(n @ 1..) = server_read.read(&mut buffer).await {
                    if delayed.send((Instant::now() + LATENCY, buffer[..n].to_vec())).is_err() {
                        break;
                    }
                }
            });
            tokio::spawn(async move {
                while let Some((due, bytes)) = to_deliver.recv().await {
                    tokio::time::sleep_until(due.into()).await;
                    if client_write.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    address
}

/// Round trips of `work`: how many whole latencies its best of three runs took. Each trip
/// costs at least one latency; the server's own work (a commit's flush) only adds a little.
async fn round_trips<F: Future<Output = ()>>(mut work: impl FnMut(usize) -> F) -> u32 {
    let mut best = Duration::MAX;
    for run in 0..3 {
        let started = Instant::now();
        work(run).await;
        best = best.min(started.elapsed());
    }
    (best.as_millis() / LATENCY.as_millis()) as u32
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_round_trips_removal_2_refusal_2_find_1_insert_1() {
    let database = TestDatabase::create().await;
    let upstream = database.url.split('@').nth(1).and_then(|rest| rest.split('/').next()).expect("host:port");
    let proxy = start_slow_proxy(upstream.to_owned()).await;
    let mut config = database.config();
    config.url = database.url.replacen(upstream, &proxy, 1);
    config.pool_size = 1; // one connection, so the warm-up prepares the statements it reuses
    let repository = PgSessionRepository::connect(config).await.expect("connect");
    let session = chat_with_users(8);
    repository.insert(&session, &evo_store_testkit::fixtures::agent(), None).await.applied().expect("insert");
    let remove = |i: usize| SessionCommand::remove(identity(&user(i)));

    // Warm-up: prepares each statement once on the connection.
    repository
        .update(&session.id, &agent(), &remove(0), None, None, at(1))
        .await
        .applied()
        .expect("warm-up removal");
    repository
        .update(&session.id, &agent(), &remove(0), None, None, at(1))
        .await
        .applied()
        .expect_err("warm-up refusal");
    repository.find(&session.id, &agent()).await.expect("warm-up find");
    repository.insert(&chat_with_users(8), &agent(), None).await.applied().expect("warm-up insert");
    repository
        .update(&session.id, &agent(), &remove(7), None, Some(key("warm-up")), at(1))
        .await
        .applied()
        .expect("warm-up keyed removal");

    let removal = round_trips(|run| {
        let repository = &repository;
        let session = &session;
        async move {
            repository
                .update(&session.id, &agent(), &remove(1 + run), None, None, at(2))
                .await
                .applied()
                .expect("removal");
        }
    })
    .await;
    let refusal = round_trips(|_| async {
        repository
            .update(&session.id, &agent(), &remove(1), None, None, at(3))
            .await
            .applied()
            .expect_err("refusal");
    })
    .await;
    let find = round_trips(|_| async {
        repository.find(&session.id, &agent()).await.expect("find");
    })
    .await;
    let insert = round_trips(|_| async {
        repository
            .insert(&chat_with_users(8), &evo_store_testkit::fixtures::agent(), None)
            .await
            .applied()
            .expect("insert");
    })
    .await;
    // A keyed removal sends the key's checks with the locking read, and its answer with the
    // write: the same two trips.
    let keyed = round_trips(|run| {
        let repository = &repository;
        let session = &session;
        async move {
            repository
                .update(&session.id, &agent(), &remove(4 + run), None, Some(key(&format!("k-{run}"))), at(4))
                .await
                .applied()
                .expect("keyed removal");
        }
    })
    .await;
    assert_eq!(
        (removal, refusal, find, insert, keyed),
        (2, 2, 1, 1, 2),
        "round trips of (removal, refusal, find, insert, keyed removal)"
    );
}
