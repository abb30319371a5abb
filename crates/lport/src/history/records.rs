//! What the history holds, as plain values: the store writes and reads them, `why` and
//! `history` show them.

use serde::Serialize;

/// A listener lport saw open, and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListenerRecord {
    /// `tcp` or `udp`.
    pub proto: String,
    /// The listening address (no brackets).
    pub addr: String,
    /// The port.
    pub port: u16,
    /// The process that opened it (or held it when first seen).
    pub pid: u32,
    /// Its name.
    pub name: String,
    /// Its command line.
    pub cmdline: Vec<String>,
    /// Its executable.
    pub exe: Option<String>,
    /// Its working directory.
    pub cwd: Option<String>,
    /// Its user.
    pub user: Option<String>,
    /// Its systemd unit (or launchd label, Windows services).
    pub unit: Option<String>,
    /// Its container.
    pub container: Option<String>,
    /// When its process started (RFC 3339 UTC).
    pub started: Option<String>,
    /// When it was seen open (ms since the epoch).
    pub opened_ms: i64,
    /// How it was seen: `event` (the kernel said so), `poll`, or `start` (open when the
    /// recorder started).
    pub seen: String,
    /// When it closed, if it did.
    pub closed_ms: Option<i64>,
    /// How its process ended, if it did while recorded.
    pub ending: Option<EndRecord>,
}

/// How a process ended, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndRecord {
    /// When (ms since the epoch).
    pub at_ms: i64,
    /// `exited`, `killed`, `oom-killed`, or `gone` (it ended; polling cannot say how).
    pub kind: String,
    /// The exit status, for `exited`.
    pub code: Option<i32>,
    /// The signal that ended it (`killed`) or came just before it exited.
    pub signal: Option<i32>,
    /// Who sent that signal (0: the kernel).
    pub sender_pid: Option<u32>,
    /// The sender's name and command line, where they could be read.
    pub sender: Option<String>,
}

/// Connection attempts from one client to one address, with one outcome, in one minute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptRecord {
    /// The client process.
    pub pid: u32,
    /// Its name.
    pub name: String,
    /// Its command line.
    pub cmdline: Vec<String>,
    /// Its user.
    pub user: Option<String>,
    /// Where it tried to connect (no brackets).
    pub addr: String,
    /// The port.
    pub port: u16,
    /// `refused`, `timeout`, `failed` (or `connected`).
    pub outcome: String,
    /// How many times.
    pub count: u64,
    /// The first and last time (ms since the epoch).
    pub first_ms: i64,
    /// The last.
    pub last_ms: i64,
    /// How many processes of that name (each run of a client is a new pid); `pid` is the
    /// latest.
    pub processes: u64,
}

/// A process the kernel log says was killed or crashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KernelKill {
    /// When (ms since the epoch).
    pub at_ms: i64,
    /// The process.
    pub pid: u32,
    /// Its kernel name.
    pub name: String,
    /// `oom-killed` or `crashed`.
    pub kind: String,
    /// The log line.
    pub line: String,
}

/// Reads one kernel log line: `Out of memory: Killed process 1234 (python3) ...`,
/// `Memory cgroup out of memory: Killed process ...`, `python3[1234]: segfault at ...`,
/// `traps: python3[1234] general protection fault ...`.
#[must_use]
pub fn parse_kernel_kill(at_ms: i64, line: &str) -> Option<KernelKill> {
    if let Some(rest) = line.split("Killed process ").nth(1) {
        let (pid, rest) = rest.split_once(' ')?;
        let name = rest.strip_prefix('(')?.split(')').next()?;
        return Some(KernelKill {
            at_ms,
            pid: pid.parse().ok()?,
            name: name.to_owned(),
            kind: "oom-killed".into(),
            line: line.to_owned(),
        });
    }
    if line.contains("segfault at") || line.contains("general protection") {
        let head = line.strip_prefix("traps: ").unwrap_or(line);
        let (name, rest) = head.split_once('[')?;
        let pid = rest.split(']').next()?;
        return Some(KernelKill {
            at_ms,
            pid: pid.parse().ok()?,
            name: name.to_owned(),
            kind: "crashed".into(),
            line: line.to_owned(),
        });
    }
    None
}

/// What the past says about one port: the listener there last, how it ended, the
/// clients that kept trying, and what the kernel log adds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Past {
    /// Where it was read (the database, or "the kernel log").
    pub source: String,
    /// The last listener on the port that has closed (lport's own brief binds left out).
    pub last: Option<ListenerRecord>,
    /// Failed attempts to the port in the last hour, most frequent first.
    pub knocking: Vec<AttemptRecord>,
    /// A kernel log line about the last listener's process (or, with no record, about a
    /// process that usually serves this port).
    pub kernel: Option<KernelKill>,
    /// True when `kernel` matched by the usual service's name only, not the recorded pid.
    pub likely_only: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_log_lines() {
        let oom = parse_kernel_kill(5, "Memory cgroup out of memory: Killed process 4242 (python3) total-vm:1000kB, anon-rss:900kB").expect("oom");
        assert_eq!(
            (oom.pid, oom.name.as_str(), oom.kind.as_str()),
            (4242, "python3", "oom-killed")
        );
        let seg = parse_kernel_kill(
            5,
            "redis-server[77]: segfault at 0 ip 000055 sp 00007ff error 4 in redis-server",
        )
        .expect("segv");
        assert_eq!(
            (seg.pid, seg.name.as_str(), seg.kind.as_str()),
            (77, "redis-server", "crashed")
        );
        let gp = parse_kernel_kill(
            5,
            "traps: node[9] general protection fault ip:1 sp:2 error:0",
        )
        .expect("gp");
        assert_eq!((gp.pid, gp.name.as_str()), (9, "node"));
        assert_eq!(parse_kernel_kill(5, "eth0: link up"), None);
        assert_eq!(parse_kernel_kill(5, "Killed process x (y)"), None);
    }
}
