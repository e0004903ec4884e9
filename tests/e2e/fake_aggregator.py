"""A fake SMS aggregator: Twilio, Vonage and Plivo on one local HTTP(S) server.

It answers the way the providers' OpenAPI definitions in ``../shared/specs/``
say (Plivo has no published spec there: its shapes follow the Plivo SDK and
API reference), and it RECORDS every request exactly as it arrived: method,
raw request target (path + query), headers in arrival order with their
original spelling, and the raw body bytes.  The recording is what the
end-to-end tests compare to prove that tollgate forwards a send
byte-for-byte, and that a blocked send never reached the aggregator.

One instance serves every upstream (dispatch is by path), on a plain HTTP
port and, optionally, an HTTPS port (the Vonage SDK only speaks https, so the
direct SDK -> fake validation needs it).  Both ports share one recording.

Run it by hand:  python fake_aggregator.py  (prints its port, Ctrl-C to stop).
"""

from __future__ import annotations

import datetime
import json
import re
import secrets
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional
from urllib.parse import parse_qs, urlsplit

# The providers added after the first three live in one module each
# (``fake_<provider>.py``): ``routes(fake)`` returns (method, path regex,
# handler) triples; a handler takes the ``Recorded`` request and the
# regex's named groups and returns (status, headers, body).
PROVIDER_MODULES: list = []


def register(module) -> None:
    """Adds a provider module's routes (each module calls this on import)."""
    if module not in PROVIDER_MODULES:
        PROVIDER_MODULES.append(module)


# --------------------------------------------------------------------------
# What was received / answered
# --------------------------------------------------------------------------


@dataclass
class Recorded:
    """One request as the fake received it, and what it answered."""

    method: str
    target: str  # raw request target: path + query, exactly as sent
    headers: list[tuple[str, str]]  # in arrival order, original spelling
    body: bytes
    scheme: str  # "http" or "https" (which port it arrived on)
    http_version: str = "HTTP/1.1"
    status: int = 0  # what the fake answered
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_body: bytes = b""

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> str:
        return urlsplit(self.target).query

    def header(self, name: str) -> Optional[str]:
        """First value of a header, case-insensitively."""
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode("utf-8"), keep_blank_values=True)

    def json(self):
        return json.loads(self.body)

    def response_json(self):
        return json.loads(self.response_body)


@dataclass
class Programmed:
    """A canned answer installed by a test (see FakeAggregator.program)."""

    method: str
    path_re: re.Pattern
    status: int
    body: bytes
    headers: list[tuple[str, str]]
    once: bool


# --------------------------------------------------------------------------
# Helpers for provider-shaped answers
# --------------------------------------------------------------------------


def _rfc2822_now() -> str:
    # Twilio's date format in API 2010: "Thu, 24 Aug 2023 05:01:45 +0000"
    return datetime.datetime.now(datetime.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S +0000")


def _iso_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hex32() -> str:
    return secrets.token_hex(16)


def _first(form: dict[str, list[str]], key: str, default=None):
    v = form.get(key)
    return v[0] if v else default


def _body_params(body: bytes, content_type: str) -> dict:
    """Form or JSON body -> flat dict (first value of each form field).

    Vonage's SDK may send a form body with a stale ``Content-Type:
    application/json`` header (its HttpClient shares one headers dict between
    calls), so fall back to the other encoding rather than trusting the
    header blindly: the real aggregator evidently copes.
    """
    text = body.decode("utf-8", errors="replace")
    ct = (content_type or "").lower()
    attempts = ["json", "form"] if "json" in ct else ["form", "json"]
    for kind in attempts:
        if kind == "json":
            try:
                v = json.loads(text) if text.strip() else {}
                if isinstance(v, dict):
                    return v
            except ValueError:
                pass
        else:
            if "=" in text or not text:
                return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}
    return {}


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------

Answer = tuple[int, list[tuple[str, str]], bytes]

JSON_CT = ("Content-Type", "application/json")
JSON_UTF8_CT = ("Content-Type", "application/json; charset=utf-8")


