//! What platforms without unix sockets that lport reads (Windows, others) say about them:
//! nothing to list, connect to or name.

pub(crate) fn unix_bound(_path: &std::path::Path, _holders: bool) -> Option<Vec<super::UnixBound>> {
    None
}

/// Named unix listeners: not read here.
pub(crate) fn unix_listeners(_programs: &[&str]) -> Option<Vec<(String, super::UnixBound)>> {
    None
}

pub(crate) fn errno_name(_e: &std::io::Error) -> Option<&'static str> {
    None
}

pub(crate) fn is_abstract(_path: &std::path::Path) -> bool {
    false
}

/// Container engines are reached over unix sockets: not here.
pub(crate) fn unix_http(
    _socket: &std::path::Path,
    _method: &str,
    _path: &str,
    _deadline: std::time::Instant,
) -> std::io::Result<Vec<u8>> {
    Err(std::io::ErrorKind::Unsupported.into())
}
