//! `family-mismatch`: the name resolves to one family (say ::1) but the server listens
//! only on the other (127.0.0.1), or the reverse.

use std::fmt::Write as _;

use super::cause;
use crate::diagnose::{Cause, Facts, Mode, Outcome, Severity};

pub(super) fn check(f: &Facts) -> Option<Cause> {
    if f.target.mode != Mode::Connect {
        return None;
    }
    let resolved = f.resolved.as_ref().ok()?;
    let failed: Vec<_> = f
        .attempts
        .iter()
        .filter(|a| a.outcome != Outcome::Connected)
        .filter(|a| !f.host_listeners().any(|s| s.accepts_addr(a.addr)))
        .collect();
    let first = failed.first()?;
    // A listener of the other family that would take the other family's loopback.
    let other: Vec<_> = f
        .host_listeners()
        .filter(|s| {
            s.local.addr.is_ipv4() != first.addr.is_ipv4()
                || (s.local.addr.is_ipv6() && first.addr.is_ipv4() && s.v6only == Some(true))
        })
        .filter(|s| s.local.addr.is_loopback() || s.local.addr.is_unspecified())
        .collect();
    if other.is_empty() {
        return None;
    }
    let s = other[0];
    let severity = if f.connected() {
        Severity::Warning
    } else {
        Severity::Error
    };
    let resolved_text = resolved
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let literal = f.target.host.parse::<std::net::IpAddr>().is_ok();
    let mut evidence = vec![
        if literal {
            format!("the client uses {}", f.target.host)
        } else {
            format!("{} resolves to {resolved_text}", f.target.host)
        },
        format!("{} listens on {} only", f.owner_text(s), s.local),
    ];
    evidence.extend(f.hosts_evidence.iter().cloned());
    evidence.extend(failed.iter().map(|a| a.evidence()));
    let summary = if f.connected() {
        format!(
            "{} reaches the server only on {}: clients that try {} first and do not fall back fail",
            f.target.host, s.local.addr, first.addr
        )
    } else if literal {
        format!(
            "nothing listens on {}, but the server listens on {} (the other address family)",
            first.addr, s.local
        )
    } else {
        format!(
            "{} resolves to {} but the server listens on {}",
            f.target.host, first.addr, s.local
        )
    };
    let url_host = match s.local.addr {
        std::net::IpAddr::V6(a) if !a.is_unspecified() => format!("[{a}]"),
        std::net::IpAddr::V4(a) if !a.is_unspecified() => a.to_string(),
        _ => "localhost".into(),
    };
    let port = f.target.port;
    // The fix goes the way the mismatch does: a server on IPv6 only needs 127.0.0.1 too
    // (Node's ipv4first would make it worse), a server on IPv4 only needs ::1 too.
    let mut fix = if s.local.addr.is_ipv6() {
        format!(
            "make the server listen on 127.0.0.1 too (or on :: with IPV6_V6ONLY off), or connect to {url_host}:{port}"
        )
    } else {
        format!(
            "make the server listen on ::1 too (or on :: with IPV6_V6ONLY off), or connect to {url_host}:{port}; Node clients: --dns-result-order=ipv4first"
        )
    };
    // Clients that try every address (curl, browsers) still connect when the name also
    // resolves to the server's family.
    let both = !literal
        && resolved
            .iter()
            .any(|a| s.local.addr.is_ipv6() == a.is_ipv6());
    if both {
        let _ = write!(
            fix,
            ". curl and browsers try both addresses and still connect; clients that take only the first ({}) fail",
            first.addr
        );
    }
    cause("family-mismatch", severity, summary, evidence, fix)
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{attempt, facts, ip, listener};
    use super::*;

    #[test]
    fn localhost_to_v6_but_server_on_v4() {
        let mut f = facts("localhost", 3000, Mode::Connect);
        f.resolved = Ok(vec![ip("::1")]);
        attempt(&mut f, "::1", Outcome::Refused);
        listener(&mut f, "127.0.0.1", 3000, 5, true);
        let c = check(&f).expect("cause");
        assert_eq!((c.id, c.severity), ("family-mismatch", Severity::Error));
        assert!(c.fix.contains("127.0.0.1:3000"), "{}", c.fix);
        assert!(
            c.fix.starts_with("make the server listen on ::1 too") && c.fix.contains("ipv4first"),
            "{}",
            c.fix
        );
    }

    #[test]
    fn a_working_fallback_makes_it_a_warning() {
        let mut f = facts("localhost", 3000, Mode::Connect);
        f.resolved = Ok(vec![ip("::1"), ip("127.0.0.1")]);
        attempt(&mut f, "::1", Outcome::Refused);
        attempt(&mut f, "127.0.0.1", Outcome::Connected);
        listener(&mut f, "127.0.0.1", 3000, 5, true);
        assert_eq!(check(&f).map(|c| c.severity), Some(Severity::Warning));
    }

    #[test]
    fn not_when_the_listener_takes_the_address() {
        let mut f = facts("localhost", 3000, Mode::Connect);
        f.resolved = Ok(vec![ip("127.0.0.1")]);
        attempt(&mut f, "127.0.0.1", Outcome::Timeout);
        listener(&mut f, "0.0.0.0", 3000, 5, true);
        assert!(check(&f).is_none());
    }

    #[test]
    fn a_server_on_v6_only_gets_the_fix_for_that_direction() {
        // localhost -> 127.0.0.1 only; the server is on [::1] only.
        let mut f = facts("127.0.0.1", 3000, Mode::Connect);
        f.target.host = "localhost".into();
        f.resolved = Ok(vec![ip("127.0.0.1")]);
        attempt(&mut f, "127.0.0.1", Outcome::Refused);
        listener(&mut f, "::1", 3000, 7, true);
        let c = check(&f).expect("cause");
        assert!(
            c.fix.starts_with("make the server listen on 127.0.0.1 too"),
            "{}",
            c.fix
        );
        assert!(c.fix.contains("[::1]:3000"), "{}", c.fix);
        assert!(
            !c.fix.contains("ipv4first"),
            "that would make it worse: {}",
            c.fix
        );
        assert!(
            !c.fix.contains("curl"),
            "no client reaches it by name: {}",
            c.fix
        );
        // With ::1 resolved as well, clients that try both still connect.
        f.resolved = Ok(vec![ip("127.0.0.1"), ip("::1")]);
        let c = check(&f).expect("cause");
        assert!(c.fix.contains("curl and browsers try both"), "{}", c.fix);
    }
}
