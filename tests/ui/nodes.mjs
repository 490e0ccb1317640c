#!/usr/bin/env node
// Browser test of the zos-orchestrator web UI (plain Node script, no runner).
//
//   npm ci --prefix tests/ui            # once: installs playwright-core
//   ZOS_URL=http://127.0.0.1:18080 ZOS_TOKEN=$(cat <data-dir>/admin.token) \
//   SCREENSHOT=/tmp/nodes.png node tests/ui/nodes.mjs
//
// Uses the system Chromium at /usr/bin/chromium (Debian package `chromium`).
// Exits non-zero with the reason on any failure.

import { randomBytes } from 'node:crypto';
import { setup, run, step, log, report, tid, apiCall, checkHealth, launch, openApp, signIn, waitLive, assertNotReloaded, checkPageHealthy, screenshot, waitModalClosed, LIVE_ROW_TIMEOUT_MS } from './harness.mjs';

const { url: ZOS_URL, token: ZOS_TOKEN } = await setup({ screenshotName: 'zos-ui-nodes.png', timeoutMs: 120_000 });

function rowSelector(id) {
  return `${tid('node-row')}[data-node-id="${id}"]`;
}

async function serverNode(id) {
  const res = await apiCall('GET', '/nodes');
  const node = Array.isArray(res.json) ? res.json.find((n) => n.id === id) : null;
  if (!node) throw new Error(`GET /nodes does not list ${id}`);
  return node;
}

const suffix = randomBytes(4).toString('hex');
const apiNodeId = `ui-test-${suffix}`;
const formNodeId = `ui-test-${suffix}-form`;
const created = new Set();

// ---- test --------------------------------------------------------------------

