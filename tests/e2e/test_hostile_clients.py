"""Issue #18 (b) and (c): hostile clients, over raw sockets.

One tollgate for the module, every upstream pointed at ``StrictUpstream``
(which flags any malformed or ambiguous request tollgate sends it), short
header / body timeouts from a config file, and a ``Canary`` listener that
hostile requests name as their target: tollgate must never connect to it.

Covered here, and not in tests/bad_input.rs (which has: body over the limit
with honest / chunked / lying lengths, stalled headers and bodies, silent
clients, malformed bodies, unknown paths, garbage):

* request smuggling: CL+TE together, differing duplicate Content-Length,
  obfuscated Transfer-Encoding, header names a CGI-style upstream reads as
  Transfer-Encoding;
* oversized and very numerous headers;
* slowloris that keeps making progress (headers one byte at a time, a
  streamed passthrough body one byte at a time), idle keep-alive;
* absolute-form targets, foreign Host, CONNECT, forwarding headers: never an
  open proxy;
* a send spelled differently (encoded characters, dot segments, doubled or
  trailing slashes, sibling formats) must not slip past scoring into a
  passthrough; traversal on the admin port;
* HTTP/2 (served on the plain listener by prior knowledge): rapid reset,
  CONTINUATION flood, content-length / connection-header violations, ping
  flood, CONNECT;
* 2,500 concurrent connections;
* (c) no credential, token or full number in any log line or metric label.
"""

from __future__ import annotations

import base64
import json
import resource
import select
import socket
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

import e2e_numbers as N
import sdk_clients as S
from conftest import ADMIN_TOKEN, UPSTREAM_NAMES, start_tollgate
from helpers import AdminApi, fresh_mobile
from rawhttp import (CONTINUATION, END_STREAM, HEADERS, PING, RST_STREAM, SETTINGS,
                     H2Conn, chunked, closed_within, connect, exchange, frame, h2_request, hpack, read_response,
                     request)
from strict_upstream import Canary, Fault, StrictUpstream

pytestmark = pytest.mark.needs_tollgate

HEADER_TIMEOUT = 1.0
LIMITS = f"""\
[limits]
header_read_timeout_ms = {int(HEADER_TIMEOUT * 1000)}
body_read_timeout_ms = 1000
upstream_connect_timeout_ms = 1000
upstream_response_timeout_ms = 1000
"""
BOUND = 4.0  # any answer or close later than this is a hang

FORM = "application/x-www-form-urlencoded"
JSON_CT = "application/json"
SID = S.TWILIO_ACCOUNT_SID
BASIC = "Basic " + base64.b64encode(f"{SID}:{S.TWILIO_AUTH_TOKEN}".encode()).decode()
MESSAGES = f"/2010-04-01/Accounts/{SID}/Messages.json"
CALLS = f"/2010-04-01/Accounts/{SID}/Calls.json"  # a passthrough
ALLOWED = N.ALLOWED_MAIN.e164
BLOCKED = N.FRAUD[0].e164  # deny-listed number: "fraud"
USED_NUMBERS: list[str] = []


def marker() -> str:
    return "hostile" + uuid.uuid4().hex[:16]


def twilio_form(to: str, m: str) -> bytes:
    return f"To={quote(to)}&From=%2B14155550100&Body={m}".encode()


def send_request(to: str, m: str, extra: list[tuple[str, str]] = (), path: str = MESSAGES) -> bytes:
    return request("POST", path, [("Authorization", BASIC), ("Content-Type", FORM), *extra], twilio_form(to, m))


def status_of(r) -> str:
    return "no answer" if r is None else f"{r.status} {r.body[:160]!r}"


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def strict():
    u = StrictUpstream().start()
    yield u
    u.stop()


@pytest.fixture(scope="module")
def canary():
    c = Canary()
    yield c
    c.stop()


@pytest.fixture(scope="module")
def tg(strict, fake_session, pki, tmp_path_factory):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 16384)
    if soft < want:  # tollgate inherits it; the concurrency test needs it
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    work: Path = tmp_path_factory.mktemp("tg-hostile")
    cfg = work / "serve.toml"
    cfg.write_text(LIMITS)
    args = ["--config", str(cfg)]
    for name in UPSTREAM_NAMES:
        args += ["--upstream", f"{name}={strict.url}"]
    t = start_tollgate(fake_session, pki, work, tuple(args))
    yield t
    t.stop()


@pytest.fixture
def up(strict, tg, canary):
    if tg.proc.poll() is not None:
        pytest.fail(f"tollgate died (exit {tg.proc.returncode}):\n{tg.log_text()[-3000:]}")
    strict.reset()
    before = canary.count()
    yield strict
    assert canary.count() == before, "tollgate connected to an address a client named: an open proxy"
    if tg.proc.poll() is not None:
        pytest.fail(f"tollgate died (exit {tg.proc.returncode}):\n{tg.log_text()[-3000:]}")


