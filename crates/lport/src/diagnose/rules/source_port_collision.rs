//! `source-port-collision` (--listen): the bind fails because an outgoing connection uses
//! the port as its source port: the kernel handed it to a client from
//! `ip_local_port_range`, and no server holds it.

use super::cause;
use crate::diagnose::{Cause, Facts, Severity};
use crate::model::{Socket, State};

/// The port's sockets in this namespace for the target's protocol.
fn holders(f: &Facts) -> impl Iterator<Item = &Socket> {
    f.port_sockets
        .iter()
        .filter(|s| s.netns.host && s.proto == f.target.proto && s.local.port == f.target.port)
}

/// True when only connections (no listener, no bound socket) hold the port, and at least
/// one is not in TIME_WAIT.
pub(super) fn clients_only(f: &Facts) -> bool {
    let mut any = false;
    for s in holders(f) {
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
    if !clients_only(f) {
        return None;
    }
    let port = f.target.port;
    let conns: Vec<&Socket> = holders(f).filter(|s| s.state != State::TimeWait).collect();
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
        assert!(clients_only(&f));
        // A listener on the port makes it port-in-use instead.
        f.port_sockets[i].state = State::Listen;
        assert!(check(&f).is_none());
        assert!(!clients_only(&f));
    }
}
