//! The history store: one SQLite database (bundled, so nothing to install), WAL mode so
//! readers never block the recorder, bounded by age and size, and never overwritten when
//! it is not lport's: a file that is corrupt or belongs to something else is moved aside
//! with a note, and a fresh one is made.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::records::{AttemptRecord, EndRecord, ListenerRecord};
use crate::error::{Error, Result};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

/// `PRAGMA application_id`: "lprt", so a database of another program is never taken for ours.
const APP_ID: i64 = 0x6c70_7274;
const SCHEMA: i64 = 1;

/// How much the store keeps.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Rows older than this are deleted (default 30 days).
    pub max_age: Duration,
    /// The database file is kept under this many bytes (default 64 MiB).
    pub max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_age: Duration::from_secs(30 * 86_400),
            max_bytes: 64 << 20,
        }
    }
}

/// The open database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    limits: Limits,
}

fn db_err(what: &str, e: &rusqlite::Error) -> Error {
    Error::Unavailable(format!("{what}: {e}"))
}

/// Why a store could not be opened for writing: the file is no usable history (move it
/// aside), or something else (a full disk, a lock, a permission) that leaves it as it is.
enum Open {
    Unusable(String),
    Failed(Error),
}

impl Open {
    fn from_db(what: &str, e: &rusqlite::Error) -> Open {
        use rusqlite::ErrorCode as C;
        match e.sqlite_error_code() {
            Some(C::NotADatabase | C::DatabaseCorrupt) => Open::Unusable(format!("{what}: {e}")),
            _ => Open::Failed(db_err(what, e)),
        }
    }

    fn into_error(self) -> Error {
        match self {
            Open::Unusable(why) => Error::Unavailable(why),
            Open::Failed(e) => e,
        }
    }
}

/// Where the history lives: `$LPORT_HISTORY`, else `/var/lib/lport/history.db` for root,
/// else `$XDG_STATE_HOME/lport/history.db` (`~/.local/state/lport/history.db`).
#[must_use]
pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os("LPORT_HISTORY").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    super::state_dir().join("history.db")
}

