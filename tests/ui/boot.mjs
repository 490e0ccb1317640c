#!/usr/bin/env node
// Browser test of the Boot page of the zos-orchestrator web UI (plain Node script, no runner).
//
//   npm ci --prefix tests/ui            # once: installs playwright-core
//   ZOS_URL=http://127.0.0.1:18080 ZOS_TOKEN=$(cat <data-dir>/admin.token) \
//   SCREENSHOT=/tmp/boot.png node tests/ui/boot.mjs
//
// Uploads two small generated assets, creates a profile, settings and a MAC
// selector through the UI, fetches /boot.ipxe for that MAC and checks that the
// request shows up live in "Recent boots". Everything it creates is removed
// again at the end (settings are restored).
//
// Uses the system Chromium at /usr/bin/chromium (Debian package `chromium`).
// Exits non-zero with the reason on any failure.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createHash, randomBytes } from 'node:crypto';
import { setup, run, step, log, report, tid, apiCall, apiOk, checkHealth, launch, asViewer, openApp, signIn, waitLive, assertNotReloaded, checkPageHealthy, screenshot, firstOf, waitModalClosed, STEP_TIMEOUT_MS, LIVE_ROW_TIMEOUT_MS } from './harness.mjs';

const { url: ZOS_URL } = await setup({ screenshotName: 'zos-ui-boot.png', timeoutMs: 150_000 });

const assetRow = (name) => `${tid('asset-row')}[data-name="${name}"]`;
const profileRow = (name) => `${tid('profile-row')}[data-name="${name}"]`;
const selectorRow = (name) => `${tid('selector-row')}[data-name="${name}"]`;

const suffix = randomBytes(4).toString('hex');
const MAC = '52:54:00:aa:bb:cc';
const ZEROTIER = 'abcdef0123456789';
const CMDLINE = 'console=ttyS0 zerotier={zerotier}';
const profileName = `ui-boot-${suffix}`;
const selectorName = `ui-mac-${suffix}`;

// Two small generated files, named as the assets they become.
const workDir = mkdtempSync(join(tmpdir(), 'zos-ui-boot-'));
// `shown` is the size as the asset table shows it.
const files = [
  { name: 'kernel-test', size: 5 * 1024 + 123, shown: '5.1 KiB' },
  { name: 'initrd-test', size: 3 * 1024 + 45, shown: '3.0 KiB' },
].map((f) => {
  const bytes = randomBytes(f.size);
  const path = join(workDir, f.name);
  writeFileSync(path, bytes);
  return { ...f, path, sha256: createHash('sha256').update(bytes).digest('hex') };
});
const [KERNEL, INITRD] = files;

const cleanup = {
  selector: false,
  profile: false,
  settings: null, // the settings to restore
  assets: new Set(), // assets this test created (not replaced)
};

// ---- test --------------------------------------------------------------------

