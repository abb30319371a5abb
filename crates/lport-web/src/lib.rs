//! The async edge of lport (tokio, axum): `lport serve`, a quick local server for testing,
//! and `lport exporter`, the inventory as Prometheus metrics.
//! The library crate `lport` stays synchronous; everything that needs an event loop lives
//! here.

pub mod exporter;
pub mod files;
pub mod hosts;
pub mod metrics;
pub mod serve;
pub mod server;
pub mod ui;
