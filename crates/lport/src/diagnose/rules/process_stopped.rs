//! `process-stopped`: the listener's process is stopped (Ctrl-Z, SIGSTOP) or held by a
//! debugger, so the kernel completes handshakes but nobody answers.

use super::cause;
use crate::diagnose::{Cause, Facts, Severity};

pub(super) fn check(f: &Facts) -> Option<Cause> {
    let addrs = f.resolved.as_ref().ok()?;
    for s in f
        .host_listeners()
        .filter(|s| addrs.iter().any(|a| s.accepts_addr(*a)))
    {
        let stopped: Vec<_> = s
            .owners
            .iter()
            .filter_map(|o| f.process(o.pid))
            .filter(|p| p.state == "T" || p.state == "t")
            .collect();
        if stopped.is_empty() || stopped.len() < s.owners.len() {
            continue;
        }
        let p = stopped[0];
        let traced = p.state == "t";
        // SO_REUSEPORT: several listening sockets on one address and port; the kernel
        // spreads connections over them, and those it gives the stopped one hang.
        let group = f
            .host_listeners()
            .filter(|x| x.local == s.local && x.proto == s.proto)
            .count();
        let mut evidence = vec![
            format!(
                "process state {} ({})",
                p.state,
                if traced {
                    "tracing stop"
                } else {
                    "stopped by a signal"
                }
            ),
            format!(
                "{} connection(s) wait in its accept queue (a stopped process accepts none: every connection since it stopped stays queued, lport's own included, until it resumes)",
                s.recv_q
            ),
        ];
        if group > 1 {
            evidence.push(format!(
                "it is one of {group} SO_REUSEPORT listeners on {}: connections the kernel hands to it hang, the others are served",
                s.local
            ));
        }
        return cause(
            "process-stopped",
            Severity::Error,
            format!(
                "{} (pid {}) holds {} but is {}",
                p.name,
                p.pid,
                s.local,
                if traced {
                    "stopped by a debugger"
                } else {
                    "stopped"
                }
            ),
            evidence,
            if traced {
                "continue the program in the debugger (it sits at a breakpoint)".to_owned()
            } else {
                format!("resume it: kill -CONT {} (or fg in its shell)", p.pid)
            },
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{facts, ip, listener};
    use super::*;
    use crate::diagnose::Mode;

    #[test]
    fn a_stopped_owner() {
        let mut f = facts("127.0.0.1", 3000, Mode::Connect);
        f.resolved = Ok(vec![ip("127.0.0.1")]);
        listener(&mut f, "127.0.0.1", 3000, 42, true);
        assert!(check(&f).is_none());
        f.processes[0].state = "T".into();
        let c = check(&f).expect("cause");
        assert!(c.fix.contains("kill -CONT 42"), "{}", c.fix);
    }
}
