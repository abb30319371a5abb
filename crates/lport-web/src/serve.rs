//! `lport serve`: a quick local server — static files with listings, validators and ranges;
//! an HTTP echo that returns each request as JSON; raw TCP and UDP echo servers.
//!
//! Small files are kept in memory and revalidated with one `stat` per request, so a file
//! edited on disk is served fresh while the common case costs no open/read/close.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Instant, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
use tokio::sync::mpsc;

use lport::beneath::{Kind, Opened, Refused, Root};

use crate::files::{self, RangeAsk};
use crate::server::{Idle, Limits, Shutdown, accept_loop, serve_router};

/// Files up to this size are cached in memory; larger ones are streamed from disk.
const CACHE_LIMIT: u64 = 1 << 20;

/// All cached file bodies together stay under this.
const CACHE_BYTES: u64 = 64 << 20;

/// The URL spellings remembered for cached files (`/a.txt`, `/./a.txt`, `//a.txt`), with
/// their total length: past either bound they are forgotten (the bodies stay).
const ALIASES: usize = 4096;
const ALIAS_BYTES: usize = 1 << 20;

/// What the server does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Static files from a directory.
    Files(PathBuf),
    /// Every HTTP request answered with itself as JSON.
    Echo,
    /// Raw TCP echo.
    TcpEcho,
    /// Raw UDP echo.
    UdpEcho,
}

/// Settings for `serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where to listen.
    pub addr: SocketAddr,
    /// What to serve.
    pub mode: Mode,
    /// Log each request on stderr.
    pub log: bool,
    /// Connection cap and timeouts.
    pub limits: Limits,
    /// Host names answered besides its own (`*`: any); see [`crate::hosts`].
    pub allow_hosts: Vec<String>,
}

struct Cached {
    /// When the file on disk was last compared with this copy, in ms since `App::epoch`.
    checked_ms: std::sync::atomic::AtomicU64,
    /// The names, inside the root, of what was opened: the cache's key.
    names: Vec<String>,
    body: Bytes,
    len: u64,
    modified: SystemTime,
    etag: HeaderValue,
    last_modified: HeaderValue,
    content_type: HeaderValue,
}

/// A cached copy is compared with the file on disk at most this often, so an edit is
/// served within this long while a busy server does not `stat` on every request.
const REVALIDATE_MS: u64 = 100;

/// Cached small files. Bodies are keyed by the names that were opened, so the many URL
/// spellings of one file share one copy, and their total size is bounded; a URL seen
/// before maps straight to its body without resolving the path again (the fast path).
#[derive(Default)]
struct FileCache {
    by_url: HashMap<String, Arc<Cached>>,
    url_bytes: usize,
    by_path: HashMap<Vec<String>, Arc<Cached>>,
    body_bytes: u64,
}

impl FileCache {
    fn get_url(&self, url: &str) -> Option<Arc<Cached>> {
        self.by_url.get(url).cloned()
    }

    fn get_path(&self, names: &[String]) -> Option<Arc<Cached>> {
        self.by_path.get(names).cloned()
    }

    /// Forgets a stale entry under every name.
    fn remove(&mut self, c: &Cached) {
        if let Some(old) = self.by_path.remove(&c.names) {
            self.body_bytes -= old.len;
        }
        let before = self.by_url.len();
        self.by_url.retain(|_, v| v.names != c.names);
        if self.by_url.len() != before {
            self.url_bytes = self.by_url.keys().map(String::len).sum();
        }
    }

    /// Remembers `url` as a name of `c`.
    fn alias(&mut self, url: &str, c: &Arc<Cached>) {
        if self.by_url.len() >= ALIASES || self.url_bytes + url.len() > ALIAS_BYTES {
            self.by_url.clear();
            self.url_bytes = 0;
        }
        if self.by_url.insert(url.to_owned(), Arc::clone(c)).is_none() {
            self.url_bytes += url.len();
        }
    }

