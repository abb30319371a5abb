//! Kernel events in, meaning out: a connection attempt and how it ended, a listener that
//! opened or closed, a process that ended and how. Pure: no I/O, bounded memory, so every
//! sequence the kernel can produce is unit-tested with hand-made events.

use std::collections::HashMap;
use std::net::SocketAddr;

use serde::Serialize;

use super::kernel::{KernelEvent, tcp};

/// How a connection attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The handshake completed.
    Connected,
    /// The other side answered with a reset: nothing listens there.
    Refused,
    /// No answer: the client or the kernel gave up after a second or more.
    Timeout,
    /// It failed fast without a reset (unreachable, or the client closed at once).
    Failed,
}

impl Outcome {
    /// The id used in JSON and the store.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Connected => "connected",
            Outcome::Refused => "refused",
            Outcome::Timeout => "timeout",
            Outcome::Failed => "failed",
        }
    }

    /// Parses what [`Outcome::as_str`] gives.
    #[must_use]
    pub fn parse(s: &str) -> Option<Outcome> {
        [
            Outcome::Connected,
            Outcome::Refused,
            Outcome::Timeout,
            Outcome::Failed,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// One TCP connection attempt by a process on this machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// When it started (ns since the epoch).
    pub time_ns: u64,
    /// The connecting process.
    pub pid: u32,
    /// The client's address and ephemeral port.
    pub src: SocketAddr,
    /// Where it tried to connect.
    pub dst: SocketAddr,
    /// How it ended.
    pub outcome: Outcome,
    /// From SYN to the outcome, in milliseconds.
    pub ms: f64,
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum How {
    /// It called exit with this status.
    Exited {
        /// The status (0-255).
        code: i32,
        /// A signal someone sent just before (it exited in answer, e.g. to SIGTERM).
        after_signal: Option<Sent>,
    },
    /// A signal ended it.
    Killed {
        /// Who sent which signal.
        signal: Sent,
    },
    /// The kernel's OOM killer ended it.
    OomKilled,
}

/// A signal and who sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sent {
    /// The signal number.
    pub sig: i32,
    /// The sending process; 0 means the kernel (a fault such as SIGSEGV).
    pub sender: u32,
}

/// A process that ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    /// When (ns since the epoch).
    pub time_ns: u64,
    /// The process.
    pub pid: u32,
    /// Its kernel name.
    pub comm: String,
    /// How.
    pub how: How,
}

/// What the correlator makes of the kernel's events.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A connection attempt ended.
    Attempt(Attempt),
    /// A TCP listener opened (`opened`) or closed, in the context of `pid`.
    Listener {
        /// When (ns since the epoch).
        time_ns: u64,
        /// The process that called listen(), or that closed it (or whose exit did).
        pid: u32,
        /// The listening address.
        addr: SocketAddr,
        /// Opened (true) or closed.
        opened: bool,
        /// For a close during its process's exit: how that process ended.
        ending: Option<Ending>,
    },
    /// A process ended.
    Ended(Ending),
    /// The kernel dropped events.
    Lost(u64),
}

struct Pending {
    time_ns: u64,
    pid: u32,
    src: SocketAddr,
    dst: SocketAddr,
    reset: bool,
}

/// Attempts still in SYN_SENT are forgotten after this long (the kernel gives up sooner).
const PENDING_MAX_NS: u64 = 300 * 1_000_000_000;
/// At most this many attempts in flight are remembered; the oldest go first.
const PENDING_MAX: usize = 65_536;
/// Exit codes, signals and exits are remembered this long to join them.
const RECENT_NS: u64 = 10 * 1_000_000_000;
/// An attempt that failed after at least this long timed out.
const TIMEOUT_NS: u64 = 900_000_000;

/// Turns kernel events into [`Event`]s. Feed it in time order.
#[derive(Default)]
pub struct Correlator {
    pending: HashMap<u64, Pending>,
    exit_codes: HashMap<u32, (u64, i32)>,
    signals: HashMap<u32, (u64, Sent)>,
    ooms: HashMap<u32, u64>,
    recent_exits: HashMap<u32, Ending>,
    now_ns: u64,
    /// Attempts forgotten because too many were in flight.
    pub evicted: u64,
}

impl Correlator {
    /// A correlator with nothing remembered.
    #[must_use]
    pub fn new() -> Correlator {
        Correlator::default()
    }

