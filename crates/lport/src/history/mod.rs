//! The past and the clients: which listeners opened and closed, how their processes ended,
//! and who tries to connect with what outcome.
//!
//! On Linux the events come from kernel tracepoints (root or CAP_PERFMON), read through
//! `perf_event_open` ([`Live`]); elsewhere, and without the privileges, the [`Recorder`]
//! polls the listener table with [`crate::snapshot`] and records what it can see. The
//! record lives in an SQLite database ([`store`], with the `history` feature).

mod correlate;
mod kernel;
#[cfg(feature = "history")]
mod recorder;
mod records;
#[cfg(feature = "history")]
pub mod store;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use correlate::{Attempt, Correlator, Ending, Event, How, Outcome, Sent, signal_name};
pub use kernel::KernelEvent;
#[cfg(feature = "history")]
pub use recorder::{Mode, Recorder, Step};
pub use records::{AttemptRecord, EndRecord, KernelKill, ListenerRecord, Past, parse_kernel_kill};

use crate::error::Result;
use crate::model::Process;
use crate::sys;

/// A process as history shows it: who connected, who listened, who sent a signal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Who {
    /// The pid.
    pub pid: u32,
    /// Its full name, or the kernel's 15-character name when it had already exited.
    pub name: String,
    /// Its command line (empty when it exited before it could be read).
    pub cmdline: Vec<String>,
    /// Its executable.
    pub exe: Option<String>,
    /// Its working directory.
    pub cwd: Option<String>,
    /// Its user.
    pub user: Option<String>,
    /// Its systemd unit.
    pub unit: Option<String>,
    /// Its container.
    pub container: Option<String>,
    /// When it started (RFC 3339 UTC).
    pub start_time: Option<String>,
    /// False when it had exited before lport could read it: only the name is known.
    pub seen: bool,
}

impl Who {
    fn from_process(p: Process, cwd: Option<String>) -> Who {
        Who {
            pid: p.pid,
            name: p.name,
            cmdline: p.cmdline,
            exe: p.exe,
            cwd,
            user: p.user,
            unit: p.unit,
            container: p.container,
            start_time: p.start_time,
            seen: true,
        }
    }

    fn gone(pid: u32, comm: Option<&str>) -> Who {
        Who {
            pid,
            name: comm.map_or_else(|| "?".to_owned(), str::to_owned),
            cmdline: Vec::new(),
            exe: None,
            cwd: None,
            user: None,
            unit: None,
            container: None,
            start_time: None,
            seen: false,
        }
    }

    /// `name (pid N)`.
    #[must_use]
    pub fn label(&self) -> String {
        if self.pid == 0 {
            return "the kernel".to_owned();
        }
        format!("{} (pid {})", self.name, self.pid)
    }
}

/// A kernel event with its processes named.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveEvent {
    /// A connection attempt ended.
    Attempt {
        /// The attempt.
        attempt: Attempt,
        /// The client.
        client: Who,
    },
    /// A listener opened.
    Opened {
        /// When (ns since the epoch).
        time_ns: u64,
        /// Where.
        addr: SocketAddr,
        /// The process that listens.
        who: Who,
    },
    /// A listener closed.
    Closed {
        /// When (ns since the epoch).
        time_ns: u64,
        /// Where.
        addr: SocketAddr,
        /// The process that held it, as last known.
        who: Who,
    },
    /// A process that held a listener ended.
    Ended {
        /// How.
        ending: Ending,
        /// The process, as last known.
        who: Who,
        /// Who sent the signal that ended it (or came before its exit).
        sender: Option<Who>,
        /// The listening addresses it held.
        listened: Vec<SocketAddr>,
    },
    /// The kernel dropped this many events.
    Lost(u64),
}

/// Live kernel events with their processes named: what `lport trace` shows and the
/// recorder stores. Linux only (root or CAP_PERFMON); `open` says what is missing elsewhere.
pub struct Live {
    tracer: sys::Tracer,
    correlator: Correlator,
    raw: Vec<KernelEvent>,
    events: Vec<Event>,
    /// Processes read recently, with when.
    cache: HashMap<u32, (Instant, Who)>,
    /// Pids that hold (or held) a listener, and what they were.
    listeners: HashMap<u32, Who>,
    /// Listener addresses and the pid that opened them.
    open: HashMap<SocketAddr, u32>,
    /// Events the kernel dropped, in all.
    pub lost: u64,
}

