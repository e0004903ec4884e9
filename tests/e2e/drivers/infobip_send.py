"""One Infobip v2 call with the community SDK (infobip-api-python-sdk 5.x).

That SDK pins pydantic 1, so it cannot share the suite's venv (vonage 4 needs
pydantic 2): this script runs with ``<repo>/.venv-infobip/bin/python`` and
prints ONE JSON line on stdout.  Usage::

    infobip_send.py '{"base_url": "...", "api_key": "...", "op": "send", "payload": {...}}'
    infobip_send.py '{"op": "parse_dlr", "body": "<delivery report JSON>"}'

``send`` is exactly what a platform writes::

    sms = SMSChannel.from_auth_params({"base_url": base_url, "api_key": api_key})
    sms.send_sms_message(payload)          # POST {base_url}/sms/2/text/advanced

The SDK raises nothing for HTTP errors; it returns ``SendSMSResponse`` (200),
``SMSResponseError`` (400/401/403/404/429/500) or the raw ``requests.Response``
(any other status, or a body its models reject).  The line says which:
``{"ok", "id", "exception", "status", "body", "result_class", "messages" | "error"}``.
"""

from __future__ import annotations

import json
import sys


def _send(spec: dict) -> dict:
    from infobip_channels.sms.channel import SMSChannel
    from infobip_channels.sms.models.response.core import SMSResponseError
    from infobip_channels.sms.models.response.send_message import SendSMSResponse

    sms = SMSChannel.from_auth_params({"base_url": spec["base_url"], "api_key": spec["api_key"]})
    r = sms.send_sms_message(spec["payload"])
    out = {"ok": False, "id": None, "exception": None, "result_class": type(r).__name__}
    raw = getattr(r, "raw_response", r)
    out["status"] = int(raw.status_code)
    out["body"] = raw.text
    if isinstance(r, SendSMSResponse):
        msgs = [m.dict(by_alias=True) for m in r.messages]
        out.update(ok=True, messages=msgs, bulkId=r.bulk_id, id=msgs[0]["messageId"] if msgs else None)
    elif isinstance(r, SMSResponseError):
        out["error"] = r.request_error.service_exception.dict(by_alias=True)
    return out


def _parse_dlr(spec: dict) -> dict:
    from infobip_channels.sms.models.response.core import SMSReport

    results = json.loads(spec["body"])["results"]
    return {"ok": True, "exception": None, "reports": [SMSReport(**r).dict(by_alias=True) for r in results]}


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    try:
        out = _parse_dlr(spec) if spec.get("op") == "parse_dlr" else _send(spec)
    except Exception as e:  # noqa: BLE001 - reported to the test, which decides
        out = {"ok": False, "id": None, "exception": f"{type(e).__module__}.{type(e).__name__}: {e}",
               "status": None, "body": None}
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
