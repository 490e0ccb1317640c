#!/usr/bin/env node
// Browser test of the Webhooks page (plain Node script, no runner): a webhook
// created through the form (a bad URL refused next to its field first), its
// deliveries to a real HTTP receiver on loopback shown live (each signed:
// checked here with node:crypto), read-only for a viewer, deleted through the UI.
//
//   ZOS_URL=http://127.0.0.1:18580 ZOS_TOKEN=$(cat <data-dir>/admin.token) \
//   SCREENSHOT=/tmp/webhooks.png node tests/ui/webhooks.mjs
//
// Uses the system Chromium at /usr/bin/chromium (Debian package `chromium`).
// Exits non-zero with the reason on any failure.

import { createServer } from 'node:http';
import { createHmac } from 'node:crypto';
import { setup, run, step, log, tid, apiOk, apiCall, checkHealth, launch, openApp, signIn, waitLive, asViewer, checkPageHealthy, screenshot, expectFieldError, submitAndClose, until, report } from './harness.mjs';

await setup({ screenshotName: 'zos-ui-webhooks.png', timeoutMs: 120_000 });

const NAME = `ui-hook-${process.pid}`;
const SECRET = 'ui-test-secret-0123456789';
const NODE = `ui-wh-node-${process.pid}`;

// The receiver: answers 200 and keeps what it got, with whether the signature checks.
const received = [];
const receiver = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const expected = `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`;
    received.push({ body: JSON.parse(body.toString('utf8')), signed: req.headers['x-zos-signature'] === expected });
    res.writeHead(200).end();
  });
});
await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
const RECEIVER_URL = `http://127.0.0.1:${receiver.address().port}/hook`;

const card = `${tid('webhook-card')}[data-name="${NAME}"]`;

await run(
  async () => {
    await checkHealth();
    const page = await launch();
    let role = null;
    await step('open the app, sign in and go to the Webhooks page', async () => {
      await openApp(page);
      role = (await signIn(page)).role;
      await waitLive(page);
      await page.locator(tid('nav-webhooks')).click();
      await page.locator(tid('webhooks-page')).waitFor({ state: 'visible' });
      await page.locator(`${tid('webhooks-empty')}, ${tid('webhook-card')}`).first().waitFor({ state: 'visible' });
    });

    await step('the form refuses an ftp:// URL next to its field, then creates the webhook', async () => {
      await page.locator(tid('webhook-create')).click();
      const modal = page.locator(tid('webhook-modal'));
      await modal.locator(tid('webhook-form-name')).fill(NAME);
      await modal.locator(tid('webhook-form-url')).fill('ftp://127.0.0.1/hook');
      await modal.locator(tid('webhook-form-secret')).fill(SECRET);
      await modal.locator(tid('webhook-form-type-job')).check();
      await expectFieldError(modal, 'url', /http/);
      await modal.locator(tid('webhook-form-url')).fill(RECEIVER_URL);
      await submitAndClose(modal, 'webhook');
      await page.locator(card).waitFor({ state: 'visible' });
      const hook = await apiOk('GET', `/webhooks/${NAME}`);
      if (JSON.stringify(hook.eventtypes) !== '["node","job"]') throw new Error(`eventtypes ${JSON.stringify(hook.eventtypes)}`);
      if (JSON.stringify(hook).includes(SECRET)) throw new Error('the API shows the secret');
    });

    await step('a node registered through the API is delivered, signed, and the delivery shows without a reload', async () => {
      await apiOk('POST', '/nodes', { id: NODE, address: '127.0.0.2' }, 201);
      await until(async () => received.some((r) => r.body.data.node === NODE), 'the receiver got no registration', 10_000);
      if (!received.every((r) => r.signed)) throw new Error('a delivery whose signature does not check');
      const delivered = page.locator(`${card} ${tid('webhook-delivery')}[data-delivered="true"]`);
      await delivered.first().waitFor({ state: 'visible' });
      const url = (await page.locator(`${card} ${tid('webhook-url')}`).textContent()).trim();
      if (url !== RECEIVER_URL) throw new Error(`the card shows ${url}`);
      log(`receiver got ${received.length} event(s); the page shows ${await delivered.count()} delivered`);
    });

    await step('a viewer sees the webhook and its deliveries but no create or delete button', () =>
      asViewer(role, `ui-webhooks-viewer-${process.pid}`, async (viewer) => {
        await viewer.locator(tid('nav-webhooks')).click();
        await viewer.locator(card).waitFor({ state: 'visible' });
        const buttons = (await viewer.locator(tid('webhook-create')).count()) + (await viewer.locator(tid('webhook-delete')).count());
        if (buttons !== 0) throw new Error(`the viewer sees ${buttons} create/delete button(s)`);
      }),
    );

    await screenshot(page, () => page.locator(`${card} ${tid('webhook-deliveries')}`).waitFor({ state: 'visible' }));

    await step('delete the webhook through the UI', async () => {
      await page.locator(`${card} ${tid('webhook-delete')}`).click();
      await submitAndClose(page.locator(tid('delete-modal')), 'delete');
      await page.locator(card).waitFor({ state: 'detached' });
      const res = await apiCall('GET', `/webhooks/${NAME}`);
      if (res.status !== 404) throw new Error(`GET /webhooks/${NAME} → ${res.status} after the delete`);
    });

    await checkPageHealthy(page);
  },
  async () => {
    await report(`DELETE /webhooks/${NAME}`, () => apiCall('DELETE', `/webhooks/${NAME}`));
    await report(`DELETE /nodes/${NODE}`, () => apiCall('DELETE', `/nodes/${NODE}`));
    receiver.close();
  },
);
