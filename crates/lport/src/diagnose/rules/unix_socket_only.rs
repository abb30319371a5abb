//! `unix-socket-only`: nothing listens on the TCP port, but the server that port is for
//! listens on a unix socket only: PostgreSQL with `listen_addresses = ''`, MySQL/MariaDB
//! with `skip-networking`, Redis with `port 0` and `unixsocket`.

use super::cause;
use crate::diagnose::{Cause, Facts, Mode, Severity};

pub(super) fn check(f: &Facts) -> Option<Cause> {
    if f.target.mode != Mode::Connect || f.connected() || f.listeners().next().is_some() {
        return None;
    }
    let u = f.unix_services.first()?;
    let port = f.target.port;
    let who = u.process.as_ref().map_or_else(
        || "a process lport may not read".to_owned(),
        |p| format!("{} (pid {})", p.name, p.pid),
    );
    let dir = std::path::Path::new(&u.path)
        .parent()
        .map_or_else(|| u.path.clone(), |d| d.display().to_string());
    let (what, setting, client) = match u.service {
        "postgresql" => (
            "PostgreSQL",
            "set listen_addresses = 'localhost' in postgresql.conf (or start it with -c listen_addresses=localhost) and restart it".to_owned(),
            format!("psql -h {dir} -p {port}"),
        ),
        "mysql" => (
            "MySQL/MariaDB",
            "remove skip-networking from its configuration (or start it with --skip-networking=0) and restart it".to_owned(),
            format!(
                "mysql -S {} (the mysql client takes -h localhost as this socket and -h 127.0.0.1 as TCP)",
                u.path
            ),
        ),
        _ => (
            "Redis",
            format!("set port {port} in redis.conf (or start it with --port {port}) and restart it"),
            format!("redis-cli -s {}", u.path),
        ),
    };
    let mut evidence = vec![format!("no TCP socket listens on port {port}")];
    evidence.push(format!("{who} listens on the unix socket {}", u.path));
    if let Some(p) = &u.process
        && !p.cmdline.is_empty()
    {
        evidence.push(format!("its command: {}", p.cmdline.join(" ")));
    }
    cause(
        "unix-socket-only",
        Severity::Error,
        format!(
            "{what} runs but listens on a unix socket only ({}), not on TCP port {port}",
            u.path
        ),
        evidence,
        format!("to reach it over TCP, {setting}; or connect over the socket: {client}"),
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{attempt, facts};
    use super::*;
    use crate::diagnose::Outcome;
    use crate::diagnose::facts::UnixService;

    #[test]
    fn postgresql_on_its_socket_only() {
        let mut f = facts("127.0.0.1", 5432, Mode::Connect);
        attempt(&mut f, "127.0.0.1", Outcome::Refused);
        assert!(check(&f).is_none());
        f.unix_services.push(UnixService {
            service: "postgresql",
            path: "/run/postgresql/.s.PGSQL.5432".into(),
            process: None,
        });
        let c = check(&f).expect("cause");
        assert!(c.fix.contains("listen_addresses = 'localhost'"), "{c:?}");
        assert!(c.fix.contains("psql -h /run/postgresql -p 5432"), "{c:?}");
    }
}
