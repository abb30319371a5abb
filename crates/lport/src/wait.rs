//! Waiting until targets are ready (or, with `gone`, until nothing listens any more).
//!
//! Each target has one honest readiness check: a TCP connect to every address the name
//! resolves to (so `localhost` works whether the server took 127.0.0.1 or ::1), an HTTP
//! status for URLs, a connect for unix sockets, and for UDP a bound socket read from the
//! kernel's table (datagrams prove nothing). Checks of local TCP and unix targets are cheap
//! (for TCP one netlink hash lookup in the kernel's listener table, and a real connect only
//! once a listener is there), so they run every 15 ms and a port that opens is noticed
//! within milliseconds at well under 1% of a core; everything else runs every 100 ms
//! unless `interval` says otherwise.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::deadline::{Bounded, left};
use crate::error::{Error, Result};
use crate::model::{Proto, State, is_loopback};
use crate::target::{Host, Target};

/// How to wait.
#[derive(Debug, Clone)]
pub struct WaitOptions {
    /// Give up after this long.
    pub timeout: Duration,
    /// Pause between checks; `None` picks 15 ms for local TCP and unix targets and 100 ms
    /// for the rest.
    pub interval: Option<Duration>,
    /// Wait until the targets are gone (nothing listens) instead of ready.
    pub gone: bool,
    /// For HTTP targets: the status that means ready (default: any 2xx or 3xx).
    pub status: Option<u16>,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            timeout: Duration::from_secs(30),
            interval: None,
            gone: false,
            status: None,
        }
    }
}

/// What kind of check a target gets.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Tcp,
    Http { tls: bool, path: String },
    Unix(PathBuf),
    Udp,
}

/// One target being waited for.
#[derive(Debug, Clone)]
pub struct WaitTarget {
    /// The target as parsed.
    pub target: Target,
    kind: Kind,
    host: String,
    port: u16,
    resolved: Option<(Instant, Vec<IpAddr>)>,
}

impl WaitTarget {
    /// Validates a target for waiting: it needs a port, or a socket path.
    pub fn new(target: Target) -> Result<WaitTarget> {
        let invalid = |reason: &str| Error::InvalidTarget {
            input: target.input.clone(),
            reason: reason.to_owned(),
        };
        let kind = if let Some(p) = &target.unix {
            Kind::Unix(p.clone())
        } else if target.proto == Some(Proto::Udp) {
            Kind::Udp
        } else {
            match target.scheme.as_deref() {
                Some("http") => Kind::Http {
                    tls: false,
                    path: target.path.clone().unwrap_or_else(|| "/".into()),
                },
                Some("https") => Kind::Http {
                    tls: true,
                    path: target.path.clone().unwrap_or_else(|| "/".into()),
                },
                None => Kind::Tcp,
                Some(other) if target.port.is_some() => {
                    let _ = other;
                    Kind::Tcp
                }
                Some(_) => return Err(invalid("a port is needed")),
            }
        };
        if !matches!(kind, Kind::Unix(_)) && target.port.is_none() {
            return Err(invalid("a port is needed, as in localhost:3000 or :3000"));
        }
        if let Some(reason) = target.unreachable_as_typed() {
            return Err(invalid(&reason));
        }
        let host = match &target.host {
            Some(Host::Ip(ip)) => ip.to_string(),
            Some(Host::Name(n)) => n.clone(),
            None => "localhost".to_owned(),
        };
        Ok(WaitTarget {
            port: target.port.unwrap_or(0),
            target,
            kind,
            host,
            resolved: None,
        })
    }

    /// True when checks are cheap and stay on this machine.
    fn is_local(&self) -> bool {
        match &self.target.host {
            None => true,
            Some(Host::Name(n)) => n == "localhost" || n.ends_with(".localhost"),
            Some(Host::Ip(ip)) => is_loopback(*ip) || ip.is_unspecified(),
        }
    }

