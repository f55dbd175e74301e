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
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::result::Error as DieselError;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, QueryResult};
use evo_ports::RepositoryError;
use tokio::sync::oneshot;

use crate::error::database_error;

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

/// Opens the writer's connection, set up like every connection of the store.
pub(crate) type OpenConnection = Box<dyn Fn() -> Result<SqliteConnection, RepositoryError> + Send>;

/// The queue in front of the writer connection, which a thread of its own owns and drives.
///
/// A thread rather than a task: the writer's turns then depend on no HTTP worker's event
/// loop (a task stays on the runtime that spawned it, and an actix worker is busy with its
/// own requests), and a change costs one hop there and one back (a task on the blocking
/// pool also woke its spawner a second time, to hand the connection back).
pub(crate) struct Writer {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the writer thread when it waits for work.
    work_came: Condvar,
    /// How long a write may wait for its turn.
    patience: Duration,
}

struct State {
    queue: VecDeque<Box<dyn Write>>,
    /// Whether the writer thread waits on `work_came` (only then is it notified: a
    /// notification costs a system call).
    idle: bool,
    /// Cleared when the store is dropped: the thread finishes the queue, closes its
    /// connection and ends.
    open: bool,
}

impl Writer {
    /// Starts the writer thread; it opens its connection with `open` at the first write (and
    /// again after one it had to close). `patience`: how long a write may wait for its turn.
    pub(crate) fn start(open: OpenConnection, patience: Duration) -> std::io::Result<Arc<Self>> {
        let state = State { queue: VecDeque::new(), idle: false, open: true };
        let shared = Arc::new(Shared { state: Mutex::new(state), work_came: Condvar::new(), patience });
        let for_thread = Arc::clone(&shared);
        std::thread::Builder::new().name("sqlite-writer".into()).spawn(move || for_thread.run(&open))?;
        Ok(Arc::new(Self { shared }))
    }

    /// Runs `work` alone, in its own transaction (or none), after the writes before it.
    pub(crate) async fn alone<R: Send + 'static>(
        &self,
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
        &self,
        work: impl FnMut(&mut SqliteConnection) -> QueryResult<R> + Send + 'static,
        failed: fn(&R) -> bool,
    ) -> Result<R, RepositoryError> {
        self.enqueue(work, true, failed).await
    }

    async fn enqueue<R: Send + 'static>(
        &self,
        work: impl FnMut(&mut SqliteConnection) -> QueryResult<R> + Send + 'static,
        shares: bool,
        failed: fn(&R) -> bool,
    ) -> Result<R, RepositoryError> {
        let (reply, answer) = oneshot::channel();
        let deadline = Instant::now() + self.shared.patience;
        let write = Queued { work, shares, failed, result: None, reply, deadline };
        let wake = {
            let mut state = self.shared.lock();
            state.queue.push_back(Box::new(write));
            state.idle
        };
        if wake {
            self.shared.work_came.notify_one();
        }
        answer.await.unwrap_or_else(|_| Err(RepositoryError::Internal("the writer stopped".into())))
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shared.lock().open = false;
        self.shared.work_came.notify_one();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The writer thread: runs groups as they come, until the store is dropped.
    fn run(&self, open: &OpenConnection) {
        let mut connection: Option<SqliteConnection> = None;
        while let Some(group) = self.next_group() {
            // The connection kept from the last group, or a new one.
            let live = match connection.take().map_or_else(open, Ok) {
                Ok(live) => connection.insert(live),
                Err(error) => {
                    group.into_iter().for_each(|write| write.refuse(error.clone()));
                    continue;
                }
            };
            // A write that panics drops its group unanswered (its callers hear that the
            // writer stopped); the thread goes on for the others.
            let ran = std::panic::catch_unwind(AssertUnwindSafe(|| run_group(live, group)));
            let state = AnsiTransactionManager::transaction_manager_status_mut(live).transaction_depth();
            if ran.is_err() || !matches!(state, Ok(None)) {
                // Its transaction state is unknown: close it; the next write opens another.
                connection = None;
            }
        }
    }

    /// Waits for the next group: the next write if it runs alone, else every sharing change
    /// at the front (at most [`MOST_PER_COMMIT`]). Writes that waited too long are refused
    /// here, and writes whose caller is gone are dropped. None once the store is dropped and
    /// the queue is empty.
    fn next_group(&self) -> Option<Vec<Box<dyn Write>>> {
        let mut state = self.lock();
        loop {
            let group = self.take_group(&mut state.queue);
            if !group.is_empty() {
                return Some(group);
            }
            if !state.open {
                return None;
            }
            state.idle = true;
            state = self.work_came.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
            state.idle = false;
        }
    }

    fn take_group(&self, queue: &mut VecDeque<Box<dyn Write>>) -> Vec<Box<dyn Write>> {
        let now = Instant::now();
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

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use diesel::connection::SimpleConnection;

    use super::*;

    /// A database file of its own for one test, removed (with its WAL) when dropped.
    struct TempDatabase(PathBuf);

    impl TempDatabase {
        fn new(tag: &str) -> Self {
            Self(std::env::temp_dir().join(format!("evo-sqlite-writer-{tag}-{}.db", std::process::id())))
        }

        fn wal(&self) -> PathBuf {
            self.0.with_extension("db-wal")
        }
    }

    impl Drop for TempDatabase {
        fn drop(&mut self) {
            for path in [self.0.clone(), self.wal(), self.0.with_extension("db-shm")] {
                let _ = std::fs::remove_file(path);
            }
        }
    }

    fn opener(path: &Path) -> OpenConnection {
        let path = path.display().to_string();
        Box::new(move || {
            crate::pool::connect(&path, "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL")
                .map_err(RepositoryError::Unavailable)
        })
    }

    #[tokio::test]
    async fn a_write_that_panics_is_answered_and_the_writer_goes_on() {
        let database = TempDatabase::new("panic");
        let writer = Writer::start(opener(&database.0), Duration::from_secs(5)).expect("writer");
        let panicked =
            writer.alone(|_| -> QueryResult<()> { panic!("a write's bug (expected by this test)") }).await;
        assert!(
            matches!(&panicked, Err(RepositoryError::Internal(message)) if message.contains("writer stopped")),
            "{panicked:?}"
        );
        let next = writer.alone(|c| c.batch_execute("CREATE TABLE t (x INTEGER)"));
        let next = tokio::time::timeout(Duration::from_secs(10), next).await;
        assert!(matches!(next, Ok(Ok(()))), "the next write runs: {next:?}");
    }

    #[tokio::test]
    async fn dropping_the_writer_ends_its_thread_and_closes_its_connection() {
        let database = TempDatabase::new("drop");
        let writer = Writer::start(opener(&database.0), Duration::from_secs(5)).expect("writer");
        let wrote =
            writer.alone(|c| c.batch_execute("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1)")).await;
        assert!(matches!(wrote, Ok(())), "{wrote:?}");
        assert!(database.wal().exists(), "the writer's connection is open, in WAL mode");
        drop(writer);
        // SQLite removes the WAL file when the last connection to the database closes.
        let deadline = Instant::now() + Duration::from_secs(10);
        while database.wal().exists() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            !database.wal().exists(),
            "the writer's connection is still open after the writer was dropped"
        );
    }
}
