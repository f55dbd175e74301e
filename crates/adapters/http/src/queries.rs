//! Finding sessions and leaving them all (docs/api.md, "ListSessions", "GetActiveSessions and
//! GetMySessions", "RemoveChatMemberFromActiveSessions"): their fields, handlers and answers.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{NaiveDate, TimeZone, Utc};
use evo_domain::{Session, SessionId, Timestamp};
use evo_ports::queries::{MAX_PAGE_SIZE, SessionPage};
use evo_ports::{
    ChangeOutcome, ListSessions, Paging, Parsed, RemovalReport, SessionFilter, SortField, SortOrder,
};

use crate::commands::{Check, Checked, MAX_TEXT_CHARS};
use crate::dto::{
    ActiveSessionsResponse, ListSessionsResponse, REMOVAL_RESULT_FIELDS, RemovalResult, RemovalsResponse,
    SESSION_INFO_FIELDS, SessionInfo,
};
use crate::error::ApiError;
use crate::format::{CsvRows, Format, render};
use crate::handlers::{AppState, path_and_query_fields, request_id};
use crate::idempotency;
use crate::openapi::IdempotencyKeyHeader;
use crate::request::RequestFields;

/// A list of sessions as CSV: one row per session.
const SESSIONS_CSV: CsvRows = CsvRows { list: Some("items"), columns: SESSION_INFO_FIELDS };
/// The active sessions as CSV.
const ACTIVE_CSV: CsvRows = CsvRows { list: Some("sessions"), columns: SESSION_INFO_FIELDS };
/// A removal report as CSV: one row per session.
pub(crate) const REMOVALS_CSV: CsvRows = CsvRows { list: Some("results"), columns: REMOVAL_RESULT_FIELDS };

impl Check<'_> {
    fn date(&mut self, field: &str, raw: Option<String>) -> Checked<Option<NaiveDate>> {
        let Some(raw) = raw.filter(|raw| !raw.trim().is_empty()) else { return Ok(None) };
        NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
            .map(Some)
            .map_err(|_| self.fail(field, "InvalidValue", format!("{field} must be a date, YYYY-MM-DD")))
    }

    fn flag(&mut self, field: &str, raw: Option<String>) -> Checked<bool> {
        match raw.as_deref().map(str::trim) {
            None | Some("") => Ok(false),
            Some(text) if text.eq_ignore_ascii_case("true") => Ok(true),
            Some(text) if text.eq_ignore_ascii_case("false") => Ok(false),
            Some(_) => Err(self.fail(field, "InvalidValue", format!("{field} must be true or false"))),
        }
    }

    fn number(
        &mut self,
        field: &str,
        raw: Option<String>,
        range: std::ops::RangeInclusive<u32>,
    ) -> Checked<Option<u32>> {
        let Some(raw) = raw.filter(|raw| !raw.trim().is_empty()) else { return Ok(None) };
        match raw.trim().parse::<u32>() {
            Ok(number) if range.contains(&number) => Ok(Some(number)),
            _ => Err(self.fail(
                field,
                "InvalidValue",
                format!("{field} must be a whole number from {} to {}", range.start(), range.end()),
            )),
        }
    }

    /// A "contains" search text: at most [`MAX_TEXT_CHARS`], no control characters; empty is none.
    fn search_text(&mut self, field: &str, raw: Option<String>) -> Checked<Option<String>> {
        let text = self.text(field, raw.filter(|raw| !raw.is_empty()), MAX_TEXT_CHARS)?;
        if text.as_deref().is_some_and(|text| text.chars().any(char::is_control)) {
            return Err(self.fail(
                field,
                "InvalidValue",
                format!("{field} cannot contain control characters"),
            ));
        }
        Ok(text)
    }

    fn sort_field(&mut self, raw: Option<String>) -> Checked<SortField> {
        match raw.as_deref().map(str::trim) {
            None | Some("") => Ok(SortField::default()),
            Some(name) if name.eq_ignore_ascii_case("dateCreated") => Ok(SortField::DateCreated),
            Some(name) if name.eq_ignore_ascii_case("dateLastModified") => Ok(SortField::DateLastModified),
            Some(_) => Err(self.fail(
                "sortField",
                "InvalidValue",
                "sortField must be dateCreated or dateLastModified",
            )),
        }
    }

    fn sort_order(&mut self, raw: Option<String>) -> Checked<SortOrder> {
        match raw.as_deref().map(str::trim) {
            None | Some("") => Ok(SortOrder::default()),
            Some("Ascend") => Ok(SortOrder::Ascend),
            Some("Descend") => Ok(SortOrder::Descend),
            Some(_) => Err(self.fail("sortOrder", "InvalidValue", "sortOrder must be Ascend or Descend")),
        }
    }
}

