//! Gathering the facts `why` reasons about, once, before any rule runs.

use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::firewall::{self, FwRule};
use super::{Attempt, Mode, Options, Outcome, TargetInfo, default_host};
use crate::error::Result;
use crate::inventory::{Query, Snapshot};
use crate::model::{Process, Proto, Socket, State};
use crate::ports::PortPolicy;
use crate::probe::{Budget, Greeting, Service};
use crate::target::{Host, Target};

/// A bind tried for `--listen`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindTry {
    /// The address.
    pub addr: SocketAddr,
    /// `None` when the bind worked, else the error kind and message.
    pub error: Option<(std::io::ErrorKind, String)>,
}

/// Everything the rules read.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The target.
    pub target: TargetInfo,
    /// Addresses the name resolved to, in the order clients try them, or why it did not.
    pub resolved: std::result::Result<Vec<IpAddr>, String>,
    /// One connect per resolved address (connect mode, TCP).
    pub attempts: Vec<Attempt>,
    /// Every socket on the port, any state, every namespace, with owners.
    pub port_sockets: Vec<Socket>,
    /// TCP listeners on ports near the target in this namespace (for "did you mean").
    pub nearby: Vec<Socket>,
    /// Processes holding the sockets above.
    pub processes: Vec<Process>,
    /// Sockets (any state, TIME_WAIT included) connected to the target's address and port:
    /// each holds one source port.
    pub to_target: usize,
    /// Proxy variables in lport's environment.
    pub proxy_env: Vec<(String, String)>,
    /// IPv6 is off on `lo` (or entirely).
    pub ipv6_lo_disabled: bool,
    /// The loopback interface of lport's network namespace is down.
    pub loopback_down: bool,
    /// Ephemeral and reserved ports.
    pub policy: PortPolicy,
    /// Whether this user may bind ports below `policy.unprivileged_start`.
    pub can_bind_privileged: bool,
    /// Binds tried (listen mode).
    pub binds: Vec<BindTry>,
    /// What answers on the first address that connected.
    pub service: Option<Service>,
    /// What that peer did before anything was sent.
    pub greeting: Option<Greeting>,
    /// Whether anything came back to an HTTP request.
    pub http_answered: Option<bool>,
    /// nftables rules that drop or reject this port, with how many packets each counted
    /// during lport's own connection attempts (`None` without a counter).
    pub firewall: Vec<(FwRule, Option<u64>)>,
    /// What other firewalls say that bears on exposure (macOS: the Application Firewall,
    /// Windows: its firewall's rules for the port).
    pub firewall_notes: Vec<String>,
    /// Forwarding the OS configures for the port (Windows: `netsh interface portproxy`).
    pub forwards: Vec<String>,
    /// What the hosts file says about the target's name: which lines gave its addresses,
    /// and the family it has no line for. Empty for addresses and names it does not map.
    pub hosts_evidence: Vec<String>,
    /// For a `unix:/path` target: the file and what connecting to it did.
    pub unix: Option<UnixFacts>,
    /// What listened on the port before and who kept trying (read only when nothing
    /// answered).
    pub past: Option<crate::history::Past>,
    /// The open descriptors and limit of each process holding a listener on the port.
    pub fd_usage: Vec<(u32, crate::sys::FdUsage)>,
    /// Unix sockets a database or cache that uses this TCP port listens on instead (read
    /// only when nothing answered over TCP).
    pub unix_services: Vec<UnixService>,
    /// An HTTP target named by a host name other than localhost: what the server answers
    /// a request carrying that name in `Host`, as a browser sends it (status, body start).
    pub as_host: Option<(String, u16, String)>,
    /// Containers that publish the port and are not running (read only when nothing
    /// answered).
    pub stopped_containers: Vec<crate::containers::Stopped>,
}

/// A server listening on a unix socket that stands for a TCP port: PostgreSQL's
/// `.s.PGSQL.<port>`, a MySQL/MariaDB or Redis server holding a unix listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixService {
    /// `postgresql`, `mysql` or `redis`.
    pub service: &'static str,
    /// The socket's path.
    pub path: String,
    /// The process holding it.
    pub process: Option<crate::model::Process>,
}

