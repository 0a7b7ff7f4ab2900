// The official @azure/web-pubsub SDK with `reverseProxyEndpoint`: requests go to the proxy (the
// recorder of tests/interop_rest.rs), tokens are signed for the service URL.
//
// Usage: SERVICE_ENDPOINT=http://svc.example KEY=... REVERSE_PROXY=http://127.0.0.1:port node rest_reverse_proxy.mjs
import { AzureKeyCredential, WebPubSubServiceClient } from "@azure/web-pubsub";

const { SERVICE_ENDPOINT, KEY, REVERSE_PROXY } = process.env;
if (!SERVICE_ENDPOINT || !KEY || !REVERSE_PROXY) {
  console.error("set SERVICE_ENDPOINT, KEY and REVERSE_PROXY");
  process.exit(2);
}
const client = new WebPubSubServiceClient(SERVICE_ENDPOINT, new AzureKeyCredential(KEY), "chat", {
  reverseProxyEndpoint: REVERSE_PROXY,
  retryOptions: { maxRetries: 0 },
  allowInsecureConnection: true,
});
await client.group("room 1").sendToAll("hello", { contentType: "text/plain" });
await client.removeUserFromAllGroups("a/b");
console.log("done");
