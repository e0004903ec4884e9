"""The admin API as an operator meets it: the bearer token on every
``/api/`` route (and nothing else), Prometheus ``/metrics``, the decision
audit log (one row per decision), and run-time lists that apply at once,
persist and expire.

Response shapes are checked against the OpenAPI document in
``test_admin_openapi.py``.
"""

from __future__ import annotations

import base64
import collections
import re
import time

import pytest
import requests
from twilio.base.exceptions import TwilioRestException

import e2e_numbers as N
import sdk_clients as S
from conftest import ADMIN_TOKEN
from helpers import AdminApi, assert_nothing_reached, fresh_mobile, only_request, wait_for

pytestmark = pytest.mark.needs_tollgate

# Every admin API route (and two that do not exist: the token is checked first).
API_ROUTES = [
    ("GET", "/api/v1/held"),
    ("GET", "/api/v1/held?state=all"),
    ("POST", "/api/v1/held/{sid}/release"),
    ("POST", "/api/v1/held/{sid}/reject"),
    ("GET", "/api/v1/decisions?limit=5"),
    ("GET", "/api/v1/lists"),
    ("POST", "/api/v1/lists"),
    ("DELETE", "/api/v1/lists/{list_id}"),
    ("GET", "/api/v1/explain?number=%2B447400123456"),
    ("POST", "/api/v1/reload"),
    ("POST", "/api/v1/conversions"),
    ("GET", "/api/v1/no-such-thing"),
    ("GET", "/api/v2/held"),
]

BAD_AUTH = {
    "missing": None,
    "wrong": f"Bearer {'x' * len(ADMIN_TOKEN)}",
    "prefix-of-token": f"Bearer {ADMIN_TOKEN[:-1]}",
    "token-plus-one": f"Bearer {ADMIN_TOKEN}0",
    "empty-bearer": "Bearer ",
    "basic-scheme": "Basic " + base64.b64encode(f"admin:{ADMIN_TOKEN}".encode()).decode(),
    "raw-token": ADMIN_TOKEN,
}


def _send(base_url, to, **kw):
    kw.setdefault("from_", S.TWILIO_FROM)
    return S.twilio_client(base_url).messages.create(to=to, body="Your code is 123456", **kw)


@pytest.mark.parametrize("how", list(BAD_AUTH))
def test_every_api_route_refuses_missing_and_wrong_tokens(fake, tollgate, admin, hold_number, how):
    to = hold_number()
    sid = _send(tollgate.url, to).sid
    entry = admin.add_list("country", "ZW", "block", ttl_seconds=600, note="auth test")
    held_before = admin.held_one(sid)
    lists_before = admin.lists()

    for method, path in API_ROUTES:
        url = tollgate.admin_url + path.format(sid=sid, list_id=entry["id"])
        headers = {} if BAD_AUTH[how] is None else {"Authorization": BAD_AUTH[how]}
        body = {"scope": "number", "value": fresh_mobile(), "action": "block"} if path.endswith("lists") else None
        if path.endswith("conversions"):
            body = {"to": to}
        r = requests.request(method, url, headers=headers, json=body, timeout=10)
        assert r.status_code == 401, f"{how}: {method} {path} -> {r.status_code} {r.text[:200]}"
        assert r.headers.get("WWW-Authenticate") == "Bearer", (method, path, r.headers)
        assert r.json()["error"] == "unauthorized"
        assert ADMIN_TOKEN not in r.text

    # Nothing happened: not released, not rejected, no list change, nothing sent.
    assert admin.held_one(sid) == held_before
    assert admin.lists() == lists_before
    assert_nothing_reached(fake)
    admin.delete_list(entry["id"])


def test_the_right_token_is_accepted(tollgate):
    r = requests.get(tollgate.admin_url + "/api/v1/held", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)
    assert r.status_code == 200 and "items" in r.json()


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/api/v1/openapi.json", "/", "/console"])
def test_health_metrics_openapi_and_console_need_no_token(tollgate, path):
    r = requests.get(tollgate.admin_url + path, timeout=10)
    assert r.status_code == 200, (path, r.status_code, r.text[:200])