/// A unix-socket target: the file, and what a connection to it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixFacts {
    /// The path.
    pub path: String,
    /// The file, when it exists.
    pub file: Option<crate::sys::FileInfo>,
    /// The connection: `None` when it worked, else the error's kind and text.
    pub connect_error: Option<(std::io::ErrorKind, String)>,
    /// The POSIX name of that error where its kind says too little (`ELOOP`, `EPROTOTYPE`).
    pub errno: Option<&'static str>,
    /// Whether a socket in this namespace is bound to the path and listening (`None` when
    /// the OS does not say).
    pub listening: Option<bool>,
    /// The type of a socket bound to the path (`stream`, `dgram`, `seqpacket`), where known.
    pub bound_kind: Option<&'static str>,
    /// `@name`: a name in Linux's abstract namespace, not a file.
    pub is_abstract: bool,
    /// The user lport runs as, and its groups, by name where known.
    pub me: String,
}

impl Facts {
    /// An empty set of facts about a target, for rules' tests.
    #[must_use]
    pub fn empty(target: TargetInfo) -> Facts {
        Facts {
            target,
            resolved: Ok(Vec::new()),
            attempts: Vec::new(),
            port_sockets: Vec::new(),
            nearby: Vec::new(),
            processes: Vec::new(),
            to_target: 0,
            proxy_env: Vec::new(),
            ipv6_lo_disabled: false,
            loopback_down: false,
            policy: PortPolicy::default(),
            can_bind_privileged: false,
            binds: Vec::new(),
            service: None,
            greeting: None,
            http_answered: None,
            firewall: Vec::new(),
            firewall_notes: Vec::new(),
            forwards: Vec::new(),
            hosts_evidence: Vec::new(),
            unix: None,
            past: None,
            fd_usage: Vec::new(),
            unix_services: Vec::new(),
            as_host: None,
            stopped_containers: Vec::new(),
        }
    }

    /// Listening (or, for UDP, bound) sockets on the port.
    pub fn listeners(&self) -> impl Iterator<Item = &Socket> {
        self.port_sockets.iter().filter(|s| {
            s.proto == self.target.proto && matches!(s.state, State::Listen | State::Unconn)
        })
    }

    /// Listeners on the port in lport's own namespace.
    pub fn host_listeners(&self) -> impl Iterator<Item = &Socket> {
        self.listeners().filter(|s| s.netns.host)
    }

    /// The process with this pid.
    #[must_use]
    pub fn process(&self, pid: u32) -> Option<&Process> {
        self.processes.iter().find(|p| p.pid == pid)
    }

    /// `name (pid N)` for a socket's first owner, or its owner note.
    #[must_use]
    pub fn owner_text(&self, s: &Socket) -> String {
        match s.owners.first().and_then(|o| self.process(o.pid)) {
            Some(p) => format!("{} (pid {})", p.name, p.pid),
            None => s
                .owner_note
                .clone()
                .unwrap_or_else(|| "an unknown process".into()),
        }
    }

    /// True when some attempt connected.
    #[must_use]
    pub fn connected(&self) -> bool {
        self.attempts
            .iter()
            .any(|a| a.outcome == Outcome::Connected)
    }
}

fn resolve(host: &Host, port: u16) -> std::result::Result<Vec<IpAddr>, String> {
    match host {
        Host::Ip(ip) => Ok(vec![*ip]),
        Host::Name(name) => {
            let addrs = (name.as_str(), port)
                .to_socket_addrs()
                .map_err(|e| format!("{name} does not resolve: {e}"))?;
            let mut out: Vec<IpAddr> = Vec::new();
            for a in addrs.map(|a| a.ip()) {
                if !out.contains(&a) {
                    out.push(a);
                }
            }
            if out.is_empty() {
                return Err(format!("{name} resolves to no address"));
            }
            Ok(out)
        }
    }
}

/// How far past `--timeout` a diagnosis may run: the connection attempts take at most the
/// timeout (they run at once), and identification ends by this much after it, so `why`
/// answers within `--timeout` plus half a second whatever the server does.
const IDENTIFY_SLACK: Duration = Duration::from_millis(400);

