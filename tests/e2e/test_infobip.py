"""Infobip SMS -> tollgate (plain listener) -> fake aggregator.

Two SDKs, one per API version:

* v3 ``POST /sms/3/messages``: infobip-api-python-client 6.x (the official,
  OpenAPI-generated client), in this process.
* v2 ``POST /sms/2/text/advanced``: infobip-api-python-sdk 5.x (pydantic 1),
  in its own venv through ``drivers/infobip_send.py`` (``S.infobip_v2``).

Infobip refuses a destination with HTTP 200 and a per-message status in group
5 REJECTED, so a blocked send is answered that way (the SDKs return normally;
the platform reads ``status.groupName``), and in a send to several
destinations only the blocked ones are removed and reported REJECTED.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
import requests
from infobip_api_client.exceptions import BadRequestException
from infobip_api_client.models import (
    ApiError,
    SmsDeliveryResult,
    SmsDestination,
    SmsMessage,
    SmsMessageContent,
    SmsMessageDeliveryReporting,
    SmsRequest,
    SmsTextContent,
    SmsWebhooks,
)

import e2e_numbers as N
import sdk_clients as S
from helpers import assert_forwarded_identically, assert_nothing_reached, blocked_params, only_request, wait_for

pytestmark = pytest.mark.needs_tollgate

TEXT = "Your code is 123456"
# routes/infobip.toml: the REJECTED status id per refusal class.
STATUS_ID = {"invalid": 8, "line_type": 52, "geo": 6, "fraud": 14}
STATUS_NAME = {8: "REJECTED_PREFIX_MISSING", 52: "REJECTED_DESTINATION", 6: "REJECTED_NETWORK",
               14: "REJECTED_DESTINATION_BLOCKLISTED"}
DROPPED_ID = 14  # how a dropped destination of a multi-destination send is reported
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _headers() -> dict:
    """What a hand-written integration sends (the SDKs add their own User-Agent)."""
    return {"Authorization": f"App {S.INFOBIP_API_KEY}", "Content-Type": "application/json",
            "Accept": "application/json"}


def _post(base: str, path: str, body) -> requests.Response:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(base + path, data=data, headers=_headers(), timeout=15)


def _rejected(status: dict, reason: str) -> None:
    assert (status["groupId"], status["groupName"]) == (5, "REJECTED"), status
    assert status["id"] == STATUS_ID[reason] and status["name"] == STATUS_NAME[STATUS_ID[reason]], status
    assert isinstance(status["description"], str) and status["description"], status


# ---- v3: infobip-api-python-client ------------------------------------------


def _v3_request(*groups, callback=None) -> SmsRequest:
    """One SmsMessage per group of destinations (digits, as Infobip recommends)."""
    webhooks = SmsWebhooks(delivery=SmsMessageDeliveryReporting(url=callback)) if callback else None
    return SmsRequest(messages=[
        SmsMessage(destinations=[SmsDestination(to=t) for t in tos], sender=S.INFOBIP_FROM,
                   content=SmsMessageContent(actual_instance=SmsTextContent(text=TEXT)), webhooks=webhooks)
        for tos in groups])


def _v3_send(base: str, *groups, callback=None):
    """The SDK's answer with its raw bytes (``*_with_http_info`` is the SDK's own API)."""
    return S.infobip_client(base).send_sms_messages_with_http_info(sms_request=_v3_request(*groups, callback=callback))


def test_v3_allowed_is_byte_identical(fake, tollgate):
    to = N.ALLOWED_MAIN.digits
    _v3_send(fake.url, [to], callback="https://platform.example/dlr")
    direct = only_request(fake)
    assert (direct.method, direct.path) == ("POST", "/sms/3/messages")
    assert direct.header("Authorization") == f"App {S.INFOBIP_API_KEY}"
    fake.clear()
    resp = _v3_send(tollgate.url, [to], callback="https://platform.example/dlr")
    via = only_request(fake)
    assert_forwarded_identically(direct, via, fake)
    assert resp.status_code == 200 and resp.raw_data == via.response_body
    m = resp.data.messages[0]
    assert m.message_id == via.response_json()["messages"][0]["messageId"]
    assert (m.destination, m.status.group_name.value, m.status.name) == (to, "PENDING", "PENDING_ACCEPTED")


@pytest.mark.parametrize("case", N.ALLOWED, ids=lambda c: c.id)
def test_v3_allowed_mobiles_reach_the_fake(fake, tollgate, case):
    resp = _v3_send(tollgate.url, [case.digits])
    assert resp.data.messages[0].status.group_id == 1
    assert only_request(fake).json()["messages"][0]["destinations"] == [{"to": case.digits}]


@pytest.mark.parametrize("case", blocked_params())
def test_v3_blocked_is_a_rejected_message(fake, tollgate, case):
    resp = _v3_send(tollgate.url, [case.digits])
    assert resp.status_code == 200
    body = json.loads(resp.raw_data)
    assert "bulkId" not in body and len(body["messages"]) == 1, body
    m = body["messages"][0]
    assert m["destination"] == case.digits and m["details"] == {"messageCount": 1}
    assert UUID.fullmatch(m["messageId"]), m
    _rejected(m["status"], case.reason)
    # The SDK parsed it as any Infobip answer.
    assert resp.data.messages[0].status.group_name.value == "REJECTED"
    assert_nothing_reached(fake)


def test_v3_mixed_destinations_forward_only_the_allowed_ones(fake, tollgate):
    allowed, blocked = N.ALLOWED_MAIN.digits, N.FRAUD[0].digits
    resp = _v3_send(tollgate.url, [allowed, blocked])
    via = only_request(fake)
    assert blocked not in via.body.decode(), f"blocked number forwarded: {via.body!r}"
    assert via.json()["messages"][0]["destinations"] == [{"to": allowed}]
    assert via.json()["messages"][0]["content"] == {"text": TEXT}
    msgs = resp.data.messages
    assert [m.destination for m in msgs] == [allowed, blocked]
    assert msgs[0].message_id == via.response_json()["messages"][0]["messageId"]
    assert msgs[0].status.group_id == 1
    assert (msgs[1].status.group_id, msgs[1].status.id) == (5, DROPPED_ID)


def test_v3_a_message_left_without_destinations_is_not_forwarded(fake, tollgate):
    """Two messages; the second has only a blocked destination: it is removed
    whole (Infobip would refuse `destinations: []`)."""
    allowed, blocked = N.ALLOWED[1].digits, N.GEO[0].digits
    resp = _v3_send(tollgate.url, [allowed], [blocked])
    via = only_request(fake)
    assert via.status == 200, via.response_body
    assert [m["destinations"] for m in via.json()["messages"]] == [[{"to": allowed}]]
    assert [m.destination for m in resp.data.messages] == [allowed, blocked]
    assert resp.data.messages[1].status.group_name.value == "REJECTED"


def test_v3_all_blocked_is_refused_and_nothing_forwarded(fake, tollgate):
    resp = _v3_send(tollgate.url, [N.FRAUD[0].digits, N.FRAUD[1].digits])
    assert resp.status_code == 200
    assert all(m.status.group_id == 5 for m in resp.data.messages)
    assert_nothing_reached(fake)


def test_v3_all_allowed_multi_is_byte_identical(fake, tollgate):
    tos = [N.ALLOWED[0].digits, N.ALLOWED[2].digits]
    _v3_send(fake.url, tos)
    direct = only_request(fake)
    fake.clear()
    resp = _v3_send(tollgate.url, tos)
    via = only_request(fake)
    assert_forwarded_identically(direct, via, fake)
    assert resp.raw_data == via.response_body and resp.data.bulk_id


def test_v3_malformed_is_e400_apierror(fake, tollgate):
    r = _post(tollgate.url, "/sms/3/messages", b"{not json")
    assert r.status_code == 400
    err = ApiError.from_dict(r.json())  # every field the SDK requires is there
    assert err.error_code == "E400" and err.description and err.action
    assert (err.violations, err.resources) == ([], [])
    assert_nothing_reached(fake)


def test_v3_sdk_raises_bad_request_for_tollgates_400(fake, tollgate):
    """A body without destinations (valid JSON) through the SDK's own call path."""
    api = S.infobip_client(tollgate.url)
    with pytest.raises(BadRequestException) as ei:
        api.send_sms_messages(sms_request=SmsRequest.from_dict(
            {"messages": [{"sender": S.INFOBIP_FROM, "destinations": [{"to": ""}], "content": {"text": TEXT}}]}))
    assert ei.value.status == 400 and isinstance(ei.value.data, ApiError)
    assert ei.value.data.error_code == "E400"
    assert_nothing_reached(fake)


