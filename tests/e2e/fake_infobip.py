"""Infobip SMS for the fake aggregator: ``routes(fake)`` -> (method, path regex, handler).

Shapes follow the Infobip SMS OpenAPI (3.210.0) examples: v2
``/sms/2/text/advanced`` (and its v1 / binary twins, the legacy
``text/single`` / ``text/multi``) answer ``{"bulkId"?, "messages": [{"messageId",
"status", "to"}]}``; v3 ``/sms/3/messages`` answers ``messages[]`` with
``destination`` and ``details.messageCount``.  Every destination is accepted
(status 26 PENDING_ACCEPTED); a request without messages or destinations is a
400 in the version's error shape (``requestError.serviceException`` / ``ApiError``),
which is what a drop rewrite that left ``"destinations": []`` would get.

Sent messages are remembered so the report / log look-ups (``GET
/sms/{1,3}/reports|logs?messageId=``) answer for them.

The module must not import fake_aggregator (it is registered by it).
"""

from __future__ import annotations

import datetime
import json
import secrets
import threading
from typing import Optional
from urllib.parse import parse_qs

JSON_CT = ("Content-Type", "application/json")
PENDING = {"groupId": 1, "groupName": "PENDING", "id": 26, "name": "PENDING_ACCEPTED",
           "description": "Message sent to next instance"}
DELIVERED = {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET",
             "description": "Message delivered to handset"}
NO_ERROR = {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR", "description": "No Error",
            "permanent": False}

_lock = threading.Lock()
_sent: dict[str, dict] = {}  # messageId -> {"to", "bulkId", "version", "sender"}


def _id() -> str:
    """Infobip-style numeric message / bulk id (the spec shows 19 digits)."""
    return f"{secrets.randbelow(10**19):019d}"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _json(status: int, body) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, [JSON_CT], json.dumps(body, separators=(",", ":")).encode()


def _v2_error(text: str = "Bad request") -> tuple[int, list, bytes]:
    return _json(400, {"requestError": {"serviceException": {"messageId": "BAD_REQUEST", "text": text}}})


def _v3_error(prop: str, violation: str) -> tuple[int, list, bytes]:
    return _json(400, {"errorCode": "E400", "description": "Request cannot be processed.",
                       "action": "Check the syntax, violations and adjust the request.",
                       "violations": [{"property": prop, "violation": violation}], "resources": []})


def _body(rec) -> Optional[dict]:
    try:
        v = json.loads(rec.body or b"null")
    except ValueError:
        return None
    return v if isinstance(v, dict) else None


def _remember(mid: str, to: str, bulk: Optional[str], version: str, sender: Optional[str]) -> None:
    with _lock:
        _sent[mid] = {"to": to, "bulkId": bulk, "version": version, "sender": sender}


def _answer(version: str, pairs: list[tuple[str, Optional[str]]]) -> tuple[int, list, bytes]:
    """pairs: (to, sender) per destination -> the send answer."""
    bulk = _id() if len(pairs) > 1 else None
    messages = []
    for to, sender in pairs:
        mid = _id()
        _remember(mid, to, bulk, version, sender)
        if version == "v3":
            messages.append({"messageId": mid, "status": dict(PENDING), "destination": to,
                             "details": {"messageCount": 1}})
        else:
            messages.append({"messageId": mid, "status": dict(PENDING), "to": to})
    out = {"bulkId": bulk, "messages": messages} if bulk else {"messages": messages}
    return _json(200, out)


def _advanced(rec, **_):
    """v2 / v1 text and binary advanced: messages[].destinations[].to."""
    b = _body(rec)
    msgs = b.get("messages") if b else None
    if not isinstance(msgs, list) or not msgs:
        return _v2_error()
    pairs = []
    for m in msgs:
        dests = m.get("destinations") if isinstance(m, dict) else None
        if not isinstance(dests, list) or not dests:
            return _v2_error()
        for d in dests:
            to = d.get("to") if isinstance(d, dict) else None
            if not isinstance(to, str) or not to:
                return _v2_error()
            pairs.append((to, m.get("from")))
    return _answer("v2", pairs)


