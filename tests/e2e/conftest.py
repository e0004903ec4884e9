"""Fixtures for the end-to-end suite: test PKI, the fake aggregator, tollgate.

* ``pki``      a throwaway CA and a leaf for localhost / 127.0.0.1 (openssl CLI)
* ``fake``     one FakeAggregator (plain HTTP + HTTPS) for the whole session,
               its recording cleared before every test
* ``tollgate`` ``<bin> serve`` as a subprocess with every upstream pointed at
               the fake; ports learned from its JSON "listening" log lines;
               stdout drained into ``tollgate.lines`` for the log assertions

The binary is ``$TOLLGATE_BIN`` or ``<repo>/target/debug/tollgate``.  If it is
missing, tests that need it FAIL.  ``E2E_ALLOW_NO_PROXY=1`` turns that into a
skip, for working on the suite itself only.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import tomllib
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest

from fake_aggregator import FakeAggregator

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SHARED = Path(os.environ.get("TOLLGATE_SHARED", REPO.parent / "shared"))

UPSTREAM_NAMES = ["twilio-api", "twilio-verify", "twilio-lookups", "vonage-rest", "vonage-api", "plivo-api", "bird-api", "sinch-api", "telnyx-api", "infobip-api"]

# Talking to 127.0.0.1 / localhost must never go through a proxy from the environment.
for _var in ("NO_PROXY", "no_proxy"):
    _cur = os.environ.get(_var, "")
    os.environ[_var] = ",".join(x for x in [_cur, "127.0.0.1", "localhost"] if x)
# The Twilio SDK rewrites host names when these are set.
os.environ.pop("TWILIO_EDGE", None)
os.environ.pop("TWILIO_REGION", None)


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "needs_classifier: needs tollgate's real number classifier (line type / validity from "
        "libphonenumber metadata); fails until it lands -- deselect with -m 'not needs_classifier'",
    )
    config.addinivalue_line("markers", "needs_tollgate: goes through the tollgate binary")


# --------------------------------------------------------------------------
# PKI
# --------------------------------------------------------------------------


@dataclass
class Pki:
    dir: Path
    ca_cert: str
    leaf_cert: str
    leaf_key: str


def _openssl(*args: str, cwd: Path) -> None:
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{r.stderr}")


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
             "-days", "2", "-subj", "/CN=tollgate e2e test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr",
             "-subj", "/CN=localhost", cwd=d)
    (d / "leaf.ext").write_text(
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
    )
    _openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "leaf.pem", "-days", "2", "-sha256", "-extfile", "leaf.ext", cwd=d)
    return Pki(d, str(d / "ca.pem"), str(d / "leaf.pem"), str(d / "leaf.key"))


# --------------------------------------------------------------------------
# Fake aggregator
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fake_session(pki) -> FakeAggregator:
    f = FakeAggregator(tls_cert=pki.leaf_cert, tls_key=pki.leaf_key).start()
    yield f
    f.stop()


@pytest.fixture
def fake(fake_session) -> FakeAggregator:
    fake_session.clear()
    return fake_session


# --------------------------------------------------------------------------
# Policy
# --------------------------------------------------------------------------


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def write_policy(dest: Path, extra: str = "") -> Path:
    """tests/e2e/policy.toml, merged over policies/default.toml when that exists.

    ``extra`` (TOML text, e.g. a short ``[hold] ttl``) is merged over both.
    """
    ours = HERE / "policy.toml"
    default = REPO / "policies" / "default.toml"
    if not default.exists() and not extra:
        dest.write_bytes(ours.read_bytes())
        return dest
    import tomli_w

    base = tomllib.loads(default.read_text()) if default.exists() else {}
    merged = _deep_merge(base, tomllib.loads(ours.read_text()))
    if extra:
        merged = _deep_merge(merged, tomllib.loads(extra))
    dest.write_text(
        f"# generated by tests/e2e/conftest.py: {ours} merged over {default}\n" + tomli_w.dumps(merged)
    )
    return dest


# --------------------------------------------------------------------------
# tollgate
# --------------------------------------------------------------------------


# The admin API's bearer token for every tollgate the suite starts.
ADMIN_TOKEN = "e2e-admin-token-7f3c9a1d5b2e4f60"


def tollgate_bin() -> Path:
    return Path(os.environ.get("TOLLGATE_BIN") or REPO / "target" / "debug" / "tollgate").resolve()


@dataclass
class Tollgate:
    proc: subprocess.Popen
    proxy: str  # host:port, plain HTTP listener
    tls: str  # host:port, TLS listener
    admin: str  # host:port
    data_dir: Path
    policy: Path
    lines: list[str] = field(default_factory=list, repr=False)  # stdout (JSON log lines)
    err_lines: list[str] = field(default_factory=list, repr=False)  # stderr
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://{self.proxy}"

    @property
    def tls_hostport(self) -> str:
        # the leaf is issued for localhost, and the Vonage SDK wants host[:port]
        return "localhost:" + self.tls.rsplit(":", 1)[1]

    @property
    def admin_url(self) -> str:
        return f"http://{self.admin}"

    def log_text(self) -> str:
        with self._lock:
            return "\n".join(self.lines + self.err_lines)

    def log_records(self) -> list[dict]:
        out = []
        with self._lock:
            lines = list(self.lines)
        for ln in lines:
            try:
                out.append(json.loads(ln))
            except ValueError:
                pass
        return out

    def kill9(self) -> None:
        """SIGKILL: no shutdown, no flush -- a crash."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def stop(self, timeout: float = 5.0) -> Optional[int]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode


def _drain(stream, sink: list[str], lock: threading.Lock, on_line=None) -> None:
    for raw in iter(stream.readline, ""):
        line = raw.rstrip("\n")
        with lock:
            sink.append(line)
        if on_line:
            on_line(line)
    stream.close()


def _listening(line: str) -> Optional[tuple[str, str]]:
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    if not isinstance(rec, dict):
        return None
    f = rec.get("fields") if isinstance(rec.get("fields"), dict) else rec
    if f.get("message") == "listening" and f.get("listener") and f.get("addr"):
        return str(f["listener"]), str(f["addr"])
    return None


def start_tollgate(fake: FakeAggregator, pki: Pki, workdir: Path, extra_args: tuple[str, ...] = (),
                   env: Optional[dict[str, str]] = None, policy_extra: str = "") -> Tollgate:
    """Start ``tollgate serve`` against ``fake``; return once /readyz is 200.

    The admin API token is ``ADMIN_TOKEN``.  ``env`` adds to (or, with a value
    of None, removes from) the environment; ``policy_extra`` is TOML merged
    over the e2e policy.  Starting again with the same ``workdir`` reuses its
    data dir (the SQLite hold queue, the data key): a restart.
    """
    binary = tollgate_bin()
    if not binary.exists():
        msg = (f"tollgate binary not found at {binary} (build it with `cargo build`, "
               f"or set TOLLGATE_BIN)")
        if os.environ.get("E2E_ALLOW_NO_PROXY") == "1":
            pytest.skip(msg + " [E2E_ALLOW_NO_PROXY=1]")
        pytest.fail(msg)
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = workdir / "data"
    data_dir.mkdir(exist_ok=True)
    policy = write_policy(workdir / "policy.toml", policy_extra)
    args = [str(binary), "serve",
            "--listen", "127.0.0.1:0",
            "--tls-listen", "127.0.0.1:0", "--tls-cert", pki.leaf_cert, "--tls-key", pki.leaf_key,
            "--admin-listen", "127.0.0.1:0",
            "--data-dir", str(data_dir),
            "--policy", str(policy)]
    routes = Path(os.environ.get("E2E_ROUTES", REPO / "routes"))
    if routes.is_dir():  # tollgate runs in a tmp dir: name the repo's routes
        args += ["--routes", str(routes)]
    for name in UPSTREAM_NAMES:
        args += ["--upstream", f"{name}={fake.url}"]
    args += list(extra_args)

    base_env = dict(os.environ)
    base_env["TOLLGATE_ADMIN_TOKEN"] = ADMIN_TOKEN
    base_env.pop("TOLLGATE_FAILPOINT", None)
    for k, v in (env or {}).items():
        if v is None:
            base_env.pop(k, None)
        else:
            base_env[k] = v
    env = base_env
    env.setdefault("RUST_LOG", "info")
    env.setdefault("RUST_BACKTRACE", "1")
    proc = subprocess.Popen(args, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, bufsize=1, env=env)
    found: dict[str, str] = {}
    got_all = threading.Event()

    def on_line(line: str) -> None:
        hit = _listening(line)
        if hit:
            found[hit[0]] = hit[1]
            if {"proxy", "tls", "admin"} <= found.keys():
                got_all.set()

    tg_lines: list[str] = []
    tg_err: list[str] = []
    lock = threading.Lock()
    threading.Thread(target=_drain, args=(proc.stdout, tg_lines, lock, on_line), daemon=True).start()
    threading.Thread(target=_drain, args=(proc.stderr, tg_err, lock), daemon=True).start()

    def fail(why: str):
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        with lock:
            out = "\n".join(tg_lines[-40:])
            err = "\n".join(tg_err[-40:])
        pytest.fail(f"tollgate did not start: {why}\ncommand: {' '.join(args)}\n"
                    f"--- stdout (last 40) ---\n{out}\n--- stderr (last 40) ---\n{err}")

    deadline = time.monotonic() + 20
    while not got_all.wait(0.05):
        if proc.poll() is not None:
            fail(f"exited with {proc.returncode}")
        if time.monotonic() > deadline:
            fail(f"no 'listening' log line for every listener (got {found})")

    tg = Tollgate(proc, found["proxy"], found["tls"], found["admin"], data_dir, policy, tg_lines, tg_err, lock)
    last = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{tg.admin_url}/readyz", timeout=2) as r:
                if r.status == 200:
                    return tg
                last = r.status
        except Exception as e:  # noqa: BLE001 - keep polling until the deadline
            last = repr(e)
        if proc.poll() is not None:
            fail(f"exited with {proc.returncode}")
        time.sleep(0.05)
    fail(f"/readyz never answered 200 (last: {last})")
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def tollgate_session(fake_session, pki, tmp_path_factory) -> Tollgate:
    tg = start_tollgate(fake_session, pki, tmp_path_factory.mktemp("tollgate"))
    yield tg
    t0 = time.monotonic()
    rc = tg.stop(timeout=5.0)
    assert rc is not None, "tollgate did not exit within 5 s of SIGTERM (had to SIGKILL it)"
    assert rc == 0 or rc == -signal.SIGTERM, f"tollgate exited with {rc} after SIGTERM ({time.monotonic() - t0:.1f}s)"


