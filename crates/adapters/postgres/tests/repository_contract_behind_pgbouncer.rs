//! The repository contract suite through PgBouncer in transaction mode (Debian's `pgbouncer`):
//! docs/api.md, "Durability and several instances", says the store works behind it, and this
//! suite passing is the proof.
//!
//! Each test gets a database of its own ([`TestDatabase`], on the shared PostgreSQL) and a
//! PgBouncer of its own: Debian's `/usr/sbin/pgbouncer`, run as the `postgres` OS user (it
//! refuses to run as root, and the tests run as root) on a free 127.0.0.1 port, from an ini
//! generated in a temporary folder. `pool_mode = transaction`, a wildcard database entry (so
//! the per-test database name passes through), and fewer server connections than the store
//! opens, so that the store's transactions share server connections. The store connects to
//! PgBouncer's port with `prepared_statement_cache = false`, the setting for transaction
//! pooling. PgBouncer is a direct child of the test: it is stopped by PID (SIGTERM, SIGKILL
//! after 5 s) and its folder removed when the test ends, passed or failed.
//!
//! No `ignore_startup_parameters`: the store's startup packet holds only `user`, `database`
//! and `client_encoding` (which PgBouncer tracks); `application_name` is set by a query after
//! connecting, inside the transaction that holds the whole connection setup (without the
//! statement cache the store leaves the timeouts to the database role).

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use evo_postgres::PgSessionRepository;
use evo_postgres::test_support::TestDatabase;

/// Where Debian's package puts the binary, then other usual places (`PATH` is searched too).
const BINARY_PATHS: &[&str] = &["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer", "/usr/local/bin/pgbouncer"];

/// Each PgBouncer's folder is `{FOLDER_PREFIX}{test process ID}-{n}` in the temp folder.
const FOLDER_PREFIX: &str = "evo-pgbouncer-";

/// Server connections per database: fewer than the store's 8 + 1 client connections.
const SERVER_POOL_SIZE: usize = 3;

/// Client connections PgBouncer accepts: the store's 9 and some room.
const MAX_CLIENT_CONNECTIONS: usize = 20;

/// What a test keeps until it ends. Fields drop in order: PgBouncer stops first (closing its
/// server connections), then the database is dropped.
#[derive(Debug)]
struct BehindPgBouncer {
    bouncer: PgBouncer,
    database: TestDatabase,
}

async fn store() -> (PgSessionRepository, BehindPgBouncer) {
    let database = TestDatabase::create().await;
    let upstream = Upstream::of(&database.url);
    let bouncer = {
        let upstream = upstream.clone();
        tokio::task::spawn_blocking(move || PgBouncer::start(&upstream)).await.expect("start PgBouncer")
    };
    let mut config = database.config();
    config.url = upstream.url_through(bouncer.port);
    config.prepared_statement_cache = false;
    // Notifications need PostgreSQL itself: transaction pooling does not carry them.
    config.notify_url = Some(database.config().url);
    let repository = PgSessionRepository::connect(config).await.unwrap_or_else(|error| {
        panic!("connect to the test database through PgBouncer: {error}\n{}", bouncer.log_tail())
    });
    let repository = repository.with_outbox(evo_store_testkit::outbox_for_webhooks());
    // `connect` pinged: the store's traffic goes through this PgBouncer, to this database.
    assert!(
        bouncer.client_logins(&upstream.database) > 0,
        "PgBouncer saw no login to {}:\n{}",
        upstream.database,
        bouncer.log_tail()
    );
    (repository, BehindPgBouncer { bouncer, database })
}

evo_store_testkit::repository_contract_tests!(store());

/// The suite above really runs on transaction pooling: during a contract case with 32
/// concurrent changes, the store's client connections outnumber PgBouncer's server
/// connections, which never exceed the pool size, and the case passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_store_connections_share_fewer_server_connections() {
    let (repository, keep_alive) = store().await;
    evo_store_testkit::cases::concurrent_removals_of_distinct_members_all_succeed(Arc::new(repository)).await;
    let database = Upstream::of(&keep_alive.database.url).database;
    let clients = keep_alive.bouncer.client_logins(&database);
    let servers = keep_alive.bouncer.server_connections(&database);
    let log = keep_alive.bouncer.log_tail();
    assert!((1..=SERVER_POOL_SIZE).contains(&servers), "{servers} server connections:\n{log}");
    assert!(clients > servers, "{clients} client connections on {servers} server connections:\n{log}");
}

/// The PostgreSQL behind PgBouncer, from the test database's URL.
#[derive(Debug, Clone)]
struct Upstream {
    user: String,
    port: u16,
    database: String,
    query: Option<String>,
}

