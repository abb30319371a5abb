//! What a port number means: its IANA class, whether this OS hands it out as an ephemeral
//! source port or keeps it reserved, and the service developers usually find there; and
//! finding free ports that stay free.

use std::fmt;
use std::net::IpAddr;
use std::ops::RangeInclusive;

use crate::model::Proto;

/// The IANA class of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortClass {
    /// 1-1023: well-known, binding needs privileges on most systems.
    WellKnown,
    /// 1024-49151: registered.
    Registered,
    /// 49152-65535: dynamic / private.
    Dynamic,
}

impl PortClass {
    /// Classifies a port.
    #[must_use]
    pub fn of(port: u16) -> PortClass {
        match port {
            0..=1023 => PortClass::WellKnown,
            1024..=49151 => PortClass::Registered,
            _ => PortClass::Dynamic,
        }
    }
}

impl fmt::Display for PortClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PortClass::WellKnown => "well-known port (0-1023)",
            PortClass::Registered => "registered port (1024-49151)",
            PortClass::Dynamic => "dynamic/private port (IANA 49152-65535)",
        })
    }
}

/// How the OS treats local port numbers: `ip_local_port_range` and `ip_local_reserved_ports`,
/// plus the lowest unprivileged port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortPolicy {
    /// The range the kernel picks ephemeral source ports from.
    pub ephemeral: RangeInclusive<u16>,
    /// Ports the kernel never picks as ephemeral ports.
    pub reserved: Vec<RangeInclusive<u16>>,
    /// Ports below this need privileges to bind (`ip_unprivileged_port_start`).
    pub unprivileged_start: u16,
    /// Whether the wildcard address is privileged too (Linux), or only specific addresses
    /// (macOS lets anyone bind a low port on 0.0.0.0 and `::`).
    pub privileged_wildcard: bool,
    /// Ports nobody may bind, though no socket holds them: Windows' excluded port ranges
    /// (Hyper-V, WSL and Docker reserve them; `bind` fails with WSAEACCES, 10013).
    pub excluded: Vec<RangeInclusive<u16>>,
    /// How this OS names its settings, for evidence and fixes.
    pub words: PolicyWords,
}

/// How an OS names its port settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyWords {
    /// Where the ephemeral range is set or shown.
    pub ephemeral_setting: &'static str,
    /// Where reserved ports are set, when the OS has them.
    pub reserved_setting: &'static str,
    /// The command that keeps one port out of the ephemeral range (`{port}` stands for
    /// it); empty when the OS has none.
    pub reserve_command: &'static str,
    /// What grants binding a privileged port.
    pub privilege: &'static str,
    /// Where lport looked for listeners: every network namespace on Linux, the one
    /// network stack elsewhere.
    pub listener_scope: &'static str,
}

impl PolicyWords {
    /// Linux's sysctls.
    pub const LINUX: PolicyWords = PolicyWords {
        ephemeral_setting: "net.ipv4.ip_local_port_range",
        reserved_setting: "net.ipv4.ip_local_reserved_ports",
        reserve_command: "sysctl -w net.ipv4.ip_local_reserved_ports={port}",
        privilege: "root or CAP_NET_BIND_SERVICE",
        listener_scope: "in any network namespace",
    };
    /// macOS's sysctls: no reserved ports.
    pub const MACOS: PolicyWords = PolicyWords {
        ephemeral_setting: "net.inet.ip.portrange.first/last",
        reserved_setting: "",
        reserve_command: "",
        privilege: "root",
        listener_scope: "on this machine",
    };
    /// Windows' netsh settings: an excluded range of one port keeps it from clients.
    pub const WINDOWS: PolicyWords = PolicyWords {
        ephemeral_setting: "netsh int ipv4 show dynamicport tcp",
        reserved_setting: "netsh int ipv4 show excludedportrange protocol=tcp",
        reserve_command: "netsh int ipv4 add excludedportrange protocol=tcp startport={port} numberofports=1 (as administrator, while the port is free)",
        privilege: "administrator",
        listener_scope: "on this machine",
    };

    /// `reserve_command` for `port`, or `None` when the OS has no such command.
    #[must_use]
    pub fn reserve(&self, port: u16) -> Option<String> {
        (!self.reserve_command.is_empty())
            .then(|| self.reserve_command.replace("{port}", &port.to_string()))
    }
}

impl Default for PortPolicy {
    /// Linux's defaults.
    fn default() -> Self {
        PortPolicy {
            ephemeral: 32768..=60999,
            reserved: Vec::new(),
            unprivileged_start: 1024,
            privileged_wildcard: true,
            excluded: Vec::new(),
            words: PolicyWords::LINUX,
        }
    }
}