@pytest.fixture
def tollgate(tollgate_session, fake) -> Tollgate:
    """The shared tollgate, with the fake's recording cleared (via ``fake``)."""
    if tollgate_session.proc.poll() is not None:
        pytest.fail(f"tollgate died (exit {tollgate_session.proc.returncode}):\n{tollgate_session.log_text()[-4000:]}")
    return tollgate_session


# --------------------------------------------------------------------------
# Admin API, run-time hold lists, failure-callback receiver
# --------------------------------------------------------------------------


@pytest.fixture
def admin(tollgate):
    """The shared tollgate's admin API, with the token."""
    from helpers import AdminApi

    return AdminApi(tollgate.admin_url, ADMIN_TOKEN)


@pytest.fixture
def hold_number(admin):
    """``hold_number()`` -> a fresh valid mobile with a run-time ``hold`` list
    entry on the shared tollgate.  At teardown the entries are deleted and
    any of their sends still held are rejected, so tests stay independent."""
    from helpers import fresh_mobile

    made: list[tuple[int, str]] = []

    def make(note: str = "e2e") -> str:
        number = fresh_mobile()
        entry = admin.add_list("number", number, "hold", ttl_seconds=3600, note=note)
        made.append((entry["id"], number))
        return number

    yield make
    numbers = {n for _, n in made}
    for entry_id, _ in made:
        admin.delete_list(entry_id)
    for h in admin.held("held"):
        if h["to"] in numbers:
            admin.request("POST", f"/api/v1/held/{h['id']}/reject")


@pytest.fixture(scope="session")
def callbacks():
    from helpers import CallbackReceiver

    rx = CallbackReceiver().start()
    yield rx
    rx.stop()
