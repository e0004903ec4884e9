//! The decision audit log: one row per decision, written in batches by its
//! own thread (the request path only enqueues), pruned to the retention.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{
    sync_channel, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection};
use serde::Serialize;

use super::prepared::{Binder, Prepared};
use super::{Store, StoreError};
use crate::number::Region;

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

/// One decision on its way to the log, as the request path builds it. The
/// fixed vocabulary (line type, action, outcome) stays `&'static` and
/// route, provider, masked number and reason codes share one allocation:
/// the request path pays for one string, not nine, and the writer binds
/// them where they are.
#[derive(Debug)]
pub struct NewAuditRow {
    ts: i64,
    /// `route`, `provider`, `to` and the comma-joined reason codes,
    /// concatenated.
    text: String,
    route_end: usize,
    provider_end: usize,
    to_end: usize,
    country: Option<Region>,
    line_type: &'static str,
    action: &'static str,
    outcome: &'static str,
    score: u32,
    shadow: bool,
}

impl NewAuditRow {
    #[allow(clippy::too_many_arguments)]
    pub fn new<'r>(
        ts: i64,
        route: &str,
        provider: &str,
        country: Option<Region>,
        line_type: &'static str,
        action: &'static str,
        outcome: &'static str,
        score: u32,
        reasons: impl IntoIterator<Item = &'r str>,
        to: &str,
        shadow: bool,
    ) -> NewAuditRow {
        // Room for a few reason codes without regrowing.
        let mut text = String::with_capacity(route.len() + provider.len() + to.len() + 48);
        text.push_str(route);
        text.push_str(provider);
        text.push_str(to);
        let to_end = text.len();
        for (i, code) in reasons.into_iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push_str(code);
        }
        NewAuditRow {
            ts,
            route_end: route.len(),
            provider_end: route.len() + provider.len(),
            to_end,
            text,
            country,
            line_type,
            action,
            outcome,
            score,
            shadow,
        }
    }

    fn route(&self) -> &str {
        &self.text[..self.route_end]
    }

    fn provider(&self) -> &str {
        &self.text[self.route_end..self.provider_end]
    }

    fn to(&self) -> &str {
        &self.text[self.provider_end..self.to_end]
    }

    /// The reason codes, comma-joined, as stored.
    fn reasons(&self) -> &str {
        &self.text[self.to_end..]
    }
}

enum Msg {
    Row(NewAuditRow),
    /// Write what is queued, then answer.
    Flush(SyncSender<()>),
}

/// The writer's handle.
#[derive(Clone)]
pub struct AuditLog {
    tx: SyncSender<Msg>,
    dropped: Arc<AtomicU64>,
}

const QUEUE: usize = 100_000;
/// Most rows per transaction.
const BATCH: usize = 4096;
/// How long the writer lets rows gather once one has arrived. A commit and
/// a wake-up per row cost more than the insert itself; at 20 ms the writer
/// commits at most 50 times a second, far inside what readers of the log
/// allow (`GET /api/v1/decisions` is not a live feed).
const GATHER: Duration = Duration::from_millis(20);

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
    pub fn record(&self, row: NewAuditRow) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.tx.try_send(Msg::Row(row))
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Writes every row queued so far, waiting at most `timeout` (shutdown:
    /// the rows of the last requests are not lost).
    pub fn flush(&self, timeout: Duration) -> bool {
        let (ack, done) = sync_channel(1);
        let deadline = Instant::now() + timeout;
        let mut msg = Msg::Flush(ack);
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(m)) if Instant::now() < deadline => {
                    msg = m;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(TrySendError::Full(_)) => return false,
            }
        }
        done.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_ok()
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

