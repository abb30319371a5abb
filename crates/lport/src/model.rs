//! The data model every command shares: sockets, their owners, processes and namespaces.
//!
//! Field names and serialised spellings follow the JSON contract in docs/json.md (schema 1):
//! snake_case keys, kebab-case enum values, `null` for absent values.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::Serialize;

/// Transport protocol of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// The lowercase name, as printed and serialised.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An address and port. Serialises as `{"addr": "::1", "port": 80}`, without brackets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Endpoint {
    /// The IP address.
    pub addr: IpAddr,
    /// The port number.
    pub port: u16,
}

impl Endpoint {
    /// A new endpoint.
    #[must_use]
    pub fn new(addr: IpAddr, port: u16) -> Self {
        Self { addr, port }
    }

    /// True for 0.0.0.0 and `::`.
    #[must_use]
    pub fn is_unspecified(&self) -> bool {
        self.addr.is_unspecified()
    }
}

impl From<SocketAddr> for Endpoint {
    fn from(sa: SocketAddr) -> Self {
        Self::new(sa.ip(), sa.port())
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.port),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.port),
        }
    }
}

/// Socket state. TCP states follow the kernel's names; `unconn` is a bound UDP socket and
/// `bound` a TCP socket that is bound but neither listening nor connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// TCP LISTEN.
    Listen,
    /// TCP ESTABLISHED, or a connected UDP socket.
    Established,
    /// TCP SYN_SENT.
    SynSent,
    /// TCP SYN_RECV.
    SynRecv,
    /// TCP FIN_WAIT1.
    FinWait1,
    /// TCP FIN_WAIT2.
    FinWait2,
    /// TCP TIME_WAIT.
    TimeWait,
    /// TCP CLOSE.
    Close,
    /// TCP CLOSE_WAIT.
    CloseWait,
    /// TCP LAST_ACK.
    LastAck,
    /// TCP CLOSING.
    Closing,
    /// A bound, unconnected UDP socket.
    Unconn,
    /// A TCP socket bound to a port but not listening (kernel >= 6.8 reports these).
    Bound,
}

/// Every state, in display order.
pub const ALL_STATES: [State; 13] = [
    State::Listen,
    State::Established,
    State::SynSent,
    State::SynRecv,
    State::FinWait1,
    State::FinWait2,
    State::TimeWait,
    State::Close,
    State::CloseWait,
    State::LastAck,
    State::Closing,
    State::Unconn,
    State::Bound,
];

impl State {
    /// The kebab-case name, as printed and serialised.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            State::Listen => "listen",
            State::Established => "established",
            State::SynSent => "syn-sent",
            State::SynRecv => "syn-recv",
            State::FinWait1 => "fin-wait1",
            State::FinWait2 => "fin-wait2",
            State::TimeWait => "time-wait",
            State::Close => "close",
            State::CloseWait => "close-wait",
            State::LastAck => "last-ack",
            State::Closing => "closing",
            State::Unconn => "unconn",
            State::Bound => "bound",
        }
    }

    /// Parses a state name as printed by lport, also accepting `_` for `-` and upper case.
    #[must_use]
    pub fn parse(s: &str) -> Option<State> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        let norm = match norm.as_str() {
            "listening" => "listen",
            "estab" => "established",
            "unconnected" => "unconn",
            other => other,
        };
        ALL_STATES.into_iter().find(|st| st.as_str() == norm)
    }

    /// True for the states `lport ls` shows by default: TCP listen, TCP bound, UDP bound.
    #[must_use]
    pub fn is_listener(self) -> bool {
        matches!(self, State::Listen | State::Bound | State::Unconn)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A network namespace, identified by the inode of `/proc/<pid>/ns/net`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct NetNs {
    /// The namespace inode; `None` when it could not be read (another user's process).
    pub inode: Option<u64>,
    /// True for the namespace lport itself runs in.
    pub host: bool,
}

/// One process holding a socket, through one file descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Owner {
    /// Process id.
    pub pid: u32,
    /// File descriptor number in that process; `None` where the OS names no descriptor
    /// (Windows: a table row gives only the pid).
    pub fd: Option<u32>,
}

