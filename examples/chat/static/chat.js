// The chat page: plain browser JavaScript speaking the json.webpubsub.azure.v1 subprotocol.
//
// The page never talks to other pages directly: it sends `event` frames (join, message, typing) to
// the app's event handler, which answers the sender and fans out to rooms through the REST API.
'use strict';

const PROTOCOL = 'json.webpubsub.azure.v1';
const TYPING_SEND_EVERY_MS = 2000;
const TYPING_SHOW_MS = 3500;
const MAX_RECONNECT_DELAY_MS = 30000;
// Consecutive messages of one sender within this time share one name and time line.
const GROUP_WITHIN_MS = 5 * 60 * 1000;
// Only these become links; the rest of a message is text.
const LINK = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;
// The name survives reloads (localStorage); the page's id survives its own reloads but not a
// second tab (sessionStorage), so the app can tell this page from another one using the name.
const NAME_KEY = 'webpubsub-chat.name';
const SESSION_KEY = 'webpubsub-chat.session';

const $ = (id) => document.getElementById(id);
const ui = {
  login: $('login'), loginForm: $('login-form'), loginName: $('login-name'), loginError: $('login-error'),
  app: $('app'), meName: $('me-name'), rooms: $('rooms'), roomForm: $('room-form'), roomName: $('room-name'),
  users: $('users'), roomTitle: $('room-title'), status: $('status'), messages: $('messages'),
  typing: $('typing'), composer: $('composer'), input: $('message-input'), send: $('send-button'), error: $('error'),
  signOut: $('sign-out'),
};

function pageSession() {
  let id = sessionStorage.getItem(SESSION_KEY);
  if (!id) {
    // getRandomValues works on plain http too (randomUUID needs a secure context).
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    id = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
    sessionStorage.setItem(SESSION_KEY, id);
  }
  return id;
}

const chat = {
  ws: null,
  name: '',
  me: '',
  current: 'general',
  rooms: [],            // every room that exists
  myRooms: new Set(),   // rooms this user has joined
  history: new Map(),   // room -> [message]
  unread: new Map(),    // room -> count
  users: [],            // [{user, room}]
  typing: new Map(),    // room -> Map(user -> timer)
  nextAckId: 1,
  pendingAcks: new Map(),
  lastTypingSent: 0,
  reconnectDelay: 1000,
  closedByServer: '',  // what the service said in its `disconnected` frame
  closeReason: '',
};

function setState(state, label) {
  document.body.dataset.state = state;
  ui.status.dataset.status = state;
  ui.status.textContent = label;
  const usable = state === 'connected';
  ui.input.disabled = !usable;
  ui.send.disabled = !usable;
}

function showError(message) {
  ui.error.textContent = message || '';
}

// ---- connection -----------------------------------------------------------------------------

async function connect() {
  setState('connecting', 'connecting…');
  let url;
  try {
    const response = await fetch('/negotiate?user=' + encodeURIComponent(chat.name)
      + '&session=' + encodeURIComponent(pageSession()));
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new Error(body.error || ('negotiate failed with status ' + response.status));
    }
    url = body.url;
  } catch (err) {
    return { error: err.message };
  }
  const ws = new WebSocket(url, PROTOCOL);
  chat.ws = ws;
  ws.onmessage = (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return; // not a frame of this subprotocol: ignore it, as the official client does
    }
    onFrame(frame);
  };
  ws.onclose = (event) => onClose(ws, event);
  return { ok: true };
}

function onClose(ws, event) {
  if (chat.ws !== ws) return;
  chat.ws = null;
  for (const [, settle] of chat.pendingAcks) settle(new Error('connection closed'));
  chat.pendingAcks.clear();
  chat.closeReason = chat.closedByServer || event.reason || ('connection closed (' + event.code + ')');
  chat.closedByServer = '';
  for (const typers of chat.typing.values()) for (const timer of typers.values()) clearTimeout(timer);
  chat.typing.clear();
  renderTyping();
  retryLater('');
}

// Keeps why the connection closed on screen while retrying with a growing delay.
function retryLater(failure) {
  setState('closed', 'disconnected');
  const seconds = Math.round(chat.reconnectDelay / 1000);
  showError('disconnected: ' + chat.closeReason + (failure ? ' · ' + failure : '') + ' · retrying in ' + seconds + ' s');
  setTimeout(reconnect, chat.reconnectDelay);
  chat.reconnectDelay = Math.min(chat.reconnectDelay * 2, MAX_RECONNECT_DELAY_MS);
}

async function reconnect() {
  const result = await connect();
  if (result.error) retryLater('cannot reach the chat: ' + result.error);
}