impl Store {
    /// Opens (or makes) the database for the recorder. A file that is not a database, is
    /// corrupt, or is another program's is moved aside (the note says where) and a new one
    /// is made.
    pub fn open_for_writing(path: &Path, limits: Limits) -> Result<(Store, Vec<String>)> {
        let mut notes = Vec::new();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        }
        match Store::try_open_rw(path, limits) {
            Ok(s) => Ok((s, notes)),
            // Only a file that is not a usable history is moved aside: a full disk, a lock or
            // a permission says nothing about the history in it, which is kept.
            Err(Open::Unusable(why)) if path.exists() => {
                let aside = path.with_extension(format!(
                    "db.unusable-{}",
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs())
                ));
                std::fs::rename(path, &aside)
                    .map_err(|e| Error::io(format!("moving {} aside", path.display()), e))?;
                for ext in ["-wal", "-shm"] {
                    let side = PathBuf::from(format!("{}{ext}", path.display()));
                    let _ = std::fs::rename(&side, format!("{}{ext}", aside.display()));
                }
                notes.push(format!(
                    "{} was not a usable lport history ({why}); it was moved to {} and a new one started",
                    path.display(),
                    aside.display()
                ));
                Ok((
                    Store::try_open_rw(path, limits).map_err(Open::into_error)?,
                    notes,
                ))
            }
            Err(e) => Err(e.into_error()),
        }
    }

    fn try_open_rw(path: &Path, limits: Limits) -> std::result::Result<Store, Open> {
        let conn =
            Connection::open(path).map_err(|e| Open::from_db(&path.display().to_string(), &e))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|e| Open::from_db("busy_timeout", &e))?;
        let app: i64 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(|e| Open::from_db("reading it", &e))?;
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| Open::from_db("reading it", &e))?;
        if app != APP_ID && tables > 0 {
            return Err(Open::Unusable(format!(
                "it is another program's database (application_id {app:#x})"
            )));
        }
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(|e| Open::from_db("checking it", &e))?;
        if check != "ok" {
            return Err(Open::Unusable(format!("corrupt: {check}")));
        }
        if tables == 0 {
            // auto_vacuum must be set before the first table exists.
            conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL;")
                .map_err(|e| Open::from_db("auto_vacuum", &e))?;
        }
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA application_id = {APP_ID};
             PRAGMA user_version = {SCHEMA};
             CREATE TABLE IF NOT EXISTS listeners (
                 id INTEGER PRIMARY KEY, proto TEXT NOT NULL, addr TEXT NOT NULL,
                 port INTEGER NOT NULL, pid INTEGER NOT NULL, name TEXT NOT NULL,
                 cmdline TEXT NOT NULL, exe TEXT, cwd TEXT, user TEXT, unit TEXT,
                 container TEXT, started TEXT, opened_ms INTEGER NOT NULL, seen TEXT NOT NULL,
                 closed_ms INTEGER, end_ms INTEGER, end_kind TEXT, end_code INTEGER,
                 end_signal INTEGER, sender_pid INTEGER, sender TEXT);
             CREATE INDEX IF NOT EXISTS listeners_port ON listeners (port, opened_ms);
             CREATE INDEX IF NOT EXISTS listeners_pid ON listeners (pid, closed_ms);
             CREATE TABLE IF NOT EXISTS attempts (
                 minute INTEGER NOT NULL, pid INTEGER NOT NULL, name TEXT NOT NULL,
                 cmdline TEXT NOT NULL, user TEXT, addr TEXT NOT NULL, port INTEGER NOT NULL,
                 outcome TEXT NOT NULL, count INTEGER NOT NULL, first_ms INTEGER NOT NULL,
                 last_ms INTEGER NOT NULL,
                 PRIMARY KEY (minute, pid, addr, port, outcome));
             CREATE INDEX IF NOT EXISTS attempts_port ON attempts (port, last_ms);
             CREATE TABLE IF NOT EXISTS lost (at_ms INTEGER NOT NULL, count INTEGER NOT NULL);"
        ))
        .map_err(|e| Open::from_db("creating the tables", &e))?;
        Ok(Store {
            conn,
            path: path.to_owned(),
            limits,
        })
    }

    /// Opens an existing database to read; `None` when there is none.
    pub fn open_read(path: &Path) -> Result<Option<Store>> {
        if !path.exists() {
            return Ok(None);
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| db_err(&path.display().to_string(), &e))?;
        conn.busy_timeout(Duration::from_secs(2))
            .map_err(|e| db_err("busy_timeout", &e))?;
        let app: i64 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(|e| db_err(&format!("{} is not a database", path.display()), &e))?;
        if app != APP_ID {
            return Err(Error::Unavailable(format!(
                "{} is not an lport history (application_id {app:#x})",
                path.display()
            )));
        }
        Ok(Some(Store {
            conn,
            path: path.to_owned(),
            limits: Limits::default(),
        }))
    }

    /// Where this database is.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one transaction: a batch of events is written together or not at all.
    pub fn batch<T>(&mut self, f: impl FnOnce(&Batch<'_>) -> Result<T>) -> Result<T> {
        let tx = self
            .conn
            .transaction()
            .map_err(|e| db_err("writing the history", &e))?;
        let out = f(&Batch { tx: &tx })?;
        tx.commit().map_err(|e| db_err("writing the history", &e))?;
        Ok(out)
    }

    /// Deletes what is older than the age limit, then the oldest rows until the file fits
    /// the size limit. Returns the rows deleted.
    pub fn prune(&mut self, now_ms: i64) -> Result<u64> {
        let cutoff = now_ms - i64::try_from(self.limits.max_age.as_millis()).unwrap_or(i64::MAX);
        let mut n = 0u64;
        let c = &self.conn;
        let del = |sql: &str, p: i64| -> Result<u64> {
            c.execute(sql, [p])
                .map(|n| n as u64)
                .map_err(|e| db_err("pruning", &e))
        };
        n += del("DELETE FROM attempts WHERE last_ms < ?1", cutoff)?;
        n += del(
            "DELETE FROM listeners WHERE coalesce(closed_ms, opened_ms) < ?1 AND closed_ms IS NOT NULL",
            cutoff,
        )?;
        n += del("DELETE FROM lost WHERE at_ms < ?1", cutoff)?;
        for _ in 0..20 {
            if self.bytes()? <= self.limits.max_bytes {
                break;
            }
            // A tenth of the oldest attempts, then closed listeners, then reclaim the pages.
            let c = &self.conn;
            let a = c
                .execute(
                    "DELETE FROM attempts WHERE rowid IN (SELECT rowid FROM attempts ORDER BY last_ms LIMIT max(1, (SELECT count(*) FROM attempts) / 10))",
                    [],
                )
                .map_err(|e| db_err("pruning", &e))?;
            let l = c
                .execute(
                    "DELETE FROM listeners WHERE id IN (SELECT id FROM listeners WHERE closed_ms IS NOT NULL ORDER BY closed_ms LIMIT max(1, (SELECT count(*) FROM listeners) / 10))",
                    [],
                )
                .map_err(|e| db_err("pruning", &e))?;
            c.execute_batch("PRAGMA incremental_vacuum; PRAGMA wal_checkpoint(TRUNCATE);")
                .map_err(|e| db_err("vacuum", &e))?;
            n += (a + l) as u64;
            if a + l == 0 {
                break;
            }
        }
        if n > 0 {
            self.conn
                .execute_batch("PRAGMA incremental_vacuum;")
                .map_err(|e| db_err("vacuum", &e))?;
        }
        Ok(n)
    }

    /// The database's size: its pages in use, plus the write-ahead log.
    pub fn bytes(&self) -> Result<u64> {
        let pages: i64 = self
            .conn
            .query_row(
                "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
                [],
                |r| r.get(0),
            )
            .map_err(|e| db_err("size", &e))?;
        let wal = std::fs::metadata(format!("{}-wal", self.path.display())).map_or(0, |m| m.len());
        Ok(pages as u64 + wal)
    }

    /// Listeners on `port` (every port when `None`) seen since `since_ms`, newest first.
    pub fn listeners(
        &self,
        port: Option<u16>,
        since_ms: i64,
        limit: usize,
    ) -> Result<Vec<ListenerRecord>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT proto, addr, port, pid, name, cmdline, exe, cwd, user, unit, container,
                        opened_ms, seen, closed_ms, end_ms, end_kind, end_code, end_signal,
                        sender_pid, sender, started
                 FROM listeners
                 WHERE (?1 IS NULL OR port = ?1) AND coalesce(closed_ms, ?3) >= ?2
                 ORDER BY coalesce(closed_ms, ?3) DESC, opened_ms DESC LIMIT ?4",
            )
            .map_err(|e| db_err("reading the history", &e))?;
        let rows = st
            .query_map(params![port, since_ms, i64::MAX, limit as i64], |r| {
                let end_kind: Option<String> = r.get(15)?;
                Ok(ListenerRecord {
                    proto: r.get(0)?,
                    addr: r.get(1)?,
                    port: r.get(2)?,
                    pid: r.get(3)?,
                    name: r.get(4)?,
                    cmdline: serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or_default(),
                    exe: r.get(6)?,
                    cwd: r.get(7)?,
                    user: r.get(8)?,
                    unit: r.get(9)?,
                    container: r.get(10)?,
                    started: r.get(20)?,
                    opened_ms: r.get(11)?,
                    seen: r.get(12)?,
                    closed_ms: r.get(13)?,
                    ending: match end_kind {
                        Some(kind) => Some(EndRecord {
                            at_ms: r.get::<_, Option<i64>>(14)?.unwrap_or(0),
                            kind,
                            code: r.get(16)?,
                            signal: r.get(17)?,
                            sender_pid: r.get(18)?,
                            sender: r.get(19)?,
                        }),
                        None => None,
                    },
                })
            })
            .map_err(|e| db_err("reading the history", &e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| db_err("reading the history", &e))
    }

    /// Attempts to `port` (every port when `None`) since `since_ms`, summed per client,
    /// address and outcome, most frequent first.
    pub fn attempts(
        &self,
        port: Option<u16>,
        since_ms: i64,
        limit: usize,
    ) -> Result<Vec<AttemptRecord>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT max(pid), name, cmdline, user, addr, port, outcome, sum(count), min(first_ms),
                        max(last_ms), count(DISTINCT pid)
                 FROM attempts WHERE (?1 IS NULL OR port = ?1) AND last_ms >= ?2
                 GROUP BY name, addr, port, outcome
                 ORDER BY sum(count) DESC, max(last_ms) DESC LIMIT ?3",
            )
            .map_err(|e| db_err("reading the history", &e))?;
        let rows = st
            .query_map(params![port, since_ms, limit as i64], |r| {
                Ok(AttemptRecord {
                    pid: r.get(0)?,
                    name: r.get(1)?,
                    cmdline: serde_json::from_str(&r.get::<_, String>(2)?).unwrap_or_default(),
                    user: r.get(3)?,
                    addr: r.get(4)?,
                    port: r.get(5)?,
                    outcome: r.get(6)?,
                    count: r.get::<_, i64>(7)? as u64,
                    first_ms: r.get(8)?,
                    last_ms: r.get(9)?,
                    processes: r.get::<_, i64>(10)? as u64,
                })
            })
            .map_err(|e| db_err("reading the history", &e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| db_err("reading the history", &e))
    }

    /// Failed attempts per port and outcome over the whole record, the `top` busiest ports
    /// by name and the rest summed under port 0 (for metrics with bounded labels).
    pub fn failed_totals(&self, top: usize) -> Result<Vec<(u16, String, u64)>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT port, outcome, sum(count) FROM attempts WHERE outcome != 'connected'
                 GROUP BY port, outcome ORDER BY sum(count) DESC",
            )
            .map_err(|e| db_err("reading the history", &e))?;
        let rows: Vec<(u16, String, i64)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| db_err("reading the history", &e))?
            .collect::<Result<_, _>>()
            .map_err(|e| db_err("reading the history", &e))?;
        let mut ports: Vec<u16> = Vec::new();
        let mut out: Vec<(u16, String, u64)> = Vec::new();
        for (port, outcome, n) in rows {
            if !ports.contains(&port) && ports.len() < top {
                ports.push(port);
            }
            let key = if ports.contains(&port) { port } else { 0 };
            match out.iter_mut().find(|(p, o, _)| *p == key && *o == outcome) {
                Some(row) => row.2 += n as u64,
                None => out.push((key, outcome, n as u64)),
            }
        }
        Ok(out)
    }

    /// How many recorded listeners' processes ended, by how (`exited`, `killed`,
    /// `oom-killed`, `gone`).
    pub fn ending_totals(&self) -> Result<Vec<(String, u64)>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT end_kind, count(*) FROM listeners WHERE end_kind IS NOT NULL GROUP BY end_kind ORDER BY end_kind",
            )
            .map_err(|e| db_err("reading the history", &e))?;
        let rows = st
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })
            .map_err(|e| db_err("reading the history", &e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| db_err("reading the history", &e))
    }

    /// Events the kernel dropped since `since_ms`.
    pub fn lost_since(&self, since_ms: i64) -> Result<u64> {
        self.conn
            .query_row(
                "SELECT coalesce(sum(count), 0) FROM lost WHERE at_ms >= ?1",
                [since_ms],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(|e| db_err("reading the history", &e))
    }
}

