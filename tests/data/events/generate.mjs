// Writes the request vectors of this folder (one `<name>.json` per vector) from the table below.
// Run `node tests/data/events/generate.mjs` after editing it; the JSON files are committed so that
// tests in any language replay them without running this script. The format is in README.md.
//
// Signatures are computed here rather than pasted in so that a change of key or connection id
// cannot leave a stale signature behind.

import { createHmac } from "node:crypto";
import { readdirSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const dir = dirname(fileURLToPath(import.meta.url));

// The test configuration every vector assumes (README.md, "Configuration").
const PRIMARY_KEY = "vectors-primary-key-not-a-secret";
const SECONDARY_KEY = "vectors-secondary-key-not-a-secret";
const ORIGIN = "demo.webpubsub.azure.com";
const PATH = "/api/webpubsub/hubs/chat/";
const CONNECTION_ID = "conn-7f3a";

const sign = (key, id) => "sha256=" + createHmac("sha256", Buffer.from(key, "utf8")).update(id, "utf8").digest("hex");
const signature = (id) => `${sign(PRIMARY_KEY, id)},${sign(SECONDARY_KEY, id)}`;
const b64 = (s) => Buffer.from(s, "utf8").toString("base64");
const state = (obj) => b64(JSON.stringify(obj));

/** The headers the service sends with every event, in the service's spelling. */
function ceHeaders({ type, eventName, userId, connectionId = CONNECTION_ID, hub = "chat", states, contentType, extra = [] }) {
  const h = [
    ["content-type", contentType],
    ["ce-specversion", "1.0"],
    ["ce-type", type],
    ["ce-source", `/hubs/${hub}/client/${connectionId}`],
    ["ce-id", "1"],
    ["ce-time", "2026-11-21T09:00:00Z"],
    ["ce-awpsversion", "1.0"],
    ["ce-hub", hub],
    ["ce-connectionId", connectionId],
    ["ce-eventName", eventName],
    ["ce-signature", signature(connectionId)],
    ["WebHook-Request-Origin", ORIGIN],
  ];
  if (userId !== undefined) h.push(["ce-userId", userId]);
  if (states !== undefined) h.push(["ce-connectionState", typeof states === "string" ? states : state(states)]);
  return h.concat(extra);
}

const SYS_JSON = "application/json; charset=utf-8";
const connectBody = (query, extra = {}) => ({
  claims: { sub: ["alice"], role: ["webpubsub.joinLeaveGroup"] },
  query,
  headers: { Connection: ["Upgrade"], Upgrade: ["websocket"] },
  subprotocols: ["json.webpubsub.azure.v1"],
  clientCertificates: [],
  ...extra,
});

/** What the reference handler records for a call (README.md, "Handler calls"). */
const call = (event, fields = {}) => ({
  event,
  hub: "chat",
  connectionId: CONNECTION_ID,
  userId: null,
  eventName: event === "user" ? "message" : { connect: "connect", connected: "connected", disconnected: "disconnected", groupJoined: "joined", groupLeft: "left" }[event],
  states: {},
  ...fields,
});

const post = (headers, body) => ({ method: "POST", path: PATH, headers, body });
const json = (v) => ({ json: v });
const text = (t) => ({ text: t });
const bin = (bytes) => ({ base64: Buffer.from(bytes).toString("base64") });
const reason = { anyText: true };
const EXPRESS_404 = { status: 404, contentType: "text/html", body: { anyText: true }, states: null, handler: [] };

const userEvent = (eventName, contentType, body, { states, userId = "alice" } = {}) =>
  post(ceHeaders({ type: `azure.webpubsub.user.${eventName}`, eventName, userId, states, contentType }), body);

const MQTT_HEADERS = [["ce-subprotocol", "mqtt"], ["ce-physicalConnectionId", "phys-1"]];

/** An MQTT connect (no claims, headers or certificates) with this query and `mqtt` block. */
const mqttConnect = (query, mqtt) =>
  post(
    ceHeaders({ type: "azure.webpubsub.sys.connect", eventName: "connect", contentType: SYS_JSON, extra: MQTT_HEADERS }),
    json({ claims: {}, query, headers: {}, subprotocols: ["mqtt"], clientCertificates: [], mqtt }),
  );

const vectors = [
  // ---- abuse-protection handshake -------------------------------------------------------------
  {
    name: "preflight",
    description: "OPTIONS handshake from an allowed origin: 200 with the matched origin echoed and `Allow: POST`",
    request: { method: "OPTIONS", path: PATH, headers: [["WebHook-Request-Origin", ORIGIN], ["ce-awpsversion", "1.0"]] },
    expect: { status: 200, headers: { "webhook-allowed-origin": ORIGIN, allow: "POST" }, body: { empty: true }, handler: [] },
    express: { headers: { "webhook-allowed-origin": ORIGIN, allow: null }, note: "express sends no `Allow` header" },
  },
  {
    name: "preflight-multi-origin",
    description: "OPTIONS from a service with replicas: the origin header lists several hosts separated by `, `; the allowed one is echoed",
    request: { method: "OPTIONS", path: PATH, headers: [["WebHook-Request-Origin", `replica-1.webpubsub.azure.com, ${ORIGIN}`], ["ce-awpsversion", "1.0"]] },
    expect: { status: 200, headers: { "webhook-allowed-origin": ORIGIN, allow: "POST" }, body: { empty: true }, handler: [] },
    express: { headers: { "webhook-allowed-origin": ORIGIN, allow: null }, note: "express does not parse the list; it always answers its own allowed list, which here is the same host; no `Allow` header" },
  },

  // ---- connect --------------------------------------------------------------------------------
  {
    name: "connect-with-body",
    description: "connect with claims, query, headers and subprotocols; the handler takes the user id, groups and roles from the query and picks the first subprotocol: 200 JSON",
    request: post(
      ceHeaders({ type: "azure.webpubsub.sys.connect", eventName: "connect", contentType: SYS_JSON }),
      json(connectBody({ userId: ["alice"], groups: ["lobby", "news"], roles: ["webpubsub.sendToGroup.lobby"] })),
    ),
    expect: {
      status: 200,
      contentType: "application/json",
      body: json({ userId: "alice", groups: ["lobby", "news"], roles: ["webpubsub.sendToGroup.lobby"], subprotocol: "json.webpubsub.azure.v1" }),
      states: null,
      handler: [call("connect", {
        claims: { sub: ["alice"], role: ["webpubsub.joinLeaveGroup"] },
        query: { userId: ["alice"], groups: ["lobby", "news"], roles: ["webpubsub.sendToGroup.lobby"] },
        subprotocols: ["json.webpubsub.azure.v1"],
      })],
    },
  },
  {
    name: "connect-accept-empty",
    description: "connect with a body but nothing to answer (no query, no subprotocol): 204 without a body",
    request: post(
      ceHeaders({ type: "azure.webpubsub.sys.connect", eventName: "connect", contentType: SYS_JSON }),
      json({ claims: {}, query: {}, headers: {}, subprotocols: [], clientCertificates: [] }),
    ),
    expect: { status: 204, body: { empty: true }, states: null, handler: [call("connect", { claims: {}, query: {}, subprotocols: [] })] },
  },
  {
    name: "connect-without-body",
    description: "connect with an empty body (nothing known about the client): the handler sees empty claims, query and subprotocols and accepts with 204",
    request: post(ceHeaders({ type: "azure.webpubsub.sys.connect", eventName: "connect", contentType: SYS_JSON }), null),
    expect: { status: 204, body: { empty: true }, states: null, handler: [call("connect", { claims: {}, query: {}, subprotocols: [] })] },
    express: { status: 500, contentType: "text/html", body: { anyText: true }, handler: [], note: "express runs JSON.parse on the empty body, which throws; the error reaches express's default error handler (500)" },
  },
  {
    name: "connect-sets-state",
    description: "connect whose query asks for a greeting: the handler sets the state `greeting` and answers the user id; the state travels back in `ce-connectionState`",
    request: post(
      ceHeaders({ type: "azure.webpubsub.sys.connect", eventName: "connect", contentType: SYS_JSON }),
      json(connectBody({ userId: ["bob"], greeting: ["hello"] }, { subprotocols: [] })),
    ),
    expect: {
      status: 200,
      contentType: "application/json",
      body: json({ userId: "bob" }),
      states: { greeting: "hello" },
      handler: [call("connect", { claims: { sub: ["alice"], role: ["webpubsub.joinLeaveGroup"] }, query: { userId: ["bob"], greeting: ["hello"] }, subprotocols: [] })],
    },
  },
  {
    name: "connect-rejected",
    description: "connect that the handler rejects with 401 and a reason in words",
    request: post(
      ceHeaders({ type: "azure.webpubsub.sys.connect", eventName: "connect", contentType: SYS_JSON }),
      json(connectBody({ reject: ["banned"] })),
    ),
    expect: {
      status: 401,
      contentType: "text/plain",
      body: text("rejected: banned"),
      states: null,
      handler: [call("connect", { claims: { sub: ["alice"], role: ["webpubsub.joinLeaveGroup"] }, query: { reject: ["banned"] }, subprotocols: ["json.webpubsub.azure.v1"] })],
    },
    express: { contentType: null, note: "express writes the detail without a Content-Type" },
  },
  {
    name: "connect-mqtt-rejected",
    description: "MQTT 5 connect that the handler refuses with reason code 138 (Banned): 403 and the MQTT error JSON",
    request: mqttConnect({}, { protocolVersion: 5, username: "banned", password: b64("secret"), userProperties: [{ name: "a", value: "b" }] }),
    expect: {
      status: 403,
      contentType: "application/json",
      body: json({ mqtt: { code: 138, reason: "banned by server" } }),
      states: null,
      handler: [call("connect", { claims: {}, query: {}, subprotocols: ["mqtt"], mqttUsername: "banned" })],
    },
  },

  {
    name: "connect-state-only",
    description: "connect that only sets a state: still an empty success (204), with the state in `ce-connectionState`",
    request: post(
      ceHeaders({ type: "azure.webpubsub.sys.connect", eventName: "connect", contentType: SYS_JSON }),
      json({ claims: {}, query: { greeting: ["hi"] }, headers: {}, subprotocols: [], clientCertificates: [] }),
    ),
    expect: {
      status: 204,
      body: { empty: true },
      states: { greeting: "hi" },
      handler: [call("connect", { claims: {}, query: { greeting: ["hi"] }, subprotocols: [] })],
    },
  },
  ...[[5, 135], [4, 5]].map(([version, code]) => ({
    name: `connect-mqtt-v${version === 5 ? "5" : "311"}-unauthorized`,
    description: `MQTT ${version === 5 ? "5" : "3.1.1"} connect that the handler refuses with 401: the answer is the MQTT error JSON with the matching code (${code})`,
    request: mqttConnect({ reject: ["mqtt"] }, { protocolVersion: version, username: "alice", password: b64("secret"), userProperties: [] }),
    expect: {
      status: 401,
      contentType: "application/json",
      body: json({ mqtt: { code, reason: "rejected: mqtt" } }),
      states: null,
      handler: [call("connect", { claims: {}, query: { reject: ["mqtt"] }, subprotocols: ["mqtt"], mqttUsername: "alice" })],
    },
  })),

  // ---- connected, disconnected, group presence --------------------------------------------
  {
    name: "connected",
    description: "connected (non-blocking): 200 whatever the handler does",
    request: post(ceHeaders({ type: "azure.webpubsub.sys.connected", eventName: "connected", userId: "alice", contentType: SYS_JSON }), json({})),
    expect: { status: 200, body: { empty: true }, states: null, handler: [call("connected", { userId: "alice" })] },
  },
  {
    name: "disconnected",
    description: "disconnected (non-blocking) with a reason: 200; the handler sees the reason and the last state",
    request: post(
      ceHeaders({ type: "azure.webpubsub.sys.disconnected", eventName: "disconnected", userId: "alice", states: { count: 3 }, contentType: SYS_JSON }),
      json({ reason: "closed by client" }),
    ),
    expect: { status: 200, body: { empty: true }, states: null, handler: [call("disconnected", { userId: "alice", states: { count: 3 }, reason: "closed by client" })] },
  },
  {
    name: "disconnected-mqtt",
    description: "MQTT disconnected (non-blocking) with the MQTT details of the DISCONNECT packet: 200",
    request: post(
      ceHeaders({
        type: "azure.webpubsub.sys.disconnected",
        eventName: "disconnected",
        userId: "alice",
        contentType: SYS_JSON,
        extra: [...MQTT_HEADERS, ["ce-sessionId", "session-1"]],
      }),
      json({ reason: "client disconnected", mqtt: { initiatedByClient: true, disconnectPacket: { code: 0, userProperties: [{ name: "a", value: "b" }] } } }),
    ),
    expect: { status: 200, body: { empty: true }, states: null, handler: [call("disconnected", { userId: "alice", reason: "client disconnected" })] },
  },
  {
    name: "group-joined",
    description: "group presence: the connection joined a group (non-blocking, 200)",
    request: post(ceHeaders({ type: "azure.webpubsub.gp.joined", eventName: "joined", userId: "alice", contentType: SYS_JSON }), json({ group: "lobby" })),
    expect: { status: 200, body: { empty: true }, states: null, handler: [call("groupJoined", { userId: "alice", group: "lobby" })] },
  },
  {
    name: "group-left",
    description: "group presence: the connection left a group (non-blocking, 200)",
    request: post(ceHeaders({ type: "azure.webpubsub.gp.left", eventName: "left", userId: "alice", contentType: SYS_JSON }), json({ group: "lobby" })),
    expect: { status: 200, body: { empty: true }, states: null, handler: [call("groupLeft", { userId: "alice", group: "lobby" })] },
  },

  // ---- user events ----------------------------------------------------------------------------
  {
    name: "user-text",
    description: "user event `message` with text/plain: the handler answers \"Hey \" + text as text and counts the messages in the state",
    request: userEvent("message", "text/plain; charset=utf-8", text("world")),
    expect: {
      status: 200,
      contentType: "text/plain",
      body: text("Hey world"),
      states: { count: 1 },
      handler: [call("user", { userId: "alice", dataType: "text", data: "world" })],
    },
  },
  {
    name: "user-json",
    description: "user event with application/json: the answer wraps the data in {\"reply\":\"Hey\",\"data\":…}",
    request: userEvent("message", "application/json", json({ text: "hi", n: [1, 2] })),
    expect: {
      status: 200,
      contentType: "application/json",
      body: json({ reply: "Hey", data: { text: "hi", n: [1, 2] } }),
      states: { count: 1 },
      handler: [call("user", { userId: "alice", dataType: "json", data: { text: "hi", n: [1, 2] } })],
    },
  },
  {
    name: "user-json-scalar",
    description: "user event whose JSON data is a bare number",
    request: userEvent("message", "application/json", json(42)),
    expect: {
      status: 200,
      contentType: "application/json",
      body: json({ reply: "Hey", data: 42 }),
      states: { count: 1 },
      handler: [call("user", { userId: "alice", dataType: "json", data: 42 })],
    },
  },
  {
    name: "user-binary",
    description: "user event with application/octet-stream (bytes that are not UTF-8): the answer is \"Hey \" followed by the same bytes, as binary",
    request: userEvent("message", "application/octet-stream", bin([0x00, 0xff, 0x10, 0x80])),
    expect: {
      status: 200,
      contentType: "application/octet-stream",
      body: bin([...Buffer.from("Hey "), 0x00, 0xff, 0x10, 0x80]),
      states: { count: 1 },
      handler: [call("user", { userId: "alice", dataType: "binary", data: "AP8QgA==" })],
    },
  },
  {
    name: "user-protobuf",
    description: "user event from a protobuf client (application/x-protobuf): the handler gets the bytes and answers them as binary",
    request: userEvent("message", "application/x-protobuf", bin([0x0a, 0x02, 0x68, 0x69])),
    expect: {
      status: 200,
      contentType: "application/octet-stream",
      body: bin([...Buffer.from("Hey "), 0x0a, 0x02, 0x68, 0x69]),
      states: { count: 1 },
      handler: [call("user", { userId: "alice", dataType: "protobuf", data: "CgJoaQ==" })],
    },
    express: { ...EXPRESS_404, note: "express does not know application/x-protobuf and passes the request on (next()), so express answers 404" },
  },
  {
    name: "user-state-counter",
    description: "user event on a connection that has state: the handler reads `count`, increments it, and the other keys are kept",
    request: userEvent("message", "text/plain", text("again"), { states: { count: 4, greeting: "hello" } }),
    expect: {
      status: 200,
      contentType: "text/plain",
      body: text("Hey again"),
      states: { count: 5, greeting: "hello" },
      handler: [call("user", { userId: "alice", states: { count: 4, greeting: "hello" }, dataType: "text", data: "again" })],
    },
  },
  {
    name: "user-hub-case",
    description: "the service lower-cases hub names, but a hub spelled differently still matches (case-insensitive)",
    request: post(
      ceHeaders({ type: "azure.webpubsub.user.message", eventName: "message", userId: "alice", hub: "CHAT", contentType: "text/plain" }),
      text("caps"),
    ),
    expect: {
      status: 200,
      contentType: "text/plain",
      body: text("Hey caps"),
      states: { count: 1 },
      handler: [call("user", { hub: "CHAT", userId: "alice", dataType: "text", data: "caps" })],
    },
  },
  {
    name: "user-empty-answer",
    description: "user event `noop`: the handler answers nothing, which is 204",
    request: userEvent("noop", "text/plain", text("ignored")),
    expect: { status: 204, body: { empty: true }, states: null, handler: [call("user", { eventName: "noop", userId: "alice", dataType: "text", data: "ignored" })] },
    express: { status: 200, contentType: "application/octet-stream", note: "express's success() without data always answers 200 with an empty application/octet-stream body" },
  },
  {
    name: "user-fail",
    description: "user event `fail`: the handler refuses with 400 and a reason",
    request: userEvent("fail", "text/plain", text("x")),
    expect: { status: 400, contentType: "text/plain", body: text("refused by handler"), states: null, handler: [call("user", { eventName: "fail", userId: "alice", dataType: "text", data: "x" })] },
    express: { contentType: null, note: "express writes the detail without a Content-Type" },
  },

  // ---- state round trips ------------------------------------------------------------------------
  {
    name: "state-set",
    description: "user event `setstate` on a connection without state: every entry of the JSON object becomes a state",
    request: userEvent("setstate", "application/json", json({ a: 1, b: "x" })),
    expect: {
      status: 200,
      contentType: "text/plain",
      body: text("ok"),
      states: { a: 1, b: "x" },
      handler: [call("user", { eventName: "setstate", userId: "alice", dataType: "json", data: { a: 1, b: "x" } })],
    },
  },
  {
    name: "state-merge",
    description: "`setstate` on a connection that has state: new keys are added, existing keys replaced, others kept",
    request: userEvent("setstate", "application/json", json({ b: "y", c: [1, 2] }), { states: { a: 1, b: "x" } }),
    expect: {
      status: 200,
      contentType: "text/plain",
      body: text("ok"),
      states: { a: 1, b: "y", c: [1, 2] },
      handler: [call("user", { eventName: "setstate", userId: "alice", states: { a: 1, b: "x" }, dataType: "json", data: { b: "y", c: [1, 2] } })],
    },
  },
  {
    name: "state-remove",
    description: "`removestate` with a JSON array of keys: those keys are removed, the others kept",
    request: userEvent("removestate", "application/json", json(["a"]), { states: { a: 1, b: "y" } }),
    expect: {
      status: 200,
      contentType: "text/plain",
      body: text("ok"),
      states: { b: "y" },
      handler: [call("user", { eventName: "removestate", userId: "alice", states: { a: 1, b: "y" }, dataType: "json", data: ["a"] })],
    },
  },
  {
    name: "state-clear",
    description: "`clearstate`: all state is removed, which the answer says with a state header holding an empty object",
    request: userEvent("clearstate", "text/plain", text(""), { states: { a: 1, b: "y" } }),
    expect: {
      status: 200,
      contentType: "text/plain",
      body: text("ok"),
      states: {},
      handler: [call("user", { eventName: "clearstate", userId: "alice", states: { a: 1, b: "y" }, dataType: "text", data: "" })],
    },
  },

  // ---- rejections (the layer's status map; express differs in most) --------------------------
  {
    name: "reject-method",
    description: "GET on the event path: 405 with `Allow: OPTIONS, POST`",
    request: { method: "GET", path: PATH, headers: [["WebHook-Request-Origin", ORIGIN], ["ce-awpsversion", "1.0"]] },
    expect: { status: 405, headers: { allow: "OPTIONS, POST" }, body: reason, handler: [] },
    express: { ...EXPRESS_404, headers: { allow: null }, note: "express ignores other methods (next()), so the app's 404 answers" },
  },
  {
    name: "reject-preflight-disallowed-origin",
    description: "OPTIONS from an origin that is not allowed: 400 without `WebHook-Allowed-Origin`",
    request: { method: "OPTIONS", path: PATH, headers: [["WebHook-Request-Origin", "evil.example.com"], ["ce-awpsversion", "1.0"]] },
    expect: { status: 400, headers: { "webhook-allowed-origin": null }, body: reason, handler: [] },
    express: { status: 200, body: { empty: true }, headers: { "webhook-allowed-origin": ORIGIN }, note: "express answers 200 with its own allowed list and leaves the check to the service" },
  },
  {
    name: "reject-preflight-lookalike-origin",
    description: "OPTIONS from a host that merely starts with an allowed one: 400 (hosts are compared exactly)",
    request: { method: "OPTIONS", path: PATH, headers: [["WebHook-Request-Origin", `${ORIGIN}.attacker.tld`], ["ce-awpsversion", "1.0"]] },
    expect: { status: 400, headers: { "webhook-allowed-origin": null }, body: reason, handler: [] },
    express: { status: 200, body: { empty: true }, headers: { "webhook-allowed-origin": ORIGIN }, note: "express answers 200 with its own allowed list and leaves the check to the service" },
  },
  {
    name: "reject-preflight-missing-origin",
    description: "OPTIONS without `WebHook-Request-Origin`: 400",
    request: { method: "OPTIONS", path: PATH, headers: [["ce-awpsversion", "1.0"]] },
    expect: { status: 400, headers: { "webhook-allowed-origin": null }, body: reason, handler: [] },
    express: { body: { empty: true }, note: "express answers 400 without a body" },
  },
  {
    name: "reject-missing-connection-id",
    description: "user event without `ce-connectionId`: 400 naming the header",
    request: post(
      ceHeaders({ type: "azure.webpubsub.user.message", eventName: "message", userId: "alice", contentType: "text/plain" }).filter(([k]) => k !== "ce-connectionId"),
      text("x"),
    ),
    expect: { status: 400, body: reason, states: null, handler: [] },
    express: {
      status: 200, contentType: "text/plain", body: text("Hey x"), states: { count: 1 },
      handler: [call("user", { connectionId: null, userId: "alice", dataType: "text", data: "x" })],
      note: "express does not require ce-connectionId and calls the handler with an undefined connection id",
    },
  },
  {
    name: "reject-bad-signature",
    description: "user event whose signature was made with another key: 401, handler not called",
    request: post(
      ceHeaders({ type: "azure.webpubsub.user.message", eventName: "message", userId: "alice", contentType: "text/plain" })
        .map(([k, v]) => (k === "ce-signature" ? [k, sign("some-other-key", CONNECTION_ID)] : [k, v])),
      text("x"),
    ),
    expect: { status: 401, body: reason, states: null, handler: [] },
    express: {
      status: 200, contentType: "text/plain", body: text("Hey x"), states: { count: 1 },
      handler: [call("user", { userId: "alice", dataType: "text", data: "x" })],
      note: "express does not check signatures",
    },
  },
  {
    name: "reject-unknown-hub",
    description: "event for a hub this handler does not serve: 404",
    request: post(
      ceHeaders({ type: "azure.webpubsub.user.message", eventName: "message", userId: "alice", hub: "other", contentType: "text/plain" }),
      text("x"),
    ),
    expect: { status: 404, body: reason, states: null, handler: [] },
    express: { ...EXPRESS_404, note: "express passes the request on (next()), so the app's 404 answers" },
  },
  {
    name: "reject-bad-json",
    description: "connect whose body is not JSON: 400",
    request: post(ceHeaders({ type: "azure.webpubsub.sys.connect", eventName: "connect", contentType: SYS_JSON }), text("{not json")),
    expect: { status: 400, body: reason, states: null, handler: [] },
    express: { status: 500, contentType: "text/html", body: { anyText: true }, handler: [], note: "express's JSON.parse throws and express's default error handler answers 500" },
  },
  {
    name: "reject-bad-state",
    description: "user event whose `ce-connectionState` is not base64 of a JSON object: 400",
    request: userEvent("message", "text/plain", text("x"), { states: "!!not base64!!" }),
    expect: { status: 400, body: reason, states: null, handler: [] },
    express: {
      status: 200, contentType: "text/plain", body: text("Hey x"), states: { count: 1 },
      handler: [call("user", { userId: "alice", dataType: "text", data: "x" })],
      note: "express logs a warning, treats the state as empty and goes on",
    },
  },
  {
    name: "reject-unsupported-content-type",
    description: "user event with a content type the protocol does not define: 415",
    request: userEvent("message", "image/png", bin([0x89, 0x50, 0x4e, 0x47])),
    expect: { status: 415, body: reason, states: null, handler: [] },
    express: { ...EXPRESS_404, note: "express passes the request on (next()), so the app's 404 answers" },
  },
];

/** Pretty JSON, but arrays of scalars (header pairs, group lists) stay on one line. */
function format(value) {
  return JSON.stringify(value, null, 2).replace(/\[\s*\n\s*((?:(?:"(?:[^"\\]|\\.)*"|-?[\d.]+|true|false|null),\s*\n\s*)*(?:"(?:[^"\\]|\\.)*"|-?[\d.]+|true|false|null))\s*\n\s*\]/g,
    (_, inner) => "[" + inner.split(/,\s*\n\s*/).join(", ") + "]");
}

// Rewrite the folder: drop the vectors that no longer exist, write the others.
for (const f of readdirSync(dir)) if (f.endsWith(".json")) unlinkSync(join(dir, f));
const names = new Set();
for (const v of vectors) {
  if (names.has(v.name)) throw new Error(`duplicate vector ${v.name}`);
  names.add(v.name);
  const out = { name: v.name, description: v.description, request: { ...v.request, body: v.request.body ?? null }, expect: v.expect };
  if (v.express) out.express = v.express;
  writeFileSync(join(dir, `${v.name}.json`), format(out) + "\n");
}
console.log(`wrote ${vectors.length} vectors to ${dir}`);
