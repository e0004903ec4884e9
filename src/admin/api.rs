//! `/api/v1/…` handlers.

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::json;

use super::bodies;
use super::Admin;
use crate::clock::Timestamp;
use crate::dialect::{json_response, neutral_error};
use crate::hold::HoldError;
use crate::policy::SendFacts;
use crate::store::{audit_query, AuditQuery, HeldRow, HeldState, ListRow, Store, StoreError};

const BODY_LIMIT: usize = 64 * 1024;

/// The admin API's OpenAPI document.
pub const OPENAPI: &str = include_str!("openapi.json");

pub async fn route(admin: &Admin, req: Request<Incoming>) -> Response<Bytes> {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let segs: Vec<&str> = path.trim_start_matches("/api/v1/").split('/').collect();
    match (req.method().clone(), segs.as_slice()) {
        (Method::POST, ["conversions"]) => conversions(admin, req).await,
        (Method::GET, ["explain"]) => explain(admin, &query),
        (Method::POST, ["reload"]) => reload(admin),
        (Method::GET, ["held"]) => held_list(admin, &query).await,
        (Method::POST, ["held", id, "release"]) => held_resolve(admin, id, true).await,
        (Method::POST, ["held", id, "reject"]) => held_resolve(admin, id, false).await,
        (Method::GET, ["decisions"]) => decisions(admin, &query).await,
        (Method::GET, ["lists"]) => lists_get(admin).await,
        (Method::POST, ["lists"]) => lists_add(admin, req).await,
        (Method::DELETE, ["lists", id]) => lists_delete(admin, id).await,
        _ => neutral_error(StatusCode::NOT_FOUND, "not_found", "no such admin endpoint"),
    }
}

fn param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

fn store_error(e: &StoreError) -> Response<Bytes> {
    match e {
        StoreError::NotFound => {
            neutral_error(StatusCode::NOT_FOUND, "not_found", "no such held send")
        }
        StoreError::Conflict(m) => neutral_error(StatusCode::CONFLICT, "conflict", m),
        other => {
            tracing::error!(error = %other, "admin API storage error");
            neutral_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "storage",
                "the database failed; see the logs",
            )
        }
    }
}

fn held_json(r: &HeldRow) -> serde_json::Value {
    json!({
        "id": r.id,
        "provider": r.provider,
        "route": r.route,
        "to": r.to,
        "country": r.country,
        "reasons": r.reasons,
        "score": r.score,
        "held_at": Timestamp(r.held_at).to_rfc3339(),
        "expires_at": Timestamp(r.expires_at).to_rfc3339(),
        "state": r.state.as_str(),
        "real_id": r.real_id,
        "resolved_by": r.resolved_by,
        "note": r.note,
    })
}

