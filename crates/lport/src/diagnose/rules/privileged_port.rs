//! `privileged-port` (--listen): the port is below `ip_unprivileged_port_start` and this
//! user lacks CAP_NET_BIND_SERVICE.

use super::cause;
use crate::diagnose::{Cause, Facts, Mode, Severity};

pub(super) fn check(f: &Facts) -> Option<Cause> {
    if f.target.mode != Mode::Listen
        || f.target.port >= f.policy.unprivileged_start
        || f.can_bind_privileged
    {
        return None;
    }
    cause(
        "privileged-port",
        Severity::Error,
        format!(
            "port {} is privileged: binding it needs root or CAP_NET_BIND_SERVICE",
            f.target.port
        ),
        vec![format!(
            "net.ipv4.ip_unprivileged_port_start = {}",
            f.policy.unprivileged_start
        )],
        "use a port above 1023 (behind a reverse proxy if needed), or grant the program the capability: setcap cap_net_bind_service=+ep PROGRAM (systemd: AmbientCapabilities=CAP_NET_BIND_SERVICE)",
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::facts;
    use super::*;

    #[test]
    fn low_ports_without_the_capability() {
        let mut f = facts("0.0.0.0", 80, Mode::Listen);
        assert_eq!(check(&f).map(|c| c.id), Some("privileged-port"));
        f.can_bind_privileged = true;
        assert!(check(&f).is_none());
    }
}
