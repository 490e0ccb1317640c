// A node's Health tab: the checks its heartbeat judged (GET /health/nodes/{id}: reachability, memory, CPU,
// storage pools, clock, and the node's own monitors — context switches, interrupts, threads), one row per
// check with its verdict and what each message says, live from the heartbeat's node_health records.

import { api } from '../api.js';
import { h, replace } from '../dom.js';
import { cardHead, dataTable, glyph, relativeTime } from '../ui.js';
import { liveResource, asList, showLoadState } from '../resource.js';

/** The reference's statuses and the tones they show in. */
const TONES = { OK: 'ok', WARNING: 'warn', ERROR: 'danger', SKIPPED: 'neutral' };
const ORDER = ['SKIPPED', 'OK', 'WARNING', 'ERROR'];

function verdict(status) {
  const s = String(status || 'SKIPPED');
  return h('span', { class: `badge badge-${TONES[s] || 'neutral'}`, testid: 'health-status', dataset: { status: s } }, h('span', { class: 'badge-dot', 'aria-hidden': 'true' }), s);
}

/** The node's status as the reference gives it: its worst check. */
function overall(checks) {
  return checks.reduce((worst, c) => (ORDER.indexOf(c.status) > ORDER.indexOf(worst) ? c.status : worst), 'SKIPPED');
}

function checkRow(check) {
  return h(
    'tr',
    { testid: 'health-check', dataset: { id: check.id, status: check.status } },
    h('td', { dataset: { label: 'Check' } }, h('span', { class: 'strong' }, check.name), h('div', { class: 'muted mono' }, check.id)),
    h('td', { dataset: { label: 'Category' } }, check.category),
    h('td', { dataset: { label: 'Status' } }, verdict(check.status)),
    h(
      'td',
      { dataset: { label: 'What it saw' }, class: 'col-fill' },
      asList(check.messages).map((m) => h('div', { testid: 'health-message', dataset: { status: m.status } }, m.text || m.id)),
    ),
    h('td', { dataset: { label: 'Checked' }, class: 'nowrap' }, check.lasttime ? relativeTime(new Date(check.lasttime * 1000).toISOString()) : '—'),
  );
}

export function mountHealth(ctx, nodeId) {
  const summary = h('span', { testid: 'health-overall' });
  const body = h('div', { class: 'node-table' });
  const r = liveResource({
    name: 'health',
    live: ctx.live,
    matches: (c) => c.collection === 'node_health' && c.id === nodeId,
    fetcher: async () => asList(await api.nodeHealth(nodeId)),
    onChange: () => {
      if (showLoadState(r, body, 'health', { rows: 4 })) return;
      replace(summary, verdict(overall(r.data)));
      replace(
        body,
        dataTable({
          testid: 'health-table',
          compact: true,
          columns: ['Check', 'Category', 'Status', { label: 'What it saw', class: 'col-fill' }, 'Checked'],
          rows: r.data.map(checkRow),
        }),
      );
    },
  });
  const el = h(
    'section',
    { class: 'card table-card node-card node-table-card', testid: 'health-card' },
    cardHead([glyph('activity', { size: 16 }), 'Health'], 'Judged at every heartbeat against the configured thresholds (--health-*).', summary),
    body,
  );
  showLoadState(r, body, 'health', { rows: 4 });
  r.load();
  return { el, unmount: () => r.stop() };
}
