"""telnyx 4.x (Messaging and Verify API v2) -> tollgate (plain listener) -> fake aggregator.

The SDK raises ``telnyx.BadRequestError`` for an HTTP 400 (``PermissionDeniedError``
403, ``UnprocessableEntityError`` 422, all ``telnyx.APIStatusError``) and keeps
the decoded ``{"errors":[{"code","title","detail","source","meta"}]}`` in
``e.body``; that is what a platform reads, so that is what is checked here.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid

import pytest
import telnyx

import e2e_numbers as N
import sdk_clients as S
from helpers import assert_forwarded_identically, assert_nothing_reached, blocked_params, only_request, wait_for

pytestmark = pytest.mark.needs_tollgate

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TEXT = "Your code is 123456"

# The route file's refusals (routes/telnyx.toml), per reason: (status, code, title).
MESSAGE_REFUSALS = {
    "invalid": (400, "40310", "Invalid 'to' address"),
    "line_type": (400, "40310", "Invalid 'to' address"),
    "geo": (400, "40309", "Invalid destination region"),
    "fraud": (400, "40309", "Invalid destination region"),
}
VERIFY_REFUSALS = {
    "invalid": (400, "10002", "Invalid phone number"),
    "line_type": (400, "10002", "Invalid phone number"),
    "geo": (400, "40309", "Invalid destination region"),
    "fraud": (400, "40309", "Invalid destination region"),
}


@contextlib.contextmanager
def _responses(client):
    """The raw httpx responses the SDK receives (an httpx event hook on the
    SDK's own httpx.Client: it changes nothing on the wire)."""
    seen: list = []
    hooks = client._client.event_hooks["response"]  # noqa: SLF001 - the SDK keeps its httpx.Client there
    hooks.append(seen.append)
    try:
        yield seen
    finally:
        hooks.remove(seen.append)


def _send(client, to, **kw):
    kw.setdefault("from_", S.TELNYX_FROM)
    return client.messages.send(to=to, text=TEXT, **kw)


def _verify(client, number):
    return client.verifications.trigger_sms(phone_number=number, verify_profile_id=S.TELNYX_VERIFY_PROFILE)


def _assert_refusal(e: telnyx.APIStatusError, expected, pointer: str, fake) -> None:
    status, code, title = expected
    assert isinstance(e, telnyx.BadRequestError) and e.status_code == status
    r = e.response
    assert r.headers.get("content-type", "").startswith("application/json")
    body = r.json()
    assert e.body == body, "the SDK exposes the decoded body"
    (err,) = body["errors"]
    assert (err["code"], err["title"]) == (code, title), err
    assert isinstance(err["detail"], str) and err["detail"]
    assert err["source"] == {"pointer": pointer}
    assert err["meta"] == {"url": f"https://developers.telnyx.com/docs/overview/errors/{code}"}
    assert_nothing_reached(fake)


# ---- messages: allowed ---------------------------------------------------------


def test_message_allowed_is_byte_identical(fake, tollgate):
    kw = dict(webhook_url="https://platform.example/telnyx/webhooks", messaging_profile_id=S.TELNYX_MESSAGING_PROFILE)
    _send(S.telnyx_client(fake.url), N.ALLOWED_MAIN.e164, **kw)
    direct = only_request(fake)
    assert (direct.method, direct.target) == ("POST", "/v2/messages")
    assert direct.header("Authorization") == f"Bearer {S.TELNYX_API_KEY}"
    fake.clear()
    client = S.telnyx_client(tollgate.url)
    with _responses(client) as seen:
        resp = _send(client, N.ALLOWED_MAIN.e164, **kw)
    via = only_request(fake)
    assert_forwarded_identically(direct, via, fake)
    assert seen[-1].status_code == 200 and seen[-1].content == via.response_body
    assert resp.data.id == via.response_json()["data"]["id"]
    assert (resp.data.to[0].phone_number, resp.data.to[0].status) == (N.ALLOWED_MAIN.e164, "queued")


@pytest.mark.parametrize("case", N.ALLOWED, ids=lambda c: c.id)
def test_message_allowed_mobiles_reach_the_fake(fake, tollgate, case):
    _send(S.telnyx_client(tollgate.url), case.e164)
    assert only_request(fake).json()["to"] == case.e164


# ---- messages: blocked ---------------------------------------------------------


@pytest.mark.parametrize("case", blocked_params())
def test_message_blocked(fake, tollgate, case):
    with pytest.raises(telnyx.BadRequestError) as ei:
        _send(S.telnyx_client(tollgate.url), case.e164)
    _assert_refusal(ei.value, MESSAGE_REFUSALS[case.reason], "/to", fake)


# Every messaging send endpoint is scored, not only /v2/messages: the siblings
# would otherwise ride the /v2/messages passthrough.
SIBLINGS = {
    "long_code": lambda c, to: c.messages.send_long_code(from_=S.TELNYX_FROM, to=to, text=TEXT),
    "short_code": lambda c, to: c.messages.send_short_code(from_="22000", to=to, text=TEXT),
    "number_pool": lambda c, to: c.messages.send_number_pool(
        messaging_profile_id=S.TELNYX_MESSAGING_PROFILE, to=to, text=TEXT),
    "alphanumeric": lambda c, to: c.messages.send_with_alphanumeric_sender(
        from_="Tollgate", messaging_profile_id=S.TELNYX_MESSAGING_PROFILE, to=to, text=TEXT),
    "schedule": lambda c, to: c.messages.schedule(
        from_=S.TELNYX_FROM, to=to, text=TEXT, send_at="2030-01-01T00:00:00Z"),
}


@pytest.mark.parametrize("endpoint", sorted(SIBLINGS))
def test_sibling_send_endpoints_are_scored(fake, tollgate, endpoint):
    send = SIBLINGS[endpoint]
    with pytest.raises(telnyx.BadRequestError) as ei:
        send(S.telnyx_client(tollgate.url), N.FRAUD[0].e164)
    _assert_refusal(ei.value, MESSAGE_REFUSALS["fraud"], "/to", fake)
    send(S.telnyx_client(fake.url), N.ALLOWED_MAIN.e164)
    direct = only_request(fake)
    fake.clear()
    send(S.telnyx_client(tollgate.url), N.ALLOWED_MAIN.e164)
    assert_forwarded_identically(direct, only_request(fake), fake)


def test_group_mms_with_one_blocked_member_is_refused_whole(fake, tollgate):
    """A group MMS is one conversation: tollgate never drops a member of it."""
    members = [N.ALLOWED[0].e164, N.FRAUD[0].e164]
    with pytest.raises(telnyx.BadRequestError) as ei:
        S.telnyx_client(tollgate.url).messages.send_group_mms(from_=S.TELNYX_FROM, to=members, text=TEXT)
    _assert_refusal(ei.value, MESSAGE_REFUSALS["fraud"], "/to", fake)


def test_group_mms_all_allowed_is_byte_identical(fake, tollgate):
    members = [N.ALLOWED[0].e164, N.ALLOWED[1].e164]
    S.telnyx_client(fake.url).messages.send_group_mms(from_=S.TELNYX_FROM, to=members, text=TEXT)
    direct = only_request(fake)
    fake.clear()
    resp = S.telnyx_client(tollgate.url).messages.send_group_mms(from_=S.TELNYX_FROM, to=members, text=TEXT)
    assert_forwarded_identically(direct, only_request(fake), fake)
    assert [t.phone_number for t in resp.data.to] == members


def test_message_get_passes_through(fake, tollgate):
    mid = _send(S.telnyx_client(fake.url), N.ALLOWED_MAIN.e164).data.id
    S.telnyx_client(fake.url).messages.retrieve(mid)
    direct = fake.last()
    fake.clear()
    got = S.telnyx_client(tollgate.url).messages.retrieve(mid)
    assert_forwarded_identically(direct, only_request(fake), fake)
    assert (got.data.id, got.data.to[0].status) == (mid, "delivered")


# ---- Verify --------------------------------------------------------------------


def test_verification_allowed_is_byte_identical(fake, tollgate):
    _verify(S.telnyx_client(fake.url), N.ALLOWED_MAIN.e164)
    direct = only_request(fake)
    assert (direct.method, direct.target) == ("POST", "/v2/verifications/sms")
    fake.clear()
    client = S.telnyx_client(tollgate.url)
    with _responses(client) as seen:
        v = _verify(client, N.ALLOWED_MAIN.e164)
    via = only_request(fake)
    assert_forwarded_identically(direct, via, fake)
    assert seen[-1].content == via.response_body
    assert (v.data.id, v.data.status, v.data.phone_number) == (via.response_json()["data"]["id"], "pending",
                                                              N.ALLOWED_MAIN.e164)


@pytest.mark.parametrize("case", blocked_params())
def test_verification_blocked(fake, tollgate, case):
    with pytest.raises(telnyx.BadRequestError) as ei:
        _verify(S.telnyx_client(tollgate.url), case.e164)
    _assert_refusal(ei.value, VERIFY_REFUSALS[case.reason], "/phone_number", fake)


@pytest.mark.parametrize("channel", ["call", "flashcall", "whatsapp"])
def test_other_verification_channels_are_scored(fake, tollgate, channel):
    client = S.telnyx_client(tollgate.url)
    trigger = {
        "call": client.verifications.trigger_call,
        "flashcall": client.verifications.trigger_flashcall,
        "whatsapp": client.verifications.trigger_whatsapp_verification,
    }[channel]
    with pytest.raises(telnyx.BadRequestError) as ei:
        trigger(phone_number=N.FRAUD[0].e164, verify_profile_id=S.TELNYX_VERIFY_PROFILE)
    _assert_refusal(ei.value, VERIFY_REFUSALS["fraud"], "/phone_number", fake)
    v = trigger(phone_number=N.ALLOWED_MAIN.e164, verify_profile_id=S.TELNYX_VERIFY_PROFILE)
    assert only_request(fake).path == f"/v2/verifications/{channel}"
    assert v.data.type == channel


def test_code_check_and_verify_profiles_pass_through(fake, tollgate):
    """The code check is conversion feedback (forwarded unchanged); the Verify
    profile calls start with vonage.toml's `/v2/verify` prefix and must still
    reach the Telnyx upstream."""
    def calls(client):
        client.verifications.by_phone_number.actions.verify(
            N.ALLOWED_MAIN.e164, code="123456", verify_profile_id=S.TELNYX_VERIFY_PROFILE)
        client.verify_profiles.list()

    calls(S.telnyx_client(fake.url))
    direct = fake.snapshot()
    fake.clear()
    calls(S.telnyx_client(tollgate.url))
    via = fake.snapshot()
    assert [r.path for r in via] == [r.path for r in direct]
    assert via[1].path == "/v2/verify_profiles"
    for d, v in zip(direct, via):
        assert_forwarded_identically(d, v, fake)
    assert via[0].response_json()["data"]["response_code"] == "accepted"


# ---- held: Telnyx's "queued" answer, then release or reject --------------------


def test_held_message_answers_queued_then_release_forwards_it_once(fake, tollgate, admin, hold_number):
    to = hold_number()
    kw = dict(webhook_url="https://platform.example/telnyx/webhooks")
    _send(S.telnyx_client(fake.url), to, **kw)
    direct = only_request(fake)
    fake.clear()

    client = S.telnyx_client(tollgate.url)
    with _responses(client) as seen:
        msg = _send(client, to, **kw)
    assert seen[-1].status_code == 200
    d = msg.data
    assert UUID.fullmatch(d.id), d.id
    assert (d.record_type, d.direction, d.type) == ("message", "outbound", "SMS")
    assert (d.to[0].phone_number, d.to[0].status, d.from_.phone_number) == (to, "queued", S.TELNYX_FROM)
    assert d.text == TEXT
    assert_nothing_reached(fake)

    held = admin.held_one(d.id)
    assert held is not None and held["state"] == "held", held
    assert (held["provider"], held["route"], held["to"]) == ("telnyx", "telnyx.messages", to)

    # A look-up of the synthetic id is answered by tollgate: still queued.
    seen_msg = client.messages.retrieve(d.id)
    assert (seen_msg.data.id, seen_msg.data.to[0].status) == (d.id, "queued")
    assert_nothing_reached(fake)

    released = admin.release(d.id)
    assert released["state"] == "released", released
    via = only_request(fake)
    assert_forwarded_identically(direct, via, fake)
    real = via.response_json()["data"]["id"]
    assert released["real_id"] == real != d.id

    fake.clear()
    assert admin.request("POST", f"/api/v1/held/{d.id}/release").status_code == 409
    time.sleep(0.3)
    assert_nothing_reached(fake)

    # After release: the upstream's message for the real id, under ours.
    after = client.messages.retrieve(d.id)
    lookup = only_request(fake)
    assert lookup.method == "GET" and lookup.path == f"/v2/messages/{real}"
    assert (after.data.id, after.data.to[0].status) == (d.id, "delivered")


def test_held_verification_answers_pending(fake, tollgate, admin, hold_number):
    to = hold_number()
    client = S.telnyx_client(tollgate.url)
    v = _verify(client, to)
    assert UUID.fullmatch(v.data.id), v.data.id
    assert (v.data.status, v.data.type, v.data.phone_number) == ("pending", "sms", to)
    assert v.data.verify_profile_id == S.TELNYX_VERIFY_PROFILE
    assert_nothing_reached(fake)
    held = admin.held_one(v.data.id)
    assert (held["route"], held["state"]) == ("telnyx.verify-sms", "held")
    seen_v = client.verifications.retrieve(v.data.id)
    assert (seen_v.data.id, seen_v.data.status) == (v.data.id, "pending")
    assert_nothing_reached(fake)


def test_rejected_hold_posts_a_message_finalized_delivery_failed_webhook(fake, tollgate, admin, hold_number,
                                                                         callbacks):
    to = hold_number()
    tag = uuid.uuid4().hex
    client = S.telnyx_client(tollgate.url)
    msg = _send(client, to, webhook_url=callbacks.url(tag))
    assert_nothing_reached(fake)

    rejected = admin.reject(msg.data.id)
    assert rejected["state"] == "rejected", rejected
    cb = wait_for(lambda: callbacks.for_tag(tag), timeout=10, what="the message.finalized webhook")[0]
    assert cb.headers.get("content-type", "").startswith("application/json")
    event = json.loads(cb.body)
    assert (event["data"]["event_type"], event["data"]["record_type"]) == ("message.finalized", "event")
    p = event["data"]["payload"]
    assert (p["id"], p["record_type"], p["direction"]) == (msg.data.id, "message", "outbound")
    assert (p["to"][0]["phone_number"], p["to"][0]["status"]) == (to, "delivery_failed")
    assert p["from"]["phone_number"] == S.TELNYX_FROM
    assert p["errors"][0]["code"] == "40015"
    # Unsigned: Telnyx signs with an Ed25519 key tollgate does not have.
    assert "telnyx-signature-ed25519" not in cb.headers
    # The SDK's own webhook parser reads it as a delivery update.
    parsed = client.webhooks.unsafe_unwrap(cb.body.decode())
    assert (parsed.data.event_type, parsed.data.payload.to[0].status) == ("message.finalized", "delivery_failed")

    assert_nothing_reached(fake)
    assert admin.request("POST", f"/api/v1/held/{msg.data.id}/release").status_code == 409
    # A look-up of the rejected message: failed, never sent.
    seen_msg = client.messages.retrieve(msg.data.id)
    assert (seen_msg.data.id, seen_msg.data.to[0].status) == (msg.data.id, "delivery_failed")
    assert_nothing_reached(fake)
    time.sleep(1.5)
    assert len(callbacks.for_tag(tag)) == 1