    /// Adds a body, evicting others until all of them fit in `CACHE_BYTES`.
    fn insert(&mut self, c: &Arc<Cached>) {
        if let Some(old) = self.by_path.remove(&c.names) {
            self.body_bytes -= old.len;
        }
        if self.body_bytes + c.len > CACHE_BYTES {
            let mut victims: Vec<Vec<String>> = Vec::new();
            let mut freed = 0;
            for (p, v) in &self.by_path {
                if self.body_bytes - freed + c.len <= CACHE_BYTES {
                    break;
                }
                freed += v.len;
                victims.push(p.clone());
            }
            for p in &victims {
                self.by_path.remove(p);
            }
            self.body_bytes -= freed;
            // URL names of evicted bodies would keep them alive.
            self.by_url.retain(|_, v| !victims.contains(&v.names));
            self.url_bytes = self.by_url.keys().map(String::len).sum();
        }
        self.body_bytes += c.len;
        self.by_path.insert(c.names.clone(), Arc::clone(c));
    }
}

struct App {
    epoch: Instant,
    /// The served directory, by descriptor: every name is opened beneath it.
    root: Option<Root>,
    cache: RwLock<FileCache>,
    listings: std::sync::Mutex<Listings>,
    /// Listings built at once: a few, so many requests for big directories neither take
    /// every blocking thread (small files wait for one) nor hold a copy each.
    listing_builds: tokio::sync::Semaphore,
    log: Option<mpsc::UnboundedSender<String>>,
}

impl App {
    fn new(root: Option<Root>, log: Option<mpsc::UnboundedSender<String>>) -> App {
        App {
            epoch: Instant::now(),
            root,
            cache: RwLock::new(FileCache::default()),
            listings: std::sync::Mutex::new(Listings::default()),
            listing_builds: tokio::sync::Semaphore::new(LISTING_BUILDS),
            log,
        }
    }
}

/// Directory listings built at once.
const LISTING_BUILDS: usize = 2;

/// Listings kept, and their total size.
const LISTINGS: usize = 32;
const LISTING_BYTES: usize = 16 << 20;

/// A kept listing is used while its directory's mtime is unchanged and for at most this
/// long (the sizes it shows change without the directory's mtime changing).
const LISTING_MS: u64 = 1000;

/// One built listing, keyed by the names of the directory that was opened.
struct Listing {
    names: Vec<String>,
    modified: SystemTime,
    built_ms: u64,
    html: Bytes,
}

/// Recently built listings, shared by every request for the same directory: 64 requests
/// for a directory of 100k files cost one read and one page, not 64.
#[derive(Default)]
struct Listings {
    kept: std::collections::VecDeque<Listing>,
    bytes: usize,
}

impl Listings {
    fn get(&self, names: &[String], modified: SystemTime, now_ms: u64) -> Option<Bytes> {
        self.kept
            .iter()
            .find(|l| {
                l.names == names
                    && l.modified == modified
                    && now_ms.saturating_sub(l.built_ms) < LISTING_MS
            })
            .map(|l| l.html.clone())
    }

    fn keep(&mut self, listing: Listing) {
        if let Some(i) = self.kept.iter().position(|l| l.names == listing.names)
            && let Some(old) = self.kept.remove(i)
        {
            self.bytes -= old.html.len();
        }
        self.bytes += listing.html.len();
        self.kept.push_back(listing);
        while self.kept.len() > LISTINGS || self.bytes > LISTING_BYTES {
            match self.kept.pop_front() {
                Some(old) => self.bytes -= old.html.len(),
                None => break,
            }
        }
    }
}

/// Runs the server until Ctrl-C or SIGTERM. `ready` is called with the bound address
/// once the socket listens.
pub fn run(cfg: ServeConfig, ready: impl FnOnce(SocketAddr)) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(crate::server::BLOCKING_THREADS)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        // Handlers go in before the address is announced, so a Ctrl-C that follows the
        // announcement at once still stops the server cleanly.
        let stop = Shutdown::install()?;
        match cfg.mode.clone() {
            Mode::TcpEcho => tcp_echo(cfg.addr, cfg.limits, ready, stop).await,
            Mode::UdpEcho => udp_echo(cfg.addr, ready, stop).await,
            Mode::Files(dir) => http(cfg, Some(dir), ready, stop).await,
            Mode::Echo => http(cfg, None, ready, stop).await,
        }
    })
}