def _v3(rec, **_):
    b = _body(rec)
    msgs = b.get("messages") if b else None
    if not isinstance(msgs, list) or not msgs:
        return _v3_error("messages", "must not be empty")
    pairs = []
    for i, m in enumerate(msgs):
        dests = m.get("destinations") if isinstance(m, dict) else None
        if not isinstance(dests, list) or not dests:
            return _v3_error(f"messages[{i}].destinations", "must not be empty")
        if not isinstance(m.get("content"), dict):
            return _v3_error(f"messages[{i}].content", "must not be null")
        for j, d in enumerate(dests):
            to = d.get("to") if isinstance(d, dict) else None
            if not isinstance(to, str) or not to:
                return _v3_error(f"messages[{i}].destinations[{j}].to", "must not be blank")
            pairs.append((to, m.get("sender")))
    return _answer("v3", pairs)


def _tos(value) -> list[str]:
    if isinstance(value, str) and value:
        return [value]
    if isinstance(value, list) and value and all(isinstance(x, str) and x for x in value):
        return list(value)
    return []


def _single(rec, **_):
    """Legacy text/single: {"from", "to": "…" | ["…"], "text"}."""
    b = _body(rec)
    tos = _tos(b.get("to")) if b else []
    if not tos:
        return _v2_error()
    return _answer("v2", [(t, b.get("from")) for t in tos])


def _multi(rec, **_):
    """Legacy text/multi: {"messages": [{"from", "to", "text"}]}."""
    b = _body(rec)
    msgs = b.get("messages") if b else None
    if not isinstance(msgs, list) or not msgs:
        return _v2_error()
    pairs = []
    for m in msgs:
        tos = _tos(m.get("to")) if isinstance(m, dict) else []
        if not tos:
            return _v2_error()
        pairs += [(t, m.get("from")) for t in tos]
    return _answer("v2", pairs)


def _query_send(rec, version: str):
    q = {k: v[0] for k, v in parse_qs(rec.query).items()}
    tos = [t for t in q.get("to", "").split(",") if t]
    if not tos:
        return _v2_error() if version == "v2" else _v3_error("to", "must not be blank")
    return _answer(version, [(t, q.get("from") or q.get("sender")) for t in tos])


def _report(rec, version: str):
    """Delivery reports / logs for the messages this fake accepted."""
    q = {k: v[0] for k, v in parse_qs(rec.query).items()}
    with _lock:
        items = [(mid, m) for mid, m in _sent.items()
                 if (q.get("messageId") in (None, mid)) and (q.get("bulkId") in (None, m["bulkId"]))]
    results = []
    for mid, m in items[: int(q.get("limit") or 50)]:
        r = {"bulkId": m["bulkId"], "messageId": mid, "to": m["to"], "sentAt": _now(), "doneAt": _now(),
             "price": {"pricePerMessage": 0.01, "currency": "EUR"}, "status": dict(DELIVERED),
             "error": dict(NO_ERROR)}
        if m["bulkId"] is None:
            del r["bulkId"]
        if version == "v3":
            r["messageCount"] = 1
            if m["sender"]:
                r["sender"] = m["sender"]
        else:
            r["smsCount"] = 1
        results.append(r)
    return _json(200, {"results": results})


def _conversion(rec, message_id: str):
    return _json(200, {"processKey": message_id, "status": "SUCCESS"})


def routes(fake) -> list:
    """(method, path regex, handler(rec, **groups) -> (status, headers, body))."""
    return [
        ("POST", r"/sms/(?:1|2)/(?:text|binary)/advanced", _advanced),
        ("POST", r"/sms/3/messages", _v3),
        ("POST", r"/sms/(?:1|2)/text/single", _single),
        ("POST", r"/sms/(?:1|2)/text/multi", _multi),
        ("GET", r"/sms/1/text/query", lambda rec: _query_send(rec, "v2")),
        ("GET", r"/sms/3/text/query", lambda rec: _query_send(rec, "v3")),
        ("GET", r"/sms/1/(?:reports|logs)", lambda rec: _report(rec, "v2")),
        ("GET", r"/sms/3/(?:reports|logs)", lambda rec: _report(rec, "v3")),
        ("POST", r"/ct/1/log/end/(?P<message_id>[^/]+)", _conversion),
    ]
