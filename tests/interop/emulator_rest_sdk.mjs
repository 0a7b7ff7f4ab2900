// Drives the emulator's REST API with the official @azure/web-pubsub 1.2.0 SDK (sends, groups,
// users, exists checks, permissions, group listing, closes, client tokens) and observes every
// effect through WebSocket clients (the `ws` package) on json.webpubsub.azure.v1.
// Also calls :generateToken with a REST token signed by the `jsonwebtoken` package, and connects
// with the minted token.
//
// Usage: WEBPUBSUB_CONNECTION_STRING=... node emulator_rest_sdk.mjs
// Prints one JSON line {"checks": [...]} naming every check that passed; exits 1 on a failure.
import assert from "node:assert/strict";
import { WebPubSubServiceClient, odata } from "@azure/web-pubsub";
import jwt from "jsonwebtoken";
import WebSocket from "ws";

const cs = process.env.WEBPUBSUB_CONNECTION_STRING;
if (!cs) {
  console.error("set WEBPUBSUB_CONNECTION_STRING");
  process.exit(2);
}
const HUB = "chat";
const WAIT_MS = 5000;
const service = new WebPubSubServiceClient(cs, HUB, { retryOptions: { maxRetries: 0 }, allowInsecureConnection: true });
const checks = [];
const check = (name) => checks.push(name);
// Where a failure happened, on stderr.
let line = 0;
const step = (what) => console.error(`step ${++line}: ${what}`);

/** A json.webpubsub.azure.v1 client that queues the frames it receives. */
class Client {
  static async connect(url) {
    const client = new Client(url);
    const connected = await client.next();
    assert.equal(connected.type, "system");
    assert.equal(connected.event, "connected");
    client.id = connected.connectionId;
    return client;
  }

  constructor(url) {
    this.frames = [];
    this.waiters = [];
    this.closed = null;
    this.ws = new WebSocket(url, "json.webpubsub.azure.v1");
    this.ws.on("message", (data) => this.push({ frame: JSON.parse(data.toString()) }));
    this.ws.on("close", (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.push({ close: this.closed });
    });
    this.ws.on("error", (error) => this.push({ error }));
  }

  push(item) {
    const waiter = this.waiters.shift();
    if (waiter) waiter(item);
    else this.frames.push(item);
  }

