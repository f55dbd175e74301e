//! Typed identifiers. Each is checked once, where it enters, and trusted after.

use std::fmt;

/// Longest session or account ID accepted.
pub const MAX_ID_CHARS: usize = 64;

/// Why a text is not a valid ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Empty or only white space.
    #[error("must not be empty")]
    Empty,
    /// Longer than [`MAX_ID_CHARS`].
    #[error("must be at most {MAX_ID_CHARS} characters")]
    TooLong,
    /// Holds a character outside `A-Z a-z 0-9 - _ .`.
    #[error("may only hold letters, digits, '-', '_' and '.'")]
    InvalidCharacter,
}

fn check_id(raw: &str) -> Result<&str, IdError> {
    if raw.is_empty() {
        return Err(IdError::Empty);
    }
    if raw.len() > MAX_ID_CHARS {
        return Err(IdError::TooLong);
    }
    if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
        return Err(IdError::InvalidCharacter);
    }
    Ok(raw)
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(transparent))]
        pub struct $name(String);

        impl $name {
            /// Checks `raw`: 1 to 64 characters of `A-Z a-z 0-9 - _ .`.
            pub fn parse(raw: &str) -> Result<Self, IdError> {
                check_id(raw).map(|id| Self(id.to_owned()))
            }

            /// The ID as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type! {
    /// The ID of a session.
    SessionId
}
id_type! {
    /// The ID of the account (tenant) a session belongs to.
    AccountId
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(SessionId::parse("3f1c9a2e-0b7d-4c1e-9a55-1b2c3d4e5f60").is_ok());
        assert_eq!(SessionId::parse(""), Err(IdError::Empty));
        assert_eq!(SessionId::parse(&"a".repeat(65)), Err(IdError::TooLong));
        assert_eq!(SessionId::parse("a b"), Err(IdError::InvalidCharacter));
        assert_eq!(AccountId::parse("acme'--"), Err(IdError::InvalidCharacter));
        assert_eq!(AccountId::parse("é"), Err(IdError::InvalidCharacter));
    }
}
