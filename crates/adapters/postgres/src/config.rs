//! How to reach PostgreSQL and how the pool behaves.

use std::fmt;
use std::time::Duration;

/// Connection and pool settings of the PostgreSQL store.
#[derive(Clone)]
pub struct PgConfig {
    /// `postgres://user:password@host:port/database`. Never logged with its password.
    pub url: String,
    /// Most connections open at once.
    pub pool_size: usize,
    /// Longest wait for a free connection before answering `Unavailable`.
    pub wait_timeout: Duration,
    /// Longest time to open a new connection.
    pub create_timeout: Duration,
    /// Longest time to check a returned connection before reuse.
    pub recycle_timeout: Duration,
    /// The server's `statement_timeout` for every statement of the store.
    pub statement_timeout: Duration,
    /// The `application_name` every connection reports (shown in `pg_stat_activity`).
    pub application_name: String,
    /// Whether to cache prepared statements per connection. Turn off behind PgBouncer in
    /// transaction mode (older than 1.21), where a connection's prepared statements vanish.
    pub prepared_statement_cache: bool,
    /// Connections of the outbox's own pool (live streams); numbering and webhook delivery
    /// have one more each of their own.
    pub events_pool_size: usize,
    /// Where the event listener connects (`LISTEN` needs PostgreSQL itself, not PgBouncer
    /// in transaction mode); `None`: [`url`](Self::url).
    pub notify_url: Option<String>,
    /// A standby (or several hosts) that serves searches while its replay is within
    /// [`replica_max_lag`](Self::replica_max_lag) of the primary; `None`: every read on the
    /// primary.
    pub replica_url: Option<String>,
    /// How far behind the primary a replica may be and still serve a search.
    pub replica_max_lag: Duration,
}

impl PgConfig {
    /// Settings for `url` with defaults: pool of 2 × cores, waits of 2 s for a connection,
    /// 2 s to create one, 1 s to recycle one, 5 s per statement, the statement cache on.
    pub fn new(url: impl Into<String>) -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Self {
            url: url.into(),
            pool_size: 2 * cores,
            wait_timeout: Duration::from_secs(2),
            create_timeout: Duration::from_secs(2),
            recycle_timeout: Duration::from_secs(1),
            statement_timeout: Duration::from_secs(5),
            application_name: "evo-sessions".to_owned(),
            prepared_statement_cache: true,
            events_pool_size: 2,
            notify_url: None,
            replica_url: None,
            replica_max_lag: Duration::from_millis(1000),
        }
    }

    /// The URL with its password replaced by `***`, for logs and errors.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }

    /// Longest a store operation holding a connection may take before the store gives up on
    /// it (guards against a silent network where no server-side timeout fires): a lock wait
    /// and a write, each bounded by the statement timeout, plus a second of slack.
    pub(crate) fn query_deadline(&self) -> Duration {
        self.statement_timeout * 2 + Duration::from_secs(1)
    }
}

impl fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConfig")
            .field("url", &self.redacted_url())
            .field("pool_size", &self.pool_size)
            .field("wait_timeout", &self.wait_timeout)
            .field("create_timeout", &self.create_timeout)
            .field("recycle_timeout", &self.recycle_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("application_name", &self.application_name)
            .field("prepared_statement_cache", &self.prepared_statement_cache)
            .field("replica_url", &self.replica_url.as_deref().map(redact_url))
            .field("replica_max_lag", &self.replica_max_lag)
            .finish()
    }
}

/// Replaces the password of a `scheme://user:password@host/...` URL with `***`.
pub(crate) fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    match authority[..at].find(':') {
        Some(colon) => format!("{}{}:***{}", &url[..scheme_end], &authority[..colon], &rest[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(redact_url("postgres://u:s3cret@h:5432/db?x=1"), "postgres://u:***@h:5432/db?x=1");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
        assert_eq!(redact_url("postgres://u:p@ss@h/db"), "postgres://u:***@h/db");
        let config = PgConfig::new("postgres://u:s3cret@h/db");
        assert!(!format!("{config:?}").contains("s3cret"));
        assert!(config.pool_size >= 2);
    }
}
