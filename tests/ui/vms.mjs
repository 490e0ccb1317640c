#!/usr/bin/env node
// Browser test of a node's VMs tab against a server with emulated nodes
// (plain Node script, no runner). The server must run with `--demo 2`; with
// `--apply-wait 0` as well, set APPLY_WAIT=0: every create, start, stop,
// shutdown and delete then comes back as a job that the UI follows.
//
//   npm ci --prefix tests/ui            # once: installs playwright-core
//   ZOS_URL=http://127.0.0.1:18480 ZOS_TOKEN=$(cat <data-dir>/admin.token) \
//   SCREENSHOT=/tmp/vms.png node tests/ui/vms.mjs
//
// Signs in, opens a demo node's VMs tab and creates a VM through the form: a
// bridge NIC without a bridge is refused next to that NIC's id, more memory
// than the node has free is refused next to the memory (409
// not_enough_memory); then a good VM runs, with its VNC port and, opened, its
// load per vCPU, disk and NIC. Pauses and resumes it, stops it, edits it while
// halted (vCPUs and memory change), starts it (the load shows the new vCPUs),
// shuts it down, checks what a viewer sees, deletes it, and finds its jobs on
// the Jobs page. Screenshots of each view go beside SCREENSHOT.

import { randomBytes } from 'node:crypto';
import { setup, run, step, log, tid, apiOk, apiCall, asViewer, report, waitLive, checkPageHealthy, screenshot, shot, until, text, startOnDemoNode, JOBS_FIRST, openNodeTabListing, confirmDialog, expectFieldError, submitAndClose, recordFollowedJobs } from './harness.mjs';

const { url: ZOS_URL } = await setup({ screenshotName: 'zos-ui-vms.png', timeoutMs: 150_000 });

const hex = randomBytes(3).toString('hex');
const VM = `ui-vm-${hex}`;
const DISK = `boot-${hex}`;
const suffix = randomBytes(4).toString('hex');

let nodeId = null;
let made = false;

