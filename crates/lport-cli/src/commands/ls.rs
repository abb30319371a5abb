//! `lport [ls]`: listeners (or, with `-a`, every socket) with the processes holding them.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{Result, bail};
use lport::probe::Service;
use lport::{Query, State, StateSet};

use super::filter::{OwnerFilter, TargetFilter, retain};
use crate::cli::LsArgs;
use crate::output::{self, Style};

/// Validated settings for `ls`.
#[derive(Debug)]
struct LsConfig {
    query: Query,
    targets: Vec<TargetFilter>,
    owners: OwnerFilter,
    json: bool,
}

impl LsConfig {
    fn from_args(a: &LsArgs) -> Result<LsConfig> {
        let targets = a
            .targets
            .iter()
            .map(|t| TargetFilter::parse(t))
            .collect::<Result<Vec<_>>>()?;
        let mut states = if a.all {
            StateSet::all()
        } else {
            StateSet::listeners()
        };
        if !a.state.is_empty() {
            states = StateSet::empty();
            for s in &a.state {
                match State::parse(s) {
                    Some(st) => states.insert(st),
                    None => bail!(
                        "unknown state {s:?}; states are listen, bound, unconn, established, syn-sent, syn-recv, fin-wait1, fin-wait2, time-wait, close, close-wait, last-ack, closing"
                    ),
                }
            }
        }
        let uid = match &a.user {
            None => None,
            Some(u) => Some(match u.parse::<u32>() {
                Ok(n) => n,
                Err(_) => lport::users::Users::load()
                    .uid(u)
                    .ok_or_else(|| anyhow::anyhow!("unknown user {u:?}"))?,
            }),
        };
        // The kernel filters by port when every target names the same one.
        let port = match targets.first().and_then(|t| t.port) {
            Some(p) if targets.iter().all(|t| t.port == Some(p)) => Some(p),
            _ => None,
        };
        let any_proto = !a.tcp && !a.udp;
        let any_family = !a.ipv4 && !a.ipv6;
        let query = Query {
            tcp: any_proto || a.tcp,
            udp: any_proto || a.udp,
            ipv4: any_family || a.ipv4,
            ipv6: any_family || a.ipv6,
            // Connections are listed from both ends: the client's socket too, with its
            // process (its remote port is the one asked for).
            either_end: port.is_some() && states != lport::StateSet::listeners(),
            states,
            port,
            ..Query::listeners()
        };
        Ok(LsConfig {
            query,
            targets,
            owners: OwnerFilter {
                pids: a.pid.clone(),
                names: a.process.clone(),
                uid,
                exposed: a.exposed,
            },
            json: a.json,
        })
    }
}

