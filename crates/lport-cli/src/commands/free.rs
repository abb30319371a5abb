//! `lport free`: free ports that stay free — outside the ephemeral range, free on every
//! address for every protocol asked — and `--exec`, which hands a bound socket to a program
//! so no other process can take the port in between.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use lport::ports::{FreeFor, FreeQuery, find_free};
use lport::target::parse_port;

use crate::cli::FreeArgs;
use crate::output;

/// Validated settings for `free`.
#[derive(Debug)]
struct FreeConfig {
    query: FreeQuery,
    exec: Option<(SocketAddr, Vec<String>)>,
    json: bool,
}

fn parse_range(s: &str) -> Result<std::ops::RangeInclusive<u16>> {
    let Some((lo, hi)) = s.split_once('-') else {
        bail!("invalid range {s:?}: expected LO-HI, as in 8000-8999");
    };
    let lo = parse_port(lo.trim()).map_err(|e| anyhow::anyhow!("invalid range {s:?}: {e}"))?;
    let hi = parse_port(hi.trim()).map_err(|e| anyhow::anyhow!("invalid range {s:?}: {e}"))?;
    if lo > hi {
        bail!("invalid range {s:?}: {lo} is above {hi}");
    }
    Ok(lo..=hi)
}

impl FreeConfig {
    fn from_args(a: &FreeArgs) -> Result<FreeConfig> {
        let near = a
            .near
            .as_deref()
            .map(|p| parse_port(p).map_err(|e| anyhow::anyhow!("invalid --near: {e}")))
            .transpose()?;
        let range = a.range.as_deref().map(parse_range).transpose()?;
        let protocols = match (a.udp, a.both) {
            (_, true) => FreeFor::Both,
            (true, false) => FreeFor::Udp,
            (false, false) => FreeFor::Tcp,
        };
        let exec = if a.exec {
            if a.both {
                bail!("--exec hands over one socket: use it with TCP (the default) or --udp");
            }
            if a.count != 1 {
                bail!("--exec hands over one socket: -n cannot be used with it");
            }
            let ip: IpAddr = a
                .bind
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .with_context(|| format!("invalid --bind address {:?}", a.bind))?;
            Some((SocketAddr::new(ip, 0), a.command.clone()))
        } else {
            if !a.command.is_empty() {
                bail!("a command after `--` needs --exec");
            }
            None
        };
        Ok(FreeConfig {
            query: FreeQuery {
                count: usize::from(a.count),
                range,
                near,
                protocols,
            },
            exec,
            json: a.json,
        })
    }
}

pub(crate) fn run(args: &FreeArgs) -> Result<ExitCode> {
    let cfg = FreeConfig::from_args(args)?;
    let ports = find_free(&cfg.query)?;
    if ports.len() < cfg.query.count {
        let wanted = cfg.query.count;
        eprintln!(
            "lport: found {} free port{} of the {wanted} asked for",
            ports.len(),
            if ports.len() == 1 { "" } else { "s" }
        );
        if ports.is_empty() {
            return Ok(ExitCode::from(1));
        }
    }
    if let Some((addr, command)) = cfg.exec {
        return exec_with_socket(SocketAddr::new(addr.ip(), ports[0]), args.udp, &command);
    }
    let mut out = output::stdout();
    if cfg.json {
        serde_json::to_writer(
            &mut out,
            &output::json::PortsDoc {
                schema: 1,
                ports: &ports,
            },
        )?;
        writeln!(out)?;
    } else {
        for p in &ports {
            writeln!(out, "{p}")?;
        }
    }
    out.flush()?;
    Ok(if ports.len() < cfg.query.count {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Binds `addr` and replaces this process with `command`, which finds the socket as fd 3
/// (systemd socket activation: `LISTEN_FDS=1`, `LISTEN_PID`) and the port in `PORT`.
fn exec_with_socket(addr: SocketAddr, udp: bool, command: &[String]) -> Result<ExitCode> {
    eprintln!(
        "lport: {} {addr} is fd 3 of {}",
        if udp { "udp" } else { "listening on" },
        command[0]
    );
    let err = lport::handover::exec_with_socket(addr, udp, command);
    Err(err).with_context(|| format!("cannot run {:?} with the socket on {addr}", command[0]))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn cfg(args: &[&str]) -> Result<FreeConfig> {
        let cli = Cli::try_parse_from(["lport", "free"].iter().chain(args))?;
        let Command::Free(a) = cli.command else {
            bail!("not free")
        };
        FreeConfig::from_args(&a)
    }

    #[test]
    fn arguments_are_validated() {
        let e = |a: &[&str]| format!("{:#}", cfg(a).expect_err("should fail"));
        assert!(e(&["--range", "9000-8000"]).contains("above"));
        assert!(e(&["--range", "8000"]).contains("LO-HI"));
        assert!(e(&["--range", "1-70000"]).contains("out of range"));
        assert!(e(&["--near", "0"]).contains("port 0"));
        assert!(e(&["-n", "0"]).contains("1..=65535"), "{}", e(&["-n", "0"]));
        // Regression: -n 99999999999 aborted on allocation (exit 134) instead of a usage
        // error.
        assert!(e(&["-n", "99999999999"]).contains("1..=65535"));
        assert!(e(&["-n", "65536"]).contains("1..=65535"));
        assert!(e(&["--exec"]).contains("required"));
        assert!(e(&["--exec", "--both", "--", "true"]).contains("one socket"));
        assert!(e(&["--", "true"]).contains("needs --exec"));
        let c = cfg(&["--both", "-n", "2", "--range", "8000-8100"]).expect("cfg");
        assert_eq!((c.query.count, c.query.protocols), (2, FreeFor::Both));
        assert_eq!(c.query.range, Some(8000..=8100));
    }
}
