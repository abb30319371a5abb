//! `source-port-collision` (--listen): the bind fails because an outgoing connection uses
//! the port as its source port: the kernel handed it to a client from
//! `ip_local_port_range`, and no server holds it.

use super::cause;
use crate::diagnose::facts::BindTry;
use crate::diagnose::{Cause, Facts, Severity};
use crate::model::{Socket, State};

/// True when only connections (no listener, no bound socket) hold what the failed bind
/// asked for, and at least one is not in TIME_WAIT.
pub(super) fn clients_only(f: &Facts, failed: &BindTry) -> bool {
    let mut any = false;
    for s in super::bind_holders(f, failed) {
        match s.state {
            State::Listen | State::Bound | State::Unconn => return false,
            State::TimeWait => {}
            _ => any = true,
        }
    }
    any
}

pub(super) fn check(f: &Facts) -> Option<Cause> {
    let failed = super::bind_in_use(f)?;
    if !clients_only(f, failed) {
        return None;
    }
    let port = f.target.port;
    let conns: Vec<&Socket> = super::bind_holders(f, failed)
        .filter(|s| s.state != State::TimeWait)
        .collect();
    let first = conns.first()?;
    let to = |s: &Socket| s.remote.map_or_else(|| "?".to_owned(), |r| r.to_string());
    let mut evidence = vec![format!("bind {} -> address already in use", failed.addr)];
    evidence.extend(conns.iter().map(|s| {
        format!(
            "{} connects from {} to {} ({})",
            f.owner_text(s),
            s.local,
            to(s),
            s.state
        )
    }));
    let eph = &f.policy.ephemeral;
    if eph.contains(&port) {
        evidence.push(format!(
            "{port} is inside the ephemeral range {}-{} ({}), which the kernel hands to clients",
            eph.start(),
            eph.end(),
            f.policy.words.ephemeral_setting
        ));
    }
    let reserve = f.policy.words.reserve(port).map_or_else(String::new, |c| {
        format!(", or reserve it so clients never get it: {c}")
    });
    cause(
        "source-port-collision",
        Severity::Error,
        format!(
            "port {port} is the source port of an outgoing connection: {} connects from {} to {}",
            f.owner_text(first),
            first.local,
            to(first)
        ),
        evidence,
        format!(
            "give the server a port outside the ephemeral range (lport free picks one){reserve}; the port frees when that connection closes"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{facts, listener};
    use super::*;
    use crate::diagnose::Mode;
    use crate::diagnose::facts::BindTry;
    use crate::model::Endpoint;

    #[test]
    fn an_outgoing_connection_holds_the_port() {
        let mut f = facts("127.0.0.1", 40000, Mode::Listen);
        f.binds.push(BindTry {
            addr: "127.0.0.1:40000".parse().expect("addr"),
            error: Some((std::io::ErrorKind::AddrInUse, "in use".into())),
        });
        let i = listener(&mut f, "127.0.0.1", 40000, 7, true);
        f.port_sockets[i].state = State::Established;
        f.port_sockets[i].remote = Some(Endpoint::new("127.0.0.1".parse().expect("ip"), 5432));
        let c = check(&f).expect("cause");
        assert!(c.summary.contains("127.0.0.1:5432"), "{c:?}");
        assert!(c.fix.contains("ip_local_reserved_ports=40000"), "{c:?}");
        assert!(clients_only(&f, &f.binds[0]));
        // A listener on the port makes it port-in-use instead.
        f.port_sockets[i].state = State::Listen;
        assert!(check(&f).is_none());
        assert!(!clients_only(&f, &f.binds[0]));
    }

    #[test]
    fn listeners_on_other_addresses_do_not_hold_the_bind() {
        let mut f = facts("127.0.0.1", 40000, Mode::Listen);
        f.binds.push(BindTry {
            addr: "127.0.0.1:40000".parse().expect("addr"),
            error: Some((std::io::ErrorKind::AddrInUse, "in use".into())),
        });
        let c = listener(&mut f, "127.0.0.1", 40000, 7, true);
        f.port_sockets[c].state = State::Established;
        f.port_sockets[c].remote = Some(Endpoint::new("127.0.0.1".parse().expect("ip"), 5432));
        // A v6-only [::1] listener and listeners on other loopback addresses share the
        // number, not the address: the client alone holds 127.0.0.1:40000.
        let v6 = listener(&mut f, "::1", 40000, 8, true);
        f.port_sockets[v6].v6only = Some(true);
        listener(&mut f, "127.0.10.1", 40000, 9, true);
        listener(&mut f, "127.0.10.2", 40000, 9, true);
        let cause = check(&f).expect("source-port-collision");
        assert_eq!(cause.id, "source-port-collision");
        assert!(super::super::port_in_use::check(&f).is_none());
        // A dual-stack [::] listener does hold it: port-in-use, naming that listener only.
        let dual = listener(&mut f, "::", 40000, 10, true);
        f.port_sockets[dual].v6only = Some(false);
        assert!(check(&f).is_none());
        let taken = super::super::port_in_use::check(&f).expect("port-in-use");
        let text = taken.evidence.join("\n");
        assert!(text.contains("[::]:40000"), "{text}");
        assert!(
            !text.contains("127.0.10.1") && !text.contains("[::1]"),
            "{text}"
        );
    }
}
