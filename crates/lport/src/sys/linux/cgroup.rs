//! cgroup v2 lookups: the cgroup id the kernel reports with a socket is the inode of the
//! cgroup's directory, which names the systemd unit or container even when the owning
//! process is hidden from this user.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Where cgroup v2 is mounted, from `/proc/self/mountinfo` text.
pub(crate) fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (pre, post) = line.split_once(" - ")?;
        let fstype = post.split_whitespace().next()?;
        let mount = pre.split_whitespace().nth(4)?;
        (fstype == "cgroup2").then(|| PathBuf::from(mount))
    })
}

/// The cgroup path (relative to the v2 root, starting with `/`) whose directory inode is
/// `id`, by walking the hierarchy. Bounded so a huge hierarchy cannot stall a listing.
pub(crate) fn path_of_id(id: u64) -> Option<String> {
    let info = super::read_text("/proc/self/mountinfo")?;
    let root = cgroup2_mount(&info)?;
    let mut stack = vec![root.clone()];
    let mut visited = 0;
    while let Some(dir) = stack.pop() {
        visited += 1;
        if visited > 20_000 {
            return None;
        }
        if std::fs::metadata(&dir).ok()?.ino() == id {
            return Some(relative(&root, &dir));
        }
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            }
        }
    }
    None
}

/// The processes in the cgroup whose directory inode is `id` (its `cgroup.procs`).
pub(crate) fn procs_of_id(id: u64) -> Vec<u32> {
    let Some(root) = super::read_text("/proc/self/mountinfo").and_then(|i| cgroup2_mount(&i))
    else {
        return Vec::new();
    };
    let Some(path) = path_of_id(id) else {
        return Vec::new();
    };
    let procs = root.join(path.trim_start_matches('/')).join("cgroup.procs");
    super::read_text(&procs.to_string_lossy())
        .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

fn relative(root: &Path, dir: &Path) -> String {
    let rel = dir.strip_prefix(root).unwrap_or(dir);
    format!("/{}", rel.display())
}

/// The cgroup path of a process from `/proc/<pid>/cgroup` text: the v2 line (`0::/path`),
/// else the systemd v1 hierarchy (`1:name=systemd:/path`).
pub(crate) fn process_cgroup(text: &str) -> Option<&str> {
    let mut fallback = None;
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(id), Some(ctrl), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if id == "0" && ctrl.is_empty() && path != "/" {
            return Some(path);
        }
        if ctrl == "name=systemd" || (fallback.is_none() && path != "/") {
            fallback = Some(path);
        }
    }
    fallback
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cgroup2_mount() {
        let mi = "25 30 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n\
                  35 25 0:30 / /sys/fs/cgroup/unified rw,relatime shared:10 - cgroup2 cgroup2 rw\n";
        assert_eq!(
            cgroup2_mount(mi),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        assert_eq!(cgroup2_mount("1 2 0:1 / / rw - ext4 /dev/vda rw\n"), None);
    }

    #[test]
    fn reads_process_cgroup_lines() {
        assert_eq!(
            process_cgroup("0::/system.slice/nginx.service\n"),
            Some("/system.slice/nginx.service")
        );
        assert_eq!(
            process_cgroup(
                "4:memory:/process_api/88c6\n1:name=systemd:/system.slice/x.service\n0::/\n"
            ),
            Some("/system.slice/x.service")
        );
        assert_eq!(process_cgroup("0::/\n"), None);
    }
}