    fn default_interval(&self, gone: bool) -> Duration {
        match self.kind {
            Kind::Tcp | Kind::Unix(_) if self.is_local() && !gone => Duration::from_millis(15),
            _ => Duration::from_millis(100),
        }
    }

    /// The addresses to try, re-resolved at most once a second.
    fn addrs(&mut self) -> std::result::Result<Vec<IpAddr>, String> {
        if let Some((at, a)) = &self.resolved
            && at.elapsed() < Duration::from_secs(1)
        {
            return Ok(a.clone());
        }
        let mut t = self.target.clone();
        if t.host.is_none() {
            t.host = Some(Host::Name("localhost".into()));
        }
        let a = t
            .resolve()
            .map_err(|e| format!("{e}: {}", source_text(&e)))?;
        if a.is_empty() {
            return Err(format!("{} resolves to no address", self.host));
        }
        self.resolved = Some((Instant::now(), a.clone()));
        Ok(a)
    }

    /// One check. `Ok(detail)` when the target is in the state waited for, `Err(reason)`
    /// otherwise.
    fn check(
        &mut self,
        opts: &WaitOptions,
        deadline: Instant,
    ) -> std::result::Result<String, String> {
        // One check never takes more than a second, nor past the overall deadline.
        let until = deadline.min(Instant::now() + Duration::from_secs(1));
        if opts.gone {
            return self.check_gone(until);
        }
        match self.kind.clone() {
            Kind::Unix(path) => unix_connect(&path, until)
                .map(|()| "accepts connections".to_owned())
                .map_err(|e| classify(&e)),
            Kind::Udp => {
                if self.udp_bound()? {
                    Ok("a UDP socket is bound".into())
                } else {
                    Err("no UDP socket bound".into())
                }
            }
            Kind::Tcp => {
                let mut reasons = Vec::new();
                let local = self.is_local();
                for ip in self.addrs()? {
                    // For a local address the kernel's listener table answers "nothing
                    // listens" with one hash lookup, without a connection attempt; only when a
                    // listener is there does a real connect confirm it accepts.
                    if local && crate::sys::listener_at(ip, self.port) == Some(false) {
                        reasons.push(format!(
                            "{}: nothing listens{}",
                            fmt_addr(ip),
                            other_family_hint(ip, self.port)
                        ));
                        continue;
                    }
                    let to = self.target.socket_addr(ip, self.port);
                    match connect_by(to, until) {
                        Ok(tcp) => {
                            crate::deadline::close_gently(&tcp);
                            return Ok(format!("{to} accepts connections"));
                        }
                        Err(e) => reasons.push(format!("{}: {}", fmt_addr(ip), classify(&e))),
                    }
                }
                Err(reasons.join(", "))
            }
            Kind::Http { tls, path } => {
                let mut reasons = Vec::new();
                for ip in self.addrs()? {
                    match self.http_status(ip, tls, &path, until) {
                        Ok(code) => {
                            let ok = match opts.status {
                                Some(want) => code == want,
                                None => (200..400).contains(&code),
                            };
                            if ok {
                                return Ok(format!("HTTP {code}"));
                            }
                            reasons.push(format!("HTTP {code}"));
                        }
                        Err(e) => reasons.push(format!("{}: {e}", fmt_addr(ip))),
                    }
                }
                Err(reasons.join(", "))
            }
        }
    }

