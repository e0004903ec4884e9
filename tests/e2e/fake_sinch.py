"""The fake Sinch SMS REST API ("XMS"): batches, dry runs, delivery feedback
and delivery reports under ``/xms/v1/{service_plan_id}/``.

Shapes follow the SMS API reference (developers.sinch.com/docs/sms/api-reference/,
"Batches", "Delivery reports", "HTTP Status Codes") and the examples the
official SDKs test against (sinch-sdk-java openapi-contracts
``domains/sms/v1/batches/response/TextResponseDto.json``, ``error-response.json``).

* errors: ``{"code": "<snake_case>", "text": "..."}`` with 400 / 403;
* a batch is validated whole: one badly formatted MSISDN in ``to`` refuses it
  (400 ``syntax_invalid_parameter_format``), nothing is created;
* a created batch: 201, the request echoed plus ``id`` (a ULID),
  ``created_at``/``modified_at``, ``canceled`` and the defaults
  (``delivery_report`` "none", ``expire_at`` 3 days later, ``flash_message``).

Wired by the lead: ``import fake_sinch; register(fake_sinch)``.
"""

from __future__ import annotations

import datetime
import json
import re
import secrets
import threading
import time

_lock = threading.Lock()
_batches: dict[str, dict] = {}  # batch id -> the batch resource as last answered

JSON_CT = ("Content-Type", "application/json")

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# An MSISDN (a leading "+" is accepted) or a group id (a ULID).
_MSISDN = re.compile(r"\+?[1-9][0-9]{6,14}")
_GROUP_ID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
_TYPES = ("mt_text", "mt_binary", "mt_media")
# Field order of the reference's batch response.
_ORDER = ("id", "to", "from", "canceled", "parameters", "body", "udh", "type", "created_at", "modified_at",
          "delivery_report", "send_at", "expire_at", "callback_url", "client_reference", "feedback_enabled",
          "flash_message", "truncate_concat", "max_number_of_message_parts", "from_ton", "from_npi")


def ulid() -> str:
    """A ULID as Sinch writes batch ids: 01FC66621XXXXX119Z8PMV1QPQ."""
    v = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(v >> (5 * i)) & 31] for i in reversed(range(26)))


