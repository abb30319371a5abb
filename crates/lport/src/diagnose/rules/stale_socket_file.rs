//! `stale-socket-file`: `unix:/path` exists but nobody listens on it: the server died (or
//! was killed) without removing it, and clients get "connection refused". Also the plain
//! cases around it, each named for what it is: the file is missing; it is a regular file, a
//! directory or a FIFO, not a socket; the path is a symlink loop; the socket there takes
//! datagrams (a stream client gets EPROTOTYPE); nothing has the abstract name `@name`.

use super::cause;
use super::unix_file_text;
use crate::diagnose::{Cause, Facts, Severity};
use crate::sys::FileKind;

pub(super) fn check(f: &Facts) -> Option<Cause> {
    let u = f.unix.as_ref()?;
    let (kind, err) = u.connect_error.as_ref()?;
    let path = &u.path;
    let tried = format!("connect to {path} -> {err}");
    if let Some(c) = named_by_error(u, &tried) {
        return Some(c);
    }
    let Some(file) = &u.file else {
        if *kind != std::io::ErrorKind::NotFound {
            return None;
        }
        return cause(
            "nothing-listening",
            Severity::Error,
            format!("{path} does not exist: no server has created its socket"),
            vec![tried],
            "start the server; if it runs, compare the path it uses with this one (a different directory, or a socket in a private /tmp of a systemd service)",
        );
    };
    if *kind != std::io::ErrorKind::ConnectionRefused || u.listening == Some(true) {
        return None;
    }
    let mut evidence = vec![unix_file_text(path, file), tried];
    if u.listening == Some(false) && file.kind == FileKind::Socket {
        evidence.push(
            "no socket in this network namespace is bound to it and listening (/proc/net/unix)"
                .into(),
        );
    }
    let (summary, fix) = match file.kind {
        FileKind::Socket => (
            format!(
                "nothing listens on {path}: the socket file is left from a server that stopped without removing it"
            ),
            format!(
                "restart the server (most remove a stale file themselves), or remove it: rm {path}"
            ),
        ),
        FileKind::Regular => (
            format!("{path} is a regular file, not a socket"),
            format!("remove it (rm {path}) and start the server, which creates the socket"),
        ),
        FileKind::Directory => (
            format!("{path} is a directory, not a socket"),
            format!(
                "the socket may be inside it (ls -la {path}), or the server was given this directory where it wants the socket's own path"
            ),
        ),
        FileKind::Fifo => (
            format!("{path} is a FIFO (named pipe), not a socket"),
            format!(
                "a FIFO is opened and written (echo hi > {path}), never connected to; if a server should listen here, remove it (rm {path}) and restart the server"
            ),
        ),
        other => (
            format!("{path} is {}, not a socket", other.words()),
            "check the path: the server's socket is somewhere else".to_owned(),
        ),
    };
    cause("stale-socket-file", Severity::Error, summary, evidence, fix)
}

/// The cases the connect error names by itself: an abstract name nothing has, a symlink
/// loop, a file where a directory should be, a socket of another type.
fn named_by_error(u: &crate::diagnose::facts::UnixFacts, tried: &str) -> Option<Cause> {
    let (kind, _) = u.connect_error.as_ref()?;
    let path = &u.path;
    let tried = tried.to_owned();
    if u.is_abstract {
        if *kind != std::io::ErrorKind::ConnectionRefused || u.listening == Some(true) {
            return None;
        }
        return cause(
            "nothing-listening",
            Severity::Error,
            format!("nothing is bound to the abstract socket name {path}"),
            vec![
                tried,
                "no socket in this network namespace has that name (/proc/net/unix)".into(),
            ],
            "start the server; abstract names live in a network namespace, so a server in a container or another namespace is reached from inside it (nsenter -n -t PID, ip netns exec NAME)",
        );
    }
    match u.errno {
        Some("ELOOP") => cause(
            "nothing-listening",
            Severity::Error,
            format!("{path} is a symbolic link loop: no socket can be reached through it"),
            vec![tried],
            format!(
                "see where it points (ls -l {path}; readlink -f fails on a loop), then point it at the server's socket or remove it (rm {path})"
            ),
        ),
        Some("ENOTDIR") => cause(
            "nothing-listening",
            Severity::Error,
            format!("a part of {path} before the last name is not a directory"),
            vec![tried],
            "check the path: a file stands where a directory should be",
        ),
        Some("EPROTOTYPE") => {
            let what = match u.bound_kind {
                Some("dgram") => "a datagram socket",
                Some("seqpacket") => "a seqpacket socket",
                _ => "a socket of another type",
            };
            cause(
                "protocol-mismatch",
                Severity::Error,
                format!("{path} is {what}: a stream client cannot connect to it"),
                vec![tried],
                format!(
                    "talk to it with a client of its type (datagrams: socat - UNIX-SENDTO:{path}, or nc -uU {path}); lport connects with a stream socket"
                ),
            )
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::facts;
    use super::*;
    use crate::diagnose::Mode;
    use crate::diagnose::facts::UnixFacts;
    use crate::sys::FileInfo;

    fn unix(
        file: Option<FileInfo>,
        err: Option<std::io::ErrorKind>,
        listening: Option<bool>,
    ) -> UnixFacts {
        UnixFacts {
            path: "/run/app.sock".into(),
            file,
            connect_error: err.map(|k| (k, format!("{k:?}"))),
            errno: None,
            listening,
            bound_kind: None,
            is_abstract: false,
            me: "user dev (uid 1000), groups dev (1000)".into(),
        }
    }

    fn sock() -> FileInfo {
        FileInfo {
            kind: FileKind::Socket,
            mode: 0o755,
            owner: "root".into(),
            group: "root".into(),
            age_secs: 7200,
        }
    }

    #[test]
    fn a_socket_file_nobody_listens_on() {
        let mut f = facts("/run/app.sock", 0, Mode::Connect);
        f.unix = Some(unix(
            Some(sock()),
            Some(std::io::ErrorKind::ConnectionRefused),
            Some(false),
        ));
        let c = check(&f).expect("cause");
        assert_eq!(c.id, "stale-socket-file");
        assert!(
            c.evidence[0].contains("2 h ago") && c.fix.contains("rm /run/app.sock"),
            "{c:?}"
        );
        f.unix = Some(unix(Some(sock()), None, Some(true)));
        assert!(check(&f).is_none(), "it works");
        f.unix = Some(unix(None, Some(std::io::ErrorKind::NotFound), None));
        assert_eq!(check(&f).map(|c| c.id), Some("nothing-listening"));
        f.unix = Some(unix(
            Some(sock()),
            Some(std::io::ErrorKind::PermissionDenied),
            Some(true),
        ));
        assert!(check(&f).is_none(), "permission-denied's");
    }
}
