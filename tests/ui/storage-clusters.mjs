#!/usr/bin/env node
// Browser test of the Storage clusters page (plain Node script, no runner):
// an operator deploys a six-engine cluster over the three demo nodes from the
// page, sees node × disk × engine rows turn ready, the field the API refuses
// marked in the form, and the cluster gone after a delete.
//
//   ZOS_URL=http://127.0.0.1:18580 ZOS_TOKEN=$(cat <data-dir>/admin.token) \
//   SCREENSHOT=/tmp/clusters.png node tests/ui/storage-clusters.mjs
//
// Needs a server with `--demo 3`. Uses the system Chromium at /usr/bin/chromium.
// Exits non-zero with the reason on any failure.

import { setup, run, step, log, tid, apiOk, checkHealth, launchOnPage, checkPageHealthy, screenshot, until, text, expectFieldError, submitAndClose } from './harness.mjs';

await setup({ screenshotName: 'zos-ui-storage-clusters.png', timeoutMs: 180_000 });

const LABEL = 'blocks';
const DEPLOY_TIMEOUT_MS = 60_000;
const card = `${tid('cluster-card')}[data-label="${LABEL}"]`;

await run(async () => {
  await checkHealth();
  const nodes = await apiOk('GET', '/nodes');
  if (nodes.length !== 3) throw new Error(`the test needs 3 demo nodes, the server has ${nodes.length}`);

  const page = await launchOnPage('open the Storage clusters page', 'nav-storageclusters', 'clusters-empty');

  await step('a count the nodes do not divide is refused on the servers field', async () => {
    await page.locator(tid('cluster-create')).click();
    const modal = page.locator(tid('cluster-modal'));
    await modal.locator(tid('cluster-label')).fill(LABEL);
    await modal.locator(tid('cluster-servers')).fill('4');
    await expectFieldError(modal, 'servers', /divisible/);
  });

  await step(`deploy ${LABEL}: six HDD engines over the three nodes`, async () => {
    const modal = page.locator(tid('cluster-modal'));
    await modal.locator(tid('cluster-servers')).fill('6');
    await modal.locator(tid('cluster-drive')).selectOption('hdd');
    await submitAndClose(modal, 'deploy');
  });

  await step(`the card shows six engines, all ready (≤ ${DEPLOY_TIMEOUT_MS / 1000} s)`, async () => {
    const rows = page.locator(`${card} ${tid('engine-row')}`);
    await until(
      async () => (await rows.count()) === 6 && (await page.locator(`${card} ${tid('engine-row')}[data-status="ready"]`).count()) === 6,
      async () => `engine rows: ${await rows.count()}, card status ${await page.locator(card).getAttribute('data-status').catch(() => 'none')}`,
      DEPLOY_TIMEOUT_MS,
    );
    if ((await text(page.locator(`${card} ${tid('cluster-status')}`))) !== 'ready') throw new Error('the cluster is not shown ready');
    const cluster = await apiOk('GET', `/storageclusters/${LABEL}`);
    for (const server of cluster.storageServers) {
      const row = page.locator(`${card} ${tid('engine-row')}[data-node="${server.node}"][data-disk="${server.disk}"]`);
      if ((await row.count()) !== 1) throw new Error(`no row for ${server.node} ${server.disk}`);
      if (!(await text(row)).includes(`${server.ip}:${server.port}`)) throw new Error(`the row of ${server.node} ${server.disk} lacks its address`);
    }
    log(`engines: ${cluster.storageServers.map((s) => `${s.node}/${s.disk}@${s.port}`).join(', ')}`);
  });

  await screenshot(page);

  await step(`delete ${LABEL}: the page is empty again`, async () => {
    await page.locator(`${card} ${tid('cluster-delete')}`).click();
    await submitAndClose(page.locator(tid('delete-modal')), 'delete');
    await page.locator(tid('clusters-empty')).waitFor({ state: 'visible', timeout: 30_000 });
    const labels = await apiOk('GET', '/storageclusters');
    if (labels.length !== 0) throw new Error(`still listed: ${labels}`);
  });

  await checkPageHealthy(page);
});
