#!/usr/bin/env python3
"""Soak test for tollgate (issue #18): hours of mixed traffic, watching for leaks.

    python3 bench/soak.py --minutes 60 [--rate N] [--bin target/release/tollgate]

    # a quick check of the script itself (debug build: lower rate)
    python3 bench/soak.py --minutes 4 --warmup 1 --bin target/debug/tollgate

Python 3.11 standard library only; `wrk` (Debian package) is used for the
peak burst when it is on PATH. Nothing is built: give it a binary.

What it does
  1. Starts a fake upstream in this process (asyncio, HTTP/1.1, keep-alive)
     answering Twilio-shaped 201 JSON, and `tollgate serve` with every
     upstream of routes/*.toml pointed at it, a temporary --data-dir, the
     default policy with a hold range and a deny range (the
     stateful layers count but never fire) and a --config with short
     upstream timeouts (1 s) and a small audit retention.
  2. Peak: a 20 s closed-loop burst of clean sends (wrk -t1 -c32, or an
     asyncio client with 32 connections). Skipped when --rate is given.
  3. Soak: open loop at --rate (default: half the peak) for --minutes, from
     one asyncio process over keep-alive connections. Each send carries a
     unique marker (`soak-<kind>-<seq>`) that tells the fake what to do:
        fixed    a few known-good mobiles, over and over          -> 201
        fresh    never-seen mobiles in 19 countries (random digits,
                 random X-Tollgate-Client-IP / -Device)           -> 201 (rarely a 400)
        telnyx   fresh numbers through Telnyx's JSON route        -> 200/201
        held     the policy's hold range (+4479110xxxxx)          -> synthetic 201 queued
        blocked  the policy's deny range (+4477009001xx)          -> 400 21408
        look     status look-ups (a passthrough GET)              -> 200
        reset    fake reads the send, then RST before headers     -> 502
        e503     fake answers 503                                 -> 503 (passed through)
        slow     fake answers after the response timeout          -> 504
        hts      fake sends headers, then silence                 -> head, then a cut body
     (--mix fresh=0,... changes the weights.) Every few seconds the admin API's held queue is read; each held send is
     released (40 %), rejected (30 %) or left to expire (ttl 3 min), and now
     and then a conversion is reported.
  4. Every minute one line: elapsed, requests, outcomes and errors by kind,
     RSS (/proc/<pid>/status VmRSS), open fds (/proc/<pid>/fd), threads,
     held rows pending (admin API), p50/p99 of the clean sends, CPU.

Fails (exit 1) when
  * RSS outside the counter tables (VmRSS minus the tables' bytes on
    /metrics, tollgate_state_bytes) grows after the warm-up (--warmup
    minutes, default 5) by more than max(--rss-bound-mb 64,
    --rss-bound-pct 30 % of its warm-up value);
  * open fds, as the median of --fd-window (5) one-minute samples, grow by
    more than --fd-bound (256) from the first window after the warm-up to
    the last (connections to clients and the faulting upstream swing by a
    few hundred from minute to minute; a leak only ever adds);
  * tollgate exits during the run;
  * any send reached the fake upstream twice (marker counted in the raw
    request bodies), a released send never arrived, or a rejected, expired
    or blocked send arrived at all;
  * unexpected answers (not the outcome its kind calls for) pass
    --max-error-pct (1 %) of the sends.
Exit 2: the run could not start (no binary, tollgate did not come up).

Reading RSS: tollgate's scoring counters are tables bounded by key count
(src/policy/counters/capacity.rs: 2^21 numbers, 2^19 keys per aggregate
family) that grow until full, so RSS rises with the distinct numbers, ranges,
client IPs and devices seen until the tables are full (their ceiling is
tollgate_state_max_bytes, 817 MB by default), and only then levels off.
That growth is by design and bounded, so the check is on the rest. `--mix fresh=0,telnyx=0,fixed=73` is the control: the same
load with no never-seen numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parent.parent
ADMIN_TOKEN = "soak-admin-token-3c1f9e7a5b2d4e60"

TWILIO_SID = "AC0123456789abcdef0123456789abcdef"
TWILIO_TOKEN = "soak-twilio-auth-token-0123456789"
BASIC = "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
MESSAGES = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
TELNYX_KEY = "KEYSOAK0123456789_soakTelnyxSecret"

# Known-good mobiles (checked with `tollgate explain` under the soak policy).
FIXED = ["+447412345678", "+4915123456789", "+33612345678", "+918123456789", "+5511961234567",
         "+61412345678", "+34612345678", "+393123456789", "+31612345678", "+2348031234567",
         "+12025550123", "+4917612345678", "+27821234567", "+819012345678", "+447400123456"]
# Fresh mobiles: prefix + that many random digits (all 8/8 valid mobiles in a
# sample; a rare random pick may still be invalid and is refused with 400).
FRESH = [("+4474", 8), ("+4475", 8), ("+4478", 8), ("+49151", 8), ("+49152", 8), ("+49176", 8),
         ("+3375", 7), ("+919", 9), ("+55119", 8), ("+614", 8), ("+346", 8), ("+393", 9),
         ("+2782", 7), ("+8190", 8), ("+4850", 7), ("+90532", 7), ("+63917", 7), ("+62812", 8),
         ("+1415", 7)]
HOLD_PREFIX = "+4479110"     # the soak policy's [lists.hold] ranges
DENY_PREFIX = "+4477009001"  # the soak policy's [lists.deny] ranges
DENY_NUMBER = "+447700900999"
NEVER = "1000000"            # a limit no soak reaches: the layer counts, never fires

# The soak policy is policies/default.toml with these values, by
# (section, key); every line under that section header is replaced, so
# the soak follows the shipped default as it changes.
SOAK_OVERRIDES = {
    ("[lists.deny]", "numbers"): f'["{DENY_NUMBER}"]',
    ("[lists.deny]", "ranges"): f'["{DENY_PREFIX}"]',
    ("[lists.hold]", "ranges"): f'["{HOLD_PREFIX}"]',
    ("[[velocity.rules]]", "max"): NEVER,
    ("[pattern]", "sequential_min"): NEVER,
    ("[pattern]", "distinct_range3_max"): NEVER,
    ("[pattern]", "distinct_range4_max"): NEVER,
    ("[[conversion.rules]]", "min_sends"): NEVER,
    ("[hold]", "ttl"): '"3m"',  # short, so expiry runs too
}


def soak_policy(default: str) -> str:
    """The default policy with SOAK_OVERRIDES applied: the stateful layers
    keep counting every send (their memory is what a soak exercises) but
    never stop one, so decisions stay the mix the generator asks for; a hold
    range and a deny range give the held and blocked shares."""
    section, used, out = "", set(), []
    for line in default.splitlines():
        if line.startswith("["):
            section = line.split("#")[0].strip()
        key = line.split("=")[0].strip()
        value = SOAK_OVERRIDES.get((section, key)) if "=" in line and not line.startswith("#") else None
        if value is not None:
            line = f"{key} = {value}"
            used.add((section, key))
        out.append(line)
    missing = set(SOAK_OVERRIDES) - used
    if missing:
        raise SystemExit(f"soak: policies/default.toml has no {sorted(missing)}; update SOAK_OVERRIDES")
    return "\n".join(out) + "\n"

# The traffic mix (weights, in percent).
MIX = {"fixed": 30, "fresh": 38, "telnyx": 5, "held": 4, "blocked": 4, "look": 3,
       "reset": 4, "e503": 4, "slow": 4, "hts": 4}
FAULTS = ("reset", "e503", "slow", "hts")
CLEAN = ("fixed", "fresh", "telnyx", "held", "blocked", "look")  # latency percentiles

# Upstream timeouts given to tollgate, and how the fake misbehaves against them.
RESPONSE_TIMEOUT_S = 1.0
SLOW_S = 1.6          # "slow" answers come this late (past the response timeout)
HTS_HOLD_S = 5.0      # "hts" connections are closed by the fake after this
CLIENT_TIMEOUT_S = 10.0

MARK = re.compile(rb"soak-([a-z0-9]+)-([0-9x]+)")


def now() -> float:
    return time.monotonic()


# ---------------------------------------------------------------------------
# Fake upstream
# ---------------------------------------------------------------------------


class Fake:
    """Counts every marker it receives; answers by the marker's kind."""

    def __init__(self) -> None:
        self.seen = bytearray()          # soak-run markers: seq -> times seen (saturating)
        self.other: collections.Counter = collections.Counter()  # peak markers
        self.dups: list[str] = []
        self.by_kind: collections.Counter = collections.Counter()
        self.requests = 0
        self.unmarked = 0
        self.connections = 0
        self.open = 0
        self.server: Optional[asyncio.base_events.Server] = None
        self.port = 0

    async def start(self) -> "Fake":
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: FakeConn(self), "127.0.0.1", 0, backlog=1024)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def count(self, seq: int) -> int:
        return self.seen[seq] if seq < len(self.seen) else 0

    def record(self, body: bytes, target: bytes) -> str:
        self.requests += 1
        m = MARK.search(body) or MARK.search(target)
        if not m:
            self.unmarked += 1
            return "fixed"
        kind, ident = m.group(1).decode(), m.group(2).decode()
        self.by_kind[kind] += 1
        if kind == "look":  # a GET: a proxy may legally retry it; not counted
            return kind
        if kind == "peak":
            self.other[ident] += 1
            if self.other[ident] == 2:
                self.dups.append(f"peak-{ident}")
            return kind
        seq = int(ident)
        if seq >= len(self.seen):
            self.seen.extend(bytes(max(seq + 1 - len(self.seen), 65536)))
        n = self.seen[seq]
        if n < 255:
            self.seen[seq] = n + 1
        if n == 1:
            self.dups.append(f"{kind}-{seq}")
        return kind


