// The official tunnel frame codec (`TunnelMessageProtocol` of @azure/web-pubsub-socket.io 1.2.1)
// on both sides of tests/data/tunnel/vectors.json.
//
//   node tunnel_vectors.mjs encode          prints the vectors: each message built with the official
//                                           classes, its fields and the frame the official code encodes
//   node tunnel_vectors.mjs decode FILE     FILE is a JSON array of {name, frame (hex)}; prints
//                                           [{name, fields}] as the official code decodes each frame
//
// `fields` is the message as plain JSON: the official JSON fields plus `Content` as base64 (absent
// when the frame carries nil).
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const tunnels = "@azure/web-pubsub-socket.io/dist/serverProxies/tunnels";
const m = require(`${tunnels}/messages.js`);
const { TunnelMessageProtocol } = require(`${tunnels}/TunnelMessageProtocol.js`);
const protocol = TunnelMessageProtocol.instance;

const bytes = (text) => new TextEncoder().encode(text);
const withTracing = (message, id) => {
  message.TracingId = id;
  return message;
};

function messages() {
  const binary = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) % 256);
  return [
    ["request_connect", new m.TunnelHttpRequestMessage(1, false, "", "POST", "/eventhandler?x=1&y=%2F", {
      "ce-type": ["azure.webpubsub.sys.connect"],
      "ce-signature": ["sha256=aa,sha256=bb"],
      "Content-Type": ["application/json; charset=utf-8"],
      "X-Multi": ["a", "b"],
    }, bytes('{"claims":{},"query":{"a":["1"]}}'))],
    ["request_no_headers_no_content", new m.TunnelHttpRequestMessage(4294967296, false, "channel-7", "OPTIONS", "/eventhandler", undefined, undefined)],
    ["request_local_routing", new m.TunnelHttpRequestMessage(2, true, "", "POST", "/api/hubs/chat/:send?api-version=2024-01-01", { "Content-Type": ["text/plain"] }, bytes("héllo ✓"))],
    ["request_tracing", withTracing(new m.TunnelHttpRequestMessage(3, false, "c", "GET", "/", {}, new Uint8Array(0)), 123456789)],
    ["response_ok", new m.TunnelHttpResponseMessage(1, false, 200, "", false, { "Content-Type": ["application/json"] }, bytes('{"userId":"u"}'))],
    ["response_streamed_part", new m.TunnelHttpResponseMessage(9, true, 200, "ch", true, {}, binary)],
    ["response_no_content", new m.TunnelHttpResponseMessage(10, false, 204, "", false, undefined, undefined)],
    ["response_error", withTracing(new m.TunnelHttpResponseMessage(11, false, 401, "", false, { "Content-Type": ["text/plain"] }, bytes("bad signature")), 7)],
    ["service_status", new m.TunnelServiceStatusMessage("service is healthy")],
    ["reconnect", new m.TunnelConnectionReconnectMessage("target-1", "http://127.0.0.1:8080", "moving")],
    ["close", new m.TunnelConnectionCloseMessage("bye")],
    ["rebalance", withTracing(new m.TunnelConnectionRebalanceMessage("target-2", "https://x.webpubsub.azure.com", "more"), 42)],
    ["connected", new m.TunnelConnectionConnectedMessage("conn-1", "tunnel-user", "token-1")],
    ["connected_minimal", new m.TunnelConnectionConnectedMessage("conn-2")],
  ];
}

/// The message as plain JSON: the official JSON fields plus Content as base64.
function fields(message) {
  const out = JSON.parse(JSON.stringify(message, (key, value) => (key === "Content" ? undefined : value)));
  if (message.Content !== undefined && message.Content !== null) {
    out.Content = Buffer.from(message.Content).toString("base64");
  }
  return out;
}

const hex = (array) => Buffer.from(array).toString("hex");

const [mode, file] = process.argv.slice(2);
if (mode === "encode") {
  const vectors = messages().map(([name, message]) => ({
    name,
    fields: fields(message),
    frame: hex(protocol.getBytes(message)),
  }));
  process.stdout.write(JSON.stringify(vectors, null, 1) + "\n");
} else if (mode === "decode") {
  const input = JSON.parse(readFileSync(file, "utf8"));
  const out = input.map(({ name, frame }) => {
    const message = protocol.parseMessage(Uint8Array.from(Buffer.from(frame, "hex")));
    if (!message) throw new Error(`${name}: the official code refused the frame`);
    // parseMessage fills Content from the frame's third element for byte-content messages.
    return { name, fields: fields(message) };
  });
  process.stdout.write(JSON.stringify(out) + "\n");
} else {
  console.error("usage: node tunnel_vectors.mjs encode | decode FILE");
  process.exit(2);
}
