//! Netlink `sock_diag` (`SOCK_DIAG_BY_FAMILY` with `inet_diag_req_v2`): the kernel's socket
//! tables, filtered in the kernel by a state mask and, for one port, a bytecode program.
//!
//! Request building and reply parsing are pure functions over bytes, so they are tested on
//! fixtures; only [`dump`] touches a socket. Layouts are from `linux/inet_diag.h` and
//! `linux/netlink.h`; all fields are host-endian except ports and addresses (network order).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, OwnedFd};

use rustix::net::{
    AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType, netlink, recv, sendto,
    socket_with,
};

use crate::error::{Error, Result};

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// The older TCP-only request (`inet_diag_req`): the kernel serves it with the family left
/// unspecified, so one walk of the TCP hash tables returns IPv4 and IPv6 sockets together
/// instead of one walk per family.
const TCPDIAG_GETSOCK: u16 = 18;
/// `sizeof(struct inet_diag_req)`.
const REQ_V1_LEN: usize = 60;
/// Both families, through the `TCPDIAG_GETSOCK` request (TCP only).
pub(crate) const AF_UNSPEC: u8 = 0;
/// `sizeof(struct inet_diag_req_v2)`.
const REQ_LEN: usize = 56;
/// `sizeof(struct inet_diag_msg)`.
const MSG_LEN: usize = 72;
const INET_DIAG_REQ_BYTECODE: u16 = 1;
const INET_DIAG_SKV6ONLY: u16 = 11;
const INET_DIAG_CGROUP_ID: u16 = 21;
const INET_DIAG_BC_JMP: u8 = 1;
const INET_DIAG_BC_S_EQ: u8 = 11;
const INET_DIAG_BC_D_EQ: u8 = 12;

/// Kernel TCP states (`include/net/tcp_states.h`).
pub(crate) mod tcp_state {
    pub(crate) const ESTABLISHED: u8 = 1;
    pub(crate) const SYN_SENT: u8 = 2;
    pub(crate) const SYN_RECV: u8 = 3;
    pub(crate) const FIN_WAIT1: u8 = 4;
    pub(crate) const FIN_WAIT2: u8 = 5;
    pub(crate) const TIME_WAIT: u8 = 6;
    pub(crate) const CLOSE: u8 = 7;
    pub(crate) const CLOSE_WAIT: u8 = 8;
    pub(crate) const LAST_ACK: u8 = 9;
    pub(crate) const LISTEN: u8 = 10;
    pub(crate) const CLOSING: u8 = 11;
    pub(crate) const NEW_SYN_RECV: u8 = 12;
    /// Bound but not listening; dumped only on kernels >= 6.8.
    pub(crate) const BOUND_INACTIVE: u8 = 13;
}

/// One dump request: a family, a protocol, a state mask and optionally a local port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DiagRequest {
    /// `AF_INET` or `AF_INET6`.
    pub(crate) family: u8,
    /// `IPPROTO_TCP` or `IPPROTO_UDP`.
    pub(crate) protocol: u8,
    /// Bit `1 << state` for each kernel state wanted.
    pub(crate) states: u32,
    /// Only sockets with this local port (a bytecode filter run in the kernel).
    pub(crate) sport: Option<u16>,
    /// With `sport`: also sockets whose remote port it is.
    pub(crate) dport_too: bool,
}

/// One socket from a reply, in kernel terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DiagSocket {
    pub(crate) family: u8,
    pub(crate) state: u8,
    pub(crate) src: IpAddr,
    pub(crate) sport: u16,
    pub(crate) dst: IpAddr,
    pub(crate) dport: u16,
    pub(crate) rqueue: u32,
    pub(crate) wqueue: u32,
    pub(crate) uid: u32,
    pub(crate) inode: u32,
    pub(crate) v6only: Option<bool>,
    pub(crate) cgroup: Option<u64>,
    /// `SO_BINDTODEVICE`'s interface index (0: none).
    pub(crate) ifindex: u32,
}

