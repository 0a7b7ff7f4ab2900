// The JavaScript row of benches/client_load.sh: the official @azure/web-pubsub-client 1.1.0
// (pinned in tests/interop/package-lock.json) as the same receiver as `client_load receive`:
// joins group `bench`, prints `ready`, counts text group messages until COUNT, reports progress
// every 500 to group `progress`, and prints one JSON line (messages/s from the first message
// to the last, CPU time per message).
//
// Usage: node benches/load/client_receive.mjs URL COUNT

import { createRequire } from "node:module";

const require = createRequire(new URL("../../tests/interop/package.json", import.meta.url));
const { WebPubSubClient } = require("@azure/web-pubsub-client");

const [url, countArg] = process.argv.slice(2);
const count = Number(countArg);
const client = new WebPubSubClient(url);
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
setTimeout(() => {
  console.error(`timed out at ${received} of ${count}`);
  process.exit(1);
}, 600_000).unref();
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
