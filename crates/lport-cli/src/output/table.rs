//! Human tables. Columns are sized to their content; when a terminal is narrower than the
//! table, the queue columns go first, then the service, user and process names are cut
//! with `…` (a process keeps its pid: `pyth… (664)`), then the exposure; addresses and
//! pids stay whole.
//!
//! Cells are formatted once into one contiguous buffer (no allocation per cell), sized, then
//! printed: a table of 25,000 sockets costs a few megabytes and one formatting pass.

use std::fmt::Write as _;
use std::io::Write;

use anyhow::Result;
use lport::users::Users;
use lport::{Exposure, Process, Snapshot, Socket, State};

use super::{Style, clean, fit};

/// Alignment of a column.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

/// What a column gives when the table is wider than the terminal.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Give {
    /// Nothing: it stays whole.
    Nothing,
    /// The whole column goes; lower ranks go first.
    Drop(u8),
    /// Cut with `…` down to `floor` characters; lower ranks are cut first. `keep_paren`
    /// cuts the text before a trailing `(...)`, so `python3 (664)` becomes `pyt… (664)`.
    Cut {
        rank: u8,
        floor: usize,
        keep_paren: bool,
    },
}

struct Column {
    header: &'static str,
    align: Align,
    give: Give,
}

const fn col(header: &'static str, align: Align, give: Give) -> Column {
    Column {
        header,
        align,
        give,
    }
}

const KEEP: Give = Give::Nothing;

/// Fits `text` in `w` characters; with `keep_paren`, a trailing ` (...)` survives whole
/// while the text before it has room for one character and `…`.
fn fit_cell(text: &str, w: usize, keep_paren: bool) -> std::borrow::Cow<'_, str> {
    if text.chars().count() <= w {
        return std::borrow::Cow::Borrowed(text);
    }
    if keep_paren
        && text.ends_with(')')
        && let Some(at) = text.rfind(" (")
    {
        let tail = &text[at..];
        let room = w.saturating_sub(tail.chars().count());
        if room >= 2 {
            return std::borrow::Cow::Owned(format!("{}{tail}", fit(&text[..at], room)));
        }
    }
    fit(text, w)
}

/// SGR colour codes a cell can carry; cells store an index into this table.
const PLAIN: u8 = 0;
const DIM: u8 = 1;
const RED: u8 = 2;
const GREEN: u8 = 3;
const YELLOW: u8 = 4;
const MAGENTA: u8 = 5;
const CYAN: u8 = 6;
const BOLD: u8 = 7;
const BOLD_GREEN: u8 = 8;
const CODES: [&str; 9] = ["", "2", "31", "32", "33", "35", "36", "1", "32;1"];

/// Every cell of a table in one string, with where each cell ends and its colour.
#[derive(Default)]
struct Cells {
    text: String,
    ends: Vec<u32>,
    codes: Vec<u8>,
}

impl Cells {
    /// Ends the cell written since the last one, with a colour. Control characters in it
    /// (a process name can hold any byte) are shown as escapes, so no cell can act on the
    /// terminal or split its row.
    fn end(&mut self, code: u8) {
        let start = self.ends.last().map_or(0, |&e| e as usize);
        if let std::borrow::Cow::Owned(c) = clean(&self.text[start..]) {
            self.text.truncate(start);
            self.text.push_str(&c);
        }
        self.ends.push(self.text.len() as u32);
        self.codes.push(code);
    }

    /// Writes one cell.
    fn cell(&mut self, text: impl std::fmt::Display, code: u8) {
        let _ = write!(self.text, "{text}");
        self.end(code);
    }

    fn get(&self, i: usize) -> (&str, u8) {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        (&self.text[start..self.ends[i] as usize], self.codes[i])
    }
}

