//! Rendering: a table renderer and a JSON renderer over the same library data. Colour only
//! on a terminal and never with `NO_COLOR`; tables fit the terminal's width.

pub(crate) mod json;
pub(crate) mod table;

use std::io::{self, BufWriter, IsTerminal, StdoutLock};

/// A buffered, locked stdout.
pub(crate) fn stdout() -> BufWriter<StdoutLock<'static>> {
    BufWriter::with_capacity(64 * 1024, io::stdout().lock())
}

/// How human output looks: colours, and the width to fit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    pub(crate) color: bool,
    /// Columns available; `None` when not writing to a terminal (never truncate).
    pub(crate) width: Option<usize>,
}

impl Style {
    /// Colour and width from the environment: a terminal on stdout, `NO_COLOR`, `COLUMNS`.
    pub(crate) fn detect() -> Style {
        let tty = io::stdout().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let width = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .filter(|&w: &usize| w > 0)
            .or_else(|| tty.then(terminal_width).flatten());
        Style {
            color: tty && !no_color,
            width,
        }
    }

    pub(crate) fn paint(&self, s: &str, code: &str) -> String {
        let mut out = String::new();
        self.paint_into(&mut out, s, code);
        out
    }

    /// Appends `s`, wrapped in an SGR colour code when colour is on.
    pub(crate) fn paint_into(&self, out: &mut String, s: &str, code: &str) {
        if self.color && !code.is_empty() {
            out.push_str("\x1b[");
            out.push_str(code);
            out.push('m');
            out.push_str(s);
            out.push_str("\x1b[0m");
        } else {
            out.push_str(s);
        }
    }
}

#[cfg(unix)]
fn terminal_width() -> Option<usize> {
    rustix::termios::tcgetwinsize(io::stdout())
        .ok()
        .map(|w| usize::from(w.ws_col))
        .filter(|&w| w > 0)
}

#[cfg(not(unix))]
fn terminal_width() -> Option<usize> {
    None
}
