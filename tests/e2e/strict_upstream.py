"""A strict fake upstream for the fault-matrix and hostile-client suites.

A raw socket server (one thread per connection) that

* parses every request strictly (RFC 9112: origin-form target, one Host,
  never Content-Length together with Transfer-Encoding, one Content-Length,
  chunked framing checked byte by byte) and records a *violation* for
  anything a correct proxy would not send;
* records every request it parsed and every raw byte each connection
  carried, so a test can count how many times a send reached it
  (``sightings(marker)``: occurrences of a marker in the raw bytes, which
  also counts requests it never finished parsing);
* answers according to a programmed *fault* -- the default for every
  request, or a script consumed one request at a time.

Faults (``Fault(kind, ...)``):

========================  ====================================================
``ok``                    answer ``status`` / ``headers`` / ``body`` (keep-alive)
``reset``                 read the request, then RST (SO_LINGER 0), no answer
``close``                 read the request, then FIN, no answer
``reset_on_accept``       RST as soon as the connection arrives (after 100 ms of
                          reading whatever came, so sightings still count it)
``reset_mid_body``        headers (Content-Length or chunked) and part of the
                          body, then RST
``garbage``               ``body`` bytes instead of an HTTP response, then close
``partial_head``          half a status line, then silence
``headers_then_silence``  a complete head promising a body that never comes
``trickle``               head, then the body one byte every ``delay`` s;
                          ``forever=True`` never ends it
``silence``               read the request and never answer
``extra_response``        the answer, then a second, unsolicited response
``idle_close``            the answer with keep-alive, then FIN ``delay`` s later
``cl_and_te``             an answer with both Content-Length and chunked
========================  ====================================================

Anything that holds a connection open ends at ``reset()`` / ``stop()``.
"""

from __future__ import annotations

import collections
import re
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
REQUEST_LINE = re.compile(rb"^([A-Z]+) (/[^ \x00-\x20\x7f]*) HTTP/1\.1$")

DEFAULT_BODY = b'{"sid":"SMstrict0000000000000000000000000","status":"queued","from":"strict-upstream"}'


@dataclass
class Fault:
    kind: str = "ok"
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=lambda: [("Content-Type", "application/json")])
    body: bytes = DEFAULT_BODY
    delay: float = 0.1
    forever: bool = False
    chunked: bool = False
    keep_alive: bool = True
    part: int = 20  # bytes of the body sent before a reset_mid_body


@dataclass
class Request:
    conn: int
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    at: float

    def header(self, name: str) -> Optional[str]:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


@dataclass
class _Conn:
    id: int
    sock: socket.socket
    raw: bytearray = field(default_factory=bytearray)


class _Bad(Exception):
    pass


