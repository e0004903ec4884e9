#!/usr/bin/env node
// One send with an official Node.js SDK, pointed at a base URL (tollgate, or
// the fake aggregator directly).  Driven by tests/e2e/test_node_sdks.py.
//
//   node send.js <sdk> <op> --base <url> --to <number> [options]
//
//   twilio message   client.messages.create({to, from, body[, statusCallback]})
//   twilio verify    client.verify.v2.services(VA..).verifications.create({to, channel})
//   vonage sms       vonage.sms.send({to, from, text[, clientRef]})
//   vonage verify2   vonage.verify2.newRequest({brand, workflow: [{channel, to}]})
//                    (JWT: needs --private-key; see VONAGE_JWT_OPTIONS)
//   plivo  message   client.messages.create({src, dst, text[, url]})
//
// Options: --from, --text, --callback <url>, --channel <sms|...>,
//   --private-key <pem file> (vonage verify2), --tls-ca <pem file> (trust a
//   test CA for an https --base: re-runs this script with NODE_EXTRA_CA_CERTS,
//   which Node reads only at start-up).
//
// Prints exactly one JSON line on stdout and exits 0:
//   {"ok":true,"id":...,"status":...}
//   {"ok":false,"exception":"<the SDK's class name>","status":<HTTP status or null>,
//    "code":...,"message":...,"body":<the provider's answer as the SDK saw it>}
// Exit 2 = usage error (nothing sent).  Anything the SDKs log goes to stderr.
//
// The client construction in each `build*` function is exactly the README
// snippet: only the base-URL option differs from a stock client.

"use strict";

const fs = require("fs");
const path = require("path");

// ---- Fixed test credentials: the same values as tests/e2e/sdk_clients.py --

const TWILIO_ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef";
const TWILIO_AUTH_TOKEN = "e2e-twilio-auth-token-0123456789ab";
const TWILIO_VERIFY_SERVICE = "VA0123456789abcdef0123456789abcdef";
const TWILIO_FROM = "+14155550100";

const VONAGE_API_KEY = "e2ekey01";
const VONAGE_API_SECRET = "E2eSecret0123456";
const VONAGE_FROM = "Tollgate";
// Verify v2 authenticates with a JWT only (Verify2.authType = JWT).
const VONAGE_APPLICATION_ID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
// Test only: fixed claims make the RS256 JWT (and so Authorization) the same
// on every run, so "SDK -> fake" and "SDK -> tollgate -> fake" compare byte
// for byte.  A platform leaves jwtOptions out (fresh jti / iat per request).
const VONAGE_JWT_OPTIONS = {
  jti: "e2e00000-0000-4000-8000-000000000001",
  issued_at: 1700000000,
  exp: 4102444800, // 2100-01-01: must be in the future, or the SDK uses now + ttl
};

const PLIVO_AUTH_ID = "MAE2ETESTAUTHID00001";
const PLIVO_AUTH_TOKEN = "e2e-plivo-auth-token-0123456789";
const PLIVO_FROM = "+14155550100";

const DEFAULT_TEXT = "Your code is 123456";

// ---- command line ------------------------------------------------------------

function usage(msg) {
  process.stderr.write(
    (msg ? `send.js: ${msg}\n` : "") +
      "usage: node send.js <twilio message|twilio verify|vonage sms|vonage verify2|plivo message> " +
      "--base <url> --to <number> [--from X] [--text T] [--callback URL] [--channel C] " +
      "[--private-key PEM] [--tls-ca PEM]\n",
  );
  process.exit(2);
}

function parseArgs(argv) {
  const [sdk, op, ...rest] = argv;
  if (!sdk || !op) usage("missing <sdk> <op>");
  const opts = {};
  for (let i = 0; i < rest.length; i += 2) {
    const k = rest[i];
    if (!k.startsWith("--") || i + 1 >= rest.length) usage(`bad option ${k}`);
    opts[k.slice(2)] = rest[i + 1];
  }
  if (!opts.base) usage("--base is required");
  if (!opts.to) usage("--to is required");
  return { sdk, op, opts };
}

function emit(obj) {
  // One line, then exit at once: the SDKs' keep-alive agents would otherwise
  // hold the event loop open until the server drops the idle socket.
  process.stdout.write(JSON.stringify(obj) + "\n", () => process.exit(0));
}

// ---- Twilio (twilio 6.x) -------------------------------------------------------

function buildTwilio(base) {
  const twilio = require("twilio");
  const client = twilio(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN);
  // One Domain per Twilio host; Domain.absoluteUrl() reads baseUrl on every
  // request.  Leave TWILIO_EDGE / TWILIO_REGION unset (getHostname()
  // rewrites the host with them).
  client.api.baseUrl = base; // Messages (api.twilio.com)
  client.verify.baseUrl = base; // Verify v2 (verify.twilio.com)
  return client;
}

async function twilioSend(op, o) {
  const client = buildTwilio(o.base);
  try {
    if (op === "message") {
      const params = { to: o.to, from: o.from || TWILIO_FROM, body: o.text || DEFAULT_TEXT };
      if (o.callback) params.statusCallback = o.callback;
      const m = await client.messages.create(params);
      return { ok: true, id: m.sid, status: m.status };
    }
    if (op === "verify") {
      const v = await client.verify.v2
        .services(TWILIO_VERIFY_SERVICE)
        .verifications.create({ to: o.to, channel: o.channel || "sms" });
      return { ok: true, id: v.sid, status: v.status };
    }
  } catch (e) {
    // RestException: status (HTTP), code, message, moreInfo; the raw answer is
    // the RequestClient's lastResponse (its body is what axios parsed).
    const last = client.httpClient && client.httpClient.lastResponse;
    return {
      ok: false,
      exception: e.constructor.name,
      status: e.status ?? null,
      code: e.code ?? null,
      message: e.message,
      body: last ? last.body : null,
    };
  }
  usage(`unknown twilio op ${op}`);
}

