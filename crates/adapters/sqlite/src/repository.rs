//! [`SqliteSessionRepository`]: the port's implementation over the writer thread and the pool.

use std::sync::Arc;

use async_trait::async_trait;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use evo_domain::SessionEvent;
use evo_domain::{Actor, IfVersion, Session, SessionCommand, SessionId, Timestamp, VisibleAccounts};
use evo_ports::{
    ChangeOutcome, Idempotency, KeptAnswer, MemberSessions, RepositoryError, SessionPage, SessionRepository,
    SessionSearch, UpdateError,
};
use evo_store_sql::search::{assemble, page_of};
use evo_store_sql::{ChangeRequest, EventSignal, KeptAnswerRow, Outbox, kept_answer_of, restore_session};

use crate::change::{change_session, insert_session};
use crate::error::{ChangeFailure, ErrorMeaning, database_error, database_failed, pool_error};
use crate::idempotency::{NO_ACCOUNT, kept_answer};
use crate::load::load;
use crate::pool::{build_pool, connect, connection_pragmas, create_private, migrate};
use crate::search::{search_sessions, sessions_with_member};
use crate::writer::Writer;
use crate::{AsyncSqlite, SqliteConfig, SqliteStoreError};

/// Sessions in a SQLite file. Cheap to clone: clones share one connection pool.
///
/// When the last clone is dropped, the writer connection closes once the writer has finished
/// (a moment after the last write's answer, on the writer's thread): a connection opened
/// right after should set a busy timeout.
#[derive(Clone)]
pub struct SqliteSessionRepository {
    pool: Pool<AsyncSqlite>,
    outbox: Outbox,
    pub(crate) signal: EventSignal,
    /// The one connection every write runs on, first come first served ([`writer`]):
    /// changes waiting for it share a transaction and one durable commit. SQLite lets one
    /// writer in at a time: writers on several connections waited in its busy handler
    /// (sleeping up to 100 ms between tries, newcomers first: the c=16 tail ran to a second)
    /// and found their page caches emptied by the others' commits (docs/performance.md).
    writer: Arc<Writer>,
    /// The account the last delivery claim ended with: the next one starts after it.
    pub(crate) claim_cursor: Arc<std::sync::Mutex<String>>,
}

impl std::fmt::Debug for SqliteSessionRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteSessionRepository").field("pool", &self.pool.status()).finish()
    }
}

impl SqliteSessionRepository {
    /// Opens (creating when missing) the database at `config.path`, applies the pending
    /// migrations and builds the pool. Needs a multi-threaded Tokio runtime.
    pub async fn open(config: SqliteConfig) -> Result<Self, SqliteStoreError> {
        let path_text = config.path.display().to_string();
        create_private(&config.path)
            .map_err(|source| SqliteStoreError::CreateFolder { path: path_text.clone(), source })?;
        let pragmas = connection_pragmas(config.busy_timeout);
        let (migrate_path, migrate_pragmas) = (path_text.clone(), pragmas.clone());
        tokio::task::spawn_blocking(move || migrate(&migrate_path, &migrate_pragmas))
            .await
            .map_err(|e| SqliteStoreError::Migration(format!("the migration task failed: {e}")))??;

        Ok(Self {
            pool: build_pool(&path_text, &pragmas, config.pool_size, config.busy_timeout)?,
            outbox: Outbox::default(),
            signal: EventSignal::default(),
            claim_cursor: Arc::default(),
            writer: Writer::start(
                Box::new(move || {
                    connect(&path_text, &pragmas)
                        .map_err(|e| RepositoryError::Unavailable(format!("cannot open the database: {e}")))
                }),
                config.busy_timeout,
            )
            .map_err(|e| SqliteStoreError::Open {
                path: config.path.display().to_string(),
                reason: format!("cannot start the writer thread: {e}"),
            })?,
        })
    }

    /// The same store, writing each change's event as `outbox` says.
    pub fn with_outbox(self, outbox: Outbox) -> Self {
        Self { outbox, ..self }
    }

    /// [`run`](Self::run) for a write that is not a change: on the writer connection, alone,
    /// after the writes before it.
    pub(crate) async fn run_writing<R: Send + 'static>(
        &self,
        task: impl FnOnce(&mut SqliteConnection) -> QueryResult<R> + Send + 'static,
    ) -> Result<R, RepositoryError> {
        self.writer.alone(task).await
    }

    /// Runs `task` on a pooled connection, on the blocking pool.
    pub(crate) async fn run<R: Send + 'static>(
        &self,
        task: impl FnOnce(&mut SqliteConnection) -> QueryResult<R> + Send + 'static,
    ) -> Result<R, RepositoryError> {
        let mut connection: Object<AsyncSqlite> = self.pool.get().await.map_err(pool_error)?;
        connection.spawn_blocking(task).await.map_err(|e| database_error(&e))
    }
}