def still_serving(tg, up) -> None:
    """A normal allowed send goes through, once."""
    m = marker()
    r = exchange(tg.proxy, send_request(ALLOWED, m), timeout=BOUND)
    assert r is not None and r.status == 200, f"a normal send afterwards: {status_of(r)}"
    assert len(up.matching(m.encode())) == 1


# --------------------------------------------------------------------------
# Request smuggling
# --------------------------------------------------------------------------


def _smuggle(te_header: bytes, with_cl: bool = True, te_first: bool = True) -> tuple[bytes, str, str, bytes]:
    """A send whose body is chunked (allowed number, marker m1), followed by
    a hidden passthrough request (marker m2). Returns (bytes, m1, m2, the
    decoded body)."""
    m1, m2 = marker(), marker()
    body = twilio_form(ALLOWED, m1)
    hidden = request("GET", f"{CALLS}?smuggled={m2}", [("Authorization", BASIC)])
    framed = chunked(body, 16) + hidden
    head = f"POST {MESSAGES} HTTP/1.1\r\nHost: t\r\nAuthorization: {BASIC}\r\nContent-Type: {FORM}\r\n".encode()
    cl = f"Content-Length: {len(framed)}\r\n".encode() if with_cl else b""
    head += (te_header + cl) if te_first else (cl + te_header)
    return head + b"\r\n" + framed, m1, m2, body


@pytest.mark.parametrize("te_first", [True, False], ids=["te-then-cl", "cl-then-te"])
def test_content_length_with_transfer_encoding_never_smuggles_a_second_request(tg, up, te_first):
    data, m1, m2, body = _smuggle(b"Transfer-Encoding: chunked\r\n", with_cl=True, te_first=te_first)
    s = connect(tg.proxy)
    try:
        s.sendall(data)
        r = read_response(s, timeout=BOUND)
        assert r is not None, "no answer"
        # RFC 9112 6.3: after a message with both, the server MUST close.
        assert closed_within(s, 2.0) is not None, "the connection stayed open after a CL+TE request"
    finally:
        s.close()
    time.sleep(0.3)
    assert up.sightings(m2.encode()) == 0, "the request hidden after the chunked body reached the upstream"
    got = up.matching(m1.encode())
    if r.status == 200:
        assert len(got) == 1 and got[0].body == body, f"forwarded body: {[g.body for g in got]}"
    else:
        assert r.status == 400 and not got, status_of(r)


@pytest.mark.parametrize("te", [
    b"Transfer-Encoding: xchunked\r\n",
    b"Transfer-Encoding: chunked, identity\r\n",
    b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
    b"Transfer-Encoding: identity\r\n",
    b"Transfer-Encoding: chunked;q=1\r\n",
    b"Transfer-Encoding : chunked\r\n",
    b"Transfer-Encoding:\r\n chunked\r\n",
    b"Transfer-Encoding: \x0bchunked\r\n",
    b"Transfer-Encoding: chu\x00nked\r\n",
], ids=["xchunked", "chunked-identity", "two-lines", "identity", "params", "space-before-colon", "obs-fold",
        "vtab", "nul"])
def test_an_obfuscated_transfer_encoding_is_refused(tg, up, te):
    data, m1, m2, _ = _smuggle(te, with_cl=True)
    r = exchange(tg.proxy, data, timeout=BOUND)
    time.sleep(0.1)
    assert up.sightings(m1.encode()) == 0 and up.sightings(m2.encode()) == 0, \
        f"an ambiguous request reached the upstream ({status_of(r)})"
    assert r is None or r.status == 400, status_of(r)


@pytest.mark.parametrize("te", [b"Transfer-Encoding:  chunked\r\n", b"Transfer-Encoding: CHUNKED\r\n",
                                b"Transfer-Encoding:\tchunked \r\n"], ids=["ows", "upper", "tab"])
def test_a_legal_spelling_of_chunked_is_read_as_chunked(tg, up, te):
    data, m1, m2, body = _smuggle(te, with_cl=False)
    r = exchange(tg.proxy, data, timeout=BOUND)
    assert r is not None and r.status == 200, status_of(r)
    got = up.matching(m1.encode())
    assert len(got) == 1 and got[0].body == body


@pytest.mark.parametrize("cl", [b"Content-Length: 5\r\nContent-Length: 60\r\n", b"Content-Length: 5, 60\r\n",
                                b"Content-Length: +60\r\n", b"Content-Length: 0x3c\r\n", b"Content-Length: 6 0\r\n",
                                b"Content-Length: -1\r\n"],
                         ids=["two-headers", "list", "plus", "hex", "space", "negative"])
def test_differing_or_malformed_content_lengths_are_refused(tg, up, cl):
    m = marker()
    body = twilio_form(ALLOWED, m)
    head = f"POST {MESSAGES} HTTP/1.1\r\nHost: t\r\nAuthorization: {BASIC}\r\nContent-Type: {FORM}\r\n".encode()
    r = exchange(tg.proxy, head + cl + b"\r\n" + body, timeout=BOUND)
    time.sleep(0.1)
    assert up.sightings(m.encode()) == 0, f"forwarded despite {cl!r}: {status_of(r)}"
    assert r is None or r.status == 400, status_of(r)


