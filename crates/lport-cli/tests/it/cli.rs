//! Bad input: one clear line on stderr and exit 2, never a panic or a silent guess.

use crate::support::{lport, stderr, stdout};

#[test]
fn bad_targets_and_flags_exit_2_with_one_line() {
    for (args, needle) in [
        (&["who", "70000"][..], "out of range"),
        (&["who", "abc"][..], "a port is needed"),
        (&["ls", "1.2.3:80"][..], "not a valid IPv4 address"),
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
    assert!(!stdout(&out).contains('\x1b'));
}

#[test]
fn a_mistyped_command_is_not_looked_up_as_a_host() {
    for (word, cmd) in [("wiat", "wait"), ("kil", "kill"), ("wyh", "why"), ("sevre", "serve")] {
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
    let always = lport(&["--color", "always", &port]);
    assert!(stdout(&always).contains("\x1b["), "forced on a pipe");
    let who = lport(&["who", &port, "--color=always"]);
    assert!(stdout(&who).contains("\x1b["), "after a subcommand too");
    let never = lport(&["--color", "never", &port]);
    assert!(!stdout(&never).contains('\x1b'));
    let auto = lport(&[&port]);
    assert!(!stdout(&auto).contains('\x1b'), "auto: not a terminal");
    let bad = lport(&["--color", "sometimes"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("always"), "{}", stderr(&bad));
}
