//! Parsing what users type as a target: `62893`, `:62893`, `127.0.0.1:62893`, `[::1]:80`,
//! `localhost:3000`, `tcp/53`, `udp://127.0.0.1:53`, `http://localhost:3000/health`,
//! `unix:/run/x.sock`.
//!
//! Parsing is pure and strict: a malformed address, a port outside 1-65535 or an unknown
//! scheme is an error with a message that says what would be right, never a guess.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::Proto;

/// The host part of a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Host {
    /// A literal address.
    Ip(IpAddr),
    /// A name to resolve, such as `localhost`.
    Name(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Name(n) => f.write_str(n),
        }
    }
}

/// A parsed target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The text as typed.
    pub input: String,
    /// The protocol, when the input named one (`udp/53`, `tcp://`, `http://` implies tcp).
    pub proto: Option<Proto>,
    /// The host, when given.
    pub host: Option<Host>,
    /// The port, when given (or implied by a URL scheme).
    pub port: Option<u16>,
    /// The URL scheme (`http`, `https`, ...), when the input was a URL.
    pub scheme: Option<String>,
    /// The URL path, when the input was a URL with one.
    pub path: Option<String>,
    /// The socket path of a `unix:` target.
    pub unix: Option<PathBuf>,
    /// The zone of an IPv6 address (`[fe80::1%eth0]:80`): the interface it is reached on.
    pub zone: Option<Zone>,
}

/// An IPv6 zone: the interface as typed (`eth0`, or its number) and its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    /// As typed.
    pub name: String,
    /// The interface index (the `sin6_scope_id` of a socket address).
    pub index: u32,
}

/// URL schemes lport understands, with their default ports. `tcp` and `udp` have none.
const SCHEMES: &[(&str, Option<u16>)] = &[
    ("tcp", None),
    ("udp", None),
    ("http", Some(80)),
    ("https", Some(443)),
    ("ws", Some(80)),
    ("wss", Some(443)),
    ("grpc", None),
    ("postgres", Some(5432)),
    ("postgresql", Some(5432)),
    ("mysql", Some(3306)),
    ("redis", Some(6379)),
    ("rediss", Some(6379)),
    ("mongodb", Some(27017)),
    ("amqp", Some(5672)),
    ("ssh", Some(22)),
];

impl Target {
    /// Parses a target, see the module docs for the accepted forms.
    pub fn parse(input: &str) -> Result<Target> {
        let err = |reason: String| Error::InvalidTarget {
            input: input.to_owned(),
            reason,
        };
        let s = input.trim();
        let mut t = Target {
            input: input.to_owned(),
            proto: None,
            host: None,
            port: None,
            scheme: None,
            path: None,
            unix: None,
            zone: None,
        };
        if s.is_empty() {
            return Err(err("empty target; try 3000, :3000 or 127.0.0.1:3000".into()));
        }
        if let Some(path) = s.strip_prefix("unix:") {
            let path = path.trim_start_matches("//");
            if path.is_empty() {
                return Err(err(
                    "unix: needs a socket path, as in unix:/run/app.sock".into()
                ));
            }
            t.unix = Some(PathBuf::from(path));
            return Ok(t);
        }
        let mut rest = s;
        if let Some((scheme, after)) = s.split_once("://") {
            let scheme_lc = scheme.to_ascii_lowercase();
            let Some(&(_, default_port)) = SCHEMES.iter().find(|(n, _)| *n == scheme_lc) else {
                return Err(err(format!("unknown scheme {scheme:?}")));
            };
            t.proto = Some(if scheme_lc == "udp" {
                Proto::Udp
            } else {
                Proto::Tcp
            });
            if scheme_lc != "tcp" && scheme_lc != "udp" {
                t.scheme = Some(scheme_lc);
            }
            let (authority, path) = match after.find(['/', '?', '#']) {
                Some(i) => (&after[..i], Some(&after[i..])),
                None => (after, None),
            };
            t.path = path.filter(|p| !p.is_empty()).map(str::to_owned);
            // Credentials in a URL are never used; drop them rather than echo them back.
            let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            if authority.is_empty() {
                return Err(err("the URL has no host".into()));
            }
            // RFC 6874: a zone in a URL is written `%25eth0` (an encoded `%`).
            let authority = authority.replacen("%25", "%", 1);
            parse_authority(&authority, &mut t).map_err(err)?;
            if t.port.is_none() {
                t.port = default_port;
            }
            if t.port.is_none() {
                return Err(err("a port is needed, as in tcp://127.0.0.1:3000".into()));
            }
            return Ok(t);
        }
        // `tcp/53`, `udp/53`, `53/udp`.
        if let Some((a, b)) = s.split_once('/') {
            let a_lc = a.to_ascii_lowercase();
            let (proto, port) = match (a_lc.as_str(), b) {
                ("tcp", p) => (Proto::Tcp, p),
                ("udp", p) => (Proto::Udp, p),
                (p, proto) if proto.eq_ignore_ascii_case("tcp") => (Proto::Tcp, p),
                (p, proto) if proto.eq_ignore_ascii_case("udp") => (Proto::Udp, p),
                _ => return Err(err("expected tcp/PORT or udp/PORT".into())),
            };
            t.proto = Some(proto);
            rest = port;
            if rest.contains(':') || rest.starts_with('[') {
                parse_authority(rest, &mut t).map_err(err)?;
            } else {
                t.port = Some(parse_port(rest).map_err(err)?);
            }
            return Ok(t);
        }
        parse_authority(rest, &mut t).map_err(err)?;
        Ok(t)
    }

