"""Held sends end to end with the official SDKs (issue 4).

SDK -> tollgate (a run-time ``hold`` list entry on the destination) -> the
platform gets the provider's own "queued" answer, nothing reaches the fake
aggregator -> a reviewer releases (forwarded byte-identical, exactly once)
or rejects (the platform's StatusCallback hears Twilio's signed failure,
error 30450).

Crash safety (kill -9, a kill between the release decision and the forward)
and expiry are in ``test_hold_crash.py``: they need their own tollgate.
"""

from __future__ import annotations

import re
import time
import uuid

import pytest
from twilio.request_validator import RequestValidator
from vonage_messages import Sms as MessagesSms
from vonage_sms import SmsMessage
from vonage_verify import SmsChannel, VerifyRequest

import sdk_clients as S
from helpers import assert_forwarded_identically, assert_nothing_reached, only_request, wait_for

pytestmark = pytest.mark.needs_tollgate

SM_SID = re.compile(r"SM[0-9a-f]{32}")
VE_SID = re.compile(r"VE[0-9a-f]{32}")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _send(client, to, **kw):
    kw.setdefault("from_", S.TWILIO_FROM)
    return client.messages.create(to=to, body="Your code is 123456", **kw)


# ---- (a) held -> queued, not forwarded -> release -> forwarded once ---------


def test_held_message_answers_queued_then_release_forwards_it_once_byte_identical(fake, tollgate, admin,
                                                                                  hold_number):
    to = hold_number()
    # What the SDK sends, straight to the fake: the baseline for "unchanged".
    _send(S.twilio_client(fake.url), to, status_callback="https://platform.example/sms/status")
    direct = only_request(fake)
    fake.clear()

    client = S.twilio_client(tollgate.url)
    msg = _send(client, to, status_callback="https://platform.example/sms/status")
    raw = S.twilio_last_response(client)
    assert raw.status_code == 201
    assert SM_SID.fullmatch(msg.sid), msg.sid
    assert msg.status == "queued"
    assert (msg.to, msg.from_, msg.account_sid) == (to, S.TWILIO_FROM, S.TWILIO_ACCOUNT_SID)
    assert msg.body == "Your code is 123456"
    assert_nothing_reached(fake)

    held = admin.held_one(msg.sid)
    assert held is not None and held["state"] == "held", held
    assert (held["provider"], held["route"], held["country"]) == ("twilio", "twilio.messages", "GB")
    assert held["to"] == to
    assert any("hold" in r for r in held["reasons"]), held["reasons"]
    assert held["expires_at"] > held["held_at"]

    # A status look-up of the synthetic SID is answered by tollgate: queued.
    seen = client.messages(msg.sid).fetch()
    assert (seen.sid, seen.status, seen.to) == (msg.sid, "queued", to)
    assert_nothing_reached(fake)

    released = admin.release(msg.sid)
    assert released["state"] == "released", released
    via = only_request(fake)
    assert_forwarded_identically(direct, via, fake)
    real = via.response_json()["sid"]
    assert released["real_id"] == real != msg.sid

    # Exactly once: a second release is a conflict and sends nothing.
    fake.clear()
    again = admin.request("POST", f"/api/v1/held/{msg.sid}/release")
    assert again.status_code == 409, again.text
    assert admin.request("POST", f"/api/v1/held/{msg.sid}/reject").status_code == 409
    time.sleep(0.3)
    assert_nothing_reached(fake)
    assert admin.held_one(msg.sid)["state"] == "released"

    # After release: the upstream's message for the real SID, under ours.
    seen = client.messages(msg.sid).fetch()
    lookup = only_request(fake)
    assert lookup.method == "GET" and real in lookup.path and msg.sid not in lookup.target
    assert seen.sid == msg.sid
    assert seen.status == lookup.response_json()["status"] == "delivered"
    assert seen.price == lookup.response_json()["price"]


def test_held_message_via_messaging_service_answers_accepted(fake, tollgate, admin, hold_number):
    to = hold_number()
    client = S.twilio_client(tollgate.url)
    msg = client.messages.create(to=to, messaging_service_sid="MG0123456789abcdef0123456789abcdef", body="hi")
    assert SM_SID.fullmatch(msg.sid) and msg.status == "accepted"
    assert msg.messaging_service_sid == "MG0123456789abcdef0123456789abcdef"
    assert_nothing_reached(fake)
    assert admin.held_one(msg.sid)["state"] == "held"


# ---- (b) reject -> the signed failure callback, 30450 ------------------------