// ---- Vonage (@vonage/server-sdk 3.x) ---------------------------------------

function buildVonage(base, privateKey) {
  const { Vonage } = require("@vonage/server-sdk");
  const credentials = privateKey
    ? { applicationId: VONAGE_APPLICATION_ID, privateKey, jwtOptions: VONAGE_JWT_OPTIONS }
    : { apiKey: VONAGE_API_KEY, apiSecret: VONAGE_API_SECRET };
  // restHost / apiHost are full origins (scheme included; the SDK appends
  // the path): plain http works as well as https.
  return new Vonage(credentials, { restHost: base, apiHost: base });
}

async function vonageSend(op, o) {
  try {
    if (op === "sms") {
      const vonage = buildVonage(o.base);
      const params = { to: o.to, from: o.from || VONAGE_FROM, text: o.text || DEFAULT_TEXT };
      if (o["client-ref"]) params.clientRef = o["client-ref"];
      const r = await vonage.sms.send(params);
      const m = (r.messages || [])[0] || {};
      return { ok: true, id: m.messageId ?? null, status: m.status ?? null };
    }
    if (op === "verify2") {
      if (!o["private-key"]) usage("vonage verify2 needs --private-key");
      const vonage = buildVonage(o.base, o["private-key"]);
      const r = await vonage.verify2.newRequest({
        brand: "Tollgate",
        workflow: [{ channel: o.channel || "sms", to: o.to }],
      });
      return { ok: true, id: r.requestId, status: null };
    }
  } catch (e) {
    const out = { ok: false, exception: e.constructor.name, status: null, code: null, message: e.message, body: null };
    if (e.response && typeof e.response.text === "function") {
      // VetchError (any non-2xx): the node-fetch Response, body still unread.
      out.status = e.response.status;
      const text = await e.response.text();
      try {
        out.body = JSON.parse(text);
      } catch {
        out.body = text;
      }
      if (out.body && typeof out.body === "object") out.code = out.body.type ?? null;
    } else if (e.response && Array.isArray(e.response.messages)) {
      // SMSFailure (HTTP 200, messages[].status != "0"): the SDK keeps the
      // answer camel-cased (messageCount, messages[].errorText), not the HTTP status.
      out.body = e.response;
      const failed = e.response.messages.find((m) => m.status !== "0");
      out.code = failed ? failed.status : null;
    }
    return out;
  }
  usage(`unknown vonage op ${op}`);
}

// ---- Plivo (plivo 4.x) -----------------------------------------------------------

function buildPlivo(base) {
  const plivo = require("plivo");
  // options.url replaces "https://api.plivo.com/v1/Account/" + authId; every
  // non-voice request goes to options.url + "/" + action.
  return new plivo.Client(PLIVO_AUTH_ID, PLIVO_AUTH_TOKEN, {
    url: base.replace(/\/+$/, "") + "/v1/Account/" + PLIVO_AUTH_ID,
  });
}

async function plivoSend(op, o) {
  if (op !== "message") usage(`unknown plivo op ${op}`);
  // Test instrumentation, not part of the snippet: the SDK keeps no raw
  // answer, so record the last one on the axios instance it uses.
  const axios = require(require.resolve("axios", { paths: [path.dirname(require.resolve("plivo"))] }));
  let last = null;
  axios.interceptors.response.use(
    (r) => ((last = r), r),
    (err) => ((last = err.response || null), Promise.reject(err)),
  );
  const client = buildPlivo(o.base);
  try {
    const params = { src: o.from || PLIVO_FROM, dst: o.to, text: o.text || DEFAULT_TEXT };
    if (o.callback) params.url = o.callback;
    const r = await client.messages.create(params);
    return { ok: true, id: r.messageUuid, status: r.message };
  } catch (e) {
    if (!(e instanceof Error)) {
      // plivo rejects some transport failures with a string (error.stack)
      return { ok: false, exception: "string", status: null, code: null, message: String(e), body: null };
    }
    // PlivoRestError subclasses (GeoPermissionError, InvalidRequestError, ...):
    // status, message = body.error, apiID = body.api_id.
    return {
      ok: false,
      exception: e.constructor.name,
      status: e.status ?? null,
      code: null,
      message: e.message,
      body: last ? last.data : null,
    };
  }
}

// ---- main --------------------------------------------------------------------------

async function main() {
  const { sdk, op, opts } = parseArgs(process.argv.slice(2));
  if (opts["tls-ca"] && process.env.NODE_EXTRA_CA_CERTS !== opts["tls-ca"]) {
    if (!fs.existsSync(opts["tls-ca"])) usage(`--tls-ca ${opts["tls-ca"]}: no such file`);
    const { spawnSync } = require("child_process");
    const r = spawnSync(process.execPath, process.argv.slice(1), {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: opts["tls-ca"] },
      stdio: "inherit",
    });
    process.exit(r.status ?? 1);
  }
  const run = { twilio: twilioSend, vonage: vonageSend, plivo: plivoSend }[sdk];
  if (!run) usage(`unknown sdk ${sdk}`);
  let out;
  try {
    out = await run(op, opts);
  } catch (e) {
    // a failure outside the SDK's own error handling (transport, bug)
    out = { ok: false, exception: (e && e.constructor && e.constructor.name) || typeof e, status: null, code: null,
            message: String((e && e.message) || e), body: null };
  }
  emit(out);
}

main();