/// Collects log lines and writes them in batches, so logging costs few syscalls.
fn spawn_logger() -> mpsc::UnboundedSender<String> {
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        let mut batch = Vec::new();
        while rx.recv_many(&mut batch, 256).await > 0 {
            let mut err = std::io::stderr().lock();
            for line in batch.drain(..) {
                let _ = writeln!(err, "{line}");
            }
        }
    });
    tx
}

async fn http(
    cfg: ServeConfig,
    dir: Option<PathBuf>,
    ready: impl FnOnce(SocketAddr),
    stop: Shutdown,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(cfg.addr).await?;
    let log = cfg.log.then(spawn_logger);
    let router = match dir {
        Some(dir) => {
            let app = Arc::new(App::new(Some(Root::open(&dir)?), log));
            Router::new().fallback(serve_file).with_state(app)
        }
        None => Router::new()
            .fallback(echo)
            .with_state(Arc::new(App::new(None, log))),
    };
    let bound = listener.local_addr()?;
    let hosts = Arc::new(crate::hosts::Hosts::new(bound, &cfg.allow_hosts));
    let router = router.layer(axum::middleware::from_fn_with_state(
        hosts,
        crate::hosts::guard,
    ));
    ready(bound);
    serve_router(listener, router, cfg.limits, stop.wait()).await;
    Ok(())
}

fn log_line(
    app: &App,
    peer: SocketAddr,
    method: &Method,
    path: &str,
    status: StatusCode,
    bytes: u64,
    started: Instant,
) {
    if let Some(tx) = &app.log {
        let _ = tx.send(format!(
            "{peer} {method} {path} {} {bytes}B {:.2}ms",
            status.as_u16(),
            started.elapsed().as_secs_f64() * 1000.0
        ));
    }
}

fn status(code: StatusCode, msg: &str) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{msg}\n"),
    )
        .into_response()
}

async fn serve_file(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let resp = file_response(&app, &method, &path, req.headers()).await;
    // The bytes sent: the Content-Length, or else the body's own size (a listing, a status
    // text); a streamed body without a length logs its Content-Length, which it always has.
    let len = resp
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .or_else(|| {
            use axum::body::HttpBody as _;
            resp.body().size_hint().exact()
        })
        .unwrap_or(0);
    log_line(&app, peer, &method, &path, resp.status(), len, started);
    resp
}

