//! `lport ui`: a local dashboard. The page and its script are embedded at build time (no
//! CDN) and hold no data. Every API request, GETs and the event stream included, needs the
//! per-launch token in the `X-Lport-Token` header: the page takes it from the URL lport
//! printed, keeps it in the tab's sessionStorage and drops it from the address bar. It is
//! never a cookie, because browsers send cookies for 127.0.0.1 to every port, so any other
//! local web server would receive it; and a custom header is what a cross-origin page
//! cannot send without a CORS preflight, which this server never grants. The `Host` header
//! must name this server on loopback, exactly once (DNS rebinding); a `Sec-Fetch-Site` of
//! `cross-site` or `same-site` is refused; state-changing requests are POSTs with a
//! same-origin `Origin`; no CORS headers are ever sent.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::server::{Limits, serve_app};

const INDEX: &str = include_str!("ui/index.html");
const APP_JS: &str = include_str!("ui/app.js");
/// The header that carries the token.
pub const TOKEN_HEADER: &str = "x-lport-token";

/// How long one read of the socket tables serves the page, the event stream and any number
/// of concurrent requests.
const FRESH: Duration = Duration::from_millis(250);

static CACHE: std::sync::Mutex<Option<(std::time::Instant, Arc<String>)>> =
    std::sync::Mutex::new(None);

/// The listeners document, read at most every `FRESH`; concurrent callers share one read.
fn cached_listeners() -> Result<Arc<String>, String> {
    let mut guard = CACHE.lock().map_err(|_| "cache poisoned".to_owned())?;
    if let Some((at, doc)) = guard.as_ref()
        && at.elapsed() < FRESH
    {
        return Ok(Arc::clone(doc));
    }
    let doc = Arc::new(listeners_json()?);
    *guard = Some((std::time::Instant::now(), Arc::clone(&doc)));
    Ok(doc)
}

/// The cached document when it is fresh and nobody is reading the tables right now: the
/// common case, answered without a blocking thread.
fn fresh_listeners() -> Option<Arc<String>> {
    let guard = CACHE.try_lock().ok()?;
    let (at, doc) = guard.as_ref()?;
    (at.elapsed() < FRESH).then(|| Arc::clone(doc))
}

/// The listeners document, from the cache or from a read on a blocking thread.
async fn listeners_doc() -> Result<Arc<String>, String> {
    if let Some(doc) = fresh_listeners() {
        return Ok(doc);
    }
    tokio::task::spawn_blocking(cached_listeners)
        .await
        .map_err(|e| e.to_string())?
}

struct Ui {
    token: String,
    port: u16,
    /// With an explicit non-loopback `--bind`, that address is a valid Host too.
    bound_host: Option<String>,
}

/// Whether a `Host` header names this server on loopback.
#[must_use]
pub fn host_ok(host: &str, port: u16) -> bool {
    ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .any(|h| host.eq_ignore_ascii_case(&format!("{h}:{port}")))
}

/// Whether an `Origin` header is this page's own origin.
#[must_use]
pub fn origin_ok(origin: Option<&str>, host: &str) -> bool {
    origin.is_some_and(|o| o.eq_ignore_ascii_case(&format!("http://{host}")))
}

/// The token a request carries in `X-Lport-Token` (exactly one such header).
fn header_token(headers: &HeaderMap) -> Option<&str> {
    let mut all = headers.get_all(TOKEN_HEADER).iter();
    let first = all.next()?;
    if all.next().is_some() {
        return None;
    }
    first.to_str().ok()
}

/// Whether a request's `Sec-Fetch-Site` says another site (or another port of this one)
/// made it. Browsers that send the header cannot fake it; requests without it (curl,
/// older browsers) are judged by the other checks.
#[must_use]
pub fn cross_site(headers: &HeaderMap) -> bool {
    headers
        .get_all("sec-fetch-site")
        .iter()
        .any(|v| v.as_bytes() == b"cross-site" || v.as_bytes() == b"same-site")
}

/// Compares without an early exit, so response times do not leak how much of a guess was
/// right.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn plain(code: StatusCode, msg: &str) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{msg}\n"),
    )
        .into_response()
}

