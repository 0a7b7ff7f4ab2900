// The official tunnel (HttpServerProxy of @azure/web-pubsub-socket.io 1.2.1, which runs the
// official TunnelConnection / WebPubSubTunnelClient) dials our emulator's /server/tunnel and
// forwards the hub's events to an @azure/web-pubsub-express handler on a loopback port; an
// @azure/web-pubsub-client client connects, sends an event and gets the handler's answer.
//
// Env: CONNECTION_STRING: the emulator's. Prints one JSON line.
import { createRequire } from "node:module";
import express from "express";
import { WebPubSubEventHandler } from "@azure/web-pubsub-express";
import { WebPubSubServiceClient } from "@azure/web-pubsub";
import { WebPubSubClient } from "@azure/web-pubsub-client";

const require = createRequire(import.meta.url);
const { HttpServerProxy } = require("@azure/web-pubsub-socket.io/dist/serverProxies");

function fail(message, details) {
  console.log(JSON.stringify({ ok: false, message, ...details }));
  process.exit(1);
}
setTimeout(() => fail("timed out"), 60_000).unref();

const events = [];
const handler = new WebPubSubEventHandler("chat", {
  path: "/eventhandler",
  handleConnect(req, res) {
    events.push(`connect ${req.context.userId}`);
    res.success({ userId: `express-${req.context.userId}` });
  },
  onConnected(req) {
    events.push(`connected ${req.context.userId}`);
  },
  handleUserEvent(req, res) {
    events.push(`${req.context.eventName} ${req.data}`);
    res.success(`echo ${req.data}`, "text");
  },
});
const app = express();
app.use(handler.getMiddleware());
const server = await new Promise((resolve) => {
  const s = app.listen(0, "127.0.0.1", () => resolve(s));
});
const target = `http://127.0.0.1:${server.address().port}`;

const connectionString = process.env.CONNECTION_STRING;
const proxy = HttpServerProxy.fromConnectionString(connectionString, "chat", { target });
// Resolves once the first tunnel connection is open; retries until then.
await proxy.runAsync({ target }, (_error, attempt) => attempt < 5);

const service = new WebPubSubServiceClient(connectionString, "chat");
const { url } = await service.getClientAccessToken({ userId: "ann" });
const client = new WebPubSubClient(url);
const serverMessages = [];
client.on("server-message", (e) => serverMessages.push(e.message.data));
let userId = null;
client.on("connected", (e) => (userId = e.userId));
await client.start();
await client.sendEvent("greet", "hi", "text");
const deadline = Date.now() + 20_000;
while (serverMessages.length < 1) {
  if (Date.now() > deadline) fail("no answer to sendEvent", { events, serverMessages });
  await new Promise((r) => setTimeout(r, 20));
}
client.stop();
console.log(JSON.stringify({ ok: true, userId, events, serverMessages }));
// The tunnel and client libraries leave timers behind; do not wait for them.
process.exit(0);
