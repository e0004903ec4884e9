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
