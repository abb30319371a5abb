//! `permission-denied`: the unix socket exists and a server listens, but this user may not
//! open it (its mode, owner and group say who may).

use super::cause;
use super::unix_file_text;
use crate::diagnose::{Cause, Facts, Severity};

pub(super) fn check(f: &Facts) -> Option<Cause> {
    let u = f.unix.as_ref()?;
    let (kind, err) = u.connect_error.as_ref()?;
    if *kind != std::io::ErrorKind::PermissionDenied {
        return None;
    }
    let path = &u.path;
    let mut evidence = vec![format!("connect to {path} -> {err}")];
    if let Some(file) = &u.file {
        evidence.insert(0, unix_file_text(path, file));
    }
    evidence.push(format!("lport runs as {}", u.me));
    let fix = match &u.file {
        Some(file) if file.mode & 0o060 == 0o060 => format!(
            "join the socket's group: sudo usermod -aG {g} $USER (then log in again), or run the client as {o}",
            g = file.group,
            o = file.owner
        ),
        Some(file) => format!(
            "run the client as {o}, or have the server create the socket with group access (mode 660 and a group you are in)",
            o = file.owner
        ),
        None => "the directory on the way to it is closed to this user: check each directory's permissions (namei -l PATH)".into(),
    };
    cause(
        "permission-denied",
        Severity::Error,
        format!("this user may not open {path}"),
        evidence,
        fix,
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::facts;
    use super::*;
    use crate::diagnose::Mode;
    use crate::diagnose::facts::UnixFacts;
    use crate::sys::FileInfo;

    #[test]
    fn a_socket_for_its_group_only() {
        let mut f = facts("/run/docker.sock", 0, Mode::Connect);
        f.unix = Some(UnixFacts {
            path: "/run/docker.sock".into(),
            file: Some(FileInfo {
                kind: crate::sys::FileKind::Socket,
                mode: 0o660,
                owner: "root".into(),
                group: "docker".into(),
                age_secs: 30,
            }),
            connect_error: Some((
                std::io::ErrorKind::PermissionDenied,
                "Permission denied".into(),
            )),
            errno: None,
            listening: Some(true),
            bound_kind: Some("stream"),
            is_abstract: false,
            me: "user dev (uid 1000), groups dev (1000)".into(),
        });
        let c = check(&f).expect("cause");
        assert!(c.evidence[0].contains("srw-rw---- root:docker"), "{c:?}");
        assert!(c.fix.contains("usermod -aG docker"), "{c:?}");
        assert!(c.evidence.iter().any(|e| e.contains("uid 1000")), "{c:?}");
    }
}