await run(async () => {
  await checkHealth();

  await step('boot API preconditions', async () => {
    cleanup.settings = await apiOk('GET', '/boot/settings');
    const selectors = await apiOk('GET', '/boot/selectors');
    const clash = (selectors || []).find((s) => s.mac === MAC);
    if (clash) {
      throw new Error(`selector "${clash.name}" already matches ${MAC}; remove it first (DELETE /boot/selectors/${clash.name})`);
    }
    const assets = await apiOk('GET', '/boot/assets');
    for (const f of files) {
      if ((assets || []).some((a) => a.name === f.name)) log(`asset ${f.name} exists already: the upload replaces it`);
    }
  });

  const page = await launch();

  const role = await step(`open ${ZOS_URL}/ and sign in with the token`, async () => {
    await openApp(page);
    const signedIn = await signIn(page);
    log(`signed in (${signedIn.role})`);
    return signedIn.role;
  });

  await step('open the Boot page from the navigation', async () => {
    await page.locator(tid('nav-boot')).click();
    await page.locator(tid('boot-page')).waitFor({ state: 'visible' });
    if (!page.url().endsWith('#/boot')) throw new Error(`expected the URL to end with #/boot, got ${page.url()}`);
    const active = await page.locator(`${tid('nav-boot')}[aria-current="page"]`).count();
    if (active !== 1) throw new Error('the Boot navigation entry is not marked as the current page');
    const title = await page.title();
    if (!title.startsWith('Boot')) throw new Error(`unexpected document title "${title}"`);
    await page.locator(`${tid('boots-table')}, ${tid('boots-empty')}`).first().waitFor({ state: 'visible' });
    await waitLive(page);
  });

  for (const f of files) {
    await step(`upload ${f.name} (${f.size} bytes) through the UI`, async () => {
      await openTab(page, 'assets');
      const card = page.locator(tid('asset-upload-card'));
      await card.waitFor({ state: 'visible' });
      await card.locator(tid('asset-file')).setInputFiles(f.path);
      const suggested = await card.locator(tid('asset-name')).inputValue();
      if (suggested !== f.name) throw new Error(`the name field suggests "${suggested}", expected the file name "${f.name}"`);
      await card.locator(tid('asset-upload-submit')).click();
      const result = card.locator(`${tid('asset-upload-result')}[data-name="${f.name}"]`);
      const error = card.locator(`${tid('asset-upload-error')}:visible, .field-message:visible`);
      const outcome = await firstOf({
        done: () => result.isVisible(),
        error: async () => (await error.count()) > 0,
      });
      if (outcome === 'error') throw new Error(`the upload shows an error: ${(await error.first().textContent()).trim()}`);
      if (outcome === null) throw new Error(`no upload result within ${STEP_TIMEOUT_MS} ms`);
      if ((await result.getAttribute('data-status')) === 'uploaded') cleanup.assets.add(f.name);
      const shownSha = (await result.locator(tid('asset-upload-sha256')).textContent()).trim();
      if (shownSha !== f.sha256) throw new Error(`the upload result shows sha256 ${shownSha}, expected ${f.sha256}`);

      const row = page.locator(assetRow(f.name));
      await row.waitFor({ state: 'visible' });
      const size = row.locator(tid('asset-size'));
      const bytes = await size.getAttribute('data-bytes');
      const sizeText = (await size.textContent()).trim();
      if (bytes !== String(f.size) || sizeText !== f.shown) {
        throw new Error(`the row shows size "${sizeText}" (${bytes} bytes), expected "${f.shown}" (${f.size})`);
      }
      const rowSha = (await row.locator(tid('asset-sha256')).textContent()).trim();
      if (rowSha !== f.sha256) throw new Error(`the row shows sha256 ${rowSha}, expected ${f.sha256}`);
      const href = await row.locator(tid('asset-link')).getAttribute('href');
      if (href !== `/boot/assets/${f.name}`) throw new Error(`the asset links to "${href}", expected /boot/assets/${f.name}`);

      const listed = (await apiOk('GET', '/boot/assets')).find((a) => a.name === f.name);
      if (!listed || listed.size !== f.size || listed.sha256 !== f.sha256) {
        throw new Error(`GET /boot/assets has ${JSON.stringify(listed)}, expected size ${f.size} and sha256 ${f.sha256}`);
      }
      const download = await fetch(`${ZOS_URL}${href}`);
      const got = Buffer.from(await download.arrayBuffer());
      if (download.status !== 200 || createHash('sha256').update(got).digest('hex') !== f.sha256) {
        throw new Error(`GET ${href} (no token) → HTTP ${download.status}, ${got.length} bytes: not the uploaded file`);
      }
    });
  }

  await step(`create profile ${profileName} through the UI`, async () => {
    await openTab(page, 'profiles');
    await page.locator(tid('profile-create')).click();
    const modal = page.locator(tid('profile-modal'));
    await modal.waitFor({ state: 'visible' });
    await modal.locator(tid('profile-form-name')).fill(profileName);
    await modal.locator(tid('profile-form-description')).fill('UI test profile');
    await modal.locator(tid('profile-kernel-kind-asset')).click();
    await modal.locator(tid('profile-form-kernel-asset')).selectOption(KERNEL.name);
    await modal.locator(tid('profile-initrd-select')).selectOption(INITRD.name);
    await modal.locator(tid('profile-initrd-add')).click();
    await modal.locator(`${tid('profile-initrd-row')}[data-name="${INITRD.name}"]`).waitFor({ state: 'visible' });
    await modal.locator(tid('profile-form-cmdline')).fill(CMDLINE);
    const preview = (await modal.locator(tid('profile-cmdline-preview')).textContent()).trim();
    if (!preview.startsWith('console=ttyS0 zerotier=')) throw new Error(`unexpected command-line preview "${preview}"`);
    await modal.locator(tid('modal-submit')).click();
    await waitModalClosed(modal, 'profile');
    cleanup.profile = true;
    const row = page.locator(profileRow(profileName));
    await row.waitFor({ state: 'visible' });
    const kernelText = (await row.locator(tid('profile-kernel')).textContent()).trim();
    if (!kernelText.includes(KERNEL.name)) throw new Error(`the row shows kernel "${kernelText}"`);
    const profile = await apiOk('GET', `/boot/profiles/${profileName}`);
    const want = { kernel: { asset: KERNEL.name }, initrds: [INITRD.name], cmdline: CMDLINE };
    const got = { kernel: profile.kernel, initrds: profile.initrds, cmdline: profile.cmdline };
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      throw new Error(`the server has ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
    }
  });

  await step(`edit the description of ${profileName} (PUT, name immutable)`, async () => {
    await page.locator(`${profileRow(profileName)} ${tid('profile-edit')}`).click();
    const modal = page.locator(tid('profile-modal'));
    await modal.waitFor({ state: 'visible' });
    if ((await modal.locator(tid('profile-form-name')).count()) !== 0) {
      throw new Error('the edit form offers to change the profile name');
    }
    const kernel = await modal.locator(tid('profile-form-kernel-asset')).inputValue();
    if (kernel !== KERNEL.name) throw new Error(`the edit form shows kernel "${kernel}"`);
    await modal.locator(tid('profile-form-description')).fill('UI test profile (edited)');
    await modal.locator(tid('modal-submit')).click();
    await waitModalClosed(modal, 'edit profile');
    await page
      .locator(`${profileRow(profileName)} ${tid('profile-description')}`, { hasText: '(edited)' })
      .waitFor({ state: 'visible' });
    const profile = await apiOk('GET', `/boot/profiles/${profileName}`);
    if (profile.description !== 'UI test profile (edited)' || profile.initrds.length !== 1) {
      throw new Error(`the server has ${JSON.stringify(profile)}`);
    }
  });

  await step('show an API field error in the settings form', async () => {
    await openTab(page, 'settings');
    await page.locator(tid('settings-edit')).click();
    const modal = page.locator(tid('settings-modal'));
    await modal.waitFor({ state: 'visible' });
    await modal.locator(tid('settings-form-zerotier')).fill('not-a-network');
    await modal.locator(tid('modal-submit')).click();
    const message = modal.locator('[data-field="zerotierNetwork"] .field-message');
    await message.waitFor({ state: 'visible' });
    const text = (await message.textContent()).trim();
    if (!/16 hex/i.test(text)) throw new Error(`unexpected field message "${text}"`);
    await modal.locator(tid('modal-cancel')).click();
    await modal.waitFor({ state: 'detached' });
  });

  await step(`set ZeroTier network ${ZEROTIER} and default profile ${profileName} through the UI`, async () => {
    await page.locator(tid('settings-edit')).click();
    const modal = page.locator(tid('settings-modal'));
    await modal.waitFor({ state: 'visible' });
    await modal.locator(tid('settings-form-zerotier')).fill(ZEROTIER);
    await modal.locator(tid('settings-form-default-profile')).selectOption(profileName);
    await modal.locator(tid('modal-submit')).click();
    await waitModalClosed(modal, 'settings');
    await page.locator(tid('settings-zerotier'), { hasText: ZEROTIER }).waitFor({ state: 'visible' });
    await page.locator(tid('settings-default-profile'), { hasText: profileName }).waitFor({ state: 'visible' });
    // Read-only, from /health: the test server runs without --proxy-dhcp.
    await page.locator(tid('settings-proxy-dhcp'), { hasText: 'Off' }).waitFor({ state: 'visible' });
    const settings = await apiOk('GET', '/boot/settings');
    if (settings.zerotierNetwork !== ZEROTIER || settings.defaultProfile !== profileName) {
      throw new Error(`the server has ${JSON.stringify(settings)}`);
    }
  });

  await step(`create MAC selector ${selectorName} → ${profileName} through the UI`, async () => {
    await openTab(page, 'selectors');
    await page.locator(tid('selector-create')).click();
    const modal = page.locator(tid('selector-modal'));
    await modal.waitFor({ state: 'visible' });
    await modal.locator(tid('selector-kind-mac')).click();
    await modal.locator(tid('selector-form-value')).fill(MAC.toUpperCase());
    await modal.locator(tid('selector-form-name')).fill(selectorName);
    await modal.locator(tid('selector-form-profile')).selectOption(profileName);
    await modal.locator(tid('modal-submit')).click();
    await waitModalClosed(modal, 'selector');
    cleanup.selector = true;
    const row = page.locator(selectorRow(selectorName));
    await row.waitFor({ state: 'visible' });
    const value = await row.getAttribute('data-value');
    if (value !== MAC) throw new Error(`the row shows MAC "${value}", expected the normalised ${MAC}`);
    const selector = await apiOk('GET', `/boot/selectors/${selectorName}`);
    if (selector.mac !== MAC || selector.profile !== profileName) throw new Error(`the server has ${JSON.stringify(selector)}`);
  });

  await step(`GET /boot.ipxe?mac=${MAC} shows up live in Recent boots`, async () => {
    await openTab(page, 'boots');
    const newest = await apiOk('GET', '/boot/events?limit=1');
    const before = newest && newest.length ? newest[0].id : '';
    const res = await fetch(`${ZOS_URL}/boot.ipxe?mac=${MAC}`);
    const script = await res.text();
    if (res.status !== 200) throw new Error(`GET /boot.ipxe → HTTP ${res.status}: ${script.slice(0, 200)}`);
    for (const want of [`zerotier=${ZEROTIER}`, `/boot/assets/${KERNEL.name}`, `/boot/assets/${INITRD.name}`]) {
      if (!script.includes(want)) throw new Error(`the boot script lacks "${want}":\n${script}`);
    }
    let id;
    try {
      const handle = await page.waitForFunction(
        ({ before: b, mac }) => {
          const rows = document.querySelectorAll('[data-testid="boot-event-row"][data-file="boot.ipxe"]');
          for (const r of rows) {
            if (r.dataset.mac === mac && r.dataset.eventId > b && r.offsetParent !== null) return r.dataset.eventId;
          }
          return null;
        },
        { before, mac: MAC },
        { timeout: LIVE_ROW_TIMEOUT_MS, polling: 100 },
      );
      id = await handle.jsonValue();
    } catch {
      throw new Error(`no row for the boot.ipxe request appeared within ${LIVE_ROW_TIMEOUT_MS} ms (is GET /events delivering boot_events changes?)`);
    }
    const row = page.locator(`${tid('boot-event-row')}[data-event-id="${id}"]`);
    const cells = {
      mac: (await row.locator(tid('boot-event-mac')).textContent()).trim(),
      protocol: (await row.locator(tid('boot-event-protocol')).textContent()).trim(),
      outcome: await row.locator(tid('boot-event-outcome')).getAttribute('data-outcome'),
      profile: (await row.locator(tid('boot-event-profile')).textContent()).trim(),
    };
    log(`row ${id}: ${JSON.stringify(cells)}`);
    if (cells.mac !== MAC || cells.protocol !== 'HTTP' || cells.outcome !== 'ok' || cells.profile !== profileName) {
      throw new Error(`the row shows ${JSON.stringify(cells)}`);
    }
    await assertNotReloaded(page);
  });

  await step(`deleting ${KERNEL.name} (used by ${profileName}) shows the 409 message`, async () => {
    await openTab(page, 'assets');
    await page.locator(`${assetRow(KERNEL.name)} ${tid('asset-delete')}`).click();
    const modal = page.locator(tid('delete-modal'));
    await modal.waitFor({ state: 'visible' });
    await modal.locator(tid('modal-submit')).click();
    const error = modal.locator(tid('modal-error'));
    try {
      await error.waitFor({ state: 'visible' });
    } catch {
      throw new Error((await modal.count()) ? 'no error was shown in the delete modal' : 'the delete modal closed: was the asset deleted?');
    }
    const text = (await error.textContent()).trim();
    log(`modal error: ${text}`);
    if (!text.includes('used by profile') || !text.includes(profileName)) throw new Error(`unexpected message "${text}"`);
    await modal.locator(tid('modal-cancel')).click();
    await modal.waitFor({ state: 'detached' });
    await page.locator(assetRow(KERNEL.name)).waitFor({ state: 'visible' });
    const listed = (await apiOk('GET', '/boot/assets')).some((a) => a.name === KERNEL.name);
    if (!listed) throw new Error(`${KERNEL.name} is gone from GET /boot/assets`);
  });

  await step('a viewer sees the Boot page read-only', () =>
    asViewer(role, `ui-viewer-${suffix}`, async (v) => {
      await v.goto(`${ZOS_URL}/#/boot?tab=profiles`);
      await v.locator(tid('boot-page')).waitFor({ state: 'visible' });
      await v.locator(tid('readonly')).waitFor({ state: 'visible' });
      await v.locator(profileRow(profileName)).waitFor({ state: 'visible' });
      for (const t of ['assets', 'selectors', 'settings']) await openTab(v, t);
      await v.locator(assetRow(KERNEL.name)).waitFor({ state: 'attached' });
      await v.locator(selectorRow(selectorName)).waitFor({ state: 'attached' });
      const mutators = [
        'profile-create', 'profile-edit', 'profile-delete', 'selector-create', 'selector-delete',
        'asset-upload-card', 'asset-delete', 'asset-replace', 'settings-edit',
      ];
      for (const m of mutators) {
        if ((await v.locator(tid(m)).count()) !== 0) throw new Error(`a viewer sees "${m}"`);
      }
    }),
  );

  await checkPageHealthy(page);

  await screenshot(page, () => openTab(page, 'boots'));
}, async () => {
  if (cleanup.selector) await report(`DELETE /boot/selectors/${selectorName}`, () => apiCall('DELETE', `/boot/selectors/${selectorName}`));
  if (cleanup.settings) await report('PUT /boot/settings (restore)', () => apiCall('PUT', '/boot/settings', cleanup.settings));
  if (cleanup.profile) await report(`DELETE /boot/profiles/${profileName}`, () => apiCall('DELETE', `/boot/profiles/${profileName}`));
  for (const name of cleanup.assets) await report(`DELETE /boot/assets/${name}`, () => apiCall('DELETE', `/boot/assets/${name}`));
  rmSync(workDir, { recursive: true, force: true });
});

// Switches the Boot page to a tab and waits for its panel.
async function openTab(p, key) {
  await p.locator(tid(`boot-tabs-${key}`)).click();
  await p.locator(tid(`boot-tabs-panel-${key}`)).waitFor({ state: 'visible' });
}
