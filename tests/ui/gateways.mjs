#!/usr/bin/env node
// Browser test of a node's Gateways tab against a server with emulated nodes
// (plain Node script, no runner). The server must run with `--demo 2`.
//
//   npm ci --prefix tests/ui            # once: installs playwright-core
//   ZOS_URL=http://127.0.0.1:18480 ZOS_TOKEN=$(cat <data-dir>/admin.token) \
//   SCREENSHOT=/tmp/gateways.png node tests/ui/gateways.mjs
//
// Signs in, opens a demo node's Gateways tab and creates a gateway through the
// form: a private address that is no CIDR is refused next to that field; then
// a good gateway runs, opened to its forwards. Adds a forward, is refused one
// on port 53 (the gateway's own DNS: the node's refusal, in the form), removes
// the forward, stops and starts the gateway, and deletes it.

import { randomBytes } from 'node:crypto';
import { setup, run, step, log, tid, apiOk, apiCall, report, screenshot, shot, until, text, startOnDemoNode, openNode, openNodeTab, expectFieldError, submitAndClose, checkPageHealthy } from './harness.mjs';

await setup({ screenshotName: 'zos-ui-gateways.png', timeoutMs: 120_000 });

const GW = `ui-gw-${randomBytes(3).toString('hex')}`;
let nodeId = null;
let made = false;

await run(async () => {
  const demo = await startOnDemoNode();
  const { page } = demo;
  nodeId = demo.nodeId;
  const base = `/nodes/${nodeId}/gws`;
  const panel = page.locator(tid('node-tabs-panel-gateways'));
  const row = panel.locator(`${tid('gw-row')}[data-name="${GW}"]`);
  const detail = panel.locator(`${tid('gw-detail')}[data-name="${GW}"]`);
  const modal = page.locator(tid('gw-modal'));
  const forwardModal = page.locator(tid('gw-forward-modal'));

  async function rowStatus(status) {
    await until(
      async () => (await row.getAttribute('data-status')) === status && (await row.locator(tid('gw-status')).count()) === 1,
      async () => `the gateway row is ${await row.getAttribute('data-state').catch(() => 'missing')}/${await row.getAttribute('data-status').catch(() => '')}, expected ${status}`,
      15_000,
    );
  }

  await step(`open node ${nodeId}, then its Gateways tab`, async () => {
    await openNode(page, nodeId);
    await openNodeTab(page, 'gateways');
    const before = (await apiOk('GET', base)).length;
    if (before === 0) await panel.locator(tid('gateways-empty')).waitFor({ state: 'visible' });
  });

  await step('New gateway: a private address that is no CIDR is refused next to it', async () => {
    await panel.locator(tid('gw-create')).click();
    await modal.waitFor({ state: 'visible' });
    await modal.locator(tid('gw-form-name')).fill(GW);
    await modal.locator(tid('gw-form-domain')).fill('office.lan');
    await modal.locator(tid('gw-form-public-cidr')).fill('10.0.0.2/24');
    await modal.locator(tid('gw-form-public-gateway')).fill('10.0.0.1');
    await modal.locator(tid('gw-form-private-id')).fill('100');
    await modal.locator(tid('gw-form-private-cidr')).fill('192.168.1.1');
    await expectFieldError(modal, 'nics[1].config.cidr', /prefix/);
  });

  await step('with a CIDR it is created, running, and opens to its forwards', async () => {
    await modal.locator(tid('gw-form-private-cidr')).fill('192.168.1.1/24');
    await submitAndClose(modal, 'gateway');
    made = true;
    await rowStatus('running');
    await detail.waitFor({ state: 'visible' });
    await detail.locator(tid('gw-forwards-none')).waitFor({ state: 'visible' });
  });

  await screenshot(page);

  const addForward = async (protocol, port) => {
    await detail.locator(tid('gw-forward-add')).click();
    await forwardModal.waitFor({ state: 'visible' });
    await forwardModal.locator(tid('gw-fw-protocol')).selectOption(protocol);
    await forwardModal.locator(tid('gw-fw-srcip')).fill('10.0.0.2');
    await forwardModal.locator(tid('gw-fw-srcport')).fill(String(port));
    await forwardModal.locator(tid('gw-fw-dstip')).fill('192.168.1.10');
    await forwardModal.locator(tid('gw-fw-dstport')).fill('22');
  };

  await step('a forward is added and shows in the opened gateway', async () => {
    await addForward('tcp', 2222);
    await submitAndClose(forwardModal, 'forward');
    const forward = detail.locator(`${tid('gw-forward')}[data-id="10.0.0.2:2222"]`);
    await forward.waitFor({ state: 'visible' });
    await until(async () => (await text(row.locator(tid('gw-forward-count')))) === '1', 'the row does not count 1 forward');
  });

  await step('a forward on port 53 (the gateway’s own DNS) is refused by the gateway, in the form', async () => {
    await addForward('udp', 53);
    await forwardModal.locator(tid('modal-submit')).click();
    const error = forwardModal.locator(tid('modal-error'));
    await until(() => error.isVisible(), 'the form shows no error', 15_000);
    const said = await text(error);
    if (!/already in use by dnsmasq/.test(said)) throw new Error(`the form says "${said}"`);
    log(`refused: "${said}"`);
    await forwardModal.locator(tid('modal-cancel')).click();
    if ((await apiOk('GET', `${base}/${GW}/firewall/forwards`)).length !== 1) throw new Error('the refused forward stayed');
  });

  await shot(page, 'forward');

  await step('the forward is removed', async () => {
    await detail.locator(`${tid('gw-forward')}[data-id="10.0.0.2:2222"] ${tid('gw-forward-remove')}`).click();
    await detail.locator(tid('gw-forwards-none')).waitFor({ state: 'visible' });
  });

  await step('stopped, then started again', async () => {
    await row.locator(tid('gw-stop')).click();
    await rowStatus('halted');
    await row.locator(tid('gw-start')).click();
    await rowStatus('running');
  });

  await step('deleted: the row goes', async () => {
    await row.locator(tid('gw-delete')).click();
    const confirm = page.locator(tid('delete-modal'));
    await confirm.waitFor({ state: 'visible' });
    await submitAndClose(confirm, 'delete');
    await until(async () => (await row.count()) === 0, 'the gateway row stays');
    made = false;
    if ((await apiCall('GET', `${base}/${GW}`)).status !== 404) throw new Error(`GET ${GW} is not 404`);
  });

  await checkPageHealthy(page);
}, async () => {
  if (nodeId && made) await report(`DELETE gateway ${GW}`, () => apiCall('DELETE', `/nodes/${nodeId}/gws/${GW}`));
});
