// A send over the 1 MiB limit with the official @azure/web-pubsub SDK gets its 413, and the
// SDK's next calls (on its kept-alive connection) still succeed.
//
// Usage: WEBPUBSUB_CONNECTION_STRING=... node emulator_rest_too_large.mjs
// Prints one JSON line {"status": 413, "after": N}; exits 1 on a failure.
import assert from "node:assert/strict";
import { WebPubSubServiceClient } from "@azure/web-pubsub";

const cs = process.env.WEBPUBSUB_CONNECTION_STRING;
if (!cs) {
  console.error("set WEBPUBSUB_CONNECTION_STRING");
  process.exit(2);
}
const service = new WebPubSubServiceClient(cs, "chat", { retryOptions: { maxRetries: 0 }, allowInsecureConnection: true });

// Warm the connection first, so the big send goes over a kept-alive socket.
await service.sendToAll("before", { contentType: "text/plain" });
let status;
try {
  await service.sendToAll("x".repeat(3 * 1024 * 1024), { contentType: "text/plain" });
} catch (error) {
  console.error(`the big send failed: ${error.code ?? ""} ${error.message}`);
  status = error.statusCode;
}
assert.equal(status, 413, "the big send is answered 413, not a broken pipe");
let after = 0;
for (let i = 0; i < 3; i++) {
  await service.sendToAll(`after ${i}`, { contentType: "text/plain" });
  after++;
}
console.log(JSON.stringify({ status, after }));