fn writer(store: Store, rx: Receiver<Msg>, retention: Retention) {
    let mut inserts = Inserts::new(store.clone());
    let mut batch = Vec::with_capacity(BATCH);
    let mut acks = Vec::new();
    let mut last_prune = Instant::now();
    let mut open = true;
    while open {
        let mut take = |msg: Msg, batch: &mut Vec<NewAuditRow>| match msg {
            Msg::Row(r) => batch.push(r),
            Msg::Flush(ack) => acks.push(ack),
        };
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(msg) => {
                let flush = matches!(msg, Msg::Flush(_));
                take(msg, &mut batch);
                if !flush {
                    std::thread::sleep(GATHER);
                }
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(m) => take(m, &mut batch),
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => {
                            open = false;
                            break;
                        }
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => open = false,
        }
        if !batch.is_empty() {
            if let Err(e) = inserts.insert(&batch) {
                tracing::error!(error = %e, rows = batch.len(), "audit log write failed");
            }
            batch.clear();
        }
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
        if open && last_prune.elapsed() > Duration::from_secs(10) {
            last_prune = Instant::now();
            if let Err(e) =
                store.run_blocking(|c| prune(c, retention, crate::clock::Timestamp::now().millis()))
            {
                tracing::error!(error = %e, "audit log prune failed");
            }
        }
    }
}

/// The columns of a decision row, in the order [`bind_row`] binds them.
const COLUMNS: &str =
    "ts, route, provider, country, line_type, action, outcome, score, reasons, to_masked, shadow";
const COLUMN_COUNT: usize = 11;
/// Rows per multi-row `INSERT`, largest first. A statement's fixed cost
/// (start, halt, reset: ~3 k instructions) was about as much as binding and
/// inserting one row, and a batch is whatever arrived in the gather window,
/// so any count is written as a sum of these sizes (at most three
/// executions per size beyond the full 128-row groups; 32-row groups with
/// the rest one by one ran ~0.3 executions per row on 50-row batches).
/// (A full binary ladder of sizes cost more than it saved on small
/// batches, when each size used also cost a statement-cache look-up.) At
/// most 1,408 parameters, far below SQLite's limit.
const GROUP_SIZES: [usize; 4] = [128, 32, 8, 1];

/// `INSERT … VALUES (?, …), …` for `rows` rows.
///
/// `OR FAIL` rather than the default `ABORT`: an aborting multi-row insert
/// keeps a statement journal so it can undo its own earlier rows, a cost
/// on every row. Its only possible constraint failure is a NULL in a
/// `NOT NULL` column, which [`bind_row`] never binds, and any other error
/// rolls the whole batch's transaction back either way.
fn insert_sql(rows: usize) -> String {
    let one = format!("({})", ["?"; COLUMN_COUNT].join(", "));
    format!(
        "INSERT OR FAIL INTO decisions ({COLUMNS}) VALUES {}",
        vec![one; rows].join(", ")
    )
}

/// The writer's insert statements, one per [`GROUP_SIZES`], prepared when
/// first needed and kept. Drop it outside the store's lock (finalizing its
/// statements takes the lock).
pub struct Inserts {
    store: Store,
    statements: [Option<Prepared>; GROUP_SIZES.len()],
}

impl Inserts {
    pub fn new(store: Store) -> Inserts {
        Inserts {
            store,
            statements: Default::default(),
        }
    }