/// One connection attempt, and what the server said before it closed (a greeting, for a
/// server that speaks first). Where a refused connection takes seconds (Windows retries
/// the SYN), the listener table decides "refused" first, without a packet.
fn attempt(to: SocketAddr, timeout: Duration) -> (Attempt, Vec<u8>) {
    let (ip, port) = (to.ip(), to.port());
    let start = Instant::now();
    let ms = |start: Instant| (start.elapsed().as_secs_f64() * 1e6).round() / 1e3;
    if crate::sys::refused_connect_is_slow() && crate::sys::listener_at(ip, port) == Some(false) {
        let a = Attempt {
            addr: ip,
            port,
            outcome: Outcome::Refused,
            ms: ms(start),
        };
        return (a, Vec::new());
    }
    match TcpStream::connect_timeout(&to, timeout) {
        Ok(tcp) => {
            let a = Attempt {
                addr: ip,
                port,
                outcome: Outcome::Connected,
                ms: ms(start),
            };
            crate::sys::reset_on_close(&tcp, true);
            (a, crate::deadline::close_gently(&tcp))
        }
        Err(e) => {
            let a = Attempt {
                addr: ip,
                port,
                outcome: Outcome::of(&e),
                ms: ms(start),
            };
            (a, Vec::new())
        }
    }
}

/// A unix-socket target: the file, one connection, and whether anything listens on it.
fn gather_unix(target: &Target, path: &std::path::Path, opts: &Options) -> Facts {
    let info = TargetInfo {
        input: target.input.clone(),
        proto: Proto::Tcp,
        host: path.display().to_string(),
        port: 0,
        scheme: Some("unix".into()),
        mode: opts.mode,
    };
    let mut f = Facts::empty(info);
    let connect = crate::sys::unix_connect(path, Instant::now() + opts.timeout);
    let errno = connect.as_ref().err().and_then(crate::sys::errno_name);
    let bound = crate::sys::unix_bound(path, false);
    f.unix = Some(UnixFacts {
        path: path.display().to_string(),
        file: crate::sys::file_info(path),
        connect_error: connect.err().map(|e| (e.kind(), e.to_string())),
        errno,
        listening: bound.as_ref().map(|b| b.iter().any(|s| s.listening)),
        bound_kind: bound.as_ref().and_then(|b| Some(b.first()?.kind)),
        is_abstract: crate::sys::is_abstract(path),
        me: crate::sys::who_am_i(),
    });
    f
}

/// One datagram to a UDP port: `connected` when something answers or, silent, a socket is
/// bound there (the datagram was delivered), `refused` on ICMP port unreachable.
fn udp_attempt(to: SocketAddr, timeout: Duration) -> (Attempt, Option<Vec<u8>>) {
    let (ip, port) = (to.ip(), to.port());
    let start = Instant::now();
    let any: IpAddr = if ip.is_ipv4() {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    };
    let result = std::net::UdpSocket::bind(SocketAddr::new(any, 0)).and_then(|s| {
        s.connect(to)?;
        s.set_read_timeout(Some(timeout.min(Duration::from_millis(500))))?;
        s.send(&crate::probe::dns_udp_query())?;
        let mut buf = [0u8; 1500];
        let n = s.recv(&mut buf)?;
        Ok(buf[..n].to_vec())
    });
    let (outcome, reply) = match result {
        Ok(r) => (Outcome::Connected, Some(r)),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            // Silence: delivered to a bound socket that does not answer this, or dropped.
            let bound = crate::snapshot(&Query {
                tcp: false,
                udp: true,
                owners: false,
                ..Query::port(port)
            })
            .is_ok_and(|s| {
                s.sockets
                    .iter()
                    .any(|x| x.local.addr == ip || x.local.addr.is_unspecified())
            });
            (
                if bound {
                    Outcome::Connected
                } else {
                    Outcome::Timeout
                },
                None,
            )
        }
        Err(e) => (Outcome::of(&e), None),
    };
    let a = Attempt {
        addr: ip,
        port,
        outcome,
        ms: (start.elapsed().as_secs_f64() * 1e6).round() / 1e3,
    };
    (a, reply)
}

fn can_bind_privileged() -> bool {
    if crate::sys::is_privileged() {
        return true;
    }
    // CAP_NET_BIND_SERVICE is bit 10 of the effective capabilities.
    std::fs::read("/proc/self/status")
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << 10) != 0)
}

