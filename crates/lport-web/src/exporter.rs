//! `lport exporter`: the inventory as Prometheus metrics on `/metrics`. A scrape reads the
//! kernel's tables afresh on a blocking thread; scrapes that arrive together share one
//! read, and only the newest exposition is kept, so memory and threads stay flat however
//! many scrapers there are and however long it runs.

use std::net::SocketAddr;
use std::time::Instant;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use bytes::Bytes;

use crate::metrics;
use crate::server::{Limits, serve_app};

/// The newest exposition and when the read behind it began.
static LAST: tokio::sync::Mutex<Option<(Instant, Result<Bytes, String>)>> =
    tokio::sync::Mutex::const_new(None);

/// Reads the tables and encodes them; concurrent scrapes share one read. A scrape waits
/// (without a thread) for the read in progress and uses the next one that began after it
/// arrived, so every scrape sees the state at or after its own arrival, and 200 scrapes at
/// once cost two reads, not 200 threads.
async fn exposition() -> Result<Bytes, String> {
    let arrived = Instant::now();
    let mut last = LAST.lock().await;
    if let Some((began, body)) = last.as_ref()
        && *began >= arrived
    {
        return body.clone();
    }
    let began = Instant::now();
    let body = tokio::task::spawn_blocking(move || {
        metrics::collect()
            .map(|(snap, by_state)| {
                let mut text = metrics::encode(&snap, &by_state, began.elapsed().as_secs_f64());
                metrics::encode_history(&mut text, &metrics::history_totals());
                Bytes::from(text)
            })
            .map_err(|e| format!("reading the socket tables failed: {e}"))
    })
    .await
    .unwrap_or_else(|e| Err(format!("scrape task failed: {e}")));
    *last = Some((began, body.clone()));
    body
}

async fn scrape() -> impl IntoResponse {
    match exposition().await {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            Bytes::from(format!("{e}\n")),
        ),
    }
}

async fn index() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<html><body><h1>lport exporter</h1><p><a href=\"/metrics\">/metrics</a></p></body></html>\n",
    )
}

/// Serves `/metrics` until Ctrl-C or SIGTERM, to requests for its own names and
/// `allow_hosts` (see [`crate::hosts`]); `ready` gets the bound address.
pub fn run(
    addr: SocketAddr,
    allow_hosts: &[String],
    ready: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    serve_app(addr, Limits::default(), ready, |bound| {
        let hosts = std::sync::Arc::new(crate::hosts::Hosts::new(bound, allow_hosts));
        Router::new()
            .route("/metrics", get(scrape))
            .route("/", get(index))
            .layer(axum::middleware::from_fn_with_state(
                hosts,
                crate::hosts::guard,
            ))
    })
}
