// A node's page (#/nodes/<id>[?tab=containers|vms|storage|bridges|zerotier|gateways|processes|health]):
// its state as the heartbeat sees it, and tabs: Overview (live CPU and memory
// usage polled from the node, its hardware, its labels), Containers
// (containers.js), VMs (vms.js), Storage (storage.js: pools → filesystems → snapshots),
// Bridges and ZeroTier (network.js), Gateways (gateways.js), Processes (the jobs and processes of
// its 0-core) and Health (node-health.js). Operators can ping and reboot it.

import { api } from '../api.js';
import { h, replace, formatBytes, formatDuration } from '../dom.js';
import { toast, errorToast, nodeStateBadge, emulatedTag, stateTone, labelChips, emptyState, button, viewPage, readOnlyPill, cardHead, confirmAction, relativeTime, relativeTimeTicker, copyButton, glyph, tabBar, hashQuery } from '../ui.js';
import { liveResource, asList, showLoadState, refreshTable } from '../resource.js';
import { liveChart } from '../chart.js';
import { mountContainers } from './containers.js';
import { mountStorage } from './storage.js';
import { mountVms } from './vms.js';
import { mountBridges, mountZeroTiers } from './network.js';
import { mountHealth } from './node-health.js';
import { mountGateways } from './gateways.js';

const STATS_POLL_MS = 3_000;
const CHART_SAMPLES = 40;
const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
// GET /nodes/{id} answered 404: the node is not (or no longer) registered.
const GONE = Object.freeze({ gone: true });

const DISK_TONES = { nvme: 'accent', ssd: 'ok', hdd: 'neutral' };
// A tab with `mount` is a module's: mount(ctx, nodeId, {open, onCount}) → {el, unmount()},
// called when the tab first shows, or with the page (`eager`) where its count shows on the tab at once.
const TABS = [
  { key: 'overview', label: 'Overview', iconName: 'activity' },
  { key: 'containers', label: 'Containers', iconName: 'layers', mount: mountContainers, eager: true },
  { key: 'vms', label: 'VMs', iconName: 'monitor', mount: mountVms },
  { key: 'storage', label: 'Storage', iconName: 'disk', mount: mountStorage },
  { key: 'bridges', label: 'Bridges', iconName: 'network', mount: mountBridges },
  { key: 'zerotier', label: 'ZeroTier', iconName: 'target', mount: mountZeroTiers },
  { key: 'gateways', label: 'Gateways', iconName: 'network', mount: mountGateways },
  { key: 'processes', label: 'Processes', iconName: 'terminal' },
  { key: 'health', label: 'Health', iconName: 'activity', mount: mountHealth },
];

