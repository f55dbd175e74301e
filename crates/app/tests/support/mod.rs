//! What the use-case tests share: the time they run at and the callers they act as.

#![allow(dead_code)] // each test file uses some of it

use chrono::{TimeZone, Utc};
use evo_domain::{AccountId, Actor, Timestamp};

/// The time every test runs at.
pub fn now() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 26, 21, 1, 49).unwrap()
}

/// Ann, with `roles`, on `accounts`.
pub fn actor(roles: &[&str], accounts: &[&str]) -> Actor {
    Actor {
        user_id: "ann@example.com".into(),
        name: "Ann".into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        account_ids: accounts.iter().map(|a| AccountId::parse(a).unwrap()).collect(),
    }
}

/// Ann, a `User` of account `acme`.
pub fn agent() -> Actor {
    actor(&["User"], &["acme"])
}