@pytest.mark.parametrize("name", ["Transfer_Encoding", "transfer_encoding", "Content_Length"])
def test_header_names_a_cgi_style_upstream_would_read_as_framing_never_reach_it(tg, up, name):
    """CGI/WSGI-style stacks map `_` and `-` alike (HTTP_TRANSFER_ENCODING):
    forwarded next to tollgate's own Content-Length, `Transfer_Encoding:
    chunked` makes such an upstream read the (client-controlled) body as
    chunked: a request smuggled onto tollgate's pooled connection, unscored."""
    value = "chunked" if "ransfer" in name else "0"
    m = marker()
    r = exchange(tg.proxy, send_request(ALLOWED, m, extra=[(name, value)]), timeout=BOUND)
    time.sleep(0.1)
    got = up.matching(m.encode())
    if r is not None and r.status == 400 and not got:
        return  # refused: fine
    forwarded = [k for g in got for k, _ in g.headers if k.lower().replace("_", "-") in
                 ("transfer-encoding", "content-length") and k.lower() not in ("transfer-encoding", "content-length")]
    assert not forwarded, (f"tollgate forwarded {forwarded} (a framing header to CGI-style servers) next to its own "
                           f"Content-Length ({status_of(r)})")
    up.violations.clear()


def test_conflicting_content_types_on_a_send_are_refused_or_read_as_the_upstream_would(tg, up):
    """Vonage SMS reads form or JSON by Content-Type. Two Content-Type
    headers: tollgate reads the first (form: `to` = an allowed number), an
    upstream that takes the last reads JSON (`to` = the blocked number)."""
    m = marker()
    digits_blocked, digits_ok = BLOCKED.lstrip("+"), ALLOWED.lstrip("+")
    body = (f'{{"api_key":"{S.VONAGE_API_KEY}","api_secret":"{S.VONAGE_API_SECRET}","from":"Acme",'
            f'"to":"{digits_blocked}","text":"{m}","x":"&to={digits_ok}&"}}').encode()
    USED_NUMBERS.append(BLOCKED)
    r = exchange(tg.proxy, request("POST", "/sms/json", [("Content-Type", FORM), ("Content-Type", JSON_CT)], body),
                 timeout=BOUND)
    time.sleep(0.1)
    assert up.sightings(m.encode()) == 0, (
        f"a body that is JSON to the blocked number under its second Content-Type was scored as the form its first "
        f"one names and forwarded ({status_of(r)})")


# --------------------------------------------------------------------------
# Oversized and numerous headers
# --------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [
    [("X-Big", "a" * (1024 * 1024))],
    [(f"X-H{i}", "v") for i in range(150)],
    [(f"X-H{i}", "v" * 10) for i in range(10000)],
    [("Cookie", "c=" + "b" * 8000)] * 60,
    # 100 KB: past tollgate's 64 KiB but under what the strict upstream
    # takes, so forwarding it would show as a sighting.
    [(f"X-Pad{i}", "p" * 5000) for i in range(20)],
], ids=["one-1MB-header", "150-headers", "10000-headers", "60x8KB", "20x5KB"])
def test_oversized_or_numerous_headers_are_refused_promptly(tg, up, extra):
    m = marker()
    t0 = time.monotonic()
    r = exchange(tg.proxy, send_request(ALLOWED, m, extra=extra), timeout=BOUND)
    took = time.monotonic() - t0
    time.sleep(0.1)
    assert up.sightings(m.encode()) == 0, "a request with those headers was forwarded"
    assert r is None or r.status in (400, 413, 431), status_of(r)
    assert took < BOUND
    still_serving(tg, up)


# --------------------------------------------------------------------------
# Slow and idle clients
# --------------------------------------------------------------------------


def test_headers_dripped_one_byte_at_a_time_are_cut_at_the_header_timeout(tg, up):
    """Progress does not buy time: the header timeout is for the whole head."""
    s = connect(tg.proxy)
    data = send_request(ALLOWED, marker(), extra=[("X-Pad", "p" * 200)])
    head = data.split(b"\r\n\r\n")[0]
    closed_at = None
    t0 = time.monotonic()
    try:
        for b in head:
            try:
                s.sendall(bytes([b]))
            except OSError:
                closed_at = time.monotonic() - t0
                break
            time.sleep(0.02)
            if time.monotonic() - t0 > BOUND + 1:
                break
        if closed_at is None:
            left = closed_within(s, 0.5)
            closed_at = None if left is None else time.monotonic() - t0
    finally:
        s.close()
    assert closed_at is not None and closed_at < HEADER_TIMEOUT + 2.0, (
        f"a client dripping its headers was still connected after {time.monotonic() - t0:.1f}s "
        f"(header timeout {HEADER_TIMEOUT}s)")