/// Gathers every fact about `target`.
// One linear list of independent facts; splitting it would only scatter the order.
#[allow(clippy::too_many_lines)]
pub fn gather(target: &Target, opts: &Options) -> Result<Facts> {
    if let Some(path) = &target.unix {
        return Ok(gather_unix(target, path, opts));
    }
    let Some(port) = target.port else {
        return Err(crate::Error::InvalidTarget {
            input: target.input.clone(),
            reason: "a port is needed, as in localhost:3000 or :3000".into(),
        });
    };
    if let Some(reason) = target.unreachable_as_typed() {
        return Err(crate::Error::InvalidTarget {
            input: target.input.clone(),
            reason,
        });
    }
    let host = default_host(target, opts.mode);
    let proto = target.proto.unwrap_or(Proto::Tcp);
    let info = TargetInfo {
        input: target.input.clone(),
        proto,
        host: match &target.zone {
            Some(z) => format!("{host}%{}", z.name),
            None => host.to_string(),
        },
        port,
        scheme: target.scheme.clone(),
        mode: opts.mode,
    };
    let mut f = Facts::empty(info);
    f.resolved = resolve(&host, port);
    if let Host::Name(name) = &host
        && let Some(path) = crate::sys::hosts_file()
        && let Ok(text) = std::fs::read(&path)
    {
        let lines = super::hosts::lines_for(&String::from_utf8_lossy(&text), name);
        f.hosts_evidence = super::hosts::evidence(&path.display().to_string(), &lines, name);
    }
    if opts.mode == Mode::Listen && target.host.is_none() {
        // A server that names no address binds the wildcard; check both families.
        f.resolved = Ok(vec![
            IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        ]);
    }
    let addrs = f.resolved.clone().unwrap_or_default();
    // Firewall counters are read around lport's own attempts, so a rule whose counter
    // moves is the one that stopped them. Reading the ruleset needs root.
    let fw_before =
        (opts.mode == Mode::Connect && proto == Proto::Tcp && crate::sys::is_privileged())
            .then(crate::sys::firewall_dump)
            .flatten()
            .map(|d| firewall::rules_in(&d, port))
            .filter(|r| !r.is_empty());
    // Time spent waiting on the network, which the overall bound covers; lport's own reads
    // of the tables (slow on a busy machine) are not the server's doing.
    let mut net_spent = Duration::ZERO;
    // What a server said on the first connection before closing: a greeting it names
    // itself in spares identification a connection (a single-threaded server another).
    let mut first_words: Option<Vec<u8>> = None;
    match opts.mode {
        Mode::Connect if proto == Proto::Tcp => {
            let net_started = Instant::now();
            // Every address at once, so two dropped addresses cost one timeout, not two.
            let done: Vec<(Attempt, Vec<u8>)> = std::thread::scope(|s| {
                let handles: Vec<_> = addrs
                    .iter()
                    .map(|ip| s.spawn(move || attempt(target.socket_addr(*ip, port), opts.timeout)))
                    .collect();
                handles
                    .into_iter()
                    .zip(&addrs)
                    .map(|(h, ip)| {
                        h.join().unwrap_or_else(|_| {
                            let a = Attempt {
                                addr: *ip,
                                port,
                                outcome: Outcome::Error,
                                ms: 0.0,
                            };
                            (a, Vec::new())
                        })
                    })
                    .collect()
            });
            net_spent = net_started.elapsed();
            for (a, said) in done {
                if a.outcome == Outcome::Connected && first_words.is_none() && !said.is_empty() {
                    first_words = Some(said);
                }
                f.attempts.push(a);
            }
        }
        Mode::Connect => {
            // UDP: one datagram per address, a DNS version query (what a UDP service is
            // most often): a reply identifies it, an ICMP port unreachable refuses it.
            let net_started = Instant::now();
            let mut replies = Vec::new();
            for ip in &addrs {
                let (a, reply) = udp_attempt(target.socket_addr(*ip, port), opts.timeout);
                f.attempts.push(a);
                replies.extend(reply);
            }
            net_spent = net_started.elapsed();
            if opts.identify {
                f.service = replies.iter().find_map(|r| crate::probe::parse_dns_udp(r));
            }
        }
        Mode::Listen => {
            for ip in &addrs {
                let addr = target.socket_addr(*ip, port);
                let r = if proto == Proto::Udp {
                    std::net::UdpSocket::bind(addr).map(drop)
                } else {
                    std::net::TcpListener::bind(addr).map(drop)
                };
                f.binds.push(BindTry {
                    addr,
                    error: r.err().map(|e| (e.kind(), e.to_string())),
                });
            }
        }
    }
    if let Some(before) = fw_before {
        let after = if f.connected() && f.attempts.iter().all(|a| a.outcome == Outcome::Connected) {
            Vec::new()
        } else {
            crate::sys::firewall_dump()
                .map(|d| firewall::rules_in(&d, port))
                .unwrap_or_default()
        };
        f.firewall = before
            .into_iter()
            .map(|b| {
                let delta = after
                    .iter()
                    .find(|a| a.place == b.place)
                    .and_then(|a| Some(a.packets?.saturating_sub(b.packets?)));
                (b, delta)
            })
            .collect();
    }
    // One snapshot serves both the port's sockets and the nearby listeners.
    let snap: Snapshot = crate::snapshot(&Query {
        tcp: true,
        udp: proto == Proto::Udp,
        focus: Some(port),
        ..Query::all()
    })?;
    f.port_sockets = snap
        .sockets
        .iter()
        .filter(|s| s.local.port == port)
        .cloned()
        .collect();
    // What the platform noted about this port's sockets (macOS: a content filter).
    let port_tag = format!(":{port}:");
    f.firewall_notes
        .extend(snap.notes.iter().filter(|n| n.contains(&port_tag)).cloned());
    f.nearby = snap
        .sockets
        .iter()
        .filter(|s| {
            // Only sockets of the target's protocol: a TCP listener is no answer to UDP.
            s.netns.host
                && s.proto == proto
                && matches!(s.state, State::Listen | State::Unconn)
                && s.local.port != port
                && s.local.port.abs_diff(port) <= 10
                && !s.owners.is_empty()
                // A listener on 127.0.10.1:5174 is no answer for 127.0.0.1:5173.
                && addrs.iter().any(|a| s.accepts_addr(*a))
        })
        .cloned()
        .collect();
    f.to_target = snap
        .sockets
        .iter()
        .filter(|s| {
            s.remote
                .is_some_and(|r| r.port == port && addrs.contains(&r.addr))
        })
        .count();
    let pids: Vec<u32> = f
        .port_sockets
        .iter()
        .chain(&f.nearby)
        .flat_map(|s| s.owners.iter().map(|o| o.pid))
        .collect();
    f.processes = snap
        .processes
        .into_iter()
        .filter(|p| pids.contains(&p.pid))
        .collect();
    // A listener's process out of descriptors cannot accept (EMFILE).
    let mut listener_pids: Vec<u32> = f
        .port_sockets
        .iter()
        .filter(|s| s.state == State::Listen && s.netns.host)
        .flat_map(|s| s.owners.iter().map(|o| o.pid))
        .collect();
    listener_pids.sort_unstable();
    listener_pids.dedup();
    f.fd_usage = listener_pids
        .into_iter()
        .filter_map(|pid| Some((pid, crate::sys::fd_usage(pid)?)))
        .collect();
    f.proxy_env = [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ]
    .iter()
    .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_owned(), v)))
    .collect();
    if opts.mode == Mode::Connect && proto == Proto::Tcp && !f.connected() {
        f.unix_services = unix_services(port);
        f.stopped_containers = crate::containers::stopped_publishing(port);
    }
    f.ipv6_lo_disabled = crate::sys::ipv6_loopback_disabled();
    f.loopback_down = crate::sys::loopback_up() == Some(false);
    f.policy = PortPolicy::current();
    if opts.mode == Mode::Connect
        && f.port_sockets
            .iter()
            .any(|s| s.exposure != crate::Exposure::Loopback)
    {
        f.firewall_notes.extend(crate::sys::firewall_notes(port));
    }
    f.forwards = crate::sys::port_forwards(port);
    if opts.mode == Mode::Connect
        && proto == Proto::Tcp
        && !f.connected()
        && f.listeners().next().is_none()
    {
        f.past = crate::history::past_for_port(port);
    }
    f.can_bind_privileged = can_bind_privileged();
    if opts.identify
        && let Some(a) = f.attempts.iter().find(|a| a.outcome == Outcome::Connected)
    {
        // Identification gets what the connection attempts left of `--timeout` plus the
        // slack: the network waits of the whole run stay within that.
        let budget = Budget {
            connect: opts.timeout,
            until: Instant::now() + (opts.timeout + IDENTIFY_SLACK).saturating_sub(net_spent),
        };
        let addr = target.socket_addr(a.addr, port);
        let id = match first_words
            .as_deref()
            .and_then(crate::probe::classify_banner)
        {
            Some(service) => crate::probe::Identified {
                service: Some(service),
                greeting: crate::probe::Greeting::Banner(first_words.unwrap_or_default()),
                http_answered: None,
            },
            // An http(s):// URL's own path, so its status is the one that URL gets.
            None => match (target.scheme.as_deref(), target.path.as_deref()) {
                (Some("http" | "https"), Some(path)) if path.starts_with('/') => {
                    crate::probe::identify_path(addr, budget, path)
                }
                _ => crate::probe::identify_within(addr, budget),
            },
        };
        f.service = id.service;
        f.greeting = Some(id.greeting);
        f.http_answered = id.http_answered;
        // Dev servers check `Host` (Vite, webpack-dev-server, Django, Rails): ask as the
        // browser will, with the name typed, where it is not localhost.
        if let Some(Host::Name(name)) = &target.host
            && name != "localhost"
            && !name.ends_with(".localhost")
            && f.service
                .as_ref()
                .is_some_and(|s| s.tls.is_none() && s.detail.get("status").is_some())
        {
            let path = target
                .path
                .as_deref()
                .filter(|p| p.starts_with('/'))
                .unwrap_or("/");
            let host = format!("{name}:{port}");
            f.as_host = crate::probe::get_as_host(addr, budget, path, &host)
                .map(|(status, body)| (name.clone(), status, body));
        }
    }
    Ok(f)
}

