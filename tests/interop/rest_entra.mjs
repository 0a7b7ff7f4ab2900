// The official @azure/web-pubsub SDK with a TokenCredential (Microsoft Entra ID): a send, and
// client access tokens minted by the service (`:generateToken`), against the loopback recorder
// of tests/interop_rest.rs. Prints the client tokens' URLs as JSON.
//
// The SDK refuses bearer tokens for non-https URLs, so the script talks to
// `https://127.0.0.1:<port>` and a test-only transport policy, added after the SDK's own
// policies (after signing), turns the scheme into http for the loopback recorder.
//
// Usage: RECORDER=http://127.0.0.1:port node rest_entra.mjs
import { WebPubSubServiceClient } from "@azure/web-pubsub";

const recorder = process.env.RECORDER;
if (!recorder) {
  console.error("set RECORDER");
  process.exit(2);
}
const credential = {
  async getToken(scopes) {
    const wanted = ["https://webpubsub.azure.com/.default"];
    if (JSON.stringify([scopes].flat()) !== JSON.stringify(wanted)) {
      throw new Error(`unexpected scopes ${scopes}`);
    }
    return { token: "entra-token", expiresOnTimestamp: Date.now() + 3600 * 1000 };
  },
};
const client = new WebPubSubServiceClient(recorder.replace(/^http:/, "https:"), credential, "chat", {
  retryOptions: { maxRetries: 0 },
});
client["client"].pipeline.addPolicy(
  {
    name: "loopbackWithoutTls",
    sendRequest(request, next) {
      request.url = request.url.replace(/^https:/, "http:");
      request.allowInsecureConnection = true;
      return next(request);
    },
  },
  { afterPhase: "Sign" },
);

await client.sendToAll("hello", { contentType: "text/plain" });
const urls = {};
urls.mqtt = (
  await client.getClientAccessToken({
    userId: "u 1",
    roles: ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"],
    groups: ["g1", "g2"],
    expirationTimeInMinutes: 2,
    clientProtocol: "mqtt",
  })
).url;
urls.default = (await client.getClientAccessToken()).url;
console.log(JSON.stringify(urls));
