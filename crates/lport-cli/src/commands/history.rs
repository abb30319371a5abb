//! `lport history [TARGET]`: what the recorder kept about a port.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{Result, anyhow};
use lport::history::signal_name;
use lport::history::store::default_path;
use lport::history::{AttemptRecord, ListenerRecord};

use crate::cli::HistoryArgs;
use crate::output::{self, Style, clean};

fn when(ms: i64) -> String {
    lport::model::rfc3339_signed(ms.div_euclid(1000))
}

/// "killed by SIGKILL from kill (pid 9) (kill -9 42)", "exited with status 3".
pub(crate) fn ending_text(l: &ListenerRecord) -> Option<String> {
    let e = l.ending.as_ref()?;
    let from = e
        .sender
        .as_deref()
        .map(|s| format!(" from {}", clean(s)))
        .unwrap_or_default();
    Some(match e.kind.as_str() {
        "exited" => {
            let mut t = e.code.map_or_else(
                || "exited".to_owned(),
                |c| format!("exited with status {c}"),
            );
            if let Some(sig) = e.signal {
                let _ = write!(t, " after SIG{}{from}", signal_name(sig));
            }
            t
        }
        "killed" => format!(
            "killed by SIG{}{from}",
            e.signal.map_or_else(|| "?".to_owned(), signal_name)
        ),
        "oom-killed" => "killed by the kernel's OOM killer".to_owned(),
        _ => "its process is gone (how it ended was not seen: record as root for that)".to_owned(),
    })
}

pub(crate) fn run(args: &HistoryArgs) -> Result<ExitCode> {
    let target = args
        .target
        .as_deref()
        .map(lport::Target::parse)
        .transpose()?;
    if target.as_ref().is_some_and(|t| t.port.is_none()) {
        return Err(anyhow!("history needs a port: 3000, :3000, 127.0.0.1:3000"));
    }
    let since = args
        .since
        .as_deref()
        .map(|d| lport::wait::parse_duration(d).map_err(|e| anyhow!("--since: {e}")))
        .transpose()?;
    if args.limit == 0 {
        return Err(anyhow!("--limit must be at least 1"));
    }
    let path = args.db.clone().unwrap_or_else(default_path);
    let now_ms = (lport::history::now_ns() / 1_000_000) as i64;
    let since_ms = since.map_or(0, |d| now_ms - d.as_millis() as i64);
    let port = target.as_ref().and_then(|t| t.port);
    let mut report = match lport::history::report(&path, port, since_ms, args.limit) {
        Ok(Some(r)) => r,
        Ok(None) => {
            eprintln!(
                "lport history: nothing recorded yet: {} does not exist (start `lport record`, as root for how processes ended and who connected)",
                path.display()
            );
            return Ok(ExitCode::from(2));
        }
        Err(e) => {
            eprintln!("lport history: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    if let Some(addrs) = target
        .as_ref()
        .filter(|t| t.host.is_some())
        .map(lport::Target::resolve)
        .transpose()?
    {
        let keep = |a: &str| {
            a.parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_unspecified() || addrs.contains(&ip))
        };
        report.listeners.retain(|l| keep(&l.addr));
        report.attempts.retain(|a| keep(&a.addr));
    }
    let (listeners, attempts, lost) = (&report.listeners, &report.attempts, report.lost);
    let found = !listeners.is_empty() || !attempts.is_empty();
    let mut out = output::stdout();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(if found {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    let style = Style::detect();
    if !found {
        writeln!(
            out,
            "nothing recorded{} in {}",
            port.map(|p| format!(" for port {p}")).unwrap_or_default(),
            path.display()
        )?;
        return Ok(ExitCode::from(1));
    }
    if !listeners.is_empty() {
        writeln!(out, "{}", style.paint("Listeners", "1"))?;
        for l in listeners {
            print_listener(&mut out, l)?;
        }
    }
    if !attempts.is_empty() {
        if !listeners.is_empty() {
            writeln!(out)?;
        }
        writeln!(out, "{}", style.paint("Clients that tried to connect", "1"))?;
        for a in attempts {
            print_attempt(&mut out, a)?;
        }
    }
    if lost > 0 {
        writeln!(
            out,
            "\n{lost} kernel event(s) were lost while recording: the record may miss some"
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn addr(a: &str, port: u16) -> String {
    if a.contains(':') {
        format!("[{a}]:{port}")
    } else {
        format!("{a}:{port}")
    }
}

fn print_listener(out: &mut impl std::io::Write, l: &ListenerRecord) -> Result<()> {
    let span = match l.closed_ms {
        Some(c) => format!("{} .. {}", when(l.opened_ms), when(c)),
        None => format!("{} .. open", when(l.opened_ms)),
    };
    let since = if l.seen == "start" {
        " (open when recording began)"
    } else {
        ""
    };
    writeln!(
        out,
        "  {} {} {} (pid {}){since}",
        l.proto,
        addr(&l.addr, l.port),
        clean(&l.name),
        l.pid
    )?;
    writeln!(out, "    {span}")?;
    if !l.cmdline.is_empty() {
        writeln!(out, "    command: {}", clean(&l.cmdline.join(" ")))?;
    }
    if let Some(cwd) = &l.cwd {
        writeln!(out, "    in: {}", clean(cwd))?;
    }
    if let Some(e) = ending_text(l) {
        writeln!(out, "    ended: {e}")?;
    }
    Ok(())
}

fn print_attempt(out: &mut impl std::io::Write, a: &AttemptRecord) -> Result<()> {
    let who = if a.processes > 1 {
        format!(
            "{} ({} processes, the last pid {})",
            a.name, a.processes, a.pid
        )
    } else {
        format!("{} (pid {})", a.name, a.pid)
    };
    writeln!(
        out,
        "  {} x {} -> {} {} ({} .. {})",
        a.count,
        clean(&who),
        addr(&a.addr, a.port),
        a.outcome,
        when(a.first_ms),
        when(a.last_ms)
    )?;
    Ok(())
}
