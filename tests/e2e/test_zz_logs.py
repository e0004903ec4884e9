"""tollgate's stdout logs: JSON lines, no full phone number, no credential.

Named test_zz_* so it runs after the provider tests and scans the log of the
whole session (the tollgate fixture is shared), plus sends of its own.
"""

from __future__ import annotations

import base64
import json
import time

import pytest
from twilio.base.exceptions import TwilioRestException

import e2e_numbers as N
import sdk_clients as S

pytestmark = pytest.mark.needs_tollgate


def _number_forms(e164: str) -> set[str]:
    digits = e164.lstrip("+")
    forms = {e164, digits, "%2B" + digits}
    return {f for f in forms if len(f.lstrip("+")) >= 7}  # "+1234" is too short to mean anything


def _wait_for_new_lines(tollgate, before: int, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(tollgate.lines) <= before:
        time.sleep(0.05)


def test_logs_mask_numbers_and_hide_credentials(fake, tollgate, pki):
    client = S.twilio_client(tollgate.url)
    before = len(tollgate.lines)
    client.messages.create(to=N.ALLOWED_MAIN.e164, from_=S.TWILIO_FROM, body="x")
    for case in (N.GEO[0], N.FRAUD[0], N.FRAUD[1], N.LINE_TYPE_MAIN):
        try:  # blocked or not (the blocking itself is tested elsewhere), it is logged
            client.messages.create(to=case.e164, from_=S.TWILIO_FROM, body="x")
        except TwilioRestException:
            pass
    with S.plivo_base(tollgate.url):
        S.plivo_client().messages.create(src=S.PLIVO_FROM, dst=N.ALLOWED[1].e164, text="x")
    with S.vonage_ca(pki.ca_cert):
        from vonage_sms import SmsMessage

        S.vonage_client(tollgate.tls_hostport).sms.send(
            SmsMessage(to=N.ALLOWED[2].digits, from_=S.VONAGE_FROM, text="x"))
    _wait_for_new_lines(tollgate, before)
    time.sleep(0.3)  # let the drain thread catch up with the last decision lines

    text = tollgate.log_text()
    assert len(tollgate.lines) > before, "no log line for the decisions just made"

    leaked = sorted({f for n in N.ALL_NUMBERS for f in _number_forms(n) if f in text})
    assert not leaked, f"full destination numbers in tollgate's logs: {leaked}"

    secrets = list(S.SECRETS)
    for user, pw in [(S.TWILIO_ACCOUNT_SID, S.TWILIO_AUTH_TOKEN), (S.VONAGE_API_KEY, S.VONAGE_API_SECRET),
                     (S.PLIVO_AUTH_ID, S.PLIVO_AUTH_TOKEN)]:
        secrets.append(base64.b64encode(f"{user}:{pw}".encode()).decode())
    found = [s for s in secrets if s in text]
    assert not found, "credentials in tollgate's logs"


def test_stdout_is_json_lines(tollgate):
    bad = []
    for ln in list(tollgate.lines):
        if not ln.strip():
            continue
        try:
            rec = json.loads(ln)
            assert isinstance(rec, dict) and "level" in rec
        except (ValueError, AssertionError):
            bad.append(ln)
    assert not bad, f"non-JSON lines on stdout: {bad[:5]}"


def test_a_decision_line_per_blocked_send(fake, tollgate):
    before = len(tollgate.lines)
    with pytest.raises(TwilioRestException):
        S.twilio_client(tollgate.url).messages.create(to=N.FRAUD[1].e164, from_=S.TWILIO_FROM, body="x")
    _wait_for_new_lines(tollgate, before)
    new = tollgate.lines[before:]
    assert any(("block" in ln.lower() or "reject" in ln.lower()) for ln in new), \
        f"no decision line mentioning block/reject after a blocked send: {new}"