/// Writes a table, fitting `width` when given. Pure over its input, so tested directly.
fn render(
    cols: &[Column],
    cells: &Cells,
    style: &Style,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let ncols = cols.len();
    let nrows = cells.ends.len() / ncols;
    let mut widths: Vec<usize> = cols.iter().map(|c| c.header.chars().count()).collect();
    for i in 0..cells.ends.len() {
        let w = &mut widths[i % ncols];
        *w = (*w).max(cells.get(i).0.chars().count());
    }
    // What a `keep_paren` column needs to keep every row's `(pid)`: one character, `…`,
    // and the tail.
    let mut tails = vec![0usize; ncols];
    for (i, c) in cols.iter().enumerate() {
        if matches!(
            c.give,
            Give::Cut {
                keep_paren: true,
                ..
            }
        ) {
            tails[i] = (0..nrows)
                .filter_map(|r| {
                    let t = cells.get(r * ncols + i).0;
                    t.ends_with(')')
                        .then(|| t.rfind(" (").map(|at| t[at..].chars().count() + 2))
                        .flatten()
                })
                .max()
                .unwrap_or(0);
        }
    }
    let shown = style.width.map_or_else(
        || vec![true; ncols],
        |limit| fit_widths(cols, &mut widths, &tails, limit),
    );
    let last = shown.iter().rposition(|s| *s).unwrap_or(0);
    let mut line = String::new();
    let mut write_line = |row: &[(&str, u8)], out: &mut dyn Write| {
        line.clear();
        for (i, ((w, c), &(text, code))) in widths.iter().zip(cols).zip(row).enumerate() {
            if !shown[i] {
                continue;
            }
            let keep_paren = matches!(
                c.give,
                Give::Cut {
                    keep_paren: true,
                    ..
                }
            );
            let text = fit_cell(text, *w, keep_paren);
            let pad = w - text.chars().count();
            if c.align == Align::Right {
                line.extend(std::iter::repeat_n(' ', pad));
            }
            style.paint_into(&mut line, &text, CODES[usize::from(code)]);
            if i != last {
                if c.align == Align::Left {
                    line.extend(std::iter::repeat_n(' ', pad));
                }
                line.push_str("  ");
            }
        }
        writeln!(out, "{}", line.trim_end())
    };
    let header: Vec<(&str, u8)> = cols.iter().map(|c| (c.header, BOLD)).collect();
    write_line(&header, out)?;
    let mut row: Vec<(&str, u8)> = Vec::with_capacity(ncols);
    for r in 0..nrows {
        row.clear();
        row.extend((0..ncols).map(|i| cells.get(r * ncols + i)));
        write_line(&row, out)?;
    }
    Ok(())
}

/// Makes the columns fit `limit` characters: drops, then cuts, in rank order, until they
/// fit or nothing more may give; a `keep_paren` column is cut to `keeps[i]` (its pids
/// whole) with the others, and below that only last. Returns which columns are shown.
fn fit_widths(cols: &[Column], widths: &mut [usize], keeps: &[usize], limit: usize) -> Vec<bool> {
    let mut shown = vec![true; cols.len()];
    let total = |widths: &[usize], shown: &[bool]| {
        let n = shown.iter().filter(|s| **s).count();
        widths
            .iter()
            .zip(shown)
            .filter(|(_, s)| **s)
            .map(|(w, _)| *w)
            .sum::<usize>()
            + 2 * n.saturating_sub(1)
    };
    let mut drops: Vec<(u8, usize)> = cols
        .iter()
        .enumerate()
        .filter_map(|(i, c)| match c.give {
            Give::Drop(rank) => Some((rank, i)),
            _ => None,
        })
        .collect();
    drops.sort_unstable();
    // Columns of one rank go together (RECV-Q with SEND-Q).
    let mut k = 0;
    while total(widths, &shown) > limit && k < drops.len() {
        let rank = drops[k].0;
        while k < drops.len() && drops[k].0 == rank {
            shown[drops[k].1] = false;
            k += 1;
        }
    }
    let mut cuts: Vec<(u8, usize, usize)> = Vec::new();
    for (i, c) in cols.iter().enumerate() {
        if let Give::Cut {
            rank,
            floor,
            keep_paren,
        } = c.give
        {
            let floor = floor.max(c.header.chars().count());
            if keep_paren {
                cuts.push((rank, i, floor.max(keeps[i])));
                cuts.push((u8::MAX, i, floor));
            } else {
                cuts.push((rank, i, floor));
            }
        }
    }
    cuts.sort_unstable();
    let mut hidden_cuts = false;
    for (rank, i, floor) in cuts {
        let excess = total(widths, &shown).saturating_sub(limit);
        if excess == 0 {
            break;
        }
        if rank == u8::MAX && !hidden_cuts {
            // Before a pid goes, whole columns do (SERVICE, USER, then EXPOSURE): a row that still
            // names its process is worth more than its user.
            hidden_cuts = true;
            let mut hide: Vec<(u8, usize)> = cols
                .iter()
                .enumerate()
                .filter_map(|(j, c)| match c.give {
                    Give::Cut {
                        rank,
                        keep_paren: false,
                        ..
                    } => Some((rank, j)),
                    _ => None,
                })
                .collect();
            hide.sort_unstable();
            for (_, j) in hide {
                if total(widths, &shown) <= limit {
                    break;
                }
                shown[j] = false;
            }
            let excess = total(widths, &shown).saturating_sub(limit);
            if excess == 0 {
                break;
            }
        }
        let excess = total(widths, &shown).saturating_sub(limit);
        let cut = excess.min(widths[i].saturating_sub(floor));
        widths[i] -= cut;
    }
    shown
}

