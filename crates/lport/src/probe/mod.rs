//! Service identification: which protocol answers on a port, and which product.
//!
//! Probes follow `causes-and-probes.md` §B: a fresh connection per probe; first the NULL
//! probe (read what a server-speaks-first protocol says), then TLS, then an HTTP/1.1 GET
//! with `Host: localhost:PORT`, then binary probes ordered by the port's usual service
//! (Redis PING goes before any HTTP on 6379). No credentials and no writes are ever sent,
//! and printer ports 9100-9107 are never probed. Reply parsers are pure functions of bytes.

mod parse;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::deadline::Bounded;

use serde::Serialize;

pub use parse::{
    HttpReply, classify_banner, is_h2_settings, parse_amqp, parse_dns, parse_http, parse_kafka,
    parse_memcached, parse_mongodb, parse_pg_ssl, parse_redis,
};

/// TLS details of a service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TlsInfo {
    /// Protocol version, such as `TLSv1.3`.
    pub version: Option<String>,
    /// The negotiated ALPN protocol.
    pub alpn: Option<String>,
    /// Subject of the server's certificate, such as `CN=localhost`.
    pub subject: Option<String>,
    /// Subject alternative names: `DNS:localhost`, `IP:127.0.0.1`.
    pub san: Vec<String>,
    /// Start of validity, RFC 3339 UTC.
    pub not_before: Option<String>,
    /// Expiry, RFC 3339 UTC.
    pub not_after: Option<String>,
    /// Whether the certificate signs itself (its own key verifies its signature).
    pub self_signed: Option<bool>,
    /// Issuer of the server's certificate, such as `CN=mkcert development CA`.
    pub issuer: Option<String>,
    /// Whether the chain the server sent leads to a CA this machine trusts (its CA bundle,
    /// keychains or certificate store); `null` when no trust store could be read.
    pub trusted: Option<bool>,
    /// Where the trusted CAs were read, and how many (evidence, not in JSON).
    #[serde(skip)]
    pub trust_store: Option<String>,
}

/// What answers on a port.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Service {
    /// `http`, `ssh`, `postgresql`, `mysql`, `redis`, `memcached`, `tls`, `websocket`,
    /// `smtp`, `ftp`, `imap`, `pop3`, `unknown`, ...
    pub name: String,
    /// Product, such as `nginx` or `OpenSSH`.
    pub product: Option<String>,
    /// Version, such as `1.22.1`.
    pub version: Option<String>,
    /// Protocol-specific detail (HTTP status and title, Redis auth, ...).
    pub detail: serde_json::Value,
    /// TLS details when the service speaks TLS.
    pub tls: Option<TlsInfo>,
}

impl Service {
    fn new(name: &str) -> Service {
        Service {
            name: name.to_owned(),
            product: None,
            version: None,
            detail: serde_json::Value::Null,
            tls: None,
        }
    }
}

/// What the peer did on a fresh connection before we sent anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Greeting {
    /// It spoke first.
    Banner(Vec<u8>),
    /// It closed the connection.
    Closed,
    /// It reset the connection.
    Reset,
    /// Nothing within the wait.
    Silent,
    /// The connection failed.
    NoConnection(String),
}

/// How long to wait for each reply on loopback.
pub const PROBE_WAIT: Duration = Duration::from_millis(400);

/// How long the NULL probe waits for a server that speaks first: on loopback such servers
/// send their banner within milliseconds.
pub const GREETING_WAIT: Duration = Duration::from_millis(120);

/// How much time identification has: each connection attempt at most `connect`, and
/// everything (connections, handshakes, replies, follow-ups) over by `until`, whatever the
/// server does. A server that drips its reply a byte at a time gets cut off at `until`.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// The longest one connection attempt may take.
    pub connect: Duration,
    /// When every probe must be over.
    pub until: Instant,
}

/// Time for identifying one service beyond the connect timeout: on loopback every reply
/// takes milliseconds, and the slowest legitimate sequence (TLS, then an HTTP follow-up or
/// two) fits well within it.
pub const IDENTIFY_TIME: Duration = Duration::from_millis(1500);

impl Budget {
    /// Connect within `timeout`; all probes of one service over within `timeout` plus
    /// [`IDENTIFY_TIME`].
    #[must_use]
    pub fn for_one(timeout: Duration) -> Budget {
        Budget {
            connect: timeout,
            until: Instant::now() + timeout + IDENTIFY_TIME,
        }
    }

