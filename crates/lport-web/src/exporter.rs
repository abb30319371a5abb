//! `lport exporter`: the inventory as Prometheus metrics on `/metrics`. Each scrape reads
//! the kernel's tables afresh on a blocking thread; nothing is cached between scrapes, so
//! memory stays flat however long it runs.

use std::net::SocketAddr;
use std::time::Instant;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::metrics;
use crate::serve::serve_app;

async fn scrape() -> impl IntoResponse {
    let body = tokio::task::spawn_blocking(|| {
        let started = Instant::now();
        metrics::collect().map(|(snap, by_state)| {
            metrics::encode(&snap, &by_state, started.elapsed().as_secs_f64())
        })
    })
    .await;
    match body {
        Ok(Ok(text)) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        ),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("reading the socket tables failed: {e}\n"),
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("scrape task failed: {e}\n"),
        ),
    }
}

async fn index() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<html><body><h1>lport exporter</h1><p><a href=\"/metrics\">/metrics</a></p></body></html>\n",
    )
}

/// Serves `/metrics` until Ctrl-C or SIGTERM; `ready` gets the bound address.
pub fn run(addr: SocketAddr, ready: impl FnOnce(SocketAddr)) -> std::io::Result<()> {
    serve_app(addr, ready, |_| {
        Router::new()
            .route("/metrics", get(scrape))
            .route("/", get(index))
    })
}
