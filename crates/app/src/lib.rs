//! # evo-app
//!
//! The use cases of evo-sessions ([`SessionService`]), generic over the driven ports of
//! `evo-ports`, the live streams over the outbox ([`EventStreamService`]), and the plain system adapters ([`SystemClock`], [`UuidSessionIds`]).
//! The use cases take requests already parsed into domain values by the edge; they order
//! the checks (role, then fields) and apply the rules.
//! The `evo-sessions` binary (crate `evo-server`, `crates/server`) wires the real adapters to
//! them; this crate depends on no adapter.

mod streams;
mod system;
mod use_cases;

pub use streams::EventStreamService;
pub use system::{SystemClock, UuidSessionIds};
pub use use_cases::{OnHookFailure, SessionService};
