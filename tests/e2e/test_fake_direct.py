"""SDK -> fake aggregator, no tollgate.

1. Each official SDK's send and status look-up works against the fake: the
   fake answers like the real thing (for what the SDKs parse).
2. Dialect probes: the fake is programmed to answer with exactly the
   rejection tollgate is meant to synthesise (DESIGN.md §2 table), and we pin
   what each SDK then raises.  If an SDK upgrade changes its error parsing,
   these fail first, independent of tollgate.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

import e2e_numbers as N
import sdk_clients as S
from conftest import SHARED

# --------------------------------------------------------------------------
# The numbers really are libphonenumber examples of the stated type
# --------------------------------------------------------------------------


def test_numbers_are_libphonenumber_examples():
    meta = SHARED / "data" / "libphonenumber" / "PhoneNumberMetadata.xml"
    assert meta.exists(), f"{meta} missing"
    root = ET.parse(meta).getroot()
    examples = {}
    for terr in root.iter("territory"):
        cc = terr.get("countryCode")
        for el in terr:
            ex = el.find("exampleNumber")
            if ex is not None:
                examples[(terr.get("id"), el.tag)] = f"+{cc}{ex.text}"
    for case in N.ALLOWED + N.LINE_TYPE + N.GEO:
        assert examples.get((case.territory, case.line_type)) == case.e164, case


# --------------------------------------------------------------------------
# Twilio
# --------------------------------------------------------------------------


def test_twilio_message_create_and_fetch(fake):
    client = S.twilio_client(fake.url)
    msg = client.messages.create(to=N.ALLOWED_MAIN.e164, from_=S.TWILIO_FROM, body="code 123456")
    assert msg.sid.startswith("SM") and len(msg.sid) == 34
    assert msg.status == "queued"
    assert msg.to == N.ALLOWED_MAIN.e164
    rec = fake.last()
    assert rec.method == "POST"
    assert rec.target == f"/2010-04-01/Accounts/{S.TWILIO_ACCOUNT_SID}/Messages.json"
    assert rec.header("Content-Type") == "application/x-www-form-urlencoded"
    assert rec.header("Authorization").startswith("Basic ")
    assert rec.form()["To"] == [N.ALLOWED_MAIN.e164]

    fetched = client.messages(msg.sid).fetch()
    assert fetched.sid == msg.sid and fetched.status == "delivered"
    assert fake.last().target == f"/2010-04-01/Accounts/{S.TWILIO_ACCOUNT_SID}/Messages/{msg.sid}.json"


def test_twilio_whatsapp_and_feedback(fake):
    client = S.twilio_client(fake.url)
    msg = client.messages.create(to="whatsapp:" + N.ALLOWED_MAIN.e164, from_="whatsapp:" + S.TWILIO_FROM, body="hi")
    assert msg.to == "whatsapp:" + N.ALLOWED_MAIN.e164
    fb = client.api.v2010.account.messages(msg.sid).feedback.create(outcome="confirmed")
    assert fb.outcome == "confirmed"


def test_twilio_verify_start_and_check(fake):
    client = S.twilio_client(fake.url)
    svc = client.verify.v2.services(S.TWILIO_VERIFY_SERVICE)
    v = svc.verifications.create(to=N.ALLOWED_MAIN.e164, channel="sms")
    assert v.sid.startswith("VE") and v.status == "pending" and v.channel == "sms"
    assert fake.last().target == f"/v2/Services/{S.TWILIO_VERIFY_SERVICE}/Verifications"
    check = svc.verification_checks.create(to=N.ALLOWED_MAIN.e164, code="123456")
    assert check.status == "approved" and check.valid is True
    assert svc.verifications(v.sid).fetch().sid == v.sid

    email = svc.verifications.create(to="someone@example.com", channel="email")
    assert email.channel == "email" and email.to == "someone@example.com"


@pytest.mark.parametrize(
    "status,code,message",
    [
        (400, 21211, "The 'To' number +1234 is not a valid phone number."),
        (400, 21614, "'To' number is not a valid mobile number"),
        (400, 21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: +850192XXXXXXX"),
    ],
)
def test_twilio_dialect_probe_messages(fake, status, code, message):
    """What tollgate must answer on Messages: Twilio's *legacy* error JSON."""
    from twilio.base.exceptions import TwilioRestException

    fake.program("POST", r"/Messages\.json$", status, {
        "code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status,
    })
    with pytest.raises(TwilioRestException) as ei:
        S.twilio_client(fake.url).messages.create(to=N.ALLOWED_MAIN.e164, from_=S.TWILIO_FROM, body="x")
    e = ei.value
    assert (e.status, e.code) == (status, code)
    assert e.msg == f"Unable to create record: {message}"
    assert e.method == "POST" and e.uri.endswith("/Messages.json")


