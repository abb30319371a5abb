//! `lport trace`: connection attempts and listener changes as the kernel reports them, with
//! the processes named. Repeats fold into one line, so a client hammering a closed port
//! never floods the terminal.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use lport::history::{How, Live, LiveEvent, Outcome, Who, signal_name};
use serde_json::json;

use super::filter::TargetFilter;
use crate::cli::TraceArgs;
use crate::output::{self, Style, clean};

/// Which events to show.
struct Filter {
    targets: Vec<TargetFilter>,
    failed_only: bool,
    pids: Vec<u32>,
    names: Vec<String>,
    uid_user: Option<(Option<u32>, String)>,
}

impl Filter {
    fn addr(&self, a: SocketAddr) -> bool {
        self.targets.is_empty()
            || self.targets.iter().any(|t| {
                t.port.is_none_or(|p| p == a.port())
                    && t.addrs
                        .as_ref()
                        .is_none_or(|addrs| addrs.contains(&a.ip()) || a.ip().is_unspecified())
                    && t.proto.is_none_or(|p| p == lport::Proto::Tcp)
            })
    }

    fn who(&self, w: &Who) -> bool {
        (self.pids.is_empty() || self.pids.contains(&w.pid))
            && (self.names.is_empty() || {
                let n = w.name.to_lowercase();
                self.names.iter().any(|x| n.contains(&x.to_lowercase()))
            })
            && self
                .uid_user
                .as_ref()
                .is_none_or(|(_, name)| w.user.as_deref() == Some(name))
    }

    fn keep(&self, ev: &LiveEvent) -> bool {
        match ev {
            LiveEvent::Attempt { attempt, client } => {
                (!self.failed_only || attempt.outcome != Outcome::Connected)
                    && self.addr(attempt.dst)
                    && self.who(client)
            }
            LiveEvent::Opened { addr, who, .. } | LiveEvent::Closed { addr, who, .. } => {
                self.addr(*addr) && self.who(who)
            }
            LiveEvent::Ended { who, listened, .. } => {
                (self.targets.is_empty() || listened.iter().any(|a| self.addr(*a))) && self.who(who)
            }
            LiveEvent::Lost(_) => true,
        }
    }
}

fn clock(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let ms = (ns / 1_000_000) % 1000;
    let day = secs % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{ms:03}",
        day / 3600,
        (day / 60) % 60,
        day % 60
    )
}

fn at(ns: u64) -> String {
    let base = lport::model::rfc3339(ns / 1_000_000_000);
    format!(
        "{}.{:03}Z",
        base.trim_end_matches('Z'),
        (ns / 1_000_000) % 1000
    )
}

fn addr_text(a: SocketAddr) -> String {
    a.to_string()
}

/// `how` in words: "exited with status 3", "killed by SIGKILL from kill (pid 9)".
pub(crate) fn how_text(how: &How, sender: Option<&Who>) -> String {
    let from = |pid: u32| match sender {
        Some(w) if w.pid == pid => format!(" from {}", clean(&w.label())),
        _ if pid == 0 => " from the kernel".to_owned(),
        _ => format!(" from pid {pid}"),
    };
    match how {
        How::Exited { code, after_signal } => {
            let status = if *code < 0 {
                "exited".to_owned()
            } else {
                format!("exited with status {code}")
            };
            match after_signal {
                Some(s) => format!("{status} after SIG{}{}", signal_name(s.sig), from(s.sender)),
                None => status,
            }
        }
        How::Killed { signal } => format!(
            "killed by SIG{}{}",
            signal_name(signal.sig),
            from(signal.sender)
        ),
        How::OomKilled => "killed by the kernel's OOM killer".to_owned(),
    }
}

fn who_json(w: &Who) -> serde_json::Value {
    json!({"pid": w.pid, "name": w.name, "cmdline": w.cmdline, "exe": w.exe, "cwd": w.cwd,
           "user": w.user, "unit": w.unit, "container": w.container, "start_time": w.start_time,
           "exited": !w.seen})
}

fn ep(a: SocketAddr) -> serde_json::Value {
    json!({"addr": a.ip().to_string(), "port": a.port()})
}

