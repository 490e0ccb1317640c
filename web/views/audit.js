// Audit page (#/audit, admins only): every change asked of the API and every
// refused attempt — who (token name and role), what (method and path), when,
// from where and how it ended — newest first. The log is not on the live
// feed (it would tell every viewer of it), so the page reloads when any
// change arrives, which covers every change that took effect.

import { api } from '../api.js';
import { h } from '../dom.js';
import { viewPage, filterBox, segmented, relativeTime, relativeTimeTicker, dash, button } from '../ui.js';
import { liveResource, asList, listOrState } from '../resource.js';

export const AUDIT_LIMIT = 200;

// What the segmented control asks the API for (its `outcome` filter).
const SHOW = [
  { value: '', label: 'All', testid: 'audit-show-all' },
  { value: '2xx', label: 'Changes', testid: 'audit-show-changes' },
  { value: '4xx', label: 'Refused', testid: 'audit-show-refused' },
];

/** The tone of an answer's status: made, refused, failed. */
const statusTone = (status) => (status < 300 ? 'ok' : status < 500 ? 'warn' : 'danger');

export function mountAudit(root, ctx) {
  const show = segmented({ label: 'Show requests', options: SHOW, checked: '' });
  const records = liveResource({
    name: 'audit',
    fetcher: async () => asList(await api.listAudit({ limit: AUDIT_LIMIT, outcome: show.value() })),
    onChange: render,
    live: ctx.live,
    matches: () => true,
  });
  show.el.addEventListener('change', () => records.load());

  const filter = filterBox({
    name: 'audit',
    placeholder: 'Filter by actor, role, method, path, status or client',
    label: 'Filter the audit log',
    onChange: render,
  });
  const page = viewPage(
    {
      testid: 'audit-page',
      title: 'Audit',
      sub: 'Every change asked of the API, and every refused attempt: who asked (the token’s name and role), what, when, from where and how it ended. Never a secret or a request body.',
      actions: button('Refresh', { iconName: 'refresh', testid: 'audit-refresh', onClick: () => records.load() }),
    },
    h(
      'div',
      { class: 'toolbar' },
      filter.el,
      show.el,
      h('p', { class: 'toolbar-note' }, `The ${AUDIT_LIMIT} most recent; GET /audit pages through the rest.`),
    ),
    filter.body,
  );
  root.appendChild(page);
  render();
  const stopTicker = relativeTimeTicker(page, 15_000);
  records.load();

  function matches(r) {
    return filter.matches([r.actor, r.role, r.method, r.path, r.route, r.note, r.location, String(r.status), r.client]);
  }

  function render() {
    const visible = listOrState(records, filter.body, {
      what: 'the audit log',
      rows: 4,
      empty: {
        iconName: 'activity',
        title: 'Nothing recorded',
        text: 'A line appears here for every POST, PUT, PATCH and DELETE the API answers.',
        testid: 'audit-empty',
      },
      matches,
      noMatch: () => filter.noMatch('No matching requests', (q) => `No request matches “${q}”.`),
    });
    if (!visible) return;
    filter.show(
      { testid: 'audit-table', compact: true, columns: ['Time', 'Actor', { label: 'Request', class: 'col-fill' }, 'Status', 'Client'], rows: visible.map(row) },
      { total: records.data.length, noun: 'requests' },
    );
  }

  function row(r) {
    return h(
      'tr',
      { testid: 'audit-row', dataset: { id: r.id, actor: r.actor, method: r.method, path: r.path, status: r.status } },
      h('td', { dataset: { label: 'Time' }, class: 'nowrap' }, relativeTime(r.at)),
      h(
        'td',
        { dataset: { label: 'Actor' }, class: 'nowrap' },
        h(
          'div',
          { class: 'cell-stack' },
          h('span', { class: 'strong', testid: 'audit-actor' }, r.actor),
          r.role ? h('span', { class: `role role-${r.role}`, testid: 'audit-role' }, r.role) : null,
        ),
      ),
      h(
        'td',
        { dataset: { label: 'Request' }, class: 'col-fill' },
        h(
          'div',
          { class: 'cell-stack' },
          h('span', { class: 'mono', testid: 'audit-request', title: r.route }, `${r.method} ${r.path}`),
          r.note || r.location ? h('span', { class: 'cell-sub', testid: 'audit-note' }, r.note || r.location) : null,
        ),
      ),
      h(
        'td',
        { dataset: { label: 'Status' } },
        h(
          'span',
          { class: `badge badge-plain badge-${statusTone(r.status)}`, testid: 'audit-status' },
          h('span', { class: 'badge-dot', 'aria-hidden': 'true' }),
          String(r.status),
        ),
      ),
      h('td', { dataset: { label: 'Client' } }, r.client ? h('span', { class: 'mono muted-2', title: r.client }, r.client) : dash()),
    );
  }

  return {
    unmount() {
      records.stop();
      stopTicker();
      page.remove();
    },
  };
}
