#!/usr/bin/env node
// Browser test of the Boot page's "Boot media" tab (plain Node script, no runner).
//
//   npm ci --prefix tests/ui            # once: installs playwright-core
//   ZOS_URL=http://127.0.0.1:18080 ZOS_TOKEN=$(cat <data-dir>/admin.token) \
//   SCREENSHOT=/tmp/boot-media.png node tests/ui/boot-media.mjs
//
// With a ZeroTier network in the boot settings and a profile made through the
// API, the tab offers the settings' network, refuses a malformed one next to
// its field, builds the link for a USB image of a chosen network, release,
// profile and kernel arguments (its URL, the script it chains to and the dd
// line checked), downloads it in the browser and with HEAD and GET (200,
// Content-Disposition, Content-Length), and says for lkrn and the EFI binary
// how each gets its script. Restores the settings and removes the profile.
//
// Uses the system Chromium at /usr/bin/chromium (Debian package `chromium`).

import { randomBytes } from 'node:crypto';
import { setup, run, step, log, report, tid, apiCall, apiOk, checkHealth, launch, openApp, signIn, waitLive, checkPageHealthy, screenshot, until, text } from './harness.mjs';

const { url: ZOS_URL } = await setup({ screenshotName: 'zos-ui-boot-media.png', timeoutMs: 120_000 });

const SETTINGS_NETWORK = 'abcdef0123456789';
const NETWORK = '8056c2e21c000001';
const RELEASE = 'v3.1.0';
const ARGS = 'console=ttyS0 debug';
const profileName = `ui-media-${randomBytes(4).toString('hex')}`;
const cleanup = { settings: null, profile: false };

const field = (page, name) => page.locator(`${tid('media-form')} [data-field="${name}"]`);

