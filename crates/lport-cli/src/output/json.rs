//! JSON documents, exactly as docs/json.md's schema 1: one object with `"schema": 1`,
//! snake_case keys, `null` for absent values.

use std::io::Write;

use anyhow::Result;
use lport::{Process, Snapshot, Socket};
use serde::Serialize;

/// The `ls` / `who` document.
#[derive(Serialize)]
pub(crate) struct SocketsDoc<'a> {
    pub(crate) schema: u32,
    pub(crate) sockets: &'a [Socket],
    pub(crate) processes: &'a [Process],
    pub(crate) notes: &'a [String],
}

/// The `free` document.
#[derive(Serialize)]
pub(crate) struct PortsDoc<'a> {
    pub(crate) schema: u32,
    pub(crate) ports: &'a [u16],
}

/// A socket with the service `--identify` found (`null` where none was probed).
#[derive(Serialize)]
pub(crate) struct IdentifiedSocket<'a> {
    #[serde(flatten)]
    pub(crate) socket: &'a Socket,
    pub(crate) service: Option<&'a lport::probe::Service>,
}

/// The `ls --identify` document: the same as `ls`, each socket with a `service` key.
#[derive(Serialize)]
struct IdentifiedDoc<'a> {
    schema: u32,
    sockets: Vec<IdentifiedSocket<'a>>,
    processes: &'a [Process],
    notes: &'a [String],
}

pub(crate) fn print_sockets(
    snap: &Snapshot,
    services: Option<&[Option<lport::probe::Service>]>,
) -> Result<()> {
    let mut out = super::stdout();
    if let Some(services) = services {
        let doc = IdentifiedDoc {
            schema: 1,
            sockets: snap
                .sockets
                .iter()
                .zip(services)
                .map(|(socket, s)| IdentifiedSocket {
                    socket,
                    service: s.as_ref(),
                })
                .collect(),
            processes: &snap.processes,
            notes: &snap.notes,
        };
        serde_json::to_writer(&mut out, &doc)?;
        writeln!(out)?;
        out.flush()?;
        return Ok(());
    }
    let doc = SocketsDoc {
        schema: 1,
        sockets: &snap.sockets,
        processes: &snap.processes,
        notes: &snap.notes,
    };
    // Indented for people on a terminal, compact for pipes and scripts.
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        serde_json::to_writer_pretty(&mut out, &doc)?;
    } else {
        serde_json::to_writer(&mut out, &doc)?;
    }
    writeln!(out)?;
    out.flush()?;
    Ok(())
}