/// Writes inside one transaction.
pub struct Batch<'a> {
    tx: &'a rusqlite::Transaction<'a>,
}

impl Batch<'_> {
    /// Records a listener seen open.
    pub fn listener_opened(&self, r: &ListenerRecord) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO listeners (proto, addr, port, pid, name, cmdline, exe, cwd, user, unit,
                                        container, opened_ms, seen, started)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                params![
                    r.proto,
                    r.addr,
                    r.port,
                    r.pid,
                    r.name,
                    serde_json::to_string(&r.cmdline).unwrap_or_default(),
                    r.exe,
                    r.cwd,
                    r.user,
                    r.unit,
                    r.container,
                    r.opened_ms,
                    r.seen,
                    r.started
                ],
            )
            .map_err(|e| db_err("writing the history", &e))?;
        Ok(())
    }

    /// Marks the open listener on that address as closed; true when there was one.
    pub fn listener_closed(&self, proto: &str, addr: &str, port: u16, at_ms: i64) -> Result<bool> {
        let n = self
            .tx
            .execute(
                "UPDATE listeners SET closed_ms = ?4 WHERE id = (
                     SELECT id FROM listeners WHERE proto = ?1 AND addr = ?2 AND port = ?3
                     AND closed_ms IS NULL ORDER BY opened_ms DESC LIMIT 1)",
                params![proto, addr, port, at_ms],
            )
            .map_err(|e| db_err("writing the history", &e))?;
        Ok(n > 0)
    }

    /// Records how process `pid` ended on its listeners that are still open or closed in
    /// the last `window_ms`; returns how many listeners that named.
    pub fn process_ended(&self, pid: u32, end: &EndRecord, window_ms: i64) -> Result<usize> {
        self.tx
            .execute(
                "UPDATE listeners SET end_ms = ?2, end_kind = ?3, end_code = ?4, end_signal = ?5,
                        sender_pid = ?6, sender = ?7, closed_ms = coalesce(closed_ms, ?2)
                 WHERE pid = ?1 AND end_kind IS NULL
                   AND (closed_ms IS NULL OR closed_ms >= ?2 - ?8)",
                params![
                    pid,
                    end.at_ms,
                    end.kind,
                    end.code,
                    end.signal,
                    end.sender_pid,
                    end.sender,
                    window_ms
                ],
            )
            .map_err(|e| db_err("writing the history", &e))
    }

    /// Adds attempts to their minute's row (one row per minute, client, address, outcome).
    pub fn attempts(&self, r: &AttemptRecord) -> Result<()> {
        let minute = r.first_ms - r.first_ms.rem_euclid(60_000);
        self.tx
            .execute(
                "INSERT INTO attempts (minute, pid, name, cmdline, user, addr, port, outcome, count, first_ms, last_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (minute, pid, addr, port, outcome) DO UPDATE SET
                     count = count + excluded.count, last_ms = max(last_ms, excluded.last_ms)",
                params![
                    minute,
                    r.pid,
                    r.name,
                    serde_json::to_string(&r.cmdline).unwrap_or_default(),
                    r.user,
                    r.addr,
                    r.port,
                    r.outcome,
                    r.count as i64,
                    r.first_ms,
                    r.last_ms
                ],
            )
            .map_err(|e| db_err("writing the history", &e))?;
        Ok(())
    }

    /// Forgets listeners of lport's own that lived under a second: `lport free` and
    /// `why --listen` bind to test a port, which is no service a user wants to hear of.
    pub fn forget_own_blips(&self) -> Result<usize> {
        self.tx
            .execute(
                "DELETE FROM listeners WHERE name = 'lport' AND closed_ms IS NOT NULL AND closed_ms - opened_ms < 1000",
                [],
            )
            .map_err(|e| db_err("writing the history", &e))
    }

    /// Records events the kernel dropped.
    pub fn lost(&self, at_ms: i64, count: u64) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO lost (at_ms, count) VALUES (?1, ?2)",
                params![at_ms, count as i64],
            )
            .map_err(|e| db_err("writing the history", &e))?;
        Ok(())
    }

    /// The pids of listeners still open in the record.
    pub fn open_listener_pids(&self) -> Result<Vec<u32>> {
        let mut st = self
            .tx
            .prepare_cached("SELECT DISTINCT pid FROM listeners WHERE closed_ms IS NULL")
            .map_err(|e| db_err("reading the history", &e))?;
        let rows = st
            .query_map([], |r| r.get(0))
            .map_err(|e| db_err("reading the history", &e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| db_err("reading the history", &e))
    }

    /// Closes every listener still open in the record that `keep` does not name (the
    /// recorder starts with what is open now); returns how many.
    pub fn close_all_but(&self, keep: &[(String, String, u16)], at_ms: i64) -> Result<usize> {
        let mut st = self
            .tx
            .prepare_cached("SELECT id, proto, addr, port FROM listeners WHERE closed_ms IS NULL")
            .map_err(|e| db_err("reading the history", &e))?;
        let open: Vec<(i64, String, String, u16)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .map_err(|e| db_err("reading the history", &e))?
            .collect::<Result<_, _>>()
            .map_err(|e| db_err("reading the history", &e))?;
        let mut n = 0;
        for (id, proto, addr, port) in open {
            if !keep
                .iter()
                .any(|(p, a, q)| *p == proto && *a == addr && *q == port)
            {
                self.tx
                    .execute(
                        "UPDATE listeners SET closed_ms = ?2 WHERE id = ?1",
                        params![id, at_ms],
                    )
                    .map_err(|e| db_err("writing the history", &e))?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// True when a listener on that address is open in the record.
    pub fn is_open(&self, proto: &str, addr: &str, port: u16) -> Result<bool> {
        self.tx
            .query_row(
                "SELECT 1 FROM listeners WHERE proto = ?1 AND addr = ?2 AND port = ?3 AND closed_ms IS NULL LIMIT 1",
                params![proto, addr, port],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
            .map_err(|e| db_err("reading the history", &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(port: u16, pid: u32, at: i64) -> ListenerRecord {
        ListenerRecord {
            proto: "tcp".into(),
            addr: "127.0.0.1".into(),
            port,
            pid,
            name: "python3".into(),
            cmdline: vec!["python3".into(), "-m".into(), "http.server".into()],
            exe: Some("/usr/bin/python3".into()),
            cwd: Some("/srv/app".into()),
            user: Some("root".into()),
            unit: None,
            container: None,
            started: None,
            opened_ms: at,
            seen: "event".into(),
            closed_ms: None,
            ending: None,
        }
    }

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lport-store-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir.join("history.db")
    }

    #[test]
    fn a_listener_its_end_and_the_clients_that_knocked() {
        let path = tmp("roundtrip");
        let (mut s, notes) = Store::open_for_writing(&path, Limits::default()).expect("open");
        assert!(notes.is_empty());
        s.batch(|b| {
            b.listener_opened(&rec(3000, 42, 1_000))?;
            b.listener_closed("tcp", "127.0.0.1", 3000, 5_000)?;
            let end = EndRecord {
                at_ms: 4_990,
                kind: "killed".into(),
                code: None,
                signal: Some(9),
                sender_pid: Some(77),
                sender: Some("kill -9 42".into()),
            };
            assert_eq!(b.process_ended(42, &end, 10_000)?, 1);
            for t in [6_000, 6_500, 61_000] {
                b.attempts(&AttemptRecord {
                    pid: 9,
                    name: "curl".into(),
                    cmdline: vec!["curl".into()],
                    user: None,
                    addr: "127.0.0.1".into(),
                    port: 3000,
                    outcome: "refused".into(),
                    count: 2,
                    first_ms: t,
                    last_ms: t + 10,
                    processes: 1,
                })?;
            }
            b.lost(7_000, 3)
        })
        .expect("batch");
        let r = Store::open_read(&path).expect("read").expect("exists");
        let l = r.listeners(Some(3000), 0, 10).expect("listeners");
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].closed_ms, Some(5_000));
        assert_eq!(l[0].cmdline, ["python3", "-m", "http.server"]);
        let end = l[0].ending.as_ref().expect("ending");
        assert_eq!(
            (end.kind.as_str(), end.signal, end.sender_pid),
            ("killed", Some(9), Some(77))
        );
        let a = r.attempts(Some(3000), 0, 10).expect("attempts");
        assert_eq!(a.len(), 1);
        assert_eq!(
            (a[0].count, a[0].first_ms, a[0].last_ms),
            (6, 6_000, 61_010)
        );
        assert!(
            r.listeners(Some(3001), 0, 10)
                .expect("other port")
                .is_empty()
        );
        assert_eq!(r.lost_since(0).expect("lost"), 3);
    }

    #[test]
    fn a_foreign_or_broken_file_is_moved_aside_never_overwritten() {
        let path = tmp("foreign");
        std::fs::write(
            &path,
            b"this is somebody's notes, not a database\n".repeat(200),
        )
        .expect("write");
        let (_s, notes) = Store::open_for_writing(&path, Limits::default()).expect("open");
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("moved to"), "{}", notes[0]);
        let aside: Vec<_> = std::fs::read_dir(path.parent().expect("dir"))
            .expect("dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains("unusable"))
            .collect();
        assert_eq!(aside.len(), 1);
        let kept = std::fs::read(aside[0].path()).expect("read aside");
        assert!(kept.starts_with(b"this is somebody's notes"));

        // Another program's SQLite database: not ours, not touched.
        let other = tmp("other-db");
        {
            let c = Connection::open(&other).expect("sqlite");
            c.execute_batch("CREATE TABLE songs (title TEXT); INSERT INTO songs VALUES ('x');")
                .expect("create");
        }
        let err = Store::open_read(&other).err().expect("refused");
        assert!(err.to_string().contains("not an lport history"), "{err}");
        let (_s, notes) = Store::open_for_writing(&other, Limits::default()).expect("open");
        assert!(notes[0].contains("another program's database"), "{notes:?}");
    }

    #[test]
    fn the_size_limit_holds() {
        let path = tmp("size");
        let limits = Limits {
            max_age: Duration::from_secs(3600),
            max_bytes: 512 << 10,
        };
        let (mut s, _) = Store::open_for_writing(&path, limits).expect("open");
        for round in 0..20i64 {
            s.batch(|b| {
                for i in 0..500i64 {
                    let t = round * 1_000_000 + i * 60_000;
                    b.attempts(&AttemptRecord {
                        pid: i as u32,
                        name: "client".repeat(10),
                        cmdline: vec!["x".repeat(100)],
                        user: None,
                        addr: "127.0.0.1".into(),
                        port: 1,
                        outcome: "refused".into(),
                        count: 1,
                        first_ms: t,
                        last_ms: t,
                        processes: 1,
                    })?;
                }
                Ok(())
            })
            .expect("batch");
            s.prune(round * 1_000_000).expect("prune");
        }
        assert!(
            s.bytes().expect("bytes") <= 512 << 10,
            "{} bytes",
            s.bytes().expect("bytes")
        );
        // Age: everything older than an hour before "now" goes.
        s.prune(100_000_000_000).expect("prune by age");
        assert!(s.attempts(None, 0, 10).expect("attempts").is_empty());
    }
}