/// Who holds a socket, in a few words: `nginx (1201, 1202)`, or why nobody is shown.
fn owner_cell(s: &Socket, snap: &Snapshot, cells: &mut Cells) {
    if s.owners.is_empty() {
        let why = match (s.state, s.owner_note.as_deref()) {
            (State::TimeWait, _) => "- (time-wait)",
            (_, Some(n)) if n.contains("needs root") => "? (hidden: needs root)",
            (_, Some(n)) if n.starts_with("its process exited") => "- (exited)",
            (_, Some(_)) if s.inode == 0 => "- (kernel)",
            (_, Some(_)) => "? (not visible)",
            (_, None) => "-",
        };
        cells.cell(why, DIM);
        return;
    }
    let out = &mut cells.text;
    // Holders are sorted by pid, so the same process's fds sit together.
    let mut last = None;
    let mut procs = s.owners.iter().filter_map(|o| {
        let new = last != Some(o.pid);
        last = Some(o.pid);
        new.then_some(o.pid)
    });
    let first = procs.next().unwrap_or_default();
    let name = snap.process(first).map_or("?", |p| p.name.as_str());
    let _ = write!(out, "{name} ({first}");
    let mut shown = 1;
    let mut more = 0;
    for pid in procs {
        if shown < 3 {
            let _ = write!(out, ", {pid}");
            shown += 1;
        } else {
            more += 1;
        }
    }
    if more > 0 {
        let _ = write!(out, ", +{more}");
    }
    // A stopped server holds its port and accepts nothing: the table says so.
    if snap.process(first).is_some_and(Process::is_stopped) {
        out.push_str(", stopped");
    }
    out.push(')');
    if let Some(p) = snap.process(first).filter(|p| p.name == "docker-proxy")
        && let Some(fwd) = p.container.as_deref()
    {
        // The container by the name its engine gives, where one said.
        match &p.container_info {
            Some(c) => {
                let _ = write!(out, " -> {} ({fwd})", super::clean(&c.name));
            }
            None => {
                let _ = write!(out, " -> {fwd}");
            }
        }
    } else if let Some(c) = snap.process(first).and_then(|p| p.container_info.as_ref()) {
        let _ = write!(out, " in {}", super::clean(&c.name));
    }
    cells.end(PLAIN);
}

fn user_cell(s: &Socket, snap: &Snapshot, users: &Users, cells: &mut Cells) {
    match s.owners.first().and_then(|o| snap.process(o.pid)) {
        Some(Process { user: Some(u), .. }) => cells.cell(u, PLAIN),
        Some(p) => cells.cell(p.account(), PLAIN),
        None => match s.uid {
            Some(uid) => match users.name(uid) {
                Some(n) => cells.cell(n, PLAIN),
                None => cells.cell(uid, PLAIN),
            },
            None => cells.cell("?", PLAIN),
        },
    }
}

fn exposure_cell(s: &Socket, cells: &mut Cells) {
    match s.exposure {
        Exposure::Loopback => cells.cell("loopback", GREEN),
        Exposure::AllInterfaces if s.is_dual_stack() => cells.cell("! all-interfaces (v4+v6)", RED),
        Exposure::AllInterfaces => cells.cell("! all-interfaces", RED),
        Exposure::Specific => cells.cell("! specific", YELLOW),
        Exposure::OtherNetns => match s.netns.inode {
            Some(i) => cells.cell(format_args!("netns {i}"), CYAN),
            None => cells.cell("netns (other)", CYAN),
        },
    }
}

/// Prints the socket table.
pub(crate) fn print_sockets(
    snap: &Snapshot,
    style: &Style,
    show_remote: bool,
    services: Option<&[Option<lport::probe::Service>]>,
) -> Result<()> {
    print_rows(snap, style, show_remote, services, None)
}

