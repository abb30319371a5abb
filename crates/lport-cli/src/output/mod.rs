//! Rendering: a table renderer and a JSON renderer over the same library data. Colour only
//! on a terminal and never with `NO_COLOR`; tables fit the terminal's width.

pub(crate) mod json;
pub(crate) mod table;

use std::borrow::Cow;
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

/// `--color`, set once by `main` before any output.
static COLOR: std::sync::OnceLock<crate::cli::ColorChoice> = std::sync::OnceLock::new();

/// Records the `--color` choice for every `Style::detect`.
pub(crate) fn set_color(choice: crate::cli::ColorChoice) {
    let _ = COLOR.set(choice);
}

impl Style {
    /// Colour and width from the environment: `--color`, a terminal on stdout, `NO_COLOR`,
    /// `COLUMNS`.
    pub(crate) fn detect() -> Style {
        use crate::cli::ColorChoice;
        let tty = io::stdout().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = match COLOR.get().copied().unwrap_or(ColorChoice::Auto) {
            ColorChoice::Always => {
                // Turns on the console's ANSI mode where it needs that; forced either way.
                let _ = lport::enable_ansi_colors();
                true
            }
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !no_color && lport::enable_ansi_colors(),
        };
        let width = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .filter(|&w: &usize| w > 0)
            .or_else(|| tty.then(terminal_width).flatten());
        Style { color, width }
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

/// Wraps prose at `width` (no wrapping without one): the first line starts with `first`,
/// the others with `hang` spaces. Words are kept whole where they fit a line; one longer
/// than a whole line (a command line's script, a long path) is broken across lines.
/// Text must already be clean.
pub(crate) fn wrap(text: &str, width: Option<usize>, first: &str, hang: usize) -> String {
    let Some(width) = width else {
        return format!("{first}{text}");
    };
    let indent = " ".repeat(hang);
    let mut out = String::from(first);
    let mut col = first.chars().count();
    let mut at_start = true;
    let room = width.saturating_sub(hang).max(8);
    let pieces = text.split(' ').filter(|w| !w.is_empty()).flat_map(|w| {
        // A word no line can hold goes in line-sized pieces.
        let chars: Vec<char> = w.chars().collect();
        let parts: Vec<String> = if chars.len() > room {
            chars.chunks(room).map(|c| c.iter().collect()).collect()
        } else {
            vec![w.to_owned()]
        };
        parts
    });
    for word in pieces {
        let word = word.as_str();
        let n = word.chars().count();
        if !at_start && col + 1 + n > width {
            out.push('\n');
            out.push_str(&indent);
            col = hang;
            at_start = true;
        }
        if !at_start {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += n;
        at_start = false;
    }
    out
}

fn terminal_width() -> Option<usize> {
    lport::terminal_columns()
}

/// Whether a character must not reach a terminal raw: C0 and C1 controls and DEL (escape
/// sequences, CR/LF that split rows, tabs that break columns) and the bidirectional
/// overrides that make text display in another order than it is.
pub(crate) fn is_hostile(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Text from another process or server (process names, command lines, `Server:` headers,
/// banners), made safe for a terminal: every control character is shown as an escape
/// (`\x1b`, `\n`, `\u{202e}`) instead of acting on the terminal. JSON output never goes
/// through this: serde escapes it exactly.
pub(crate) fn clean(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_hostile) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        push_clean(&mut out, c);
    }
    Cow::Owned(out)
}

fn push_clean(out: &mut String, c: char) {
    use std::fmt::Write as _;
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x80 && is_hostile(c) => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if is_hostile(c) => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

/// The length in characters of the escape that `clean` may have written at the start of
/// `s` (`\x1b`, `\n`, `\u{202e}`), or 1 for a plain character.
fn token_len(s: &str) -> usize {
    let b = s.as_bytes();
    if b.first() != Some(&b'\\') {
        return 1;
    }
    match b.get(1) {
        Some(b'n' | b'r' | b't') => 2,
        Some(b'x') if b.len() >= 4 && b[2..4].iter().all(u8::is_ascii_hexdigit) => 4,
        Some(b'u') if b.get(2) == Some(&b'{') => s.find('}').map_or(1, |i| i + 1),
        _ => 1,
    }
}

/// Cuts cleaned text to `w` characters, marking the cut with `…`; an escape is kept whole
/// or left out whole, never cut in the middle.
pub(crate) fn fit(s: &str, w: usize) -> Cow<'_, str> {
    if s.chars().count() <= w {
        return Cow::Borrowed(s);
    }
    let budget = w.saturating_sub(1);
    let mut t = String::new();
    let mut used = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let n = token_len(rest);
        // Escapes are ASCII, so characters and bytes agree for them.
        let bytes = if n == 1 {
            rest.chars().next().map_or(1, char::len_utf8)
        } else {
            n
        };
        if used + n > budget {
            break;
        }
        t.push_str(&rest[..bytes]);
        used += n;
        rest = &rest[bytes..];
    }
    t.push('…');
    Cow::Owned(t)
}

#[cfg(test)]
mod tests {

    #[test]
    fn prose_wraps_with_a_hanging_indent() {
        let text = "port 3000 is taken: node (pid 4242) listens on 127.0.0.1:3000";
        assert_eq!(super::wrap(text, None, "x: ", 2), format!("x: {text}"));
        let w = super::wrap(text, Some(30), "error: ", 4);
        let lines: Vec<&str> = w.lines().collect();
        assert_eq!(lines[0], "error: port 3000 is taken:");
        assert!(
            lines[1..]
                .iter()
                .all(|l| l.starts_with("    ") && l.len() <= 30),
            "{w}"
        );
        assert_eq!(
            w.split_whitespace().collect::<Vec<_>>().join(" "),
            format!("error: {text}")
        );
        let long = super::wrap("abc https://example.invalid/x b", Some(28), "", 2);
        assert_eq!(
            long, "abc\n  https://example.invalid/x\n  b",
            "kept whole where it fits"
        );
        let longer = super::wrap("a 0123456789012345678901234 b", Some(12), "", 2);
        assert!(longer.lines().all(|l| l.chars().count() <= 12), "{longer}");
        assert_eq!(
            longer.replace("\n  ", "").replace(' ', ""),
            "a0123456789012345678901234b"
        );
    }

    use super::*;

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(clean("nginx"), "nginx");
        assert!(matches!(clean("nginx"), Cow::Borrowed(_)));
        assert_eq!(clean("a\x1b]0;owned\x07b"), "a\\x1b]0;owned\\x07b");
        assert_eq!(clean("x\x1b[2J\r\nrow"), "x\\x1b[2J\\r\\nrow");
        assert_eq!(clean("tab\there"), "tab\\there");
        assert_eq!(clean("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(clean("evil\u{202e}gpj.exe"), "evil\\u{202e}gpj.exe");
        assert_eq!(clean("\x7f"), "\\x7f");
        assert_eq!(clean("caf\u{e9} \u{1f600}"), "caf\u{e9} \u{1f600}");
    }

    #[test]
    fn truncation_keeps_escapes_whole() {
        let c = clean("ab\x1bcd");
        assert_eq!(c, "ab\\x1bcd");
        // Room for "ab" and three more characters: "\x1" would cut the escape.
        assert_eq!(fit(&c, 6), "ab…");
        assert_eq!(fit(&c, 7), "ab\\x1b…");
        assert_eq!(fit(&c, 8), "ab\\x1bcd");
        let u = clean("\u{202e}xyz");
        assert_eq!(fit(&u, 9), "\\u{202e}…");
        assert_eq!(fit(&u, 8), "…");
        assert_eq!(fit("héllo wörld", 6), "héllo…");
    }

    mod props {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            /// Nothing that acts on a terminal survives cleaning, and a cut never leaves part
            /// of an escape behind.
            #[test]
            fn cleaned_text_is_inert(s in "\\PC{0,40}|[\\x00-\\x1f\\x7f\\u{80}-\\u{9f}\\u{202a}-\\u{202e}a-z]{0,40}", w in 0usize..50) {
                let c = clean(&s);
                prop_assert!(!c.chars().any(is_hostile), "{c:?}");
                let f = fit(&c, w);
                prop_assert!(f.chars().count() <= w.max(1));
                prop_assert!(!f.chars().any(is_hostile));
                // The kept part is a prefix made of whole escapes.
                let kept = f.strip_suffix('…').unwrap_or(&f);
                prop_assert!(c.starts_with(kept));
                let mut rest = kept;
                while !rest.is_empty() {
                    let n = token_len(rest);
                    let bytes = if n == 1 { rest.chars().next().map_or(1, char::len_utf8) } else { n };
                    prop_assert!(bytes <= rest.len(), "an escape was cut: {kept:?}");
                    rest = &rest[bytes..];
                }
            }
        }
    }
}