// Sends a user event; resolves when the service acknowledges it.
function sendEvent(event, data) {
  const ws = chat.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.reject(new Error('not connected'));
  const ackId = chat.nextAckId++;
  const acked = new Promise((resolve, reject) => chat.pendingAcks.set(ackId, (err) => err ? reject(err) : resolve()));
  ws.send(JSON.stringify({ type: 'event', event, ackId, dataType: 'json', data }));
  return acked;
}

function onFrame(frame) {
  switch (frame.type) {
    case 'system':
      if (frame.event === 'connected') {
        chat.me = frame.userId || chat.name;
        chat.reconnectDelay = 1000;
        ui.meName.textContent = chat.me;
        setState('connected', 'connected');
        showError('');
        joinRoom(chat.current);
      } else if (frame.event === 'disconnected') {
        chat.closedByServer = frame.message || 'the server closed the connection';
      }
      break;
    case 'ack': {
      const settle = chat.pendingAcks.get(frame.ackId);
      chat.pendingAcks.delete(frame.ackId);
      if (frame.success || (frame.error && frame.error.name === 'Duplicate')) {
        if (settle) settle();
      } else {
        const message = (frame.error && frame.error.message) || 'the service refused the request';
        showError(message);
        if (settle) settle(new Error(message));
      }
      break;
    }
    case 'message':
      if (frame.dataType === 'json' && frame.data && typeof frame.data === 'object') onChatMessage(frame.data);
      break;
    default:
      break; // unknown frame types are ignored, as the subprotocol asks
  }
}

// ---- what the app's event handler sends -----------------------------------------------------

function onChatMessage(data) {
  switch (data.type) {
    case 'joined':
      chat.current = data.room;
      chat.rooms = data.rooms;
      chat.myRooms = new Set(data.myRooms);
      chat.history.set(data.room, data.history);
      chat.unread.delete(data.room);
      chat.users = data.users;
      renderAll();
      ui.input.focus();
      break;
    case 'message': {
      const list = chat.history.get(data.room);
      // A message posted while this page was joining can arrive both in the history and live.
      if (list && list.some((m) => m.id === data.id)) break;
      if (list) list.push(data);
      clearTyping(data.room, data.from);
      if (data.room === chat.current) {
        appendMessage(data);
      } else if (data.from !== chat.me) {
        chat.unread.set(data.room, (chat.unread.get(data.room) || 0) + 1);
        renderRooms();
      }
      break;
    }
    case 'typing':
      if (data.user !== chat.me) showTyping(data.room, data.user);
      break;
    case 'presence':
      chat.users = data.users;
      renderUsers();
      if ((data.event === 'online' || data.event === 'offline') && data.user !== chat.me) {
        appendNotice(data.user + (data.event === 'online' ? ' is online' : ' went offline'));
      }
      break;
    case 'rooms':
      chat.rooms = data.rooms;
      renderRooms();
      break;
    case 'error':
      showError(data.message);
      break;
    default:
      break;
  }
}

async function joinRoom(room) {
  try {
    await sendEvent('join', { room });
  } catch (err) {
    showError('could not join #' + room + ': ' + err.message);
  }
}

// ---- rendering ------------------------------------------------------------------------------

function renderAll() {
  ui.roomTitle.textContent = '# ' + chat.current;
  ui.input.placeholder = 'Message #' + chat.current;
  renderRooms();
  renderUsers();
  ui.messages.replaceChildren();
  const history = chat.history.get(chat.current) || [];
  for (const message of history) appendMessage(message);
  if (history.length === 0) {
    const empty = document.createElement('li');
    empty.className = 'empty';
    empty.textContent = 'No messages in #' + chat.current + ' yet. Say hello!';
    ui.messages.append(empty);
  }
  renderTyping();
}

function renderRooms() {
  const items = chat.rooms.map((room) => {
    const li = document.createElement('li');
    li.dataset.room = room;
    if (room === chat.current) li.classList.add('active');
    if (chat.myRooms.has(room)) li.classList.add('joined');
    const button = document.createElement('button');
    button.type = 'button';
    button.title = chat.myRooms.has(room) ? 'Switch to #' + room : 'Join #' + room;
    const name = document.createElement('span');
    name.textContent = '# ' + room;
    button.append(name);
    const count = chat.unread.get(room);
    if (count) {
      const badge = document.createElement('span');
      badge.className = 'unread';
      badge.textContent = String(count);
      button.append(badge);
    }
    button.addEventListener('click', () => { if (room !== chat.current) joinRoom(room); });
    li.append(button);
    return li;
  });
  ui.rooms.replaceChildren(...items);
}

function renderUsers() {
  const items = [...chat.users].sort((a, b) => a.user.localeCompare(b.user)).map(({ user, room }) => {
    const li = document.createElement('li');
    li.dataset.user = user;
    if (user === chat.me) li.classList.add('self');
    const dot = document.createElement('span');
    dot.className = 'dot';
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = user;
    const where = document.createElement('span');
    where.className = 'where';
    where.textContent = room ? '#' + room : '';
    li.append(dot, name, where);
    return li;
  });
  ui.users.replaceChildren(...items);
}

