#!/usr/bin/env node
// Browser test of ZeroTier discovery in the web UI (plain Node script, no runner):
// a pending member shows on the Nodes page, an operator authorises it there,
// and it becomes a node (online) that the authorised members' list links to.
//
// Needs a server with discovery on (ZOS_ZEROTIER_TOKEN, the boot settings'
// zerotierNetwork) against a ZeroTier Central stand-in that has the pending
// member abcdef0123 whose address reaches an emulated node's 0-core:
//
//   ZOS_URL=http://127.0.0.1:18580 ZOS_TOKEN=$(cat <data-dir>/admin.token) \
//   SCREENSHOT=/tmp/zerotier.png node tests/ui/zerotier.mjs
//
// Uses the system Chromium at /usr/bin/chromium (Debian package `chromium`).
// Exits non-zero with the reason on any failure.

import { setup, run, step, log, tid, apiOk, checkHealth, launch, openApp, signIn, waitLive, asViewer, checkPageHealthy, screenshot, firstOf } from './harness.mjs';

await setup({ screenshotName: 'zos-ui-zerotier.png', timeoutMs: 120_000 });

const MEMBER = 'abcdef0123';
const MEMBER_IP = '127.0.0.1';
const PENDING_TIMEOUT_MS = 10_000;
const NODE_TIMEOUT_MS = 15_000;

const pendingRow = `${tid('zt-pending-row')}[data-member-id="${MEMBER}"]`;
const memberRow = `${tid('zt-member-row')}[data-member-id="${MEMBER}"]`;
const nodeRow = (id) => `${tid('node-row')}[data-node-id="${id}"]`;

async function serverMember() {
  const list = await apiOk('GET', '/zerotier/members');
  return Array.isArray(list) ? list.find((m) => m.id === MEMBER) || null : null;
}

// ---- test --------------------------------------------------------------------

await run(async () => {
  await checkHealth();

  await step(`GET /zerotier/members has not authorised ${MEMBER} yet`, async () => {
    const member = await serverMember();
    if (member && member.authorized) throw new Error(`${MEMBER} is authorised already: the test needs a fresh stand-in`);
    log(member ? `member: ${JSON.stringify(member)}` : `${MEMBER} not listed yet (discovery has not run a round)`);
  });

  const page = await launch();
  let role = null;
  await step('open the app and sign in', async () => {
    await openApp(page);
    const who = await signIn(page, { landing: 'nodes-page' });
    role = who.role;
    log(`signed in as "${who.name}" (${role})`);
    await page.locator(`${tid('nodes-table')}, ${tid('nodes-empty')}`).first().waitFor({ state: 'visible' });
    await waitLive(page);
  });

  await step(`the pending card shows ${MEMBER} (≤ ${PENDING_TIMEOUT_MS / 1000} s)`, async () => {
    try {
      await page.locator(pendingRow).waitFor({ state: 'visible', timeout: PENDING_TIMEOUT_MS });
    } catch {
      throw new Error(`no pending row for ${MEMBER} within ${PENDING_TIMEOUT_MS} ms (is discovery on and listing the network?)`);
    }
    const count = (await page.locator(tid('zt-pending-count')).textContent()).trim();
    if (!(Number(count) >= 1)) throw new Error(`the pending count badge says "${count}"`);
    const ips = (await page.locator(`${pendingRow} ${tid('zt-member-ips')}`).textContent()).trim();
    if (!ips.includes(MEMBER_IP)) throw new Error(`the row's IP assignments are "${ips}", expected ${MEMBER_IP}`);
    if ((await page.locator(`${pendingRow} ${tid('zt-authorize')}`).count()) !== 1) {
      throw new Error('the pending row has no Authorize button for an operator');
    }
  });

  await step('a viewer sees the pending member without an Authorize button', () =>
    asViewer(role, `ui-zerotier-viewer-${process.pid}`, async (viewer) => {
      await viewer.locator(pendingRow).waitFor({ state: 'visible', timeout: PENDING_TIMEOUT_MS });
      const buttons = await viewer.locator(tid('zt-authorize')).count();
      if (buttons !== 0) throw new Error(`the viewer sees ${buttons} Authorize button(s)`);
    }),
  );

  await step(`authorise ${MEMBER} from the pending card`, async () => {
    const btn = page.locator(`${pendingRow} ${tid('zt-authorize')}`);
    await btn.click();
    const outcome = await firstOf({
      gone: async () => (await page.locator(pendingRow).count()) === 0,
      error: () => page.locator(`${tid('toast')}[data-type="error"]`).first().isVisible(),
    });
    if (outcome === 'error') throw new Error(`authorising failed: ${(await page.locator(`${tid('toast')}[data-type="error"]`).first().textContent()).trim()}`);
    if (outcome === null) throw new Error(`${MEMBER} is still in the pending card`);
    await page.locator(`${tid('toast')}[data-type="success"]`).first().waitFor({ state: 'visible' });
    const member = await serverMember();
    if (!member || !member.authorized) throw new Error(`GET /zerotier/members says ${JSON.stringify(member)}`);
  });

  let nodeId = null;
  await step(`${MEMBER} becomes an online node, linked from the members list (≤ ${NODE_TIMEOUT_MS / 1000} s)`, async () => {
    const deadline = Date.now() + NODE_TIMEOUT_MS;
    const list = page.locator(tid('zt-members'));
    await list.waitFor({ state: 'visible' });
    if ((await list.getAttribute('open')) === null) await page.locator(tid('zt-members-toggle')).click();
    const link = page.locator(`${memberRow} ${tid('zt-member-node-link')}`);
    try {
      await link.waitFor({ state: 'visible', timeout: Math.max(1, deadline - Date.now()) });
    } catch {
      const member = await serverMember();
      throw new Error(`the members list shows no node for ${MEMBER} within ${NODE_TIMEOUT_MS} ms; the API says ${JSON.stringify(member)}`);
    }
    nodeId = (await link.textContent()).trim();
    log(`${MEMBER} → node ${nodeId}`);
    const href = await link.getAttribute('href');
    if (href !== `#/nodes/${encodeURIComponent(nodeId)}`) throw new Error(`the node link goes to "${href}"`);
    const online = page.locator(`${nodeRow(nodeId)} ${tid('state-badge')}[data-state="online"]`);
    try {
      await online.waitFor({ state: 'visible', timeout: Math.max(1, deadline - Date.now()) });
    } catch {
      const state = await page.locator(`${nodeRow(nodeId)} ${tid('state-badge')}`).getAttribute('data-state', { timeout: 100 }).catch(() => 'no row');
      throw new Error(`node ${nodeId} is not shown online within ${NODE_TIMEOUT_MS} ms (${state})`);
    }
    const member = await serverMember();
    if (member.node !== nodeId) throw new Error(`the API says ${MEMBER} is node ${member.node}, the page says ${nodeId}`);
  });

  await checkPageHealthy(page);
  await screenshot(page, () => page.locator(nodeRow(nodeId)).waitFor({ state: 'visible' }));
});
