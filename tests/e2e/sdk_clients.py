"""The official SDKs, pointed at a base URL (the fake directly, or tollgate).

Every test builds its clients through these functions, so a call made "SDK ->
fake" and the same call made "SDK -> tollgate -> fake" differ only in the base
URL.  These are also the snippets the README documents: keep them minimal and
exactly what a platform would write.

Credentials are fixed test values, so the Authorization headers are
deterministic and can be compared byte for byte.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

# ---- Fixed credentials (never real) ---------------------------------------

TWILIO_ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
TWILIO_AUTH_TOKEN = "e2e-twilio-auth-token-0123456789ab"
TWILIO_VERIFY_SERVICE = "VA0123456789abcdef0123456789abcdef"
TWILIO_FROM = "+14155550100"

VONAGE_API_KEY = "e2ekey01"
VONAGE_API_SECRET = "E2eSecret0123456"
VONAGE_FROM = "Tollgate"

PLIVO_AUTH_ID = "MAE2ETESTAUTHID00001"  # "MA" + 18: what plivo.utils.is_valid_mainaccount wants
PLIVO_AUTH_TOKEN = "e2e-plivo-auth-token-0123456789"
PLIVO_FROM = "+14155550100"



# ---- Twilio (twilio 9.x) --------------------------------------------------


def twilio_client(base_url: str):
    """Twilio: one attribute per Twilio domain (api., verify., lookups.).

    ``Domain.base_url`` is read on every request, so setting it after the
    client is built is enough.  Do not set TWILIO_EDGE / TWILIO_REGION: the
    SDK would rewrite the host name (it splits it on '.').
    """
    from twilio.rest import Client

    client = Client(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)
    client.api.base_url = base_url  # Messages, Feedback, ... (api.twilio.com)
    client.verify.base_url = base_url  # Verify v2 (verify.twilio.com)
    client.lookups.base_url = base_url  # Lookup v2 (lookups.twilio.com)
    return client


def twilio_last_response(client):
    """The raw answer the SDK last received (status, text, headers)."""
    return client.http_client._test_only_last_response  # noqa: SLF001 - the SDK's own test hook


# ---- Vonage (vonage 4.x) --------------------------------------------------


def vonage_client(host_port: str):
    """Vonage: ``HttpClientOptions(api_host=..., rest_host=...)``.

    The v4 SDK always builds ``https://{host}{path}``, so the target must be a
    TLS listener.  Trust its CA with ``REQUESTS_CA_BUNDLE`` (requests reads it
    for every request made through a Session with trust_env, which is what the
    SDK uses) -- see ``vonage_ca`` below.  Basic auth (api_key/api_secret, no
    application/private key) keeps Authorization deterministic; with an
    application id the SDK would sign a fresh JWT per request instead.
    """
    from vonage import Auth, HttpClientOptions, Vonage

    return Vonage(
        Auth(api_key=VONAGE_API_KEY, api_secret=VONAGE_API_SECRET),
        HttpClientOptions(api_host=host_port, rest_host=host_port),
    )


@contextlib.contextmanager
def vonage_ca(ca_pem: str) -> Iterator[None]:
    """Make the Vonage SDK's requests Session trust ``ca_pem`` (the test CA).

    ``REQUESTS_CA_BUNDLE`` it must be: requests lets that variable (and
    ``CURL_CA_BUNDLE``) override ``Session.verify``, so setting the SDK's
    private ``http_client._session.verify`` fails wherever the environment
    already sets them (it does on many CI images).
    """
    import os

    old = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = ca_pem
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = old


# ---- Plivo (plivo 4.x) ----------------------------------------------------


@contextlib.contextmanager
def plivo_base(base_url: str) -> Iterator[None]:
    """Plivo: the base URI is the module constant ``plivo.rest.client.PLIVO_API_BASE_URI``.

    ``Client.request()`` resets ``self.base_uri = PLIVO_API_BASE_URI`` before
    every non-voice request, so setting ``client.base_uri`` does NOT stick;
    the module constant is the one knob (voice calls use
    ``API_VOICE_BASE_URI`` and its two fallbacks the same way).
    """
    import plivo.rest.client as plivo_rest

    old = plivo_rest.PLIVO_API_BASE_URI
    plivo_rest.PLIVO_API_BASE_URI = base_url.rstrip("/") + "/v1/Account"
    try:
        yield
    finally:
        plivo_rest.PLIVO_API_BASE_URI = old


def plivo_client():
    import plivo

    return plivo.RestClient(PLIVO_AUTH_ID, PLIVO_AUTH_TOKEN)


# ---- Bird / MessageBird (messagebird 2.x) ------------------------------------

BIRD_ACCESS_KEY = "E2eBirdAccessKey012345678"  # 25 characters, like a live MessageBird access key
BIRD_ORIGINATOR = "Tollgate"


def bird_client(base_url: str):
    """Bird (MessageBird): give the client an ``HttpClient`` with the base URL.

    ``messagebird.Client(access_key, http_client=None)`` builds
    ``HttpClient(ENDPOINT, access_key, USER_AGENT)`` for every request unless
    an http_client was passed, and ``HttpClient`` joins ``urljoin(endpoint,
    "messages")``: so pass one, with a base URL WITHOUT a path (a trailing
    ``/`` is fine).  There is no endpoint argument; the module constant
    ``messagebird.client.ENDPOINT`` is the global alternative.
    """
    from messagebird.client import USER_AGENT, Client
    from messagebird.http_client import HttpClient

    return Client(BIRD_ACCESS_KEY, http_client=HttpClient(base_url, BIRD_ACCESS_KEY, USER_AGENT))


# ---- Sinch (sinch 2.x) ----------------------------------------------------------

SINCH_SERVICE_PLAN_ID = "e2e0123456789abcdef0123456789abc"  # 32 characters, like a real plan id
SINCH_API_TOKEN = "e2e-sinch-api-token-0123456789ab"
SINCH_FROM = "+14155550100"


def sinch_client(base_url: str):
    """Sinch: ``configuration.sms_origin_with_service_plan_id``.

    With a service plan id and API token (Bearer auth) the SMS domain's base
    URL is that one attribute, read on every request
    (``Configuration.get_sms_origin_for_auth``); the SDK's own end-to-end tests
    set it the same way.  Do not set ``sms_region`` afterwards: its setter
    rebuilds the attribute from ``https://{region}.sms.api.sinch.com``.
    (Project id + access key clients use ``configuration.sms_origin`` instead,
    and fetch OAuth2 tokens from auth.sinch.com directly.)
    """
    from sinch import SinchClient

    client = SinchClient(service_plan_id=SINCH_SERVICE_PLAN_ID, sms_api_token=SINCH_API_TOKEN)
    client.configuration.sms_origin_with_service_plan_id = base_url.rstrip("/")
    return client


@contextlib.contextmanager
def sinch_responses(client) -> Iterator[list]:
    """The raw ``requests`` responses the client receives (the SDK keeps none)."""
    seen: list = []
    hooks = client.configuration.transport.http_session.hooks["response"]
    hook = lambda r, *a, **kw: seen.append(r)  # noqa: E731
    hooks.append(hook)
    try:
        yield seen
    finally:
        hooks.remove(hook)


# ---- Telnyx (telnyx 4.x) --------------------------------------------------------

TELNYX_API_KEY = "KEYE2ETEST0123456789_e2eTelnyxSecret"
TELNYX_FROM = "+18445550001"
TELNYX_MESSAGING_PROFILE = "4000eba1-a0c0-4563-9925-b25e842a7cb6"
TELNYX_VERIFY_PROFILE = "12ade33a-21c0-473b-b055-b3c836e1c292"


def telnyx_client(base_url: str):
    """Telnyx: ``Telnyx(api_key=..., base_url=<tollgate>/v2)``.

    The SDK's default base URL is ``https://api.telnyx.com/v2`` and every path
    is relative to it (``/messages``, ``/verifications/sms``), so the override
    must end in ``/v2``.  ``TELNYX_BASE_URL`` in the environment does the same
    when ``base_url`` is not passed.  Default retries stay on (as a platform
    has them): the SDK never retries a 400/403/422, only 408/409/429/5xx.
    """
    from telnyx import Telnyx

    return Telnyx(api_key=TELNYX_API_KEY, base_url=base_url.rstrip("/") + "/v2")


# ---- Infobip (infobip-api-python-client 6.x; v2 via infobip-api-python-sdk 5.x) ---

INFOBIP_API_KEY = "e2e-infobip-api-key-0123456789abcdef"
INFOBIP_FROM = "InfoSMS"


def infobip_client(base_url: str):
    """Infobip v3 (`POST /sms/3/messages`): ``Configuration(host=<base URL>, api_key=<key>)``.

    ``host`` is the account's base URL (``https://<id>.api.infobip.com``); point it at
    tollgate.  6.0.0 adds the ``App`` prefix itself for a string key (the README's
    ``api_key={"APIKeyHeader": ...}, api_key_prefix={"APIKeyHeader": "App"}`` still works but
    warns DeprecationWarning); either way the header is ``Authorization: App <key>``.
    """
    from infobip_api_client.api.sms_api import SmsApi
    from infobip_api_client.api_client import ApiClient, Configuration

    return SmsApi(ApiClient(Configuration(host=base_url, api_key=INFOBIP_API_KEY)))


def infobip_v2(base_url: str, op: str = "send", **kw) -> dict:
    """Infobip v2 (`POST /sms/2/text/advanced`) through the community SDK, which pins
    pydantic 1 and so runs in its own venv, one subprocess per call.

    What the driver does is the platform snippet::

        from infobip_channels.sms.channel import SMSChannel
        sms = SMSChannel.from_auth_params({"base_url": base_url, "api_key": key})
        sms.send_sms_message(payload)

    ``op="send"`` needs ``payload`` (the request dict); ``op="parse_dlr"`` needs ``body``
    (a delivery report, parsed with the SDK's ``SMSReport``).  Returns the driver's JSON
    line: ``{ok, id, exception, status, body, result_class, messages|reports|error}``.
    The SDK does not raise for HTTP errors: ``result_class`` is ``SendSMSResponse`` (200),
    ``SMSResponseError`` (400/401/403/404/429/500) or ``Response`` (anything else).
    The interpreter is ``$INFOBIP_V2_PYTHON`` or ``<repo>/.venv-infobip/bin/python``.
    """
    import json
    import os
    import subprocess
    from pathlib import Path

    here = Path(__file__).resolve().parent
    python = Path(os.environ.get("INFOBIP_V2_PYTHON") or here.parent.parent / ".venv-infobip" / "bin" / "python")
    if not python.exists():
        raise RuntimeError(f"{python} is missing: tests/e2e/setup.sh creates it from "
                           f"tests/e2e/requirements-infobip.txt (infobip-api-python-sdk, pydantic 1)")
    spec = {"base_url": base_url, "api_key": INFOBIP_API_KEY, "op": op, **kw}
    r = subprocess.run([str(python), str(here / "drivers" / "infobip_send.py"), json.dumps(spec)],
                       capture_output=True, text=True, timeout=60)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not lines:
        raise RuntimeError(f"infobip driver failed (exit {r.returncode}):\n{r.stdout}\n{r.stderr}")
    return json.loads(lines[-1])


# Every credential above: none may appear in a log line or metric.
SECRETS = [TWILIO_AUTH_TOKEN, VONAGE_API_SECRET, PLIVO_AUTH_TOKEN, BIRD_ACCESS_KEY, SINCH_API_TOKEN, TELNYX_API_KEY, INFOBIP_API_KEY]