export function mountNode(root, ctx) {
  const id = ctx.params.id;
  let destroyed = false;
  let lastState = null;
  // Stats: polled while the page is open, one request at a time.
  const samples = []; // {cpu, availableMiB}, oldest first
  let stats = null; // the last answer, read
  let statsError = null;
  let pollTimer = null;

  // The registration lives in `nodes`, what the heartbeat observed in `node_status`.
  const node = liveResource({
    name: 'node',
    live: ctx.live,
    matches: (c) => c.id === id && ['nodes', 'node_status'].includes(c.collection),
    fetcher: async () => {
      try {
        return await api.getNode(id);
      } catch (err) {
        if (err.status === 404) return GONE;
        throw err;
      }
    },
    onChange: render,
  });

  // ---- layout -------------------------------------------------------------

  const titleText = h('span', { class: 'node-title', testid: 'node-title' }, id);
  const badges = h('span', { class: 'node-badges' });
  const meta = h('span', { class: 'node-meta', testid: 'node-meta' });
  const pingBtn = ctx.canMutate
    ? button('Ping', { iconName: 'activity', testid: 'node-ping', title: 'Check that the node answers', onClick: () => ping() })
    : null;
  const rebootBtn = ctx.canMutate
    ? button('Reboot', { iconName: 'power', testid: 'node-reboot', title: 'Reboot the node', onClick: () => openReboot() })
    : null;
  const alert = h('div', { class: 'node-alert', testid: 'node-alert', role: 'status', hidden: true });
  const body = h('div', { class: 'node-body' });

  const page = viewPage(
    {
      testid: 'node-page',
      title: [titleText, badges],
      sub: meta,
      actions: [readOnlyPill(ctx, 'view this node but not ping or reboot it'), pingBtn, rebootBtn],
    },
    alert,
    body,
  );
  page.classList.add('node-page');
  page.prepend(h('a', { class: 'back-link', href: '#/nodes', testid: 'node-back' }, glyph('back', { size: 16 }), 'Nodes'));

  // Live usage: current numbers, the chart, one bar per core.
  const metrics = {
    cpu: metric('CPU', 'node-cpu', 'cpu'),
    mem: metric('Memory', 'node-mem', 'mem'),
    netIn: metric('Network in', 'node-net-in'),
    netOut: metric('Network out', 'node-net-out'),
  };
  const chart = liveChart({
    series: [{ key: 'cpu' }, { key: 'mem' }],
    capacity: CHART_SAMPLES,
    label: 'CPU and memory used, in percent',
    since: `${Math.round((CHART_SAMPLES * STATS_POLL_MS) / 60_000)} min ago`,
    testid: 'node-chart',
  });
  const liveState = h('span', { class: 'live-pill', testid: 'stats-state' });
  const statsNotice = h('div', { class: 'live-notice', testid: 'stats-error', role: 'status', hidden: true });
  const cores = h('div', { class: 'cores', testid: 'node-cores' });
  const liveCard = h(
    'section',
    { class: 'card node-card', testid: 'node-live' },
    cardHead('Live usage', `Read from the node every ${STATS_POLL_MS / 1000} s; each value is a 5-minute average.`, liveState),
    statsNotice,
    h('div', { class: 'metrics' }, Object.values(metrics).map((m) => m.el)),
    chart.el,
    cores,
  );

  const inventoryBody = h('div', { class: 'inventory', testid: 'node-inventory' });
  const inventoryCard = h(
    'section',
    { class: 'card node-card', testid: 'inventory-card' },
    cardHead('Hardware', 'As the heartbeat last read it.'),
    inventoryBody,
  );

  const labelsBody = h('div', { class: 'node-labels' });
  const labelsCard = h('section', { class: 'card node-card', testid: 'labels-card' }, cardHead('Labels'), labelsBody);

  const jobs = tableCard({ name: 'jobs', title: 'Jobs', iconName: 'list', sub: 'Jobs of the node’s 0-core.' }, {
    fetcher: () => api.nodeJobs(id),
    empty: 'No jobs are running.',
    columns: ['Job', 'Started', { label: 'Running for', class: 'num' }],
    rows: (list) => list.sort((a, b) => String(a.id).localeCompare(String(b.id))).map(jobRow),
  });
  const processes = tableCard({ name: 'processes', title: 'Processes', iconName: 'terminal', sub: 'What runs on the node, by process id.' }, {
    fetcher: () => api.nodeProcesses(id),
    empty: 'The node lists no processes.',
    columns: [
      { label: 'PID', class: 'num' },
      { label: 'Command', class: 'col-fill' },
      { label: 'CPU time', class: 'num' },
      { label: 'Memory', class: 'num' },
      { label: 'Virtual', class: 'num' },
      { label: 'Swap', class: 'num' },
    ],
    rows: (list) => list.sort((a, b) => Number(a.pid) - Number(b.pid)).map(processRow),
  });

  let tablesLoaded = false;
  const tabs = tabBar({
    tabs: TABS,
    testid: 'node-tabs',
    label: 'Node sections',
    route: `#/nodes/${encodeURIComponent(id)}`,
    onSelect: showTab,
  });
  const mounted = {}; // tab key → {el, unmount}
  for (const t of TABS) if (t.eager) mountTab(t);
  tabs.panels.overview.appendChild(
    h('div', { class: 'node-grid' }, h('div', { class: 'node-col' }, liveCard), h('div', { class: 'node-col' }, inventoryCard, labelsCard)),
  );
  tabs.panels.processes.appendChild(h('div', { class: 'node-grid' }, h('div', { class: 'node-col' }, processes.el), h('div', { class: 'node-col' }, jobs.el)));
  const columns = h('div', { class: 'node-tabs' }, tabs.el, Object.values(tabs.panels));

  /** A module's tab; the item named by the address's `?open=` shows opened if the page opened on this tab. */
  function mountTab(t) {
    const open = tabs.current === t.key ? hashQuery().get('open') : null;
    mounted[t.key] = t.mount(ctx, id, { open, onCount: (n) => tabs.setCount(t.key, n) });
    tabs.panels[t.key].appendChild(mounted[t.key].el);
  }

  /** A module's tab, and the node's jobs and processes, are read when their tab first shows. */
  function showTab(key) {
    const t = TABS.find((x) => x.key === key);
    if (t.mount && !mounted[key]) mountTab(t);
    if (key === 'processes' && !tablesLoaded) {
      tablesLoaded = true;
      jobs.r.load();
      processes.r.load();
    }
  }

  root.appendChild(page);
  render();
  renderLive();

  // ---- data ---------------------------------------------------------------

  const stopTicker = relativeTimeTicker(page, 5_000);

  node.load();
  showTab(tabs.current);

  async function poll() {
    pollTimer = null;
    try {
      stats = readStats(await api.nodeStats(id));
      statsError = null;
      samples.push({ cpu: stats.cpu, availableMiB: stats.availableMiB });
      if (samples.length > CHART_SAMPLES) samples.shift();
    } catch (err) {
      if (err.status === 401) return; // the global handler signs out
      statsError = err;
    }
    if (destroyed) return;
    renderLive();
    pollTimer = setTimeout(poll, STATS_POLL_MS);
  }
  poll();

  // ---- rendering ----------------------------------------------------------

  function render() {
    if (destroyed) return;
    const n = node.data;
    if (n === null || n === GONE) {
      body.classList.add('card');
      for (const b of [pingBtn, rebootBtn]) if (b) b.hidden = n === GONE;
      if (n === GONE) {
        titleText.textContent = id;
        replace(badges);
        replace(meta);
        alert.hidden = true;
        replace(
          body,
          emptyState({
            title: 'Node not found',
            text: `There is no node “${id}” (any more): it may have been deleted.`,
            testid: 'node-gone',
            action: h('a', { class: 'btn btn-primary', href: '#/nodes' }, 'Back to nodes'),
          }),
        );
      } else {
        showLoadState(node, body, 'node', { rows: 5 });
      }
      return;
    }
    if (body.classList.contains('card')) {
      body.classList.remove('card');
      replace(body, columns);
    }
    for (const b of [pingBtn, rebootBtn]) if (b) b.hidden = false;
    document.title = `${n.hostname || n.id} · zos-orchestrator`;
    renderHeader(n);
    replace(inventoryBody, inventory(n.inventory));
    replace(
      labelsBody,
      labelChips(n.labels),
      h(
        'p',
        { class: 'node-dates' },
        'Registered ',
        relativeTime(n.createdAt),
        ' · updated ',
        relativeTime(n.updatedAt),
      ),
    );
    // Back online (e.g. after a reboot): its jobs and processes changed.
    if (tablesLoaded && lastState !== null && lastState !== 'online' && n.state === 'online') {
      jobs.r.retry();
      processes.r.retry();
    }
    lastState = n.state;
    renderLive(); // the memory total comes from the inventory
  }

  function renderHeader(n) {
    titleText.textContent = n.hostname || n.id;
    replace(badges, nodeStateBadge(n), emulatedTag(n));
    const inv = n.inventory || {};
    replace(
      meta,
      metaItem('ID', h('span', { class: 'mono', testid: 'node-id' }, n.id), copyButton(n.id, { label: 'Copy the node ID' })),
      metaItem('Address', h('span', { class: 'mono', testid: 'node-address' }, n.address || n.ipaddress || '—')),
      inv.zerotierAddress ? metaItem('ZeroTier', h('span', { class: 'mono', testid: 'node-zerotier' }, inv.zerotierAddress)) : null,
      metaItem('Zero-OS', h('span', { testid: 'node-os' }, n.osVersion || '—')),
      h(
        'span',
        { class: 'meta-item', title: 'While nothing changes, the heartbeat refreshes this at most once a minute.' },
        h('span', { class: 'meta-label' }, 'Last seen'),
        n.lastSeen ? relativeTime(n.lastSeen) : 'never',
      ),
    );
    const online = n.state === 'online';
    alert.hidden = online;
    if (!online) {
      alert.className = `node-alert node-alert-${stateTone(n.state)}`;
      const what = String(n.state || 'unknown').replace(/_/g, ' ');
      replace(
        alert,
        glyph('alert', { size: 17 }),
        h(
          'span',
          null,
          h('strong', null, what.charAt(0).toUpperCase() + what.slice(1)),
          n.reason ? ` — ${n.reason}` : n.state === 'unknown' ? ' — the heartbeat has not reached this node yet.' : '',
        ),
      );
    }
  }

  function renderLive() {
    if (destroyed) return;
    const total = node.data && node.data.inventory ? node.data.inventory.memoryBytes : null;
    chart.render(samples.map((s) => ({ cpu: s.cpu, mem: memUsed(s.availableMiB, total)?.percent ?? null })));
    chart.el.classList.toggle('is-stale', statsError !== null);

    statsNotice.hidden = statsError === null;
    if (statsError) {
      statsNotice.dataset.code = statsError.code;
      replace(
        statsNotice,
        glyph('info', { size: 16 }),
        h(
          'span',
          null,
          h('strong', null, 'Live usage is unavailable. '),
          statsError.display || statsError.message,
          h('span', { class: 'muted' }, ` Trying again every ${STATS_POLL_MS / 1000} s.`),
        ),
      );
    }
    liveState.dataset.state = statsError ? 'error' : stats ? 'live' : 'waiting';
    replace(
      liveState,
      statsError ? null : h('span', { class: stats ? 'live-mini' : 'spinner', 'aria-hidden': 'true' }),
      statsError ? 'Paused' : stats ? 'Live' : 'Connecting',
    );

    const s = statsError ? null : stats;
    const cpuCount = s ? s.cores.length : 0;
    metrics.cpu.set(pct(s && s.cpu), cpuCount ? `avg of ${cpuCount} core${cpuCount === 1 ? '' : 's'}` : null);
    const mem = s ? memUsed(s.availableMiB, total) : null;
    if (mem) {
      metrics.mem.set(pct(mem.percent), `${gib(mem.usedBytes, mem.usedBytes < 100 * GIB ? 1 : 0)} of ${formatGiB(total)}`);
    } else {
      metrics.mem.set('—', s && s.availableMiB !== null ? `${formatGiB(s.availableMiB * MIB, 1)} available` : null);
    }
    metrics.netIn.set(rate(s && s.netIn), s && s.netIn !== null ? s.netTags.incoming : null);
    metrics.netOut.set(rate(s && s.netOut), s && s.netOut !== null ? s.netTags.outgoing : null);

    replace(
      cores,
      s && s.cores.length
        ? [
            h('span', { class: 'cores-label' }, 'Per core'),
            h(
              'div',
              { class: 'cores-bars' },
              s.cores.map((c) =>
                h(
                  'span',
                  { class: 'core', title: `core ${c.core}: ${c.value.toFixed(1)} %` },
                  h('span', { class: 'core-fill', style: `height: ${Math.min(Math.max(c.value, 0), 100).toFixed(1)}%` }),
                ),
              ),
            ),
          ]
        : null,
    );
  }

  // ---- jobs & processes ---------------------------------------------------

  function jobRow(job) {
    const started = typeof job.startTime === 'number' ? new Date(job.startTime).toISOString() : null;
    return h(
      'tr',
      { testid: 'job-row', dataset: { jobId: job.id } },
      h('td', { dataset: { label: 'Job' } }, h('span', { class: 'mono strong' }, job.id)),
      h('td', { dataset: { label: 'Started' }, class: 'nowrap' }, started ? relativeTime(started) : '—'),
      h(
        'td',
        { dataset: { label: 'Running for' }, class: 'num nowrap' },
        started ? formatDuration((Date.now() - job.startTime) / 1000) : '—',
      ),
    );
  }

  function processRow(p) {
    const cpu = p.cpu && typeof p.cpu === 'object' ? p.cpu : {};
    const user = Number(cpu.user) || 0;
    const system = Number(cpu.system) || 0;
    return h(
      'tr',
      { testid: 'process-row', dataset: { pid: p.pid } },
      h('td', { dataset: { label: 'PID' }, class: 'num mono' }, String(p.pid)),
      h(
        'td',
        { dataset: { label: 'Command' }, class: 'col-fill' },
        h('code', { class: 'cmdline cell-file', title: p.cmdline || '' }, p.cmdline || '—'),
      ),
      h(
        'td',
        { dataset: { label: 'CPU time' }, class: 'num nowrap', title: `user ${user.toFixed(2)} s · system ${system.toFixed(2)} s` },
        `${(user + system).toFixed(2)} s`,
      ),
      h('td', { dataset: { label: 'Memory' }, class: 'num nowrap', title: 'Resident set size' }, formatBytes(p.rss)),
      h('td', { dataset: { label: 'Virtual' }, class: 'num nowrap' }, formatBytes(p.vms)),
      h('td', { dataset: { label: 'Swap' }, class: 'num nowrap' }, formatBytes(p.swap)),
    );
  }

  /** A card with a list from the node (refreshTable's), read when its tab first shows. */
  function tableCard({ name, title, iconName, sub }, list) {
    const { r, count, body: cardBody, refresh } = refreshTable({ testid: name, name, ...list });
    const el = h('section', { class: 'card table-card node-card node-table-card', testid: `${name}-card` }, cardHead([glyph(iconName, { size: 16 }), title, count], sub, refresh), cardBody);
    return { el, r };
  }

  // ---- actions ------------------------------------------------------------

  const nodeName = () => (node.data && node.data.hostname) || id;

  async function ping() {
    pingBtn.disabled = true;
    const started = performance.now();
    try {
      await api.pingNode(id);
      const ms = Math.max(1, Math.round(performance.now() - started));
      toast(`${nodeName()} answered in ${ms} ms.`, { type: 'success', title: 'Pong' });
    } catch (err) {
      if (err.status !== 401) errorToast(err, `Ping of ${nodeName()} failed`);
    } finally {
      pingBtn.disabled = false;
    }
  }

  function openReboot() {
    confirmAction({
      title: 'Reboot node?',
      submitLabel: 'Reboot node',
      testid: 'reboot-modal',
      iconName: 'power',
      text: [
        'This restarts ',
        h('strong', { class: 'mono' }, id),
        node.data && node.data.hostname ? ` (${node.data.hostname})` : '',
        '. Everything running on it stops, and it is unreachable until Zero-OS has booted again.',
      ],
      async onConfirm() {
        await api.rebootNode(id);
        toast(`Reboot of ${nodeName()} requested. This page follows it as it goes down and comes back.`, { type: 'success' });
      },
    });
  }

  return {
    unmount() {
      destroyed = true;
      clearTimeout(pollTimer);
      node.stop();
      jobs.r.stop();
      processes.r.stop();
      for (const m of Object.values(mounted)) m.unmount();
      stopTicker();
      page.remove();
    },
  };
}

