//! `host-not-allowed`: the server answers but refuses this client's address or `Host`
//! name: MySQL/MariaDB's error 1130 in place of its greeting (an account for `localhost`
//! only, with `skip-name-resolve`), and the host checks of dev servers (Vite,
//! webpack-dev-server, Django, Rails) for a name other than localhost.

use super::cause;
use crate::diagnose::{Cause, Facts, Outcome, Severity};

pub(super) fn check(f: &Facts) -> Option<Cause> {
    mysql(f).or_else(|| http(f))
}

/// ER_HOST_NOT_PRIVILEGED: no account matches the client's address.
fn mysql(f: &Facts) -> Option<Cause> {
    let s = f.service.as_ref()?;
    if s.name != "mysql" || s.detail.get("error_code")?.as_u64()? != 1130 {
        return None;
    }
    let error = s.detail.get("error")?.as_str()?;
    let client = f
        .attempts
        .iter()
        .find(|a| a.outcome == Outcome::Connected)
        .map_or_else(
            || "this client's address".to_owned(),
            |a| a.addr.to_string(),
        );
    let product = if error.contains("MariaDB") {
        "MariaDB"
    } else {
        "MySQL"
    };
    cause(
        "host-not-allowed",
        Severity::Error,
        format!(
            "{product} on port {} refuses connections from {client}: no account is for that host",
            f.target.port
        ),
        vec![format!(
            "instead of its greeting it says: {error} (error 1130)"
        )],
        format!(
            "create an account for this address (CREATE USER 'app'@'{client}' IDENTIFIED BY '...'; GRANT ... TO 'app'@'{client}'), or use the account's own host: with skip-name-resolve, 'localhost' accounts match only the unix socket (mysql -h localhost, or mysql -S PATH), so drop skip-name-resolve or add a '{client}' account"
        ),
    )
}

/// A dev server's host check: what the name typed gets, against what `localhost` got.
fn http(f: &Facts) -> Option<Cause> {
    let (name, status, body) = f.as_host.as_ref()?;
    let local = f.service.as_ref()?.detail.get("status")?.as_u64()?;
    let port = f.target.port;
    let said = |needle: &str| body.contains(needle);
    let (server, setting) = if said("Blocked request. This host") {
        (
            "Vite",
            format!("server.allowedHosts: ['{name}'] in vite.config (or true for any name)"),
        )
    } else if said("Invalid Host header") {
        (
            "webpack-dev-server",
            format!("devServer.allowedHosts: ['{name}'] in webpack.config ('all' for any name)"),
        )
    } else if said("DisallowedHost") || said("Invalid HTTP_HOST header") {
        (
            "Django",
            format!("ALLOWED_HOSTS = ['{name}'] in settings.py"),
        )
    } else if said("Blocked host") {
        (
            "Rails",
            format!("config.hosts << \"{name}\" in config/environments/development.rb"),
        )
    } else if *status >= 400 && local < 400 && matches!(status, 400 | 403 | 421) {
        (
            "the server",
            format!("the setting that lists the host names it answers: add {name}"),
        )
    } else {
        return None;
    };
    let first_line = body
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('<'))
        .unwrap_or_default();
    let mut evidence = vec![
        format!("GET with Host: {name}:{port} -> HTTP {status}"),
        format!("GET with Host: localhost:{port} -> HTTP {local}"),
    ];
    if !first_line.is_empty() {
        evidence.push(format!(
            "it says: {}",
            &first_line[..first_line.len().min(160)]
        ));
    }
    cause(
        "host-not-allowed",
        Severity::Error,
        format!(
            "{server} on port {port} refuses requests for the name {name}: it answers only the host names it allows (HTTP {status})"
        ),
        evidence,
        format!("allow the name: {setting}; or open it as http://localhost:{port}/"),
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{attempt, facts};
    use super::*;
    use crate::diagnose::Mode;
    use crate::probe::Service;

    fn http_service(status: u16) -> Service {
        Service {
            name: "http".into(),
            product: None,
            version: None,
            detail: serde_json::json!({"status": status}),
            tls: None,
        }
    }

    #[test]
    fn vite_and_a_plain_server() {
        let mut f = facts("myapp.test", 5173, Mode::Connect);
        attempt(&mut f, "127.0.0.1", Outcome::Connected);
        f.service = Some(http_service(200));
        f.as_host = Some((
            "myapp.test".into(),
            403,
            "Blocked request. This host (\"myapp.test\") is not allowed.\nTo allow this host, add \"myapp.test\" to `server.allowedHosts` in vite.config.js.".into(),
        ));
        let c = check(&f).expect("cause");
        assert!(c.summary.starts_with("Vite on port 5173"), "{c:?}");
        assert!(
            c.fix.contains("server.allowedHosts: ['myapp.test']"),
            "{c:?}"
        );
        f.as_host = Some(("myapp.test".into(), 200, "<html>".into()));
        assert!(check(&f).is_none(), "the name is answered");
    }

    #[test]
    fn mysql_error_1130() {
        let mut f = facts("127.0.0.1", 3306, Mode::Connect);
        attempt(&mut f, "127.0.0.1", Outcome::Connected);
        f.service = Some(Service {
            name: "mysql".into(),
            product: None,
            version: None,
            detail: serde_json::json!({"error_code": 1130, "error": "Host '127.0.0.1' is not allowed to connect to this MariaDB server"}),
            tls: None,
        });
        let c = check(&f).expect("cause");
        assert!(
            c.summary
                .starts_with("MariaDB on port 3306 refuses connections from 127.0.0.1"),
            "{c:?}"
        );
        assert!(c.fix.contains("skip-name-resolve"), "{c:?}");
    }
}