/// The socket table with a mark per row (`watch`): `new` rows bold green and marked `+`,
/// `gone` rows dim and marked `-`.
/// `watch`'s table in at most `rows` lines (header included): rows marked new or closed
/// come first, then the rest in order, and a last line says how many did not fit.
pub(crate) fn print_sockets_marked(
    snap: &Snapshot,
    style: &Style,
    marks: &[RowMark],
    rows: Option<usize>,
) -> Result<()> {
    let n = snap.sockets.len();
    let Some(room) = rows.filter(|&r| n + 1 > r) else {
        return print_rows(snap, style, false, None, Some(marks));
    };
    // Header, rows, and the "N more" line.
    let keep = room.saturating_sub(2).max(1);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (marks.get(i) == Some(&RowMark::Plain), i));
    let mut chosen: Vec<usize> = order.into_iter().take(keep).collect();
    chosen.sort_unstable();
    let part = Snapshot {
        sockets: chosen.iter().map(|&i| snap.sockets[i].clone()).collect(),
        processes: snap.processes.clone(),
        ..Snapshot::default()
    };
    let part_marks: Vec<RowMark> = chosen
        .iter()
        .map(|&i| marks.get(i).copied().unwrap_or(RowMark::Plain))
        .collect();
    print_rows(&part, style, false, None, Some(&part_marks))?;
    let mut out = super::stdout();
    let more = format!(
        "… {} more (a taller terminal, or a filter: lport watch PORT)",
        n - chosen.len()
    );
    let more = style
        .width
        .map_or(std::borrow::Cow::Borrowed(more.as_str()), |w| {
            super::fit(&more, w)
        });
    writeln!(out, "{}", style.paint(&more, "2"))?;
    out.flush()?;
    Ok(())
}

/// How `watch` marks a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowMark {
    Plain,
    New,
    Gone,
}

fn print_rows(
    snap: &Snapshot,
    style: &Style,
    show_remote: bool,
    services: Option<&[Option<lport::probe::Service>]>,
    marks: Option<&[RowMark]>,
) -> Result<()> {
    let users = Users::load();
    let mut cols = Vec::new();
    if marks.is_some() {
        cols.push(col(" ", Align::Left, KEEP));
    }
    cols.extend([
        col("PROTO", Align::Left, KEEP),
        col("LOCAL", Align::Left, KEEP),
    ]);
    if show_remote {
        cols.push(col("REMOTE", Align::Left, KEEP));
    }
    let cut = |rank, floor, keep_paren| Give::Cut {
        rank,
        floor,
        keep_paren,
    };
    cols.extend([
        col("STATE", Align::Left, KEEP),
        col("RECV-Q", Align::Right, Give::Drop(0)),
        col("SEND-Q", Align::Right, Give::Drop(0)),
        col("PROCESS", Align::Left, cut(3, 8, true)),
        col("USER", Align::Left, cut(1, 4, false)),
        col("EXPOSURE", Align::Left, cut(2, 8, false)),
    ]);
    if services.is_some() {
        cols.push(col("SERVICE", Align::Left, cut(0, 8, false)));
    }
    let mut cells = Cells::default();
    cells.text.reserve(snap.sockets.len() * 96);
    cells.ends.reserve(snap.sockets.len() * cols.len());
    cells.codes.reserve(snap.sockets.len() * cols.len());
    for (i, s) in snap.sockets.iter().enumerate() {
        let row_start = cells.codes.len();
        let mark = marks.and_then(|m| m.get(i).copied());
        match mark {
            Some(RowMark::New) => cells.cell("+", BOLD_GREEN),
            Some(RowMark::Gone) => cells.cell("-", DIM),
            Some(RowMark::Plain) => cells.cell(" ", PLAIN),
            None => {}
        }
        cells.cell(s.proto_family(), PLAIN);
        cells.cell(LocalText(s), PLAIN);
        if show_remote {
            match s.remote {
                Some(r) => cells.cell(r, PLAIN),
                None => cells.cell("*", PLAIN),
            }
        }
        let state_code = if s.state == State::Bound {
            MAGENTA
        } else {
            PLAIN
        };
        cells.cell(s.state, state_code);
        cells.cell(s.recv_q, PLAIN);
        cells.cell(s.send_q, PLAIN);
        owner_cell(s, snap, &mut cells);
        user_cell(s, snap, &users, &mut cells);
        exposure_cell(s, &mut cells);
        if let Some(services) = services {
            match services.get(i).and_then(Option::as_ref) {
                Some(svc) => service_cell(svc, &mut cells),
                None => cells.cell("-", DIM),
            }
        }
        let row_code = match mark {
            Some(RowMark::New) => Some(BOLD_GREEN),
            Some(RowMark::Gone) => Some(DIM),
            _ => None,
        };
        if let Some(code) = row_code {
            for c in &mut cells.codes[row_start..] {
                *c = code;
            }
        }
    }
    let mut out = super::stdout();
    render(&cols, &cells, style, &mut out)?;
    out.flush()?;
    Ok(())
}

