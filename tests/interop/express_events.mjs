// Runs @azure/web-pubsub-express 1.1.0 with the reference handler of tests/data/events/README.md,
// replays every request vector of that folder against it over loopback HTTP, and prints one JSON
// array to stdout: for each vector its name, the answer (status, headers, body in base64) and the
// handler calls the express handler recorded. tests/interop_express.rs runs this script and
// compares the answers with this project's layer.
//
// Usage: node express_events.mjs [vector-name …]   (no names: every vector)

import express from "express";
import { WebPubSubEventHandler } from "@azure/web-pubsub-express";
import { request } from "node:http";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const vectorsDir = join(dirname(fileURLToPath(import.meta.url)), "..", "data", "events");
// How long to wait for the calls of a non-blocking event, which express makes after answering.
const CALL_WAIT_MS = 2000;

let calls = [];
function record(event, context, fields = {}) {
  calls.push({
    event,
    hub: context.hub ?? null,
    connectionId: context.connectionId ?? null,
    userId: context.userId ?? null,
    eventName: context.eventName ?? null,
    // setState mutates context.states, so keep what the request carried
    states: structuredClone(context.states ?? {}),
    ...fields,
  });
}

function userData(req) {
  switch (req.dataType) {
    case "binary":
      return Buffer.from(req.data).toString("base64");
    default:
      return req.data;
  }
}

const handler = new WebPubSubEventHandler("chat", {
  allowedEndpoints: ["https://demo.webpubsub.azure.com"],
  handleConnect(req, res) {
    record("connect", req.context, {
      claims: req.claims ?? {},
      query: req.query ?? {},
      subprotocols: req.subprotocols ?? [],
      ...(req.mqtt ? { mqttUsername: req.mqtt.username ?? null } : {}),
    });
    if (req.mqtt && req.mqtt.username === "banned") {
      res.failWith({ mqtt: { code: 138, reason: "banned by server" } });
      return;
    }
    const q = req.query ?? {};
    if (q.reject) {
      res.fail(401, `rejected: ${q.reject[0]}`);
      return;
    }
    const answer = {};
    if (q.userId) answer.userId = q.userId[0];
    if (q.groups) answer.groups = q.groups;
    if (q.roles) answer.roles = q.roles;
    if (req.subprotocols?.length) answer.subprotocol = req.subprotocols[0];
    if (q.greeting) res.setState("greeting", q.greeting[0]);
    res.success(Object.keys(answer).length ? answer : undefined);
  },
  handleUserEvent(req, res) {
    record("user", req.context, { dataType: req.dataType, data: userData(req) });
    switch (req.context.eventName) {
      case "noop":
        res.success();
        return;
      case "fail":
        res.fail(400, "refused by handler");
        return;
      case "setstate":
        for (const [k, v] of Object.entries(req.data)) res.setState(k, v);
        res.success("ok", "text");
        return;
      case "removestate":
        // express has no remove: a key set to undefined disappears in JSON.stringify
        for (const k of req.data) res.setState(k, undefined);
        res.success("ok", "text");
        return;
      case "clearstate":
        for (const k of Object.keys(req.context.states)) res.setState(k, undefined);
        res.success("ok", "text");
        return;
      default: {
        res.setState("count", (req.context.states.count ?? 0) + 1);
        switch (req.dataType) {
          case "text":
            res.success("Hey " + req.data, "text");
            return;
          case "json":
            res.success(JSON.stringify({ reply: "Hey", data: req.data }), "json");
            return;
          default:
            res.success(Buffer.concat([Buffer.from("Hey "), Buffer.from(req.data)]), "binary");
            return;
        }
      }
    }
  },
  onConnected(req) {
    record("connected", req.context);
  },
  onDisconnected(req) {
    record("disconnected", req.context, { reason: req.reason ?? null });
  },
  onGroupJoined(req) {
    record("groupJoined", req.context, { group: req.group ?? null });
  },
  onGroupLeft(req) {
    record("groupLeft", req.context, { group: req.group ?? null });
  },
});

function bodyBytes(body) {
  if (body === null || body === undefined) return Buffer.alloc(0);
  if ("text" in body) return Buffer.from(body.text, "utf8");
  if ("json" in body) return Buffer.from(JSON.stringify(body.json), "utf8");
  if ("base64" in body) return Buffer.from(body.base64, "base64");
  throw new Error(`unknown body form ${JSON.stringify(body)}`);
}

function send(port, vector) {
  const body = bodyBytes(vector.request.body);
  // a raw header list gets no automatic Host header
  const headers = ["host", `127.0.0.1:${port}`, ...vector.request.headers.flat()];
  if (body.length > 0 || vector.request.method === "POST") headers.push("content-length", String(body.length));
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, method: vector.request.method, path: vector.request.path, headers, timeout: 10_000 },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString("base64") }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer to ${vector.name} within 10 s`)));
    req.on("error", reject);
    req.end(body);
  });
}

async function waitForCalls(count) {
  const deadline = Date.now() + CALL_WAIT_MS;
  while (calls.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

const app = express();
app.set("env", "test"); // keeps express's default error handler from printing stacks
app.use(handler.getMiddleware());
const server = app.listen(0, "127.0.0.1");
await new Promise((resolve, reject) => {
  server.once("listening", resolve);
  server.once("error", reject);
});
const { port } = server.address();

const wanted = new Set(process.argv.slice(2));
const files = readdirSync(vectorsDir).filter((f) => f.endsWith(".json")).sort();
const results = [];
try {
  for (const file of files) {
    const vector = JSON.parse(readFileSync(join(vectorsDir, file), "utf8"));
    if (wanted.size > 0 && !wanted.has(vector.name)) continue;
    calls = [];
    const answer = await send(port, vector);
    const expectedCalls = (vector.express?.handler ?? vector.expect.handler ?? []).length;
    await waitForCalls(expectedCalls);
    results.push({ name: vector.name, ...answer, calls });
  }
} finally {
  server.close();
}
process.stdout.write(JSON.stringify(results) + "\n");