await run(async () => {
  const demo = await startOnDemoNode();
  const { page, role } = demo;
  nodeId = demo.nodeId;
  const base = `/nodes/${nodeId}`;

  const vms = page.locator(tid('node-tabs-panel-vms'));
  const row = vms.locator(`${tid('vm-row')}[data-id="${VM}"]`);
  const detail = vms.locator(`${tid('vm-detail')}[data-id="${VM}"]`);
  const modalOf = (testid) => page.locator(tid(testid));
  const modal = modalOf('vm-modal');
  let before = 0;

  await step(`open node ${nodeId}, then its VMs tab`, async () => {
    before = await openNodeTabListing(page, nodeId, 'vms', { listPath: `${base}/vms`, row: 'vm-row', empty: 'vms-empty', what: 'VMs' });
  });

  // The jobs the create forms follow: form → job ids.
  const followedJobs = await recordFollowedJobs(page);


  /** Waits for the row's status (and a settled state); describes what it shows instead. */
  async function rowStatus(status, timeout = 10_000) {
    await until(
      async () => (await row.getAttribute('data-status')) === status && (await row.locator(tid('vm-status')).count()) === 1,
      async () => `the VM row is ${await row.getAttribute('data-state').catch(() => 'missing')}/${await row.getAttribute('data-status').catch(() => '')}, expected status ${status}`,
      timeout,
    );
  }

  /** The row's action buttons, by testid. */
  const buttons = async () => (await row.locator('.row-actions .btn').evaluateAll((els) => els.map((b) => b.dataset.testid))).join(' ');

  await step('New VM: a bridge NIC without a bridge is refused next to that NIC’s id', async () => {
    await vms.locator(tid('vm-create')).click();
    await modal.waitFor({ state: 'visible' });
    if ((await modal.locator(tid('vm-form-nic')).count()) !== 1) throw new Error('the form does not start with one NIC');
    if (!(await modal.locator(tid('vm-form-nic-id')).isDisabled())) throw new Error('a default NIC lets an id be typed');
    await modal.locator(tid('vm-form-id')).fill(VM);
    await modal.locator(tid('vm-form-cpu')).fill('2');
    await modal.locator(tid('vm-form-memory')).fill('2');
    await modal.locator(tid('vm-form-nic-type')).selectOption('bridge');
    await modal.locator(tid('vm-form-disk-add')).click();
    await modal.locator(tid('vm-form-disk-id')).fill(DISK);
    await modal.locator(tid('vm-form-disk-iops')).fill('1000');
    await expectFieldError(modal, 'nics[0].id', /bridge NIC needs the name of the bridge/);
  });

  await shot(page, 'vm-form', { fullPage: false });

  await step('with a default NIC but 1 TiB of memory the node refuses: not enough memory, next to the memory', async () => {
    await modal.locator(tid('vm-form-nic-type')).selectOption('default');
    await modal.locator(tid('vm-form-memory')).fill('1024');
    await expectFieldError(modal, 'memory', new RegExp(`${nodeId} does not have 1.0 TiB free: .*not enough memory`, 'i'));
    if ((await apiOk('GET', `${base}/vms`)).some((v) => v.id === VM)) throw new Error('the refused VM was left behind');
  });

  await shot(page, 'vm-memory', { fullPage: false });

  await step('with 2 GiB the VM is created and runs: its vCPUs, memory, NIC, disk and VNC port; opened, its load', async () => {
    await modal.locator(tid('vm-form-memory')).fill('2');
    await submitAndClose(modal, 'VM');
    made = true;
    await rowStatus('running');
    const api = await apiOk('GET', `${base}/vms/${VM}`);
    if (api.memory !== 2048 || api.cpu !== 2 || api.nics.length !== 1 || api.nics[0].type !== 'default' || api.disks[0].vdiskid !== DISK || api.disks[0].maxIOps !== 1000) throw new Error(`the API has ${JSON.stringify(api)}`);
    const shown = { cpu: await text(row.locator(tid('vm-cpu'))), memory: await text(row.locator(tid('vm-memory'))), nics: await text(row.locator(tid('vm-nics'))), disks: await text(row.locator(tid('vm-disks'))), vnc: await text(row.locator(tid('vm-vnc'))) };
    if (shown.cpu !== '2' || shown.memory !== '2.0 GiB' || shown.nics !== 'default' || shown.disks !== DISK || shown.vnc !== String(api.vnc) || !(api.vnc >= 5900)) throw new Error(`the row shows ${JSON.stringify(shown)}; the API has vnc ${api.vnc}`);
    if ((await buttons()) !== 'vm-pause vm-shutdown vm-stop vm-delete') throw new Error(`a running VM offers "${await buttons()}"`);
    // The form opened it: its load per vCPU, its disk and NIC.
    await until(async () => (await detail.locator(tid('vm-cpu-load')).count()) === 2, 'the opened VM does not show the load of its 2 vCPUs');
    if ((await detail.locator(tid('vm-info-disk')).count()) !== 1 || (await detail.locator(tid('vm-info-nic')).count()) !== 1) throw new Error('the disk and NIC figures are missing');
    if (!(await text(detail.locator(tid('vm-info-disk')))).includes(DISK)) throw new Error('the disk figures do not name the vdisk');
    if ((await text(detail.locator(tid('vm-fact-vnc')))) !== `port ${api.vnc} on ${nodeId}`) throw new Error(`the VNC fact says "${await text(detail.locator(tid('vm-fact-vnc')))}"`);
    const load = Number(await detail.locator(tid('vm-cpu-load')).first().getAttribute('data-percent'));
    if (!(load >= 0 && load <= 100)) throw new Error(`a vCPU's load is ${load}`);
    const count = await text(page.locator(`${tid('node-tabs-vms')} .tab-count`));
    if (count !== String(before + 1)) throw new Error(`the tab counts "${count}" VMs`);
  });

  await screenshot(page);

  await step('Pause: paused (no live event: the row is read again), Resume offered instead', async () => {
    await row.locator(tid('vm-pause')).click();
    await rowStatus('paused');
    if ((await buttons()) !== 'vm-resume vm-stop vm-delete') throw new Error(`a paused VM offers "${await buttons()}"`);
    if ((await apiOk('GET', `${base}/vms/${VM}`)).status !== 'paused') throw new Error('the API does not say paused');
  });

  await shot(page, 'paused');

  await step('Resume: running again', async () => {
    await row.locator(tid('vm-resume')).click();
    await rowStatus('running');
    if ((await apiOk('GET', `${base}/vms/${VM}`)).status !== 'running') throw new Error('the API does not say running');
  });

  await step('Stop: halted, no VNC port, no load shown; Start and Edit offered', async () => {
    await row.locator(tid('vm-stop')).click();
    await rowStatus('halted');
    if ((await text(row.locator(tid('vm-vnc')))) !== '—') throw new Error(`a halted VM shows VNC "${await text(row.locator(tid('vm-vnc')))}"`);
    await detail.locator(tid('vm-info-halted')).waitFor({ state: 'visible' });
    if ((await detail.locator(tid('vm-cpu-load')).count()) !== 0) throw new Error('a halted VM still shows its load');
    if ((await buttons()) !== 'vm-start vm-edit vm-delete') throw new Error(`a halted VM offers "${await buttons()}"`);
    const api = await apiOk('GET', `${base}/vms/${VM}`);
    if (api.status !== 'halted' || api.vnc !== -1) throw new Error(`the API has ${JSON.stringify(api)}`);
  });

  const edit = modalOf('vm-edit-modal');
  await step('Edit while halted: the form has its settings; 3 vCPUs and 4 GiB show in the row and the API', async () => {
    await row.locator(tid('vm-edit')).click();
    await edit.waitFor({ state: 'visible' });
    const has = { cpu: await edit.locator(tid('vm-edit-cpu')).inputValue(), memory: await edit.locator(tid('vm-edit-memory')).inputValue(), unit: await edit.locator(tid('vm-edit-memory-unit')).inputValue(), disk: await edit.locator(tid('vm-edit-disk-id')).inputValue(), iops: await edit.locator(tid('vm-edit-disk-iops')).inputValue(), nic: await edit.locator(tid('vm-edit-nic-type')).inputValue() };
    if (JSON.stringify(has) !== JSON.stringify({ cpu: '2', memory: '2', unit: 'GiB', disk: DISK, iops: '1000', nic: 'default' })) throw new Error(`the edit form starts with ${JSON.stringify(has)}`);
    await edit.locator(tid('vm-edit-cpu')).fill('3');
    await edit.locator(tid('vm-edit-memory')).fill('4');
    await submitAndClose(edit, 'edit');
    await until(async () => (await text(row.locator(tid('vm-memory')))) === '4.0 GiB' && (await text(row.locator(tid('vm-cpu')))) === '3', async () => `the row shows ${await text(row.locator(tid('vm-cpu')))} vCPUs, ${await text(row.locator(tid('vm-memory')))}`);
    const api = await apiOk('GET', `${base}/vms/${VM}`);
    if (api.memory !== 4096 || api.cpu !== 3 || api.disks[0].maxIOps !== 1000) throw new Error(`the API has ${JSON.stringify(api)}`);
  });

  await step('Start: running with the new settings, the load of 3 vCPUs', async () => {
    await row.locator(tid('vm-start')).click();
    await rowStatus('running');
    await until(async () => (await detail.locator(tid('vm-cpu-load')).count()) === 3, async () => `the opened VM shows ${await detail.locator(tid('vm-cpu-load')).count()} vCPUs, expected 3`, 10_000);
  });

  await step('Shut down: halted', async () => {
    await row.locator(tid('vm-shutdown')).click();
    await rowStatus('halted');
    if ((await apiOk('GET', `${base}/vms/${VM}`)).status !== 'halted') throw new Error('the API does not say halted');
  });

  await step('a viewer sees the VM and its details, but no buttons that change it', () =>
    asViewer(role, `ui-viewer-${suffix}`, async (v) => {
      await v.goto(`${ZOS_URL}/#/nodes/${encodeURIComponent(nodeId)}?tab=vms&open=${VM}`);
      await v.locator(`${tid('vm-detail')}[data-id="${VM}"] ${tid('vm-info-halted')}`).waitFor({ state: 'visible' });
      for (const m of ['vm-create', 'vm-start', 'vm-edit', 'vm-delete', 'vm-stop', 'vm-pause']) {
        if ((await v.locator(tid(m)).count()) !== 0) throw new Error(`a viewer sees "${m}"`);
      }
    }),
  );

  await step('Delete asks first, then the VM is gone from the list and the API', async () => {
    await confirmDialog(page, row.locator(tid('vm-delete')), 'delete-modal', { name: VM, what: 'the VM', action: 'delete' });
    await until(async () => (await row.count()) === 0, 'the VM row is still there', 10_000);
    if (before === 0) await vms.locator(tid('vms-empty')).waitFor({ state: 'visible' });
    made = false;
    if ((await apiCall('GET', `${base}/vms/${VM}`)).status !== 404) throw new Error(`GET ${VM} is not 404`);
  });

  await step(JOBS_FIRST ? 'the create form followed the jobs it was handed (202): the refused one and the good one' : 'the create form had no job to follow (201)', async () => {
    const followed = await followedJobs();
    log(`forms that followed jobs: ${JSON.stringify(followed)}`);
    if (JOBS_FIRST) {
      if ((followed['vm-form-wait'] || []).length !== 2) throw new Error(`the VM form followed ${(followed['vm-form-wait'] || []).length} jobs, expected 2`);
    } else if (Object.keys(followed).length) {
      throw new Error(`the form followed jobs although the server waits: ${JSON.stringify(followed)}`);
    }
  });

  await step('the Jobs page lists the VM’s create, stop, start, shutdown and delete jobs, linking to the VMs tab', async () => {
    await page.locator(tid('nav-jobs')).click();
    await page.locator(tid('jobs-page')).waitFor({ state: 'visible' });
    const jobs = (action) => page.locator(`${tid('job-row')}[data-kind="vms"][data-target="${nodeId}/${VM}"][data-action="${action}"][data-state="succeeded"]`);
    for (const [action, n] of [['create', 1], ['stop', 1], ['start', 1], ['shutdown', 1], ['delete', 1]]) {
      await until(async () => (await jobs(action).count()) === n, async () => `${await jobs(action).count()} succeeded ${action} jobs of ${VM}, expected ${n}`);
    }
    const link = jobs('create').locator(tid('job-target'));
    if ((await text(link)) !== VM) throw new Error(`the job's target says "${await text(link)}"`);
    if (!(await link.getAttribute('href')).endsWith(`?tab=vms&open=${VM}`)) throw new Error(`the job links to ${await link.getAttribute('href')}`);
  });

  await shot(page, 'jobs');

  await step('the job’s link opens the node’s VMs tab', async () => {
    await page.locator(`${tid('job-row')}[data-kind="vms"][data-target="${nodeId}/${VM}"][data-action="create"][data-state="succeeded"] ${tid('job-target')}`).click();
    await page.locator(tid('node-tabs-panel-vms')).waitFor({ state: 'visible' });
    await page.locator(`${tid('node-tabs-panel-vms')} ${tid('vms-card')}`).waitFor({ state: 'visible' });
    await waitLive(page);
  });

  await checkPageHealthy(page);
}, async () => {
  if (nodeId && made) await report(`DELETE vm ${VM}`, () => apiCall('DELETE', `/nodes/${nodeId}/vms/${VM}`));
});