/// How far a socket can be reached from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Exposure {
    /// Bound to a loopback address: only this machine (this namespace) can connect.
    Loopback,
    /// Bound to 0.0.0.0 or `::`: every interface, reachable from outside.
    AllInterfaces,
    /// Bound to one non-loopback address.
    Specific,
    /// In another network namespace (a container, `ip netns`).
    OtherNetns,
}

impl Exposure {
    /// The kebab-case name, as printed and serialised.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Exposure::Loopback => "loopback",
            Exposure::AllInterfaces => "all-interfaces",
            Exposure::Specific => "specific",
            Exposure::OtherNetns => "other-netns",
        }
    }

    /// Classifies a local address seen in the given namespace.
    #[must_use]
    pub fn classify(addr: IpAddr, host_netns: bool) -> Exposure {
        if !host_netns {
            Exposure::OtherNetns
        } else if addr.is_unspecified() {
            Exposure::AllInterfaces
        } else if is_loopback(addr) {
            Exposure::Loopback
        } else {
            Exposure::Specific
        }
    }
}

/// Loopback, counting IPv4-mapped loopback (`::ffff:127.0.0.1`) as loopback too.
#[must_use]
pub fn is_loopback(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => a.is_loopback(),
        IpAddr::V6(a) => a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

/// The unspecified address of the same family.
#[must_use]
pub fn unspecified_like(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// One socket as read from the kernel, with the processes that hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Socket {
    /// Protocol.
    pub proto: Proto,
    /// Local address and port.
    pub local: Endpoint,
    /// Remote address and port; `None` for listeners and unconnected sockets.
    pub remote: Option<Endpoint>,
    /// State.
    pub state: State,
    /// Socket inode (0 for sockets no file refers to, such as TIME_WAIT).
    pub inode: u64,
    /// The uid that created the socket; `None` on Windows, which has no uids (the owners'
    /// `user` names the account).
    pub uid: Option<u32>,
    /// The network namespace the socket lives in.
    pub netns: NetNs,
    /// Receive queue; for a listener, the connections waiting to be accepted.
    pub recv_q: u32,
    /// Send queue; for a listener, the backlog (the accept queue's limit).
    pub send_q: u32,
    /// For IPv6 sockets, whether `IPV6_V6ONLY` is set; `None` for IPv4 or when unknown.
    pub v6only: Option<bool>,
    /// Where the socket can be reached from.
    pub exposure: Exposure,
    /// Every process and fd holding the socket.
    pub owners: Vec<Owner>,
    /// Why `owners` is empty (or incomplete), when it is.
    pub owner_note: Option<String>,
    /// The cgroup v2 id of the creating process, when the kernel reports it. Not in JSON.
    #[serde(skip)]
    pub cgroup: Option<u64>,
    /// The interface the socket is bound to with `SO_BINDTODEVICE` (its index; `ss` shows
    /// `%dev`), where the OS says. Not in JSON.
    #[serde(skip)]
    pub device: Option<u32>,
}

impl Socket {
    /// True for TCP and UDP sockets bound to an IPv6 address (including mapped ones).
    #[must_use]
    pub fn is_v6(&self) -> bool {
        self.local.addr.is_ipv6()
    }

    /// The protocol as `ss` prints it with the family: tcp, tcp6, udp, udp6.
    #[must_use]
    pub fn proto_family(&self) -> &'static str {
        match (self.proto, self.is_v6()) {
            (Proto::Tcp, false) => "tcp",
            (Proto::Tcp, true) => "tcp6",
            (Proto::Udp, false) => "udp",
            (Proto::Udp, true) => "udp6",
        }
    }

    /// True when an IPv6 wildcard socket also accepts IPv4 (dual-stack).
    #[must_use]
    pub fn is_dual_stack(&self) -> bool {
        self.is_v6() && self.local.is_unspecified() && self.v6only == Some(false)
    }

    /// Whether a connection to `to` lands on this socket (as a listener): the same port, and
    /// `to`'s address is the socket's (a v4-mapped address counting as its IPv4 one) or one a
    /// wildcard takes: `0.0.0.0` takes IPv4, `[::]` IPv6 and, unless `IPV6_V6ONLY` is set,
    /// IPv4 too. 127.0.0.2 is not 127.0.0.1. Protocol and namespace are the caller's to
    /// compare. The one definition every command uses (`why`, `wait`, `kill`, `ls` targets).
    #[must_use]
    pub fn accepts(&self, to: Endpoint) -> bool {
        self.local.port == to.port && self.accepts_addr(to.addr)
    }

    /// [`Socket::accepts`] for the address alone, when the caller already chose the port.
    #[must_use]
    pub fn accepts_addr(&self, to: IpAddr) -> bool {
        let (v4, v6) = Span::of(self.local.addr, self.v6only);
        match canonical(to) {
            IpAddr::V4(a) => v4.contains(a),
            IpAddr::V6(a) => v6.contains(a),
        }
    }

    /// Whether this socket stands in the way of binding `bind` (a socket whose `IPV6_V6ONLY`
    /// is `bind_v6only`, `None` meaning the system default of off): the same port and
    /// addresses that overlap — either is the other's, or a wildcard that covers it, across
    /// families for a dual-stack `[::]`. Sockets on 127.0.10.1 do not hold 127.0.0.1:P; a
    /// v6-only `[::1]:P` holds nothing of IPv4. Whether both set `SO_REUSEADDR` or
    /// `SO_REUSEPORT` (which the socket tables do not show) is not considered.
    #[must_use]
    pub fn blocks_bind(&self, bind: Endpoint, bind_v6only: Option<bool>) -> bool {
        if self.local.port != bind.port {
            return false;
        }
        let (a4, a6) = Span::of(self.local.addr, self.v6only);
        let (b4, b6) = Span::of(bind.addr, bind_v6only);
        a4.overlaps(b4) || a6.overlaps(b6)
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it stands for; others unchanged.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        IpAddr::V4(_) => addr,
    }
}

