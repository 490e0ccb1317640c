#!/usr/bin/env node
// Browser test of the zos-orchestrator web UI (plain Node script, no runner).
//
//   npm ci --prefix tests/ui            # once: installs playwright-core
//   ZOS_URL=http://127.0.0.1:18080 ZOS_TOKEN=$(cat <data-dir>/admin.token) \
//   SCREENSHOT=/tmp/nodes.png node tests/ui/nodes.mjs
//
// Uses the system Chromium at /usr/bin/chromium (Debian package `chromium`).
// Exits non-zero with the reason on any failure.

import { accessSync, constants as fsConstants, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const OVERALL_TIMEOUT_MS = 120_000;
const STEP_TIMEOUT_MS = 10_000;
const LIVE_ROW_TIMEOUT_MS = 5_000;

const started = Date.now();
function log(msg) {
  const t = ((Date.now() - started) / 1000).toFixed(1).padStart(5);
  console.log(`[ui ${t}s] ${msg}`);
}

let finished = false;
function finish(ok, reason = '') {
  if (finished) return;
  finished = true;
  if (ok) {
    console.log('ui: 1 passed, 0 failed');
    process.exitCode = 0;
  } else {
    console.error(`\nFAIL: ${reason}`);
    console.log('ui: 0 passed, 1 failed');
    process.exitCode = 1;
  }
}

function die(reason) {
  finish(false, reason);
  process.exit(1);
}

// ---- preconditions ---------------------------------------------------------

const ZOS_URL = (process.env.ZOS_URL || '').replace(/\/+$/, '');
const ZOS_TOKEN = (process.env.ZOS_TOKEN || '').trim();
const SCREENSHOT = resolve(process.env.SCREENSHOT || `${tmpdir()}/zos-ui-nodes.png`);

if (!ZOS_URL) die('ZOS_URL is not set (e.g. ZOS_URL=http://127.0.0.1:18080).');
if (!/^https?:\/\//.test(ZOS_URL)) die(`ZOS_URL must start with http:// or https:// (got "${ZOS_URL}").`);
if (!ZOS_TOKEN) die('ZOS_TOKEN is not set (use the admin token from <data-dir>/admin.token).');
if (!process.env.SCREENSHOT) log(`SCREENSHOT not set, writing to ${SCREENSHOT}`);

try {
  accessSync(CHROMIUM, fsConstants.X_OK);
} catch {
  die(`Chromium not found at ${CHROMIUM}. Install it with: apt-get install -y chromium`);
}

let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (err) {
  die(
    `playwright-core is not installed (${err.code || err.message}). ` +
      'Install it with: npm ci --prefix tests/ui',
  );
}

const watchdog = setTimeout(() => die(`test did not finish within ${OVERALL_TIMEOUT_MS / 1000}s`), OVERALL_TIMEOUT_MS);
watchdog.unref();

// ---- helpers -----------------------------------------------------------------

async function apiCall(method, path, body) {
  const headers = { Authorization: `Bearer ${ZOS_TOKEN}`, Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(`${ZOS_URL}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new Error(`${method} ${path}: cannot reach ${ZOS_URL} (${err.cause?.code || err.message})`);
  }
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON */
  }
  return { status: res.status, json, text };
}

let stepNo = 0;
async function step(name, fn) {
  stepNo += 1;
  const label = `step ${stepNo}: ${name}`;
  log(`${label} …`);
  const t0 = Date.now();
  try {
    const out = await fn();
    log(`${label} — ok (${Date.now() - t0} ms)`);
    return out;
  } catch (err) {
    const msg = (err && err.message ? err.message : String(err)).split('\n')[0];
    throw new Error(`${label} failed: ${msg}`);
  }
}

function rowSelector(id) {
  return `[data-testid="node-row"][data-node-id="${id}"]`;
}

const suffix = randomBytes(4).toString('hex');
const apiNodeId = `ui-test-${suffix}`;
const formNodeId = `ui-test-${suffix}-form`;
const created = new Set();

// ---- test --------------------------------------------------------------------

let browser;
const pageErrors = [];
try {
  await step(`server reachable (GET ${ZOS_URL}/health)`, async () => {
    let res;
    try {
      res = await fetch(`${ZOS_URL}/health`, { headers: { Accept: 'application/json' } });
    } catch (err) {
      throw new Error(`cannot reach ${ZOS_URL} (${err.cause?.code || err.message}); is the server running?`);
    }
    const body = await res.text();
    if (!res.ok) throw new Error(`GET /health → HTTP ${res.status}: ${body.slice(0, 200)}`);
    log(`health: ${body.slice(0, 200)}`);
  });

  browser = await step('launch chromium', () =>
    chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 }),
  );
  log(`chromium ${browser.version()}`);
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on('pageerror', (err) => {
    pageErrors.push(err.message);
    log(`browser: uncaught error: ${err.message}`);
  });
  page.on('console', (msg) => {
    if (msg.type() === 'error') log(`browser console error: ${msg.text()}`);
  });

  await step(`open ${ZOS_URL}/ as a browser`, async () => {
    const res = await page.goto(`${ZOS_URL}/`, { waitUntil: 'domcontentloaded' });
    if (!res) throw new Error('no response');
    const ct = res.headers()['content-type'] || '';
    if (res.status() !== 200) throw new Error(`HTTP ${res.status()} for /`);
    if (!ct.includes('text/html')) throw new Error(`expected text/html for a browser navigation, got "${ct}"`);
    await page.locator('[data-testid="signin-page"]').waitFor({ state: 'visible' });
  });

  await step('sign in with the token', async () => {
    await page.locator('[data-testid="signin-token"]').fill(ZOS_TOKEN);
    await page.locator('[data-testid="signin-submit"]').click();
    const outcome = await firstOf({
      ok: () => page.locator('[data-testid="nodes-page"]').isVisible(),
      error: () => page.locator('[data-testid="signin-error"]').isVisible(),
    });
    if (outcome === null) throw new Error('neither the Nodes page nor a sign-in error appeared');
    if (outcome === 'error') {
      const text = await page.locator('[data-testid="signin-error"]').textContent();
      throw new Error(`sign-in rejected: ${text}`);
    }
    const role = (await page.locator('[data-testid="user-role"]').textContent()).trim();
    const name = (await page.locator('[data-testid="user-name"]').textContent()).trim();
    log(`signed in as "${name}" (${role})`);
    if (role !== 'admin' && role !== 'operator') {
      throw new Error(`the token's role is "${role}"; this test needs an admin (or operator) token`);
    }
    if (page.url().includes(ZOS_TOKEN)) throw new Error('the token appears in the page URL');
    const stored = await page.evaluate(() => sessionStorage.getItem('zos.token'));
    if (stored !== ZOS_TOKEN) throw new Error('the token is not kept in sessionStorage["zos.token"]');
  });

  await step('wait for the node list and the live connection', async () => {
    await page
      .locator('[data-testid="nodes-table"], [data-testid="nodes-empty"]')
      .first()
      .waitFor({ state: 'visible' });
    try {
      await page.locator('[data-testid="live-indicator"][data-state="live"]').waitFor({ state: 'attached' });
    } catch {
      const state = await page.locator('[data-testid="live-indicator"]').getAttribute('data-state').catch(() => null);
      throw new Error(`the live indicator is "${state}", not "live", after ${STEP_TIMEOUT_MS} ms (GET /events not streaming?)`);
    }
    await page.evaluate(() => {
      window.__noReload = true;
    });
  });

  await step(`register node ${apiNodeId} through the API`, async () => {
    const res = await apiCall('POST', '/nodes', {
      id: apiNodeId,
      hostname: 'api-node',
      address: '10.250.0.10',
      labels: { source: 'api', rack: 'r9' },
    });
    if (res.status !== 201) throw new Error(`POST /nodes → HTTP ${res.status}: ${res.text.slice(0, 300)}`);
    created.add(apiNodeId);
  });

  await step(`row for ${apiNodeId} appears live (≤ ${LIVE_ROW_TIMEOUT_MS / 1000} s, no reload)`, async () => {
    try {
      await page.locator(rowSelector(apiNodeId)).waitFor({ state: 'visible', timeout: LIVE_ROW_TIMEOUT_MS });
    } catch {
      throw new Error(`the row did not appear within ${LIVE_ROW_TIMEOUT_MS} ms (is GET /events delivering changes?)`);
    }
    const marker = await page.evaluate(() => window.__noReload === true);
    if (!marker) throw new Error('window.__noReload is gone: the page was reloaded');
    const state = await page.locator(`${rowSelector(apiNodeId)} [data-testid="state-badge"]`).getAttribute('data-state');
    log(`row shows state "${state}"`);
  });

  await step(`register node ${formNodeId} through the UI form`, async () => {
    await page.locator('[data-testid="node-register"]').click();
    const modal = page.locator('[data-testid="register-modal"]');
    await modal.waitFor({ state: 'visible' });
    await modal.locator('[data-testid="node-form-id"]').fill(formNodeId);
    await modal.locator('[data-testid="node-form-hostname"]').fill('form-node');
    await modal.locator('[data-testid="node-form-address"]').fill('10.250.0.11');
    await modal.locator('[data-testid="label-add"]').click();
    await modal.locator('[data-testid="label-key"]').last().fill('rack');
    await modal.locator('[data-testid="label-value"]').last().fill('r7');
    await modal.locator('[data-testid="modal-submit"]').click();
    await waitModalClosed(modal, 'register');
    created.add(formNodeId);
    await page.locator(rowSelector(formNodeId)).waitFor({ state: 'visible' });
    await page.locator(`${rowSelector(formNodeId)} [data-testid="label-chip"][data-key="rack"]`).waitFor({ state: 'visible' });
    const res = await apiCall('GET', '/nodes');
    const node = Array.isArray(res.json) ? res.json.find((n) => n.id === formNodeId) : null;
    if (!node) throw new Error(`GET /nodes does not list ${formNodeId}`);
    if (node.labels?.rack !== 'r7') throw new Error(`expected label rack=r7, server has ${JSON.stringify(node.labels)}`);
  });

  await step(`edit the labels of ${formNodeId} through the UI`, async () => {
    await page.locator(`${rowSelector(formNodeId)} [data-testid="node-edit"]`).click();
    const modal = page.locator('[data-testid="edit-labels-modal"]');
    await modal.waitFor({ state: 'visible' });
    // remove rack=r7, add zone=z1
    const rackRow = modal.locator('[data-testid="label-row"]').filter({
      has: page.locator('[data-testid="label-key"]'),
    });
    const count = await rackRow.count();
    let removed = false;
    for (let i = 0; i < count; i += 1) {
      if ((await rackRow.nth(i).locator('[data-testid="label-key"]').inputValue()) === 'rack') {
        await rackRow.nth(i).locator('[data-testid="label-remove"]').click();
        removed = true;
        break;
      }
    }
    if (!removed) throw new Error('the edit modal does not show the existing label "rack"');
    await modal.locator('[data-testid="label-add"]').click();
    await modal.locator('[data-testid="label-key"]').last().fill('zone');
    await modal.locator('[data-testid="label-value"]').last().fill('z1');
    await modal.locator('[data-testid="modal-submit"]').click();
    await waitModalClosed(modal, 'edit labels');
    const row = page.locator(rowSelector(formNodeId));
    await row.locator('[data-testid="label-chip"][data-key="zone"]').waitFor({ state: 'visible' });
    await row.locator('[data-testid="label-chip"][data-key="rack"]').waitFor({ state: 'detached' });
    const res = await apiCall('GET', '/nodes');
    const node = Array.isArray(res.json) ? res.json.find((n) => n.id === formNodeId) : null;
    if (!node) throw new Error(`GET /nodes does not list ${formNodeId}`);
    const labels = node.labels || {};
    if (labels.zone !== 'z1' || 'rack' in labels) {
      throw new Error(`expected labels {zone: z1} on the server, got ${JSON.stringify(labels)}`);
    }
  });

  await step(`delete ${formNodeId} through the confirmation modal`, async () => {
    await page.locator(`${rowSelector(formNodeId)} [data-testid="node-delete"]`).click();
    const modal = page.locator('[data-testid="delete-modal"]');
    await modal.waitFor({ state: 'visible' });
    await modal.locator('[data-testid="modal-submit"]').click();
    await waitModalClosed(modal, 'delete');
    await page.locator(rowSelector(formNodeId)).waitFor({ state: 'detached', timeout: LIVE_ROW_TIMEOUT_MS });
    created.delete(formNodeId);
    const res = await apiCall('GET', '/nodes');
    if (Array.isArray(res.json) && res.json.some((n) => n.id === formNodeId)) {
      throw new Error(`GET /nodes still lists ${formNodeId}`);
    }
  });

  await step('the page was never reloaded and has no uncaught errors', async () => {
    const marker = await page.evaluate(() => window.__noReload === true);
    if (!marker) throw new Error('window.__noReload is gone: the page was reloaded');
    if (pageErrors.length) throw new Error(`uncaught errors in the page: ${pageErrors.join(' | ')}`);
  });

  await step(`full-page screenshot → ${SCREENSHOT}`, async () => {
    await page.locator(rowSelector(apiNodeId)).waitFor({ state: 'visible' });
    // let success toasts fade so the shot shows the page itself
    await page
      .locator('[data-testid="toast"]')
      .first()
      .waitFor({ state: 'detached', timeout: 8_000 })
      .catch(() => {});
    await page.mouse.move(0, 0);
    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  finish(true);
} catch (err) {
  finish(false, err && err.message ? err.message : String(err));
} finally {
  for (const id of created) {
    try {
      const res = await apiCall('DELETE', `/nodes/${encodeURIComponent(id)}`);
      log(`cleanup: DELETE /nodes/${id} → HTTP ${res.status}`);
    } catch (err) {
      log(`cleanup: could not delete ${id}: ${err.message}`);
    }
  }
  if (browser) await browser.close().catch(() => {});
  clearTimeout(watchdog);
}

// Polls until one of the conditions holds; returns its name.
async function firstOf(conditions, timeout = STEP_TIMEOUT_MS) {
  const deadline = Date.now() + timeout;
  for (;;) {
    for (const [name, check] of Object.entries(conditions)) {
      if (await check().catch(() => false)) return name;
    }
    if (Date.now() > deadline) return null;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function waitModalClosed(modal, what) {
  const errors = modal.locator('[data-testid="modal-error"]:visible, .field-message:visible');
  const outcome = await firstOf({
    closed: async () => (await modal.count()) === 0,
    error: async () => (await errors.count()) > 0,
  });
  if (outcome === 'error') {
    throw new Error(`the ${what} form shows an error: ${(await errors.first().textContent()).trim()}`);
  }
  if (outcome === null) throw new Error(`the ${what} modal did not close within ${STEP_TIMEOUT_MS} ms`);
}
