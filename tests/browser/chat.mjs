// Drives the chat page as two users in headless Chromium: sign in, talk both ways, see typing
// and presence, switch rooms (history, unread badge), and save screenshots.
//
//   CHAT_URL=http://127.0.0.1:3000/ node chat.mjs
//
// Env: CHAT_URL (required), CHROMIUM (default /usr/bin/chromium), ARTIFACTS (default ./artifacts),
// DOCS_SCREENSHOT and DOCS_MOBILE_SCREENSHOT (optional paths for the docs' screenshots),
// SHUTDOWN_SIGNAL_FILE (optional: see the last check). Exits non-zero on the first failed check, after saving a screenshot of each page.
import { chromium } from 'playwright-core';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const url = process.env.CHAT_URL;
if (!url) {
  console.error('set CHAT_URL to the chat page, e.g. http://127.0.0.1:3000/');
  process.exit(2);
}
const artifacts = resolve(process.env.ARTIFACTS || join(here, 'artifacts'));
mkdirSync(artifacts, { recursive: true });
const TIMEOUT = 10_000;

// Debian's Chromium, headless; the background-networking flags keep it off the (closed) network.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  timeout: 30_000,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync',
  ],
});

const pageErrors = [];
async function openAs(user, viewport = { width: 1100, height: 680 }) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('pageerror', (err) => pageErrors.push(`${user}: ${err.message}`));
  page.on('console', (msg) => { if (msg.type() === 'error') pageErrors.push(`${user} console: ${msg.text()}`); });
  await page.goto(url);
  await page.fill('#login-name', user);
  await page.click('#login-button');
  await page.waitForSelector('body[data-state="connected"]');
  await page.waitForSelector('#rooms li.active[data-room="general"]');
  return page;
}

let alice;
let bob;
let step = 'start';
const check = (name) => { step = name; };
const ok = () => console.log(`ok - ${step}`);

// Waits until `selector` has an element whose text contains `text`.
async function seeText(page, selector, text) {
  await page.locator(selector).filter({ hasText: text }).first().waitFor({ state: 'visible' });
}

async function say(page, text) {
  await page.locator('#message-input').pressSequentially(text, { delay: 5 });
  await page.press('#message-input', 'Enter');
}

async function texts(page, selector) {
  return page.locator(selector).allTextContents();
}

// Whether the element's box lies inside the window (and, with `within`, inside that element).
async function inView(page, selector, within) {
  return page.evaluate(([selector, within]) => {
    const box = document.querySelector(selector).getBoundingClientRect();
    const inside = (outer) => box.top >= outer.top - 1 && box.bottom <= outer.bottom + 1
      && box.left >= outer.left - 1 && box.right <= outer.right + 1;
    const windowBox = { top: 0, left: 0, bottom: window.innerHeight, right: window.innerWidth };
    return inside(windowBox) && (!within || inside(document.querySelector(within).getBoundingClientRect()));
  }, [selector, within]);
}

