//! `/api/v1/…` handlers.

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::json;

use super::Admin;
use crate::clock::Timestamp;
use crate::dialect::{json_response, neutral_error};
use crate::policy::SendFacts;

const BODY_LIMIT: usize = 64 * 1024;

pub async fn route(admin: &Admin, req: Request<Incoming>) -> Response<Bytes> {
    let path = req.uri().path().to_owned();
    match (req.method().clone(), path.as_str()) {
        (Method::POST, "/api/v1/conversions") => conversions(admin, req).await,
        (Method::GET, "/api/v1/explain") => explain(admin, req.uri().query().unwrap_or("")),
        (Method::POST, "/api/v1/reload") => reload(admin),
        _ => neutral_error(StatusCode::NOT_FOUND, "not_found", "no such admin endpoint"),
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
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body.to_bytes()) else {
        return bad("the body must be JSON: {\"to\": \"+…\"}");
    };
    let Some(to) = v.get("to").and_then(|t| t.as_str()) else {
        return bad("`to` is required");
    };
    let number = match admin.classifier.parse(to, None) {
        Ok(n) => admin.classifier.classify(&n),
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
    let number = admin
        .classifier
        .parse(&raw, None)
        .map(|n| admin.classifier.classify(&n));
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
            }
        }),
    )
}

/// `POST /api/v1/reload`: like SIGHUP.
fn reload(admin: &Admin) -> Response<Bytes> {
    match admin.engine.reload_from(admin.policy_path.as_deref()) {
        Ok(()) => {
            tracing::info!("policy reloaded through the admin API");
            ok(200, json!({ "reloaded": true }))
        }
        Err(e) => ok(422, json!({ "reloaded": false, "error": e.to_string() })),
    }
}
