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