    /// No later than `until`.
    #[must_use]
    pub fn within(self, until: Instant) -> Budget {
        Budget {
            connect: self.connect,
            until: self.until.min(until),
        }
    }

    /// How long one probe waits for its reply: [`PROBE_WAIT`] on loopback, longer when the
    /// user gave more time (`--timeout` above a second: half of it), for a busy machine.
    #[must_use]
    pub fn probe_wait(self) -> Duration {
        if self.connect > Duration::from_secs(1) {
            PROBE_WAIT.max(self.connect / 2)
        } else {
            PROBE_WAIT
        }
    }

    /// A reply wait of `wait` from now, within the budget.
    fn reply_by(self, wait: Duration) -> Instant {
        self.until.min(Instant::now() + wait)
    }
}

/// A probe connection: connected within the budget, and its replies due within
/// [`Budget::probe_wait`] of connecting.
fn connect(addr: SocketAddr, b: Budget) -> std::io::Result<Bounded> {
    let mut s = Bounded::connect(addr, b.connect, b.until)?;
    s.set_deadline(b.reply_by(b.probe_wait()));
    Ok(s)
}

/// Reads what arrives before the stream's deadline (up to 4 KiB), stopping early once
/// `done` says the reply is complete.
fn read_reply(s: &mut impl Read, done: impl Fn(&[u8]) -> bool) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    while buf.len() < 4096 {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if done(&buf) {
                    break;
                }
            }
            Err(e) if buf.is_empty() => return Err(e),
            Err(_) => break,
        }
    }
    Ok(buf)
}

/// The NULL probe while other probes run: connect, send nothing, and watch in short slices
/// until the peer speaks or closes, another probe has recognised the service (`enough`),
/// `wait` has passed (`None`: until the budget ends). A server another probe recognised
/// costs no wait at all; one that speaks first late is heard by a second, longer watch.
fn greeting_watch(
    addr: SocketAddr,
    b: Budget,
    enough: &AtomicBool,
    wait: Option<Duration>,
) -> Greeting {
    let mut s = match connect(addr, b) {
        Ok(s) => s,
        Err(e) => return Greeting::NoConnection(e.to_string()),
    };
    let until = wait.map_or(b.until, |w| b.reply_by(w));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 256];
    loop {
        let now = Instant::now();
        if now >= until || (buf.is_empty() && enough.load(Ordering::Relaxed)) {
            break;
        }
        s.set_deadline(until.min(now + GREETING_SLICE));
        match s.read(&mut chunk) {
            Ok(0) if buf.is_empty() => return Greeting::Closed,
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.contains(&b'\n') || buf.len() >= 64 {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                // Part of a banner: give the rest a moment, not the whole budget.
                if !buf.is_empty() {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && buf.is_empty() => {
                return Greeting::Reset;
            }
            Err(_) if buf.is_empty() => return Greeting::Closed,
            Err(_) => break,
        }
    }
    if buf.is_empty() {
        s.quiet();
        Greeting::Silent
    } else {
        Greeting::Banner(buf)
    }
}

/// How often the NULL probe looks whether another probe has recognised the service.
const GREETING_SLICE: Duration = Duration::from_millis(5);

/// The NULL probe: connect, send nothing, see what the peer does.
#[must_use]
pub fn greeting(addr: SocketAddr, b: Budget) -> Greeting {
    let mut s = match connect(addr, b) {
        Ok(s) => s,
        Err(e) => return Greeting::NoConnection(e.to_string()),
    };
    s.set_deadline(b.reply_by(GREETING_WAIT));
    match read_reply(&mut s, |b| b.contains(&b'\n') || b.len() >= 64) {
        Ok(b) if b.is_empty() => Greeting::Closed,
        Ok(b) => Greeting::Banner(b),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Greeting::Silent
        }
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Greeting::Reset,
        Err(_) => Greeting::Closed,
    }
}

/// Sends `req` on a fresh connection and returns what comes back.
fn exchange(
    addr: SocketAddr,
    b: Budget,
    req: &[u8],
    done: impl Fn(&[u8]) -> bool,
) -> Option<Vec<u8>> {
    let mut s = connect(addr, b).ok()?;
    s.write_all(req).ok()?;
    read_reply(&mut s, done).ok()
}

