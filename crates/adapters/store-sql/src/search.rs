//! What both stores share when finding sessions: the "contains" pattern, and sessions put
//! back together from a page of headers and their members (without their log).

use evo_domain::Session;
use evo_ports::{SessionPage, SessionSearch};

use crate::{CorruptRow, MemberRecord, SessionRecord, restore_session};

/// Members of several sessions as a store reads them: `(session_id, member)`, in join order.
pub type MemberRows = Vec<(String, MemberRecord)>;

/// Sessions' headers and their members, as a store reads them.
pub type SessionRows = (Vec<SessionRecord>, MemberRows);

/// The escape character of [`contains_pattern`] (`LIKE … ESCAPE '\'`).
pub const LIKE_ESCAPE: char = '\\';

/// A `LIKE` pattern that matches `text` anywhere: `%`, `_` and `\` in it match themselves.
pub fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | LIKE_ESCAPE) {
            pattern.push(LIKE_ESCAPE);
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The sessions of `headers`, in their order, each with its members from `members` (rows of
/// any of them, `(session_id, member)`, in join order) and an empty log.
pub fn assemble(headers: Vec<SessionRecord>, members: MemberRows) -> Result<Vec<Session>, CorruptRow> {
    let mut by_session: std::collections::HashMap<String, Vec<MemberRecord>> =
        std::collections::HashMap::with_capacity(headers.len());
    for (session_id, member) in members {
        by_session.entry(session_id).or_default().push(member);
    }
    headers
        .into_iter()
        .map(|header| {
            let members = by_session.remove(&header.id).unwrap_or_default();
            restore_session(header, members, Vec::new())
        })
        .collect()
}

/// A page from the rows a store read for `search`: it reads one more than the page holds,
/// which says whether more follow.
pub fn page_of(
    search: &SessionSearch,
    mut headers: Vec<SessionRecord>,
    members: MemberRows,
    total_count: Option<i64>,
) -> Result<SessionPage, CorruptRow> {
    let (_, limit) = search.paging.window();
    let has_more = headers.len() > limit as usize;
    headers.truncate(limit as usize);
    Ok(SessionPage {
        sessions: assemble(headers, members)?,
        total_count: total_count.map(|count| u64::try_from(count).unwrap_or(0)),
        has_more,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contains_pattern_matches_wildcards_literally() {
        assert_eq!(contains_pattern("ann"), "%ann%");
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
