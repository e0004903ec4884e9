//! Hold for review: the third outcome. A held send is answered in the
//! provider's "queued" shape only after it is stored durably; a reviewer (or
//! the policy, at the deadline) then releases it to the aggregator unchanged
//! or rejects it, in which case the platform's status callback hears the
//! provider's own failure (Twilio: `failed`, error 30450).
//!
//! See [`crate::store::HeldState`] for the state machine that makes release
//! exactly-once across crashes.

mod callback;
pub mod seal;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Limited};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

pub use seal::{SealError, Sealer};

use crate::clock::Timestamp;
use crate::route::RouteTable;
use crate::store::{HeldRow, HeldState, Store, StoreError};
use crate::upstream::UpstreamClient;

#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error("the route `{0}` of this send no longer exists")]
    Route(String),
    #[error("the stored request is unreadable: {0}")]
    Corrupt(String),
}

/// What is sealed: the request exactly as it goes upstream, and the answer
/// the platform got.
#[derive(Serialize, Deserialize)]
struct Sealed {
    method: String,
    path_and_query: String,
    /// Header name and base64 value, in order.
    headers: Vec<(String, String)>,
    body: String,
    answer: String,
    to: String,
    from: Option<String>,
    account: Option<String>,
}

/// A send to hold.
pub struct HoldInput {
    pub id: String,
    pub route: String,
    pub provider: String,
    pub method: Method,
    pub path_and_query: String,
    /// Headers as they would go upstream.
    pub headers: HeaderMap,
    pub body: Bytes,
    pub answer: Vec<u8>,
    /// The destination as the client wrote it.
    pub to: String,
    pub from: Option<String>,
    pub account: Option<String>,
    pub country: Option<String>,
    pub reasons: Vec<String>,
    pub score: u32,
    pub now: Timestamp,
    pub ttl_s: i64,
    pub callback: Option<String>,
}

/// What a status look-up of a synthetic id sees.
pub struct HeldView {
    pub row: HeldRow,
    pub answer: Vec<u8>,
}

/// Test hooks, set by `TOLLGATE_FAILPOINT` (`release_before_forward=MS`):
/// a pause between recording a release decision and forwarding, so a test
/// can kill the process exactly there.
#[derive(Debug, Default, Clone, Copy)]
pub struct Failpoints {
    pub release_before_forward: Option<Duration>,
}

impl Failpoints {
    pub fn from_env() -> Failpoints {
        let mut f = Failpoints::default();
        if let Ok(v) = std::env::var("TOLLGATE_FAILPOINT") {
            if let Some(ms) = v
                .strip_prefix("release_before_forward=")
                .and_then(|m| m.parse().ok())
            {
                f.release_before_forward = Some(Duration::from_millis(ms));
            }
        }
        f
    }
}

pub struct HoldQueue {
    store: Store,
    sealer: Sealer,
    upstream: UpstreamClient,
    routes: Arc<RouteTable>,
    failpoints: Failpoints,
    /// Told of every send the aggregator accepted on release (the engine
    /// counts its delivery: from then on it can convert).
    on_released: Option<ReleaseHook>,
    /// How long a resolved send is kept (`[audit] resolved_holds_days`).
    keep_resolved: Duration,
}

/// How often resolved sends past their retention are dropped, and how many
/// at most per statement (each holds the store's one lock).
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// How long a resolved send is kept unless configured (30 days).
pub const KEEP_RESOLVED_DAYS: u32 = 30;
const PRUNE_CHUNK: usize = 2_000;

/// See [`HoldQueue::with_release_hook`].
pub type ReleaseHook = Arc<dyn Fn(&HeldRow) + Send + Sync>;

const ANSWER_LIMIT: usize = 1 << 20;

