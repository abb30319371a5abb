//! Human tables. Columns are sized to their content; when a terminal is narrower than the
//! table, the process column gives way first (cut with `…`), so addresses stay whole.

use std::io::Write;

use anyhow::Result;
use lport::{Exposure, Process, Snapshot, Socket, State};

use super::Style;

/// Alignment of a column.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

struct Column {
    header: &'static str,
    align: Align,
    /// May be cut to fit the terminal.
    shrink: bool,
}

/// A cell: its text and the colour code to paint it with after sizing.
struct Cell(String, &'static str);

/// Writes a table of `n` rows, fitting `width` when given. Rows are produced twice, once to
/// size the columns and once to print, so a table of 25,000 sockets is never held in memory.
fn render(
    cols: &[Column],
    n: usize,
    row: impl Fn(usize) -> Vec<Cell>,
    style: &Style,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let mut widths: Vec<usize> = cols.iter().map(|c| c.header.chars().count()).collect();
    for i in 0..n {
        for (w, cell) in widths.iter_mut().zip(row(i)) {
            *w = (*w).max(cell.0.chars().count());
        }
    }
    if let Some(limit) = style.width {
        let total = widths.iter().sum::<usize>() + 2 * (cols.len() - 1);
        if total > limit {
            let mut excess = total - limit;
            for (w, c) in widths.iter_mut().zip(cols).rev() {
                if c.shrink && excess > 0 {
                    let floor = c.header.len().max(8);
                    let cut = excess.min(w.saturating_sub(floor));
                    *w -= cut;
                    excess -= cut;
                }
            }
        }
    }
    let mut line = String::new();
    let mut write_line = |cells: Vec<Cell>, out: &mut dyn Write| {
        line.clear();
        let last = cells.len().saturating_sub(1);
        for (i, (Cell(text, code), (w, col))) in
            cells.into_iter().zip(widths.iter().zip(cols)).enumerate()
        {
            let text = fit(text, *w);
            let pad = w - text.chars().count();
            if col.align == Align::Right {
                line.extend(std::iter::repeat_n(' ', pad));
            }
            line.push_str(&style.paint(&text, code));
            if i != last {
                if col.align == Align::Left {
                    line.extend(std::iter::repeat_n(' ', pad));
                }
                line.push_str("  ");
            }
        }
        writeln!(out, "{}", line.trim_end())
    };
    write_line(
        cols.iter()
            .map(|c| Cell(c.header.to_owned(), "1"))
            .collect(),
        out,
    )?;
    for i in 0..n {
        write_line(row(i), out)?;
    }
    Ok(())
}

/// Cuts `s` to `w` characters, marking the cut with `…`.
fn fit(s: String, w: usize) -> String {
    if s.chars().count() <= w {
        return s;
    }
    let mut t: String = s.chars().take(w.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// Who holds a socket, in a few words: `nginx (1201, 1202)`, or why nobody is shown.
fn owner_cell(s: &Socket, snap: &Snapshot) -> Cell {
    if s.owners.is_empty() {
        let why = match (s.state, s.owner_note.as_deref()) {
            (State::TimeWait, _) => "- (time-wait)".to_owned(),
            (_, Some(n)) if n.contains("needs root") => "? (hidden: needs root)".to_owned(),
            (_, Some(n)) if n.starts_with("its process exited") => "- (exited)".to_owned(),
            (_, Some(_)) if s.inode == 0 => "- (kernel)".to_owned(),
            (_, Some(_)) => "? (not visible)".to_owned(),
            (_, None) => "-".to_owned(),
        };
        return Cell(why, "2");
    }
    let mut pids: Vec<u32> = s.owners.iter().map(|o| o.pid).collect();
    pids.dedup();
    let mut names: Vec<&str> = pids
        .iter()
        .filter_map(|p| snap.process(*p).map(|p| p.name.as_str()))
        .collect();
    names.sort_unstable();
    names.dedup();
    let list = if pids.len() > 4 {
        format!(
            "{}, +{}",
            pids[..3]
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            pids.len() - 3
        )
    } else {
        pids.iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut text = format!("{} ({list})", names.join("+"));
    if let Some(fwd) = pids
        .iter()
        .filter_map(|p| snap.process(*p))
        .find(|p| p.name == "docker-proxy")
        .and_then(|p| p.container.as_deref())
    {
        text = format!("{text} -> {fwd}");
    }
    Cell(text, "")
}

fn user_cell(s: &Socket, snap: &Snapshot, users: &lport::users::Users) -> String {
    let name = |uid: u32| {
        users
            .name(uid)
            .map_or_else(|| uid.to_string(), str::to_owned)
    };
    match s.owners.first().and_then(|o| snap.process(o.pid)) {
        Some(p) => p.user.clone().unwrap_or_else(|| p.uid.to_string()),
        None => name(s.uid),
    }
}

fn exposure_cell(s: &Socket) -> Cell {
    match s.exposure {
        Exposure::Loopback => Cell("loopback".into(), "32"),
        Exposure::AllInterfaces if s.is_dual_stack() => {
            Cell("! all-interfaces (v4+v6)".into(), "31")
        }
        Exposure::AllInterfaces => Cell("! all-interfaces".into(), "31"),
        Exposure::Specific => Cell("! specific".into(), "33"),
        Exposure::OtherNetns => Cell(
            s.netns
                .inode
                .map_or_else(|| "netns (other)".to_owned(), |i| format!("netns {i}")),
            "36",
        ),
    }
}

/// Prints the socket table.
pub(crate) fn print_sockets(snap: &Snapshot, style: &Style, show_remote: bool) -> Result<()> {
    let users = lport::users::Users::load();
    let mut cols = vec![
        Column {
            header: "PROTO",
            align: Align::Left,
            shrink: false,
        },
        Column {
            header: "LOCAL",
            align: Align::Left,
            shrink: false,
        },
    ];
    if show_remote {
        cols.push(Column {
            header: "REMOTE",
            align: Align::Left,
            shrink: false,
        });
    }
    cols.extend([
        Column {
            header: "STATE",
            align: Align::Left,
            shrink: false,
        },
        Column {
            header: "RECV-Q",
            align: Align::Right,
            shrink: false,
        },
        Column {
            header: "SEND-Q",
            align: Align::Right,
            shrink: false,
        },
        Column {
            header: "PROCESS",
            align: Align::Left,
            shrink: true,
        },
        Column {
            header: "USER",
            align: Align::Left,
            shrink: true,
        },
        Column {
            header: "EXPOSURE",
            align: Align::Left,
            shrink: false,
        },
    ]);
    let row = |i: usize| {
        let s = &snap.sockets[i];
        let mut r = Vec::with_capacity(cols.len());
        r.push(Cell(s.proto_family().to_owned(), ""));
        r.push(Cell(local_text(s), ""));
        if show_remote {
            r.push(Cell(
                s.remote.map_or_else(|| "*".to_owned(), |e| e.to_string()),
                "",
            ));
        }
        r.push(Cell(
            s.state.as_str().to_owned(),
            if s.state == State::Bound { "35" } else { "" },
        ));
        r.push(Cell(s.recv_q.to_string(), ""));
        r.push(Cell(s.send_q.to_string(), ""));
        r.push(owner_cell(s, snap));
        r.push(Cell(user_cell(s, snap, &users), ""));
        r.push(exposure_cell(s));
        r
    };
    let mut out = super::stdout();
    render(&cols, snap.sockets.len(), row, style, &mut out)?;
    out.flush()?;
    Ok(())
}

/// `127.0.0.1:80`, `[::1]:80`, `*:80` for 0.0.0.0, `[::]:80` for the IPv6 wildcard.
fn local_text(s: &Socket) -> String {
    if s.local.addr == std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED) {
        format!("*:{}", s.local.port)
    } else {
        s.local.to_string()
    }
}

/// Prints every holder with full details (for `who`).
pub(crate) fn print_processes(snap: &Snapshot, style: &Style) -> Result<()> {
    let mut out = super::stdout();
    if !snap.processes.is_empty() {
        writeln!(out)?;
    }
    for p in &snap.processes {
        write_process(&mut out, p, snap, style)?;
    }
    for s in snap.sockets.iter().filter(|s| s.owners.is_empty()) {
        if let Some(n) = &s.owner_note {
            writeln!(out, "{} {}: {n}", s.proto_family(), local_text(s))?;
        }
    }
    out.flush()?;
    Ok(())
}

fn write_process(out: &mut impl Write, p: &Process, snap: &Snapshot, style: &Style) -> Result<()> {
    let fds: Vec<String> = snap
        .sockets
        .iter()
        .flat_map(|s| {
            s.owners
                .iter()
                .filter(|o| o.pid == p.pid)
                .map(move |o| (o.fd, s))
        })
        .map(|(fd, s)| format!("fd {fd} {} {}", s.state, local_text(s)))
        .collect();
    let user = p.user.clone().unwrap_or_else(|| p.uid.to_string());
    writeln!(
        out,
        "{} {}",
        style.paint(&format!("pid {}", p.pid), "1"),
        style.paint(&p.name, "1")
    )?;
    writeln!(out, "  user     {user} (uid {})", p.uid)?;
    writeln!(out, "  state    {}", state_words(&p.state))?;
    if let Some(t) = &p.start_time {
        writeln!(out, "  started  {t}")?;
    }
    let parent = lport_parent_name(p.ppid, snap);
    writeln!(out, "  parent   {}{parent}", p.ppid)?;
    if !p.cmdline.is_empty() {
        writeln!(out, "  command  {}", quote_args(&p.cmdline))?;
    }
    writeln!(
        out,
        "  exe      {}",
        p.exe
            .as_deref()
            .unwrap_or("(hidden: needs root or the same user)")
    )?;
    if let Some(u) = &p.unit {
        writeln!(out, "  unit     {u}")?;
    }
    if let Some(c) = &p.container {
        let label = if p.name == "docker-proxy" {
            "forwards"
        } else {
            "container"
        };
        writeln!(out, "  {label:<8} {c}")?;
    }
    writeln!(out, "  sockets  {}", fds.join("; "))?;
    Ok(())
}

/// Arguments joined for display, quoted where they hold spaces, quotes or control
/// characters, so one argument with a newline cannot break the layout.
fn quote_args(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| !c.is_whitespace() && !c.is_control() && !"'\"\\$`".contains(c));
            if plain { a.clone() } else { format!("{a:?}") }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn lport_parent_name(ppid: u32, snap: &Snapshot) -> String {
    snap.process(ppid)
        .map_or_else(String::new, |p| format!(" ({})", p.name))
}

fn state_words(s: &str) -> String {
    let words = match s {
        "R" => "running",
        "S" => "sleeping",
        "D" => "waiting on I/O (uninterruptible)",
        "T" => "STOPPED (SIGSTOP or job control): it cannot accept connections",
        "t" => "STOPPED by a debugger: it cannot accept connections",
        "Z" => "zombie (exited, not yet reaped)",
        "I" => "idle",
        _ => "",
    };
    if words.is_empty() {
        s.to_owned()
    } else {
        format!("{s} ({words})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_with_newlines_stay_on_one_line() {
        let args = vec![
            "python3".to_owned(),
            "-c".to_owned(),
            "import os\nprint(1)".to_owned(),
            "a b".to_owned(),
        ];
        assert_eq!(
            quote_args(&args),
            r#"python3 -c "import os\nprint(1)" "a b""#
        );
    }

    #[test]
    fn tables_fit_the_terminal_by_cutting_the_process_column() {
        let cols = [
            Column {
                header: "LOCAL",
                align: Align::Left,
                shrink: false,
            },
            Column {
                header: "Q",
                align: Align::Right,
                shrink: false,
            },
            Column {
                header: "PROCESS",
                align: Align::Left,
                shrink: true,
            },
        ];
        let row = |_| {
            vec![
                Cell("127.0.0.1:62893".into(), ""),
                Cell("12".into(), ""),
                Cell("a-very-long-process-name (4242)".into(), ""),
            ]
        };
        let lines = |color: bool, width: Option<usize>| {
            let mut out = Vec::new();
            render(&cols, 1, row, &Style { color, width }, &mut out).expect("render");
            String::from_utf8(out)
                .expect("utf8")
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let wide = lines(false, None);
        assert_eq!(wide[0], "LOCAL             Q  PROCESS");
        assert_eq!(
            wide[1],
            "127.0.0.1:62893  12  a-very-long-process-name (4242)"
        );
        let narrow = lines(false, Some(32));
        assert!(narrow.iter().all(|l| l.chars().count() <= 32), "{narrow:?}");
        assert!(narrow[1].ends_with('…'));
        assert!(narrow[1].starts_with("127.0.0.1:62893"));
        assert!(lines(true, None)[0].contains("\x1b[1m"));
    }
}