/// The HTTP/1.1 request lport sends: `Host: localhost:PORT`, so dev servers that refuse
/// foreign hosts still answer.
#[must_use]
pub fn http_request(port: u16, path: &str) -> Vec<u8> {
    let target = request_target(path);
    format!(
        "GET {target} HTTP/1.1\r\nHost: localhost:{port}\r\nUser-Agent: lport-why\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// A path as typed, with spaces, controls and non-ASCII bytes percent-encoded: a request
/// line of its own, never a header smuggled in.
fn request_target(path: &str) -> String {
    use std::fmt::Write as _;
    let mut target = String::with_capacity(path.len());
    for b in path.bytes() {
        if b <= b' ' || b >= 0x7f {
            let _ = write!(target, "%{b:02X}");
        } else {
            target.push(char::from(b));
        }
    }
    target
}

/// A GET for `path` with the `Host` a browser would send (`myapp.test:5173`), for the
/// host checks of dev servers: the status and the start of the body.
#[must_use]
pub fn get_as_host(addr: SocketAddr, b: Budget, path: &str, host: &str) -> Option<(u16, String)> {
    http_get(addr, b, &request_target(path), host).map(|r| (r.status, r.body_start))
}

/// A GET on a fresh connection with a given `Host`, returning the parsed reply.
fn http_get(addr: SocketAddr, b: Budget, path: &str, host: &str) -> Option<HttpReply> {
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: lport-why\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    exchange(addr, b, req.as_bytes(), http_done)
        .as_deref()
        .and_then(parse_http)
}

/// Read-only follow-ups on an HTTP service: debugger endpoints (Node inspector, Chrome
/// DevTools), Jupyter, the Docker API, Elasticsearch; and whether it answers a foreign
/// `Host` header as it answers `localhost` (DNS rebinding).
fn refine_http(addr: SocketAddr, b: Budget, first: &HttpReply, s: &mut Service) {
    let port = addr.port();
    let local = format!("localhost:{port}");
    let body = &first.body_start;
    let version_doc = http_get(addr, b, "/json/version", &local)
        .filter(|r| r.status == 200 && r.body_start.contains("\"Protocol-Version\""));
    if body.contains("WebSockets request was expected") || version_doc.is_some() {
        s.name = "devtools".into();
        // `node.js/v18.19.0`: the runtime being debugged.
        if let Some((p, v)) = version_doc.and_then(|r| parse::devtools_browser(&r.body_start)) {
            s.product = Some(p);
            s.version = v;
        }
    } else if body.contains("trying to access MongoDB over HTTP") {
        s.name = "mongodb".into();
    } else if body.contains("You Know, for Search") {
        s.name = "elasticsearch".into();
    } else if let Some(r) =
        http_get(addr, b, "/_ping", &local).filter(|r| r.status == 200 && r.api_version.is_some())
    {
        s.name = "docker".into();
        s.version.clone_from(&r.api_version);
    } else if first
        .server
        .as_deref()
        .is_some_and(|x| x.starts_with("TornadoServer"))
        && let Some(r) = http_get(addr, b, "/api/kernels", &local)
    {
        s.name = "jupyter".into();
        s.detail["auth_required"] = (r.status == 401 || r.status == 403).into();
    }
    if s.name == "http" {
        // The same request under a name only an attacker's DNS would produce.
        if let Some(r) = http_get(addr, b, "/", &format!("rebind-check.invalid:{port}")) {
            s.detail["foreign_host_status"] = r.status.into();
            // A redirect (to a login page, say) or an empty 2xx gives a rebinding page
            // nothing to read; only a body does.
            s.detail["foreign_host_content"] =
                ((200..300).contains(&r.status) && has_content(&r.body_start)).into();
        }
    }
}

/// Whether a reply body carries anything: not empty, and not just the last chunk of an
/// empty chunked body.
fn has_content(body: &str) -> bool {
    let b = body.trim();
    !b.is_empty() && b != "0"
}

fn http_done(b: &[u8]) -> bool {
    b.windows(7).any(|w| w.eq_ignore_ascii_case(b"</title"))
        || (b.len() > 2048 && b.windows(4).any(|w| w == b"\r\n\r\n"))
}

fn http_service(reply: &HttpReply) -> Service {
    let mut s = Service::new("http");
    if reply.status == 426
        && reply
            .upgrade
            .as_deref()
            .is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
    {
        s.name = "websocket".into();
    }
    if let Some(server) = &reply.server {
        let (p, v) = server
            .split_once('/')
            .map_or((server.as_str(), None), |(p, v)| (p, Some(v)));
        s.product = Some(p.to_owned());
        s.version = v.map(|v| v.split_whitespace().next().unwrap_or(v).to_owned());
    }
    s.detail = serde_json::json!({"status": reply.status, "title": reply.title});
    s
}

/// What identification found: the service, and what the peer did when nothing was sent
/// and when an HTTP request was (rules about silent or closing peers need both).
#[derive(Debug, Clone, PartialEq)]
pub struct Identified {
    /// The service, when one answered.
    pub service: Option<Service>,
    /// The NULL probe.
    pub greeting: Greeting,
    /// Whether anything came back to the HTTP request (`None` when it was not sent).
    pub http_answered: Option<bool>,
}

/// Identifies the service on `addr` within [`Budget::for_one`]`(timeout)`.
#[must_use]
pub fn identify(addr: SocketAddr, timeout: Duration) -> Identified {
    identify_within(addr, Budget::for_one(timeout))
}

/// Identifies the service on `addr` (its port also guides the probe order), all probes
/// over by `b.until`. The NULL, TLS and HTTP probes run concurrently on separate
/// connections; binary probes follow only if none of them recognised the service.
#[must_use]
pub fn identify_within(addr: SocketAddr, b: Budget) -> Identified {
    identify_path(addr, b, "/")
}

/// As [`identify_within`], with the HTTP probes (plain and over TLS) asking for `path`, the
/// path of the URL the user gave (its status is then the one that URL gets).
#[must_use]
pub fn identify_path(addr: SocketAddr, b: Budget, path: &str) -> Identified {
    let mut id = identify_inner(addr, b, path);
    // The status came from this path: say so next to it.
    if path != "/"
        && let Some(s) = id.service.as_mut()
        && let Some(detail) = s.detail.as_object_mut()
        && detail.contains_key("status")
    {
        detail.insert("path".into(), path.into());
    }
    id
}

fn identify_inner(addr: SocketAddr, b: Budget, path: &str) -> Identified {
    let port = addr.port();
    if (9100..=9107).contains(&port) {
        // Printers print whatever arrives on these ports.
        return Identified {
            service: None,
            greeting: Greeting::Silent,
            http_answered: None,
        };
    }
    // Redis logs any HTTP as an attack and drops the connection: on its port, PING first.
    let redis_first = port == 6379;
    let redis = if redis_first {
        probe_redis(addr, b)
    } else {
        None
    };
    let (greet, tls, http, binary) = probe_all(addr, b, path, redis_first, redis.is_some());
    let http_answered = Some(http.as_ref().is_some_and(|b| !b.is_empty()));
    let done = |service: Service| Identified {
        service: Some(service),
        greeting: greet.clone(),
        http_answered,
    };
    if let Greeting::NoConnection(_) = greet {
        return Identified {
            service: None,
            greeting: greet,
            http_answered: None,
        };
    }
    if let Some(s) = redis {
        return done(s);
    }
    if let Greeting::Banner(b) = &greet
        && let Some(s) = classify_banner(b)
    {
        return done(s);
    }
    if let Some(s) = tls {
        return done(s);
    }
    if http.as_deref() == Some(&http_request(port, path)[..]) {
        // An echo server returns the request: no HTTP, and no other protocol's handshake
        // it would echo just as well (JDWP's is an echo by design).
        let mut s = Service::new("echo");
        s.detail = serde_json::json!({"behaviour": "returns what it is sent"});
        return done(s);
    }
    if http.as_deref().is_some_and(is_h2_settings) {
        // An h2c-only server answers HTTP/1.1 with SETTINGS and GOAWAY.
        let mut s = Service::new("http");
        s.detail = serde_json::json!({"http2": true, "h2c": true});
        return done(s);
    }
    if let Some(reply) = http.as_deref().and_then(parse_http) {
        let mut s = http_service(&reply);
        refine_http(addr, b, &reply, &mut s);
        return done(s);
    }
    if let Some(s) = binary {
        return done(s);
    }
    let mut s = Service::new("unknown");
    s.detail = match &greet {
        Greeting::Banner(b) => {
            serde_json::json!({"banner": String::from_utf8_lossy(&b[..b.len().min(64)])})
        }
        Greeting::Closed => {
            serde_json::json!({"behaviour": "closes the connection without a word"})
        }
        Greeting::Reset => serde_json::json!({"behaviour": "resets the connection"}),
        _ => serde_json::json!({"behaviour": "accepts and stays silent"}),
    };
    done(s)
}

/// What the NULL probe, TLS, HTTP and (when those recognise nothing) the binary probes
/// find, all at once: (greeting, TLS service, HTTP reply, binary probe's service).
fn probe_all(
    addr: SocketAddr,
    b: Budget,
    path: &str,
    redis_first: bool,
    redis_found: bool,
) -> (Greeting, Option<Service>, Option<Vec<u8>>, Option<Service>) {
    let port = addr.port();
    let started = Instant::now();
    // The first probe to recognise the service ends the NULL probe's wait; with nothing
    // recognised, that wait goes on for the whole budget while the binary probes run.
    let enough = AtomicBool::new(redis_found);
    std::thread::scope(|s| {
        // A short watch first: a single-threaded server serves one connection at a time,
        // and the HTTP probe waits behind this one.
        let greet = s.spawn(|| {
            let mut g = greeting_watch(addr, b, &enough, Some(GREETING_WAIT));
            // Still nothing from anyone: a server that speaks first may just be slow (a busy
            // machine). A second watch on a fresh connection (a single-threaded server
            // serves the other probes meanwhile), until the others settle or the timeout
            // (the connect timeout, counted from the start) passes.
            if g == Greeting::Silent && !enough.load(Ordering::Relaxed) {
                let late = b.within(started + b.connect);
                if let g2 @ (Greeting::Banner(_) | Greeting::Closed | Greeting::Reset) =
                    greeting_watch(addr, late, &enough, None)
                {
                    g = g2;
                }
            }
            if let Greeting::Banner(banner) = &g
                && classify_banner(banner).is_some()
            {
                enough.store(true, Ordering::Relaxed);
            }
            g
        });
        let tls = s.spawn(|| {
            let t = probe_tls(addr, b, path);
            if t.is_some() {
                enough.store(true, Ordering::Relaxed);
            }
            t
        });
        let http = (!redis_first || !redis_found).then(|| {
            s.spawn(|| {
                let request = http_request(port, path);
                let r = exchange(addr, b, &request, |x| http_done(x) || x == &request[..]);
                if r.as_deref().is_some_and(|x| {
                    is_h2_settings(x) || parse_http(x).is_some() || x == &request[..]
                }) {
                    enough.store(true, Ordering::Relaxed);
                }
                r
            })
        });
        let tls = tls.join().ok().flatten();
        let http = http.and_then(|h| h.join().ok()).flatten();
        // Nothing recognised yet: the binary probes, while the NULL probe keeps listening.
        // A service silent even to HTTP (no reply, no close) is none of the binary
        // protocols that answer or close on an HTTP request.
        let binary = (!enough.load(Ordering::Relaxed)).then(|| {
            let silent_to_http = http.is_none() && !redis_first;
            let found = binary_probes(addr, b, redis_first, silent_to_http);
            if found.is_some() {
                enough.store(true, Ordering::Relaxed);
            }
            found
        });
        let binary = binary.flatten();
        // Something answered (if unrecognised): no reason to keep listening for a banner.
        if http.as_ref().is_some_and(|r| !r.is_empty()) {
            enough.store(true, Ordering::Relaxed);
        }
        let greet = greet.join().unwrap_or(Greeting::Silent);
        (greet, tls, http, binary)
    })
}

/// A binary probe: name, the port its service usually has, the probe, and whether it can
/// still succeed on a service that stayed silent to an HTTP request (JDWP and DNS wait for
/// their own first message; the others answer or close on HTTP).
type BinaryProbe = (
    &'static str,
    u16,
    fn(SocketAddr, Budget) -> Option<Service>,
    bool,
);

const BINARY_PROBES: &[BinaryProbe] = &[
    ("redis", 6379, probe_redis, false),
    ("pg", 5432, probe_pg, false),
    ("memcached", 11211, probe_memcached, false),
    ("jdwp", 5005, probe_jdwp, true),
    ("mongodb", 27017, probe_mongodb, false),
    ("kafka", 9092, probe_kafka, false),
    ("amqp", 5672, probe_amqp, false),
    ("dns", 53, probe_dns, true),
];

/// The binary probes, concurrently: the one for the port's usual service first, then the
/// rest in table order; the first in that order that recognises the service wins.
fn binary_probes(
    addr: SocketAddr,
    b: Budget,
    redis_first: bool,
    silent_to_http: bool,
) -> Option<Service> {
    let port = addr.port();
    let mut order: Vec<&BinaryProbe> = BINARY_PROBES.iter().filter(|p| p.1 == port).collect();
    order.extend(BINARY_PROBES.iter().filter(|p| p.1 != port));
    std::thread::scope(|sc| {
        let handles: Vec<_> = order
            .into_iter()
            .filter(|(name, ..)| !(redis_first && *name == "redis"))
            .filter(|(.., when_silent)| !silent_to_http || *when_silent)
            .map(|&(_, _, probe, _)| sc.spawn(move || probe(addr, b)))
            .collect();
        handles.into_iter().find_map(|h| h.join().ok().flatten())
    })
}

fn probe_mongodb(addr: SocketAddr, b: Budget) -> Option<Service> {
    // OP_MSG {hello: 1, $db: "admin"}: header (length 52, requestID 1, responseTo 0,
    // opCode 2013), flags 0, section kind 0, then the BSON document.
    const HELLO: [u8; 52] = [
        0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xdd, 7, 0, 0, 0, 0, 0, 0, 0, 0x1f, 0, 0, 0, 0x10,
        b'h', b'e', b'l', b'l', b'o', 0, 1, 0, 0, 0, 2, b'$', b'd', b'b', 0, 6, 0, 0, 0, b'a',
        b'd', b'm', b'i', b'n', 0, 0,
    ];
    let reply = exchange(addr, b, &HELLO, |b| b.len() >= 16)?;
    parse_mongodb(&reply)
}

fn probe_kafka(addr: SocketAddr, b: Budget) -> Option<Service> {
    // ApiVersions v0, request header v1: size 10, api key 18, version 0, correlation id 1,
    // null client id.
    let reply = exchange(
        addr,
        b,
        &[0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0xff, 0xff],
        |b| b.len() >= 8,
    )?;
    parse_kafka(&reply)
}

fn probe_amqp(addr: SocketAddr, b: Budget) -> Option<Service> {
    let reply = exchange(addr, b, b"AMQP\0\0\x09\x01", |b| b.len() >= 11)?;
    parse_amqp(&reply)
}

/// The DNS `version.bind CH TXT` query as one UDP datagram (id 6, RD, one question).
#[must_use]
pub fn dns_udp_query() -> Vec<u8> {
    let mut q = vec![0, 6, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7];
    q.extend_from_slice(b"version");
    q.push(4);
    q.extend_from_slice(b"bind");
    q.extend_from_slice(&[0, 0, 16, 0, 3]);
    q
}

/// A reply datagram to [`dns_udp_query`], as a DNS service.
#[must_use]
pub fn parse_dns_udp(reply: &[u8]) -> Option<Service> {
    // The TCP parser reads past a 2-byte length prefix.
    let mut framed = vec![0, 0];
    framed.extend_from_slice(reply);
    parse_dns(&framed)
}

fn probe_dns(addr: SocketAddr, b: Budget) -> Option<Service> {
    // version.bind CH TXT over TCP: length 30, id 6, RD, one question.
    let mut q = vec![0, 30, 0, 6, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7];
    q.extend_from_slice(b"version");
    q.push(4);
    q.extend_from_slice(b"bind");
    q.extend_from_slice(&[0, 0, 16, 0, 3]);
    let reply = exchange(addr, b, &q, |b| b.len() >= 14)?;
    parse_dns(&reply)
}

/// Identifies many services at once on up to 32 threads, all of it over by `until`
/// (each service also within [`Budget::for_one`]`(timeout)`); results are in the order of
/// `addrs`. A slow service holds one thread, not a whole batch.
#[must_use]
pub fn identify_many(
    addrs: &[SocketAddr],
    timeout: Duration,
    until: Instant,
) -> Vec<Option<Service>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let results: std::sync::Mutex<Vec<Option<Service>>> =
        std::sync::Mutex::new(vec![None; addrs.len()]);
    std::thread::scope(|s| {
        for _ in 0..addrs.len().min(32) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(a) = addrs.get(i) else { break };
                    if Instant::now() >= until {
                        break;
                    }
                    let found = identify_within(*a, Budget::for_one(timeout).within(until));
                    if let Ok(mut r) = results.lock() {
                        r[i] = found.service;
                    }
                }
            });
        }
    });
    results.into_inner().unwrap_or_default()
}

