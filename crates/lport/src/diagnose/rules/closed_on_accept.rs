//! `closed-on-accept`: the server accepts the connection and closes it without a byte, and
//! it is no known forwarder (that is `forwarder-dead-backend`): TCP wrappers, an
//! application's allowlist, a proxy of an unknown kind whose backend is down, a server
//! that rejects this client.

use super::cause;
use super::forwarder_dead_backend::{closed_on_accept, forwarder};
use crate::diagnose::{Cause, Facts, Severity};
use crate::probe::Greeting;

/// An address with a port in a command line (`127.0.0.1:3999`, `localhost:8080`,
/// `http://[::1]:9000/`), other than the listener's own port.
fn backend_in(cmdline: &[String], own_port: u16) -> Option<String> {
    cmdline.iter().skip(1).find_map(|arg| {
        // The value of `--opt=value`, or the argument itself; a URL's authority.
        let v = arg.rsplit_once('=').map_or(arg.as_str(), |(_, v)| v);
        let v = v.split_once("://").map_or(v, |(_, rest)| rest);
        let v = v.split('/').next().unwrap_or(v);
        let (host, port) = v.rsplit_once(':')?;
        let port: u16 = port.parse().ok()?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let hostish = host.eq_ignore_ascii_case("localhost")
            || host.parse::<std::net::IpAddr>().is_ok()
            || (host.contains('.')
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'));
        (hostish && port != own_port && port != 0).then(|| v.to_owned())
    })
}

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
    let holder = f.host_listeners().find(|s| s.accepts_addr(connected.addr));
    if let Some(s) = holder {
        evidence.push(format!("{} listens on {}", f.owner_text(s), s.local));
        // A forwarder of a kind lport does not know by name: where its command line says
        // it forwards to is the backend that does not answer.
        if let Some(backend) = s
            .owners
            .first()
            .and_then(|o| f.process(o.pid))
            .and_then(|p| backend_in(&p.cmdline, s.local.port))
        {
            evidence.push(format!(
                "its command line names {backend}: if it forwards there, that backend does not answer"
            ));
        }
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
        // A forwarder lport does not know by name, with its backend in its command line.
        f.processes[0].cmdline = vec![
            "python3".into(),
            "fwd.py".into(),
            "--to=127.0.0.1:3999".into(),
        ];
        let c = check(&f).expect("cause");
        assert!(
            c.evidence
                .iter()
                .any(|e| e.contains("names 127.0.0.1:3999")),
            "{c:?}"
        );
        assert_eq!(
            backend_in(&["x".into(), "http://[::1]:9000/api".into()], 80).as_deref(),
            Some("[::1]:9000")
        );
        assert_eq!(
            backend_in(&["x".into(), "--port=3100".into(), "a:b".into()], 3100),
            None
        );
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
