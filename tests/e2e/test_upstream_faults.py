"""Issue #18 (a): the upstream fault matrix, against a strict fake upstream.

One tollgate for the module, every upstream pointed at ``StrictUpstream``
(plain HTTP) except ``plivo-api``, which points at a closed port; short
limits from a config file so that every fault resolves in a second or two.
A second and third tollgate point ``twilio-api`` / ``vonage-rest`` at
``https://`` upstreams that fail TLS (untrusted certificate; a plain-HTTP
server) and, as the control, at the same TLS server with its CA trusted.

For every fault: the client gets an answer (or a closed connection) in
bounded time, never a hang; the send reaches the upstream at most once (the
strict upstream counts every occurrence of the send's unique marker in the
raw bytes it received, parsed or not); the upstream's own 4xx/5xx answers
come back unchanged; and tollgate's log says what happened.

What the Rust suite (tests/bad_input.rs) already covers and this does not
repeat: upstream down (502), upstream too slow before headers with the plain
fake (504, once), FIN after reading a send on a fresh and a pooled
connection (502, once).
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

import e2e_numbers as N
import sdk_clients as S
from conftest import ADMIN_TOKEN, UPSTREAM_NAMES, start_tollgate
from helpers import AdminApi, fresh_mobile
from rawhttp import connect, exchange, read_response, request
from strict_upstream import Fault, StrictUpstream

pytestmark = pytest.mark.needs_tollgate

# Small limits: every fault is decided in about a second.
LIMITS = """\
[limits]
upstream_connect_timeout_ms = 1000
upstream_response_timeout_ms = 1000
header_read_timeout_ms = 2000
body_read_timeout_ms = 2000
"""
RESPONSE_TIMEOUT = 1.0
# An answer (or a close) later than this is a hang.
BOUND = RESPONSE_TIMEOUT + 2.0
# How long a hang test waits before calling it a hang.
HANG = BOUND + 0.5

FORM = "application/x-www-form-urlencoded"
BASIC = "Basic " + base64.b64encode(f"{S.TWILIO_ACCOUNT_SID}:{S.TWILIO_AUTH_TOKEN}".encode()).decode()
MESSAGES = f"/2010-04-01/Accounts/{S.TWILIO_ACCOUNT_SID}/Messages.json"
CALLS = f"/2010-04-01/Accounts/{S.TWILIO_ACCOUNT_SID}/Calls.json"  # a passthrough
VERIFY_CHECK = f"/v2/Services/{S.TWILIO_VERIFY_SERVICE}/VerificationCheck"  # feedback


USED_NUMBERS: list[str] = []  # fresh numbers this module sent to (for the log check)


def _number_forms(e164: str) -> set[str]:
    digits = e164.lstrip("+")
    return {f for f in (e164, digits, "%2B" + digits) if len(f.lstrip("+")) >= 7}


def marker() -> str:
    return "fault" + uuid.uuid4().hex[:16]


def send_bytes(mark: str, to: str = N.ALLOWED_MAIN.e164, path: str = MESSAGES) -> bytes:
    body = f"To={quote(to)}&From=%2B14155550100&Body={mark}".encode()
    return request("POST", path, [("Authorization", BASIC), ("Content-Type", FORM)], body)


def ask(sock: socket.socket, data: bytes, timeout: float = 10.0):
    """One request on an open client connection, and its answer. Requests
    on one connection are served by one tollgate proxy thread, so they share
    its upstream pool: the way to send a request on a connection an earlier
    one left in the pool."""
    sock.sendall(data)
    return read_response(sock, timeout, data.split(b" ", 1)[0].decode("latin-1"))


def dead_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def assert_neutral(resp, status: int, error: str) -> None:
    assert resp is not None, "no answer at all"
    assert resp.status == status, f"{resp.status} {resp.body[:300]!r}"
    assert resp.header("content-type") == "application/json", resp.headers
    v = resp.json()
    assert v.get("error") == error and v.get("source") == "tollgate", v


def wait_log(tg, before: int, pred, timeout: float = 3.0) -> list[dict]:
    """Records logged after line ``before`` once one matches ``pred``."""
    deadline = time.monotonic() + timeout
    while True:
        recs = []
        for ln in list(tg.lines)[before:]:
            try:
                rec = json.loads(ln)
            except ValueError:
                continue
            if isinstance(rec, dict):
                recs.append(rec)
        if any(pred(r) for r in recs) or time.monotonic() > deadline:
            return recs
        time.sleep(0.05)


def fields(rec: dict) -> dict:
    return rec.get("fields", rec) if isinstance(rec.get("fields"), dict) else rec


def is_failure_line(rec: dict) -> bool:
    return rec.get("level") in ("WARN", "ERROR")


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def strict():
    up = StrictUpstream().start()
    yield up
    up.stop()


@pytest.fixture(scope="module")
def dead():
    return dead_port()


def _start(fake_session, pki, work: Path, upstreams: dict[str, str], extra: tuple[str, ...] = ()):
    work.mkdir(parents=True, exist_ok=True)
    cfg = work / "serve.toml"
    cfg.write_text(LIMITS)
    args = ["--config", str(cfg)]
    for name, url in upstreams.items():
        args += ["--upstream", f"{name}={url}"]
    return start_tollgate(fake_session, pki, work, tuple(args) + extra)


@pytest.fixture(scope="module")
def tg(strict, dead, fake_session, pki, tmp_path_factory):
    ups = {n: strict.url for n in UPSTREAM_NAMES}
    ups["plivo-api"] = f"http://127.0.0.1:{dead}"
    t = _start(fake_session, pki, tmp_path_factory.mktemp("tg-faults"), ups)
    yield t
    t.stop()


@pytest.fixture
def up(strict, tg):
    """The strict upstream, reset (pool flushed, recording cleared)."""
    if tg.proc.poll() is not None:
        pytest.fail(f"tollgate died (exit {tg.proc.returncode}):\n{tg.log_text()[-3000:]}")
    strict.reset()
    yield strict
    assert not strict.violations, f"tollgate sent the upstream a malformed request: {strict.violations}"


# --------------------------------------------------------------------------
# Connection-level faults
# --------------------------------------------------------------------------


def test_connection_refused_is_a_prompt_502_and_logged(tg, up):
    before = len(tg.lines)
    body = json.dumps({"src": "+14155550100", "dst": N.ALLOWED_MAIN.e164, "text": "refused"}).encode()
    t0 = time.monotonic()
    r = exchange(tg.proxy, request("POST", f"/v1/Account/{S.PLIVO_AUTH_ID}/Message/",
                                   [("Content-Type", "application/json")], body), timeout=10)
    took = time.monotonic() - t0
    assert_neutral(r, 502, "upstream_unavailable")
    assert took < BOUND, f"502 only after {took:.1f}s"
    recs = wait_log(tg, before, lambda x: is_failure_line(x) and "refused" in json.dumps(x).lower())
    assert any(is_failure_line(x) and "refused" in json.dumps(x).lower() for x in recs), \
        f"no WARN/ERROR line saying the connection was refused: {recs}"


def test_reset_before_headers_on_a_fresh_connection_is_502_and_not_retried(tg, up):
    up.program(Fault("reset"))
    m = marker()
    t0 = time.monotonic()
    r = exchange(tg.proxy, send_bytes(m), timeout=10)
    assert_neutral(r, 502, "upstream_unavailable")
    assert time.monotonic() - t0 < BOUND
    time.sleep(0.1)
    assert up.sightings(m.encode()) == 1, f"the send reached the upstream {up.sightings(m.encode())} times"
    assert up.connections == 1, f"{up.connections} upstream connections for one send: a retry"


def test_reset_before_headers_on_a_pooled_connection_is_not_retried(tg, up):
    # A passthrough GET leaves a keep-alive connection in the pool ...
    client = connect(tg.proxy, 10)
    try:
        warm = ask(client, request("GET", CALLS, [("Authorization", BASIC)]))
        assert warm is not None and warm.status == 200, warm
        assert up.connections == 1
        # ... and the send that goes out on it is reset after being read.
        up.program(Fault("reset"))
        m = marker()
        r = ask(client, send_bytes(m))
    finally:
        client.close()
    assert_neutral(r, 502, "upstream_unavailable")
    time.sleep(0.1)
    assert up.sightings(m.encode()) == 1, "the send was written twice"
    assert len(up.matching(m.encode())) == 1
    assert up.connections == 1, "a retry on a fresh connection after the pooled one was reset"


def test_reset_right_after_accept_is_502_and_not_retried(tg, up):
    up.program(Fault("reset_on_accept"), Fault("reset_on_accept"))
    m = marker()
    r = exchange(tg.proxy, send_bytes(m), timeout=10)
    assert_neutral(r, 502, "upstream_unavailable")
    time.sleep(0.1)
    assert up.sightings(m.encode()) <= 1
    assert up.connections == 1, f"{up.connections} connections: the send was retried after it was written"


def test_a_pooled_connection_the_upstream_closed_while_idle_is_not_an_error(tg, up):
    """The one retry that is allowed: the request never left (the pooled
    connection had closed before it was written). The send goes out once,
    on a fresh connection, and succeeds."""
    up.program(Fault("idle_close", delay=0.05))
    client = connect(tg.proxy, 10)
    try:
        warm = ask(client, request("GET", CALLS, [("Authorization", BASIC)]))
        assert warm is not None and warm.status == 200
        time.sleep(0.4)  # the upstream has closed the idle connection
        m = marker()
        r = ask(client, send_bytes(m))
    finally:
        client.close()
    assert r is not None and r.status == 200, f"{r and r.status} {r and r.body[:200]!r}"
    assert up.sightings(m.encode()) == 1


# --------------------------------------------------------------------------
# Broken answers
# --------------------------------------------------------------------------

LONG_BODY = json.dumps({"sid": "SM" + "a" * 32, "status": "queued", "pad": "p" * 300}).encode()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_reset_mid_body_is_never_passed_off_as_a_complete_answer(tg, up, chunked):
    up.program(Fault("reset_mid_body", body=LONG_BODY, part=40, chunked=chunked))
    m = marker()
    s = connect(tg.proxy, 10)
    try:
        s.sendall(send_bytes(m))
        r = read_response(s, timeout=HANG)
    finally:
        s.close()
    time.sleep(0.3)
    assert up.sightings(m.encode()) == 1, "the send was retried"
    if r is None:
        return  # the connection was closed before any answer: also honest
    if r.status == 200:
        assert r.ended in ("truncated",), \
            f"a body the upstream cut off after 40 bytes reached the client as {r.ended!r} ({len(r.body)} bytes)"
        assert r.body != LONG_BODY
    else:
        assert_neutral(r, 502, "upstream_unavailable")
    assert r.elapsed < BOUND, f"the broken answer took {r.elapsed:.1f}s to end"


@pytest.mark.parametrize("garbage", [
    b"\x00\x01\x02\x03 SSH-2.0-OpenSSH_9.6\r\nnot http at all\r\n\r\n",
    b"HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello",
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 64,
], ids=["binary", "bad-status", "two-lengths", "tls-bytes"])
def test_garbage_instead_of_an_answer_is_a_502(tg, up, garbage):
    up.program(Fault("garbage", body=garbage))
    m = marker()
    t0 = time.monotonic()
    r = exchange(tg.proxy, send_bytes(m), timeout=10)
    assert_neutral(r, 502, "upstream_unavailable")
    assert time.monotonic() - t0 < BOUND
    time.sleep(0.3)
    assert up.sightings(m.encode()) == 1, "the send was retried after a garbage answer"


def test_half_a_status_line_then_silence_is_a_504_in_bounded_time(tg, up):
    up.program(Fault("partial_head"))
    m = marker()
    t0 = time.monotonic()
    r = exchange(tg.proxy, send_bytes(m), timeout=HANG)
    took = time.monotonic() - t0
    assert_neutral(r, 504, "upstream_timeout")
    assert took < BOUND, f"504 after {took:.1f}s (response timeout {RESPONSE_TIMEOUT}s)"
    assert up.sightings(m.encode()) == 1


def test_headers_then_silence_ends_in_bounded_time(tg, up):
    """The upstream sends a complete head (Content-Length 90) and never the
    body. The client must not be left waiting forever: by the bound the
    connection has to be closed (a truncated answer) or answered."""
    up.program(Fault("headers_then_silence", body=b"x" * 90))
    m = marker()
    s = connect(tg.proxy, 10)
    try:
        s.sendall(send_bytes(m))
        r = read_response(s, timeout=HANG)
    finally:
        s.close()
    assert up.sightings(m.encode()) == 1
    assert r is not None, "not even the head reached the client"
    assert r.ended != "timeout", (
        f"the client was still waiting for the body {HANG:.1f}s after the upstream went silent "
        f"(status {r.status}, {len(r.body)} bytes): tollgate has no limit on an upstream body")


def test_headers_then_silence_on_a_feedback_route_ends_in_bounded_time(tg, up):
    """Feedback answers are read whole before they are passed on, so here the
    client gets nothing at all until the upstream's body ends."""
    up.program(Fault("headers_then_silence", body=b"x" * 90))
    m = marker()
    body = f"To={quote(N.ALLOWED_MAIN.e164)}&Code={m}".encode()
    t0 = time.monotonic()
    r = exchange(tg.proxy, request("POST", VERIFY_CHECK, [("Authorization", BASIC), ("Content-Type", FORM)], body),
                 timeout=HANG)
    took = time.monotonic() - t0
    assert up.sightings(m.encode()) == 1
    assert r is not None and r.complete, (
        f"no complete answer {took:.1f}s after the upstream went silent mid-answer "
        f"({'nothing' if r is None else f'{r.status}, ended {r.ended}'}): the feedback path waits forever")
    assert r.status in (502, 504), r.status


