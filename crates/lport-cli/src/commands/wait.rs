//! `lport wait`: block until targets are ready (or gone), with a one-line progress on a
//! terminal, then optionally replace lport with a command.

use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use lport::Target;
use lport::wait::{WaitOptions, WaitTarget, parse_duration, wait};

use crate::cli::WaitArgs;
use crate::output::clean;

/// Validated settings for `wait`.
#[derive(Debug)]
struct WaitConfig {
    targets: Vec<WaitTarget>,
    opts: WaitOptions,
    command: Vec<String>,
    quiet: bool,
}

impl WaitConfig {
    fn from_args(a: &WaitArgs) -> Result<WaitConfig> {
        let targets = a
            .targets
            .iter()
            .map(|t| Ok(WaitTarget::new(Target::parse(t)?)?))
            .collect::<Result<Vec<_>>>()?;
        let timeout = parse_duration(&a.timeout).map_err(|e| anyhow!("--timeout: {e}"))?;
        if timeout.is_zero() {
            // A zero timeout would report a listening port as timed out. (wait-for-it's
            // `-t 0` means "no timeout"; here a long one says that.)
            bail!("--timeout: must be above zero, as in 500ms or 2s (to wait on and on: 24h)");
        }
        let interval = a
            .interval
            .as_deref()
            .map(|i| parse_duration(i).map_err(|e| anyhow!("--interval: {e}")))
            .transpose()?;
        if interval.is_some_and(|i| i.is_zero()) {
            bail!("--interval must be above zero");
        }
        if let Some(s) = a.status
            && !(100..600).contains(&s)
        {
            bail!("--status {s} is not an HTTP status (100-599)");
        }
        Ok(WaitConfig {
            targets,
            opts: WaitOptions {
                timeout,
                interval,
                gone: a.gone,
                status: a.status,
            },
            command: a.command.clone(),
            quiet: a.quiet,
        })
    }
}

pub(crate) fn run(args: &WaitArgs) -> Result<ExitCode> {
    let cfg = WaitConfig::from_args(args)?;
    let names: Vec<String> = cfg.targets.iter().map(|t| t.target.display_url()).collect();
    let live = !cfg.quiet && std::io::stderr().is_terminal();
    // One line, redrawn in place: cut to the terminal's width, since a line that wraps
    // cannot be taken back with a carriage return.
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
        .or_else(lport::terminal_columns)
        .filter(|w| *w > 0)
        .unwrap_or(80);
    let result = wait(cfg.targets, &cfg.opts, |p| {
        if live {
            let status = status_line(p, width);
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K{status}");
            let _ = err.flush();
        }
    });
    if live {
        eprint!("\r\x1b[K");
    }
    let verb = if cfg.opts.gone { "gone" } else { "ready" };
    if !result.done {
        if !cfg.quiet {
            let why: Vec<String> = result
                .pending
                .iter()
                .map(|(t, r)| format!("{t} ({})", clean(r)))
                .collect();
            eprintln!(
                "lport: timed out after {:.1}s waiting for {}",
                result.elapsed.as_secs_f64(),
                why.join(", ")
            );
        }
        return Ok(ExitCode::from(1));
    }
    if !cfg.quiet {
        eprintln!(
            "lport: {} {verb} after {:.2}s",
            names.join(", "),
            result.elapsed.as_secs_f64()
        );
    }
    if cfg.command.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    exec(&cfg.command)
}

/// `waiting 1.2s for a: reason; b: reason`, at most `width - 1` characters.
fn status_line(p: &lport::wait::Progress, width: usize) -> String {
    let what: Vec<String> = p
        .pending
        .iter()
        .map(|(t, r)| format!("{}: {}", clean(t), clean(r)))
        .collect();
    let line = format!(
        "waiting {:.1}s for {}",
        p.elapsed.as_secs_f64(),
        what.join("; ")
    );
    crate::output::fit(&line, width.saturating_sub(1).max(10)).into_owned()
}

/// Becomes the command (or, where the OS cannot, runs it and passes on its exit code).
fn exec(command: &[String]) -> Result<ExitCode> {
    let code = lport::handover::run_in_place(command)
        .with_context(|| format!("cannot run {:?}", command[0]))?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn cfg(args: &[&str]) -> Result<WaitConfig> {
        let cli = Cli::try_parse_from(["lport", "wait"].iter().chain(args))?;
        let Command::Wait(a) = cli.command else {
            bail!("not wait")
        };
        WaitConfig::from_args(&a)
    }

    #[test]
    fn arguments_are_validated() {
        let e = |a: &[&str]| format!("{:#}", cfg(a).expect_err("should fail"));
        assert!(e(&[]).contains("required"));
        assert!(e(&["localhost"]).contains("a port is needed"));
        assert!(e(&["3000", "--timeout", "soon"]).contains("--timeout"));
        assert!(e(&["3000", "--interval", "0ms"]).contains("above zero"));
        assert!(e(&["3000", "--timeout", "0"]).contains("--timeout: must be above zero"));
        assert!(e(&["3000", "--status", "42"]).contains("not an HTTP status"));
        assert!(e(&["70000"]).contains("out of range"));
        let c = cfg(&["3000", "udp/53", "--timeout", "2m", "--gone"]).expect("cfg");
        assert_eq!(c.targets.len(), 2);
        assert_eq!(c.opts.timeout, std::time::Duration::from_secs(120));
        assert!(c.opts.gone);
    }

    #[test]
    fn the_status_line_fits_the_terminal() {
        let p = lport::wait::Progress {
            elapsed: std::time::Duration::from_millis(1500),
            pending: vec![
                ("127.0.0.1:3000".into(), "127.0.0.1: nothing listens".into()),
                (
                    "http://localhost:5173/health".into(),
                    "127.0.0.1: refused, [::1]: refused".into(),
                ),
            ],
        };
        let line = status_line(&p, 80);
        assert!(line.chars().count() <= 79, "{line}");
        assert!(
            line.starts_with("waiting 1.5s for 127.0.0.1:3000: "),
            "{line}"
        );
        assert!(line.ends_with('…'), "{line}");
        let wide = status_line(&p, 200);
        assert!(
            wide.ends_with("[::1]: refused") && wide.contains("/health"),
            "{wide}"
        );
    }
}