def _sms_json(status: int) -> bytes:
    sid = "SM" + os.urandom(16).hex()
    body = (b'{"sid":"' + sid.encode() + b'","account_sid":"' + TWILIO_SID.encode() +
            b'","status":"queued","api_version":"2010-04-01","num_segments":"1",'
            b'"price":null,"error_code":null,"x_soak":"upstream"}')
    reason = {200: b"OK", 201: b"Created"}[status]
    return (b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (status, reason, len(body))) + body


_E503 = b'{"code":20503,"message":"Service Unavailable","more_info":"https://www.twilio.com/docs/errors/20503","status":503}'
E503 = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
        % len(_E503)) + _E503
HTS_HEAD = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 90\r\n\r\n"


class _Incomplete(Exception):
    pass


def parse_request(buf: bytearray):
    """One request from ``buf``: (method, target, body, consumed) or None."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > 65536:
            raise ValueError("head too large")
        return None
    head = bytes(buf[:end]).split(b"\r\n")
    method, target, _ = head[0].split(b" ", 2)
    clen, chunked = 0, False
    for line in head[1:]:
        k, _, v = line.partition(b":")
        k = k.strip().lower()
        if k == b"content-length":
            clen = int(v.strip())
        elif k == b"transfer-encoding" and b"chunked" in v.lower():
            chunked = True
    pos = end + 4
    if not chunked:
        if len(buf) < pos + clen:
            return None
        return method, target, bytes(buf[pos:pos + clen]), pos + clen
    body = bytearray()
    while True:
        le = buf.find(b"\r\n", pos)
        if le < 0:
            return None
        size = int(bytes(buf[pos:le]).split(b";")[0], 16)
        pos = le + 2
        if size == 0:
            te = buf.find(b"\r\n\r\n", pos - 2)
            if te < 0:
                return None
            return method, target, bytes(body), te + 4
        if len(buf) < pos + size + 2:
            return None
        body += buf[pos:pos + size]
        pos += size + 2


class FakeConn(asyncio.Protocol):
    def __init__(self, fake: Fake) -> None:
        self.fake = fake
        self.buf = bytearray()
        self.busy = False
        self.closed = False
        self.timer: Optional[asyncio.TimerHandle] = None
        self.tr: Optional[asyncio.Transport] = None

    def connection_made(self, transport) -> None:
        self.tr = transport
        self.fake.connections += 1
        self.fake.open += 1

    def connection_lost(self, exc) -> None:
        self.closed = True
        self.fake.open -= 1
        if self.timer:
            self.timer.cancel()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self.process()

    def process(self) -> None:
        while not self.busy and not self.closed:
            try:
                req = parse_request(self.buf)
            except ValueError:
                self.tr.abort()
                return
            if req is None:
                return
            method, target, body, used = req
            del self.buf[:used]
            kind = self.fake.record(body, target)
            self.answer(kind, method)

    def answer(self, kind: str, method: bytes) -> None:
        loop = asyncio.get_running_loop()
        if kind == "reset":
            sock = self.tr.get_extra_info("socket")
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            self.busy = True
            self.tr.abort()
        elif kind == "e503":
            self.tr.write(E503)
        elif kind == "slow":
            self.busy = True
            self.timer = loop.call_later(SLOW_S, self._late)
        elif kind == "hts":
            self.tr.write(HTS_HEAD)
            self.busy = True
            self.timer = loop.call_later(HTS_HOLD_S, self.tr.close)
        else:
            self.tr.write(_sms_json(200 if method == b"GET" else 201))

    def _late(self) -> None:
        self.timer = None
        if self.closed:
            return
        self.tr.write(_sms_json(201))
        self.busy = False
        self.process()


# ---------------------------------------------------------------------------
# A small keep-alive HTTP/1.1 client
# ---------------------------------------------------------------------------


class Cut(Exception):
    """The connection ended in the middle of an answer."""


@dataclass
class Resp:
    status: int
    headers: dict
    body: bytes


class Conn:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.r: Optional[asyncio.StreamReader] = None
        self.w: Optional[asyncio.StreamWriter] = None

    async def request(self, raw: bytes) -> Resp:
        if self.w is not None and (self.r.at_eof() or self.w.is_closing()):
            self.close()  # the server closed it while idle: never write into a dead connection
        if self.w is None:
            self.r, self.w = await asyncio.open_connection(self.host, self.port)
        self.w.write(raw)
        try:
            head = await self.r.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as e:
            self.close()
            raise Cut("closed before the head" if not e.partial else "head cut") from None
        lines = head[:-4].split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        hdrs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(b":")
            hdrs[k.strip().lower().decode()] = v.strip().decode("latin-1")
        try:
            if "content-length" in hdrs:
                body = await self.r.readexactly(int(hdrs["content-length"]))
            elif "chunked" in hdrs.get("transfer-encoding", "").lower():
                body = bytearray()
                while True:
                    size = int((await self.r.readuntil(b"\r\n")).split(b";")[0], 16)
                    if size == 0:
                        while (await self.r.readuntil(b"\r\n")) != b"\r\n":
                            pass
                        break
                    body += await self.r.readexactly(size + 2)
                    del body[-2:]
                body = bytes(body)
            else:
                body = await self.r.read()
                self.close()
        except (asyncio.IncompleteReadError, ConnectionError):
            self.close()
            raise Cut(f"body cut after status {status}") from None
        if hdrs.get("connection", "").lower() == "close":
            self.close()
        return Resp(status, hdrs, body)

    def close(self) -> None:
        if self.w is not None:
            self.w.transport.abort()
        self.r = self.w = None


def http_request(method: str, path: str, host: str, headers: list[tuple[str, str]] = (),
                 body: bytes = b"") -> bytes:
    out = [f"{method} {path} HTTP/1.1", f"Host: {host}", "User-Agent: tollgate-soak/1"]
    out += [f"{k}: {v}" for k, v in headers]
    if body or method in ("POST", "PUT"):
        out.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(out) + "\r\n\r\n").encode() + body


# ---------------------------------------------------------------------------
# tollgate
# ---------------------------------------------------------------------------


def upstream_names(routes: Path) -> list[str]:
    names: set[str] = set()
    for f in sorted(routes.glob("*.toml")):
        names.update(tomllib.loads(f.read_text()).get("upstreams", {}).keys())
    return sorted(names)


@dataclass
class Tollgate:
    proc: subprocess.Popen
    proxy: tuple[str, int]
    admin: tuple[str, int]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid


def start_tollgate(binary: Path, work: Path, fake_port: int) -> Tollgate:
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    cfg = work / "serve.toml"
    cfg.write_text(
        "# written by bench/soak.py\n"
        "[limits]\n"
        f"upstream_connect_timeout_ms = 1000\n"
        f"upstream_response_timeout_ms = {int(RESPONSE_TIMEOUT_S * 1000)}\n"
        "upstream_idle_timeout_s = 5        # the pool churns during the soak\n"
        "[audit]\n"
        "max_rows = 200000                  # pruning runs during the soak\n")
    policy = work / "policy.toml"
    policy.write_text(soak_policy((REPO / "policies" / "default.toml").read_text()))
    routes = REPO / "routes"
    args = [str(binary), "serve", "--config", str(cfg), "--listen", "127.0.0.1:0",
            "--admin-listen", "127.0.0.1:0", "--data-dir", str(data), "--policy", str(policy),
            "--routes", str(routes)]
    for name in upstream_names(routes):
        args += ["--upstream", f"{name}=http://127.0.0.1:{fake_port}"]
    env = dict(os.environ, TOLLGATE_ADMIN_TOKEN=ADMIN_TOKEN, RUST_LOG=os.environ.get("RUST_LOG", "info"))
    env.pop("TOLLGATE_FAILPOINT", None)
    log = work / "tollgate.log"
    # stdout (the JSON decision log) and stderr go to files: nothing in this
    # process has to drain a line per send.
    with open(log, "wb") as out, open(work / "tollgate.stderr", "wb") as err:
        proc = subprocess.Popen(args, cwd=work, stdout=out, stderr=err, env=env, start_new_session=True)
    found: dict[str, tuple[str, int]] = {}
    deadline = now() + 30
    pos = 0
    while now() < deadline and not {"proxy", "admin"} <= found.keys():
        if proc.poll() is not None:
            break
        with open(log, "rb") as f:
            f.seek(pos)
            chunk = f.read()
        cut = chunk.rfind(b"\n") + 1
        pos += cut
        for line in chunk[:cut].splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            f2 = rec.get("fields", rec) if isinstance(rec, dict) else {}
            if isinstance(f2, dict) and f2.get("message") == "listening":
                host, _, port = str(f2.get("addr")).rpartition(":")
                found[str(f2.get("listener"))] = (host, int(port))
        time.sleep(0.05)
    if not {"proxy", "admin"} <= found.keys():
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        tail = (work / "tollgate.stderr").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"tollgate did not start (exit {proc.returncode}, listeners {found}):\n"
                           f"{' '.join(args)}\n{log.read_text(errors='replace')[-2000:]}\n{tail}")
    return Tollgate(proc, found["proxy"], found["admin"], log)


def proc_stats(pid: int) -> dict:
    st = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                st["rss_kb"] = int(line.split()[1])
            elif line.startswith("Threads:"):
                st["threads"] = int(line.split()[1])
        st["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        st["cpu_s"] = (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    return st


def dir_mb(path: Path) -> float:
    total = 0
    for p in path.rglob("*"):
        try:
            total += p.stat().st_size
        except OSError:
            pass
    return total / 1e6


# ---------------------------------------------------------------------------
# Traffic
# ---------------------------------------------------------------------------


def rand_digits(rng: random.Random, n: int) -> str:
    return str(rng.randrange(10 ** n)).zfill(n)


class Traffic:
    def __init__(self, proxy: tuple[str, int], seed: int) -> None:
        self.host = f"{proxy[0]}:{proxy[1]}"
        self.rng = random.Random(seed)
        kinds, weights = zip(*MIX.items())
        self.kinds, self.cum = kinds, list(self._cum(weights))
        self.ua_form = [("Authorization", BASIC), ("Content-Type", "application/x-www-form-urlencoded")]

    @staticmethod
    def _cum(ws):
        t = 0
        for w in ws:
            t += w
            yield t

    def pick(self) -> str:
        return self.rng.choices(self.kinds, cum_weights=self.cum)[0]

    def fresh(self) -> str:
        p, n = self.rng.choice(FRESH)
        return p + rand_digits(self.rng, n)

    def twilio(self, to: str, marker: str, extra: list[tuple[str, str]] = ()) -> bytes:
        body = f"To={to.replace('+', '%2B')}&From=%2B14155550100&Body=Your+code+is+{self.rng.randrange(10**6):06d}+{marker}"
        return http_request("POST", MESSAGES, self.host, self.ua_form + list(extra), body.encode())

    def build(self, kind: str, seq: int) -> bytes:
        marker = f"soak-{kind}-{seq}"
        rng = self.rng
        if kind == "fixed":
            return self.twilio(rng.choice(FIXED), marker)
        if kind == "fresh":
            ctx = [("X-Tollgate-Client-IP", f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"),
                   ("X-Tollgate-Device", os.urandom(8).hex())]
            return self.twilio(self.fresh(), marker, ctx)
        if kind == "telnyx":
            body = json.dumps({"from": "+18445550001", "to": self.fresh(), "text": f"Your code {marker}"}).encode()
            return http_request("POST", "/v2/messages", self.host,
                                [("Authorization", f"Bearer {TELNYX_KEY}"), ("Content-Type", "application/json")], body)
        if kind == "held":
            return self.twilio(HOLD_PREFIX + rand_digits(rng, 5), marker)
        if kind == "blocked":
            return self.twilio(DENY_PREFIX + rand_digits(rng, 2), marker)
        if kind == "look":
            path = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/SM{os.urandom(16).hex()}.json?m={marker}"
            return http_request("GET", path, self.host, [("Authorization", BASIC)])
        # faults: a clean send to a known-good number; the fake misbehaves on its marker
        return self.twilio(rng.choice(FIXED), marker)


def classify(kind: str, resp: Optional[Resp], exc: Optional[BaseException]) -> tuple[str, bool]:
    """(outcome, expected) for one answer."""
    if exc is not None:
        if isinstance(exc, Cut):
            out = "cut"
        elif isinstance(exc, TimeoutError):
            out = "timeout"
        else:
            out = type(exc).__name__
        return out, kind == "hts" and out == "cut"
    s = resp.status
    out = str(s)
    if kind in ("fixed", "fresh", "telnyx"):
        if s in (200, 201, 202) and b"x_soak" in resp.body:
            return "ok", True
        if kind != "fixed" and s == 400:  # a random fresh number that is not valid
            return "refused", True
        return out, False
    if kind == "held":
        if s == 201 and b'"queued"' in resp.body and b"x_soak" not in resp.body:
            return "held", True
        return ("forwarded" if b"x_soak" in resp.body else out), False
    if kind == "blocked":
        return ("blocked", True) if s == 400 and b"21408" in resp.body else (out, False)
    if kind == "look":
        return ("ok", True) if s == 200 else (out, False)
    want = {"reset": (502,), "e503": (503,), "slow": (504,), "hts": (502, 504)}[kind]
    return out, s in want


@dataclass
class Minute:
    reqs: int = 0
    outcomes: collections.Counter = field(default_factory=collections.Counter)
    errors: collections.Counter = field(default_factory=collections.Counter)
    lat: list = field(default_factory=list)


class Load:
    """Open-loop generator: a scheduler puts sends on a queue at the rate; a
    fixed set of keep-alive connections works it off. Latency counts from
    the scheduled time, so a stalled proxy shows as latency, not as a
    slower schedule."""

    def __init__(self, traffic: Traffic, proxy: tuple[str, int], rate: float, conns: int) -> None:
        self.t, self.proxy, self.rate, self.nconns = traffic, proxy, rate, conns
        self.q: asyncio.Queue = asyncio.Queue()
        self.seq = 0
        self.done = 0
        self.shed = 0
        self.in_flight = 0
        self.minute = Minute()
        self.total = Minute()
        self.kinds: collections.Counter = collections.Counter()
        self.held_markers: dict[str, int] = {}  # synthetic sid -> marker seq
        self.blocked_seqs: list[int] = []
        self.stop = False
        self.hist = Hist()  # every clean latency of the run

    async def scheduler(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        end = t0 + seconds
        n = 0
        max_backlog = max(100, int(self.rate * 5))
        while not self.stop:
            t = loop.time()
            if t >= end:
                break
            due = int((t - t0) * self.rate)
            while n < due:
                at = t0 + n / self.rate
                n += 1
                if self.q.qsize() >= max_backlog:
                    self.shed += 1
                    continue
                kind = self.t.pick()
                seq = self.seq
                self.seq += 1
                self.kinds[kind] += 1
                if kind == "blocked":
                    self.blocked_seqs.append(seq)
                self.q.put_nowait((at, kind, seq, self.t.build(kind, seq)))
            await asyncio.sleep(0.004)

    async def worker(self) -> None:
        loop = asyncio.get_running_loop()
        conn = Conn(*self.proxy)
        while True:
            at, kind, seq, raw = await self.q.get()
            self.in_flight += 1
            resp = exc = None
            try:
                async with asyncio.timeout(CLIENT_TIMEOUT_S):
                    resp = await conn.request(raw)
            except Exception as e:  # noqa: BLE001 - every failure is an outcome
                exc = e
                conn.close()
            self.in_flight -= 1
            lat = loop.time() - at
            out, ok = classify(kind, resp, exc)
            self.done += 1
            for m in (self.minute, self.total):
                m.reqs += 1
                m.outcomes[out if kind not in FAULTS else f"{kind}:{out}"] += 1
                if not ok:
                    m.errors[f"{kind}:{out}"] += 1
            if kind in CLEAN and ok:
                self.minute.lat.append(lat)
            if kind == "held" and ok:
                try:
                    self.held_markers[json.loads(resp.body)["sid"]] = seq
                except (ValueError, KeyError):
                    pass

    def take_minute(self) -> Minute:
        m, self.minute = self.minute, Minute()
        for x in m.lat:
            self.hist.add(x)
        return m


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


class Hist:
    """Latencies in 0.1 ms buckets up to 20 s: the whole run's percentiles
    in constant memory."""

    STEP = 1e-4
    N = 200_000

    def __init__(self) -> None:
        self.b = [0] * self.N
        self.n = 0
        self.max = 0.0

    def add(self, x: float) -> None:
        self.b[min(self.N - 1, int(x / self.STEP))] += 1
        self.n += 1
        self.max = max(self.max, x)

    def pct(self, p: float) -> float:
        if not self.n:
            return float("nan")
        want, acc = p / 100 * self.n, 0
        for i, c in enumerate(self.b):
            acc += c
            if acc >= want:
                return (i + 1) * self.STEP
        return self.max


# ---------------------------------------------------------------------------
# Admin API: the reviewer
# ---------------------------------------------------------------------------


class Reviewer:
    def __init__(self, admin: tuple[str, int], load: Load, seed: int) -> None:
        self.conn = Conn(*admin)
        self.host = f"{admin[0]}:{admin[1]}"
        self.load = load
        self.rng = random.Random(seed)
        self.plan: dict[str, str] = {}
        self.released: set[str] = set()
        self.rejected: set[str] = set()
        self.left: set[str] = set()
        self.results: collections.Counter = collections.Counter()
        self.pending = 0
        self.pending_capped = False
        self.conversions = 0
        self.errors: collections.Counter = collections.Counter()

    async def call(self, method: str, path: str, body: bytes = b"", json_body: bool = False) -> Resp:
        hdrs = [("Authorization", f"Bearer {ADMIN_TOKEN}")]
        if json_body:
            hdrs.append(("Content-Type", "application/json"))
        async with asyncio.timeout(15):
            try:
                return await self.conn.request(http_request(method, path, self.host, hdrs, body))
            except (Cut, OSError):
                self.conn.close()
                raise

    async def poll_held(self) -> list[dict]:
        r = await self.call("GET", "/api/v1/held?state=held&limit=5000")
        if r.status != 200:
            self.errors[f"held_list:{r.status}"] += 1
            return []
        items = json.loads(r.body)["items"]
        self.pending = len(items)
        self.pending_capped = len(items) >= 5000
        return items

    async def run(self) -> None:
        cycle = 0
        while True:
            cycle += 1
            try:
                items = await self.poll_held()
                acted = 0
                for h in items:
                    sid = h["id"]
                    if sid not in self.plan:
                        x = self.rng.random()
                        self.plan[sid] = "release" if x < 0.4 else "reject" if x < 0.7 else "leave"
                        if self.plan[sid] == "leave":
                            self.left.add(sid)
                    what = self.plan[sid]
                    if what == "leave" or sid in self.released or sid in self.rejected or acted >= 400:
                        continue
                    acted += 1
                    r = await self.call("POST", f"/api/v1/held/{sid}/{what}")
                    state = json.loads(r.body).get("state") if r.status == 200 else None
                    self.results[f"{what}:{r.status}{':' + str(state) if state else ''}"] += 1
                    if r.status == 200 and state == "released":
                        self.released.add(sid)
                    elif r.status == 200 and state == "rejected":
                        self.rejected.add(sid)
                    else:
                        self.plan[sid] = "leave"
                        self.left.add(sid)
                if cycle % 3 == 0:
                    body = json.dumps({"to": self.rng.choice(FIXED)}).encode()
                    r = await self.call("POST", "/api/v1/conversions", body, json_body=True)
                    self.conversions += 1
                    if r.status >= 300:
                        self.errors[f"conversion:{r.status}"] += 1
            except (Cut, OSError, TimeoutError, ValueError, KeyError) as e:
                self.errors[f"admin:{type(e).__name__}"] += 1
            await asyncio.sleep(2)


async def metrics(admin: tuple[str, int]) -> dict[str, float]:
    """The admin listener's /metrics, as {'name{labels}': value}."""
    c = Conn(*admin)
    try:
        async with asyncio.timeout(10):
            r = await c.request(http_request("GET", "/metrics", f"{admin[0]}:{admin[1]}"))
    except (Cut, OSError, TimeoutError):
        return {}
    finally:
        c.close()
    out = {}
    for line in r.body.decode(errors="replace").splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            try:
                out[k] = float(v)
            except ValueError:
                pass
    return out