pub(crate) const AF_INET: u8 = 2;
pub(crate) const AF_INET6: u8 = 10;
pub(crate) const IPPROTO_TCP: u8 = 6;
pub(crate) const IPPROTO_UDP: u8 = 17;

/// Builds one netlink message holding an `inet_diag_req_v2` and, for a port, the bytecode.
pub(crate) fn build_request(req: &DiagRequest, seq: u32) -> Vec<u8> {
    let bytecode: Vec<u8> = match (req.sport, req.dport_too) {
        // One S_EQ op: {code, yes = 8 (next op), no = 12 (past the end: reject)}, then an
        // op whose `no` field carries the port in host order.
        (Some(port), false) => {
            let mut bc = vec![INET_DIAG_BC_S_EQ, 8];
            bc.extend_from_slice(&12u16.to_ne_bytes());
            bc.extend_from_slice(&[0, 0]);
            bc.extend_from_slice(&port.to_ne_bytes());
            bc
        }
        // S_EQ or D_EQ, as `ss` compiles an "or": S_EQ {yes 8: the JMP, no 12: past it},
        // a JMP that always takes its `no` (12: the end, accept), then D_EQ {yes 8: the
        // end, no 12: past it, reject}. The kernel's audit follows the `yes` chain and
        // wants every jump target on it, hence the JMP between the two.
        (Some(port), true) => {
            let mut bc = vec![INET_DIAG_BC_S_EQ, 8];
            bc.extend_from_slice(&12u16.to_ne_bytes());
            bc.extend_from_slice(&[0, 0]);
            bc.extend_from_slice(&port.to_ne_bytes());
            bc.extend_from_slice(&[INET_DIAG_BC_JMP, 4]);
            bc.extend_from_slice(&12u16.to_ne_bytes());
            bc.extend_from_slice(&[INET_DIAG_BC_D_EQ, 8]);
            bc.extend_from_slice(&12u16.to_ne_bytes());
            bc.extend_from_slice(&[0, 0]);
            bc.extend_from_slice(&port.to_ne_bytes());
            bc
        }
        (None, _) => Vec::new(),
    };
    let attr_len = if bytecode.is_empty() {
        0
    } else {
        4 + bytecode.len()
    };
    let v1 = req.family == AF_UNSPEC;
    let total = NLMSG_HDRLEN + if v1 { REQ_V1_LEN } else { REQ_LEN } + attr_len;
    let mut b = Vec::with_capacity(total);
    // struct nlmsghdr
    b.extend_from_slice(&(total as u32).to_ne_bytes()); // nlmsg_len
    let ty = if v1 {
        TCPDIAG_GETSOCK
    } else {
        SOCK_DIAG_BY_FAMILY
    };
    b.extend_from_slice(&ty.to_ne_bytes()); // nlmsg_type
    b.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes()); // nlmsg_flags
    b.extend_from_slice(&seq.to_ne_bytes()); // nlmsg_seq
    b.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid
    if v1 {
        // struct inet_diag_req
        b.extend_from_slice(&[0, 0, 0, 0]); // idiag_family, src_len, dst_len, idiag_ext
        b.extend_from_slice(&[0u8; 48]); // id — unused
        b.extend_from_slice(&req.states.to_ne_bytes()); // idiag_states
        b.extend_from_slice(&0u32.to_ne_bytes()); // idiag_dbs
    } else {
        // struct inet_diag_req_v2
        b.push(req.family); // sdiag_family
        b.push(req.protocol); // sdiag_protocol
        b.push(0); // idiag_ext: the attributes we need (v6only, cgroup id) come unasked
        b.push(0); // pad
        b.extend_from_slice(&req.states.to_ne_bytes()); // idiag_states
        b.extend_from_slice(&[0u8; 48]); // id: sport, dport, src, dst, if, cookie — unused
    }
    if !bytecode.is_empty() {
        b.extend_from_slice(&(attr_len as u16).to_ne_bytes()); // rta_len
        b.extend_from_slice(&INET_DIAG_REQ_BYTECODE.to_ne_bytes()); // rta_type
        b.extend_from_slice(&bytecode);
    }
    debug_assert_eq!(b.len(), total);
    b
}