def test_twilio_dialect_probe_rfc9457_changes_the_exception_class(fake):
    """A body with type+title+status+code makes twilio 9.x raise
    TwilioServiceException instead of TwilioRestException: existing
    ``except TwilioRestException`` handlers would miss it.  So tollgate's
    Twilio rejections must NOT carry both "type" and "title"."""
    from twilio.base.exceptions import TwilioRestException, TwilioServiceException

    fake.program("POST", r"/Messages\.json$", 400, {
        "type": "https://www.twilio.com/docs/errors/21408", "title": "x", "code": 21408, "status": 400,
    })
    with pytest.raises(TwilioServiceException) as ei:
        S.twilio_client(fake.url).messages.create(to=N.ALLOWED_MAIN.e164, from_=S.TWILIO_FROM, body="x")
    assert not isinstance(ei.value, TwilioRestException)


@pytest.mark.parametrize("status,code", [(400, 60200), (400, 60205), (403, 60605), (403, 60410)])
def test_twilio_dialect_probe_verify(fake, status, code):
    from twilio.base.exceptions import TwilioRestException

    fake.program("POST", r"/Verifications$", status, {
        "code": code, "message": "blocked", "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status,
    })
    with pytest.raises(TwilioRestException) as ei:
        S.twilio_client(fake.url).verify.v2.services(S.TWILIO_VERIFY_SERVICE).verifications.create(
            to=N.ALLOWED_MAIN.e164, channel="sms")
    assert (ei.value.status, ei.value.code) == (status, code)


def test_twilio_dialect_probe_non_json_error_loses_the_code(fake):
    """If the body is not JSON the SDK falls back to code = HTTP status."""
    from twilio.base.exceptions import TwilioRestException

    fake.program("POST", r"/Messages\.json$", 400, "Bad Request", [("Content-Type", "text/plain")])
    with pytest.raises(TwilioRestException) as ei:
        S.twilio_client(fake.url).messages.create(to=N.ALLOWED_MAIN.e164, from_=S.TWILIO_FROM, body="x")
    assert ei.value.code == 400


# --------------------------------------------------------------------------
# Vonage (https only: the fake's TLS port with the test CA)
# --------------------------------------------------------------------------


@pytest.fixture
def vonage_direct(fake, pki):
    with S.vonage_ca(pki.ca_cert):
        yield S.vonage_client(fake.tls_hostport)


def test_vonage_sms_send(fake, vonage_direct):
    from vonage_sms import SmsMessage

    resp = vonage_direct.sms.send(SmsMessage(to=N.ALLOWED_MAIN.digits, from_=S.VONAGE_FROM, text="code 123456"))
    assert resp.message_count == "1"
    assert resp.messages[0].status == "0" and resp.messages[0].message_id
    rec = fake.last()
    assert rec.scheme == "https" and rec.target == "/sms/json"
    assert rec.header("Content-Type") == "application/x-www-form-urlencoded"
    assert rec.header("Authorization").startswith("Basic ")
    assert rec.form()["to"] == [N.ALLOWED_MAIN.digits]


def test_vonage_verify_v2_start_and_check(fake, vonage_direct):
    from vonage_verify import SmsChannel, VerifyRequest

    started = vonage_direct.verify.start_verification(
        VerifyRequest(brand="Tollgate", workflow=[SmsChannel(to=N.ALLOWED_MAIN.digits)]))
    rec = fake.last()
    assert rec.target == "/v2/verify" and rec.header("Content-Type") == "application/json"
    assert rec.json()["workflow"] == [{"channel": "sms", "to": N.ALLOWED_MAIN.digits}]
    assert rec.header("Authorization").startswith("Basic ")
    checked = vonage_direct.verify.check_code(started.request_id, "1234")
    assert checked.status == "completed"
    assert fake.last().target == f"/v2/verify/{started.request_id}"


def test_vonage_verify_legacy_start_check_search(fake, vonage_direct):
    from vonage_verify_legacy import VerifyRequest

    started = vonage_direct.verify_legacy.start_verification(VerifyRequest(number=N.ALLOWED_MAIN.digits, brand="Tollgate"))
    assert started.status == "0" and len(started.request_id) == 32
    assert fake.last().target == "/verify/json"
    assert fake.last().form()["number"] == [N.ALLOWED_MAIN.digits]
    checked = vonage_direct.verify_legacy.check_code(started.request_id, "1234")
    assert checked.status == "0"
    found = vonage_direct.verify_legacy.search(started.request_id)
    assert found.request_id == started.request_id
    assert fake.last().method == "GET" and fake.last().path == "/verify/search/json"


