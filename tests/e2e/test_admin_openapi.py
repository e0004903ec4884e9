"""The admin API's OpenAPI document (``src/admin/openapi.json``, served at
``/api/v1/openapi.json``) against REAL answers from a running tollgate.

Every answer below is checked with ``conforms()``: its status must be one
the document lists for that operation, its content type the documented one,
and its body must validate against the documented schema (JSON Schema
2020-12, resolved inside the document itself, formats checked).  The last
test makes sure every documented operation was exercised.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

import sdk_clients as S
from conftest import ADMIN_TOKEN, REPO
from helpers import fresh_mobile

pytestmark = pytest.mark.needs_tollgate

DOC_PATH = REPO / "src" / "admin" / "openapi.json"
DOC = json.loads(DOC_PATH.read_text())
DOC_URI = "urn:tollgate:admin-openapi"
REGISTRY = Registry().with_resource(DOC_URI, Resource.from_contents(DOC, default_specification=DRAFT202012))

CHECKED: set[tuple[str, str, int]] = set()


def _pointer(*parts: str) -> str:
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _deref(obj: dict) -> tuple[dict, tuple[str, ...]]:
    """A response object and its JSON-pointer parts, following one $ref."""
    ref = obj.get("$ref")
    if not ref:
        return obj, ()
    parts = tuple(ref.removeprefix("#/").split("/"))
    node = DOC
    for p in parts:
        node = node[p]
    return node, parts


def conforms(r: requests.Response, method: str, template: str):
    """Checks ``r`` against the document's operation ``method template``."""
    op = DOC["paths"][template][method.lower()]
    responses = op["responses"]
    status = str(r.status_code)
    assert status in responses, (f"{method} {template} answered {status}, which the document does not list "
                                 f"({sorted(responses)}): {r.text[:300]}")
    resp, parts = _deref(responses[status])
    if not parts:
        parts = ("paths", template, method.lower(), "responses", status)
    CHECKED.add((method.upper(), template, r.status_code))
    for name, h in resp.get("headers", {}).items():
        assert r.headers.get(name) is not None, f"{method} {template} {status}: no {name} header"
        Draft202012Validator(h["schema"]).validate(r.headers[name])
    content = resp.get("content")
    if not content:
        return None
    ctype = r.headers.get("Content-Type", "").split(";")[0].strip()
    assert ctype in content, f"{method} {template} {status}: Content-Type {ctype!r}, documented {sorted(content)}"
    if ctype != "application/json":
        return r.text
    body = r.json()
    ref = DOC_URI + "#" + _pointer(*parts, "content", "application/json", "schema")
    validator = Draft202012Validator({"$ref": ref}, registry=REGISTRY,
                                     format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, f"{method} {template} {status} does not match the document:\n" + "\n".join(
        f"  at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors[:10]
    ) + f"\nbody: {json.dumps(body)[:800]}"
    return body


@pytest.fixture
def call(tollgate):
    s = requests.Session()
    s.trust_env = False

    def do(method: str, template: str, path: str | None = None, token: str | None = ADMIN_TOKEN, **kw):
        headers = kw.pop("headers", {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        r = s.request(method, tollgate.admin_url + (path or template), headers=headers, timeout=15, **kw)
        return r, conforms(r, method, template)

    return do


def _hold(tollgate, hold_number, **kw) -> str:
    return S.twilio_client(tollgate.url).messages.create(
        to=hold_number(), from_=S.TWILIO_FROM, body="Your code is 123456", **kw).sid


# ---- the document itself --------------------------------------------------------


def test_the_document_is_valid_openapi_and_is_what_tollgate_serves(tollgate):
    validate_openapi(DOC)
    assert DOC["openapi"].startswith("3.1")
    served = requests.get(tollgate.admin_url + "/api/v1/openapi.json", timeout=10)
    assert served.status_code == 200 and served.headers["Content-Type"].startswith("application/json")
    assert served.json() == DOC
    assert DOC["components"]["securitySchemes"]["bearerAuth"] == {
        **DOC["components"]["securitySchemes"]["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert DOC["security"] == [{"bearerAuth": []}]


def test_the_document_names_every_route_the_api_serves():
    """The routes in ``src/admin/api.rs``'s router and the documented ones are the same."""
    src = (REPO / "src" / "admin" / "api.rs").read_text()
    served = set()
    for method, segs in re.findall(r'\(Method::(\w+), \[([^\]]*)\]\)\s*=>', src):
        parts = [p.strip() for p in segs.split(",")]
        path = "/api/v1/" + "/".join(p.strip('"') if p.startswith('"') else "{id}" for p in parts)
        served.add((method, path))
    documented = {(m.upper(), p) for p, ops in DOC["paths"].items() for m in ops
                  if p.startswith("/api/v1/") and p != "/api/v1/openapi.json"}
    assert served, "could not read the router"
    assert served == documented, f"served, not documented: {served - documented}; documented, not served: {documented - served}"
    for p, ops in DOC["paths"].items():
        for m, op in ops.items():
            if p.startswith("/api/v1/") and p != "/api/v1/openapi.json":
                assert "401" in op["responses"], f"{m} {p}: 401 not documented"
                assert op.get("security", DOC["security"]) == [{"bearerAuth": []}]
            else:
                assert op.get("security") == [], f"{m} {p} needs no token: security must be []"


# ---- real answers ------------------------------------------------------------------


def test_operations_endpoints(call):
    assert call("GET", "/healthz", token=None)[1] == {"status": "ok"}
    assert call("GET", "/readyz", token=None)[1] == {"status": "ready"}
    text = call("GET", "/metrics", token=None)[1]
    assert "tollgate_held_sends" in text
    call("GET", "/api/v1/openapi.json", token=None)


def test_held_list_release_reject_and_their_errors(fake, tollgate, call, hold_number, callbacks):
    sid_release = _hold(tollgate, hold_number)
    sid_reject = _hold(tollgate, hold_number, status_callback=callbacks.url("openapi"))

    _, listing = call("GET", "/api/v1/held")
    assert {sid_release, sid_reject} <= {h["id"] for h in listing["items"]}
    call("GET", "/api/v1/held", "/api/v1/held?state=all&limit=3")
    call("GET", "/api/v1/held", "/api/v1/held?state=released")
    r, _ = call("GET", "/api/v1/held", "/api/v1/held?state=bogus")
    assert r.status_code == 400

    r, row = call("POST", "/api/v1/held/{id}/release", f"/api/v1/held/{sid_release}/release")
    assert r.status_code == 200 and row["state"] == "released" and row["real_id"]
    r, row = call("POST", "/api/v1/held/{id}/reject", f"/api/v1/held/{sid_reject}/reject")
    assert r.status_code == 200 and row["state"] == "rejected"

    # 409: no longer held; 404: never held.
    for sid in (sid_release, sid_reject):
        for verb in ("release", "reject"):
            r, err = call("POST", f"/api/v1/held/{{id}}/{verb}", f"/api/v1/held/{sid}/{verb}")
            assert r.status_code == 409 and err["error"] == "conflict"
    for verb in ("release", "reject"):
        r, err = call("POST", f"/api/v1/held/{{id}}/{verb}", f"/api/v1/held/SM{'0' * 32}/{verb}")
        assert r.status_code == 404 and err["error"] == "not_found"


def test_decisions(tollgate, call, hold_number):
    _hold(tollgate, hold_number)
    _, body = call("GET", "/api/v1/decisions", "/api/v1/decisions?limit=50")
    assert body["items"], "no decisions"
    call("GET", "/api/v1/decisions", "/api/v1/decisions?action=hold&country=gb&since=0&limit=5")
    call("GET", "/api/v1/decisions", "/api/v1/decisions?action=block")


def test_lists_add_get_delete_and_errors(call):
    r, entry = call("POST", "/api/v1/lists", json={"scope": "range", "value": "+2348031", "action": "hold",
                                                    "ttl_seconds": 60, "note": "openapi"})
    assert r.status_code == 201 and entry["expires_at"]
    r, entry2 = call("POST", "/api/v1/lists", json={"scope": "country", "value": "ZW", "action": "block"})
    assert r.status_code == 201 and entry2["expires_at"] is None and entry2["note"] is None
    _, listing = call("GET", "/api/v1/lists")
    assert {entry["id"], entry2["id"]} <= {e["id"] for e in listing["items"]}
    for e in (entry, entry2):
        r, body = call("DELETE", "/api/v1/lists/{id}", f"/api/v1/lists/{e['id']}")
        assert r.status_code == 200 and body == {"deleted": e["id"]}
    r, _ = call("DELETE", "/api/v1/lists/{id}", f"/api/v1/lists/{entry['id']}")
    assert r.status_code == 404
    r, _ = call("DELETE", "/api/v1/lists/{id}", "/api/v1/lists/not-a-number")
    assert r.status_code == 400
    r, _ = call("POST", "/api/v1/lists", json={"scope": "number", "value": fresh_mobile(), "action": "maybe"})
    assert r.status_code == 400


def test_explain(call, hold_number):
    r, body = call("GET", "/api/v1/explain", "/api/v1/explain?number=%2B447400123456")
    assert body["classification"]["valid"] is True and body["decision"]["action"] == "allow"
    to = hold_number()
    _, body = call("GET", "/api/v1/explain", "/api/v1/explain?number=" + requests.utils.quote(to))
    assert body["decision"]["action"] == "hold" and body["decision"]["reasons"]
    _, body = call("GET", "/api/v1/explain", "/api/v1/explain?number=%2B447700900999")
    assert body["decision"]["action"] == "block"
    _, body = call("GET", "/api/v1/explain", "/api/v1/explain?number=banana")
    assert "error" in body["classification"]
    r, _ = call("GET", "/api/v1/explain", "/api/v1/explain")
    assert r.status_code == 400


def test_conversions(call):
    r, body = call("POST", "/api/v1/conversions", json={"to": "+447400123456"})
    assert r.status_code == 202 and body["recorded"] is True
    for bad in ({"to": "nope"}, {"number": "+447400123456"}):
        r, _ = call("POST", "/api/v1/conversions", json=bad)
        assert r.status_code == 400
    r, _ = call("POST", "/api/v1/conversions", data=b"{", headers={"Content-Type": "application/json"})
    assert r.status_code == 400


def test_reload_and_a_refused_reload(tollgate, call):
    r, body = call("POST", "/api/v1/reload")
    assert r.status_code == 200 and body == {"reloaded": True}
    good = tollgate.policy.read_text()
    try:
        tollgate.policy.write_text(good + "\n[thresholds]\nhold = 'not a number'\n")
        r, body = call("POST", "/api/v1/reload")
        assert r.status_code == 422 and body["reloaded"] is False and body["error"]
    finally:
        tollgate.policy.write_text(good)
    r, body = call("POST", "/api/v1/reload")
    assert r.status_code == 200


def test_unauthorized_answers(call):
    for method, template, path in [
        ("GET", "/api/v1/held", None),
        ("POST", "/api/v1/held/{id}/release", "/api/v1/held/SMx/release"),
        ("POST", "/api/v1/held/{id}/reject", "/api/v1/held/SMx/reject"),
        ("GET", "/api/v1/decisions", None),
        ("GET", "/api/v1/lists", None),
        ("POST", "/api/v1/lists", None),
        ("DELETE", "/api/v1/lists/{id}", "/api/v1/lists/1"),
        ("GET", "/api/v1/explain", "/api/v1/explain?number=1"),
        ("POST", "/api/v1/reload", None),
        ("POST", "/api/v1/conversions", None),
    ]:
        for token in (None, "wrong"):
            r, body = call(method, template, path, token=token)
            assert r.status_code == 401 and body["error"] == "unauthorized"


def test_zz_every_documented_operation_was_checked():
    """Runs last in this file: every operation was answered, and for the
    API every documented status except 500 was produced at least once."""
    for template, ops in DOC["paths"].items():
        for method in ops:
            seen = {s for (m, t, s) in CHECKED if (m, t) == (method.upper(), template)}
            assert seen, f"{method.upper()} {template}: never checked against a real answer"
            documented = {int(s) for s in ops[method]["responses"]} - {500, 503}
            assert documented <= seen, f"{method.upper()} {template}: documented {sorted(documented)}, " \
                                       f"produced {sorted(seen)}"
