//! The `/proc/net/{tcp,tcp6,udp,udp6}` text tables: the fallback when netlink is not
//! available, and the way into another network namespace without privileges
//! (`/proc/<pid>/net/tcp` is readable by anyone). They lack v6only, the listen backlog,
//! the cgroup id and bound-only TCP sockets, which is why netlink comes first.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::sock_diag::{AF_INET, AF_INET6, DiagSocket};

/// Parses one table; `v6` says whether addresses are 32 hex digits. Bad lines are skipped.
pub(crate) fn parse(text: &str, v6: bool, out: &mut Vec<DiagSocket>) {
    for line in text.lines().skip(1) {
        if let Some(s) = parse_line(line, v6) {
            out.push(s);
        }
    }
}

/// `  0: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000  0 12345 ...`
/// sl, local, remote, state, tx_queue:rx_queue, tr:tm->when, retrnsmt, uid, timeout, inode.
fn parse_line(line: &str, v6: bool) -> Option<DiagSocket> {
    let mut f = line.split_whitespace();
    let _sl = f.next()?;
    let (src, sport) = parse_endpoint(f.next()?, v6)?;
    let (dst, dport) = parse_endpoint(f.next()?, v6)?;
    let state = u8::from_str_radix(f.next()?, 16).ok()?;
    let (tx, rx) = f.next()?.split_once(':')?;
    let _timer = f.next()?;
    let _retrnsmt = f.next()?;
    let uid = f.next()?.parse().ok()?;
    let _timeout = f.next()?;
    let inode = f.next()?.parse().ok()?;
    Some(DiagSocket {
        family: if v6 { AF_INET6 } else { AF_INET },
        state,
        src,
        sport,
        dst,
        dport,
        rqueue: u32::from_str_radix(rx, 16).ok()?,
        wqueue: u32::from_str_radix(tx, 16).ok()?,
        uid,
        inode,
        v6only: None,
        cgroup: None,
        ifindex: 0,
    })
}

/// `0100007F:0BB8`: the address as the kernel's in-memory words printed with `%08X`, so
/// each 32-bit word is converted back with the host's byte order; the port is plain hex.
fn parse_endpoint(s: &str, v6: bool) -> Option<(IpAddr, u16)> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        Some(
            u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16)
                .ok()?
                .to_ne_bytes(),
        )
    };
    let ip = if v6 {
        if addr.len() != 32 {
            return None;
        }
        let mut b = [0u8; 16];
        for i in 0..4 {
            b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
        }
        IpAddr::V6(Ipv6Addr::from(b))
    } else {
        if addr.len() != 8 {
            return None;
        }
        IpAddr::V4(Ipv4Addr::from(word(0)?))
    };
    Some((ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_endian = "little")]
    #[test]
    fn parses_v4_and_v6_tables() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
                  \x20  0: 0100007F:0BB8 00000000:0000 0A 00000000:00000002 00:00000000 00000000  1000        0 12345 1 0000000000000000 100 0 0 10 0\n\
                  \x20  1: 0100007F:9C40 0100007F:0BB8 01 00000000:00000000 00:00000000 00000000     0        0 0 2\n\
                  garbage\n";
        let mut out = Vec::new();
        parse(v4, false, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].src, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(
            (
                out[0].sport,
                out[0].state,
                out[0].rqueue,
                out[0].uid,
                out[0].inode
            ),
            (3000, 10, 2, 1000, 12345)
        );
        assert_eq!((out[1].dport, out[1].state), (3000, 1));

        let v6 = "header\n   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1\n";
        let mut out = Vec::new();
        parse(v6, true, &mut out);
        assert_eq!(out[0].src, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!((out[0].sport, out[0].inode), (8080, 777));
    }
}
