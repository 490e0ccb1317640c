// The Boot page (#/boot[?tab=…]): network boot for bare-metal machines. This
// module loads the five boot collections (and /health) as live resources and
// lays out the stat cards and the tabs; each tab is its own module beside it
// (boots, profiles, selectors, assets with upload, boot media, settings).

import { api } from '../../api.js';
import { viewPage, readOnlyPill, relativeTimeTicker, tabBar } from '../../ui.js';
import { liveResource, asList } from '../../resource.js';
import { mountStats } from './stats.js';
import { mountBoots, EVENTS_LIMIT } from './boots.js';
import { mountProfiles } from './profiles.js';
import { mountSelectors } from './selectors.js';
import { mountAssets } from './assets.js';
import { mountMedia } from './media.js';
import { mountSettings } from './settings.js';

// Changes arrive in bursts (a boot storm writes one event per file): refresh at
// most this often, with the newest state.
const REFRESH_THROTTLE_MS = 150;

// Each tab is a module's: mount(panel, ctx, data, {showTab}) → {render(), stop?()}.
const TABS = [
  { key: 'boots', label: 'Recent boots', iconName: 'activity', mount: mountBoots },
  { key: 'profiles', label: 'Profiles', iconName: 'layers', mount: mountProfiles },
  { key: 'selectors', label: 'Selectors', iconName: 'target', mount: mountSelectors },
  { key: 'assets', label: 'Assets', iconName: 'file', mount: mountAssets },
  { key: 'media', label: 'Boot media', iconName: 'download', mount: mountMedia },
  { key: 'settings', label: 'Settings', iconName: 'sliders', mount: mountSettings },
];

export function mountBoot(root, ctx) {
  let destroyed = false;

  // ---- data ---------------------------------------------------------------

  /** A resource of the page, read again when `collection` changes (never, without one: only on reconnect). */
  const live = (name, collection, fetcher, onChange = renderAll) =>
    liveResource({ name, fetcher, onChange, live: ctx.live, matches: (c) => c.collection === collection, refreshMs: REFRESH_THROTTLE_MS, debounce: false });
  const data = {
    events: live('boot events', 'boot_events', async () => asList(await api.bootEvents(EVENTS_LIMIT)), () => {
      if (destroyed) return;
      views.boots.render();
      stats.render();
    }),
    profiles: live('profiles', 'boot_profiles', async () => asList(await api.listBootProfiles())),
    selectors: live('selectors', 'boot_selectors', async () => asList(await api.listBootSelectors())),
    assets: live('assets', 'boot_assets', async () => asList(await api.listBootAssets())),
    settings: live('settings', 'boot_settings', async () => (await api.bootSettings()) || { zerotierNetwork: null, kernelSource: null, defaultProfile: null }),
    // What the server says about its TFTP, proxyDHCP and iPXE binaries; unknown (null) when it cannot be read.
    health: live('health', null, () => api.health().catch(() => null), () => {
      if (destroyed) return;
      stats.render();
      views.settings.render();
    }),
  };

  // ---- layout -------------------------------------------------------------

  const tabs = tabBar({ tabs: TABS, testid: 'boot-tabs', label: 'Boot sections', route: '#/boot' });
  const stats = mountStats(data);
  const views = {}; // tab key → {render(), stop?()}
  for (const t of TABS) views[t.key] = t.mount(tabs.panels[t.key], ctx, data, { showTab: tabs.show });

  const page = viewPage(
    {
      testid: 'boot-page',
      title: 'Boot',
      sub: 'Network boot for bare-metal machines: what they boot, and what they fetched.',
      actions: readOnlyPill(ctx, 'view the boot configuration but not change it'),
    },
    stats.el,
    tabs.el,
    Object.values(tabs.panels),
  );
  root.appendChild(page);
  renderAll();
  const stopTicker = relativeTimeTicker(page, 15_000);
  for (const r of Object.values(data)) r.load();

  function renderAll() {
    if (destroyed) return;
    stats.render();
    for (const key of ['profiles', 'selectors', 'assets']) tabs.setCount(key, data[key].data === null ? null : data[key].data.length);
    for (const v of Object.values(views)) v.render();
  }

  return {
    unmount() {
      destroyed = true;
      for (const r of Object.values(data)) r.stop();
      for (const v of Object.values(views)) if (v.stop) v.stop();
      stopTicker();
      page.remove();
    },
  };
}