/// The unix listeners that stand for TCP port `port`: PostgreSQL's socket names its port;
/// a MySQL/MariaDB server's port is its `--port` (3306 by default); Redis's usual port is
/// 6379 (its title shows `unixsocket:` when it listens on no TCP port).
fn unix_services(port: u16) -> Vec<UnixService> {
    let programs = ["postgres", "mysqld", "mariadbd", "redis-server"];
    let Some(listeners) = crate::sys::unix_listeners(&programs) else {
        return Vec::new();
    };
    let pids: Vec<u32> = listeners.iter().flat_map(|(_, b)| b.pids.clone()).collect();
    let processes = crate::inventory::processes(&pids);
    let pg_name = format!(".s.PGSQL.{port}");
    let mut out: Vec<UnixService> = Vec::new();
    for (path, b) in listeners {
        let process = b
            .pids
            .iter()
            .find_map(|pid| processes.iter().find(|p| p.pid == *pid))
            .cloned();
        let name = process.as_ref().map_or("", |p| p.name.as_str());
        let cmdline = process
            .as_ref()
            .map(|p| p.cmdline.clone())
            .unwrap_or_default();
        let service = if path.rsplit('/').next() == Some(pg_name.as_str()) {
            Some("postgresql")
        } else if matches!(name, "mysqld" | "mariadbd") && configured_port(&cmdline) == Some(port) {
            Some("mysql")
        } else if name == "redis-server" && port == 6379 {
            Some("redis")
        } else {
            None
        };
        if let Some(service) = service
            && !out.iter().any(|u| u.path == path)
        {
            out.push(UnixService {
                service,
                path,
                process,
            });
        }
    }
    out
}