    fn check_gone(&mut self, until: Instant) -> std::result::Result<String, String> {
        match self.kind.clone() {
            Kind::Unix(path) => match unix_connect(&path, until) {
                Ok(()) => Err("still accepts connections".into()),
                Err(e) => Ok(classify(&e)),
            },
            Kind::Udp => {
                if self.udp_bound()? {
                    Err("a UDP socket is still bound".into())
                } else {
                    Ok("no UDP socket bound".into())
                }
            }
            Kind::Tcp | Kind::Http { .. } if self.is_local() => {
                // Read the kernel's table rather than connect: no connection reaches a server
                // that is shutting down.
                let q = crate::Query {
                    udp: false,
                    states: [State::Listen].into_iter().collect(),
                    port: Some(self.port),
                    owners: false,
                    other_netns: false,
                    ..crate::Query::listeners()
                };
                let snap = crate::snapshot(&q).map_err(|e| e.to_string())?;
                let addrs = self.addrs().unwrap_or_default();
                let here = snap.sockets.iter().find(|s| {
                    self.target.host.is_none() || addrs.iter().any(|a| s.accepts_addr(*a))
                });
                match here {
                    Some(s) => Err(format!("{} still listening", s.local)),
                    None => Ok("nothing listens".into()),
                }
            }
            Kind::Tcp | Kind::Http { .. } => {
                for ip in self.addrs()? {
                    if let Ok(tcp) = connect_by(self.target.socket_addr(ip, self.port), until) {
                        crate::deadline::close_gently(&tcp);
                        return Err(format!("{} still accepts connections", fmt_addr(ip)));
                    }
                }
                Ok("nothing accepts connections".into())
            }
        }
    }

    fn udp_bound(&mut self) -> std::result::Result<bool, String> {
        let q = crate::Query {
            tcp: false,
            states: [State::Unconn, State::Established].into_iter().collect(),
            port: Some(self.port),
            owners: false,
            other_netns: false,
            ..crate::Query::listeners()
        };
        let snap = crate::snapshot(&q).map_err(|e| e.to_string())?;
        if self.target.host.is_none() {
            return Ok(!snap.sockets.is_empty());
        }
        let addrs = self.addrs()?;
        Ok(snap
            .sockets
            .iter()
            .any(|s| addrs.iter().any(|a| s.accepts_addr(*a))))
    }

    /// Sends one `GET` and returns the status code; connection, TLS handshake and reply
    /// all over by `until`.
    fn http_status(
        &self,
        ip: IpAddr,
        tls: bool,
        path: &str,
        until: Instant,
    ) -> std::result::Result<u16, String> {
        let addr = self.target.socket_addr(ip, self.port);
        let tcp =
            Bounded::connect(addr, Duration::from_secs(1), until).map_err(|e| classify(&e))?;
        let host_header = match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(a)) => format!("[{a}]:{}", self.port),
            _ => format!("{}:{}", self.host, self.port),
        };
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: lport-wait\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        let mut stream: Box<dyn crate::tls::Stream> = if tls {
            match tls_stream(tcp, &self.host) {
                Ok(s) => s,
                // The handshake got plain text back: say what the server speaks, as `why`
                // does, when a plain request shows it is HTTP.
                Err(e) if e.contains("InvalidContentType") => {
                    let plain = self.http_status(ip, false, path, until).is_ok();
                    return Err(if plain {
                        format!(
                            "it speaks plain HTTP, not TLS (wait for http://{host_header}{path})"
                        )
                    } else {
                        "it answered the TLS handshake in plain text: not a TLS port".to_owned()
                    });
                }
                Err(e) => return Err(e),
            }
        } else {
            Box::new(tcp)
        };
        stream.write_all(req.as_bytes()).map_err(|e| classify(&e))?;
        let mut buf = [0u8; 64];
        let mut got = 0;
        while got < buf.len() {
            match stream.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => {
                    got += n;
                    if buf[..got].contains(&b'\n') {
                        break;
                    }
                }
                Err(e) => return Err(classify(&e)),
            }
        }
        parse_status(&buf[..got]).ok_or_else(|| {
            if got == 0 {
                "closed without an HTTP reply".to_owned()
            } else {
                format!(
                    "not an HTTP reply: {:?}",
                    String::from_utf8_lossy(&buf[..got.min(24)])
                )
            }
        })
    }
}

