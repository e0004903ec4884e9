"""Raw-socket HTTP/1.1 and HTTP/2 helpers for the hostile-client and
upstream-fault suites.

Nothing here normalises a request: the bytes given are the bytes sent.
Responses are parsed just enough to assert on (status, headers, body and
how the body ended), with every read bounded by a deadline so that a hang
shows up as a test failure, never as a stuck suite.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Optional


def hostport(addr: str) -> tuple[str, int]:
    host, port = addr.rsplit(":", 1)
    return host.strip("[]"), int(port)


def connect(addr: str, timeout: float = 5.0) -> socket.socket:
    s = socket.create_connection(hostport(addr), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


@dataclass
class RawResponse:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    # How the body ended: "length" (Content-Length satisfied), "chunked"
    # (terminating chunk seen), "close" (close-delimited, EOF), "none" (no
    # body allowed), or "truncated" / "timeout" when it did not complete.
    ended: str
    raw: bytes = b""
    elapsed: float = 0.0

    def header(self, name: str) -> Optional[str]:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def complete(self) -> bool:
        return self.ended in ("length", "chunked", "close", "none")

    def json(self):
        import json

        return json.loads(self.body)

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Reader:
    """Buffered reads from a socket with one overall deadline."""

    def __init__(self, sock: socket.socket, deadline: float):
        self.sock = sock
        self.deadline = deadline
        self.buf = b""
        self.eof = False
        self.timed_out = False
        self.raw = b""

    def _fill(self) -> bool:
        if self.eof:
            return False
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.timed_out = True
            return False
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            self.timed_out = True
            return False
        except (ConnectionResetError, BrokenPipeError, OSError):
            self.eof = True
            return False
        if not data:
            self.eof = True
            return False
        self.buf += data
        self.raw += data
        return True

    def until(self, marker: bytes) -> Optional[bytes]:
        while marker not in self.buf:
            if not self._fill():
                return None
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def exactly(self, n: int) -> tuple[bytes, bool]:
        while len(self.buf) < n:
            if not self._fill():
                out, self.buf = self.buf, b""
                return out, False
        out, self.buf = self.buf[:n], self.buf[n:]
        return out, True

    def rest(self) -> bytes:
        while self._fill():
            pass
        out, self.buf = self.buf, b""
        return out


def read_response(sock: socket.socket, timeout: float = 10.0, method: str = "POST",
                  reader: Optional[Reader] = None) -> Optional[RawResponse]:
    """One response (skipping 1xx). None when no status line came before the
    deadline or the connection closed first."""
    t0 = time.monotonic()
    r = reader or Reader(sock, t0 + timeout)
    while True:
        head = r.until(b"\r\n\r\n")
        if head is None:
            return None
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        try:
            status = int(parts[1])
        except (IndexError, ValueError):
            return RawResponse(0, lines[0], [], b"", "garbage", r.raw, time.monotonic() - t0)
        if 100 <= status < 200 and status != 101:
            continue
        break
    headers = []
    for ln in lines[1:]:
        if not ln:
            continue
        k, _, v = ln.partition(":")
        headers.append((k.strip(), v.strip()))
    resp = RawResponse(status, parts[2] if len(parts) > 2 else "", headers, b"", "none")
    te = ",".join(v for k, v in headers if k.lower() == "transfer-encoding").lower()
    cl = [v for k, v in headers if k.lower() == "content-length"]
    if method == "HEAD" or status in (204, 304):
        resp.ended = "none"
    elif "chunked" in te:
        body = b""
        ended = "chunked"
        while True:
            size_line = r.until(b"\r\n")
            if size_line is None:
                ended = "timeout" if r.timed_out else "truncated"
                break
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                ended = "garbage"
                break
            if size == 0:
                if r.until(b"\r\n") is None:  # (no trailers expected)
                    ended = "timeout" if r.timed_out else "truncated"
                break
            chunk, ok = r.exactly(size + 2)
            body += chunk[:size]
            if not ok:
                ended = "timeout" if r.timed_out else "truncated"
                break
        resp.body, resp.ended = body, ended
    elif cl:
        n = int(cl[0])
        body, ok = r.exactly(n)
        resp.body = body
        resp.ended = "length" if ok else ("timeout" if r.timed_out else "truncated")
    else:
        resp.body = r.rest()
        resp.ended = "timeout" if r.timed_out else "close"
    resp.raw = r.raw
    resp.elapsed = time.monotonic() - t0
    return resp


def exchange(addr: str, data: bytes, timeout: float = 10.0, method: Optional[str] = None) -> Optional[RawResponse]:
    """Connect, send ``data``, read one response, close."""
    s = connect(addr, timeout)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        m = method or data.split(b" ", 1)[0].decode("latin-1")
        return read_response(s, timeout, m)
    finally:
        s.close()


def closed_within(sock: socket.socket, timeout: float) -> Optional[float]:
    """Seconds until the peer closed (EOF or reset), or None if it was still
    open after ``timeout``. Data that arrives meanwhile is discarded."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except socket.timeout:
            return None
        except (ConnectionResetError, OSError):
            return time.monotonic() - t0
        if not data:
            return time.monotonic() - t0


