// Drives the official @azure/web-pubsub SDK through every data-plane operation against the
// loopback recorder of tests/interop_rest.rs, in the order that test replays them with the Rust
// client. Prints one JSON object: client tokens minted for the same inputs, and `odata` filters.
//
// Usage: WEBPUBSUB_CONNECTION_STRING=... node rest_operations.mjs
import { WebPubSubServiceClient, odata } from "@azure/web-pubsub";

const cs = process.env.WEBPUBSUB_CONNECTION_STRING;
if (!cs) {
  console.error("set WEBPUBSUB_CONNECTION_STRING");
  process.exit(2);
}
// No retries: one request per operation, as the recorder expects; the recorder is plain http.
const client = new WebPubSubServiceClient(cs, "chat", {
  retryOptions: { maxRetries: 0 },
  allowInsecureConnection: true,
});

const filter = "userId eq 'o''neil'";
await client.sendToAll({ a: [1, "x"] }, { excludedConnections: ["c1", "c2"], filter, messageTtlSeconds: 15 });
await client.sendToAll("hello", { contentType: "text/plain" });
await client.sendToAll(new Uint8Array([0, 1, 255]));
await client.group("room 1/a").sendToAll("hello", {
  contentType: "text/plain",
  excludedConnections: ["c3"],
  filter: "'vip' in groups",
  messageTtlSeconds: 30,
});
await client.sendToUser("user/1", new Uint8Array([0, 1, 255]), { filter: "connectionId ne 'c1'", messageTtlSeconds: 300 });
await client.sendToConnection("conn#1", "just a string");
await client.closeAllConnections({ excluded: ["c1", "c2"], reason: "maintenance & more" });
await client.group("g").closeAllConnections({ excluded: ["c1"], reason: "r" });
await client.closeUserConnections("u ü", { excluded: ["c9"], reason: "bye" });
await client.closeConnection("c1", { reason: "kicked" });
const exists = [await client.groupExists("g/1"), await client.userExists("u/1"), await client.connectionExists("c/1")];
await client.group("g/x").addConnection("c1");
await client.group("g/x").removeConnection("c1");
await client.removeConnectionFromAllGroups("c1");
await client.group("g/x").addUser("a/b");
await client.group("g/x").removeUser("a/b");
await client.removeUserFromAllGroups("a/b");
await client.addConnectionsToGroups(["g1", "g2"], "userId in ('a', 'b')");
await client.removeConnectionsFromGroups(["g1", "g2"], "userId in ('a', 'b')");
await client.grantPermission("c/1", "sendToGroup", { targetName: "room 1" });
await client.revokePermission("c1", "joinLeaveGroup");
const hasPermission = await client.hasPermission("c1", "joinLeaveGroup", { targetName: "g" });
const members = [];
// 1.2.0 returns a promise of the paged iterator (it is wrapped in a tracing span).
for await (const member of await client.group("g/1").listConnections({ maxPageSize: 2, top: 3 })) {
  members.push(member);
}

const tokens = {};
for (const clientProtocol of ["default", "mqtt", "socketio"]) {
  tokens[clientProtocol] = await client.getClientAccessToken({
    userId: "alice",
    roles: ["webpubsub.sendToGroup.room1", "webpubsub.joinLeaveGroup"],
    groups: ["room1", "room2"],
    expirationTimeInMinutes: 5,
    clientProtocol,
  });
}
tokens.bare = await client.getClientAccessToken();

const userId = "o'neil";
const nothing = null;
const filters = {
  eq: odata`userId eq ${userId}`,
  null: odata`userId eq ${nothing}`,
  group: odata`${"g'1"} in groups`,
};

console.log(JSON.stringify({ exists, hasPermission, members, tokens, filters }));