/// The addresses of one family a local address takes: none, one, or all (a wildcard).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Span<T> {
    Nothing,
    One(T),
    All,
}

impl<T: PartialEq + Copy> Span<T> {
    fn contains(self, a: T) -> bool {
        match self {
            Span::Nothing => false,
            Span::One(b) => a == b,
            Span::All => true,
        }
    }

    fn overlaps(self, other: Span<T>) -> bool {
        match (self, other) {
            (Span::Nothing, _) | (_, Span::Nothing) => false,
            (Span::All, _) | (_, Span::All) => true,
            (Span::One(a), Span::One(b)) => a == b,
        }
    }
}

impl Span<Ipv4Addr> {
    /// What a socket bound to `addr` takes, of IPv4 and of IPv6.
    fn of(addr: IpAddr, v6only: Option<bool>) -> (Span<Ipv4Addr>, Span<Ipv6Addr>) {
        match canonical(addr) {
            IpAddr::V4(a) if a.is_unspecified() => (Span::All, Span::Nothing),
            IpAddr::V4(a) => (Span::One(a), Span::Nothing),
            IpAddr::V6(a) if a.is_unspecified() => {
                let v4 = if v6only == Some(true) {
                    Span::Nothing
                } else {
                    Span::All
                };
                (v4, Span::All)
            }
            IpAddr::V6(a) => (Span::Nothing, Span::One(a)),
        }
    }
}