/// Fills subject, SAN, expiry and self-signedness from a DER certificate.
#[cfg(feature = "tls")]
pub fn describe_certificate(der: &[u8], info: &mut TlsInfo) {
    use x509_parser::extensions::GeneralName;
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return;
    };
    info.subject = Some(cert.subject().to_string());
    info.issuer = Some(cert.issuer().to_string());
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        info.san = san
            .value
            .general_names
            .iter()
            .map(|n| match n {
                GeneralName::DNSName(d) => format!("DNS:{d}"),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => format!("IP:{}", std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3])),
                    16 => {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(b);
                        format!("IP:{}", std::net::Ipv6Addr::from(a))
                    }
                    _ => "IP:?".to_owned(),
                },
                other => format!("{other}"),
            })
            .collect();
    }
    // Before 1970 too: a certificate that expired in 1950 is expired, not undated.
    info.not_after = Some(crate::model::rfc3339_signed(
        cert.validity().not_after.timestamp(),
    ));
    info.not_before = Some(crate::model::rfc3339_signed(
        cert.validity().not_before.timestamp(),
    ));
    info.self_signed = Some(cert.subject() == cert.issuer() && cert.verify_signature(None).is_ok());
}

/// A server that refused a modern handshake, asked with a ClientHello that also offers
/// TLS 1.0/1.1 and old suites: a TLS service whose version or suite clients refuse, or
/// `None` when it is no TLS server.
#[cfg(feature = "tls")]
fn legacy_tls(addr: SocketAddr, b: Budget) -> Option<Service> {
    let reply = exchange(addr, b, &parse::legacy_client_hello(), |r| {
        r.len() >= 5 && r.len() >= 5 + usize::from(u16::from_be_bytes([r[3], r[4]]))
    })?;
    let mut svc = Service::new("tls");
    svc.detail = match parse::parse_legacy_answer(&reply)? {
        parse::LegacyAnswer::Hello {
            version,
            cipher,
            modern,
        } => {
            serde_json::json!({"legacy": {"version": version, "cipher": cipher, "modern": modern}})
        }
        parse::LegacyAnswer::Alert(code) => serde_json::json!({"legacy": {"alert": code}}),
    };
    Some(svc)
}