// ---- pieces -----------------------------------------------------------------

/** A current number of the live card; `series` names the chart line it goes with. */
function metric(label, testid, series = null) {
  const value = h('div', { class: 'metric-value', testid: `${testid}-value` }, '—');
  const sub = h('div', { class: 'metric-sub' });
  return {
    el: h(
      'div',
      { class: 'metric', testid },
      h('div', { class: 'metric-label' }, series ? h('span', { class: `swatch chart-${series}`, 'aria-hidden': 'true' }) : null, label),
      value,
      sub,
    ),
    set(v, s = null) {
      replace(value, v);
      replace(sub, s);
    },
  };
}

function metaItem(label, ...value) {
  return h('span', { class: 'meta-item' }, h('span', { class: 'meta-label' }, label), value);
}

/** The inventory card's content: CPUs and memory, the disks, the network interfaces. */
function inventory(inv) {
  if (!inv || typeof inv !== 'object') {
    return h(
      'p',
      { class: 'card-empty', testid: 'inventory-empty' },
      'Not read yet: the heartbeat reads the hardware when the node comes online.',
    );
  }
  const disks = asList(inv.disks);
  const nics = asList(inv.nics);
  const diskTotal = disks.reduce((sum, d) => sum + (Number(d.sizeBytes) || 0), 0);
  return [
    h(
      'div',
      { class: 'inv-facts' },
      fact('cpu', 'CPUs', 'inventory-cpus', inv.cpus ?? '—', inv.cpuModel),
      fact('memory', 'Memory', 'inventory-memory', formatGiB(inv.memoryBytes), null),
    ),
    invList(
      'Disks',
      disks.length ? `${disks.length} · ${formatBytes(diskTotal)}` : 'none',
      'inventory-disks',
      disks.map((d) =>
        invRow({
          testid: 'inventory-disk',
          name: d.name,
          iconName: 'disk',
          badge: diskKind(d.kind),
          below: d.model ? h('div', { class: 'inv-sub' }, d.model) : null,
          end: h('span', { class: 'inv-size' }, formatBytes(d.sizeBytes)),
        }),
      ),
    ),
    invList(
      'Network interfaces',
      nics.length ? String(nics.length) : 'none',
      'inventory-nics',
      nics.map((n) =>
        invRow({
          testid: 'inventory-nic',
          name: n.name,
          iconName: 'network',
          badge: n.mac ? h('span', { class: 'mono inv-sub' }, n.mac) : null,
          below: h(
            'div',
            { class: 'chips' },
            asList(n.addresses).length
              ? asList(n.addresses).map((a) => h('span', { class: 'pill-mono' }, a))
              : h('span', { class: 'inv-sub' }, 'no address'),
          ),
        }),
      ),
    ),
  ];
}