/// Midnight UTC of `date`.
fn midnight(date: NaiveDate) -> Timestamp {
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default())
}

/// ListSessions' fields, from the query string: every invalid one named.
pub(crate) fn list_sessions(fields: &RequestFields) -> Result<Parsed<ListSessions>, ApiError> {
    let mut check = Check::new(fields);
    let account_ids = check.raw("accountIds").and_then(|raw| check.account_ids(raw));
    let customer_ids = check.raw("customerIds").and_then(|raw| check.list_values("customerIds", raw));
    let endpoint_ids = check.raw("endpointIds").and_then(|raw| check.list_values("endpointIds", raw));
    let specific_ids =
        check.raw("specificIds").and_then(|raw| check.list_values("specificIds", raw)).and_then(|ids| {
            ids.iter()
                .map(|id| {
                    SessionId::parse(id)
                        .map_err(|e| check.fail("specificIds", "InvalidId", format!("specificIds {e}")))
                })
                .collect::<Checked<Vec<_>>>()
        });
    let start = check.raw("startDate").and_then(|raw| check.date("startDate", raw));
    let end = check.raw("endDate").and_then(|raw| check.date("endDate", raw));
    let from = check.raw("from").and_then(|raw| check.search_text("from", raw));
    let to = check.raw("to").and_then(|raw| check.search_text("to", raw));
    let log = check.raw("log").and_then(|raw| check.search_text("log", raw));
    let parent = check.raw("parentSessionId").and_then(|raw| check.search_text("parentSessionId", raw));
    // Accepted and checked; nothing is archived, so every session is searched.
    let archive = check.raw("searchArchive").and_then(|raw| check.flag("searchArchive", raw));
    let page = check.raw("page").and_then(|raw| check.number("page", raw, 0..=u32::MAX));
    let per_page =
        check.raw("countPerPage").and_then(|raw| check.number("countPerPage", raw, 1..=MAX_PAGE_SIZE));
    let all = check.raw("all").and_then(|raw| check.flag("all", raw));
    let sort = check.raw("sortField").and_then(|raw| check.sort_field(raw));
    let order = check.raw("sortOrder").and_then(|raw| check.sort_order(raw));
    let simplified = check.raw("simplifiedPaging").and_then(|raw| check.flag("simplifiedPaging", raw));
    let parsed = (|| {
        archive.ok()?;
        let filter = SessionFilter {
            account_ids: account_ids.ok()?,
            customer_ids: customer_ids.ok()?,
            endpoint_ids: endpoint_ids.ok()?,
            session_ids: specific_ids.ok()?,
            created_from: start.ok()?.map(midnight),
            // endDate is inclusive: every session created before the next midnight.
            created_before: end.ok()?.and_then(|end| end.succ_opt()).map(midnight),
            from: from.ok()?,
            to: to.ok()?,
            log: log.ok()?,
            parent_session_id: parent.ok()?,
        };
        let defaults = Paging::default();
        let paging = Paging {
            page: page.ok()?.unwrap_or(defaults.page),
            per_page: per_page.ok()?.unwrap_or(defaults.per_page),
            all: all.ok()?,
            sort: sort.ok()?,
            order: order.ok()?,
            count: !simplified.ok()?,
        };
        Some(ListSessions { filter, paging })
    })();
    check.finish(parsed)
}