async fn file_response(app: &App, method: &Method, path: &str, headers: &HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        let mut r = status(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are served",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let head = method == Method::HEAD;
    // Fast path: a cached file whose size and modification time are unchanged.
    let hit = app.cache.read().ok().and_then(|c| c.get_url(path));
    if let Some(c) = hit {
        if fresh(app, &c) {
            return cached_response(&c, headers, head);
        }
        if let Ok(mut cache) = app.cache.write() {
            cache.remove(&c);
        }
    }
    let Some(root) = app.root.as_ref() else {
        return status(StatusCode::NOT_FOUND, "not found");
    };
    let Ok(names) = files::segments(path) else {
        return status(
            StatusCode::FORBIDDEN,
            "forbidden: outside the served directory",
        );
    };
    let opened = match open(root, &names) {
        Ok(o) => o,
        Err(r) => return refused(&r),
    };
    match opened.kind {
        Kind::File => {}
        Kind::Dir => return directory(app, root, path, names, opened, headers, head).await,
        other => {
            return status(
                StatusCode::FORBIDDEN,
                &format!("forbidden: {} is not served", other.words()),
            );
        }
    }
    // Another spelling of a file already in memory: remember this one too.
    let known = app.cache.read().ok().and_then(|c| c.get_path(&names));
    if let Some(c) = known
        && c.len == opened.len
        && c.modified == opened.modified
    {
        if let Ok(mut cache) = app.cache.write() {
            cache.alias(path, &c);
        }
        return cached_response(&c, headers, head);
    }
    load_and_respond(app, path, names, opened, headers, head).await
}

fn open(root: &Root, names: &[String]) -> Result<Opened, Refused> {
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    root.open_beneath(&refs)
}

fn refused(r: &Refused) -> Response {
    match r {
        Refused::Outside => status(
            StatusCode::FORBIDDEN,
            "forbidden: a symlink, or outside the served directory",
        ),
        Refused::Io(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            status(StatusCode::FORBIDDEN, "cannot read this file")
        }
        // Whatever else the OS said, the client hears that nothing is there.
        Refused::NotFound | Refused::Io(_) => status(StatusCode::NOT_FOUND, "not found"),
    }
}

/// Entries past this many are not listed (the page says so): a listing of a directory
/// with 100k files would otherwise cost a blocking thread and megabytes every time.
const LISTING_LIMIT: usize = 10_000;

/// A directory: the redirect to its slash, its `index.html`, or its listing (read on a
/// blocking thread from the opened descriptor).
async fn directory(
    app: &App,
    root: &Root,
    path: &str,
    mut names: Vec<String>,
    opened: Opened,
    headers: &HeaderMap,
    head: bool,
) -> Response {
    if !path.ends_with('/') {
        let mut r = status(StatusCode::MOVED_PERMANENTLY, "moved");
        // One leading slash: `//host/dir` as a Location would send the browser to
        // another host.
        let loc = format!("/{}/", path.trim_start_matches(['/', '\\']));
        if let Ok(loc) = HeaderValue::from_str(&loc) {
            r.headers_mut().insert(header::LOCATION, loc);
        }
        return r;
    }
    names.push("index.html".to_owned());
    if let Ok(index) = open(root, &names)
        && index.kind == Kind::File
    {
        return load_and_respond(
            app,
            &format!("{path}index.html"),
            names,
            index,
            headers,
            head,
        )
        .await;
    }
    names.pop();
    match listing(app, path, names, opened).await {
        Some(html) => {
            let len = html.len();
            let mut r = (
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                if head { Bytes::new() } else { html },
            )
                .into_response();
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            r
        }
        None => status(StatusCode::FORBIDDEN, "cannot list this directory"),
    }
}

/// The listing of an opened directory: a kept one while the directory is unchanged, else
/// built on a blocking thread, a few at a time, and kept. `None`: it cannot be read.
async fn listing(app: &App, path: &str, names: Vec<String>, opened: Opened) -> Option<Bytes> {
    let now_ms = || app.epoch.elapsed().as_millis() as u64;
    let kept = |app: &App| {
        app.listings
            .lock()
            .ok()?
            .get(&names, opened.modified, now_ms())
    };
    if let Some(html) = kept(app) {
        return Some(html);
    }
    let _permit = app.listing_builds.acquire().await.ok()?;
    // Built by another request while this one waited.
    if let Some(html) = kept(app) {
        return Some(html);
    }
    let url = path.to_owned();
    let modified = opened.modified;
    let built_ms = now_ms();
    let html = tokio::task::spawn_blocking(move || {
        Root::list(&opened, LISTING_LIMIT)
            .map(|(mut entries, more)| Bytes::from(files::listing(&mut entries, more, &url)))
    })
    .await
    .ok()?
    .ok()?;
    if let Ok(mut kept) = app.listings.lock() {
        kept.keep(Listing {
            names,
            modified,
            built_ms,
            html: html.clone(),
        });
    }
    Some(html)
}

/// Whether a cached copy still matches the file on disk, looking at the disk at most every
/// `REVALIDATE_MS`, through the same opener as a request (never by path).
fn fresh(app: &App, c: &Cached) -> bool {
    use std::sync::atomic::Ordering::Relaxed;
    let now = app.epoch.elapsed().as_millis() as u64;
    if now.saturating_sub(c.checked_ms.load(Relaxed)) < REVALIDATE_MS {
        return true;
    }
    if let Some(root) = app.root.as_ref()
        && let Ok(o) = open(root, &c.names)
        && o.kind == Kind::File
        && o.len == c.len
        && o.modified == c.modified
    {
        c.checked_ms.store(now, Relaxed);
        return true;
    }
    false
}

/// Serves an opened regular file: read into the cache when small, streamed when not;
/// never more than the size `fstat` gave when it was opened.
async fn load_and_respond(
    app: &App,
    key: &str,
    names: Vec<String>,
    opened: Opened,
    headers: &HeaderMap,
    head: bool,
) -> Response {
    let modified = opened.modified;
    let len = opened.len;
    let etag = files::etag(len, modified);
    let lm = httpdate::fmt_http_date(modified);
    let ct = files::mime_for(Path::new(names.last().map_or("", String::as_str)));
    let hv = |s: &str| HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""));
    if len <= CACHE_LIMIT {
        let file = opened.file;
        let read = tokio::task::spawn_blocking(move || {
            use std::io::Read as _;
            let mut body = Vec::with_capacity(len as usize);
            (&file).take(len).read_to_end(&mut body).map(|_| body)
        })
        .await;
        let Ok(Ok(body)) = read else {
            return status(StatusCode::FORBIDDEN, "cannot read this file");
        };
        let c = Arc::new(Cached {
            checked_ms: std::sync::atomic::AtomicU64::new(app.epoch.elapsed().as_millis() as u64),
            names,
            len: body.len() as u64,
            body: Bytes::from(body),
            modified,
            etag: hv(&etag),
            last_modified: hv(&lm),
            content_type: HeaderValue::from_static(ct),
        });
        if let Ok(mut cache) = app.cache.write() {
            cache.insert(&c);
            cache.alias(key, &c);
        }
        return cached_response(&c, headers, head);
    }
    // Large files are streamed; ranges on them are served by seeking.
    let range = files::parse_range(
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
        len,
    );
    let mut builder = Response::builder()
        .header(header::CONTENT_TYPE, ct)
        .header(header::ETAG, &etag)
        .header(header::LAST_MODIFIED, &lm)
        .header(header::ACCEPT_RANGES, "bytes");
    if not_modified(headers, &etag, modified) {
        return builder
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .unwrap_or_default();
    }
    let (start, end) = match range {
        RangeAsk::Full => (0, len.saturating_sub(1)),
        RangeAsk::Part(s, e) => {
            builder = builder
                .status(StatusCode::PARTIAL_CONTENT)
                .header(header::CONTENT_RANGE, format!("bytes {s}-{e}/{len}"));
            (s, e)
        }
        RangeAsk::Unsatisfiable => {
            return builder
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{len}"))
                .body(Body::empty())
                .unwrap_or_default();
        }
    };
    let count = if len == 0 { 0 } else { end - start + 1 };
    builder = builder.header(header::CONTENT_LENGTH, count);
    if head {
        return builder.body(Body::empty()).unwrap_or_default();
    }
    let mut file = tokio::fs::File::from_std(opened.file);
    if file.seek(std::io::SeekFrom::Start(start)).await.is_err() {
        return status(StatusCode::INTERNAL_SERVER_ERROR, "cannot seek");
    }
    let stream = tokio_util::io::ReaderStream::new(file.take(count));
    builder.body(Body::from_stream(stream)).unwrap_or_default()
}

