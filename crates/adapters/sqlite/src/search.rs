//! Finding sessions (ListSessions, a member's active sessions), each in one read
//! transaction (one snapshot). The "contains" searches are `LIKE` over the rows of the
//! accounts searched: no index (an FTS5 one of the log cost every change 15-25 %:
//! docs/performance.md, "Finding sessions").

use diesel::dsl::not;
use diesel::prelude::*;
use diesel::sqlite::{Sqlite, SqliteConnection};
use evo_domain::AccountId;
use evo_ports::{AccountScope, MemberSessions, SessionFilter, SessionSearch, SortField, SortOrder};
use evo_store_sql::schema::{session_log, session_members, sessions};
use evo_store_sql::search::{LIKE_ESCAPE, MemberRows, SessionRows, contains_pattern};
use evo_store_sql::{MemberRecord, SessionRecord, TimestampValue};

/// Headers of a page, the count of every match, and the members of the page's sessions.
pub(crate) type SearchRows = (Vec<SessionRecord>, Option<i64>, MemberRows);

fn account_names(accounts: &[AccountId]) -> Vec<String> {
    accounts.iter().map(|account| account.as_str().to_owned()).collect()
}

/// The sessions `search` matches, unordered and unpaged.
fn matching(search: &SessionSearch) -> sessions::BoxedQuery<'static, Sqlite> {
    let mut query = sessions::table.into_boxed();
    match &search.accounts {
        AccountScope::All => {}
        // One account as `=`, so that `(account_id, date_created)` gives the order and a deep
        // page reads that account's rows only (`= ANY` gives no order: docs/performance.md).
        AccountScope::Only(accounts) if accounts.len() == 1 => {
            query = query.filter(sessions::account_id.eq(accounts[0].as_str().to_owned()));
        }
        AccountScope::Only(accounts) => {
            query = query.filter(sessions::account_id.eq_any(account_names(accounts)));
        }
    }
    let SessionFilter { customer_ids, endpoint_ids, session_ids, created_from, created_before, .. } =
        &search.filter;
    if !customer_ids.is_empty() {
        query = query.filter(sessions::customer_id.eq_any(customer_ids.clone()));
    }
    if !endpoint_ids.is_empty() {
        query = query.filter(sessions::endpoint_id.eq_any(endpoint_ids.clone()));
    }
    if !session_ids.is_empty() {
        let ids: Vec<String> = session_ids.iter().map(|id| id.as_str().to_owned()).collect();
        query = query.filter(sessions::id.eq_any(ids));
    }
    if let Some(from) = created_from {
        query = query.filter(sessions::date_created.ge(TimestampValue(*from)));
    }
    if let Some(before) = created_before {
        query = query.filter(sessions::date_created.lt(TimestampValue(*before)));
    }
    // SQLite's LIKE ignores the case of ASCII letters.
    if let Some(text) = &search.filter.from {
        let pattern = contains_pattern(text);
        query = query.filter(
            sessions::from_address
                .like(pattern.clone())
                .escape(LIKE_ESCAPE)
                .or(sessions::from_name.like(pattern.clone()).escape(LIKE_ESCAPE))
                .or(sessions::from_phone_number.like(pattern).escape(LIKE_ESCAPE)),
        );
    }
    if let Some(text) = &search.filter.to {
        let pattern = contains_pattern(text);
        query = query.filter(
            sessions::to_address
                .like(pattern.clone())
                .escape(LIKE_ESCAPE)
                .or(sessions::destination.like(pattern).escape(LIKE_ESCAPE)),
        );
    }
    if let Some(text) = &search.filter.log {
        // The log of the accounts searched only: its key leads with the account.
        let mut in_log = session_log::table
            .filter(session_log::message.like(contains_pattern(text)).escape(LIKE_ESCAPE))
            .select(session_log::session_id)
            .into_boxed();
        if let AccountScope::Only(accounts) = &search.accounts {
            in_log = in_log.filter(session_log::account_id.eq_any(account_names(accounts)));
        }
        query = query.filter(sessions::id.eq_any(in_log));
    }
    query
}

