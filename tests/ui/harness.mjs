// Shared harness of the browser tests in this folder (plain Node, no runner):
// preconditions, step logging, the pass/fail verdict, the browser, sign-in,
// a demo node's tabs, waiting, form helpers (field errors, submit and close,
// the jobs a create form follows) and the screenshots.
//
// A test calls setup() first (it exits loudly when something is missing),
// then runs its steps inside run().

import { accessSync, constants as fsConstants, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { tmpdir } from 'node:os';

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
export const STEP_TIMEOUT_MS = 10_000;
export const LIVE_ROW_TIMEOUT_MS = 5_000;
const VIEWPORT = { width: 1280, height: 800 };

/** `[data-testid="x"]` */
export const tid = (id) => `[data-testid="${id}"]`;

const started = Date.now();
export function log(msg) {
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

const errorText = (err) => (err && err.message ? err.message : String(err));

// ---- preconditions ---------------------------------------------------------

let config = null; // {url, token, screenshot, chromium}
let watchdog = null;

/**
 * Reads ZOS_URL, ZOS_TOKEN and SCREENSHOT, checks for Chromium and
 * playwright-core and starts the overall watchdog; exits with the reason when
 * anything is missing. Returns {url, token, screenshot}.
 */
export async function setup({ screenshotName, timeoutMs }) {
  const url = (process.env.ZOS_URL || '').replace(/\/+$/, '');
  const token = (process.env.ZOS_TOKEN || '').trim();
  const screenshot = resolve(process.env.SCREENSHOT || `${tmpdir()}/${screenshotName}`);

  if (!url) die('ZOS_URL is not set (e.g. ZOS_URL=http://127.0.0.1:18080).');
  if (!/^https?:\/\//.test(url)) die(`ZOS_URL must start with http:// or https:// (got "${url}").`);
  if (!token) die('ZOS_TOKEN is not set (use the admin token from <data-dir>/admin.token).');
  if (!process.env.SCREENSHOT) log(`SCREENSHOT not set, writing to ${screenshot}`);

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

  watchdog = setTimeout(() => die(`test did not finish within ${timeoutMs / 1000}s`), timeoutMs);
  watchdog.unref();
  config = { url, token, screenshot, chromium };
  return { url, token, screenshot };
}

// ---- running -----------------------------------------------------------------

let browser = null;
const pageErrors = [];

/**
 * Runs the test body and prints the verdict; then always runs cleanup (which
 * logs rather than throws), closes the browser and stops the watchdog.
 */
export async function run(body, cleanup = null) {
  try {
    await body();
    finish(true);
  } catch (err) {
    finish(false, errorText(err));
  } finally {
    if (cleanup) await cleanup();
    if (browser) await browser.close().catch(() => {});
    clearTimeout(watchdog);
  }
}

let stepNo = 0;
export async function step(name, fn) {
  stepNo += 1;
  const label = `step ${stepNo}: ${name}`;
  log(`${label} …`);
  const t0 = Date.now();
  try {
    const out = await fn();
    log(`${label} — ok (${Date.now() - t0} ms)`);
    return out;
  } catch (err) {
    throw new Error(`${label} failed: ${errorText(err).split('\n')[0]}`);
  }
}

/** Logs what cleanup call did; never throws. */
export async function report(what, call) {
  try {
    const res = await call();
    log(`cleanup: ${what} → HTTP ${res.status}`);
  } catch (err) {
    log(`cleanup: ${what} failed: ${err.message}`);
  }
}

// ---- API -----------------------------------------------------------------------

/** One API request; resolves to {status, json, text}, throws only when the server is unreachable. */
export async function apiCall(method, path, body, token = config.token) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(`${config.url}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new Error(`${method} ${path}: cannot reach ${config.url} (${err.cause?.code || err.message})`);
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

/** apiCall that throws unless the status is the expected one; resolves to the JSON body. */
export async function apiOk(method, path, body, expected = 200) {
  const res = await apiCall(method, path, body);
  if (res.status !== expected) throw new Error(`${method} ${path} → HTTP ${res.status}: ${res.text.slice(0, 300)}`);
  return res.json;
}

/** Step: GET /health answers. */
export function checkHealth() {
  const { url } = config;
  return step(`server reachable (GET ${url}/health)`, async () => {
    let res;
    try {
      res = await fetch(`${url}/health`, { headers: { Accept: 'application/json' } });
    } catch (err) {
      throw new Error(`cannot reach ${url} (${err.cause?.code || err.message}); is the server running?`);
    }
    const body = await res.text();
    if (!res.ok) throw new Error(`GET /health → HTTP ${res.status}: ${body.slice(0, 200)}`);
    log(`health: ${body.slice(0, 300)}`);
  });
}

// ---- browser ---------------------------------------------------------------------

/** Step: starts Chromium; resolves to a page that records uncaught errors. */
export async function launch() {
  browser = await step('launch chromium', () =>
    config.chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 }),
  );
  log(`chromium ${browser.version()}`);
  const context = await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: 1 });
  const page = await watchedPage(context, null);
  page.on('console', (msg) => {
    if (msg.type() === 'error') log(`browser console error: ${msg.text()}`);
  });
  return page;
}

/** A second browser context (e.g. for another role), closed by the caller; its page errors count too. */
export async function newPage(label) {
  const context = await browser.newContext({ viewport: VIEWPORT });
  const page = await watchedPage(context, label);
  return { context, page };
}

/**
 * A page of `context` whose faults land in pageErrors (checked by checkPageHealthy): uncaught errors, anything
 * the server's Content-Security-Policy blocked (the UI must work under it), and a request whose URL carries the
 * test's token (tokens go in the Authorization header only, never in URLs, where logs and history keep them).
 */
async function watchedPage(context, label) {
  const fault = (what) => {
    pageErrors.push(label ? `${label}: ${what}` : what);
    log(`browser: ${what}`);
  };
  await context.exposeBinding('__cspViolation', (_source, text) => fault(`CSP violation: ${text}`));
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolation(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber})`);
    });
  });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on('pageerror', (err) => fault(`uncaught error: ${err.message}`));
  page.on('request', (request) => {
    if (config.token && request.url().includes(config.token)) fault(`the token is in a URL: ${request.method()} ${request.url()}`);
  });
  return page;
}

