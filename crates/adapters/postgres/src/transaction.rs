//! Driving a transaction by hand, so that its statements pipeline: `BEGIN`, `COMMIT`,
//! `ROLLBACK`, with or without the statement cache (see the module docs of
//! [`crate::repository`], "Round trips").

use diesel::prelude::*;
use diesel_async::SimpleAsyncConnection;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::error::Failure;
use crate::statements::{Begin, BeginSnapshot, Commit, Rollback};

/// Runs one of the fixed statements (cached, so pipelined without a prepare trip).
pub(crate) async fn run<S>(mut connection: &AsyncPgConnection, statement: S) -> QueryResult<usize>
where
    S: diesel::query_builder::QueryFragment<diesel::pg::Pg> + diesel::query_builder::QueryId + Send + 'static,
{
    statement.execute(&mut connection).await
}

/// How transactions are driven, by whether prepared statements are cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// Cached prepared statements: transaction control is prepared too, and each phase of a
    /// change is one pipelined round trip.
    Pipelined,
    /// No statement cache (PgBouncer in transaction mode): transaction control goes as simple
    /// queries, so that nothing is prepared outside a transaction, and `COMMIT` waits for
    /// the statements before it (a prepare would otherwise let it overtake them).
    Unprepared,
}

/// A transaction control statement.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Control {
    Begin,
    BeginSnapshot,
    Commit,
    Rollback,
}

pub(crate) async fn control(
    connection: &AsyncPgConnection,
    protocol: Protocol,
    statement: Control,
) -> QueryResult<()> {
    match protocol {
        Protocol::Pipelined => match statement {
            Control::Begin => run(connection, Begin).await,
            Control::BeginSnapshot => run(connection, BeginSnapshot).await,
            Control::Commit => run(connection, Commit).await,
            Control::Rollback => run(connection, Rollback).await,
        }
        .map(|_| ()),
        Protocol::Unprepared => {
            let mut simple = connection;
            simple
                .batch_execute(match statement {
                    Control::Begin => "BEGIN",
                    Control::BeginSnapshot => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                    Control::Commit => "COMMIT",
                    Control::Rollback => "ROLLBACK",
                })
                .await
        }
    }
}

pub(crate) async fn rollback(connection: &AsyncPgConnection, protocol: Protocol) -> Result<(), Failure> {
    control(connection, protocol, Control::Rollback).await.map_err(Failure::from)
}
