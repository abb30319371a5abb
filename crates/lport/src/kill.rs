//! Freeing a port: find every process holding a listener on it, decide which of them may be
//! signalled, signal them (SIGTERM, then SIGKILL after a grace period), and check the port
//! is free afterwards — or say why not.
//!
//! Planning and verifying are separate from signalling so the caller can show the plan and
//! ask before anything happens. Clients that merely use the port as their source port are
//! left alone unless asked for.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::inventory::{Query, StateSet};
use crate::model::{Process, Proto, Socket, State};
use crate::target::Target;

/// A signal lport can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGHUP.
    Hup,
    /// SIGINT.
    Int,
    /// SIGQUIT.
    Quit,
    /// SIGKILL: cannot be caught.
    Kill,
    /// SIGUSR1.
    Usr1,
    /// SIGUSR2.
    Usr2,
    /// SIGTERM: asks the process to exit.
    Term,
    /// SIGCONT: resumes a stopped process (sent after TERM to one, so it can act on it;
    /// never chosen with `--signal`, as resuming is no way to free a port).
    Cont,
}

impl Signal {
    /// The Linux signal number.
    #[must_use]
    pub fn number(self) -> i32 {
        match self {
            Signal::Hup => 1,
            Signal::Int => 2,
            Signal::Quit => 3,
            Signal::Kill => 9,
            Signal::Usr1 => 10,
            Signal::Usr2 => 12,
            Signal::Term => 15,
            Signal::Cont => 18,
        }
    }

    /// Whether this platform can deliver it: Windows has no signals, only ending a process
    /// (TERM and KILL).
    #[must_use]
    pub fn available(self) -> bool {
        crate::sys::signal_available(self)
    }

    /// Parses `TERM`, `SIGTERM`, `term` or `15`.
    pub fn parse(s: &str) -> std::result::Result<Signal, String> {
        let all = [
            Signal::Hup,
            Signal::Int,
            Signal::Quit,
            Signal::Kill,
            Signal::Usr1,
            Signal::Usr2,
            Signal::Term,
        ];
        let up = s.trim().to_ascii_uppercase();
        let name = up.strip_prefix("SIG").unwrap_or(&up);
        all.into_iter()
            .find(|sig| sig.name() == name || sig.number().to_string() == name)
            .ok_or_else(|| {
                format!("unknown signal {s:?}; use TERM, INT, HUP, QUIT, KILL, USR1 or USR2")
            })
    }

    /// The name without `SIG`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Signal::Hup => "HUP",
            Signal::Int => "INT",
            Signal::Quit => "QUIT",
            Signal::Kill => "KILL",
            Signal::Usr1 => "USR1",
            Signal::Usr2 => "USR2",
            Signal::Term => "TERM",
            Signal::Cont => "CONT",
        }
    }
}

impl Signal {
    /// What sending this signal does on this platform, as a plan and its results say it:
    /// `SIGTERM` where signals exist; where they do not (Windows), `close` for TERM (its
    /// windows get `WM_CLOSE`, a console program alone on its console Ctrl-C; one with
    /// neither is terminated at once) and `terminate` for KILL (`TerminateProcess`).
    #[must_use]
    pub fn action(self) -> String {
        match (crate::sys::NO_SIGNALS, self) {
            (true, Signal::Kill) => "terminate".to_owned(),
            (true, _) => "close".to_owned(),
            (false, _) => self.to_string(),
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIG{}", self.name())
    }
}

/// A process that may be signalled, with the sockets it holds on the targets.
#[derive(Debug, Clone)]
pub struct Victim {
    /// The process.
    pub process: Process,
    /// Its sockets on the targets.
    pub sockets: Vec<Socket>,
    /// The service to stop through the service manager instead of signalling (Windows: a
    /// service's process is not killed, its manager is asked to stop it).
    pub service: Option<String>,
    /// The container to stop through its engine instead of signalling: a `docker-proxy`
    /// publishes it, and ending the proxy would leave the container running unpublished.
    pub container: Option<crate::containers::Container>,
}

/// What to do with a holder that runs as a service.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ServiceAction {
    /// Not a service, or one whose manager lets its process be signalled (systemd,
    /// launchd: they restart it or not, and `explain_holder` says which).
    Signal,
    /// Ask the service manager to stop this one service.
    Stop(String),
    /// The process hosts several services: ending it would stop them all.
    Spare(String),
}