/**
 * With an admin token: creates a viewer token, signs it in in a second browser
 * context and runs fn(page); then closes the context and revokes the token.
 * Resolves to false (and logs why) when the test's token is not an admin's.
 */
export async function asViewer(role, tokenName, fn) {
  if (role !== 'admin') {
    log('skipping the viewer check: creating a viewer token needs an admin token');
    return false;
  }
  const created = await apiOk('POST', '/tokens', { name: tokenName, role: 'viewer' }, 201);
  const { context, page } = await newPage('viewer');
  try {
    await openApp(page);
    await signIn(page, { token: created.token, writer: false });
    await fn(page);
  } finally {
    await context.close();
    await report(`DELETE /tokens/${created.id}`, () => apiCall('DELETE', `/tokens/${created.id}`));
  }
  return true;
}

/** Opens / as a browser does (an HTML page) and waits for the sign-in form. */
export async function openApp(page) {
  const res = await page.goto(`${config.url}/`, { waitUntil: 'domcontentloaded' });
  if (!res) throw new Error('no response');
  if (res.status() !== 200) throw new Error(`HTTP ${res.status()} for /`);
  const ct = res.headers()['content-type'] || '';
  if (!ct.includes('text/html')) throw new Error(`expected text/html for a browser navigation, got "${ct}"`);
  if (!res.headers()['content-security-policy']) throw new Error('the UI page came without a Content-Security-Policy');
  await page.locator(tid('signin-page')).waitFor({ state: 'visible' });
}

