// The emulator's live trace: reads /trace/events (server-sent events) and shows each event
// as a row. Every value is set with textContent, never parsed as HTML: hub names, group
// names and event names are chosen by clients.
"use strict";

const MAX_ROWS = 2000;
const rows = document.getElementById("events");
const hubSelect = document.getElementById("hub");
const status = document.getElementById("status");
const count = document.getElementById("count");
const empty = document.getElementById("empty");
const pauseButton = document.getElementById("pause");
const hubs = new Set();
let paused = false;
let seen = 0;

function shownKinds() {
  return new Set(
    [...document.querySelectorAll("#kinds input:checked")].map((box) => box.value),
  );
}

function visible(row) {
  const hub = hubSelect.value;
  if (row.dataset.notice) return true;
  return (hub === "" || row.dataset.hub === hub) && shownKinds().has(row.dataset.kind);
}

function refilter() {
  for (const row of rows.children) row.hidden = !visible(row);
}

function setStatus(state, text) {
  status.dataset.state = state;
  status.textContent = text;
}

function cell(row, className, text) {
  const td = document.createElement("td");
  if (className) td.className = className;
  if (text !== undefined) td.textContent = text;
  row.appendChild(td);
  return td;
}

function addRow(row) {
  const main = rows.parentElement.parentElement;
  const atBottom = main.scrollHeight - main.scrollTop - main.clientHeight < 40;
  rows.appendChild(row);
  while (rows.children.length > MAX_ROWS) rows.firstElementChild.remove();
  empty.hidden = true;
  if (atBottom) main.scrollTop = main.scrollHeight;
}

function time(ms) {
  const date = new Date(ms);
  const pad = (n, width) => String(n).padStart(width, "0");
  return `${pad(date.getHours(), 2)}:${pad(date.getMinutes(), 2)}:${pad(date.getSeconds(), 2)}.${pad(date.getMilliseconds(), 3)}`;
}

function showEvent(event) {
  const row = document.createElement("tr");
  row.dataset.kind = event.kind;
  row.dataset.hub = event.hub || "";
  cell(row, "time", time(event.time));
  const kind = document.createElement("span");
  kind.className = `kind kind-${event.kind}`;
  kind.textContent = event.kind;
  cell(row, "").appendChild(kind);
  cell(row, "hub", event.hub || "");
  cell(row, "title", event.title);
  const details = cell(row, "details");
  let failed = false;
  for (const [name, value] of event.details) {
    const span = document.createElement("span");
    span.className = "detail";
    const label = document.createElement("b");
    label.textContent = `${name}=`;
    span.appendChild(label);
    span.appendChild(document.createTextNode(value));
    details.appendChild(span);
    if ((name === "status" && Number(value) >= 400) || name === "error") failed = true;
  }
  if (failed) row.classList.add("failed");
  if (event.hub && !hubs.has(event.hub)) {
    hubs.add(event.hub);
    const option = document.createElement("option");
    option.value = event.hub;
    option.textContent = event.hub;
    hubSelect.appendChild(option);
  }
  row.hidden = !visible(row);
  addRow(row);
  seen += 1;
  count.textContent = `${seen} event${seen === 1 ? "" : "s"}`;
}

function showNotice(text) {
  const row = document.createElement("tr");
  row.className = "notice";
  row.dataset.notice = "1";
  const td = cell(row, "", text);
  td.colSpan = 5;
  addRow(row);
}

const source = new EventSource("/trace/events");
source.onopen = () => setStatus(paused ? "paused" : "live", paused ? "paused" : "live");
source.onerror = () => setStatus("down", "disconnected, retrying…");
source.onmessage = (message) => {
  if (paused) return;
  try {
    showEvent(JSON.parse(message.data));
  } catch (error) {
    showNotice(`unreadable event: ${error}`);
  }
};
source.addEventListener("dropped", (message) => {
  showNotice(`${message.data} events dropped: this page fell behind`);
});

hubSelect.addEventListener("change", refilter);
document.getElementById("kinds").addEventListener("change", refilter);
pauseButton.addEventListener("click", () => {
  paused = !paused;
  pauseButton.textContent = paused ? "Resume" : "Pause";
  setStatus(paused ? "paused" : "live", paused ? "paused" : "live");
});
document.getElementById("clear").addEventListener("click", () => {
  rows.replaceChildren();
  seen = 0;
  count.textContent = "0 events";
  empty.hidden = false;
});