/// The wire form of a page.
fn page_response(paging: &Paging, page: SessionPage) -> ListSessionsResponse {
    let (_, per_page) = paging.window();
    ListSessionsResponse {
        items: page.sessions.iter().map(SessionInfo::from).collect(),
        total_count: page.total_count,
        total_pages: page.total_count.map(|count| count.div_ceil(u64::from(per_page.max(1)))),
        has_more_pages: page.has_more,
    }
}

fn format_of(request: &HttpRequest) -> Format {
    use actix_web::HttpMessage;
    request.extensions().get::<Format>().copied().unwrap_or_default()
}

/// ListSessions: retrieve a list of sessions (a page of those the filters find in your accounts).
#[utoipa::path(
    get,
    path = "/sessions",
    operation_id = "ListSessions",
    tag = "sessions",
    params(
        ("accountIds" = Option<String>, Query, description = "The account IDs for the sessions to retrieve (comma-separated): narrows to those of your accounts"),
        ("searchArchive" = Option<bool>, Query, description = "Whether to search live or archived sessions (nothing is archived: every session is searched)"),
        ("startDate" = Option<String>, Query, description = "Created on or after this day (YYYY-MM-DD, UTC)"),
        ("endDate" = Option<String>, Query, description = "Created on or before this day (YYYY-MM-DD, UTC)"),
        ("customerIds" = Option<String>, Query, description = "Customer IDs (comma-separated)"),
        ("endpointIds" = Option<String>, Query, description = "Endpoint IDs (comma-separated)"),
        ("from" = Option<String>, Query, description = "Filter by the from (this is a contains search over fromAddress, fromName and fromPhoneNumber, ignoring case)", max_length = 1024),
        ("to" = Option<String>, Query, description = "Filter by the to (this is a contains search over toAddress and destination, ignoring case)", max_length = 1024),
        ("log" = Option<String>, Query, description = "Filter by text in the log (contains, ignoring case)", max_length = 1024),
        ("parentSessionId" = Option<String>, Query, description = "Filter by parent session ID (no session has a parent: matches none)"),
        ("page" = Option<u32>, Query, description = "The page, from 0"),
        ("all" = Option<bool>, Query, description = "Every match in one page (at most 10 000): should be used with care"),
        ("countPerPage" = Option<u32>, Query, description = "Sessions per page: 100 by default, at most 1000", minimum = 1, maximum = 1000),
        ("specificIds" = Option<String>, Query, description = "Only these session IDs (comma-separated)"),
        ("sortField" = Option<String>, Query, description = "dateCreated (default) or dateLastModified"),
        ("sortOrder" = Option<String>, Query, description = "Ascend or Descend (default)"),
        ("simplifiedPaging" = Option<bool>, Query, description = "Disables total / page counts (faster); hasMorePages is still set"),
    ),
    responses((status = 200, description = "One page of the sessions found, each with its members (its log empty: GetSession gives it)", content((ListSessionsResponse = "application/json"), (String = "text/csv"), (String = "text/jsv")))),
    security(("bearer" = []), ("ss-tok" = []))
)]
pub async fn list_sessions_handler(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let actor = state.authenticate(&request).await?;
    let fields = path_and_query_fields(&request, &[])?;
    let query = list_sessions(&fields)?;
    let paging = query.as_ref().map(|query| query.paging).unwrap_or_default();
    let page =
        state.use_cases.list_sessions(&actor, query).await.map_err(|error| state.fail(&request, error))?;
    render(format_of(&request), "ListSessions", &page_response(&paging, page), SESSIONS_CSV)
}

async fn active_sessions(
    request: HttpRequest,
    state: web::Data<AppState>,
    operation: &str,
) -> Result<HttpResponse, ApiError> {
    let actor = state.authenticate(&request).await?;
    let sessions: Vec<Session> =
        state.use_cases.active_sessions(&actor).await.map_err(|error| state.fail(&request, error))?;
    let body = ActiveSessionsResponse { sessions: sessions.iter().map(SessionInfo::from).collect() };
    render(format_of(&request), operation, &body, ACTIVE_CSV)
}

