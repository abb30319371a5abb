//! `lport watch`: the listener table refreshed in place, new listeners highlighted and
//! closed ones fading for a few refreshes; or, with `--json`, one line per event.

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Result, anyhow};
use lport::{Process, Query, Snapshot, Socket};
use serde::Serialize;

use super::filter::{TargetFilter, retain};
use crate::cli::WatchArgs;
use crate::output::table::RowMark;
use crate::output::{self, Style, clean};

/// How many refreshes a closed listener stays on screen.
const FADE: u32 = 3;

/// What identifies a listener across snapshots.
type Key = (lport::Proto, lport::Endpoint, Option<u64>, u64);

fn key(s: &Socket) -> Key {
    (s.proto, s.local, s.netns.inode, s.inode)
}

/// One line of `watch --json`; the field names are the JSON contract.
#[derive(Serialize)]
#[allow(clippy::struct_field_names)]
struct Event<'a> {
    schema: u32,
    event: &'static str,
    socket: &'a Socket,
    process: Option<&'a Process>,
    at: String,
}

fn now() -> String {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    lport::model::rfc3339(secs)
}

fn take(targets: &[TargetFilter]) -> Result<Snapshot> {
    let mut snap = lport::snapshot(&Query::listeners())?;
    retain(&mut snap, |s, _| {
        targets.is_empty() || targets.iter().any(|t| t.matches(s))
    });
    Ok(snap)
}

/// Sleeps up to `d`, waking early when `stop` is set.
fn nap(d: Duration, stop: &AtomicBool) {
    let until = Instant::now() + d;
    while !stop.load(Ordering::Relaxed) && Instant::now() < until {
        std::thread::sleep(
            Duration::from_millis(20).min(until.saturating_duration_since(Instant::now())),
        );
    }
}