pub(crate) fn run(args: &LsArgs) -> Result<ExitCode> {
    let cfg = LsConfig::from_args(args)?;
    let mut snap = lport::snapshot(&cfg.query)?;
    retain(&mut snap, |s, snap| {
        (cfg.targets.is_empty() || cfg.targets.iter().any(|t| t.matches(s)))
            && cfg.owners.matches(s, snap)
    });
    super::print_notes(&snap.notes);
    let services = args.identify.then(|| identify(&snap));
    if cfg.json {
        output::json::print_sockets(&snap, services.as_deref())?;
    } else {
        let style = Style::detect();
        let show_remote = args.all || snap.sockets.iter().any(|s| s.remote.is_some());
        let total = snap.sockets.len();
        // On a terminal, a process with thousands of sockets would bury the rest: it shows
        // a few, and a line counts the others. A pipe gets every row.
        let folded = if style.width.is_some() && !args.expand && services.is_none() {
            fold(&mut snap)
        } else {
            Vec::new()
        };
        output::table::print_sockets(&snap, &style, show_remote, services.as_deref())?;
        if style.width.is_some() && (total > FOLD_AFTER || !folded.is_empty()) {
            let mut out = output::stdout();
            for f in &folded {
                writeln!(out, "{}", style.paint(&format!("… {f}"), "2"))?;
            }
            let n = snap.processes.len();
            let processes = format!("{n} process{}", if n == 1 { "" } else { "es" });
            let summary = if folded.is_empty() {
                format!("{total} sockets, {processes}")
            } else {
                format!(
                    "{total} sockets, {processes} ({} shown; --expand shows every row)",
                    snap.sockets.len()
                )
            };
            writeln!(out, "{}", style.paint(&summary, "2"))?;
        }
        if snap.sockets.is_empty() && !args.targets.is_empty() {
            eprintln!("nothing matched {}", args.targets.join(" "));
        }
    }
    Ok(if snap.sockets.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// How long `ls --identify` may probe, all listeners together.
const IDENTIFY_RUN: std::time::Duration = std::time::Duration::from_secs(3);

/// What `--identify` found for each socket, in snapshot order. Only TCP listeners on a
/// loopback or wildcard address in this namespace are probed (over loopback); the rest are
/// `None`.
fn identify(snap: &lport::Snapshot) -> Vec<Option<Service>> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    let target = |s: &lport::Socket| -> Option<SocketAddr> {
        if s.proto != lport::Proto::Tcp || s.state != State::Listen || !s.netns.host {
            return None;
        }
        let ip = match s.local.addr {
            IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            a if lport::model::is_loopback(a) => a,
            _ => return None,
        };
        Some(SocketAddr::new(ip, s.local.port))
    };
    let wanted: Vec<(usize, SocketAddr)> = snap
        .sockets
        .iter()
        .enumerate()
        .filter_map(|(i, s)| target(s).map(|a| (i, a)))
        .collect();
    let addrs: Vec<SocketAddr> = wanted.iter().map(|(_, a)| *a).collect();
    // The whole run is bounded: a service that drips its replies cannot hold the listing.
    let found = lport::probe::identify_many(
        &addrs,
        std::time::Duration::from_secs(1),
        std::time::Instant::now() + IDENTIFY_RUN,
    );
    let mut out = vec![None; snap.sockets.len()];
    for ((i, _), svc) in wanted.into_iter().zip(found) {
        out[i] = svc;
    }
    out
}

/// A process (or the ownerless sockets of one state) with more sockets than this is folded
/// on a terminal: its first `FOLD_KEEP` rows, and a count.
const FOLD_AFTER: usize = 8;
const FOLD_KEEP: usize = 3;

/// Folds the sockets of processes that hold many; returns one line per folded group.
fn fold(snap: &mut lport::Snapshot) -> Vec<String> {
    use std::collections::HashMap;
    // Sockets without a visible owner group by state (thousands of TIME_WAITs).
    let group = |s: &lport::Socket| -> (Option<u32>, Option<lport::State>) {
        match s.owners.first() {
            Some(o) => (Some(o.pid), None),
            None => (None, Some(s.state)),
        }
    };
    let mut counts: HashMap<(Option<u32>, Option<lport::State>), usize> = HashMap::new();
    for s in &snap.sockets {
        *counts.entry(group(s)).or_default() += 1;
    }
    if counts.values().all(|&n| n <= FOLD_AFTER) {
        return Vec::new();
    }
    let mut kept: HashMap<(Option<u32>, Option<lport::State>), usize> = HashMap::new();
    snap.sockets.retain(|s| {
        let g = group(s);
        if counts[&g] <= FOLD_AFTER {
            return true;
        }
        let k = kept.entry(g).or_default();
        *k += 1;
        *k <= FOLD_KEEP
    });
    let mut lines: Vec<(usize, String)> = counts
        .into_iter()
        .filter(|&(_, n)| n > FOLD_AFTER)
        .map(|((pid, state), n)| {
            let more = n - FOLD_KEEP;
            let text = match (pid, state) {
                (Some(pid), _) => {
                    let name = snap
                        .process(pid)
                        .map_or_else(|| "?".to_owned(), |p| output::clean(&p.name).into_owned());
                    format!("{more} more sockets of {name} ({pid}): lport ls --pid {pid} --expand")
                }
                (None, Some(state)) => {
                    format!("{more} more {state} sockets with no process shown")
                }
                (None, None) => format!("{more} more sockets"),
            };
            (n, text)
        })
        .collect();
    lines.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    lines.into_iter().map(|(_, t)| t).collect()
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::cli::{Cli, Command};

    fn cfg(args: &[&str]) -> Result<LsConfig> {
        let cli = Cli::parse_args(std::iter::once("lport").chain(args.iter().copied()))?;
        let Command::Ls(a) = cli.command else {
            anyhow::bail!("not ls")
        };
        LsConfig::from_args(&a)
    }

    #[test]
    fn flags_become_a_query() {
        let c = cfg(&["-t", "-4", "3000"]).expect("cfg");
        assert!(c.query.tcp && !c.query.udp && c.query.ipv4 && !c.query.ipv6);
        assert_eq!(c.query.port, Some(3000));
        assert!(!c.query.states.contains(State::Established));
        let c = cfg(&["-a", "3000", "4000"]).expect("cfg");
        assert_eq!(c.query.port, None);
        assert!(c.query.states.contains(State::TimeWait));
        let c = cfg(&["--state", "time-wait,established"]).expect("cfg");
        assert!(
            c.query.states.contains(State::TimeWait) && !c.query.states.contains(State::Listen)
        );
    }

    #[test]
    fn bad_input_is_rejected_before_work() {
        let msg = |a: &[&str]| format!("{:#}", cfg(a).expect_err("should fail"));
        assert!(msg(&["70000"]).contains("out of range"));
        assert!(msg(&["256.1.1.1:80"]).contains("not a valid IPv4"));
        assert!(msg(&["--state", "sleeping"]).contains("unknown state"));
        assert!(msg(&["--user", "no-such-user-here"]).contains("unknown user"));
    }
}