/// A TCP connection made by `until`.
fn connect_by(addr: SocketAddr, until: Instant) -> std::io::Result<TcpStream> {
    let tcp = TcpStream::connect_timeout(&addr, left(until)?)?;
    // Polling leaves no TIME_WAITs behind on the port it waited for (the caller closes
    // gently first; the close then resets what is left).
    crate::sys::reset_on_close(&tcp, true);
    Ok(tcp)
}

#[cfg(feature = "tls")]
fn tls_stream(
    tcp: Bounded,
    host: &str,
) -> std::result::Result<Box<dyn crate::tls::Stream>, String> {
    crate::tls::connect(tcp, host, &[b"http/1.1"])
        .map(|s| Box::new(s) as Box<dyn crate::tls::Stream>)
        .map_err(|e| format!("TLS: {e}"))
}

#[cfg(not(feature = "tls"))]
fn tls_stream(
    _tcp: Bounded,
    _host: &str,
) -> std::result::Result<Box<dyn crate::tls::Stream>, String> {
    Err("this lport was built without TLS".into())
}

fn unix_connect(path: &std::path::Path, deadline: Instant) -> std::io::Result<()> {
    crate::sys::unix_connect(path, deadline)
}

/// When nothing listens on a loopback address but the other family's loopback takes the
/// port: ` (but [::1]:3000 listens: the other address family)`, else nothing.
fn other_family_hint(ip: IpAddr, port: u16) -> String {
    if !ip.is_loopback() {
        return String::new();
    }
    let other = match ip {
        IpAddr::V4(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
    };
    if crate::sys::listener_at(other, port) == Some(true) {
        format!(
            " (but {} listens: the other address family)",
            SocketAddr::new(other, port)
        )
    } else {
        String::new()
    }
}

fn fmt_addr(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}

fn source_text(e: &Error) -> String {
    std::error::Error::source(e).map_or_else(String::new, ToString::to_string)
}

/// A connect error in a word or two.
fn classify(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => "refused".into(),
        K::TimedOut | K::WouldBlock => "timeout".into(),
        K::HostUnreachable | K::NetworkUnreachable => "unreachable".into(),
        K::AddrNotAvailable => "address not available".into(),
        K::ConnectionReset => "reset".into(),
        K::PermissionDenied => "denied".into(),
        K::NotFound => "no such socket file".into(),
        _ => e.to_string(),
    }
}

/// The status code of an HTTP/1.x status line.
#[must_use]
pub fn parse_status(reply: &[u8]) -> Option<u16> {
    let line = reply.split(|&b| b == b'\n').next()?;
    let mut parts = line.split(|&b| b == b' ');
    let version = parts.next()?;
    if !version.starts_with(b"HTTP/1.") {
        return None;
    }
    let code = std::str::from_utf8(parts.next()?)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (100..600).contains(&code).then_some(code)
}

/// Progress of a wait, for a one-line display.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Time since the wait began.
    pub elapsed: Duration,
    /// Each target not yet in the state waited for, with the last reason.
    pub pending: Vec<(String, String)>,
}

/// How a wait ended.
#[derive(Debug, Clone)]
pub struct WaitResult {
    /// All targets reached the state waited for.
    pub done: bool,
    /// Time taken.
    pub elapsed: Duration,
    /// Targets still pending at the end, with the last reason.
    pub pending: Vec<(String, String)>,
}

const NOT_CHECKED: &str = "not checked yet";

