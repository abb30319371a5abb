//! `lport serve`: validates the settings, picks a free port when none is given, warns
//! before exposing anything beyond loopback, and hands over to `lport-web`.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use lport::model::is_loopback;
use lport::ports::FreeFor;
use lport_web::serve::{Mode, ServeConfig, run as serve};
use lport_web::server::Limits;

use crate::cli::ServeArgs;

fn config(a: &ServeArgs) -> Result<ServeConfig> {
    let ip: IpAddr = a
        .bind
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .with_context(|| format!("invalid --bind address {:?}", a.bind))?;
    let mode = if a.echo {
        Mode::Echo
    } else if a.tcp_echo {
        Mode::TcpEcho
    } else if a.udp_echo {
        Mode::UdpEcho
    } else {
        if !a.dir.is_dir() {
            bail!("{} is not a directory", a.dir.display());
        }
        Mode::Files(a.dir.clone())
    };
    let protocols = if mode == Mode::UdpEcho {
        FreeFor::Udp
    } else {
        FreeFor::Tcp
    };
    let port = super::port_or_free(a.port.as_deref(), protocols)?;
    Ok(ServeConfig {
        addr: SocketAddr::new(ip, port),
        mode,
        log: !a.quiet,
        limits: Limits {
            max_connections: usize::from(a.max_connections),
            ..Limits::default()
        },
        allow_hosts: a.allow_host.clone(),
    })
}

/// A path as the user writes it: a Windows verbatim path (`\\?\Z:\dir`, what
/// canonicalizing gives there) without its prefix.
fn user_path(p: &std::path::Path) -> String {
    let s = p.display().to_string();
    match s.strip_prefix(r"\\?\") {
        Some(rest) => match rest.strip_prefix(r"UNC\") {
            Some(share) => format!(r"\\{share}"),
            None => rest.to_owned(),
        },
        None => s,
    }
}

pub(crate) fn run(args: &ServeArgs) -> Result<ExitCode> {
    let cfg = config(args)?;
    let addr = cfg.addr;
    if !is_loopback(addr.ip()) {
        eprintln!(
            "warning: listening on {addr} makes this server reachable from other machines{}",
            if addr.ip().is_unspecified() {
                " (all interfaces)"
            } else {
                ""
            }
        );
    }
    let what = match &cfg.mode {
        Mode::Files(d) => format!(
            "serving {}",
            user_path(&d.canonicalize().unwrap_or_else(|_| d.clone()))
        ),
        Mode::Echo => "answering every request with itself as JSON".to_owned(),
        Mode::TcpEcho => "echoing TCP".to_owned(),
        Mode::UdpEcho => "echoing UDP datagrams".to_owned(),
    };
    let scheme = match cfg.mode {
        Mode::TcpEcho => "tcp",
        Mode::UdpEcho => "udp",
        _ => "http",
    };
    let udp = matches!(cfg.mode, Mode::UdpEcho);
    let served = serve(cfg, |bound| {
        let mut out = std::io::stdout().lock();
        let host = match bound.ip() {
            IpAddr::V6(a) => format!("[{a}]"),
            IpAddr::V4(a) => a.to_string(),
        };
        let slash = if scheme == "http" { "/" } else { "" };
        let _ = writeln!(out, "{scheme}://{host}:{}{slash}", bound.port());
        let _ = out.flush();
        eprintln!("{what} (Ctrl-C to stop)");
    });
    if let Err(e) = served {
        let holder = (e.kind() == std::io::ErrorKind::AddrInUse)
            .then(|| super::holder_of(addr.port(), udp))
            .flatten();
        let what = match holder {
            Some(h) => format!(
                "cannot serve on {addr}: port {p} is taken by {h}; `lport kill {p}` frees it, or leave out --port for a free one",
                p = addr.port()
            ),
            None => format!("cannot serve on {addr}"),
        };
        return Err(anyhow::Error::new(e).context(what));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    #[test]
    fn verbatim_prefixes_are_not_shown() {
        use std::path::Path;
        assert_eq!(user_path(Path::new(r"\\?\Z:\tmp\site")), r"Z:\tmp\site");
        assert_eq!(user_path(Path::new(r"\\?\UNC\host\share")), r"\\host\share");
        assert_eq!(user_path(Path::new("/tmp/site")), "/tmp/site");
    }

    fn cfg(args: &[&str]) -> Result<ServeConfig> {
        let cli = Cli::try_parse_from(["lport", "serve"].iter().chain(args))?;
        let Command::Serve(a) = cli.command else {
            bail!("not serve")
        };
        config(&a)
    }

    #[test]
    fn arguments_are_validated() {
        let e = |a: &[&str]| format!("{:#}", cfg(a).expect_err("should fail"));
        assert!(e(&["/nonexistent-dir"]).contains("not a directory"));
        assert!(e(&["--port", "0"]).contains("port 0"));
        assert!(e(&["--bind", "localhost:80"]).contains("invalid --bind"));
        assert!(e(&["--echo", "--tcp-echo"]).contains("cannot be used with"));
        let c = cfg(&["--port", "8080", "--bind", "::1", "-q"]).expect("cfg");
        assert_eq!(c.addr, "[::1]:8080".parse().expect("addr"));
        assert!(!c.log);
        let c = cfg(&["--udp-echo"]).expect("cfg");
        assert_eq!(c.mode, Mode::UdpEcho);
        // A free port as `lport free` picks it: dynamic ports outside the ephemeral range,
        // or 40000-48999 where the ephemeral range is all of them.
        assert!(c.addr.port() >= 40000);
    }
}