/// `http nginx/1.22.1 (tls)`.
fn service_cell(s: &lport::probe::Service, cells: &mut Cells) {
    let _ = write!(cells.text, "{}", s.name);
    if let Some(p) = &s.product {
        let _ = write!(cells.text, " {p}");
        if let Some(v) = &s.version {
            let _ = write!(cells.text, "/{v}");
        }
    }
    if s.tls.is_some() && s.name != "tls" {
        cells.text.push_str(" (tls)");
    }
    cells.end(if s.name == "unknown" { DIM } else { PLAIN });
}

/// `127.0.0.1:80`, `[::1]:80`, `*:80` for 0.0.0.0, `[::]:80` for the IPv6 wildcard.
struct LocalText<'a>(&'a Socket);

impl std::fmt::Display for LocalText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.0;
        if s.local.addr == std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED) {
            write!(f, "*:{}", s.local.port)
        } else {
            write!(f, "{}", s.local)
        }
    }
}

fn local_text(s: &Socket) -> String {
    LocalText(s).to_string()
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
            writeln!(out, "{} {}: {}", s.proto_family(), local_text(s), clean(n))?;
        }
    }
    out.flush()?;
    Ok(())
}

fn write_process(out: &mut impl Write, p: &Process, snap: &Snapshot, style: &Style) -> Result<()> {
    let mut held: Vec<(Option<u32>, &Socket)> = snap
        .sockets
        .iter()
        .flat_map(|s| {
            s.owners
                .iter()
                .filter(|o| o.pid == p.pid)
                .map(move |o| (o.fd, s))
        })
        .collect();
    // In descriptor order, as `ls -l /proc/PID/fd` lists them.
    held.sort_by_key(|(fd, _)| fd.unwrap_or(u32::MAX));
    let fds: Vec<String> = held
        .into_iter()
        .map(|(fd, s)| match fd {
            Some(fd) => format!("fd {fd} {} {}", s.state, local_text(s)),
            None => format!("{} {}", s.state, local_text(s)),
        })
        .collect();
    let account = p.account();
    let user = clean(&account);
    writeln!(
        out,
        "{} {}",
        style.paint(&format!("pid {}", p.pid), "1"),
        style.paint(&clean(&p.name), "1")
    )?;
    match p.uid {
        Some(uid) => writeln!(out, "  user     {user} (uid {uid})")?,
        None => writeln!(out, "  user     {user}")?,
    }
    writeln!(out, "  state    {}", state_words(&p.state))?;
    if let Some(t) = &p.start_time {
        writeln!(out, "  started  {t}")?;
    }
    let parent = lport_parent_name(p.ppid, snap);
    writeln!(out, "  parent   {}{parent}", p.ppid)?;
    // Long values wrap under themselves, at the terminal's width.
    let field = |label: &str, text: &str| super::wrap(text, style.width, label, 11);
    if !p.cmdline.is_empty() {
        writeln!(out, "{}", field("  command  ", &quote_args(&p.cmdline)))?;
    }
    let exe = clean(
        p.exe
            .as_deref()
            .unwrap_or("(hidden: needs root or the same user)"),
    );
    writeln!(out, "{}", field("  exe      ", &exe))?;
    if let Some(u) = &p.unit {
        writeln!(out, "  unit     {}", clean(u))?;
    }
    if let Some(c) = &p.container {
        let label = if p.name == "docker-proxy" {
            "forwards"
        } else {
            "container"
        };
        writeln!(out, "  {label:<8} {}", clean(c))?;
    }
    writeln!(out, "{}", field("  sockets  ", &fds.join("; ")))?;
    Ok(())
}

