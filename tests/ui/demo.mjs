#!/usr/bin/env node
// Browser test of a node's page against a server with emulated nodes
// (plain Node script, no runner). The server must run with
// `--demo 3 --heartbeat-interval 2`:
//
//   npm ci --prefix tests/ui            # once: installs playwright-core
//   ZOS_URL=http://127.0.0.1:18480 ZOS_TOKEN=$(cat <data-dir>/admin.token) \
//   SCREENSHOT=/tmp/demo.png node tests/ui/demo.mjs
//
// Uses the system Chromium at /usr/bin/chromium (Debian package `chromium`).
// Exits non-zero with the reason on any failure.

import { randomBytes } from 'node:crypto';
import { setup, run, step, log, tid, apiOk, checkHealth, launch, asViewer, openApp, signIn, waitLive, checkPageHealthy, screenshot, firstOf, LIVE_ROW_TIMEOUT_MS } from './harness.mjs';

const { url: ZOS_URL } = await setup({ screenshotName: 'zos-ui-demo.png', timeoutMs: 120_000 });

const DEMO_NODES = 3;
const CHART_TIMEOUT_MS = 15_000; // the page reads the stats every 3 s
const suffix = randomBytes(4).toString('hex');

/** The numbers in an element's text ("25.3 %" → [25.3]). */
async function numbers(locator) {
  const text = (await locator.textContent()) || '';
  return (text.match(/\d+(?:\.\d+)?/g) || []).map(Number);
}

// ---- test --------------------------------------------------------------------

