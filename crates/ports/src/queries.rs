//! Finding sessions (docs/api.md, "ListSessions", "GetActiveSessions"): what a search asks a
//! store for, and what it gets back. The use cases decide the accounts searched (the caller's,
//! narrowed); the stores only filter, order and page.

use evo_domain::{AccountId, Channel, MemberIdentity, Session, SessionId, Timestamp};

/// Most sessions one page holds (`countPerPage`).
pub const MAX_PAGE_SIZE: u32 = 1000;
/// Sessions a page holds unless asked otherwise.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Most sessions `all` returns.
pub const MAX_ALL: u32 = 10_000;
/// Most sessions GetActiveSessions returns, and RemoveChatMemberFromActiveSessions changes
/// per request.
pub const MAX_ACTIVE: u32 = 1000;

/// The accounts a search looks in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountScope {
    /// Every account (a caller who sees all, naming none).
    All,
    /// Only these; none: the search finds nothing.
    Only(Vec<AccountId>),
}

/// What ListSessions orders by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortField {
    /// `dateCreated`.
    #[default]
    DateCreated,
    /// `dateLastModified`.
    DateLastModified,
}

/// Which way (`SortOrders`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// Oldest first.
    Ascend,
    /// Newest first.
    #[default]
    Descend,
}

/// ListSessions' filters, as the edge parsed them. Every filter given must hold (AND); a list
/// matches any of its values; an empty list does not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFilter {
    /// Narrows to these of the caller's accounts.
    pub account_ids: Vec<AccountId>,
    /// `customerId` is one of these.
    pub customer_ids: Vec<String>,
    /// `endpointId` is one of these.
    pub endpoint_ids: Vec<String>,
    /// The session is one of these.
    pub session_ids: Vec<SessionId>,
    /// Created at or after.
    pub created_from: Option<Timestamp>,
    /// Created before.
    pub created_before: Option<Timestamp>,
    /// Contained, ignoring case, in `fromAddress`, `fromName` or `fromPhoneNumber`.
    pub from: Option<String>,
    /// Contained, ignoring case, in `toAddress` or `destination`.
    pub to: Option<String>,
    /// Contained, ignoring case, in a message of the session's log.
    pub log: Option<String>,
    /// `parentSessionId`: no session here has a parent, so any value matches none.
    pub parent_session_id: Option<String>,
}

/// Which page, in which order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// From 0.
    pub page: u32,
    /// Sessions a page holds, at most [`MAX_PAGE_SIZE`].
    pub per_page: u32,
    /// Every match in one page (at most [`MAX_ALL`]): `page` and `per_page` are ignored.
    pub all: bool,
    /// The order's field.
    pub sort: SortField,
    /// The order's way.
    pub order: SortOrder,
    /// Whether to count every match (`simplifiedPaging` off).
    pub count: bool,
}

impl Default for Paging {
    fn default() -> Self {
        Self {
            page: 0,
            per_page: DEFAULT_PAGE_SIZE,
            all: false,
            sort: SortField::default(),
            order: SortOrder::default(),
            count: true,
        }
    }
}

impl Paging {
    /// How many matches to skip, and the most to return.
    pub fn window(&self) -> (u64, u32) {
        if self.all { (0, MAX_ALL) } else { (u64::from(self.page) * u64::from(self.per_page), self.per_page) }
    }
}

/// ListSessions, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListSessions {
    /// What to find.
    pub filter: SessionFilter,
    /// Which page.
    pub paging: Paging,
}

/// What a store is asked to find: the filter (its `account_ids` already applied to
/// `accounts`), in these accounts, one page of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSearch {
    /// The accounts searched.
    pub accounts: AccountScope,
    /// The filters.
    pub filter: SessionFilter,
    /// The page.
    pub paging: Paging,
}

/// One page of matches. The sessions carry their members but not their log (GetSession
/// gives it): a page's size is bounded by its sessions' members, not by their age.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPage {
    /// The page's sessions, in the order asked for.
    pub sessions: Vec<Session>,
    /// Every match, when counted.
    pub total_count: Option<u64>,
    /// Whether matches follow this page.
    pub has_more: bool,
}

/// The sessions, not ended, in which an identity is a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSessions {
    /// The accounts searched.
    pub accounts: AccountScope,
    /// The member.
    pub identity: MemberIdentity,
    /// Only sessions of this channel.
    pub channel: Option<Channel>,
    /// The most to return, newest first.
    pub limit: u32,
}
