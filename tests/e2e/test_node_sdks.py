"""The official Node.js SDKs -> tollgate -> fake aggregator.

``twilio``, ``@vonage/server-sdk`` and ``plivo`` from npm (pinned in
``package.json`` / ``package-lock.json`` beside this file; ``npm ci`` in
tests/e2e installs them into tests/e2e/node_modules).  Each call is one run of
``node node/send.js <sdk> <op> --base <url> --to <number>``, which builds the
client exactly as the README's Node snippets do and prints one JSON line:
``{"ok": true, "id", "status"}`` or ``{"ok": false, "exception", "status",
"code", "message", "body"}`` (what the SDK raised and what it exposes).

All three Node SDKs take a full origin as their base URL (scheme included),
so they use tollgate's plain listener; one Vonage case also goes through the
TLS listener with the test CA (``--tls-ca`` -> ``NODE_EXTRA_CA_CERTS``).

Without ``node`` these tests skip, except under CI (``CI`` set), where they
fail: the suite must not go green by not running them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import e2e_numbers as N
from helpers import assert_forwarded_identically, assert_nothing_reached, blocked_params, only_request

pytestmark = pytest.mark.needs_tollgate

HERE = Path(__file__).resolve().parent
SEND_JS = HERE / "node" / "send.js"
NODE_MODULES = HERE / "node_modules"

# Environment the driver must not inherit: proxies (loopback only here) and
# the Twilio SDK's host rewriting / CA override.
_DROP_ENV = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
             "TWILIO_EDGE", "TWILIO_REGION", "TWILIO_CA_BUNDLE", "NODE_EXTRA_CA_CERTS")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


if shutil.which("node") is None and not _in_ci():
    pytest.skip("node not found (apt-get install -y nodejs npm; then `npm ci` in tests/e2e)",
                allow_module_level=True)


@pytest.fixture(scope="session")
def node() -> str:
    exe = shutil.which("node")
    if exe is None:
        msg = "node not found (apt-get install -y nodejs npm; then `npm ci` in tests/e2e)"
        if _in_ci():
            pytest.fail(msg + " [CI is set: the Node SDK suite may not be skipped]")
        pytest.skip(msg)
    for pkg in ("twilio", "@vonage/server-sdk", "plivo"):
        if not (NODE_MODULES / pkg / "package.json").is_file():
            pytest.fail(f"{NODE_MODULES / pkg} missing: run `npm ci` in {HERE} (tests/run.sh does)")
    return exe


@pytest.fixture(scope="session")
def vonage_app_key(tmp_path_factory) -> str:
    """An RSA key for the Vonage application JWT (Verify v2 takes no other auth)."""
    path = tmp_path_factory.mktemp("vonage-app") / "private.key"
    r = subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                        "-out", str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return str(path)


@pytest.fixture
def send(node, vonage_app_key):
    """``send(sdk, op, base, to, **options)`` -> the driver's JSON answer."""

    def run(sdk: str, op: str, base: str, to: str, **options: str) -> dict:
        args = [node, str(SEND_JS), sdk, op, "--base", base, "--to", to]
        if (sdk, op) == ("vonage", "verify2"):
            options.setdefault("private_key", vonage_app_key)
        for k, v in options.items():
            args += ["--" + k.replace("_", "-"), v]
        env = {k: v for k, v in os.environ.items() if k not in _DROP_ENV}
        r = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env, cwd=HERE)
        lines = r.stdout.splitlines()
        assert r.returncode == 0 and len(lines) == 1, (
            f"send.js {sdk} {op}: exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr[-3000:]}")
        return json.loads(lines[0])

    return run


# (sdk, op) -> how it writes the number, extra options, the id in the fake's
# answer, and the SDK's status of an accepted send.
OPS = {
    ("twilio", "message"): dict(digits=False, opts={"callback": "https://example.com/cb"},
                                answer_id=lambda a: a["sid"], status="queued"),
    ("twilio", "verify"): dict(digits=False, opts={}, answer_id=lambda a: a["sid"], status="pending"),
    ("vonage", "sms"): dict(digits=True, opts={"client_ref": "e2e-ref"},
                            answer_id=lambda a: a["messages"][0]["message-id"], status="0"),
    ("vonage", "verify2"): dict(digits=True, opts={}, answer_id=lambda a: a["request_id"], status=None),
    ("plivo", "message"): dict(digits=False, opts={"callback": "https://example.com/status"},
                               answer_id=lambda a: a["message_uuid"], status="message(s) queued"),
}
OP_IDS = [f"{s}-{o}" for s, o in OPS]


def _number(op: tuple[str, str], case: N.Case) -> str:
    return case.digits if OPS[op]["digits"] else case.e164


# ---- allowed sends: byte-identical, the SDK reports success ----------------


@pytest.mark.parametrize("op", list(OPS), ids=OP_IDS)
def test_allowed_is_byte_identical(fake, tollgate, send, op):
    spec = OPS[op]
    to = _number(op, N.ALLOWED_MAIN)
    direct_out = send(*op, fake.url, to, **spec["opts"])
    assert direct_out["ok"], direct_out
    direct = only_request(fake)
    fake.clear()

    out = send(*op, tollgate.url, to, **spec["opts"])
    via = only_request(fake)
    assert_forwarded_identically(direct, via, fake)
    assert out["ok"], out
    assert out["id"] == spec["answer_id"](via.response_json()), "the SDK did not read the fake's answer"
    assert out["status"] == spec["status"]


