//! Command-line arguments (clap derive). Arguments are turned into validated settings in
//! `commands` before any work starts.

use clap::{Args, Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  lport                      every listening socket with its process
  lport 3000                 what listens on port 3000
  lport -a :5432             every socket on port 5432, any state
  lport --exposed            listeners reachable from other machines
  lport --process node -t    TCP listeners of processes named node
  lport who 127.0.0.1:62893  who holds that port, with full process details
  lport --json | jq .        the same data for scripts (schema 1)

Exit status: 0 sockets found, 1 none matched, 2 usage or internal error.";

/// Every question about a local address and port: what listens there, who owns it, and
/// how it is exposed.
///
/// Without a command, `lport [ARGS]` is `lport ls [ARGS]`. Flags may come before or after
/// the command: `lport --json who 3000` is `lport who 3000 --json`.
#[derive(Debug, Parser)]
#[command(name = "lport", version, about, after_help = EXAMPLES)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
    /// No command was named: `ls` was put in by [`Cli::parse_args`] (so a bare word that
    /// looks like a mistyped command gets a hint rather than a DNS lookup).
    #[arg(skip)]
    pub(crate) implicit_ls: bool,
}

/// Arguments every command takes, before or after its name.
#[derive(Debug, Clone, Args)]
pub(crate) struct GlobalArgs {
    /// When to colour the output: auto (on a terminal, unless NO_COLOR is set), always,
    /// never.
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    pub(crate) color: ColorChoice,
}

