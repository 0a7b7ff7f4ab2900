// Drives the emulator's live trace page in headless Chromium: traffic on two hubs streams in
// (connections, group changes, messages, REST and upstream calls), the hub filter works, and
// client-chosen names are shown as text. Saves a screenshot.
//
//   TRACE_URL=http://127.0.0.1:8080/trace WS_ENDPOINT=ws://127.0.0.1:8080 node trace.mjs
//
// Env: TRACE_URL and WS_ENDPOINT (required; hubs "alpha" and "beta" accept anonymous clients),
// CHROMIUM (default /usr/bin/chromium), ARTIFACTS (default ./artifacts), DOCS_SCREENSHOT
// (optional path for the docs' screenshot).
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const traceUrl = process.env.TRACE_URL;
const wsEndpoint = process.env.WS_ENDPOINT;
if (!traceUrl || !wsEndpoint) {
  console.error('set TRACE_URL and WS_ENDPOINT');
  process.exit(2);
}
const artifacts = resolve(process.env.ARTIFACTS || join(here, 'artifacts'));
mkdirSync(artifacts, { recursive: true });
const TIMEOUT = 10_000;

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
let page;
let step = 'start';
const check = (name) => { step = name; };
const ok = () => console.log(`ok - ${step}`);

function row(kind, hub, title) {
  return page.locator(`#events tr[data-kind="${kind}"][data-hub="${hub}"]`).filter({ hasText: title }).first();
}

try {
  check('the page opens and goes live');
  const context = await browser.newContext({ viewport: { width: 1100, height: 560 }, deviceScaleFactor: 1 });
  page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('pageerror', (err) => pageErrors.push(err.message));
  // The REST call below is refused on purpose: its 401 is not an error of the page.
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !msg.text().includes('status of 401')) pageErrors.push(`console: ${msg.text()}`);
  });
  await page.goto(traceUrl);
  await page.waitForSelector('#status[data-state="live"]');
  await page.locator('#empty').waitFor({ state: 'visible' });
  ok();

  check('a client of hub alpha connects, joins a group, sends to it, and leaves');
  // The traffic comes from the page itself: a plain browser WebSocket, as any client.
  await page.evaluate(([endpoint]) => new Promise((done, failed) => {
    const ws = new WebSocket(`${endpoint}/client/hubs/alpha`, 'json.webpubsub.azure.v1');
    ws.onerror = () => failed(new Error('the alpha client failed'));
    ws.onmessage = (frame) => {
      const message = JSON.parse(frame.data);
      if (message.type === 'system' && message.event === 'connected') {
        ws.send(JSON.stringify({ type: 'joinGroup', group: '<img src=x onerror="window.pwned=1">', ackId: 1 }));
        ws.send(JSON.stringify({ type: 'sendToGroup', group: 'lobby', dataType: 'text', data: 'hi', ackId: 2 }));
      } else if (message.type === 'ack' && message.ackId === 2) {
        ws.close(1000);
        done();
      }
    };
  }), [wsEndpoint]);
  await row('upstream', 'alpha', 'azure.webpubsub.sys.connect').waitFor();
  await row('connection', 'alpha', 'connected').waitFor();
  await row('group', 'alpha', 'joinGroup').waitFor();
  await row('message', 'alpha', 'sendToGroup').waitFor();
  await row('connection', 'alpha', 'disconnected').waitFor();
  await row('upstream', 'alpha', 'azure.webpubsub.sys.disconnected').waitFor();
  ok();

  check('a group name with markup is shown as text, never run');
  await row('group', 'alpha', 'joinGroup').filter({ hasText: '<img src=x' }).waitFor();
  const injected = await page.evaluate(() => window.pwned === undefined && document.querySelector('#events img') === null);
  if (!injected) throw new Error('markup in a group name was interpreted');
  ok();

  check('a client of hub beta connects and a REST call without a token is refused');
  await page.evaluate(([endpoint]) => new Promise((done, failed) => {
    const ws = new WebSocket(`${endpoint}/client/hubs/beta`, 'json.webpubsub.azure.v1');
    ws.onerror = () => failed(new Error('the beta client failed'));
    ws.onopen = () => { window.betaClient = ws; done(); };
  }), [wsEndpoint]);
  await page.evaluate(() => fetch('/api/hubs/beta/:send?api-version=2024-12-01', { method: 'POST', body: 'x' }));
  await row('connection', 'beta', 'connected').waitFor();
  const rest = row('rest', 'beta', 'POST /api/hubs/beta/:send');
  await rest.waitFor();
  if (!(await rest.getAttribute('class') || '').includes('failed')) throw new Error('the 401 is not marked as failed');
  await rest.filter({ hasText: 'status=401' }).waitFor();
  ok();

  check('the hub filter shows one hub');
  await page.selectOption('#hub', 'beta');
  await row('connection', 'beta', 'connected').waitFor({ state: 'visible' });
  await row('connection', 'alpha', 'connected').waitFor({ state: 'hidden' });
  await page.screenshot({ path: join(artifacts, 'trace-beta.png') });
  await page.selectOption('#hub', '');
  await row('connection', 'alpha', 'connected').waitFor({ state: 'visible' });
  ok();

  check('the kind filter hides a kind');
  await page.uncheck('#kinds input[value="upstream"]');
  await row('upstream', 'alpha', 'azure.webpubsub.sys.connect').waitFor({ state: 'hidden' });
  await page.check('#kinds input[value="upstream"]');
  ok();

  check('screenshots');
  await page.screenshot({ path: join(artifacts, 'trace.png') });
  if (process.env.DOCS_SCREENSHOT) await page.screenshot({ path: resolve(process.env.DOCS_SCREENSHOT) });
  ok();

  check('no errors on the page');
  if (pageErrors.length) throw new Error(`errors on the page:\n${pageErrors.join('\n')}`);
  ok();
  console.log('all checks passed');
} catch (err) {
  console.error(`not ok - ${step}: ${err.message}`);
  if (page) await page.screenshot({ path: join(artifacts, 'failure-trace.png') }).catch(() => {});
  if (pageErrors.length) console.error(`page errors:\n${pageErrors.join('\n')}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
