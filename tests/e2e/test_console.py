"""The review console in real headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven over WebDriver by ``selenium``; no browser or
driver is downloaded: Selenium Manager is never asked, both paths are given).

Nothing of the queue is shown before sign-in; a wrong token is refused; an
analyst signs in, sees a send held through the twilio SDK, releases it with
a click, and the fake aggregator receives it exactly once, byte-identical.
A screenshot of the signed-in console is saved in the pytest tmp dir.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

import sdk_clients as S
from conftest import ADMIN_TOKEN
from helpers import assert_forwarded_identically, only_request, wait_for

pytestmark = pytest.mark.needs_tollgate

CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("E2E_CHROMEDRIVER", "/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def browser():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: install Debian's chromium and chromium-driver "
                    "(`apt-get install -y chromium chromium-driver`; tests/run.sh does it)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="tollgate-e2e-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                 "--window-size=1400,1700", f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    # With both paths given, Selenium never runs Selenium Manager (no download).
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _visible(driver, css: str) -> bool:
    els = driver.find_elements("css selector", css)
    return bool(els) and els[0].is_displayed()


def _send(base_url: str, to: str):
    return S.twilio_client(base_url).messages.create(to=to, from_=S.TWILIO_FROM, body="Your code is 123456",
                                                     status_callback="https://platform.example/sms/status")


def test_console_sign_in_shows_the_held_send_and_release_forwards_it(browser, fake, tollgate, admin, hold_number,
                                                                     tmp_path):
    d = browser
    to = hold_number("console test")
    _send(fake.url, to)
    direct = only_request(fake)
    fake.clear()
    sid = _send(tollgate.url, to).sid
    assert not fake.snapshot()

    # Before sign-in: the sign-in form, and nothing of the queue.
    d.get(tollgate.admin_url + "/console")
    wait_for(lambda: _visible(d, "#signin"), timeout=15, what="the sign-in form")
    assert not _visible(d, "#app")
    assert sid not in d.page_source and to not in d.page_source
    assert not d.find_elements("css selector", "#held-body tr")

    # A wrong token is refused, and not kept.
    d.find_element("id", "token").send_keys("not-the-token")
    d.find_element("id", "signin-submit").click()
    wait_for(lambda: _visible(d, "#signin-error"), timeout=10, what="the refusal")
    assert "refused" in d.find_element("id", "signin-error").text
    assert not _visible(d, "#app")
    assert d.execute_script("return sessionStorage.getItem('tollgate.adminToken')") is None
    assert sid not in d.page_source
    d.save_screenshot(str(tmp_path / "console-refused.png"))

    # Sign in: the held send shows with its reasons, score, country and countdown.
    d.find_element("id", "token").clear()
    d.find_element("id", "token").send_keys(ADMIN_TOKEN)
    d.find_element("id", "signin-submit").click()
    row_css = f'#held-body tr[data-id="{sid}"]'
    wait_for(lambda: _visible(d, row_css), timeout=15, what="the held send in the console")
    row = d.find_element("css selector", row_css)
    text = row.text
    assert to in text and "GB" in text and "lists.hold_number" in text, text
    assert "twilio" in text
    countdown = row.find_element("css selector", ".countdown").text
    assert "m" in countdown and "s" in countdown, countdown
    assert not _visible(d, "#signin")
    # Charts are drawn (inline SVG) once the decisions load.
    wait_for(lambda: d.find_elements("css selector", "#chart-country svg rect"), timeout=10, what="the charts")
    assert d.find_elements("css selector", "#chart-reason svg rect")
    assert d.find_elements("css selector", "#chart-time svg rect")
    wait_for(lambda: d.find_elements("css selector", "#decisions-body tr"), timeout=10, what="recent decisions")
    d.save_screenshot(str(tmp_path / "console-signed-in.png"))

    # Release with a click: forwarded once, byte-identical.
    row.find_element("css selector", 'button[data-act="release"]').click()
    via = wait_for(fake.snapshot, timeout=15, what="the released send at the fake")
    assert_forwarded_identically(direct, via[0], fake)
    wait_for(lambda: not d.find_elements("css selector", row_css), timeout=10, what="the row to leave the queue")
    wait_for(lambda: "Released" in d.find_element("id", "toast").text, timeout=5, what="the confirmation")
    assert admin.held_one(sid)["state"] == "released"
    wait_for(lambda: sid in d.find_element("id", "resolved-body").text, timeout=10, what="the resolved list")
    time.sleep(0.5)
    assert len(fake.snapshot()) == 1, "forwarded more than once"
    d.save_screenshot(str(tmp_path / "console-released.png"))


def test_console_bulk_reject_lists_and_sign_out(browser, fake, tollgate, admin, hold_number, tmp_path):
    d = browser
    sids = [_send(tollgate.url, hold_number()).sid for _ in range(2)]
    d.get(tollgate.admin_url + "/console")  # the token is still in this tab's sessionStorage
    for sid in sids:
        wait_for(lambda: _visible(d, f'#held-body tr[data-id="{sid}"]'), timeout=15, what=f"{sid} in the console")
        d.find_element("css selector", f'#held-body input[type=checkbox][data-id="{sid}"]').click()
    assert d.find_element("id", "selected-count").text == "2 selected"
    bulk = d.find_element("id", "bulk-reject")
    bulk.click()  # arms
    assert "again" in bulk.text
    bulk.click()  # confirms
    for sid in sids:
        wait_for(lambda: admin.held_one(sid)["state"] == "rejected", timeout=10, what=f"{sid} rejected")
    wait_for(lambda: not any(d.find_elements("css selector", f'#held-body tr[data-id="{s}"]') for s in sids),
             timeout=10, what="the rejected rows to leave")
    assert not fake.snapshot()

    # Lists: add through the form (scope, value, action, ttl, note), then delete.
    d.find_element("css selector", '#list-scope option[value="range"]').click()
    d.find_element("id", "list-value").send_keys("+2348031")
    d.find_element("css selector", '#list-action option[value="block"]').click()
    d.find_element("id", "list-ttl").send_keys("600")
    d.find_element("id", "list-note").send_keys("console e2e")
    d.find_element("id", "list-add").click()
    entry = wait_for(lambda: next((e for e in admin.lists() if e["note"] == "console e2e"), None), timeout=10,
                     what="the list entry")
    assert (entry["scope"], entry["value"], entry["action"]) == ("range", "+2348031", "block")
    assert 590_000 <= entry["expires_at"] - entry["created_at"] <= 600_000
    row_css = f'#lists-body tr[data-id="{entry["id"]}"]'
    wait_for(lambda: _visible(d, row_css), timeout=10, what="the entry in the table")
    d.find_element("css selector", row_css + ' button[data-act="delete"]').click()
    wait_for(lambda: all(e["id"] != entry["id"] for e in admin.lists()), timeout=10, what="the entry deleted")

    # A token that stops working returns the page to the sign-in form.
    d.execute_script("sessionStorage.setItem('tollgate.adminToken', 'revoked')")
    d.refresh()
    wait_for(lambda: _visible(d, "#signin"), timeout=15, what="the sign-in form after a refused token")
    assert "refused" in d.find_element("id", "signin-error").text
    assert not d.find_elements("css selector", "#held-body tr")

    # Sign in again, then sign out: the data leaves the page.
    d.find_element("id", "token").send_keys(ADMIN_TOKEN)
    d.find_element("id", "signin-submit").click()
    wait_for(lambda: _visible(d, "#app"), timeout=15, what="the console")
    d.find_element("id", "signout").click()
    wait_for(lambda: _visible(d, "#signin"), timeout=10, what="signed out")
    assert not d.find_elements("css selector", "#held-body tr, #decisions-body tr, #lists-body tr")
    assert d.execute_script("return sessionStorage.getItem('tollgate.adminToken')") is None
