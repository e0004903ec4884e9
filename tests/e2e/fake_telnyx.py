"""Telnyx API v2 (Messaging, Verify) for the fake aggregator: api.telnyx.com.

Shapes follow the API reference and the official SDK's models (``telnyx``
4.189.0: ``types/outbound_message_payload.py``, ``types/verification.py``,
``types/verifications/by_phone_number/verify_verification_code_response.py``):

* ``POST /v2/messages`` and its siblings (``long_code``, ``short_code``,
  ``number_pool``, ``alphanumeric_sender_id``, ``schedule``, ``whatsapp``,
  ``rcs``) -> 200 ``{"data": <message>}``, ``to[0].status`` ``queued``.  ``to``
  is one +E.164 number (a string or a list of one); anything else -> 400
  ``40310 Invalid 'to' address`` (the API's own answer, errors/40310).
  ``group_mms`` takes a list of up to 8.
* ``GET /v2/messages/{id}`` -> 200, the same message, ``delivered``; 404
  ``10005`` for an unknown id.
* ``POST /v2/verifications/{sms,call,flashcall,whatsapp}`` -> 200
  ``{"data": <verification>}`` ``pending``; ``GET /v2/verifications/{id}``.
* ``POST /v2/verifications/by_phone_number/{n}/actions/verify`` and
  ``/v2/verifications/{id}/actions/verify`` -> ``accepted`` for code
  ``"123456"`` (or ``status: accepted``), else ``rejected``.
* ``GET /v2/verify_profiles`` -> an empty page (a passthrough probe).
* No ``Authorization: Bearer <key>`` -> 401 ``10009 Authentication failed``.

Errors are ``{"errors":[{"code","title","detail","source","meta"}]}`` with
string codes.  Wired by the lead: ``import fake_telnyx; register(fake_telnyx)``.
"""

from __future__ import annotations

import copy
import datetime
import json
import re
import threading
import uuid
from urllib.parse import unquote

JSON_CT = ("Content-Type", "application/json")

_lock = threading.Lock()
_messages: dict[str, dict] = {}
_verifications: dict[str, dict] = {}

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
ACCEPTED_CODE = "123456"


