"""Assertions shared by the through-tollgate tests."""

from __future__ import annotations

import pytest

import e2e_numbers as N
from fake_aggregator import FakeAggregator, Recorded

# Hop-by-hop and framing headers: a proxy may legitimately change these.
HOP_BY_HOP = {
    "host", "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
    "upgrade", "proxy-authorization", "proxy-authenticate", "content-length",
}
# Headers tollgate may ADD toward the aggregator.  Empty on purpose: a
# transparent proxy adds nothing.  Widen deliberately if the design says so.
ALLOWED_ADDED_HEADERS: set[str] = set()


def end_to_end(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k.lower(), v) for k, v in headers if k.lower() not in HOP_BY_HOP]


def assert_forwarded_identically(direct: Recorded, via: Recorded, fake: FakeAggregator) -> None:
    """``via`` (SDK -> tollgate -> fake) must equal ``direct`` (SDK -> fake)."""
    assert via.method == direct.method
    assert via.target == direct.target, "path + query changed"
    assert via.body == direct.body, "body is not byte-identical"
    assert via.header("Authorization") == direct.header("Authorization"), "Authorization changed"
    assert via.header("Authorization") is not None
    for name in ("Content-Type", "User-Agent", "Accept", "Accept-Encoding", "Accept-Charset"):
        assert via.header_values(name) == direct.header_values(name), f"{name} changed"
    # Every end-to-end header, in order (names compared case-insensitively:
    # HTTP/2 or hyper may lower-case them, which is legal).
    d, v = end_to_end(direct.headers), end_to_end(via.headers)
    added = [h for h in v if h not in d]
    missing = [h for h in d if h not in v]
    assert not missing, f"headers dropped or changed by tollgate: {missing}"
    assert all(k in ALLOWED_ADDED_HEADERS for k, _ in added), f"headers added by tollgate: {added}"
    # Order across different names carries no meaning in HTTP (RFC 9110
    # 5.3) and hyper's HeaderMap does not keep it; order WITHIN one name does.
    for name in {k for k, _ in d}:
        assert [x for k, x in v if k == name] == [x for k, x in d if k == name], f"values of {name} reordered"
    # The upstream is the route file's (here: the fake), never the client's Host.
    assert via.header("Host") == f"127.0.0.1:{fake.port}", f"Host sent upstream: {via.header('Host')!r}"


def only_request(fake: FakeAggregator) -> Recorded:
    got = fake.snapshot()
    assert len(got) == 1, f"expected exactly one request at the fake, got {[(r.method, r.target) for r in got]}"
    return got[0]


def assert_nothing_reached(fake: FakeAggregator) -> None:
    got = fake.snapshot()
    assert not got, f"a blocked send reached the aggregator: {[(r.method, r.target, r.body[:200]) for r in got]}"


def blocked_params(cases=None, *, invalid=None):
    """pytest params for blocked numbers; line-type cases carry the needs_classifier mark."""
    cases = list(cases if cases is not None else N.BLOCKED)
    if invalid is not None:
        cases = [invalid if c.reason == "invalid" else c for c in cases]
    out = []
    for c in cases:
        marks = [pytest.mark.needs_classifier] if c.needs_classifier else []
        out.append(pytest.param(c, id=f"{c.reason}-{c.id}", marks=marks))
    return out


# --------------------------------------------------------------------------
# The admin API, failure-callback receiver, polling (hold / admin / console)
# --------------------------------------------------------------------------

import itertools  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402
from typing import Callable, Optional  # noqa: E402
from urllib.parse import parse_qs  # noqa: E402

import requests  # noqa: E402


def wait_for(pred: Callable[[], object], timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    """Polls ``pred`` until it returns something truthy; returns that."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


class AdminApi:
    """A thin client for tollgate's admin API (bearer token)."""

    def __init__(self, base_url: str, token: Optional[str]):
        self.base = base_url.rstrip("/")
        self.s = requests.Session()
        self.s.trust_env = False
        if token is not None:
            self.s.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", 15)
        return self.s.request(method, self.base + path, **kw)

    def ok(self, method: str, path: str, status: int = 200, **kw):
        r = self.request(method, path, **kw)
        assert r.status_code == status, f"{method} {path}: HTTP {r.status_code} {r.text[:500]}"
        return r.json()

    # held sends
    def held(self, state: str = "held", limit: int = 500) -> list[dict]:
        return self.ok("GET", f"/api/v1/held?state={state}&limit={limit}")["items"]

    def held_one(self, sid: str) -> Optional[dict]:
        return next((h for h in self.held("all") if h["id"] == sid), None)

    def release(self, sid: str) -> dict:
        return self.ok("POST", f"/api/v1/held/{sid}/release")

    def reject(self, sid: str) -> dict:
        return self.ok("POST", f"/api/v1/held/{sid}/reject")

    # run-time lists
    def add_list(self, scope: str, value: str, action: str, ttl_seconds: Optional[int] = None,
                 note: Optional[str] = None) -> dict:
        body = {"scope": scope, "value": value, "action": action}
        if ttl_seconds is not None:
            body["ttl_seconds"] = ttl_seconds
        if note is not None:
            body["note"] = note
        return self.ok("POST", "/api/v1/lists", 201, json=body)

    def lists(self) -> list[dict]:
        return self.ok("GET", "/api/v1/lists")["items"]

    def delete_list(self, entry_id: int) -> requests.Response:
        return self.request("DELETE", f"/api/v1/lists/{entry_id}")

    def decisions(self, **params) -> list[dict]:
        return self.ok("GET", "/api/v1/decisions", params=params)["items"]

    def metrics(self) -> str:
        r = self.s.get(self.base + "/metrics", timeout=15)
        assert r.status_code == 200, r.text
        return r.text


_numbers = itertools.count(1)


def fresh_mobile() -> str:
    """A valid GB mobile (07400 range) no other test uses: +447400 9xxxxx."""
    return f"+4474009{next(_numbers) + 10000:05d}"


@dataclass
class Callback:
    path: str  # path + query as received
    headers: dict[str, str]  # lower-cased names
    body: bytes
    at: float

    def params(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}


@dataclass
class CallbackReceiver:
    """A platform's status-callback endpoint: records every POST, answers 204."""

    got: list[Callback] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: Optional[ThreadingHTTPServer] = None

    def start(self) -> "CallbackReceiver":
        rx = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def do_POST(self):  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with rx._lock:
                    rx.got.append(Callback(self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                                           time.monotonic()))
                self.send_response(204)
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, tag: str) -> str:
        """A distinct callback URL (with a query string: the signature covers it)."""
        return f"{self.base}/twilio/status?tag={tag}"

    def for_tag(self, tag: str) -> list[Callback]:
        with self._lock:
            return [c for c in self.got if c.path.endswith(f"tag={tag}")]
