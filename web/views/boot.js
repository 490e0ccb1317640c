// Boot page: recent boot requests (live), profiles, selectors, assets and settings.

import { api, ApiError, bootAssetUrl } from '../api.js';
import { h, icon, replace, formatBytes, formatDuration, formatRelative, formatAbsolute } from '../dom.js';
import { openModal, formErrors, field, fieldMessage, groupField, segmented, checkName, toast, emptyState, button, glyph, copyButton, viewPage, readOnlyPill, statCard, filterBox, dataTable, rowActions, deleteAction, confirmDelete, deleteItem, relativeTime, relativeTimeTicker, dash } from '../ui.js';
import { resource, asList, upsertItem, removeItem, showLoadState } from '../resource.js';

const ASSET_RE = /^(?!\.)[A-Za-z0-9._-]{1,128}$/;
const EVENTS_LIMIT = 50;
// Changes arrive in bursts (a boot storm writes one event per file): refresh at
// most this often, with the newest state.
const REFRESH_THROTTLE_MS = 150;
const EXAMPLE_MAC = '52:54:00:12:34:56';

const TABS = [
  { key: 'boots', label: 'Recent boots', iconName: 'activity' },
  { key: 'profiles', label: 'Profiles', iconName: 'layers' },
  { key: 'selectors', label: 'Selectors', iconName: 'target' },
  { key: 'assets', label: 'Assets', iconName: 'file' },
  { key: 'settings', label: 'Settings', iconName: 'sliders' },
];

const OUTCOMES = {
  ok: { tone: 'ok', text: 'OK' },
  aborted: { tone: 'warn', text: 'Aborted' },
  not_found: { tone: 'danger', text: 'Not found' },
  error: { tone: 'danger', text: 'Error' },
};

const CMDLINE_VARS = [
  { text: '{zerotier}', title: 'The cluster’s ZeroTier network (Settings)' },
  { text: '{orchestrator}', title: 'The URL of this server, as the machine reaches it' },
  { text: '{mac}', title: 'The MAC address of the booting machine' },
  { text: '{node}', title: 'The node id: the MAC without colons' },
  { text: '{label:KEY}', title: 'A label of the registered node, e.g. {label:rack}', select: [7, 10] },
];

const SELECTOR_KINDS = {
  mac: {
    label: 'MAC',
    title: 'MAC address',
    placeholder: EXAMPLE_MAC,
    hint: 'The machine’s network card, in any common spelling (stored lower case, with colons).',
  },
  uuid: {
    label: 'UUID',
    title: 'SMBIOS UUID',
    placeholder: '4c4c4544-0042-4810-8056-b4c04f4d4e31',
    hint: 'The machine’s SMBIOS UUID, as iPXE reports it in ${uuid}.',
  },
  label: {
    label: 'Label',
    title: 'Node label',
    placeholder: 'rack=r1',
    hint: 'key=value, matched against the labels of the registered node with the booting MAC.',
  },
};

