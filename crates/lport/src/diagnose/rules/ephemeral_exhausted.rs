//! `ephemeral-exhausted`: `connect()` fails with EADDRNOTAVAIL because no source port is
//! left in `ip_local_port_range` for this destination.

use super::cause;
use crate::diagnose::{Cause, Facts, Mode, Outcome, Severity};

pub(super) fn check(f: &Facts) -> Option<Cause> {
    if f.target.mode != Mode::Connect {
        return None;
    }
    let a = f
        .attempts
        .iter()
        .find(|a| a.outcome == Outcome::AddrUnavailable)?;
    let eph = &f.policy.ephemeral;
    let size = usize::from(eph.end() - eph.start()) + 1;
    let reserved: usize = f
        .policy
        .reserved
        .iter()
        .filter(|r| r.start() <= eph.end() && r.end() >= eph.start())
        .map(|r| usize::from(r.end().min(eph.end()) - r.start().max(eph.start())) + 1)
        .sum();
    cause(
        "ephemeral-exhausted",
        Severity::Error,
        format!(
            "no source port is free for a connection to {}",
            std::net::SocketAddr::new(a.addr, a.port)
        ),
        vec![
            format!(
                "net.ipv4.ip_local_port_range = {} {} ({size} ports{})",
                eph.start(),
                eph.end(),
                if reserved > 0 {
                    format!(", {reserved} of them reserved")
                } else {
                    String::new()
                }
            ),
            format!(
                "{} sockets (TIME_WAIT included) already connect to {}",
                f.to_target,
                std::net::SocketAddr::new(a.addr, a.port)
            ),
            format!(
                "connect to {} -> address not available (EADDRNOTAVAIL)",
                std::net::SocketAddr::new(a.addr, a.port)
            ),
        ],
        "reuse connections (keep-alive, a pool) and close them properly; or widen the range: sysctl -w net.ipv4.ip_local_port_range='32768 60999'",
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{attempt, facts};
    use super::*;

    #[test]
    fn eaddrnotavail_on_connect() {
        let mut f = facts("127.0.0.1", 8080, Mode::Connect);
        attempt(&mut f, "127.0.0.1", Outcome::Refused);
        assert!(check(&f).is_none());
        f.attempts.clear();
        attempt(&mut f, "127.0.0.1", Outcome::AddrUnavailable);
        f.policy.ephemeral = 40000..=40001;
        f.to_target = 2;
        let c = check(&f).expect("cause");
        assert!(c.evidence[0].contains("(2 ports)"), "{:?}", c.evidence);
    }
}
