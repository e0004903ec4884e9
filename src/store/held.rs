//! The hold queue's rows and state machine.
//!
//! ```text
//! held ──release──► releasing ──► forwarding ──► released
//!   │                  (restart: forwarded)  (restart: uncertain)
//!   ├──reject / expiry──► rejected | expired
//! ```
//!
//! `releasing` is committed before anything is sent; `forwarding` right
//! before the upstream call. After a crash a `releasing` send is forwarded
//! (it never left), a `forwarding` one is marked `uncertain` for a person to
//! look at: it may have reached the aggregator, and sending it again could
//! charge twice. Nothing is lost, nothing is sent twice.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

use super::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HeldState {
    Held,
    Releasing,
    Forwarding,
    Released,
    Rejected,
    Expired,
    Failed,
    Uncertain,
}

impl HeldState {
    pub fn as_str(self) -> &'static str {
        match self {
            HeldState::Held => "held",
            HeldState::Releasing => "releasing",
            HeldState::Forwarding => "forwarding",
            HeldState::Released => "released",
            HeldState::Rejected => "rejected",
            HeldState::Expired => "expired",
            HeldState::Failed => "failed",
            HeldState::Uncertain => "uncertain",
        }
    }

    pub fn parse(s: &str) -> Option<HeldState> {
        [
            HeldState::Held,
            HeldState::Releasing,
            HeldState::Forwarding,
            HeldState::Released,
            HeldState::Rejected,
            HeldState::Expired,
            HeldState::Failed,
            HeldState::Uncertain,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// One held send. `request` is sealed (it carries credentials).
#[derive(Debug, Clone, Serialize)]
pub struct HeldRow {
    pub id: String,
    pub provider: String,
    pub route: String,
    pub to: String,
    pub country: Option<String>,
    pub reasons: Vec<String>,
    pub score: u32,
    pub held_at: i64,
    pub expires_at: i64,
    pub state: HeldState,
    #[serde(skip)]
    pub request: Vec<u8>,
    #[serde(skip)]
    pub callback: Option<String>,
    pub real_id: Option<String>,
    pub upstream_status: Option<u16>,
    pub resolved_at: Option<i64>,
    pub resolved_by: Option<String>,
    pub note: Option<String>,
}

const COLUMNS: &str = "id, provider, route, to_e164, country, reasons, score, held_at, expires_at, state, request, callback, real_id, upstream_status, resolved_at, resolved_by, note";

fn from_row(r: &Row<'_>) -> rusqlite::Result<HeldRow> {
    let reasons: String = r.get(5)?;
    let state: String = r.get(9)?;
    Ok(HeldRow {
        id: r.get(0)?,
        provider: r.get(1)?,
        route: r.get(2)?,
        to: r.get(3)?,
        country: r.get(4)?,
        reasons: serde_json::from_str(&reasons).unwrap_or_default(),
        score: r.get(6)?,
        held_at: r.get(7)?,
        expires_at: r.get(8)?,
        state: HeldState::parse(&state).unwrap_or(HeldState::Uncertain),
        request: r.get(10)?,
        callback: r.get(11)?,
        real_id: r.get(12)?,
        upstream_status: r.get(13)?,
        resolved_at: r.get(14)?,
        resolved_by: r.get(15)?,
        note: r.get(16)?,
    })
}

impl HeldRow {
    pub fn insert(&self, c: &Connection) -> Result<(), StoreError> {
        c.execute(
            &format!("INSERT INTO held ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"),
            params![
                self.id,
                self.provider,
                self.route,
                self.to,
                self.country,
                serde_json::to_string(&self.reasons).unwrap_or_default(),
                self.score,
                self.held_at,
                self.expires_at,
                self.state.as_str(),
                self.request,
                self.callback,
                self.real_id,
                self.upstream_status,
                self.resolved_at,
                self.resolved_by,
                self.note,
            ],
        )?;
        Ok(())
    }

    /// Deletes up to `limit` held sends resolved and expired before
    /// `before` (ms) whose callback is not due, and returns how many. A
    /// bounded chunk, so that the store's lock is never held for long;
    /// `held_by_state` finds them without a scan of the newer rows.
    pub fn prune_resolved(c: &Connection, before: i64, limit: usize) -> Result<usize, StoreError> {
        let n = c.execute(
            "DELETE FROM held WHERE rowid IN (
               SELECT rowid FROM held
               WHERE state IN ('released', 'rejected', 'expired', 'failed')
                 AND expires_at < ?1 AND resolved_at < ?1
                 AND (callback_state IS NULL OR callback_state != 'pending')
               LIMIT ?2)",
            params![before, limit as i64],
        )?;
        Ok(n)
    }

    pub fn get(c: &Connection, id: &str) -> Result<Option<HeldRow>, StoreError> {
        Ok(c.query_row(
            &format!("SELECT {COLUMNS} FROM held WHERE id = ?1"),
            [id],
            from_row,
        )
        .optional()?)
    }

    /// Rows in a state (all states when `None`), newest first.
    pub fn list(
        c: &Connection,
        state: Option<HeldState>,
        limit: u32,
    ) -> Result<Vec<HeldRow>, StoreError> {
        let mut out = Vec::new();
        match state {
            Some(s) => {
                let mut st = c.prepare(&format!(
                    "SELECT {COLUMNS} FROM held WHERE state = ?1 ORDER BY held_at DESC LIMIT ?2"
                ))?;
                for r in st.query_map(params![s.as_str(), limit], from_row)? {
                    out.push(r?);
                }
            }
            None => {
                let mut st = c.prepare(&format!(
                    "SELECT {COLUMNS} FROM held ORDER BY held_at DESC LIMIT ?1"
                ))?;
                for r in st.query_map(params![limit], from_row)? {
                    out.push(r?);
                }
            }
        }
        Ok(out)
    }

    /// Moves `id` from `from` to `to`; fails with a conflict when the row is
    /// not in `from` (someone else resolved it first).
    pub fn transition(
        c: &Connection,
        id: &str,
        from: &[HeldState],
        to: HeldState,
        now: i64,
        by: Option<&str>,
    ) -> Result<HeldRow, StoreError> {
        let row = HeldRow::get(c, id)?.ok_or(StoreError::NotFound)?;
        if !from.contains(&row.state) {
            return Err(StoreError::Conflict(format!(
                "the send is {}, not {}",
                row.state.as_str(),
                from[0].as_str()
            )));
        }
        c.execute(
            "UPDATE held SET state = ?2, resolved_at = COALESCE(?3, resolved_at), resolved_by = COALESCE(?4, resolved_by) WHERE id = ?1",
            params![id, to.as_str(), by.map(|_| now), by],
        )?;
        Ok(HeldRow {
            state: to,
            resolved_at: by.map(|_| now).or(row.resolved_at),
            resolved_by: by.map(str::to_owned).or(row.resolved_by.clone()),
            ..row
        })
    }

    pub fn finish_release(
        c: &Connection,
        id: &str,
        state: HeldState,
        real_id: Option<&str>,
        status: Option<u16>,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        c.execute(
            "UPDATE held SET state = ?2, real_id = ?3, upstream_status = ?4, note = COALESCE(?5, note) WHERE id = ?1",
            params![id, state.as_str(), real_id, status, note],
        )?;
        Ok(())
    }

    /// Held sends whose deadline has passed.
    pub fn due(c: &Connection, now: i64) -> Result<Vec<String>, StoreError> {
        let mut st = c.prepare("SELECT id FROM held WHERE state = 'held' AND expires_at <= ?1 ORDER BY expires_at LIMIT 500")?;
        let ids = st
            .query_map([now], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(ids)
    }

    /// Crash recovery: `forwarding` rows become `uncertain`; returns the ids
    /// still `releasing` (decided, never sent), to forward now.
    pub fn recover(c: &Connection) -> Result<Vec<String>, StoreError> {
        c.execute(
            "UPDATE held SET state = 'uncertain', note = 'tollgate stopped while forwarding: check the aggregator before releasing again' WHERE state = 'forwarding'",
            [],
        )?;
        let mut st = c.prepare("SELECT id FROM held WHERE state = 'releasing'")?;
        let ids = st
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(ids)
    }

    pub fn depth(c: &Connection) -> Result<u64, StoreError> {
        Ok(
            c.query_row("SELECT COUNT(*) FROM held WHERE state = 'held'", [], |r| {
                r.get(0)
            })?,
        )
    }

    /// What `/metrics` shows of the store at `now` (ms): the queue's
    /// depth, oldest age and overdue sends, and rows per table (the
    /// audit table's from its id range: it is pruned from the oldest, and
    /// counting millions of rows at every scrape would hold the store).
    pub fn gauges(c: &Connection, now: i64) -> Result<crate::metrics::StoreGauges, StoreError> {
        let (held, oldest, overdue): (u64, Option<i64>, u64) = c.query_row(
            "SELECT COUNT(*), MIN(held_at), COALESCE(SUM(expires_at <= ?1), 0) FROM held WHERE state = 'held'",
            params![now],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let held_rows: u64 = c.query_row("SELECT COUNT(*) FROM held", [], |r| r.get(0))?;
        let lists: u64 = c.query_row("SELECT COUNT(*) FROM lists", [], |r| r.get(0))?;
        let decisions: u64 = c.query_row(
            "SELECT COALESCE(MAX(id) - MIN(id) + 1, 0) FROM decisions",
            [],
            |r| r.get(0),
        )?;
        Ok(crate::metrics::StoreGauges {
            held,
            held_oldest_seconds: oldest.map_or(0.0, |t| (now - t).max(0) as f64 / 1000.0),
            held_overdue: overdue,
            tables: vec![
                ("decisions", decisions),
                ("held", held_rows),
                ("lists", lists),
            ],
            audit_dropped: 0,
        })
    }

    /// Schedules the failure callback of a rejected send.
    pub fn schedule_callback(c: &Connection, id: &str, at: i64) -> Result<(), StoreError> {
        c.execute(
            "UPDATE held SET callback_state = 'pending', callback_next_at = ?2 WHERE id = ?1 AND callback IS NOT NULL",
            params![id, at],
        )?;
        Ok(())
    }

    /// Callbacks due now.
    pub fn callbacks_due(c: &Connection, now: i64) -> Result<Vec<(String, u32)>, StoreError> {
        let mut st = c.prepare(
            "SELECT id, callback_attempts FROM held WHERE callback_state = 'pending' AND callback_next_at <= ?1 LIMIT 100",
        )?;
        let rows = st
            .query_map([now], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn callback_result(
        c: &Connection,
        id: &str,
        state: &str,
        attempts: u32,
        next_at: Option<i64>,
    ) -> Result<(), StoreError> {
        c.execute(
            "UPDATE held SET callback_state = ?2, callback_attempts = ?3, callback_next_at = ?4 WHERE id = ?1",
            params![id, state, attempts, next_at],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, state: HeldState, expires_at: i64, resolved_at: Option<i64>) -> HeldRow {
        HeldRow {
            id: id.into(),
            provider: "twilio".into(),
            route: "twilio.messages".into(),
            to: "+447400123456".into(),
            country: Some("GB".into()),
            reasons: vec!["velocity.number".into()],
            score: 80,
            held_at: expires_at - 1_000,
            expires_at,
            state,
            request: vec![1, 2, 3],
            callback: Some("https://example.test/cb".into()),
            real_id: None,
            upstream_status: None,
            resolved_at,
            resolved_by: resolved_at.map(|_| "analyst".into()),
            note: None,
        }
    }

    #[test]
    fn only_old_resolved_sends_with_no_callback_due_are_pruned() {
        let dir = std::env::temp_dir().join(format!("tollgate-held-prune-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = crate::store::Store::open(&dir).unwrap();
        let old = 1_000_000;
        let cutoff = 2_000_000;
        let new = 3_000_000;
        store
            .run_blocking(|c| {
                for r in [
                    row("old-released", HeldState::Released, old, Some(old)),
                    row("old-rejected", HeldState::Rejected, old, Some(old)),
                    row("old-expired", HeldState::Expired, old, Some(old)),
                    row("old-failed", HeldState::Failed, old, Some(old)),
                    row("old-held", HeldState::Held, old, None),
                    row("old-uncertain", HeldState::Uncertain, old, Some(old)),
                    row("old-callback-due", HeldState::Released, old, Some(old)),
                    row("new-released", HeldState::Released, new, Some(new)),
                    row("released-late", HeldState::Released, old, Some(new)),
                ] {
                    r.insert(c)?;
                }
                HeldRow::schedule_callback(c, "old-callback-due", new)?;
                HeldRow::schedule_callback(c, "old-rejected", old)?;
                HeldRow::callback_result(c, "old-rejected", "delivered", 1, None)
            })
            .unwrap();
        // Chunks of 2: three calls take the four that may go.
        let mut pruned = 0;
        loop {
            let n = store
                .run_blocking(|c| HeldRow::prune_resolved(c, cutoff, 2))
                .unwrap();
            assert!(n <= 2);
            pruned += n;
            if n < 2 {
                break;
            }
        }
        assert_eq!(pruned, 4);
        let left: Vec<String> = store
            .run_blocking(|c| {
                let mut st = c.prepare("SELECT id FROM held ORDER BY id")?;
                let ids = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
                Ok(ids)
            })
            .unwrap();
        assert_eq!(
            left,
            [
                "new-released",
                "old-callback-due",
                "old-held",
                "old-uncertain",
                "released-late"
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
