#!/usr/bin/env node
// Browser test of a node's Health tab (plain Node script, no runner). The server must run with `--demo 2`,
// `--heartbeat-interval 1` and `--health-threads 1,100000` (so the emulated node's own thread monitor is past its
// warning level while every other check is OK):
//
//   ZOS_URL=http://127.0.0.1:18480 ZOS_TOKEN=$(cat <data-dir>/admin.token) \
//   SCREENSHOT=/tmp/health.png node tests/ui/health.mjs
//
// Opens an online demo node's Health tab and finds every check the API gives (the node's own monitors among
// them) as a row with its verdict and message, and the thread monitor's WARNING as the node's overall verdict.

import { setup, run, step, log, tid, apiOk, until, text, startOnDemoNode, openNode, openNodeTab, checkPageHealthy, screenshot } from './harness.mjs';

await setup({ screenshotName: 'zos-ui-health.png', timeoutMs: 90_000 });

const MONITORS = ['context-switch', 'interrupts', 'threads'];

await run(async () => {
  const { page, nodeId } = await startOnDemoNode();
  const checks = await step(`GET /health/nodes/${nodeId} judges the node's own monitors`, async () => {
    let list = [];
    await until(async () => {
      list = await apiOk('GET', `/health/nodes/${nodeId}`);
      return MONITORS.every((id) => list.some((c) => c.id === id && c.status !== 'SKIPPED'));
    }, () => `the monitors are not judged yet: ${JSON.stringify(list)}`, 15_000);
    log(list.map((c) => `${c.id}=${c.status}`).join(' '));
    return list;
  });

  await openNode(page, nodeId);
  const panel = await openNodeTab(page, 'health');

  await step('the Health tab shows each check with its verdict and message', async () => {
    const rows = panel.locator(tid('health-check'));
    await until(async () => (await rows.count()) === checks.length, async () => `${await rows.count()} rows, the API has ${checks.length} checks`);
    for (const check of checks) {
      const row = panel.locator(`${tid('health-check')}[data-id="${check.id}"]`);
      if ((await row.count()) !== 1) throw new Error(`no row for check ${check.id}`);
      const shown = await row.locator(tid('health-status')).getAttribute('data-status');
      if (check.id !== 'threads' && check.status !== 'SKIPPED' && shown !== check.status) throw new Error(`${check.id} shows ${shown}, the API says ${check.status}`);
      const message = await text(row.locator(tid('health-message')).first());
      if (!message) throw new Error(`${check.id} shows no message`);
    }
  });

  await step('the thread monitor past its warning level is the node’s overall WARNING', async () => {
    const threads = panel.locator(`${tid('health-check')}[data-id="threads"]`);
    await until(async () => (await threads.getAttribute('data-status')) === 'WARNING', async () => `threads shows ${await threads.getAttribute('data-status')}`);
    const message = await text(threads.locator(tid('health-message')));
    if (!/threads per hyperthread/.test(message)) throw new Error(`the threads message says "${message}"`);
    const overall = panel.locator(`${tid('health-overall')} ${tid('health-status')}`);
    await until(async () => (await overall.getAttribute('data-status')) === 'WARNING', async () => `the overall verdict is ${await overall.getAttribute('data-status')}`);
    log(`threads: ${message}`);
  });

  await checkPageHealthy(page);
  await screenshot(page);
});