def test_v3_query_string_send_is_refused(fake, tollgate):
    q = f"?to={N.ALLOWED_MAIN.digits}&sender={S.INFOBIP_FROM}&text=hi"
    assert requests.get(fake.url + "/sms/3/text/query" + q, headers=_headers(), timeout=15).status_code == 200
    fake.clear()
    r = requests.get(tollgate.url + "/sms/3/text/query" + q, headers=_headers(), timeout=15)
    assert r.status_code == 400 and r.json()["errorCode"] == "E400", r.text
    assert_nothing_reached(fake)


def test_v3_reports_pass_through(fake, tollgate):
    mid = _v3_send(fake.url, [N.ALLOWED_MAIN.digits]).data.messages[0].message_id
    S.infobip_client(fake.url).get_outbound_sms_message_delivery_reports(message_id=mid)
    direct = fake.last()
    fake.clear()
    got = S.infobip_client(tollgate.url).get_outbound_sms_message_delivery_reports(message_id=mid)
    assert_forwarded_identically(direct, only_request(fake), fake)
    assert got.results[0].message_id == mid and got.results[0].status.group_name.value == "DELIVERED"


def test_v3_held_answers_pending_then_release_forwards_it_once(fake, tollgate, admin, hold_number):
    to = hold_number().lstrip("+")
    _v3_send(fake.url, [to])
    direct = only_request(fake)
    fake.clear()
    resp = _v3_send(tollgate.url, [to])
    assert resp.status_code == 200
    m = resp.data.messages[0]
    assert UUID.fullmatch(m.message_id), m.message_id
    assert (m.destination, m.status.group_id, m.status.name) == (to, 1, "PENDING_ACCEPTED")
    assert_nothing_reached(fake)
    held = admin.held_one(m.message_id)
    assert held is not None and held["state"] == "held", held
    assert (held["provider"], held["route"], held["to"]) == ("infobip", "infobip.sms-v3", "+" + to)
    released = admin.release(m.message_id)
    via = only_request(fake)
    assert_forwarded_identically(direct, via, fake)
    assert released["state"] == "released"
    assert released["real_id"] == via.response_json()["messages"][0]["messageId"] != m.message_id