impl Upstream {
    /// Parses `postgres://user[:password]@host[:port]/database[?query]`. Panics unless the host
    /// is the loopback: PgBouncer connects with `auth_type = trust` on 127.0.0.1 only.
    fn of(url: &str) -> Self {
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, Some(query.to_owned())),
            None => (rest, None),
        };
        let (authority, database) = rest.split_once('/').unwrap_or((rest, "postgres"));
        let (user, host) = authority.rsplit_once('@').unwrap_or(("postgres", authority));
        let user = user.split(':').next().unwrap_or("postgres").to_owned();
        let (host, port) = match host.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().unwrap_or_else(|_| panic!("a port in {url:?}"))),
            None => (host, 5432),
        };
        assert!(
            host == "127.0.0.1" || host == "localhost",
            "the PgBouncer test needs the PostgreSQL of TEST_DATABASE_URL on 127.0.0.1, not {host:?}"
        );
        Self { user, port, database: database.to_owned(), query }
    }

    /// The same database, through PgBouncer on `port`.
    fn url_through(&self, port: u16) -> String {
        let query = self.query.as_ref().map(|query| format!("?{query}")).unwrap_or_default();
        format!("postgres://{}@127.0.0.1:{port}/{}{query}", self.user, self.database)
    }
}

/// A PgBouncer of one test's own, stopped and its folder removed on drop.
#[derive(Debug)]
struct PgBouncer {
    port: u16,
    folder: PathBuf,
    process: Option<Child>,
}

impl PgBouncer {
    /// Writes the ini, starts PgBouncer as the `postgres` user and waits until its port
    /// accepts connections. Panics, saying what to install, when PgBouncer is missing.
    fn start(upstream: &Upstream) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let binary = pgbouncer_binary();
        let (uid, gid) = postgres_user();
        reclaim_orphans();
        let folder = std::env::temp_dir().join(format!(
            "{FOLDER_PREFIX}{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(&folder).unwrap();
        std::os::unix::fs::chown(&folder, Some(uid), Some(gid)).unwrap();
        std::fs::write(folder.join("userlist.txt"), format!("\"{}\" \"\"\n", upstream.user)).unwrap();
        let mut bouncer = Self { port: 0, folder, process: None };
        // The free port may be taken between our probe and PgBouncer's bind: then another one.
        for _ in 0..5 {
            bouncer.port = free_port();
            std::fs::write(bouncer.ini(), bouncer.config(upstream)).unwrap();
            let output = File::create(bouncer.folder.join("output.log")).unwrap();
            let process = Command::new(&binary)
                .arg(bouncer.ini())
                .uid(uid)
                .gid(gid)
                .current_dir(&bouncer.folder)
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .stdin(Stdio::null())
                .stdout(output.try_clone().unwrap())
                .stderr(output)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
            bouncer.process = Some(process);
            match bouncer.wait_until_listening() {
                Ok(()) => return bouncer,
                Err(exit) if bouncer.log_tail().contains("Address already in use") => {
                    eprintln!("PgBouncer could not bind port {} ({exit}); another port", bouncer.port);
                }
                Err(exit) => panic!("PgBouncer exited before it listened ({exit}):\n{}", bouncer.log_tail()),
            }
        }
        panic!("PgBouncer found no free port:\n{}", bouncer.log_tail());
    }

    fn ini(&self) -> PathBuf {
        self.folder.join("pgbouncer.ini")
    }

    fn config(&self, upstream: &Upstream) -> String {
        let folder = self.folder.display();
        format!(
            "[databases]\n\
             * = host=127.0.0.1 port={upstream_port}\n\
             \n\
             [pgbouncer]\n\
             pool_mode = transaction\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = trust\n\
             auth_file = {folder}/userlist.txt\n\
             max_client_conn = {MAX_CLIENT_CONNECTIONS}\n\
             default_pool_size = {SERVER_POOL_SIZE}\n\
             min_pool_size = 0\n\
             reserve_pool_size = 0\n\
             logfile = {folder}/pgbouncer.log\n\
             pidfile = {folder}/pgbouncer.pid\n\
             log_connections = 1\n\
             log_disconnections = 1\n\
             log_pooler_errors = 1\n",
            upstream_port = upstream.port,
            port = self.port,
        )
    }

    /// Until a TCP connection to the port succeeds while our process runs, and its pidfile
    /// names it (nobody else answers on that port). `Err` with the exit status if it exits.
    fn wait_until_listening(&mut self) -> Result<(), String> {
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let process = self.process.as_mut().expect("started");
            if let Some(status) = process.try_wait().unwrap() {
                self.process = None;
                return Err(status.to_string());
            }
            let pid = process.id().to_string();
            let pidfile = std::fs::read_to_string(self.folder.join("pgbouncer.pid")).unwrap_or_default();
            if pidfile.trim() == pid
                && TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok()
            {
                return Ok(());
            }
            assert!(Instant::now() < deadline, "PgBouncer not listening within 20 s:\n{}", self.log_tail());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// PgBouncer's log file.
    fn log(&self) -> String {
        std::fs::read_to_string(self.folder.join("pgbouncer.log")).unwrap_or_default()
    }

    /// The end of the log, for failure messages; before PgBouncer opened its log file (a
    /// refused ini, a port taken), what it wrote to stderr (which, in the foreground, repeats
    /// the log file's lines).
    fn log_tail(&self) -> String {
        let mut log = self.log();
        if log.is_empty() {
            log = std::fs::read_to_string(self.folder.join("output.log")).unwrap_or_default();
        }
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Client connections that logged in to `database` (`log_connections`).
    fn client_logins(&self, database: &str) -> usize {
        self.log().lines().filter(|line| line.contains(&format!("login attempt: db={database} "))).count()
    }

    /// Server connections PgBouncer opened to `database` (`log_connections`).
    fn server_connections(&self, database: &str) -> usize {
        let prefix = format!(" {database}/");
        self.log()
            .lines()
            .filter(|line| line.contains(&prefix) && line.contains("new connection to server"))
            .count()
    }

    /// SIGTERM (immediate shutdown) by PID, SIGKILL after 5 s. Never panics.
    fn stop(&mut self) {
        let Some(mut process) = self.process.take() else { return };
        signal("TERM", process.id());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = process.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = process.kill();
        let _ = process.wait();
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("PgBouncer's log (port {}):\n{}", self.port, self.log_tail());
        }
        self.stop();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// `pgbouncer` on `PATH`, else at a known path. Panics saying what to install.
fn pgbouncer_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).map(|folder| folder.join("pgbouncer")).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(BINARY_PATHS.iter().map(PathBuf::from))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "PgBouncer not found (on PATH, or at {}): install it (`apt-get install -y \
                 pgbouncer`, as scripts/db-up.sh does). docs/api.md (\"Durability and several \
                 instances\") promises that the store works behind PgBouncer in transaction mode, \
                 and this suite proves it.",
                BINARY_PATHS.join(", ")
            )
        })
}

