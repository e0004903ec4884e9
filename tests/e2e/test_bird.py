"""messagebird 2.x (Bird) -> tollgate (plain listener) -> fake aggregator.

The Python SDK sends ``POST /messages`` as JSON with ``recipients`` as one
comma-joined string (or a bare number); the Go / Node / PHP SDKs send a JSON
array, of numbers too: both are covered (the latter with raw requests carrying
exactly such a body).  A refusal is HTTP 422 with MessageBird's error list,
which the SDK raises as ``messagebird.client.ErrorException`` (any other 4xx
would be a bare ``requests.HTTPError``).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import dateutil.parser
import messagebird.http_client as mb_http
import pytest
import requests
from messagebird.client import USER_AGENT, ErrorException

import e2e_numbers as N
import sdk_clients as S
from helpers import assert_forwarded_identically, assert_nothing_reached, blocked_params, only_request, wait_for

pytestmark = pytest.mark.needs_tollgate

MESSAGE_ID = re.compile(r"[0-9a-f]{32}")
TEXT = "Your code is 123456"
REFUSED = {"code": 9, "description": "no (correct) recipients found", "parameter": "recipient"}


@pytest.fixture
def responses(monkeypatch):
    """Every raw answer the SDK receives (it keeps none): it calls the module
    functions ``requests.post`` / ``requests.get``."""
    seen: list[requests.Response] = []
    real_post, real_get = requests.post, requests.get

    def post(*a, **kw):
        seen.append(real_post(*a, **kw))
        return seen[-1]

    def get(*a, **kw):
        seen.append(real_get(*a, **kw))
        return seen[-1]

    monkeypatch.setattr(mb_http.requests, "post", post)
    monkeypatch.setattr(mb_http.requests, "get", get)
    return seen


def _send(client, recipients, **params):
    return client.message_create(S.BIRD_ORIGINATOR, recipients, TEXT, params or None)


def _raw_send(base_url: str, body: dict) -> requests.Response:
    """What the Go / Node SDKs send: the same headers, `recipients` an array."""
    headers = {
        "Accept": "application/json",
        "Authorization": f"AccessKey {S.BIRD_ACCESS_KEY}",
        "User-Agent": USER_AGENT,
        "Content-Type": "application/json; charset=UTF-8",
    }
    return requests.post(base_url.rstrip("/") + "/messages", data=json.dumps(body).encode(), headers=headers,
                         timeout=15)


# ---- allowed: forwarded byte for byte ---------------------------------------


def test_message_allowed_is_byte_identical(fake, tollgate, responses):
    params = {"reference": "otp-1", "reportUrl": "https://platform.example/dlr"}
    _send(S.bird_client(fake.url), [N.ALLOWED_MAIN.e164], **params)
    direct = only_request(fake)
    fake.clear()
    msg = _send(S.bird_client(tollgate.url), [N.ALLOWED_MAIN.e164], **params)
    via = only_request(fake)
    assert_forwarded_identically(direct, via, fake)
    assert via.header("Authorization") == f"AccessKey {S.BIRD_ACCESS_KEY}"
    assert via.json()["recipients"] == N.ALLOWED_MAIN.e164
    r = responses[-1]
    assert r.status_code == 201 and r.content == via.response_body
    assert msg.id == via.response_json()["id"] and MESSAGE_ID.fullmatch(msg.id)
    assert msg.recipients["items"][0].recipient == int(N.ALLOWED_MAIN.digits)


@pytest.mark.parametrize("form", ["e164", "digits", "number"])
@pytest.mark.parametrize("case", N.ALLOWED, ids=lambda c: c.id)
def test_message_allowed_mobiles_reach_the_fake(fake, tollgate, case, form):
    """`+` or not, and a bare int (sent as a JSON number): all read as the number."""
    value = {"e164": case.e164, "digits": case.digits, "number": int(case.digits)}[form]
    msg = _send(S.bird_client(tollgate.url), [value] if form == "e164" else value)
    assert only_request(fake).json()["recipients"] == value
    assert msg.recipients["items"][0].recipient == int(case.digits)


def test_bulk_all_allowed_is_byte_identical(fake, tollgate):
    recipients = [N.ALLOWED[0].e164, N.ALLOWED[1].e164]
    _send(S.bird_client(fake.url), recipients)
    direct = only_request(fake)
    fake.clear()
    msg = _send(S.bird_client(tollgate.url), recipients)
    assert_forwarded_identically(direct, only_request(fake), fake)
    assert msg.recipients["totalCount"] == 2


def test_json_array_of_numbers_all_allowed_is_byte_identical(fake, tollgate):
    body = {"originator": S.BIRD_ORIGINATOR, "body": TEXT,
            "recipients": [int(N.ALLOWED[0].digits), int(N.ALLOWED[2].digits)]}
    assert _raw_send(fake.url, body).status_code == 201
    direct = only_request(fake)
    fake.clear()
    r = _raw_send(tollgate.url, body)
    via = only_request(fake)
    assert_forwarded_identically(direct, via, fake)
    assert r.status_code == 201 and r.content == via.response_body


# ---- blocked: MessageBird's 422, nothing forwarded --------------------------


@pytest.mark.parametrize("case", blocked_params())
def test_message_blocked(fake, tollgate, case, responses):
    with pytest.raises(ErrorException) as ei:
        _send(S.bird_client(tollgate.url), [case.e164])
    r = responses[-1]
    assert r.status_code == 422
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"errors": [REFUSED]}
    (err,) = ei.value.errors
    assert (err.code, err.description, err.parameter) == (9, "no (correct) recipients found", "recipient")
    assert_nothing_reached(fake)


def test_message_blocked_given_as_a_json_number(fake, tollgate):
    with pytest.raises(ErrorException) as ei:
        _send(S.bird_client(tollgate.url), int(N.FRAUD[0].digits))
    assert [e.code for e in ei.value.errors] == [9]
    assert_nothing_reached(fake)


def test_message_without_recipients_is_refused_as_messagebird_refuses_it(fake, tollgate, responses):
    with pytest.raises(ErrorException):
        _send(S.bird_client(fake.url), "")
    direct = responses[-1].json()
    fake.clear()
    with pytest.raises(ErrorException) as ei:
        _send(S.bird_client(tollgate.url), "")
    assert responses[-1].status_code == 422
    assert responses[-1].json() == direct
    assert [(e.code, e.parameter) for e in ei.value.errors] == [(9, "recipients")]
    assert_nothing_reached(fake)


# ---- a mix: the allowed are sent, the blocked listed as delivery_failed -----


def test_mixed_recipients_forward_only_the_allowed_and_list_the_blocked_as_failed(fake, tollgate):
    allowed, blocked = N.ALLOWED_MAIN, N.FRAUD[0]
    msg = _send(S.bird_client(tollgate.url), [allowed.e164, blocked.e164])
    via = only_request(fake)
    assert blocked.digits not in via.body.decode(), f"blocked number forwarded: {via.body!r}"
    assert via.json()["recipients"] == allowed.e164
    assert msg.id == via.response_json()["id"]
    items = {i.recipient: i.status for i in msg.recipients["items"]}
    assert items == {int(allowed.digits): "sent", int(blocked.digits): "delivery_failed"}
    assert (msg.recipients["totalCount"], msg.recipients["totalDeliveryFailedCount"]) == (2, 1)


def test_mixed_json_array_keeps_its_json_types(fake, tollgate):
    """A Go / Node body: the rewritten array keeps the kept numbers as numbers."""
    allowed, blocked = N.ALLOWED_MAIN, N.GEO[0]
    body = {"originator": S.BIRD_ORIGINATOR, "body": TEXT,
            "recipients": [int(allowed.digits), int(blocked.digits)]}
    r = _raw_send(tollgate.url, body)
    via = only_request(fake)
    assert blocked.digits not in via.body.decode()
    assert via.json()["recipients"] == [int(allowed.digits)]
    assert r.status_code == 201
    items = r.json()["recipients"]["items"]
    assert [(i["recipient"], i["status"]) for i in items] == [(int(allowed.digits), "sent"),
                                                             (int(blocked.digits), "delivery_failed")]


def test_all_recipients_blocked_sends_nothing(fake, tollgate):
    with pytest.raises(ErrorException) as ei:
        _send(S.bird_client(tollgate.url), [N.FRAUD[0].e164, N.GEO[0].e164])
    assert [e.code for e in ei.value.errors] == [9]
    assert_nothing_reached(fake)


# ---- other calls pass through -------------------------------------------------


def test_message_read_passes_through(fake, tollgate):
    mid = _send(S.bird_client(fake.url), [N.ALLOWED_MAIN.e164]).id
    S.bird_client(fake.url).message(mid)
    direct = fake.last()
    fake.clear()
    got = S.bird_client(tollgate.url).message(mid)
    via = only_request(fake)
    assert_forwarded_identically(direct, via, fake)
    assert got.id == mid and got.recipients["items"][0].status == "delivered"


def test_balance_passes_through(fake, tollgate):
    S.bird_client(fake.url).balance()
    direct = only_request(fake)
    fake.clear()
    bal = S.bird_client(tollgate.url).balance()
    assert_forwarded_identically(direct, only_request(fake), fake)
    assert (bal.payment, bal.type, bal.amount) == ("prepaid", "credits", 42.5)


# ---- held sends ---------------------------------------------------------------


def test_held_message_answers_a_message_object_then_release_forwards_it_once(fake, tollgate, admin, hold_number,
                                                                             responses):
    to = hold_number()
    params = {"reference": "otp-held", "reportUrl": "https://platform.example/dlr"}
    _send(S.bird_client(fake.url), [to], **params)
    direct = only_request(fake)
    fake.clear()

    client = S.bird_client(tollgate.url)
    msg = _send(client, [to], **params)
    assert responses[-1].status_code == 201
    assert MESSAGE_ID.fullmatch(msg.id), msg.id
    assert msg.href == f"https://rest.messagebird.com/messages/{msg.id}"
    assert (msg.direction, msg.originator, msg.body) == ("mt", S.BIRD_ORIGINATOR, TEXT)
    (item,) = msg.recipients["items"]
    assert (item.recipient, item.status) == (int(to.lstrip("+")), "sent")
    assert msg.createdDatetime is not None
    assert_nothing_reached(fake)

    held = admin.held_one(msg.id)
    assert held is not None and held["state"] == "held", held
    assert (held["provider"], held["route"]) == ("bird", "bird.messages")

    seen = client.message(msg.id)  # answered by tollgate for the held id
    assert seen.id == msg.id
    assert_nothing_reached(fake)

    released = admin.release(msg.id)
    via = only_request(fake)
    assert_forwarded_identically(direct, via, fake)
    assert released["state"] == "released"
    assert released["real_id"] == via.response_json()["id"] != msg.id
    fake.clear()
    assert admin.request("POST", f"/api/v1/held/{msg.id}/release").status_code == 409
    assert_nothing_reached(fake)


@dataclass
class _Report:
    method: str
    path: str  # path + query as received


class _ReportReceiver:
    """A platform's MessageBird status-report URL: MessageBird calls it with GET."""

    def __init__(self):
        self.got: list[_Report] = []
        self._lock = threading.Lock()
        rx = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _record(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                with rx._lock:
                    rx.got.append(_Report(self.command, self.path))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _record

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def url(self, tag: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/bird/dlr?tag={tag}"

    def for_tag(self, tag: str) -> list[_Report]:
        with self._lock:
            return [r for r in self.got if parse_qs(urlsplit(r.path).query).get("tag") == [tag]]

    def stop(self):
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def reports():
    rx = _ReportReceiver()
    yield rx
    rx.stop()


def test_rejected_hold_sends_messagebirds_status_report(fake, tollgate, admin, hold_number, reports):
    to = hold_number()
    tag = uuid.uuid4().hex
    client = S.bird_client(tollgate.url)
    msg = _send(client, [to], reference="otp-rejected", reportUrl=reports.url(tag))
    assert msg.recipients["items"][0].status == "sent"

    rejected = admin.reject(msg.id)
    assert rejected["state"] == "rejected"
    got = wait_for(lambda: reports.for_tag(tag), timeout=10, what="the status report")
    report = got[0]
    assert report.method == "GET"
    q = {k: v[0] for k, v in parse_qs(urlsplit(report.path).query).items()}
    assert (q["id"], q["recipient"], q["status"]) == (msg.id, to.lstrip("+"), "delivery_failed")
    assert dateutil.parser.isoparse(q["statusDatetime"]).utcoffset().total_seconds() == 0
    assert_nothing_reached(fake)

    seen = client.message(msg.id)
    assert seen.id == msg.id and seen.recipients["items"][0].status == "delivery_failed"
    assert_nothing_reached(fake)
    time.sleep(1.5)
    assert len(reports.for_tag(tag)) == 1, "a report answered 200 is not sent again"
