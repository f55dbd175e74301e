//! Member identities: a cell phone number (E.164) or a user ID (an email).
//!
//! Parsing follows docs/api.md, "Member identities". Every rejection names its reason, so the edge can
//! tell the caller exactly what to fix.

use std::fmt;

/// Longest user ID accepted, in characters (the longest valid email address).
pub const MAX_USER_ID_CHARS: usize = 254;
/// Fewest digits of an E.164 number after the `+`.
pub const MIN_PHONE_DIGITS: usize = 7;
/// Most digits of an E.164 number after the `+`.
pub const MAX_PHONE_DIGITS: usize = 15;

/// Why a text is not a member identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// Nothing but white space was given.
    #[error("must not be empty")]
    Empty,
    /// A phone number that starts with neither `+` nor `00`.
    #[error("a phone number must start with + or 00 and its country code")]
    MissingCountryCode,
    /// A character that has no place in a phone number.
    #[error("a phone number may only hold digits, spaces and - . ( ) but has {0:?}")]
    InvalidPhoneCharacter(char),
    /// Too few or too many digits after the `+`.
    #[error("a phone number must have {MIN_PHONE_DIGITS} to {MAX_PHONE_DIGITS} digits after +, not {0}")]
    PhoneDigitCount(usize),
    /// The country code cannot start with 0.
    #[error("a phone number's country code cannot start with 0")]
    PhoneLeadingZero,
    /// A user ID longer than [`MAX_USER_ID_CHARS`].
    #[error("a user ID must be at most {MAX_USER_ID_CHARS} characters, not {0}")]
    UserIdTooLong(usize),
    /// Not exactly one `@`, or nothing on one side of it.
    #[error("a user ID must be an email: one @ with text on both sides")]
    NotAnEmail,
    /// White space or a control character inside a user ID.
    #[error("a user ID cannot contain white space or control characters")]
    UserIdWhitespace,
}

/// A cell phone number in E.164 form: `+` then 7 to 15 digits, the first not 0.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Normalizes `raw` to E.164: drops spaces, `-`, `.`, `(`, `)`; a leading `00` becomes `+`.
    pub fn parse(raw: &str) -> Result<Self, IdentityError> {
        let mut digits = String::with_capacity(raw.len());
        let mut has_plus = false;
        for (index, c) in raw.trim().char_indices() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if index == 0 => has_plus = true,
                ' ' | '-' | '.' | '(' | ')' => {}
                other => return Err(IdentityError::InvalidPhoneCharacter(other)),
            }
        }
        if digits.is_empty() && !has_plus {
            return Err(IdentityError::Empty);
        }
        if !has_plus {
            match digits.strip_prefix("00") {
                Some(rest) => digits = rest.to_owned(),
                None => return Err(IdentityError::MissingCountryCode),
            }
        }
        if !(MIN_PHONE_DIGITS..=MAX_PHONE_DIGITS).contains(&digits.len()) {
            return Err(IdentityError::PhoneDigitCount(digits.len()));
        }
        if digits.starts_with('0') {
            return Err(IdentityError::PhoneLeadingZero);
        }
        Ok(Self(format!("+{digits}")))
    }

    /// The number in E.164 form, for example `+15551234567`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user ID: an email address, kept as first written and compared case-insensitively.
#[derive(Debug, Clone)]
pub struct UserId {
    as_written: String,
    key: String,
}

impl UserId {
    /// Trims `raw` and checks it is an email: at most 254 characters, one `@` with text on
    /// both sides, no white space.
    pub fn parse(raw: &str) -> Result<Self, IdentityError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(IdentityError::Empty);
        }
        let chars = trimmed.chars().count();
        if chars > MAX_USER_ID_CHARS {
            return Err(IdentityError::UserIdTooLong(chars));
        }
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(IdentityError::UserIdWhitespace);
        }
        match trimmed.split_once('@') {
            Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !domain.contains('@') => {}
            _ => return Err(IdentityError::NotAnEmail),
        }
        Ok(Self { as_written: trimmed.to_owned(), key: trimmed.to_lowercase() })
    }

    /// The user ID as first written (trimmed).
    pub fn as_str(&self) -> &str {
        &self.as_written
    }
}

impl PartialEq for UserId {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for UserId {}
impl std::hash::Hash for UserId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}

/// Who a session member is: a phone number or a user ID.
///
/// Two identities are equal when their [`key`](MemberIdentity::key)s are equal: user IDs
/// compare case-insensitively, phone numbers by their E.164 form.
///
/// ```
/// use evo_domain::MemberIdentity;
/// let phone = MemberIdentity::parse("0044 (20) 7946-0958").unwrap();
/// assert_eq!(phone.as_str(), "+442079460958");
/// let user = MemberIdentity::parse(" Ann@Example.com ").unwrap();
/// assert_eq!(user.as_str(), "Ann@Example.com");
/// assert_eq!(user, MemberIdentity::parse("ann@example.com").unwrap());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MemberIdentity {
    /// A cell phone number.
    Phone(PhoneNumber),
    /// A user ID (an email).
    User(UserId),
}