/// A process that holds at least one listed socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Process {
    /// Process id.
    pub pid: u32,
    /// Full program name (not the 15-character `comm`).
    pub name: String,
    /// Path of the executable; `None` when hidden (another user's process) or gone.
    pub exe: Option<String>,
    /// Command line, one element per argument.
    pub cmdline: Vec<String>,
    /// Real uid; `None` on Windows, where `user` carries `DOMAIN\\name`.
    pub uid: Option<u32>,
    /// User name for `uid`, from the passwd database (the account name on Windows).
    pub user: Option<String>,
    /// Scheduler state letter: R, S, D, T (stopped), t (traced), Z, ...
    pub state: String,
    /// Start time, RFC 3339 UTC.
    pub start_time: Option<String>,
    /// Parent process id.
    pub ppid: u32,
    /// The systemd unit it runs in, from its cgroup.
    pub unit: Option<String>,
    /// The container it runs in (short id), from its cgroup, or the container address a
    /// `docker-proxy` forwards to.
    pub container: Option<String>,
    /// That container as its engine (Docker, Podman) names it: id, name, image, Compose
    /// project and service, engine. Absent when no engine said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_info: Option<crate::containers::Container>,
    /// Start time in clock ticks since boot: with the pid, identifies the process even if
    /// the pid is reused. Not in JSON.
    #[serde(skip)]
    pub start_ticks: Option<u64>,
}

impl Process {
    /// Stopped by a signal or a debugger (state `T` or `t`): it acts on no signal but KILL,
    /// and accepts no connection, until resumed.
    #[must_use]
    pub fn is_stopped(&self) -> bool {
        self.state.starts_with(['T', 't'])
    }

    /// Who runs it, for people: the user name, else the uid, else `?`.
    #[must_use]
    pub fn account(&self) -> String {
        match (&self.user, self.uid) {
            (Some(u), _) => u.clone(),
            (None, Some(uid)) => uid.to_string(),
            (None, None) => "?".to_owned(),
        }
    }
}

/// Seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ` (civil-from-days, proleptic
/// Gregorian calendar).
#[must_use]
pub fn rfc3339(secs: u64) -> String {
    rfc3339_signed(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// [`rfc3339`] for any second count, before 1970 included (a certificate that expired in
/// 1950 says so).
#[must_use]
pub fn rfc3339_signed(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TCP socket on `addr:port` in the host namespace, in `state`, with `v6only`.
    fn sock(addr: &str, port: u16, state: State, v6only: Option<bool>) -> Socket {
        let a: IpAddr = addr.parse().expect("addr");
        Socket {
            proto: Proto::Tcp,
            local: Endpoint::new(a, port),
            remote: None,
            state,
            inode: 1,
            uid: Some(0),
            netns: NetNs {
                inode: Some(1),
                host: true,
            },
            recv_q: 0,
            send_q: 0,
            v6only,
            exposure: Exposure::classify(a, true),
            owners: Vec::new(),
            owner_note: None,
            cgroup: None,
            device: None,
        }
    }

    fn ep(addr: &str, port: u16) -> Endpoint {
        Endpoint::new(addr.parse().expect("addr"), port)
    }

    #[test]
    fn accepts_truth_table() {
        // (listener address, v6only, connection address, lands)
        let table: &[(&str, Option<bool>, &str, bool)] = &[
            ("127.0.0.1", None, "127.0.0.1", true),
            ("127.0.0.1", None, "127.0.0.2", false),
            ("127.0.0.1", None, "::1", false),
            ("127.0.0.1", None, "::ffff:127.0.0.1", true),
            ("0.0.0.0", None, "127.0.0.1", true),
            ("0.0.0.0", None, "10.1.2.3", true),
            ("0.0.0.0", None, "::1", false),
            ("0.0.0.0", None, "::ffff:127.0.0.1", true),
            ("::", Some(false), "127.0.0.1", true),
            ("::", Some(false), "::1", true),
            ("::", Some(false), "::ffff:127.0.0.1", true),
            ("::", Some(true), "127.0.0.1", false),
            ("::", Some(true), "::ffff:127.0.0.1", false),
            ("::", Some(true), "::1", true),
            ("::", None, "127.0.0.1", true),
            ("::1", Some(false), "::1", true),
            ("::1", Some(false), "127.0.0.1", false),
            ("::1", Some(true), "127.0.0.1", false),
            ("::ffff:127.0.0.1", Some(false), "127.0.0.1", true),
            ("::ffff:127.0.0.1", Some(false), "127.0.0.2", false),
            ("::ffff:0.0.0.0", Some(false), "127.0.0.5", true),
            ("fe80::1", Some(true), "::1", false),
        ];
        for &(local, v6only, to, lands) in table {
            let s = sock(local, 3000, State::Listen, v6only);
            assert_eq!(
                s.accepts(ep(to, 3000)),
                lands,
                "{local} (v6only {v6only:?}) takes {to}?"
            );
            assert!(!s.accepts(ep(to, 3001)), "another port never lands");
        }
    }

    #[test]
    fn blocks_bind_truth_table() {
        // (held address, its v6only, bind address, bind's v6only, conflict)
        type Row = (&'static str, Option<bool>, &'static str, Option<bool>, bool);
        let table: &[Row] = &[
            ("127.0.0.1", None, "127.0.0.1", None, true),
            ("127.0.10.1", None, "127.0.0.1", None, false),
            ("127.0.0.1", None, "127.0.10.1", None, false),
            ("0.0.0.0", None, "127.0.0.1", None, true),
            ("127.0.0.1", None, "0.0.0.0", None, true),
            ("::1", Some(true), "127.0.0.1", None, false),
            ("::1", Some(false), "127.0.0.1", None, false),
            ("::1", Some(true), "::1", None, true),
            ("::1", Some(true), "::", None, true),
            ("::", Some(false), "127.0.0.1", None, true),
            ("::", Some(true), "127.0.0.1", None, false),
            ("::", Some(true), "::1", None, true),
            ("127.0.0.1", None, "::", None, true),
            ("127.0.0.1", None, "::", Some(true), false),
            ("127.0.0.1", None, "::1", None, false),
            ("::ffff:127.0.0.1", Some(false), "127.0.0.1", None, true),
            ("::ffff:127.0.0.1", Some(false), "127.0.0.2", None, false),
        ];
        for &(held, held_v6only, bind, bind_v6only, conflict) in table {
            let s = sock(held, 3000, State::Established, held_v6only);
            assert_eq!(
                s.blocks_bind(ep(bind, 3000), bind_v6only),
                conflict,
                "{held} (v6only {held_v6only:?}) blocks a bind of {bind} (v6only {bind_v6only:?})?"
            );
            assert!(!s.blocks_bind(ep(bind, 3001), bind_v6only));
        }
    }

    #[test]
    fn formats_times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_683_062), "2026-11-26T08:51:02Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_signed(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339_signed(-631_152_000), "1950-01-01T00:00:00Z");
    }

    #[test]
    fn state_names_round_trip() {
        for st in ALL_STATES {
            assert_eq!(State::parse(st.as_str()), Some(st));
        }
        assert_eq!(State::parse("TIME_WAIT"), Some(State::TimeWait));
        assert_eq!(State::parse("nope"), None);
    }

    #[test]
    fn exposure_classifies_addresses() {
        let h = |s: &str| Exposure::classify(s.parse().expect("addr"), true);
        assert_eq!(h("127.0.0.1"), Exposure::Loopback);
        assert_eq!(h("127.0.0.9"), Exposure::Loopback);
        assert_eq!(h("::1"), Exposure::Loopback);
        assert_eq!(h("::ffff:127.0.0.1"), Exposure::Loopback);
        assert_eq!(h("0.0.0.0"), Exposure::AllInterfaces);
        assert_eq!(h("::"), Exposure::AllInterfaces);
        assert_eq!(h("192.168.1.4"), Exposure::Specific);
        let other = Exposure::classify("127.0.0.1".parse().expect("addr"), false);
        assert_eq!(other, Exposure::OtherNetns);
    }

    #[test]
    fn endpoint_display_brackets_v6() {
        let e = Endpoint::new("::1".parse().expect("addr"), 80);
        assert_eq!(e.to_string(), "[::1]:80");
        assert_eq!(
            serde_json::to_string(&e).expect("json"),
            r#"{"addr":"::1","port":80}"#
        );
    }
}