const CACHE_FOR: Duration = Duration::from_secs(5);

impl Live {
    /// Starts reading kernel events; `ports`, when not empty, limits TCP events to those
    /// ports in the kernel. Listeners open now are read first, so their endings are named.
    pub fn open(ports: &[u16]) -> Result<Live> {
        let tracer = sys::Tracer::open(ports)?;
        let mut live = Live {
            tracer,
            correlator: Correlator::new(),
            raw: Vec::new(),
            events: Vec::new(),
            cache: HashMap::new(),
            listeners: HashMap::new(),
            open: HashMap::new(),
            lost: 0,
        };
        if let Ok(snap) = crate::snapshot(&crate::Query::listeners()) {
            for s in snap
                .sockets
                .iter()
                .filter(|s| s.state == crate::State::Listen)
            {
                for o in &s.owners {
                    if let Some(p) = snap.process(o.pid) {
                        let who = Who::from_process(p.clone(), sys::process_cwd(o.pid));
                        live.listeners.insert(o.pid, who);
                    }
                }
                if let Some(o) = s.owners.first() {
                    live.open
                        .insert(SocketAddr::new(s.local.addr, s.local.port), o.pid);
                }
            }
        }
        Ok(live)
    }

    /// Waits up to `timeout` for events and returns them, processes named.
    pub fn next(&mut self, timeout: Duration) -> Vec<LiveEvent> {
        if self.tracer.wait(timeout) {
            // Let a burst land, so one read takes it whole (at most 5 ms later).
            std::thread::sleep(Duration::from_millis(5));
        }
        self.raw.clear();
        self.tracer.drain(&mut self.raw);
        self.events.clear();
        for ev in self.raw.drain(..) {
            self.correlator.feed(ev, &mut self.events);
        }
        self.correlator.prune();
        let now = Instant::now();
        self.cache
            .retain(|_, (t, _)| now.duration_since(*t) < CACHE_FOR);
        let events = std::mem::take(&mut self.events);
        let mut out = Vec::with_capacity(events.len());
        for ev in &events {
            if let Some(e) = self.name(ev) {
                out.push(e);
            }
        }
        self.events = events;
        out
    }

    fn name(&mut self, ev: &Event) -> Option<LiveEvent> {
        Some(match ev {
            Event::Attempt(a) => LiveEvent::Attempt {
                attempt: a.clone(),
                client: self.who(a.pid),
            },
            Event::Listener {
                time_ns,
                pid,
                addr,
                opened: true,
                ..
            } => {
                let who = self.who(*pid);
                self.listeners.insert(*pid, who.clone());
                self.open.insert(*addr, *pid);
                LiveEvent::Opened {
                    time_ns: *time_ns,
                    addr: *addr,
                    who,
                }
            }
            Event::Listener {
                time_ns,
                pid,
                addr,
                opened: false,
                ending,
            } => {
                let owner = self.open.remove(addr).unwrap_or(*pid);
                let who = self
                    .listeners
                    .get(&owner)
                    .or_else(|| self.listeners.get(pid))
                    .cloned()
                    .unwrap_or_else(|| self.who(*pid));
                let _ = ending;
                LiveEvent::Closed {
                    time_ns: *time_ns,
                    addr: *addr,
                    who,
                }
            }
            Event::Ended(e) => {
                let who = self.listeners.remove(&e.pid)?;
                let sender = match &e.how {
                    How::Killed { signal }
                    | How::Exited {
                        after_signal: Some(signal),
                        ..
                    } => Some(self.who(signal.sender)),
                    _ => None,
                };
                let listened = self
                    .open
                    .iter()
                    .filter(|(_, pid)| **pid == e.pid)
                    .map(|(a, _)| *a)
                    .collect();
                LiveEvent::Ended {
                    ending: e.clone(),
                    who,
                    sender,
                    listened,
                }
            }
            Event::Lost(n) => {
                self.lost += n;
                LiveEvent::Lost(*n)
            }
        })
    }

    fn who(&mut self, pid: u32) -> Who {
        if pid == 0 {
            return Who::gone(0, Some("kernel"));
        }
        if let Some((_, w)) = self.cache.get(&pid) {
            return w.clone();
        }
        let who = match crate::inventory::processes(&[pid]).pop() {
            Some(p) => Who::from_process(p, sys::process_cwd(pid)),
            None => Who::gone(pid, self.correlator.recent_comm(pid)),
        };
        if who.seen {
            self.cache.insert(pid, (Instant::now(), who.clone()));
        }
        who
    }