def test_a_slow_but_finite_body_passes_through_unchanged(tg, up):
    body = b'{"sid":"SMslow","ok":1}'
    up.program(Fault("trickle", body=body, delay=0.04))
    m = marker()
    r = exchange(tg.proxy, send_bytes(m), timeout=10)
    assert r is not None and r.status == 200 and r.ended == "length", r
    assert r.body == body
    assert up.sightings(m.encode()) == 1


def test_an_endless_trickle_is_cut_in_bounded_time(tg, up):
    up.program(Fault("trickle", forever=True, delay=0.2))
    m = marker()
    s = connect(tg.proxy, 10)
    try:
        s.sendall(send_bytes(m))
        r = read_response(s, timeout=HANG)
    finally:
        s.close()
    assert up.sightings(m.encode()) == 1
    assert r is not None, "no head at all"
    assert r.ended != "timeout", (
        f"an upstream trickling one byte every 200 ms held the client for {HANG:.1f}s and counting "
        f"({len(r.body)} bytes so far): no total bound on an upstream answer")


def test_an_unsolicited_second_answer_is_never_served_to_the_next_request(tg, up):
    up.program(Fault("extra_response"))
    client = connect(tg.proxy, 10)
    try:
        first = ask(client, request("GET", CALLS, [("Authorization", BASIC)]))
        assert first is not None and first.status == 200
        time.sleep(0.1)
        m = marker()
        r = ask(client, send_bytes(m))
    finally:
        client.close()
    assert r is not None
    assert r.header("x-stale") is None and b"nobody asked for" not in r.body, \
        "the upstream's stale extra answer was served as the answer to a later send"
    assert up.sightings(m.encode()) <= 1