class FakeAggregator:
    """Start with ``FakeAggregator().start()``; ``.url`` is the plain-HTTP base."""

    def __init__(self, tls_cert: Optional[str] = None, tls_key: Optional[str] = None):
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._programmed: list[Programmed] = []
        self._state: dict[str, dict] = {}  # id -> stored resource (fetch answers)
        self._servers: list[ThreadingHTTPServer] = []
        self._threads: list[threading.Thread] = []
        self._tls_cert = tls_cert
        self._tls_key = tls_key
        self.port: int = 0
        self.tls_port: Optional[int] = None

    # ---- lifecycle -------------------------------------------------------

    def start(self) -> "FakeAggregator":
        plain = self._make_server("http")
        self.port = plain.server_address[1]
        if self._tls_cert and self._tls_key:
            tls = self._make_server("https")
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self._tls_cert, self._tls_key)
            tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
            self.tls_port = tls.server_address[1]
        for srv in self._servers:
            t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        for srv in self._servers:
            srv.shutdown()
            srv.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def tls_hostport(self) -> str:
        return f"localhost:{self.tls_port}"

    # ---- recording -------------------------------------------------------

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self._programmed.clear()

    def snapshot(self) -> list[Recorded]:
        with self._lock:
            return list(self.requests)

    def last(self) -> Recorded:
        with self._lock:
            if not self.requests:
                raise AssertionError("the fake aggregator received no request")
            return self.requests[-1]

    def program(
        self,
        method: str,
        path_regex: str,
        status: int,
        body: bytes | str | dict | list,
        headers: Optional[list[tuple[str, str]]] = None,
        once: bool = True,
    ) -> None:
        """Install a canned answer (matched before the built-in routes)."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers = headers if headers is not None else [JSON_CT]
        elif isinstance(body, str):
            body = body.encode()
        with self._lock:
            self._programmed.append(
                Programmed(method.upper(), re.compile(path_regex), status, body, headers or [], once)
            )

    # ---- internals -------------------------------------------------------

    def _make_server(self, scheme: str) -> ThreadingHTTPServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "fake-aggregator/1"

            def log_message(self, fmt, *args):  # keep pytest output clean
                pass

            def _read_body(self) -> bytes:
                te = (self.headers.get("Transfer-Encoding") or "").lower()
                if "chunked" in te:
                    chunks = []
                    while True:
                        line = self.rfile.readline()
                        size = int(line.split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            # trailers until blank line
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            break
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    return b"".join(chunks)
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _handle(self):
                body = self._read_body()
                rec = Recorded(
                    method=self.command,
                    target=self.path,
                    headers=list(self.headers.items()),
                    body=body,
                    scheme=scheme,
                    http_version=self.request_version,
                )
                try:
                    status, headers, out = fake._dispatch(rec)
                except Exception as e:  # a bug in the fake must be visible, not a hang
                    status, headers, out = 500, [JSON_CT], json.dumps({"fake_error": repr(e)}).encode()
                rec.status, rec.response_headers, rec.response_body = status, headers, out
                with fake._lock:
                    fake.requests.append(rec)
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

        srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        srv.daemon_threads = True
        self._servers.append(srv)
        return srv

    def _dispatch(self, rec: Recorded) -> Answer:
        with self._lock:
            for i, p in enumerate(self._programmed):
                if p.method in (rec.method, "*") and p.path_re.search(rec.target):
                    if p.once:
                        del self._programmed[i]
                    return p.status, p.headers, p.body
        path = rec.path
        for method, pattern, fn in self._routes():
            if method != rec.method:
                continue
            m = re.fullmatch(pattern, path)
            if m:
                return fn(rec, **m.groupdict())
        return 404, [JSON_CT], json.dumps({"fake": "no route", "method": rec.method, "path": path}).encode()

    def _routes(self) -> list[tuple[str, str, Callable[..., Answer]]]:
        return [
            # Twilio API 2010
            ("POST", r"/2010-04-01/Accounts/(?P<ac>AC[0-9a-fA-F]{32})/Messages\.json", self._twilio_message_create),
            ("GET", r"/2010-04-01/Accounts/(?P<ac>AC[0-9a-fA-F]{32})/Messages/(?P<sid>[A-Za-z0-9]+)\.json", self._twilio_message_fetch),
            ("POST", r"/2010-04-01/Accounts/(?P<ac>AC[0-9a-fA-F]{32})/Messages/(?P<sid>[A-Za-z0-9]+)/Feedback\.json", self._twilio_feedback),
            # Twilio Verify v2
            ("POST", r"/v2/Services/(?P<va>VA[0-9a-fA-F]{32})/Verifications", self._twilio_verification_create),
            ("GET", r"/v2/Services/(?P<va>VA[0-9a-fA-F]{32})/Verifications/(?P<sid>[^/]+)", self._twilio_verification_fetch),
            ("POST", r"/v2/Services/(?P<va>VA[0-9a-fA-F]{32})/VerificationCheck", self._twilio_verification_check),
            # Twilio Lookup v2
            ("GET", r"/v2/PhoneNumbers/(?P<num>[^/]+)", self._twilio_lookup),
            # Vonage SMS (rest.nexmo.com)
            ("POST", r"/sms/json", self._vonage_sms),
            # Vonage Verify v2 (api.nexmo.com)
            ("POST", r"/v2/verify", self._vonage_verify2_start),
            ("POST", r"/v2/verify/(?P<rid>[0-9a-fA-F-]{36})", self._vonage_verify2_check),
            ("DELETE", r"/v2/verify/(?P<rid>[0-9a-fA-F-]{36})", lambda rec, rid: (204, [], b"")),
            # Vonage legacy Verify
            ("POST", r"/verify/json", self._vonage_verify_legacy_start),
            ("POST", r"/verify/check/json", self._vonage_verify_legacy_check),
            ("GET", r"/verify/search/json", self._vonage_verify_legacy_search),
            # Vonage Messages
            ("POST", r"/v1/messages", self._vonage_messages),
            # Vonage account (a passthrough call)
            ("GET", r"/account/get-balance", self._vonage_balance),
            # Plivo
            ("POST", r"/v1/Account/(?P<auth_id>[A-Z0-9]+)/Message/", self._plivo_message_create),
            ("GET", r"/v1/Account/(?P<auth_id>[A-Z0-9]+)/Message/(?P<message_uuid>[0-9a-fA-F-]{36})/", self._plivo_message_get),
        ] + [r for module in PROVIDER_MODULES for r in module.routes(self)]

    # ---- Twilio ----------------------------------------------------------

    @staticmethod
    def _twilio_error(status: int, code: int, message: str) -> Answer:
        body = {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        return status, [JSON_UTF8_CT], json.dumps(body).encode()

    def _twilio_message_create(self, rec: Recorded, ac: str) -> Answer:
        p = _body_params(rec.body, rec.header("Content-Type") or "")
        to = p.get("To")
        if not to:
            return self._twilio_error(400, 21604, "A 'To' phone number is required.")
        sid = "SM" + _hex32()
        now = _rfc2822_now()
        mg = p.get("MessagingServiceSid")
        msg = {
            "account_sid": ac,
            "api_version": "2010-04-01",
            "body": p.get("Body", ""),
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": p.get("From"),
            "messaging_service_sid": mg,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if (mg and not p.get("From")) else "queued",
            "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{ac}/Messages/{sid}/Media.json",
            },
            "to": to,
            "uri": f"/2010-04-01/Accounts/{ac}/Messages/{sid}.json",
        }
        with self._lock:
            self._state[sid] = dict(msg)
        return 201, [JSON_UTF8_CT], json.dumps(msg).encode()

    def _twilio_message_fetch(self, rec: Recorded, ac: str, sid: str) -> Answer:
        with self._lock:
            msg = self._state.get(sid)
        if msg is None:
            return self._twilio_error(
                404, 20404, f"The requested resource /2010-04-01/Accounts/{ac}/Messages/{sid}.json was not found"
            )
        msg = dict(msg, status="delivered", date_sent=msg["date_created"], price="-0.00790", price_unit="USD")
        return 200, [JSON_UTF8_CT], json.dumps(msg).encode()

    def _twilio_feedback(self, rec: Recorded, ac: str, sid: str) -> Answer:
        p = _body_params(rec.body, rec.header("Content-Type") or "")
        now = _rfc2822_now()
        fb = {
            "account_sid": ac,
            "message_sid": sid,
            "outcome": p.get("Outcome", "confirmed"),
            "date_created": now,
            "date_updated": now,
            "uri": f"/2010-04-01/Accounts/{ac}/Messages/{sid}/Feedback.json",
        }
        return 201, [JSON_UTF8_CT], json.dumps(fb).encode()

    def _verification(self, va: str, to: str, channel: str, status: str, sid: Optional[str] = None) -> dict:
        sid = sid or "VE" + _hex32()
        now = _iso_now()
        return {
            "sid": sid,
            "service_sid": va,
            "account_sid": "AC" + "0" * 32,
            "to": to,
            "channel": channel,
            "status": status,
            "valid": status == "approved",
            "date_created": now,
            "date_updated": now,
            "lookup": {},
            "amount": None,
            "payee": None,
            "send_code_attempts": [{"time": now, "channel": channel.upper(), "attempt_sid": "VL" + _hex32()}],
            "sna": None,
            "url": f"https://verify.twilio.com/v2/Services/{va}/Verifications/{sid}",
        }

    def _twilio_verification_create(self, rec: Recorded, va: str) -> Answer:
        p = _body_params(rec.body, rec.header("Content-Type") or "")
        if not p.get("To") or not p.get("Channel"):
            return self._twilio_error(400, 60200, "Invalid parameter")
        v = self._verification(va, p["To"], p["Channel"], "pending")
        with self._lock:
            self._state[v["sid"]] = v
            self._state[("verify", va, p["To"])] = v  # type: ignore[index]
        return 201, [JSON_UTF8_CT], json.dumps(v).encode()

    def _twilio_verification_fetch(self, rec: Recorded, va: str, sid: str) -> Answer:
        with self._lock:
            v = self._state.get(sid)
        if v is None:
            return self._twilio_error(404, 20404, f"The requested resource /Services/{va}/Verifications/{sid} was not found")
        return 200, [JSON_UTF8_CT], json.dumps(v).encode()

    def _twilio_verification_check(self, rec: Recorded, va: str) -> Answer:
        p = _body_params(rec.body, rec.header("Content-Type") or "")
        to = p.get("To")
        with self._lock:
            v = self._state.get(p.get("VerificationSid")) or self._state.get(("verify", va, to))  # type: ignore[arg-type]
        if v is None:
            return self._twilio_error(404, 20404, f"The requested resource /Services/{va}/VerificationCheck was not found")
        approved = p.get("Code") not in (None, "", "000000")
        check = {
            "sid": v["sid"],
            "service_sid": va,
            "account_sid": v["account_sid"],
            "to": v["to"],
            "channel": v["channel"],
            "status": "approved" if approved else "pending",
            "valid": approved,
            "amount": None,
            "payee": None,
            "sna_attempts_error_codes": [],
            "date_created": v["date_created"],
            "date_updated": _iso_now(),
        }
        return 200, [JSON_UTF8_CT], json.dumps(check).encode()

    def _twilio_lookup(self, rec: Recorded, num: str) -> Answer:
        # LookupResponse (twilio_lookups_v2.json).  The spec types the
        # per-package objects as non-nullable objects, so a package that was
        # not requested is left out rather than sent as null.
        fields = ",".join(parse_qs(rec.query).get("Fields", [])).split(",")
        body = {
            "calling_country_code": "44",
            "country_code": "GB",
            "phone_number": num,
            "national_format": None,
            "valid": True,
            "validation_errors": [],
            "url": f"https://lookups.twilio.com/v2/PhoneNumbers/{num}",
        }
        if "line_type_intelligence" in fields:
            body["line_type_intelligence"] = {
                "mobile_country_code": "234", "mobile_network_code": "10",
                "carrier_name": "Example Mobile", "type": "mobile",
            }
        return 200, [JSON_UTF8_CT], json.dumps(body).encode()

    # ---- Vonage ----------------------------------------------------------

    def _vonage_sms(self, rec: Recorded) -> Answer:
        # sms.yml: 200, every value a string; "message-id" and "status" "0".
        p = _body_params(rec.body, rec.header("Content-Type") or "")
        to = str(p.get("to", ""))
        if not to:
            body = {"message-count": "1", "messages": [{"status": "2", "error-text": "Missing to param"}]}
            return 200, [JSON_CT], json.dumps(body).encode()
        body = {
            "message-count": "1",
            "messages": [
                {
                    "to": to,
                    "message-id": secrets.token_hex(8).upper(),
                    "status": "0",
                    "remaining-balance": "3.14159265",
                    "message-price": "0.03330000",
                    "network": "23410",
                }
            ],
        }
        if "client-ref" in p:
            body["messages"][0]["client-ref"] = str(p["client-ref"])
        return 200, [JSON_CT], json.dumps(body).encode()

    def _vonage_verify2_start(self, rec: Recorded) -> Answer:
        rid = str(uuid.uuid4())
        with self._lock:
            self._state[rid] = {"request_id": rid}
        return 202, [JSON_CT], json.dumps({"request_id": rid}).encode()

    def _vonage_verify2_check(self, rec: Recorded, rid: str) -> Answer:
        with self._lock:
            known = rid in self._state
        if not known:
            problem = {
                "type": "https://developer.nexmo.com/api-errors#not-found",
                "title": "Not Found",
                "detail": f"Request '{rid}' was not found or it has been verified already.",
                "instance": str(uuid.uuid4()),
            }
            return 404, [("Content-Type", "application/problem+json")], json.dumps(problem).encode()
        return 200, [JSON_CT], json.dumps({"request_id": rid, "status": "completed"}).encode()

    def _vonage_verify_legacy_start(self, rec: Recorded) -> Answer:
        rid = _hex32()
        return 200, [JSON_CT], json.dumps({"request_id": rid, "status": "0"}).encode()

    def _vonage_verify_legacy_check(self, rec: Recorded) -> Answer:
        p = _body_params(rec.body, rec.header("Content-Type") or "")
        body = {
            "request_id": str(p.get("request_id", "")),
            "event_id": secrets.token_hex(8).upper(),
            "status": "0",
            "price": "0.10000000",
            "currency": "EUR",
        }
        return 200, [JSON_CT], json.dumps(body).encode()

    def _vonage_verify_legacy_search(self, rec: Recorded) -> Answer:
        q = parse_qs(rec.query)
        rid = (q.get("request_id") or [""])[0]
        body = {
            "request_id": rid,
            "account_id": "abcdef01",
            "status": "IN PROGRESS",
            "number": "447700900000",
            "price": "0.10000000",
            "currency": "EUR",
            "sender_id": "verify",
            "date_submitted": "2020-01-01 12:00:00",
            "date_finalized": None,
            "first_event_date": "2020-01-01 12:00:00",
            "last_event_date": "2020-01-01 12:00:00",
            "checks": [],
            "events": [],
        }
        return 200, [JSON_CT], json.dumps(body).encode()

    def _vonage_messages(self, rec: Recorded) -> Answer:
        return 202, [JSON_CT], json.dumps({"message_uuid": str(uuid.uuid4())}).encode()

    def _vonage_balance(self, rec: Recorded) -> Answer:
        return 200, [JSON_CT], json.dumps({"value": 10.28, "autoReload": False}).encode()

    # ---- Plivo -----------------------------------------------------------

    def _plivo_message_create(self, rec: Recorded, auth_id: str) -> Answer:
        p = _body_params(rec.body, rec.header("Content-Type") or "")
        dst = str(p.get("dst", ""))
        uuids = [str(uuid.uuid4()) for _ in dst.split("<") if _]
        for u, d in zip(uuids, [d for d in dst.split("<") if d]):
            with self._lock:
                self._state[u] = {"auth_id": auth_id, "dst": d, "src": p.get("src"), "text": p.get("text")}
        body = {"api_id": str(uuid.uuid4()), "message": "message(s) queued", "message_uuid": uuids}
        return 202, [JSON_CT], json.dumps(body).encode()

    def _plivo_message_get(self, rec: Recorded, auth_id: str, message_uuid: str) -> Answer:
        with self._lock:
            m = self._state.get(message_uuid)
        if m is None:
            body = {"api_id": str(uuid.uuid4()), "error": "not found"}
            return 404, [JSON_CT], json.dumps(body).encode()
        body = {
            "api_id": str(uuid.uuid4()),
            "error_code": "000",
            "from_number": str(m["src"] or "").lstrip("+"),
            "message_direction": "outbound",
            "message_state": "delivered",
            "message_time": "2024-01-01 12:00:00+00:00",
            "message_type": "sms",
            "message_uuid": message_uuid,
            "resource_uri": f"/v1/Account/{auth_id}/Message/{message_uuid}/",
            "to_number": m["dst"].lstrip("+"),
            "total_amount": "0.00650",
            "total_rate": "0.00650",
            "units": 1,
        }
        return 200, [JSON_CT], json.dumps(body).encode()


import fake_bird  # noqa: E402 - the provider modules register themselves below
import fake_infobip  # noqa: E402
import fake_telnyx  # noqa: E402
import fake_sinch  # noqa: E402

register(fake_bird)
register(fake_infobip)
register(fake_telnyx)
register(fake_sinch)


if __name__ == "__main__":  # pragma: no cover - manual use
    import time

    f = FakeAggregator().start()
    print(f"fake aggregator on {f.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        f.stop()
