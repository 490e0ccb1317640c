#!/usr/bin/env node
// Browser test of the Nodes page with more nodes than one page shows (plain Node script, no runner): 1,000
// nodes registered through the API while the page is open arrive live; the page draws 100 rows at a time,
// turns pages promptly, keeps its page while the heartbeat's burst of status changes and further changes arrive
// live, and the filter covers every node, not only the page shown.
//
//   ZOS_URL=http://127.0.0.1:18080 ZOS_TOKEN=$(cat <data-dir>/admin.token) \
//   SCREENSHOT=/tmp/nodes-paging.png node tests/ui/nodes-paging.mjs
//
// Uses the system Chromium at /usr/bin/chromium (Debian package `chromium`).

import { setup, run, step, log, tid, apiOk, apiCall, report, checkHealth, launch, openApp, signIn, waitLive, assertNotReloaded, checkPageHealthy, screenshot, until, text, LIVE_ROW_TIMEOUT_MS } from './harness.mjs';

await setup({ screenshotName: 'zos-ui-nodes-paging.png', timeoutMs: 180_000 });

const NODES = 1000;
const PAGE = 100;
// A page turn redraws 100 rows from the list already loaded, synchronously in the click: the main thread is busy
// for well under this even on a busy CI machine (it is tens of milliseconds).
const PAGE_TURN_BUDGET_MS = 500;
const id = (i) => `page-${String(i).padStart(4, '0')}`;
const created = new Set();

/** Runs `call` on each item with `concurrency` requests in flight. */
async function inParallel(items, concurrency, call) {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (queue.length) await call(queue.shift());
    }),
  );
}

await run(async () => {
  await checkHealth();
  const page = await launch();
  const rows = page.locator(tid('node-row'));
  const range = page.locator(tid('nodes-page-range'));
  const firstId = () => rows.first().getAttribute('data-node-id');

  /** Clicks `button` in the page, checks the first row is then `expected`, and resolves to the milliseconds
   * the click kept the main thread busy (the page redraws in the click handler). */
  async function turn(button, expected) {
    const busy = await page.evaluate((selector) => {
      const t0 = performance.now();
      document.querySelector(selector).click();
      return Math.round(performance.now() - t0);
    }, tid(button));
    await until(async () => (await firstId()) === expected, async () => `the first row is ${await firstId()}, not ${expected}`);
    return busy;
  }

  await step('open the app and sign in', async () => {
    await openApp(page);
    await signIn(page, { landing: 'nodes-page' });
    await page.locator(`${tid('nodes-table')}, ${tid('nodes-empty')}`).first().waitFor({ state: 'visible' });
    await waitLive(page);
  });

  await step(`register ${NODES} nodes through the API (16 at a time) while the page is open`, async () => {
    // Nothing listens on port 1: the heartbeat finds them unreachable, a burst of status changes.
    await inParallel([...Array(NODES).keys()], 16, async (i) => {
      await apiOk('POST', '/nodes', { id: id(i), address: '127.0.0.1:1', labels: { rack: `r${i % 10}` } }, 201);
      created.add(id(i));
    });
  });

  await step(`they arrive live, ${PAGE} rows drawn: "1–100 of 1,000"`, async () => {
    await until(async () => (await range.count()) === 1 && (await text(range)) === '1–100 of 1,000', async () => `the pager says "${(await range.count()) ? await text(range) : 'nothing'}"`, 20_000);
    if ((await rows.count()) !== PAGE) throw new Error(`${await rows.count()} rows drawn, not ${PAGE}`);
    if ((await firstId()) !== id(0) || (await rows.last().getAttribute('data-node-id')) !== id(99)) {
      throw new Error(`the first page shows ${await firstId()} … ${await rows.last().getAttribute('data-node-id')}`);
    }
    if (!(await page.locator(tid('nodes-page-prev')).isDisabled())) throw new Error('Previous is enabled on the first page');
    if ((await text(page.locator(tid('nodes-count')))) !== String(NODES)) throw new Error('the count is not every node');
    await assertNotReloaded(page);
  });

  await step(`Next turns the pages promptly (each ≤ ${PAGE_TURN_BUDGET_MS} ms) to the last, "901–1,000 of 1,000"`, async () => {
    const times = [];
    for (let p = 1; p < NODES / PAGE; p += 1) times.push(await turn('nodes-page-next', id(p * PAGE)));
    log(`page turns: ${times.join(', ')} ms`);
    const slowest = Math.max(...times);
    if (slowest > PAGE_TURN_BUDGET_MS) throw new Error(`a page turn took ${slowest} ms`);
    if ((await text(range)) !== '901–1,000 of 1,000') throw new Error(`the pager says "${await text(range)}"`);
    if (!(await page.locator(tid('nodes-page-next')).isDisabled())) throw new Error('Next is enabled on the last page');
    if ((await rows.count()) !== PAGE) throw new Error(`${await rows.count()} rows on the last page`);
  });

  await step('Previous goes back one page', async () => {
    await turn('nodes-page-prev', id(800));
    if ((await text(range)) !== '801–900 of 1,000') throw new Error(`the pager says "${await text(range)}"`);
  });

  await step('a change to a node on this page shows live, and the page stays where it is', async () => {
    await apiOk('PATCH', `/nodes/${id(850)}`, { labels: { paged: 'yes' } });
    const chip = page.locator(`${tid('node-row')}[data-node-id="${id(850)}"] ${tid('label-chip')}[data-key="paged"]`);
    await chip.waitFor({ state: 'visible', timeout: LIVE_ROW_TIMEOUT_MS });
    await apiOk('POST', '/nodes', { id: `${id(850)}a`, address: '127.0.0.1:1' }, 201);
    created.add(`${id(850)}a`);
    await page.locator(`${tid('node-row')}[data-node-id="${id(850)}a"]`).waitFor({ state: 'visible', timeout: LIVE_ROW_TIMEOUT_MS });
    await until(async () => (await text(range)) === '801–900 of 1,001', async () => `the pager says "${await text(range)}"`);
    if ((await firstId()) !== id(800)) throw new Error(`the page moved: its first row is ${await firstId()}`);
    await assertNotReloaded(page);
  });

  await step('the filter searches every node, back on its first page', async () => {
    await page.locator(tid('nodes-filter')).fill('rack=r3');
    await until(async () => (await range.count()) === 0, async () => `a pager for one page: "${await text(range)}"`);
    if ((await rows.count()) !== PAGE || (await firstId()) !== id(3)) {
      throw new Error(`rack=r3 shows ${await rows.count()} rows from ${await firstId()}`);
    }
    await page.locator(tid('nodes-filter')).fill('');
    await until(async () => (await text(range)) === '1–100 of 1,001', async () => `the pager says "${await text(range)}"`);
  });

  await checkPageHealthy(page);
  await screenshot(page);
}, async () => {
  let failed = 0;
  await inParallel([...created], 16, async (node) => {
    const res = await apiCall('DELETE', `/nodes/${node}`).catch(() => ({ status: 0 }));
    if (res.status !== 204) failed += 1;
  });
  await report(`DELETE the ${created.size} nodes (${failed} failed)`, async () => ({ status: failed ? 'some failed' : 204 }));
});
