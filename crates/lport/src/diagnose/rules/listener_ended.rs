//! `listener-exited`, `listener-killed`, `listener-oom-killed`, `listener-closed`: nothing
//! listens now, but something did, and the history (or the kernel log) says how it went
//! away. The fix names the command that started it.

use super::cause;
use crate::diagnose::{Cause, Facts, Mode, Severity};
use crate::history::{KernelKill, ListenerRecord, signal_name};

/// `'a b'` for a word with spaces or quotes in it; other words as they are.
fn shell_word(w: &str) -> String {
    if !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c))
    {
        w.to_owned()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

/// How to start it again: its unit, its container, or its command in its directory.
fn restart(l: &ListenerRecord) -> String {
    if let Some(unit) = &l.unit
        && unit.ends_with(".service")
    {
        return format!("systemctl restart {unit}");
    }
    if let Some(c) = &l.container {
        return format!("docker start {c}");
    }
    if l.cmdline.is_empty() {
        return format!("start {} again", l.name);
    }
    let cmd: Vec<String> = l.cmdline.iter().map(|w| shell_word(w)).collect();
    match &l.cwd {
        Some(dir) => format!("cd {} && {}", shell_word(dir), cmd.join(" ")),
        None => cmd.join(" "),
    }
}

fn ago(now_ms: i64, at_ms: i64) -> String {
    let s = (now_ms - at_ms).max(0) / 1000;
    match s {
        s if s < 120 => format!("{s} s ago"),
        s if s < 7200 => format!("{} min ago", s / 60),
        s if s < 2 * 86400 => format!("{} h ago", s / 3600),
        s => format!("{} days ago", s / 86400),
    }
}

pub(super) fn check(f: &Facts) -> Option<Cause> {
    if f.target.mode != Mode::Connect || f.connected() || f.listeners().next().is_some() {
        return None;
    }
    let past = f.past.as_ref()?;
    let now_ms = (crate::history::now_ns() / 1_000_000) as i64;
    let Some(l) = &past.last else {
        return kernel_only(past.kernel.as_ref()?, f.target.port, now_ms);
    };
    let closed = l.closed_ms.unwrap_or(now_ms);
    let mut evidence = vec![format!(
        "{} listened on {} from {} to {} ({})",
        if l.pid == 0 {
            l.name.clone()
        } else {
            format!("{} (pid {})", l.name, l.pid)
        },
        if l.addr.contains(':') {
            format!("[{}]:{}", l.addr, l.port)
        } else {
            format!("{}:{}", l.addr, l.port)
        },
        crate::model::rfc3339_signed(l.opened_ms.div_euclid(1000)),
        crate::model::rfc3339_signed(closed.div_euclid(1000)),
        ago(now_ms, closed)
    )];
    if !l.cmdline.is_empty() {
        evidence.push(format!("its command: {}", l.cmdline.join(" ")));
    }
    if let Some(cwd) = &l.cwd {
        evidence.push(format!("its directory: {cwd}"));
    }
    if let Some(k) = past
        .kernel
        .as_ref()
        .filter(|_| l.ending.as_ref().is_none_or(|e| e.kind == "gone"))
    {
        evidence.push(format!("kernel log: {}", k.line));
    }
    let (id, summary, fix) = verdict(l, past.kernel.as_ref(), now_ms);
    evidence.push(format!("from {}", past.source));
    cause(id, Severity::Error, summary, evidence, fix)
}

/// No record of a listener: only the kernel log naming the program that usually serves
/// the port, said to be a likely link and no more.
fn kernel_only(k: &KernelKill, port: u16, now_ms: i64) -> Option<Cause> {
    let (id, what) = if k.kind == "oom-killed" {
        ("listener-oom-killed", "the kernel's OOM killer killed")
    } else {
        ("listener-exited", "the kernel log says it crashed:")
    };
    cause(
        id,
        Severity::Error,
        format!(
            "probably: {what} {} (pid {}) {}, which usually serves port {port}",
            k.name,
            k.pid,
            ago(now_ms, k.at_ms)
        ),
        vec![
            format!("kernel log: {}", k.line),
            "likely, not certain: no record ties that process to this port (`lport record` keeps one)".to_owned(),
        ],
        format!("start {} again; if memory ran out, raise its limit or lower its use first", k.name),
    )
}

/// The cause id, summary and fix for how the last listener went away.
fn verdict(
    l: &ListenerRecord,
    kernel: Option<&KernelKill>,
    now_ms: i64,
) -> (&'static str, String, String) {
    let who = if l.pid == 0 {
        l.name.clone()
    } else {
        format!("{} (pid {})", l.name, l.pid)
    };
    let closed = l.closed_ms.unwrap_or(now_ms);
    let again = restart(l);
    let from = |sender: Option<&str>| sender.map(|s| format!(" from {s}")).unwrap_or_default();
    match (l.ending.as_ref(), kernel) {
        (Some(e), _) if e.kind == "oom-killed" => (
            "listener-oom-killed",
            format!(
                "{who} listened here until the kernel's OOM killer killed it {}",
                ago(now_ms, e.at_ms)
            ),
            format!(
                "give it more memory (its cgroup's memory.max / memory.limit_in_bytes, docker --memory) or make it use less, then: {again}"
            ),
        ),
        (Some(e), _) if e.kind == "killed" => {
            let sig = e.signal.map_or_else(
                || "a signal".to_owned(),
                |s| format!("SIG{}", signal_name(s)),
            );
            (
                "listener-killed",
                format!(
                    "{who} listened here until it was killed by {sig}{} {}",
                    from(e.sender.as_deref()),
                    ago(now_ms, e.at_ms)
                ),
                format!("if that was not meant, find out why that sender stops it; then: {again}"),
            )
        }
        (Some(e), _) if e.kind == "exited" => {
            let status = e.code.map_or_else(
                || "exited".to_owned(),
                |c| format!("exited with status {c}"),
            );
            let after = e
                .signal
                .map(|s| format!(" after SIG{}{}", signal_name(s), from(e.sender.as_deref())))
                .unwrap_or_default();
            let hint = if e.code.unwrap_or(0) == 0 {
                ""
            } else {
                "read its output or log for why it failed, then "
            };
            (
                "listener-exited",
                format!(
                    "{who} listened here until it {status}{after} {}",
                    ago(now_ms, e.at_ms)
                ),
                format!("{hint}start it again: {again}"),
            )
        }
        (_, Some(k)) if k.kind == "oom-killed" => (
            "listener-oom-killed",
            format!(
                "{who} listened here until {}; the kernel log says the OOM killer killed it",
                ago(now_ms, closed)
            ),
            format!("give it more memory or make it use less, then: {again}"),
        ),
        (_, Some(_)) => (
            "listener-exited",
            format!(
                "{who} listened here until {}; the kernel log says it crashed",
                ago(now_ms, closed)
            ),
            format!("it crashed (see the kernel log line); start it again: {again}"),
        ),
        (Some(_), None) => (
            "listener-exited",
            format!(
                "{who} listened here until {}; its process is gone (how it ended was not seen without root)",
                ago(now_ms, closed)
            ),
            format!("start it again: {again}"),
        ),
        (None, None) => (
            "listener-closed",
            format!(
                "{who} listened here until {} and closed the port",
                ago(now_ms, closed)
            ),
            format!(
                "the program closed its listener (a shutdown, a reload that failed?): check it, or restart it: {again}"
            ),
        ),
    }
}

/// Evidence lines for clients that kept trying the port (used by `nothing-listening` and
/// the rules above).
pub(super) fn knocking(f: &Facts) -> Vec<String> {
    let Some(past) = &f.past else {
        return Vec::new();
    };
    past.knocking
        .iter()
        .map(|a| {
            let who = if a.processes > 1 {
                format!(
                    "{} ({} processes, the last pid {})",
                    a.name, a.processes, a.pid
                )
            } else {
                format!("{} (pid {})", a.name, a.pid)
            };
            let mins = ((a.last_ms - a.first_ms) / 60_000).max(1);
            format!(
                "{who} tried {} time(s) in {mins} min, {} ({})",
                a.count, a.outcome, past.source
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{attempt, facts, listener};
    use super::*;
    use crate::diagnose::Outcome;
    use crate::history::{AttemptRecord, EndRecord, Past};

    fn last(ending: Option<EndRecord>) -> ListenerRecord {
        let now = (crate::history::now_ns() / 1_000_000) as i64;
        ListenerRecord {
            proto: "tcp".into(),
            addr: "127.0.0.1".into(),
            port: 3000,
            pid: 42,
            name: "python3".into(),
            cmdline: vec![
                "python3".into(),
                "app.py".into(),
                "--name".into(),
                "my app".into(),
            ],
            exe: None,
            cwd: Some("/srv/app".into()),
            user: None,
            unit: None,
            container: None,
            started: None,
            opened_ms: now - 600_000,
            seen: "event".into(),
            closed_ms: Some(now - 60_000),
            ending,
        }
    }

    fn end(kind: &str, code: Option<i32>, signal: Option<i32>) -> EndRecord {
        EndRecord {
            at_ms: (crate::history::now_ns() / 1_000_000) as i64 - 60_000,
            kind: kind.into(),
            code,
            signal,
            sender_pid: signal.map(|_| 7),
            sender: signal.map(|_| "kill (pid 7) (kill -9 42)".into()),
        }
    }

    fn with(past: Past) -> Facts {
        let mut f = facts("127.0.0.1", 3000, Mode::Connect);
        attempt(&mut f, "127.0.0.1", Outcome::Refused);
        f.past = Some(past);
        f
    }

    #[test]
    fn each_ending_has_its_id_and_the_restart_command() {
        for (ending, id, words) in [
            (
                Some(end("exited", Some(3), None)),
                "listener-exited",
                "exited with status 3",
            ),
            (
                Some(end("killed", None, Some(9))),
                "listener-killed",
                "killed by SIGKILL from kill (pid 7)",
            ),
            (
                Some(end("oom-killed", None, Some(9))),
                "listener-oom-killed",
                "OOM killer",
            ),
            (
                Some(end("gone", None, None)),
                "listener-exited",
                "its process is gone",
            ),
            (None, "listener-closed", "closed the port"),
        ] {
            let f = with(Past {
                source: "/db".into(),
                last: Some(last(ending)),
                ..Past::default()
            });
            let c = check(&f).expect("a cause");
            assert_eq!(c.id, id);
            assert!(c.summary.contains(words), "{}", c.summary);
            assert!(
                c.fix
                    .contains("cd /srv/app && python3 app.py --name 'my app'"),
                "{}",
                c.fix
            );
            assert!(
                c.evidence
                    .iter()
                    .any(|e| e.contains("python3 (pid 42) listened on 127.0.0.1:3000"))
            );
        }
    }

    #[test]
    fn the_kernel_log_explains_an_ending_polling_could_not_see() {
        let kill = KernelKill {
            at_ms: 0,
            pid: 42,
            name: "python3".into(),
            kind: "oom-killed".into(),
            line: "Out of memory: Killed process 42 (python3)".into(),
        };
        let f = with(Past {
            source: "/db".into(),
            last: Some(last(Some(end("gone", None, None)))),
            kernel: Some(kill.clone()),
            likely_only: false,
            ..Past::default()
        });
        assert_eq!(check(&f).map(|c| c.id), Some("listener-oom-killed"));
        // With no record at all, the usual program's kill is a likely link, said as such.
        let f = with(Past {
            source: "the kernel log".into(),
            kernel: Some(kill),
            likely_only: true,
            ..Past::default()
        });
        let c = check(&f).expect("a cause");
        assert!(c.summary.starts_with("probably"), "{}", c.summary);
    }

    #[test]
    fn not_when_something_listens_now_and_knockers_are_counted() {
        let mut f = with(Past {
            source: "/db".into(),
            last: Some(last(None)),
            ..Past::default()
        });
        f.past.as_mut().expect("past").knocking.push(AttemptRecord {
            pid: 9,
            name: "curl".into(),
            cmdline: vec![],
            user: None,
            addr: "127.0.0.1".into(),
            port: 3000,
            outcome: "refused".into(),
            count: 37,
            first_ms: 0,
            last_ms: 120_000,
            processes: 37,
        });
        assert_eq!(
            knocking(&f),
            ["curl (37 processes, the last pid 9) tried 37 time(s) in 2 min, refused (/db)"]
        );
        listener(&mut f, "127.0.0.1", 3000, 5, true);
        assert!(check(&f).is_none());
    }
}
