//! `nearby-port`: nothing on the port, but a server listens on a port close to it (dev
//! servers move to 5174 when 5173 is taken).

use super::cause;
use crate::diagnose::{Cause, Facts, Mode, Severity};

pub(super) fn check(f: &Facts) -> Option<Cause> {
    if f.target.mode != Mode::Connect || f.connected() || f.host_listeners().next().is_some() {
        return None;
    }
    let port = f.target.port;
    let addrs: Vec<std::net::IpAddr> = f.resolved.clone().unwrap_or_default();
    // What a client of this target can use: a listener on an address it connects to, whose
    // process runs. Those come first; the others are said for what they are.
    let reachable = |s: &crate::model::Socket| addrs.iter().any(|a| s.accepts_addr(*a));
    let mut near: Vec<_> = f.nearby.iter().collect();
    near.sort_by_key(|s| {
        (
            !reachable(s),
            super::all_owners_stopped(f, s),
            s.local.port.abs_diff(port),
            s.local.port,
        )
    });
    near.dedup_by_key(|s| s.local.port);
    let best = near.first()?;
    let caveat = |s: &crate::model::Socket| {
        let mut c = String::new();
        if !reachable(s) && !addrs.is_empty() {
            c.push_str(" (on another address: a client of this target cannot reach it)");
        }
        if super::all_owners_stopped(f, s) {
            c.push_str(" (its process is stopped: it accepts nothing until resumed)");
        }
        c
    };
    let evidence = near
        .iter()
        .take(3)
        .map(|s| format!("{} listens on {}{}", f.owner_text(s), s.local, caveat(s)))
        .collect();
    cause(
        "nearby-port",
        Severity::Info,
        format!(
            "did you mean port {}? {} listens there{}",
            best.local.port,
            f.owner_text(best),
            caveat(best)
        ),
        evidence,
        format!(
            "use port {} (a dev server picks the next free port when its usual one is taken)",
            best.local.port
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{attempt, facts, listener};
    use super::*;
    use crate::diagnose::Outcome;

    #[test]
    fn suggests_the_closest_listener() {
        let mut f = facts("localhost", 5173, Mode::Connect);
        attempt(&mut f, "127.0.0.1", Outcome::Refused);
        assert!(check(&f).is_none());
        let i = listener(&mut f, "127.0.0.1", 5174, 9, true);
        let s = f.port_sockets.remove(i);
        f.nearby.push(s);
        f.resolved = Ok(vec![crate::diagnose::rules::fixture::ip("127.0.0.1")]);
        let c = check(&f).expect("cause");
        assert!(c.summary.contains("5174"), "{}", c.summary);
        assert!(!c.summary.contains("another address"), "{}", c.summary);
        // A closer one on ::1 only: a client of 127.0.0.1 cannot use it; 5174 stays first.
        let i = listener(&mut f, "::1", 5172, 10, true);
        let s = f.port_sockets.remove(i);
        f.nearby.push(s);
        let c = check(&f).expect("cause");
        assert!(c.summary.contains("5174"), "{}", c.summary);
        assert!(
            c.evidence[1].contains("[::1]:5172 (on another address"),
            "{:?}",
            c.evidence
        );
    }
}
