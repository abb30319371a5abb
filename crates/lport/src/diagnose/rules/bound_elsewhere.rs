//! `bound-elsewhere`: the port listens on another specific address of the same family
//! (127.0.0.2, a LAN or docker0 address), not on the one the client uses.

use super::cause;
use crate::diagnose::{Cause, Facts, Mode, Outcome, Severity};

pub(super) fn check(f: &Facts) -> Option<Cause> {
    if f.target.mode != Mode::Connect {
        return None;
    }
    let a = f.attempts.iter().find(|a| {
        a.outcome != Outcome::Connected && !f.host_listeners().any(|s| s.accepts_addr(a.addr))
    })?;
    let s = f.host_listeners().find(|s| {
        s.local.addr.is_ipv4() == a.addr.is_ipv4()
            && !s.local.addr.is_unspecified()
            && s.local.addr != a.addr
    })?;
    cause(
        "bound-elsewhere",
        if f.connected() {
            Severity::Warning
        } else {
            Severity::Error
        },
        format!(
            "{} listens on {} only, not on {}",
            f.owner_text(s),
            s.local,
            a.addr
        ),
        [
            format!(
                "{} is bound to the specific address {}",
                f.owner_text(s),
                s.local.addr
            ),
            a.evidence(),
        ]
        .into_iter()
        .chain(f.hosts_evidence.iter().cloned())
        .collect(),
        format!(
            "connect to {} instead, or make the server bind {} (or 0.0.0.0 if other machines should reach it)",
            s.local,
            if a.addr.is_ipv4() { "127.0.0.1" } else { "::1" }
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{attempt, facts, listener};
    use super::*;

    #[test]
    fn another_loopback_address() {
        let mut f = facts("127.0.0.1", 4000, Mode::Connect);
        attempt(&mut f, "127.0.0.1", Outcome::Refused);
        listener(&mut f, "127.0.0.2", 4000, 4, true);
        let c = check(&f).expect("cause");
        assert!(c.summary.contains("127.0.0.2:4000"), "{}", c.summary);
    }
}