function assertEqual(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

try {
  check('alice and bob sign in');
  alice = await openAs('alice');
  bob = await openAs('bob');
  await seeText(alice, '#me-name', 'alice');
  ok();

  check('each sees the other online');
  await alice.waitForSelector('#users li[data-user="bob"]');
  await bob.waitForSelector('#users li[data-user="alice"]');
  await seeText(alice, '#messages .notice', 'bob is online');
  ok();

  check('alice sees bob typing, then his message with sender and time');
  await bob.locator('#message-input').pressSequentially('Hi alice! How is the ', { delay: 5 });
  await seeText(alice, '#typing', 'bob is typing');
  await say(bob, 'Rust SDK going?');
  await seeText(alice, '#messages .message[data-from="bob"] .text', 'Hi alice! How is the Rust SDK going?');
  const time = await alice.locator('#messages .message[data-from="bob"] time').first().textContent();
  if (!/\d{1,2}:\d{2}/.test(time)) throw new Error(`message time ${JSON.stringify(time)} is not a time`);
  await alice.waitForFunction(() => document.getElementById('typing').textContent === '');
  ok();

  check('bob sees alice\'s answer; his own message is on his side');
  await say(alice, 'Great: the layer, the REST client and the emulator all talk to each other.');
  await seeText(bob, '#messages .message[data-from="alice"] .text', 'the emulator all talk');
  await bob.waitForSelector('#messages .message.mine[data-from="bob"]');
  await say(bob, 'Nice. Let me try the dev room.');
  await seeText(alice, '#messages .message[data-from="bob"] .text', 'Let me try the dev room.');
  ok();

  check('bob creates #dev and switches to it; alice sees the new room and where bob is');
  await bob.fill('#room-name', 'dev');
  await bob.press('#room-name', 'Enter');
  await seeText(bob, '#room-title', '# dev');
  await bob.waitForSelector('#rooms li.active[data-room="dev"]');
  assertEqual(await bob.locator('#messages .message').count(), 0, 'messages in the new room');
  await alice.waitForSelector('#rooms li[data-room="dev"]');
  await seeText(alice, '#users li[data-user="bob"] .where', '#dev');
  ok();

  check('a message in #dev stays out of alice\'s #general, and she finds it when she switches');
  await say(bob, 'Anyone in dev?');
  await seeText(bob, '#messages .message[data-from="bob"] .text', 'Anyone in dev?');
  await say(alice, 'Still in general.');
  await seeText(alice, '#messages .message[data-from="alice"] .text', 'Still in general.');
  assertEqual((await texts(alice, '#messages .message .text')).some((t) => t.includes('Anyone in dev?')), false,
    'alice (in #general) shows the #dev message');
  await alice.click('#rooms li[data-room="dev"] button');
  await seeText(alice, '#room-title', '# dev');
  await seeText(alice, '#messages .message[data-from="bob"] .text', 'Anyone in dev?');
  assertEqual(await texts(alice, '#messages .message .text'), ['Anyone in dev?'], 'alice\'s #dev history');
  ok();

  check('alice answers in #dev; bob switches back to #general and sees its history');
  await say(alice, 'Here! Switching works.');
  await seeText(bob, '#messages .message[data-from="alice"] .text', 'Here! Switching works.');
  await bob.click('#rooms li[data-room="general"] button');
  await seeText(bob, '#room-title', '# general');
  assertEqual(await texts(bob, '#messages .message .text'), [
    'Hi alice! How is the Rust SDK going?',
    'Great: the layer, the REST client and the emulator all talk to each other.',
    'Nice. Let me try the dev room.',
    'Still in general.',
  ], 'bob\'s #general history');
  ok();

  check('a message in #dev shows as unread on bob\'s room list');
  await say(alice, 'One more for dev.');
  await seeText(bob, '#rooms li[data-room="dev"] .unread', '1');
  ok();

  check('the README screenshot: alice in #general while bob types');
  await alice.click('#rooms li[data-room="general"] button');
  await seeText(alice, '#room-title', '# general');
  await bob.locator('#message-input').pressSequentially('Looks good', { delay: 5 });
  await seeText(alice, '#typing', 'bob is typing');
  if (process.env.DOCS_SCREENSHOT) await alice.screenshot({ path: resolve(process.env.DOCS_SCREENSHOT) });
  await bob.press('#message-input', 'Enter');
  await seeText(alice, '#messages .message[data-from="bob"] .text', 'Looks good');
  ok();

  check('on a 390 px phone, rooms, people, messages and the input are all usable');
  const carol = await openAs('carol', { width: 390, height: 844 });
  for (const user of ['alice', 'bob', 'carol']) {
    const person = carol.locator(`#users li[data-user="${user}"]`);
    await person.scrollIntoViewIfNeeded();
    if (!(await inView(carol, `#users li[data-user="${user}"]`))) throw new Error(`${user} is cut off the people list`);
  }
  await seeText(carol, '#messages .message[data-from="bob"] .text', 'Looks good');
  if (!(await inView(carol, '#message-input'))) throw new Error('the input is not in view on a phone');
  await say(carol, 'Reading along on my phone: https://learn.microsoft.com/azure/azure-web-pubsub/');
  await seeText(carol, '#messages .message.mine .text', 'Reading along');
  await carol.evaluate(() => { document.getElementById('users').scrollLeft = 0; });
  if (process.env.DOCS_MOBILE_SCREENSHOT) await carol.screenshot({ path: resolve(process.env.DOCS_MOBILE_SCREENSHOT) });
  await carol.screenshot({ path: join(artifacts, 'carol-mobile.png') });
  await carol.context().close();
  ok();

  check('consecutive messages of one sender are grouped; links are links, safely');
  await say(bob, 'Two in a row,');
  await say(bob, 'see https://example.com/docs?a=1. Not a link: javascript:alert(1)');
  await seeText(alice, '#messages .message[data-from="bob"] .text', 'Not a link');
  const last = alice.locator('#messages .message').last();
  if (!(await last.getAttribute('class')).includes('continued')) throw new Error('the second message is not grouped');
  const link = last.locator('a');
  assertEqual(await link.count(), 1, 'links in the message');
  assertEqual(await link.getAttribute('href'), 'https://example.com/docs?a=1', 'the link');
  assertEqual(await link.getAttribute('rel'), 'noopener noreferrer nofollow', 'the link\'s rel');
  assertEqual(await alice.locator('#messages a[href^="javascript"]').count(), 0, 'javascript: links');
  ok();

  check('an empty room says so');
  await alice.fill('#room-name', 'quiet');
  await alice.press('#room-name', 'Enter');
  await seeText(alice, '#room-title', '# quiet');
  await seeText(alice, '#messages .empty', 'No messages in #quiet yet');
  await say(alice, 'First!');
  await seeText(alice, '#messages .message .text', 'First!');
  assertEqual(await alice.locator('#messages .empty').count(), 0, 'the empty note after a message');
  await alice.click('#rooms li[data-room="general"] button');
  await seeText(alice, '#room-title', '# general');
  ok();

  check('markup in a message is shown as text, never run');
  await say(bob, '<img src=x onerror="window.pwned=1"><b>not bold</b>');
  await seeText(alice, '#messages .message[data-from="bob"] .text', '<b>not bold</b>');
  assertEqual(await alice.evaluate(() => window.pwned === undefined
    && document.querySelector('#messages img, #messages b') === null), true, 'markup was not interpreted');
  ok();

  check('a dropped connection reconnects to the same room and keeps working');
  await alice.evaluate(() => chat.ws.close());
  await alice.waitForSelector('body[data-state="closed"]');
  await alice.waitForSelector('body[data-state="connected"]');
  await seeText(alice, '#room-title', '# general');
  await say(bob, 'Are you back?');
  await seeText(alice, '#messages .message[data-from="bob"] .text', 'Are you back?');
  ok();

  check('100 messages: the list scrolls, not the page; the latest is visible and the input in view');
  await bob.evaluate(async () => {
    for (let i = 1; i <= 100; i += 1) await sendEvent('message', { room: 'general', text: `message ${i} of 100` });
  });
  await seeText(alice, '#messages .message .text', 'message 100 of 100');
  await alice.waitForFunction(() => {
    const list = document.getElementById('messages');
    return list.scrollHeight - list.scrollTop - list.clientHeight < 2;
  });
  if (!(await inView(alice, '#messages .message:nth-last-child(1 of .message)', '#messages'))) throw new Error('the latest message is not visible');
  if (!(await inView(alice, '#message-input'))) throw new Error('the input scrolled out of view');
  if (!(await inView(alice, '#room-title'))) throw new Error('the room header scrolled out of view');
  assertEqual(await alice.evaluate(() => document.scrollingElement.scrollHeight <= window.innerHeight), true,
    'the page itself does not scroll');
  ok();

  check('the name is kept across a reload');
  await alice.reload();
  await alice.waitForSelector('body[data-state="connected"]');
  await seeText(alice, '#me-name', 'alice');
  await seeText(alice, '#messages .message .text', 'message 100 of 100');
  ok();

  check('another page cannot take a name in use');
  const intruder = await (await browser.newContext({ viewport: { width: 800, height: 600 } })).newPage();
  intruder.setDefaultTimeout(TIMEOUT);
  await intruder.goto(url);
  await intruder.fill('#login-name', 'alice');
  await intruder.click('#login-button');
  await seeText(intruder, '#login-error', 'is in use');
  assertEqual(await intruder.evaluate(() => document.body.dataset.state), 'signed-out', 'the intruder\'s page');
  await intruder.context().close();
  ok();

  check('screenshots');
  await alice.screenshot({ path: join(artifacts, 'alice.png') });
  await bob.screenshot({ path: join(artifacts, 'bob.png') });
  ok();

  check('no errors on the pages');
  if (pageErrors.length) throw new Error(`errors on the pages:\n${pageErrors.join('\n')}`);
  ok();

  // With SHUTDOWN_SIGNAL_FILE, the test runner stops the chat once the file exists; both pages
  // must then show that the server closed them, and why. (Their retries then fail to fetch, as
  // they should while the chat is down, so page errors are no longer checked.)
  if (process.env.SHUTDOWN_SIGNAL_FILE) {
    check('the server shuts down: each page shows the clean close and its reason');
    writeFileSync(process.env.SHUTDOWN_SIGNAL_FILE, 'ready\n');
    for (const page of [alice, bob]) {
      await page.waitForSelector('body[data-state="closed"]', { timeout: 30_000 });
      await seeText(page, '#error', 'disconnected: the chat server is shutting down');
    }
    await alice.screenshot({ path: join(artifacts, 'alice-closed.png') });
    ok();
  }
  console.log('all checks passed');
} catch (err) {
  console.error(`not ok - ${step}: ${err.message}`);
  for (const [name, page] of [['alice', alice], ['bob', bob]]) {
    if (page) await page.screenshot({ path: join(artifacts, `failure-${name}.png`) }).catch(() => {});
  }
  if (pageErrors.length) console.error(`page errors:\n${pageErrors.join('\n')}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
