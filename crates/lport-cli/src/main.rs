//! The `lport` binary: parses arguments, runs one command, prints the error chain once and
//! maps outcomes to the documented exit codes (0 yes, 1 no, 2 usage or internal error).

mod cli;
mod commands;
mod output;

use std::io::{self, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    // A copy of lport started by `kill` to stop a process gently (Windows' Ctrl-C).
    if let Some(code) = lport::kill::run_as_helper() {
        return ExitCode::from(u8::try_from(code).unwrap_or(2));
    }
    let cli = match cli::Cli::parse_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    output::set_color(cli.global.color);
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            let _ = io::stdout().flush();
            eprintln!("lport: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// A closed pipe (`lport | head`) is the reader's choice, not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}
