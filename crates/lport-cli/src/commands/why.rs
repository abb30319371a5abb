//! `lport why`: a verdict line first, then each finding with its evidence and fix, then the
//! service that answers.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{Result, anyhow};
use lport::Target;
use lport::diagnose::{Mode, Options, Outcome, Report, Severity, Verdict, diagnose};
use lport::wait::parse_duration;

use crate::cli::WhyArgs;
use crate::output::{self, Style, clean};

pub(crate) fn run(args: &WhyArgs) -> Result<ExitCode> {
    let target = Target::parse(&args.target)?;
    if target.port.is_none() || target.unix.is_some() {
        return Err(anyhow!(
            "invalid target {:?}: a port is needed, as in localhost:3000 or :3000",
            args.target
        ));
    }
    let opts = Options {
        mode: if args.listen {
            Mode::Listen
        } else {
            Mode::Connect
        },
        timeout: positive(&args.timeout, "--timeout")?,
        identify: !args.no_identify,
    };
    let report = diagnose(&target, &opts)?;
    if args.json {
        let mut out = output::stdout();
        serde_json::to_writer(&mut out, &report)?;
        writeln!(out)?;
        out.flush()?;
    } else {
        print_report(&report, &Style::detect())?;
        for n in lport::diagnose::client_notes(&report) {
            eprintln!("note: {}", output::clean(&n));
        }
    }
    Ok(if report.verdict == Verdict::Ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A duration that must be above zero: a zero timeout would fail every attempt and be
/// blamed on the network.
fn positive(s: &str, flag: &str) -> Result<std::time::Duration> {
    let d = parse_duration(s).map_err(|e| anyhow!("{flag}: {e}"))?;
    if d.is_zero() {
        return Err(anyhow!("{flag}: must be above zero, as in 500ms or 2s"));
    }
    Ok(d)
}

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Connected => "connected",
        Outcome::Refused => "refused",
        Outcome::Timeout => "timed out",
        Outcome::Unreachable => "unreachable",
        Outcome::AddrUnavailable => "address not available",
        Outcome::Denied => "denied",
        Outcome::Reset => "reset",
        Outcome::Error => "failed",
    }
}

/// The one-line answer.
fn verdict_line(r: &Report) -> String {
    let t = &r.target;
    let host = if t.host.contains(':') {
        format!("[{}]", t.host)
    } else {
        t.host.clone()
    };
    let name = format!("{host}:{}", t.port);
    let first_error = r.causes.iter().find(|c| c.severity == Severity::Error);
    match (t.mode, r.verdict) {
        (Mode::Listen, Verdict::Ok) => format!("{name} can be bound: nothing stands in the way"),
        (Mode::Listen, _) => format!(
            "{name} cannot be bound: {}",
            first_error.map_or("no rule explains the failure", |c| c.summary.as_str())
        ),
        (Mode::Connect, verdict) => {
            let tried: Vec<String> = r
                .attempts
                .iter()
                .map(|a| {
                    let addr = std::net::SocketAddr::new(a.addr, a.port);
                    format!("{addr} {}", outcome_word(a.outcome))
                })
                .collect();
            let tried = if tried.is_empty() {
                String::new()
            } else {
                format!(" ({})", tried.join(", "))
            };
            match verdict {
                Verdict::Ok => {
                    let svc = r
                        .service
                        .as_ref()
                        .map_or_else(String::new, |s| format!(": {}", service_text(s)));
                    format!("{name} is reachable{tried}{svc}")
                }
                Verdict::Problem => format!(
                    "{name}{tried}: {}",
                    first_error.map_or("a problem", |c| c.summary.as_str())
                ),
                Verdict::Unknown => format!(
                    "{name}{tried}: the connection fails and no rule explains why (a firewall drop, perhaps)"
                ),
            }
        }
    }
}

fn service_text(s: &lport::probe::Service) -> String {
    let mut t = s.name.clone();
    match (&s.product, &s.version) {
        (Some(p), Some(v)) => {
            let _ = write!(t, " ({p} {v})");
        }
        (Some(p), None) => {
            let _ = write!(t, " ({p})");
        }
        _ => {}
    }
    if let Some(status) = s.detail.get("status").and_then(serde_json::Value::as_u64) {
        {
            let _ = write!(t, ", HTTP {status}");
        };
    }
    if let Some(title) = s.detail.get("title").and_then(serde_json::Value::as_str) {
        {
            let _ = write!(t, ", title {title:?}");
        };
    }
    if let Some(tls) = &s.tls {
        let _ = write!(
            t,
            ", over {}{}",
            tls.version.as_deref().unwrap_or("TLS"),
            tls.alpn
                .as_deref()
                .map_or_else(String::new, |a| format!(" (ALPN {a})"))
        );
    }
    t
}

fn print_report(r: &Report, style: &Style) -> Result<()> {
    let mut out = output::stdout();
    let code = match r.verdict {
        Verdict::Ok => "32",
        Verdict::Problem => "31",
        Verdict::Unknown => "33",
    };
    writeln!(out, "{}", style.paint(&clean(&verdict_line(r)), code))?;
    for c in &r.causes {
        let (label, code) = match c.severity {
            Severity::Error => ("error", "31"),
            Severity::Warning => ("warning", "33"),
            Severity::Info => ("info", "36"),
        };
        writeln!(out)?;
        writeln!(
            out,
            "{} {}: {}",
            style.paint(label, code),
            c.id,
            clean(&c.summary)
        )?;
        for e in &c.evidence {
            writeln!(out, "  - {}", clean(e))?;
        }
        writeln!(out, "  fix: {}", clean(&c.fix))?;
    }
    if let Some(s) = &r.service {
        writeln!(out)?;
        writeln!(out, "service: {}", clean(&service_text(s)))?;
    }
    out.flush()?;
    Ok(())
}