fn event_json(ev: &LiveEvent) -> serde_json::Value {
    match ev {
        LiveEvent::Attempt { attempt, client } => json!({
            "schema": 1, "event": "attempt", "at": at(attempt.time_ns), "client": who_json(client),
            "src": ep(attempt.src), "dst": ep(attempt.dst), "outcome": attempt.outcome.as_str(),
            "ms": (attempt.ms * 1000.0).round() / 1000.0,
        }),
        LiveEvent::Opened { time_ns, addr, who } => json!({
            "schema": 1, "event": "listener-opened", "at": at(*time_ns), "proto": "tcp",
            "local": ep(*addr), "process": who_json(who),
        }),
        LiveEvent::Closed { time_ns, addr, who } => json!({
            "schema": 1, "event": "listener-closed", "at": at(*time_ns), "proto": "tcp",
            "local": ep(*addr), "process": who_json(who),
        }),
        LiveEvent::Ended {
            ending,
            who,
            sender,
            ..
        } => json!({
            "schema": 1, "event": "process-ended", "at": at(ending.time_ns),
            "process": who_json(who), "how": ending.how,
            "sender": sender.as_ref().map(who_json),
        }),
        LiveEvent::Lost(n) => json!({"schema": 1, "event": "lost", "count": n}),
    }
}

/// The text line of one event, without the fold count.
fn event_line(ev: &LiveEvent, style: &Style) -> String {
    match ev {
        LiveEvent::Attempt { attempt, client } => {
            let outcome = match attempt.outcome {
                Outcome::Connected => style.paint("connected", "32"),
                Outcome::Refused => style.paint("refused", "31"),
                Outcome::Timeout => {
                    style.paint(&format!("timeout after {:.1}s", attempt.ms / 1000.0), "31")
                }
                Outcome::Failed => style.paint("failed", "31"),
            };
            format!(
                "{} {} -> {} {outcome}",
                clock(attempt.time_ns),
                clean(&client.label()),
                addr_text(attempt.dst)
            )
        }
        LiveEvent::Opened { time_ns, addr, who } => format!(
            "{} {} {} {}",
            clock(*time_ns),
            style.paint("+ listen", "32"),
            addr_text(*addr),
            clean(&who.label())
        ),
        LiveEvent::Closed { time_ns, addr, who } => format!(
            "{} {} {} {}",
            clock(*time_ns),
            style.paint("- closed", "33"),
            addr_text(*addr),
            clean(&who.label())
        ),
        LiveEvent::Ended {
            ending,
            who,
            sender,
            ..
        } => format!(
            "{} {} {} {}",
            clock(ending.time_ns),
            style.paint("! ended", "31"),
            clean(&who.label()),
            how_text(&ending.how, sender.as_ref())
        ),
        LiveEvent::Lost(n) => format!(
            "{} the kernel dropped {n} event(s): lport read too slowly",
            clock(lport::history::now_ns())
        ),
    }
}

/// What makes two attempts "the same" for folding and the summary.
fn fold_key(ev: &LiveEvent) -> Option<(u32, String, SocketAddr, Outcome)> {
    match ev {
        LiveEvent::Attempt { attempt, client } => Some((
            client.pid,
            client.name.clone(),
            attempt.dst,
            attempt.outcome,
        )),
        _ => None,
    }
}

/// Prints events, folding a run of identical attempts: the first is printed at once, the
/// repeats as one line with the run's total, at most once a second.
struct Printer {
    style: Style,
    width: Option<usize>,
    run: Option<Run>,
}

struct Run {
    key: (u32, String, SocketAddr, Outcome),
    line: String,
    total: u64,
    unprinted: u64,
    printed_at: Instant,
}

