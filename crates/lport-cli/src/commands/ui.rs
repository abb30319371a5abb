//! `lport ui`: picks the address and port, makes the launch token, prints the URL, opens
//! the browser unless told not to, and hands over to `lport-web`.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::process::{ExitCode, Stdio};

use anyhow::{Context, Result};
use lport::model::is_loopback;
use lport::ports::FreeFor;

use crate::cli::UiArgs;

pub(crate) fn run(args: &UiArgs) -> Result<ExitCode> {
    let ip: IpAddr = args
        .bind
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .with_context(|| format!("invalid --bind address {:?}", args.bind))?;
    let port = super::port_or_free(args.port.as_deref(), FreeFor::Tcp)?;
    if !is_loopback(ip) {
        eprintln!(
            "warning: the dashboard on {ip} is reachable from other machines; anyone with the URL can stop processes"
        );
    }
    let token = lport_web::ui::new_token().context("cannot make a token")?;
    let no_open = args.no_open;
    lport_web::ui::run(SocketAddr::new(ip, port), token.clone(), |bound| {
        let host = match bound.ip() {
            IpAddr::V6(a) if a.is_unspecified() || a.is_loopback() => "[::1]".to_owned(),
            IpAddr::V6(a) => format!("[{a}]"),
            IpAddr::V4(a) if a.is_unspecified() => "127.0.0.1".to_owned(),
            IpAddr::V4(a) => a.to_string(),
        };
        let url = format!("http://{host}:{}/?token={token}", bound.port());
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{url}");
        let _ = out.flush();
        eprintln!("lport ui on {bound} (Ctrl-C to stop)");
        if !no_open {
            let _ = std::process::Command::new("xdg-open")
                .arg(&url)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
        }
    })
    .with_context(|| format!("cannot serve the dashboard on {ip}:{port}"))?;
    Ok(ExitCode::SUCCESS)
}