fn not_modified(headers: &HeaderMap, etag: &str, modified: SystemTime) -> bool {
    if let Some(inm) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        return inm.split(',').any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == etag
        });
    }
    if let Some(ims) = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
    {
        // HTTP dates have whole seconds.
        let secs = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        };
        return secs(modified) <= secs(ims);
    }
    false
}

fn cached_response(c: &Cached, headers: &HeaderMap, head: bool) -> Response {
    let mut builder = Response::builder()
        .header(header::CONTENT_TYPE, c.content_type.clone())
        .header(header::ETAG, c.etag.clone())
        .header(header::LAST_MODIFIED, c.last_modified.clone())
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CACHE_CONTROL, "no-cache");
    if not_modified(headers, c.etag.to_str().unwrap_or(""), c.modified) {
        return builder
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .unwrap_or_default();
    }
    let range = files::parse_range(
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
        c.len,
    );
    let body = match range {
        RangeAsk::Full => c.body.clone(),
        RangeAsk::Part(s, e) => {
            builder = builder
                .status(StatusCode::PARTIAL_CONTENT)
                .header(header::CONTENT_RANGE, format!("bytes {s}-{e}/{}", c.len));
            c.body.slice(s as usize..=e as usize)
        }
        RangeAsk::Unsatisfiable => {
            return builder
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{}", c.len))
                .body(Body::empty())
                .unwrap_or_default();
        }
    };
    builder = builder.header(header::CONTENT_LENGTH, body.len());
    if head {
        return builder.body(Body::empty()).unwrap_or_default();
    }
    builder.body(Body::from(body)).unwrap_or_default()
}

