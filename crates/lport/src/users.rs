//! User names for uids, from the passwd database file. NSS sources other than the file
//! (LDAP, systemd-homed) are not consulted: a uid without a name prints as the number.

use std::collections::HashMap;

/// A uid -> name table.
#[derive(Debug, Clone, Default)]
pub struct Users {
    names: HashMap<u32, String>,
}

impl Users {
    /// Reads `/etc/passwd`; an unreadable file gives an empty table.
    #[must_use]
    pub fn load() -> Users {
        std::fs::read("/etc/passwd")
            .map(|b| Users::parse(&String::from_utf8_lossy(&b)))
            .unwrap_or_default()
    }

    /// Parses passwd(5) text: `name:x:uid:gid:gecos:home:shell` per line.
    #[must_use]
    pub fn parse(text: &str) -> Users {
        let mut names = HashMap::new();
        for line in text.lines() {
            let mut f = line.split(':');
            let (Some(name), Some(_pw), Some(uid)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            if let Ok(uid) = uid.parse::<u32>() {
                names.entry(uid).or_insert_with(|| name.to_owned());
            }
        }
        Users { names }
    }

    /// The name of a uid, if the table has one.
    #[must_use]
    pub fn name(&self, uid: u32) -> Option<&str> {
        self.names.get(&uid).map(String::as_str)
    }

    /// The uid of a name, if the table has it.
    #[must_use]
    pub fn uid(&self, name: &str) -> Option<u32> {
        self.names.iter().find(|(_, n)| *n == name).map(|(u, _)| *u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passwd_lines() {
        let u = Users::parse(
            "root:x:0:0:root:/root:/bin/bash\n\
             # comment line\n\
             nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
             broken-line\n\
             root2:x:0:0::/:/bin/sh\n",
        );
        assert_eq!(u.name(0), Some("root"), "first entry for a uid wins");
        assert_eq!(u.name(65534), Some("nobody"));
        assert_eq!(u.name(1000), None);
        assert_eq!(u.uid("nobody"), Some(65534));
    }
}
