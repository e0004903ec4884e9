"""Bird (MessageBird) SMS API for the fake aggregator: rest.messagebird.com.

Shapes follow the official SDKs' fixtures and the API as they record it
(messagebird/go-rest-api sms/testdata/messageObject.json, python-rest-api
tests, messagebird-nodejs lib/test.js):

* ``POST /messages`` (JSON or URL-encoded; ``Authorization: AccessKey <key>``)
  -> 201 and a Message object; every recipient is listed as an integer with
  status ``sent``.  ``recipients`` may be a comma-joined string, an array of
  strings or numbers, or one number.  Unusable recipients are left out; when
  none is left: 422 ``{"errors":[{"code":9,"description":"no (correct)
  recipients found","parameter":"recipients"}]}``.
* ``GET /messages/{id}`` -> 200, the same Message, every recipient
  ``delivered`` (404 code 20 for an unknown id).
* ``GET /balance`` -> 200 ``{"payment":"prepaid","type":"credits","amount":42.5}``.
* No or wrong auth -> 401 code 2 "Request not allowed (incorrect access_key)".
"""

from __future__ import annotations

import copy
import datetime
import json
import re
import secrets
import threading
from urllib.parse import parse_qs

JSON_CT = ("Content-Type", "application/json")

_lock = threading.Lock()
_messages: dict[str, dict] = {}

# An MSISDN as MessageBird takes it: international, optional '+', 7-15 digits.
_MSISDN = re.compile(r"\+?[1-9][0-9]{6,14}")


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def _answer(status: int, body) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, [JSON_CT], json.dumps(body).encode()


def _errors(status: int, *errors: tuple[int, str, object]):
    return _answer(status, {"errors": [{"code": c, "description": d, "parameter": p} for c, d, p in errors]})


def _authorized(rec) -> bool:
    auth = rec.header("Authorization") or ""
    return auth.startswith("AccessKey ") and len(auth) > len("AccessKey ")


def _params(rec) -> dict:
    ct = (rec.header("Content-Type") or "").split(";")[0].strip().lower()
    if ct == "application/json" or (not ct and rec.body.lstrip()[:1] in (b"{", b"[")):
        v = json.loads(rec.body or b"{}")
        return v if isinstance(v, dict) else {}
    form = parse_qs(rec.body.decode("utf-8"), keep_blank_values=True)
    out = {k.removesuffix("[]"): (v if k.endswith("[]") else v[0]) for k, v in form.items()}
    return out


def _recipients(value) -> list[int]:
    """Every usable MSISDN in `recipients`, as MessageBird lists them (ints)."""
    raw: list[str] = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, bool) or item is None:
            continue
        raw += str(item).split(",")
    return [int(r.strip().lstrip("+")) for r in raw if _MSISDN.fullmatch(r.strip())]


def _message_create(rec):
    if not _authorized(rec):
        return _errors(401, (2, "Request not allowed (incorrect access_key)", "access_key"))
    try:
        p = _params(rec)
    except (ValueError, UnicodeDecodeError):
        return _errors(422, (21, "Bad request", None))
    missing = []
    recipients = _recipients(p.get("recipients"))
    if not recipients:
        missing.append((9, "no (correct) recipients found", "recipients"))
    if not p.get("originator"):
        missing.append((9, "originator is required", "originator"))
    if not p.get("body"):
        missing.append((9, "body is required", "body"))
    if missing:
        return _errors(422, *missing)
    mid = secrets.token_hex(16)
    now = _now()
    msg = {
        "id": mid,
        "href": f"https://rest.messagebird.com/messages/{mid}",
        "direction": "mt",
        "type": p.get("type") or "sms",
        "originator": p["originator"],
        "body": p["body"],
        "reference": p.get("reference"),
        "validity": p.get("validity"),
        "gateway": 10,
        "typeDetails": p.get("typeDetails") or {},
        "datacoding": p.get("datacoding") or "plain",
        "mclass": p.get("mclass", 1),
        "scheduledDatetime": p.get("scheduledDatetime"),
        "createdDatetime": now,
        "recipients": {
            "totalCount": len(recipients),
            "totalSentCount": len(recipients),
            "totalDeliveredCount": 0,
            "totalDeliveryFailedCount": 0,
            "items": [
                {"recipient": r, "status": "sent", "statusDatetime": now, "messagePartCount": 1} for r in recipients
            ],
        },
    }
    with _lock:
        _messages[mid] = msg
    return _answer(201, msg)


def _message_read(rec, mid: str):
    if not _authorized(rec):
        return _errors(401, (2, "Request not allowed (incorrect access_key)", "access_key"))
    with _lock:
        msg = copy.deepcopy(_messages.get(mid))
    if msg is None:
        return _errors(404, (20, "message not found", None))
    r = msg["recipients"]
    for item in r["items"]:
        item["status"] = "delivered"
    r["totalSentCount"], r["totalDeliveredCount"] = 0, len(r["items"])
    return _answer(200, msg)


def _balance(rec):
    if not _authorized(rec):
        return _errors(401, (2, "Request not allowed (incorrect access_key)", "access_key"))
    return _answer(200, {"payment": "prepaid", "type": "credits", "amount": 42.5})


def routes(fake) -> list:
    return [
        ("POST", r"/messages", _message_create),
        ("GET", r"/messages/(?P<mid>[0-9a-f]{32})", _message_read),
        ("GET", r"/balance", _balance),
    ]