/// `GET /api/v1/held?state=held&limit=100`.
async fn held_list(admin: &Admin, query: &str) -> Response<Bytes> {
    let state = match param(query, "state").as_deref() {
        None => Some(HeldState::Held),
        Some("all") => None,
        Some(s) => match HeldState::parse(s) {
            Some(st) => Some(st),
            None => return bad("unknown `state`"),
        },
    };
    let limit = param(query, "limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(200u32)
        .clamp(1, 5000);
    match admin
        .store
        .run(move |c| HeldRow::list(c, state, limit))
        .await
    {
        Ok(rows) => ok(
            200,
            json!({ "items": rows.iter().map(held_json).collect::<Vec<_>>() }),
        ),
        Err(e) => store_error(&e),
    }
}

async fn held_resolve(admin: &Admin, id: &str, release: bool) -> Response<Bytes> {
    let result = if release {
        admin.hold.release(id, "admin").await
    } else {
        admin.hold.reject(id, "admin", false).await
    };
    match result {
        Ok(row) => ok(200, held_json(&row)),
        Err(HoldError::Store(e)) => store_error(&e),
        Err(e) => {
            tracing::error!(id, error = %e, "resolving a held send failed");
            neutral_error(StatusCode::INTERNAL_SERVER_ERROR, "hold", &e.to_string())
        }
    }
}

/// `GET /api/v1/decisions?limit=&action=&country=&since=`.
async fn decisions(admin: &Admin, query: &str) -> Response<Bytes> {
    let q = AuditQuery {
        limit: param(query, "limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(100),
        action: param(query, "action"),
        country: param(query, "country").map(|c| c.to_ascii_uppercase()),
        since: param(query, "since").and_then(|s| s.parse().ok()),
    };
    match admin.store.run(move |c| audit_query(c, &q)).await {
        Ok(rows) => ok(
            200,
            json!({ "items": rows.iter().map(|r| {
                let mut v = serde_json::to_value(r).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("time".into(), json!(Timestamp(r.ts).to_rfc3339()));
                }
                v
            }).collect::<Vec<_>>() }),
        ),
        Err(e) => store_error(&e),
    }
}

/// Rebuilds the engine's run-time lists from the database.
pub async fn apply_lists(store: &Store, engine: &crate::policy::Engine) -> Result<usize, String> {
    let now = Timestamp::now().millis();
    let rows = store
        .run(move |c| ListRow::active(c, now))
        .await
        .map_err(|e| e.to_string())?;
    let lists = crate::policy::layers::lists::Config::from_entries(
        rows.iter()
            .map(|r| (r.scope.as_str(), r.value.as_str(), r.action.as_str())),
    )?;
    engine.set_runtime_lists(lists);
    Ok(rows.len())
}

/// Takes run-time list entries out of force when their TTL passes: once a
/// second, re-applies the lists when the set of entries in force changed.
pub async fn expire_lists(
    store: Store,
    engine: std::sync::Arc<crate::policy::Engine>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut in_force: Option<Vec<i64>> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
        let now = Timestamp::now().millis();
        let ids = match store.run(move |c| ListRow::active(c, now)).await {
            Ok(rows) => rows.iter().map(|r| r.id).collect::<Vec<_>>(),
            Err(e) => {
                tracing::error!(error = %e, "reading run-time lists failed");
                continue;
            }
        };
        if in_force.as_ref() != Some(&ids) {
            if let Err(e) = apply_lists(&store, &engine).await {
                tracing::error!(error = %e, "re-applying run-time lists failed");
                continue;
            }
            in_force = Some(ids);
        }
    }
}

async fn lists_get(admin: &Admin) -> Response<Bytes> {
    let now = Timestamp::now().millis();
    match admin.store.run(move |c| ListRow::active(c, now)).await {
        Ok(rows) => ok(200, json!({ "items": rows })),
        Err(e) => store_error(&e),
    }
}

/// `POST /api/v1/lists {"scope","value","action","ttl_seconds","note"}`.
async fn lists_add(admin: &Admin, req: Request<Incoming>) -> Response<Bytes> {
    let Ok(body) = Limited::new(req.into_body(), BODY_LIMIT).collect().await else {
        return bad("the body could not be read or is too large");
    };
    let e = match bodies::list_entry(&body.to_bytes()) {
        Ok(e) => e,
        Err(err) => return bad(&err.to_string()),
    };
    let now = Timestamp::now().millis();
    let expires = e
        .ttl_seconds
        .map(|t| now + (t.min(10 * 365 * 86_400) as i64) * 1000);
    let row = {
        let e2 = (
            e.scope.clone(),
            e.value.clone(),
            e.action.clone(),
            e.note.clone(),
        );
        admin
            .store
            .run(move |c| {
                let id = ListRow::insert(c, &e2.0, &e2.1, &e2.2, expires, e2.3.as_deref(), now)?;
                Ok(ListRow {
                    id,
                    scope: e2.0,
                    value: e2.1,
                    action: e2.2,
                    expires_at: expires,
                    note: e2.3,
                    created_at: now,
                })
            })
            .await
    };
    match row {
        Ok(row) => match apply_lists(&admin.store, &admin.engine).await {
            Ok(_) => ok(201, serde_json::to_value(&row).unwrap_or_default()),
            Err(m) => neutral_error(StatusCode::INTERNAL_SERVER_ERROR, "lists", &m),
        },
        Err(e) => store_error(&e),
    }
}

