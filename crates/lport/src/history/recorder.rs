//! `lport record`: keeps the history in the store, from kernel events where it can and by
//! polling the listener table where it cannot.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use super::records::{AttemptRecord, EndRecord, ListenerRecord};
use super::store::{Limits, Store};
use super::{How, Live, LiveEvent, Outcome, Who};
use crate::error::Result;
use crate::inventory::{Query, StateSet};
use crate::model::State;

/// How the recorder learns what happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Kernel events where this process may read them, else polling.
    Auto,
    /// Poll the listener table only.
    Poll,
}

/// What one step did.
#[derive(Debug, Default)]
pub struct Step {
    /// Rows written.
    pub written: usize,
    /// Events the kernel dropped in this step.
    pub lost: u64,
    /// Rows pruned to keep the limits.
    pub pruned: u64,
}

type Key = (String, String, u16);

/// The sockets on one listener address, and the pids that hold them.
#[derive(Default)]
struct Held {
    inodes: Vec<u64>,
    pids: Vec<u32>,
}

/// One listener change to write.
enum Op {
    /// At start: every listener recorded open but not among these is closed.
    OnlyThese(Vec<Key>, i64),
    Opened(Box<ListenerRecord>),
    Closed(Key, i64),
    Ended(u32, EndRecord),
}

/// Writes what happens to the store. Make one with [`Recorder::start`], then call
/// [`Recorder::step`] until told to stop.
pub struct Recorder {
    store: Store,
    live: Option<Live>,
    poll_every: Duration,
    next_poll: Instant,
    /// What the last poll saw: listener address -> its sockets and their holders.
    known: HashMap<Key, Held>,
    /// Listener changes and endings to write, in the order they happened.
    ops: Vec<Op>,
    attempts: HashMap<(u32, String, u16, Outcome), AttemptRecord>,
    lost: u64,
    last_flush: Instant,
    last_prune: Instant,
    /// Why kernel events are not read, when they are not.
    pub no_events_because: Option<String>,
}

/// Events are written at most this often (and when the buffer is large).
const FLUSH_EVERY: Duration = Duration::from_secs(1);
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Buffered attempt rows beyond this are flushed at once.
const MAX_BUFFERED: usize = 10_000;
/// While writes fail, at most this many rows of each kind are held.
const MAX_HELD: usize = 100_000;

fn ms(ns: u64) -> i64 {
    (ns / 1_000_000) as i64
}

fn now_ms() -> i64 {
    ms(super::now_ns())
}

fn key(proto: &str, addr: SocketAddr) -> Key {
    (proto.to_owned(), addr.ip().to_string(), addr.port())
}

fn record(proto: &str, addr: SocketAddr, who: &Who, at_ms: i64, seen: &str) -> ListenerRecord {
    ListenerRecord {
        proto: proto.to_owned(),
        addr: addr.ip().to_string(),
        port: addr.port(),
        pid: who.pid,
        name: who.name.clone(),
        cmdline: who.cmdline.clone(),
        exe: who.exe.clone(),
        cwd: who.cwd.clone(),
        user: who.user.clone(),
        unit: who.unit.clone(),
        container: who.container.clone(),
        started: who.start_time.clone(),
        opened_ms: at_ms,
        seen: seen.to_owned(),
        closed_ms: None,
        ending: None,
    }
}

/// How an ending is stored.
fn end_record(at_ms: i64, how: &How, sender: Option<&Who>) -> EndRecord {
    let sender_text = sender.map(|w| {
        if w.pid == 0 {
            "the kernel".to_owned()
        } else if w.cmdline.is_empty() {
            w.label()
        } else {
            format!("{} ({})", w.label(), w.cmdline.join(" "))
        }
    });
    match how {
        How::Exited { code, after_signal } => EndRecord {
            at_ms,
            kind: "exited".into(),
            code: (*code >= 0).then_some(*code),
            signal: after_signal.as_ref().map(|s| s.sig),
            sender_pid: after_signal.as_ref().map(|s| s.sender),
            sender: sender_text,
        },
        How::Killed { signal } => EndRecord {
            at_ms,
            kind: "killed".into(),
            code: None,
            signal: Some(signal.sig),
            sender_pid: Some(signal.sender),
            sender: sender_text,
        },
        How::OomKilled => EndRecord {
            at_ms,
            kind: "oom-killed".into(),
            code: None,
            signal: Some(9),
            sender_pid: Some(0),
            sender: Some("the kernel's OOM killer".into()),
        },
    }
}