impl PortPolicy {
    /// Reads the policy of the namespace lport runs in; the Linux defaults where unknown.
    #[must_use]
    pub fn current() -> PortPolicy {
        crate::sys::port_policy().unwrap_or_default()
    }

    /// True when the kernel may hand this port out as a source port.
    #[must_use]
    pub fn is_ephemeral(&self, port: u16) -> bool {
        self.ephemeral.contains(&port) && !self.is_reserved(port)
    }

    /// True when the port is in `ip_local_reserved_ports`.
    #[must_use]
    pub fn is_reserved(&self, port: u16) -> bool {
        self.reserved.iter().any(|r| r.contains(&port))
    }

    /// The excluded range holding `port`: nobody can bind it.
    #[must_use]
    pub fn excluded_range(&self, port: u16) -> Option<&RangeInclusive<u16>> {
        self.excluded.iter().find(|r| r.contains(&port))
    }
}

/// Parses `ip_local_port_range` ("32768\t60999").
#[must_use]
pub fn parse_port_range(s: &str) -> Option<RangeInclusive<u16>> {
    let mut it = s.split_whitespace().map(str::parse::<u16>);
    match (it.next(), it.next()) {
        (Some(Ok(lo)), Some(Ok(hi))) if lo <= hi => Some(lo..=hi),
        _ => None,
    }
}

/// Parses `ip_local_reserved_ports` ("8080,9000-9010" or empty).
#[must_use]
pub fn parse_reserved_ports(s: &str) -> Vec<RangeInclusive<u16>> {
    s.trim()
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .filter_map(|part| {
            let part = part.trim();
            if let Some((a, b)) = part.split_once('-') {
                Some(a.parse().ok()?..=b.parse().ok()?)
            } else {
                let p: u16 = part.parse().ok()?;
                Some(p..=p)
            }
        })
        .collect()
}

/// The usual service on a port, as developers meet it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownPort {
    /// Port number.
    pub port: u16,
    /// Protocols it is used with.
    pub proto: Proto,
    /// Short name.
    pub name: &'static str,
    /// What usually listens there.
    pub description: &'static str,
}

const fn kp(port: u16, proto: Proto, name: &'static str, description: &'static str) -> KnownPort {
    KnownPort {
        port,
        proto,
        name,
        description,
    }
}

use Proto::{Tcp, Udp};