def test_vonage_sms_over_tls_is_byte_identical(fake, tollgate, send, pki):
    """https base URL (tollgate's TLS listener), test CA via NODE_EXTRA_CA_CERTS."""
    to = N.ALLOWED_MAIN.digits
    assert send("vonage", "sms", f"https://{fake.tls_hostport}", to, tls_ca=pki.ca_cert)["ok"]
    direct = only_request(fake)
    assert direct.scheme == "https"
    fake.clear()
    out = send("vonage", "sms", f"https://{tollgate.tls_hostport}", to, tls_ca=pki.ca_cert)
    via = only_request(fake)
    assert via.scheme == "http"  # tollgate -> fake is the --upstream URL
    assert_forwarded_identically(direct, via, fake)
    assert out["ok"] and out["id"] == via.response_json()["messages"][0]["message-id"]


# ---- blocked sends: the SDK's usual error, nothing forwarded ----------------

BLOCKED = blocked_params([N.LINE_TYPE_MAIN, N.GEO[0]])


def _twilio_body(status: int, code: int, message: str) -> dict:
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}


@pytest.mark.parametrize("case", BLOCKED)
def test_twilio_message_blocked(fake, tollgate, send, case):
    """RestException: status, code and message straight from Twilio's error JSON."""
    status, code, message = {
        "line_type": (400, 21614, "'To' number is not a valid mobile number"),
        "geo": (400, 21408, "Permission to send an SMS has not been enabled for the region indicated by "
                            f"the 'To' number: {case.e164}"),
    }[case.reason]
    out = send("twilio", "message", tollgate.url, case.e164)
    assert not out["ok"], f"the blocked send succeeded: {out}"
    assert (out["exception"], out["status"], out["code"]) == ("RestException", status, code), out
    assert out["message"] == message
    assert out["body"] == _twilio_body(status, code, message)
    assert_nothing_reached(fake)


@pytest.mark.parametrize("case", BLOCKED)
def test_twilio_verify_blocked(fake, tollgate, send, case):
    status, code, message = {
        "line_type": (400, 60205, "SMS is not supported by landline phone number"),
        "geo": (403, 60605, "Verification delivery attempt blocked by geo permissions"),
    }[case.reason]
    out = send("twilio", "verify", tollgate.url, case.e164)
    assert not out["ok"], f"the blocked send succeeded: {out}"
    assert (out["exception"], out["status"], out["code"]) == ("RestException", status, code), out
    assert out["body"] == _twilio_body(status, code, message)
    assert_nothing_reached(fake)


@pytest.mark.parametrize("case", BLOCKED)
def test_vonage_sms_blocked(fake, tollgate, send, case):
    """HTTP 200, messages[0].status != "0".  @vonage/sms (1.19.1 here) throws
    MessageSendPartialFailure even when the only message failed: it compares
    the failure count (number) with ``message-count``, which the API sends as
    the string "1".  It keeps the answer (camel-cased keys added), not the
    HTTP status."""
    status, text = {"line_type": ("7", "Number barred."), "geo": ("29", "Non-Whitelisted Destination")}[case.reason]
    out = send("vonage", "sms", tollgate.url, case.digits)
    assert not out["ok"], f"the blocked send succeeded: {out}"
    assert (out["exception"], out["code"]) == ("MessageSendPartialFailure", status), out
    body = out["body"]
    assert body["message-count"] == "1"
    msg = body["messages"][0]
    assert (msg["status"], msg["error-text"], msg["to"]) == (status, text, case.digits)
    assert_nothing_reached(fake)


@pytest.mark.parametrize("case", BLOCKED)
def test_vonage_verify2_blocked(fake, tollgate, send, case):
    """RFC 7807 problem JSON with a 4xx -> VetchError (response = the fetch Response)."""
    status, kind, title = {
        "line_type": (422, "https://developer.vonage.com/api-errors#invalid-params", "Invalid params"),
        "geo": (403, "https://developer.vonage.com/api-errors#forbidden", "Forbidden"),
    }[case.reason]
    out = send("vonage", "verify2", tollgate.url, case.digits)
    assert not out["ok"], f"the blocked send succeeded: {out}"
    assert (out["exception"], out["status"]) == ("VetchError", status), out
    assert out["message"] == f"Request failed with status code {status}"
    body = out["body"]
    assert {"type", "title", "detail", "instance"} <= body.keys(), body
    assert (body["type"], body["title"]) == (kind, title)
    assert_nothing_reached(fake)


@pytest.mark.parametrize("case", BLOCKED)
def test_plivo_message_blocked(fake, tollgate, send, case):
    """plivo-node picks GeoPermissionError for a 403 on POST .../Message/, but
    its Babel-compiled error classes hand back the plain ``Error`` that
    ``Error.call()`` made (``instanceof GeoPermissionError`` is false): what a
    platform can test is ``err.status`` and ``err.message`` (= the body's
    ``error``)."""
    message = {
        "line_type": f"destination number(s) {case.e164} cannot receive SMS",
        "geo": f"This destination number is not allowed due to geo permissions: {case.e164}",
    }[case.reason]
    out = send("plivo", "message", tollgate.url, case.e164)
    assert not out["ok"], f"the blocked send succeeded: {out}"
    assert (out["exception"], out["status"]) == ("Error", 403), out
    assert out["message"] == message == out["body"]["error"]
    assert isinstance(out["body"].get("api_id"), str) and out["body"]["api_id"]
    assert_nothing_reached(fake)