impl Recorder {
    /// Opens the store and starts reading events (or polling). The notes say what was
    /// moved aside and what cannot be recorded here.
    pub fn start(path: &Path, limits: Limits, mode: Mode) -> Result<(Recorder, Vec<String>)> {
        let (store, mut notes) = Store::open_for_writing(path, limits)?;
        let (live, why) = match mode {
            Mode::Poll => (None, Some("polling was asked for".to_owned())),
            Mode::Auto => match Live::open(&[]) {
                Ok(l) => (Some(l), None),
                Err(e) => (None, Some(e.to_string())),
            },
        };
        if let Some(why) = &why {
            notes.push(format!(
                "no kernel events ({why}): polling listeners once a second; connection attempts \
                 and how processes ended are not recorded (a listener that disappears with its \
                 process is recorded as gone)"
            ));
        }
        let mut r = Recorder {
            store,
            live,
            poll_every: Duration::from_secs(1),
            next_poll: Instant::now(),
            known: HashMap::new(),
            ops: Vec::new(),
            attempts: HashMap::new(),
            lost: 0,
            last_flush: Instant::now(),
            last_prune: Instant::now(),
            no_events_because: why,
        };
        r.poll(true)?;
        // A store that cannot be written yet (a full disk) is no reason not to record: what
        // is seen is held, as it is later, until a write succeeds.
        if let Err(e) = r.flush().and_then(|_| r.store.prune(now_ms())) {
            notes.push(format!("{e}: holding what is seen until it can be written"));
        }
        Ok((r, notes))
    }

    /// True when kernel events are read.
    #[must_use]
    pub fn is_tracing(&self) -> bool {
        self.live.is_some()
    }

    /// Where the store is.
    #[must_use]
    pub fn path(&self) -> &Path {
        self.store.path()
    }

    /// Sets how often the listener table is polled (without kernel events).
    pub fn set_poll_interval(&mut self, every: Duration) {
        self.poll_every = every;
    }

    /// Waits up to `timeout` for something to record, records it (buffered at most a
    /// second) and prunes now and then.
    pub fn step(&mut self, timeout: Duration) -> Result<Step> {
        let mut step = Step::default();
        if let Some(live) = &mut self.live {
            for ev in live.next(timeout) {
                match ev {
                    LiveEvent::Opened { time_ns, addr, who } => {
                        self.ops.push(Op::Opened(Box::new(record(
                            "tcp",
                            addr,
                            &who,
                            ms(time_ns),
                            "event",
                        ))));
                    }
                    LiveEvent::Closed { time_ns, addr, .. } => {
                        self.ops.push(Op::Closed(key("tcp", addr), ms(time_ns)));
                    }
                    LiveEvent::Ended { ending, sender, .. } => {
                        let end = end_record(ms(ending.time_ns), &ending.how, sender.as_ref());
                        self.ops.push(Op::Ended(ending.pid, end));
                    }
                    LiveEvent::Attempt { attempt, client } => {
                        if attempt.outcome == Outcome::Connected {
                            continue;
                        }
                        let at = ms(attempt.time_ns);
                        let k = (
                            client.pid,
                            attempt.dst.ip().to_string(),
                            attempt.dst.port(),
                            attempt.outcome,
                        );
                        let e = self.attempts.entry(k).or_insert_with(|| AttemptRecord {
                            pid: client.pid,
                            name: client.name.clone(),
                            cmdline: client.cmdline.clone(),
                            user: client.user.clone(),
                            addr: attempt.dst.ip().to_string(),
                            port: attempt.dst.port(),
                            outcome: attempt.outcome.as_str().to_owned(),
                            count: 0,
                            first_ms: at,
                            last_ms: at,
                            processes: 1,
                        });
                        e.count += 1;
                        e.last_ms = e.last_ms.max(at);
                    }
                    LiveEvent::Lost(n) => {
                        self.lost += n;
                        step.lost += n;
                    }
                }
            }
        } else {
            let wait = self
                .next_poll
                .saturating_duration_since(Instant::now())
                .min(timeout);
            std::thread::sleep(wait);
            if Instant::now() >= self.next_poll {
                self.next_poll = Instant::now() + self.poll_every;
                self.poll(false)?;
            }
        }
        if self.last_flush.elapsed() >= FLUSH_EVERY || self.attempts.len() >= MAX_BUFFERED {
            step.written = self.flush()?;
        }
        if self.last_prune.elapsed() >= PRUNE_EVERY {
            self.last_prune = Instant::now();
            step.pruned = self.store.prune(now_ms())?;
        }
        Ok(step)
    }