/// A MySQL/MariaDB server's TCP port from its command line (`--port=N`, `--port N`,
/// `-P N`, `-PN`), 3306 when none is given.
fn configured_port(cmdline: &[String]) -> Option<u16> {
    let mut args = cmdline.iter().skip(1);
    let mut port = None;
    while let Some(a) = args.next() {
        let value = if let Some(v) = a.strip_prefix("--port=") {
            Some(v.to_owned())
        } else if a == "--port" || a == "-P" {
            args.next().cloned()
        } else {
            a.strip_prefix("-P").map(str::to_owned)
        };
        if let Some(v) = value {
            port = v.parse().ok();
        }
    }
    port.or(Some(3306))
}

#[cfg(test)]
mod tests {
    use super::configured_port;

    #[test]
    fn mysql_ports_from_command_lines() {
        let c =
            |a: &[&str]| configured_port(&a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert_eq!(c(&["mariadbd", "--port=3310"]), Some(3310));
        assert_eq!(c(&["mysqld", "--port", "3311"]), Some(3311));
        assert_eq!(c(&["mysqld", "-P", "3312"]), Some(3312));
        assert_eq!(c(&["mysqld", "-P3313"]), Some(3313));
        assert_eq!(c(&["mysqld", "--user=mysql"]), Some(3306));
    }
}
