//! In-process tests of the HTTP adapter against a mock of the use cases.

mod commands;
mod errors;
mod etags;
mod formats;
mod hardening;
mod operational;
mod routes;
mod servicestack;
mod streams;
mod support;