def test_an_answer_with_both_content_length_and_chunked_keeps_the_client_connection_in_sync(tg, up):
    up.program(Fault("cl_and_te", body=b'{"sid":"SMboth","status":"queued"}'))
    s = connect(tg.proxy, 10)
    try:
        s.sendall(send_bytes(marker()))
        r1 = read_response(s, timeout=BOUND)
        assert r1 is not None and r1.complete, r1
        # The same client connection, if still open, must frame the next
        # answer correctly: no leftover bytes of the first.
        up.program(Fault("ok", body=b'{"second":true}'))
        try:
            s.sendall(request("GET", CALLS, [("Authorization", BASIC)]))
        except OSError:
            return  # closed after an ambiguous answer: fine
        r2 = read_response(s, timeout=BOUND, method="GET")
    finally:
        s.close()
    if r2 is not None:
        assert r2.status in (200, 502), r2.status
        if r2.status == 200:
            assert r2.body == b'{"second":true}', f"client connection out of sync: {r2.raw[:200]!r}"


# --------------------------------------------------------------------------
# The upstream's own errors: unchanged, once
# --------------------------------------------------------------------------

ERRORS = {
    400: b'{"code":21211,"message":"The \'To\' number is not valid.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}',
    401: b'{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}',
    429: b'{"code":20429,"message":"Too Many Requests","more_info":"https://www.twilio.com/docs/errors/20429","status":429}',
    500: b'{"code":20500,"message":"Internal Server Error","status":500}',
    502: b"<html><body>upstream's own bad gateway</body></html>",
    503: b'{"code":20503,"message":"Service Unavailable","status":503}',
    504: b"upstream's own gateway timeout",
}