async fn echo(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let mut hdrs = serde_json::Map::new();
    for (k, v) in &parts.headers {
        hdrs.insert(
            k.as_str().to_owned(),
            serde_json::Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
        );
    }
    let doc = serde_json::json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "version": format!("{:?}", parts.version),
        "headers": hdrs,
        "body": String::from_utf8_lossy(&body),
        "remote": peer.to_string(),
    });
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
    log_line(
        &app,
        peer,
        &parts.method,
        parts.uri.path(),
        StatusCode::OK,
        text.len() as u64,
        started,
    );
    ([(header::CONTENT_TYPE, "application/json")], text).into_response()
}

async fn tcp_echo(
    addr: SocketAddr,
    limits: Limits,
    ready: impl FnOnce(SocketAddr),
    stop: Shutdown,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    ready(listener.local_addr()?);
    accept_loop(
        listener,
        limits,
        stop.wait(),
        |sock, peer, permit| async move {
            // The idle timeout closes a client that neither sends nor reads.
            let (mut r, mut w) = tokio::io::split(Idle::new(sock, limits.idle_timeout));
            let n = tokio::io::copy(&mut r, &mut w).await.unwrap_or(0);
            eprintln!("{peer} tcp echo {n}B");
            drop(permit);
        },
    )
    .await;
    Ok(())
}

/// Source ports of the old echo-like services (echo, daytime, qotd, chargen, time) and 0:
/// a reply to one of them would start a datagram ping-pong between two servers.
const ECHO_LIKE_PORTS: [u16; 6] = [0, 7, 13, 17, 19, 37];

/// Replies each source address gets per second, with a burst of twice that.
const UDP_REPLIES_PER_SEC: f64 = 200.0;

/// Why a datagram gets no echo, if it gets none.
fn udp_drop_reason(own: SocketAddr, peer: SocketAddr) -> Option<&'static str> {
    // From the server's own address (spoofed, or its own reply come back): answering it
    // would answer itself forever.
    let own_ip = own.ip().is_unspecified() || own.ip() == peer.ip();
    if peer.port() == own.port() && own_ip {
        return Some("from its own address");
    }
    if ECHO_LIKE_PORTS.contains(&peer.port()) {
        return Some("from an echo-like service port");
    }
    None
}

/// A token bucket per source address, bounded in how many sources it remembers.
#[derive(Default)]
struct UdpLimiter {
    buckets: HashMap<std::net::IpAddr, (f64, Instant)>,
}

impl UdpLimiter {
    fn allow(&mut self, ip: std::net::IpAddr, now: Instant) -> bool {
        if self.buckets.len() > 4096 {
            self.buckets.clear();
        }
        let burst = UDP_REPLIES_PER_SEC * 2.0;
        let (tokens, last) = self.buckets.entry(ip).or_insert((burst, now));
        *tokens =
            (*tokens + now.duration_since(*last).as_secs_f64() * UDP_REPLIES_PER_SEC).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

async fn udp_echo(
    addr: SocketAddr,
    ready: impl FnOnce(SocketAddr),
    stop: Shutdown,
) -> std::io::Result<()> {
    let sock = tokio::net::UdpSocket::bind(addr).await?;
    let own = sock.local_addr()?;
    ready(own);
    let serve = async {
        let mut buf = vec![0u8; 65536];
        let mut limiter = UdpLimiter::default();
        // Drops are said at once, then summed and said at most once a second, so a flood
        // is not a log flood.
        let (mut dropped, mut said) = (0u64, None::<Instant>);
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                continue;
            };
            let now = Instant::now();
            let why = udp_drop_reason(own, peer)
                .or_else(|| (!limiter.allow(peer.ip(), now)).then_some("over the rate limit"));
            match why {
                None => {
                    let _ = sock.send_to(&buf[..n], peer).await;
                    eprintln!("{peer} udp echo {n}B");
                }
                Some(why) => {
                    dropped += 1;
                    if said.is_none_or(|t| now.duration_since(t).as_secs() >= 1) {
                        eprintln!("not echoed: {dropped} datagram(s), the last {why} ({peer})");
                        (dropped, said) = (0, Some(now));
                    }
                }
            }
        }
    };
    tokio::select! {
        () = serve => Ok(()),
        () = stop.wait() => Ok(()),
    }
}