class StrictUpstream:
    def __init__(self, tls: Optional[ssl.SSLContext] = None, host: str = "127.0.0.1"):
        self.tls = tls
        self.host = host
        self._lock = threading.Lock()
        self._listener: Optional[socket.socket] = None
        self._stopping = threading.Event()
        self._release = threading.Event()
        self._conns: dict[int, _Conn] = {}
        self._ids = 0
        self.default = Fault()
        self.script: collections.deque[Fault] = collections.deque()
        self.requests: list[Request] = []
        self.violations: list[str] = []
        self.connections = 0
        self.tls_failures = 0
        self.raw_by_conn: dict[int, bytes] = {}

    # ---- life cycle --------------------------------------------------------

    def start(self) -> "StrictUpstream":
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((self.host, 0))
        ls.listen(1024)
        self._listener = ls
        threading.Thread(target=self._accept_loop, daemon=True).start()
        return self

    @property
    def port(self) -> int:
        assert self._listener is not None
        return self._listener.getsockname()[1]

    @property
    def authority(self) -> str:
        return f"{'localhost' if self.tls else self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.authority}"

    def stop(self) -> None:
        self._stopping.set()
        self._release.set()
        if self._listener:
            try:
                self._listener.close()
            except OSError:
                pass
        self._close_all()

    def reset(self, default: Optional[Fault] = None) -> None:
        """Ends every held connection, closes every open one (so a proxy's
        pool starts afresh), forgets what was recorded, sets the fault."""
        self._release.set()
        self._close_all()
        time.sleep(0.05)  # let the proxy's pool see the closes
        with self._lock:
            self._release = threading.Event()
            self.requests.clear()
            self.violations.clear()
            self.raw_by_conn.clear()
            self.connections = 0
            self.tls_failures = 0
            self.script.clear()
            self.default = default or Fault()

    def program(self, fault: Fault, *then: Fault) -> None:
        """``fault`` for the next request (and ``then`` for the ones after);
        the default for the rest."""
        with self._lock:
            self.script.clear()
            self.script.extend((fault,) + then)

    def _close_all(self) -> None:
        with self._lock:
            conns = list(self._conns.values())
        for c in conns:
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.sock.close()
            except OSError:
                pass

    # ---- what happened -----------------------------------------------------

    def sightings(self, marker: bytes) -> int:
        """How many times ``marker`` arrived, over every connection's raw bytes."""
        with self._lock:
            raws = list(self.raw_by_conn.values()) + [bytes(c.raw) for c in self._conns.values()
                                                      if c.id not in self.raw_by_conn]
        return sum(r.count(marker) for r in raws)

    def matching(self, marker: bytes) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if marker in r.body or marker in r.target.encode()]

    def wait_requests(self, n: int, timeout: float = 5.0) -> list[Request]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= n:
                    return list(self.requests)
            time.sleep(0.02)
        with self._lock:
            return list(self.requests)

    # ---- serving -----------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                s, _ = self._listener.accept()  # type: ignore[union-attr]
            except OSError:
                return
            with self._lock:
                self._ids += 1
                cid = self._ids
                self.connections += 1
            threading.Thread(target=self._serve, args=(cid, s), daemon=True).start()

    def _next_fault(self) -> Fault:
        with self._lock:
            return self.script.popleft() if self.script else self.default

    def _peek_fault(self) -> Fault:
        with self._lock:
            return self.script[0] if self.script else self.default

    def _serve(self, cid: int, s: socket.socket) -> None:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        release = self._release
        if self.tls:
            try:
                s.settimeout(5)
                s = self.tls.wrap_socket(s, server_side=True)
            except (ssl.SSLError, OSError):
                with self._lock:
                    self.tls_failures += 1
                _rst(s)
                return
        conn = _Conn(cid, s)
        with self._lock:
            self._conns[cid] = conn
        try:
            first = self._peek_fault()
            if first.kind == "reset_on_accept":
                self._next_fault()
                s.settimeout(0.1)
                try:
                    data = s.recv(65536)
                    conn.raw += data
                except (socket.timeout, OSError):
                    pass
                _rst(s)
                return
            buf = b""
            while not self._stopping.is_set():
                try:
                    req, buf = self._read_request(conn, buf)
                except _Bad as e:
                    with self._lock:
                        self.violations.append(f"conn {cid}: {e}")
                    try:
                        s.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    except OSError:
                        pass
                    return
                if req is None:
                    return
                with self._lock:
                    self.requests.append(req)
                fault = self._next_fault()
                if not self._act(s, fault, release):
                    return
        except OSError:
            return
        finally:
            with self._lock:
                self._conns.pop(cid, None)
                self.raw_by_conn[cid] = bytes(conn.raw)
            try:
                s.close()
            except OSError:
                pass

    def _recv(self, conn: _Conn, timeout: float = 60.0) -> bytes:
        conn.sock.settimeout(timeout)
        data = conn.sock.recv(65536)
        conn.raw += data
        return data

    def _read_request(self, conn: _Conn, buf: bytes) -> tuple[Optional[Request], bytes]:
        while b"\r\n\r\n" not in buf:
            if len(buf) > 256 * 1024:
                raise _Bad("request head over 256 KB")
            try:
                data = self._recv(conn)
            except socket.timeout:
                return None, buf
            if not data:
                if buf:
                    raise _Bad(f"connection closed mid-head: {buf[:80]!r}")
                return None, buf
            buf += data
            if not buf.startswith(b"\x16") and b"\r\n" not in buf[:8192] and len(buf) > 8192:
                raise _Bad("no request line")
            if buf.startswith(b"\x16\x03"):
                raise _Bad("a TLS ClientHello on a plain HTTP port")
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        m = REQUEST_LINE.match(lines[0])
        if not m:
            raise _Bad(f"bad request line {lines[0][:120]!r}")
        headers: list[tuple[str, str]] = []
        for ln in lines[1:]:
            if ln[:1] in (b" ", b"\t"):
                raise _Bad("obs-fold header line")
            name, sep, value = ln.partition(b":")
            if not sep or not TOKEN.match(name):
                raise _Bad(f"bad header line {ln[:120]!r}")
            if b"\r" in value or b"\n" in value or b"\x00" in value:
                raise _Bad("control character in a header value")
            headers.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))
        lower = [(k.lower(), v) for k, v in headers]
        hosts = [v for k, v in lower if k == "host"]
        if len(hosts) != 1:
            raise _Bad(f"{len(hosts)} Host headers")
        if hosts[0] not in (self.authority, f"{self.host}:{self.port}"):
            raise _Bad(f"Host {hosts[0]!r} is not this upstream ({self.authority})")
        cls = [v for k, v in lower if k == "content-length"]
        tes = [v for k, v in lower if k == "transfer-encoding"]
        if cls and tes:
            raise _Bad("Content-Length together with Transfer-Encoding")
        if len(cls) > 1:
            raise _Bad(f"{len(cls)} Content-Length headers")
        body = b""
        if tes:
            if len(tes) != 1 or tes[0].lower() != "chunked":
                raise _Bad(f"Transfer-Encoding {tes!r}")
            body, buf = self._read_chunked(conn, buf)
        elif cls:
            if not re.fullmatch(r"[0-9]{1,12}", cls[0]):
                raise _Bad(f"Content-Length {cls[0]!r}")
            n = int(cls[0])
            while len(buf) < n:
                data = self._recv(conn)
                if not data:
                    raise _Bad("connection closed mid-body")
                buf += data
            body, buf = buf[:n], buf[n:]
        req = Request(conn.id, m.group(1).decode(), m.group(2).decode("latin-1"), headers, body, time.monotonic())
        return req, buf

    def _read_chunked(self, conn: _Conn, buf: bytes) -> tuple[bytes, bytes]:
        body = b""
        while True:
            while b"\r\n" not in buf:
                data = self._recv(conn)
                if not data:
                    raise _Bad("connection closed mid-chunk-size")
                buf += data
            line, buf = buf.split(b"\r\n", 1)
            if not re.fullmatch(rb"[0-9a-fA-F]{1,8}", line):
                raise _Bad(f"bad chunk size line {line[:40]!r}")
            n = int(line, 16)
            while len(buf) < n + 2:
                data = self._recv(conn)
                if not data:
                    raise _Bad("connection closed mid-chunk")
                buf += data
            if buf[n:n + 2] != b"\r\n":
                raise _Bad("chunk not followed by CRLF")
            if n == 0:
                # no trailers from a proxy that adds nothing: just the CRLF
                return body, buf[2:]
            body, buf = body + buf[:n], buf[n + 2:]

    # ---- answers -----------------------------------------------------------

    @staticmethod
    def _head(f: Fault, length: Optional[int], chunked: bool = False, extra: list[tuple[str, str]] = ()) -> bytes:
        out = f"HTTP/1.1 {f.status} {_REASONS.get(f.status, 'Status')}\r\n".encode()
        for k, v in list(f.headers) + list(extra):
            out += f"{k}: {v}\r\n".encode("latin-1")
        if chunked:
            out += b"Transfer-Encoding: chunked\r\n"
        elif length is not None:
            out += f"Content-Length: {length}\r\n".encode()
        if not f.keep_alive:
            out += b"Connection: close\r\n"
        return out + b"\r\n"

    def _hold(self, release: threading.Event, timeout: float = 30.0) -> None:
        release.wait(timeout)

    def _act(self, s: socket.socket, f: Fault, release: threading.Event) -> bool:
        """Answers one request; False when the connection is done."""
        k = f.kind
        if k == "ok":
            if f.chunked:
                s.sendall(self._head(f, None, chunked=True) + _chunk(f.body))
            else:
                s.sendall(self._head(f, len(f.body)) + f.body)
            return f.keep_alive
        if k == "reset":
            _rst(s)
            return False
        if k == "close":
            s.shutdown(socket.SHUT_RDWR)
            return False
        if k == "reset_mid_body":
            if f.chunked:
                s.sendall(self._head(f, None, chunked=True) + f"{len(f.body):x}\r\n".encode() + f.body[:f.part])
            else:
                s.sendall(self._head(f, len(f.body)) + f.body[:f.part])
            time.sleep(0.1)
            _rst(s)
            return False
        if k == "garbage":
            s.sendall(f.body)
            time.sleep(0.05)
            s.shutdown(socket.SHUT_RDWR)
            return False
        if k == "partial_head":
            s.sendall(b"HTTP/1.1 20")
            self._hold(release)
            return False
        if k == "headers_then_silence":
            s.sendall(self._head(f, len(f.body)))
            self._hold(release)
            return False
        if k == "trickle":
            n = None if f.forever else len(f.body)
            s.sendall(self._head(f, n, chunked=f.forever))
            if f.forever:
                i = 0
                while not release.is_set() and i < 3000:
                    s.sendall(b"1\r\nx\r\n")
                    i += 1
                    release.wait(f.delay)
                return False
            for b in f.body:
                if release.is_set():
                    return False
                s.sendall(bytes([b]))
                time.sleep(f.delay)
            return f.keep_alive
        if k == "silence":
            self._hold(release)
            return False
        if k == "extra_response":
            second = b'{"stale":"an answer nobody asked for"}'
            s.sendall(self._head(f, len(f.body)) + f.body
                      + b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Stale: 1\r\nContent-Length: "
                      + str(len(second)).encode() + b"\r\n\r\n" + second)
            return True
        if k == "idle_close":
            s.sendall(self._head(f, len(f.body)) + f.body)
            time.sleep(f.delay)
            s.shutdown(socket.SHUT_RDWR)
            return False
        if k == "cl_and_te":
            s.sendall(self._head(f, None, chunked=True, extra=[("Content-Length", "5")]) + _chunk(f.body))
            return False
        raise AssertionError(f"unknown fault {k}")


def _chunk(body: bytes) -> bytes:
    out = b""
    for i in range(0, len(body), 7):
        piece = body[i:i + 7]
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    return out + b"0\r\n\r\n"


def _rst(s: socket.socket) -> None:
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass


_REASONS = {200: "OK", 201: "Created", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized",
            403: "Forbidden", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


class Canary:
    """A listener that only counts connections: the address a hostile client
    names, which an open proxy would connect to."""

    def __init__(self):
        self._ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._ls.bind(("127.0.0.1", 0))
        self._ls.listen(64)
        self.hits: list[bytes] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._loop, daemon=True).start()

    @property
    def port(self) -> int:
        return self._ls.getsockname()[1]

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _loop(self) -> None:
        while True:
            try:
                s, _ = self._ls.accept()
            except OSError:
                return
            s.settimeout(0.3)
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            with self._lock:
                self.hits.append(data)
            try:
                s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\ncanary")
                s.close()
            except OSError:
                pass

    def count(self) -> int:
        with self._lock:
            return len(self.hits)

    def stop(self) -> None:
        try:
            self._ls.close()
        except OSError:
            pass