export function mountBoot(root, ctx) {
  let destroyed = false;
  let tab = initialTab();
  let health = null;
  const seenEvents = new Set();
  let firstEvents = true;
  const flashAssets = new Set();

  // ---- data ---------------------------------------------------------------

  const bootResource = (name, fetcher, onChange = renderAll) =>
    resource({ name, fetcher, onChange, refreshMs: REFRESH_THROTTLE_MS });
  const events = bootResource('boot events', async () => asList(await api.bootEvents(EVENTS_LIMIT)), () => {
    renderBoots();
    renderStats();
  });
  const profiles = bootResource('profiles', async () => asList(await api.listBootProfiles()));
  const selectors = bootResource('selectors', async () => asList(await api.listBootSelectors()));
  const assets = bootResource('assets', async () => asList(await api.listBootAssets()));
  const settings = bootResource(
    'settings',
    async () => (await api.bootSettings()) || { zerotierNetwork: null, kernelSource: null, defaultProfile: null },
  );
  const resources = [events, profiles, selectors, assets, settings];
  const byCollection = {
    boot_events: events,
    boot_profiles: profiles,
    boot_selectors: selectors,
    boot_assets: assets,
    boot_settings: settings,
  };

  async function loadHealth() {
    try {
      health = await api.health();
    } catch {
      /* shown as unknown */
    }
    if (!destroyed) {
      renderStats();
      renderSettings();
    }
  }

  // ---- layout -------------------------------------------------------------

  const stats = h('div', { class: 'stats boot-stats', testid: 'boot-stats' });

  const tabButtons = {};
  const tabCounts = {};
  const panels = {};
  const tablist = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Boot sections', testid: 'boot-tabs' });
  for (const t of TABS) {
    const count = h('span', { class: 'tab-count', hidden: true });
    tabCounts[t.key] = count;
    const btn = h(
      'button',
      {
        type: 'button',
        class: 'tab',
        role: 'tab',
        id: `boot-tab-${t.key}`,
        'aria-controls': `boot-panel-${t.key}`,
        testid: `boot-tab-${t.key}`,
        dataset: { tab: t.key },
        onclick: () => selectTab(t.key),
      },
      glyph(t.iconName, { size: 16 }),
      h('span', null, t.label),
      count,
    );
    tabButtons[t.key] = btn;
    tablist.appendChild(btn);
    panels[t.key] = h('section', {
      class: 'tab-panel',
      role: 'tabpanel',
      id: `boot-panel-${t.key}`,
      'aria-labelledby': `boot-tab-${t.key}`,
      testid: `boot-panel-${t.key}`,
    });
  }
  tablist.addEventListener('keydown', (ev) => {
    const keys = TABS.map((t) => t.key);
    const i = keys.indexOf(tab);
    let next = null;
    if (ev.key === 'ArrowRight') next = keys[(i + 1) % keys.length];
    else if (ev.key === 'ArrowLeft') next = keys[(i - 1 + keys.length) % keys.length];
    else if (ev.key === 'Home') next = keys[0];
    else if (ev.key === 'End') next = keys[keys.length - 1];
    if (next) {
      ev.preventDefault();
      selectTab(next);
      tabButtons[next].focus();
    }
  });

  // Recent boots: toolbar + table
  const bootsFilter = filterBox({
    placeholder: 'Filter by MAC, client, file, profile or outcome',
    label: 'Filter boot requests',
    testid: 'boots-filter',
    onChange: renderBoots,
  });
  const bootsBody = h('div', { class: 'card table-card', testid: 'boots-card' });
  appendAll(
    panels.boots,
    h(
      'div',
      { class: 'toolbar' },
      bootsFilter.el,
      h(
        'p',
        { class: 'toolbar-note' },
        h('span', { class: 'live-mini', 'aria-hidden': 'true' }),
        `The ${EVENTS_LIMIT} most recent files and scripts served over TFTP and HTTP, and proxyDHCP answers, updated live.`,
      ),
    ),
    bootsBody,
  );

  // Profiles
  const profilesBody = h('div', { class: 'card table-card', testid: 'profiles-card' });
  appendAll(
    panels.profiles,
    panelHead(
      'Boot profiles',
      'What a machine boots: a kernel, its initrds and the kernel command line.',
      ctx.canMutate
        ? button('New profile', { kind: 'primary', iconName: 'plus', testid: 'profile-create', onClick: () => openProfile(null) })
        : null,
    ),
    profilesBody,
  );

  // Selectors
  const selectorsBody = h('div', { class: 'card table-card', testid: 'selectors-card' });
  appendAll(
    panels.selectors,
    panelHead(
      'Selectors',
      'Which machine boots which profile. A MAC match wins over a UUID match, which wins over a label match; machines no selector matches boot the default profile.',
      ctx.canMutate
        ? button('New selector', { kind: 'primary', iconName: 'plus', testid: 'selector-create', onClick: () => openSelector() })
        : null,
    ),
    selectorsBody,
  );

  // Assets
  const uploader = ctx.canMutate ? assetUploader() : null;
  const assetsBody = h('div', { class: 'card table-card', testid: 'assets-card' });
  appendAll(
    panels.assets,
    panelHead(
      'Boot assets',
      'Kernels and initramfs images served to booting machines at /boot/assets/<name>, over HTTP and TFTP, without a token.',
      null,
    ),
    uploader ? uploader.el : null,
    assetsBody,
  );

  // Settings
  const settingsCard = h('section', { class: 'card settings-card', testid: 'settings-card' });
  const howtoCard = h('section', { class: 'card howto', testid: 'boot-howto' });
  appendAll(panels.settings, h('div', { class: 'boot-cols' }, settingsCard, howtoCard));

  const page = viewPage(
    {
      testid: 'boot-page',
      title: 'Boot',
      sub: 'Network boot for bare-metal machines: what they boot, and what they fetched.',
      actions: readOnlyPill(ctx, 'view the boot configuration but not change it'),
    },
    stats,
    tablist,
    TABS.map((t) => panels[t.key]),
  );
  root.appendChild(page);
  selectTab(tab, { replaceUrl: false });
  renderAll();

  const unsubscribe = ctx.live.subscribe((msg) => {
    if (msg.type === 'open') {
      // (re)connected: catch up on everything
      for (const r of resources) r.schedule();
      loadHealth();
    } else if (msg.type === 'change') {
      const r = byCollection[msg.change.collection];
      if (r) r.schedule();
    }
  });

  const stopTicker = relativeTimeTicker(page, 15_000);

  for (const r of resources) r.load();
  loadHealth();

  // ---- tabs ---------------------------------------------------------------

  function initialTab() {
    const query = location.hash.split('?')[1] || '';
    const wanted = new URLSearchParams(query).get('tab');
    return TABS.some((t) => t.key === wanted) ? wanted : 'boots';
  }

  function selectTab(key, { replaceUrl = true } = {}) {
    tab = key;
    for (const t of TABS) {
      const on = t.key === key;
      tabButtons[t.key].setAttribute('aria-selected', on ? 'true' : 'false');
      tabButtons[t.key].tabIndex = on ? 0 : -1;
      tabButtons[t.key].classList.toggle('active', on);
      panels[t.key].hidden = !on;
    }
    if (replaceUrl) {
      const url = key === 'boots' ? '#/boot' : `#/boot?tab=${key}`;
      if (location.hash !== url) history.replaceState(null, '', url);
    }
  }

  // ---- rendering ----------------------------------------------------------

  function renderAll() {
    if (destroyed) return;
    renderStats();
    renderTabs();
    renderBoots();
    renderProfiles();
    renderSelectors();
    renderAssets();
    renderSettings();
  }

  function renderTabs() {
    const counts = { profiles: profiles.data, selectors: selectors.data, assets: assets.data };
    for (const [key, data] of Object.entries(counts)) {
      tabCounts[key].hidden = data === null;
      tabCounts[key].textContent = data === null ? '' : String(data.length);
    }
  }

  function stat(label, value, options) {
    return statCard(label, value, { ...options, small: true });
  }

  function renderStats() {
    if (destroyed) return;
    const s = settings.data;
    const boot = health && health.boot && typeof health.boot === 'object' ? health.boot : null;
    const tftp = boot ? boot.tftp : null;
    const files = boot && Array.isArray(boot.ipxeFiles) ? boot.ipxeFiles : [];
    const last = events.data && events.data.length ? events.data[0] : null;
    const notSet = (text) => h('span', { class: 'muted' }, text);
    replace(
      stats,
      stat('TFTP', tftp === null ? '…' : tftp === 'off' ? notSet('Off') : tftp, {
        testid: 'boot-stat-tftp',
        iconName: 'network',
        mono: tftp !== null && tftp !== 'off',
        sub: boot ? `${files.length} iPXE binar${files.length === 1 ? 'y' : 'ies'} served` : 'GET /health',
      }),
      stat('ZeroTier network', s === null ? '…' : s.zerotierNetwork ? s.zerotierNetwork : notSet('Not set'), {
        testid: 'boot-stat-zerotier',
        iconName: 'target',
        mono: !!(s && s.zerotierNetwork),
        sub: 'Used as {zerotier} in command lines',
      }),
      stat('Default profile', s === null ? '…' : s.defaultProfile ? s.defaultProfile : notSet('None'), {
        testid: 'boot-stat-default',
        iconName: 'layers',
        sub: s && s.defaultProfile ? 'When no selector matches' : 'Unmatched machines wait',
      }),
      stat(
        'Last boot request',
        events.data === null
          ? '…'
          : last
            ? relativeTime(last.at)
            : notSet('None yet'),
        {
          testid: 'boot-stat-last',
          iconName: 'activity',
          sub: last ? `${last.file} · ${last.mac || last.client}` : 'No machine has asked yet',
        },
      ),
    );
  }

  // ---- recent boots -------------------------------------------------------

  function eventMatches(ev) {
    const outcome = OUTCOMES[ev.outcome] ? OUTCOMES[ev.outcome].text : ev.outcome;
    return bootsFilter.matches([ev.mac, ev.client, ev.protocol, ev.file, ev.profile, ev.outcome, outcome]);
  }

  function renderBoots() {
    if (destroyed || showLoadState(events, bootsBody, 'boot events')) return;
    const all = events.data;
    if (all.length === 0) {
      replace(
        bootsBody,
        emptyState({
          iconName: 'power',
          title: 'No boot requests yet',
          text: 'Every file and script a machine fetches over TFTP or HTTP shows up here as it happens.',
          testid: 'boots-empty',
          action: button('How machines boot', { iconName: 'book', onClick: () => selectTab('settings') }),
        }),
      );
      firstEvents = false;
      return;
    }
    const visible = all.filter(eventMatches);
    if (visible.length === 0) {
      replace(
        bootsBody,
        bootsFilter.noMatch({
          title: 'No matching boot requests',
          text: (q) => `No recent request matches “${q}”.`,
          testid: 'boots-nomatch',
        }),
      );
      markEventsSeen();
      return;
    }
    replace(
      bootsBody,
      dataTable({
        testid: 'boots-table',
        compact: true,
        columns: [
          'Time',
          'MAC',
          'Client',
          { label: 'Protocol · file', class: 'col-fill' },
          { label: 'Bytes', class: 'num' },
          { label: 'Duration', class: 'num' },
          'Outcome',
          'Profile',
        ],
        rows: visible.map(eventRow),
      }),
      bootsFilter.foot(visible.length, all.length, 'recent requests', 'boots-filtered'),
    );
    markEventsSeen();
  }

  function markEventsSeen() {
    for (const ev of events.data || []) seenEvents.add(ev.id);
    firstEvents = false;
  }

  function eventRow(ev) {
    const fresh = !firstEvents && !seenEvents.has(ev.id);
    const outcome = OUTCOMES[ev.outcome] || { tone: 'neutral', text: String(ev.outcome || 'unknown') };
    const proto = ['tftp', 'http', 'dhcp'].includes(ev.protocol) ? ev.protocol : 'other';
    const served = ev.protocol === 'dhcp' ? 'Boot file offered over proxyDHCP' : `Served over ${String(ev.protocol || '?').toUpperCase()}`;
    return h(
      'tr',
      {
        class: fresh ? 'row-flash' : null,
        testid: 'boot-event-row',
        dataset: { eventId: ev.id, mac: ev.mac || '', file: ev.file, outcome: ev.outcome, protocol: ev.protocol },
      },
      h(
        'td',
        { dataset: { label: 'Time' }, class: 'nowrap' },
        h(
          'div',
          { class: 'cell-stack' },
          h('time', { datetime: ev.at, title: formatAbsolute(ev.at) }, formatClock(ev.at)),
          h('span', { class: 'cell-sub', dataset: { updated: ev.at } }, formatRelative(ev.at)),
        ),
      ),
      h('td', { dataset: { label: 'MAC' }, testid: 'boot-event-mac' }, ev.mac ? h('span', { class: 'mono' }, ev.mac) : dash()),
      h(
        'td',
        { dataset: { label: 'Client' } },
        h('span', { class: 'mono muted-2', title: ev.client || null, testid: 'boot-event-client' }, clientHost(ev.client)),
      ),
      h(
        'td',
        { dataset: { label: 'File' }, class: 'col-fill' },
        h(
          'div',
          { class: 'cell-served' },
          h(
            'span',
            { class: `proto proto-${proto}`, testid: 'boot-event-protocol', title: served },
            String(ev.protocol || '?').toUpperCase(),
          ),
          h('span', { class: 'mono cell-file', title: ev.file, testid: 'boot-event-file' }, ev.file || dash()),
          ev.arch ? h('span', { class: 'tag tag-neutral nowrap', title: 'Firmware, as the client told proxyDHCP', testid: 'boot-event-arch' }, ev.arch) : null,
        ),
      ),
      h('td', { dataset: { label: 'Bytes' }, class: 'num nowrap', title: `${formatCount(ev.bytes)} bytes` }, formatBytes(ev.bytes)),
      h('td', { dataset: { label: 'Duration' }, class: 'num nowrap' }, formatMs(ev.durationMs)),
      h(
        'td',
        { dataset: { label: 'Outcome' } },
        h(
          'span',
          { class: `badge badge-plain badge-${outcome.tone}`, testid: 'boot-event-outcome', dataset: { outcome: ev.outcome } },
          h('span', { class: 'badge-dot', 'aria-hidden': 'true' }),
          outcome.text,
        ),
      ),
      h(
        'td',
        { dataset: { label: 'Profile' }, testid: 'boot-event-profile' },
        ev.profile ? h('span', { class: 'cell-profile', title: ev.profile }, ev.profile) : dash(),
      ),
    );
  }

  // ---- profiles -----------------------------------------------------------

  function profileUsers(name) {
    const users = asList(selectors.data).filter((s) => s.profile === name).map((s) => s.name);
    const isDefault = settings.data && settings.data.defaultProfile === name;
    return { users, isDefault };
  }

  function renderProfiles() {
    if (destroyed || showLoadState(profiles, profilesBody, 'profiles')) return;
    const all = byName(profiles.data);
    if (all.length === 0) {
      replace(
        profilesBody,
        emptyState({
          iconName: 'layers',
          title: 'No boot profiles yet',
          text: ctx.canMutate
            ? 'A profile names a kernel (an uploaded asset or a Zero-OS release), its initrds and a command line.'
            : 'No boot profile has been defined yet.',
          testid: 'profiles-empty',
          action: ctx.canMutate
            ? button('New profile', { kind: 'primary', iconName: 'plus', onClick: () => openProfile(null) })
            : null,
        }),
      );
      return;
    }
    replace(
      profilesBody,
      dataTable({
        testid: 'profiles-table',
        columns: ['Name', 'Kernel', 'Initrds', 'Command line', 'Used by'],
        actions: ctx.canMutate,
        rows: all.map(profileRow),
      }),
    );
  }

  function kernelCell(kernel) {
    if (kernel && typeof kernel === 'object' && typeof kernel.asset === 'string') {
      return h(
        'div',
        { class: 'kernel' },
        h('span', { class: 'tag tag-neutral' }, 'asset'),
        h('a', { class: 'mono', href: bootAssetUrl(kernel.asset), title: `Download ${kernel.asset}` }, kernel.asset),
      );
    }
    if (kernel && typeof kernel === 'object' && typeof kernel.release === 'string') {
      const source = settings.data && settings.data.kernelSource;
      return h(
        'div',
        {
          class: 'kernel',
          title: source
            ? `${source}/zero-os-${kernel.release}.efi`
            : `zero-os-${kernel.release}.efi from this server’s boot assets`,
        },
        h('span', { class: 'tag tag-accent' }, 'release'),
        h('span', { class: 'mono' }, kernel.release),
      );
    }
    return dash();
  }

  function profileRow(p) {
    const { users, isDefault } = profileUsers(p.name);
    const initrds = Array.isArray(p.initrds) ? p.initrds : [];
    return h(
      'tr',
      { testid: 'profile-row', dataset: { name: p.name } },
      h(
        'td',
        { dataset: { label: 'Name' } },
        h(
          'div',
          { class: 'cell-stack' },
          h('span', { class: 'mono strong', testid: 'profile-name' }, p.name),
          p.description ? h('span', { class: 'cell-sub', testid: 'profile-description' }, p.description) : null,
        ),
      ),
      h('td', { dataset: { label: 'Kernel' }, testid: 'profile-kernel' }, kernelCell(p.kernel)),
      h(
        'td',
        { dataset: { label: 'Initrds' }, testid: 'profile-initrds' },
        initrds.length
          ? h(
              'ol',
              { class: 'inline-list' },
              initrds.map((name) => h('li', null, h('a', { class: 'mono', href: bootAssetUrl(name), title: `Download ${name}` }, name))),
            )
          : dash('none'),
      ),
      h(
        'td',
        { dataset: { label: 'Command line' }, testid: 'profile-cmdline' },
        p.cmdline ? h('code', { class: 'cmdline' }, p.cmdline) : dash('empty'),
      ),
      h(
        'td',
        { dataset: { label: 'Used by' }, testid: 'profile-users' },
        users.length || isDefault
          ? h(
              'div',
              { class: 'chips' },
              isDefault ? h('span', { class: 'tag tag-ok', title: 'The default profile (Settings)' }, 'default') : null,
              users.map((u) => h('span', { class: 'pill-mono', title: `Selector ${u}` }, u)),
            )
          : dash('unused'),
      ),
      ctx.canMutate
        ? rowActions(
            { label: 'Edit', iconName: 'edit', testid: 'profile-edit', title: `Edit ${p.name}`, onClick: () => openProfile(p) },
            deleteAction(p.name, 'profile-delete', () => openDeleteProfile(p)),
          )
        : null,
    );
  }

  // ---- selectors ----------------------------------------------------------

  function renderSelectors() {
    if (destroyed || showLoadState(selectors, selectorsBody, 'selectors')) return;
    const all = [...selectors.data].sort((a, b) => {
      const rank = (s) => (s.mac ? 0 : s.uuid ? 1 : 2);
      return rank(a) - rank(b) || compareNames(a, b);
    });
    const def = settings.data ? settings.data.defaultProfile : null;
    const defaultFoot = h(
      'div',
      { class: 'table-foot default-foot', testid: 'selectors-default' },
      'Any other machine → ',
      def ? h('strong', null, def) : h('span', null, 'no profile: it waits and asks again every 30 s'),
      ' ',
      h('span', { class: 'muted' }, '(default profile, in Settings)'),
    );
    if (all.length === 0) {
      replace(
        selectorsBody,
        emptyState({
          iconName: 'target',
          title: 'No selectors yet',
          text: ctx.canMutate
            ? 'Map a machine to a profile by its MAC address, its SMBIOS UUID or a label of its node.'
            : 'No selector has been defined yet.',
          testid: 'selectors-empty',
          action: ctx.canMutate
            ? button('New selector', { kind: 'primary', iconName: 'plus', onClick: () => openSelector() })
            : null,
        }),
        defaultFoot,
      );
      return;
    }
    replace(
      selectorsBody,
      dataTable({
        testid: 'selectors-table',
        columns: ['Name', 'Matches', 'Boots profile'],
        actions: ctx.canMutate,
        rows: all.map(selectorRow),
      }),
      defaultFoot,
    );
  }

  function selectorRow(s) {
    const kind = s.mac ? 'mac' : s.uuid ? 'uuid' : 'label';
    const value = s[kind] || '';
    const known = asList(profiles.data).some((p) => p.name === s.profile);
    return h(
      'tr',
      { testid: 'selector-row', dataset: { name: s.name, kind, value } },
      h('td', { dataset: { label: 'Name' } }, h('span', { class: 'mono strong' }, s.name)),
      h(
        'td',
        { dataset: { label: 'Matches' }, testid: 'selector-match' },
        h(
          'div',
          { class: 'kernel' },
          h('span', { class: 'tag tag-neutral' }, SELECTOR_KINDS[kind].label),
          h('span', { class: 'mono' }, value),
        ),
      ),
      h(
        'td',
        { dataset: { label: 'Profile' }, testid: 'selector-profile' },
        h('span', { class: known ? 'strong' : 'tone-danger', title: known ? null : 'This profile does not exist' }, '→ ', s.profile),
      ),
      ctx.canMutate ? rowActions(deleteAction(s.name, 'selector-delete', () => openDeleteSelector(s))) : null,
    );
  }

  // ---- assets -------------------------------------------------------------

  function assetUsers(name) {
    return asList(profiles.data)
      .filter((p) => (p.kernel && p.kernel.asset === name) || (Array.isArray(p.initrds) && p.initrds.includes(name)))
      .map((p) => p.name);
  }

  function renderAssets() {
    if (destroyed) return;
    if (uploader) uploader.sync();
    if (showLoadState(assets, assetsBody, 'assets')) return;
    const all = byName(assets.data);
    if (all.length === 0) {
      replace(
        assetsBody,
        emptyState({
          iconName: 'file',
          title: 'No boot assets yet',
          text: ctx.canMutate
            ? 'Upload a kernel and its initramfs above; profiles then refer to them by name.'
            : 'No kernel or initramfs has been uploaded yet.',
          testid: 'assets-empty',
        }),
      );
      return;
    }
    const total = all.reduce((n, a) => n + (typeof a.size === 'number' ? a.size : 0), 0);
    replace(
      assetsBody,
      dataTable({
        testid: 'assets-table',
        columns: ['Name', { label: 'Size', class: 'num' }, 'SHA-256', 'Uploaded', 'Used by'],
        actions: ctx.canMutate,
        rows: all.map(assetRow),
      }),
      h('div', { class: 'table-foot' }, `${all.length} asset${all.length === 1 ? '' : 's'} · ${formatBytes(total)} in total`),
    );
    flashAssets.clear();
  }

  function assetRow(a) {
    const users = assetUsers(a.name);
    const sha = typeof a.sha256 === 'string' ? a.sha256 : '';
    return h(
      'tr',
      { class: flashAssets.has(a.name) ? 'row-flash' : null, testid: 'asset-row', dataset: { name: a.name } },
      h(
        'td',
        { dataset: { label: 'Name' } },
        h(
          'a',
          { class: 'asset-link', href: bootAssetUrl(a.name), download: a.name, testid: 'asset-link', title: `Download ${bootAssetUrl(a.name)}` },
          glyph('download', { size: 15 }),
          h('span', { class: 'mono' }, a.name),
        ),
      ),
      h(
        'td',
        { dataset: { label: 'Size', bytes: a.size }, class: 'num nowrap', testid: 'asset-size', title: `${formatCount(a.size)} bytes` },
        formatBytes(a.size),
      ),
      h(
        'td',
        { dataset: { label: 'SHA-256' } },
        h(
          'div',
          { class: 'sha' },
          h('span', { class: 'mono sha-text', testid: 'asset-sha256', title: sha }, sha || '—'),
          sha ? copyButton(sha, { label: `Copy the SHA-256 of ${a.name}` }) : null,
        ),
      ),
      h(
        'td',
        { dataset: { label: 'Uploaded' }, class: 'nowrap' },
        relativeTime(a.uploadedAt),
      ),
      h(
        'td',
        { dataset: { label: 'Used by' }, testid: 'asset-users' },
        users.length ? h('div', { class: 'chips' }, users.map((u) => h('span', { class: 'pill-mono', title: `Profile ${u}` }, u))) : dash('unused'),
      ),
      ctx.canMutate
        ? rowActions(
            {
              label: 'Replace',
              iconName: 'upload',
              testid: 'asset-replace',
              title: `Upload a new file as ${a.name}`,
              onClick: () => uploader.replace(a.name),
            },
            deleteAction(a.name, 'asset-delete', () => openDeleteAsset(a)),
          )
        : null,
    );
  }

  /** The upload card: drop zone / file picker, name, progress and result. */
  function assetUploader() {
    let file = null;
    let nameTouched = false;
    let controller = null;

    const fileInput = h('input', { type: 'file', class: 'sr-only', testid: 'asset-file', 'aria-label': 'Choose a file to upload' });
    const fileInfo = h('span', { class: 'dropzone-file', testid: 'asset-file-info', hidden: true });
    const dropText = h(
      'span',
      { class: 'dropzone-text' },
      h('strong', null, 'Drop a file here'),
      ' or ',
      h('span', { class: 'link' }, 'choose one'),
    );
    const dropzone = h(
      'label',
      { class: 'dropzone', testid: 'asset-dropzone' },
      fileInput,
      h('span', { class: 'dropzone-icon' }, glyph('upload', { size: 20 })),
      h('span', { class: 'dropzone-body' }, dropText, fileInfo, h('span', { class: 'dropzone-sub' }, 'A kernel, initramfs or image — up to 4 GiB.')),
    );
    const nameInput = h('input', {
      class: 'input input-mono',
      testid: 'asset-name',
      autocomplete: 'off',
      spellcheck: 'false',
      maxlength: 128,
      placeholder: 'vmlinuz',
    });
    const nameField = field({ label: 'Asset name', name: 'name', control: nameInput });
    const note = h('p', { class: 'field-hint', testid: 'asset-name-note' });
    nameField.appendChild(note);
    const submit = h(
      'button',
      { type: 'submit', class: 'btn btn-primary', testid: 'asset-upload-submit', disabled: true },
      h('span', { class: 'spinner', 'aria-hidden': 'true' }),
      glyph('upload', { size: 17 }),
      h('span', { class: 'btn-label' }, 'Upload'),
    );
    const errorBox = h('div', { class: 'form-error', role: 'alert', testid: 'asset-upload-error', hidden: true });
    const bar = h('span', { class: 'progress-bar' });
    const progressText = h('span', { class: 'progress-text', testid: 'asset-upload-progress-text' }, '');
    const cancel = button('Cancel', { small: true, kind: 'ghost', testid: 'asset-upload-cancel', onClick: () => controller && controller.abort() });
    const progress = h(
      'div',
      { class: 'upload-progress', testid: 'asset-upload-progress', hidden: true, role: 'status' },
      h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-label': 'Upload progress' }, bar),
      h('div', { class: 'progress-row' }, progressText, cancel),
    );
    const result = h('div', { class: 'upload-result', testid: 'asset-upload-result', hidden: true, role: 'status' });

    const form = h(
      'form',
      { class: 'card upload-card', testid: 'asset-upload-card', novalidate: true },
      dropzone,
      h('div', { class: 'upload-side' }, nameField, h('div', { class: 'upload-actions' }, submit)),
      h('div', { class: 'upload-status' }, errorBox, progress, result),
    );

    function setFile(f) {
      file = f || null;
      if (file) {
        fileInfo.hidden = false;
        replace(fileInfo, glyph('file', { size: 15 }), h('span', { class: 'mono' }, file.name), h('span', { class: 'muted' }, ` · ${formatBytes(file.size)}`));
        dropText.hidden = true;
        if (!nameTouched || !nameInput.value.trim()) {
          nameInput.value = suggestAssetName(file.name);
          nameTouched = false;
        }
      } else {
        fileInfo.hidden = true;
        dropText.hidden = false;
        fileInput.value = '';
      }
      clearErrors();
      sync();
    }

    function sync() {
      const name = nameInput.value.trim();
      const exists = name && asList(assets.data).find((a) => a.name === name);
      submit.disabled = !file || !!controller;
      submit.querySelector('.btn-label').textContent = exists ? 'Replace' : 'Upload';
      if (exists) {
        note.textContent = `An asset named ${name} exists (${formatBytes(exists.size)}); uploading replaces it.`;
        note.classList.add('tone-warn');
      } else {
        note.textContent = 'Letters, digits, “.”, “_” and “-”. Profiles refer to the asset by this name.';
        note.classList.remove('tone-warn');
      }
    }

    const { clear: clearErrors, show: showError } = formErrors(form, errorBox);

    function showProgress(loaded, total) {
      const pct = total > 0 ? Math.min(100, Math.round((loaded / total) * 100)) : 0;
      bar.style.width = `${pct}%`;
      progress.querySelector('.progress').setAttribute('aria-valuenow', String(pct));
      progressText.textContent = `${pct}% · ${formatBytes(loaded)} of ${formatBytes(total)}`;
    }

    fileInput.addEventListener('change', () => setFile(fileInput.files && fileInput.files[0]));
    nameInput.addEventListener('input', () => {
      nameTouched = true;
      clearErrors();
      sync();
    });
    for (const type of ['dragenter', 'dragover']) {
      dropzone.addEventListener(type, (ev) => {
        ev.preventDefault();
        dropzone.classList.add('is-over');
      });
    }
    for (const type of ['dragleave', 'drop']) {
      dropzone.addEventListener(type, () => dropzone.classList.remove('is-over'));
    }
    dropzone.addEventListener('drop', (ev) => {
      ev.preventDefault();
      const f = ev.dataTransfer && ev.dataTransfer.files && ev.dataTransfer.files[0];
      if (f) setFile(f);
    });

    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (!file || controller) return;
      clearErrors();
      const name = nameInput.value.trim();
      if (!name) return showError(new ApiError(400, 'invalid', 'The asset name is required.', 'name'));
      if (!ASSET_RE.test(name)) {
        return showError(
          new ApiError(400, 'invalid', 'Use 1 to 128 letters, digits, “.”, “_” or “-”, not starting with “.”.', 'name'),
        );
      }
      controller = new AbortController();
      const sending = file;
      submit.classList.add('is-busy');
      submit.disabled = true;
      nameInput.disabled = true;
      fileInput.disabled = true;
      result.hidden = true;
      progress.hidden = false;
      showProgress(0, sending.size);
      try {
        const { status, body } = await api.uploadBootAsset(name, sending, {
          signal: controller.signal,
          onProgress: showProgress,
        });
        if (destroyed) return;
        const asset = body && typeof body === 'object' ? body : { name, size: sending.size, sha256: '' };
        showResult(asset, status === 201 ? 'uploaded' : 'replaced');
        upsertAsset(asset);
        setFile(null);
        nameInput.value = '';
        nameTouched = false;
      } catch (err) {
        if (destroyed) return;
        if (err.code === 'aborted') toast('Upload cancelled.', { type: 'info' });
        else showError(err);
      } finally {
        controller = null;
        progress.hidden = true;
        submit.classList.remove('is-busy');
        nameInput.disabled = false;
        fileInput.disabled = false;
        sync();
      }
    });

    function showResult(asset, verb) {
      const sha = typeof asset.sha256 === 'string' ? asset.sha256 : '';
      result.dataset.name = asset.name;
      result.dataset.status = verb;
      replace(
        result,
        h('span', { class: 'result-icon' }, icon('check', { size: 16 })),
        h(
          'div',
          { class: 'result-text' },
          h('div', null, h('strong', { class: 'mono' }, asset.name), ` ${verb} · ${formatBytes(asset.size)} (${formatCount(asset.size)} bytes)`),
          h(
            'div',
            { class: 'sha' },
            h('span', { class: 'muted' }, 'SHA-256'),
            h('span', { class: 'mono sha-full', testid: 'asset-upload-sha256' }, sha || '—'),
            sha ? copyButton(sha, { label: 'Copy the SHA-256' }) : null,
          ),
        ),
        h(
          'button',
          { type: 'button', class: 'icon-btn', 'aria-label': 'Dismiss', title: 'Dismiss', onclick: () => { result.hidden = true; } },
          icon('x', { size: 16 }),
        ),
      );
      result.hidden = false;
    }

    sync();
    return {
      el: form,
      sync,
      replace(name) {
        nameInput.value = name;
        nameTouched = true;
        clearErrors();
        sync();
        form.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
        fileInput.click();
      },
      abort() {
        if (controller) controller.abort();
      },
    };
  }

  function upsertAsset(asset) {
    if (!asset || !asset.name) return;
    flashAssets.add(asset.name);
    upsertItem(assets, asset);
  }

  // ---- settings & how-to --------------------------------------------------

  function renderSettings() {
    if (destroyed) return;
    renderHowto();
    const head = h(
      'div',
      { class: 'card-head' },
      h('div', null, h('h2', null, 'Settings'), h('p', { class: 'card-sub' }, 'Cluster-wide values every boot script uses.')),
      ctx.canMutate && settings.data
        ? button('Edit settings', { iconName: 'edit', testid: 'settings-edit', onClick: () => openSettings() })
        : null,
    );
    if (settings.data === null) {
      const holder = h('div');
      replace(settingsCard, head, holder);
      showLoadState(settings, holder, 'settings');
      return;
    }
    const s = settings.data;
    const unset = (text) => h('span', { class: 'muted' }, text);
    const boot = health && health.boot && typeof health.boot === 'object' ? health.boot : null;
    const proxyDhcp = boot && typeof boot.proxyDhcp === 'string' ? boot.proxyDhcp : null;
    replace(
      settingsCard,
      head,
      h(
        'dl',
        { class: 'kv-list settings-list' },
        h('dt', null, 'ZeroTier network'),
        h(
          'dd',
          { testid: 'settings-zerotier' },
          s.zerotierNetwork ? h('span', { class: 'mono' }, s.zerotierNetwork) : unset('Not set — {zerotier} cannot be used'),
        ),
        h('dt', null, 'Kernel source'),
        h(
          'dd',
          { testid: 'settings-kernel-source' },
          s.kernelSource ? h('span', { class: 'mono' }, s.kernelSource) : unset('This server’s boot assets'),
        ),
        h('dt', null, 'Default profile'),
        h(
          'dd',
          { testid: 'settings-default-profile' },
          s.defaultProfile ? h('strong', null, s.defaultProfile) : unset('None — unmatched machines wait'),
        ),
        h('dt', { title: 'Set when the server starts (--proxy-dhcp), not here' }, 'Proxy DHCP'),
        h('dd', { testid: 'settings-proxy-dhcp' }, proxyDhcp === null ? '…' : proxyDhcp === 'off' ? unset('Off — your DHCP server names the boot files') : h('span', { class: 'mono' }, proxyDhcp)),
      ),
    );
  }

  function renderHowto() {
    const boot = health && health.boot && typeof health.boot === 'object' ? health.boot : null;
    const files = boot && Array.isArray(boot.ipxeFiles) ? boot.ipxeFiles : null;
    const origin = location.origin;
    const zt = settings.data && settings.data.zerotierNetwork;
    const binary = (name, what) => {
      const available = files ? files.includes(name) : null;
      return h(
        'li',
        { testid: 'howto-ipxe-file', dataset: { file: name, available: available === null ? 'unknown' : String(available) } },
        h('code', null, name),
        h('span', { class: 'howto-what' }, what),
        available === null
          ? null
          : available
            ? h('span', { class: 'tag tag-ok', title: `Served over TFTP and at /boot/ipxe/${name}` }, 'available')
            : h('span', { class: 'tag tag-danger', title: 'Not among the iPXE binaries of this server' }, 'missing'),
      );
    };
    const urlLine = (url, testid) =>
      h('div', { class: 'url-line' }, h('code', { testid }, url), copyButton(url, { label: 'Copy the URL' }));
    replace(
      howtoCard,
      h('div', { class: 'card-head' }, h('div', null, h('h2', null, 'How machines boot'), h('p', { class: 'card-sub' }, 'From the network card to Zero-OS, through this server.'))),
      h(
        'ol',
        { class: 'steps' },
        h(
          'li',
          null,
          h('h3', null, 'PXE over TFTP'),
          h(
            'p',
            null,
            'Point your DHCP server’s next-server at this host (TFTP ',
            h('code', { testid: 'howto-tftp' }, boot ? String(boot.tftp) : '…'),
            ') and its boot file name at:',
          ),
          boot && boot.proxyDhcp && boot.proxyDhcp !== 'off'
            ? h('p', { testid: 'howto-proxy-dhcp' }, 'Or nothing: proxyDHCP on ', h('code', null, boot.proxyDhcp), ' tells PXE clients which file to load, beside your DHCP server.')
            : null,
          h(
            'ul',
            { class: 'filelist' },
            binary('undionly.kpxe', 'BIOS (legacy PXE)'),
            binary('ipxe.efi', 'UEFI'),
            binary('snponly.efi', 'UEFI, with the firmware’s network driver'),
          ),
        ),
        h(
          'li',
          null,
          h('h3', null, 'Handover to HTTP'),
          h(
            'p',
            null,
            'Once iPXE runs, DHCP should hand it the TFTP script ',
            h('code', null, 'boot.ipxe'),
            ', which continues over HTTP. ',
            h('code', null, 'undionly.ipxe'),
            ' does the same, but first chain-loads our ',
            h('code', null, 'undionly.kpxe'),
            ' on BIOS machines whose ROM should not be used.',
          ),
        ),
        h(
          'li',
          null,
          h('h3', null, 'Boot script'),
          h('p', null, 'The machine asks for its script; the selectors choose its profile, whose kernel and initrds come from ', h('code', null, '/boot/assets'), ':'),
          urlLine(`${origin}/boot.ipxe?mac=\${net0/mac}`, 'howto-bootipxe'),
        ),
        h(
          'li',
          null,
          h('h3', null, '0-bootstrap URLs'),
          h('p', null, 'Compatible with Zero-OS 0-bootstrap: chain-load a release straight into a ZeroTier network.'),
          urlLine(`${origin}/ipxe/<release>/<zerotier-network>/<args>`, 'howto-bootstrap'),
          h('p', { class: 'muted small' }, 'e.g. ', h('code', null, `/ipxe/master/${zt || '<network>'}/development`)),
        ),
      ),
      h(
        'p',
        { class: 'howto-foot', testid: 'howto-origin' },
        'iPXE binaries: ',
        boot && boot.ipxeOrigin ? boot.ipxeOrigin : '—',
        '. URLs as this browser reaches the server; machines may use another address.',
      ),
    );
  }

  // ---- profile modal ------------------------------------------------------

  function openProfile(existing) {
    const editing = !!existing;
    const assetList = byName(assets.data);
    const assetOptions = (placeholder) => [
      h('option', { value: '' }, placeholder),
      assetList.map((a) => h('option', { value: a.name }, `${a.name} · ${formatBytes(a.size)}`)),
    ];

    const nameInput = editing
      ? null
      : h('input', { class: 'input input-mono', testid: 'profile-form-name', autocomplete: 'off', spellcheck: 'false', maxlength: 64, placeholder: 'zos-master' });
    const descInput = h('input', {
      class: 'input',
      testid: 'profile-form-description',
      autocomplete: 'off',
      maxlength: 200,
      placeholder: 'Zero-OS master, development mode',
      value: existing ? existing.description || '' : '',
    });

    // kernel: asset or release
    const initialKind =
      existing && existing.kernel && typeof existing.kernel.release === 'string'
        ? 'release'
        : existing || assetList.length
          ? 'asset'
          : 'release';
    const kernelKind = segmented({
      label: 'Kernel',
      checked: initialKind,
      options: [
        { value: 'asset', label: 'Uploaded asset', testid: 'profile-kernel-kind-asset' },
        { value: 'release', label: 'Zero-OS release', testid: 'profile-kernel-kind-release' },
      ],
    });
    const kernelAsset = h('select', { class: 'input', testid: 'profile-form-kernel-asset', 'aria-label': 'Kernel asset' }, assetOptions(assetList.length ? 'Choose an asset…' : 'No assets uploaded yet'));
    if (existing && existing.kernel && typeof existing.kernel.asset === 'string') {
      ensureOption(kernelAsset, existing.kernel.asset);
      kernelAsset.value = existing.kernel.asset;
    }
    const source = settings.data && settings.data.kernelSource;
    const kernelRelease = h('input', {
      class: 'input input-mono',
      testid: 'profile-form-kernel-release',
      'aria-label': 'Zero-OS release',
      autocomplete: 'off',
      spellcheck: 'false',
      maxlength: 64,
      placeholder: 'master',
      value: existing && existing.kernel && typeof existing.kernel.release === 'string' ? existing.kernel.release : '',
    });
    const assetWrap = subField('kernel.asset', kernelAsset, assetList.length ? null : 'Upload a kernel on the Assets tab first.');
    const releaseWrap = subField(
      'kernel.release',
      kernelRelease,
      source ? `Boots ${source}/zero-os-<release>.efi (kernel source in Settings).` : 'Boots the asset zero-os-<release>.efi of this server (or set a kernel source in Settings).',
    );
    const kernelField = groupField({ name: 'kernel', label: 'Kernel' }, kernelKind.el, fieldMessage(), assetWrap, releaseWrap);
    const kind = kernelKind.value;
    const syncKind = () => {
      assetWrap.hidden = kind() !== 'asset';
      releaseWrap.hidden = kind() !== 'release';
    };
    kernelKind.el.addEventListener('change', () => {
      syncKind();
      (kind() === 'asset' ? kernelAsset : kernelRelease).focus();
    });
    syncKind();

    // initrds: ordered list
    const initrds = existing && Array.isArray(existing.initrds) ? [...existing.initrds] : [];
    const rows = h('ol', { class: 'order-list', testid: 'profile-initrds-list' });
    const noneText = h('p', { class: 'kv-empty muted' }, 'No initrds: the kernel boots on its own.');
    const addSelect = h('select', { class: 'input', testid: 'profile-initrd-select', 'aria-label': 'Initrd to add' }, assetOptions(assetList.length ? 'Choose an asset to add…' : 'No assets uploaded yet'));
    const addBtn = h(
      'button',
      {
        type: 'button',
        class: 'btn',
        testid: 'profile-initrd-add',
        onclick: () => {
          if (!addSelect.value) {
            addSelect.focus();
            return;
          }
          initrds.push(addSelect.value);
          addSelect.value = '';
          drawInitrds();
        },
      },
      icon('plus', { size: 15 }),
      h('span', { class: 'btn-label' }, 'Add'),
    );
    function drawInitrds() {
      noneText.hidden = initrds.length > 0;
      rows.hidden = initrds.length === 0;
      replace(
        rows,
        initrds.map((name, i) => {
          const asset = assetList.find((a) => a.name === name);
          const move = (delta) => {
            const j = i + delta;
            [initrds[i], initrds[j]] = [initrds[j], initrds[i]];
            drawInitrds();
            const btns = rows.children[j] && rows.children[j].querySelectorAll('button');
            if (btns) btns[delta < 0 ? 0 : 1].focus();
          };
          return h(
            'li',
            { class: 'order-row', testid: 'profile-initrd-row', dataset: { name } },
            h('span', { class: 'order-index' }, String(i + 1)),
            h('span', { class: 'mono order-name' }, name),
            h('span', { class: asset ? 'muted' : 'tone-danger' }, asset ? formatBytes(asset.size) : 'not uploaded'),
            h(
              'span',
              { class: 'order-actions' },
              h('button', { type: 'button', class: 'icon-btn icon-btn-sm', 'aria-label': `Move ${name} up`, title: 'Move up', disabled: i === 0, onclick: () => move(-1) }, glyph('up', { size: 15 })),
              h('button', { type: 'button', class: 'icon-btn icon-btn-sm', 'aria-label': `Move ${name} down`, title: 'Move down', disabled: i === initrds.length - 1, onclick: () => move(1) }, glyph('down', { size: 15 })),
              h(
                'button',
                {
                  type: 'button',
                  class: 'icon-btn icon-btn-sm',
                  testid: 'profile-initrd-remove',
                  'aria-label': `Remove ${name}`,
                  title: 'Remove',
                  onclick: () => {
                    initrds.splice(i, 1);
                    drawInitrds();
                  },
                },
                icon('x', { size: 15 }),
              ),
            ),
          );
        }),
      );
    }
    drawInitrds();
    const initrdField = groupField(
      { name: 'initrds', label: 'Initrds' },
      noneText,
      rows,
      fieldMessage(),
      h('div', { class: 'add-row' }, addSelect, addBtn),
      h('p', { class: 'field-hint' }, 'Loaded in this order.'),
    );

    // command line
    const cmdline = h('textarea', {
      class: 'input input-mono textarea',
      testid: 'profile-form-cmdline',
      rows: 3,
      spellcheck: 'false',
      placeholder: 'console=ttyS0 zerotier={zerotier}',
    });
    cmdline.value = existing ? existing.cmdline || '' : '';
    const preview = h('code', { class: 'cmdline-preview', testid: 'profile-cmdline-preview' });
    const syncPreview = () => {
      preview.textContent = renderCmdlineExample(cmdline.value, settings.data && settings.data.zerotierNetwork) || ' ';
    };
    cmdline.addEventListener('input', syncPreview);
    syncPreview();
    const vars = h(
      'div',
      { class: 'var-chips', role: 'group', 'aria-label': 'Insert a variable' },
      CMDLINE_VARS.map((v) =>
        h(
          'button',
          {
            type: 'button',
            class: 'var-chip',
            testid: 'cmdline-var',
            dataset: { var: v.text },
            title: v.title,
            onclick: () => {
              insertAtCursor(cmdline, v.text, v.select);
              syncPreview();
            },
          },
          v.text,
        ),
      ),
    );
    const cmdField = field({ label: 'Kernel command line', name: 'cmdline', control: cmdline });
    cmdField.insertBefore(vars, cmdField.querySelector('.field-message'));
    cmdField.appendChild(
      h(
        'p',
        { class: 'field-hint' },
        'Space-separated arguments; the variables are filled in for each machine as it boots. Click one to insert it.',
      ),
    );
    cmdField.appendChild(h('div', { class: 'preview' }, h('span', { class: 'preview-label' }, `Example for ${EXAMPLE_MAC}`), preview));

    openModal({
      title: editing ? 'Edit profile' : 'New boot profile',
      description: editing
        ? h('span', null, 'Profile ', h('span', { class: 'mono' }, existing.name), ' · the name cannot be changed.')
        : 'What a machine boots: a kernel, its initrds and a command line.',
      testid: 'profile-modal',
      size: 'lg',
      submitLabel: editing ? 'Save profile' : 'Create profile',
      body: h(
        'div',
        { class: 'form-grid' },
        nameInput
          ? field({ label: 'Name', name: 'name', control: nameInput, hint: 'Letters, digits, “.”, “_” and “-”, up to 64 characters. Cannot be changed later.' })
          : null,
        field({ label: 'Description (optional)', name: 'description', control: descInput }),
        kernelField,
        initrdField,
        cmdField,
      ),
      async onSubmit() {
        const name = editing ? existing.name : nameInput.value.trim();
        checkName(name, { field: 'name', what: 'profile name' });
        let kernel;
        if (kind() === 'asset') {
          if (!kernelAsset.value) throw new ApiError(400, 'invalid', 'Choose the kernel asset.', 'kernel.asset');
          kernel = { asset: kernelAsset.value };
        } else {
          const release = kernelRelease.value.trim();
          if (!release) throw new ApiError(400, 'invalid', 'Name the Zero-OS release, e.g. master.', 'kernel.release');
          kernel = { release };
        }
        const body = {
          name,
          description: descInput.value.trim(),
          kernel,
          initrds: [...initrds],
          cmdline: cmdline.value.replace(/\s+/g, ' ').trim(),
        };
        let saved;
        try {
          saved = editing ? await api.replaceBootProfile(name, body) : await api.createBootProfile(body);
        } catch (err) {
          throw mapIndexedField(err, 'initrds', rows, 'Initrd');
        }
        upsertItem(profiles, saved || body);
        toast(`Profile ${name} ${editing ? 'saved' : 'created'}.`, { type: 'success' });
      },
    });
  }

  // ---- selector modal -----------------------------------------------------

  function openSelector() {
    const profileList = byName(profiles.data);
    const nameInput = h('input', { class: 'input input-mono', testid: 'selector-form-name', autocomplete: 'off', spellcheck: 'false', maxlength: 64, placeholder: 'rack1-node3' });
    let nameTouched = false;
    nameInput.addEventListener('input', () => {
      nameTouched = nameInput.value.trim() !== '';
    });
    const matchKind = segmented({
      label: 'Match by',
      checked: 'mac',
      options: Object.entries(SELECTOR_KINDS).map(([value, k]) => ({ value, label: k.label, testid: `selector-kind-${value}` })),
    });
    const valueInput = h('input', { class: 'input input-mono', testid: 'selector-form-value', autocomplete: 'off', spellcheck: 'false', maxlength: 200 });
    const valueWrap = field({ label: 'MAC address', name: 'mac', control: valueInput, hint: ' ' });
    const valueLabel = valueWrap.querySelector('.field-label');
    const valueHint = valueWrap.querySelector('.field-hint');
    const kindField = groupField({ name: 'kind', label: 'Match machines by' }, matchKind.el);
    const kind = matchKind.value;
    const syncKind = () => {
      const k = SELECTOR_KINDS[kind()];
      valueWrap.dataset.field = kind();
      valueLabel.textContent = k.title;
      valueInput.placeholder = k.placeholder;
      valueHint.textContent = k.hint;
    };
    matchKind.el.addEventListener('change', () => {
      syncKind();
      valueInput.focus();
    });
    syncKind();
    valueInput.addEventListener('input', () => {
      if (nameTouched) return;
      const slug = valueInput.value.trim().toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[-.]+|-+$/g, '');
      nameInput.value = slug ? `${kind()}-${slug}`.slice(0, 64) : '';
    });

    const profileSelect = h(
      'select',
      { class: 'input', testid: 'selector-form-profile', disabled: profileList.length === 0 },
      h('option', { value: '' }, profileList.length ? 'Choose a profile…' : 'No profiles yet'),
      profileOptions(profileList),
    );
    if (profileList.length === 1) profileSelect.value = profileList[0].name;

    openModal({
      title: 'New selector',
      description: 'Boot a machine, or a group of machines, with a given profile.',
      testid: 'selector-modal',
      submitLabel: 'Create selector',
      body: h(
        'div',
        { class: 'form-grid' },
        profileList.length === 0
          ? h('div', { class: 'form-notice' }, icon('info', { size: 16 }), h('span', null, 'There is no boot profile yet: create one on the Profiles tab first.'))
          : null,
        kindField,
        valueWrap,
        field({ label: 'Selector name', name: 'name', control: nameInput, hint: 'Letters, digits, “.”, “_” and “-”, up to 64 characters. Suggested from what it matches.' }),
        field({ label: 'Boots profile', name: 'profile', control: profileSelect }),
      ),
      async onSubmit() {
        const name = nameInput.value.trim();
        const k = kind();
        const value = valueInput.value.trim();
        checkName(name, { field: 'name', what: 'selector name' });
        if (!value) throw new ApiError(400, 'invalid', `The ${SELECTOR_KINDS[k].label} to match is required.`, k);
        if (!profileSelect.value) throw new ApiError(400, 'invalid', 'Choose the profile to boot.', 'profile');
        const body = { name, [k]: value, profile: profileSelect.value };
        const saved = await api.createBootSelector(body);
        upsertItem(selectors, saved || body);
        toast(`Selector ${name} created.`, { type: 'success' });
      },
    });
  }

  // ---- settings modal -----------------------------------------------------

  function openSettings() {
    const s = settings.data || {};
    const profileList = byName(profiles.data);
    const zt = h('input', {
      class: 'input input-mono',
      testid: 'settings-form-zerotier',
      autocomplete: 'off',
      spellcheck: 'false',
      maxlength: 16,
      placeholder: '16 hex digits, e.g. 8056c2e21c000001',
      value: s.zerotierNetwork || '',
    });
    const source = h('input', {
      class: 'input input-mono',
      testid: 'settings-form-kernel-source',
      type: 'url',
      autocomplete: 'off',
      spellcheck: 'false',
      placeholder: 'https://bootstrap.grid.tf/kernel',
      value: s.kernelSource || '',
    });
    const def = h(
      'select',
      { class: 'input', testid: 'settings-form-default-profile' },
      h('option', { value: '' }, 'None — unmatched machines wait and retry'),
      profileOptions(profileList),
    );
    if (s.defaultProfile) {
      ensureOption(def, s.defaultProfile);
      def.value = s.defaultProfile;
    }
    openModal({
      title: 'Boot settings',
      description: 'Cluster-wide values every boot script uses.',
      testid: 'settings-modal',
      submitLabel: 'Save settings',
      body: h(
        'div',
        { class: 'form-grid' },
        field({
          label: 'ZeroTier network',
          name: 'zerotierNetwork',
          control: zt,
          hint: 'The cluster’s network id; command lines use it as {zerotier}. Empty: not set.',
        }),
        field({
          label: 'Kernel source',
          name: 'kernelSource',
          control: source,
          hint: 'Base URL for Zero-OS release kernels (<url>/zero-os-<release>.efi). Empty: this server’s boot assets.',
        }),
        field({
          label: 'Default profile',
          name: 'defaultProfile',
          control: def,
          hint: 'Booted by machines no selector matches.',
        }),
      ),
      async onSubmit() {
        const body = {
          zerotierNetwork: zt.value.trim() || null,
          kernelSource: source.value.trim() || null,
          defaultProfile: def.value || null,
        };
        const saved = await api.putBootSettings(body);
        settings.set(saved && typeof saved === 'object' ? saved : body);
        toast('Boot settings saved.', { type: 'success' });
      },
    });
  }

  // ---- deletes ------------------------------------------------------------

  /** Deletes the item `name` of resource r through call(); a 404 counts as deleted. */
  function deleteFrom(r, what, name, call) {
    return deleteItem({ what, name, call, remove: () => removeItem(r, name) });
  }

  function openDeleteProfile(p) {
    confirmDelete({
      title: 'Delete profile?',
      submitLabel: 'Delete profile',
      text: h('span', null, 'This removes the boot profile ', h('strong', { class: 'mono' }, p.name), '. Its assets stay uploaded.'),
      onConfirm: () => deleteFrom(profiles, 'Profile', p.name, () => api.deleteBootProfile(p.name)),
    });
  }

  function openDeleteSelector(s) {
    const kind = s.mac ? 'mac' : s.uuid ? 'uuid' : 'label';
    confirmDelete({
      title: 'Delete selector?',
      submitLabel: 'Delete selector',
      text: h(
        'span',
        null,
        'Machines matching ',
        h('strong', { class: 'mono' }, `${SELECTOR_KINDS[kind].label} ${s[kind]}`),
        ' will no longer boot ',
        h('strong', null, s.profile),
        ' through ',
        h('strong', { class: 'mono' }, s.name),
        '; they fall back to another selector or the default profile.',
      ),
      onConfirm: () => deleteFrom(selectors, 'Selector', s.name, () => api.deleteBootSelector(s.name)),
    });
  }

  function openDeleteAsset(a) {
    confirmDelete({
      title: 'Delete asset?',
      submitLabel: 'Delete asset',
      text: h(
        'span',
        null,
        'This deletes ',
        h('strong', { class: 'mono' }, a.name),
        ` (${formatBytes(a.size)}) from the server. Machines can no longer download it.`,
      ),
      onConfirm: () => deleteFrom(assets, 'Asset', a.name, () => api.deleteBootAsset(a.name)),
    });
  }

  return {
    unmount() {
      destroyed = true;
      for (const r of resources) r.stop();
      if (uploader) uploader.abort();
      stopTicker();
      unsubscribe();
      page.remove();
    },
  };
}