/// One page of `search`'s matches (one more than the page holds), in its order.
fn page(search: &SessionSearch) -> sessions::BoxedQuery<'static, Sqlite> {
    let query = matching(search);
    let query = match (search.paging.sort, search.paging.order) {
        (SortField::DateCreated, SortOrder::Descend) => {
            query.order((sessions::date_created.desc(), sessions::id.desc()))
        }
        (SortField::DateCreated, SortOrder::Ascend) => query.order((sessions::date_created, sessions::id)),
        (SortField::DateLastModified, SortOrder::Descend) => {
            query.order((sessions::date_last_modified.desc(), sessions::id.desc()))
        }
        (SortField::DateLastModified, SortOrder::Ascend) => {
            query.order((sessions::date_last_modified, sessions::id))
        }
    };
    let (offset, limit) = search.paging.window();
    query.offset(i64::try_from(offset).unwrap_or(i64::MAX)).limit(i64::from(limit) + 1)
}

/// The members of `headers`' sessions, `(session_id, member)` in join order.
fn members_of(connection: &mut SqliteConnection, headers: &[SessionRecord]) -> QueryResult<MemberRows> {
    if headers.is_empty() {
        return Ok(Vec::new());
    }
    let mut accounts: Vec<&str> = headers.iter().map(|h| h.account_id.as_str()).collect();
    accounts.sort_unstable();
    accounts.dedup();
    let ids: Vec<&str> = headers.iter().map(|h| h.id.as_str()).collect();
    session_members::table
        .filter(session_members::account_id.eq_any(accounts))
        .filter(session_members::session_id.eq_any(ids))
        .order((session_members::session_id, session_members::position))
        .select((session_members::session_id, MemberRecord::as_select()))
        .load(connection)
}

/// The page of `search`, its count when asked, and the page's members, in one snapshot.
pub(crate) fn search_sessions(
    connection: &mut SqliteConnection,
    search: &SessionSearch,
) -> QueryResult<SearchRows> {
    connection.transaction(|connection| {
        let headers: Vec<SessionRecord> = page(search).select(SessionRecord::as_select()).load(connection)?;
        let count = if search.paging.count {
            Some(matching(search).count().get_result::<i64>(connection)?)
        } else {
            None
        };
        let (_, limit) = search.paging.window();
        let members = members_of(connection, &headers[..headers.len().min(limit as usize)])?;
        Ok((headers, count, members))
    })
}

/// The sessions, not ended, with `query.identity` a member, in one snapshot.
pub(crate) fn sessions_with_member(
    connection: &mut SqliteConnection,
    query: &MemberSessions,
) -> QueryResult<SessionRows> {
    connection.transaction(|connection| {
        let mut in_sessions = session_members::table
            .filter(session_members::identity_key.eq(query.identity.key().to_owned()))
            .select(session_members::session_id)
            .into_boxed();
        let mut headers = sessions::table.filter(not(sessions::ended)).into_boxed();
        if let AccountScope::Only(accounts) = &query.accounts {
            in_sessions = in_sessions.filter(session_members::account_id.eq_any(account_names(accounts)));
            headers = headers.filter(sessions::account_id.eq_any(account_names(accounts)));
        }
        if let Some(channel) = query.channel {
            headers = headers.filter(sessions::channel.eq(channel.as_str()));
        }
        let headers: Vec<SessionRecord> = headers
            .filter(sessions::id.eq_any(in_sessions))
            .order((sessions::date_created.desc(), sessions::id.desc()))
            .limit(i64::from(query.limit))
            .select(SessionRecord::as_select())
            .load(connection)?;
        let members = members_of(connection, &headers)?;
        Ok((headers, members))
    })
}