/// What a reply buffer said about the dump.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Progress {
    /// More messages follow in later reads.
    More,
    /// `NLMSG_DONE` was seen.
    Done,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Parses one `recv` worth of netlink messages, appending sockets to `out`.
pub(crate) fn parse_reply(buf: &[u8], out: &mut Vec<DiagSocket>) -> Result<Progress> {
    let mut off = 0;
    while off + NLMSG_HDRLEN <= buf.len() {
        let len = u32_at(buf, off).unwrap_or(0) as usize;
        let ty = u16_at(buf, off + 4).unwrap_or(0);
        if len < NLMSG_HDRLEN || off + len > buf.len() {
            return Err(Error::Netlink(format!(
                "truncated message ({len} bytes at {off})"
            )));
        }
        let payload = &buf[off + NLMSG_HDRLEN..off + len];
        match ty {
            NLMSG_DONE => return Ok(Progress::Done),
            NLMSG_ERROR => {
                let errno = u32_at(payload, 0).map_or(0, |e| e as i32);
                if errno == 0 {
                    // An acknowledgement, not an error.
                } else {
                    return Err(Error::io(
                        "sock_diag request",
                        std::io::Error::from_raw_os_error(-errno),
                    ));
                }
            }
            SOCK_DIAG_BY_FAMILY | TCPDIAG_GETSOCK => out.push(parse_msg(payload)?),
            _ => {}
        }
        off += align4(len);
    }
    Ok(Progress::More)
}

/// Parses one `inet_diag_msg` and its attributes.
fn parse_msg(p: &[u8]) -> Result<DiagSocket> {
    if p.len() < MSG_LEN {
        return Err(Error::Netlink(format!(
            "short inet_diag_msg ({} bytes)",
            p.len()
        )));
    }
    let family = p[0];
    let addr = |at: usize| -> IpAddr {
        if family == AF_INET6 {
            let mut a = [0u8; 16];
            a.copy_from_slice(&p[at..at + 16]);
            IpAddr::V6(Ipv6Addr::from(a))
        } else {
            IpAddr::V4(Ipv4Addr::new(p[at], p[at + 1], p[at + 2], p[at + 3]))
        }
    };
    let mut s = DiagSocket {
        family,
        state: p[1],
        // p[2] timer, p[3] retrans: unused.
        sport: u16::from_be_bytes([p[4], p[5]]),
        dport: u16::from_be_bytes([p[6], p[7]]),
        src: addr(8),
        dst: addr(24),
        ifindex: u32_at(p, 40).unwrap_or(0),
        // 44..52 cookie, 52..56 expires: unused.
        rqueue: u32_at(p, 56).unwrap_or(0),
        wqueue: u32_at(p, 60).unwrap_or(0),
        uid: u32_at(p, 64).unwrap_or(0),
        inode: u32_at(p, 68).unwrap_or(0),
        v6only: None,
        cgroup: None,
    };
    let mut off = MSG_LEN;
    while off + 4 <= p.len() {
        let len = u16_at(p, off).unwrap_or(0) as usize;
        let ty = u16_at(p, off + 2).unwrap_or(0) & 0x3fff;
        if len < 4 || off + len > p.len() {
            break;
        }
        let data = &p[off + 4..off + len];
        match ty {
            INET_DIAG_SKV6ONLY if !data.is_empty() => s.v6only = Some(data[0] != 0),
            INET_DIAG_CGROUP_ID if data.len() >= 8 => {
                s.cgroup = data[..8].try_into().ok().map(u64::from_ne_bytes);
            }
            _ => {}
        }
        off += align4(len);
    }
    Ok(s)
}

