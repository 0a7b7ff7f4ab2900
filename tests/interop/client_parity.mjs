// The official @azure/web-pubsub-client (Node) as the subject of tests/client_parity.rs, which
// runs the same commands against the Rust client and compares what each observed.
//
// Reads one JSON command per line on stdin and answers each with one JSON line on stdout:
//   {"op":"start","url":URL}                              -> {"connectionId":...}
//   {"op":"joinGroup"|"leaveGroup","group":G}             -> {"isDuplicated":bool}
//   {"op":"sendToGroup","group":G,"data":D,"dataType":T,"noEcho":bool,"ackId":n?}
//   {"op":"sendEvent","event":E,"data":D,"dataType":T}    -> {"isDuplicated":bool}
//   {"op":"invokeEvent","event":E,"data":D,"dataType":T}  -> {"dataType":T,"data":D} | {"error":NAME}
//   {"op":"events","until":TEXT}   the events since the last call, up to and including the server
//                                  message TEXT                                 -> {"events":[...]}
//   {"op":"stop"}                  stops; the events up to and including `stopped` -> {"events":[...]}
// Binary data travels as base64. A failed command answers {"error":...}; the script then goes on.
// Events are normalised as the Rust side does (tests/client_parity.rs, `normalise`).
import readline from "node:readline";
import { WebPubSubClient } from "@azure/web-pubsub-client";

const WAIT_MS = 10_000;
let client;
let events = [];

const decode = (dataType, data) => (dataType === "binary" ? Uint8Array.from(Buffer.from(data, "base64")).buffer : data);
const encode = (dataType, data) => (dataType === "binary" ? Buffer.from(data).toString("base64") : data);

function record(event) {
  events.push(event);
}

function listen(c) {
  c.on("connected", (e) => record({ type: "connected", userId: e.userId ?? null }));
  c.on("disconnected", () => record({ type: "disconnected" }));
  c.on("stopped", () => record({ type: "stopped" }));
  c.on("rejoin-group-failed", (e) => record({ type: "rejoinGroupFailed", group: e.group }));
  c.on("group-message", ({ message: m }) =>
    record({
      type: "group",
      group: m.group,
      fromUserId: m.fromUserId ?? null,
      dataType: m.dataType,
      data: encode(m.dataType, m.data),
      sequenceId: m.sequenceId ?? null,
    }),
  );
  c.on("server-message", ({ message: m }) =>
    record({ type: "server", dataType: m.dataType, data: encode(m.dataType, m.data), sequenceId: m.sequenceId ?? null }),
  );
}

// Waits (bounded) until `done(events)` holds, then hands the events over.
async function take(done) {
  const deadline = Date.now() + WAIT_MS;
  while (!done(events)) {
    if (Date.now() > deadline) throw new Error(`timed out; events so far: ${JSON.stringify(events)}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  const taken = events;
  events = [];
  return { events: taken };
}

const ack = (result) => ({ isDuplicated: result.isDuplicated });

async function run(c) {
  switch (c.op) {
    case "start": {
      client = new WebPubSubClient(c.url);
      listen(client);
      let connectionId;
      client.on("connected", (e) => (connectionId ??= e.connectionId));
      await client.start();
      // The `connected` event may come just after start() resolves.
      const deadline = Date.now() + WAIT_MS;
      while (connectionId === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      return { connectionId };
    }
    case "joinGroup":
      return ack(await client.joinGroup(c.group));
    case "leaveGroup":
      return ack(await client.leaveGroup(c.group));
    case "sendToGroup": {
      const options = { noEcho: c.noEcho ?? false };
      if (c.ackId !== undefined) options.ackId = c.ackId;
      return ack(await client.sendToGroup(c.group, decode(c.dataType, c.data), c.dataType, options));
    }
    case "sendEvent":
      return ack(await client.sendEvent(c.event, decode(c.dataType, c.data), c.dataType));
    case "invokeEvent":
      try {
        const r = await client.invokeEvent(c.event, decode(c.dataType, c.data), c.dataType);
        return { dataType: r.dataType, data: encode(r.dataType, r.data) };
      } catch (e) {
        if (e?.errorDetail?.name) return { error: e.errorDetail.name };
        throw e;
      }
    case "events":
      return take((es) => es.some((e) => e.type === "server" && e.dataType === "text" && e.data === c.until));
    case "stop":
      client.stop();
      return take((es) => es.some((e) => e.type === "stopped"));
    default:
      throw new Error(`unknown op ${c.op}`);
  }
}

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  let answer;
  try {
    answer = await run(JSON.parse(line));
  } catch (e) {
    answer = { error: `${e?.name}: ${e?.message}` };
  }
  console.log(JSON.stringify(answer));
}
// The client library leaves timers behind (its retry and ack timeouts); do not wait for them.
process.exit(0);
