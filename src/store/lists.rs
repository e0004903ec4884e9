//! Run-time list entries (`POST /api/v1/lists`): persisted, applied at once,
//! optionally expiring.

use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};

use super::StoreError;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListRow {
    pub id: i64,
    /// `country`, `range` or `number`.
    pub scope: String,
    pub value: String,
    /// `allow`, `hold` or `block`.
    pub action: String,
    pub expires_at: Option<i64>,
    pub note: Option<String>,
    pub created_at: i64,
}

impl ListRow {
    pub fn insert(
        c: &Connection,
        scope: &str,
        value: &str,
        action: &str,
        expires_at: Option<i64>,
        note: Option<&str>,
        now: i64,
    ) -> Result<i64, StoreError> {
        c.execute(
            "INSERT INTO lists (scope, value, action, expires_at, note, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![scope, value, action, expires_at, note, now],
        )?;
        Ok(c.last_insert_rowid())
    }

    pub fn delete(c: &Connection, id: i64) -> Result<bool, StoreError> {
        Ok(c.execute("DELETE FROM lists WHERE id = ?1", [id])? > 0)
    }

    /// Entries not expired at `now`.
    pub fn active(c: &Connection, now: i64) -> Result<Vec<ListRow>, StoreError> {
        let mut st = c.prepare(
            "SELECT id, scope, value, action, expires_at, note, created_at FROM lists WHERE expires_at IS NULL OR expires_at > ?1 ORDER BY id",
        )?;
        let rows = st.query_map([now], |r| {
            Ok(ListRow {
                id: r.get(0)?,
                scope: r.get(1)?,
                value: r.get(2)?,
                action: r.get(3)?,
                expires_at: r.get(4)?,
                note: r.get(5)?,
                created_at: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