#[async_trait]
impl SessionRepository for SqliteSessionRepository {
    async fn insert(
        &self,
        session: &Session,
        actor: &Actor,
        idempotency: Option<Idempotency>,
    ) -> Result<ChangeOutcome<()>, UpdateError> {
        let event = self.outbox.record(&SessionEvent::session_created(session, actor));
        self.outbox.check_new_session(session, &event)?;
        let session = session.clone();
        let inserted = self
            .writer
            .change(
                move |connection| {
                    Ok(insert_session(connection, &session, event.clone(), idempotency.as_ref()))
                },
                database_failed,
            )
            .await?;
        match inserted {
            Ok(event_id) => {
                self.signal.raise(event_id);
                Ok(ChangeOutcome::Applied(()))
            }
            Err(ChangeFailure::Database(error))
                if ErrorMeaning::of(&error) == ErrorMeaning::DuplicateSession =>
            {
                Err(RepositoryError::AlreadyExists.into())
            }
            Err(failure) => failure.into_outcome(),
        }
    }

    async fn find(&self, id: &SessionId, actor: &Actor) -> Result<Option<Session>, RepositoryError> {
        let (id, actor) = (id.as_str().to_owned(), actor.clone());
        // One deferred (read) transaction: header, members and log from one snapshot.
        let loaded = self
            .run(move |connection| {
                connection.transaction(|connection| load(connection, &id, actor.visible_accounts()))
            })
            .await?;
        match loaded {
            None => Ok(None),
            Some((header, members, log)) => restore_session(header, members, log)
                .map(Some)
                .map_err(|corrupt| RepositoryError::Internal(corrupt.to_string())),
        }
    }

    async fn update(
        &self,
        id: &SessionId,
        actor: &Actor,
        command: &SessionCommand,
        if_version: Option<IfVersion>,
        idempotency: Option<Idempotency>,
        now: Timestamp,
    ) -> Result<ChangeOutcome<Session>, UpdateError> {
        let (id, actor, command, outbox) = (id.clone(), actor.clone(), command.clone(), self.outbox.clone());
        let changed = self
            .writer
            .change(
                move |connection| {
                    let request = ChangeRequest {
                        id: &id,
                        actor: &actor,
                        command: &command,
                        if_version: if_version.as_ref(),
                        idempotency: idempotency.as_ref(),
                        now,
                    };
                    Ok(change_session(connection, &outbox, request))
                },
                database_failed,
            )
            .await?;
        match changed {
            Ok((session, event_id)) => {
                self.signal.raise(event_id);
                Ok(ChangeOutcome::Applied(session))
            }
            Err(failure) => failure.into_outcome(),
        }
    }

    async fn kept_answer(
        &self,
        idempotency: &Idempotency,
        actor: &Actor,
        now: Timestamp,
    ) -> Result<Option<KeptAnswer>, UpdateError> {
        let (request, actor) = (idempotency.clone(), actor.clone());
        let kept = self
            .run(move |connection| kept_answer(connection, &request, actor.visible_accounts(), now))
            .await?;
        kept_answer_of(kept, idempotency)
    }

    async fn keep_answer(
        &self,
        idempotency: &Idempotency,
        answer: &KeptAnswer,
        now: Timestamp,
    ) -> Result<ChangeOutcome<()>, UpdateError> {
        let (request, answer) = (idempotency.clone(), answer.clone());
        // On the one writer: the lookup and the insert cannot interleave with another's.
        let earlier = self
            .run_writing(move |connection| {
                connection.immediate_transaction(|connection| {
                    if let Some(earlier) = kept_answer(connection, &request, VisibleAccounts::All, now)? {
                        return Ok(Some(earlier.answer_to(&request)));
                    }
                    let row = KeptAnswerRow::of_answer(&request, answer);
                    crate::statements::KeepAnswer {
                        account_id: NO_ACCOUNT,
                        scope: &request.scope,
                        key: &request.key,
                        record: &row,
                        expires_at: evo_store_sql::TimestampValue(request.expires_at),
                    }
                    .execute(connection)?;
                    Ok(None)
                })
            })
            .await?;
        match earlier {
            None => Ok(ChangeOutcome::Applied(())),
            Some(verdict) => verdict.into_outcome(),
        }
    }

    async fn search(&self, search: &SessionSearch) -> Result<SessionPage, RepositoryError> {
        let query = search.clone();
        let (headers, count, members) =
            self.run(move |connection| search_sessions(connection, &query)).await?;
        page_of(search, headers, members, count)
            .map_err(|corrupt| RepositoryError::Internal(corrupt.to_string()))
    }

    async fn sessions_with_member(&self, query: &MemberSessions) -> Result<Vec<Session>, RepositoryError> {
        let query = query.clone();
        let (headers, members) = self.run(move |connection| sessions_with_member(connection, &query)).await?;
        assemble(headers, members).map_err(|corrupt| RepositoryError::Internal(corrupt.to_string()))
    }

    async fn purge_expired_keys(&self, now: Timestamp, limit: u32) -> Result<u64, RepositoryError> {
        let purged = self
            .run_writing(move |connection| {
                diesel::sql_query(
                    "DELETE FROM idempotency_keys WHERE rowid IN \
                     (SELECT rowid FROM idempotency_keys WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)",
                )
                .bind::<diesel::sql_types::TimestamptzSqlite, _>(now)
                .bind::<diesel::sql_types::Integer, _>(i32::try_from(limit).unwrap_or(i32::MAX))
                .execute(connection)
            })
            .await?;
        Ok(purged as u64)
    }

    async fn ping(&self) -> Result<(), RepositoryError> {
        self.run(|connection| connection.batch_execute("SELECT 1")).await
    }
}
