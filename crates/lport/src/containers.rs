//! Container engines, read-only: the Docker Engine API and Podman's compatible API on
//! their unix sockets name the containers behind a `docker-proxy` or a container's own
//! processes, and know the ones that stopped. No engine, no socket or no permission is a
//! note, never an error, and every request ends by a deadline.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

/// How long one read of an engine may take, all requests together.
const ENGINE_DEADLINE: Duration = Duration::from_millis(500);

/// A container as an engine describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Container {
    /// The full id.
    pub id: String,
    /// Its name (without the leading `/`).
    pub name: String,
    /// The image it runs.
    pub image: String,
    /// `running`, `exited`, `created`, `paused`, ...
    pub state: String,
    /// The Compose project and service, from its labels.
    pub compose_project: Option<String>,
    /// See `compose_project`.
    pub compose_service: Option<String>,
    /// `docker` or `podman`.
    pub engine: String,
    /// Its addresses on the engine's networks.
    #[serde(skip)]
    pub addresses: Vec<String>,
    /// The engine's API socket it was read from.
    #[serde(skip)]
    pub socket: PathBuf,
}

/// An engine's API socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    /// `docker` or `podman`.
    pub kind: &'static str,
    /// The unix socket.
    pub socket: PathBuf,
}

/// The engines' sockets to try: `DOCKER_HOST` and `CONTAINER_HOST` (`unix://` only), then
/// the usual rootful and rootless places; only those that exist.
#[must_use]
pub fn engines() -> Vec<Engine> {
    let mut out: Vec<Engine> = Vec::new();
    let mut add = |kind: &'static str, socket: PathBuf| {
        if socket.exists() && !out.iter().any(|e| e.socket == socket) {
            out.push(Engine { kind, socket });
        }
    };
    for (var, kind) in [("DOCKER_HOST", "docker"), ("CONTAINER_HOST", "podman")] {
        if let Some(path) = std::env::var(var)
            .ok()
            .and_then(|h| h.strip_prefix("unix://").map(PathBuf::from))
        {
            add(kind, path);
        }
    }
    add("docker", PathBuf::from("/var/run/docker.sock"));
    add("podman", PathBuf::from("/run/podman/podman.sock"));
    if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        add("docker", run.join("docker.sock"));
        add("podman", run.join("podman/podman.sock"));
    }
    out
}

/// One GET to an engine: the JSON body of a 200 reply.
fn get(engine: &Engine, path: &str, deadline: Instant) -> Result<serde_json::Value, String> {
    let reply = crate::sys::unix_http(&engine.socket, "GET", path, deadline)
        .map_err(|e| format!("{} ({}): {e}", engine.kind, engine.socket.display()))?;
    let split = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("{}: no HTTP reply", engine.kind))?;
    let head = String::from_utf8_lossy(&reply[..split]);
    let status = head.split_whitespace().nth(1).unwrap_or_default();
    if status != "200" {
        return Err(format!("{}: HTTP {status} for {path}", engine.kind));
    }
    serde_json::from_slice(&reply[split + 4..]).map_err(|e| format!("{}: {e}", engine.kind))
}

/// Every container of every engine that answers, and a note for each that does not.
#[must_use]
pub fn list() -> (Vec<Container>, Vec<String>) {
    let deadline = Instant::now() + ENGINE_DEADLINE;
    let mut all = Vec::new();
    let mut notes = Vec::new();
    for engine in engines() {
        match get(&engine, "/containers/json?all=1", deadline) {
            Ok(v) => all.extend(
                v.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| container(c, &engine)),
            ),
            Err(e) => notes.push(format!("container engine not read: {e}")),
        }
    }
    (all, notes)
}

/// A container from an entry of `/containers/json`.
fn container(c: &serde_json::Value, engine: &Engine) -> Option<Container> {
    let s = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    let label = |k: &str| c.get("Labels").and_then(|l| l.get(k)).and_then(s);
    let addresses = c
        .pointer("/NetworkSettings/Networks")
        .and_then(serde_json::Value::as_object)
        .map(|nets| {
            nets.values()
                .filter_map(|n| n.get("IPAddress").and_then(s))
                .filter(|a| !a.is_empty())
                .collect()
        })
        .unwrap_or_default();
    Some(Container {
        id: s(c.get("Id")?)?,
        name: c
            .get("Names")
            .and_then(|n| n.get(0))
            .and_then(s)
            .map(|n| n.trim_start_matches('/').to_owned())
            .unwrap_or_default(),
        image: c.get("Image").and_then(s).unwrap_or_default(),
        state: c.get("State").and_then(s).unwrap_or_default(),
        compose_project: label("com.docker.compose.project"),
        compose_service: label("com.docker.compose.service"),
        engine: engine.kind.to_owned(),
        addresses,
        socket: engine.socket.clone(),
    })
}

