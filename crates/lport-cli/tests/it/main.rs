//! Integration tests for the `lport` binary: real sockets in real child processes, real
//! network namespaces and users when root, and a differential check against `ss`. Linux
//! only: the Windows build has its own suite (`tests/windows`), run under Wine.
#![cfg(target_os = "linux")]

mod cli;
mod containers;
mod differential;
mod exporter;
mod free;
mod history;
mod hostile;
mod kill;
mod ls;
mod netns;
mod nonroot;
mod probing;
mod serve;
mod services;
mod snapshots;
mod support;
mod ui;
mod wait;
mod watch;
mod who;
mod why;
