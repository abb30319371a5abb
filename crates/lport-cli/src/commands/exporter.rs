//! `lport exporter`: validates the address, warns before exposing it, and hands over to
//! `lport-web`.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use lport::model::is_loopback;

use crate::cli::ExporterArgs;

pub(crate) fn run(args: &ExporterArgs) -> Result<ExitCode> {
    let addr: SocketAddr = args.listen.parse().map_err(|_| {
        anyhow!(
            "invalid --listen {:?}: expected ADDR:PORT, as in 127.0.0.1:9970 or [::1]:9970",
            args.listen
        )
    })?;
    if !is_loopback(addr.ip()) {
        eprintln!(
            "warning: serving metrics on {addr} lets other machines read which processes listen here"
        );
    }
    if !is_loopback(addr.ip()) && args.allow_host.is_empty() {
        eprintln!(
            "note: requests naming an address or localhost are answered; a Prometheus that scrapes this machine by name needs --allow-host NAME"
        );
    }
    lport_web::exporter::run(addr, &args.allow_host, |bound| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "http://{bound}/metrics");
        let _ = out.flush();
    })
    .with_context(|| format!("cannot serve metrics on {addr}"))?;
    Ok(ExitCode::SUCCESS)
}