async fn guard(State(ui): State<Arc<Ui>>, req: Request, next: Next) -> Response {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let host = hosts
        .next()
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if hosts.next().is_some() {
        return plain(
            StatusCode::BAD_REQUEST,
            "bad request: more than one Host header",
        );
    }
    if !host_ok(&host, ui.port) && ui.bound_host.as_deref() != Some(host.as_str()) {
        return plain(StatusCode::FORBIDDEN, "forbidden: unexpected Host header");
    }
    if cross_site(req.headers()) {
        return plain(
            StatusCode::FORBIDDEN,
            "forbidden: a request from another site",
        );
    }
    // The page and its script are the same for everyone and carry no data; everything
    // else needs the token.
    let public = matches!(req.uri().path(), "/" | "/app.js");
    if !public && !header_token(req.headers()).is_some_and(|t| same(t, &ui.token)) {
        return plain(
            StatusCode::UNAUTHORIZED,
            "unauthorized: open the URL lport ui printed (it carries the token)",
        );
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok());
        if req.method() != Method::POST || !origin_ok(origin, &host) {
            return plain(
                StatusCode::FORBIDDEN,
                "forbidden: cross-origin or unexpected method",
            );
        }
    }
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        "nosniff".parse().expect("static header"),
    );
    h.insert(
        header::X_FRAME_OPTIONS,
        "DENY".parse().expect("static header"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
            .parse()
            .expect("static header"),
    );
    // The page's URL carries the token until the script removes it: never send it on.
    h.insert(
        header::REFERRER_POLICY,
        "no-referrer".parse().expect("static header"),
    );
    h.insert(
        header::CACHE_CONTROL,
        "no-store".parse().expect("static header"),
    );
    resp
}

/// Serialised straight from the snapshot: a `json!` tree of 20k listeners took more
/// than 100 MB for a moment, on every refresh.
#[derive(serde::Serialize)]
struct Doc<'a> {
    schema: u32,
    sockets: &'a [lport::Socket],
    processes: &'a [lport::Process],
    notes: &'a [String],
    user_names: std::collections::BTreeMap<u32, &'a str>,
}

fn listeners_json() -> Result<String, String> {
    let snap = lport::snapshot(&lport::Query::listeners()).map_err(|e| e.to_string())?;
    // The page shows user names, also for sockets whose owner is hidden.
    let users = lport::users::Users::load();
    let user_names: std::collections::BTreeMap<u32, &str> = snap
        .sockets
        .iter()
        .filter_map(|s| s.uid)
        .filter_map(|uid| Some((uid, users.name(uid)?)))
        .collect();
    serde_json::to_string(&Doc {
        schema: 1,
        sockets: &snap.sockets,
        processes: &snap.processes,
        notes: &snap.notes,
        user_names,
    })
    .map_err(|e| e.to_string())
}