  /** The next item (a frame, the close, or an error), failing after WAIT_MS. */
  nextItem() {
    const queued = this.frames.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no frame within ${WAIT_MS} ms on ${this.id}`)), WAIT_MS);
      this.waiters.push((item) => {
        clearTimeout(timer);
        resolve(item);
      });
    });
  }

  async next() {
    const item = await this.nextItem();
    if (item.error) throw item.error;
    assert.ok(item.frame, `expected a frame, got ${JSON.stringify(item)}`);
    return item.frame;
  }

  async messages(count) {
    const data = [];
    for (let i = 0; i < count; i++) {
      const frame = await this.next();
      assert.equal(frame.type, "message", JSON.stringify(frame));
      data.push(frame.data);
    }
    return data;
  }

  /** Nothing else was queued: a marker sent to this connection alone comes next. */
  async nothingElse() {
    await service.sendToConnection(this.id, "marker", { contentType: "text/plain" });
    assert.deepEqual(await this.messages(1), ["marker"]);
  }

  async expectClosed(reason) {
    const bye = await this.next();
    assert.equal(bye.type, "system");
    assert.equal(bye.event, "disconnected");
    assert.equal(bye.message, reason);
    const item = await this.nextItem();
    assert.ok(item.close, JSON.stringify(item));
    assert.equal(item.close.code, 1000);
  }
}

async function connect(userId, groups = [], roles = []) {
  const token = await service.getClientAccessToken({ userId, groups, roles });
  return Client.connect(token.url);
}

// Sends of every kind.
const a1 = await connect("alice", ["room"]);
const a2 = await connect("alice");
const b = await connect("bob", ["room"]);
await service.sendToAll({ hello: "json" }, { excludedConnections: [a2.id] });
await service.sendToAll("text", { contentType: "text/plain", filter: odata`userId eq ${"BOB"}` });
await service.sendToAll(new Uint8Array([0, 1, 255]).buffer, { filter: "'room' in groups and userId eq 'alice'" });
await service.sendToUser("alice", "to alice", { contentType: "text/plain", filter: "not ('room' in groups)" });
await service.sendToConnection(b.id, "to b", { contentType: "text/plain", messageTtlSeconds: 15 });
await service.group("room").sendToAll("to room", { contentType: "text/plain", excludedConnections: [a1.id] });
await service.sendToUser("nobody", "lost", { contentType: "text/plain" });
assert.deepEqual(await a1.messages(2), [{ hello: "json" }, "AAH/"]);
assert.deepEqual(await a2.messages(1), ["to alice"]);
assert.deepEqual(await b.messages(4), [{ hello: "json" }, "text", "to b", "to room"]);
for (const client of [a1, a2, b]) await client.nothingElse();
check("send to all, user, connection and group with excluded and filters");

// Groups and users.
assert.equal(await service.groupExists("g"), false);
step("add a2 to g");
await service.group("g").addConnection(a2.id);
assert.equal(await service.groupExists("g"), true);
await service.group("g").addUser("bob");
await service.group("g").sendToAll("to g", { contentType: "text/plain" });
step("group send reaches a2");
assert.deepEqual(await a2.messages(1), ["to g"]);
step("group send reaches b");
assert.deepEqual(await b.messages(1), ["to g"]);
step("list g");
const members = [];
// 1.2.0 wraps the pager in a tracing span, so it arrives as a promise.
for await (const member of await service.group("g").listConnections({ maxPageSize: 1 })) members.push(member);
assert.deepEqual(
  members.map((m) => m.connectionId).sort(),
  [a2.id, b.id].sort(),
);
assert.deepEqual(members.find((m) => m.connectionId === b.id).userId, "bob");
await service.group("g").removeConnection(a2.id);
await service.group("g").removeUser("bob");
assert.equal(await service.groupExists("g"), false);
await assert.rejects(service.group("g").addConnection("no-such-connection"), (error) => {
  assert.equal(error.statusCode, 404);
  assert.equal(error.code, "Error.Connection.NotExisted");
  return true;
});
await service.addConnectionsToGroups(["x", "y"], "startswith(userId, 'ali')");
assert.equal(await service.groupExists("x"), true);
await service.removeConnectionsFromGroups(["x"], "userId eq 'alice'");
assert.equal(await service.groupExists("x"), false);
await service.removeUserFromAllGroups("alice");
assert.equal(await service.groupExists("y"), false);
await service.group("z").addConnection(b.id);
await service.removeConnectionFromAllGroups(b.id);
assert.equal(await service.groupExists("z"), false);
assert.equal(await service.userExists("alice"), true);
assert.equal(await service.userExists("ALICE"), false);
assert.equal(await service.connectionExists(a1.id), true);
check("group and user membership, exists checks, paged listing, addToGroups/removeFromGroups");

// Permissions.
step("permissions");
assert.equal(await service.hasPermission(a2.id, "joinLeaveGroup", { targetName: "p" }), false);
a2.ws.send(JSON.stringify({ type: "joinGroup", group: "p", ackId: 1 }));
assert.equal((await a2.next()).error.name, "Forbidden");
await service.grantPermission(a2.id, "joinLeaveGroup", { targetName: "p" });
assert.equal(await service.hasPermission(a2.id, "joinLeaveGroup", { targetName: "p" }), true);
a2.ws.send(JSON.stringify({ type: "joinGroup", group: "p", ackId: 2 }));
assert.equal((await a2.next()).success, true);
await service.revokePermission(a2.id, "joinLeaveGroup", { targetName: "p" });
assert.equal(await service.hasPermission(a2.id, "joinLeaveGroup", { targetName: "p" }), false);
check("grant, check and revoke permissions, enforced on joinGroup");

step("generateToken");
// A client token minted by the emulator's :generateToken.
const { endpoint, key } = Object.fromEntries(
  cs.split(";").filter(Boolean).map((part) => {
    const at = part.indexOf("=");
    return [part.slice(0, at).toLowerCase() === "accesskey" ? "key" : part.slice(0, at).toLowerCase(), part.slice(at + 1)];
  }),
);
const generateUrl = `${endpoint}/api/hubs/${HUB}/:generateToken?api-version=2024-12-01&userId=minted&group=m`;
const restToken = jwt.sign({ aud: generateUrl }, key, { algorithm: "HS256", expiresIn: "5m" });
const generated = await fetch(generateUrl, { method: "POST", headers: { authorization: `Bearer ${restToken}` } });
assert.equal(generated.status, 200);
const { token } = await generated.json();
const minted = await Client.connect(`${endpoint.replace(/^http/, "ws")}/client/hubs/${HUB}?access_token=${token}`);
await service.group("m").sendToAll("to m", { contentType: "text/plain" });
assert.deepEqual(await minted.messages(1), ["to m"]);
check(":generateToken mints a token that connects with its user and groups");

// Closes.
step("closes");
await service.group("closing").addConnection(a1.id);
await service.group("closing").addConnection(b.id);
await service.group("closing").closeAllConnections({ excluded: [b.id], reason: "group closed" });
await a1.expectClosed("group closed");
assert.equal(await service.connectionExists(a1.id), false);
await service.closeUserConnections("bob", { reason: "bye bob" });
await b.expectClosed("bye bob");
await service.closeConnection(a2.id, { reason: "bye a2" });
await a2.expectClosed("bye a2");
await service.closeAllConnections({ reason: "everyone" });
await minted.expectClosed("everyone");
assert.equal(await service.userExists("minted"), false);
check("close a group, a user, a connection and everyone, with reasons and excluded");

console.log(JSON.stringify({ checks }));
process.exit(0);
