//! A fresh, migrated PostgreSQL database per test (feature `test-support`).
//!
//! The first [`TestDatabase::create`] of a test process migrates one template database,
//! named after a hash of `migrations/postgres` so that a changed schema gets a fresh
//! template; an advisory lock keeps parallel test processes from building it at once.
//! Every test then gets its own `CREATE DATABASE … TEMPLATE …` copy (fast), dropped when the
//! [`TestDatabase`] is dropped. Copies older than an hour (left by killed runs) are dropped
//! when the template is first checked.
//!
//! The server is `TEST_DATABASE_URL`, or `postgres://postgres@127.0.0.1:5432/postgres`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use diesel::sql_types::Text;
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tokio::sync::OnceCell;

use crate::config::{PgConfig, redact_url};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Prefix of every per-test database.
const TEST_DB_PREFIX: &str = "evo_test_";
/// Advisory lock key for building the template.
const TEMPLATE_LOCK_KEY: i64 = crate::advisory_locks::TEST_TEMPLATE;

static TEMPLATE: OnceCell<String> = OnceCell::const_new();
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A database of its own for one test, migrated, dropped on drop.
#[derive(Debug)]
pub struct TestDatabase {
    /// URL of the test's database.
    pub url: String,
    name: String,
    admin_url: String,
    dropped: bool,
}

impl TestDatabase {
    /// Creates a migrated database for one test.
    ///
    /// # Panics
    /// When no PostgreSQL server answers, with a message saying what to start or install.
    pub async fn create() -> Self {
        let admin_url = std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
        let template = TEMPLATE.get_or_init(|| async { prepare_template(&admin_url).await }).await.clone();
        Self::create_from(admin_url, Some(template)).await
    }

    /// Creates an empty database for one test, with no migration applied (for tests of the
    /// migrations themselves).
    ///
    /// # Panics
    /// As [`create`](Self::create).
    pub async fn create_empty() -> Self {
        let admin_url = std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
        Self::create_from(admin_url, None).await
    }

    async fn create_from(admin_url: String, template: Option<String>) -> Self {
        let template = template.map(|t| format!(" TEMPLATE {t}")).unwrap_or_default();
        let name = format!(
            "{TEST_DB_PREFIX}{}_{}_{}",
            unix_seconds(),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = connect_admin(&admin_url).await;
        // Cloning fails while someone is connected to the template: retry briefly.
        let mut attempts = 0;
        loop {
            match sql_query(format!("CREATE DATABASE {name}{template}")).execute(&mut admin).await {
                Ok(_) => break,
                Err(error) if attempts < 50 => {
                    attempts += 1;
                    tracing::debug!(%error, "template busy, retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("cannot create test database {name}: {error}"),
            }
        }
        // A test database need not survive a crash: commits need not wait for the disk.
        sql_query(format!("ALTER DATABASE {name} SET synchronous_commit TO off"))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("configure test database {name}: {e}"));
        Self { url: database_url(&admin_url, &name), name, admin_url, dropped: false }
    }

    /// A store configuration for this database: a small pool and short timeouts.
    pub fn config(&self) -> PgConfig {
        let mut config = PgConfig::new(self.url.clone());
        config.pool_size = 8;
        config.application_name = "evo-sessions-test".to_owned();
        config
    }

    /// Drops the database now (also done on drop). Ends its remaining connections.
    pub async fn drop_database(mut self) {
        self.dropped = true;
        drop_database(&self.admin_url, &self.name).await;
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop may run inside a Tokio runtime, which cannot block: use a thread of our own.
        let dropper = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                runtime.block_on(drop_database(&admin_url, &name));
            }
        });
        let _ = dropper.join();
    }
}

async fn drop_database(admin_url: &str, name: &str) {
    if let Ok(mut admin) = AsyncPgConnection::establish(admin_url).await {
        let _ = sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await;
    }
}

async fn connect_admin(admin_url: &str) -> AsyncPgConnection {
    match AsyncPgConnection::establish(admin_url).await {
        Ok(connection) => connection,
        Err(error) => panic!(
            "no PostgreSQL server answers at {} ({error}). Start it with \
             `pg_ctlcluster --skip-systemctl-redirect 15 main start` (or install it: \
             `apt-get install -y postgresql`), or point TEST_DATABASE_URL at a server.",
            redact_url(admin_url)
        ),
    }
}

#[derive(QueryableByName)]
struct DatabaseName {
    #[diesel(sql_type = Text)]
    datname: String,
}

/// Builds the template database of the current migrations once, under an advisory lock, and
/// drops stale per-test databases. Returns the template's name.
async fn prepare_template(admin_url: &str) -> String {
    let template = format!("evo_tpl_{:016x}", migrations_hash());
    let mut admin = connect_admin(admin_url).await;
    sql_query(format!("SELECT pg_advisory_lock({TEMPLATE_LOCK_KEY})"))
        .execute(&mut admin)
        .await
        .expect("take the template lock");
    let existing: Vec<DatabaseName> =
        sql_query("SELECT datname FROM pg_database WHERE datname LIKE 'evo\\_%'")
            .load(&mut admin)
            .await
            .expect("list databases");
    let hour_ago = unix_seconds().saturating_sub(3600);
    for database in &existing {
        let stale = database
            .datname
            .strip_prefix(TEST_DB_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|seconds| seconds.parse::<u64>().ok())
            .is_some_and(|created| created < hour_ago);
        if stale {
            let _ = sql_query(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", database.datname))
                .execute(&mut admin)
                .await;
        }
    }
    if !existing.iter().any(|d| d.datname == template) {
        // Built under another name and renamed at the end, so a half-built template from a
        // killed run is never used.
        let building = format!("{template}_building");
        sql_query(format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .expect("drop a half-built template");
        sql_query(format!("CREATE DATABASE {building}"))
            .execute(&mut admin)
            .await
            .expect("create the template");
        crate::run_migrations(&PgConfig::new(database_url(admin_url, &building)))
            .await
            .expect("migrate the template database");
        sql_query(format!("ALTER DATABASE {building} RENAME TO {template}"))
            .execute(&mut admin)
            .await
            .expect("rename the template");
    }
    let _ = sql_query(format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK_KEY})")).execute(&mut admin).await;
    template
}

/// FNV-1a over the names and contents of the migration files.
fn migrations_hash() -> u64 {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../migrations/postgres");
    let mut files = Vec::new();
    let mut folders = vec![std::path::PathBuf::from(root)];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("read migrations/postgres").flatten() {
            let path = entry.path();
            if path.is_dir() { folders.push(path) } else { files.push(path) }
        }
    }
    files.sort();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for file in files {
        let name = file.strip_prefix(root).unwrap_or(&file).to_string_lossy().into_owned();
        for byte in name.bytes().chain(std::fs::read(&file).unwrap_or_default()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// `url` with its database name replaced by `database`.
fn database_url(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_and_path = &base[scheme_end..];
    let authority = host_and_path.split('/').next().unwrap_or(host_and_path);
    let mut out = format!("{}{authority}/{database}", &base[..scheme_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

fn unix_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_swap_the_database_name() {
        assert_eq!(database_url("postgres://u@h:1/postgres", "x"), "postgres://u@h:1/x");
        assert_eq!(
            database_url("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(database_url("postgres://h", "x"), "postgres://h/x");
    }
}
