//! Status look-ups of message ids. A platform that got a synthetic id for a
//! held send will ask the provider about it; tollgate answers for the ids it
//! issued and passes every other look-up through.

use bytes::Bytes;
use http::request::Parts;
use http::Response;
use hyper::body::Incoming;

use super::body::bytes_response;
use super::{forward, Pipeline};
use crate::clock::Timestamp;
use crate::dialect::json_response;
use crate::route::StatusRoute;
use crate::store::HeldState;
use crate::upstream::ProxyBody;

pub async fn handle(
    p: &Pipeline,
    route: &StatusRoute,
    id: String,
    mut parts: Parts,
    body: Incoming,
) -> Response<ProxyBody> {
    let view = match &p.hold {
        Some(q) => q.get(&id).await.ok().flatten(),
        None => None,
    };
    let Some(view) = view else {
        return forward::streaming(p, &route.upstream, parts, body).await;
    };
    let dialect = route.spec.dialect;
    match (view.row.state, view.row.real_id.as_deref()) {
        // Released: the upstream's answer for the real id, shown under ours.
        (HeldState::Released, Some(real)) => {
            let pq = parts
                .uri
                .path_and_query()
                .map(|x| x.as_str())
                .unwrap_or("/")
                .replace(&id, real);
            let Ok(uri) = pq.parse() else {
                return forward::streaming(p, &route.upstream, parts, body).await;
            };
            parts.uri = uri;
            let (rp, answer) = match forward::buffered_read(
                p,
                &route.upstream,
                parts,
                Bytes::new(),
                1 << 20,
            )
            .await
            {
                Ok(r) => r,
                Err(resp) => return resp,
            };
            let shown = dialect
                .show_as(&answer, real, &id)
                .map(Bytes::from)
                .unwrap_or(answer);
            super::body::rewritten(rp, shown)
        }
        (HeldState::Rejected | HeldState::Expired | HeldState::Failed, _) => {
            let failed = dialect.failed_view(
                &view.answer,
                Timestamp(view.row.resolved_at.unwrap_or(view.row.held_at)),
            );
            bytes_response(json_response(
                200,
                "application/json; charset=utf-8",
                failed.unwrap_or(view.answer),
            ))
        }
        // Still waiting (or being released): what the provider said at first.
        _ => bytes_response(json_response(
            200,
            "application/json; charset=utf-8",
            view.answer,
        )),
    }
}