def test_v3_rejected_hold_posts_an_infobip_delivery_report(fake, tollgate, admin, hold_number, callbacks):
    to = hold_number().lstrip("+")
    tag = uuid.uuid4().hex
    mid = _v3_send(tollgate.url, [to], callback=callbacks.url(tag)).data.messages[0].message_id
    assert admin.reject(mid)["state"] == "rejected"
    cb = wait_for(lambda: callbacks.for_tag(tag), timeout=10, what="the delivery report")[0]
    assert cb.headers.get("content-type", "").startswith("application/json")
    report = SmsDeliveryResult.from_dict(json.loads(cb.body)).results[0]  # the official model
    assert (report.message_id, report.to, report.sender) == (mid, to, S.INFOBIP_FROM)
    assert (report.status.group_name.value, report.status.group_id) == ("REJECTED", 5)
    assert report.message_count == 1 and report.done_at is not None
    assert_nothing_reached(fake)


# ---- v2: infobip-api-python-sdk (own venv, subprocess) ----------------------


def _v2_payload(*groups, callback=None) -> dict:
    msgs = []
    for tos in groups:
        m = {"destinations": [{"to": t} for t in tos], "from": S.INFOBIP_FROM, "text": TEXT}
        if callback:
            m["notifyUrl"] = callback
        msgs.append(m)
    return {"messages": msgs}