impl Printer {
    fn line(&self, s: &str) {
        let text = match self.width {
            Some(w) => output::fit(s, w).into_owned(),
            None => s.to_owned(),
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    fn print_run(&mut self) {
        if let Some(r) = &mut self.run
            && r.unprinted > 0
        {
            r.unprinted = 0;
            r.printed_at = Instant::now();
            let text = format!("{} x {}", r.line, r.total);
            self.line(&text);
        }
    }

    fn show(&mut self, ev: &LiveEvent) {
        let key = fold_key(ev);
        if let (Some(k), Some(r)) = (&key, &mut self.run)
            && *k == r.key
        {
            r.total += 1;
            r.unprinted += 1;
            return;
        }
        self.print_run();
        let line = event_line(ev, &self.style);
        self.line(&line);
        self.run = key.map(|key| Run {
            key,
            line,
            total: 1,
            unprinted: 0,
            printed_at: Instant::now(),
        });
    }

    /// Repeats are written out at most once a second.
    fn tick(&mut self) {
        if self
            .run
            .as_ref()
            .is_some_and(|r| r.printed_at.elapsed() >= Duration::from_secs(1))
        {
            self.print_run();
        }
    }
}

/// The filters the arguments ask for.
fn filter_from(args: &TraceArgs) -> Result<Filter> {
    let targets = args
        .targets
        .iter()
        .map(|t| TargetFilter::parse(t))
        .collect::<Result<Vec<_>>>()?;
    if targets.iter().any(|t| t.proto == Some(lport::Proto::Udp)) {
        return Err(anyhow!(
            "trace follows TCP only: UDP has no connection attempts to see"
        ));
    }
    let uid_user = match &args.user {
        Some(u) => {
            let users = lport::users::Users::load();
            let (uid, name) = match u.parse::<u32>() {
                Ok(n) => (
                    Some(n),
                    users.name(n).map_or_else(|| u.clone(), str::to_owned),
                ),
                Err(_) => (users.uid(u), u.clone()),
            };
            if uid.is_none() {
                return Err(anyhow!("--user: no user named {u:?}"));
            }
            Some((uid, name))
        }
        None => None,
    };
    Ok(Filter {
        targets,
        failed_only: args.failed,
        pids: args.pid.clone(),
        names: args.process.clone(),
        uid_user,
    })
}

pub(crate) fn run(args: &TraceArgs) -> Result<ExitCode> {
    let filter = filter_from(args)?;
    let duration = args
        .duration
        .as_deref()
        .map(|d| lport::wait::parse_duration(d).map_err(|e| anyhow!("--duration: {e}")))
        .transpose()?;
    if duration == Some(Duration::ZERO) {
        return Err(anyhow!("--duration must be more than 0"));
    }
    // Ports narrow the kernel's filter; an address is checked here.
    let ports: Vec<u16> = if filter.targets.iter().all(|t| t.port.is_some()) {
        filter.targets.iter().filter_map(|t| t.port).collect()
    } else {
        Vec::new()
    };
    let mut live = match Live::open(&ports) {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "lport trace: cannot read kernel events here: {e}.\n  What still works: `lport watch` \
                 shows listeners opening and closing (by polling), and `lport record` keeps them."
            );
            return Ok(ExitCode::from(1));
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    // On stderr in every mode: scripts (and tests) wait for this line to know that every
    // event from now on is seen.
    eprintln!("tracing TCP connection attempts and listeners (Ctrl-C to stop)");
    let started = Instant::now();
    let mut printer = Printer {
        style: Style::detect(),
        width: lport::terminal_columns(),
        run: None,
    };
    let mut counts: BTreeMap<(String, SocketAddr, Outcome), u64> = BTreeMap::new();
    let mut lost = 0u64;
    while !stop.load(Ordering::Relaxed) && duration.is_none_or(|d| started.elapsed() < d) {
        let wait = duration.map_or(Duration::from_millis(200), |d| {
            d.saturating_sub(started.elapsed())
                .min(Duration::from_millis(200))
        });
        for ev in live.next(wait) {
            if let LiveEvent::Lost(n) = ev {
                lost += n;
            }
            if !filter.keep(&ev) {
                continue;
            }
            if args.summary {
                if let LiveEvent::Attempt { attempt, client } = &ev {
                    *counts
                        .entry((client.label(), attempt.dst, attempt.outcome))
                        .or_default() += 1;
                }
            } else if args.json {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{}", event_json(&ev));
                let _ = out.flush();
            } else {
                printer.show(&ev);
            }
        }
        if !args.json && !args.summary {
            printer.tick();
        }
    }
    printer.print_run();
    let evicted = live.evicted();
    if args.summary {
        print_summary(&counts, lost, args.json, &printer.style);
    }
    if lost > 0 || evicted > 0 {
        eprintln!(
            "lport trace: {lost} event(s) lost in the kernel, {evicted} attempt(s) forgotten in flight"
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn print_summary(
    counts: &BTreeMap<(String, SocketAddr, Outcome), u64>,
    lost: u64,
    json: bool,
    style: &Style,
) {
    let mut rows: Vec<_> = counts.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut out = output::stdout();
    if json {
        let rows_json: Vec<_> = rows
            .iter()
            .map(|((client, dst, outcome), n)| {
                json!({"client": client, "dst": ep(*dst), "outcome": outcome.as_str(), "count": n})
            })
            .collect();
        let _ = writeln!(
            out,
            "{}",
            json!({"schema": 1, "summary": rows_json, "lost": lost})
        );
        return;
    }
    if rows.is_empty() {
        let _ = writeln!(out, "no connection attempts seen");
        return;
    }
    let _ = writeln!(
        out,
        "{}",
        style.paint(
            &format!("{:>7}  {:<10} {:<28} CLIENT", "COUNT", "OUTCOME", "TARGET"),
            "1"
        )
    );
    for ((client, dst, outcome), n) in rows {
        let _ = writeln!(
            out,
            "{n:>7}  {:<10} {:<28} {}",
            outcome.as_str(),
            dst.to_string(),
            clean(client)
        );
    }
    if lost > 0 {
        let _ = writeln!(
            out,
            "{lost} event(s) were lost in the kernel: counts may be low"
        );
    }
}