def metric_sum(m: dict[str, float], prefix: str) -> float:
    return sum(v for k, v in m.items() if k == prefix or k.startswith(prefix + "{"))


# ---------------------------------------------------------------------------
# Peak
# ---------------------------------------------------------------------------

WRK_LUA = r"""
local counter = 0
local fixed = {"%2B447412345678", "%2B4915123456789", "%2B33612345678", "%2B918123456789", "%2B61412345678"}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "__BASIC__"
function init(args) math.randomseed(os.time() + (tonumber(tid) or 0)) end
request = function()
  counter = counter + 1
  local to
  if counter % 2 == 0 then to = fixed[(counter / 2) % #fixed + 1]
  else to = "%2B4474" .. string.format("%08d", math.random(0, 99999999)) end
  local body = "To=" .. to .. "&From=%2B14155550100&Body=Your+code+soak-peak-" .. (tid or "0") .. "x" .. counter
  return wrk.format(nil, "__PATH__", nil, body)
end
"""


async def peak_wrk(proxy, seconds: int, work: Path) -> tuple[float, str]:
    lua = work / "peak.lua"
    lua.write_text(WRK_LUA.replace("__BASIC__", BASIC).replace("__PATH__", MESSAGES))
    p = await asyncio.create_subprocess_exec(
        "wrk", "-t1", "-c32", f"-d{seconds}s", "--timeout", "5s", "-s", str(lua),
        f"http://{proxy[0]}:{proxy[1]}{MESSAGES}", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out = (await p.communicate())[0].decode(errors="replace")
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise RuntimeError(f"wrk failed:\n{out}")
    extra = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    lat = re.search(r"Latency\s+(\S+)\s+(\S+)\s+(\S+)", out)
    note = f"wrk -t1 -c32: avg latency {lat.group(1) if lat else '?'}, non-2xx {extra.group(1) if extra else 0}"
    return float(m.group(1)), note


async def peak_python(proxy, seconds: int, traffic: Traffic) -> tuple[float, str]:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    count = [0, 0]

    async def one(i: int):
        c = Conn(*proxy)
        n = 0
        while loop.time() < end:
            n += 1
            to = FIXED[n % len(FIXED)] if n % 2 else traffic.fresh()
            try:
                r = await c.request(traffic.twilio(to, f"soak-peak-{i}x{n}"))
                count[0 if r.status < 300 else 1] += 1
            except (Cut, OSError):
                c.close()
                count[1] += 1
        c.close()

    t0 = loop.time()
    await asyncio.gather(*(one(i) for i in range(32)))
    return sum(count) / (loop.time() - t0), f"asyncio closed loop, 32 connections, non-2xx {count[1]}"


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def default_bin() -> Path:
    rel = REPO / "target" / "release" / "tollgate"
    return rel if rel.exists() else REPO / "target" / "debug" / "tollgate"


def fmt_counter(c: collections.Counter, limit: int = 6) -> str:
    if not c:
        return "-"
    items = c.most_common()
    s = " ".join(f"{k}={v}" for k, v in items[:limit])
    return s + (f" +{len(items) - limit} more" if len(items) > limit else "")


async def soak(args) -> int:
    binary = Path(args.bin).resolve()
    if not binary.exists():
        print(f"soak: no tollgate binary at {binary} (build it, or pass --bin)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="tollgate-soak-", dir=args.workdir))
    print(f"soak: binary {binary}", flush=True)
    print(f"soak: work dir {work} (data dir, config, policy, tollgate.log)", flush=True)
    fake = await Fake().start()
    print(f"soak: fake upstream on 127.0.0.1:{fake.port}", flush=True)
    try:
        tg = await asyncio.to_thread(start_tollgate, binary, work, fake.port)
    except RuntimeError as e:
        print(f"soak: {e}", file=sys.stderr)
        return 2
    print(f"soak: tollgate pid {tg.pid}, proxy {tg.proxy[0]}:{tg.proxy[1]}, admin {tg.admin[0]}:{tg.admin[1]}",
          flush=True)
    failures: list[str] = []
    warnings: list[str] = []
    traffic = Traffic(tg.proxy, args.seed)
    start_stats = proc_stats(tg.pid)
    try:
        # ---- peak --------------------------------------------------------
        peak = None
        if args.rate:
            rate = float(args.rate)
            print(f"soak: rate {rate:.0f}/s (--rate; no peak burst)", flush=True)
        else:
            use_wrk = args.peak_tool == "wrk" or (args.peak_tool == "auto" and shutil.which("wrk"))
            print(f"soak: peak burst, {args.peak_seconds} s closed loop ...", flush=True)
            c0 = time.process_time()
            if use_wrk:
                try:
                    peak, note = await peak_wrk(tg.proxy, args.peak_seconds, work)
                except RuntimeError as e:
                    print(f"soak: {e}; measuring with the asyncio client instead", flush=True)
                    peak, note = await peak_python(tg.proxy, args.peak_seconds, traffic)
            else:
                peak, note = await peak_python(tg.proxy, args.peak_seconds, traffic)
            gen_cpu = (time.process_time() - c0) / args.peak_seconds * 100
            rate = max(1.0, peak / 2)
            print(f"soak: peak {peak:.0f} req/s ({note}; this process {gen_cpu:.0f}% CPU as the upstream)",
                  flush=True)
            print(f"soak: rate {rate:.0f}/s (half the peak)", flush=True)
            if fake.dups:
                failures.append(f"peak burst: {len(fake.dups)} sends reached the upstream twice: {fake.dups[:5]}")
            await asyncio.sleep(2)

        # ---- soak --------------------------------------------------------
        slow_share = (MIX["slow"] + MIX["hts"]) / sum(MIX.values())
        conns = args.conns or int(32 + rate * slow_share * 3 * RESPONSE_TIMEOUT_S)
        print(f"soak: {conns} client connections; mix "
              + " ".join(f"{k}={v:g}" for k, v in MIX.items()), flush=True)
        load = Load(traffic, tg.proxy, rate, conns)
        reviewer = Reviewer(tg.admin, load, args.seed + 1)
        workers = [asyncio.create_task(load.worker()) for _ in range(conns)]
        seconds = args.minutes * 60
        sched = asyncio.create_task(load.scheduler(seconds))
        rev = asyncio.create_task(reviewer.run())
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        samples: list[dict] = []
        base = proc_stats(tg.pid)
        base.update(minute=0, reqs=0, held=0)
        samples.append(base)
        hdr = (f"{'min':>3} {'reqs':>6} {'req/s':>6} {'p50ms':>6} {'p99ms':>7} {'rss_MB':>7} {'tabMB':>6} {'fds':>5} "
               f"{'thr':>4} {'held':>5} {'tg%':>4} {'gen%':>4}  faults(502/503/504/cut)  errors")
        print(hdr, flush=True)
        last_cpu, last_gen, last_t = base.get("cpu_s", 0.0), time.process_time(), loop.time()
        exited = None
        for minute in range(1, args.minutes + 1):
            target = t0 + minute * 60
            while loop.time() < target:
                if tg.proc.poll() is not None:
                    exited = tg.proc.returncode
                    break
                await asyncio.sleep(min(1.0, max(0.0, target - loop.time())))
            if exited is not None:
                failures.append(f"tollgate exited during the run (code {exited}) in minute {minute}")
                load.stop = True
                break
            m = load.take_minute()
            st = proc_stats(tg.pid)
            mt = await metrics(tg.admin)
            st["state_kb"] = sum(v for k, v in mt.items() if k.startswith("tollgate_state_bytes{")) / 1024
            st["state_max_kb"] = sum(v for k, v in mt.items()
                                     if k.startswith("tollgate_state_max_bytes{")) / 1024
            t = loop.time()
            tg_pct = (st.get("cpu_s", 0) - last_cpu) / (t - last_t) * 100
            gen_pct = (time.process_time() - last_gen) / (t - last_t) * 100
            last_cpu, last_gen, last_t = st.get("cpu_s", 0), time.process_time(), t
            held = reviewer.pending
            st.update(minute=minute, reqs=m.reqs, held=held, p50=pct(m.lat, 50) * 1000,
                      p99=pct(m.lat, 99) * 1000, errors=sum(m.errors.values()), tg_pct=tg_pct, gen_pct=gen_pct)
            samples.append(st)
            o = m.outcomes
            faults = "/".join(str(o[f"{k}:{s}"]) for k, s in (("reset", "502"), ("e503", "503"),
                                                                ("slow", "504"), ("hts", "cut")))
            print(f"{minute:>3} {m.reqs:>6} {m.reqs / 60:>6.1f} {st['p50']:>6.1f} {st['p99']:>7.1f} "
                  f"{st.get('rss_kb', 0) / 1024:>7.1f} {st.get('state_kb', 0) / 1024:>6.1f} {st.get('fds', 0):>5} {st.get('threads', 0):>4} "
                  f"{str(held) + ('+' if reviewer.pending_capped else ''):>5} {tg_pct:>4.0f} {gen_pct:>4.0f}  "
                  f"{faults:<23}  {fmt_counter(m.errors, 4)}", flush=True)
        # ---- drain ---------------------------------------------------------
        load.stop = True
        await sched
        drain_end = loop.time() + CLIENT_TIMEOUT_S + 5
        while (load.q.qsize() or load.in_flight) and loop.time() < drain_end:
            await asyncio.sleep(0.1)
        rev.cancel()
        for w in workers:
            w.cancel()
        await asyncio.sleep(HTS_HOLD_S)  # late "slow"/"hts" connections end; tollgate settles
        final = proc_stats(tg.pid)
        try:
            await reviewer.poll_held()
        except (Cut, OSError, TimeoutError, ValueError):
            pass
        mt = await metrics(tg.admin)
        if tg.proc.poll() is not None and exited is None:
            exited = tg.proc.returncode
            failures.append(f"tollgate exited (code {exited}) before the end of the run")
    finally:
        rc = None
        if tg.proc.poll() is None:
            tg.proc.send_signal(signal.SIGTERM)
            try:
                rc = await asyncio.to_thread(tg.proc.wait, 20)
            except subprocess.TimeoutExpired:
                tg.proc.kill()
                tg.proc.wait()
                rc = "killed after 20 s"
        fake.server.close()

    # ---- verdict ------------------------------------------------------------
    warm_i = min(args.warmup, len(samples) - 1)
    warm = samples[warm_i]
    after = samples[warm_i:]
    rss_warm = warm.get("rss_kb", 0) / 1024
    rss_peak = max(s.get("rss_kb", 0) for s in after) / 1024
    rss_end = samples[-1].get("rss_kb", 0) / 1024

    def rest(s: dict) -> float:  # RSS outside the counter tables, MB
        return (s.get("rss_kb", 0) - s.get("state_kb", 0)) / 1024

    rest_warm = rest(warm)
    rest_peak = max(rest(s) for s in after)
    rss_bound = max(args.rss_bound_mb, rest_warm * args.rss_bound_pct / 100)
    fd_warm = warm.get("fds", 0)
    fd_peak = max(s.get("fds", 0) for s in after)
    w = max(1, min(args.fd_window, len(after) // 2))
    fd_first = statistics.median(s.get("fds", 0) for s in after[:w])
    fd_last = statistics.median(s.get("fds", 0) for s in after[-w:])
    if args.warmup >= len(samples) - 1:
        warnings.append(f"the run ({len(samples) - 1} min) is not longer than the warm-up ({args.warmup} min): "
                        "growth is measured from the last sample")
    if exited is None:
        if rest_peak - rest_warm > rss_bound:
            failures.append(f"RSS outside the counter tables grew {rest_peak - rest_warm:.1f} MB after the "
                            f"warm-up ({rest_warm:.1f} -> {rest_peak:.1f} MB; bound {rss_bound:.1f} MB)")
        if fd_last - fd_first > args.fd_bound:
            failures.append(f"open fds grew {fd_last - fd_first:.0f} after the warm-up (median of {w} min: "
                            f"{fd_first:.0f} -> {fd_last:.0f}; bound {args.fd_bound})")
    if fake.dups:
        failures.append(f"{len(fake.dups)} sends reached the upstream twice: {fake.dups[:8]}")
    seq_of = load.held_markers  # synthetic sid -> marker seq, from the held answers
    unmatched = [s for s in reviewer.released | reviewer.rejected | reviewer.left if s not in seq_of]
    if unmatched:
        warnings.append(f"{len(unmatched)} held ids the generator never got an answer for: {unmatched[:3]}")
    lost = [s for s in reviewer.released if s in seq_of and fake.count(seq_of[s]) != 1]
    if lost:
        failures.append(f"{len(lost)} released sends did not reach the upstream exactly once: {lost[:5]}")
    leaked = [s for s in reviewer.rejected | reviewer.left if s in seq_of and fake.count(seq_of[s])]
    if leaked:
        failures.append(f"{len(leaked)} rejected / expired held sends reached the upstream: {leaked[:5]}")
    unknown_held = fake.by_kind["held"] - len(reviewer.released)
    if unknown_held > 0:
        failures.append(f"{unknown_held} held sends reached the upstream without a release")
    blocked_leak = sum(1 for q in load.blocked_seqs if fake.count(q))
    if blocked_leak:
        failures.append(f"{blocked_leak} blocked sends reached the upstream")
    tot = load.total
    nerr = sum(tot.errors.values())
    if tot.reqs and nerr / tot.reqs * 100 > args.max_error_pct:
        failures.append(f"{nerr} unexpected answers ({nerr / tot.reqs * 100:.2f}% > {args.max_error_pct}%): "
                        f"{fmt_counter(tot.errors)}")
    if load.shed:
        warnings.append(f"the generator shed {load.shed} sends (its queue passed 5 s of backlog): "
                        "the rate was not reached; lower --rate")
    achieved = tot.reqs / max(1, (len(samples) - 1) * 60)
    if achieved < rate * 0.9 and exited is None:
        warnings.append(f"achieved {achieved:.0f} req/s of the {rate:.0f} asked")
    if rc not in (0, -signal.SIGTERM, None) and exited is None:
        warnings.append(f"tollgate's exit after SIGTERM: {rc}")
    if reviewer.errors:
        warnings.append(f"admin API errors: {fmt_counter(reviewer.errors)}")

    W = 26
    print()
    print("=" * 78)
    print(f"{'summary':<{W}} {'start':>10} {'warm-up':>10} {'end':>10} {'max after':>10} {'bound':>10}")
    print("-" * 78)
    print(f"{'RSS MB':<{W}} {start_stats.get('rss_kb', 0) / 1024:>10.1f} {rss_warm:>10.1f} {rss_end:>10.1f} "
          f"{rss_peak:>10.1f} {'':>10}")
    print(f"{'RSS outside tables MB':<{W}} {'':>10} {rest_warm:>10.1f} {rest(samples[-1]):>10.1f} "
          f"{rest_peak:>10.1f} {'+' + format(rss_bound, '.1f'):>10}")
    print(f"{'counter tables MB':<{W}} {'':>10} {warm.get('state_kb', 0) / 1024:>10.1f} "
          f"{samples[-1].get('state_kb', 0) / 1024:>10.1f} "
          f"{max(s.get('state_kb', 0) for s in after) / 1024:>10.1f} "
          f"{'<=' + format(samples[-1].get('state_max_kb', 0) / 1024, '.0f'):>10}")
    print(f"{'open fds (median ' + str(w) + ' min)':<{W}} {'':>10} {fd_first:>10.0f} {fd_last:>10.0f} "
          f"{'':>10} {'+' + str(args.fd_bound):>10}")
    print(f"{'open fds':<{W}} {start_stats.get('fds', 0):>10} {fd_warm:>10} {samples[-1].get('fds', 0):>10} "
          f"{fd_peak:>10} {'':>10}")
    print(f"{'threads':<{W}} {start_stats.get('threads', 0):>10} {warm.get('threads', 0):>10} "
          f"{samples[-1].get('threads', 0):>10} {max(s.get('threads', 0) for s in after):>10} {'':>10}")
    print(f"{'held pending':<{W}} {'':>10} {warm.get('held', 0):>10} {reviewer.pending:>10} "
          f"{max(s.get('held', 0) for s in after):>10} {'':>10}")
    print("-" * 78)
    rows = [
        ("peak (closed loop)", f"{peak:.0f} req/s" if peak else "- (--rate given)"),
        ("rate asked / achieved", f"{rate:.0f} / {achieved:.1f} req/s over {len(samples) - 1} min"),
        ("sends", f"{tot.reqs} done, {load.shed} shed"),
        ("by kind", fmt_counter(load.kinds, 10)),
        ("outcomes", fmt_counter(tot.outcomes, 14)),
        ("unexpected answers", f"{nerr} ({fmt_counter(tot.errors)})"),
        ("latency clean sends", f"p50 {load.hist.pct(50) * 1000:.1f} ms, p99 {load.hist.pct(99) * 1000:.1f} ms, "
                                f"p99.9 {load.hist.pct(99.9) * 1000:.1f} ms, max {load.hist.max * 1000:.0f} ms"),
        ("upstream saw", f"{fake.requests} requests on {fake.connections} connections; {fmt_counter(fake.by_kind, 10)}"),
        ("seen twice", f"{len(fake.dups)}"),
        ("held: released/rejected", f"{len(reviewer.released)} / {len(reviewer.rejected)} by the reviewer, "
                                    f"{len(reviewer.left)} left to expire; {fmt_counter(reviewer.results)}"),
        ("held at the end", f"{reviewer.pending} (admin API), tollgate_held_sends "
                            f"{mt.get('tollgate_held_sends', '?')}, overdue {mt.get('tollgate_held_overdue_sends', '?')}"),
        ("conversions posted", str(reviewer.conversions)),
        ("store rows (metrics)", " ".join(f"{k.split(chr(34))[1]}={v:.0f}" for k, v in sorted(mt.items())
                                          if k.startswith("tollgate_store_rows{")) or "?"),
        ("upstream errors (metrics)", f"{metric_sum(mt, 'tollgate_upstream_errors_total'):.0f}, audit rows dropped "
                                      f"{mt.get('tollgate_audit_dropped_total', '?')}"),
        ("data dir / log", f"{dir_mb(work / 'data'):.1f} MB / {tg.log.stat().st_size / 1e6:.1f} MB"),
        ("tollgate exit", f"{exited if exited is not None else rc} ({'during the run' if exited is not None else 'SIGTERM at the end'})"),
    ]
    for k, v in rows:
        print(f"{k:<{W}} {v}")
    print("=" * 78)
    for w in warnings:
        print(f"WARN  {w}")
    for f in failures:
        print(f"FAIL  {f}")
    print("PASS" if not failures else "FAIL")
    if not args.keep and not failures:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"soak: kept {work}")
    return 1 if failures else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=int, default=60, help="soak length (default 60)")
    ap.add_argument("--warmup", type=int, default=5, help="minutes before the reference sample (default 5)")
    ap.add_argument("--rate", type=float, help="sends per second (default: half the measured peak)")
    ap.add_argument("--bin", default=str(default_bin()),
                    help="tollgate binary (default target/release/tollgate, else target/debug/tollgate)")
    ap.add_argument("--conns", type=int, default=0,
                    help="client keep-alive connections (default: 32 + 3 x the sends per second that wait "
                         "on a slow fault)")
    ap.add_argument("--peak-seconds", type=int, default=20)
    ap.add_argument("--peak-tool", choices=("auto", "wrk", "python"), default="auto")
    ap.add_argument("--rss-bound-mb", type=float, default=64.0)
    ap.add_argument("--rss-bound-pct", type=float, default=30.0)
    ap.add_argument("--fd-bound", type=int, default=256)
    ap.add_argument("--fd-window", type=int, default=5, help="minutes per fd median (default 5)")
    ap.add_argument("--max-error-pct", type=float, default=1.0)
    ap.add_argument("--mix", default="",
                    help="override traffic weights, e.g. fresh=0,telnyx=0 (kinds: " + ",".join(MIX) + ")")
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--workdir", default=None, help="parent of the temporary work dir (default $TMPDIR)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir even on success")
    args = ap.parse_args()
    if args.minutes < 1:
        ap.error("--minutes must be at least 1")
    for item in filter(None, args.mix.split(",")):
        k, _, v = item.partition("=")
        if k not in MIX or not v.replace(".", "", 1).isdigit():
            ap.error(f"--mix: {item!r} is not KIND=WEIGHT with KIND one of {', '.join(MIX)}")
        MIX[k] = float(v)
    if not sum(MIX.values()):
        ap.error("--mix: every weight is 0")
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        os.environ.pop(var, None)
    try:
        return asyncio.run(soak(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
