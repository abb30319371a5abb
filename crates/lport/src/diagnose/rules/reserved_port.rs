//! `reserved-port` (--listen): the port is in `ip_local_reserved_ports`, or inside the
//! ephemeral range where an outgoing connection may take it first.

use super::cause;
use crate::diagnose::{Cause, Facts, Mode, Severity};

pub(super) fn check(f: &Facts) -> Option<Cause> {
    if f.target.mode != Mode::Listen {
        return None;
    }
    let port = f.target.port;
    let eph = &f.policy.ephemeral;
    if f.policy.is_reserved(port) {
        return cause(
            "reserved-port",
            Severity::Info,
            format!(
                "port {port} is reserved: the kernel never hands it out as a source port, so it stays free for a server"
            ),
            vec![format!("{port} is in net.ipv4.ip_local_reserved_ports")],
            "nothing to do: this is what you want for a server port",
        );
    }
    if !eph.contains(&port) {
        return None;
    }
    cause(
        "reserved-port",
        Severity::Warning,
        format!(
            "port {port} is inside the ephemeral range {}-{}: an outgoing connection can take it and make the server's bind fail",
            eph.start(),
            eph.end()
        ),
        vec![format!(
            "net.ipv4.ip_local_port_range = {} {}",
            eph.start(),
            eph.end()
        )],
        format!(
            "pick a port outside {}-{} (lport free does), or reserve it: sysctl -w net.ipv4.ip_local_reserved_ports={port}",
            eph.start(),
            eph.end()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::facts;
    use super::*;

    #[test]
    fn ephemeral_and_reserved() {
        let mut f = facts("0.0.0.0", 40000, Mode::Listen);
        assert_eq!(check(&f).map(|c| c.severity), Some(Severity::Warning));
        f.policy.reserved = vec![40000..=40000];
        assert_eq!(check(&f).map(|c| c.severity), Some(Severity::Info));
        let f = facts("0.0.0.0", 3000, Mode::Listen);
        assert!(check(&f).is_none());
    }
}