def test_an_idle_keep_alive_connection_is_closed(tg, up):
    s = connect(tg.proxy)
    try:
        s.sendall(request("GET", CALLS, [("Authorization", BASIC)]))
        r = read_response(s, timeout=BOUND, method="GET")
        assert r is not None and r.status == 200
        took = closed_within(s, HEADER_TIMEOUT + 3.0)
    finally:
        s.close()
    assert took is not None, f"an idle keep-alive connection was still open {HEADER_TIMEOUT + 3.0}s later"


def test_a_passthrough_body_dripped_slowly_ends_in_bounded_time(tg, up):
    """Passthrough bodies stream (no body timeout in tollgate): the client
    trickles a POST body; the upstream waits for all of it; tollgate's
    upstream response timeout must still end the exchange."""
    up.program(Fault("ok"))
    s = connect(tg.proxy)
    t0 = time.monotonic()
    ended = None
    try:
        s.sendall(f"POST {CALLS} HTTP/1.1\r\nHost: t\r\nAuthorization: {BASIC}\r\nContent-Type: {FORM}\r\n"
                  f"Content-Length: 400\r\n\r\n".encode())
        stop = time.monotonic() + BOUND + 1
        s.setblocking(False)
        while time.monotonic() < stop:
            try:
                s.send(b"a")
            except BlockingIOError:
                pass
            except OSError:
                ended = time.monotonic() - t0
                break
            try:
                data = s.recv(4096)
                if data or data == b"":
                    ended = time.monotonic() - t0
                    break
            except BlockingIOError:
                pass
            except OSError:
                ended = time.monotonic() - t0
                break
            time.sleep(0.1)
    finally:
        s.close()
    assert ended is not None and ended < BOUND, \
        f"a passthrough body dripped at 10 bytes/s held the exchange open for {time.monotonic() - t0:.1f}s"


# --------------------------------------------------------------------------
# Never an open proxy
# --------------------------------------------------------------------------


def _open_proxy_cases(c: str) -> list[tuple[str, bytes]]:
    body = twilio_form(ALLOWED, "openproxy")
    send_h = [("Authorization", BASIC), ("Content-Type", FORM)]
    return [
        ("absolute-send", request("POST", f"http://{c}{MESSAGES}", send_h, body, host=c)),
        ("absolute-passthrough", request("GET", f"http://{c}{CALLS}", [("Authorization", BASIC)], host=c)),
        ("absolute-https", request("GET", f"https://{c}{CALLS}", [("Authorization", BASIC)], host=c)),
        ("absolute-userinfo", request("GET", f"http://user:pw@{c}{CALLS}", [("Authorization", BASIC)], host=c)),
        ("absolute-unknown-path", request("GET", f"http://{c}/", [], host=c)),
        ("absolute-no-host", request("GET", f"http://{c}{CALLS}", [("Authorization", BASIC)], host=None)),
        ("host-header", request("GET", CALLS, [("Authorization", BASIC)], host=c)),
        ("host-and-absolute-differ", request("GET", f"http://{c}{CALLS}", [], host="api.twilio.com")),
        ("connect", f"CONNECT {c} HTTP/1.1\r\nHost: {c}\r\n\r\n".encode()),
        ("connect-absolute", f"CONNECT http://{c}/ HTTP/1.1\r\nHost: {c}\r\n\r\n".encode()),
        ("network-path", request("GET", f"//{c}{CALLS}", [("Authorization", BASIC)])),
        ("forwarded-headers", request("GET", CALLS, [("X-Forwarded-Host", c), ("Forwarded", f"host={c}"),
                                                     ("X-Forwarded-Proto", "http"), ("X-Original-URL", f"http://{c}/"),
                                                     ("X-Rewrite-URL", f"http://{c}/"), ("X-Host", c)])),
        ("options-star", b"OPTIONS * HTTP/1.1\r\nHost: " + c.encode() + b"\r\n\r\n"),
        ("http10-absolute", f"GET http://{c}{CALLS} HTTP/1.0\r\n\r\n".encode()),
    ]


def test_tollgate_never_connects_where_a_client_points_it(tg, up, canary):
    before = canary.count()
    answers = {}
    for name, data in _open_proxy_cases(canary.addr):
        r = exchange(tg.proxy, data, timeout=BOUND)
        answers[name] = None if r is None else r.status
        assert r is None or b"canary" not in r.body, f"{name}: the canary's answer came back"
    # h2 with the canary as :authority, and CONNECT over h2.
    c = H2Conn.open(tg.proxy)
    try:
        c.send(h2_request(1, "GET", CALLS, [("authorization", BASIC)], authority=canary.addr))
        c.send(h2_request(3, "CONNECT", "", authority=canary.addr, end_stream=False))
        answers["h2-authority"] = c.response(1, BOUND)[0]
        answers["h2-connect"] = c.response(3, BOUND)[0]
    finally:
        c.close()
    time.sleep(0.3)
    assert canary.count() == before, f"tollgate connected to the canary {canary.count() - before} times: {answers}"
    assert not up.violations, up.violations
    # Every passthrough that was forwarded went to the configured upstream with its Host.
    for req in up.requests:
        assert req.header("host") == up.authority


