"""twilio-python 9.x -> tollgate (plain listener) -> fake aggregator."""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioRestException

import e2e_numbers as N
import sdk_clients as S
from helpers import assert_forwarded_identically, assert_nothing_reached, blocked_params, only_request

pytestmark = pytest.mark.needs_tollgate

# reason -> (HTTP status, Twilio code).  DESIGN.md §2 / issue 2.
MESSAGES_CODES = {"invalid": (400, 21211), "line_type": (400, 21614), "geo": (400, 21408), "fraud": (400, 21408)}
VERIFY_CODES = {"invalid": (400, 60200), "line_type": (400, 60205), "geo": (403, 60605), "fraud": (403, 60410)}


def _send(client, to, **kw):
    kw.setdefault("from_", S.TWILIO_FROM)
    return client.messages.create(to=to, body="Your code is 123456", **kw)


# ---- allowed sends: byte-identical, answer unchanged -----------------------


def test_message_allowed_is_byte_identical(fake, tollgate):
    _send(S.twilio_client(fake.url), N.ALLOWED_MAIN.e164, status_callback="https://example.com/cb")
    direct = only_request(fake)
    fake.clear()

    client = S.twilio_client(tollgate.url)
    msg = _send(client, N.ALLOWED_MAIN.e164, status_callback="https://example.com/cb")
    via = only_request(fake)
    assert_forwarded_identically(direct, via, fake)

    raw = S.twilio_last_response(client)
    assert raw.status_code == via.status == 201
    assert raw.text.encode() == via.response_body, "the fake's answer did not come back unchanged"
    assert msg.sid == via.response_json()["sid"] and msg.status == "queued"


@pytest.mark.parametrize("case", N.ALLOWED, ids=lambda c: c.id)
def test_message_allowed_mobiles_reach_the_fake(fake, tollgate, case):
    msg = _send(S.twilio_client(tollgate.url), case.e164)
    assert only_request(fake).form()["To"] == [case.e164]
    assert msg.to == case.e164


def test_message_via_messaging_service_is_forwarded(fake, tollgate):
    msg = S.twilio_client(tollgate.url).messages.create(
        to=N.ALLOWED_MAIN.e164, messaging_service_sid="MG0123456789abcdef0123456789abcdef", body="hi")
    assert msg.status == "accepted"
    assert only_request(fake).form()["MessagingServiceSid"] == ["MG0123456789abcdef0123456789abcdef"]


def test_verify_allowed_is_byte_identical(fake, tollgate):
    S.twilio_client(fake.url).verify.v2.services(S.TWILIO_VERIFY_SERVICE).verifications.create(
        to=N.ALLOWED_MAIN.e164, channel="sms", locale="en")
    direct = only_request(fake)
    fake.clear()
    client = S.twilio_client(tollgate.url)
    v = client.verify.v2.services(S.TWILIO_VERIFY_SERVICE).verifications.create(
        to=N.ALLOWED_MAIN.e164, channel="sms", locale="en")
    via = only_request(fake)
    assert_forwarded_identically(direct, via, fake)
    assert S.twilio_last_response(client).text.encode() == via.response_body
    assert v.sid == via.response_json()["sid"] and v.status == "pending"


# ---- blocked sends: the SDK's usual exception, nothing forwarded -----------


@pytest.mark.parametrize("case", blocked_params())
def test_message_blocked(fake, tollgate, case):
    status, code = MESSAGES_CODES[case.reason]
    with pytest.raises(TwilioRestException) as ei:
        _send(S.twilio_client(tollgate.url), case.e164)
    e = ei.value
    assert (e.status, e.code) == (status, code), f"{case}: got HTTP {e.status} code {e.code}: {e.msg}"
    assert e.msg.startswith("Unable to create record: ")
    if code == 21614:
        assert e.msg.endswith("'To' number is not a valid mobile number")
    if code == 21408:
        assert "Permission to send an SMS has not been enabled for the region" in e.msg
    assert_nothing_reached(fake)


@pytest.mark.parametrize("case", blocked_params())
def test_verify_blocked(fake, tollgate, case):
    status, code = VERIFY_CODES[case.reason]
    with pytest.raises(TwilioRestException) as ei:
        S.twilio_client(tollgate.url).verify.v2.services(S.TWILIO_VERIFY_SERVICE).verifications.create(
            to=case.e164, channel="sms")
    assert (ei.value.status, ei.value.code) == (status, code), f"{case}: {ei.value.msg}"
    assert_nothing_reached(fake)


def test_verify_fraud_message_names_the_prefix(fake, tollgate):
    with pytest.raises(TwilioRestException) as ei:
        S.twilio_client(tollgate.url).verify.v2.services(S.TWILIO_VERIFY_SERVICE).verifications.create(
            to=N.FRAUD[0].e164, channel="sms")
    assert "has been temporarily blocked by Twilio due to fraudulent activities" in ei.value.msg
    assert_nothing_reached(fake)


# ---- channels -------------------------------------------------------------


def test_whatsapp_to_is_scored_on_the_number(fake, tollgate):
    client = S.twilio_client(tollgate.url)
    with pytest.raises(TwilioRestException) as ei:
        _send(client, "whatsapp:" + N.GEO[0].e164, from_="whatsapp:" + S.TWILIO_FROM)
    assert ei.value.code == 21408
    assert_nothing_reached(fake)
    with pytest.raises(TwilioRestException) as ei:
        _send(client, "whatsapp:" + N.FRAUD[0].e164, from_="whatsapp:" + S.TWILIO_FROM)
    assert ei.value.code == 21408
    assert_nothing_reached(fake)