#[cfg(not(feature = "tls"))]
fn probe_tls(_addr: SocketAddr, _b: Budget, _path: &str) -> Option<Service> {
    None
}

fn probe_redis(addr: SocketAddr, b: Budget) -> Option<Service> {
    let mut conn = connect(addr, b).ok()?;
    conn.write_all(b"*1\r\n$4\r\nPING\r\n").ok()?;
    let reply = read_reply(&mut conn, |b| b.ends_with(b"\r\n")).ok()?;
    let mut s = parse_redis(&reply)?;
    // Without a password, `INFO server` (read-only) names the version.
    if reply.starts_with(b"+PONG") {
        s.product = Some("Redis".into());
        if conn
            .write_all(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
            .is_ok()
            && let Ok(info) = read_reply(&mut conn, |b| {
                b.windows(14).any(|w| w == b"redis_version:") && b.ends_with(b"\r\n")
            })
        {
            s.version = parse::redis_version(&info);
        }
    }
    Some(s)
}

fn probe_pg(addr: SocketAddr, b: Budget) -> Option<Service> {
    // SSLRequest: length 8, code 80877103.
    let reply = exchange(addr, b, &[0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f], |b| {
        !b.is_empty()
    })?;
    let mut s = parse_pg_ssl(&reply)?;
    if reply.len() == 1 {
        // A startup packet of protocol 4.0 (no user, no parameters): PostgreSQL refuses
        // it, naming the versions it speaks, which tell its major release.
        if let Some(error) = exchange(addr, b, &[0, 0, 0, 8, 0, 4, 0, 0], |b| {
            parse::pg_error_fields(b).is_some()
        }) {
            parse::add_pg_protocol_error(&mut s, &error);
        }
    }
    Some(s)
}

fn probe_jdwp(addr: SocketAddr, b: Budget) -> Option<Service> {
    // The JDWP handshake: the agent echoes these 14 bytes; so does any echo server. A
    // real agent then answers VirtualMachine.Version (command set 1, command 1, id 1) with
    // a reply packet (flags 0x80), which an echo returns unchanged (flags 0).
    let mut conn = connect(addr, b).ok()?;
    conn.write_all(b"JDWP-Handshake").ok()?;
    let hello = read_reply(&mut conn, |b| b.len() >= 14).ok()?;
    if hello != b"JDWP-Handshake" {
        return None;
    }
    conn.write_all(&[0, 0, 0, 11, 0, 0, 0, 1, 0, 1, 1]).ok()?;
    let reply = read_reply(&mut conn, |b| {
        b.len() >= 4 && b.len() >= u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
    })
    .ok()?;
    parse::jdwp_version_reply(&reply)
}

fn probe_memcached(addr: SocketAddr, b: Budget) -> Option<Service> {
    let reply = exchange(addr, b, b"version\r\n", |b| b.ends_with(b"\r\n"))?;
    parse_memcached(&reply)
}

#[cfg(feature = "tls")]
fn probe_tls(addr: SocketAddr, b: Budget, path: &str) -> Option<Service> {
    // The handshake gets one reply wait; the HTTP exchange inside it another.
    let tcp = connect(addr, b).ok()?;
    let note = std::sync::Arc::new(crate::tls::NoteCertRequest::default());
    let mut tls = match crate::tls::connect_noting(
        tcp,
        "localhost",
        &[b"h2", b"http/1.1"],
        std::sync::Arc::clone(&note),
    ) {
        Ok(t) => t,
        // It asked for a client certificate and ended the handshake without one: TLS,
        // with mutual authentication required.
        Err(e) => {
            let Some(ca_names) = note.asked() else {
                // Refused with an alert (no version or suite in common): what does it
                // speak? A handshake that timed out or broke asks nothing more.
                let refused = e
                    .get_ref()
                    .and_then(|i| i.downcast_ref::<rustls::Error>())
                    .is_some_and(|r| {
                        matches!(
                            r,
                            rustls::Error::AlertReceived(_) | rustls::Error::PeerIncompatible(_)
                        )
                    });
                return if refused { legacy_tls(addr, b) } else { None };
            };
            let mut svc = Service::new("tls");
            svc.detail = serde_json::json!({"client_certificate": {
                "required": true,
                "ca_names": ca_names,
                "error": e.to_string(),
            }});
            return Some(svc);
        }
    };
    tls.sock.set_deadline(b.reply_by(b.probe_wait()));
    let info = TlsInfo {
        version: tls.conn.protocol_version().map(|v| match v {
            rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
            rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
            other => format!("{other:?}"),
        }),
        alpn: tls
            .conn
            .alpn_protocol()
            .map(|a| String::from_utf8_lossy(a).into_owned()),
        ..TlsInfo::default()
    };
    let mut info = info;
    if let Some(chain) = tls.conn.peer_certificates()
        && let Some(der) = chain.first()
    {
        describe_certificate(der.as_ref(), &mut info);
        if let Some((trusted, store)) = crate::tls::chain_trusted(chain) {
            info.trusted = Some(trusted);
            info.trust_store = Some(store);
        }
    }
    let h2 = info.alpn.as_deref() == Some("h2");
    let mut svc = Service::new("tls");
    if h2 {
        svc.name = "http".into();
        svc.detail = serde_json::json!({"http2": true});
    } else {
        let _ = tls.write_all(&http_request(addr.port(), path));
        let read = read_reply(&mut tls, http_done);
        // TLS 1.3: the client's side of the handshake ends before the server judges the
        // (empty) certificate; its `certificate_required` alert arrives on the first read.
        if let (Err(e), Some(ca_names)) = (&read, note.asked()) {
            svc.detail = serde_json::json!({"client_certificate": {
                "required": true,
                "ca_names": ca_names,
                "error": e.to_string(),
            }});
        }
        if let Some(reply) = read.ok().as_deref().and_then(parse_http) {
            svc = http_service(&reply);
            // nginx's `ssl_verify_client on`: the handshake completes, the request gets 400.
            if let Some(ca_names) = note.asked()
                && let Some(detail) = svc.detail.as_object_mut()
            {
                let required = reply.status == 400
                    && (reply
                        .body_start
                        .contains("No required SSL certificate was sent")
                        || reply
                            .title
                            .as_deref()
                            .is_some_and(|t| t.contains("No required SSL certificate")));
                detail.insert(
                    "client_certificate".into(),
                    serde_json::json!({"required": required, "ca_names": ca_names}),
                );
            }
        }
    }
    svc.tls = Some(info);
    Some(svc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_listener_and_a_closed_port() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let b = || Budget::for_one(Duration::from_secs(1));
        assert_eq!(greeting(addr, b()), Greeting::Silent);
        drop(l);
        assert!(matches!(greeting(addr, b()), Greeting::NoConnection(_)));
    }
}
