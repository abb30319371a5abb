//! One module per command. Each turns its arguments into validated settings first, then
//! does the work through the library and renders through `output`.

mod exporter;
mod filter;
mod free;
mod kill;
mod ls;
mod serve;
mod ui;
mod wait;
mod watch;
mod who;
mod why;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Runs the command the user asked for.
pub(crate) fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        None => ls::run(&cli.ls),
        Some(Command::Ls(args)) => ls::run(&args),
        Some(Command::Who(args)) => who::run(&args),
        Some(Command::Free(args)) => free::run(&args),
        Some(Command::Wait(args)) => wait::run(&args),
        Some(Command::Kill(args)) => kill::run(&args),
        Some(Command::Serve(args)) => serve::run(&args),
        Some(Command::Why(args)) => why::run(&args),
        Some(Command::Watch(args)) => watch::run(&args),
        Some(Command::Exporter(args)) => exporter::run(&args),
        Some(Command::Ui(args)) => ui::run(&args),
    }
}

/// The port the user gave with `--port`, or a free one as `lport free` picks it.
fn port_or_free(given: Option<&str>, protocols: lport::ports::FreeFor) -> anyhow::Result<u16> {
    if let Some(p) = given {
        return lport::target::parse_port(p).map_err(|e| anyhow::anyhow!("invalid --port: {e}"));
    }
    let q = lport::ports::FreeQuery {
        count: 1,
        range: None,
        near: None,
        protocols,
    };
    lport::ports::find_free(&q)?
        .first()
        .copied()
        .ok_or_else(|| anyhow::anyhow!("no free port found; pass --port"))
}

/// Prints the snapshot's notes on stderr, once each.
fn print_notes(notes: &[String]) {
    for n in notes {
        eprintln!("note: {}", crate::output::clean(n));
    }
}
