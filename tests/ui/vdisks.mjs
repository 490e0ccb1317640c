#!/usr/bin/env node
// Browser test of the vdisk storages on the Storage clusters page (plain Node
// script, no runner): on a cluster deployed through the API, an operator makes
// a vdisk storage and a vdisk, sees a bad size refused on its field, grows the
// vdisk, is told why it cannot roll back, imports an image served by an HTTP
// server this script runs on loopback (its progress in bytes shown while it
// goes), makes a boot vdisk from the image, and deletes everything.
//
//   ZOS_URL=http://127.0.0.1:18580 ZOS_TOKEN=$(cat <data-dir>/admin.token) \
//   SCREENSHOT=/tmp/vdisks.png node tests/ui/vdisks.mjs
//
// Needs a server with `--demo 3 --apply-wait 0` (the import answers at once, so
// its progress can be watched). Uses the system Chromium at /usr/bin/chromium.
// Exits non-zero with the reason on any failure.

import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { setup, run, step, log, tid, apiOk, apiCall, checkHealth, launchOnPage, checkPageHealthy, screenshot, until, text, expectFieldError, submitAndClose } from './harness.mjs';

await setup({ screenshotName: 'zos-ui-vdisks.png', timeoutMs: 240_000 });

const IMAGE = randomBytes(6 << 20);
const card = `${tid('vdiskstorage-card')}[data-id="vs"]`;
const vdiskRow = (id) => `${card} ${tid('vdisk-row')}[data-id="${id}"]`;
const imageRow = `${card} ${tid('image-row')}[data-name="kit"]`;

/** Opens the card's New vdisk form and fills in the id: the form. */
async function newVdisk(page, id) {
  await page.locator(`${card} ${tid('vdisk-create')}`).click();
  const modal = page.locator(tid('vdisk-modal'));
  await modal.locator(tid('field-id')).fill(id);
  return modal;
}

/** The image, sent slowly (64 KiB every 30 ms, about 3 s) so its import can be watched. */
function startImageServer() {
  const server = http.createServer(async (req, res) => {
    if (req.url !== '/kit.img') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Length': IMAGE.length, 'Content-Type': 'application/octet-stream' });
    for (let at = 0; at < IMAGE.length; at += 64 << 10) {
      res.write(IMAGE.subarray(at, at + (64 << 10)));
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    res.end();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

let imageServer = null;
await run(async () => {
  await checkHealth();
  const nodes = await apiOk('GET', '/nodes');
  imageServer = await startImageServer();
  const imageUrl = `http://127.0.0.1:${imageServer.address().port}/kit.img`;
  await step('a six-engine cluster, deployed through the API', async () => {
    await apiCall('POST', '/storageclusters', { label: 'blocks', servers: 6, driveType: 'hdd', nodes: nodes.map((n) => n.id) });
    await until(async () => (await apiOk('GET', '/storageclusters/blocks')).status === 'ready', async () => 'the cluster is not ready', 120_000);
  });

  const page = await launchOnPage('open the Storage page: no vdisk storage yet', 'nav-storageclusters', 'vdiskstorages-empty');

  await step('make vdisk storage vs on the cluster', async () => {
    await page.locator(tid('vdiskstorage-create')).click();
    const modal = page.locator(tid('vdiskstorage-modal'));
    await modal.locator(tid('field-id')).fill('vs');
    await modal.locator(tid('field-blockCluster')).selectOption('blocks');
    await submitAndClose(modal, 'vdisk storage');
    await page.locator(card).waitFor({ state: 'visible' });
  });

  await step('a vdisk of 0 GiB is refused on its size; one of 1 GiB is made', async () => {
    const modal = await newVdisk(page, 'd1');
    await modal.locator(tid('field-size')).fill('0');
    await modal.locator(tid('field-type')).selectOption('db');
    await expectFieldError(modal, 'size', /1 to 2048/);
    await modal.locator(tid('field-size')).fill('1');
    await submitAndClose(modal, 'vdisk');
    await page.locator(vdiskRow('d1')).waitFor({ state: 'visible' });
  });

  await step('grow d1 to 2 GiB', async () => {
    await page.locator(`${vdiskRow('d1')} ${tid('vdisk-resize')}`).click();
    const modal = page.locator(tid('resize-modal'));
    await modal.locator(tid('field-newSize')).fill('2');
    await submitAndClose(modal, 'resize');
    await until(async () => (await text(page.locator(`${vdiskRow('d1')} ${tid('vdisk-size')}`))) === '2 GiB', async () => 'd1 is not shown at 2 GiB');
  });

  await step('rolling d1 back shows why it cannot', async () => {
    await page.locator(`${vdiskRow('d1')} ${tid('vdisk-rollback')}`).click();
    const modal = page.locator(tid('rollback-modal'));
    await modal.locator(tid('modal-submit')).click();
    const error = modal.locator(tid('modal-error'));
    await until(() => error.isVisible(), async () => 'no error shown');
    const said = await text(error);
    if (!/transaction log/.test(said)) throw new Error(`the form says "${said}"`);
    log(`rollback: "${said}"`);
    await modal.locator(tid('modal-cancel')).click();
  });

  await step('import an image: its progress in bytes shows, then it is ready', async () => {
    await page.locator(`${card} ${tid('image-import')}`).click();
    const modal = page.locator(tid('image-modal'));
    await modal.locator(tid('field-imageName')).fill('kit');
    await modal.locator(tid('field-url')).fill(imageUrl);
    await submitAndClose(modal, 'import');
    const progress = page.locator(`${imageRow} ${tid('job-step')}`);
    const total = ` of ${IMAGE.length} bytes`;
    await until(async () => (await progress.count()) > 0 && (await text(progress)).endsWith(total), async () => `no progress in bytes: "${await text(progress).catch(() => '')}"`, 15_000);
    log(`progress: "${await text(progress)}"`);
    await until(async () => (await page.locator(imageRow).getAttribute('data-status')) === 'ready', async () => 'the image is not ready', 30_000);
  });

  await screenshot(page);

  await step('a boot vdisk made from the image', async () => {
    const modal = await newVdisk(page, 'b1');
    await modal.locator(tid('field-type')).selectOption('boot');
    await modal.locator(tid('field-imageId')).selectOption('kit');
    await submitAndClose(modal, 'vdisk');
    await page.locator(vdiskRow('b1')).waitFor({ state: 'visible' });
    const vdisk = await apiOk('GET', '/vdiskstorage/vs/vdisks/b1');
    if (vdisk.imageId !== 'kit') throw new Error(`b1 is not made from kit: ${JSON.stringify(vdisk)}`);
  });

  await step('delete the image, the vdisks and the vdisk storage', async () => {
    for (const [row, button] of [[imageRow, 'image-delete'], [vdiskRow('b1'), 'vdisk-delete'], [vdiskRow('d1'), 'vdisk-delete'], [card, 'vdiskstorage-delete']]) {
      await page.locator(`${row} ${tid(button)}`).first().click();
      await submitAndClose(page.locator(tid('delete-modal')), button);
      await page.locator(row).waitFor({ state: 'detached', timeout: 15_000 });
    }
    await page.locator(tid('vdiskstorages-empty')).waitFor({ state: 'visible' });
  });

  await checkPageHealthy(page);
}, async () => {
  imageServer?.closeAllConnections();
  imageServer?.close();
});