/// Waits for every target; calls `progress` at most every 100 ms with the state of things.
pub fn wait(
    targets: Vec<WaitTarget>,
    opts: &WaitOptions,
    mut progress: impl FnMut(&Progress),
) -> WaitResult {
    let start = Instant::now();
    let deadline = start + opts.timeout;
    let mut pending: Vec<(WaitTarget, String)> = targets
        .into_iter()
        .map(|t| (t, NOT_CHECKED.to_owned()))
        .collect();
    let interval = opts.interval.unwrap_or_else(|| {
        pending
            .iter()
            .map(|(t, _)| t.default_interval(opts.gone))
            .min()
            .unwrap_or(Duration::from_millis(100))
    });
    let mut last_report: Option<Instant> = None;
    loop {
        pending.retain_mut(|(t, reason)| match t.check(opts, deadline) {
            Ok(_) => false,
            Err(r) => {
                // A check the overall deadline cut short says less than the one before it
                // ("HTTP 404" beats "timeout").
                let cut_short = Instant::now() >= deadline;
                if !cut_short || reason == NOT_CHECKED {
                    *reason = r;
                }
                true
            }
        });
        let report = |p: &[(WaitTarget, String)]| {
            p.iter()
                .map(|(t, r)| (t.target.display_url(), r.clone()))
                .collect::<Vec<_>>()
        };
        if pending.is_empty() || Instant::now() >= deadline {
            return WaitResult {
                done: pending.is_empty(),
                elapsed: start.elapsed(),
                pending: report(&pending),
            };
        }
        if last_report.is_none_or(|t| t.elapsed() >= Duration::from_millis(100)) {
            last_report = Some(Instant::now());
            progress(&Progress {
                elapsed: start.elapsed(),
                pending: report(&pending),
            });
        }
        std::thread::sleep(interval.min(deadline.saturating_duration_since(Instant::now())));
    }
}

/// Parses a duration: `500ms`, `3s`, `2m`, `1h`, or a plain number of seconds.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| {
        format!("invalid duration {s:?}: expected a number and a unit, as in 500ms, 3s, 2m")
    })?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        other => {
            return Err(format!(
                "invalid duration {s:?}: unknown unit {other:?} (use ms, s, m, h or d)"
            ));
        }
    };
    if !secs.is_finite() || secs > 1e9 {
        return Err(format!("invalid duration {s:?}: too long"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86400)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("3 fortnights").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn status_lines() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(
            parse_status(b"HTTP/1.0 503 Service Unavailable\r\n"),
            Some(503)
        );
        assert_eq!(parse_status(b"SSH-2.0-OpenSSH_9.2\r\n"), None);
        assert_eq!(parse_status(b"HTTP/1.1 999 X\r\n"), None);
        assert_eq!(parse_status(b""), None);
    }

    #[test]
    fn targets_need_a_port_or_a_path() {
        let w = |s: &str| WaitTarget::new(Target::parse(s).expect("target"));
        assert!(w("localhost").is_err());
        assert_eq!(w("3000").expect("ok").kind, Kind::Tcp);
        assert!(matches!(
            w("https://localhost:8443/health").expect("ok").kind,
            Kind::Http { tls: true, .. }
        ));
        assert_eq!(w("udp/53").expect("ok").kind, Kind::Udp);
        assert!(matches!(
            w("unix:/run/x.sock").expect("ok").kind,
            Kind::Unix(_)
        ));
        assert!(w("3000").expect("ok").is_local());
        assert!(!w("10.1.2.3:80").expect("ok").is_local());
    }

    #[test]
    fn a_closed_then_open_port() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let t =
            WaitTarget::new(Target::parse(&format!("127.0.0.1:{port}")).expect("t")).expect("w");
        let opts = WaitOptions {
            timeout: Duration::from_secs(2),
            ..WaitOptions::default()
        };
        assert!(wait(vec![t.clone()], &opts, |_| {}).done);
        drop(l);
        let quick = WaitOptions {
            timeout: Duration::from_millis(50),
            ..WaitOptions::default()
        };
        let r = wait(vec![t], &quick, |_| {});
        assert!(!r.done);
        // From the kernel's listener table where the platform has a lookup, else from
        // the refused connection.
        assert!(
            r.pending[0].1.contains("nothing listens") || r.pending[0].1.contains("refused"),
            "{:?}",
            r.pending
        );
    }
}
