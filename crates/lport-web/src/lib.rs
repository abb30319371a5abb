//! The async edge of lport (tokio, axum): `lport serve`, a quick local server for testing.
//! The library crate `lport` stays synchronous; everything that needs an event loop lives
//! here.

pub mod files;
pub mod serve;