impl MemberIdentity {
    /// Reads a user ID when the text holds an `@`, a phone number otherwise.
    pub fn parse(raw: &str) -> Result<Self, IdentityError> {
        if raw.contains('@') {
            UserId::parse(raw).map(Self::User)
        } else {
            PhoneNumber::parse(raw).map(Self::Phone)
        }
    }

    /// The identity as it is shown and stored: E.164 for a phone, as written for a user ID.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Phone(phone) => phone.as_str(),
            Self::User(user) => user.as_str(),
        }
    }

    /// The comparison key: E.164 for a phone, lower case for a user ID. Stores index on it.
    pub fn key(&self) -> &str {
        match self {
            Self::Phone(phone) => phone.as_str(),
            Self::User(user) => &user.key,
        }
    }

    /// Whether this is a user ID (an email) rather than a phone number.
    pub fn is_user(&self) -> bool {
        matches!(self, Self::User(_))
    }
}

impl fmt::Display for MemberIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_phone_numbers_normalize_to_e164() {
        let cases = [
            ("+15551234567", "+15551234567"),
            ("+1 (555) 123-4567", "+15551234567"),
            ("+44.20.7946.0958", "+442079460958"),
            ("0044 20 7946 0958", "+442079460958"),
            ("  +15551234567 ", "+15551234567"),
            ("+1234567", "+1234567"),                 // 7 digits: shortest
            ("+123456789012345", "+123456789012345"), // 15 digits: longest
        ];
        for (raw, expected) in cases {
            let identity = MemberIdentity::parse(raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
            assert_eq!(identity.as_str(), expected, "{raw:?}");
            assert!(!identity.is_user());
        }
    }

    #[test]
    fn invalid_phone_numbers_say_why() {
        let cases = [
            ("", IdentityError::Empty),
            ("   ", IdentityError::Empty),
            ("15551234567", IdentityError::MissingCountryCode),
            // A leading space is no `+`: how a transport encodes a `+` is the caller's business.
            (" 15551234567", IdentityError::MissingCountryCode),
            ("+1555abc4567", IdentityError::InvalidPhoneCharacter('a')),
            ("+1555123456;", IdentityError::InvalidPhoneCharacter(';')),
            ("+1555\u{0}1234567", IdentityError::InvalidPhoneCharacter('\u{0}')),
            ("1+5551234567", IdentityError::InvalidPhoneCharacter('+')),
            ("+123456", IdentityError::PhoneDigitCount(6)),
            ("+1234567890123456", IdentityError::PhoneDigitCount(16)),
            ("+0123456789", IdentityError::PhoneLeadingZero),
            ("000123456789", IdentityError::PhoneLeadingZero),
            ("+", IdentityError::PhoneDigitCount(0)),
        ];
        for (raw, expected) in cases {
            assert_eq!(MemberIdentity::parse(raw), Err(expected), "{raw:?}");
        }
    }

    #[test]
    fn valid_user_ids_keep_their_case_and_compare_without_it() {
        let cases = [
            ("ann@example.com", "ann@example.com"),
            ("  Ann@Example.COM\t", "Ann@Example.COM"),
            ("a@b", "a@b"),
            ("o'brien+chat@sub.example.org", "o'brien+chat@sub.example.org"),
        ];
        for (raw, expected) in cases {
            let identity = MemberIdentity::parse(raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
            assert_eq!(identity.as_str(), expected);
            assert_eq!(identity.key(), expected.to_lowercase());
            assert!(identity.is_user());
        }
        assert_eq!(
            MemberIdentity::parse("ANN@EXAMPLE.COM").unwrap(),
            MemberIdentity::parse("ann@example.com").unwrap()
        );
    }

    #[test]
    fn invalid_user_ids_say_why() {
        let too_long = format!("{}@example.com", "a".repeat(250));
        let cases = [
            ("@example.com", IdentityError::NotAnEmail),
            ("ann@", IdentityError::NotAnEmail),
            ("ann@@example.com", IdentityError::NotAnEmail),
            ("ann@ex@ample.com", IdentityError::NotAnEmail),
            ("ann smith@example.com", IdentityError::UserIdWhitespace),
            ("ann@exa\u{7}mple.com", IdentityError::UserIdWhitespace),
            (too_long.as_str(), IdentityError::UserIdTooLong(262)),
        ];
        for (raw, expected) in cases {
            assert_eq!(MemberIdentity::parse(raw), Err(expected), "{raw:?}");
        }
        let longest = format!("{}@example.com", "a".repeat(MAX_USER_ID_CHARS - 12));
        assert!(MemberIdentity::parse(&longest).is_ok());
    }

    #[test]
    fn a_user_id_and_a_phone_are_never_equal() {
        let user = MemberIdentity::parse("15551234567@sms.example.com").unwrap();
        let phone = MemberIdentity::parse("+15551234567").unwrap();
        assert_ne!(user, phone);
    }
}