def _v2_send(base: str, *groups, callback=None) -> dict:
    out = S.infobip_v2(base, payload=_v2_payload(*groups, callback=callback))
    assert out["exception"] is None, out
    return out


def test_v2_allowed_is_byte_identical(fake, tollgate):
    to = N.ALLOWED_MAIN.digits
    _v2_send(fake.url, [to], callback="https://platform.example/dlr")
    direct = only_request(fake)
    assert (direct.method, direct.path) == ("POST", "/sms/2/text/advanced")
    fake.clear()
    out = _v2_send(tollgate.url, [to], callback="https://platform.example/dlr")
    via = only_request(fake)
    assert_forwarded_identically(direct, via, fake)
    assert out["result_class"] == "SendSMSResponse" and out["body"] == via.response_body.decode()
    assert out["id"] == via.response_json()["messages"][0]["messageId"]


@pytest.mark.parametrize("case", N.ALLOWED, ids=lambda c: c.id)
def test_v2_allowed_mobiles_reach_the_fake(fake, tollgate, case):
    out = _v2_send(tollgate.url, [case.digits])
    assert out["ok"] and out["messages"][0]["status"]["groupId"] == 1
    assert [d["to"] for d in only_request(fake).json()["messages"][0]["destinations"]] == [case.digits]


@pytest.mark.parametrize("case", blocked_params())
def test_v2_blocked_is_a_rejected_message(fake, tollgate, case):
    out = _v2_send(tollgate.url, [case.digits])
    # SendSMSResponse: the SDK's models accepted every status field.
    assert (out["result_class"], out["status"]) == ("SendSMSResponse", 200), out
    assert len(out["messages"]) == 1 and out["messages"][0]["to"] == case.digits
    _rejected(out["messages"][0]["status"], case.reason)
    assert_nothing_reached(fake)


def test_v2_mixed_destinations_forward_only_the_allowed_ones(fake, tollgate):
    allowed, blocked = N.ALLOWED_MAIN.digits, N.FRAUD[1].digits
    out = _v2_send(tollgate.url, [allowed, blocked])
    via = only_request(fake)
    sent = via.json()
    assert blocked not in via.body.decode(), f"blocked number forwarded: {via.body!r}"
    assert sent["messages"][0]["destinations"] == [{"messageId": None, "to": allowed}]
    # The rest of what the SDK wrote is kept, nulls included, in order.
    assert list(sent) == ["bulkId", "messages", "sendingSpeedLimit", "urlOptions", "tracking"]
    assert sent["messages"][0]["text"] == TEXT and sent["messages"][0]["flash"] is False
    assert out["result_class"] == "SendSMSResponse"
    assert [m["to"] for m in out["messages"]] == [allowed, blocked]
    assert out["messages"][0]["messageId"] == via.response_json()["messages"][0]["messageId"]
    assert (out["messages"][1]["status"]["groupId"], out["messages"][1]["status"]["id"]) == (5, DROPPED_ID)


def test_v2_malformed_is_bad_request(fake, tollgate):
    r = _post(tollgate.url, "/sms/2/text/advanced", {"messages": []})
    assert r.status_code == 400
    assert r.json() == {"requestError": {"serviceException": {"messageId": "BAD_REQUEST", "text": "Bad request"}}}
    assert_nothing_reached(fake)


