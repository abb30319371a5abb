//! `stale-socket-file`: `unix:/path` exists but nobody listens on it: the server died (or
//! was killed) without removing it, and clients get "connection refused". Also the plain
//! cases around it: the file is missing, or is no socket at all.

use super::cause;
use super::unix_file_text;
use crate::diagnose::{Cause, Facts, Severity};

pub(super) fn check(f: &Facts) -> Option<Cause> {
    let u = f.unix.as_ref()?;
    let (kind, err) = u.connect_error.as_ref()?;
    let path = &u.path;
    let Some(file) = &u.file else {
        if *kind != std::io::ErrorKind::NotFound {
            return None;
        }
        return cause(
            "nothing-listening",
            Severity::Error,
            format!("{path} does not exist: no server has created its socket"),
            vec![format!("connect to {path} -> {err}")],
            "start the server; if it runs, compare the path it uses with this one (a different directory, or a socket in a private /tmp of a systemd service)",
        );
    };
    if *kind != std::io::ErrorKind::ConnectionRefused || u.listening == Some(true) {
        return None;
    }
    let mut evidence = vec![
        unix_file_text(path, file),
        format!("connect to {path} -> {err}"),
    ];
    if u.listening == Some(false) {
        evidence.push(
            "no socket in this network namespace is bound to it and listening (/proc/net/unix)"
                .into(),
        );
    }
    if !file.is_socket {
        return cause(
            "stale-socket-file",
            Severity::Error,
            format!("{path} is a regular file, not a socket"),
            evidence,
            format!("remove it (rm {path}) and start the server, which creates the socket"),
        );
    }
    cause(
        "stale-socket-file",
        Severity::Error,
        format!(
            "nothing listens on {path}: the socket file is left from a server that stopped without removing it"
        ),
        evidence,
        format!(
            "restart the server (most remove a stale file themselves), or remove it: rm {path}"
        ),
    )
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
            listening,
            me: "user dev (uid 1000), groups dev (1000)".into(),
        }
    }

    fn sock() -> FileInfo {
        FileInfo {
            is_socket: true,
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