def test_vonage_messages_sms(fake, vonage_direct):
    from vonage_messages import Sms

    resp = vonage_direct.messages.send(Sms(to=N.ALLOWED_MAIN.digits, from_=S.VONAGE_FROM, text="code 123456"))
    assert resp.message_uuid
    assert fake.last().target == "/v1/messages"
    assert fake.last().json()["to"] == N.ALLOWED_MAIN.digits


def test_vonage_stale_content_type_quirk(fake, vonage_direct):
    """vonage-http-client keeps ONE headers dict per client and only sets
    Content-Type for JSON calls: after any JSON call (Verify v2, Messages),
    later form calls on the same client (SMS, legacy Verify) go out with a
    form body but ``Content-Type: application/json``.  tollgate must still
    find ``to`` (sniff the body, or fail closed): never forward unscored."""
    from vonage_sms import SmsMessage
    from vonage_verify import SmsChannel, VerifyRequest

    vonage_direct.verify.start_verification(VerifyRequest(brand="T", workflow=[SmsChannel(to=N.ALLOWED_MAIN.digits)]))
    vonage_direct.sms.send(SmsMessage(to=N.ALLOWED_MAIN.digits, from_=S.VONAGE_FROM, text="x"))
    rec = fake.last()
    assert rec.target == "/sms/json"
    assert rec.header("Content-Type") == "application/json"  # the SDK's bug
    assert rec.body.startswith(b"from=") or b"to=" in rec.body  # ...but the body is a form


@pytest.mark.parametrize("status,text", [("3", "Invalid Message"), ("29", "Non-Whitelisted Destination"), ("7", "Number barred.")])
def test_vonage_dialect_probe_sms(fake, vonage_direct, status, text):
    """Vonage SMS: HTTP 200 and a non-"0" status -> vonage_sms.SmsError; the
    code is only in the message text.  "error-text" is REQUIRED: the SDK
    formats it with message["error-text"] (KeyError otherwise)."""
    from vonage_sms import SmsError, SmsMessage

    fake.program("POST", r"^/sms/json$", 200, {
        "message-count": "1", "messages": [{"to": N.ALLOWED_MAIN.digits, "status": status, "error-text": text}]})
    with pytest.raises(SmsError) as ei:
        vonage_direct.sms.send(SmsMessage(to=N.ALLOWED_MAIN.digits, from_=S.VONAGE_FROM, text="x"))
    assert str(ei.value) == f"Sms.send_message method failed with error code {status}: {text}"


def test_vonage_dialect_probe_sms_without_error_text_is_a_keyerror(fake, vonage_direct):
    from vonage_sms import SmsMessage

    fake.program("POST", r"^/sms/json$", 200, {"message-count": "1", "messages": [{"to": "1", "status": "7"}]})
    with pytest.raises(KeyError):
        vonage_direct.sms.send(SmsMessage(to=N.ALLOWED_MAIN.digits, from_=S.VONAGE_FROM, text="x"))


@pytest.mark.parametrize("status,exc_name", [(403, "ForbiddenError"), (422, "HttpRequestError"), (400, "HttpRequestError")])
def test_vonage_dialect_probe_verify_v2(fake, vonage_direct, status, exc_name):
    import vonage_http_client.errors as E
    from vonage_verify import SmsChannel, VerifyRequest

    problem = {"type": "https://developer.vonage.com/api-errors#forbidden", "title": "Forbidden",
               "detail": "blocked", "instance": "bf0ca0bf927b3b52e3cb03217e1a1ddf"}
    fake.program("POST", r"^/v2/verify$", status, problem, [("Content-Type", "application/problem+json")])
    with pytest.raises(E.HttpRequestError) as ei:
        vonage_direct.verify.start_verification(VerifyRequest(brand="T", workflow=[SmsChannel(to=N.ALLOWED_MAIN.digits)]))
    assert type(ei.value).__name__ == exc_name
    assert ei.value.response.status_code == status
    assert ei.value.response.json() == problem


def test_vonage_dialect_probe_messages(fake, vonage_direct):
    import vonage_http_client.errors as E
    from vonage_messages import Sms

    problem = {"type": "https://developer.vonage.com/api-errors/messages#1240", "title": "Forbidden",
               "detail": "blocked", "instance": "bf0ca0bf927b3b52e3cb03217e1a1ddf"}
    fake.program("POST", r"^/v1/messages$", 403, problem, [("Content-Type", "application/problem+json")])
    with pytest.raises(E.ForbiddenError):
        vonage_direct.messages.send(Sms(to=N.ALLOWED_MAIN.digits, from_=S.VONAGE_FROM, text="x"))