    /// The addresses this target names: the literal address, or every address the name
    /// resolves to through the system resolver (`getaddrinfo`, so `/etc/hosts` counts), in
    /// the order clients try them. Empty when no host was given.
    pub fn resolve(&self) -> Result<Vec<IpAddr>> {
        match &self.host {
            None => Ok(Vec::new()),
            Some(Host::Ip(ip)) => Ok(vec![*ip]),
            Some(Host::Name(name)) => {
                let addrs = (name.as_str(), self.port.unwrap_or(0))
                    .to_socket_addrs()
                    .map_err(|e| Error::Io {
                        what: format!("cannot resolve {name:?}"),
                        source: e,
                    })?;
                let mut out: Vec<IpAddr> = Vec::new();
                for a in addrs.map(|a: SocketAddr| a.ip()) {
                    if !out.contains(&a) {
                        out.push(a);
                    }
                }
                Ok(out)
            }
        }
    }

    /// The socket address to reach `ip` (one of this target's addresses) on `port`, with
    /// the target's zone for an IPv6 address.
    #[must_use]
    pub fn socket_addr(&self, ip: IpAddr, port: u16) -> SocketAddr {
        match (ip, &self.zone) {
            (IpAddr::V6(v6), Some(z)) => {
                SocketAddr::V6(std::net::SocketAddrV6::new(v6, port, 0, z.index))
            }
            _ => SocketAddr::new(ip, port),
        }
    }

    /// Why this target cannot be reached as typed, before any packet: a link-local IPv6
    /// address without a zone (every interface has fe80::/64; the kernel refuses to guess).
    #[must_use]
    pub fn unreachable_as_typed(&self) -> Option<String> {
        match (&self.host, &self.zone) {
            (Some(Host::Ip(IpAddr::V6(ip))), None) if ip.is_unicast_link_local() => Some(format!(
                "{ip} is link-local: name the interface it is on, as in [{ip}%eth0]:{}",
                self.port.unwrap_or(80)
            )),
            _ => None,
        }
    }

    /// The display form with the scheme and path of a URL target:
    /// `http://localhost:3000/health`; otherwise as `display`.
    #[must_use]
    pub fn display_url(&self) -> String {
        match &self.scheme {
            Some(scheme) if self.unix.is_none() => format!(
                "{scheme}://{}{}",
                self.display(),
                self.path.as_deref().unwrap_or("")
            ),
            _ => self.display(),
        }
    }

