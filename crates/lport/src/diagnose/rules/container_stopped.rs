//! `container-stopped`: nothing listens on the port, and a container that publishes it is
//! not running: when it ended, its exit code, whether the OOM killer ended it, and the
//! command that starts it again.

use super::cause;
use crate::diagnose::{Cause, Facts, Mode, Severity};

pub(super) fn check(f: &Facts) -> Option<Cause> {
    if f.target.mode != Mode::Connect || f.connected() || f.listeners().next().is_some() {
        return None;
    }
    let s = f.stopped_containers.first()?;
    let c = &s.container;
    let port = f.target.port;
    let how = if s.oom_killed {
        "the kernel's OOM killer ended it".to_owned()
    } else {
        match s.exit_code {
            Some(code) => format!("it exited with code {code}"),
            None => format!("it is {}", c.state),
        }
    };
    let host = if s.host_ip.is_empty() {
        "every address".to_owned()
    } else {
        s.host_ip.clone()
    };
    let mut evidence = vec![
        format!(
            "{} container {} ({}) is {}; it publishes {host}:{port} -> {}",
            c.engine, c.name, c.image, c.state, s.container_port
        ),
        format!(
            "{how}{}",
            s.finished_at
                .as_deref()
                .map_or_else(String::new, |t| format!(" at {t}"))
        ),
    ];
    if let (Some(p), Some(svc)) = (&c.compose_project, &c.compose_service) {
        evidence.push(format!("Compose project {p}, service {svc}"));
    }
    let start = match (&c.compose_project, &c.compose_service) {
        (Some(_), Some(svc)) => format!(
            "docker compose up -d {svc} (or {} start {})",
            c.engine, c.name
        ),
        _ => format!("{} start {}", c.engine, c.name),
    };
    let fix = if s.oom_killed {
        format!("give it more memory (docker update --memory, or the Compose limit), then {start}")
    } else {
        format!(
            "{start}; if it exits again, {} logs {} says why",
            c.engine, c.name
        )
    };
    cause(
        "container-stopped",
        Severity::Error,
        format!(
            "container {} publishes port {port} but is not running: {how}",
            c.name
        ),
        evidence,
        fix,
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{attempt, facts};
    use super::*;
    use crate::containers::{Container, Stopped};
    use crate::diagnose::Outcome;

    #[test]
    fn an_exited_container_that_publishes_the_port() {
        let mut f = facts("127.0.0.1", 5432, Mode::Connect);
        attempt(&mut f, "127.0.0.1", Outcome::Refused);
        assert!(check(&f).is_none());
        f.stopped_containers.push(Stopped {
            container: Container {
                id: "abc".into(),
                name: "db".into(),
                image: "postgres:16".into(),
                state: "exited".into(),
                compose_project: None,
                compose_service: None,
                engine: "docker".into(),
                addresses: Vec::new(),
                socket: std::path::PathBuf::new(),
            },
            host_ip: "127.0.0.1".into(),
            container_port: "5432/tcp".into(),
            exit_code: Some(137),
            oom_killed: false,
            finished_at: Some("2026-12-07T10:00:00Z".into()),
        });
        let c = check(&f).expect("cause");
        assert!(c.summary.contains("exited with code 137"), "{c:?}");
        assert!(c.fix.starts_with("docker start db"), "{c:?}");
    }
}
