// The official @azure/web-pubsub-express 1.1.0 as the emulator's upstream for hub "chat".
// It answers connect (renames the user, adds a group), echoes user events with a counter kept in
// the connection state, and after the first disconnected event prints every event it saw as
// one JSON line and exits.
//
// Env: UPSTREAM_PORT: the port to listen on (127.0.0.1).
import express from "express";
import { WebPubSubEventHandler } from "@azure/web-pubsub-express";

const events = [];
const finish = (code) => {
  console.log(JSON.stringify({ events }));
  setImmediate(() => process.exit(code));
};
setTimeout(() => finish(1), 60_000).unref();

const handler = new WebPubSubEventHandler("chat", {
  path: "/eventhandler",
  handleConnect(req, res) {
    events.push({ event: "connect", userId: req.context.userId ?? null, subprotocols: req.subprotocols, sub: req.claims?.sub ?? null });
    res.setState("counter", 0);
    res.success({ userId: `express-${req.context.userId}`, groups: ["from-express"] });
  },
  onConnected(req) {
    events.push({ event: "connected", userId: req.context.userId, states: req.context.states });
  },
  handleUserEvent(req, res) {
    const counter = req.context.states.counter;
    events.push({ event: req.context.eventName, userId: req.context.userId, data: req.data, dataType: req.dataType, counter });
    res.setState("counter", counter + 1);
    res.success(`echo ${req.data} #${counter}`, "text");
  },
  onDisconnected(req) {
    events.push({ event: "disconnected", userId: req.context.userId, reason: req.reason ?? null });
    finish(0);
  },
});

const app = express();
app.use(handler.getMiddleware());
app.listen(Number(process.env.UPSTREAM_PORT), "127.0.0.1", () => console.error("listening"));
