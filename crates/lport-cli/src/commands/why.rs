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
    if target.port.is_none() && target.unix.is_none() {
        return Err(anyhow!(
            "invalid target {:?}: a port is needed, as in localhost:3000 or :3000 (or a socket file: unix:/run/app.sock)",
            args.target
        ));
    }
    if target.unix.is_some() && args.listen {
        return Err(anyhow!(
            "why --listen takes a port; for a unix socket, why unix:/path says whether it can be reached"
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

/// Evidence lines in order, each once, with how often it appeared.
fn dedup(lines: &[String]) -> Vec<(&str, usize)> {
    let mut out: Vec<(&str, usize)> = Vec::new();
    for l in lines {
        match out.iter_mut().find(|(x, _)| *x == l.as_str()) {
            Some((_, n)) => *n += 1,
            None => out.push((l, 1)),
        }
    }
    out
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
    let name = if t.scheme.as_deref() == Some("unix") {
        format!("unix:{}", t.host)
    } else if t.proto == lport::Proto::Udp {
        format!("udp/{host}:{}", t.port)
    } else {
        format!("{host}:{}", t.port)
    };
    // The causes below say what is wrong; the headline says only what happened, so
    // nothing is said twice.
    match (t.mode, r.verdict) {
        (Mode::Listen, Verdict::Ok) => format!("{name} can be bound: nothing stands in the way"),
        (Mode::Listen, Verdict::Problem) => {
            // Name exactly what failed, and what works: `:P` tries both wildcards, and a
            // listener on [::1] blocks [::] while 0.0.0.0 binds fine.
            let failed: Vec<String> = r
                .binds
                .iter()
                .filter(|(_, ok)| !ok)
                .map(|(a, _)| a.to_string())
                .collect();
            let worked: Vec<String> = r
                .binds
                .iter()
                .filter(|(_, ok)| *ok)
                .map(|(a, _)| a.to_string())
                .collect();
            match (failed.is_empty(), worked.is_empty()) {
                (false, false) => format!(
                    "{} cannot be bound ({} can)",
                    failed.join(" and "),
                    worked.join(" and ")
                ),
                (false, true) => format!("{} cannot be bound", failed.join(" and ")),
                _ => format!("{name} cannot be bound"),
            }
        }
        (Mode::Listen, Verdict::Unknown) => {
            format!("{name} cannot be bound, and no rule explains why")
        }
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
                Verdict::Problem => {
                    if r.attempts.iter().any(|a| a.outcome == Outcome::Connected) {
                        format!("{name} answers, with a problem{tried}")
                    } else {
                        format!("{name} is not reachable{tried}")
                    }
                }
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
    if let Some(error) = s.detail.get("error").and_then(serde_json::Value::as_str) {
        let _ = write!(t, ", which answers with an error: {error}");
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
    out.write_all(render(r, style).as_bytes())?;
    out.flush()?;
    Ok(())
}

/// The report as the terminal shows it: pure over the report and the style (width and
/// colour), so it is tested directly.
fn render(r: &Report, style: &Style) -> String {
    let mut out = String::new();
    let code = match r.verdict {
        Verdict::Ok => "32",
        Verdict::Problem => "31",
        Verdict::Unknown => "33",
    };
    let w = style.width;
    let headline = output::wrap(&clean(&verdict_line(r)), w, "", 2);
    let _ = writeln!(out, "{}", style.paint(&headline, code));
    for c in &r.causes {
        if c.severity == Severity::Info {
            // Worth knowing, no more: one note, no evidence list.
            let _ = writeln!(out);
            // One line at most: the fix and the id where they fit (`--json` has both).
            let full = format!("{} ({}; fix: {})", clean(&c.summary), c.id, clean(&c.fix));
            let with_id = format!("{} ({})", clean(&c.summary), c.id);
            let fits = |t: &str| w.is_none_or(|w| "note: ".len() + t.chars().count() <= w);
            let text = if fits(&full) {
                full
            } else if fits(&with_id) {
                with_id
            } else {
                clean(&c.summary).to_string()
            };
            let text = output::wrap(&text, w, "note: ", 2);
            let _ = writeln!(
                out,
                "{}{}",
                style.paint("note", "36"),
                &text["note".len()..]
            );
            continue;
        }
        let (label, code) = match c.severity {
            Severity::Error => ("error", "31"),
            Severity::Warning => ("warning", "33"),
            Severity::Info => ("info", "36"),
        };
        let _ = writeln!(out);
        // The label is painted after wrapping, so escapes never count as width.
        let lead = format!("{label} {}: ", c.id);
        let text = output::wrap(&clean(&c.summary), w, &lead, 2);
        let rest = &text[label.len()..];
        let _ = writeln!(out, "{}{rest}", style.paint(label, code));
        for (e, n) in dedup(&c.evidence) {
            let e = clean(e);
            let e = if n > 1 {
                format!("{n}x {e}")
            } else {
                e.into_owned()
            };
            let _ = writeln!(out, "{}", output::wrap(&e, w, "  - ", 4));
        }
        let _ = writeln!(out, "{}", output::wrap(&clean(&c.fix), w, "  fix: ", 4));
    }
    // When it answers, the headline already names the service.
    if let Some(s) = r.service.as_ref().filter(|_| r.verdict != Verdict::Ok) {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{}",
            output::wrap(&clean(&service_text(s)), w, "service: ", 2)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::render;
    use crate::output::Style;
    use lport::diagnose::{Attempt, Cause, Mode, Outcome, Report, Severity, TargetInfo, Verdict};

    /// A report with what the printing has to lay out: a headline with attempts, an error
    /// with repeated evidence and a long fix, a warning, and a one-line note.
    fn report() -> Report {
        Report {
            schema: 1,
            target: TargetInfo {
                input: "localhost:5173".into(),
                proto: lport::Proto::Tcp,
                host: "localhost".into(),
                port: 5173,
                scheme: None,
                mode: Mode::Connect,
            },
            verdict: Verdict::Problem,
            attempts: vec![
                Attempt {
                    addr: "::1".parse().expect("ip"),
                    port: 5173,
                    outcome: Outcome::Refused,
                    ms: 0.1,
                },
                Attempt {
                    addr: "127.0.0.1".parse().expect("ip"),
                    port: 5173,
                    outcome: Outcome::Refused,
                    ms: 0.1,
                },
            ],
            service: None,
            causes: vec![
                Cause {
                    id: "nothing-listening",
                    severity: Severity::Error,
                    summary: "nothing listens on port 5173".into(),
                    evidence: vec![
                        "no tcp socket listens on port 5173 in this network namespace".into(),
                        "connect to [::1]:5173 -> refused".into(),
                        "curl (3 processes) tried 12 time(s) in 2 min, refused".into(),
                        "curl (3 processes) tried 12 time(s) in 2 min, refused".into(),
                    ],
                    fix: "start the service, or use the port it printed when it started (Vite moves to 5174 when 5173 is taken, and says so on its first line)".into(),
                },
                Cause {
                    id: "proxy-env",
                    severity: Severity::Warning,
                    summary: "HTTP_PROXY is set: HTTP clients may send this request to the proxy".into(),
                    evidence: vec!["HTTP_PROXY=http://proxy.example:3128".into()],
                    fix: "add localhost to NO_PROXY".into(),
                },
                Cause {
                    id: "nearby-port",
                    severity: Severity::Info,
                    summary: "did you mean port 5174? node (pid 4242) listens there".into(),
                    evidence: Vec::new(),
                    fix: "use port 5174 (a dev server picks the next free port when its usual one is taken)".into(),
                },
            ],
            binds: Vec::new(),
        }
    }

    /// The report at 80 columns.
    const AT_80: &str = r"localhost:5173 is not reachable ([::1]:5173 refused, 127.0.0.1:5173 refused)

error nothing-listening: nothing listens on port 5173
  - no tcp socket listens on port 5173 in this network namespace
  - connect to [::1]:5173 -> refused
  - 2x curl (3 processes) tried 12 time(s) in 2 min, refused
  fix: start the service, or use the port it printed when it started (Vite moves
    to 5174 when 5173 is taken, and says so on its first line)

warning proxy-env: HTTP_PROXY is set: HTTP clients may send this request to the
  proxy
  - HTTP_PROXY=http://proxy.example:3128
  fix: add localhost to NO_PROXY

note: did you mean port 5174? node (pid 4242) listens there (nearby-port)
";

    /// The report at 120 columns.
    const AT_120: &str = r"localhost:5173 is not reachable ([::1]:5173 refused, 127.0.0.1:5173 refused)

error nothing-listening: nothing listens on port 5173
  - no tcp socket listens on port 5173 in this network namespace
  - connect to [::1]:5173 -> refused
  - 2x curl (3 processes) tried 12 time(s) in 2 min, refused
  fix: start the service, or use the port it printed when it started (Vite moves to 5174 when 5173 is taken, and says so
    on its first line)

warning proxy-env: HTTP_PROXY is set: HTTP clients may send this request to the proxy
  - HTTP_PROXY=http://proxy.example:3128
  fix: add localhost to NO_PROXY

note: did you mean port 5174? node (pid 4242) listens there (nearby-port)
";

    #[test]
    fn why_reads_the_same_at_80_and_120_columns() {
        for width in [80, 120] {
            let style = Style {
                color: false,
                width: Some(width),
            };
            let text = render(&report(), &style);
            assert!(
                text.lines().all(|l| l.chars().count() <= width),
                "wider than {width}:\n{text}"
            );
            assert_eq!(
                text.matches("curl (3 processes)").count(),
                1,
                "counted once"
            );
            // Compared with text kept here, not an insta file: the Windows suite runs this
            // under Wine, where a snapshot's path is not found.
            let expected = if width == 80 { AT_80 } else { AT_120 };
            assert_eq!(text, expected, "at {width} columns");
        }
    }
}