async fn lists_delete(admin: &Admin, id: &str) -> Response<Bytes> {
    let Ok(id) = id.parse::<i64>() else {
        return bad("the id is a number");
    };
    match admin.store.run(move |c| ListRow::delete(c, id)).await {
        Ok(true) => match apply_lists(&admin.store, &admin.engine).await {
            Ok(_) => ok(200, json!({ "deleted": id })),
            Err(m) => neutral_error(StatusCode::INTERNAL_SERVER_ERROR, "lists", &m),
        },
        Ok(false) => neutral_error(StatusCode::NOT_FOUND, "not_found", "no such list entry"),
        Err(e) => store_error(&e),
    }
}

fn ok(status: u16, v: serde_json::Value) -> Response<Bytes> {
    json_response(status, "application/json", v.to_string().into_bytes())
}

fn bad(message: &str) -> Response<Bytes> {
    neutral_error(StatusCode::BAD_REQUEST, "bad_request", message)
}

/// `POST /api/v1/conversions {"to": "+…"}`: a platform that checks codes
/// itself reports a verified number.
async fn conversions(admin: &Admin, req: Request<Incoming>) -> Response<Bytes> {
    let Ok(body) = Limited::new(req.into_body(), BODY_LIMIT).collect().await else {
        return bad("the body could not be read or is too large");
    };
    let to = match bodies::conversion_to(&body.to_bytes()) {
        Ok(to) => to,
        Err(err) => return bad(&err.to_string()),
    };
    let number = match admin.classifier.parse_and_classify(&to, None) {
        Ok(c) => c,
        Err(e) => return bad(&format!("`to` is not a phone number: {e}")),
    };
    let now = Timestamp::now();
    admin.engine.record_conversion(&number, now);
    tracing::info!(target: "tollgate::conversion", route = "admin", to = %number.masked(), "conversion");
    ok(202, json!({ "recorded": true, "to": number.masked() }))
}

/// `GET /api/v1/explain?number=+…`: classification and every signal,
/// without counting an attempt.
fn explain(admin: &Admin, query: &str) -> Response<Bytes> {
    let Some(raw) = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "number")
        .map(|(_, v)| v.into_owned())
    else {
        return bad("`number` is required");
    };
    let number = admin.classifier.parse_and_classify(&raw, None);
    let facts = SendFacts {
        route: "explain",
        provider: "explain",
        channel: "sms",
        ..SendFacts::default()
    };
    let d = admin.engine.peek(&facts, number.as_ref(), Timestamp::now());
    let classification = match &number {
        Ok(c) => json!({
            "e164": format!("+{}", c.number.digits()),
            "country": c.region.map(|r| r.to_string()),
            "valid": c.valid,
            "line_type": c.line_type.as_str(),
            "carrier": c.carrier.as_deref(),
            "range3": format!("+{}", c.number.range(3)),
            "range4": format!("+{}", c.number.range(4)),
        }),
        Err(e) => json!({ "error": e.to_string() }),
    };
    ok(
        200,
        json!({
            "classification": classification,
            "decision": {
                "action": d.action.as_str(),
                "score": d.score,
                "reasons": d.reasons,
                "explanation": d.explanation(),
                "trade": d.trade,
            }
        }),
    )
}

/// `POST /api/v1/reload`: like SIGHUP.
fn reload(admin: &Admin) -> Response<Bytes> {
    match admin.engine.reload_from(admin.policy_path.as_deref()) {
        Ok(()) => {
            admin.metrics.policy_loaded(
                admin.policy_path.as_deref(),
                crate::policy::EMBEDDED_DEFAULT,
            );
            tracing::info!("policy reloaded through the admin API");
            ok(200, json!({ "reloaded": true }))
        }
        Err(e) => ok(422, json!({ "reloaded": false, "error": e.to_string() })),
    }
}