/// GetActiveSessions: get your active sessions (not ended, you a member), newest first.
#[utoipa::path(
    get,
    path = "/sessions/active",
    operation_id = "GetActiveSessions",
    tag = "sessions",
    responses((status = 200, description = "Your active sessions, newest first, at most 1000, each with its members (its log empty)", content((ActiveSessionsResponse = "application/json"), (String = "text/csv"), (String = "text/jsv")))),
    security(("bearer" = []), ("ss-tok" = []))
)]
pub async fn get_active_sessions(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    active_sessions(request, state, "GetActiveSessions").await
}

/// GetMySessions: get all your active sessions (GetActiveSessions under its older name).
#[utoipa::path(
    get,
    path = "/sessions/my",
    operation_id = "GetMySessions",
    tag = "sessions",
    responses((status = 200, description = "Your active sessions, as GetActiveSessions answers them", content((ActiveSessionsResponse = "application/json"), (String = "text/csv"), (String = "text/jsv")))),
    security(("bearer" = []), ("ss-tok" = []))
)]
pub async fn get_my_sessions(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    active_sessions(request, state, "GetMySessions").await
}

/// The wire form of a removal report; each refusal as DeleteChatMember would have answered.
pub(crate) fn removals_response(
    report: &RemovalReport,
    request_id: &str,
    retry_after: Duration,
) -> RemovalsResponse {
    let results = report
        .results
        .iter()
        .map(|result| {
            let (status, error_code) = match &result.outcome {
                Ok(()) => (200, None),
                Err(error) => {
                    let error = ApiError::from_service(error.clone(), request_id, retry_after);
                    use actix_web::ResponseError;
                    (error.status_code().as_u16(), Some(error.error_code().to_owned()))
                }
            };
            RemovalResult { session_id: result.session_id.as_str().to_owned(), status, error_code }
        })
        .collect();
    RemovalsResponse { results, removed: report.removed(), has_more: report.has_more }
}

/// RemoveChatMemberFromActiveSessions: removes the specified member from every active chat of
/// your accounts, one session at a time.
#[utoipa::path(
    delete,
    path = "/sessions/active/members/{memberId}",
    operation_id = "RemoveChatMemberFromActiveSessions",
    tag = "sessions",
    params(
        ("memberId" = String, Path, description = "The member to remove: a cell phone number or a user ID (email), percent-encoded", pattern = r"^(?:[A-Za-z0-9._+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,3}|\+[1-9][0-9]{6,14})$"),
        ("memberToRemove" = Option<String>, Query, description = "The member to remove: a cell phone number or a user ID (email); overrides the `{memberId}` segment. A raw `+` decodes to a space, read back as `+`", pattern = r"^(?:[A-Za-z0-9._+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,3}|\+[1-9][0-9]{6,14})$"),
        ("reason" = Option<String>, Query, description = "Why: written in each removal's log entry. At most 500 characters, no control characters", max_length = 500, pattern = r"^[^\x00-\x1f\x7f]{0,500}$"),
        ("accountIds" = Option<String>, Query, description = "Only in these of your accounts (comma-separated)"),
        IdempotencyKeyHeader,
    ),
    responses((status = 200, description = "Each session's outcome (200, or what DeleteChatMember would have answered), whatever they were", content((RemovalsResponse = "application/json"), (String = "text/csv"), (String = "text/jsv")))),
    security(("bearer" = []), ("ss-tok" = []))
)]
pub async fn remove_chat_member_from_active_sessions(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let actor = state.authenticate_change(&request).await?;
    let fields = path_and_query_fields(&request, &[("memberId", "memberToRemove")])?;
    let command = crate::commands::remove_from_active_sessions(&fields, &request)?;
    let outcome = state
        .use_cases
        .remove_from_active_sessions(&actor, command)
        .await
        .map_err(|error| state.fail(&request, error))?;
    match outcome {
        ChangeOutcome::Applied(report) => {
            let body = removals_response(&report, &request_id(&request), state.retry_after);
            render(format_of(&request), "RemoveChatMemberFromActiveSessions", &body, REMOVALS_CSV)
        }
        ChangeOutcome::Replayed(answer) => Ok(idempotency::replay(answer)),
    }
}
