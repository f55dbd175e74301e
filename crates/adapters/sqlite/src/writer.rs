//! The writer: every write of the store runs on one connection, first come first served, and
//! changes that queue while it is busy share one transaction and so one durable commit
//! (group commit).
//!
//! With `synchronous = FULL` each commit waits for the disk (an `fsync` of the WAL), and
//! SQLite lets one writer in at a time: one change per commit caps the store at one change
//! per `fsync`, however many requests wait. So the writer takes every change waiting when it
//! begins (at most [`MOST_PER_COMMIT`]) into one `BEGIN IMMEDIATE` transaction, each change in
//! a savepoint of its own (a refused change rolls back only itself), commits once, and only
//! then answers each of them. Nothing is answered before the commit that holds it.
//!
//! A change that meets a database error inside a shared transaction (not a refusal: an error
//! of SQLite's, after which the transaction may be gone) rolls the whole group back, and
//! every change of it then runs again alone, in a transaction of its own, as if it had come
//! alone. Other writes (the outbox's, purges) always run alone.
//!
//! A write that waited longer than the busy timeout for its turn is refused unrun
//! (`Unavailable`): it never runs after its caller was told it failed. A write whose caller
//! is gone before its turn (the request dropped) is not run either, as on PostgreSQL, where a
//! dropped request's transaction is rolled back.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::result::Error as DieselError;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, QueryResult};
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use evo_ports::RepositoryError;
use tokio::sync::oneshot;

use crate::{AsyncSqlite, database_error, pool_error};

/// Most changes in one transaction: bounds what one failed commit takes down, and how long
/// the write lock is held at once.
const MOST_PER_COMMIT: usize = 64;

/// Runs `work` in a write transaction: `BEGIN IMMEDIATE` when alone, a savepoint inside the
/// writer's shared transaction.
pub(crate) fn write_transaction<T, E, F>(connection: &mut SqliteConnection, work: F) -> Result<T, E>
where
    F: FnOnce(&mut SqliteConnection) -> Result<T, E>,
    E: From<DieselError>,
{
    let depth = AnsiTransactionManager::transaction_manager_status_mut(connection).transaction_depth()?;
    if depth.is_some() { connection.transaction(work) } else { connection.immediate_transaction(work) }
}

/// One queued write, its result kept until its commit is known.
trait Write: Send {
    /// Whether it may share a transaction with others.
    fn shares(&self) -> bool;
    fn waited_too_long(&self, now: Instant) -> bool;
    /// Whether its caller is gone (the request was dropped): it is then not run at all.
    fn abandoned(&self) -> bool;
    /// Runs it; false when it met a database error (its transaction may be gone).
    fn run(&mut self, connection: &mut SqliteConnection) -> bool;
    /// Forgets the result of a run whose transaction was rolled back.
    fn forget(&mut self);
    /// Answers the caller with its result, now that its commit is settled.
    fn answer(self: Box<Self>);
    /// Answers the caller with `error` (its result, if any, was not committed).
    fn refuse(self: Box<Self>, error: RepositoryError);
}

struct Queued<F, R> {
    work: F,
    shares: bool,
    /// For a change: whether its result is a database error.
    failed: fn(&R) -> bool,
    result: Option<QueryResult<R>>,
    reply: oneshot::Sender<Result<R, RepositoryError>>,
    deadline: Instant,
}

impl<F, R> Write for Queued<F, R>
where
    F: FnMut(&mut SqliteConnection) -> QueryResult<R> + Send,
    R: Send,
{
    fn shares(&self) -> bool {
        self.shares
    }

    fn waited_too_long(&self, now: Instant) -> bool {
        now > self.deadline
    }

    fn abandoned(&self) -> bool {
        self.reply.is_closed()
    }

    fn run(&mut self, connection: &mut SqliteConnection) -> bool {
        let result = (self.work)(connection);
        let clean = result.as_ref().is_ok_and(|r| !(self.failed)(r));
        self.result = Some(result);
        clean
    }

    fn forget(&mut self) {
        self.result = None;
    }

    fn answer(self: Box<Self>) {
        let answer = match self.result {
            Some(Ok(result)) => Ok(result),
            Some(Err(error)) => Err(database_error(&error)),
            None => Err(RepositoryError::Internal("a write was answered before it ran".into())),
        };
        let _ = self.reply.send(answer);
    }

    fn refuse(self: Box<Self>, error: RepositoryError) {
        let _ = self.reply.send(Err(error));
    }
}

/// The queue in front of the writer connection.
pub(crate) struct Writer {
    connection: Pool<AsyncSqlite>,
    queue: Mutex<VecDeque<Box<dyn Write>>>,
    /// Whether a drain is running (at most one at a time).
    draining: AtomicBool,
    patience: Duration,
}

impl Writer {
    /// `connection`: a pool of one; `patience`: how long a write may wait for its turn.
    pub(crate) fn new(connection: Pool<AsyncSqlite>, patience: Duration) -> Arc<Self> {
        Arc::new(Self { connection, queue: Mutex::default(), draining: AtomicBool::new(false), patience })
    }