    /// The kernel name of a process that ended in the last few seconds: short-lived
    /// clients (curl, kill) are often gone before their `/proc` entry can be read.
    #[must_use]
    pub fn recent_comm(&self, pid: u32) -> Option<&str> {
        self.recent_exits.get(&pid).map(|e| e.comm.as_str())
    }

    /// Feeds one kernel event; what it completes is pushed to `out`.
    pub fn feed(&mut self, ev: KernelEvent, out: &mut Vec<Event>) {
        let t = ev.time_ns();
        if t > self.now_ns {
            self.now_ns = t;
        }
        match ev {
            KernelEvent::TcpState {
                time_ns,
                pid,
                sk,
                old,
                new,
                src,
                dst,
            } => {
                self.tcp_state(time_ns, pid, sk, old, new, src, dst, out);
            }
            KernelEvent::TcpReset { sk, .. } => {
                if let Some(p) = self.pending.get_mut(&sk) {
                    p.reset = true;
                }
            }
            KernelEvent::ExitGroup { time_ns, pid, code } => {
                self.exit_codes.insert(pid, (time_ns, code & 0xff));
            }
            KernelEvent::Signal {
                time_ns,
                sender,
                target,
                sig,
            } => {
                // SIGKILL wins over an earlier SIGTERM the process may have ignored.
                let keep = self
                    .signals
                    .get(&target)
                    .is_some_and(|(_, s)| s.sig == 9 && sig != 9);
                if !keep {
                    self.signals.insert(target, (time_ns, Sent { sig, sender }));
                }
            }
            KernelEvent::OomVictim { time_ns, pid } => {
                self.ooms.insert(pid, time_ns);
            }
            KernelEvent::ProcessExit { time_ns, pid, comm } => {
                let signal = self.signals.remove(&pid).map(|(_, s)| s);
                let how = if self.ooms.remove(&pid).is_some() {
                    How::OomKilled
                } else if let Some((_, code)) = self.exit_codes.remove(&pid) {
                    How::Exited {
                        code,
                        after_signal: signal,
                    }
                } else if let Some(signal) = signal {
                    How::Killed { signal }
                } else {
                    // Neither exit_group nor a signal seen: a process whose exit began
                    // before tracing did; say exited with an unknown status as 0 would lie.
                    How::Exited {
                        code: -1,
                        after_signal: None,
                    }
                };
                let ending = Ending {
                    time_ns,
                    pid,
                    comm,
                    how,
                };
                self.recent_exits.insert(pid, ending.clone());
                out.push(Event::Ended(ending));
            }
            KernelEvent::Lost { count } => out.push(Event::Lost(count)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn tcp_state(
        &mut self,
        time_ns: u64,
        pid: u32,
        sk: u64,
        old: u8,
        new: u8,
        src: SocketAddr,
        dst: SocketAddr,
        out: &mut Vec<Event>,
    ) {
        match (old, new) {
            (_, tcp::SYN_SENT) => {
                if self.pending.len() >= PENDING_MAX {
                    self.evict_oldest();
                }
                self.pending.insert(
                    sk,
                    Pending {
                        time_ns,
                        pid,
                        src,
                        dst,
                        reset: false,
                    },
                );
            }
            (tcp::SYN_SENT, _) => {
                let Some(p) = self.pending.remove(&sk) else {
                    return;
                };
                let elapsed = time_ns.saturating_sub(p.time_ns);
                let outcome = if new == tcp::ESTABLISHED {
                    Outcome::Connected
                } else if p.reset {
                    Outcome::Refused
                } else if elapsed >= TIMEOUT_NS {
                    Outcome::Timeout
                } else {
                    Outcome::Failed
                };
                out.push(Event::Attempt(Attempt {
                    time_ns: p.time_ns,
                    pid: p.pid,
                    // The source port is chosen during connect: the later event has it.
                    src: if src.port() == 0 { p.src } else { src },
                    dst: p.dst,
                    outcome,
                    ms: elapsed as f64 / 1e6,
                }));
            }
            // LISTEN -> SYN_RECV is a connection's child socket cloned from the listener,
            // not the listener changing.
            (_, tcp::LISTEN) | (tcp::LISTEN, tcp::CLOSE) => {
                let opened = new == tcp::LISTEN;
                let ending = if opened {
                    None
                } else {
                    self.recent_exits.get(&pid).cloned()
                };
                out.push(Event::Listener {
                    time_ns,
                    pid,
                    addr: src,
                    opened,
                    ending,
                });
            }
            _ => {}
        }
    }

    fn evict_oldest(&mut self) {
        if let Some((&sk, _)) = self.pending.iter().min_by_key(|(_, p)| p.time_ns) {
            self.pending.remove(&sk);
            self.evicted += 1;
        }
    }

    /// Forgets what is too old to be joined any more; call it now and then (each batch).
    pub fn prune(&mut self) {
        let now = self.now_ns;
        let before = self.pending.len();
        self.pending
            .retain(|_, p| now.saturating_sub(p.time_ns) < PENDING_MAX_NS);
        self.evicted += (before - self.pending.len()) as u64;
        self.exit_codes
            .retain(|_, (t, _)| now.saturating_sub(*t) < RECENT_NS);
        self.signals
            .retain(|_, (t, _)| now.saturating_sub(*t) < RECENT_NS);
        self.ooms.retain(|_, t| now.saturating_sub(*t) < RECENT_NS);
        self.recent_exits
            .retain(|_, e| now.saturating_sub(e.time_ns) < RECENT_NS);
    }
}

/// A signal's name without `SIG` (`KILL`), or its number.
#[must_use]
pub fn signal_name(sig: i32) -> String {
    const NAMES: [&str; 32] = [
        "0", "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV",
        "USR2", "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU",
        "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
    ];
    usize::try_from(sig)
        .ok()
        .and_then(|i| NAMES.get(i))
        .map_or_else(|| sig.to_string(), |n| (*n).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().expect("address")
    }

    fn state(t: u64, pid: u32, sk: u64, old: u8, new: u8, src: &str, dst: &str) -> KernelEvent {
        KernelEvent::TcpState {
            time_ns: t,
            pid,
            sk,
            old,
            new,
            src: a(src),
            dst: a(dst),
        }
    }

    fn run(events: Vec<KernelEvent>) -> Vec<Event> {
        let mut c = Correlator::new();
        let mut out = Vec::new();
        for e in events {
            c.feed(e, &mut out);
        }
        out
    }

    #[test]
    fn a_refused_a_connected_and_a_timed_out_attempt() {
        let out = run(vec![
            state(
                1_000,
                7,
                1,
                tcp::CLOSE,
                tcp::SYN_SENT,
                "127.0.0.1:0",
                "127.0.0.1:3000",
            ),
            KernelEvent::TcpReset {
                time_ns: 2_000,
                sk: 1,
            },
            state(
                2_000,
                0,
                1,
                tcp::SYN_SENT,
                tcp::CLOSE,
                "127.0.0.1:5555",
                "127.0.0.1:3000",
            ),
            state(
                3_000,
                8,
                2,
                tcp::CLOSE,
                tcp::SYN_SENT,
                "[::1]:40000",
                "[::1]:80",
            ),
            state(
                4_000,
                0,
                2,
                tcp::SYN_SENT,
                tcp::ESTABLISHED,
                "[::1]:40000",
                "[::1]:80",
            ),
            state(
                5_000,
                9,
                3,
                tcp::CLOSE,
                tcp::SYN_SENT,
                "10.0.0.1:1",
                "10.0.0.2:22",
            ),
            state(
                2_000_005_000,
                9,
                3,
                tcp::SYN_SENT,
                tcp::CLOSE,
                "10.0.0.1:1",
                "10.0.0.2:22",
            ),
        ]);
        let outcomes: Vec<_> = out
            .iter()
            .map(|e| match e {
                Event::Attempt(a) => (a.pid, a.outcome, a.src.port()),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            outcomes,
            [
                (7, Outcome::Refused, 5555),
                (8, Outcome::Connected, 40000),
                (9, Outcome::Timeout, 1)
            ]
        );
    }

    #[test]
    // One table of kernel events and one of the endings they give.
    #[allow(clippy::too_many_lines)]
    fn endings_name_the_status_the_signal_and_its_sender_or_the_oom_killer() {
        let out = run(vec![
            KernelEvent::ExitGroup {
                time_ns: 1,
                pid: 10,
                code: 3,
            },
            KernelEvent::ProcessExit {
                time_ns: 2,
                pid: 10,
                comm: "python3".into(),
            },
            KernelEvent::Signal {
                time_ns: 3,
                sender: 99,
                target: 11,
                sig: 15,
            },
            KernelEvent::Signal {
                time_ns: 4,
                sender: 98,
                target: 11,
                sig: 9,
            },
            KernelEvent::Signal {
                time_ns: 5,
                sender: 97,
                target: 11,
                sig: 15,
            },
            KernelEvent::ProcessExit {
                time_ns: 6,
                pid: 11,
                comm: "node".into(),
            },
            KernelEvent::OomVictim {
                time_ns: 7,
                pid: 12,
            },
            KernelEvent::Signal {
                time_ns: 8,
                sender: 0,
                target: 12,
                sig: 9,
            },
            KernelEvent::ProcessExit {
                time_ns: 9,
                pid: 12,
                comm: "java".into(),
            },
            KernelEvent::Signal {
                time_ns: 10,
                sender: 50,
                target: 13,
                sig: 15,
            },
            KernelEvent::ExitGroup {
                time_ns: 11,
                pid: 13,
                code: 256 + 1,
            },
            KernelEvent::ProcessExit {
                time_ns: 12,
                pid: 13,
                comm: "app".into(),
            },
        ]);
        let hows: Vec<_> = out
            .iter()
            .map(|e| match e {
                Event::Ended(e) => (e.pid, e.how.clone()),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            hows,
            [
                (
                    10,
                    How::Exited {
                        code: 3,
                        after_signal: None
                    }
                ),
                (
                    11,
                    How::Killed {
                        signal: Sent { sig: 9, sender: 98 }
                    }
                ),
                (12, How::OomKilled),
                (
                    13,
                    How::Exited {
                        code: 1,
                        after_signal: Some(Sent {
                            sig: 15,
                            sender: 50
                        })
                    }
                ),
            ]
        );
    }

    #[test]
    fn a_listener_closed_by_its_exiting_process_carries_the_ending() {
        let mut c = Correlator::new();
        let mut out = Vec::new();
        c.feed(
            state(
                1,
                5,
                9,
                tcp::CLOSE,
                tcp::LISTEN,
                "0.0.0.0:8080",
                "0.0.0.0:0",
            ),
            &mut out,
        );
        // A connection's child socket starts as a copy of the listener: not a close.
        c.feed(
            state(1, 0, 10, tcp::LISTEN, 3, "0.0.0.0:8080", "127.0.0.1:5000"),
            &mut out,
        );
        c.feed(
            KernelEvent::Signal {
                time_ns: 2,
                sender: 6,
                target: 5,
                sig: 9,
            },
            &mut out,
        );
        c.feed(
            KernelEvent::ProcessExit {
                time_ns: 3,
                pid: 5,
                comm: "srv".into(),
            },
            &mut out,
        );
        c.feed(
            state(
                4,
                5,
                9,
                tcp::LISTEN,
                tcp::CLOSE,
                "0.0.0.0:8080",
                "0.0.0.0:0",
            ),
            &mut out,
        );
        assert_eq!(c.recent_comm(5), Some("srv"));
        let Event::Listener {
            opened: false,
            ending: Some(e),
            addr,
            ..
        } = &out[2]
        else {
            panic!("{out:?}")
        };
        assert_eq!(addr.port(), 8080);
        assert_eq!(
            e.how,
            How::Killed {
                signal: Sent { sig: 9, sender: 6 }
            }
        );
        assert!(matches!(
            &out[0],
            Event::Listener {
                opened: true,
                pid: 5,
                ..
            }
        ));
    }

    #[test]
    fn memory_stays_bounded() {
        let mut c = Correlator::new();
        let mut out = Vec::new();
        for i in 0..(PENDING_MAX as u64 + 10) {
            c.feed(
                state(
                    i,
                    1,
                    i,
                    tcp::CLOSE,
                    tcp::SYN_SENT,
                    "127.0.0.1:0",
                    "127.0.0.1:1",
                ),
                &mut out,
            );
        }
        assert_eq!(c.pending.len(), PENDING_MAX);
        assert_eq!(c.evicted, 10);
        c.feed(
            KernelEvent::ExitGroup {
                time_ns: PENDING_MAX_NS * 2,
                pid: 1,
                code: 0,
            },
            &mut out,
        );
        c.prune();
        assert!(c.pending.is_empty());
        assert_eq!(c.evicted, PENDING_MAX as u64 + 10);
        assert_eq!(signal_name(9), "KILL");
        assert_eq!(signal_name(64), "64");
    }
}
