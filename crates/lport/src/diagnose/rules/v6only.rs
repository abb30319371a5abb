//! `v6only`: an IPv4 client meets a `[::]` listener that has IPV6_V6ONLY set.

use super::cause;
use crate::diagnose::{Cause, Facts, Mode, Outcome, Severity};

pub(super) fn check(f: &Facts) -> Option<Cause> {
    if f.target.mode != Mode::Connect {
        return None;
    }
    let a = f.attempts.iter().find(|a| {
        a.addr.is_ipv4()
            && a.outcome != Outcome::Connected
            && !f.host_listeners().any(|s| s.accepts_addr(a.addr))
    })?;
    let s = f.host_listeners().find(|s| {
        s.local.addr.is_ipv6() && s.local.addr.is_unspecified() && s.v6only == Some(true)
    })?;
    cause(
        "v6only",
        if f.connected() {
            Severity::Warning
        } else {
            Severity::Error
        },
        format!(
            "{} listens on {} with IPV6_V6ONLY set, so IPv4 clients ({}) are refused",
            f.owner_text(s),
            s.local,
            a.addr
        ),
        vec![format!("{} is IPv6-only (v6only=1)", s.local), a.evidence()],
        format!(
            "connect over IPv6 ([::1]:{p}), or make the server also listen on 0.0.0.0 or clear IPV6_V6ONLY (nginx: listen [::]:{p} ipv6only=off)",
            p = a.port
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{attempt, facts, listener};
    use super::*;

    #[test]
    fn ipv4_refused_by_a_v6only_wildcard() {
        let mut f = facts("127.0.0.1", 8080, Mode::Connect);
        attempt(&mut f, "127.0.0.1", Outcome::Refused);
        let i = listener(&mut f, "::", 8080, 4, true);
        assert!(check(&f).is_none(), "dual-stack takes IPv4");
        f.port_sockets[i].v6only = Some(true);
        assert_eq!(check(&f).map(|c| c.id), Some("v6only"));
    }
}