# --------------------------------------------------------------------------
# A send spelled differently must not slip past scoring
# --------------------------------------------------------------------------

VK, VS = S.VONAGE_API_KEY, S.VONAGE_API_SECRET
BD = BLOCKED.lstrip("+")


def _variant_cases() -> list[tuple[str, str, str, str]]:
    """(id, path, content type, body template with {m}). Every body names the
    deny-listed number; what matters is only that it never reaches the
    upstream, whichever way tollgate handles the spelling."""
    tw = f"To={quote(BLOCKED)}&From=%2B14155550100&Body={{m}}"
    tv = f"To={quote(BLOCKED)}&Channel=sms&CustomFriendlyName={{m}}"
    vs = f"api_key={VK}&api_secret={VS}&from=Acme&to={BD}&text={{m}}"
    vl = f"api_key={VK}&api_secret={VS}&number={BD}&brand={{m}}"
    vv2 = json.dumps({"brand": "{m}", "workflow": [{"channel": "sms", "to": BD}]})
    vm = json.dumps({"message_type": "text", "channel": "sms", "to": BD, "from": "Acme", "text": "{m}"})
    pl = json.dumps({"src": "+14155550100", "dst": BLOCKED, "text": "{m}"})
    tx = json.dumps({"from": "+18445550001", "to": BLOCKED, "text": "{m}"})
    txv = json.dumps({"phone_number": BLOCKED, "verify_profile_id": "{m}"})
    si = json.dumps({"from": "Acme", "to": [BD], "body": "{m}"})
    bi = json.dumps({"originator": "Acme", "recipients": [BD], "body": "{m}"})
    ib = json.dumps({"messages": [{"destinations": [{"to": BD}], "from": "Acme", "text": "{m}"}]})
    a = f"/2010-04-01/Accounts/{SID}"
    return [
        # Twilio Messages (send /…/Messages.json; passthrough /2010-04-01/)
        ("tw-trailing-slash", f"{a}/Messages.json/", FORM, tw),
        ("tw-encoded-dot", f"{a}/Messages%2Ejson", FORM, tw),
        ("tw-encoded-dot-lower", f"{a}/Messages%2ejson", FORM, tw),
        ("tw-encoded-letter", f"{a}/%4Dessages.json", FORM, tw),
        ("tw-dot-segment", f"{a}/./Messages.json", FORM, tw),
        ("tw-dot-dot-segment", f"{a}/x/../Messages.json", FORM, tw),
        ("tw-encoded-dot-dot", f"{a}/x/%2e%2e/Messages.json", FORM, tw),
        ("tw-double-slash", f"{a}//Messages.json", FORM, tw),
        ("tw-double-slash-early", f"/2010-04-01//Accounts/{SID}/Messages.json", FORM, tw),
        ("tw-encoded-slash", f"/2010-04-01/Accounts/{SID}%2FMessages.json", FORM, tw),
        ("tw-matrix-param", f"{a}/Messages.json;x=1", FORM, tw),
        ("tw-no-extension", f"{a}/Messages", FORM, tw),  # Twilio answers in XML
        ("tw-xml", f"{a}/Messages.xml", FORM, tw),
        ("tw-account-traversal", f"/2010-04-01/Accounts/AC1/../{SID}/Messages.json", FORM, tw),
        # Twilio Verify (send /v2/Services/{service}/Verifications; passthrough /v2/Services/)
        ("tw-verify-trailing-slash", f"/v2/Services/{S.TWILIO_VERIFY_SERVICE}/Verifications/", FORM, tv),
        ("tw-verify-encoded", f"/v2/Services/{S.TWILIO_VERIFY_SERVICE}/Verification%73", FORM, tv),
        # Vonage (send /sms/json, /verify/json, /v2/verify, /v1/messages)
        ("vonage-sms-trailing-slash", "/sms/json/", FORM, vs),
        ("vonage-sms-double-slash", "/sms//json", FORM, vs),
        ("vonage-sms-dot-segment", "/sms/./json", FORM, vs),
        ("vonage-sms-encoded", "/sms/%6Ason", FORM, vs),
        ("vonage-sms-xml", "/sms/xml", FORM, vs),  # a documented Vonage SMS endpoint
        ("vonage-verify-xml", "/verify/xml", FORM, vl),  # documented legacy Verify endpoint
        ("vonage-verify-trailing-slash", "/verify/json/", FORM, vl),
        ("vonage-verify2-trailing-slash", "/v2/verify/", JSON_CT, vv2),
        ("vonage-messages-trailing-slash", "/v1/messages/", JSON_CT, vm),
        # Plivo (send /v1/Account/{account}/Message/; passthrough /v1/Account/)
        ("plivo-no-trailing-slash", f"/v1/Account/{S.PLIVO_AUTH_ID}/Message", JSON_CT, pl),
        ("plivo-double-trailing-slash", f"/v1/Account/{S.PLIVO_AUTH_ID}/Message//", JSON_CT, pl),
        ("plivo-dot-segment", f"/v1/Account/{S.PLIVO_AUTH_ID}/./Message/", JSON_CT, pl),
        # Telnyx (send /v2/messages…; passthrough /v2/messages)
        ("telnyx-trailing-slash", "/v2/messages/", JSON_CT, tx),
        ("telnyx-long-code-trailing-slash", "/v2/messages/long_code/", JSON_CT, tx),
        ("telnyx-encoded", "/v2/%6Dessages", JSON_CT, tx),
        ("telnyx-verify-trailing-slash", "/v2/verifications/sms/", JSON_CT, txv),
        # Sinch (send /xms/v1/{account}/batches; passthrough /xms/v1/)
        ("sinch-trailing-slash", "/xms/v1/plan1/batches/", JSON_CT, si),
        ("sinch-dot-segment", "/xms/v1/plan1/./batches", JSON_CT, si),
        # Bird (send /messages; passthrough /messages)
        ("bird-trailing-slash", "/messages/", JSON_CT, bi),
        ("bird-encoded", "/messag%65s", JSON_CT, bi),
        # Infobip (send /sms/2/text/advanced; passthrough /sms/2/)
        ("infobip-trailing-slash", "/sms/2/text/advanced/", JSON_CT, ib),
        ("infobip-dot-segment", "/sms/2/text/./advanced", JSON_CT, ib),
        # Controls: spelled so that no passthrough claims them either.
        ("control-encoded-prefix", f"/%32010-04-01/Accounts/{SID}/Messages.json", FORM, tw),
        ("control-canonical", f"{a}/Messages.json", FORM, tw),
    ]