fn service_action(
    unit: Option<&str>,
    manager_stops: bool,
    pid: u32,
    port: u16,
    socket_service: impl FnOnce() -> Option<String>,
) -> ServiceAction {
    let Some(unit) = unit.filter(|_| manager_stops) else {
        return ServiceAction::Signal;
    };
    let names: Vec<&str> = unit.split(", ").filter(|n| !n.is_empty()).collect();
    match names.as_slice() {
        [] => ServiceAction::Signal,
        [one] => ServiceAction::Stop((*one).to_owned()),
        // The socket itself names its service (Windows' owner-module tables).
        many => match socket_service().filter(|n| many.contains(&n.as_str())) {
            Some(name) => ServiceAction::Stop(name),
            None => ServiceAction::Spare(format!(
                "it hosts the services {}: ending it would stop them all. Stop the one that holds port {port} (sc stop NAME); tasklist /svc /fi \"PID eq {pid}\" lists them",
                many.join(", ")
            )),
        },
    }
}

/// A holder lport will not signal, and why.
#[derive(Debug, Clone)]
pub struct Spared {
    /// The process, or `None` when its owner is hidden.
    pub process: Option<Process>,
    /// The socket it holds.
    pub socket: Socket,
    /// Why it is left alone, with what to do instead.
    pub reason: String,
}

/// What a kill would do.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Processes to signal.
    pub victims: Vec<Victim>,
    /// Holders left alone.
    pub spared: Vec<Spared>,
}

/// Which sockets a kill targets.
#[derive(Debug, Clone)]
pub struct KillQuery {
    /// Targets: a port, optionally with an address and protocol.
    pub targets: Vec<Target>,
    /// Also processes whose sockets use the port in other states (clients whose source
    /// port it is, established connections).
    pub all_states: bool,
}

/// The pids lport must never signal: init, itself, its parent.
fn protected(pid: u32) -> Option<&'static str> {
    if pid <= 1 {
        return Some("pid 1 (init) is never signalled");
    }
    if pid == std::process::id() {
        return Some("that is lport itself");
    }
    if Some(pid) == crate::sys::parent_pid() {
        return Some("that is lport's parent (the shell or program that ran lport)");
    }
    if crate::sys::is_kernel_thread(pid) {
        return Some("it is a kernel thread");
    }
    None
}

/// Why a docker-proxy is left alone: it forwards a published port to a container that no
/// engine named (one that did is stopped through its engine instead).
fn docker_proxy_reason(p: &Process, port: u16) -> Option<String> {
    (p.name == "docker-proxy" && p.container_info.is_none()).then(|| {
        format!(
            "docker-proxy forwards the port to a container{}; killing it breaks the published port until the container restarts. Stop the container instead: docker stop $(docker ps -q --filter publish={port})",
            p.container
                .as_deref()
                .map_or_else(String::new, |c| format!(" at {c}"))
        )
    })
}

