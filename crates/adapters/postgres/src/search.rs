//! Finding sessions (ListSessions, a member's active sessions): each in one read-only
//! snapshot, every statement index-backed (docs/performance.md, "Finding sessions").

use diesel::dsl::not;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use evo_domain::AccountId;
use evo_ports::{AccountScope, MemberSessions, SessionFilter, SessionSearch, SortField, SortOrder};
use evo_store_sql::schema::{session_log, session_members, sessions};
use evo_store_sql::search::{LIKE_ESCAPE, MemberRows, SessionRows, contains_pattern};
use evo_store_sql::{MemberRecord, SessionRecord, TimestampValue};

use crate::error::Failure;
use crate::transaction::{Control, Protocol, control, rollback};

/// Headers of a page, the count of every match, and the members of the page's sessions.
pub(crate) type SearchRows = (Vec<SessionRecord>, Option<i64>, MemberRows);

fn account_names(accounts: &[AccountId]) -> Vec<String> {
    accounts.iter().map(|account| account.as_str().to_owned()).collect()
}

/// The sessions `search` matches, unordered and unpaged: built anew for the page and for the
/// count.
fn matching(search: &SessionSearch) -> sessions::BoxedQuery<'static, Pg> {
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
    // "Contains", ignoring case: each column's trigram index answers its ILIKE.
    if let Some(text) = &search.filter.from {
        let pattern = contains_pattern(text);
        query = query.filter(
            sessions::from_address
                .ilike(pattern.clone())
                .escape(LIKE_ESCAPE)
                .or(sessions::from_name.ilike(pattern.clone()).escape(LIKE_ESCAPE))
                .or(sessions::from_phone_number.ilike(pattern).escape(LIKE_ESCAPE)),
        );
    }
    if let Some(text) = &search.filter.to {
        let pattern = contains_pattern(text);
        query = query.filter(
            sessions::to_address
                .ilike(pattern.clone())
                .escape(LIKE_ESCAPE)
                .or(sessions::destination.ilike(pattern).escape(LIKE_ESCAPE)),
        );
    }
    if let Some(text) = &search.filter.log {
        // A semi-join the planner can start from the log's trigram index.
        let in_log = session_log::table
            .filter(session_log::message.ilike(contains_pattern(text)).escape(LIKE_ESCAPE))
            .select(session_log::session_id);
        query = query.filter(sessions::id.eq_any(in_log));
    }
    query
}

/// One page of `search`'s matches (one more than the page holds), in its order.
fn page(search: &SessionSearch) -> sessions::BoxedQuery<'static, Pg> {
    let query = matching(search);
    // The session ID breaks ties, so that pages never overlap.
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
async fn members_of(
    mut connection: &AsyncPgConnection,
    headers: &[SessionRecord],
) -> QueryResult<MemberRows> {
    if headers.is_empty() {
        return Ok(Vec::new());
    }
    let mut accounts: Vec<String> = headers.iter().map(|h| h.account_id.clone()).collect();
    accounts.sort_unstable();
    accounts.dedup();
    let ids: Vec<String> = headers.iter().map(|h| h.id.clone()).collect();
    session_members::table
        .filter(session_members::account_id.eq_any(accounts))
        .filter(session_members::session_id.eq_any(ids))
        .order((session_members::session_id, session_members::position))
        .select((session_members::session_id, MemberRecord::as_select()))
        .load(&mut connection)
        .await
}

/// Runs `read` in one read-only snapshot.
async fn in_snapshot<T>(
    connection: &AsyncPgConnection,
    protocol: Protocol,
    read: impl Future<Output = QueryResult<T>>,
) -> Result<T, Failure> {
    control(connection, protocol, Control::BeginSnapshot).await?;
    match read.await {
        Ok(value) => {
            control(connection, protocol, Control::Commit).await?;
            Ok(value)
        }
        Err(error) => {
            let _ = rollback(connection, protocol).await;
            Err(error.into())
        }
    }
}

/// The page of `search`, its count when asked, and the page's members: the page and the
/// count pipelined, then the members.
pub(crate) async fn search_sessions(
    connection: &AsyncPgConnection,
    protocol: Protocol,
    search: &SessionSearch,
) -> Result<SearchRows, Failure> {
    in_snapshot(connection, protocol, async {
        let mut page_connection = connection;
        let mut count_connection = connection;
        let headers = page(search).select(SessionRecord::as_select()).load(&mut page_connection);
        let (headers, count) = if search.paging.count {
            let count = matching(search).count().get_result::<i64>(&mut count_connection);
            let (headers, count) = futures_util::join!(headers, count);
            (headers?, Some(count?))
        } else {
            (headers.await?, None)
        };
        let (_, limit) = search.paging.window();
        let members = members_of(connection, &headers[..headers.len().min(limit as usize)]).await?;
        Ok((headers, count, members))
    })
    .await
}

/// The sessions, not ended, with `query.identity` a member: from the members' identity
/// index to the sessions' key.
pub(crate) async fn sessions_with_member(
    connection: &AsyncPgConnection,
    protocol: Protocol,
    query: &MemberSessions,
) -> Result<SessionRows, Failure> {
    in_snapshot(connection, protocol, async {
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
        let mut connection_ref = connection;
        let headers: Vec<SessionRecord> = headers
            .filter(sessions::id.eq_any(in_sessions))
            .order((sessions::date_created.desc(), sessions::id.desc()))
            .limit(i64::from(query.limit))
            .select(SessionRecord::as_select())
            .load(&mut connection_ref)
            .await?;
        let members = members_of(connection, &headers).await?;
        Ok((headers, members))
    })
    .await
}