VARIANTS = _variant_cases()


@pytest.mark.parametrize("case", VARIANTS, ids=[c[0] for c in VARIANTS])
def test_a_send_spelled_differently_never_reaches_the_upstream_unscored(tg, up, case):
    name, path, ctype, template = case
    m = marker()
    body = template.replace("{m}", m).encode()
    USED_NUMBERS.append(BLOCKED)
    r = exchange(tg.proxy, request("POST", path, [("Authorization", BASIC), ("Content-Type", ctype)], body),
                 timeout=BOUND)
    time.sleep(0.05)
    got = up.matching(m.encode())
    assert not got, (
        f"POST {path} with a deny-listed destination was forwarded to the upstream unscored "
        f"(tollgate answered {status_of(r)}): the send template did not match and a passthrough prefix did")


ADMIN_PATHS = [
    "/api/v1/held", "/api/v1/held/", "//api/v1/held", "/%61pi/v1/held", "/api%2Fv1%2Fheld", "/API/v1/held",
    "/healthz/../api/v1/held", "/console/../api/v1/lists", "/api/v1/../v1/lists", "/./api/v1/lists",
    "/.%2e/api/v1/decisions", "/%2e%2e/api/v1/lists", "/api/v1/lists%00", "/api/v1/lists?x=/../",
    "/metrics/../api/v1/lists",
]


def test_the_admin_api_is_not_reachable_without_the_token_by_any_spelling(tg, up):
    leaks = []
    for path in ADMIN_PATHS:
        for target in (path, f"http://127.0.0.1{path}"):
            r = exchange(tg.admin, request("GET", target, [("Authorization", "Bearer wrong")]), timeout=BOUND)
            if r is not None and (r.status < 300 or b'"items"' in r.body):
                leaks.append(f"{target} -> {r.status} {r.body[:80]!r}")
    assert not leaks, "admin API data without a valid token:\n" + "\n".join(leaks)


def test_admin_ids_spelled_as_traversal_or_injection_touch_nothing(tg, up):
    admin = AdminApi(tg.admin_url, ADMIN_TOKEN)
    number = fresh_mobile()
    USED_NUMBERS.append(number)
    entry = admin.add_list("number", number, "hold", ttl_seconds=600, note="hostile")
    try:
        m = marker()
        r = exchange(tg.proxy, send_request(number, m), timeout=BOUND)
        assert r is not None and r.status in (200, 201), status_of(r)
        sid = r.json()["sid"]
        for bad in ["x' OR '1'='1", "%' OR 1=1 --", "*", "%", "../" + sid, sid + "/..", "%2e%2e", sid + "%00",
                    quote(sid + "' OR '1'='1"), sid.lower(), " " + sid]:
            for verb in ("release", "reject"):
                resp = admin.request("POST", f"/api/v1/held/{quote(bad, safe='%')}/{verb}")
                assert resp.status_code in (400, 404, 405), f"{verb} {bad!r}: {resp.status_code} {resp.text[:200]}"
        held = admin.held_one(sid)
        assert held is not None and held["state"] == "held", f"the held send changed state: {held}"
        assert up.sightings(m.encode()) == 0, "the held send was forwarded"
    finally:
        admin.delete_list(entry["id"])
        admin.request("POST", f"/api/v1/held/{sid}/reject")