def test_rejected_hold_never_forwards_and_posts_twilios_signed_failure_callback(fake, tollgate, admin, hold_number,
                                                                                 callbacks):
    to = hold_number()
    tag = uuid.uuid4().hex
    cb_url = callbacks.url(tag)
    client = S.twilio_client(tollgate.url)
    msg = _send(client, to, status_callback=cb_url)
    assert msg.status == "queued"

    rejected = admin.reject(msg.sid)
    assert rejected["state"] == "rejected" and rejected["resolved_by"] == "admin"
    got = wait_for(lambda: callbacks.for_tag(tag), timeout=10, what="the failure callback")
    cb = got[0]
    p = cb.params()
    assert p["MessageStatus"] == "failed"
    assert p["ErrorCode"] == "30450"
    assert p["MessageSid"] == msg.sid
    assert p["AccountSid"] == S.TWILIO_ACCOUNT_SID
    assert (p["From"], p["To"]) == (S.TWILIO_FROM, to)
    assert cb.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
    sig = cb.headers.get("x-twilio-signature")
    assert sig, "no X-Twilio-Signature"
    assert RequestValidator(S.TWILIO_AUTH_TOKEN).validate(cb_url, p, sig), "the twilio SDK rejects the signature"
    assert not RequestValidator("not-the-token").validate(cb_url, p, sig)

    # Never reached the aggregator; cannot be released any more.
    assert_nothing_reached(fake)
    assert admin.request("POST", f"/api/v1/held/{msg.sid}/release").status_code == 409
    assert_nothing_reached(fake)

    seen = client.messages(msg.sid).fetch()
    assert (seen.sid, seen.status, seen.error_code) == (msg.sid, "failed", 30450)
    assert_nothing_reached(fake)
    # Delivered once: no retry after a 2xx.
    time.sleep(1.5)
    assert len(callbacks.for_tag(tag)) == 1


# ---- (f) the other providers' held answers parse in their SDKs --------------


def test_held_verification_answers_pending_ve_sid(fake, tollgate, admin, hold_number):
    to = hold_number()
    client = S.twilio_client(tollgate.url)
    v = client.verify.v2.services(S.TWILIO_VERIFY_SERVICE).verifications.create(to=to, channel="sms")
    assert VE_SID.fullmatch(v.sid) and v.status == "pending"
    assert (v.to, v.channel, v.service_sid) == (to, "sms", S.TWILIO_VERIFY_SERVICE)
    assert_nothing_reached(fake)
    held = admin.held_one(v.sid)
    assert held["route"] == "twilio.verify" and held["state"] == "held"
    seen = client.verify.v2.services(S.TWILIO_VERIFY_SERVICE).verifications(v.sid).fetch()
    assert (seen.sid, seen.status) == (v.sid, "pending")
    assert_nothing_reached(fake)


@pytest.fixture
def vonage_via(tollgate, pki):
    with S.vonage_ca(pki.ca_cert):
        yield S.vonage_client(tollgate.tls_hostport)


def test_held_vonage_sms_answers_status_0_with_a_message_id(fake, admin, hold_number, vonage_via):
    to = hold_number().lstrip("+")
    resp = vonage_via.sms.send(SmsMessage(to=to, from_=S.VONAGE_FROM, text="Your code is 123456"))
    assert resp.message_count == "1"
    m = resp.messages[0]
    assert m.status == "0" and m.to == to
    assert UUID.fullmatch(m.message_id), m.message_id
    assert_nothing_reached(fake)
    held = admin.held_one(m.message_id)
    assert held["provider"] == "vonage" and held["state"] == "held"


def test_held_vonage_verify_v2_and_messages_answer_ids(fake, admin, hold_number, vonage_via):
    to = hold_number().lstrip("+")
    started = vonage_via.verify.start_verification(
        VerifyRequest(brand="Tollgate", workflow=[SmsChannel(to=to)], code_length=6))
    assert UUID.fullmatch(started.request_id)
    sent = vonage_via.messages.send(MessagesSms(to=to, from_=S.VONAGE_FROM, text="Your code is 123456"))
    assert UUID.fullmatch(sent.message_uuid)
    assert_nothing_reached(fake)
    ids = {h["id"] for h in admin.held()}
    assert {started.request_id, sent.message_uuid} <= ids


def test_held_plivo_answers_message_uuid_then_release_forwards_it(fake, tollgate, admin, hold_number):
    to = hold_number()
    with S.plivo_base(fake.url):
        S.plivo_client().messages.create(src=S.PLIVO_FROM, dst=to, text="Your code is 123456")
    direct = only_request(fake)
    fake.clear()
    with S.plivo_base(tollgate.url):
        resp = S.plivo_client().messages.create(src=S.PLIVO_FROM, dst=to, text="Your code is 123456")
    assert resp.message == "message(s) queued"
    assert len(resp.message_uuid) == 1 and UUID.fullmatch(resp.message_uuid[0])
    assert_nothing_reached(fake)
    released = admin.release(resp.message_uuid[0])
    via = only_request(fake)
    assert_forwarded_identically(direct, via, fake)
    assert released["state"] == "released"
    assert released["real_id"] == via.response_json()["message_uuid"][0]