/// Reads the holders of the targets and decides who may be signalled.
pub fn plan(q: &KillQuery) -> Result<Plan> {
    let mut sockets = Vec::new();
    let mut processes: BTreeMap<u32, Process> = BTreeMap::new();
    for t in &q.targets {
        let Some(port) = t.port else {
            return Err(Error::InvalidTarget {
                input: t.input.clone(),
                reason: "a port is needed".into(),
            });
        };
        let addrs = t.resolve()?;
        let query = Query {
            tcp: t.proto != Some(Proto::Udp),
            udp: t.proto != Some(Proto::Tcp),
            states: if q.all_states {
                StateSet::all()
            } else {
                StateSet::listeners()
            },
            port: Some(port),
            other_netns: false,
            ..Query::listeners()
        };
        let snap = crate::snapshot(&query)?;
        for s in snap.sockets {
            let on_target = addrs.is_empty() || addrs.iter().any(|a| s.accepts_addr(*a));
            if on_target && !sockets.contains(&s) {
                sockets.push(s);
            }
        }
        for p in snap.processes {
            processes.insert(p.pid, p);
        }
    }
    let mut plan = Plan::default();
    let mut by_pid: BTreeMap<u32, Vec<Socket>> = BTreeMap::new();
    for s in sockets {
        if s.owners.is_empty() {
            let reason = s
                .owner_note
                .clone()
                .unwrap_or_else(|| "no process holds it".into());
            plan.spared.push(Spared {
                process: None,
                socket: s,
                reason,
            });
            continue;
        }
        let mut pids: Vec<u32> = s.owners.iter().map(|o| o.pid).collect();
        pids.dedup();
        for pid in pids {
            by_pid.entry(pid).or_default().push(s.clone());
        }
    }
    for (pid, socks) in by_pid {
        let Some(process) = processes.get(&pid).cloned() else {
            continue;
        };
        let port = socks.first().map_or(0, |s| s.local.port);
        let reason = protected(pid)
            .map(str::to_owned)
            .or_else(|| docker_proxy_reason(&process, port));
        let action = service_action(
            process.unit.as_deref(),
            crate::sys::SERVICES_STOP_THROUGH_MANAGER,
            pid,
            port,
            || socks.first().and_then(crate::sys::socket_service),
        );
        let (reason, service) = match action {
            ServiceAction::Spare(why) => (reason.or(Some(why)), None),
            ServiceAction::Stop(name) => (reason, Some(name)),
            ServiceAction::Signal => (reason, None),
        };
        match reason {
            Some(reason) => {
                for socket in socks {
                    plan.spared.push(Spared {
                        process: Some(process.clone()),
                        socket,
                        reason: reason.clone(),
                    });
                }
            }
            None => plan.victims.push(Victim {
                container: process
                    .container_info
                    .clone()
                    .filter(|_| process.name == "docker-proxy"),
                process,
                sockets: socks,
                service,
            }),
        }
    }
    Ok(plan)
}

/// When this process was started by lport as a helper for stopping another one (Windows:
/// the copy that sends Ctrl-C to a console it attaches to), does that job and returns
/// the exit code for `main` to exit with; `None` in every other case.
#[must_use]
pub fn run_as_helper() -> Option<i32> {
    crate::sys::helper()
}

/// What happened to each victim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Exited after the first signal.
    Exited,
    /// Needed SIGKILL after the grace period.
    Killed,
    /// Still alive (it ignores even SIGKILL: a stopped or uninterruptible process).
    Survived,
    /// The signal could not be sent.
    Failed(String),
}

