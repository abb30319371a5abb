//! `nothing-listening`: no socket listens on the port, in any namespace.

use super::cause;
use crate::diagnose::{Cause, Facts, Mode, Severity};
use crate::model::State;

pub(super) fn check(f: &Facts) -> Option<Cause> {
    if f.target.mode != Mode::Connect || f.connected() || f.resolved.is_err() {
        return None;
    }
    // A server on a unix socket only: `unix-socket-only` says what listens, and where.
    if f.listeners().next().is_some()
        || !f.unix_services.is_empty()
        || !f.stopped_containers.is_empty()
    {
        return None;
    }
    let port = f.target.port;
    let mut evidence = vec![format!(
        "no {} socket listens on port {port} {}",
        f.target.proto, f.policy.words.listener_scope
    )];
    for a in &f.attempts {
        evidence.push(a.evidence());
    }
    evidence.extend(super::listener_ended::knocking(f));
    for s in f.port_sockets.iter().filter(|s| s.state == State::Bound) {
        evidence.push(format!(
            "{} is bound to {} but never called listen()",
            f.owner_text(s),
            s.local
        ));
    }
    cause(
        "nothing-listening",
        Severity::Error,
        format!("nothing listens on port {port}"),
        evidence,
        "start the service, or use the port it printed when it started",
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{attempt, facts, listener};
    use super::*;
    use crate::diagnose::Outcome;

    #[test]
    fn only_when_no_listener_anywhere() {
        let mut f = facts("localhost", 3000, Mode::Connect);
        attempt(&mut f, "127.0.0.1", Outcome::Refused);
        assert_eq!(check(&f).map(|c| c.id), Some("nothing-listening"));
        listener(&mut f, "::1", 3000, 7, true);
        assert!(check(&f).is_none(), "a listener elsewhere is another cause");
    }
}
