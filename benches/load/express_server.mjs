// (c) of benches/throughput.sh: @azure/web-pubsub-express 1.1.0 on express 4 (the versions
// pinned in tests/interop/package-lock.json), with the handler of benches/event_load.rs:
// user events are answered "Hey " + data as text, connect events are accepted.
//
// Usage: node benches/load/express_server.mjs [PORT]   (0 or none: a free port)
// Prints `listening 127.0.0.1:PORT` once it accepts connections.
//
// Note: the express handler does not check `ce-signature` (the package has no key option),
// so it does less work per request than the layer, which verifies the HMAC.

import { createRequire } from "node:module";

// The packages live in tests/interop/node_modules (installed by `npm ci` there).
const require = createRequire(new URL("../../tests/interop/package.json", import.meta.url));
const express = require("express");
const { WebPubSubEventHandler } = require("@azure/web-pubsub-express");

const port = Number(process.argv[2] ?? 0);
const handler = new WebPubSubEventHandler("chat", {
  handleConnect(_req, res) {
    res.success();
  },
  handleUserEvent(req, res) {
    res.success("Hey " + req.data, "text");
  },
});

const app = express();
app.use(handler.getMiddleware());
const server = app.listen(port, "127.0.0.1", () => {
  const { address, port } = server.address();
  console.log(`listening ${address}:${port}`);
});