def request(method: str, target: str, headers: list[tuple[str, str]] | None = None, body: bytes = b"",
            version: str = "HTTP/1.1", content_length: bool = True, host: Optional[str] = "tollgate.test") -> bytes:
    """A request's bytes; headers exactly as given (plus Host and
    Content-Length unless told not to)."""
    out = f"{method} {target} {version}\r\n".encode("latin-1")
    if host is not None:
        out += f"Host: {host}\r\n".encode("latin-1")
    for k, v in headers or []:
        out += f"{k}: {v}\r\n".encode("latin-1")
    if content_length and body is not None and (body or method in ("POST", "PUT", "PATCH")):
        out += f"Content-Length: {len(body)}\r\n".encode()
    return out + b"\r\n" + body


def chunked(body: bytes, size: int = 16) -> bytes:
    out = b""
    for i in range(0, len(body), size):
        piece = body[i:i + size]
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    return out + b"0\r\n\r\n"


# --------------------------------------------------------------------------
# HTTP/2 frames (just enough to talk h2c prior knowledge by hand)
# --------------------------------------------------------------------------

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20


def frame(ftype: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream & 0x7FFFFFFF) + payload


def _hpack_int(value: int, prefix_bits: int, first: int = 0) -> bytes:
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack(headers: list[tuple[str, str]]) -> bytes:
    """Literal header fields without indexing, new names, no Huffman."""
    out = b""
    for k, v in headers:
        kb, vb = k.encode("latin-1"), v.encode("latin-1")
        out += b"\x00" + _hpack_int(len(kb), 7) + kb + _hpack_int(len(vb), 7) + vb
    return out


# Huffman codes of the ten digits (RFC 7541 Appendix B): enough to read a
# `:status` the server Huffman-encoded.
_DIGIT_CODES = {
    "00000": "0", "00001": "1", "00010": "2", "011001": "3", "011010": "4",
    "011011": "5", "011100": "6", "011101": "7", "011110": "8", "011111": "9",
}
_STATIC_STATUS = {8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500}


def _read_hpack_int(data: bytes, i: int, prefix_bits: int) -> tuple[int, int]:
    limit = (1 << prefix_bits) - 1
    v = data[i] & limit
    i += 1
    if v < limit:
        return v, i
    m = 0
    while True:
        b = data[i]
        i += 1
        v += (b & 0x7F) << m
        m += 7
        if not b & 0x80:
            return v, i


def h2_status(block: bytes) -> Optional[int]:
    """The `:status` of a response header block, when it is the first
    field (as servers write it). None if it cannot be read."""
    i = 0
    while i < len(block) and (block[i] & 0xE0) == 0x20:  # dynamic table size update
        _, i = _read_hpack_int(block, i, 5)
    if i >= len(block):
        return None
    b = block[i]
    if b & 0x80:
        idx, _ = _read_hpack_int(block, i, 7)
        return _STATIC_STATUS.get(idx)
    prefix = 6 if (b & 0xC0) == 0x40 else 4
    idx, i = _read_hpack_int(block, i, prefix)
    if idx != 8 and not (8 <= idx <= 14):
        return None
    huff = bool(block[i] & 0x80)
    n, i = _read_hpack_int(block, i, 7)
    raw = block[i:i + n]
    if not huff:
        try:
            return int(raw.decode())
        except ValueError:
            return None
    bits = "".join(f"{x:08b}" for x in raw)
    out, cur = "", ""
    for bit in bits:
        cur += bit
        if cur in _DIGIT_CODES:
            out += _DIGIT_CODES[cur]
            cur = ""
        if len(out) == 3:
            break
    try:
        return int(out)
    except ValueError:
        return None


