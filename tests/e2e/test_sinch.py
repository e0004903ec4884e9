"""sinch 2.x (SMS REST API, batches) -> tollgate (plain listener) -> fake aggregator.

The SDK raises ``SmsException("Error <status>")`` for every answer >= 400 and
keeps the parsed XMS error (``{"code", "text"}``) in ``e.http_response.body``;
that is what a platform reads, so that is what is checked here.
"""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest
from sinch.domains.sms.api.v1.exceptions import SmsException

import e2e_numbers as N
import sdk_clients as S
from helpers import assert_forwarded_identically, assert_nothing_reached, blocked_params, only_request, wait_for

pytestmark = pytest.mark.needs_tollgate

BATCH_ID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")  # a ULID, like 01FC66621XXXXX119Z8PMV1QPQ

# The route file's refusals (routes/sinch.toml), per reason.
EXPECTED = {
    "invalid": (400, "syntax_invalid_parameter_format"),
    "line_type": (403, "illegal_number_type"),
    "geo": (403, "forbidden"),
    "fraud": (403, "forbidden"),
}


def _send(client, to, **kw):
    return client.sms.batches.send_sms(to=to, from_=S.SINCH_FROM, body="Your code is 123456", **kw)


def _refusal(client, to, **kw):
    """Sends and returns (the exception, the raw answer the SDK got)."""
    with S.sinch_responses(client) as seen:
        with pytest.raises(SmsException) as ei:
            _send(client, to, **kw)
    return ei.value, seen[-1]


# ---- allowed: forwarded byte for byte -----------------------------------------


def test_batch_allowed_is_byte_identical(fake, tollgate):
    kw = dict(delivery_report="per_recipient", event_destination_target="https://example.com/dlr",
              client_reference="e2e")
    _send(S.sinch_client(fake.url), [N.ALLOWED_MAIN.e164], **kw)
    direct = only_request(fake)
    fake.clear()
    client = S.sinch_client(tollgate.url)
    with S.sinch_responses(client) as seen:
        batch = _send(client, [N.ALLOWED_MAIN.e164], **kw)
    via = only_request(fake)
    assert_forwarded_identically(direct, via, fake)
    assert via.path == f"/xms/v1/{S.SINCH_SERVICE_PLAN_ID}/batches"
    assert via.header("Authorization") == f"Bearer {S.SINCH_API_TOKEN}"
    assert seen[-1].status_code == 201 and seen[-1].content == via.response_body
    assert batch.id == via.response_json()["id"] and BATCH_ID.fullmatch(batch.id)
    assert batch.to == [N.ALLOWED_MAIN.e164] and batch.type == "mt_text"


@pytest.mark.parametrize("case", N.ALLOWED, ids=lambda c: c.id)
def test_batch_allowed_mobiles_reach_the_fake(fake, tollgate, case):
    _send(S.sinch_client(tollgate.url), [case.e164])
    assert only_request(fake).json()["to"] == [case.e164]


def test_batch_of_allowed_mobiles_is_byte_identical(fake, tollgate):
    to = [N.ALLOWED[0].e164, N.ALLOWED[1].e164, N.ALLOWED[2].e164]
    _send(S.sinch_client(fake.url), to)
    direct = only_request(fake)
    fake.clear()
    batch = _send(S.sinch_client(tollgate.url), to)
    assert_forwarded_identically(direct, only_request(fake), fake)
    assert batch.to == to


# ---- blocked: Sinch's own error, nothing forwarded ----------------------------


@pytest.mark.parametrize("case", blocked_params())
def test_batch_blocked(fake, tollgate, case):
    e, raw = _refusal(S.sinch_client(tollgate.url), [case.e164])
    status, code = EXPECTED[case.reason]
    assert raw.status_code == status == e.response_status_code
    assert raw.headers["Content-Type"].startswith("application/json")
    body = raw.json()
    assert set(body) == {"code", "text"}, body
    assert body["code"] == code and isinstance(body["text"], str)
    assert case.e164 in body["text"]
    assert e.args == (f"Error {status}",) and e.is_from_server
    assert e.http_response.body == body, "the SDK exposes the parsed XMS error"
    assert_nothing_reached(fake)


def test_batch_with_one_blocked_recipient_is_refused_whole(fake, tollgate):
    """Sinch validates the whole `to` list before creating a batch: one bad
    recipient refuses it (partial = "reject"), so the allowed one is not sent
    either, and the blocked one never reaches the aggregator."""
    allowed, blocked = N.ALLOWED_MAIN.e164, N.FRAUD[0].e164
    e, raw = _refusal(S.sinch_client(tollgate.url), [allowed, blocked])
    assert raw.status_code == 403 and raw.json()["code"] == "forbidden"
    assert blocked in raw.json()["text"]
    assert_nothing_reached(fake)


def test_replacing_a_batch_with_a_blocked_recipient_is_refused(fake, tollgate):
    client = S.sinch_client(tollgate.url)
    batch = _send(client, [N.ALLOWED_MAIN.e164], send_at="2099-01-01T00:00:00Z")
    fake.clear()
    with S.sinch_responses(client) as seen, pytest.raises(SmsException):
        client.sms.batches.replace_sms(batch.id, to=[N.GEO[0].e164], from_=S.SINCH_FROM, body="hi")
    assert seen[-1].status_code == 403 and seen[-1].json()["code"] == "forbidden"
    assert_nothing_reached(fake)
    # An allowed replacement goes through as sent.
    kw = dict(to=[N.ALLOWED[1].e164], from_=S.SINCH_FROM, body="hi")
    S.sinch_client(fake.url).sms.batches.replace_sms(batch.id, **kw)
    direct = only_request(fake)
    fake.clear()
    replaced = client.sms.batches.replace_sms(batch.id, **kw)
    assert_forwarded_identically(direct, only_request(fake), fake)
    assert (replaced.id, replaced.to) == (batch.id, [N.ALLOWED[1].e164])


