//! The decision audit log: one row per decision, written in batches by its
//! own thread (the request path only enqueues), pruned to the retention.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection};
use serde::Serialize;

use super::{Store, StoreError};

/// One decision as stored.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub ts: i64,
    pub route: String,
    pub provider: String,
    pub country: Option<String>,
    pub line_type: String,
    pub action: String,
    pub outcome: String,
    pub score: u32,
    pub reasons: Vec<String>,
    pub to: String,
    pub shadow: bool,
}

/// Filters for `GET /api/v1/decisions`.
#[derive(Debug, Default, Clone)]
pub struct AuditQuery {
    pub limit: u32,
    pub action: Option<String>,
    pub country: Option<String>,
    /// Only rows at or after this time (ms).
    pub since: Option<i64>,
}

/// How much of the log is kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub max_rows: u64,
    pub max_age_ms: i64,
}

/// The writer's handle.
#[derive(Clone)]
pub struct AuditLog {
    tx: SyncSender<AuditRow>,
    dropped: Arc<AtomicU64>,
}

const QUEUE: usize = 100_000;
const BATCH: usize = 1024;

impl AuditLog {
    pub fn start(store: Store, retention: Retention) -> AuditLog {
        let (tx, rx) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("tollgate-audit".into())
            .spawn(move || writer(store, rx, retention))
            .ok();
        AuditLog {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Enqueues a row; never blocks the request path. A full queue (the disk
    /// cannot keep up) drops the row and counts it.
    pub fn record(&self, row: AuditRow) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(row) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

fn writer(store: Store, rx: Receiver<AuditRow>, retention: Retention) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut last_prune = Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(row) => {
                batch.push(row);
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(r) => batch.push(r),
                        Err(_) => break,
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                let _ = store.run_blocking(|c| insert(c, &batch));
                return;
            }
        }
        if !batch.is_empty() {
            if let Err(e) = store.run_blocking(|c| insert(c, &batch)) {
                tracing::error!(error = %e, rows = batch.len(), "audit log write failed");
            }
            batch.clear();
        }
        if last_prune.elapsed() > Duration::from_secs(10) {
            last_prune = Instant::now();
            if let Err(e) =
                store.run_blocking(|c| prune(c, retention, crate::clock::Timestamp::now().millis()))
            {
                tracing::error!(error = %e, "audit log prune failed");
            }
        }
    }
}

pub fn insert(c: &mut Connection, rows: &[AuditRow]) -> Result<(), StoreError> {
    let tx = c.transaction()?;
    {
        let mut st = tx.prepare_cached(
            "INSERT INTO decisions (ts, route, provider, country, line_type, action, outcome, score, reasons, to_masked, shadow) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        for r in rows {
            st.execute(params![
                r.ts,
                r.route,
                r.provider,
                r.country,
                r.line_type,
                r.action,
                r.outcome,
                r.score,
                r.reasons.join(","),
                r.to,
                r.shadow
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Deletes rows older than the retention age and beyond the row budget.
pub fn prune(c: &Connection, retention: Retention, now: i64) -> Result<usize, StoreError> {
    let mut n = c.execute(
        "DELETE FROM decisions WHERE ts < ?1",
        [now - retention.max_age_ms],
    )?;
    n += c.execute(
        "DELETE FROM decisions WHERE id <= (SELECT MAX(id) FROM decisions) - ?1",
        [retention.max_rows as i64],
    )?;
    Ok(n)
}

pub fn query(c: &Connection, q: &AuditQuery) -> Result<Vec<AuditRow>, StoreError> {
    let mut st = c.prepare(
        "SELECT ts, route, provider, country, line_type, action, outcome, score, reasons, to_masked, shadow FROM decisions
         WHERE (?1 IS NULL OR action = ?1) AND (?2 IS NULL OR country = ?2) AND (?3 IS NULL OR ts >= ?3)
         ORDER BY id DESC LIMIT ?4",
    )?;
    let rows = st.query_map(
        params![q.action, q.country, q.since, q.limit.clamp(1, 10_000)],
        |r| {
            let reasons: String = r.get(8)?;
            Ok(AuditRow {
                ts: r.get(0)?,
                route: r.get(1)?,
                provider: r.get(2)?,
                country: r.get(3)?,
                line_type: r.get(4)?,
                action: r.get(5)?,
                outcome: r.get(6)?,
                score: r.get(7)?,
                reasons: reasons
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
                to: r.get(9)?,
                shadow: r.get(10)?,
            })
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn count(c: &Connection) -> Result<u64, StoreError> {
    Ok(c.query_row("SELECT COUNT(*) FROM decisions", [], |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ts: i64, action: &str) -> AuditRow {
        AuditRow {
            ts,
            route: "twilio.messages".into(),
            provider: "twilio".into(),
            country: Some("NG".into()),
            line_type: "mobile".into(),
            action: action.into(),
            outcome: "forwarded".into(),
            score: 0,
            reasons: vec!["a.b".into()],
            to: "+234*******67".into(),
            shadow: false,
        }
    }

    #[test]
    fn retention_bounds_rows_and_age() {
        let dir = std::env::temp_dir().join(format!("tollgate-audit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&dir).unwrap();
        let rows: Vec<AuditRow> = (0..100)
            .map(|i| row(1_000 + i, if i % 2 == 0 { "allow" } else { "block" }))
            .collect();
        store.run_blocking(|c| insert(c, &rows)).unwrap();
        let blocks = store
            .run_blocking(|c| {
                query(
                    c,
                    &AuditQuery {
                        limit: 1000,
                        action: Some("block".into()),
                        ..Default::default()
                    },
                )
            })
            .unwrap();
        assert_eq!(blocks.len(), 50);
        assert_eq!(blocks[0].reasons, ["a.b"]);
        let r = Retention {
            max_rows: 30,
            max_age_ms: 1_000_000,
        };
        store.run_blocking(|c| prune(c, r, 1_100)).unwrap();
        assert_eq!(store.run_blocking(|c| count(c)).unwrap(), 30);
        let r = Retention {
            max_rows: 1000,
            max_age_ms: 10,
        };
        store.run_blocking(|c| prune(c, r, 1_100)).unwrap();
        assert_eq!(store.run_blocking(|c| count(c)).unwrap(), 10);
        std::fs::remove_dir_all(&dir).ok();
    }
}
