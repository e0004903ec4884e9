"""vonage 4.x -> tollgate TLS listener (test CA) -> fake aggregator.

The v4 SDK only speaks https, so the direct baseline goes to the fake's TLS
port and the tollgate run to tollgate's TLS listener; tollgate then talks
plain HTTP to the fake (its ``--upstream`` URLs).
"""

from __future__ import annotations

import pytest
import vonage_http_client.errors as VE
from vonage_messages import Sms as MessagesSms
from vonage_messages import WhatsappText
from vonage_sms import SmsError, SmsMessage
from vonage_verify import EmailChannel, SmsChannel, VerifyRequest, VoiceChannel
from vonage_verify_legacy import VerifyError
from vonage_verify_legacy import VerifyRequest as LegacyVerifyRequest

import e2e_numbers as N
import sdk_clients as S
from helpers import assert_forwarded_identically, assert_nothing_reached, blocked_params, only_request

pytestmark = pytest.mark.needs_tollgate

# SMS API: HTTP 200, messages[0].status (strings).  DESIGN.md §2.
SMS_STATUS = {"invalid": {"3"}, "geo": {"29"}, "fraud": {"7"}, "line_type": {"7"}}
# Legacy Verify: HTTP 200, status.  The brief names 3 (invalid) and 7
# (blocked); geo / line type may use the spec's 29 (Non-Permitted
# Destination) / 15 (not in a supported network), both in verify.yml's enum.
LEGACY_STATUS = {"invalid": {"3"}, "fraud": {"7"}, "geo": {"7", "29"}, "line_type": {"7", "15"}}


@pytest.fixture
def direct(fake, pki):
    with S.vonage_ca(pki.ca_cert):
        yield lambda: S.vonage_client(fake.tls_hostport)


@pytest.fixture
def via(tollgate, pki):
    with S.vonage_ca(pki.ca_cert):
        yield lambda: S.vonage_client(tollgate.tls_hostport)


def _sms(to: str) -> SmsMessage:
    return SmsMessage(to=to, from_=S.VONAGE_FROM, text="Your code is 123456", client_ref="e2e-ref")


def _verify2(*channels) -> VerifyRequest:
    return VerifyRequest(brand="Tollgate", workflow=list(channels), code_length=6)


# ---- allowed sends: byte-identical, answer unchanged -----------------------


def test_sms_allowed_is_byte_identical(fake, direct, via):
    direct().sms.send(_sms(N.ALLOWED_MAIN.digits))
    d = only_request(fake)
    fake.clear()
    client = via()
    resp = client.sms.send(_sms(N.ALLOWED_MAIN.digits))
    v = only_request(fake)
    assert v.scheme == "http"  # tollgate -> fake is the --upstream URL
    assert_forwarded_identically(d, v, fake)
    raw = client.http_client.last_response
    assert raw.status_code == 200 and raw.content == v.response_body
    assert raw.headers.get("Content-Type") == "application/json"
    assert resp.messages[0].message_id == v.response_json()["messages"][0]["message-id"]


@pytest.mark.parametrize("case", N.ALLOWED, ids=lambda c: c.id)
def test_sms_allowed_mobiles_reach_the_fake(fake, via, case):
    resp = via().sms.send(_sms(case.digits))
    assert resp.messages[0].status == "0"
    assert only_request(fake).form()["to"] == [case.digits]


def test_verify_v2_allowed_is_byte_identical(fake, direct, via):
    direct().verify.start_verification(_verify2(SmsChannel(to=N.ALLOWED_MAIN.digits)))
    d = only_request(fake)
    fake.clear()
    client = via()
    started = client.verify.start_verification(_verify2(SmsChannel(to=N.ALLOWED_MAIN.digits)))
    v = only_request(fake)
    assert_forwarded_identically(d, v, fake)
    assert client.http_client.last_response.status_code == 202
    assert client.http_client.last_response.content == v.response_body
    assert started.request_id == v.response_json()["request_id"]


