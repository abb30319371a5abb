//! One module per command. Each turns its arguments into validated settings first, then
//! does the work through the library and renders through `output`.

mod exporter;
mod filter;
mod free;
mod history;
mod kill;
mod ls;
mod record;
mod serve;
mod trace;
mod ui;
mod wait;
mod watch;
mod who;
mod why;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Runs the command the user asked for.
pub(crate) fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if cli.implicit_ls
        && let Command::Ls(ls) = &cli.command
        && let Some(word) = ls.targets.first()
        && let Some(cmd) = mistyped_command(word)
    {
        eprintln!(
            "lport: unknown command `{}`: did you mean `{cmd}`? (`lport {cmd} --help` shows how to use it)",
            crate::output::clean(word)
        );
        return Ok(ExitCode::from(2));
    }
    match cli.command {
        Command::Ls(args) => ls::run(&args),
        Command::Who(args) => who::run(&args),
        Command::Free(args) => free::run(&args),
        Command::Wait(args) => wait::run(&args),
        Command::Kill(args) => kill::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Why(args) => why::run(&args),
        Command::Watch(args) => record::beside(args.record, || watch::run(&args)),
        Command::Exporter(args) => record::beside(args.record, || exporter::run(&args)),
        Command::Ui(args) => record::beside(args.record, || ui::run(&args)),
        Command::Trace(args) => trace::run(&args),
        Command::Record(args) => record::run(&args),
        Command::History(args) => history::run(&args),
        Command::Completions(args) => {
            let mut out = crate::output::stdout();
            clap_complete::generate(
                args.shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "lport",
                &mut out,
            );
            std::io::Write::flush(&mut out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            let mut out = crate::output::stdout();
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut out)?;
            std::io::Write::flush(&mut out)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The command a bare first word is a near miss of (`wiat` -> `wait`), so it is not looked
/// up as a host name. Only words of letters qualify; a real command name never reaches here.
fn mistyped_command(word: &str) -> Option<&'static str> {
    const COMMANDS: &[&str] = &[
        "ls",
        "who",
        "free",
        "wait",
        "kill",
        "serve",
        "why",
        "watch",
        "exporter",
        "ui",
        "completions",
        "man",
    ];
    if word.is_empty() || !word.chars().all(|c| c.is_ascii_alphabetic()) || word == "localhost" {
        return None;
    }
    let word = word.to_ascii_lowercase();
    COMMANDS
        .iter()
        .map(|c| (edit_distance(&word, c), *c))
        .filter(|(d, c)| *d > 0 && *d <= if c.len() <= 3 { 1 } else { 2 })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Damerau-Levenshtein distance (adjacent swaps count once: `wiat` is 1 from `wait`).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
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

/// Who holds `port` (a listener, or any socket bound to it), as `python3 (pid 4242) on
/// 127.0.0.1:3000`, for an "address in use" error.
fn holder_of(port: u16, udp: bool) -> Option<String> {
    let snap = lport::snapshot(&lport::Query {
        tcp: !udp,
        udp,
        ..lport::Query::port(port)
    })
    .ok()?;
    let s = snap.sockets.first()?;
    let who = s
        .owners
        .first()
        .and_then(|o| snap.process(o.pid))
        .map_or_else(
            || {
                s.owner_note
                    .clone()
                    .unwrap_or_else(|| "a process lport cannot see".into())
            },
            |p| format!("{} (pid {})", p.name, p.pid),
        );
    Some(format!("{} on {}", crate::output::clean(&who), s.local))
}

/// Prints the snapshot's notes on stderr, once each.
fn print_notes(notes: &[String]) {
    for n in notes {
        eprintln!("note: {}", crate::output::clean(n));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_of_commands_are_caught_before_dns() {
        assert_eq!(mistyped_command("wiat"), Some("wait"));
        assert_eq!(mistyped_command("kil"), Some("kill"));
        assert_eq!(mistyped_command("wyh"), Some("why"));
        assert_eq!(mistyped_command("serv"), Some("serve"));
        assert_eq!(mistyped_command("Watc"), Some("watch"));
        assert_eq!(mistyped_command("localhost"), None);
        assert_eq!(mistyped_command("3000"), None);
        assert_eq!(mistyped_command("db.internal"), None);
        assert_eq!(mistyped_command("postgres"), None);
        assert_eq!(mistyped_command("wait"), None, "a real command is no miss");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