# --------------------------------------------------------------------------
# HTTP/2
# --------------------------------------------------------------------------


def test_h2_is_served_by_prior_knowledge_and_scores_like_http1(tg, up):
    out = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                          "-u", f"{SID}:{S.TWILIO_AUTH_TOKEN}", f"{tg.url}{CALLS}"],
                         capture_output=True, text=True, timeout=10)
    assert out.stdout.strip() == "2 200", f"h2 prior knowledge: {out.stdout!r} {out.stderr!r}"
    # A blocked send over h2 is blocked.
    m = marker()
    c = H2Conn.open(tg.proxy)
    try:
        c.send(h2_request(1, "POST", MESSAGES, [("content-type", FORM), ("authorization", BASIC)],
                          body=twilio_form(BLOCKED, m)))
        status, body, rst = c.response(1, BOUND)
    finally:
        c.close()
    assert status == 400 and b"21408" in body, (status, body[:200], rst)
    assert up.sightings(m.encode()) == 0


@pytest.mark.parametrize("headers,body_len", [
    ([("content-length", "10")], 60),
    ([("content-length", "200")], 60),
    ([("transfer-encoding", "chunked")], None),
    ([("connection", "keep-alive")], None),
    ([("Content-Type", FORM)], None),  # upper-case names are malformed in h2
    ([("te", "gzip")], None),
], ids=["cl-short", "cl-long", "transfer-encoding", "connection", "uppercase-name", "te-gzip"])
def test_a_malformed_h2_send_never_reaches_the_upstream(tg, up, headers, body_len):
    m = marker()
    body = f"Body={m}&To={quote(ALLOWED)}&From=%2B14155550100".encode()
    if body_len:
        body = (body + b"&Pad=" + b"p" * 100)[:body_len]
        assert m.encode() in body
    hdrs = [("authorization", BASIC)] + headers
    if not any(k.lower() == "content-type" for k, _ in headers):
        hdrs.append(("content-type", FORM))
    c = H2Conn.open(tg.proxy)
    try:
        c.send(h2_request(1, "POST", MESSAGES, hdrs, body=body))
        status, _, rst = c.response(1, BOUND)
        goaway = c.goaway()
    finally:
        c.close()
    time.sleep(0.1)
    assert up.sightings(m.encode()) == 0, f"a malformed h2 request was forwarded (status {status}, rst {rst})"
    assert status != 200, (status, rst, goaway)
    assert status is not None or rst is not None or goaway is not None or c.eof, "no answer, reset or GOAWAY"


def test_h2_rapid_reset_is_cut_off_and_does_not_take_tollgate_down(tg, up):
    """CVE-2023-44487: streams opened and cancelled at once, thousands of
    them. The server must end the connection (GOAWAY / close) long before
    the last, and forward next to nothing."""
    c = H2Conn.open(tg.proxy)
    opened = 0
    try:
        c.read_frames(0.2)
        while opened < 5000 and not c.eof and c.goaway() is None:
            burst = b""
            for _ in range(100):
                sid = 1 + 2 * opened
                burst += h2_request(sid, "GET", CALLS, [("authorization", BASIC)], end_stream=True)
                burst += frame(RST_STREAM, 0, sid, (8).to_bytes(4, "big"))  # CANCEL
                opened += 1
            if not c.send(burst):
                break
            c.read_frames(0.01)
        c.read_frames(0.3)
        cut = c.eof or c.goaway() is not None
    finally:
        c.close()
    time.sleep(0.3)
    flood = len(up.requests)
    assert cut, f"{opened} streams opened and reset at once, and the connection is still open"
    assert opened < 5000, "all 5000 streams were taken"
    assert flood < 200, f"{flood} of the {opened} reset streams were forwarded to the upstream"
    still_serving(tg, up)


def test_h2_continuation_flood_is_cut_off(tg, up):
    c = H2Conn.open(tg.proxy)
    sent = 0
    t0 = time.monotonic()
    try:
        first = hpack([(":method", "GET"), (":scheme", "http"), (":authority", "t"), (":path", CALLS)])
        c.send(frame(HEADERS, END_STREAM, 1, first))
        chunk = hpack([("x-flood", "f" * 1000)])
        while sent < 20000 and time.monotonic() - t0 < BOUND:
            if not c.send(frame(CONTINUATION, 0, 1, chunk) * 50):
                break
            sent += 50
        c.read_frames(1.0)
        cut = c.eof or c.goaway() is not None
    finally:
        c.close()
    assert cut, f"{sent} CONTINUATION frames (~{sent // 1000} MB of headers) and the connection is still open"
    still_serving(tg, up)