/** A section of the hardware card: a heading with a summary, then the rows. */
function invList(title, summary, testid, rows) {
  return [
    h('h3', { class: 'inv-heading' }, title, h('span', { class: 'inv-heading-sub' }, summary)),
    h('ul', { class: 'inv-list', testid }, rows),
  ];
}

/** A row of it: an icon, the name with a badge, what goes below the name, what goes at the right. */
function invRow({ testid, name, iconName, badge, below, end = null }) {
  return h(
    'li',
    { class: 'inv-row', testid, dataset: { name } },
    glyph(iconName, { size: 16 }),
    h('div', { class: 'inv-main' }, h('div', { class: 'inv-line' }, h('span', { class: 'mono strong' }, name), badge), below),
    end,
  );
}

function fact(iconName, label, testid, value, sub) {
  return h(
    'div',
    { class: 'inv-fact', testid },
    h('span', { class: 'inv-fact-icon' }, glyph(iconName, { size: 18 })),
    h(
      'div',
      { class: 'inv-main' },
      h('div', { class: 'inv-fact-label' }, label),
      sub ? h('div', { class: 'inv-sub', title: sub }, sub) : null,
    ),
    h('div', { class: 'inv-fact-value', testid: `${testid}-value` }, String(value)),
  );
}

function diskKind(kind) {
  const k = typeof kind === 'string' && kind ? kind.toLowerCase() : null;
  if (!k) return null;
  return h('span', { class: `tag tag-${DISK_TONES[k] || 'neutral'}`, testid: 'disk-kind' }, k === 'nvme' ? 'NVMe' : k.toUpperCase());
}

