//! Every advisory lock of the store, so that locks of different purposes cannot collide.
//! PostgreSQL keeps locks named by one 64-bit number apart from locks named by two 32-bit
//! numbers: the store's own locks (numbering events, migrating, building the tests' template)
//! are fixed one-number keys, each named here; the lock of an Idempotency-Key is two numbers,
//! a 64-bit digest of the key cut in halves, so no key can ever take a fixed lock.

use sha2::{Digest, Sha256};

/// Numbering events ("evo_evnt"): whoever holds it numbers.
pub(crate) const NUMBERING: i64 = 0x6576_6f5f_6576_6e74;
/// Migrating ("evo_mig"): instances that start together take turns.
pub(crate) const MIGRATIONS: i64 = 0x0065_766f_5f6d_6967;
/// Building the tests' template database ("evo_tpl").
pub(crate) const TEST_TEMPLATE: i64 = 0x0065_766f_5f74_706c;

// The fixed locks are distinct (checked when compiling).
const _: () = assert!(NUMBERING != MIGRATIONS && MIGRATIONS != TEST_TEMPLATE && NUMBERING != TEST_TEMPLATE);

/// The two numbers of the lock of `key` in `scope`: the first 8 bytes of a SHA-256 of both,
/// as two halves. The same on every instance (a digest, not a per-process hash).
pub(crate) fn key_lock(scope: &str, key: &str) -> (i32, i32) {
    let mut digest = Sha256::new();
    for part in ["evo-sessions idempotency", scope, key] {
        digest.update(part.as_bytes());
        digest.update([0]);
    }
    let bytes = digest.finalize();
    let half = |at: usize| i32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    (half(0), half(4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keys_lock_is_stable_and_tells_keys_and_scopes_apart() {
        assert_eq!(key_lock("ann", "k-1"), key_lock("ann", "k-1"));
        assert_ne!(key_lock("ann", "k-1"), key_lock("ann", "k-2"));
        assert_ne!(key_lock("ann", "k-1"), key_lock("bob", "k-1"));
        assert_ne!(key_lock("a", "nn\0k-1"), key_lock("ann", "k-1"), "the parts are delimited");
    }
}