@pytest.mark.parametrize("path", [MESSAGES, CALLS], ids=["send", "passthrough"])
@pytest.mark.parametrize("status", sorted(ERRORS))
def test_upstream_error_answers_pass_through_unchanged_and_once(tg, up, status, path):
    body = ERRORS[status]
    ctype = "text/html" if body.startswith(b"<") else ("text/plain" if not body.startswith(b"{") else "application/json")
    hdrs = [("Content-Type", ctype), ("Retry-After", "7"), ("X-Request-Id", "RQ-upstream-1"),
            ("Twilio-Request-Id", "RQ0123")]
    up.program(Fault("ok", status=status, headers=hdrs, body=body))
    m = marker()
    r = exchange(tg.proxy, send_bytes(m, path=path), timeout=10)
    assert r is not None and r.complete, r
    assert r.status == status, f"{r.status} {r.body[:200]!r}"
    assert r.body == body, f"the upstream's {status} body was changed: {r.body[:200]!r}"
    for k, v in hdrs:
        assert r.header(k) == v, f"header {k}: {r.header(k)!r} != {v!r}"
    time.sleep(0.1)
    assert up.sightings(m.encode()) == 1, f"a {status} answer made tollgate send again"


# --------------------------------------------------------------------------
# Held sends released into a faulty upstream
# --------------------------------------------------------------------------