def _iso(dt: datetime.datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _answer(status: int, body) -> tuple[int, list[tuple[str, str]], bytes]:
    if body is None:
        return status, [], b""
    return status, [JSON_CT], json.dumps(body).encode()


def error(status: int, code: str, text: str):
    return _answer(status, {"code": code, "text": text})


def _parse(rec):
    """The JSON object of a request, or the XMS error answering it."""
    try:
        body = json.loads(rec.body or b"null")
    except ValueError:
        return None, error(400, "syntax_invalid_json", "The JSON in the request is invalid")
    if not isinstance(body, dict):
        return None, error(400, "syntax_invalid_json", "The request body must be a JSON object")
    return body, None


def _check_batch(body: dict):
    """Sinch's request-level validation of a batch (None: valid)."""
    to = body.get("to")
    if not isinstance(to, list) or not to or len(to) > 1000:
        return error(400, "syntax_constraint_violation", "'to' must be a list of 1 to 1000 recipients")
    for r in to:
        if not isinstance(r, str) or not (_MSISDN.fullmatch(r) or _GROUP_ID.fullmatch(r)):
            return error(400, "syntax_invalid_parameter_format", f"Invalid MSISDN format in 'to': {r}")
    kind = body.get("type", "mt_text")
    if kind not in _TYPES:
        return error(400, "syntax_invalid_parameter_format", f"Invalid value for 'type': {kind}")
    if "body" not in body:
        return error(400, "syntax_constraint_violation", "'body' is required")
    return None


def _batch(body: dict, batch_id: str, created: str | None = None) -> dict:
    now = datetime.datetime.now(datetime.timezone.utc)
    kind = body.get("type", "mt_text")
    out = dict(body)
    out.update(id=batch_id, canceled=False, type=kind, created_at=created or _iso(now), modified_at=_iso(now))
    out.setdefault("delivery_report", "none")
    out.setdefault("expire_at", _iso(now + datetime.timedelta(days=3)))
    if kind != "mt_media":
        out.setdefault("flash_message", False)
    return {k: out[k] for k in _ORDER if k in out} | {k: v for k, v in out.items() if k not in _ORDER}


def _not_found(batch_id: str):
    return error(404, "not_found", f"Batch {batch_id} not found")


# ---- handlers ----------------------------------------------------------------


def send(rec, plan):
    body, bad = _parse(rec)
    if bad:
        return bad
    bad = _check_batch(body)
    if bad:
        return bad
    b = _batch(body, ulid())
    with _lock:
        _batches[b["id"]] = b
    return _answer(201, b)


def get(rec, plan, batch_id):
    with _lock:
        b = _batches.get(batch_id)
    return _answer(200, b) if b else _not_found(batch_id)


def replace(rec, plan, batch_id):
    body, bad = _parse(rec)
    if bad:
        return bad
    bad = _check_batch(body)
    if bad:
        return bad
    with _lock:
        old = _batches.get(batch_id)
        if old is None:
            return _not_found(batch_id)
        b = _batch(body, batch_id, old["created_at"])
        _batches[batch_id] = b
    return _answer(200, b)


def update(rec, plan, batch_id):
    body, bad = _parse(rec)
    if bad:
        return bad
    with _lock:
        old = _batches.get(batch_id)
        if old is None:
            return _not_found(batch_id)
        b = dict(old)
        add, remove = body.pop("to_add", []) or [], body.pop("to_remove", []) or []
        b["to"] = [r for r in old["to"] if r not in remove] + [r for r in add if r not in old["to"]]
        b.update(body)
        b["modified_at"] = _iso(datetime.datetime.now(datetime.timezone.utc))
        _batches[batch_id] = b
    return _answer(200, b)


def cancel(rec, plan, batch_id):
    with _lock:
        b = _batches.get(batch_id)
        if b is None:
            return _not_found(batch_id)
        b = dict(b, canceled=True)
        _batches[batch_id] = b
    return _answer(200, b)


def list_batches(rec, plan):
    with _lock:
        batches = list(reversed(list(_batches.values())))[:30]
    return _answer(200, {"count": len(batches), "page": 0, "batches": batches, "page_size": len(batches)})


def dry_run(rec, plan):
    body, bad = _parse(rec)
    if bad:
        return bad
    bad = _check_batch(body)
    if bad:
        return bad
    to = body["to"]
    details = [{"recipient": r, "body": body["body"], "number_of_parts": 1, "encoding": "GSM"} for r in to]
    return _answer(200, {"number_of_recipients": len(to), "number_of_messages": len(to), "per_recipient": details})


def delivery_feedback(rec, plan, batch_id):
    body, bad = _parse(rec)
    if bad:
        return bad
    if not isinstance(body.get("recipients"), list):
        return error(400, "syntax_constraint_violation", "'recipients' is required")
    with _lock:
        known = batch_id in _batches
    return _answer(202, None) if known else _not_found(batch_id)


def delivery_report(rec, plan, batch_id):
    with _lock:
        b = _batches.get(batch_id)
    if b is None:
        return _not_found(batch_id)
    return _answer(200, {
        "type": "delivery_report_sms",
        "batch_id": batch_id,
        "statuses": [{"code": 0, "count": len(b["to"]), "recipients": list(b["to"]), "status": "Delivered"}],
        "total_message_count": len(b["to"]),
    })


def routes(fake):
    plan = r"/xms/v1/(?P<plan>[^/]+)"
    bid = r"(?P<batch_id>[^/]+)"
    return [
        ("POST", plan + r"/batches", send),
        ("GET", plan + r"/batches", list_batches),
        ("POST", plan + r"/batches/dry_run", dry_run),
        ("GET", plan + r"/batches/" + bid, get),
        ("PUT", plan + r"/batches/" + bid, replace),
        ("POST", plan + r"/batches/" + bid, update),
        ("DELETE", plan + r"/batches/" + bid, cancel),
        ("POST", plan + r"/batches/" + bid + r"/delivery_feedback", delivery_feedback),
        ("GET", plan + r"/batches/" + bid + r"/delivery_report", delivery_report),
    ]
