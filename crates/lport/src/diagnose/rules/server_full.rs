//! `server-full`: the server accepts the connection and answers with its own "too many
//! connections" error (Redis over `maxclients`, MySQL/MariaDB over `max_connections`,
//! PostgreSQL's `sorry, too many clients already`).

use super::cause;
use crate::diagnose::{Cause, Facts, Severity};
use crate::model::State;

pub(super) fn check(f: &Facts) -> Option<Cause> {
    let s = f.service.as_ref()?;
    if s.detail
        .get("server_full")
        .and_then(serde_json::Value::as_bool)
        != Some(true)
    {
        return None;
    }
    let port = f.target.port;
    let error = s
        .detail
        .get("error")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("too many connections");
    let product = s.product.clone().unwrap_or_else(|| s.name.clone());
    // What this machine's tables show of the clients it has.
    let open = f
        .port_sockets
        .iter()
        .filter(|x| x.netns.host && x.state == State::Established && x.local.port == port)
        .count();
    let (setting, name) = match s.name.as_str() {
        "redis" => ("maxclients (redis.conf, or CONFIG SET maxclients)", "Redis"),
        "mysql" => (
            "max_connections (my.cnf, or SET GLOBAL max_connections)",
            "MySQL/MariaDB",
        ),
        "postgresql" => (
            "max_connections (postgresql.conf; a restart applies it), or put a pooler such as PgBouncer in front",
            "PostgreSQL",
        ),
        _ => ("its connection limit", "the server"),
    };
    cause(
        "server-full",
        Severity::Error,
        format!("{product} on port {port} is full: it answers every new client with \"{error}\""),
        vec![
            format!("{name} replied: {error}"),
            format!("{open} connection(s) to port {port} are open on this machine"),
        ],
        format!(
            "find the client that holds connections open (lport who {port} lists them, with their processes) or raise {setting}"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::facts;
    use super::*;
    use crate::diagnose::Mode;
    use crate::probe::Service;

    #[test]
    fn a_full_redis() {
        let mut f = facts("127.0.0.1", 6390, Mode::Connect);
        let mut s = Service {
            name: "redis".into(),
            product: None,
            version: None,
            detail: serde_json::json!({"server_full": true, "error": "ERR max number of clients reached"}),
            tls: None,
        };
        f.service = Some(s.clone());
        let c = check(&f).expect("cause");
        assert!(
            c.summary.contains("max number of clients") && c.fix.contains("maxclients"),
            "{c:?}"
        );
        assert!(c.fix.contains("lport who 6390"), "{c:?}");
        s.detail = serde_json::json!({"auth_required": false});
        f.service = Some(s);
        assert!(check(&f).is_none());
    }
}