def test_verify_legacy_allowed_is_byte_identical(fake, direct, via):
    direct().verify_legacy.start_verification(LegacyVerifyRequest(number=N.ALLOWED_MAIN.digits, brand="Tollgate"))
    d = only_request(fake)
    fake.clear()
    client = via()
    started = client.verify_legacy.start_verification(LegacyVerifyRequest(number=N.ALLOWED_MAIN.digits, brand="Tollgate"))
    v = only_request(fake)
    assert_forwarded_identically(d, v, fake)
    assert client.http_client.last_response.content == v.response_body
    assert started.status == "0"


def test_messages_allowed_is_byte_identical(fake, direct, via):
    direct().messages.send(MessagesSms(to=N.ALLOWED_MAIN.digits, from_=S.VONAGE_FROM, text="code 123456"))
    d = only_request(fake)
    fake.clear()
    client = via()
    resp = client.messages.send(MessagesSms(to=N.ALLOWED_MAIN.digits, from_=S.VONAGE_FROM, text="code 123456"))
    v = only_request(fake)
    assert_forwarded_identically(d, v, fake)
    assert client.http_client.last_response.content == v.response_body
    assert resp.message_uuid == v.response_json()["message_uuid"]


# ---- blocked sends ---------------------------------------------------------


@pytest.mark.parametrize("case", blocked_params())
def test_sms_blocked(fake, via, case):
    """HTTP 200 with messages[0].status != "0" -> vonage_sms.SmsError."""
    client = via()
    with pytest.raises(SmsError) as ei:
        client.sms.send(_sms(case.digits))
    raw = client.http_client.last_response
    assert raw.status_code == 200
    body = raw.json()
    assert body["message-count"] == "1"
    status = body["messages"][0]["status"]
    assert status in SMS_STATUS[case.reason], f"{case}: status {status!r}"
    assert str(ei.value).startswith(f"Sms.send_message method failed with error code {status}: ")
    assert_nothing_reached(fake)


def test_sms_blocked_texts(fake, via):
    client = via()
    for case, text in [(N.GEO[0], "Non-Whitelisted Destination"), (N.FRAUD[0], "Number barred.")]:
        with pytest.raises(SmsError) as ei:
            client.sms.send(_sms(case.digits))
        assert str(ei.value).endswith(f": {text}"), str(ei.value)
    assert_nothing_reached(fake)


@pytest.mark.parametrize("case", blocked_params(invalid=N.INVALID_7))
def test_verify_v2_blocked(fake, via, case):
    """RFC 7807 problem JSON 4xx -> vonage_http_client.errors.HttpRequestError
    (ForbiddenError for 403)."""
    with pytest.raises(VE.HttpRequestError) as ei:
        via().verify.start_verification(_verify2(SmsChannel(to=case.digits)))
    r = ei.value.response
    assert 400 <= r.status_code < 500
    if case.reason in ("geo", "fraud"):
        assert r.status_code == 403 and isinstance(ei.value, VE.ForbiddenError)
    problem = r.json()
    assert {"type", "title", "detail", "instance"} <= problem.keys(), problem
    assert "json" in r.headers.get("Content-Type", "")
    assert_nothing_reached(fake)


def test_verify_v2_any_workflow_step_blocks(fake, via):
    """workflow[].to: a blocked number in a later step blocks the start."""
    with pytest.raises(VE.ForbiddenError):
        via().verify.start_verification(
            _verify2(SmsChannel(to=N.ALLOWED_MAIN.digits), VoiceChannel(to=N.FRAUD[0].digits)))
    assert_nothing_reached(fake)


def test_verify_v2_email_workflow_is_forwarded_unscored(fake, direct, via):
    direct().verify.start_verification(_verify2(EmailChannel(to="someone@example.com")))
    d = only_request(fake)
    fake.clear()
    via().verify.start_verification(_verify2(EmailChannel(to="someone@example.com")))
    assert_forwarded_identically(d, only_request(fake), fake)


