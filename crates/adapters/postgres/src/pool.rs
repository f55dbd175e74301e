//! Building the pools: sized and timed from the configuration, each new connection named and
//! bounded (and, behind PgBouncer, set up in one transaction).

use diesel::sql_types::Text;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use futures_util::FutureExt;

use crate::config::PgConfig;
use crate::error::PgStoreError;

/// Builds the deadpool of `AsyncPgConnection`s: sized and timed from `config`; each new
/// connection sets `application_name`, `statement_timeout` and
/// `idle_in_transaction_session_timeout`, and turns off its statement cache if asked.
pub(crate) fn build_pool(config: &PgConfig) -> Result<Pool<AsyncPgConnection>, PgStoreError> {
    let settings = ConnectionSettings::of(config);
    let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
    // No `SELECT 1` before each checkout: it would cost a round trip per operation. A
    // connection the server or network closed is still noticed (`is_closed`) and replaced,
    // and a failure on a half-open one is answered as `Unavailable` and drops it.
    manager_config.recycling_method = RecyclingMethod::Fast;
    manager_config.custom_setup = Box::new(move |url| settings.clone().establish(url.to_owned()).boxed());
    let manager = AsyncDieselConnectionManager::new_with_config(config.url.clone(), manager_config);
    Pool::builder(manager)
        .max_size(config.pool_size.max(1))
        .wait_timeout(Some(config.wait_timeout))
        .create_timeout(Some(config.create_timeout))
        .recycle_timeout(Some(config.recycle_timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| PgStoreError::Pool(e.to_string()))
}

#[derive(Debug, Clone)]
struct ConnectionSettings {
    application_name: String,
    statement_timeout_ms: u128,
    idle_in_transaction_timeout_ms: u128,
    statement_cache: bool,
}

impl ConnectionSettings {
    fn of(config: &PgConfig) -> Self {
        Self {
            application_name: config.application_name.clone(),
            statement_timeout_ms: config.statement_timeout.as_millis().max(1),
            // A client that vanished mid-transaction must not hold a session's lock for long.
            idle_in_transaction_timeout_ms: config.query_deadline().as_millis(),
            statement_cache: config.prepared_statement_cache,
        }
    }

    async fn establish(self, url: String) -> diesel::ConnectionResult<AsyncPgConnection> {
        if self.statement_cache {
            let mut connection = AsyncPgConnection::establish(&url).await?;
            self.configure(&mut connection).await?;
            return Ok(connection);
        }
        // Behind PgBouncer in transaction mode every round trip outside a transaction may go
        // to another server connection, and a statement prepared in one trip is then missing
        // in the next ("prepared statement sN does not exist", found by the PgBouncer
        // contract suite): so the whole setup, diesel-async's own included, runs in one
        // transaction, on one server connection.
        let (client, driver) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
        tokio::spawn(async move {
            if let Err(error) = driver.await {
                tracing::debug!(%error, "a PostgreSQL connection ended");
            }
        });
        let setup_error = |e: tokio_postgres::Error| diesel::ConnectionError::BadConnection(e.to_string());
        client.batch_execute("BEGIN").await.map_err(setup_error)?;
        let mut connection = AsyncPgConnection::try_from(client).await?;
        connection.set_prepared_statement_cache_size(diesel::connection::CacheSize::Disabled);
        self.configure(&mut connection).await?;
        connection
            .batch_execute("COMMIT")
            .await
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
        Ok(connection)
    }

    /// Names the connection and bounds its statements. Behind PgBouncer (no statement cache)
    /// only the name: session settings would stay on the server connection for whichever
    /// client gets it next, so timeouts belong on the database role there (docs/operations.md).
    async fn configure(&self, mut connection: &mut AsyncPgConnection) -> diesel::ConnectionResult<()> {
        // Bound values, not text pasted into SQL: the application name comes from config.
        let configured = if self.statement_cache {
            diesel::sql_query(
                "SELECT set_config('application_name', $1, false), \
                        set_config('statement_timeout', $2, false), \
                        set_config('idle_in_transaction_session_timeout', $3, false)",
            )
            .bind::<Text, _>(self.application_name.clone())
            .bind::<Text, _>(format!("{}ms", self.statement_timeout_ms))
            .bind::<Text, _>(format!("{}ms", self.idle_in_transaction_timeout_ms))
            .execute(&mut connection)
            .await
        } else {
            diesel::sql_query("SELECT set_config('application_name', $1, false)")
                .bind::<Text, _>(self.application_name.clone())
                .execute(&mut connection)
                .await
        };
        configured.map(|_| ()).map_err(diesel::ConnectionError::CouldntSetupConfiguration)
    }
}