def test_h2_ping_and_settings_flood_does_not_take_tollgate_down(tg, up):
    c = H2Conn.open(tg.proxy)
    try:
        burst = b"".join(frame(PING, 0, 0, i.to_bytes(8, "big")) for i in range(5000))
        burst += b"".join(frame(SETTINGS, 0, 0, b"\x00\x03\x00\x00\x00\x64") for _ in range(5000))
        c.send(burst)
        c.read_frames(1.0)
    finally:
        c.close()
    still_serving(tg, up)


# --------------------------------------------------------------------------
# Many connections
# --------------------------------------------------------------------------


def _open_many(addr: str, n: int, timeout: float = 15.0) -> tuple[list[socket.socket], int]:
    """``n`` connections, connected in parallel (non-blocking connects):
    one at a time would measure the scheduler, not tollgate."""
    host, port = addr.rsplit(":", 1)
    socks: dict[int, socket.socket] = {}
    poll = select.poll()
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex((host, int(port)))
        socks[s.fileno()] = s
        poll.register(s, select.POLLOUT)
    ok, failed = [], 0
    deadline = time.monotonic() + timeout
    while len(ok) + failed < n and time.monotonic() < deadline:
        for fd, _ in poll.poll(200):
            poll.unregister(fd)
            if socks[fd].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                failed += 1
            else:
                ok.append(socks[fd])
    for s in socks.values():
        if s not in ok:
            s.close()
    return ok, failed


def test_2500_concurrent_connections_leave_tollgate_serving(tg, up):
    socks, failed = _open_many(tg.proxy, 2500)
    try:
        assert len(socks) == 2500, f"only {len(socks)} of 2500 connections were accepted ({failed} failed)"
        for i, s in enumerate(socks):
            if i % 2 == 0:  # half of them start a request and stall (slowloris)
                try:
                    s.send(b"POST " + MESSAGES.encode() + b" HTTP/1.1\r\nHost: t\r\n")
                except OSError:
                    pass
        t0 = time.monotonic()
        still_serving(tg, up)
        assert time.monotonic() - t0 < BOUND, "a normal send waited behind the 2,500 connections"
    finally:
        for s in socks:
            s.close()
    time.sleep(0.3)
    assert tg.proc.poll() is None, "tollgate died"
    still_serving(tg, up)


# --------------------------------------------------------------------------
# (c) nothing secret in the logs or the metrics, after all of the above
# --------------------------------------------------------------------------


def _number_forms(e164: str) -> set[str]:
    digits = e164.lstrip("+")
    return {f for f in (e164, digits, "%2B" + digits) if len(f.lstrip("+")) >= 7}


def test_zz_no_credential_token_or_full_number_in_logs_or_metrics(tg, strict):
    # A few more hostile requests carrying every secret in odd places.
    junk = [
        request("GET", f"{CALLS}?Token={S.TWILIO_AUTH_TOKEN}&To={quote(BLOCKED)}",
                [("Authorization", BASIC), ("X-Tollgate-Session", S.VONAGE_API_SECRET)]),
        request("POST", f"/v1/Account/{S.PLIVO_AUTH_ID}/Message/", [("Content-Type", JSON_CT),
                                                                   ("Authorization", f"Bearer {S.TELNYX_API_KEY}")],
                b'{"dst": "' + BLOCKED.encode() + b'", "text": "' + S.PLIVO_AUTH_TOKEN.encode() + b'"'),
        b"POST " + MESSAGES.encode() + b" HTTP/1.1\r\nAuthorization: " + BASIC.encode()
        + b"\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nTo=" + BLOCKED.encode(),
        request("GET", f"/2010-04-01/Accounts/{SID}/Messages/{quote(BLOCKED)}.json", [("Authorization", BASIC)]),
    ]
    for data in junk:
        exchange(tg.proxy, data, timeout=BOUND)
    time.sleep(0.5)
    admin = AdminApi(tg.admin_url, ADMIN_TOKEN)
    text = tg.log_text() + "\n" + admin.metrics()
    numbers = set(N.ALL_NUMBERS) | set(USED_NUMBERS)
    leaked = sorted({f for n in numbers for f in _number_forms(n) if f in text})
    assert not leaked, f"full destination numbers in tollgate's logs or metrics: {leaked}"
    secrets = list(S.SECRETS) + [BASIC.split(" ", 1)[1], ADMIN_TOKEN]
    for user, pw in [(S.VONAGE_API_KEY, S.VONAGE_API_SECRET), (S.PLIVO_AUTH_ID, S.PLIVO_AUTH_TOKEN)]:
        secrets.append(base64.b64encode(f"{user}:{pw}".encode()).decode())
    found = [s[:6] + "…" for s in secrets if s in text]
    assert not found, f"credentials in tollgate's logs or metrics: {found}"
    assert not any("panicked" in ln for ln in tg.err_lines), "a panic on stderr"
