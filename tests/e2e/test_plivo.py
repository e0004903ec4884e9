"""plivo 4.x -> tollgate (plain listener) -> fake aggregator."""

from __future__ import annotations

import pytest
import plivo.exceptions as PE

import e2e_numbers as N
import sdk_clients as S
from helpers import assert_forwarded_identically, assert_nothing_reached, blocked_params, only_request

pytestmark = pytest.mark.needs_tollgate


def _client_capturing_responses():
    """A Plivo client plus the raw responses it receives (the SDK keeps none)."""
    client = S.plivo_client()
    seen = []
    client.session.hooks["response"].append(lambda r, *a, **kw: seen.append(r))
    return client, seen


def _send(client, dst, **kw):
    return client.messages.create(src=S.PLIVO_FROM, dst=dst, text="Your code is 123456", **kw)


def test_message_allowed_is_byte_identical(fake, tollgate):
    with S.plivo_base(fake.url):
        _send(S.plivo_client(), N.ALLOWED_MAIN.e164, url="https://example.com/status")
    direct = only_request(fake)
    fake.clear()
    with S.plivo_base(tollgate.url):
        client, seen = _client_capturing_responses()
        resp = _send(client, N.ALLOWED_MAIN.e164, url="https://example.com/status")
    via = only_request(fake)
    assert_forwarded_identically(direct, via, fake)
    assert seen[-1].status_code == 202 and seen[-1].content == via.response_body
    assert resp.message_uuid == via.response_json()["message_uuid"]
    assert resp.message == "message(s) queued"


@pytest.mark.parametrize("case", N.ALLOWED, ids=lambda c: c.id)
def test_message_allowed_mobiles_reach_the_fake(fake, tollgate, case):
    with S.plivo_base(tollgate.url):
        _send(S.plivo_client(), case.e164)
    assert only_request(fake).json()["dst"] == case.e164


@pytest.mark.parametrize("case", blocked_params())
def test_message_blocked(fake, tollgate, case):
    """Plivo raises GeoPermissionError for HTTP 403 on POST .../Message/.
    An invalid number may instead be a 400 (ValidationError), as Plivo does."""
    expected = (PE.GeoPermissionError, PE.ValidationError) if case.reason == "invalid" else PE.GeoPermissionError
    with S.plivo_base(tollgate.url):
        client, seen = _client_capturing_responses()
        with pytest.raises(expected) as ei:
            _send(client, case.e164)
    r = seen[-1]
    assert r.status_code in ((400, 403) if case.reason == "invalid" else (403,))
    body = r.json()
    assert isinstance(body.get("api_id"), str) and isinstance(body.get("error"), str), body
    assert ei.value.args == (body["error"],), "the SDK raises with the body's `error` text"
    assert_nothing_reached(fake)


def test_bulk_dst_never_forwards_a_blocked_number(fake, tollgate):
    """dst "A<B" with B blocked.  Whatever tollgate chooses (reject all, or
    forward only A as Plivo itself queues valid numbers), B never reaches the
    aggregator, and A is not silently lost if the SDK call succeeded."""
    allowed, blocked = N.ALLOWED_MAIN.e164, N.FRAUD[0].e164
    with S.plivo_base(tollgate.url):
        try:
            resp = _send(S.plivo_client(), f"{allowed}<{blocked}")
        except PE.GeoPermissionError:
            resp = None
    got = fake.snapshot()
    for rec in got:
        assert blocked.lstrip("+") not in rec.body.decode(), f"blocked number forwarded: {rec.body!r}"
    if resp is not None:
        assert len(got) == 1 and allowed in got[0].json()["dst"]
        assert len(resp.message_uuid) >= 1
    else:
        assert not got


def test_bulk_dst_all_allowed_is_byte_identical(fake, tollgate):
    dst = f"{N.ALLOWED[0].e164}<{N.ALLOWED[1].e164}"
    with S.plivo_base(fake.url):
        _send(S.plivo_client(), dst)
    direct = only_request(fake)
    fake.clear()
    with S.plivo_base(tollgate.url):
        resp = _send(S.plivo_client(), dst)
    assert_forwarded_identically(direct, only_request(fake), fake)
    assert len(resp.message_uuid) == 2


def test_message_get_passes_through(fake, tollgate):
    with S.plivo_base(fake.url):
        client = S.plivo_client()
        mid = _send(client, N.ALLOWED_MAIN.e164).message_uuid[0]
        client.messages.get(mid)
    direct = fake.last()
    fake.clear()
    with S.plivo_base(tollgate.url):
        client, seen = _client_capturing_responses()
        got = client.messages.get(mid)
    via = only_request(fake)
    assert_forwarded_identically(direct, via, fake)
    assert seen[-1].content == via.response_body
    assert got.message_uuid == mid and got.message_state == "delivered"


def test_message_list_passes_through(fake, tollgate):
    page = {"api_id": "x", "meta": {"limit": 20, "next": None, "offset": 0, "previous": None, "total_count": 0},
            "objects": []}
    fake.program("GET", r"/Message/\?", 200, page)
    with S.plivo_base(fake.url):
        S.plivo_client().messages.list(limit=20, offset=0)
    direct = only_request(fake)
    fake.clear()
    fake.program("GET", r"/Message/\?", 200, page)
    with S.plivo_base(tollgate.url):
        S.plivo_client().messages.list(limit=20, offset=0)
    assert_forwarded_identically(direct, only_request(fake), fake)
