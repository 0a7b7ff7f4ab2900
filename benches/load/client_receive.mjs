// The JavaScript row of benches/client_load.sh: the official @azure/web-pubsub-client 1.1.0
// (pinned in tests/interop/package-lock.json) as the same receiver as `client_load receive`:
// joins group `bench`, prints `ready`, counts text group messages until COUNT, reports progress
// every 500 to group `progress`, and prints one JSON line (messages/s from the first message
// to the last, CPU time per message).
//
// Usage: node benches/load/client_receive.mjs URL COUNT [json|reliable]
// (the subprotocol: json.webpubsub.azure.v1 by default, or json.reliable.webpubsub.azure.v1)

import { createRequire } from "node:module";

const require = createRequire(new URL("../../tests/interop/package.json", import.meta.url));
const { WebPubSubClient, WebPubSubJsonProtocol, WebPubSubJsonReliableProtocol } = require("@azure/web-pubsub-client");

const [url, countArg, protocolArg = "json"] = process.argv.slice(2);
const count = Number(countArg);
const protocols = { json: WebPubSubJsonProtocol, reliable: WebPubSubJsonReliableProtocol };
if (!(protocolArg in protocols)) {
  console.error(`unknown subprotocol ${protocolArg}: json or reliable`);
  process.exit(2);
}
const client = new WebPubSubClient(url, { protocol: protocols[protocolArg]() });
let received = 0;
let first;
let cpuFirst;
const done = new Promise((resolve) => {
  client.on("group-message", (e) => {
    if (e.message.group !== "bench") return;
    if (first === undefined) {
      first = performance.now();
      cpuFirst = process.cpuUsage();
    }
    received += 1;
    if (received % 500 === 0) {
      client.sendToGroup("progress", String(received), "text", { fireAndForget: true }).catch(() => {});
    }
    if (received === count) resolve();
  });
});
// A receiver that gets nothing for 30 s has lost messages (on the reliable subprotocol this
// client acknowledges once a second, so a fast sender can pass the 1,000 unacknowledged messages
// the service allows a connection, which then closes with 1008 and loses them).
let lastCount = -1;
setInterval(() => {
  if (received === lastCount) {
    console.error(`stalled at ${received} of ${count} messages (nothing for 30 s)`);
    process.exit(1);
  }
  lastCount = received;
}, 30_000).unref();
await client.start();
await client.joinGroup("bench");
console.log("ready");
await done;
const seconds = (performance.now() - first) / 1000;
const cpu = process.cpuUsage(cpuFirst);
console.log(
  JSON.stringify({
    mode: "js",
    messages: count,
    messages_per_s: Math.round((count - 1) / seconds),
    cpu_us_per_message: Number(((cpu.user + cpu.system) / count).toFixed(2)),
  }),
);
client.stop();
process.exit(0);
