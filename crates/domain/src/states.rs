//! The named states of a session and its members, spelled exactly as the Evo Voice API names them.

use std::fmt;
use std::str::FromStr;

/// A name that is not one of an enum's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not one of: {}", expected.join(", "))]
pub struct UnknownVariant {
    /// The text that was given.
    pub value: String,
    /// The accepted names.
    pub expected: &'static [&'static str],
}

macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? } default $default:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in the API's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// Every name, in the API's order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($variant)),+];

            /// The API's name, for example `"None"`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => stringify!($variant)),+
                }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::$default
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownVariant;

            /// Exact, case-sensitive names.
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                match value {
                    $(stringify!($variant) => Ok($name::$variant),)+
                    _ => Err(UnknownVariant {
                        value: value.to_owned(),
                        expected: Self::NAMES,
                    }),
                }
            }
        }
    };
}

named_enum! {
    /// `SessionDialState`: whether the session is dialing out.
    DialState { None, Active } default None
}
named_enum! {
    /// `SessionCallState`: the call state of the whole session.
    CallState { Disconnected, Ringing, Connected, Hold, Passive } default Disconnected
}
named_enum! {
    /// `SessionQueueStates`: where the session stands in a queue.
    QueueState { None, Queued, Ringing, Connected, Hold, Disconnected } default None
}
named_enum! {
    /// `FlowChannels`: the medium of the session. Chat operations only apply to `Chat`.
    Channel { Voice, Chat, Fax } default Chat
}
named_enum! {
    /// `SessionHoldReasons`: why a session is on hold.
    HoldReason { None, Transferring } default None
}
named_enum! {
    /// `SessionDirections`: who started the session.
    Direction { Incoming, Outgoing } default Incoming
}
named_enum! {
    /// `SessionMemberCallState`: a member's own call state.
    MemberCallState { None, Ringing, Connected, Hold } default None
}
named_enum! {
    /// `SessionMemberRoles`: the part a member plays in the session.
    MemberRole { None, Caller, Agent, Transfer } default None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_case_sensitive() {
        for role in MemberRole::ALL {
            assert_eq!(role.as_str().parse::<MemberRole>(), Ok(*role));
        }
        let error = "agent".parse::<MemberRole>().unwrap_err();
        assert_eq!(error.to_string(), r#""agent" is not one of: None, Caller, Agent, Transfer"#);
        assert_eq!("Chat".parse::<Channel>(), Ok(Channel::Chat));
        assert!("chat".parse::<Channel>().is_err());
    }
}