def test_console_page_is_self_contained_and_served_with_a_strict_csp(tollgate):
    r = requests.get(tollgate.admin_url + "/console", timeout=10)
    assert r.headers["Content-Type"].startswith("text/html")
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "unsafe-eval" not in csp
    assert r.headers.get("X-Frame-Options") == "DENY"
    html = r.text
    # No external assets: nothing loaded from another origin.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.I), "an external asset"
    assert "@import" not in html
    # No data in the page itself: it all comes from the API after sign-in.
    assert "tollgate" in html and ADMIN_TOKEN not in html


# ---- /metrics ---------------------------------------------------------------


METRIC = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$')


def parse_metrics(text: str) -> dict[tuple[str, frozenset], float]:
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = METRIC.match(line)
        assert m, f"not Prometheus text: {line!r}"
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m["labels"] or ""))
        out[(m["name"], labels)] = float(m["value"])
    return out


def decisions_by_action(metrics: dict, action: str, route: str = "twilio.messages") -> float:
    return sum(v for (name, labels), v in metrics.items()
               if name == "tollgate_decisions_total" and ("action", action) in labels and ("route", route) in labels)


def test_metrics_count_decisions_by_action_and_show_the_held_queue_depth(fake, tollgate, admin, hold_number):
    before = parse_metrics(admin.metrics())
    _send(tollgate.url, N.ALLOWED_MAIN.e164)
    with pytest.raises(TwilioRestException):
        _send(tollgate.url, N.FRAUD[0].e164)
    held = _send(tollgate.url, hold_number())
    after = parse_metrics(admin.metrics())

    for action in ("allow", "block", "hold"):
        assert decisions_by_action(after, action) - decisions_by_action(before, action) == 1, action
    assert ("tollgate_decisions_total", frozenset({("provider", "twilio"), ("route", "twilio.messages"),
                                                   ("action", "hold"), ("country", "GB")})) in after
    depth = after[("tollgate_held_sends", frozenset())]
    assert depth == len(admin.held()) >= 1
    text = admin.metrics()
    assert "# TYPE tollgate_held_sends gauge" in text
    assert "# TYPE tollgate_decision_seconds histogram" in text

    admin.reject(held.sid)
    assert parse_metrics(admin.metrics())[("tollgate_held_sends", frozenset())] == depth - 1


# ---- the decision audit log ---------------------------------------------------


def test_audit_log_has_one_row_per_decision(fake, tollgate, admin, hold_number):
    t0 = int(time.time() * 1000)
    sends = collections.Counter()
    for case in N.ALLOWED[:2]:
        _send(tollgate.url, case.e164)
        sends["allow"] += 1
    for case in (N.FRAUD[0], N.GEO[0]):
        with pytest.raises(TwilioRestException):
            _send(tollgate.url, case.e164)
        sends["block"] += 1
    to = hold_number()
    _send(tollgate.url, to)
    sends["hold"] += 1
    with S.plivo_base(tollgate.url):
        S.plivo_client().messages.create(src=S.PLIVO_FROM, dst=N.ALLOWED[2].e164, text="hi")
    sends["allow"] += 1

    total = sum(sends.values())
    rows = wait_for(lambda: (r := admin.decisions(since=t0, limit=1000)) and len(r) >= total and r,
                    timeout=10, what=f"{total} audit rows")
    time.sleep(0.6)  # the writer batches every 200 ms: anything extra would be there now
    rows = admin.decisions(since=t0, limit=1000)
    assert len(rows) == total, [(r["action"], r["to"]) for r in rows]
    assert collections.Counter(r["action"] for r in rows) == sends
    assert [r["ts"] for r in rows] == sorted((r["ts"] for r in rows), reverse=True), "not newest first"
    assert all(r["ts"] >= t0 for r in rows)
    by_outcome = {(r["action"], r["outcome"]) for r in rows}
    assert by_outcome == {("allow", "forwarded"), ("block", "rejected"), ("hold", "held")}
    # Masked numbers only: the audit log is not a phone book.
    for r in rows:
        assert "*" in r["to"]
        assert r["to"] not in {c.e164 for c in N.ALLOWED + N.FRAUD + N.GEO} and r["to"] != to
    # Filters.
    assert [r["action"] for r in admin.decisions(since=t0, action="hold")] == ["hold"]
    assert {r["country"] for r in admin.decisions(since=t0, country="kp")} == {"KP"}
    assert len(admin.decisions(since=t0, limit=2)) == 2