# ---- everything else passes through ---------------------------------------------


def test_batch_get_passes_through(fake, tollgate):
    batch_id = _send(S.sinch_client(fake.url), [N.ALLOWED_MAIN.e164]).id
    S.sinch_client(fake.url).sms.batches.get(batch_id)
    direct = fake.last()
    fake.clear()
    client = S.sinch_client(tollgate.url)
    with S.sinch_responses(client) as seen:
        got = client.sms.batches.get(batch_id)
    via = only_request(fake)
    assert_forwarded_identically(direct, via, fake)
    assert seen[-1].content == via.response_body
    assert got.id == batch_id and got.to == [N.ALLOWED_MAIN.e164]


def test_dry_run_delivery_report_and_feedback_pass_through(fake, tollgate):
    to = [N.ALLOWED_MAIN.e164]
    batch_id = _send(S.sinch_client(fake.url), to, feedback_enabled=True).id

    def calls(client):
        client.sms.batches.dry_run_sms(to=to, from_=S.SINCH_FROM, body="Your code is 123456")
        client.sms.delivery_reports.get(batch_id, report_type="full")
        client.sms.batches.send_delivery_feedback(batch_id, recipients=to)

    fake.clear()
    calls(S.sinch_client(fake.url))
    direct = fake.snapshot()
    fake.clear()
    calls(S.sinch_client(tollgate.url))
    via = fake.snapshot()
    assert [(r.method, r.path) for r in via] == [(r.method, r.path) for r in direct]
    assert [r.path.rsplit("/", 1)[-1] for r in via] == ["dry_run", "delivery_report", "delivery_feedback"]
    for d, v in zip(direct, via):
        assert_forwarded_identically(d, v, fake)
    assert via[2].status == 202


# ---- held: Sinch's "created" answer, then release or reject ------------------


def test_held_batch_answers_created_then_release_forwards_it_once(fake, tollgate, admin, hold_number):
    to = hold_number()
    kw = dict(event_destination_target="https://platform.example/sinch/dlr")
    _send(S.sinch_client(fake.url), [to], **kw)
    direct = only_request(fake)
    fake.clear()

    client = S.sinch_client(tollgate.url)
    with S.sinch_responses(client) as seen:
        batch = _send(client, [to], **kw)
    assert seen[-1].status_code == 201
    assert BATCH_ID.fullmatch(batch.id) and batch.id.startswith("01"), batch.id
    assert (batch.type, batch.to, batch.from_, batch.canceled) == ("mt_text", [to], S.SINCH_FROM, False)
    assert batch.body == "Your code is 123456"
    assert_nothing_reached(fake)

    held = admin.held_one(batch.id)
    assert held is not None and held["state"] == "held", held
    assert (held["provider"], held["route"], held["to"]) == ("sinch", "sinch.batches", to)

    # The synthetic batch id is answered by tollgate.
    seen_batch = client.sms.batches.get(batch.id)
    assert (seen_batch.id, seen_batch.canceled, seen_batch.to) == (batch.id, False, [to])
    assert_nothing_reached(fake)

    released = admin.release(batch.id)
    assert released["state"] == "released", released
    via = only_request(fake)
    assert_forwarded_identically(direct, via, fake)
    real = via.response_json()["id"]
    assert released["real_id"] == real != batch.id

    fake.clear()
    assert admin.request("POST", f"/api/v1/held/{batch.id}/release").status_code == 409
    time.sleep(0.3)
    assert_nothing_reached(fake)

    # After release: the upstream's batch for the real id, under ours.
    after = client.sms.batches.get(batch.id)
    lookup = only_request(fake)
    assert lookup.method == "GET" and lookup.path.endswith(f"/batches/{real}")
    assert after.id == batch.id and after.to == [to]


def test_rejected_hold_posts_an_aborted_recipient_delivery_report(fake, tollgate, admin, hold_number, callbacks):
    to = hold_number()
    tag = uuid.uuid4().hex
    client = S.sinch_client(tollgate.url)
    batch = _send(client, [to], delivery_report="per_recipient", event_destination_target=callbacks.url(tag))
    assert_nothing_reached(fake)

    rejected = admin.reject(batch.id)
    assert rejected["state"] == "rejected", rejected
    cb = wait_for(lambda: callbacks.for_tag(tag), timeout=10, what="the delivery report callback")[0]
    assert cb.headers.get("content-type", "").startswith("application/json")
    dlr = json.loads(cb.body)
    assert dlr["type"] == "recipient_delivery_report_sms"
    assert (dlr["batch_id"], dlr["recipient"]) == (batch.id, to)
    assert (dlr["status"], dlr["code"]) == ("Aborted", 408)
    # The SDK's own callback parser reads it as a recipient delivery report.
    parsed = client.sms.sinch_events("unused-secret").parse_event(cb.body)
    assert type(parsed).__name__ == "RecipientDeliveryReport"
    assert (parsed.batch_id, parsed.recipient, parsed.status, parsed.code) == (batch.id, to, "Aborted", 408)

    assert_nothing_reached(fake)
    assert admin.request("POST", f"/api/v1/held/{batch.id}/release").status_code == 409
    # A look-up of the rejected batch: canceled, never sent.
    seen_batch = client.sms.batches.get(batch.id)
    assert (seen_batch.id, seen_batch.canceled) == (batch.id, True)
    assert_nothing_reached(fake)
    time.sleep(1.5)
    assert len(callbacks.for_tag(tag)) == 1
