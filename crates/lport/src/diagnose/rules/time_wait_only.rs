//! `time-wait-only` (--listen): only connections in TIME_WAIT hold the port. A server that
//! sets SO_REUSEADDR (most do, and lport's own test bind did) binds anyway; one that does
//! not fails with "address in use" until they expire.

use super::cause;
use crate::diagnose::{Cause, Facts, Mode, Severity};
use crate::model::State;

/// How long Linux keeps a closed connection in TIME_WAIT (TCP_TIMEWAIT_LEN).
const TIME_WAIT_SECS: u32 = 60;

pub(super) fn check(f: &Facts) -> Option<Cause> {
    if f.target.mode != Mode::Listen {
        return None;
    }
    let port = f.target.port;
    let on_port: Vec<_> = f
        .port_sockets
        .iter()
        .filter(|s| s.netns.host && s.proto == f.target.proto && s.local.port == port)
        // Only what stands in the way of the binds tried: 127.0.10.1:P is not 127.0.0.1:P.
        .filter(|s| {
            f.binds.is_empty()
                || f.binds
                    .iter()
                    .any(|b| s.blocks_bind(crate::model::Endpoint::from(b.addr), None))
        })
        .collect();
    if on_port.is_empty() || on_port.iter().any(|s| s.state != State::TimeWait) {
        return None;
    }
    let n = on_port.len();
    let bound = !f.binds.is_empty() && f.binds.iter().all(|b| b.error.is_none());
    let mut evidence = vec![format!(
        "{n} connection{} in TIME_WAIT on port {port}, held by no process",
        if n == 1 { "" } else { "s" }
    )];
    if bound {
        evidence.push(format!(
            "lport's own bind with SO_REUSEADDR succeeded on {}",
            f.binds
                .iter()
                .map(|b| b.addr.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    cause(
        "time-wait-only",
        if bound {
            Severity::Warning
        } else {
            Severity::Error
        },
        format!(
            "only TIME_WAIT connections hold port {port}: they expire within {TIME_WAIT_SECS} s of closing; a server that sets SO_REUSEADDR binds now, one that does not fails until then"
        ),
        evidence,
        "set SO_REUSEADDR before bind (Python: sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); Node, Go and Rust set it already), or wait a minute",
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{facts, listener};
    use super::*;
    use crate::diagnose::facts::BindTry;

    #[test]
    fn only_time_wait_holds_it() {
        let mut f = facts("127.0.0.1", 41000, Mode::Listen);
        f.binds.push(BindTry {
            addr: "127.0.0.1:41000".parse().expect("addr"),
            error: None,
        });
        assert!(check(&f).is_none(), "nothing holds it");
        for _ in 0..3 {
            let i = listener(&mut f, "127.0.0.1", 41000, 7, true);
            f.port_sockets[i].state = State::TimeWait;
            f.port_sockets[i].owners.clear();
        }
        let c = check(&f).expect("cause");
        assert_eq!(c.severity, Severity::Warning);
        assert!(
            c.evidence[0].starts_with("3 connections in TIME_WAIT"),
            "{c:?}"
        );
        let i = listener(&mut f, "127.0.0.1", 41000, 7, true);
        assert_eq!(f.port_sockets[i].state, State::Listen);
        assert!(check(&f).is_none(), "a listener is port-in-use's");
    }
}