/// Sends `signal` to every victim, waits up to `grace` for them to exit, then sends SIGKILL
/// to the rest. Returns each pid's fate.
#[must_use]
pub fn execute(plan: &Plan, signal: Signal, grace: Duration) -> Vec<(u32, Fate)> {
    let mut fates: Vec<(u32, Fate)> = Vec::new();
    let mut alive: Vec<(u32, u64)> = Vec::new();
    for v in &plan.victims {
        let pid = v.process.pid;
        // Re-check that the pid is still the process we planned for (same start time), so
        // a pid recycled since the plan is never signalled.
        let Some(ticks) = v.process.start_ticks else {
            fates.push((pid, Fate::Failed("its start time is unknown".into())));
            continue;
        };
        // The signal path checks the start time itself, as close to the signal as the
        // platform allows (Linux: on a pidfd); a service is checked here.
        let sent = match (&v.container, &v.service) {
            (Some(_), _) | (_, Some(_)) if crate::sys::start_ticks(pid) != Some(ticks) => {
                Err(std::io::ErrorKind::NotFound.into())
            }
            (Some(c), _) => crate::containers::stop(c),
            (None, Some(name)) => crate::sys::stop_service(name),
            (None, None) => crate::sys::send_signal(pid, Some(ticks), signal),
        };
        // A stopped process (Ctrl-Z, SIGSTOP) acts on no signal but KILL until resumed:
        // resume it, so it can act on the one sent (what systemd does too).
        if sent.is_ok()
            && v.service.is_none()
            && v.container.is_none()
            && signal != Signal::Kill
            && v.process.is_stopped()
        {
            let _ = crate::sys::send_signal(pid, Some(ticks), Signal::Cont);
        }
        match sent {
            Ok(()) => alive.push((pid, ticks)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => fates.push((pid, Fate::Exited)),
            Err(e) => fates.push((pid, Fate::Failed(e.to_string()))),
        }
    }
    let gone = |pid: u32, ticks: u64| {
        !crate::sys::is_alive(pid) || crate::sys::start_ticks(pid) != Some(ticks)
    };
    let deadline = Instant::now() + grace;
    while !alive.is_empty() && Instant::now() < deadline {
        alive.retain(|&(pid, t)| {
            if gone(pid, t) {
                fates.push((pid, Fate::Exited));
                false
            } else {
                true
            }
        });
        std::thread::sleep(Duration::from_millis(20));
    }
    if signal != Signal::Kill {
        for &(pid, t) in &alive {
            let _ = crate::sys::send_signal(pid, Some(t), Signal::Kill);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut killed = Vec::new();
    while !alive.is_empty() && Instant::now() < deadline {
        alive.retain(|&(pid, t)| {
            if gone(pid, t) {
                killed.push(pid);
                false
            } else {
                true
            }
        });
        std::thread::sleep(Duration::from_millis(20));
    }
    let kill_fate = if signal == Signal::Kill {
        Fate::Exited
    } else {
        Fate::Killed
    };
    fates.extend(killed.into_iter().map(|p| (p, kill_fate.clone())));
    fates.extend(alive.into_iter().map(|(p, _)| (p, Fate::Survived)));
    fates.sort_by_key(|(p, _)| *p);
    fates
}

/// The state of the targeted ports after a kill.
#[derive(Debug, Clone, Default)]
pub struct After {
    /// Listeners (TCP listen, bound UDP) still on the targets, with their processes.
    pub still_held: Vec<(Socket, Vec<Process>)>,
    /// Other sockets left on the targets' ports: TCP sockets bound without listening (a
    /// client bound to the port on another address, say). They do not accept connections,
    /// but block binding the port on every address.
    pub bound: Vec<(Socket, Vec<Process>)>,
    /// Connections in TIME_WAIT on the targets (harmless for a server that sets
    /// SO_REUSEADDR, as almost all do).
    pub time_wait: usize,
}

/// Reads the targeted ports again.
pub fn verify(q: &KillQuery) -> Result<After> {
    let mut after = After::default();
    let now = plan(&KillQuery {
        targets: q.targets.clone(),
        all_states: false,
    })?;
    let mut holders: Vec<(Socket, Vec<Process>)> = Vec::new();
    let pairs = now
        .victims
        .into_iter()
        .flat_map(|v| {
            let p = v.process;
            v.sockets.into_iter().map(move |s| (s, Some(p.clone())))
        })
        .chain(now.spared.into_iter().map(|sp| (sp.socket, sp.process)));
    for (s, p) in pairs {
        match holders
            .iter_mut()
            .find(|(x, _)| x.inode == s.inode && x.local == s.local)
        {
            Some(entry) => entry.1.extend(p),
            None => holders.push((s, p.into_iter().collect())),
        }
    }
    for h in holders {
        if h.0.state == State::Bound {
            after.bound.push(h);
        } else {
            after.still_held.push(h);
        }
    }
    for t in &q.targets {
        if let Some(port) = t.port {
            let tw = crate::snapshot(&Query {
                udp: false,
                states: [State::TimeWait].into_iter().collect(),
                port: Some(port),
                owners: false,
                other_netns: false,
                ..Query::listeners()
            })?;
            after.time_wait += tw.sockets.len();
        }
    }
    Ok(after)
}

/// Why a port is still held after a kill: a respawn (a process of the same name started
/// after the ones signalled), or another holder, with what started it.
#[must_use]
pub fn explain_holder(p: &Process, killed: &[Process]) -> String {
    let newest_killed = killed.iter().filter_map(|k| k.start_ticks).max();
    let respawned = killed.iter().any(|k| k.name == p.name && k.pid != p.pid)
        && p.start_ticks
            .zip(newest_killed)
            .is_some_and(|(new, old)| new > old);
    let by = if let Some(unit) = &p.unit {
        format!("systemd unit {unit} (stop it with: systemctl stop {unit})")
    } else if p.ppid == 1 {
        "pid 1: a service manager or supervisor restarted it".to_owned()
    } else {
        format!("its parent, pid {}", p.ppid)
    };
    if respawned {
        format!(
            "respawned: {} (pid {}) holds it again, started by {by}",
            p.name, p.pid
        )
    } else {
        format!("held by {} (pid {}), started by {by}", p.name, p.pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_by_name_and_number() {
        assert_eq!(Signal::parse("TERM"), Ok(Signal::Term));
        assert_eq!(Signal::parse("sigkill"), Ok(Signal::Kill));
        assert_eq!(Signal::parse("9"), Ok(Signal::Kill));
        assert_eq!(Signal::parse("hup"), Ok(Signal::Hup));
        assert!(Signal::parse("STOP").is_err());
        assert_eq!(Signal::Term.to_string(), "SIGTERM");
    }

    #[test]
    fn services_are_stopped_through_their_manager_where_it_does_that() {
        assert_eq!(
            service_action(None, true, 7, 80, || None),
            ServiceAction::Signal
        );
        assert_eq!(
            service_action(Some("nginx.service"), false, 7, 80, || None),
            ServiceAction::Signal,
            "systemd units are signalled"
        );
        assert_eq!(
            service_action(Some("W3SVC"), true, 7, 80, || None),
            ServiceAction::Stop("W3SVC".into())
        );
        let ServiceAction::Spare(why) =
            service_action(Some("Dnscache, LanmanWorkstation"), true, 1234, 53, || None)
        else {
            panic!("a shared host is spared");
        };
        assert!(
            why.contains("Dnscache, LanmanWorkstation")
                && why.contains("port 53")
                && why.contains("PID eq 1234"),
            "{why}"
        );
        assert_eq!(
            service_action(Some("Dnscache, LanmanWorkstation"), true, 1234, 53, || {
                Some("Dnscache".into())
            }),
            ServiceAction::Stop("Dnscache".into()),
            "the socket's own service, from its owner module"
        );
        assert!(matches!(
            service_action(Some("A, B"), true, 1, 53, || Some("C".into())),
            ServiceAction::Spare(_)
        ));
    }

    #[test]
    fn init_self_and_parent_are_protected() {
        assert!(protected(1).is_some());
        assert!(protected(std::process::id()).is_some());
        if let Some(pp) = crate::sys::parent_pid() {
            assert!(protected(pp).is_some());
        }
        // kthreadd (pid 2) is a kernel thread on Linux.
        if cfg!(target_os = "linux") && std::path::Path::new("/proc/2/stat").exists() {
            assert!(protected(2).is_some());
        }
    }
}
