//! Bad input: one clear line on stderr and exit 2, never a panic or a silent guess.

use crate::support::{have, lport, skip_unless, stderr, stdout};

#[test]
fn bad_targets_and_flags_exit_2_with_one_line() {
    for (args, needle) in [
        (&["who", "70000"][..], "out of range"),
        (&["who", "abc"][..], "a port is needed"),
        (&["ls", "256.1.1.1:80"][..], "not a valid IPv4 address"),
        (&["who", "[::1:80"][..], "missing ']'"),
        (&["ls", "--state", "sleepy"][..], "unknown state"),
        (&["--bogus"][..], "unexpected argument '--bogus'"),
        (&["who"][..], "required"),
    ] {
        let out = lport(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(stdout(&out).is_empty(), "{args:?}");
    }
    let out = lport(&["who", "70000"]);
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
}

#[test]
fn help_has_examples_and_exit_codes() {
    for args in [&["--help"][..], &["who", "--help"][..]] {
        let out = lport(args);
        assert_eq!(out.status.code(), Some(0));
        let text = stdout(&out);
        assert!(
            text.contains("Examples:") && text.contains("Exit status"),
            "{text}"
        );
    }
}

#[test]
fn piped_output_has_no_colour_codes() {
    let out = lport(&["ls"]);
    // Exit 0 (listeners found) or 1 (none): the command ran, and its table is plain.
    assert!(matches!(out.status.code(), Some(0 | 1)), "{out:?}");
    assert!(stdout(&out).starts_with("PROTO"), "{}", stdout(&out));
    assert!(!stdout(&out).contains('\x1b'));
}

#[test]
fn a_mistyped_command_is_not_looked_up_as_a_host() {
    for (word, cmd) in [
        ("wiat", "wait"),
        ("kil", "kill"),
        ("wyh", "why"),
        ("sevre", "serve"),
    ] {
        let out = lport(&[word, "3000"]);
        assert_eq!(out.status.code(), Some(2), "{word}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!("did you mean `{cmd}`?")) && !err.contains("resolve"),
            "{word}: {err}"
        );
    }
}

#[test]
fn color_is_chosen_by_flag_terminal_and_no_color() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port().to_string();
    // Each run finds the listener (exit 0) before its colours are judged: a failed run
    // prints nothing, which would have no escape codes either.
    let ran = |out: &std::process::Output| {
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert!(stdout(out).contains(&port), "{}", stdout(out));
    };
    let always = lport(&["--color", "always", &port]);
    ran(&always);
    assert!(stdout(&always).contains("\x1b["), "forced on a pipe");
    let who = lport(&["who", &port, "--color=always"]);
    ran(&who);
    assert!(stdout(&who).contains("\x1b["), "after a subcommand too");
    let never = lport(&["--color", "never", &port]);
    ran(&never);
    assert!(!stdout(&never).contains('\x1b'));
    let auto = lport(&[&port]);
    ran(&auto);
    assert!(!stdout(&auto).contains('\x1b'), "auto: not a terminal");
    let bad = lport(&["--color", "sometimes"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("always"), "{}", stderr(&bad));
}

/// Completes `line` (its last word) with the function `lport completions bash` registers,
/// in a real bash.
fn bash_complete(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let line = words.join(" ");
    let cmd = format!(
        r#"source {}
fn=$(complete -p lport | sed -E 's/.*-F ([^ ]+).*/\1/')
COMP_WORDS=({line}); COMP_CWORD={}; COMP_LINE="{line}"; COMP_POINT=${{#COMP_LINE}}
"$fn" lport "{}" "{}"
printf '%s\n' "${{COMPREPLY[@]}}""#,
        script.display(),
        words.len() - 1,
        words[words.len() - 1],
        words[words.len() - 2],
    );
    let out = std::process::Command::new("bash")
        .args(["--norc", "-c", &cmd])
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    got.sort();
    got
}

#[test]
fn bash_completes_commands_and_flags() {
    if skip_unless(have("bash"), "bash is not installed") {
        return;
    }
    let dir = tempfile_dir();
    let script = dir.join("lport.bash");
    let out = lport(&["completions", "bash"]);
    assert_eq!(out.status.code(), Some(0));
    std::fs::write(&script, &out.stdout).expect("write");
    assert_eq!(bash_complete(&script, &["lport", "wh"]), ["who", "why"]);
    assert_eq!(bash_complete(&script, &["lport", "kil"]), ["kill"]);
    let flags = bash_complete(&script, &["lport", "why", "--li"]);
    assert_eq!(flags, ["--listen"]);
    for shell in ["zsh", "fish", "powershell"] {
        let out = lport(&["completions", shell]);
        assert!(out.status.success() && !out.stdout.is_empty(), "{shell}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_man_page_renders() {
    if skip_unless(have("man"), "man (man-db) is not installed") {
        return;
    }
    let dir = tempfile_dir();
    let page = dir.join("lport.1");
    let out = lport(&["man"]);
    assert_eq!(out.status.code(), Some(0));
    std::fs::write(&page, &out.stdout).expect("write");
    let shown = std::process::Command::new("man")
        .arg("-l")
        .arg(&page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "80")
        .output()
        .expect("run man");
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    for needle in ["NAME", "SYNOPSIS", "lport", "--json", "why", "completions"] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh directory under the system's temp dir.
fn tempfile_dir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "lport-cli-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