    /// A short display form: `127.0.0.1:3000`, `[::1]:80`, `:3000`, `udp/53`.
    #[must_use]
    pub fn display(&self) -> String {
        if let Some(p) = &self.unix {
            return format!("unix:{}", p.display());
        }
        let mut out = match &self.host {
            Some(Host::Ip(IpAddr::V6(a))) => match &self.zone {
                Some(z) => format!("[{a}%{}]", z.name),
                None => format!("[{a}]"),
            },
            Some(h) => h.to_string(),
            None => String::new(),
        };
        if let Some(port) = self.port {
            out = format!("{out}:{port}");
        }
        if self.proto == Some(Proto::Udp) {
            out = format!("udp/{out}");
        }
        out
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

/// Parses `PORT`, `:PORT`, `HOST`, `HOST:PORT`, `[V6]`, `[V6]:PORT`, or a bare IPv6 literal.
fn parse_authority(s: &str, t: &mut Target) -> std::result::Result<(), String> {
    if let Some(after) = s.strip_prefix('[') {
        let Some((addr, tail)) = after.split_once(']') else {
            return Err("missing ']' after the IPv6 address".into());
        };
        let (addr, zone) = match addr.split_once('%') {
            Some((a, z)) => (a, Some(z)),
            None => (addr, None),
        };
        let ip: Ipv6Addr = addr
            .parse()
            .map_err(|_| format!("{addr:?} is not a valid IPv6 address"))?;
        t.host = Some(Host::Ip(IpAddr::V6(ip)));
        t.zone = zone.map(parse_zone).transpose()?;
        if !tail.is_empty() {
            let Some(port) = tail.strip_prefix(':') else {
                return Err("expected ':PORT' after ']'".into());
            };
            t.port = Some(parse_port(port)?);
        }
        return Ok(());
    }
    if s.chars().filter(|&c| c == ':').count() > 1 {
        if let Ok(ip) = s.parse::<Ipv6Addr>() {
            t.host = Some(Host::Ip(IpAddr::V6(ip)));
            return Ok(());
        }
        // `fe80::1%eth0`: an address with a zone and no port.
        if let Some((a, z)) = s.split_once('%')
            && let Ok(ip) = a.parse::<Ipv6Addr>()
        {
            t.host = Some(Host::Ip(IpAddr::V6(ip)));
            t.zone = Some(parse_zone(z)?);
            return Ok(());
        }
        // `::1:62894`: not an IPv6 address (62894 is no 16-bit hex group), so an address and
        // a decimal port, as `[::1]:62894` says it.
        if let Some((addr, port)) = s.rsplit_once(':')
            && let Ok(ip) = addr.parse::<Ipv6Addr>()
            && !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
        {
            t.host = Some(Host::Ip(IpAddr::V6(ip)));
            t.port = Some(parse_port(port)?);
            return Ok(());
        }
        return Err(format!(
            "{s:?} is not a valid IPv6 address (write [ADDR]:PORT for an address and a port)"
        ));
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None if s.bytes().all(|b| b.is_ascii_digit()) => ("", Some(s)),
        None => (s, None),
    };
    if let Some(p) = port {
        t.port = Some(parse_port(p)?);
    }
    if !host.is_empty() {
        t.host = Some(parse_host(host)?);
    }
    if t.host.is_none() && t.port.is_none() {
        return Err("expected PORT, :PORT or HOST:PORT".into());
    }
    Ok(())
}

/// An IPv4 address in any form `inet_aton` (and so getaddrinfo, ping, curl) takes: one to
/// four dot-separated numbers, each decimal, octal (`0177`) or hex (`0x7f`), the last
/// filling the remaining bytes: `127.1` and `0x7f.1` are 127.0.0.1, `2130706433` too.
/// `None` when `h` is not all numbers; an error when it is, but not an address.
fn inet_aton(h: &str) -> Option<std::result::Result<Ipv4Addr, String>> {
    let number = |p: &str| -> Option<std::result::Result<u32, ()>> {
        let (digits, radix) = if let Some(x) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X"))
        {
            (x, 16)
        } else if p.len() > 1 && p.starts_with('0') {
            (&p[1..], 8)
        } else {
            (p, 10)
        };
        // Only what looks like a number counts: `08` is a bad number, `a1` a name.
        let looks = !p.is_empty()
            && (radix == 16 && digits.bytes().all(|b| b.is_ascii_hexdigit())
                || p.bytes().all(|b| b.is_ascii_digit()));
        if !looks {
            return None;
        }
        if digits.is_empty() {
            return Some(if radix == 16 { Err(()) } else { Ok(0) });
        }
        Some(u32::from_str_radix(digits, radix).map_err(|_| ()))
    };
    let parts: Vec<&str> = h.split('.').collect();
    let nums: Vec<std::result::Result<u32, ()>> =
        parts.iter().map(|p| number(p)).collect::<Option<_>>()?;
    let bad = || Err(format!("{h:?} is not a valid IPv4 address"));
    if parts.len() > 4 {
        return Some(bad());
    }
    let Ok(nums) = nums
        .into_iter()
        .collect::<std::result::Result<Vec<u32>, ()>>()
    else {
        return Some(bad());
    };
    let (head, last) = nums.split_at(nums.len() - 1);
    let last = last[0];
    let room = 8 * (4 - head.len()) as u32;
    if head.iter().any(|&n| n > 255) || (room < 32 && last >> room != 0) {
        return Some(bad());
    }
    let mut v: u32 = 0;
    for (i, &n) in head.iter().enumerate() {
        v |= n << (24 - 8 * i);
    }
    Some(Ok(Ipv4Addr::from(v | last)))
}

fn parse_host(h: &str) -> std::result::Result<Host, String> {
    if let Ok(ip) = h.parse::<Ipv4Addr>() {
        return Ok(Host::Ip(IpAddr::V4(ip)));
    }
    if let Some(ip) = inet_aton(h) {
        return ip.map(|ip| Host::Ip(IpAddr::V4(ip)));
    }
    if h.starts_with('*') && h.len() == 1 {
        return Ok(Host::Ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
    }
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let name = h.strip_suffix('.').unwrap_or(h);
    if name.len() > 253 || !name.split('.').all(valid_label) {
        return Err(format!("{h:?} is not a valid host name or address"));
    }
    Ok(Host::Name(h.to_ascii_lowercase()))
}

/// A zone: an interface name this machine has, or an index.
fn parse_zone(z: &str) -> std::result::Result<Zone, String> {
    if z.is_empty() {
        return Err("an empty zone after '%': name the interface, as in [fe80::1%eth0]".into());
    }
    let index = match z.parse::<u32>() {
        Ok(n) if n > 0 => n,
        _ => crate::sys::interface_index(z).ok_or_else(|| {
            format!("no network interface is named {z:?} here (ip link lists them)")
        })?,
    };
    Ok(Zone {
        name: z.to_owned(),
        index,
    })
}

/// Parses a port number, 1-65535, with a message that says what is wrong.
pub fn parse_port(p: &str) -> std::result::Result<u16, String> {
    if p.is_empty() {
        return Err("the port is missing".into());
    }
    if !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{p:?} is not a port number"));
    }
    match p.parse::<u32>() {
        Ok(0) => Err("port 0 is not a real port (ports are 1-65535)".into()),
        Ok(n) if n <= 65535 => Ok(n as u16),
        _ => Err(format!("port {p} is out of range (ports are 1-65535)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Target {
        Target::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[allow(clippy::unnecessary_wraps)] // compared against `Option<Host>` fields
    fn ip(s: &str) -> Option<Host> {
        Some(Host::Ip(s.parse().expect("ip")))
    }

    #[test]
    fn bare_and_colon_ports() {
        assert_eq!(ok("62893").port, Some(62893));
        assert_eq!(ok("62893").host, None);
        assert_eq!(ok(":5432").port, Some(5432));
        assert_eq!(ok(":5432").host, None);
    }

    #[test]
    fn addresses_with_ports() {
        let t = ok("127.0.0.1:62893");
        assert_eq!((t.host, t.port), (ip("127.0.0.1"), Some(62893)));
        let t = ok("[::1]:80");
        assert_eq!((t.host, t.port), (ip("::1"), Some(80)));
        let t = ok("::1");
        assert_eq!((t.host, t.port), (ip("::1"), None));
        // Not an IPv6 address (62894 is no hex group): the address and a port.
        let t = ok("::1:62894");
        assert_eq!((t.host, t.port), (ip("::1"), Some(62894)));
        assert!(
            Target::parse("fe80::1:70000")
                .expect_err("a port out of range")
                .to_string()
                .contains("out of range")
        );
        let t = ok("localhost:3000");
        assert_eq!(t.host, Some(Host::Name("localhost".into())));
        assert_eq!(t.display(), "localhost:3000");
    }

    #[test]
    fn protocols_and_urls() {
        let t = ok("tcp/53");
        assert_eq!((t.proto, t.port), (Some(Proto::Tcp), Some(53)));
        let t = ok("udp://127.0.0.1:53");
        assert_eq!(
            (t.proto, t.host, t.port),
            (Some(Proto::Udp), ip("127.0.0.1"), Some(53))
        );
        let t = ok("http://localhost:3000/health");
        assert_eq!(t.scheme.as_deref(), Some("http"));
        assert_eq!(t.path.as_deref(), Some("/health"));
        assert_eq!(t.port, Some(3000));
        assert_eq!(ok("https://localhost/").port, Some(443));
        assert_eq!(ok("http://user:secret@[::1]:8080").host, ip("::1"));
        let t = ok("unix:/run/x.sock");
        assert_eq!(t.unix, Some(PathBuf::from("/run/x.sock")));
    }

    #[test]
    #[cfg(any(target_os = "linux", target_os = "macos"))]
    fn ipv6_zones_by_name_and_number() {
        let lo = crate::sys::interface_index("lo")
            .or_else(|| crate::sys::interface_index("lo0"))
            .expect("a loopback interface");
        let lo_name = if crate::sys::interface_index("lo").is_some() {
            "lo"
        } else {
            "lo0"
        };
        let t = ok(&format!("[::1%{lo_name}]:8080"));
        assert_eq!(t.host, Some(Host::Ip("::1".parse().expect("ip"))));
        assert_eq!(t.zone.as_ref().map(|z| z.index), Some(lo));
        assert_eq!(t.display(), format!("[::1%{lo_name}]:8080"));
        assert_eq!(
            t.socket_addr("::1".parse().expect("ip"), 8080),
            SocketAddr::V6(std::net::SocketAddrV6::new(
                Ipv6Addr::LOCALHOST,
                8080,
                0,
                lo
            ))
        );
        // A zone by number; in a URL, `%25` is the `%` (RFC 6874); a bare address.
        assert_eq!(ok("[fe80::1%7]:22").zone.map(|z| z.index), Some(7));
        let t = ok(&format!("http://[fe80::1%25{lo_name}]:8080/x"));
        assert_eq!(t.zone.map(|z| z.name), Some(lo_name.to_owned()));
        assert_eq!(
            ok(&format!("fe80::1%{lo_name}")).zone.map(|z| z.index),
            Some(lo)
        );
        for bad in ["[::1%]:80", "[::1%no-such-if0]:80", "fe80::1%no-such-if0"] {
            let e = Target::parse(bad).expect_err(bad).to_string();
            assert!(
                e.contains("zone") || e.contains("no network interface"),
                "{bad}: {e}"
            );
        }
        // A link-local address needs its zone before a packet is sent; others do not.
        let e = ok("[fe80::1]:22")
            .unreachable_as_typed()
            .expect("link-local");
        assert!(e.contains("[fe80::1%eth0]:22"), "{e}");
        assert!(ok("[fe80::1%7]:22").unreachable_as_typed().is_none());
        assert!(ok("[::1]:22").unreachable_as_typed().is_none());
    }

    #[test]
    fn ipv4_shorthands_mean_what_inet_aton_says() {
        for same in [
            "127.1:80",
            "0x7f.1:80",
            "0177.0.0.1:80",
            "2130706433:80",
            "127.0.1:80",
            "0x7F000001:80",
        ] {
            let t = ok(same);
            assert_eq!((t.host, t.port), (ip("127.0.0.1"), Some(80)), "{same}");
        }
        assert_eq!(ok("127.1.2:80").host, ip("127.1.0.2"));
        // Names that start with digits are names.
        assert!(matches!(ok("1password.local:80").host, Some(Host::Name(_))));
    }

    #[test]
    fn bad_input_says_what_is_wrong() {
        let e = |s: &str| Target::parse(s).expect_err(s).to_string();
        assert!(e("70000").contains("out of range"), "{}", e("70000"));
        assert!(e(":0").contains("port 0"));
        for bad in [
            "256.1.1.1:80",
            "127.0.0.256:80",
            "127.08.0.1:80",
            "1.2.3.4.5:80",
            "0x:80",
            "127.16777216:80",
        ] {
            assert!(e(bad).contains("not a valid IPv4"), "{bad}: {}", e(bad));
        }
        assert!(e("[::1:80").contains("missing ']'"));
        assert!(e("localhost:http").contains("not a port number"));
        assert!(e("gopher://x:1").contains("unknown scheme"));
        assert!(e("tcp://localhost").contains("port is needed"));
        assert!(e("").contains("empty"));
        assert!(e("a b:80").contains("not a valid host"));
        assert!(e("1:2:3:4:5:6:7:8:9:10").contains("IPv6"));
    }

    mod props {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            /// Whatever users type (or paste), parsing answers or says what is wrong.
            #[test]
            fn any_input_parses_or_errs(s in "\\PC{0,60}|[0-9a-z:/\\[\\]\\.@%-]{0,40}") {
                if let Ok(t) = Target::parse(&s) {
                    prop_assert!(t.port != Some(0) || s.contains(":0") || s.trim() == "0");
                }
            }

            #[test]
            fn every_port_number_round_trips(p in 1u16..=65535) {
                prop_assert_eq!(Target::parse(&p.to_string()).ok().and_then(|t| t.port), Some(p));
                let t = Target::parse(&format!("127.0.0.1:{p}")).expect("target");
                prop_assert_eq!(t.port, Some(p));
                let t = Target::parse(&format!("[::1]:{p}")).expect("target");
                prop_assert_eq!(t.port, Some(p));
            }

            #[test]
            fn ports_past_65535_are_refused(p in 65536u64..10_000_000_000) {
                prop_assert!(parse_port(&p.to_string()).is_err());
                let t = format!("localhost:{p}");
                prop_assert!(Target::parse(&t).is_err());
            }

            #[test]
            fn durations_parse_or_err(s in "\\PC{0,20}|[0-9.]{1,25}(ms|s|m|h|min)?") {
                if let Ok(d) = crate::wait::parse_duration(&s) {
                    prop_assert!(d.as_secs_f64() <= 1e9);
                }
            }
        }
    }
}
