//! # evo-sqlite
//!
//! The embedded SQLite session store of evo-sessions: the zero-setup default. diesel, with
//! reads on diesel-async's `SyncConnectionWrapper` (each runs on Tokio's blocking pool) and
//! writes on a thread of their own ([`writer`]), bundled SQLite, migrations from
//! `migrations/sqlite` compiled in.
//!
//! Every connection uses WAL (readers never wait for the writer), `busy_timeout`,
//! `foreign_keys=ON` and `synchronous=FULL` (in WAL mode `NORMAL` may lose the last commits on
//! power loss, and a 200 must survive it: docs/api.md, "Durability and several instances"). Each change runs in one `BEGIN IMMEDIATE`
//! transaction: it takes the write lock before reading, so changes are serialized (a
//! deferred transaction that upgrades to a write could fail with `SQLITE_BUSY` at once,
//! whatever the busy timeout); they take turns on one writer connection, first come first
//! served, and reads use a pool beside it. The rule itself is decided in the domain,
//! [`Session::apply`](evo_domain::Session::apply), inside that transaction.

mod change;
mod error;
mod idempotency;
mod load;
mod outbox;
mod pool;
mod repository;
mod search;
mod statements;
mod writer;

use std::path::PathBuf;
use std::time::Duration;

use diesel::sqlite::SqliteConnection;
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, embed_migrations};

pub use repository::SqliteSessionRepository;

/// The migrations of `migrations/sqlite`, compiled in.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../../migrations/sqlite");

type AsyncSqlite = SyncConnectionWrapper<SqliteConnection>;

/// Where the SQLite database lives and how it is used.
#[derive(Debug, Clone)]
pub struct SqliteConfig {
    /// The database file; its folder and the file are created when missing.
    pub path: PathBuf,
    /// Connections for reads (they run in parallel); writes have one connection of their
    /// own beside them, on which they take turns.
    pub pool_size: usize,
    /// How long a statement waits for a lock before the store answers `Unavailable`; also
    /// bounds the wait for a free connection.
    pub busy_timeout: Duration,
}

impl SqliteConfig {
    /// Settings for the database at `path`: a pool of 2 × cores (at least 4) and a busy
    /// timeout of 5 s.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Self { path: path.into(), pool_size: (2 * cores).max(4), busy_timeout: Duration::from_secs(5) }
    }
}

/// Why the SQLite store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SqliteStoreError {
    /// The database's folder could not be created.
    #[error("cannot create the folder of {path}: {source}")]
    CreateFolder {
        /// The database file.
        path: String,
        /// The I/O failure.
        source: std::io::Error,
    },
    /// The database could not be opened.
    #[error("cannot open the SQLite database {path}: {reason}")]
    Open {
        /// The database file.
        path: String,
        /// What failed.
        reason: String,
    },
    /// A migration failed.
    #[error("migrating the SQLite database failed: {0}")]
    Migration(String),
    /// The pool could not be built.
    #[error("cannot build the connection pool: {0}")]
    Pool(String),
}