impl HoldQueue {
    pub fn new(
        store: Store,
        sealer: Sealer,
        upstream: UpstreamClient,
        routes: Arc<RouteTable>,
        failpoints: Failpoints,
    ) -> HoldQueue {
        HoldQueue {
            store,
            sealer,
            upstream,
            routes,
            failpoints,
            on_released: None,
            keep_resolved: Duration::from_secs(u64::from(KEEP_RESOLVED_DAYS) * 86_400),
        }
    }

    /// Keeps resolved sends for `keep` ([`KEEP_RESOLVED_DAYS`] unless set).
    pub fn with_resolved_retention(mut self, keep: Duration) -> HoldQueue {
        self.keep_resolved = keep;
        self
    }

    /// Calls `hook` with each held send the aggregator accepts on release.
    pub fn with_release_hook(mut self, hook: ReleaseHook) -> HoldQueue {
        self.on_released = Some(hook);
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Stores a send durably. Only after this returns may the platform be
    /// told the send was queued.
    pub async fn hold(&self, h: HoldInput) -> Result<(), HoldError> {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let sealed = Sealed {
            method: h.method.to_string(),
            path_and_query: h.path_and_query,
            headers: h
                .headers
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), b64(v.as_bytes())))
                .collect(),
            body: b64(&h.body),
            answer: b64(&h.answer),
            to: h.to.clone(),
            from: h.from,
            account: h.account,
        };
        let plain = serde_json::to_vec(&sealed).map_err(|e| HoldError::Corrupt(e.to_string()))?;
        let row = HeldRow {
            id: h.id,
            provider: h.provider,
            route: h.route,
            to: h.to,
            country: h.country,
            reasons: h.reasons,
            score: h.score,
            held_at: h.now.millis(),
            expires_at: h.now.plus_seconds(h.ttl_s).millis(),
            state: HeldState::Held,
            request: self.sealer.seal(&plain),
            callback: h.callback,
            real_id: None,
            upstream_status: None,
            resolved_at: None,
            resolved_by: None,
            note: None,
        };
        self.store.run(move |c| row.insert(c)).await?;
        Ok(())
    }

    fn unseal(&self, row: &HeldRow) -> Result<Sealed, HoldError> {
        let plain = self.sealer.open(&row.request)?;
        serde_json::from_slice(&plain).map_err(|e| HoldError::Corrupt(e.to_string()))
    }

    pub async fn get(&self, id: &str) -> Result<Option<HeldView>, HoldError> {
        let id = id.to_owned();
        let Some(row) = self.store.run(move |c| HeldRow::get(c, &id)).await? else {
            return Ok(None);
        };
        let sealed = self.unseal(&row)?;
        let answer = base64::engine::general_purpose::STANDARD
            .decode(sealed.answer)
            .map_err(|e| HoldError::Corrupt(e.to_string()))?;
        Ok(Some(HeldView { row, answer }))
    }

    /// Releases a held send: forwards the original request upstream,
    /// unchanged, exactly once.
    pub async fn release(&self, id: &str, by: &str) -> Result<HeldRow, HoldError> {
        let (id2, by2) = (id.to_owned(), by.to_owned());
        let now = Timestamp::now().millis();
        let row = self
            .store
            .run(move |c| {
                HeldRow::transition(
                    c,
                    &id2,
                    &[HeldState::Held],
                    HeldState::Releasing,
                    now,
                    Some(&by2),
                )
            })
            .await?;
        if let Some(pause) = self.failpoints.release_before_forward {
            tracing::warn!(id = %row.id, ?pause, "failpoint: pausing between the release decision and the forward");
            tokio::time::sleep(pause).await;
        }
        self.forward(row).await
    }

    /// Forwards a `releasing` row.
    async fn forward(&self, row: HeldRow) -> Result<HeldRow, HoldError> {
        let id = row.id.clone();
        let now = Timestamp::now().millis();
        self.store
            .run(move |c| {
                HeldRow::transition(
                    c,
                    &id,
                    &[HeldState::Releasing],
                    HeldState::Forwarding,
                    now,
                    None,
                )
            })
            .await?;
        let sealed = self.unseal(&row)?;
        let route = self
            .routes
            .sends()
            .iter()
            .find(|r| r.id == row.route)
            .ok_or_else(|| HoldError::Route(row.route.clone()))?;
        let req = rebuild(
            &sealed,
            &route
                .upstream
                .uri_for(&sealed.path_and_query)
                .map_err(|e| HoldError::Corrupt(e.to_string()))?,
        )?;
        let (state, real_id, status, note) = match self.upstream.send(req).await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let body = Limited::new(resp.into_body(), ANSWER_LIMIT)
                    .collect()
                    .await
                    .map(|c| c.to_bytes())
                    .unwrap_or_default();
                if (200..300).contains(&status) {
                    (
                        HeldState::Released,
                        route.spec.dialect.real_id(&body),
                        Some(status),
                        None,
                    )
                } else {
                    (
                        HeldState::Failed,
                        None,
                        Some(status),
                        Some(format!("the aggregator answered {status}")),
                    )
                }
            }
            Err(e) => (HeldState::Failed, None, None, Some(e.to_string())),
        };
        let id = row.id.clone();
        let (real2, note2) = (real_id.clone(), note.clone());
        self.store
            .run(move |c| {
                HeldRow::finish_release(c, &id, state, real2.as_deref(), status, note2.as_deref())
            })
            .await?;
        tracing::info!(id = %row.id, route = %row.route, state = state.as_str(), upstream_status = status, "held send released");
        if let (HeldState::Released, Some(hook)) = (state, &self.on_released) {
            hook(&row);
        }
        Ok(HeldRow {
            state,
            real_id,
            upstream_status: status,
            note,
            ..row
        })
    }

    /// Rejects a held send (a reviewer, or the deadline). It never reaches
    /// the upstream; the status callback, if any, hears the provider's
    /// failure.
    pub async fn reject(&self, id: &str, by: &str, expired: bool) -> Result<HeldRow, HoldError> {
        let (id2, by2) = (id.to_owned(), by.to_owned());
        let now = Timestamp::now().millis();
        let to = if expired {
            HeldState::Expired
        } else {
            HeldState::Rejected
        };
        let row = self
            .store
            .run(move |c| {
                let row = HeldRow::transition(c, &id2, &[HeldState::Held], to, now, Some(&by2))?;
                HeldRow::schedule_callback(c, &id2, now)?;
                Ok(row)
            })
            .await?;
        tracing::info!(id = %row.id, route = %row.route, state = to.as_str(), "held send rejected");
        Ok(row)
    }

    /// After a restart: forward what was decided but never sent; flag what
    /// may have been sent.
    pub async fn recover(&self) -> Result<(), HoldError> {
        let ids = self.store.run(|c| HeldRow::recover(c)).await?;
        for id in ids {
            let row = {
                let id = id.clone();
                self.store.run(move |c| HeldRow::get(c, &id)).await?
            };
            if let Some(row) = row {
                tracing::info!(id = %row.id, "forwarding a release decided before the restart");
                self.forward(row).await?;
            }
        }
        Ok(())
    }

    /// Resolves due holds by policy and delivers pending callbacks, once a
    /// second, until shutdown.
    pub async fn run_background(
        self: Arc<Self>,
        resolve: Arc<dyn Fn(&HeldRow) -> Expiry + Send + Sync>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut last_prune: Option<std::time::Instant> = None;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.changed() => return,
            }
            if let Err(e) = self.tick(resolve.as_ref()).await {
                tracing::error!(error = %e, "hold queue maintenance failed");
            }
            if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                last_prune = Some(std::time::Instant::now());
                match self.prune_resolved(Timestamp::now()).await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(rows = n, "dropped resolved held sends past their retention")
                    }
                    Err(e) => tracing::error!(error = %e, "pruning resolved held sends failed"),
                }
            }
        }
    }

    /// Drops the sends resolved longer ago than the retention, a chunk per
    /// statement so that held sends and look-ups wait one chunk at most.
    async fn prune_resolved(&self, now: Timestamp) -> Result<usize, HoldError> {
        let keep = i64::try_from(self.keep_resolved.as_millis()).unwrap_or(i64::MAX);
        let before = now.millis().saturating_sub(keep);
        let mut total = 0;
        loop {
            let n = self
                .store
                .run(move |c| HeldRow::prune_resolved(c, before, PRUNE_CHUNK))
                .await?;
            total += n;
            if n < PRUNE_CHUNK {
                return Ok(total);
            }
        }
    }

    async fn tick(
        &self,
        resolve: &(dyn Fn(&HeldRow) -> Expiry + Send + Sync),
    ) -> Result<(), HoldError> {
        let now = Timestamp::now().millis();
        for id in self.store.run(move |c| HeldRow::due(c, now)).await? {
            let Some(view) = self.get(&id).await? else {
                continue;
            };
            let outcome = match resolve(&view.row) {
                Expiry::Release => self.release(&id, "policy:expiry").await.map(|_| ()),
                Expiry::Reject => self.reject(&id, "policy:expiry", true).await.map(|_| ()),
            };
            match outcome {
                Ok(()) | Err(HoldError::Store(StoreError::Conflict(_))) => {}
                Err(e) => tracing::error!(id = %id, error = %e, "resolving an expired hold failed"),
            }
        }
        for (id, attempts) in self
            .store
            .run(move |c| HeldRow::callbacks_due(c, now))
            .await?
        {
            self.deliver_callback(&id, attempts, Timestamp(now)).await?;
        }
        Ok(())
    }

    async fn deliver_callback(
        &self,
        id: &str,
        attempts: u32,
        now: Timestamp,
    ) -> Result<(), HoldError> {
        let Some(view) = self.get(id).await? else {
            return Ok(());
        };
        let sealed = self.unseal(&view.row)?;
        let route = self.routes.sends().iter().find(|r| r.id == view.row.route);
        let delivered = match (route, view.row.callback.as_deref()) {
            (Some(route), Some(url)) => {
                callback::deliver(
                    &self.upstream,
                    route.spec.dialect,
                    url,
                    &view.row,
                    &sealed,
                    now,
                )
                .await
            }
            _ => Ok(()),
        };
        let id = id.to_owned();
        let attempts = attempts + 1;
        let (state, next) = match delivered {
            Ok(()) => ("delivered", None),
            Err(e) if attempts >= callback::MAX_ATTEMPTS => {
                tracing::warn!(id = %id, error = %e, "failure callback abandoned");
                ("abandoned", None)
            }
            Err(e) => {
                tracing::info!(id = %id, error = %e, attempts, "failure callback failed; will retry");
                (
                    "pending",
                    Some(now.millis() + callback::backoff_ms(attempts)),
                )
            }
        };
        self.store
            .run(move |c| HeldRow::callback_result(c, &id, state, attempts, next))
            .await?;
        Ok(())
    }
}

/// What the policy does with a hold whose deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    Release,
    Reject,
}

fn rebuild(s: &Sealed, uri: &http::Uri) -> Result<Request<crate::upstream::ProxyBody>, HoldError> {
    let d = |v: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(v)
            .map_err(|e| HoldError::Corrupt(e.to_string()))
    };
    let mut req = Request::new(crate::upstream::full(d(&s.body)?));
    *req.method_mut() = s
        .method
        .parse()
        .map_err(|_| HoldError::Corrupt("method".into()))?;
    *req.uri_mut() = uri.clone();
    for (k, v) in &s.headers {
        let name =
            HeaderName::from_bytes(k.as_bytes()).map_err(|e| HoldError::Corrupt(e.to_string()))?;
        let value =
            HeaderValue::from_bytes(&d(v)?).map_err(|e| HoldError::Corrupt(e.to_string()))?;
        req.headers_mut().append(name, value);
    }
    Ok(req)
}
