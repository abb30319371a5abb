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
    // Where only specific addresses are privileged (macOS), a wildcard bind is fine.
    let wildcard = f.binds.iter().all(|b| b.addr.ip().is_unspecified());
    if wildcard && !f.binds.is_empty() && !f.policy.privileged_wildcard {
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

    #[test]
    fn the_wildcard_is_not_privileged_where_the_os_says_so() {
        let mut f = facts("0.0.0.0", 80, Mode::Listen);
        f.binds = vec![crate::diagnose::facts::BindTry {
            addr: "0.0.0.0:80".parse().expect("addr"),
            error: None,
        }];
        assert_eq!(check(&f).map(|c| c.id), Some("privileged-port"), "Linux");
        f.policy.privileged_wildcard = false;
        assert!(
            check(&f).is_none(),
            "macOS: anyone may bind port 80 on the wildcard"
        );
        f.binds[0].addr = "127.0.0.1:80".parse().expect("addr");
        assert_eq!(
            check(&f).map(|c| c.id),
            Some("privileged-port"),
            "but not on 127.0.0.1"
        );
    }
}