await run(async () => {
  await checkHealth();

  await step(`preconditions: settings' network ${SETTINGS_NETWORK}, profile ${profileName}`, async () => {
    cleanup.settings = await apiOk('GET', '/boot/settings');
    await apiOk('PUT', '/boot/settings', { ...cleanup.settings, zerotierNetwork: SETTINGS_NETWORK });
    await apiOk('POST', '/boot/profiles', { name: profileName, kernel: { release: RELEASE }, cmdline: 'zerotier={zerotier}' }, 201);
    cleanup.profile = true;
  });

  const page = await launch();
  await step(`open ${ZOS_URL}/, sign in, open Boot → Boot media`, async () => {
    await openApp(page);
    await signIn(page);
    await page.locator(tid('nav-boot')).click();
    await page.locator(tid('boot-tabs-media')).click();
    await page.locator(tid('boot-tabs-panel-media')).waitFor({ state: 'visible' });
    if (!page.url().endsWith('#/boot?tab=media')) throw new Error(`the URL is ${page.url()}`);
    await waitLive(page);
  });

  await step('the form starts with the settings’ network and an ISO of master', async () => {
    await until(async () => (await page.locator(tid('media-network')).inputValue()) === SETTINGS_NETWORK, 'the network field does not hold the settings’ network');
    const offered = await page.locator('#media-networks option').evaluateAll((os) => os.map((o) => o.value));
    if (!offered.includes(SETTINGS_NETWORK)) throw new Error(`the network list offers ${JSON.stringify(offered)}`);
    await until(async () => (await page.locator(tid('media-url')).count()) === 1, 'no image URL shown');
    const shown = await text(page.locator(tid('media-url')));
    if (shown !== `${ZOS_URL}/iso/master/${SETTINGS_NETWORK}`) throw new Error(`the first image URL is ${shown}`);
  });

  await step('a malformed network is refused next to its field (the server’s 400)', async () => {
    await page.locator(tid('media-network')).fill('not-hex');
    const msg = field(page, 'network').locator('.field-message');
    await until(() => msg.isVisible(), 'no message next to the network field');
    const said = await text(msg);
    if (!/network|hex|zerotier/i.test(said)) throw new Error(`the network field says "${said}"`);
    if ((await page.locator(tid('media-download')).count()) !== 0) throw new Error('a download link is offered for a refused choice');
    log(`network: "${said}"`);
  });

  const path = `/usb/${RELEASE}/${NETWORK}/${encodeURIComponent(ARGS)}?profile=${profileName}`;
  const filename = `zos-${RELEASE}-${NETWORK}-${profileName}.img`;
  await step(`pick usb, ${NETWORK}, ${RELEASE}, ${profileName}, "${ARGS}": the link is ${path}`, async () => {
    await page.locator(tid('media-kind-usb')).click();
    await page.locator(tid('media-network')).fill(NETWORK);
    await page.locator(tid('media-release')).fill(RELEASE);
    await page.locator(tid('media-profile')).selectOption(profileName);
    await page.locator(tid('media-args')).fill(ARGS);
    const link = page.locator(tid('media-download'));
    await until(async () => (await link.getAttribute('href').catch(() => null)) === path, async () => `the link is ${await link.getAttribute('href').catch(() => 'missing')}`);
    if ((await field(page, 'network').locator('.field-message').isVisible())) throw new Error('the network error stayed');
    if ((await link.getAttribute('download')) !== filename) throw new Error(`the link saves as ${await link.getAttribute('download')}`);
    const url = await text(page.locator(tid('media-url')));
    if (url !== `${ZOS_URL}${path}`) throw new Error(`the image URL shown is ${url}`);
    const script = await text(page.locator(tid('media-script')));
    if (!script.includes(`/ipxe/${RELEASE}/${NETWORK}/console%3DttyS0%20debug?profile=${profileName}`)) throw new Error(`the script URL shown is ${script}`);
    const dd = await text(page.locator(tid('media-dd')));
    if (dd !== `dd if=${filename} of=/dev/sdX bs=4M conv=fsync status=progress`) throw new Error(`the dd line is "${dd}"`);
  });

  await step('the browser downloads the image the link names', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator(tid('media-download')).click()]);
    if (download.suggestedFilename() !== filename) throw new Error(`the browser saves ${download.suggestedFilename()}`);
    const saved = await download.path();
    const { statSync, readFileSync } = await import('node:fs');
    const bytes = statSync(saved).size;
    // The hybrid image: an MBR signature at 510 and the ISO 9660 volume descriptor at 32 KiB.
    const head = readFileSync(saved).subarray(0, 0x8006);
    if (head[510] !== 0x55 || head[511] !== 0xaa || head.subarray(0x8001, 0x8006).toString() !== 'CD001') throw new Error('the download is not the hybrid image');
    log(`downloaded ${bytes} bytes`);
    return bytes;
  });

  await step('HEAD and GET of the link answer 200 with its Content-Disposition', async () => {
    const href = await page.locator(tid('media-download')).getAttribute('href');
    for (const method of ['HEAD', 'GET']) {
      const res = await fetch(`${ZOS_URL}${href}`, { method });
      const disposition = res.headers.get('content-disposition');
      if (res.status !== 200) throw new Error(`${method} ${href} → HTTP ${res.status}`);
      if (disposition !== `attachment; filename="${filename}"`) throw new Error(`${method}: Content-Disposition ${disposition}`);
      const length = Number(res.headers.get('content-length'));
      const body = Buffer.from(await res.arrayBuffer());
      if (method === 'GET' && body.length !== length) throw new Error(`GET sent ${body.length} bytes of ${length}`);
      log(`${method} → 200, ${length} bytes, ${disposition}`);
    }
  });

  for (const [kind, pattern] of [['krn', /initrd/], ['uefi', /autoexec\.ipxe/]]) {
    await step(`${kind}: the panel says how the binary gets its script (${pattern})`, async () => {
      await page.locator(tid(`media-kind-${kind}`)).click();
      const link = page.locator(tid('media-download'));
      await until(async () => ((await link.getAttribute('href').catch(() => '')) || '').startsWith(`/${kind}/`), `no /${kind}/ link`);
      const note = await text(page.locator(tid('media-note')));
      if (!pattern.test(note)) throw new Error(`the note says "${note}"`);
      if ((await page.locator(tid('media-dd')).count()) !== 0) throw new Error(`a dd line is shown for ${kind}`);
      log(`${kind}: "${note}"`);
    });
  }

  await checkPageHealthy(page);
  await screenshot(page, () => page.locator(tid('media-kind-usb')).click());
}, async () => {
  if (cleanup.profile) await report(`DELETE /boot/profiles/${profileName}`, () => apiCall('DELETE', `/boot/profiles/${profileName}`));
  if (cleanup.settings) await report('PUT /boot/settings (restore)', () => apiCall('PUT', '/boot/settings', cleanup.settings));
});