    /// Writes what is buffered, in one transaction. Returns the rows written. When the
    /// write fails (a full disk, a locked file) nothing is lost: the buffer stays for the
    /// next try, up to a bound past which attempts are counted as lost.
    pub fn flush(&mut self) -> Result<usize> {
        self.last_flush = Instant::now();
        let n = self.ops.len() + self.attempts.len();
        if n == 0 && self.lost == 0 {
            return Ok(0);
        }
        let at = now_ms();
        let (ops, attempts, lost) = (&self.ops, &self.attempts, self.lost);
        let written = self.store.batch(|b| {
            for op in ops {
                match op {
                    Op::OnlyThese(keep, at) => {
                        b.close_all_but(keep, *at)?;
                    }
                    Op::Opened(r) => {
                        if !b.is_open(&r.proto, &r.addr, r.port)? {
                            b.listener_opened(r)?;
                        }
                    }
                    Op::Closed((proto, addr, port), t) => {
                        b.listener_closed(proto, addr, *port, *t)?;
                    }
                    Op::Ended(pid, end) => {
                        b.process_ended(*pid, end, 10_000)?;
                    }
                }
            }
            for a in attempts.values() {
                b.attempts(a)?;
            }
            if lost > 0 {
                b.lost(at, lost)?;
            }
            b.forget_own_blips()?;
            Ok(())
        });
        if let Err(e) = written {
            if self.attempts.len() > MAX_HELD {
                let dropped: u64 = self.attempts.drain().map(|(_, a)| a.count).sum();
                self.lost += dropped;
            }
            self.ops.truncate(MAX_HELD);
            return Err(e);
        }
        self.ops.clear();
        self.attempts.clear();
        self.lost = 0;
        Ok(n)
    }

    /// Records the holders of a closed listener that no longer run as gone (polling cannot
    /// see how they ended).
    fn gone(&mut self, pids: &[u32], at: i64) {
        for pid in pids {
            if !crate::sys::is_alive(*pid) {
                let end = EndRecord {
                    at_ms: at,
                    kind: "gone".into(),
                    code: None,
                    signal: None,
                    sender_pid: None,
                    sender: None,
                };
                self.ops.push(Op::Ended(*pid, end));
            }
        }
    }

    /// Reads the listener table and records what opened and closed since the last read.
    /// The first read only says what is open; later ones also close what went away.
    fn poll(&mut self, first: bool) -> Result<()> {
        // The cheap read first (no owners); owners only when something changed.
        let mut states = StateSet::empty();
        states.insert(State::Listen);
        if self.live.is_none() {
            states.insert(State::Unconn);
        }
        let q = Query {
            states,
            owners: false,
            ..Query::listeners()
        };
        let bare = crate::snapshot(&q)?;
        let ident = |s: &crate::Socket| {
            (
                key(
                    s.proto.as_str(),
                    SocketAddr::new(s.local.addr, s.local.port),
                ),
                s.inode,
            )
        };
        let now: HashSet<(Key, u64)> = bare.sockets.iter().map(ident).collect();
        let before: HashSet<(Key, u64)> = self
            .known
            .iter()
            .flat_map(|(k, h)| h.inodes.iter().map(move |i| (k.clone(), *i)))
            .collect();
        if !first && now == before {
            return Ok(());
        }
        let full = crate::snapshot(&Query {
            states,
            ..Query::listeners()
        })?;
        let privileged = crate::sys::is_privileged();
        let mut current: HashMap<Key, Held> = HashMap::new();
        let at = now_ms();
        for s in &full.sockets {
            let (k, inode) = ident(s);
            // As root every listener has an owner; one without is closing or not yet
            // attached: the next poll sees it as it is.
            if privileged && s.owners.is_empty() {
                continue;
            }
            let pids: Vec<u32> = s.owners.iter().map(|o| o.pid).collect();
            // A listener is new when its address was not held, or was held by other sockets
            // (one closed and another opened between two polls).
            let known = self
                .known
                .get(&k)
                .is_some_and(|h| h.inodes.contains(&inode));
            if !known && !current.contains_key(&k) {
                if let Some(old) = self.known.get(&k).filter(|h| !h.inodes.is_empty()) {
                    self.ops.push(Op::Closed(k.clone(), at));
                    self.gone(&old.pids.clone(), at);
                }
                let who = pids.first().and_then(|p| full.process(*p)).map_or_else(
                    || Who::gone(0, Some("a process lport could not see (not root?)")),
                    |p| Who::from_process(p.clone(), crate::sys::process_cwd(p.pid)),
                );
                let seen = if first { "start" } else { "poll" };
                let addr = SocketAddr::new(s.local.addr, s.local.port);
                self.ops.push(Op::Opened(Box::new(record(
                    s.proto.as_str(),
                    addr,
                    &who,
                    at,
                    seen,
                ))));
            }
            let held = current.entry(k).or_default();
            held.inodes.push(inode);
            held.pids.extend(pids);
        }
        if first {
            let keep: Vec<Key> = current.keys().cloned().collect();
            self.ops.insert(0, Op::OnlyThese(keep, at));
        } else {
            let closed: Vec<(Key, Vec<u32>)> = self
                .known
                .iter()
                .filter(|(k, _)| !current.contains_key(*k))
                .map(|(k, h)| (k.clone(), h.pids.clone()))
                .collect();
            for (k, pids) in closed {
                self.ops.push(Op::Closed(k, at));
                self.gone(&pids, at);
            }
        }
        self.known = current;
        Ok(())
    }
}