def _hold_one(tg, admin: AdminApi) -> tuple[str, str, int]:
    number = fresh_mobile()
    USED_NUMBERS.append(number)
    entry = admin.add_list("number", number, "hold", ttl_seconds=600, note="faults")
    m = marker()
    r = exchange(tg.proxy, send_bytes(m, to=number), timeout=10)
    assert r is not None and r.status in (200, 201), r
    sid = r.json()["sid"]
    return sid, m, entry["id"]


@pytest.mark.parametrize("fault", [Fault("reset"), Fault("headers_then_silence", body=b"y" * 50)],
                         ids=["reset", "headers-then-silence"])
def test_releasing_a_held_send_into_a_faulty_upstream_ends_and_is_never_resent(tg, up, fault):
    admin = AdminApi(tg.admin_url, ADMIN_TOKEN)
    sid, m, entry = _hold_one(tg, admin)
    try:
        assert up.sightings(m.encode()) == 0, "a held send reached the upstream before release"
        up.program(fault)
        result: dict = {}

        def release():
            try:
                result["r"] = admin.request("POST", f"/api/v1/held/{sid}/release", timeout=HANG + 5)
            except Exception as e:  # noqa: BLE001
                result["e"] = e

        th = threading.Thread(target=release, daemon=True)
        t0 = time.monotonic()
        th.start()
        th.join(HANG)
        took = time.monotonic() - t0
        assert "r" in result, (
            f"releasing a held send into an upstream that {fault.kind} got no answer within {took:.1f}s "
            f"({result.get('e')!r}): the release waits for the upstream's body without a limit")
        assert up.sightings(m.encode()) == 1
        # A second release must not send it again, nor must anything in the background.
        again = admin.request("POST", f"/api/v1/held/{sid}/release", timeout=5)
        assert again.status_code in (404, 409), again.text
        time.sleep(1.5)
        assert up.sightings(m.encode()) == 1, "the held send was forwarded again"
    finally:
        admin.delete_list(entry)


