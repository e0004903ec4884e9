//! Durable state in one SQLite file in the data dir (WAL): the hold queue,
//! the decision audit log and run-time lists. Survives restarts and
//! `kill -9` (WAL with `synchronous = NORMAL` loses nothing on a process
//! crash; only a power loss could cost the last commits).
//!
//! SQLite calls are blocking: async callers go through [`Store::run`], which
//! moves them to the blocking pool. The audit log is written in batches by
//! its own thread so the request path never waits for it.

mod audit;
mod held;
mod lists;
mod prepared;

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

pub use audit::{count as audit_count, query as audit_query};
pub use audit::{AuditLog, AuditQuery, AuditRow, NewAuditRow, Retention};
pub use held::{HeldRow, HeldState};
pub use lists::ListRow;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("the database worker stopped")]
    Worker,
    #[error("{0}")]
    Conflict(String),
    #[error("not found")]
    NotFound,
}

/// The database handle, shared.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS held (
    id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    route TEXT NOT NULL,
    to_e164 TEXT NOT NULL,
    country TEXT,
    reasons TEXT NOT NULL,
    score INTEGER NOT NULL,
    held_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    state TEXT NOT NULL,
    request BLOB NOT NULL,
    callback TEXT,
    real_id TEXT,
    upstream_status INTEGER,
    resolved_at INTEGER,
    resolved_by TEXT,
    note TEXT,
    callback_state TEXT,
    callback_attempts INTEGER NOT NULL DEFAULT 0,
    callback_next_at INTEGER
);
CREATE INDEX IF NOT EXISTS held_by_state ON held(state, expires_at);
CREATE INDEX IF NOT EXISTS held_by_callback ON held(callback_state, callback_next_at);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    route TEXT NOT NULL,
    provider TEXT NOT NULL,
    country TEXT,
    line_type TEXT,
    action TEXT NOT NULL,
    outcome TEXT NOT NULL,
    score INTEGER NOT NULL,
    reasons TEXT NOT NULL,
    to_masked TEXT NOT NULL,
    shadow INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_by_ts ON decisions(ts);
CREATE TABLE IF NOT EXISTS lists (
    id INTEGER PRIMARY KEY,
    scope TEXT NOT NULL,
    value TEXT NOT NULL,
    action TEXT NOT NULL,
    expires_at INTEGER,
    note TEXT,
    created_at INTEGER NOT NULL
);
";

impl Store {
    /// Opens (or creates) `tollgate.db` in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_file(&dir.join("tollgate.db"))
    }

    pub fn open_file(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "busy_timeout", 5000)?;
        conn.execute_batch(SCHEMA)?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|_| StoreError::Worker)?
    }

    /// Runs `f` on the calling thread (CLI, tests, the audit writer).
    pub fn run_blocking<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }
}
