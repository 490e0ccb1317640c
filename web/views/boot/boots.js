// The Boot page's "Recent boots" tab: the latest files and scripts served
// over TFTP and HTTP and proxyDHCP answers, live, filterable, new rows
// flashed.

import { h, append, replace, formatBytes, formatDuration, formatRelative, formatAbsolute } from '../../dom.js';
import { emptyState, button, filterBox, dash } from '../../ui.js';
import { showLoadState } from '../../resource.js';
import { formatCount } from './shared.js';

export const EVENTS_LIMIT = 50;

const OUTCOMES = {
  ok: { tone: 'ok', text: 'OK' },
  aborted: { tone: 'warn', text: 'Aborted' },
  not_found: { tone: 'danger', text: 'Not found' },
  error: { tone: 'danger', text: 'Error' },
};

/** mountBoots(panel, ctx, {events}, {showTab}) → {render()}: fills the tab's panel; showTab(key) opens another tab (the how-to). */
export function mountBoots(panel, ctx, { events }, { showTab }) {
  const seenEvents = new Set();
  let firstEvents = true;
  const bootsFilter = filterBox({
    name: 'boots',
    placeholder: 'Filter by MAC, client, file, profile or outcome',
    label: 'Filter boot requests',
    onChange: render,
  });
  append(panel, [
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
    bootsFilter.body,
  ]);

  function eventMatches(ev) {
    const outcome = OUTCOMES[ev.outcome] ? OUTCOMES[ev.outcome].text : ev.outcome;
    return bootsFilter.matches([ev.mac, ev.client, ev.protocol, ev.file, ev.profile, ev.outcome, outcome]);
  }

  function render() {
    if (showLoadState(events, bootsFilter.body, 'boot events')) return;
    const all = events.data;
    if (all.length === 0) {
      replace(
        bootsFilter.body,
        emptyState({
          iconName: 'power',
          title: 'No boot requests yet',
          text: 'Every file and script a machine fetches over TFTP or HTTP shows up here as it happens.',
          testid: 'boots-empty',
          action: button('How machines boot', { iconName: 'book', onClick: () => showTab('settings') }),
        }),
      );
      firstEvents = false;
      return;
    }
    const visible = all.filter(eventMatches);
    if (visible.length === 0) {
      replace(
        bootsFilter.body,
        bootsFilter.noMatch('No matching boot requests', (q) => `No recent request matches “${q}”.`),
      );
      markEventsSeen();
      return;
    }
    bootsFilter.show(
      {
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
      },
      { total: all.length, noun: 'recent requests' },
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

  return { render };
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
