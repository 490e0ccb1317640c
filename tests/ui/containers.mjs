#!/usr/bin/env node
// Browser test of containers and jobs against a server with emulated nodes
// (plain Node script, no runner). The server must run with `--demo 2`; with
// `--apply-wait 0` as well, set APPLY_WAIT=0 so that the test expects every
// change to come back as a job to follow (202) rather than applied (201):
//
//   npm ci --prefix tests/ui            # once: installs playwright-core
//   ZOS_URL=http://127.0.0.1:18480 ZOS_TOKEN=$(cat <data-dir>/admin.token) \
//   SCREENSHOT=/tmp/containers.png node tests/ui/containers.mjs
//
// Signs in, opens a demo node's Containers tab, creates a container through
// the form (a malformed flist, an flist the node's hub does not have and a
// malformed port forward each shown next to their field; then a good one),
// sees it running, runs commands in it and watches their output live, kills
// one, finds the create job (and the failed one) on the Jobs page, checks
// what a viewer sees, then stops and deletes the container. Screenshots of
// each view go beside SCREENSHOT.

import { randomBytes } from 'node:crypto';
import { setup, run, step, log, tid, apiOk, apiCall, asViewer, report, waitLive, checkPageHealthy, screenshot, shot, until, text, startOnDemoNode, JOBS_FIRST, openNode, openNodeTab, expectFieldError, submitAndClose, LIVE_ROW_TIMEOUT_MS } from './harness.mjs';

const { url: ZOS_URL } = await setup({ screenshotName: 'zos-ui-containers.png', timeoutMs: 150_000 });

const HUB = 'https://hub.grid.tf/tf-official-apps';
const NAME = `web-${randomBytes(2).toString('hex')}`;
const PORT = `${20000 + randomBytes(2).readUInt16BE() % 10000}:80`; // a host port no other run holds
const suffix = randomBytes(4).toString('hex');

let nodeId = null; // the demo node the test uses
let before = 0; // containers it had already

