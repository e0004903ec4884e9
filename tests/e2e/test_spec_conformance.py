"""Synthetic answers (tollgate's rejections) and the fake's answers, checked
against the providers' OpenAPI definitions in ``../shared/specs/``.

Where a spec defines no schema for an answer, the test says so and checks the
shape the official SDK parses instead (pinned in test_fake_direct.py):

* Twilio (twilio_api_v2010.json, twilio_verify_v2.json): NO error schema at
  all -- the specs list only 2xx (and 429/408) responses, none with an error
  body.  Checked: the legacy error JSON twilio-python parses
  ({code:int, message:str, more_info:str, status:int}) and NOT the RFC 9457
  shape (type+title+status+code), which the SDK turns into a different
  exception class.
* Vonage Verify v2: not in ../shared/specs (the 2021 Nexmo definitions
  predate it).  Checked against RFC 7807 (type, title, detail, instance),
  i.e. the same required fields as messages-olympus.yml's ``Error``.
* Plivo: no spec in ../shared/specs.  Checked: {api_id:str, error:str}, what
  plivo-python reads (``response_json.error``).
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache

import jsonschema
import pytest
import requests
import yaml

import e2e_numbers as N
import sdk_clients as S
from conftest import SHARED
from helpers import assert_nothing_reached

SPECS = SHARED / "specs"


# --------------------------------------------------------------------------
# OpenAPI 3.0 schema -> JSON Schema
# --------------------------------------------------------------------------


def _to_json_schema(node):
    """OpenAPI 3.0 schema objects -> draft 2020-12: ``nullable`` becomes a
    null alternative; OpenAPI-only keywords are dropped."""
    if isinstance(node, list):
        return [_to_json_schema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k in ("nullable", "example", "examples", "xml", "discriminator", "readOnly", "writeOnly", "deprecated",
                 "externalDocs") or k.startswith("x-"):
            continue
        if k == "properties" and isinstance(v, dict):
            out[k] = {pk: _to_json_schema(pv) for pk, pv in v.items()}
        else:
            out[k] = _to_json_schema(v)
    if node.get("nullable") is True:
        if "type" in out and isinstance(out["type"], str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = list(out["enum"]) + [None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@lru_cache(maxsize=None)
def _spec(name: str) -> dict:
    path = SPECS / name
    text = path.read_text()
    doc = json.loads(text) if name.endswith(".json") else yaml.safe_load(text)
    return doc


def validator(spec_name: str, schema_name: str) -> jsonschema.protocols.Validator:
    doc = _spec(spec_name)
    components = _to_json_schema(copy.deepcopy(doc["components"]))
    root = {"$ref": f"#/components/schemas/{schema_name}", "components": components}
    cls = jsonschema.validators.validator_for({"$schema": "https://json-schema.org/draft/2020-12/schema"})
    cls.check_schema(root)
    return cls(root)


def validate(spec_name: str, schema_name: str, instance) -> None:
    errors = sorted(validator(spec_name, schema_name).iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, f"{spec_name} {schema_name}: " + "; ".join(
        f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5])


def all_string_values(obj) -> bool:
    if isinstance(obj, dict):
        return all(all_string_values(v) for v in obj.values())
    if isinstance(obj, list):
        return all(all_string_values(v) for v in obj)
    return isinstance(obj, str)


TWILIO_LEGACY_ERROR = {
    "type": "object",
    "required": ["code", "message", "more_info", "status"],
    "properties": {
        "code": {"type": "integer"},
        "message": {"type": "string", "minLength": 1},
        "more_info": {"type": "string", "pattern": r"^https://www\.twilio\.com/docs/errors/\d+$"},
        "status": {"type": "integer"},
    },
}
RFC7807 = {
    "type": "object",
    "required": ["type", "title", "detail", "instance"],
    "properties": {k: {"type": "string"} for k in ("type", "title", "detail", "instance")},
}
PLIVO_ERROR = {
    "type": "object",
    "required": ["api_id", "error"],
    "properties": {"api_id": {"type": "string", "minLength": 1}, "error": {"type": "string", "minLength": 1}},
}


# --------------------------------------------------------------------------
# The converter itself, and the fake's answers (no tollgate needed)
# --------------------------------------------------------------------------


def test_nullable_conversion():
    v = validator("twilio/twilio_api_v2010.json", "api.v2010.account.message")
    assert v.is_valid({"sid": None, "status": "queued"})
    assert not v.is_valid({"sid": "XX123", "status": "queued"})
    assert not v.is_valid({"status": "nonsense"})


def test_fake_twilio_answers_match_spec(fake):
    client = S.twilio_client(fake.url)
    msg = client.messages.create(to=N.ALLOWED_MAIN.e164, from_=S.TWILIO_FROM, body="x")
    validate("twilio/twilio_api_v2010.json", "api.v2010.account.message", fake.last().response_json())
    client.messages(msg.sid).fetch()
    validate("twilio/twilio_api_v2010.json", "api.v2010.account.message", fake.last().response_json())
    client.api.v2010.account.messages(msg.sid).feedback.create(outcome="confirmed")
    validate("twilio/twilio_api_v2010.json", "api.v2010.account.message.message_feedback", fake.last().response_json())
    svc = client.verify.v2.services(S.TWILIO_VERIFY_SERVICE)
    svc.verifications.create(to=N.ALLOWED_MAIN.e164, channel="sms")
    validate("twilio/twilio_verify_v2.json", "verify.v2.service.verification", fake.last().response_json())
    svc.verification_checks.create(to=N.ALLOWED_MAIN.e164, code="123456")
    validate("twilio/twilio_verify_v2.json", "verify.v2.service.verification_check", fake.last().response_json())
    client.lookups.v2.phone_numbers(N.ALLOWED_MAIN.e164).fetch()
    validate("twilio/twilio_lookups_v2.json", "LookupResponse", fake.last().response_json())
    client.lookups.v2.phone_numbers(N.ALLOWED_MAIN.e164).fetch(fields="line_type_intelligence")
    validate("twilio/twilio_lookups_v2.json", "LookupResponse", fake.last().response_json())


def test_fake_vonage_answers_match_spec(fake, pki):
    from vonage_messages import Sms
    from vonage_sms import SmsMessage
    from vonage_verify_legacy import VerifyRequest

    with S.vonage_ca(pki.ca_cert):
        client = S.vonage_client(fake.tls_hostport)
        client.sms.send(SmsMessage(to=N.ALLOWED_MAIN.digits, from_=S.VONAGE_FROM, text="x"))
        body = fake.last().response_json()
        validate("vonage/sms.yml", "SMS", body)
        assert all_string_values(body)
        client.verify_legacy.start_verification(VerifyRequest(number=N.ALLOWED_MAIN.digits, brand="T"))
        validate("vonage/verify.yml", "requestResponse", fake.last().response_json())
        client.verify_legacy.check_code("abcdef0123456789abcdef0123456789", "1234")
        validate("vonage/verify.yml", "checkResponse", fake.last().response_json())
        client.messages.send(Sms(to=N.ALLOWED_MAIN.digits, from_=S.VONAGE_FROM, text="x"))
        assert fake.last().status == 202
        validate("vonage/messages-olympus.yml", "Response", fake.last().response_json())


# --------------------------------------------------------------------------
# tollgate's synthetic rejections
# --------------------------------------------------------------------------

REJECT_CASES = [
    pytest.param(N.INVALID, id="invalid"),
    pytest.param(N.GEO[0], id="geo"),
    pytest.param(N.FRAUD[0], id="fraud-number"),
    pytest.param(N.FRAUD[1], id="fraud-range"),
    pytest.param(N.LINE_TYPE_MAIN, id="line_type", marks=pytest.mark.needs_classifier),
]
REJECT_CASES_7 = [  # Vonage endpoints whose SDKs insist on 7+ digits
    pytest.param(N.INVALID_7, id="invalid", marks=pytest.mark.needs_classifier),
    *REJECT_CASES[1:],
]


def _is_json_ct(r: requests.Response) -> bool:
    ct = r.headers.get("Content-Type", "").split(";")[0].strip().lower()
    return ct == "application/json" or ct.endswith("+json")


@pytest.mark.needs_tollgate
@pytest.mark.parametrize("case", REJECT_CASES)
def test_twilio_rejections(fake, tollgate, case):
    auth = (S.TWILIO_ACCOUNT_SID, S.TWILIO_AUTH_TOKEN)
    for path, data in [
        (f"/2010-04-01/Accounts/{S.TWILIO_ACCOUNT_SID}/Messages.json",
         {"To": case.e164, "From": S.TWILIO_FROM, "Body": "x"}),
        (f"/v2/Services/{S.TWILIO_VERIFY_SERVICE}/Verifications", {"To": case.e164, "Channel": "sms"}),
    ]:
        r = requests.post(tollgate.url + path, data=data, auth=auth, timeout=10)
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
        assert _is_json_ct(r), r.headers
        body = r.json()
        # No error schema in the Twilio specs: the SDK's legacy shape instead.
        jsonschema.validate(body, TWILIO_LEGACY_ERROR)
        assert body["status"] == r.status_code
        assert body["more_info"].endswith(str(body["code"]))
        assert not ("type" in body and "title" in body), "RFC 9457 shape -> TwilioServiceException, not TwilioRestException"
    assert_nothing_reached(fake)


@pytest.mark.needs_tollgate
@pytest.mark.parametrize("case", REJECT_CASES)
def test_vonage_sms_rejections(fake, tollgate, pki, case):
    for data in ({"api_key": S.VONAGE_API_KEY, "api_secret": S.VONAGE_API_SECRET, "to": case.digits,
                  "from": S.VONAGE_FROM, "text": "x"},):
        # form, as the SDK sends it, and JSON, which the SMS API also accepts
        for kw in ({"data": data}, {"json": data}):
            r = requests.post(f"https://{tollgate.tls_hostport}/sms/json", verify=pki.ca_cert, timeout=10, **kw)
            assert r.status_code == 200, r.text
            assert _is_json_ct(r)
            body = r.json()
            # sms.yml: 200 -> oneOf [SMS, Error].  Both schemas are all-optional
            # objects, so a real answer matches both and a strict oneOf can never
            # pass; validate against the error branch, then the "all strings" rule.
            validate("vonage/sms.yml", "Error", body)
            assert all_string_values(body), f"every value must be a string: {body}"
            assert body["message-count"] == "1"
            m = body["messages"][0]
            assert m["status"] != "0" and m.get("error-text"), body
    assert_nothing_reached(fake)


@pytest.mark.needs_tollgate
@pytest.mark.parametrize("case", REJECT_CASES_7)
def test_vonage_verify_legacy_rejections(fake, tollgate, pki, case):
    data = {"api_key": S.VONAGE_API_KEY, "api_secret": S.VONAGE_API_SECRET, "number": case.digits, "brand": "T"}
    r = requests.post(f"https://{tollgate.tls_hostport}/verify/json", data=data, verify=pki.ca_cert, timeout=10)
    assert r.status_code == 200 and _is_json_ct(r), r.text
    body = r.json()
    validate("vonage/verify.yml", "requestErrorResponse", body)
    assert body["status"] != "0" and body.get("error_text")
    assert all_string_values(body)
    assert_nothing_reached(fake)


@pytest.mark.needs_tollgate
@pytest.mark.parametrize("case", REJECT_CASES_7)
def test_vonage_messages_and_verify2_rejections(fake, tollgate, pki, case):
    auth = (S.VONAGE_API_KEY, S.VONAGE_API_SECRET)
    base = f"https://{tollgate.tls_hostport}"
    r = requests.post(base + "/v1/messages", json={"message_type": "text", "channel": "sms", "to": case.digits,
                                                   "from": S.VONAGE_FROM, "text": "x"},
                      auth=auth, verify=pki.ca_cert, timeout=10)
    assert 400 <= r.status_code < 500 and _is_json_ct(r), r.text
    validate("vonage/messages-olympus.yml", "Error", r.json())
    r = requests.post(base + "/v2/verify", json={"brand": "T", "workflow": [{"channel": "sms", "to": case.digits}]},
                      auth=auth, verify=pki.ca_cert, timeout=10)
    assert 400 <= r.status_code < 500 and _is_json_ct(r), r.text
    # Verify v2 is not in ../shared/specs: RFC 7807 fields.
    jsonschema.validate(r.json(), RFC7807)
    assert_nothing_reached(fake)


@pytest.mark.needs_tollgate
@pytest.mark.parametrize("case", REJECT_CASES)
def test_plivo_rejections(fake, tollgate, case):
    r = requests.post(f"{tollgate.url}/v1/Account/{S.PLIVO_AUTH_ID}/Message/",
                      json={"src": S.PLIVO_FROM, "dst": case.e164, "text": "x"},
                      auth=(S.PLIVO_AUTH_ID, S.PLIVO_AUTH_TOKEN), timeout=10)
    assert r.status_code in (400, 403) and _is_json_ct(r), r.text
    # No Plivo spec in ../shared/specs: the shape plivo-python reads.
    jsonschema.validate(r.json(), PLIVO_ERROR)
    assert_nothing_reached(fake)