def test_v2_held_then_rejected_posts_an_infobip_delivery_report(fake, tollgate, admin, hold_number, callbacks):
    to = hold_number().lstrip("+")
    tag = uuid.uuid4().hex
    out = _v2_send(tollgate.url, [to], callback=callbacks.url(tag))
    assert out["result_class"] == "SendSMSResponse" and UUID.fullmatch(out["id"]), out
    assert out["messages"][0]["status"]["name"] == "PENDING_ACCEPTED"
    assert_nothing_reached(fake)
    assert admin.held_one(out["id"])["route"] == "infobip.sms-v2"
    admin.reject(out["id"])
    cb = wait_for(lambda: callbacks.for_tag(tag), timeout=10, what="the delivery report")[0]
    parsed = S.infobip_v2("", op="parse_dlr", body=cb.body.decode())
    assert parsed["ok"], parsed
    r = parsed["reports"][0]
    assert (r["messageId"], r["to"], r["smsCount"]) == (out["id"], to, 1)
    assert (r["status"]["groupName"], r["error"]["name"]) == ("REJECTED", "NO_ERROR")
    assert_nothing_reached(fake)


# ---- the other send endpoints: never forwarded unscored ---------------------


@pytest.mark.parametrize("path", ["/sms/1/text/advanced", "/sms/2/binary/advanced"])
def test_advanced_twins_are_scored(fake, tollgate, path):
    msg = {"destinations": [{"to": N.FRAUD[0].digits}], "from": S.INFOBIP_FROM}
    msg.update({"binary": {"hex": "54 65 73 74"}} if "binary" in path else {"text": TEXT})
    r = _post(tollgate.url, path, {"messages": [msg]})
    assert r.status_code == 200 and r.json()["messages"][0]["status"]["groupName"] == "REJECTED", r.text
    assert_nothing_reached(fake)
    msg["destinations"] = [{"to": N.ALLOWED_MAIN.digits}]
    assert _post(tollgate.url, path, {"messages": [msg]}).status_code == 200
    assert only_request(fake).path == path


@pytest.mark.parametrize("path", ["/sms/1/text/single", "/sms/2/text/single"])
def test_legacy_single_is_scored(fake, tollgate, path):
    body = {"from": S.INFOBIP_FROM, "to": [N.ALLOWED_MAIN.digits, N.GEO[1].digits], "text": TEXT}
    r = _post(tollgate.url, path, body)
    assert r.status_code == 200
    assert [m["status"]["groupName"] for m in r.json()["messages"]] == ["REJECTED"], r.text
    assert_nothing_reached(fake)
    _post(fake.url, path, {**body, "to": N.ALLOWED_MAIN.digits})
    direct = only_request(fake)
    fake.clear()
    _post(tollgate.url, path, {**body, "to": N.ALLOWED_MAIN.digits})
    assert_forwarded_identically(direct, only_request(fake), fake)


def test_legacy_multi_is_scored(fake, tollgate):
    body = {"messages": [{"from": S.INFOBIP_FROM, "to": N.ALLOWED_MAIN.digits, "text": TEXT},
                         {"from": S.INFOBIP_FROM, "to": N.FRAUD[0].digits, "text": TEXT}]}
    r = _post(tollgate.url, "/sms/1/text/multi", body)
    assert r.status_code == 200 and r.json()["messages"][0]["status"]["groupId"] == 5
    assert_nothing_reached(fake)


def test_v1_query_string_send_is_refused(fake, tollgate):
    q = f"?to={N.ALLOWED_MAIN.digits}&from={S.INFOBIP_FROM}&text=hi"
    r = requests.get(tollgate.url + "/sms/1/text/query" + q, headers=_headers(), timeout=15)
    assert r.status_code == 400
    assert r.json()["requestError"]["serviceException"]["messageId"] == "BAD_REQUEST"
    assert_nothing_reached(fake)


def test_conversion_confirmation_passes_through(fake, tollgate):
    requests.post(fake.url + "/ct/1/log/end/2033247207850523791", headers=_headers(), timeout=15)
    direct = only_request(fake)
    fake.clear()
    r = requests.post(tollgate.url + "/ct/1/log/end/2033247207850523791", headers=_headers(), timeout=15)
    assert r.status_code == 200
    assert_forwarded_identically(direct, only_request(fake), fake)