function formatTime(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function appendMessage(message) {
  const li = document.createElement('li');
  li.className = 'message' + (message.from === chat.me ? ' mine' : '');
  li.dataset.from = message.from;
  li.dataset.room = message.room;
  li.dataset.time = String(message.time);
  const before = ui.messages.lastElementChild;
  if (before && before.classList.contains('message') && before.dataset.from === message.from
      && message.time - Number(before.dataset.time) < GROUP_WITHIN_MS) {
    li.classList.add('continued');
  }
  const meta = document.createElement('div');
  meta.className = 'meta';
  const sender = document.createElement('span');
  sender.className = 'sender';
  sender.textContent = message.from;
  const time = document.createElement('time');
  time.dateTime = new Date(message.time).toISOString();
  time.textContent = formatTime(message.time);
  meta.append(sender, time);
  const text = document.createElement('div');
  text.className = 'text';
  text.append(...withLinks(message.text));
  li.append(meta, text);
  scrollingAppend(li);
}

// The message as text nodes and links: only http(s) URLs become <a>, built with textContent and
// an href that URL() parsed, so nothing in a message is ever read as HTML.
function withLinks(text) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(LINK)) {
    let url;
    try {
      url = new URL(match[0]);
    } catch {
      continue;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') continue;
    if (match.index > last) nodes.push(document.createTextNode(text.slice(last, match.index)));
    const a = document.createElement('a');
    a.href = url.href;
    a.textContent = match[0];
    a.target = '_blank';
    a.rel = 'noopener noreferrer nofollow';
    nodes.push(a);
    last = match.index + match[0].length;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

function appendNotice(text) {
  const li = document.createElement('li');
  li.className = 'notice';
  li.textContent = text + ' · ' + formatTime(Date.now());
  scrollingAppend(li);
}

function scrollingAppend(node) {
  const list = ui.messages;
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  for (const empty of list.querySelectorAll('.empty')) empty.remove();
  list.append(node);
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function showTyping(room, user) {
  if (!chat.typing.has(room)) chat.typing.set(room, new Map());
  const typers = chat.typing.get(room);
  clearTimeout(typers.get(user));
  typers.set(user, setTimeout(() => clearTyping(room, user), TYPING_SHOW_MS));
  renderTyping();
}

function clearTyping(room, user) {
  const typers = chat.typing.get(room);
  if (!typers || !typers.has(user)) return;
  clearTimeout(typers.get(user));
  typers.delete(user);
  renderTyping();
}

function renderTyping() {
  const names = [...(chat.typing.get(chat.current) || new Map()).keys()];
  ui.typing.textContent = names.length === 0 ? ''
    : names.length === 1 ? names[0] + ' is typing…'
      : names.join(', ') + ' are typing…';
}

// ---- user input -----------------------------------------------------------------------------

ui.loginForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const name = ui.loginName.value.trim();
  if (!name) return;
  await signIn(name);
});

async function signIn(name) {
  ui.loginError.textContent = '';
  chat.name = name;
  const result = await connect();
  if (result.error) {
    ui.loginError.textContent = result.error;
    setState('signed-out', '');
    return;
  }
  localStorage.setItem(NAME_KEY, name);
  ui.login.hidden = true;
  ui.app.hidden = false;
}

ui.signOut.addEventListener('click', () => {
  localStorage.removeItem(NAME_KEY);
  location.reload();
});

ui.composer.addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = ui.input.value.trim();
  if (!text) return;
  ui.input.value = '';
  // Others stop showing "typing" when the message arrives; the next keystroke says it again.
  chat.lastTypingSent = 0;
  try {
    await sendEvent('message', { room: chat.current, text });
  } catch (err) {
    showError('message not sent: ' + err.message);
    ui.input.value = text;
  }
});

ui.input.addEventListener('input', () => {
  const now = Date.now();
  if (ui.input.value && now - chat.lastTypingSent > TYPING_SEND_EVERY_MS) {
    chat.lastTypingSent = now;
    sendEvent('typing', { room: chat.current }).catch(() => {});
  }
});

ui.roomForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const room = ui.roomName.value.trim().toLowerCase();
  if (!room) return;
  ui.roomName.value = '';
  joinRoom(room);
});

const preset = new URLSearchParams(location.search).get('user');
const remembered = localStorage.getItem(NAME_KEY);
if (preset) {
  ui.loginName.value = preset;
  ui.loginName.focus();
} else if (remembered) {
  // Back after a reload: sign in again with the same name.
  ui.loginName.value = remembered;
  signIn(remembered);
} else {
  ui.loginName.focus();
}