def _now_ms() -> str:
    """``2019-01-23T18:10:02.574Z`` (message timestamps)."""
    t = datetime.datetime.now(datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _now_naive() -> str:
    """``2020-09-14T17:03:32.965812`` (Verify timestamps)."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds")


def _answer(status: int, body) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, [JSON_CT], json.dumps(body).encode()


def error(status: int, code: str, title: str, detail: str, pointer: str | None = None):
    """One Telnyx error, as every Telnyx API writes it."""
    e = {"code": code, "title": title, "detail": detail}
    if pointer:
        e["source"] = {"pointer": pointer}
    e["meta"] = {"url": f"https://developers.telnyx.com/docs/overview/errors/{code}"}
    return _answer(status, {"errors": [e]})


def _unauthorized(rec):
    auth = rec.header("Authorization") or ""
    if auth.startswith("Bearer ") and len(auth) > len("Bearer "):
        return None
    return error(401, "10009", "Authentication failed",
                 "The required authentication headers were either invalid or not included in the request.")


def _json(rec):
    try:
        v = json.loads(rec.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return None
    return v if isinstance(v, dict) else None


def _bad_json():
    return error(400, "10015", "Bad Request", "The request failed because it was not well-formed.")


def _invalid_to():
    return error(400, "40310", "Invalid 'to' address", "The 'to' address should be a single valid number.", "/to")


def _one_to(value) -> str | None:
    if isinstance(value, list):
        value = value[0] if len(value) == 1 else None
    return value if isinstance(value, str) and _E164.fullmatch(value) else None


def _message(p: dict, to: list[str], kind: str) -> dict:
    mid = str(uuid.uuid4())
    return {
        "record_type": "message",
        "direction": "outbound",
        "id": mid,
        "type": p.get("type") or kind,
        "messaging_profile_id": p.get("messaging_profile_id") or "4000eba1-a0c0-4563-9925-b25e842a7cb6",
        "organization_id": "b448f9cc-a842-4784-98e9-03c1a5872950",
        "from": {"phone_number": p.get("from"), "carrier": "TELNYX LLC", "line_type": "VoIP"},
        "to": [{"phone_number": n, "status": "queued", "carrier": "", "line_type": "Wireless"} for n in to],
        "cc": [],
        "text": p.get("text"),
        "subject": p.get("subject"),
        "media": [{"url": u, "content_type": None, "sha256": None, "size": None} for u in p.get("media_urls") or []],
        "webhook_url": p.get("webhook_url"),
        "webhook_failover_url": p.get("webhook_failover_url"),
        "encoding": "GSM-7",
        "parts": 1,
        "tags": [],
        "cost": None,
        "received_at": _now_ms(),
        "sent_at": None,
        "completed_at": None,
        "valid_until": None,
        "errors": [],
    }


def _send(kind: str, group: bool = False):
    def handler(rec):
        if (denied := _unauthorized(rec)) is not None:
            return denied
        p = _json(rec)
        if p is None:
            return _bad_json()
        if "to" not in p:
            return error(400, "10004", "Missing required parameter", "The 'to' parameter is required.", "/to")
        if group:
            to = p["to"] if isinstance(p["to"], list) else None
            if not to or len(to) > 8 or not all(isinstance(n, str) and _E164.fullmatch(n) for n in to):
                return _invalid_to()
        else:
            one = _one_to(p["to"])
            if one is None:
                return _invalid_to()
            to = [one]
        msg = _message(p, to, kind)
        with _lock:
            _messages[msg["id"]] = msg
        return _answer(200, {"data": msg})

    return handler


def _message_get(rec, mid: str):
    if (denied := _unauthorized(rec)) is not None:
        return denied
    with _lock:
        msg = copy.deepcopy(_messages.get(mid))
    if msg is None:
        return error(404, "10005", "Resource not found", "The requested resource or URL could not be found.")
    for t in msg["to"]:
        t["status"] = "delivered"
    msg["sent_at"] = msg["completed_at"] = _now_ms()
    return _answer(200, {"data": msg})


def _verify(kind: str):
    def handler(rec):
        if (denied := _unauthorized(rec)) is not None:
            return denied
        p = _json(rec)
        if p is None:
            return _bad_json()
        if not p.get("verify_profile_id"):
            return error(400, "10004", "Missing required parameter", "verify_profile_id is required.",
                         "/verify_profile_id")
        number = p.get("phone_number")
        if not isinstance(number, str) or not _E164.fullmatch(number):
            return error(400, "10002", "Invalid phone number", "The phone number is invalid.", "/phone_number")
        now = _now_naive()
        v = {
            "id": str(uuid.uuid4()),
            "type": kind,
            "record_type": "verification",
            "phone_number": number,
            "verify_profile_id": p["verify_profile_id"],
            "custom_code": p.get("custom_code"),
            "timeout_secs": p.get("timeout_secs") or 300,
            "status": "pending",
            "created_at": now,
            "updated_at": now,
        }
        with _lock:
            _verifications[v["id"]] = v
        return _answer(200, {"data": v})

    return handler


def _verification_get(rec, vid: str):
    if (denied := _unauthorized(rec)) is not None:
        return denied
    with _lock:
        v = copy.deepcopy(_verifications.get(vid))
    if v is None:
        return error(404, "10005", "Resource not found", "The requested resource or URL could not be found.")
    return _answer(200, {"data": v})


def _check(number: str | None, p: dict) -> tuple[int, list[tuple[str, str]], bytes]:
    ok = p.get("code") == ACCEPTED_CODE or p.get("status") == "accepted"
    return _answer(200, {"data": {"phone_number": number, "response_code": "accepted" if ok else "rejected"}})


def _check_by_number(rec, number: str):
    if (denied := _unauthorized(rec)) is not None:
        return denied
    p = _json(rec)
    if p is None:
        return _bad_json()
    return _check(unquote(number), p)


def _check_by_id(rec, vid: str):
    if (denied := _unauthorized(rec)) is not None:
        return denied
    p = _json(rec)
    if p is None:
        return _bad_json()
    with _lock:
        v = _verifications.get(vid)
    if v is None:
        return error(404, "10005", "Resource not found", "The requested resource or URL could not be found.")
    return _check(v["phone_number"], p)


def _verify_profiles(rec):
    if (denied := _unauthorized(rec)) is not None:
        return denied
    return _answer(200, {"data": [], "meta": {"page_number": 1, "page_size": 25, "total_pages": 0, "total_results": 0}})


_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def routes(fake) -> list:
    sends = [
        ("/v2/messages", "SMS"),
        ("/v2/messages/long_code", "SMS"),
        ("/v2/messages/short_code", "SMS"),
        ("/v2/messages/number_pool", "SMS"),
        ("/v2/messages/alphanumeric_sender_id", "SMS"),
        ("/v2/messages/schedule", "SMS"),
        ("/v2/messages/whatsapp", "WHATSAPP"),
        ("/v2/messages/rcs", "RCS"),
    ]
    return [("POST", re.escape(path), _send(kind)) for path, kind in sends] + [
        ("POST", r"/v2/messages/group_mms", _send("MMS", group=True)),
        ("GET", rf"/v2/messages/(?P<mid>{_UUID})", _message_get),
        ("POST", r"/v2/verifications/sms", _verify("sms")),
        ("POST", r"/v2/verifications/call", _verify("call")),
        ("POST", r"/v2/verifications/flashcall", _verify("flashcall")),
        ("POST", r"/v2/verifications/whatsapp", _verify("whatsapp")),
        ("POST", r"/v2/verifications/by_phone_number/(?P<number>[^/]+)/actions/verify", _check_by_number),
        ("POST", rf"/v2/verifications/(?P<vid>{_UUID})/actions/verify", _check_by_id),
        ("GET", rf"/v2/verifications/(?P<vid>{_UUID})", _verification_get),
        ("GET", r"/v2/verify_profiles", _verify_profiles),
    ]