/// A curated table of ports developers meet, sorted by port.
pub const KNOWN_PORTS: &[KnownPort] = &[
    kp(20, Tcp, "ftp-data", "FTP data"),
    kp(21, Tcp, "ftp", "FTP"),
    kp(22, Tcp, "ssh", "SSH (OpenSSH sshd)"),
    kp(23, Tcp, "telnet", "Telnet"),
    kp(25, Tcp, "smtp", "SMTP mail server"),
    kp(53, Tcp, "dns", "DNS (TCP)"),
    kp(53, Udp, "dns", "DNS resolver (systemd-resolved, dnsmasq)"),
    kp(67, Udp, "dhcp", "DHCP server"),
    kp(68, Udp, "dhcp-client", "DHCP client"),
    kp(80, Tcp, "http", "HTTP web server"),
    kp(110, Tcp, "pop3", "POP3 mail"),
    kp(111, Tcp, "rpcbind", "ONC RPC portmapper"),
    kp(123, Udp, "ntp", "NTP time sync"),
    kp(143, Tcp, "imap", "IMAP mail"),
    kp(161, Udp, "snmp", "SNMP"),
    kp(389, Tcp, "ldap", "LDAP"),
    kp(443, Tcp, "https", "HTTPS web server"),
    kp(443, Udp, "quic", "HTTP/3 (QUIC)"),
    kp(465, Tcp, "smtps", "SMTP over TLS"),
    kp(514, Udp, "syslog", "syslog"),
    kp(587, Tcp, "submission", "mail submission"),
    kp(631, Tcp, "ipp", "CUPS printing"),
    kp(636, Tcp, "ldaps", "LDAP over TLS"),
    kp(993, Tcp, "imaps", "IMAP over TLS"),
    kp(995, Tcp, "pop3s", "POP3 over TLS"),
    kp(1080, Tcp, "socks", "SOCKS proxy"),
    kp(1433, Tcp, "mssql", "Microsoft SQL Server"),
    kp(1521, Tcp, "oracle", "Oracle database"),
    kp(1883, Tcp, "mqtt", "MQTT broker (Mosquitto)"),
    kp(2049, Tcp, "nfs", "NFS"),
    kp(2375, Tcp, "docker", "Docker API, unencrypted"),
    kp(2376, Tcp, "docker-tls", "Docker API over TLS"),
    kp(2379, Tcp, "etcd", "etcd client API"),
    kp(
        3000,
        Tcp,
        "dev-http",
        "dev server (Node/Express, Rails, Grafana, Next.js)",
    ),
    kp(3001, Tcp, "dev-http", "dev server (second instance)"),
    kp(3306, Tcp, "mysql", "MySQL / MariaDB"),
    kp(3389, Tcp, "rdp", "Remote Desktop"),
    kp(4000, Tcp, "dev-http", "dev server (Phoenix, Jekyll)"),
    kp(4200, Tcp, "dev-http", "Angular dev server"),
    kp(4222, Tcp, "nats", "NATS"),
    kp(4317, Tcp, "otlp-grpc", "OpenTelemetry collector (gRPC)"),
    kp(4318, Tcp, "otlp-http", "OpenTelemetry collector (HTTP)"),
    kp(
        5000,
        Tcp,
        "dev-http",
        "dev server (Flask; macOS AirPlay receiver)",
    ),
    kp(5037, Tcp, "adb", "Android debug bridge"),
    kp(5173, Tcp, "vite", "Vite dev server"),
    kp(5174, Tcp, "vite", "Vite dev server (second instance)"),
    kp(5353, Udp, "mdns", "multicast DNS (Avahi)"),
    kp(5432, Tcp, "postgresql", "PostgreSQL"),
    kp(5601, Tcp, "kibana", "Kibana"),
    kp(5672, Tcp, "amqp", "RabbitMQ (AMQP)"),
    kp(5900, Tcp, "vnc", "VNC"),
    kp(6006, Tcp, "tensorboard", "TensorBoard / Storybook"),
    kp(6379, Tcp, "redis", "Redis"),
    kp(6443, Tcp, "kubernetes", "Kubernetes API server"),
    kp(7474, Tcp, "neo4j", "Neo4j browser"),
    kp(
        8000,
        Tcp,
        "dev-http",
        "dev server (Django, python -m http.server)",
    ),
    kp(
        8080,
        Tcp,
        "http-alt",
        "HTTP alternate (Tomcat, proxies, dev servers)",
    ),
    kp(
        8081,
        Tcp,
        "http-alt",
        "HTTP alternate (Metro bundler, proxies)",
    ),
    kp(8443, Tcp, "https-alt", "HTTPS alternate"),
    kp(8500, Tcp, "consul", "Consul"),
    kp(8888, Tcp, "jupyter", "Jupyter notebook"),
    kp(9000, Tcp, "dev-http", "PHP-FPM, SonarQube, MinIO"),
    kp(9042, Tcp, "cassandra", "Cassandra CQL"),
    kp(9090, Tcp, "prometheus", "Prometheus"),
    kp(9092, Tcp, "kafka", "Kafka broker"),
    kp(
        9100,
        Tcp,
        "node-exporter",
        "Prometheus node exporter / printer raw port",
    ),
    kp(9200, Tcp, "elasticsearch", "Elasticsearch / OpenSearch"),
    kp(
        9229,
        Tcp,
        "node-inspector",
        "Node.js inspector (debugger: remote code execution)",
    ),
    kp(
        9300,
        Tcp,
        "elasticsearch-transport",
        "Elasticsearch transport",
    ),
    kp(11211, Tcp, "memcached", "memcached"),
    kp(15672, Tcp, "rabbitmq-mgmt", "RabbitMQ management UI"),
    kp(19000, Tcp, "expo", "Expo dev tools"),
    kp(27017, Tcp, "mongodb", "MongoDB"),
];

/// The usual service for a port and protocol, if the table knows one.
#[must_use]
pub fn known_port(port: u16, proto: Proto) -> Option<&'static KnownPort> {
    KNOWN_PORTS
        .iter()
        .find(|k| k.port == port && k.proto == proto)
}

/// Which protocols a free port must be free for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreeFor {
    /// TCP only.
    Tcp,
    /// UDP only.
    Udp,
    /// Both TCP and UDP.
    Both,
}