// ---- helpers ----------------------------------------------------------------

function appendAll(el, ...children) {
  for (const c of children.flat(Infinity)) if (c) el.appendChild(c);
  return el;
}

function panelHead(title, text, action) {
  return h(
    'div',
    { class: 'panel-head' },
    h('div', null, h('h2', null, title), h('p', { class: 'panel-sub' }, text)),
    action ? h('div', { class: 'page-actions' }, action) : null,
  );
}

const compareNames = (a, b) => String(a.name).localeCompare(String(b.name));

/** A copy of the list (null: empty), sorted by name. */
function byName(list) {
  return [...asList(list)].sort(compareNames);
}

/** A sub-field with its own inline error slot (its data-field is the API's field name). */
function subField(name, control, hint) {
  return h(
    'div',
    { class: 'field subfield', dataset: { field: name } },
    control,
    fieldMessage(),
    hint ? h('p', { class: 'field-hint' }, hint) : null,
  );
}

/** One <option> a profile, its description after the name. */
function profileOptions(list) {
  return list.map((p) => h('option', { value: p.name }, p.description ? `${p.name} — ${p.description}` : p.name));
}

/** Keeps a select able to show a value that is not among its options (e.g. a deleted asset). */
function ensureOption(select, value) {
  if (![...select.options].some((o) => o.value === value)) {
    select.appendChild(h('option', { value }, `${value} (missing)`));
  }
}

