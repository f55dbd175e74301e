//! `MemberIdentity::parse` on arbitrary text: it never panics, and whatever it accepts is in
//! canonical form (E.164 or a trimmed email without white space, at most 254 characters) and
//! parses back to the same identity.
#![no_main]

use evo_domain::{MemberIdentity, identity::MAX_USER_ID_CHARS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    let Ok(identity) = MemberIdentity::parse(raw) else { return };
    let shown = identity.as_str();
    match &identity {
        MemberIdentity::Phone(_) => {
            let digits = shown.strip_prefix('+').expect("E.164 starts with +");
            assert!((7..=15).contains(&digits.len()), "{shown:?}");
            assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{shown:?}");
            assert!(!digits.starts_with('0'), "{shown:?}");
        }
        MemberIdentity::User(_) => {
            assert!(shown.chars().count() <= MAX_USER_ID_CHARS, "{shown:?}");
            assert!(!shown.chars().any(|c| c.is_whitespace() || c.is_control()), "{shown:?}");
            assert_eq!(shown.matches('@').count(), 1, "{shown:?}");
            assert!(!shown.starts_with('@') && !shown.ends_with('@'), "{shown:?}");
        }
    }
    // Canonical: parsing what is shown gives the same identity, shown the same way.
    let again = MemberIdentity::parse(shown).expect("a shown identity parses");
    assert_eq!(again, identity);
    assert_eq!(again.as_str(), shown);
    assert_eq!(again.key(), identity.key());
});