/// Builds an exact lookup (no dump): the kernel finds the socket a packet from `0.0.0.0:0`
/// to `addr:port` would reach — a hash lookup, not a walk — so the reply is the listener
/// that would take a connection there, or `ENOENT`.
pub(crate) fn build_lookup(addr: IpAddr, port: u16, seq: u32) -> Vec<u8> {
    let total = NLMSG_HDRLEN + REQ_LEN;
    let mut b = Vec::with_capacity(total);
    b.extend_from_slice(&(total as u32).to_ne_bytes()); // nlmsg_len
    b.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes()); // nlmsg_type
    b.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes()); // nlmsg_flags: no dump
    b.extend_from_slice(&seq.to_ne_bytes()); // nlmsg_seq
    b.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid
    b.push(if addr.is_ipv4() { AF_INET } else { AF_INET6 }); // sdiag_family
    b.push(IPPROTO_TCP); // sdiag_protocol
    b.extend_from_slice(&[0, 0]); // idiag_ext, pad
    b.extend_from_slice(&(1u32 << tcp_state::LISTEN).to_ne_bytes()); // idiag_states
    b.extend_from_slice(&port.to_be_bytes()); // id.idiag_sport: the local port
    b.extend_from_slice(&0u16.to_be_bytes()); // id.idiag_dport
    let mut src = [0u8; 16];
    match addr {
        IpAddr::V4(a) => src[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => src.copy_from_slice(&a.octets()),
    }
    b.extend_from_slice(&src); // id.idiag_src: the local address
    b.extend_from_slice(&[0u8; 16]); // id.idiag_dst
    b.extend_from_slice(&0u32.to_ne_bytes()); // id.idiag_if
    b.extend_from_slice(&[0xff; 8]); // id.idiag_cookie: INET_DIAG_NOCOOKIE
    debug_assert_eq!(b.len(), total);
    b
}