await run(async () => {
  const demo = await startOnDemoNode();
  const { page, role } = demo;
  nodeId = demo.nodeId;

  const containers = page.locator(tid('node-tabs-panel-containers'));
  const row = containers.locator(`${tid('container-row')}[data-name="${NAME}"]`);
  const detail = containers.locator(`${tid('container-detail')}[data-name="${NAME}"]`);
  const rowState = row.locator(tid('container-state'));

  await step(`open node ${nodeId}, then its Containers tab (empty)`, async () => {
    await openNode(page, nodeId);
    await page.locator(tid('node-tabs-overview')).waitFor({ state: 'visible' });
    if ((await page.locator(tid('node-tabs-overview')).getAttribute('aria-selected')) !== 'true') throw new Error('the Overview tab is not the first one shown');
    await page.locator(tid('node-chart')).waitFor({ state: 'visible' });
    await openNodeTab(page, 'containers');
    before = (await apiOk('GET', `/nodes/${nodeId}/containers`)).length;
    if (before === 0) await containers.locator(tid('containers-empty')).waitFor({ state: 'visible' });
    else await until(async () => (await containers.locator(tid('container-row')).count()) === before, `the list does not show the ${before} containers the API has`);
    const count = await text(page.locator(`${tid('node-tabs-containers')} .tab-count`));
    if (count !== String(before)) throw new Error(`the tab counts "${count}" containers, the API ${before}`);
  });

  const modal = page.locator(tid('container-modal'));
  await step('New container: a malformed flist is refused next to the flist field (400 field "flist")', async () => {
    await containers.locator(tid('container-create')).click();
    await modal.waitFor({ state: 'visible' });
    await modal.locator(tid('ct-form-name')).fill(NAME);
    await modal.locator(tid('ct-form-flist')).fill('ubuntu-18.04');
    await expectFieldError(modal, 'flist', /http\(s\) URL of a \.flist/);
  });

  // Records each phase of the form's wait (the request, then the job it may hand back).
  await page.evaluate(() => {
    window.__waits = [];
    const seen = new Set();
    new MutationObserver(() => {
      const w = document.querySelector('[data-testid="ct-form-wait"]');
      if (!w || w.hidden) {
        seen.clear();
        return;
      }
      const key = `${w.dataset.phase}:${w.dataset.jobId || ''}:${w.querySelector('[data-testid="job-progress"]')?.dataset.progress ?? ''}`;
      if (seen.has(key)) return;
      seen.add(key);
      window.__waits.push({ phase: w.dataset.phase, jobId: w.dataset.jobId || null, text: w.textContent });
    }).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
  });
  const waits = () => page.evaluate(() => window.__waits.splice(0));

  await step('an flist the node’s hub does not have is refused next to the flist field (unknown_flist)', async () => {
    await modal.locator(tid('ct-form-flist')).fill('https://hub.grid.tf/nobody/does-not-exist.flist');
    await expectFieldError(modal, 'flist', /failed to download flist/);
    const seen = await waits();
    log(`waits: ${JSON.stringify(seen)}`);
    if (!seen.some((w) => w.phase === 'request' && /Waiting for/.test(w.text))) throw new Error('the form did not show that it was waiting for the node');
    if (JOBS_FIRST && !seen.some((w) => w.phase === 'job' && w.jobId)) throw new Error('the form did not follow the job it was handed');
  });

  await step('a malformed port forward is refused next to the ports field (field "ports[0]")', async () => {
    await modal.locator(tid('ct-form-flist')).fill(`${HUB}/busybox.flist`);
    await modal.locator(tid('ct-form-ports')).fill('80');
    await expectFieldError(modal, 'ports', /port forward “80”: must be 'hostport:containerport'/);
    await waits();
  });

  await shot(page, 'form', { fullPage: false });

  await step('a good container is created: the form closes and the row shows it running with its flist and port', async () => {
    await modal.locator(tid('ct-form-ports')).fill(PORT);
    await modal.locator(tid('ct-form-init')).fill('sleep 3600');
    await modal.locator(tid('ct-form-env')).fill('GREETING=hello');
    await submitAndClose(modal, 'container');
    const seen = await waits();
    log(`waits: ${JSON.stringify(seen)}`);
    if (JOBS_FIRST) {
      const job = seen.find((w) => w.phase === 'job' && w.jobId);
      if (!job) throw new Error('the form did not follow the create job');
    }
    await until(async () => (await rowState.getAttribute('data-state')) === 'running', async () => `the row's state is "${await rowState.getAttribute('data-state').catch(() => 'missing')}"`);
    const flist = await text(row.locator(tid('container-flist')));
    const ports = await text(row.locator(tid('container-ports')));
    if (flist !== 'busybox' || ports !== PORT) throw new Error(`the row shows flist "${flist}" and ports "${ports}"`);
    const api = await apiOk('GET', `/nodes/${nodeId}/containers/${NAME}`);
    if (api.status !== 'running' || api.initprocesses[0].name !== 'sleep' || api.initprocesses[0].environment[0] !== 'GREETING=hello') {
      throw new Error(`the API has ${JSON.stringify(api)}`);
    }
    const count = await text(page.locator(`${tid('node-tabs-containers')} .tab-count`));
    if (count !== String(before + 1)) throw new Error(`the tab counts "${count}" containers, expected ${before + 1}`);
  });

  await step('its details are open: facts, its processes (the start command) and its jobs', async () => {
    await detail.waitFor({ state: 'visible' });
    const url = await text(detail.locator(tid('container-flist-url')));
    if (url !== `${HUB}/busybox.flist`) throw new Error(`the details show the flist "${url}"`);
    const processes = detail.locator(tid('container-process-row'));
    await until(async () => (await processes.filter({ hasText: 'sleep 3600' }).count()) === 1, async () => `processes: ${(await processes.allTextContents()).join(' | ') || 'none'}`);
    await until(async () => (await detail.locator(tid('container-job-row')).count()) >= 1, async () => 'the jobs table lists no job (the start command runs as one)');
  });

  const consoleLines = detail.locator(tid('console-line'));
  const result = detail.locator(tid('console-result'));

  async function runCommand(command) {
    await detail.locator(tid('run-command')).fill(command);
    await detail.locator(tid('run-submit')).click();
    await until(async () => (await text(detail.locator(tid('console-title')))) === `$ ${command}`, async () => `the output box is titled "${await text(detail.locator(tid('console-title')))}"`);
  }

  async function waitResult(state, timeout = LIVE_ROW_TIMEOUT_MS) {
    await until(async () => (await result.getAttribute('data-state')) === state, async () => `the command's result is "${await result.getAttribute('data-state')}", not "${state}"; output: ${(await consoleLines.allTextContents()).join(' | ')}`, timeout);
  }

  await step('run `seq 5`: the five lines appear and the run succeeds', async () => {
    await runCommand('seq 5');
    await waitResult('success');
    const lines = await consoleLines.allTextContents();
    if (lines.join(',') !== '1,2,3,4,5') throw new Error(`the output is ${JSON.stringify(lines)}`);
  });

  await step('run `ping -c 5 -i 0.4 127.0.0.1`: lines appear while it still runs, then all six', async () => {
    await runCommand('ping -c 5 -i 0.4 127.0.0.1');
    await until(
      async () => (await consoleLines.count()) >= 1 && (await result.getAttribute('data-state')) === 'running',
      async () => `no output while running (${await consoleLines.count()} lines, result "${await result.getAttribute('data-state')}")`,
    );
    const early = await consoleLines.count();
    await waitResult('success');
    const lines = await consoleLines.allTextContents();
    if (lines.length !== 6 || !lines[0].startsWith('PING 127.0.0.1') || !/icmp_seq=5 /.test(lines[5])) throw new Error(`the output is ${JSON.stringify(lines)}`);
    log(`${early} line(s) shown while running; then ${lines.length}: ${lines[5]}`);
  });

  await step('run `sleep 30` and kill it with the Kill button', async () => {
    await runCommand('sleep 30');
    await waitResult('running');
    const sleeper = detail.locator(tid('container-job-row')).filter({ has: page.locator(`[data-testid="container-job-attach"][disabled]`) });
    await until(async () => (await sleeper.count()) === 1, 'the jobs table does not show the running command as the one watched');
    await detail.locator(tid('console-kill')).click();
    await waitResult('killed');
  });

  await step('a program the container does not have fails with the node’s message', async () => {
    await runCommand('no-such-program --now');
    await waitResult('error');
    const lines = await consoleLines.allTextContents();
    if (!lines.some((l) => /executable file not found/.test(l))) throw new Error(`the output is ${JSON.stringify(lines)}`);
  });

  await step('a job started elsewhere: Show output attaches to it, lines arrive, Kill ends it', async () => {
    const started = await apiOk('POST', `/nodes/${nodeId}/containers/${NAME}/jobs`, { name: 'ping', args: ['-c', '100', '-i', '0.2', '10.1.2.3'] }, 202);
    await detail.locator(tid('container-jobs-refresh')).click();
    const jobRow = detail.locator(`${tid('container-job-row')}[data-job-id="${started.id}"]`);
    await jobRow.waitFor({ state: 'visible' });
    await jobRow.locator(tid('container-job-attach')).click();
    await until(async () => (await text(detail.locator(tid('console-title')))) === `job ${started.id}`, 'the output box did not switch to the job');
    await until(async () => (await consoleLines.filter({ hasText: 'from 10.1.2.3: icmp_seq=' }).count()) >= 2, async () => `attached output: ${(await consoleLines.allTextContents()).join(' | ') || 'none'}`);
    await detail.locator(tid('console-kill')).click();
    await until(async () => (await result.getAttribute('data-state')) !== 'running', 'the attached job still runs after Kill');
    const job = await apiOk('GET', `/nodes/${nodeId}/containers/${NAME}/jobs/${started.id}`);
    if (job.state !== 'killed') throw new Error(`the job's state is "${job.state}" after Kill`);
    log(`attached output ended as "${await result.getAttribute('data-state')}"; the job is ${job.state}`);
  });

  await step('run `ping -c 3 -i 0.2 127.0.0.1` for the screenshot', async () => {
    await runCommand('ping -c 3 -i 0.2 127.0.0.1');
    await waitResult('success');
  });

  await screenshot(page);

  await step('the Jobs page lists the create job as succeeded at 100 %, and the failed one with its error', async () => {
    await page.locator(tid('nav-jobs')).click();
    await page.locator(tid('jobs-page')).waitFor({ state: 'visible' });
    const target = `${nodeId}/${NAME}`;
    const created = page.locator(`${tid('job-row')}[data-action="create"][data-target="${target}"][data-state="succeeded"]`);
    await until(async () => (await created.count()) === 1, async () => `rows: ${(await page.locator(tid('job-row')).evaluateAll((els) => els.map((e) => `${e.dataset.action} ${e.dataset.target} ${e.dataset.state}`))).join(' | ')}`);
    const progress = created.locator(tid('job-progress'));
    if ((await progress.getAttribute('data-progress')) !== '100') throw new Error(`the create job's progress is ${await progress.getAttribute('data-progress')}`);
    const failed = page.locator(`${tid('job-row')}[data-action="create"][data-target="${target}"][data-state="failed"]`);
    if ((await failed.count()) !== 1) throw new Error(`${await failed.count()} failed create jobs for ${target}`);
    const error = await text(failed.locator(tid('job-error')));
    if (!/failed to download flist/.test(error)) throw new Error(`the failed job says "${error}"`);
    await page.locator(`${tid('jobs-show-failed')}`).click();
    const states = () => page.locator(tid('job-row')).evaluateAll((els) => els.map((e) => e.dataset.state));
    await until(async () => (await states()).every((s) => s === 'failed') && (await failed.count()) === 1, async () => `the Failed filter shows ${(await states()).join(', ')}`);
    await page.locator(`${tid('jobs-show-all')}`).click();
  });

  await step('a job stays live on the Jobs page: a stop made elsewhere appears and ends as succeeded', async () => {
    const res = await apiCall('POST', `/nodes/${nodeId}/containers/${NAME}/stop`);
    if (![202, 204].includes(res.status)) throw new Error(`POST …/stop → HTTP ${res.status}`);
    const stopped = page.locator(`${tid('job-row')}[data-action="stop"][data-target="${nodeId}/${NAME}"][data-state="succeeded"]`);
    await until(async () => (await stopped.count()) === 1, 'the stop job did not show up as succeeded');
  });

  await shot(page, 'jobs');

  await step('the job’s target links to the container on its node, details open, halted', async () => {
    await page.locator(`${tid('job-row')}[data-action="create"][data-state="succeeded"] ${tid('job-target')}`).first().click();
    await page.locator(tid('node-page')).waitFor({ state: 'visible' });
    await containers.waitFor({ state: 'visible' });
    await detail.waitFor({ state: 'visible' });
    await until(async () => (await rowState.getAttribute('data-state')) === 'halted', async () => `the row's state is "${await rowState.getAttribute('data-state')}"`);
    await detail.locator(tid('container-halted')).waitFor({ state: 'visible' });
    await waitLive(page);
  });

  await step('Start brings it back to running, with its processes', async () => {
    await row.locator(tid('container-start')).click();
    await until(async () => (await rowState.getAttribute('data-state')) === 'running', async () => `the row's state is "${await rowState.getAttribute('data-state')}"`, 10_000);
    await until(async () => (await detail.locator(tid('container-process-row')).count()) >= 1, 'no processes after the start');
  });

  await step('its “Last job” opens the Jobs page filtered to that job (the start)', async () => {
    await detail.locator(tid('container-job-link')).click();
    await page.locator(tid('jobs-page')).waitFor({ state: 'visible' });
    const rows = page.locator(tid('job-row'));
    await until(async () => (await rows.count()) === 1 && (await rows.first().getAttribute('data-action')) === 'start', async () => `rows: ${(await rows.evaluateAll((els) => els.map((e) => e.dataset.action))).join(', ')}`);
    await page.goBack();
    await detail.waitFor({ state: 'visible' });
  });

  await step('a viewer sees the container and its output box, but no buttons that change anything', () =>
    asViewer(role, `ui-viewer-${suffix}`, async (v) => {
      await v.goto(`${ZOS_URL}/#/nodes/${encodeURIComponent(nodeId)}?tab=containers&open=${NAME}`);
      await v.locator(`${tid('container-detail')}[data-name="${NAME}"]`).waitFor({ state: 'visible' });
      await v.locator(`${tid('container-row')}[data-name="${NAME}"] ${tid('container-state')}[data-state="running"]`).waitFor({ state: 'visible' });
      for (const m of ['container-create', 'container-stop', 'container-start', 'container-delete', 'run-form', 'container-process-kill', 'container-job-kill']) {
        if ((await v.locator(tid(m)).count()) !== 0) throw new Error(`a viewer sees "${m}"`);
      }
      await v.goto(`${ZOS_URL}/#/jobs`);
      await v.locator(tid('job-row')).first().waitFor({ state: 'visible' });
    }),
  );

  await step('Stop: the row says halted and the details say why there is nothing to show', async () => {
    await row.locator(tid('container-stop')).click();
    await until(async () => (await rowState.getAttribute('data-state')) === 'halted', async () => `the row's state is "${await rowState.getAttribute('data-state')}"`, 10_000);
    await detail.locator(tid('container-halted')).waitFor({ state: 'visible' });
  });

  await step('Delete asks first, then the container is gone from the list and the API', async () => {
    await row.locator(tid('container-delete')).click();
    const confirm = page.locator(tid('delete-modal'));
    await confirm.waitFor({ state: 'visible' });
    await confirm.locator(tid('modal-submit')).click();
    await until(async () => (await confirm.count()) === 0, 'the delete dialog stays open', 10_000);
    await until(async () => (await row.count()) === 0, 'the row is still there', 10_000);
    if (before === 0) await containers.locator(tid('containers-empty')).waitFor({ state: 'visible' });
    const list = await apiOk('GET', `/nodes/${nodeId}/containers`);
    if (list.some((c) => c.name === NAME)) throw new Error(`the API still lists ${NAME}`);
  });

  await checkPageHealthy(page);
}, async () => {
  // Whatever the test left behind (it deletes the container itself when it passes).
  if (nodeId) await report(`DELETE /nodes/${nodeId}/containers/${NAME}`, () => apiCall('DELETE', `/nodes/${nodeId}/containers/${NAME}`));
});
