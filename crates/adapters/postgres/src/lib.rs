//! # evo-postgres
//!
//! The PostgreSQL session store of evo-sessions (the production store): diesel with
//! diesel-async (no libpq), a deadpool connection pool with explicit timeouts, and one short
//! transaction per change, pipelined to two round trips (see [`repository`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), evo_postgres::PgStoreError> {
//! use evo_postgres::{PgConfig, PgSessionRepository, run_migrations};
//! let config = PgConfig::new("postgres://evo@127.0.0.1/evo");
//! run_migrations(&config).await?;
//! let sessions = PgSessionRepository::connect(config).await?;
//! # let _ = sessions; Ok(()) }
//! ```
//!
//! With the `test-support` feature, `test_support::TestDatabase` gives each test a fresh
//! migrated database.

mod advisory_locks;
mod change;
mod config;
mod connection;
mod error;
mod idempotency;
mod load;
mod lost_commit;
mod migrations;
mod outbox;
mod pool;
mod replica;
pub mod repository;
mod search;
mod statements;
#[cfg(feature = "test-support")]
pub mod test_support;
mod transaction;

pub use config::PgConfig;
pub use error::PgStoreError;
pub use migrations::{MIGRATIONS, run_migrations};
pub use repository::PgSessionRepository;
