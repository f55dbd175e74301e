//! A pooled connection that is closed, not returned to the pool, when its transaction state
//! is not known.

use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::deadpool::Object;

use crate::error::Failure;

/// A pooled connection that goes back to the pool only once known to be outside any
/// transaction; otherwise (an error mid-transaction, a timeout, a dropped future) it is
/// closed, and the server rolls back whatever it held.
pub(crate) struct ConnectionGuard {
    connection: Option<Object<AsyncPgConnection>>,
    idle: bool,
}

impl ConnectionGuard {
    pub(crate) fn new(connection: Object<AsyncPgConnection>) -> Self {
        Self { connection: Some(connection), idle: false }
    }

    pub(crate) fn connection(&self) -> &AsyncPgConnection {
        self.connection.as_deref().expect("a guard holds its connection until dropped")
    }

    /// Marks the connection as outside any transaction, so that it goes back to the pool.
    pub(crate) fn release_to_pool(&mut self) {
        self.idle = true;
    }

    /// Keeps the connection only when `result` is a success: after a failure its
    /// transaction state is not known for sure.
    pub(crate) fn settle<T>(mut self, result: Result<T, Failure>) -> Result<T, Failure> {
        if result.is_ok() {
            self.release_to_pool();
        }
        result
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take()
            && !self.idle
        {
            drop(Object::take(connection));
        }
    }
}