# ---- run-time lists -----------------------------------------------------------


def test_runtime_list_entries_apply_at_once_and_deleting_them_lifts_them(fake, tollgate, admin):
    to = fresh_mobile()
    entry = admin.add_list("number", to, "block", note="fraud ring 42")
    assert (entry["scope"], entry["value"], entry["action"], entry["note"]) == ("number", to, "block", "fraud ring 42")
    assert entry["expires_at"] is None and isinstance(entry["id"], int)
    assert entry in admin.lists()
    with pytest.raises(TwilioRestException) as ei:
        _send(tollgate.url, to)
    assert ei.value.code == 21408
    assert_nothing_reached(fake)
    ex = admin.ok("GET", "/api/v1/explain", params={"number": to})
    assert ex["decision"]["action"] == "block"

    assert admin.delete_list(entry["id"]).json() == {"deleted": entry["id"]}
    assert all(e["id"] != entry["id"] for e in admin.lists())
    assert admin.delete_list(entry["id"]).status_code == 404
    msg = _send(tollgate.url, to)
    assert only_request(fake).form()["To"] == [to] and msg.status == "queued"


def test_runtime_list_entries_expire_after_their_ttl(fake, tollgate, admin):
    to = fresh_mobile()
    entry = admin.add_list("number", to, "hold", ttl_seconds=1)
    assert entry["expires_at"] - entry["created_at"] == 1000
    assert any(e["id"] == entry["id"] for e in admin.lists())
    time.sleep(1.2)
    assert all(e["id"] != entry["id"] for e in admin.lists()), "an expired entry is still listed"
    # Out of force within a couple of seconds of its TTL (checked once a second).
    wait_for(lambda: admin.ok("GET", "/api/v1/explain", params={"number": to})["decision"]["action"] == "allow",
             timeout=4, what="the expired run-time list entry to stop applying")
    _send(tollgate.url, to)
    assert only_request(fake).form()["To"] == [to]


def test_runtime_list_entries_are_validated(tollgate, admin):
    before = admin.lists()
    for body in (
        {"scope": "planet", "value": "Mars", "action": "block"},
        {"scope": "number", "value": "+447400900001", "action": "explode"},
        {"scope": "country", "value": "Narnia", "action": "block"},
        {"scope": "number", "value": "+447400900001", "action": "block", "colour": "red"},
        {"scope": "number"},
    ):
        r = admin.request("POST", "/api/v1/lists", json=body)
        assert r.status_code == 400, (body, r.status_code, r.text)
        assert r.json()["error"] == "bad_request"
    r = admin.request("POST", "/api/v1/lists", data="not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert admin.delete_list("abc").status_code == 400  # type: ignore[arg-type]
    assert admin.lists() == before


def test_a_hold_list_shows_in_explain_and_conversions_are_accepted(tollgate, admin, hold_number):
    to = hold_number()
    ex = admin.ok("GET", "/api/v1/explain", params={"number": to})
    assert ex["classification"]["e164"] == to and ex["classification"]["country"] == "GB"
    assert ex["decision"]["action"] == "hold"
    assert admin.ok("POST", "/api/v1/conversions", 202, json={"to": N.ALLOWED_MAIN.e164})["recorded"] is True
    assert admin.request("POST", "/api/v1/conversions", json={"to": "not a number"}).status_code == 400


def test_a_second_admin_client_sees_the_same_queue(tollgate, hold_number):
    """Two analysts: one releases, the other's release is a conflict."""
    a, b = AdminApi(tollgate.admin_url, ADMIN_TOKEN), AdminApi(tollgate.admin_url, ADMIN_TOKEN)
    sid = _send(tollgate.url, hold_number()).sid
    assert a.release(sid)["state"] == "released"
    r = b.request("POST", f"/api/v1/held/{sid}/release")
    assert r.status_code == 409 and r.json()["error"] == "conflict"