# --------------------------------------------------------------------------
# TLS to the upstream
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_up(pki):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.leaf_cert, pki.leaf_key)
    u = StrictUpstream(tls=ctx).start()
    yield u
    u.stop()


@pytest.fixture(scope="module")
def plain_up():
    u = StrictUpstream().start()
    yield u
    u.stop()


@pytest.fixture(scope="module")
def tg_tls(tls_up, plain_up, strict, fake_session, pki, tmp_path_factory):
    """twilio-api on a TLS server whose CA tollgate does not trust;
    vonage-rest on https:// to a server that speaks plain HTTP."""
    ups = {n: strict.url for n in UPSTREAM_NAMES}
    ups["twilio-api"] = tls_up.url
    ups["vonage-rest"] = f"https://127.0.0.1:{plain_up.port}"
    t = _start(fake_session, pki, tmp_path_factory.mktemp("tg-tls"), ups)
    yield t
    t.stop()


def test_an_untrusted_upstream_certificate_is_a_502_and_nothing_is_sent(tg_tls, tls_up):
    tls_up.reset()
    before = len(tg_tls.lines)
    m = marker()
    t0 = time.monotonic()
    r = exchange(tg_tls.proxy, send_bytes(m), timeout=10)
    assert_neutral(r, 502, "upstream_unavailable")
    assert time.monotonic() - t0 < BOUND
    time.sleep(0.3)
    assert tls_up.tls_failures >= 1, "the TLS server saw no failed handshake"
    assert not tls_up.requests, "a request was sent over a connection to an untrusted certificate"
    assert tls_up.connections == 1, f"{tls_up.connections} handshakes: retried"
    recs = wait_log(tg_tls, before, lambda x: is_failure_line(x) and "certificate" in json.dumps(x).lower())
    assert any(is_failure_line(x) and ("certificate" in json.dumps(x).lower() or "tls" in json.dumps(x).lower())
               for x in recs), f"no log line about the TLS failure: {recs}"


def test_https_to_a_plain_http_upstream_is_an_error_in_bounded_time(tg_tls, plain_up):
    plain_up.reset()
    body = f"api_key={S.VONAGE_API_KEY}&api_secret={S.VONAGE_API_SECRET}&from=Acme&to={N.ALLOWED_MAIN.digits}&text=plain".encode()
    t0 = time.monotonic()
    r = exchange(tg_tls.proxy, request("POST", "/sms/json", [("Content-Type", FORM)], body), timeout=HANG)
    took = time.monotonic() - t0
    assert r is not None, f"no answer within {took:.1f}s"
    assert r.status in (502, 504), f"{r.status} {r.body[:200]!r}"
    assert took < BOUND
    assert not plain_up.requests, "an HTTP request reached the plain server"
    plain_up.violations.clear()  # it saw a ClientHello: expected


