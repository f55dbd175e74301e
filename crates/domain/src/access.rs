//! Who is calling, and what they may do (docs/api.md, "Roles and accounts").

use crate::ids::AccountId;

/// The role every session operation requires.
pub const USER_ROLE: &str = "User";
/// Passes every role check and sees every account.
pub const ADMIN_ROLE: &str = "Admin";
/// Sees every account, but passes only the role checks of roles it holds.
pub const SYSTEM_ADMINISTRATOR_ROLE: &str = "SystemAdministrator";

/// The authenticated caller, as a verified token describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The user ID (`sub`), written to `createdBy` / `lastModifiedBy`.
    pub user_id: String,
    /// The name shown in session log entries (`name`, or `sub` when absent).
    pub name: String,
    /// Role names, compared exactly and case-sensitively.
    pub roles: Vec<String>,
    /// The accounts whose sessions this caller may act on.
    pub account_ids: Vec<AccountId>,
}

/// Why the caller may not do what it asked, whatever the session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// The caller lacks a required role.
    #[error("the {role} role is required")]
    MissingRole {
        /// The role that was required.
        role: &'static str,
    },
    /// The caller may not act on this account (when creating a session in it).
    #[error("you may not create sessions in account {account}")]
    AccountNotAllowed {
        /// The account that was named.
        account: AccountId,
    },
}

impl Actor {
    /// Whether the caller passes a check for `role`: it holds it exactly, or is `Admin`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|held| held == role || held == ADMIN_ROLE)
    }

    /// Fails with [`AccessError::MissingRole`] unless [`has_role`](Self::has_role).
    pub fn require_role(&self, role: &'static str) -> Result<(), AccessError> {
        if self.has_role(role) { Ok(()) } else { Err(AccessError::MissingRole { role }) }
    }

    /// Whether the caller sees every account (`Admin` or `SystemAdministrator`).
    pub fn sees_every_account(&self) -> bool {
        self.roles.iter().any(|held| held == ADMIN_ROLE || held == SYSTEM_ADMINISTRATOR_ROLE)
    }

    /// Whether the caller may see and change sessions of `account`.
    pub fn can_access(&self, account: &AccountId) -> bool {
        self.sees_every_account() || self.account_ids.contains(account)
    }

    /// The accounts a search by this caller looks in: those it sees, narrowed to `named` when
    /// it names some, never widened (a named account it does not see is dropped, and not
    /// reported: docs/api.md, "ListSessions"). `None`: every account.
    pub fn accounts_to_search(&self, named: &[AccountId]) -> Option<Vec<AccountId>> {
        match (self.visible_accounts(), named) {
            (VisibleAccounts::All, []) => None,
            (VisibleAccounts::All, named) => Some(named.to_vec()),
            (VisibleAccounts::Only(visible), []) => Some(visible.to_vec()),
            (VisibleAccounts::Only(visible), named) => {
                Some(named.iter().filter(|account| visible.contains(account)).cloned().collect())
            }
        }
    }

    /// The accounts whose sessions the caller may see: what a store puts in its lookups, so
    /// that another account's session is never even read (nor locked).
    pub fn visible_accounts(&self) -> VisibleAccounts<'_> {
        if self.sees_every_account() {
            VisibleAccounts::All
        } else {
            VisibleAccounts::Only(&self.account_ids)
        }
    }
}

/// Which accounts a caller sees: [`Actor::visible_accounts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisibleAccounts<'a> {
    /// Every account (`Admin`, `SystemAdministrator`).
    All,
    /// Only these (possibly none).
    Only(&'a [AccountId]),
}

impl VisibleAccounts<'_> {
    /// Whether `account` is among them.
    pub fn contains(&self, account: &AccountId) -> bool {
        self.contains_str(account.as_str())
    }

    /// [`contains`](Self::contains) for an account ID as stored (a store compares its rows'
    /// text without parsing them).
    pub fn contains_str(&self, account: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(accounts) => accounts.iter().any(|visible| visible.as_str() == account),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(roles: &[&str], accounts: &[&str]) -> Actor {
        Actor {
            user_id: "ann@example.com".into(),
            name: "Ann".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            account_ids: accounts.iter().map(|a| AccountId::parse(a).unwrap()).collect(),
        }
    }

    #[test]
    fn role_checks_are_exact_and_admin_passes_all() {
        assert!(actor(&["User"], &[]).has_role(USER_ROLE));
        assert!(!actor(&["user"], &[]).has_role(USER_ROLE));
        assert!(!actor(&["Users"], &[]).has_role(USER_ROLE));
        assert!(actor(&["Admin"], &[]).has_role(USER_ROLE));
        assert!(!actor(&["SystemAdministrator"], &[]).has_role(USER_ROLE));
        assert_eq!(
            actor(&[], &[]).require_role(USER_ROLE),
            Err(AccessError::MissingRole { role: USER_ROLE })
        );
    }

    #[test]
    fn tenancy_limits_to_own_accounts_except_for_administrators() {
        let acme = AccountId::parse("acme").unwrap();
        assert!(actor(&["User"], &["acme"]).can_access(&acme));
        assert!(!actor(&["User"], &["globex"]).can_access(&acme));
        assert!(actor(&["Admin"], &[]).can_access(&acme));
        assert!(actor(&["SystemAdministrator"], &[]).can_access(&acme));
        assert_eq!(actor(&["SystemAdministrator"], &["globex"]).visible_accounts(), VisibleAccounts::All);
        let user = actor(&["User"], &["globex"]);
        assert!(
            matches!(user.visible_accounts(), VisibleAccounts::Only([only]) if only.as_str() == "globex")
        );
        assert!(!user.visible_accounts().contains(&acme));
    }

    #[test]
    fn a_search_is_narrowed_to_the_named_accounts_and_never_widened() {
        let ids = |names: &[&str]| names.iter().map(|a| AccountId::parse(a).unwrap()).collect::<Vec<_>>();
        let user = actor(&["User"], &["acme", "globex"]);
        assert_eq!(user.accounts_to_search(&[]), Some(ids(&["acme", "globex"])));
        assert_eq!(user.accounts_to_search(&ids(&["globex", "initech"])), Some(ids(&["globex"])));
        assert_eq!(user.accounts_to_search(&ids(&["initech"])), Some(vec![]));
        let admin = actor(&["Admin"], &[]);
        assert_eq!(admin.accounts_to_search(&[]), None);
        assert_eq!(admin.accounts_to_search(&ids(&["initech"])), Some(ids(&["initech"])));
    }
}