impl Cli {
    /// Parses a command line the way users write it: flags anywhere, and `ls` when no
    /// command is named (see [`resolve_default_command`]).
    pub(crate) fn parse_args<I, T>(argv: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString>,
    {
        let (argv, implicit_ls) =
            resolve_default_command(argv.into_iter().map(Into::into).collect());
        let mut cli = Cli::try_parse_from(argv)?;
        cli.implicit_ls = implicit_ls;
        Ok(cli)
    }
}

/// Rewrites argv so that clap sees the command first: the flags before the first word (and
/// their values) move after it, and when that word is not a command (or there is none),
/// `ls` is put in. `lport --json who 3000` -> `lport who --json 3000`; `lport -a :5432` ->
/// `lport ls -a :5432`; `lport --color never` -> `lport ls --color never`. `lport --help`
/// and `lport --version` alone stay as they are. The second value says `ls` was put in.
/// (jj's `resolve_default_command` does the same.)
pub(crate) fn resolve_default_command(
    argv: Vec<std::ffi::OsString>,
) -> (Vec<std::ffi::OsString>, bool) {
    use clap::CommandFactory as _;
    let root = Cli::command();
    let is_command = |w: &str| {
        root.get_subcommands()
            .any(|c| c.get_name() == w || c.get_all_aliases().any(|a| a == w))
    };
    // Whether a flag takes its value from the next word: any command's option of that
    // name does (`--color`, `--pid`, `--timeout`), unless it is written `--flag=value`.
    let takes_value = |flag: &str| {
        if flag.contains('=') {
            return false;
        }
        let all = std::iter::once(&root).chain(root.get_subcommands());
        all.flat_map(clap::Command::get_arguments).any(|a| {
            let named = match flag.strip_prefix("--") {
                Some(long) => a.get_long() == Some(long),
                None => flag.len() == 2 && a.get_short() == flag.chars().nth(1),
            };
            named && a.get_action().takes_values()
        })
    };
    let Some((program, rest)) = argv.split_first() else {
        return (argv, false);
    };
    let mut lead: Vec<std::ffi::OsString> = Vec::new();
    let mut i = 0;
    while let Some(word) = rest.get(i) {
        let w = word.to_string_lossy();
        if w == "--" || !w.starts_with('-') || w == "-" {
            break;
        }
        lead.push(word.clone());
        if takes_value(&w)
            && let Some(v) = rest.get(i + 1)
        {
            lead.push(v.clone());
            i += 1;
        }
        i += 1;
    }
    let first = rest.get(i).map(|w| w.to_string_lossy().into_owned());
    let mut out = vec![program.clone()];
    let implicit = match first.as_deref() {
        Some(w) if is_command(w) => {
            out.push(rest[i].clone());
            i += 1;
            false
        }
        None if lead
            .iter()
            .any(|f| matches!(f.to_str(), Some("-h" | "--help" | "-V" | "--version"))) =>
        {
            return (argv, false);
        }
        _ => {
            out.push("ls".into());
            true
        }
    };
    out.extend(lead);
    out.extend(rest[i..].iter().cloned());
    (out, implicit)
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List listening sockets (with -a, every socket) and the processes that hold them.
    #[command(after_help = EXAMPLES)]
    Ls(LsArgs),
    /// Show every socket on one port in any state, all holders with full process details,
    /// and what the address and port are.
    #[command(after_help = WHO_EXAMPLES)]
    Who(WhoArgs),
    /// Print a free port: free on every local address, for the protocols asked, and outside
    /// the range the OS hands out for outgoing connections.
    #[command(after_help = FREE_EXAMPLES)]
    Free(FreeArgs),
    /// Wait until every target is ready (or, with --gone, until nothing listens), then
    /// optionally run a command.
    #[command(after_help = WAIT_EXAMPLES)]
    Wait(WaitArgs),
    /// Free a port: signal every process listening on it (never clients that merely use it
    /// as a source port), after showing them and asking.
    #[command(after_help = KILL_EXAMPLES)]
    Kill(KillArgs),
    /// A quick local server: static files from DIR, or an HTTP, TCP or UDP echo.
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(ServeArgs),
    /// Why can't I connect (or, with --listen, bind)? Tries every address the name resolves
    /// to, reads the kernel's tables, names the cause with evidence and the fix, and
    /// identifies the service that answers.
    #[command(after_help = WHY_EXAMPLES)]
    Why(WhyArgs),
    /// A live view of the listeners: new ones highlighted, closed ones fading; with --json,
    /// one JSON line per event.
    #[command(after_help = WATCH_EXAMPLES)]
    Watch(WatchArgs),
    /// Serve the inventory as Prometheus metrics on /metrics.
    #[command(after_help = EXPORTER_EXAMPLES)]
    Exporter(ExporterArgs),
    /// A local dashboard in the browser: the listeners live, details, why, kill.
    #[command(after_help = UI_EXAMPLES)]
    Ui(UiArgs),
    /// Live connection attempts and listener changes, with the client processes and how
    /// each attempt ended (kernel events: Linux, root or CAP_PERFMON).
    #[command(after_help = TRACE_EXAMPLES)]
    Trace(TraceArgs),
    /// Keep the history: listeners opened and closed, how their processes ended, and
    /// refused or timed-out connection attempts, in an SQLite database.
    #[command(after_help = RECORD_EXAMPLES)]
    Record(RecordArgs),
    /// What listened where, when it went away and how, and who tried to connect.
    #[command(after_help = HISTORY_EXAMPLES)]
    History(HistoryArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    #[command(after_help = COMPLETIONS_EXAMPLES)]
    Completions(CompletionsArgs),
    /// Print the manual page (roff), for `man -l -` or a man directory.
    #[command(after_help = MAN_EXAMPLES)]
    Man,
}

const TRACE_EXAMPLES: &str = "\
Examples:
  sudo lport trace                     every attempt and listener change, live
  sudo lport trace 3000                who keeps trying to connect to port 3000
  sudo lport trace :5432 --failed      only attempts that were refused or timed out
  sudo lport trace --json | jq .       one JSON object per event (schema 1)
  sudo lport trace 3000 --summary --duration 1m   counts per client, target and outcome

Repeats of one client, target and outcome are folded into one line (`x 37`).
Needs root or CAP_PERFMON (kernel tracepoints read with perf_event_open); lost events are
counted and shown.

Exit status: 0 done (Ctrl-C or --duration), 1 kernel events cannot be read here, 2 usage
error.";

const RECORD_EXAMPLES: &str = "\
Examples:
  sudo lport record                    record until Ctrl-C (kernel events as root)
  lport record                         without root: polls the listener table
  sudo lport record --max-age 7d --max-size 16M
  lport record --db /tmp/h.db --duration 10m

The database: /var/lib/lport/history.db as root, else $XDG_STATE_HOME/lport/history.db
(~/.local/state/lport/history.db); LPORT_HISTORY or --db name another. Delete the file to
forget everything. Defaults: 30 days, 64 MiB.

Exit status: 0 stopped (Ctrl-C, SIGTERM or --duration), 2 the store cannot be opened.";

const HISTORY_EXAMPLES: &str = "\
Examples:
  lport history                        recent listeners and knocking clients
  lport history 3000                   what listened on port 3000, and how it ended
  lport history :5432 --since 2h --json

Reads what `lport record` kept (see `lport record --help` for where).

Exit status: 0 something recorded, 1 nothing recorded for this target, 2 usage error or
no history to read.";

const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  source <(lport completions bash)                         this bash session
  lport completions bash > ~/.local/share/bash-completion/completions/lport
  lport completions zsh > \"${fpath[1]}/_lport\"
  lport completions fish > ~/.config/fish/completions/lport.fish
  lport completions powershell >> $PROFILE";

const MAN_EXAMPLES: &str = "\
Examples:
  lport man | man -l -
  lport man > ~/.local/share/man/man1/lport.1";

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

const UI_EXAMPLES: &str = "\
Examples:
  lport ui                  127.0.0.1 on a free port; opens the browser
  lport ui --no-open        only print the URL (it carries a per-launch token)

The dashboard's API answers only requests that carry its token in the X-Lport-Token
header (the page keeps it in the tab, never in a cookie), only to Host names of this server
on loopback, never to requests another site made, and takes state-changing requests only
as same-origin POSTs. --bind beyond loopback prints a warning.";

const EXPORTER_EXAMPLES: &str = "\
Examples:
  lport exporter                          127.0.0.1:9970/metrics
  lport exporter --listen 0.0.0.0:9970    for a Prometheus on another machine (warns)

Metrics: lport_listener_info{proto,addr,port,state,process,user,exposure,netns} 1,
lport_listener_accept_queue and lport_listener_backlog per TCP listener, lport_sockets by
proto and state, lport_exposed_listeners, lport_scrape_duration_seconds.";

const WATCH_EXAMPLES: &str = "\
Examples:
  lport watch                      the listener table, refreshed every second
  lport watch 3000 5173 -i 250ms   only these ports, four times a second
  lport watch --json | jq .        {\"schema\":1,\"event\":\"opened\"|\"closed\",\"socket\":{...},
                                   \"process\":{...},\"at\":\"...\"}, one line per event

Only changes are reported as events; `lport ls --json` gives the state to start from.
Ctrl-C (or SIGTERM) stops it and restores the terminal.";

const WHY_EXAMPLES: &str = "\
Examples:
  lport why localhost:3000         family mismatch? nothing listening? stopped process?
  lport why 127.0.0.1:62893
  lport why http://localhost:5173/ also checks the scheme against the service, and proxies
  lport why :5432                  PostgreSQL? (localhost is assumed)
  lport why --listen :3000         why can't my server bind port 3000?
  lport why localhost:8080 --json  schema 1, for scripts

Only the target is contacted: one connection per resolved address (all at once), then a
few probes on fresh connections: what the server says first, a TLS handshake, an HTTP GET
with Host: localhost:PORT (for HTTP, the same GET with a foreign Host and read-only
follow-ups), then for an unrecognised service Redis PING, PostgreSQL SSLRequest (and,
for PostgreSQL, a startup packet of protocol 4.0, which it refuses naming the versions it
speaks), memcached version, JDWP handshake, MongoDB hello, Kafka ApiVersions, the AMQP
header and a DNS version.bind query. No credentials and no writes are ever sent; ports 9100-9107
(printers) are never probed. Everything ends within --timeout plus half a second.

Exit status: 0 reachable and no problem found, 1 a problem (or an unexplained failure),
2 usage or internal error.";

const SERVE_EXAMPLES: &str = "\
Examples:
  lport serve                      this directory on 127.0.0.1 and a free port
  lport serve ./dist --port 8080   listings, index.html, MIME types, ETag and
                                   Last-Modified, Range requests, HEAD
  lport serve --echo               every HTTP request answered with itself as JSON
  lport serve --tcp-echo --port 9000
  lport serve --udp-echo
  lport serve --bind 0.0.0.0       reachable from other machines (prints a warning)

The URL goes to stdout, requests are logged on stderr (-q for none). Paths outside DIR,
also through symlinks, are refused. Ctrl-C (or SIGTERM) stops it cleanly.

Exit status: 0 stopped cleanly, 2 usage error or the port could not be bound.";

const KILL_EXAMPLES: &str = "\
Examples:
  lport kill 3000                 show who listens on 3000, ask, SIGTERM, SIGKILL after 5s
  lport kill 3000 --dry-run       only show what would be signalled
  lport kill 127.0.0.1:8080 udp/5353 --yes
  lport kill 3000 --signal INT --grace 10s

Never signalled: pid 1, lport itself, its parent, kernel threads, and docker-proxy (stop
the container instead). After the signal lport checks that the port is free, or says why
not (a supervisor respawned the server, another holder, connections in TIME_WAIT).

Exit status: 0 the port is free, 1 not freed or nothing listens, 2 usage or internal error
(also when confirmation is needed but stdin is not a terminal: pass --yes).";

const WAIT_EXAMPLES: &str = "\
Targets:
  3000, :3000, localhost:3000    TCP: ready when a connection succeeds on any address the
                                 name resolves to (127.0.0.1 and ::1 for localhost)
  '[::1]:8080', tcp://host:port
  http://localhost:3000/health   ready on a 2xx or 3xx status (or --status N)
  https://localhost:8443/        the same over TLS (any certificate is accepted)
  unix:/run/app.sock             ready when the socket accepts connections
  udp/5353                       ready when a UDP socket is bound there (read from the
                                 kernel; no datagram is sent)

Examples:
  lport wait 5432 && psql ...
  lport wait localhost:3000 http://localhost:8080/ready --timeout 2m
  lport wait --gone 3000         wait for the old server to let go of the port
  lport wait :5432 -- ./migrate.sh
                                 run ./migrate.sh once PostgreSQL accepts connections

Local TCP and unix targets are checked every 15 ms (for TCP a lookup in the kernel's
listener table, then one connection once something listens), other targets every 100 ms,
unless --interval says otherwise.

Exit status: 0 ready (or gone), 1 timed out, 2 usage or internal error.";

const FREE_EXAMPLES: &str = "\
Examples:
  lport free                       one free TCP port (61000-65535 on a default Linux)
  lport free -n 3 --both           three ports free for TCP and UDP
  lport free --near 3000           the first free port at or above 3000
  lport free --range 8000-8999
  lport free --exec -- python3 app.py
                                   bind a free port and start the program with it: the
                                   listening socket is fd 3 (systemd socket activation:
                                   LISTEN_FDS=1, LISTEN_PID) and PORT is set, so nothing
                                   can take the port in between

Exit status: 0 found, 1 no free port in the range, 2 usage or internal error.";

const WHO_EXAMPLES: &str = "\
Examples:
  lport who 3000
  lport who 127.0.0.1:62893
  lport who udp/53
  lport who '[::1]:8080' --json

Exit status: 0 something holds the port, 1 nothing does, 2 usage or internal error.";

#[derive(Debug, Clone, Args)]
pub(crate) struct LsArgs {
    /// Only sockets on these targets: 3000, :3000, 127.0.0.1:3000, [::1]:3000, udp/53.
    #[arg(value_name = "TARGET")]
    pub(crate) targets: Vec<String>,
    /// Every socket in every state, not only listeners.
    #[arg(short, long)]
    pub(crate) all: bool,
    /// TCP only.
    #[arg(short, long)]
    pub(crate) tcp: bool,
    /// UDP only.
    #[arg(short, long)]
    pub(crate) udp: bool,
    /// IPv4 only.
    #[arg(short = '4', long = "ipv4")]
    pub(crate) ipv4: bool,
    /// IPv6 only.
    #[arg(short = '6', long = "ipv6")]
    pub(crate) ipv6: bool,
    /// Only sockets reachable beyond loopback (all interfaces or a specific address).
    #[arg(long)]
    pub(crate) exposed: bool,
    /// Only sockets held by these pids.
    #[arg(long, value_name = "PID", value_delimiter = ',')]
    pub(crate) pid: Vec<u32>,
    /// Only sockets held by processes whose name contains NAME.
    #[arg(long, value_name = "NAME")]
    pub(crate) process: Vec<String>,
    /// Only sockets of this user (name or uid).
    #[arg(long, value_name = "USER")]
    pub(crate) user: Option<String>,
    /// Only these states (listen, bound, unconn, established, time-wait, ...); comma-separated.
    #[arg(long, value_name = "STATE", value_delimiter = ',')]
    pub(crate) state: Vec<String>,
    /// Print JSON (schema 1) instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    /// Identify the service behind every TCP listener on a loopback or wildcard address
    /// (probes run concurrently; see `lport why --help` for what is sent).
    #[arg(long)]
    pub(crate) identify: bool,
    /// On a terminal, show every row: by default a process with more than 8 sockets shows
    /// its first 3 and a line with the rest's count (pipes and --json always get every row).
    #[arg(long)]
    pub(crate) expand: bool,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct FreeArgs {
    /// How many ports, one per line.
    #[arg(
        short = 'n',
        long = "count",
        value_name = "N",
        default_value_t = 1,
        value_parser = clap::value_parser!(u16).range(1..)
    )]
    pub(crate) count: u16,
    /// Look in this range, LO-HI (default: IANA dynamic ports outside the OS's ephemeral
    /// range and reserved ports).
    #[arg(long, value_name = "LO-HI", conflicts_with = "near")]
    pub(crate) range: Option<String>,
    /// The first free port at or above PORT.
    #[arg(long, value_name = "PORT")]
    pub(crate) near: Option<String>,
    /// Free for UDP instead of TCP.
    #[arg(long, conflicts_with = "both")]
    pub(crate) udp: bool,
    /// Free for both TCP and UDP.
    #[arg(long)]
    pub(crate) both: bool,
    /// Bind the port and run CMD with the socket as fd 3 (after `--`).
    #[arg(long, requires = "command")]
    pub(crate) exec: bool,
    /// With --exec: the address to bind the handed-over socket to.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1",
        requires = "exec"
    )]
    pub(crate) bind: String,
    /// Print JSON (schema 1): {"schema": 1, "ports": [...]}.
    #[arg(long, conflicts_with = "exec")]
    pub(crate) json: bool,
    /// The program to run with --exec, and its arguments.
    #[arg(last = true, value_name = "CMD")]
    pub(crate) command: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct WaitArgs {
    /// What to wait for; several targets: wait for all.
    #[arg(value_name = "TARGET", required = true)]
    pub(crate) targets: Vec<String>,
    /// Give up after this long: 500ms, 30s, 2m.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub(crate) timeout: String,
    /// Pause between checks (default: 15ms for local TCP and unix targets, 100ms otherwise).
    #[arg(long, value_name = "DURATION")]
    pub(crate) interval: Option<String>,
    /// Wait until nothing listens on the targets any more.
    #[arg(long)]
    pub(crate) gone: bool,
    /// For HTTP targets: the status that means ready (default: any 2xx or 3xx).
    #[arg(long, value_name = "CODE")]
    pub(crate) status: Option<u16>,
    /// Print nothing on stderr.
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// The program to run once ready, and its arguments (after `--`).
    #[arg(last = true, value_name = "CMD")]
    pub(crate) command: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct KillArgs {
    /// Ports to free: 3000, :3000, 127.0.0.1:3000, udp/5353.
    #[arg(value_name = "TARGET", required = true)]
    pub(crate) targets: Vec<String>,
    /// The first signal: TERM, INT, HUP, QUIT, KILL, USR1, USR2.
    #[arg(short, long, value_name = "SIG", default_value = "TERM")]
    pub(crate) signal: String,
    /// How long to wait after the first signal before SIGKILL.
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub(crate) grace: String,
    /// Do not ask.
    #[arg(short, long)]
    pub(crate) yes: bool,
    /// Show what would be signalled, and stop.
    #[arg(short = 'n', long)]
    pub(crate) dry_run: bool,
    /// Also processes whose sockets on the port are in other states (clients using it as
    /// their source port, accepted connections).
    #[arg(long)]
    pub(crate) all_states: bool,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct ServeArgs {
    /// The directory to serve.
    #[arg(value_name = "DIR", default_value = ".")]
    pub(crate) dir: std::path::PathBuf,
    /// The port (default: a free one, as `lport free` picks).
    #[arg(short, long, value_name = "PORT")]
    pub(crate) port: Option<String>,
    /// The address to listen on.
    #[arg(short, long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub(crate) bind: String,
    /// Answer every HTTP request with the request itself, as JSON.
    #[arg(long, group = "mode")]
    pub(crate) echo: bool,
    /// A raw TCP echo server.
    #[arg(long, group = "mode")]
    pub(crate) tcp_echo: bool,
    /// A raw UDP echo server.
    #[arg(long, group = "mode")]
    pub(crate) udp_echo: bool,
    /// Connections served at once; more wait until one closes. Clients get 10s to send a
    /// request head and are dropped after 60s without traffic.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 512,
        value_parser = clap::value_parser!(u16).range(1..)
    )]
    pub(crate) max_connections: u16,
    /// Do not log requests.
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Also answer HTTP requests for this Host name (repeatable; `*` for any). Otherwise
    /// only `localhost` and addresses (127.0.0.1, [::1], this machine's LAN address) are
    /// answered, so a web page cannot read what is served through DNS rebinding.
    #[arg(long = "allow-host", value_name = "NAME")]
    pub(crate) allow_host: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct WhyArgs {
    /// What to diagnose: localhost:3000, 127.0.0.1:62893, :5432, http://localhost:5173/.
    #[arg(value_name = "TARGET")]
    pub(crate) target: String,
    /// Diagnose binding (listening on) the address instead of connecting to it.
    #[arg(long)]
    pub(crate) listen: bool,
    /// How long each connection attempt may take; the whole diagnosis ends within this
    /// plus half a second.
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub(crate) timeout: String,
    /// Do not probe which service answers.
    #[arg(long)]
    pub(crate) no_identify: bool,
    /// Print JSON (schema 1) instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct WatchArgs {
    /// Only these targets: 3000, :3000, 127.0.0.1:3000, udp/53.
    #[arg(value_name = "TARGET")]
    pub(crate) targets: Vec<String>,
    /// How often to look.
    #[arg(short, long, value_name = "DURATION", default_value = "1s")]
    pub(crate) interval: String,
    /// Stream one JSON line per opened or closed listener instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    /// Also keep the history, as `lport record` does (same database and defaults).
    #[arg(long)]
    pub(crate) record: bool,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct TraceArgs {
    /// Only these targets (the port clients connect to, or a listener's): 3000, :3000,
    /// 127.0.0.1:3000, localhost:3000.
    #[arg(value_name = "TARGET")]
    pub(crate) targets: Vec<String>,
    /// One JSON object per line (schema 1).
    #[arg(long)]
    pub(crate) json: bool,
    /// At the end (Ctrl-C or --duration), print counts per client, target and outcome
    /// instead of each event.
    #[arg(long)]
    pub(crate) summary: bool,
    /// Stop after this long (500ms, 30s, 5m).
    #[arg(long, value_name = "DURATION")]
    pub(crate) duration: Option<String>,
    /// Only attempts that failed (refused, timed out, failed), and listener changes.
    #[arg(long)]
    pub(crate) failed: bool,
    /// Only events of these processes (client or listener): comma-separated pids.
    #[arg(long, value_name = "PID,...", value_delimiter = ',')]
    pub(crate) pid: Vec<u32>,
    /// Only events of processes whose name contains this (case-insensitive).
    #[arg(long, value_name = "NAME")]
    pub(crate) process: Vec<String>,
    /// Only events of processes of this user (name or uid).
    #[arg(long, value_name = "USER")]
    pub(crate) user: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct RecordArgs {
    /// Forget what is older than this (1h, 7d).
    #[arg(long, value_name = "DURATION", default_value = "30d")]
    pub(crate) max_age: String,
    /// Keep the database under this size (bytes, or with K, M, G).
    #[arg(long, value_name = "SIZE", default_value = "64M")]
    pub(crate) max_size: String,
    /// The database file (default: see below).
    #[arg(long, value_name = "PATH")]
    pub(crate) db: Option<std::path::PathBuf>,
    /// Poll the listener table even where kernel events could be read.
    #[arg(long)]
    pub(crate) poll: bool,
    /// How often to poll (without kernel events).
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub(crate) interval: String,
    /// Stop after this long.
    #[arg(long, value_name = "DURATION")]
    pub(crate) duration: Option<String>,
    /// Print nothing but errors.
    #[arg(short, long)]
    pub(crate) quiet: bool,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct HistoryArgs {
    /// The port, optionally with an address: 3000, :3000, 127.0.0.1:3000.
    #[arg(value_name = "TARGET")]
    pub(crate) target: Option<String>,
    /// Only what happened in this last stretch of time (30m, 2h, 7d).
    #[arg(long, value_name = "DURATION")]
    pub(crate) since: Option<String>,
    /// Print JSON (schema 1).
    #[arg(long)]
    pub(crate) json: bool,
    /// The database file (default: the recorder's).
    #[arg(long, value_name = "PATH")]
    pub(crate) db: Option<std::path::PathBuf>,
    /// At most this many listeners and clients each.
    #[arg(long, value_name = "N", default_value = "20")]
    pub(crate) limit: usize,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct ExporterArgs {
    /// Address and port to serve /metrics on.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:9970")]
    pub(crate) listen: String,
    /// Also keep the history, as `lport record` does (same database and defaults).
    #[arg(long)]
    pub(crate) record: bool,
    /// Also answer requests for this Host name (repeatable; `*` for any): a fleet's
    /// Prometheus scrapes by host name. Otherwise only `localhost` and addresses are
    /// answered (DNS rebinding).
    #[arg(long = "allow-host", value_name = "NAME")]
    pub(crate) allow_host: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct UiArgs {
    /// The address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub(crate) bind: String,
    /// The port (default: a free one).
    #[arg(long, value_name = "PORT")]
    pub(crate) port: Option<String>,
    /// Do not open the browser.
    #[arg(long)]
    pub(crate) no_open: bool,
    /// Also keep the history, as `lport record` does (same database and defaults).
    #[arg(long)]
    pub(crate) record: bool,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct WhoArgs {
    /// The port, optionally with an address or protocol: 3000, :3000, 127.0.0.1:3000, udp/53.
    #[arg(value_name = "TARGET")]
    pub(crate) target: String,
    /// Print JSON (schema 1) instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn clap_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bare_lport_and_targets_mean_ls() {
        let cli = Cli::parse_args(["lport", "3000", "-a"]).expect("parse");
        let Command::Ls(ls) = &cli.command else {
            panic!("ls: {cli:?}")
        };
        assert!(cli.implicit_ls);
        assert_eq!(ls.targets, vec!["3000"]);
        assert!(ls.all);
        let cli = Cli::parse_args(["lport", "who", "3000"]).expect("parse");
        assert!(matches!(cli.command, Command::Who(_)) && !cli.implicit_ls);
        assert!(Cli::parse_args(["lport", "--bogus"]).is_err());
        assert!(Cli::parse_args(["lport"]).is_ok_and(|c| matches!(c.command, Command::Ls(_))));
    }

    /// The words after the command, for comparing parses: Debug of the parsed command.
    fn parsed(argv: &[&str]) -> String {
        let cli = Cli::parse_args(argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        format!("{:?} {:?}", cli.command, cli.global.color)
    }

    #[test]
    fn flags_parse_the_same_before_and_after_the_command() {
        // (command and its words, flags that command takes)
        let cases: &[(&[&str], &[&[&str]])] = &[
            (
                &["ls"],
                &[
                    &["--json"],
                    &["-4"],
                    &["-a", "-t"],
                    &["--pid", "7"],
                    &["--state=listen"],
                ],
            ),
            (&["who", "3000"], &[&["--json"]]),
            (&["free"], &[&["--json"], &["-n", "3"]]),
            (&["wait", ":3000"], &[&["-q"], &["--timeout", "2s"]]),
            (&["kill", "3000"], &[&["--dry-run"], &["--grace", "1s"]]),
            (&["serve", "--echo"], &[&["-q"]]),
            (&["why", ":3000"], &[&["--json"], &["--no-identify"]]),
            (&["watch"], &[&["--json"]]),
            (&["exporter"], &[&["--listen", "127.0.0.1:9"]]),
            (&["ui"], &[&["--no-open"]]),
        ];
        let colors: &[&[&str]] = &[&[], &["--color", "never"], &["--color=always"]];
        for (cmd, flag_sets) in cases {
            for flags in *flag_sets {
                for color in colors {
                    let before: Vec<&str> = std::iter::once("lport")
                        .chain(color.iter().copied())
                        .chain(flags.iter().copied())
                        .chain(cmd.iter().copied())
                        .collect();
                    let after: Vec<&str> = std::iter::once("lport")
                        .chain(cmd.iter().copied())
                        .chain(flags.iter().copied())
                        .chain(color.iter().copied())
                        .collect();
                    assert_eq!(parsed(&before), parsed(&after), "{before:?} vs {after:?}");
                }
            }
        }
        // Without a command, it is ls, with its targets and flags in any order.
        assert_eq!(parsed(&["lport", "3000"]), parsed(&["lport", "ls", "3000"]));
        assert_eq!(
            parsed(&["lport", "-a", ":5432"]),
            parsed(&["lport", "ls", ":5432", "-a"])
        );
        assert_eq!(
            parsed(&["lport", "--color", "never", "-4"]),
            parsed(&["lport", "ls", "-4", "--color", "never"])
        );
        // `--` ends the flags: what follows is a target, even one named like a command.
        let cli = Cli::parse_args(["lport", "--", "who"]).expect("parse");
        assert!(
            matches!(&cli.command, Command::Ls(a) if a.targets == ["who"]),
            "{cli:?}"
        );
        // A bare word that is not a command is an ls target (the typo hint comes later).
        let cli = Cli::parse_args(["lport", "--json", "whoo"]).expect("parse");
        assert!(cli.implicit_ls);
        assert!(matches!(&cli.command, Command::Ls(a) if a.targets == ["whoo"] && a.json));
        // Help and version of lport itself.
        for flag in ["--help", "-h", "--version", "-V"] {
            let e = Cli::parse_args(["lport", flag]).expect_err("prints and exits");
            assert!(!e.use_stderr(), "{flag}");
        }
        let e = Cli::parse_args(["lport", "--help"]).expect_err("help");
        assert!(e.to_string().contains("Commands:"), "lport's own help: {e}");
    }
}