    /// Writes `rows` in one transaction, in groups of [`GROUP_SIZES`].
    pub fn insert(&mut self, rows: &[NewAuditRow]) -> Result<(), StoreError> {
        let Inserts { store, statements } = self;
        let store = &*store;
        store.run_blocking(|c| {
            let tx = c.transaction()?;
            let mut rest = rows;
            for (i, size) in GROUP_SIZES.into_iter().enumerate() {
                if rest.len() < size {
                    continue;
                }
                let st = match &mut statements[i] {
                    Some(st) => st,
                    slot => slot.insert(Prepared::new(store, &tx, &insert_sql(size))?),
                };
                while rest.len() >= size {
                    let (group, tail) = rest.split_at(size);
                    st.run(&tx, |b| {
                        for (i, row) in group.iter().enumerate() {
                            bind_row(b, i * COLUMN_COUNT, row)?;
                        }
                        Ok(())
                    })?;
                    rest = tail;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }
}

/// Binds one row's values to parameters `offset + 1 ..= offset + 11`.
fn bind_row<'a>(b: &mut Binder<'a>, offset: usize, r: &'a NewAuditRow) -> rusqlite::Result<()> {
    b.int(offset + 1, r.ts)?;
    b.text(offset + 2, r.route())?;
    b.text(offset + 3, r.provider())?;
    b.opt_text(offset + 4, r.country.as_ref().map(Region::as_str))?;
    b.text(offset + 5, r.line_type)?;
    b.text(offset + 6, r.action)?;
    b.text(offset + 7, r.outcome)?;
    b.int(offset + 8, i64::from(r.score))?;
    b.text(offset + 9, r.reasons())?;
    b.text(offset + 10, r.to())?;
    b.int(offset + 11, i64::from(r.shadow))?;
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

    fn row(ts: i64, action: &'static str) -> NewAuditRow {
        NewAuditRow::new(
            ts,
            "twilio.messages",
            "twilio",
            Region::parse("NG"),
            "mobile",
            action,
            "forwarded",
            0,
            ["a.b"],
            "+234*******67",
            false,
        )
    }

    #[test]
    fn retention_bounds_rows_and_age() {
        let dir = std::env::temp_dir().join(format!("tollgate-audit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&dir).unwrap();
        let rows: Vec<NewAuditRow> = (0..100)
            .map(|i| row(1_000 + i, if i % 2 == 0 { "allow" } else { "block" }))
            .collect();
        Inserts::new(store.clone()).insert(&rows).unwrap();
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
        // Newest first, across the multi-row groups and the rest.
        let ts: Vec<i64> = blocks.iter().map(|r| r.ts).collect();
        let expected: Vec<i64> = (0..100)
            .rev()
            .filter(|i| i % 2 == 1)
            .map(|i| 1_000 + i)
            .collect();
        assert_eq!(ts, expected);
        assert_eq!(blocks[0].country.as_deref(), Some("NG"));
        assert_eq!(blocks[0].to, "+234*******67");
        assert!(!blocks[0].shadow);
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

    #[test]
    fn every_group_size_writes_its_rows_in_order() {
        let dir =
            std::env::temp_dir().join(format!("tollgate-audit-groups-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&dir).unwrap();
        // 128 + 32 + 8 + 8 + 1 + 1 + 1.
        let n = 179;
        let rows: Vec<NewAuditRow> = (0..n).map(|i| row(i, "allow")).collect();
        Inserts::new(store.clone()).insert(&rows).unwrap();
        let got = store
            .run_blocking(|c| {
                query(
                    c,
                    &AuditQuery {
                        limit: 1000,
                        ..Default::default()
                    },
                )
            })
            .unwrap();
        let ts: Vec<i64> = got.iter().map(|r| r.ts).collect();
        assert_eq!(ts, (0..n).rev().collect::<Vec<i64>>());
        assert_eq!(got[0].route, "twilio.messages");
        assert_eq!(got[0].provider, "twilio");
        assert_eq!(got[0].line_type, "mobile");
        assert_eq!(got[0].outcome, "forwarded");
        // No reasons and no country: an empty text and a NULL.
        let bare = NewAuditRow::new(
            n,
            "r",
            "p",
            None,
            "unparseable",
            "allow",
            "forwarded",
            7,
            [],
            "",
            true,
        );
        Inserts::new(store.clone())
            .insert(std::slice::from_ref(&bare))
            .unwrap();
        let got = store
            .run_blocking(|c| {
                query(
                    c,
                    &AuditQuery {
                        limit: 1,
                        ..Default::default()
                    },
                )
            })
            .unwrap();
        assert_eq!(got[0].ts, n);
        assert!(got[0].reasons.is_empty() && got[0].country.is_none());
        assert_eq!(
            (got[0].to.as_str(), got[0].score, got[0].shadow),
            ("", 7, true)
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
