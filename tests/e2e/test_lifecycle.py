"""tollgate as a process: start-up, admin health, unknown paths, SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
import requests

from conftest import start_tollgate, tollgate_bin

pytestmark = pytest.mark.needs_tollgate


def test_healthz_and_readyz(tollgate):
    for path in ("/healthz", "/readyz"):
        r = requests.get(tollgate.admin_url + path, timeout=5)
        assert r.status_code == 200, (path, r.status_code, r.text)


def test_unknown_path_gets_neutral_404_and_is_not_forwarded(fake, tollgate):
    r = requests.post(tollgate.url + "/definitely/not/a/provider?x=1", data={"To": "+447400123456"}, timeout=5)
    assert r.status_code == 404
    assert "json" in r.headers.get("Content-Type", ""), r.headers
    r.json()  # a JSON body
    assert not fake.snapshot(), "an unmatched path was forwarded"


def test_client_host_header_does_not_choose_the_upstream(fake, tollgate):
    """No open proxy: a Host naming another site still goes to the route's upstream."""
    r = requests.get(tollgate.url + "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/SMx.json",
                     headers={"Host": "evil.example"}, auth=("a", "b"), timeout=5)
    got = fake.snapshot()
    assert len(got) == 1 and got[0].header("Host") == f"127.0.0.1:{fake.port}"
    assert r.status_code == got[0].status


def test_sigterm_exits_promptly(fake_session, pki, tmp_path):
    tg = start_tollgate(fake_session, pki, tmp_path / "tg")
    assert requests.get(tg.admin_url + "/readyz", timeout=5).status_code == 200
    t0 = time.monotonic()
    tg.proc.send_signal(signal.SIGTERM)
    try:
        rc = tg.proc.wait(timeout=5)
    except Exception:  # noqa: BLE001
        tg.proc.kill()
        tg.proc.wait()
        pytest.fail("tollgate did not exit within 5 s of SIGTERM")
    assert rc in (0, -signal.SIGTERM), f"exit code {rc} after SIGTERM"
    assert time.monotonic() - t0 < 5


@pytest.mark.parametrize("threads", ["auto", "2", "shared"])
def test_a_second_tollgate_on_the_same_port_fails_start_up(tollgate, fake, tmp_path, threads):
    """The proxy threads bind with SO_REUSEPORT, which would let a second
    tollgate of the same user share the port and take half its connections."""
    r = subprocess.run(
        [str(tollgate_bin()), "serve", "--listen", tollgate.proxy, "--proxy-threads", threads,
         "--admin-listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "data"),
         "--upstream", f"twilio-api={fake.url}"],
        capture_output=True, text=True, timeout=30)
    assert r.returncode != 0, r.stdout[-2000:]
    assert f"binding the proxy listener on {tollgate.proxy}" in r.stderr + r.stdout, r.stderr[-2000:]
    assert requests.get(tollgate.admin_url + "/readyz", timeout=5).status_code == 200