    /// Runs `work` alone, in its own transaction (or none), after the writes before it.
    pub(crate) async fn alone<R: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&mut SqliteConnection) -> QueryResult<R> + Send + 'static,
    ) -> Result<R, RepositoryError> {
        let mut work = Some(work);
        let once = move |connection: &mut SqliteConnection| match work.take() {
            Some(work) => work(connection),
            None => Err(DieselError::QueryBuilderError("a write ran twice".into())),
        };
        self.enqueue(once, false, |_| false).await
    }

    /// Runs the change `work` (which opens its transaction with [`write_transaction`]),
    /// possibly in one transaction with other changes; `failed` says whether its result is
    /// a database error. `work` may run twice, the first run rolled back.
    pub(crate) async fn change<R: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnMut(&mut SqliteConnection) -> QueryResult<R> + Send + 'static,
        failed: fn(&R) -> bool,
    ) -> Result<R, RepositoryError> {
        self.enqueue(work, true, failed).await
    }

    async fn enqueue<R: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnMut(&mut SqliteConnection) -> QueryResult<R> + Send + 'static,
        shares: bool,
        failed: fn(&R) -> bool,
    ) -> Result<R, RepositoryError> {
        let (reply, answer) = oneshot::channel();
        let deadline = Instant::now() + self.patience;
        let write = Queued { work, shares, failed, result: None, reply, deadline };
        self.lock_queue().push_back(Box::new(write));
        if !self.draining.swap(true, Ordering::AcqRel) {
            tokio::spawn(Arc::clone(self).drain());
        }
        answer.await.unwrap_or_else(|_| Err(RepositoryError::Internal("the writer stopped".into())))
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Box<dyn Write>>> {
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs the queue empty, then stands down (or goes on, if a write came meanwhile).
    async fn drain(self: Arc<Self>) {
        let mut stand_down = StandDown(Some(&self));
        loop {
            match self.connection.get().await {
                Ok(mut connection) => {
                    let writer = Arc::clone(&self);
                    let drained = connection.spawn_blocking(move |c| Ok(writer.run_queue(c))).await;
                    if !matches!(drained, Ok(true)) {
                        // Its transaction state is unknown: close it; the pool opens another.
                        drop(Object::take(connection));
                    }
                }
                Err(error) => {
                    let error = pool_error(error);
                    let waiting: Vec<_> = self.lock_queue().drain(..).collect();
                    for write in waiting {
                        write.refuse(error.clone());
                    }
                }
            }
            self.draining.store(false, Ordering::Release);
            if self.lock_queue().is_empty() || self.draining.swap(true, Ordering::AcqRel) {
                stand_down.0 = None;
                return;
            }
        }
    }

    /// Runs groups until the queue is empty; false when the connection must be closed.
    fn run_queue(&self, connection: &mut SqliteConnection) -> bool {
        loop {
            let group = self.next_group();
            if group.is_empty() {
                return true;
            }
            run_group(connection, group);
            let state =
                AnsiTransactionManager::transaction_manager_status_mut(connection).transaction_depth();
            if !matches!(state, Ok(None)) {
                return false;
            }
        }
    }

    /// The next write if it runs alone, else every sharing change at the front (at most
    /// [`MOST_PER_COMMIT`]). Writes that waited too long are refused here.
    fn next_group(&self) -> Vec<Box<dyn Write>> {
        let now = Instant::now();
        let mut queue = self.lock_queue();
        let mut group: Vec<Box<dyn Write>> = Vec::new();
        while let Some(write) = queue.pop_front() {
            if write.abandoned() {
                continue;
            }
            if write.waited_too_long(now) {
                write.refuse(RepositoryError::Unavailable(format!(
                    "the write waited more than {:?} for the database",
                    self.patience
                )));
                continue;
            }
            let alone = !write.shares();
            if alone && !group.is_empty() {
                queue.push_front(write);
                break;
            }
            group.push(write);
            if alone || group.len() == MOST_PER_COMMIT {
                break;
            }
        }
        group
    }
}

/// Runs a group: one write on its own; several changes in one transaction, answered after
/// its commit; or, when one of them met a database error, each again alone.
fn run_group(connection: &mut SqliteConnection, mut group: Vec<Box<dyn Write>>) {
    if group.len() == 1 {
        let mut write = group.pop().expect("one write");
        write.run(connection);
        write.answer();
        return;
    }
    let mut clean = true;
    let shared = connection.immediate_transaction::<(), DieselError, _>(|connection| {
        for write in &mut group {
            if !write.run(connection) {
                clean = false;
                return Err(DieselError::RollbackTransaction);
            }
        }
        Ok(())
    });
    match shared {
        Ok(()) => group.into_iter().for_each(|write| write.answer()),
        Err(_) if !clean => {
            // Rolled back; unless the connection is left in a transaction it does not know.
            let depth =
                AnsiTransactionManager::transaction_manager_status_mut(connection).transaction_depth();
            if !matches!(depth, Ok(None)) {
                let error = RepositoryError::Unavailable("the database failed in a transaction".into());
                group.into_iter().for_each(|write| write.refuse(error.clone()));
                return;
            }
            for mut write in group {
                write.forget();
                write.run(connection);
                write.answer();
            }
        }
        Err(error) => {
            let error = database_error(&error);
            group.into_iter().for_each(|write| write.refuse(error.clone()));
        }
    }
}

/// Stands a drain down when it is dropped unfinished (its runtime shutting down): the next
/// write starts another, and the writes waiting are refused rather than left hanging.
struct StandDown<'a>(Option<&'a Writer>);

impl Drop for StandDown<'_> {
    fn drop(&mut self) {
        if let Some(writer) = self.0 {
            let waiting: Vec<_> = writer.lock_queue().drain(..).collect();
            writer.draining.store(false, Ordering::Release);
            for write in waiting {
                write.refuse(RepositoryError::Unavailable("the writer stopped".into()));
            }
        }
    }
}