@pytest.mark.parametrize("status", ["3", "7"])
def test_vonage_dialect_probe_verify_legacy(fake, vonage_direct, status):
    """Legacy Verify: HTTP 200 + non-"0" status -> vonage_verify_legacy.VerifyError
    whose message embeds the whole response dict."""
    from vonage_verify_legacy import VerifyError, VerifyRequest

    body = {"request_id": "", "status": status, "error_text": "blocked"}
    fake.program("POST", r"^/verify/json$", 200, body)
    with pytest.raises(VerifyError) as ei:
        vonage_direct.verify_legacy.start_verification(VerifyRequest(number=N.ALLOWED_MAIN.digits, brand="T"))
    assert str(ei.value) == f"Error with the following details: {body}"


# --------------------------------------------------------------------------
# Plivo
# --------------------------------------------------------------------------


def test_plivo_message_create_and_get(fake):
    with S.plivo_base(fake.url):
        client = S.plivo_client()
        resp = client.messages.create(src=S.PLIVO_FROM, dst=N.ALLOWED_MAIN.e164, text="code 123456")
        assert resp.message == "message(s) queued"
        assert len(resp.message_uuid) == 1
        rec = fake.last()
        assert rec.target == f"/v1/Account/{S.PLIVO_AUTH_ID}/Message/"
        assert rec.header("Content-Type") == "application/json"
        assert rec.header("Authorization").startswith("Basic ")
        assert rec.json()["dst"] == N.ALLOWED_MAIN.e164
        got = client.messages.get(resp.message_uuid[0])
        assert got.message_uuid == resp.message_uuid[0] and got.message_state == "delivered"
        assert fake.last().target == f"/v1/Account/{S.PLIVO_AUTH_ID}/Message/{resp.message_uuid[0]}/"


def test_plivo_bulk_dst(fake):
    with S.plivo_base(fake.url):
        resp = S.plivo_client().messages.create(
            src=S.PLIVO_FROM, dst=f"{N.ALLOWED[0].e164}<{N.ALLOWED[1].e164}", text="x")
    assert len(resp.message_uuid) == 2


def test_plivo_dialect_probe_403_is_geopermissionerror(fake):
    """Plivo raises GeoPermissionError only for a 403 to a POST whose URL ends
    with /Message/ (also /Call/, /Session/); the exception's args[0] is the
    body's "error" field when present."""
    import plivo.exceptions as PE

    fake.program("POST", r"/Message/$", 403, {"api_id": "8a1bb3bc-0000-4000-8000-000000000000",
                                               "error": "destination country is not permitted"})
    with S.plivo_base(fake.url), pytest.raises(PE.GeoPermissionError) as ei:
        S.plivo_client().messages.create(src=S.PLIVO_FROM, dst=N.ALLOWED_MAIN.e164, text="x")
    assert ei.value.args == ("destination country is not permitted",)
    assert isinstance(ei.value, PE.PlivoRestError)


def test_plivo_dialect_probe_400_is_validationerror(fake):
    import plivo.exceptions as PE

    fake.program("POST", r"/Message/$", 400, {"api_id": "x", "error": "invalid dst"})
    with S.plivo_base(fake.url), pytest.raises(PE.ValidationError):
        S.plivo_client().messages.create(src=S.PLIVO_FROM, dst=N.ALLOWED_MAIN.e164, text="x")


def test_plivo_dialect_probe_403_without_json_still_geo(fake):
    import plivo.exceptions as PE

    fake.program("POST", r"/Message/$", 403, "forbidden", [("Content-Type", "text/plain")])
    with S.plivo_base(fake.url), pytest.raises(PE.GeoPermissionError):
        S.plivo_client().messages.create(src=S.PLIVO_FROM, dst=N.ALLOWED_MAIN.e164, text="x")


# --------------------------------------------------------------------------
# The fake records faithfully
# --------------------------------------------------------------------------


def test_fake_records_raw_request(fake):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    body = b'{"a": 1,  "b":"\xc3\xa9"}'
    conn.putrequest("POST", "/nowhere/x?b=2&a=1", skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", "example.invalid")
    conn.putheader("X-Two", "2")
    conn.putheader("x-one", "1")
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    r = conn.getresponse()
    assert r.status == 404 and json.loads(r.read())["fake"] == "no route"
    rec = fake.last()
    assert rec.method == "POST" and rec.target == "/nowhere/x?b=2&a=1" and rec.body == body
    assert rec.headers == [("Host", "example.invalid"), ("X-Two", "2"), ("x-one", "1"),
                           ("Content-Length", str(len(body)))]
