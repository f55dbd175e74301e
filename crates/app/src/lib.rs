//! # evo-app
//!
//! The use cases of evo-sessions ([`SessionService`]), generic over the driven ports of
//! `evo-ports`, and the plain system adapters ([`SystemClock`], [`UuidSessionIds`]).
//! The `evo-sessions` binary (in `main.rs`) wires the real adapters to them.

mod system;
mod use_cases;
pub mod validation;

pub use system::{SystemClock, UuidSessionIds};
pub use use_cases::SessionService;
