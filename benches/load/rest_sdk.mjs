// Row 3 of benches/rest_load.sh: the official @azure/web-pubsub 1.2.0 SDK (pinned in
// tests/interop/package-lock.json) sending the same group messages as benches/rest_load.rs:
// CONCURRENCY loops of `group("room").sendToAll("hello", { contentType: "text/plain" })` for
// SECONDS after one second of warm-up. Prints one JSON line like rest_load.
//
// Usage: node benches/load/rest_sdk.mjs CONNECTION_STRING CONCURRENCY SECONDS

import { createRequire } from "node:module";

const require = createRequire(new URL("../../tests/interop/package.json", import.meta.url));
const { WebPubSubServiceClient } = require("@azure/web-pubsub");

const [cs, concurrencyArg, secondsArg] = process.argv.slice(2);
const concurrency = Number(concurrencyArg);
const seconds = Number(secondsArg);
// No retries, as in the Rust rows; the emulator is plain http on loopback.
const client = new WebPubSubServiceClient(cs, "bench", {
  retryOptions: { maxRetries: 0 },
  allowInsecureConnection: true,
});
const group = client.group("room");

const start = performance.now() + 1000;
const end = start + seconds * 1000;
const latencies = [];
async function loop() {
  for (;;) {
    const sent = performance.now();
    if (sent >= end) return;
    await group.sendToAll("hello", { contentType: "text/plain" });
    if (sent >= start) latencies.push(Math.round((performance.now() - sent) * 1000));
  }
}
let cpuStart;
setTimeout(() => (cpuStart = process.cpuUsage()), start - performance.now());
await Promise.all(Array.from({ length: concurrency }, loop));
const cpu = process.cpuUsage(cpuStart);
latencies.sort((a, b) => a - b);
const at = (p) => latencies[Math.round((latencies.length - 1) * p)];
console.log(
  JSON.stringify({
    mode: "js",
    concurrency,
    sends: latencies.length,
    seconds,
    sends_per_s: latencies.length / seconds,
    p50_us: at(0.5),
    p99_us: at(0.99),
    client_cpu_us_per_send: (cpu.user + cpu.system) / latencies.length,
  }),
);