/**
 * Signs in with the token and waits for `landing` (a testid) or a sign-in
 * error; with `writer`, insists on an admin or operator token. Resolves to
 * {role, name}.
 */
export async function signIn(page, { token = config.token, landing = 'app-shell', writer = true } = {}) {
  await page.locator(tid('signin-token')).fill(token);
  await page.locator(tid('signin-submit')).click();
  const outcome = await firstOf({
    ok: () => page.locator(tid(landing)).isVisible(),
    error: () => page.locator(tid('signin-error')).isVisible(),
  });
  if (outcome === null) throw new Error(`neither the ${landing} nor a sign-in error appeared`);
  if (outcome === 'error') throw new Error(`sign-in rejected: ${await page.locator(tid('signin-error')).textContent()}`);
  const role = (await page.locator(tid('user-role')).textContent()).trim();
  const name = (await page.locator(tid('user-name')).textContent()).trim();
  if (writer && role !== 'admin' && role !== 'operator') {
    throw new Error(`the token's role is "${role}"; this test needs an admin (or operator) token`);
  }
  return { role, name };
}

/** Waits for the live indicator to say "live", then marks the page so that a reload shows. */
export async function waitLive(page) {
  try {
    await page.locator(`${tid('live-indicator')}[data-state="live"]`).waitFor({ state: 'attached' });
  } catch {
    const state = await page.locator(tid('live-indicator')).getAttribute('data-state').catch(() => null);
    throw new Error(`the live indicator is "${state}", not "live", after ${STEP_TIMEOUT_MS} ms (GET /events not streaming?)`);
  }
  await page.evaluate(() => {
    window.__noReload = true;
  });
}

export async function assertNotReloaded(page) {
  if (!(await page.evaluate(() => window.__noReload === true))) {
    throw new Error('window.__noReload is gone: the page was reloaded');
  }
}

/** Step: the page kept its waitLive() mark and no page had an uncaught error, CSP violation or token in a URL. */
export function checkPageHealthy(page) {
  return step('the page was never reloaded and has no uncaught errors, CSP violations or tokens in URLs', async () => {
    await assertNotReloaded(page);
    if (pageErrors.length) throw new Error(`faults in the page: ${pageErrors.join(' | ')}`);
  });
}

/** Step: full-page screenshot to SCREENSHOT, once the toasts have faded. */
export function screenshot(page, prepare = async () => {}) {
  const path = config.screenshot;
  return step(`full-page screenshot → ${path}`, async () => {
    await prepare();
    await page
      .locator(tid('toast'))
      .first()
      .waitFor({ state: 'detached', timeout: 8_000 })
      .catch(() => {});
    await page.mouse.move(0, 0);
    await page.evaluate(() => window.scrollTo(0, 0));
    mkdirSync(dirname(path), { recursive: true });
    await page.screenshot({ path, fullPage: true });
  });
}

/**
 * Step: a screenshot of one view beside SCREENSHOT ("<SCREENSHOT minus .png>-<name>.png");
 * fullPage=false keeps what the viewport shows (e.g. an open dialog). Resolves to its path.
 */
export function shot(page, name, { fullPage = true } = {}) {
  const path = config.screenshot.replace(/\.png$/, '') + `-${name}.png`;
  return step(`screenshot of ${name} → ${path}`, async () => {
    await page.mouse.move(0, 0);
    mkdirSync(dirname(path), { recursive: true });
    await page.screenshot({ path, fullPage });
    return path;
  });
}

// ---- waiting ---------------------------------------------------------------------