def test_the_same_tls_upstream_works_once_its_ca_is_trusted(tls_up, strict, fake_session, pki, tmp_path):
    """The control for the untrusted-certificate test: the server is fine."""
    tls_up.reset()
    ups = {n: strict.url for n in UPSTREAM_NAMES}
    ups["twilio-api"] = tls_up.url
    t = _start(fake_session, pki, tmp_path / "tg-ca", ups, ("--upstream-ca", pki.ca_cert))
    try:
        m = marker()
        r = exchange(t.proxy, send_bytes(m), timeout=10)
        assert r is not None and r.status == 200, r
        assert up_sightings(tls_up, m) == 1
    finally:
        t.stop()
    assert not tls_up.violations, tls_up.violations


def up_sightings(u: StrictUpstream, m: str) -> int:
    return len(u.matching(m.encode()))


# --------------------------------------------------------------------------
# What the log and the metrics say
# --------------------------------------------------------------------------


def test_every_upstream_failure_is_logged_naming_its_upstream_or_route(tg, up):
    """A WARN/ERROR line per failed forward, saying which upstream (or route)
    failed: with several aggregators behind one tollgate an operator has to
    know which one is down."""
    missing = []
    for fault in (Fault("reset"), Fault("garbage", body=b"\x00garbage\r\n\r\n"),
                  Fault("partial_head"), Fault("reset_mid_body", body=LONG_BODY, part=30)):
        up.reset(Fault("ok"))
        up.program(fault)
        before = len(tg.lines)
        r = exchange(tg.proxy, send_bytes(marker()), timeout=HANG)
        assert r is not None or fault.kind == "reset_mid_body"
        recs = wait_log(tg, before, is_failure_line, timeout=1.0)
        bad = [x for x in recs if is_failure_line(x)]
        if not bad:
            missing.append(f"{fault.kind}: no WARN/ERROR line at all")
        elif not any("twilio-api" in json.dumps(x) or "twilio.messages" in json.dumps(x) for x in bad):
            missing.append(f"{fault.kind}: {fields(bad[0])}")
    assert not missing, "upstream failures logged without saying which upstream / route:\n" + "\n".join(missing)


def test_upstream_failures_are_counted_in_the_metrics(tg, up):
    def count(text: str, upstream: str) -> float:
        total = 0.0
        for ln in text.splitlines():
            if ln.startswith("tollgate_upstream_errors_total{") and f'upstream="{upstream}"' in ln:
                total += float(ln.rsplit(" ", 1)[1])
        return total

    admin = AdminApi(tg.admin_url, ADMIN_TOKEN)
    before = count(admin.metrics(), "twilio-api")
    up.program(Fault("reset"))
    r = exchange(tg.proxy, send_bytes(marker()), timeout=10)
    assert_neutral(r, 502, "upstream_unavailable")
    after = count(admin.metrics(), "twilio-api")
    assert after == before + 1, f"tollgate_upstream_errors_total{{upstream=twilio-api}} {before} -> {after}"


def test_zz_no_credential_or_full_number_in_logs_or_metrics(tg, tg_tls):
    """After the whole matrix (Basic auth with the real test token on every
    send, Vonage key and secret in bodies, full numbers everywhere)."""
    admin = AdminApi(tg.admin_url, ADMIN_TOKEN)
    text = tg.log_text() + "\n" + tg_tls.log_text() + "\n" + admin.metrics()
    numbers = list(N.ALL_NUMBERS) + USED_NUMBERS
    leaked = sorted({f for n in numbers for f in _number_forms(n) if f in text})
    assert not leaked, f"full destination numbers in the logs or metrics: {leaked}"
    secrets = list(S.SECRETS) + [BASIC.split(" ", 1)[1], ADMIN_TOKEN]
    found = [s[:6] + "…" for s in secrets if s in text]
    assert not found, f"credentials in the logs or metrics: {found}"