/// Whether a TCP listener would take a connection to `addr:port`, by an exact lookup.
pub(crate) fn listener_at(fd: impl AsFd, addr: IpAddr, port: u16) -> Result<bool> {
    let fd = fd.as_fd();
    let kernel = netlink::SocketAddrNetlink::new(0, 0);
    sendto(
        fd,
        &build_lookup(addr, port, 1),
        SendFlags::empty(),
        &kernel,
    )
    .map_err(|e| Error::io("sock_diag lookup", e.into()))?;
    let mut buf = [0u8; 1024];
    let (n, _) = recv(fd, &mut buf[..], RecvFlags::empty())
        .map_err(|e| Error::io("sock_diag reply", e.into()))?;
    let mut out = Vec::new();
    match parse_reply(&buf[..n], &mut out) {
        Ok(_) => Ok(out.iter().any(|s| s.state == tcp_state::LISTEN)),
        Err(Error::Io { source, .. }) if source.raw_os_error() == Some(2) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Opens a `NETLINK_SOCK_DIAG` socket in the caller's network namespace.
pub(crate) fn open() -> Result<OwnedFd> {
    socket_with(
        AddressFamily::NETLINK,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        Some(netlink::SOCK_DIAG),
    )
    .map_err(|e| Error::io("cannot open a sock_diag netlink socket", e.into()))
}

/// Runs one dump request on `fd` and returns every socket the kernel reported.
pub(crate) fn dump(fd: impl AsFd, req: &DiagRequest, out: &mut Vec<DiagSocket>) -> Result<()> {
    let fd = fd.as_fd();
    let msg = build_request(req, 1);
    let kernel = netlink::SocketAddrNetlink::new(0, 0);
    sendto(fd, &msg, SendFlags::empty(), &kernel)
        .map_err(|e| Error::io("sock_diag request", e.into()))?;
    // The kernel fills each read with as many whole messages as fit; 32 KiB is what ss uses
    // and keeps the number of reads small.
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let (n, _) = recv(fd, &mut buf[..], RecvFlags::empty())
            .map_err(|e| Error::io("sock_diag reply", e.into()))?;
        if n == 0 {
            return Ok(());
        }
        if parse_reply(&buf[..n], out)? == Progress::Done {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_end_is_an_or_the_kernel_audit_accepts() {
        let req = DiagRequest {
            family: AF_INET,
            protocol: IPPROTO_TCP,
            states: 1 << tcp_state::ESTABLISHED,
            sport: Some(8080),
            dport_too: true,
        };
        let b = build_request(&req, 1);
        let port = 8080u16.to_ne_bytes();
        // After the nlmsghdr (16), the v2 request (56) and the attribute header (4).
        let bc = &b[76..];
        assert_eq!(bc.len(), 20);
        assert_eq!(&bc[0..2], &[INET_DIAG_BC_S_EQ, 8]);
        assert_eq!(&bc[2..4], &12u16.to_ne_bytes());
        assert_eq!(&bc[6..8], &port);
        assert_eq!(&bc[8..10], &[INET_DIAG_BC_JMP, 4]);
        assert_eq!(&bc[10..12], &12u16.to_ne_bytes());
        assert_eq!(&bc[12..14], &[INET_DIAG_BC_D_EQ, 8]);
        assert_eq!(&bc[18..20], &port);
    }

    #[test]
    fn request_layout_without_and_with_port() {
        let req = DiagRequest {
            family: AF_INET,
            protocol: IPPROTO_TCP,
            states: 1 << tcp_state::LISTEN,
            sport: None,
            dport_too: false,
        };
        let b = build_request(&req, 7);
        assert_eq!(b.len(), 72);
        assert_eq!(u32_at(&b, 0), Some(72)); // nlmsg_len
        assert_eq!(u16_at(&b, 4), Some(SOCK_DIAG_BY_FAMILY));
        assert_eq!(u16_at(&b, 6), Some(0x301));
        assert_eq!(u32_at(&b, 8), Some(7)); // seq
        assert_eq!(&b[16..20], &[AF_INET, IPPROTO_TCP, 0, 0]);
        assert_eq!(u32_at(&b, 20), Some(1 << 10));

        let v1 = build_request(
            &DiagRequest {
                family: AF_UNSPEC,
                ..req
            },
            1,
        );
        assert_eq!(v1.len(), 16 + 60);
        assert_eq!(u16_at(&v1, 4), Some(TCPDIAG_GETSOCK));
        assert_eq!(u32_at(&v1, 16 + 52), Some(1 << 10)); // idiag_states after family + id

        let b = build_request(
            &DiagRequest {
                sport: Some(5432),
                ..req
            },
            1,
        );
        assert_eq!(b.len(), 72 + 4 + 8);
        assert_eq!(u16_at(&b, 72), Some(12)); // rta_len
        assert_eq!(u16_at(&b, 74), Some(INET_DIAG_REQ_BYTECODE));
        assert_eq!(&b[76..78], &[INET_DIAG_BC_S_EQ, 8]); // code, yes
        assert_eq!(u16_at(&b, 78), Some(12)); // no: past the end
        assert_eq!(u16_at(&b, 82), Some(5432)); // the port, host order
    }

    /// A reply with one IPv6 listener on [::1]:8080 (v6only, cgroup 42), then DONE.
    fn fixture() -> Vec<u8> {
        let mut msg = Vec::new();
        msg.extend_from_slice(&[AF_INET6, tcp_state::LISTEN, 0, 0]); // family, state, timer, retrans
        msg.extend_from_slice(&8080u16.to_be_bytes()); // sport
        msg.extend_from_slice(&0u16.to_be_bytes()); // dport
        msg.extend_from_slice(&Ipv6Addr::LOCALHOST.octets()); // src
        msg.extend_from_slice(&[0u8; 16]); // dst
        msg.extend_from_slice(&[0u8; 4 + 8 + 4]); // if, cookie, expires
        msg.extend_from_slice(&3u32.to_ne_bytes()); // rqueue: 3 waiting
        msg.extend_from_slice(&511u32.to_ne_bytes()); // wqueue: backlog 511
        msg.extend_from_slice(&1000u32.to_ne_bytes()); // uid
        msg.extend_from_slice(&98765u32.to_ne_bytes()); // inode
        msg.extend_from_slice(&5u16.to_ne_bytes()); // rta_len: 4 + 1 byte
        msg.extend_from_slice(&INET_DIAG_SKV6ONLY.to_ne_bytes());
        msg.extend_from_slice(&[1, 0, 0, 0]); // v6only = 1, padded
        msg.extend_from_slice(&12u16.to_ne_bytes()); // rta_len: 4 + 8
        msg.extend_from_slice(&INET_DIAG_CGROUP_ID.to_ne_bytes());
        msg.extend_from_slice(&42u64.to_ne_bytes());
        let mut b = Vec::new();
        b.extend_from_slice(&((16 + msg.len()) as u32).to_ne_bytes());
        b.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        b.extend_from_slice(&[0u8; 10]); // flags, seq, pid
        b.extend_from_slice(&msg);
        b.extend_from_slice(&20u32.to_ne_bytes()); // DONE: len
        b.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
        b.extend_from_slice(&[0u8; 14]);
        b
    }

    #[test]
    fn parses_a_listener_reply() {
        let mut out = Vec::new();
        assert_eq!(
            parse_reply(&fixture(), &mut out).expect("parse"),
            Progress::Done
        );
        assert_eq!(out.len(), 1);
        let s = &out[0];
        assert_eq!(s.src, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!((s.sport, s.state, s.rqueue, s.wqueue), (8080, 10, 3, 511));
        assert_eq!(
            (s.uid, s.inode, s.v6only, s.cgroup),
            (1000, 98765, Some(true), Some(42))
        );
    }

    #[test]
    fn exact_lookup_finds_listeners_and_nothing_else() {
        let fd = open().expect("netlink");
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let lo: IpAddr = "127.0.0.1".parse().expect("ip");
        assert!(listener_at(&fd, lo, port).expect("lookup"));
        // A client connected to it has a different local port; its own port is no listener.
        let c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let cport = c.local_addr().expect("addr").port();
        assert!(!listener_at(&fd, lo, cport).expect("lookup"));
        drop(l);
        assert!(!listener_at(&fd, lo, port).expect("lookup"));
        // A wildcard listener takes connections to 127.0.0.1 too.
        let any = std::net::TcpListener::bind("0.0.0.0:0").expect("bind");
        let aport = any.local_addr().expect("addr").port();
        assert!(listener_at(&fd, lo, aport).expect("lookup"));
    }

    #[test]
    fn truncated_and_error_replies_fail_cleanly() {
        let b = fixture();
        let mut out = Vec::new();
        assert!(parse_reply(&b[..40], &mut out).is_err());
        let mut err = Vec::new();
        err.extend_from_slice(&20u32.to_ne_bytes());
        err.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        err.extend_from_slice(&[0u8; 10]);
        err.extend_from_slice(&(-13i32).to_ne_bytes()); // -EACCES
        let e = parse_reply(&err, &mut out).expect_err("error");
        assert!(e.to_string().contains("permission denied"), "{e}");
        // Garbage never panics: every prefix, and the fixture with bytes flipped.
        for n in 0..b.len() {
            let _ = parse_reply(&b[..n], &mut out);
        }
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            let mut m = b.clone();
            for _ in 0..3 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at = (seed as usize) % m.len();
                m[at] = (seed >> 40) as u8;
            }
            let _ = parse_reply(&m, &mut out);
        }
    }
}
