//! `other-netns`: the listener lives in another network namespace (a container, `ip netns`),
//! where this namespace's loopback does not reach.

use super::cause;
use crate::diagnose::{Cause, Facts, Mode, Severity};

pub(super) fn check(f: &Facts) -> Option<Cause> {
    if f.target.mode != Mode::Connect || f.connected() {
        return None;
    }
    let addrs = f.resolved.as_ref().ok()?;
    if f.host_listeners()
        .any(|s| addrs.iter().any(|a| s.accepts_addr(*a)))
    {
        return None;
    }
    let s = f.listeners().find(|s| !s.netns.host)?;
    let ns = s.netns.inode.map_or_else(
        || "another network namespace".to_owned(),
        |i| format!("network namespace {i}"),
    );
    let mut evidence = vec![format!(
        "{} listens on {} in {ns}",
        f.owner_text(s),
        s.local
    )];
    if let Some(c) = s
        .owners
        .first()
        .and_then(|o| f.process(o.pid))
        .and_then(|p| p.container.clone())
    {
        evidence.push(format!("it runs in container {c}"));
    }
    cause(
        "other-netns",
        Severity::Error,
        format!(
            "port {} listens only inside {ns}, not in this one",
            f.target.port
        ),
        evidence,
        format!(
            "publish the port to the host (docker run -p 127.0.0.1:{p}:{p}), make the service listen on 0.0.0.0 inside its namespace and connect to that namespace's address, or run the client inside the same namespace (ip netns exec / docker exec)",
            p = f.target.port
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{attempt, facts, ip, listener};
    use super::*;
    use crate::diagnose::Outcome;

    #[test]
    fn listener_only_in_another_namespace() {
        let mut f = facts("127.0.0.1", 3040, Mode::Connect);
        f.resolved = Ok(vec![ip("127.0.0.1")]);
        attempt(&mut f, "127.0.0.1", Outcome::Refused);
        listener(&mut f, "127.0.0.1", 3040, 8, false);
        let c = check(&f).expect("cause");
        assert!(
            c.evidence[0].contains("network namespace 2"),
            "{:?}",
            c.evidence
        );
    }
}