/// What `find_free` looks for.
#[derive(Debug, Clone)]
pub struct FreeQuery {
    /// How many distinct ports.
    pub count: usize,
    /// Candidates; `None` for the default: IANA dynamic ports outside this OS's ephemeral
    /// and reserved ports, so no outgoing connection takes the port next.
    pub range: Option<RangeInclusive<u16>>,
    /// Take the first free ports at or above this one, in order, instead of a random start.
    pub near: Option<u16>,
    /// The protocols the port must be free for.
    pub protocols: FreeFor,
}

/// The default candidates: 49152-65535 minus the ephemeral range and reserved ports. Where
/// the ephemeral range covers all of them (macOS and Windows use exactly 49152-65535), the
/// registered ports just below it that no well-known service uses instead, 40000-48999.
#[must_use]
pub fn default_free_candidates(policy: &PortPolicy) -> Vec<u16> {
    let outside = |r: RangeInclusive<u16>| -> Vec<u16> {
        r.filter(|p| {
            !policy.ephemeral.contains(p)
                && !policy.is_reserved(*p)
                && policy.excluded_range(*p).is_none()
        })
        .collect()
    };
    let dynamic = outside(49152..=65535);
    if dynamic.is_empty() {
        outside(40000..=48999)
    } else {
        dynamic
    }
}

/// Finds free ports. Free means no socket in any state uses the port (checked in the
/// kernel's tables, so TIME_WAIT and outgoing connections count) and binding it succeeds on
/// 0.0.0.0 and `::` for every protocol asked, so it is free on every local address.
pub fn find_free(q: &FreeQuery) -> crate::Result<Vec<u16>> {
    let policy = PortPolicy::current();
    let candidates: Vec<u16> = match (&q.near, &q.range) {
        (Some(p), _) => (*p..=65535).collect(),
        (None, Some(r)) => r.clone().collect(),
        (None, None) => default_free_candidates(&policy),
    };
    let (tcp, udp) = match q.protocols {
        FreeFor::Tcp => (true, false),
        FreeFor::Udp => (false, true),
        FreeFor::Both => (true, true),
    };
    let mut used = used_ports(tcp, udp)?;
    // Excluded ranges hold no socket but refuse every bind.
    for r in &policy.excluded {
        used.extend(r.clone());
    }
    // A random start spreads parallel callers (test runners) over the range; `--near` wants
    // the lowest free port instead.
    let start = if q.near.is_some() || candidates.is_empty() {
        0
    } else {
        random_index(candidates.len())
    };
    let mut out = Vec::with_capacity(q.count);
    for i in 0..candidates.len() {
        let port = candidates[(start + i) % candidates.len()];
        if used.contains(&port) || out.contains(&port) {
            continue;
        }
        if (!tcp || bind_free(port, true)) && (!udp || bind_free(port, false)) {
            out.push(port);
            if out.len() == q.count {
                break;
            }
        }
    }
    Ok(out)
}

/// Every local port some socket uses, in any state.
fn used_ports(tcp: bool, udp: bool) -> crate::Result<std::collections::HashSet<u16>> {
    let q = crate::Query {
        tcp,
        udp,
        owners: false,
        other_netns: false,
        ..crate::Query::all()
    };
    Ok(crate::snapshot(&q)?
        .sockets
        .iter()
        .map(|s| s.local.port)
        .collect())
}

/// Whether binding the port succeeds on 0.0.0.0 and on `::` (dual-stack, which also
/// checks IPv4). A system without IPv6 only needs the IPv4 bind.
fn bind_free(port: u16, tcp: bool) -> bool {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
    let try_bind = |addr: SocketAddr| -> std::io::Result<()> {
        if tcp {
            std::net::TcpListener::bind(addr).map(drop)
        } else {
            std::net::UdpSocket::bind(addr).map(drop)
        }
    };
    if try_bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))).is_err() {
        return false;
    }
    match try_bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port))) {
        Ok(()) => true,
        Err(e) => e.kind() != std::io::ErrorKind::AddrInUse && e.raw_os_error() != Some(13),
    }
}

/// A random index below `n`, from the clock and the pid (no need for a real RNG here).
fn random_index(n: usize) -> usize {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut x = nanos ^ (u64::from(std::process::id()) << 32) ^ 0x9e37_79b9_7f4a_7c15;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    (x % n as u64) as usize
}