pub(crate) fn run(args: &WatchArgs) -> Result<ExitCode> {
    let targets = args
        .targets
        .iter()
        .map(|t| TargetFilter::parse(t))
        .collect::<Result<Vec<_>>>()?;
    let interval =
        lport::wait::parse_duration(&args.interval).map_err(|e| anyhow!("--interval: {e}"))?;
    if interval < Duration::from_millis(10) {
        return Err(anyhow!("--interval must be at least 10ms"));
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    let live = !args.json && std::io::stdout().is_terminal();
    if live {
        // The alternate screen keeps the user's scrollback; the cursor hides while drawing.
        print!("\x1b[?1049h\x1b[?25l");
    }
    let result = if args.json || !live {
        stream(&targets, interval, &stop, args.json)
    } else {
        screen(&targets, interval, &stop)
    };
    if live {
        print!("\x1b[?25h\x1b[?1049l");
        let _ = std::io::stdout().flush();
    }
    result.map(|()| ExitCode::SUCCESS)
}

/// Events as JSON lines, or as plain lines when stdout is not a terminal.
fn stream(
    targets: &[TargetFilter],
    interval: Duration,
    stop: &AtomicBool,
    json: bool,
) -> Result<()> {
    let mut prev: HashMap<Key, (Socket, Option<Process>)> = HashMap::new();
    let mut held: std::collections::HashSet<Key> = std::collections::HashSet::new();
    let mut first = true;
    while !stop.load(Ordering::Relaxed) {
        let snap = take(targets)?;
        let mut cur: HashMap<Key, (Socket, Option<Process>)> = HashMap::new();
        for s in &snap.sockets {
            let p = s.owners.first().and_then(|o| snap.process(o.pid)).cloned();
            cur.insert(key(s), (s.clone(), p));
        }
        let mut out = output::stdout();
        if first && !json {
            // Plain lines start with what is there, so a pipe shows the state at once.
            let at = now();
            let mut all: Vec<_> = cur.iter().collect();
            all.sort_by_key(|(k, _)| **k);
            for (_, (s, p)) in all {
                let who = p.as_ref().map_or_else(
                    || "?".to_owned(),
                    |p| format!("{} ({})", clean(&p.name), p.pid),
                );
                writeln!(
                    out,
                    "{at} {} {} {} {who}",
                    s.state,
                    s.proto_family(),
                    s.local
                )?;
            }
        }
        if !first {
            let at = now();
            // A socket made while the fd tables were read can be seen before its process
            // is: one seen without a process waits a tick for it (and one that closed
            // meanwhile is still reported, opened and then closed).
            let mut opened: Vec<_> = cur
                .iter()
                .filter(|(k, (_, p))| {
                    if prev.contains_key(k) {
                        return held.remove(k);
                    }
                    if p.is_none() && held.insert(**k) {
                        return false;
                    }
                    true
                })
                .collect();
            opened.extend(
                prev.iter()
                    .filter(|(k, _)| !cur.contains_key(k) && held.remove(k)),
            );
            opened.sort_by_key(|(k, _)| **k);
            let mut closed: Vec<_> = prev.iter().filter(|(k, _)| !cur.contains_key(k)).collect();
            closed.sort_by_key(|(k, _)| **k);
            for (event, list) in [("opened", opened), ("closed", closed)] {
                for (_, (s, p)) in list {
                    if json {
                        let e = Event {
                            schema: 1,
                            event,
                            socket: s,
                            process: p.as_ref(),
                            at: at.clone(),
                        };
                        serde_json::to_writer(&mut out, &e)?;
                        writeln!(out)?;
                    } else {
                        let who = p.as_ref().map_or_else(
                            || "?".to_owned(),
                            |p| format!("{} ({})", clean(&p.name), p.pid),
                        );
                        writeln!(out, "{at} {event} {} {} {who}", s.proto_family(), s.local)?;
                    }
                }
            }
        }
        out.flush()?;
        drop(out);
        first = false;
        prev = cur;
        nap(interval, stop);
    }
    Ok(())
}

/// The table, redrawn in place.
fn screen(targets: &[TargetFilter], interval: Duration, stop: &AtomicBool) -> Result<()> {
    let mut seen: HashMap<Key, u32> = HashMap::new();
    let mut fading: BTreeMap<Key, (Socket, Option<Process>, u32)> = BTreeMap::new();
    let mut prev: HashMap<Key, (Socket, Option<Process>)> = HashMap::new();
    let mut first = true;
    while !stop.load(Ordering::Relaxed) {
        let mut snap = take(targets)?;
        let cur: HashMap<Key, (Socket, Option<Process>)> = snap
            .sockets
            .iter()
            .map(|s| {
                (
                    key(s),
                    (
                        s.clone(),
                        s.owners.first().and_then(|o| snap.process(o.pid)).cloned(),
                    ),
                )
            })
            .collect();
        for (k, (s, p)) in &prev {
            if !cur.contains_key(k) {
                fading.insert(*k, (s.clone(), p.clone(), FADE));
            }
        }
        fading.retain(|k, v| {
            v.2 = v.2.saturating_sub(1);
            v.2 > 0 && !cur.contains_key(k)
        });
        // Rows there from the start are not news: they begin as old as a row can be.
        let start_at = if first { FADE } else { 0 };
        for k in cur.keys() {
            *seen.entry(*k).or_insert(start_at) += 1;
        }
        seen.retain(|k, _| cur.contains_key(k));
        // New (seen for the first time since the start) and fading rows, marked.
        let new: Vec<Key> = if first {
            Vec::new()
        } else {
            seen.iter()
                .filter(|(_, n)| **n <= FADE)
                .map(|(k, _)| *k)
                .collect()
        };
        for (s, p, _) in fading.values() {
            snap.sockets.push(s.clone());
            if let Some(p) = p
                && snap.process(p.pid).is_none()
            {
                snap.processes.push(p.clone());
                snap.processes.sort_by_key(|p| p.pid);
            }
        }
        // Every frame fits the terminal as it is now (it may have been resized).
        let style = Style::detect();
        let rows = std::env::var("LINES")
            .ok()
            .and_then(|l| l.parse().ok())
            .filter(|&r: &usize| r > 0)
            .or_else(lport::terminal_rows);
        let mut out = output::stdout();
        write!(out, "\x1b[H\x1b[2J")?;
        let title = format!(
            "lport watch  {}  every {:?}  (Ctrl-C to quit)  + new  - closed",
            now(),
            interval
        );
        let title = style
            .width
            .map_or(std::borrow::Cow::Borrowed(title.as_str()), |w| {
                output::fit(&title, w)
            });
        writeln!(out, "{}", style.paint(&title, "1"))?;
        drop(out);
        let marks: Vec<RowMark> = snap
            .sockets
            .iter()
            .map(|s| {
                if fading.contains_key(&key(s)) {
                    RowMark::Gone
                } else if new.contains(&key(s)) {
                    RowMark::New
                } else {
                    RowMark::Plain
                }
            })
            .collect();
        // The title takes one row; the table gets the rest.
        output::table::print_sockets_marked(&snap, &style, &marks, rows.map(|r| r - 1))?;
        first = false;
        prev = cur;
        nap(interval, stop);
    }
    Ok(())
}