await run(async () => {
  await checkHealth();
  const page = await launch();

  await step(`open ${ZOS_URL}/ as a browser`, () => openApp(page));

  await step('sign in with the token', async () => {
    const { role, name } = await signIn(page, { landing: 'nodes-page' });
    log(`signed in as "${name}" (${role})`);
    if (page.url().includes(ZOS_TOKEN)) throw new Error('the token appears in the page URL');
    const stored = await page.evaluate(() => sessionStorage.getItem('zos.token'));
    if (stored !== ZOS_TOKEN) throw new Error('the token is not kept in sessionStorage["zos.token"]');
  });

  await step('wait for the node list and the live connection', async () => {
    await page.locator(`${tid('nodes-table')}, ${tid('nodes-empty')}`).first().waitFor({ state: 'visible' });
    await waitLive(page);
  });

  await step(`register node ${apiNodeId} through the API`, async () => {
    const res = await apiCall('POST', '/nodes', {
      id: apiNodeId,
      hostname: 'api-node',
      address: '127.0.0.10',
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
    await assertNotReloaded(page);
    const state = await page.locator(`${rowSelector(apiNodeId)} ${tid('state-badge')}`).getAttribute('data-state');
    log(`row shows state "${state}"`);
  });

  await step(`register node ${formNodeId} through the UI form`, async () => {
    await page.locator(tid('node-register')).click();
    const modal = page.locator(tid('register-modal'));
    await modal.waitFor({ state: 'visible' });
    await modal.locator(tid('node-form-id')).fill(formNodeId);
    await modal.locator(tid('node-form-hostname')).fill('form-node');
    await modal.locator(tid('node-form-address')).fill('127.0.0.11');
    await modal.locator(tid('label-add')).click();
    await modal.locator(tid('label-key')).last().fill('rack');
    await modal.locator(tid('label-value')).last().fill('r7');
    await modal.locator(tid('modal-submit')).click();
    await waitModalClosed(modal, 'register');
    created.add(formNodeId);
    await page.locator(rowSelector(formNodeId)).waitFor({ state: 'visible' });
    await page.locator(`${rowSelector(formNodeId)} ${tid('label-chip')}[data-key="rack"]`).waitFor({ state: 'visible' });
    const node = await serverNode(formNodeId);
    if (node.labels?.rack !== 'r7') throw new Error(`expected label rack=r7, server has ${JSON.stringify(node.labels)}`);
  });

  await step(`edit the labels of ${formNodeId} through the UI`, async () => {
    await page.locator(`${rowSelector(formNodeId)} ${tid('node-edit')}`).click();
    const modal = page.locator(tid('edit-labels-modal'));
    await modal.waitFor({ state: 'visible' });
    // remove rack=r7, add zone=z1
    const rackRow = modal.locator(tid('label-row')).filter({ has: page.locator(tid('label-key')) });
    const count = await rackRow.count();
    let removed = false;
    for (let i = 0; i < count; i += 1) {
      if ((await rackRow.nth(i).locator(tid('label-key')).inputValue()) === 'rack') {
        await rackRow.nth(i).locator(tid('label-remove')).click();
        removed = true;
        break;
      }
    }
    if (!removed) throw new Error('the edit modal does not show the existing label "rack"');
    await modal.locator(tid('label-add')).click();
    await modal.locator(tid('label-key')).last().fill('zone');
    await modal.locator(tid('label-value')).last().fill('z1');
    await modal.locator(tid('modal-submit')).click();
    await waitModalClosed(modal, 'edit labels');
    const row = page.locator(rowSelector(formNodeId));
    await row.locator(`${tid('label-chip')}[data-key="zone"]`).waitFor({ state: 'visible' });
    await row.locator(`${tid('label-chip')}[data-key="rack"]`).waitFor({ state: 'detached' });
    const labels = (await serverNode(formNodeId)).labels || {};
    if (labels.zone !== 'z1' || 'rack' in labels) {
      throw new Error(`expected labels {zone: z1} on the server, got ${JSON.stringify(labels)}`);
    }
  });

  await step(`delete ${formNodeId} through the confirmation modal`, async () => {
    await page.locator(`${rowSelector(formNodeId)} ${tid('node-delete')}`).click();
    const modal = page.locator(tid('delete-modal'));
    await modal.waitFor({ state: 'visible' });
    await modal.locator(tid('modal-submit')).click();
    await waitModalClosed(modal, 'delete');
    await page.locator(rowSelector(formNodeId)).waitFor({ state: 'detached', timeout: LIVE_ROW_TIMEOUT_MS });
    created.delete(formNodeId);
    const res = await apiCall('GET', '/nodes');
    if (Array.isArray(res.json) && res.json.some((n) => n.id === formNodeId)) {
      throw new Error(`GET /nodes still lists ${formNodeId}`);
    }
  });

  await step('the Audit page shows who changed the node, and a refused attempt', async () => {
    const anonymous = await apiCall('DELETE', `/nodes/${formNodeId}`, undefined, 'zos_0000000000000000_nope');
    if (anonymous.status !== 401) throw new Error(`DELETE without a valid token → HTTP ${anonymous.status}`);
    await page.locator(tid('nav-audit')).click();
    await page.locator(tid('audit-table')).waitFor({ state: 'visible' });
    const row = (attrs) => page.locator(`${tid('audit-row')}${Object.entries(attrs).map(([k, v]) => `[data-${k}="${v}"]`).join('')}`);
    const byAdmin = { actor: 'bootstrap-admin', path: `/nodes/${formNodeId}` };
    await row({ ...byAdmin, method: 'PATCH', status: '200' }).waitFor({ state: 'visible' });
    await row({ ...byAdmin, method: 'DELETE', status: '204' }).waitFor({ state: 'visible' });
    const created = row({ actor: 'bootstrap-admin', method: 'POST', path: '/nodes', status: '201' }).filter({ hasText: formNodeId });
    await created.first().waitFor({ state: 'visible' });
    const role = await row({ ...byAdmin, method: 'PATCH' }).locator(tid('audit-role')).textContent();
    if (role !== 'admin') throw new Error(`the PATCH row names role "${role}", not admin`);
    await row({ actor: 'anonymous', method: 'DELETE', status: '401' }).waitFor({ state: 'visible' });
    await page.locator(tid('audit-show-refused')).click();
    await page.waitForFunction(
      (sel) => {
        const rows = [...document.querySelectorAll(sel)];
        return rows.length > 0 && rows.every((r) => Number(r.dataset.status) >= 400);
      },
      `${tid('audit-row')}`,
      { timeout: LIVE_ROW_TIMEOUT_MS },
    );
    await page.locator(tid('nav-nodes')).click();
    await page.locator(tid('nodes-page')).waitFor({ state: 'visible' });
  });

  await checkPageHealthy(page);

  // the shot shows the page itself, with the API node's row
  await screenshot(page, () => page.locator(rowSelector(apiNodeId)).waitFor({ state: 'visible' }));
}, async () => {
  for (const id of created) await report(`DELETE /nodes/${id}`, () => apiCall('DELETE', `/nodes/${encodeURIComponent(id)}`));
});
