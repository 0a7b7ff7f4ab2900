// The official @azure/web-pubsub-client (Node) raising events through the emulator to an
// upstream (upstream_express.mjs): sendEvent gets its ack and the upstream's answer as a
// server message; invokeEvent gets the answer itself.
//
// Env: CLIENT_URL: a client access URL minted by our REST client. Prints one JSON line.
import { WebPubSubClient } from "@azure/web-pubsub-client";

function fail(message, details) {
  console.log(JSON.stringify({ ok: false, message, ...details }));
  process.exit(1);
}
setTimeout(() => fail("timed out"), 60_000).unref();

const client = new WebPubSubClient(process.env.CLIENT_URL);
const serverMessages = [];
client.on("server-message", (e) => serverMessages.push(e.message.data));
let userId = null;
client.on("connected", (e) => (userId = e.userId));

await client.start();
const sent = await client.sendEvent("greet", "hi", "text");
const deadline = Date.now() + 20_000;
while (serverMessages.length < 1) {
  if (Date.now() > deadline) fail("no answer to sendEvent", { serverMessages });
  await new Promise((r) => setTimeout(r, 20));
}
const invoked = await client.invokeEvent("greet", "yo", "text");
client.stop();

console.log(JSON.stringify({ ok: true, userId, sentAckId: sent.ackId, serverMessages, invoked: { dataType: invoked.dataType, data: invoked.data } }));
// The client library leaves timers behind (its retry and ack timeouts); do not wait for them.
process.exit(0);
