//! `lport kill`: show who holds the ports, ask, signal, escalate, and check the ports are
//! free afterwards.

use std::io::{BufRead, IsTerminal, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use lport::Target;
use lport::kill::{Fate, KillQuery, Plan, Signal, execute, explain_holder, plan, verify};
use lport::wait::parse_duration;

use crate::cli::KillArgs;
use crate::output::{self, clean};

/// Validated settings for `kill`.
#[derive(Debug)]
struct KillConfig {
    query: KillQuery,
    signal: Signal,
    grace: Duration,
    yes: bool,
    dry_run: bool,
}

impl KillConfig {
    fn from_args(a: &KillArgs) -> Result<KillConfig> {
        let mut targets = Vec::new();
        for t in &a.targets {
            let target = Target::parse(t)?;
            if target.port.is_none() || target.unix.is_some() {
                bail!("invalid target {t:?}: a port is needed, as in 3000 or 127.0.0.1:3000");
            }
            targets.push(target);
        }
        Ok(KillConfig {
            query: KillQuery {
                targets,
                all_states: a.all_states,
            },
            signal: {
                let s = Signal::parse(&a.signal).map_err(|e| anyhow!(e))?;
                if !s.available() {
                    bail!(
                        "--signal {}: this platform can only end a process (TERM or KILL)",
                        a.signal
                    );
                }
                s
            },
            grace: parse_duration(&a.grace).map_err(|e| anyhow!("--grace: {e}"))?,
            yes: a.yes,
            dry_run: a.dry_run,
        })
    }
}

fn show_plan(p: &Plan, signal: Signal) -> Result<()> {
    let mut out = output::stdout();
    for v in &p.victims {
        let pr = &v.process;
        let socks: Vec<String> = v
            .sockets
            .iter()
            .map(|s| format!("{} {} {}", s.proto_family(), s.local, s.state))
            .collect();
        let action = match (&v.container, &v.service) {
            (Some(c), _) => format!(
                "stop container {} ({} stop {0}) instead of its proxy:",
                clean(&c.name),
                c.engine
            ),
            (None, Some(name)) => format!("stop service {} (sc stop {0}):", clean(name)),
            (None, None) => signal.action(),
        };
        writeln!(
            out,
            "{action} pid {} {} (user {}, started {}){}{}",
            pr.pid,
            clean(&pr.name),
            clean(&pr.account()),
            pr.start_time.as_deref().unwrap_or("?"),
            pr.container
                .as_deref()
                .map_or_else(String::new, |c| format!(", container {}", clean(c))),
            if pr.is_stopped() && signal != Signal::Kill {
                format!(
                    "\n    stopped  state {}: it acts on no signal but KILL until resumed; lport sends CONT after {}",
                    pr.state,
                    signal.action()
                )
            } else if pr.is_stopped() {
                format!("\n    stopped  state {}", pr.state)
            } else {
                String::new()
            }
        )?;
        writeln!(out, "    command  {}", clean(&pr.cmdline.join(" ")))?;
        writeln!(out, "    holds    {}", socks.join("; "))?;
    }
    for s in &p.spared {
        let who = s.process.as_ref().map_or_else(
            || "owner unknown".to_owned(),
            |p| format!("pid {} {}", p.pid, p.name),
        );
        writeln!(
            out,
            "skip {} on {} {}: {}",
            clean(&who),
            s.socket.proto_family(),
            s.socket.local,
            clean(&s.reason)
        )?;
    }
    out.flush()?;
    Ok(())
}

/// Asks "{verb} N processes?" on the terminal.
fn confirm(n: usize, verb: &str) -> Result<bool> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!(
            "not asking on a non-terminal: pass --yes to {} {n} process(es)",
            verb.to_lowercase()
        );
    }
    eprint!(
        "{verb} {n} process{}? [y/N] ",
        if n == 1 { "" } else { "es" }
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

pub(crate) fn run(args: &KillArgs) -> Result<ExitCode> {
    let cfg = KillConfig::from_args(args)?;
    let p = plan(&cfg.query)?;
    let names: Vec<String> = cfg.query.targets.iter().map(Target::display).collect();
    if p.victims.is_empty() && p.spared.is_empty() {
        eprintln!("lport: nothing listens on {}", names.join(", "));
        return Ok(ExitCode::from(1));
    }
    show_plan(&p, cfg.signal)?;
    if p.victims.is_empty() {
        eprintln!("lport: nothing lport may signal holds {}", names.join(", "));
        return Ok(ExitCode::from(1));
    }
    if cfg.dry_run {
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if p.victims.iter().all(|v| v.container.is_some()) {
        "Stop the container of".to_owned()
    } else if p.victims.iter().all(|v| v.service.is_some()) {
        "Stop the service of".to_owned()
    } else {
        match cfg.signal.action() {
            a if a.starts_with("SIG") => format!("Send {a} to"),
            // Where lport can only end a process: say that, not "send".
            a => format!("{}{}", a[..1].to_uppercase(), &a[1..]),
        }
    };
    if !cfg.yes && !confirm(p.victims.len(), &verb)? {
        eprintln!("lport: nothing sent");
        return Ok(ExitCode::from(1));
    }
    let fates = execute(&p, cfg.signal, cfg.grace);
    let mut out = output::stdout();
    for (pid, fate) in &fates {
        match fate {
            Fate::Exited => writeln!(out, "pid {pid} exited")?,
            Fate::Killed => writeln!(
                out,
                "pid {pid} ignored {} for {:.1}s: sent {}, it exited",
                cfg.signal.action(),
                cfg.grace.as_secs_f64(),
                Signal::Kill.action()
            )?,
            Fate::Survived => writeln!(
                out,
                "pid {pid} is still alive after {} (stopped in the kernel, or uninterruptible)",
                Signal::Kill.action()
            )?,
            Fate::Failed(e) => writeln!(out, "pid {pid}: could not signal it: {}", clean(e))?,
        }
    }
    // Supervisors (systemd, a shell loop, a process manager) restart a server within a
    // few hundred milliseconds; looking again after a moment catches that.
    std::thread::sleep(Duration::from_millis(400));
    let after = verify(&cfg.query)?;
    let killed: Vec<_> = p.victims.iter().map(|v| v.process.clone()).collect();
    let why = |s: &lport::Socket, holders: &[lport::Process]| -> String {
        if holders.is_empty() {
            s.owner_note
                .clone()
                .unwrap_or_else(|| "owner unknown".into())
        } else {
            holders
                .iter()
                .map(|h| explain_holder(h, &killed))
                .collect::<Vec<_>>()
                .join("; ")
        }
    };
    for (s, holders) in &after.bound {
        writeln!(
            out,
            "note: {} {} is bound without listening ({}): it takes no connections, but binding port {} on every address fails until it closes",
            s.proto_family(),
            s.local,
            clean(&why(s, holders)),
            s.local.port
        )?;
    }
    if after.still_held.is_empty() {
        let tw = if after.time_wait > 0 {
            format!(
                " ({} connection{} in TIME_WAIT remain: a server that sets SO_REUSEADDR, as most do, can listen again right away)",
                after.time_wait,
                if after.time_wait == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        };
        writeln!(out, "{} free{tw}", names.join(", "))?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    for (s, holders) in &after.still_held {
        writeln!(
            out,
            "{} {} is still held: {}",
            s.proto_family(),
            s.local,
            clean(&why(s, holders))
        )?;
    }
    out.flush()?;
    Ok(ExitCode::from(1))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn cfg(args: &[&str]) -> Result<KillConfig> {
        let cli = Cli::try_parse_from(["lport", "kill"].iter().chain(args))?;
        let Command::Kill(a) = cli.command else {
            bail!("not kill")
        };
        KillConfig::from_args(&a)
    }

    #[test]
    fn arguments_are_validated() {
        let e = |a: &[&str]| format!("{:#}", cfg(a).expect_err("should fail"));
        assert!(e(&[]).contains("required"));
        assert!(e(&["localhost"]).contains("a port is needed"));
        assert!(e(&["3000", "--signal", "STOP"]).contains("unknown signal"));
        assert!(e(&["3000", "--grace", "later"]).contains("--grace"));
        assert!(e(&["99999"]).contains("out of range"));
        if Signal::Int.available() {
            let c = cfg(&["3000", "udp/53", "-s", "int", "--grace", "1s", "-y"]).expect("cfg");
            assert_eq!(
                (c.signal, c.grace, c.yes),
                (Signal::Int, Duration::from_secs(1), true)
            );
        } else {
            // Windows: only ending a process is possible.
            assert!(e(&["3000", "-s", "int"]).contains("only end a process"));
        }
        let c = cfg(&["3000", "-s", "kill", "--grace", "1s", "-y"]).expect("cfg");
        assert_eq!(
            (c.signal, c.grace, c.yes),
            (Signal::Kill, Duration::from_secs(1), true)
        );
    }
}