/// How an address is reached: loopback, all interfaces, private, link-local or public.
#[must_use]
pub fn address_scope(addr: IpAddr) -> &'static str {
    if crate::model::is_loopback(addr) {
        return "loopback (this machine only)";
    }
    if addr.is_unspecified() {
        return "all interfaces (reachable from other machines)";
    }
    match addr {
        IpAddr::V4(a) if a.is_private() => "private network address",
        IpAddr::V4(a) if a.is_link_local() => "link-local address",
        IpAddr::V4(a) if a.octets()[0] == 100 && (a.octets()[1] & 0xc0) == 64 => {
            "carrier-grade NAT / VPN address"
        }
        IpAddr::V6(a) if (a.segments()[0] & 0xfe00) == 0xfc00 => "unique-local (private) address",
        IpAddr::V6(a) if (a.segments()[0] & 0xffc0) == 0xfe80 => "link-local address",
        _ if addr.is_multicast() => "multicast address",
        _ => "public address",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(PortClass::of(22), PortClass::WellKnown);
        assert_eq!(PortClass::of(1023), PortClass::WellKnown);
        assert_eq!(PortClass::of(1024), PortClass::Registered);
        assert_eq!(PortClass::of(49151), PortClass::Registered);
        assert_eq!(PortClass::of(49152), PortClass::Dynamic);
    }

    #[test]
    fn policy_files() {
        assert_eq!(parse_port_range("32768\t60999\n"), Some(32768..=60999));
        assert_eq!(parse_port_range("60999 32768"), None);
        assert_eq!(
            parse_reserved_ports("\n"),
            Vec::<RangeInclusive<u16>>::new()
        );
        assert_eq!(
            parse_reserved_ports("8080,9000-9010\n"),
            vec![8080..=8080, 9000..=9010]
        );
        let p = PortPolicy {
            reserved: vec![40000..=40000],
            ..PortPolicy::default()
        };
        assert!(p.is_ephemeral(40001));
        assert!(!p.is_ephemeral(40000));
        assert!(!p.is_ephemeral(3000));
    }

    #[test]
    fn table_is_sorted_and_knows_dev_ports() {
        assert!(KNOWN_PORTS.windows(2).all(|w| w[0].port <= w[1].port));
        for p in [
            22, 80, 443, 3000, 3306, 5173, 5432, 5672, 6379, 8080, 8888, 9229, 27017,
        ] {
            assert!(known_port(p, Proto::Tcp).is_some(), "{p}");
        }
        assert_eq!(
            known_port(5432, Proto::Tcp).map(|k| k.name),
            Some("postgresql")
        );
        assert!(known_port(5432, Proto::Udp).is_none());
    }

    #[test]
    fn default_candidates_avoid_ephemeral_and_reserved_ports() {
        let p = PortPolicy {
            reserved: vec![62000..=62001],
            ..PortPolicy::default()
        };
        let c = default_free_candidates(&p);
        assert_eq!(c.first(), Some(&61000));
        assert_eq!(c.last(), Some(&65535));
        assert!(!c.contains(&62000) && !c.contains(&62001) && c.contains(&62002));
    }

    #[test]
    fn found_ports_bind_everywhere_and_near_is_ordered() {
        let q = FreeQuery {
            count: 3,
            range: None,
            near: None,
            protocols: FreeFor::Both,
        };
        let ports = find_free(&q).expect("free");
        assert_eq!(ports.len(), 3);
        for p in &ports {
            assert!(!PortPolicy::current().is_ephemeral(*p), "{p}");
            std::net::TcpListener::bind(("0.0.0.0", *p)).expect("tcp v4");
            std::net::UdpSocket::bind(("::", *p)).expect("udp v6");
        }
        // A held port is skipped: `near` it gives the next one.
        let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = held.local_addr().expect("addr").port();
        let next = find_free(&FreeQuery {
            count: 1,
            near: Some(port),
            protocols: FreeFor::Tcp,
            range: None,
        })
        .expect("free");
        assert!(next[0] > port, "{next:?} after held {port}");
    }

    #[test]
    fn scopes() {
        let s = |a: &str| address_scope(a.parse().expect("addr"));
        assert!(s("127.0.0.1").starts_with("loopback"));
        assert!(s("0.0.0.0").starts_with("all"));
        assert!(s("10.1.2.3").starts_with("private"));
        assert!(s("fd00::1").starts_with("unique-local"));
        assert!(s("8.8.8.8").starts_with("public"));
    }

    #[test]
    fn free_ports_when_the_ephemeral_range_is_all_of_the_dynamic_ports() {
        // macOS and Windows: 49152-65535 is the ephemeral range.
        let p = PortPolicy {
            ephemeral: 49152..=65535,
            ..PortPolicy::default()
        };
        let c = default_free_candidates(&p);
        assert!(!c.is_empty());
        assert!(
            c.iter().all(|&x| (40000..49000).contains(&x)),
            "{:?}",
            c.first()
        );
    }
}