// ---- numbers ----------------------------------------------------------------

const finite = (v) => typeof v === 'number' && Number.isFinite(v);

/**
 * What the page shows of GET /nodes/{id}/stats ("<metric>/<tag>" →
 * {current: {"300": {avg, …}}}): the 5-minute averages.
 */
function readStats(answer) {
  const all = answer && typeof answer === 'object' ? answer : {};
  const avg = (key) => {
    const v = all[key] && all[key].current && all[key].current['300'] ? all[key].current['300'].avg : null;
    return finite(v) ? v : null;
  };
  const keys = Object.keys(all);
  const tagged = (prefix) => keys.filter((k) => k.startsWith(`${prefix}/`)).map((k) => ({ tag: k.slice(prefix.length + 1), value: avg(k) })).filter((x) => x.value !== null);
  const sum = (list) => (list.length ? list.reduce((n, x) => n + x.value, 0) : null);
  const cores = tagged('machine.CPU.percent')
    .map(({ tag, value }) => ({ core: tag, value }))
    .sort((a, b) => Number(a.core) - Number(b.core) || a.core.localeCompare(b.core));
  const incoming = tagged('machine.network.throughput.incoming');
  const outgoing = tagged('machine.network.throughput.outgoing');
  return {
    cores,
    cpu: cores.length ? sum(cores.map((c) => ({ value: c.value }))) / cores.length : null,
    availableMiB: avg('machine.memory.ram.available'),
    netIn: sum(incoming),
    netOut: sum(outgoing),
    netTags: { incoming: incoming.map((x) => x.tag).join(', '), outgoing: outgoing.map((x) => x.tag).join(', ') },
  };
}

/** Memory in use from what is available (MiB) and the total (bytes): {usedBytes, percent}, or null. */
function memUsed(availableMiB, totalBytes) {
  if (!finite(availableMiB) || !finite(totalBytes) || totalBytes <= 0) return null;
  const usedBytes = Math.min(Math.max(totalBytes - availableMiB * MIB, 0), totalBytes);
  return { usedBytes, percent: (usedBytes / totalBytes) * 100 };
}

/** Bytes in GiB, without the unit: whole when whole or ≥ 100, else with `digits` decimals. */
function gib(bytes, digits = null) {
  const g = bytes / GIB;
  return g.toFixed(digits ?? (Number.isInteger(g) || g >= 100 ? 0 : 1));
}

function formatGiB(bytes, digits = null) {
  return finite(bytes) ? `${gib(bytes, digits)} GiB` : '—';
}

const pct = (v) => (finite(v) ? `${v.toFixed(1)} %` : '—');
const rate = (v) => (finite(v) ? `${formatBytes(v)}/s` : '—');