    /// Attempts the correlator forgot because too many were in flight at once.
    #[must_use]
    pub fn evicted(&self) -> u64 {
        self.correlator.evicted
    }

    /// Pids known to hold listeners (for tests and the recorder).
    #[must_use]
    pub fn listener_pids(&self) -> HashSet<u32> {
        self.listeners.keys().copied().collect()
    }
}

/// What the history holds about a port (or every port): the document `lport history
/// --json` prints and the dashboard's history panel reads.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// Always 1.
    pub schema: u32,
    /// The database read.
    pub db: String,
    /// Listeners, the most recently closed (or still open) first.
    pub listeners: Vec<ListenerRecord>,
    /// Failed attempts summed per client name, address and outcome, most frequent first.
    pub attempts: Vec<AttemptRecord>,
    /// Kernel events lost while recording.
    pub lost: u64,
}

/// Reads the report for `port` (all ports with `None`) since `since_ms` from the database
/// at `path`; `Ok(None)` when nothing was ever recorded there.
#[cfg(feature = "history")]
pub fn report(
    path: &std::path::Path,
    port: Option<u16>,
    since_ms: i64,
    limit: usize,
) -> Result<Option<Report>> {
    let Some(st) = store::Store::open_read(path)? else {
        return Ok(None);
    };
    Ok(Some(Report {
        schema: 1,
        db: path.display().to_string(),
        listeners: st.listeners(port, since_ms, limit)?,
        attempts: st.attempts(port, since_ms, limit)?,
        lost: st.lost_since(since_ms)?,
    }))
}

/// Where lport keeps its state (the history database): `/var/lib/lport` for root, else
/// `$XDG_STATE_HOME/lport` (`~/.local/state/lport`); `%LOCALAPPDATA%\\lport` on Windows.
#[must_use]
pub fn state_dir() -> std::path::PathBuf {
    sys::state_dir()
}

/// Nanoseconds since the epoch, now.
#[must_use]
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Reads what the past says about `port`: the recorder's database (this user's, then
/// root's if readable) and the kernel log. Used by `why` when nothing listens.
#[must_use]
pub fn past_for_port(port: u16) -> Option<Past> {
    let now_ms = (now_ns() / 1_000_000) as i64;
    #[allow(unused_mut)]
    let mut past = Past::default();
    #[cfg(feature = "history")]
    {
        let mut paths = vec![store::default_path()];
        let root = std::path::PathBuf::from("/var/lib/lport/history.db");
        if std::env::var_os("LPORT_HISTORY").is_none() && !paths.contains(&root) {
            paths.push(root);
        }
        if let Some(st) = paths
            .iter()
            .find_map(|p| store::Store::open_read(p).ok().flatten())
        {
            past.source = st.path().display().to_string();
            past.last = st
                .listeners(Some(port), 0, 20)
                .unwrap_or_default()
                .into_iter()
                .find(|l| l.closed_ms.is_some());
            past.knocking = st
                .attempts(Some(port), now_ms - 3_600_000, 5)
                .unwrap_or_default()
                .into_iter()
                .filter(|a| a.outcome != "connected")
                .collect();
        }
    }
    let kills: Vec<KernelKill> = sys::kernel_log_kills()
        .into_iter()
        .filter_map(|(at, line)| parse_kernel_kill(at, &line))
        .collect();
    match &past.last {
        Some(l) => {
            let unexplained = l.ending.as_ref().is_none_or(|e| e.kind == "gone");
            if unexplained {
                past.kernel = kills.into_iter().rev().find(|k| k.pid == l.pid);
            }
        }
        None => {
            // No record of this port: a kill of the program that usually serves it, in
            // the last day, is a likely link, and said to be only that.
            if let Some(known) = crate::ports::known_port(port, crate::Proto::Tcp) {
                let stem: String = known.name.chars().take(5).collect();
                past.kernel = kills.into_iter().rev().find(|k| {
                    now_ms - k.at_ms < 86_400_000 && k.name.to_lowercase().starts_with(&stem)
                });
                past.likely_only = past.kernel.is_some();
                if past.kernel.is_some() && past.source.is_empty() {
                    past.source = "the kernel log".into();
                }
            }
        }
    }
    (past.last.is_some() || !past.knocking.is_empty() || past.kernel.is_some()).then_some(past)
}
