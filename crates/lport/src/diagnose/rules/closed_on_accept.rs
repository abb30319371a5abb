//! `closed-on-accept`: the server accepts the connection and closes it without a byte, and
//! it is no known forwarder (that is `forwarder-dead-backend`): TCP wrappers, an
//! application's allowlist, a proxy of an unknown kind whose backend is down, a server
//! that rejects this client.

use super::cause;
use super::forwarder_dead_backend::{closed_on_accept, forwarder};
use crate::diagnose::facts::accepts;
use crate::diagnose::{Cause, Facts, Severity};
use crate::probe::Greeting;

pub(super) fn check(f: &Facts) -> Option<Cause> {
    if !closed_on_accept(f) || forwarder(f).is_some() {
        return None;
    }
    let connected = f
        .attempts
        .iter()
        .find(|a| a.outcome == crate::diagnose::Outcome::Connected)?;
    let how = if f.greeting == Some(Greeting::Reset) {
        "reset"
    } else {
        "closed"
    };
    let mut evidence = vec![format!(
        "connect to {} -> accepted, then {how} at once without a byte",
        std::net::SocketAddr::new(connected.addr, connected.port)
    )];
    if f.http_answered == Some(false) {
        evidence.push("an HTTP request on a fresh connection got no reply either".into());
    }
    let holder = f.host_listeners().find(|s| accepts(s, connected.addr));
    if let Some(s) = holder {
        evidence.push(format!("{} listens on {}", f.owner_text(s), s.local));
    }
    let who = holder.map_or_else(|| "the server".to_owned(), |s| f.owner_text(s));
    cause(
        "closed-on-accept",
        Severity::Error,
        format!(
            "port {} accepts connections and closes them at once: {who} turns this client away",
            f.target.port
        ),
        evidence,
        "look at the server's log for why it drops the connection: an allowlist of client addresses (TCP wrappers: /etc/hosts.allow and /etc/hosts.deny), a connection limit, or a proxy whose backend is down",
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{attempt, facts, ip, listener};
    use super::*;
    use crate::diagnose::{Mode, Outcome};

    #[test]
    fn closes_without_a_word_and_is_no_forwarder() {
        let mut f = facts("127.0.0.1", 3100, Mode::Connect);
        f.resolved = Ok(vec![ip("127.0.0.1")]);
        attempt(&mut f, "127.0.0.1", Outcome::Connected);
        listener(&mut f, "127.0.0.1", 3100, 4, true);
        f.processes[0].name = "python3".into();
        f.greeting = Some(Greeting::Closed);
        f.http_answered = Some(false);
        let c = check(&f).expect("cause");
        assert_eq!(c.id, "closed-on-accept");
        assert!(c.evidence.iter().any(|e| e.contains("python3")), "{c:?}");
        // A known forwarder is the other rule's.
        f.processes[0].name = "socat".into();
        assert!(check(&f).is_none());
        // Talking servers, and ones that answer HTTP, are not this.
        f.processes[0].name = "python3".into();
        f.http_answered = Some(true);
        assert!(check(&f).is_none());
        f.http_answered = Some(false);
        f.greeting = Some(Greeting::Silent);
        assert!(check(&f).is_none());
    }
}
