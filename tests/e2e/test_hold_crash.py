"""The hold queue survives crashes, and holds resolve at their deadline.

Each test runs its own tollgate on its own data dir (the shared one must
not be killed): ``kill -9`` and a restart on the same data dir, a kill
between the recorded release decision and the forward
(``TOLLGATE_FAILPOINT=release_before_forward=MS``), and a short hold TTL.
Nothing held is lost, nothing is forwarded twice.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from twilio.request_validator import RequestValidator

import sdk_clients as S
from conftest import ADMIN_TOKEN, start_tollgate
from helpers import (AdminApi, assert_forwarded_identically, assert_nothing_reached, fresh_mobile, only_request,
                     wait_for)

pytestmark = pytest.mark.needs_tollgate


def _send(base_url: str, to: str, **kw):
    kw.setdefault("from_", S.TWILIO_FROM)
    return S.twilio_client(base_url).messages.create(to=to, body="Your code is 123456", **kw)


def _baseline(fake, to: str, **kw):
    """The request the SDK makes, sent straight to the fake."""
    _send(fake.url, to, **kw)
    rec = only_request(fake)
    fake.clear()
    return rec


@pytest.fixture
def own_tollgate(fake, pki, tmp_path):
    """``start(**kw)`` -> a tollgate on ``tmp_path/tg`` (the same data dir on
    every call: a restart).  Every process started is killed at teardown."""
    started = []

    def start(**kw):
        tg = start_tollgate(fake, pki, tmp_path / "tg", **kw)
        started.append(tg)
        return tg, AdminApi(tg.admin_url, ADMIN_TOKEN)

    yield start
    for tg in started:
        tg.kill9()


# ---- (c) kill -9 -> restart -> still held -> release -> forwarded once -------


def test_held_send_survives_kill9_and_is_forwarded_once_after_release(fake, own_tollgate):
    tg, api = own_tollgate()
    to = fresh_mobile()
    entry = api.add_list("number", to, "hold", note="kill -9 test")
    direct = _baseline(fake, to)
    msg = _send(tg.url, to)
    assert msg.status == "queued"
    assert_nothing_reached(fake)

    tg.kill9()
    tg, api = own_tollgate()

    assert [(h["id"], h["state"]) for h in api.held()] == [(msg.sid, "held")]
    assert any(e["id"] == entry["id"] and e["value"] == to for e in api.lists()), "the run-time list was lost"
    assert _send(tg.url, to).status == "queued", "the persisted hold list no longer applies"
    seen = S.twilio_client(tg.url).messages(msg.sid).fetch()
    assert seen.status == "queued"
    assert_nothing_reached(fake)

    released = api.release(msg.sid)
    assert released["state"] == "released"
    via = only_request(fake)
    assert_forwarded_identically(direct, via, fake)
    assert released["real_id"] == via.response_json()["sid"]
    time.sleep(1.3)  # a maintenance tick: nothing else goes out
    assert len(fake.snapshot()) == 1
    assert api.request("POST", f"/api/v1/held/{msg.sid}/release").status_code == 409
    assert len(fake.snapshot()) == 1


# ---- (d) kill -9 between the release decision and the forward ----------------


def test_kill9_between_release_decision_and_forward_forwards_exactly_once_after_restart(fake, own_tollgate):
    tg, api = own_tollgate(env={"TOLLGATE_FAILPOINT": "release_before_forward=3000"})
    to = fresh_mobile()
    api.add_list("number", to, "hold")
    direct = _baseline(fake, to)
    msg = _send(tg.url, to)
    assert_nothing_reached(fake)

    outcome: list[object] = []

    def release():
        try:
            outcome.append(api.request("POST", f"/api/v1/held/{msg.sid}/release", timeout=10))
        except Exception as e:  # noqa: BLE001 - the connection dies with the process
            outcome.append(e)

    t = threading.Thread(target=release, daemon=True)
    t.start()
    wait_for(lambda: "failpoint" in tg.log_text(), timeout=10, what="the release_before_forward pause")
    tg.kill9()
    t.join(10)
    assert outcome and not hasattr(outcome[0], "status_code"), f"the release answered before the kill: {outcome}"
    assert_nothing_reached(fake)

    # Restart without the failpoint: the decided release is forwarded on
    # start-up (recovery), once.
    tg, api = own_tollgate()
    via = wait_for(lambda: fake.snapshot(), timeout=10, what="the recovered forward")
    assert len(via) == 1, [(r.method, r.target) for r in via]
    assert_forwarded_identically(direct, via[0], fake)
    row = api.held_one(msg.sid)
    assert row["state"] == "released", row
    assert row["real_id"] == via[0].response_json()["sid"]
    assert api.held() == [], "the send is still in the queue"
    time.sleep(1.3)
    assert len(fake.snapshot()) == 1, "forwarded twice"
    assert api.request("POST", f"/api/v1/held/{msg.sid}/release").status_code == 409
    assert len(fake.snapshot()) == 1


# ---- (e) expiry: the deadline resolves the hold by policy --------------------

SHORT_TTL = """
[hold]
ttl = "2s"
on_expiry = "reject"
"""


def test_hold_expires_rejects_and_posts_the_failure_callback(fake, own_tollgate, callbacks):
    tg, api = own_tollgate(policy_extra=SHORT_TTL)
    to = fresh_mobile()
    api.add_list("number", to, "hold")
    tag = uuid.uuid4().hex
    cb_url = callbacks.url(tag)
    t0 = time.monotonic()
    msg = _send(tg.url, to, status_callback=cb_url)
    held = api.held_one(msg.sid)
    assert held["state"] == "held"

    got = wait_for(lambda: callbacks.for_tag(tag), timeout=10, what="the expiry callback")
    assert got[0].at - t0 >= 1.5, "resolved before its deadline"
    p = got[0].params()
    assert (p["MessageSid"], p["MessageStatus"], p["ErrorCode"]) == (msg.sid, "failed", "30450")
    assert RequestValidator(S.TWILIO_AUTH_TOKEN).validate(cb_url, p, got[0].headers["x-twilio-signature"])
    row = api.held_one(msg.sid)
    assert row["state"] == "expired" and row["resolved_by"] == "policy:expiry", row
    seen = S.twilio_client(tg.url).messages(msg.sid).fetch()
    assert (seen.status, seen.error_code) == ("failed", 30450)
    assert_nothing_reached(fake)

    # The same deadline with on_expiry = "release", through a policy reload.
    tg.policy.write_text(tg.policy.read_text().replace('on_expiry = "reject"', 'on_expiry = "release"'))
    assert api.ok("POST", "/api/v1/reload") == {"reloaded": True}
    direct = _baseline(fake, to)
    msg2 = _send(tg.url, to)
    assert msg2.status == "queued"
    assert_nothing_reached(fake)
    via = wait_for(lambda: fake.snapshot(), timeout=10, what="the release at the deadline")
    assert_forwarded_identically(direct, via[0], fake)
    row = wait_for(lambda: (r := api.held_one(msg2.sid))["state"] == "released" and r, timeout=5)
    assert row["resolved_by"] == "policy:expiry"
    time.sleep(1.2)
    assert len(fake.snapshot()) == 1
