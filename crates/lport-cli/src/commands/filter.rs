//! Which sockets a set of targets and flags selects. A target with an address also matches
//! wildcard listeners of that family (they accept connections to it), the way a client
//! would reach them.

use std::net::IpAddr;

use anyhow::{Context, Result};
use lport::{Exposure, Proto, Snapshot, Socket, Target};

/// One target, resolved to what it selects.
#[derive(Debug, Clone)]
pub(crate) struct TargetFilter {
    pub(crate) proto: Option<Proto>,
    pub(crate) port: Option<u16>,
    /// Addresses the target names; `None` for any address.
    pub(crate) addrs: Option<Vec<IpAddr>>,
}

impl TargetFilter {
    /// Parses and resolves a target typed by the user.
    pub(crate) fn parse(input: &str) -> Result<TargetFilter> {
        let t = Target::parse(input)?;
        if t.unix.is_some() {
            anyhow::bail!(
                "lport ls lists TCP and UDP sockets; for a unix socket: lport who {input}"
            );
        }
        let addrs = if t.host.is_some() {
            let a = t.resolve().with_context(|| format!("target {input:?}"))?;
            Some(a)
        } else {
            None
        };
        Ok(TargetFilter {
            proto: t.proto,
            port: t.port,
            addrs,
        })
    }

    /// True when the socket is on this target: it is bound there, or (the client side of
    /// a connection) its remote end is the target.
    pub(crate) fn matches(&self, s: &Socket) -> bool {
        let local = self.port.is_none_or(|p| p == s.local.port)
            && self
                .addrs
                .as_ref()
                .is_none_or(|addrs| addrs.iter().any(|a| s.accepts_addr(*a)));
        let remote = self.port.is_some()
            && s.remote.as_ref().is_some_and(|r| {
                self.port == Some(r.port)
                    && self.addrs.as_ref().is_none_or(|addrs| {
                        addrs.iter().any(|a| canonical(*a) == canonical(r.addr))
                    })
            });
        self.proto.is_none_or(|p| p == s.proto) && (local || remote)
    }
}

/// Filters from flags other than targets.
#[derive(Debug, Clone, Default)]
pub(crate) struct OwnerFilter {
    pub(crate) pids: Vec<u32>,
    pub(crate) names: Vec<String>,
    pub(crate) uid: Option<u32>,
    pub(crate) exposed: bool,
}

impl OwnerFilter {
    pub(crate) fn matches(&self, s: &Socket, snap: &Snapshot) -> bool {
        if self.exposed && !matches!(s.exposure, Exposure::AllInterfaces | Exposure::Specific) {
            return false;
        }
        if !self.pids.is_empty() && !s.owners.iter().any(|o| self.pids.contains(&o.pid)) {
            return false;
        }
        if !self.names.is_empty() {
            let hit = s.owners.iter().any(|o| {
                snap.process(o.pid).is_some_and(|p| {
                    let name = p.name.to_lowercase();
                    self.names.iter().any(|n| name.contains(&n.to_lowercase()))
                })
            });
            if !hit {
                return false;
            }
        }
        if let Some(uid) = self.uid {
            let owner_uid = s
                .owners
                .iter()
                .any(|o| snap.process(o.pid).is_some_and(|p| p.uid == Some(uid)));
            if s.uid != Some(uid) && !owner_uid {
                return false;
            }
        }
        true
    }
}

/// Keeps the sockets `keep` accepts and the processes that hold them.
pub(crate) fn retain(snap: &mut Snapshot, keep: impl Fn(&Socket, &Snapshot) -> bool) {
    let kept: Vec<Socket> = snap
        .sockets
        .iter()
        .filter(|s| keep(s, snap))
        .cloned()
        .collect();
    snap.sockets = kept;
    let pids: std::collections::BTreeSet<u32> = snap
        .sockets
        .iter()
        .flat_map(|s| s.owners.iter().map(|o| o.pid))
        .collect();
    snap.processes.retain(|p| pids.contains(&p.pid));
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

#[cfg(test)]
mod tests {
    use lport::{Endpoint, NetNs, State};

    use super::*;

    fn sock(addr: &str, port: u16, v6only: Option<bool>) -> Socket {
        let addr: IpAddr = addr.parse().expect("ip");
        Socket {
            proto: Proto::Tcp,
            local: Endpoint::new(addr, port),
            remote: None,
            state: State::Listen,
            inode: 1,
            uid: Some(0),
            netns: NetNs {
                inode: None,
                host: true,
            },
            recv_q: 0,
            send_q: 0,
            v6only,
            exposure: Exposure::classify(addr, true),
            owners: vec![],
            owner_note: None,
            cgroup: None,
            device: None,
        }
    }

    #[test]
    fn address_targets_match_exact_and_wildcard_listeners() {
        let f = TargetFilter::parse("127.0.0.1:3000").expect("target");
        assert!(f.matches(&sock("127.0.0.1", 3000, None)));
        assert!(f.matches(&sock("0.0.0.0", 3000, None)));
        assert!(
            f.matches(&sock("::", 3000, Some(false))),
            "dual-stack takes IPv4"
        );
        assert!(!f.matches(&sock("::", 3000, Some(true))), "v6only does not");
        assert!(!f.matches(&sock("127.0.0.2", 3000, None)));
        assert!(!f.matches(&sock("127.0.0.1", 3001, None)));
        let f = TargetFilter::parse("[::1]:3000").expect("target");
        assert!(f.matches(&sock("::1", 3000, Some(false))));
        assert!(!f.matches(&sock("0.0.0.0", 3000, None)));
        let f = TargetFilter::parse("udp/3000").expect("target");
        assert!(!f.matches(&sock("127.0.0.1", 3000, None)));
    }
}