await run(async () => {
  await checkHealth();
  const page = await launch();

  await step(`open ${ZOS_URL}/ as a browser`, () => openApp(page));

  const role = await step('sign in with the token', async () => {
    const signedIn = await signIn(page, { landing: 'nodes-page', writer: true });
    log(`signed in as "${signedIn.name}" (${signedIn.role})`);
    return signedIn.role;
  });

  const nodeId = await step(`the Nodes page lists ${DEMO_NODES} emulated nodes, all online (≤ ${LIVE_ROW_TIMEOUT_MS / 1000} s)`, async () => {
    const emulatedRows = page.locator(tid('node-row')).filter({ has: page.locator(tid('node-emulated')) });
    const online = emulatedRows.filter({ has: page.locator(`${tid('state-badge')}[data-state="online"]`) });
    const outcome = await firstOf(
      { ready: async () => (await emulatedRows.count()) === DEMO_NODES && (await online.count()) === DEMO_NODES },
      LIVE_ROW_TIMEOUT_MS,
    );
    if (outcome === null) {
      const states = await page.locator(`${tid('node-row')} ${tid('state-badge')}`).evaluateAll((els) => els.map((e) => e.dataset.state));
      throw new Error(
        `expected ${DEMO_NODES} emulated online rows, found ${await emulatedRows.count()} emulated rows, ` +
          `${await online.count()} of them online (states: ${states.join(', ') || 'none'}); is the server running with --demo ${DEMO_NODES}?`,
      );
    }
    await waitLive(page);
    return emulatedRows.first().getAttribute('data-node-id');
  });

  await step(`open the page of the first emulated node (${nodeId})`, async () => {
    await page.locator(`${tid('node-row')}[data-node-id="${nodeId}"] ${tid('node-id')}`).click();
    await page.locator(tid('node-page')).waitFor({ state: 'visible' });
    const hash = new URL(page.url()).hash;
    if (hash !== `#/nodes/${nodeId}`) throw new Error(`expected the address #/nodes/${nodeId}, got "${hash}"`);
    await page.locator(`${tid('node-page')} ${tid('node-id')}`).waitFor({ state: 'visible' });
    const shownId = (await page.locator(`${tid('node-page')} ${tid('node-id')}`).textContent()).trim();
    if (shownId !== nodeId) throw new Error(`the page shows the node ID "${shownId}"`);
    const state = await page.locator(`${tid('node-page')} ${tid('state-badge')}`).getAttribute('data-state');
    if (state !== 'online') throw new Error(`the state badge says "${state}", not "online"`);
    if ((await page.locator(`${tid('node-page')} ${tid('node-emulated')}`).count()) !== 1) throw new Error('no "emulated" tag in the header');
  });

  await step('the hardware card shows the CPUs, the memory and the disks', async () => {
    const { inventory } = await apiOk('GET', `/nodes/${encodeURIComponent(nodeId)}`);
    if (!inventory) throw new Error(`GET /nodes/${nodeId} has no inventory`);
    const cpus = await numbers(page.locator(tid('inventory-cpus-value')));
    if (cpus[0] !== inventory.cpus) throw new Error(`the card shows ${cpus[0]} CPUs, the API ${inventory.cpus}`);
    const memory = (await page.locator(tid('inventory-memory-value')).textContent()).trim();
    const gib = inventory.memoryBytes / 2 ** 30;
    if (!memory.endsWith('GiB') || Math.abs((await numbers(page.locator(tid('inventory-memory-value'))))[0] - gib) > 0.1) {
      throw new Error(`the card shows the memory "${memory}", the API ${gib} GiB`);
    }
    const disks = await page.locator(tid('inventory-disk')).count();
    if (disks < 1 || disks !== inventory.disks.length) throw new Error(`the card lists ${disks} disks, the API ${inventory.disks.length}`);
    const kinds = await page.locator(`${tid('inventory-disk')} ${tid('disk-kind')}`).allTextContents();
    log(`hardware: ${cpus[0]} CPUs, ${memory}, disks ${kinds.join(' ')}`);
  });

  await step(`the live chart grows to 2 samples and shows the CPU % (≤ ${CHART_TIMEOUT_MS / 1000} s)`, async () => {
    const chart = page.locator(tid('node-chart'));
    const cpuLine = page.locator(tid('node-chart-cpu'));
    const cpuValue = page.locator(tid('node-cpu-value'));
    const outcome = await firstOf(
      {
        error: () => page.locator(tid('stats-error')).isVisible(),
        ready: async () =>
          Number(await chart.getAttribute('data-samples')) >= 2 &&
          Number(await cpuLine.getAttribute('data-points')) >= 2 &&
          Number.isFinite((await numbers(cpuValue))[0]),
      },
      CHART_TIMEOUT_MS,
    );
    if (outcome === 'error') throw new Error(`the live card shows an error: ${(await page.locator(tid('stats-error')).textContent()).trim()}`);
    if (outcome === null) {
      throw new Error(
        `after ${CHART_TIMEOUT_MS} ms the chart has ${await chart.getAttribute('data-samples')} samples ` +
          `and the CPU reads "${(await cpuValue.textContent()).trim()}"`,
      );
    }
    const [cpu] = await numbers(cpuValue);
    if (cpu < 0 || cpu > 100) throw new Error(`CPU ${cpu} % is not a percentage`);
    const mem = (await page.locator(tid('node-mem-value')).textContent()).trim();
    const netIn = (await page.locator(tid('node-net-in-value')).textContent()).trim();
    log(`live: CPU ${cpu} %, memory ${mem}, network in ${netIn}; path ${(await cpuLine.getAttribute('d')).slice(0, 60)}…`);
  });

  if (role === 'admin' || role === 'operator') {
    await step('Ping shows the round-trip time in a success toast', async () => {
      await page.locator(tid('node-ping')).click();
      const toast = page.locator(tid('toast')).filter({ hasText: /answered in \d+ ms/ });
      const outcome = await firstOf({
        ok: () => toast.first().isVisible(),
        error: () => page.locator(`${tid('toast')}[data-type="error"]`).first().isVisible(),
      });
      if (outcome === 'error') throw new Error(`ping failed: ${(await page.locator(`${tid('toast')}[data-type="error"]`).first().textContent()).trim()}`);
      if (outcome === null) throw new Error('no toast after Ping');
      if ((await toast.first().getAttribute('data-type')) !== 'success') throw new Error('the ping toast is not a success toast');
      log(`toast: ${(await toast.first().textContent()).trim()}`);
    });
  }

  await step('the Processes tab: the jobs table lists zerotier (also after Refresh)', async () => {
    await page.locator(tid('node-tabs-processes')).click();
    const zerotier = page.locator(`${tid('jobs-table')} ${tid('job-row')}[data-job-id="zerotier"]`);
    await zerotier.waitFor({ state: 'visible' });
    await page.locator(tid('jobs-refresh')).click();
    await zerotier.waitFor({ state: 'visible' });
    const processes = await page.locator(`${tid('processes-table')} ${tid('process-row')}`).count();
    if (processes < 1) throw new Error('the processes table is empty');
    log(`jobs: ${(await page.locator(`${tid('jobs-table')} ${tid('job-row')}`).evaluateAll((els) => els.map((e) => e.dataset.jobId))).join(', ')}; ${processes} processes`);
  });

  await step('a viewer sees the node page without Ping and Reboot', () =>
    asViewer(role, `ui-viewer-${suffix}`, async (v) => {
      await v.goto(`${ZOS_URL}/#/nodes/${encodeURIComponent(nodeId)}`);
      await v.locator(tid('node-page')).waitFor({ state: 'visible' });
      await v.locator(tid('readonly')).waitFor({ state: 'visible' });
      await v.locator(tid('inventory-disk')).first().waitFor({ state: 'visible' });
      for (const m of ['node-ping', 'node-reboot']) {
        if ((await v.locator(tid(m)).count()) !== 0) throw new Error(`a viewer sees "${m}"`);
      }
    }),
  );

  await checkPageHealthy(page);

  await screenshot(page, async () => {
    await page.locator(tid('node-tabs-overview')).click();
    await page.waitForFunction((sel) => Number(document.querySelector(sel)?.dataset.samples) >= 3, tid('node-chart'));
  });

  await step('leaving the page stops reading the stats', async () => {
    const statsCalls = [];
    page.on('request', (req) => {
      if (new URL(req.url()).pathname.endsWith('/stats')) statsCalls.push(Date.now());
    });
    await page.locator(tid('node-back')).click();
    await page.locator(tid('nodes-page')).waitFor({ state: 'visible' });
    const left = Date.now();
    await new Promise((r) => setTimeout(r, 4_000));
    const after = statsCalls.filter((t) => t > left + 500);
    if (after.length) throw new Error(`${after.length} GET /nodes/…/stats after leaving the page`);
  });
});