/// Arguments joined for display, quoted where they hold spaces, quotes or control
/// characters, so one argument with a newline cannot break the layout. Backslashes are
/// shown as they are: `"Z:\tmp\my app.exe"`, as `exe` and `kill` print the path.
fn quote_args(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| !c.is_whitespace() && !super::is_hostile(c) && !"'\"$`".contains(c));
            if plain {
                return a.clone();
            }
            let mut q = String::with_capacity(a.len() + 2);
            q.push('"');
            for c in a.chars() {
                match c {
                    '"' => q.push_str("\\\""),
                    c if c.is_control() => q.extend(c.escape_default()),
                    c => q.push(c),
                }
            }
            q.push('"');
            // `clean` catches what is left (bidi overrides and the like).
            clean(&q).into_owned()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn lport_parent_name(ppid: u32, snap: &Snapshot) -> String {
    snap.process(ppid)
        .map_or_else(String::new, |p| format!(" ({})", clean(&p.name)))
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
    fn backslashes_in_arguments_are_shown_once() {
        let args = vec![
            r"Z:\tmp\lport.exe".to_owned(),
            r"C:\Program Files\app.exe".to_owned(),
            r#"say "hi""#.to_owned(),
        ];
        assert_eq!(
            quote_args(&args),
            r#"Z:\tmp\lport.exe "C:\Program Files\app.exe" "say \"hi\"""#
        );
    }

    #[test]
    fn tables_fit_the_terminal_by_cutting_the_process_column() {
        let cols = [
            col("LOCAL", Align::Left, KEEP),
            col("Q", Align::Right, KEEP),
            col(
                "PROCESS",
                Align::Left,
                Give::Cut {
                    rank: 0,
                    floor: 8,
                    keep_paren: false,
                },
            ),
        ];
        let mut cells = Cells::default();
        cells.cell("127.0.0.1:62893", PLAIN);
        cells.cell(12, PLAIN);
        cells.cell("a-very-long-process-name (4242)", RED);
        let lines = |color: bool, width: Option<usize>| {
            let mut out = Vec::new();
            render(&cols, &cells, &Style { color, width }, &mut out).expect("render");
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
        let painted = lines(true, None);
        assert!(painted[0].contains("\x1b[1mLOCAL"), "{painted:?}");
        assert!(painted[1].contains("\x1b[31ma-very"), "{painted:?}");
    }

    #[test]
    fn queues_go_first_and_the_pid_last() {
        let cut = |rank, floor, keep_paren| Give::Cut {
            rank,
            floor,
            keep_paren,
        };
        let cols = [
            col("LOCAL", Align::Left, KEEP),
            col("REMOTE", Align::Left, KEEP),
            col("RECV-Q", Align::Right, Give::Drop(0)),
            col("SEND-Q", Align::Right, Give::Drop(0)),
            col("PROCESS", Align::Left, cut(2, 8, true)),
            col("USER", Align::Left, cut(1, 4, false)),
        ];
        let mut cells = Cells::default();
        for c in [
            "127.0.0.1:53163",
            "127.0.0.1:51592",
            "0",
            "128",
            "python3 (664)",
            "postgres",
        ] {
            cells.cell(c, PLAIN);
        }
        let render_at = |width| {
            let mut out = Vec::new();
            render(
                &cols,
                &cells,
                &Style {
                    color: false,
                    width: Some(width),
                },
                &mut out,
            )
            .expect("render");
            String::from_utf8(out).expect("utf8")
        };
        let wide = render_at(200);
        assert!(
            wide.contains("RECV-Q") && wide.contains("python3 (664)  postgres"),
            "{wide}"
        );
        let narrow = render_at(60);
        assert!(
            !narrow.contains("RECV-Q") && !narrow.contains("128"),
            "{narrow}"
        );
        assert!(narrow.lines().all(|l| l.chars().count() <= 60), "{narrow}");
        let narrower = render_at(50);
        assert!(narrower.contains("(664)"), "the pid stays: {narrower}");
        assert!(
            narrower.lines().all(|l| l.chars().count() <= 50),
            "{narrower}"
        );
        assert!(narrower.contains("py"), "{narrower}");
        assert_eq!(fit_cell("python3 (664)", 9, true), "py… (664)");
        assert_eq!(
            fit_cell("python3 (664)", 5, true),
            "pyth…",
            "no room: an ordinary cut"
        );
    }
}