def test_whatsapp_allowed_is_byte_identical(fake, tollgate):
    to, frm = "whatsapp:" + N.ALLOWED_MAIN.e164, "whatsapp:" + S.TWILIO_FROM
    _send(S.twilio_client(fake.url), to, from_=frm)
    direct = only_request(fake)
    fake.clear()
    msg = _send(S.twilio_client(tollgate.url), to, from_=frm)
    assert_forwarded_identically(direct, only_request(fake), fake)
    assert msg.to == to


def test_verify_email_channel_is_forwarded_unscored(fake, tollgate):
    svc = lambda base: S.twilio_client(base).verify.v2.services(S.TWILIO_VERIFY_SERVICE)  # noqa: E731
    svc(fake.url).verifications.create(to="someone@example.com", channel="email")
    direct = only_request(fake)
    fake.clear()
    v = svc(tollgate.url).verifications.create(to="someone@example.com", channel="email")
    assert_forwarded_identically(direct, only_request(fake), fake)
    assert v.channel == "email" and v.status == "pending"


def test_verify_whatsapp_and_call_channels_are_scored(fake, tollgate):
    svc = S.twilio_client(tollgate.url).verify.v2.services(S.TWILIO_VERIFY_SERVICE)
    for channel in ("whatsapp", "call"):
        with pytest.raises(TwilioRestException) as ei:
            svc.verifications.create(to=N.FRAUD[0].e164, channel=channel)
        assert ei.value.code == 60410, channel
    assert_nothing_reached(fake)


# ---- status look-ups and feedback pass through unchanged -------------------


def test_message_fetch_passes_through(fake, tollgate):
    sid = _send(S.twilio_client(fake.url), N.ALLOWED_MAIN.e164).sid
    S.twilio_client(fake.url).messages(sid).fetch()
    direct = fake.last()
    fake.clear()
    client = S.twilio_client(tollgate.url)
    got = client.messages(sid).fetch()
    via = only_request(fake)
    assert_forwarded_identically(direct, via, fake)
    assert S.twilio_last_response(client).text.encode() == via.response_body
    assert got.sid == sid and got.status == "delivered"


def test_message_list_with_query_passes_through(fake, tollgate):
    page = {"messages": [], "end": 0, "first_page_uri": "/x", "next_page_uri": None, "page": 0,
            "page_size": 20, "previous_page_uri": None, "start": 0, "uri": "/x"}
    fake.program("GET", r"/Messages\.json\?", 200, page)
    list(S.twilio_client(fake.url).messages.list(to=N.ALLOWED_MAIN.e164, limit=20))
    direct = only_request(fake)
    assert "?To=%2B" in direct.target
    fake.clear()
    fake.program("GET", r"/Messages\.json\?", 200, page)
    list(S.twilio_client(tollgate.url).messages.list(to=N.ALLOWED_MAIN.e164, limit=20))
    assert_forwarded_identically(direct, only_request(fake), fake)


def test_verification_check_passes_through(fake, tollgate):
    svc = S.twilio_client(fake.url).verify.v2.services(S.TWILIO_VERIFY_SERVICE)
    svc.verifications.create(to=N.ALLOWED_MAIN.e164, channel="sms")
    svc.verification_checks.create(to=N.ALLOWED_MAIN.e164, code="123456")
    direct = fake.last()
    fake.clear()
    client = S.twilio_client(tollgate.url)
    check = client.verify.v2.services(S.TWILIO_VERIFY_SERVICE).verification_checks.create(
        to=N.ALLOWED_MAIN.e164, code="123456")
    via = only_request(fake)
    assert_forwarded_identically(direct, via, fake)
    assert S.twilio_last_response(client).text.encode() == via.response_body
    assert check.status == "approved"


def test_message_feedback_passes_through(fake, tollgate):
    sid = _send(S.twilio_client(fake.url), N.ALLOWED_MAIN.e164).sid
    fake.clear()
    fb = S.twilio_client(tollgate.url).api.v2010.account.messages(sid).feedback.create(outcome="confirmed")
    via = only_request(fake)
    assert via.target == f"/2010-04-01/Accounts/{S.TWILIO_ACCOUNT_SID}/Messages/{sid}/Feedback.json"
    assert via.body == b"Outcome=confirmed"
    assert fb.outcome == "confirmed"


def test_lookup_passes_through_to_lookups_upstream(fake, tollgate):
    S.twilio_client(fake.url).lookups.v2.phone_numbers(N.ALLOWED_MAIN.e164).fetch(fields="line_type_intelligence")
    direct = only_request(fake)
    # the SDK puts a raw "+" in the path: tollgate must not re-encode it
    assert direct.target == f"/v2/PhoneNumbers/{N.ALLOWED_MAIN.e164}?Fields=line_type_intelligence"
    fake.clear()
    pn = S.twilio_client(tollgate.url).lookups.v2.phone_numbers(N.ALLOWED_MAIN.e164).fetch(fields="line_type_intelligence")
    assert_forwarded_identically(direct, only_request(fake), fake)
    assert pn.valid is True


def test_upstream_error_comes_back_unchanged(fake, tollgate):
    """An error the aggregator itself returns is the aggregator's, untouched."""
    body = (b'{"code": 20003, "message": "Authenticate", "more_info": '
            b'"https://www.twilio.com/docs/errors/20003", "status": 401}')
    fake.program("POST", r"/Messages\.json$", 401, body, [("Content-Type", "application/json"), ("X-Twilio-Thing", "1")])
    client = S.twilio_client(tollgate.url)
    with pytest.raises(TwilioRestException) as ei:
        _send(client, N.ALLOWED_MAIN.e164)
    assert (ei.value.status, ei.value.code) == (401, 20003)
    raw = S.twilio_last_response(client)
    assert raw.text.encode() == body
    assert raw.headers.get("X-Twilio-Thing") == "1"