async fn listeners() -> Response {
    match listeners_doc().await {
        Ok(body) => (
            [(header::CONTENT_TYPE, "application/json")],
            body.as_str().to_owned(),
        )
            .into_response(),
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

/// The event stream's frame for the current document: built once per change and shared
/// by every stream (a `Bytes` clone is a reference), so 50 streams of a 10 MB document hold
/// one copy, not 100. A client that stops reading holds at most one frame, and is dropped
/// once no byte has moved for the idle timeout.
struct Frame {
    version: u64,
    doc: Option<Arc<String>>,
    bytes: bytes::Bytes,
}

static FRAME: std::sync::Mutex<Frame> = std::sync::Mutex::new(Frame {
    version: 0,
    doc: None,
    bytes: bytes::Bytes::new(),
});

/// The current frame and its version (a new version only when the document changed).
async fn current_frame() -> Option<(u64, bytes::Bytes)> {
    let doc = listeners_doc().await.ok()?;
    let mut f = FRAME.lock().ok()?;
    let changed = match &f.doc {
        Some(last) => !Arc::ptr_eq(last, &doc) && **last != *doc,
        None => true,
    };
    if changed {
        f.version += 1;
        // The document is one line of JSON, so one `data:` line carries it.
        f.bytes = bytes::Bytes::from(format!("event: listeners\ndata: {doc}\n\n"));
    }
    f.doc = Some(doc);
    Some((f.version, f.bytes.clone()))
}

/// How often a stream looks for a new document, and how often an idle one sends a comment
/// (which keeps proxies and the idle timeout from closing a healthy stream).
const EVENT_POLL: Duration = Duration::from_millis(500);
const KEEP_ALIVE: Duration = Duration::from_secs(15);

async fn events() -> Response {
    let stream = futures_util::stream::unfold(
        (0u64, tokio::time::Instant::now()),
        |(seen, mut quiet_since)| async move {
            loop {
                if let Some((version, frame)) = current_frame().await
                    && version != seen
                {
                    let next = (version, tokio::time::Instant::now());
                    return Some((Ok::<_, Infallible>(frame), next));
                }
                if quiet_since.elapsed() >= KEEP_ALIVE {
                    quiet_since = tokio::time::Instant::now();
                    return Some((Ok(bytes::Bytes::from_static(b":\n\n")), (seen, quiet_since)));
                }
                tokio::time::sleep(EVENT_POLL).await;
            }
        },
    );
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

#[derive(Deserialize)]
struct WhoQuery {
    port: u16,
    proto: Option<String>,
}

/// `tcp` (also when absent) or `udp`; anything else is refused, not guessed.
fn parse_proto(p: Option<&str>) -> Option<lport::Proto> {
    match p {
        None | Some("tcp") => Some(lport::Proto::Tcp),
        Some("udp") => Some(lport::Proto::Udp),
        Some(_) => None,
    }
}

fn bad_proto() -> Response {
    plain(StatusCode::BAD_REQUEST, "proto must be tcp or udp")
}

/// Every socket on one port, any state (what `lport who` lists).
async fn who(Query(q): Query<WhoQuery>) -> Response {
    let Some(proto) = parse_proto(q.proto.as_deref()) else {
        return bad_proto();
    };
    let r = tokio::task::spawn_blocking(move || {
        let udp = proto == lport::Proto::Udp;
        let snap = lport::snapshot(&lport::Query {
            tcp: !udp,
            udp,
            ..lport::Query::port(q.port)
        })
        .map_err(|e| e.to_string())?;
        serde_json::to_string(&serde_json::json!({
            "schema": 1, "sockets": snap.sockets, "processes": snap.processes, "notes": snap.notes,
        }))
        .map_err(|e| e.to_string())
    })
    .await;
    match r {
        Ok(Ok(body)) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Ok(Err(e)) => plain(StatusCode::INTERNAL_SERVER_ERROR, &e),
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

#[derive(Deserialize)]
struct HistoryQuery {
    port: u16,
}

/// What the recorder kept about one port in the last week (`lport history PORT --json`);
/// an empty report when nothing was recorded.
async fn history(Query(q): Query<HistoryQuery>) -> Response {
    let r = tokio::task::spawn_blocking(move || {
        let path = lport::history::store::default_path();
        let since = (lport::history::now_ns() / 1_000_000) as i64 - 7 * 86_400_000;
        let report = lport::history::report(&path, Some(q.port), since, 10)
            .map_err(|e| e.to_string())?
            .unwrap_or(lport::history::Report {
                schema: 1,
                db: path.display().to_string(),
                listeners: Vec::new(),
                attempts: Vec::new(),
                lost: 0,
            });
        serde_json::to_string(&report).map_err(|e| e.to_string())
    })
    .await;
    match r {
        Ok(Ok(body)) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Ok(Err(e)) => plain(StatusCode::INTERNAL_SERVER_ERROR, &e),
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

#[derive(Deserialize)]
struct WhyQuery {
    host: Option<String>,
    port: Option<u16>,
    proto: Option<String>,
    /// What a user typed in the page's box: `localhost:3000`, `:5432`, `127.0.0.1:62893`,
    /// `http://localhost:5173/`.
    target: Option<String>,
}

/// The target a `why` request names: `host` and `port`, or a typed `target`. The dashboard
/// diagnoses this machine only: `localhost` or a loopback address, never another host.
fn why_target(q: &WhyQuery) -> Result<lport::Target, &'static str> {
    const LOOPBACK_ONLY: &str =
        "the dashboard diagnoses this machine only: localhost, 127.0.0.1 or ::1 and a port";
    if let Some(typed) = &q.target {
        let t = lport::Target::parse(typed.trim()).map_err(
            |_| "not a target: write a port, localhost:PORT, 127.0.0.1:PORT or [::1]:PORT",
        )?;
        let local = match &t.host {
            None => true,
            Some(lport::Host::Ip(ip)) => ip.is_loopback(),
            Some(lport::Host::Name(n)) => n.eq_ignore_ascii_case("localhost"),
        };
        if !local || t.port.is_none() || t.unix.is_some() {
            return Err(LOOPBACK_ONLY);
        }
        return Ok(t);
    }
    let proto = parse_proto(q.proto.as_deref()).ok_or("proto must be tcp or udp")?;
    let ip = q
        .host
        .as_deref()
        .and_then(|h| h.parse::<std::net::IpAddr>().ok())
        .filter(std::net::IpAddr::is_loopback)
        .ok_or("host must be 127.0.0.1 or ::1")?;
    let port = q.port.ok_or("a port is needed")?;
    Ok(lport::Target {
        input: format!("{ip}:{port}"),
        proto: Some(proto),
        host: Some(lport::Host::Ip(ip)),
        port: Some(port),
        scheme: None,
        path: None,
        unix: None,
        zone: None,
    })
}

async fn why(Query(q): Query<WhyQuery>) -> Response {
    let target = match why_target(&q) {
        Ok(t) => t,
        Err(why) => return plain(StatusCode::BAD_REQUEST, why),
    };
    let r = tokio::task::spawn_blocking(move || {
        lport::diagnose::diagnose(&target, &lport::diagnose::Options::default())
    })
    .await;
    match r {
        Ok(Ok(report)) => (
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_string(&report).unwrap_or_default(),
        )
            .into_response(),
        Ok(Err(e)) => plain(StatusCode::BAD_REQUEST, &e.to_string()),
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

#[derive(Deserialize)]
struct KillRequest {
    proto: Option<String>,
    port: u16,
    /// The pids the page showed and the user confirmed; only these are signalled.
    pids: Vec<u32>,
}

async fn kill(axum::Json(k): axum::Json<KillRequest>) -> Response {
    let Some(proto) = parse_proto(k.proto.as_deref()) else {
        return bad_proto();
    };
    let r = tokio::task::spawn_blocking(move || {
        use lport::kill::{Fate, KillQuery, Signal, execute, plan, verify};
        let input = format!("{proto}/{}", k.port);
        let target = lport::Target::parse(&input).map_err(|e| e.to_string())?;
        let q = KillQuery {
            targets: vec![target],
            all_states: false,
        };
        let mut p = plan(&q).map_err(|e| e.to_string())?;
        // Only what the user confirmed: a holder that appeared since is left alone.
        p.victims.retain(|v| k.pids.contains(&v.process.pid));
        if p.victims.is_empty() {
            return Ok(serde_json::json!({"killed": [], "free": false,
                "message": "nothing lport may signal holds that port (see the holders for why)"}));
        }
        let fates = execute(&p, Signal::Term, Duration::from_secs(3));
        std::thread::sleep(Duration::from_millis(300));
        let after = verify(&q).map_err(|e| e.to_string())?;
        let killed: Vec<u32> = fates
            .iter()
            .filter(|(_, f)| matches!(f, Fate::Exited | Fate::Killed))
            .map(|(p, _)| *p)
            .collect();
        let free = after.still_held.is_empty();
        let message = if free {
            format!("port {} is free (stopped pid {:?})", k.port, killed)
        } else {
            format!("port {} is still held", k.port)
        };
        Ok::<_, String>(serde_json::json!({"killed": killed, "free": free, "message": message}))
    })
    .await;
    match r {
        Ok(Ok(v)) => ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response(),
        Ok(Err(e)) => plain(StatusCode::BAD_REQUEST, &e),
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// A random token from the kernel's generator, as 32 hex digits.
pub fn new_token() -> std::io::Result<String> {
    use std::io::Read;
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b.iter().fold(String::with_capacity(32), |mut s, x| {
        use std::fmt::Write as _;
        let _ = write!(s, "{x:02x}");
        s
    }))
}

/// Serves the dashboard until Ctrl-C or SIGTERM; `ready` gets the bound address.
pub fn run(addr: SocketAddr, token: String, ready: impl FnOnce(SocketAddr)) -> std::io::Result<()> {
    serve_app(addr, Limits::default(), ready, move |bound| {
        let bound_host = (!bound.ip().is_loopback()).then(|| bound.to_string());
        let ui = Arc::new(Ui {
            token,
            port: bound.port(),
            bound_host,
        });
        Router::new()
            .route(
                "/",
                get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX) }),
            )
            .route(
                "/app.js",
                get(|| async {
                    (
                        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                        APP_JS,
                    )
                }),
            )
            .route("/api/listeners", get(listeners))
            .route("/api/events", get(events))
            .route("/api/why", get(why))
            .route("/api/who", get(who))
            .route("/api/history", get(history))
            .route("/api/kill", post(kill))
            .layer(middleware::from_fn_with_state(Arc::clone(&ui), guard))
            .with_state(ui)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn why_targets_stay_on_this_machine() {
        let q = |target: &str| WhyQuery {
            host: None,
            port: None,
            proto: None,
            target: Some(target.into()),
        };
        for ok in [
            "localhost:3000",
            ":5432",
            "127.0.0.1:62893",
            "[::1]:8080",
            "http://localhost:5173/",
        ] {
            assert!(why_target(&q(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "example.com:80",
            "10.0.0.1:22",
            "localhost",
            "unix:/run/x.sock",
            "port 3000",
        ] {
            assert!(why_target(&q(bad)).is_err(), "{bad}");
        }
        let by_parts = WhyQuery {
            host: Some("::1".into()),
            port: Some(80),
            proto: Some("tcp".into()),
            target: None,
        };
        assert!(why_target(&by_parts).is_ok());
        let remote = WhyQuery {
            host: Some("192.0.2.1".into()),
            ..by_parts
        };
        assert!(why_target(&remote).is_err());
    }

    #[test]
    fn hosts_origins_and_cookies() {
        assert!(host_ok("127.0.0.1:8080", 8080));
        assert!(host_ok("LOCALHOST:8080", 8080));
        assert!(host_ok("[::1]:8080", 8080));
        assert!(!host_ok("127.0.0.1:8081", 8080));
        assert!(!host_ok("evil.example:8080", 8080));
        assert!(!host_ok("127.0.0.1", 8080));
        assert!(origin_ok(Some("http://127.0.0.1:8080"), "127.0.0.1:8080"));
        assert!(!origin_ok(Some("http://evil.example"), "127.0.0.1:8080"));
        assert!(!origin_ok(None, "127.0.0.1:8080"));
        let mut h = HeaderMap::new();
        h.insert(TOKEN_HEADER, "abc".parse().expect("header"));
        assert_eq!(header_token(&h), Some("abc"));
        h.append(TOKEN_HEADER, "abc".parse().expect("header"));
        assert_eq!(header_token(&h), None, "two tokens are none");
        let mut h = HeaderMap::new();
        assert!(!cross_site(&h));
        h.insert("sec-fetch-site", "same-origin".parse().expect("header"));
        assert!(!cross_site(&h));
        h.insert("sec-fetch-site", "same-site".parse().expect("header"));
        assert!(cross_site(&h), "another port of 127.0.0.1 is same-site");
        h.insert("sec-fetch-site", "cross-site".parse().expect("header"));
        assert!(cross_site(&h));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
        let t = new_token().expect("token");
        assert_eq!(t.len(), 32);
        assert_ne!(t, new_token().expect("token"));
    }
}
