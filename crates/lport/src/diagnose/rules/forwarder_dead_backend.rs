//! `forwarder-dead-backend`: a forwarder (socat, docker-proxy, ssh -L, kubectl
//! port-forward, ...) accepts the connection, then closes it: its backend is not there.

use super::cause;
use crate::diagnose::{Cause, Facts, Severity};
use crate::model::{Process, Socket};
use crate::probe::Greeting;

const FORWARDERS: &[&str] = &[
    "socat",
    "docker-proxy",
    "rootlessport",
    "pasta",
    "slirp4netns",
    "ssh",
    "kubectl",
    "wslrelay",
    "com.docker.backend",
    "gvproxy",
    "vpnkit",
    "haproxy",
];

/// The connection was accepted and closed (or reset) without a byte, also after an HTTP
/// request: what both this rule and `closed-on-accept` start from.
pub(super) fn closed_on_accept(f: &Facts) -> bool {
    f.connected()
        && f.http_answered != Some(true)
        && matches!(f.greeting, Some(Greeting::Closed | Greeting::Reset))
}

/// The listener taking the target and its process, when that process is a forwarder: a
/// known one by name, or any holder of a port the OS itself forwards (Windows portproxy).
pub(super) fn forwarder(f: &Facts) -> Option<(&Socket, &Process)> {
    let addrs = f.resolved.as_ref().ok()?;
    f.host_listeners()
        .filter(|s| addrs.iter().any(|a| s.accepts_addr(*a)))
        .find_map(|s| {
            let p = s
                .owners
                .iter()
                .filter_map(|o| f.process(o.pid))
                .find(|p| FORWARDERS.contains(&p.name.as_str()) || !f.forwards.is_empty())?;
            Some((s, p))
        })
}

pub(super) fn check(f: &Facts) -> Option<Cause> {
    if !closed_on_accept(f) {
        return None;
    }
    let (s, p) = forwarder(f)?;
    let target = p
        .container
        .clone()
        .or_else(|| {
            // socat's last argument names where it forwards to.
            (p.name == "socat")
                .then(|| p.cmdline.last().cloned())
                .flatten()
        })
        .or_else(|| f.forwards.first().cloned());
    cause(
        "forwarder-dead-backend",
        Severity::Error,
        format!(
            "{} (pid {}) accepts on {} but closes every connection: nothing answers behind it",
            p.name, p.pid, s.local
        ),
        vec![
            format!("{} holds {}", p.name, s.local),
            "the connection is accepted, then closed at once without a byte".into(),
            format!(
                "it forwards to {}",
                target
                    .as_deref()
                    .unwrap_or("an address in its command line")
            ),
            format!("command: {}", p.cmdline.join(" ")),
        ],
        "start the backend the forwarder points at (inside a container: make the app listen on 0.0.0.0, not 127.0.0.1), or fix the forwarder's target",
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{attempt, facts, ip, listener};
    use super::*;
    use crate::diagnose::{Mode, Outcome};

    #[test]
    fn socat_that_closes() {
        let mut f = facts("127.0.0.1", 3100, Mode::Connect);
        f.resolved = Ok(vec![ip("127.0.0.1")]);
        attempt(&mut f, "127.0.0.1", Outcome::Connected);
        listener(&mut f, "127.0.0.1", 3100, 4, true);
        f.processes[0].name = "socat".into();
        f.processes[0].cmdline = vec![
            "socat".into(),
            "TCP-LISTEN:3100,fork".into(),
            "TCP:127.0.0.1:3999".into(),
        ];
        f.greeting = Some(Greeting::Closed);
        f.http_answered = Some(false);
        let c = check(&f).expect("cause");
        assert!(
            c.evidence.iter().any(|e| e.contains("TCP:127.0.0.1:3999")),
            "{:?}",
            c.evidence
        );
        f.greeting = Some(Greeting::Silent);
        assert!(check(&f).is_none());
    }

    #[test]
    fn a_configured_forward_makes_any_holder_a_forwarder() {
        let mut f = facts("127.0.0.1", 3100, Mode::Connect);
        f.resolved = Ok(vec![ip("127.0.0.1")]);
        attempt(&mut f, "127.0.0.1", Outcome::Connected);
        listener(&mut f, "127.0.0.1", 3100, 4, true);
        f.processes[0].name = "svchost".into();
        f.greeting = Some(Greeting::Closed);
        f.http_answered = Some(false);
        assert!(check(&f).is_none(), "svchost is no forwarder by itself");
        f.forwards =
            vec!["netsh interface portproxy forwards 127.0.0.1:3100 to 172.28.1.5:3000".into()];
        let c = check(&f).expect("cause");
        assert!(
            c.evidence.iter().any(|e| e.contains("172.28.1.5:3000")),
            "{:?}",
            c.evidence
        );
    }
}