/// The `postgres` OS user's uid and gid.
fn postgres_user() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let output = Command::new("id").args([flag, "postgres"]).output().expect("run id");
        assert!(
            output.status.success(),
            "no `postgres` OS user (installing PostgreSQL creates it): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().parse().expect("a numeric id")
    };
    (id("-u"), id("-g"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// PgBouncers left by test processes killed before their Drop ran (a CI timeout, ^C): the
/// process, when it still runs on that folder's ini, is stopped, and the folder goes.
/// Folders of live test processes are left alone.
fn reclaim_orphans() {
    for entry in std::fs::read_dir(std::env::temp_dir()).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(owner) = name.strip_prefix(FOLDER_PREFIX).and_then(|rest| rest.split('-').next()) else {
            continue;
        };
        let Ok(owner) = owner.parse::<u32>() else { continue };
        if owner == std::process::id() || alive(owner) {
            continue;
        }
        let pidfile = std::fs::read_to_string(entry.path().join("pgbouncer.pid")).unwrap_or_default();
        if let Ok(pid) = pidfile.trim().parse::<u32>() {
            // Only a PgBouncer of that very folder: the PID may have been reused since.
            let command = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let ini = entry.path().join("pgbouncer.ini");
            if alive(pid) && String::from_utf8_lossy(&command).contains(&*ini.to_string_lossy()) {
                signal("TERM", pid);
                let deadline = Instant::now() + Duration::from_secs(5);
                while alive(pid) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(50));
                }
                if alive(pid) {
                    signal("KILL", pid);
                }
            }
        }
        let _ = std::fs::remove_dir_all(entry.path());
    }
}

/// `kill -s SIGNAL PID`. A PID already gone is not an error worth stopping for.
fn signal(name: &str, pid: u32) {
    // Never 0, 1 or ourselves: `kill` would reach far more than PgBouncer.
    assert!(pid > 1 && pid != std::process::id(), "{pid}");
    let _ = Command::new("kill").args(["-s", name, "--", &pid.to_string()]).status();
}

/// Running or stopped, not dead nor a zombie waiting to be reaped (from /proc/PID/stat).
fn alive(pid: u32) -> bool {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let state = text.rfind(')').and_then(|end| text[end + 1..].split_whitespace().next());
    !matches!(state, None | Some("Z" | "X"))
}

#[test]
fn upstream_urls_are_parsed_and_rewritten() {
    let upstream = Upstream::of("postgres://postgres@127.0.0.1:5432/evo_test_1");
    assert_eq!((upstream.user.as_str(), upstream.port), ("postgres", 5432));
    assert_eq!(upstream.url_through(6000), "postgres://postgres@127.0.0.1:6000/evo_test_1");
    let upstream = Upstream::of("postgres://me:secret@localhost/db?sslmode=disable");
    assert_eq!((upstream.user.as_str(), upstream.port), ("me", 5432));
    assert_eq!(upstream.url_through(6000), "postgres://me@127.0.0.1:6000/db?sslmode=disable");
}