/** Polls until one of the conditions holds; resolves to its name, or null on timeout. */
export async function firstOf(conditions, timeout = STEP_TIMEOUT_MS) {
  const deadline = Date.now() + timeout;
  for (;;) {
    for (const [name, check] of Object.entries(conditions)) {
      if (await check().catch(() => false)) return name;
    }
    if (Date.now() > deadline) return null;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits for a submitted modal to close; throws with the form's error if it shows one. */
export async function waitModalClosed(modal, what) {
  const errors = modal.locator(`${tid('modal-error')}:visible, .field-message:visible`);
  const outcome = await firstOf({
    closed: async () => (await modal.count()) === 0,
    error: async () => (await errors.count()) > 0,
  });
  if (outcome === 'error') {
    throw new Error(`the ${what} form shows an error: ${(await errors.first().textContent()).trim()}`);
  }
  if (outcome === null) throw new Error(`the ${what} modal did not close within ${STEP_TIMEOUT_MS} ms`);
}

/** Polls `check` (resolving to true when done); on timeout throws `describe` (a text, or a function resolving to one). */
export async function until(check, describe, timeout = LIVE_ROW_TIMEOUT_MS) {
  const outcome = await firstOf({ ok: check }, timeout);
  if (outcome === null) throw new Error(typeof describe === 'function' ? await describe() : describe);
}

/** The trimmed text of a locator. */
export const text = async (locator) => ((await locator.textContent()) || '').trim();

// ---- a demo node ------------------------------------------------------------------

/** Whether the server answers every change with a job to follow (APPLY_WAIT=0: it runs with --apply-wait 0). */
export const JOBS_FIRST = process.env.APPLY_WAIT === '0';

/**
 * Steps: the server answers, Chromium runs, the page is signed in (an admin
 * or operator token) and the Nodes page lists an online emulated node (the
 * server runs with --demo). Resolves to {page, role, nodeId}.
 */
export async function startOnDemoNode() {
  await checkHealth();
  const page = await launch();
  log(`mode: ${JOBS_FIRST ? 'every change is a job to follow (--apply-wait 0)' : 'the server waits for the node'}`);
  const role = await signInStep(page);
  const nodeId = await onlineDemoNode(page);
  return { page, role, nodeId };
}

async function signInStep(page) {
  await step(`open ${config.url}/ and sign in`, async () => {
    await openApp(page);
    const { role, name } = await signIn(page, { landing: 'nodes-page', writer: true });
    log(`signed in as "${name}" (${role})`);
  });
  return text(page.locator(tid('user-role')));
}

function onlineDemoNode(page) {
  return step('the Nodes page lists an online emulated node', async () => {
    const online = page.locator(tid('node-row')).filter({ has: page.locator(tid('node-emulated')) }).filter({ has: page.locator(`${tid('state-badge')}[data-state="online"]`) });
    await until(async () => (await online.count()) >= 1, 'no online emulated node: is the server running with --demo 2?');
    await waitLive(page);
    return online.first().getAttribute('data-node-id');
  });
}

/**
 * Launches the browser and, as step `name`, signs in (landing on the Nodes page), waits for the live stream, opens
 * page `nav` and waits for `shown`. Resolves to the page.
 */
export async function launchOnPage(name, nav, shown) {
  const page = await launch();
  await step(name, async () => {
    await openApp(page);
    await signIn(page, { landing: 'nodes-page' });
    await waitLive(page);
    await page.locator(tid(nav)).click();
    await page.locator(tid(shown)).waitFor({ state: 'visible' });
  });
  return page;
}

/** Opens node `nodeId`'s page from the Nodes page. */
export async function openNode(page, nodeId) {
  await page.locator(`${tid('node-row')}[data-node-id="${nodeId}"] ${tid('node-id')}`).click();
  await page.locator(tid('node-page')).waitFor({ state: 'visible' });
}

/** Shows the node page's tab `key`, checks that the address names it, and resolves to its panel. */
export async function openNodeTab(page, key) {
  const panel = page.locator(tid(`node-tabs-panel-${key}`));
  await page.locator(tid(`node-tabs-${key}`)).click();
  await panel.waitFor({ state: 'visible' });
  if (!new URL(page.url()).hash.endsWith(`?tab=${key}`)) throw new Error(`the address does not name the tab: ${new URL(page.url()).hash}`);
  return panel;
}

/**
 * Opens node `nodeId`, then its tab `key`, and waits for the tab to list what the API has at `listPath`: as many
 * `row` rows, or the `empty` placeholder when there is none. Resolves to that count (`what` names the rows).
 */
export async function openNodeTabListing(page, nodeId, key, { listPath, row, empty, what }) {
  await openNode(page, nodeId);
  const panel = await openNodeTab(page, key);
  const count = (await apiOk('GET', listPath)).length;
  if (count === 0) await panel.locator(tid(empty)).waitFor({ state: 'visible' });
  else await until(async () => (await panel.locator(tid(row)).count()) === count, `the list does not show the ${count} ${what} the API has`);
  return count;
}

/** Shows the node page's tab `key`, waits for its `table` (or `empty`), then clicks `create` and waits for `modal`. */
export async function openTabForm(page, key, { table, empty, create, modal }) {
  const panel = await openNodeTab(page, key);
  await panel.locator(`${tid(table)}, ${tid(empty)}`).first().waitFor({ state: 'visible' });
  await panel.locator(tid(create)).click();
  await modal.waitFor({ state: 'visible' });
}

// ---- forms -------------------------------------------------------------------------

/**
 * Submits `modal` and waits for the message next to field `name` (the field
 * and its input marked invalid, the general error box hidden); resolves to
 * the message.
 */
export async function expectFieldError(modal, name, pattern) {
  await modal.locator(tid('modal-submit')).click();
  const msg = modal.locator(`[data-field="${name}"] .field-message`);
  await until(() => msg.isVisible(), async () => {
    const general = modal.locator(tid('modal-error'));
    return `no message next to the ${name} field` + ((await general.isVisible()) ? ` (the form says: "${await text(general)}")` : '');
  }, 15_000);
  const said = await text(msg);
  if (!pattern.test(said)) throw new Error(`the ${name} field says "${said}", expected ${pattern}`);
  const wrap = modal.locator(`[data-field="${name}"]`);
  if (!(await wrap.evaluate((el) => el.classList.contains('field-invalid')))) throw new Error(`the ${name} field is not marked invalid`);
  if (!(await wrap.getAttribute('data-multi')) && (await wrap.locator('[aria-invalid="true"]').count()) !== 1) throw new Error(`the ${name} input is not marked invalid`);
  if (await modal.locator(tid('modal-error')).isVisible()) throw new Error('the general error box shows too');
  log(`${name}: "${said}"`);
  return said;
}

/** Clicks `button`, checks that the confirmation dialog `modalId` names `name` (`what` it is), and confirms `action`. */
export async function confirmDialog(page, button, modalId, { name, what, action }) {
  await button.click();
  const confirm = page.locator(tid(modalId));
  await confirm.waitFor({ state: 'visible' });
  if (!(await text(confirm)).includes(name)) throw new Error(`the dialog does not name ${what}`);
  await submitAndClose(confirm, action);
}

/** Submits `modal` and waits (15 s: the node may be slow) for it to close; else throws with the error it shows. */
export async function submitAndClose(modal, what) {
  await modal.locator(tid('modal-submit')).click();
  await until(async () => (await modal.count()) === 0, async () => `the ${what} form is still open: ${await text(modal.locator('.form-error:visible, .field-message:visible').first()).catch(() => '')}`, 15_000);
}

/**
 * Records the jobs the create forms follow (a wait box "<x>-form-wait" in its
 * "job" phase) from now on; resolves to a function that reads them: {testid: [job ids]}.
 */
export async function recordFollowedJobs(page) {
  await page.evaluate(() => {
    window.__followed = {};
    new MutationObserver(() => {
      for (const w of document.querySelectorAll('[data-testid$="-form-wait"][data-phase="job"]')) {
        const ids = (window.__followed[w.dataset.testid] ||= []);
        if (w.dataset.jobId && !ids.includes(w.dataset.jobId)) ids.push(w.dataset.jobId);
      }
    }).observe(document.body, { subtree: true, childList: true, attributes: true });
  });
  return () => page.evaluate(() => window.__followed);
}