/// How long stopping a container may take: a default stop timeout (10 s) and a margin.
const STOP_DEADLINE: Duration = Duration::from_secs(15);

/// Stops a container through its engine (`POST /containers/ID/stop`): the engine sends its
/// stop signal, then SIGKILL after the container's stop timeout (10 s unless it was given
/// another), as `docker stop` does.
pub fn stop(c: &Container) -> std::io::Result<()> {
    let reply = crate::sys::unix_http(
        &c.socket,
        "POST",
        &format!("/containers/{}/stop", c.id),
        Instant::now() + STOP_DEADLINE,
    )?;
    let head = String::from_utf8_lossy(&reply[..reply.len().min(64)]);
    match head.split_whitespace().nth(1) {
        // 304: it was not running.
        Some("204" | "304") => Ok(()),
        other => Err(std::io::Error::other(format!(
            "{} refused to stop {}: HTTP {}",
            c.engine,
            c.name,
            other.unwrap_or("?")
        ))),
    }
}

/// A container that publishes a host port and is not running: what ended it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    /// The container.
    pub container: Container,
    /// The host address it publishes on (empty: every address).
    pub host_ip: String,
    /// The container port behind it (`8080/tcp`).
    pub container_port: String,
    /// Its exit code, when it exited.
    pub exit_code: Option<i64>,
    /// The kernel's OOM killer ended it.
    pub oom_killed: bool,
    /// When it ended (RFC 3339), as the engine says.
    pub finished_at: Option<String>,
}

/// The containers that are not running and publish `port` on the host (from each one's
/// `HostConfig.PortBindings`), with how they ended.
#[must_use]
pub fn stopped_publishing(port: u16) -> Vec<Stopped> {
    let deadline = Instant::now() + ENGINE_DEADLINE;
    let mut out = Vec::new();
    for engine in engines() {
        let Ok(list) = get(&engine, "/containers/json?all=1", deadline) else {
            continue;
        };
        for c in list.as_array().into_iter().flatten() {
            let Some(container) = container(c, &engine) else {
                continue;
            };
            if container.state == "running" || container.state == "paused" {
                continue;
            }
            let Ok(inspect) = get(
                &engine,
                &format!("/containers/{}/json", container.id),
                deadline,
            ) else {
                continue;
            };
            let Some(bindings) = inspect
                .pointer("/HostConfig/PortBindings")
                .and_then(serde_json::Value::as_object)
            else {
                continue;
            };
            for (container_port, binds) in bindings {
                for b in binds.as_array().into_iter().flatten() {
                    let host_port = b.get("HostPort").and_then(serde_json::Value::as_str);
                    if host_port.and_then(|p| p.parse::<u16>().ok()) != Some(port) {
                        continue;
                    }
                    let state = inspect.get("State");
                    let field = |k: &str| state.and_then(|s| s.get(k));
                    out.push(Stopped {
                        container: container.clone(),
                        host_ip: b
                            .get("HostIp")
                            .and_then(serde_json::Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        container_port: container_port.clone(),
                        exit_code: field("ExitCode").and_then(serde_json::Value::as_i64),
                        oom_killed: field("OOMKilled").and_then(serde_json::Value::as_bool)
                            == Some(true),
                        finished_at: field("FinishedAt")
                            .and_then(serde_json::Value::as_str)
                            .filter(|t| !t.starts_with("0001-"))
                            .map(str::to_owned),
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_from_the_list_entry() {
        let v = serde_json::json!({
            "Id": "6f05ff43f1c7d8d2",
            "Names": ["/web"],
            "Image": "nginx:1.25",
            "State": "running",
            "Labels": {"com.docker.compose.project": "shop", "com.docker.compose.service": "web"},
            "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}}},
        });
        let engine = Engine {
            kind: "docker",
            socket: PathBuf::from("/run/docker.sock"),
        };
        let c = container(&v, &engine).expect("container");
        assert_eq!(c.name, "web");
        assert_eq!(c.compose_service.as_deref(), Some("web"));
        assert_eq!(c.addresses, vec!["172.17.0.2"]);
    }
}
