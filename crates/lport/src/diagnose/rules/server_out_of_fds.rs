//! `server-out-of-fds`: the listening process has as many descriptors open as its soft
//! `RLIMIT_NOFILE` allows, so its `accept()` fails with EMFILE: connections complete in the
//! kernel and wait in the backlog (or time out once it is full) while the server looks up.

use super::cause;
use crate::diagnose::{Cause, Facts, Severity};

pub(super) fn check(f: &Facts) -> Option<Cause> {
    let addrs = f.resolved.as_ref().ok()?;
    let listener = f
        .host_listeners()
        .filter(|s| addrs.iter().any(|a| s.accepts_addr(*a)))
        .find(|s| s.owners.iter().any(|o| out_of_fds(f, o.pid).is_some()))?;
    let (pid, usage) = listener.owners.iter().find_map(|o| out_of_fds(f, o.pid))?;
    let name = f.process(pid).map_or("?", |p| p.name.as_str());
    let kinds: Vec<String> = usage
        .kinds
        .iter()
        .take(3)
        .map(|(k, n)| format!("{k}: {n}"))
        .collect();
    let mut evidence = vec![
        format!(
            "{name} (pid {pid}) has {} descriptors open; its soft limit (RLIMIT_NOFILE) is {}",
            usage.open, usage.limit
        ),
        format!("by kind, {}", kinds.join(", ")),
    ];
    if listener.recv_q > 0 {
        evidence.push(format!(
            "{} connection(s) wait in the accept queue of {}: accept() fails with EMFILE",
            listener.recv_q, listener.local
        ));
    }
    let sockets = usage
        .kinds
        .iter()
        .find(|(k, _)| *k == "sockets")
        .map_or(0, |(_, n)| *n);
    let leak = if sockets * 2 > usage.open {
        " Most are sockets: connections it never closes (CLOSE_WAIT in `lport ls -a --pid PID`) are a leak to fix first."
    } else {
        ""
    };
    cause(
        "server-out-of-fds",
        Severity::Error,
        format!(
            "{name} (pid {pid}) is out of file descriptors ({} of {}): it cannot accept connections on {}",
            usage.open, usage.limit, listener.local
        ),
        evidence,
        format!(
            "raise its limit (systemd: LimitNOFILE= in the unit; a shell: ulimit -n 65536 before starting it; a running process: prlimit --pid {pid} --nofile=65536) and restart it, or find what it leaks.{leak}"
        ),
    )
}

/// The process's descriptor use, when it is at its limit.
fn out_of_fds(f: &Facts, pid: u32) -> Option<(u32, &crate::sys::FdUsage)> {
    f.fd_usage
        .iter()
        .find(|(p, u)| *p == pid && u.limit > 0 && u.open >= u.limit)
        .map(|(p, u)| (*p, u))
}

/// A listener's process at its descriptor limit: other rules about a silent or full
/// listener leave it to this one.
pub(super) fn applies(f: &Facts) -> bool {
    check(f).is_some()
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{attempt, facts, listener};
    use super::*;
    use crate::diagnose::{Mode, Outcome};
    use crate::sys::FdUsage;

    #[test]
    fn a_listener_at_its_descriptor_limit() {
        let mut f = facts("127.0.0.1", 8080, Mode::Connect);
        attempt(&mut f, "127.0.0.1", Outcome::Connected);
        f.resolved = Ok(vec![crate::diagnose::rules::fixture::ip("127.0.0.1")]);
        listener(&mut f, "127.0.0.1", 8080, 42, true);
        let usage = |open| FdUsage {
            limit: 64,
            open,
            kinds: vec![("sockets", open - 4), ("files", 4)],
        };
        f.fd_usage = vec![(42, usage(10))];
        assert!(check(&f).is_none(), "room left");
        f.fd_usage = vec![(42, usage(64))];
        let c = check(&f).expect("cause");
        assert!(c.summary.contains("(64 of 64)"), "{c:?}");
        assert!(c.evidence[1].contains("sockets: 60"), "{c:?}");
        assert!(
            c.fix.contains("LimitNOFILE") && c.fix.contains("leak"),
            "{c:?}"
        );
    }
}
