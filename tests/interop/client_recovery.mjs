// The official @azure/web-pubsub-client (Node) against the emulator: two clients join a group
// and exchange messages, then client A's socket is cut (through a TCP proxy, as a network
// failure would) while B keeps sending; A must recover its connection and get every message.
//
// Env: CLIENT_URL_A, CLIENT_URL_B: client access URLs minted by our REST client, with roles to
// join and send to the group. Prints one JSON line with what happened; exits 1 on failure.
import net from "node:net";
import { WebPubSubClient } from "@azure/web-pubsub-client";

const GROUP = "interop";
const urlA = new URL(process.env.CLIENT_URL_A);
const urlB = process.env.CLIENT_URL_B;

function fail(message, details) {
  console.log(JSON.stringify({ ok: false, message, ...details }));
  process.exit(1);
}
setTimeout(() => fail("timed out"), 60_000).unref();

async function waitFor(what, condition, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) fail(`timed out waiting for ${what}`, { state: snapshot() });
    await new Promise((r) => setTimeout(r, 20));
  }
}

// A's traffic goes through this proxy so the test can cut it.
const sockets = new Set();
const proxy = net.createServer((inbound) => {
  const outbound = net.connect(Number(urlA.port), urlA.hostname);
  const close = () => {
    inbound.destroy();
    outbound.destroy();
    sockets.delete(inbound);
    sockets.delete(outbound);
  };
  for (const s of [inbound, outbound]) {
    sockets.add(s);
    s.on("error", close);
    s.on("close", close);
  }
  inbound.pipe(outbound);
  outbound.pipe(inbound);
});
await new Promise((resolve) => proxy.listen(0, "127.0.0.1", resolve));
const proxied = new URL(urlA);
proxied.port = String(proxy.address().port);

const a = new WebPubSubClient(proxied.toString());
const b = new WebPubSubClient(urlB);
const seenByA = [];
const seenByB = [];
const connectedA = [];
let disconnectedA = 0;
a.on("connected", (e) => connectedA.push(e.connectionId));
a.on("disconnected", () => disconnectedA++);
a.on("group-message", (e) => seenByA.push(e.message.data));
b.on("group-message", (e) => seenByB.push(e.message.data));
const snapshot = () => ({ seenByA, seenByB, connectedA, disconnectedA });

await a.start();
await b.start();
await a.joinGroup(GROUP);
await b.joinGroup(GROUP);

// Both directions, text and JSON.
const sentByA = await a.sendToGroup(GROUP, "hello from a", "text");
await b.sendToGroup(GROUP, { n: 0 }, "json", { noEcho: true });
await waitFor("B to get A's text", () => seenByB.includes("hello from a"));
await waitFor("A to get B's first message", () => seenByA.some((m) => m?.n === 0));

// Cut A's socket; B keeps sending while A is away.
const cut = sockets.size;
for (const s of [...sockets]) s.destroy();
for (let n = 1; n <= 5; n++) {
  await b.sendToGroup(GROUP, { n }, "json", { noEcho: true });
}
await waitFor("A to recover and get every message", () => seenByA.filter((m) => typeof m?.n === "number").length >= 6);
// A works after recovery.
await a.sendToGroup(GROUP, "after recovery", "text");
await waitFor("B to get A's message after recovery", () => seenByB.includes("after recovery"));

a.stop();
b.stop();
proxy.close();

const numbers = seenByA.filter((m) => typeof m?.n === "number").map((m) => m.n);
const result = { ok: true, cut, ackIdOfFirstSend: sentByA.ackId, numbers, ...snapshot() };
if (JSON.stringify(numbers) !== JSON.stringify([0, 1, 2, 3, 4, 5])) fail("A lost or reordered messages", result);
if (connectedA.length !== 1) fail("recovery must not look like a new connection to the app", result);
if (disconnectedA !== 0) fail("A saw a disconnect although it recovered", result);
console.log(JSON.stringify(result));
// The client library leaves timers behind (its retry and ack timeouts); do not wait for them.
process.exit(0);