/** "initrds[2]" from the API → mark row 3 and report it on the "initrds" field. */
function mapIndexedField(err, name, rows, what) {
  const m = err && typeof err.field === 'string' ? err.field.match(new RegExp(`^${name}\\[(\\d+)\\]$`)) : null;
  if (!m) return err;
  const i = Number(m[1]);
  const row = rows.children[i];
  if (row) row.classList.add('order-invalid');
  return new ApiError(err.status, err.code, `${what} ${i + 1}: ${err.message}`, name);
}

function insertAtCursor(textarea, text, select = null) {
  const start = textarea.selectionStart ?? textarea.value.length;
  const end = textarea.selectionEnd ?? start;
  const before = textarea.value.slice(0, start);
  const after = textarea.value.slice(end);
  const pad = before && !/\s$/.test(before) ? ' ' : '';
  textarea.value = `${before}${pad}${text}${after}`;
  const at = start + pad.length;
  textarea.focus();
  if (select) textarea.setSelectionRange(at + select[0], at + select[1]);
  else textarea.setSelectionRange(at + text.length, at + text.length);
}

function renderCmdlineExample(template, zerotier) {
  const t = template.replace(/\s+/g, ' ').trim();
  if (!t) return '';
  return t.replace(/\{([^}]*)\}/g, (all, name) => {
    if (name === 'zerotier') return zerotier || '<zerotier: not set>';
    if (name === 'orchestrator') return location.origin;
    if (name === 'mac') return EXAMPLE_MAC;
    if (name === 'node') return EXAMPLE_MAC.replace(/:/g, '');
    if (name.startsWith('label:')) return `<${name.slice(6)}>`;
    return all;
  });
}

function suggestAssetName(fileName) {
  const cleaned = String(fileName || '')
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[.-]+/, '')
    .slice(0, 128);
  return cleaned;
}

function formatClock(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '—';
  const d = new Date(t);
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  return sameDay
    ? d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' })
    : d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
}

/** "10.0.0.5:49152" → "10.0.0.5", "[fe80::1]:1234" → "fe80::1" (the port is in the title). */
function clientHost(client) {
  if (typeof client !== 'string' || !client) return '—';
  const m = client.match(/^\[([^\]]+)\]:\d+$/) || client.match(/^([^:]+):\d+$/);
  return m ? m[1] : client;
}

function formatMs(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  return formatDuration(ms / 1000);
}

function formatCount(n) {
  return typeof n === 'number' && Number.isFinite(n) ? n.toLocaleString('en-US') : '—';
}