@dataclass
class H2Frame:
    type: int
    flags: int
    stream: int
    payload: bytes


@dataclass
class H2Conn:
    sock: socket.socket
    buf: bytes = b""
    frames: list[H2Frame] = field(default_factory=list)
    eof: bool = False

    @classmethod
    def open(cls, addr: str, settings: bytes = b"", timeout: float = 5.0) -> "H2Conn":
        s = connect(addr, timeout)
        c = cls(s)
        c.send(H2_PREFACE + frame(SETTINGS, 0, 0, settings))
        return c

    def send(self, data: bytes) -> bool:
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.eof = True
            return False

    def read_frames(self, timeout: float, until=None) -> list[H2Frame]:
        """Reads frames for up to ``timeout`` s (or until ``until(frame)``
        is true, or EOF); acknowledges the server's SETTINGS and PINGs."""
        deadline = time.monotonic() + timeout
        got: list[H2Frame] = []
        while not self.eof:
            while len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) < 9 + n:
                    break
                f = H2Frame(self.buf[3], self.buf[4], int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF,
                            self.buf[9:9 + n])
                self.buf = self.buf[9 + n:]
                got.append(f)
                self.frames.append(f)
                if f.type == SETTINGS and not f.flags & ACK:
                    self.send(frame(SETTINGS, ACK, 0))
                if until and until(f):
                    return got
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                break
            except (ConnectionResetError, OSError):
                self.eof = True
                break
            if not data:
                self.eof = True
                break
            self.buf += data
        return got

    def response(self, stream: int, timeout: float = 10.0) -> tuple[Optional[int], bytes, Optional[int]]:
        """(status, body, rst_error_code) of one stream, read until its end."""
        status, body, rst = None, b"", None
        ended = False

        def done(f: H2Frame) -> bool:
            nonlocal status, body, rst, ended
            if f.stream != stream:
                return f.type == GOAWAY
            if f.type == HEADERS and status is None:
                status = h2_status(_strip_headers_payload(f))
            elif f.type == DATA:
                body += _strip_padding(f)
            elif f.type == RST_STREAM:
                rst = int.from_bytes(f.payload[:4], "big")
                return True
            if f.type in (HEADERS, DATA) and f.flags & END_STREAM:
                ended = True
                return True
            return False

        for f in self.frames:  # already read
            if done(f):
                return status, body, rst
        self.read_frames(timeout, done)
        return status, body, rst

    def goaway(self) -> Optional[H2Frame]:
        return next((f for f in self.frames if f.type == GOAWAY), None)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _strip_padding(f: H2Frame) -> bytes:
    p = f.payload
    if f.flags & PADDED:
        pad = p[0]
        p = p[1:len(p) - pad]
    return p


def _strip_headers_payload(f: H2Frame) -> bytes:
    p = _strip_padding(f)
    if f.flags & PRIORITY_FLAG:
        p = p[5:]
    return p


def h2_request(stream: int, method: str, path: str, headers: list[tuple[str, str]] | None = None,
               body: bytes = b"", authority: str = "tollgate.test", scheme: str = "http",
               end_stream: bool = True) -> bytes:
    pseudo = [(":method", method), (":scheme", scheme), (":authority", authority), (":path", path)]
    if method == "CONNECT":
        pseudo = [(":method", method), (":authority", authority)]
    block = hpack(pseudo + list(headers or []))
    if body:
        out = frame(HEADERS, END_HEADERS, stream, block)
        out += frame(DATA, END_STREAM if end_stream else 0, stream, body)
        return out
    return frame(HEADERS, END_HEADERS | (END_STREAM if end_stream else 0), stream, block)
