//! `backlog-full`: the listener's accept queue is full, so new SYNs are dropped: the
//! application is not calling accept() fast enough.

use super::cause;
use crate::diagnose::{Cause, Facts, Severity};
use crate::model::Proto;

pub(super) fn check(f: &Facts) -> Option<Cause> {
    if let Some(u) = &f.unix {
        return unix(u);
    }
    if f.target.proto != Proto::Tcp {
        return None;
    }
    let addrs = f.resolved.as_ref().ok()?;
    // A stopped process fills its queue with every connection, lport's own included:
    // `process-stopped` names that, the real cause.
    if super::server_out_of_fds::applies(f) {
        // The queue fills because accept() fails: that cause names it.
        return None;
    }
    let s = f
        .host_listeners()
        .filter(|s| addrs.iter().any(|a| s.accepts_addr(*a)))
        .filter(|s| !super::all_owners_stopped(f, s))
        .find(|s| s.recv_q > 0 && s.recv_q > s.send_q)?;
    cause(
        "backlog-full",
        Severity::Error,
        format!(
            "the accept queue of {} is full ({} waiting, backlog {})",
            s.local, s.recv_q, s.send_q
        ),
        vec![
            format!(
                "{} has {} connections waiting to be accepted; its backlog is {}",
                s.local, s.recv_q, s.send_q
            ),
            format!("held by {}", f.owner_text(s)),
            "with a full queue the kernel drops new SYNs: clients time out".into(),
        ],
        "the application does not call accept() (it is blocked, hung or overloaded): look at what it is doing; raise the backlog only for bursts",
    )
}

/// A unix socket whose connect waited past the timeout: its accept queue is full (a
/// non-blocking connect says so at once, and did until the deadline).
fn unix(u: &crate::diagnose::facts::UnixFacts) -> Option<Cause> {
    let (kind, err) = u.connect_error.as_ref()?;
    if *kind != std::io::ErrorKind::TimedOut {
        return None;
    }
    let mut evidence = vec![format!("connect to {} -> {err}", u.path)];
    if u.listening == Some(true) {
        evidence.push(format!("a socket listens on {}", u.path));
    }
    cause(
        "backlog-full",
        Severity::Error,
        format!("the accept queue of {} is full", u.path),
        evidence,
        "the server does not call accept() (it is blocked, hung or overloaded): look at what it is doing; raise its listen() backlog only for bursts",
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{facts, ip, listener};
    use super::*;
    use crate::diagnose::Mode;

    #[test]
    fn queue_above_backlog() {
        let mut f = facts("127.0.0.1", 3000, Mode::Connect);
        f.resolved = Ok(vec![ip("127.0.0.1")]);
        let i = listener(&mut f, "127.0.0.1", 3000, 4, true);
        f.port_sockets[i].send_q = 1;
        f.port_sockets[i].recv_q = 1;
        assert!(check(&f).is_none());
        f.port_sockets[i].recv_q = 2;
        assert_eq!(check(&f).map(|c| c.id), Some("backlog-full"));
    }
}