@pytest.mark.parametrize("case", blocked_params(invalid=N.INVALID_7))
def test_verify_legacy_blocked(fake, via, case):
    """HTTP 200 + non-"0" status -> vonage_verify_legacy.VerifyError."""
    client = via()
    with pytest.raises(VerifyError):
        client.verify_legacy.start_verification(LegacyVerifyRequest(number=case.digits, brand="Tollgate"))
    raw = client.http_client.last_response
    assert raw.status_code == 200
    body = raw.json()
    assert body["status"] in LEGACY_STATUS[case.reason], body
    assert isinstance(body.get("error_text"), str) and body["error_text"]
    assert_nothing_reached(fake)


@pytest.mark.parametrize("case", blocked_params(invalid=N.INVALID_7))
def test_messages_blocked(fake, via, case):
    with pytest.raises(VE.HttpRequestError) as ei:
        via().messages.send(MessagesSms(to=case.digits, from_=S.VONAGE_FROM, text="code 123456"))
    r = ei.value.response
    assert 400 <= r.status_code < 500
    if case.reason in ("geo", "fraud"):
        assert r.status_code == 403
    assert {"type", "title", "detail", "instance"} <= r.json().keys()
    assert_nothing_reached(fake)


def test_messages_whatsapp_is_scored(fake, via):
    with pytest.raises(VE.HttpRequestError):
        via().messages.send(WhatsappText(to=N.GEO[0].digits, from_="447700900000", text="code"))
    assert_nothing_reached(fake)


# ---- the SDK's stale Content-Type (see test_fake_direct) -------------------


def test_sms_after_a_json_call_is_still_scored(fake, via):
    """Same client: a JSON call first, then SMS. The SMS goes out as a form body
    labelled application/json.  Allowed -> forwarded as is; blocked -> blocked
    with the usual SMS status, not a parse error and not forwarded."""
    client = via()
    client.verify.start_verification(_verify2(SmsChannel(to=N.ALLOWED_MAIN.digits)))
    fake.clear()
    resp = client.sms.send(_sms(N.ALLOWED_MAIN.digits))
    assert resp.messages[0].status == "0"
    rec = only_request(fake)
    assert rec.header("Content-Type") == "application/json" and rec.form()["to"] == [N.ALLOWED_MAIN.digits]
    fake.clear()
    with pytest.raises(SmsError) as ei:
        client.sms.send(_sms(N.GEO[0].digits))
    assert "error code 29" in str(ei.value)
    assert_nothing_reached(fake)


# ---- status look-ups / feedback pass through -------------------------------


def test_verify_v2_check_passes_through(fake, direct, via):
    rid = direct().verify.start_verification(_verify2(SmsChannel(to=N.ALLOWED_MAIN.digits))).request_id
    direct().verify.check_code(rid, "123456")
    d = fake.last()
    fake.clear()
    client = via()
    checked = client.verify.check_code(rid, "123456")
    v = only_request(fake)
    assert_forwarded_identically(d, v, fake)
    assert client.http_client.last_response.content == v.response_body
    assert checked.status == "completed"


def test_verify_v2_cancel_passes_through(fake, via):
    rid = "c11236f4-00bf-4b89-84ba-88b25df97315"
    via().verify.cancel_verification(rid)
    v = only_request(fake)
    assert (v.method, v.target, v.status) == ("DELETE", f"/v2/verify/{rid}", 204)


def test_verify_legacy_check_and_search_pass_through(fake, direct, via):
    direct().verify_legacy.check_code("abcdef0123456789abcdef0123456789", "1234")
    d = only_request(fake)
    fake.clear()
    client = via()
    client.verify_legacy.check_code("abcdef0123456789abcdef0123456789", "1234")
    assert_forwarded_identically(d, only_request(fake), fake)
    fake.clear()
    found = client.verify_legacy.search("abcdef0123456789abcdef0123456789")
    v = only_request(fake)
    assert v.method == "GET" and v.target == "/verify/search/json?request_id=abcdef0123456789abcdef0123456789"
    assert found.request_id == "abcdef0123456789abcdef0123456789"


def test_account_balance_passes_through(fake, via):
    client = via()
    bal = client.account.get_balance()
    v = only_request(fake)
    assert (v.method, v.target) == ("GET", "/account/get-balance")
    assert client.http_client.last_response.content == v.response_body
    assert bal.value == 10.28
